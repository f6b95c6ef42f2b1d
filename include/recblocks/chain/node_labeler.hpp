#pragma once
/// \file node_labeler.hpp
/// Labels for item-tree nodes that have no category name (k-means clusters, "(other)" buckets), so
/// that a child policy (the LLM walk of UniLLMRec reads only labels and counts) has something to read:
///
/// - **nearest-centroid titles**: the `titles_per_label` item texts whose vectors are closest (cosine)
///   to the node's centroid, each cut to `title_chars`, joined by " / ";
/// - **LLM-written**: an `llm::llm_client` is shown the `llm_samples` titles nearest the centroid and
///   asked "Give a short name (at most 5 words) for this group of items." with the schema
///   `{"label": string (1..40 chars)}`; an answer that is not valid after `max_attempts` falls back to
///   the nearest-centroid titles (counted). Only nodes at depth <= `llm_max_depth` are asked (the
///   levels every walk reads); deeper ones get titles.
///
/// Category nodes keep their names. `label_by_titles(tree, text, only_default = true)` relabels only
/// nodes still carrying the tree's default labels ("cluster N", "(other)") — call it after updates
/// between sessions so that clusters made by splits get labels too. The root is not relabelled.
///
/// Requires: the tree has embeddings (`dim > 0`); `text(id)` answers for every item.
/// Thread-safety: relabelling needs exclusive access to the tree.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../llm/client.hpp"
#include "../retrieval/item_tree.hpp"
#include "chain_session.hpp"

namespace recblocks::chain {

/// Options of `node_labeler`.
struct node_labeler_options {
  index_t titles_per_label = 2;  ///< nearest-centroid titles in a title label
  index_t title_chars = 40;      ///< each cut to this many bytes (UTF-8 safe)
  index_t llm_samples = 5;       ///< titles shown to the LLM
  index_t llm_max_depth = 2;     ///< deepest node labelled by the LLM (root = 0)
  int max_attempts = 2;          ///< LLM answers per node before the title fallback
};

/// Writes node labels; see the file comment.
template <class T = float>
class node_labeler {
 public:
  using text_fn = std::function<std::string(index_t)>;

  explicit node_labeler(node_labeler_options options = {}) : options_(options) {
    if (options_.titles_per_label < 1 || options_.title_chars < 8 || options_.llm_samples < 1 || options_.llm_max_depth < 0 ||
        options_.max_attempts < 1)
      throw value_error("chain::node_labeler: titles_per_label >= 1, title_chars >= 8, llm_samples >= 1, "
                        "llm_max_depth >= 0 and max_attempts >= 1 are required");
  }

  /// The `n` item ids of `node`'s subtree nearest (cosine) to its centroid, nearest first (ties: lower id).
  static std::vector<index_t> nearest_items(const retrieval::item_tree<T>& tree, index_t node, index_t n) {
    if (tree.dim() == 0) throw shape_error("chain::node_labeler: the tree has no embeddings (dim 0)");
    const auto& nd = tree.at(node);
    std::vector<index_t> items, st{node};
    while (!st.empty()) {
      const index_t x = st.back();
      st.pop_back();
      const auto& c = tree.at(x);
      items.insert(items.end(), c.items.begin(), c.items.end());
      st.insert(st.end(), c.children.begin(), c.children.end());
    }
    const Eigen::VectorXd mu = nd.centroid.template cast<double>();
    const double mn = mu.norm();
    std::vector<std::pair<double, index_t>> s;
    for (index_t i : items) {
      const Eigen::VectorXd v = tree.vector_of(i).template cast<double>();
      const double d = mn * v.norm();
      s.push_back({d > 0 ? mu.dot(v) / d : 0.0, i});
    }
    const auto k = std::min<std::size_t>(s.size(), static_cast<std::size_t>(std::max<index_t>(n, 0)));
    std::partial_sort(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    std::vector<index_t> out;
    for (std::size_t p = 0; p < k; ++p) out.push_back(s[p].second);
    return out;
  }

  /// The nearest-centroid title label of `node`.
  std::string title_label(const retrieval::item_tree<T>& tree, index_t node, const text_fn& text) const {
    std::string s;
    for (index_t i : nearest_items(tree, node, options_.titles_per_label)) s += (s.empty() ? "" : " / ") + cut(text(i));
    return s.empty() ? std::string("(empty)") : s;
  }

  /// Relabels non-category nodes with their nearest-centroid titles (only those with a default label
  /// when `only_default`); returns how many were relabelled.
  index_t label_by_titles(retrieval::item_tree<T>& tree, const text_fn& text, bool only_default = false) const {
    index_t n = 0;
    for (index_t id : tree.node_ids()) {
      const auto& nd = tree.at(id);
      if (id == tree.root() || nd.kind == retrieval::node_kind::category) continue;
      if (only_default && !is_default(nd.label)) continue;
      tree.relabel(id, title_label(tree, id, text));
      ++n;
    }
    return n;
  }

  /// LLM-written labels for non-category nodes at depth <= llm_max_depth (titles elsewhere and as the
  /// fallback). Returns the usage of the "label" step; `fallbacks` counts title fallbacks.
  template <llm::llm_client Client>
  step_usage label_by_llm(retrieval::item_tree<T>& tree, Client& client, const text_fn& text) const {
    chain_session<Client> session(client, {.max_attempts = options_.max_attempts, .carry_exchanges = 0});
    const nlohmann::json schema = {
        {"type", "object"},
        {"properties", {{"label", {{"type", "string"}, {"minLength", 1}, {"maxLength", 40}}}}},
        {"required", {"label"}},
        {"additionalProperties", false}};
    std::vector<std::pair<index_t, index_t>> st{{tree.root(), 0}};  // (node, depth), parents first
    std::vector<std::pair<index_t, index_t>> order;
    while (!st.empty()) {
      const auto [id, d] = st.back();
      st.pop_back();
      order.push_back({id, d});
      for (index_t c : tree.at(id).children) st.push_back({c, d + 1});
    }
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    for (const auto& [id, d] : order) {
      const auto& nd = tree.at(id);
      if (id == tree.root() || nd.kind == retrieval::node_kind::category) continue;
      if (d > options_.llm_max_depth) {
        tree.relabel(id, title_label(tree, id, text));
        continue;
      }
      std::string prompt = "Here are items of one group:\n";
      for (index_t i : nearest_items(tree, id, options_.llm_samples)) prompt += "- " + cut(text(i)) + "\n";
      prompt += "Give a short name (at most 5 words) for this group of items. Answer in JSON: {\"label\": \"<name>\"}";
      std::string label;
      const auto check = [&](const nlohmann::json& j, std::string& reason) -> std::optional<std::string> {
        const auto f = j.find("label");
        std::string v = f != j.end() && f->is_string() ? f->get<std::string>() : std::string();
        while (!v.empty() && (v.back() == ' ' || v.back() == '\n')) v.pop_back();
        while (!v.empty() && (v.front() == ' ' || v.front() == '\n')) v.erase(v.begin());
        if (v.empty()) {
          reason = "empty";
          return std::string("Your reply has no \"label\". Please answer again in the requested JSON format.");
        }
        label = v;
        return std::nullopt;
      };
      session.begin();
      if (session.ask("label", prompt, schema, 32, check)) tree.relabel(id, label);
      else tree.relabel(id, title_label(tree, id, text));
    }
    return session.usage().count("label") ? session.usage().at("label") : step_usage{};
  }

  const node_labeler_options& options() const { return options_; }

 private:
  static bool is_default(const std::string& label) {
    return label == "(other)" || (label.rfind("cluster ", 0) == 0 &&
                                  label.find_first_not_of("0123456789", 8) == std::string::npos && label.size() > 8);
  }
  std::string cut(std::string t) const {
    const auto cap = static_cast<std::size_t>(options_.title_chars);
    if (t.size() > cap) {
      std::size_t c = cap;
      while (c > 0 && (static_cast<unsigned char>(t[c]) & 0xC0) == 0x80) --c;
      t = t.substr(0, c) + "...";
    }
    for (auto& ch : t)
      if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    return t;
  }

  node_labeler_options options_;
};

}  // namespace recblocks::chain
