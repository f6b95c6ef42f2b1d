#pragma once
/// \file llm_chain_steps.hpp
/// The LLM steps of the UniLLMRec chain (chain_step.hpp), all asked in one multi-turn
/// `chain_session` over any `llm::llm_client`, each as a typed prompt template with a tight JSON
/// schema (constrained decoding where the server supports it), validated and re-asked:
///
/// | step | prompt (papers.md §10 Table 3, "interest" perspective) | answer schema |
/// |---|---|---|
/// | profile | "A user's click items are: <titles>. Summarize the interested items topic categories, from the most important to the least important." | `{"interests": [string <= 40 chars] (1..3)}` |
/// | tree walk | "Rank the top <m> subcategories about <node label> based on the user's interest from the following candidates without any explanation." + numbered `"<label> (<count> items)"` | `{"rank": [1..c] (1..m)}` |
/// | leaf recall | "Rank the top <k> items about <leaf label> based on the user's interest from the following candidates without any explanation." + numbered titles | `{"items": [1..N] (1..k)}` |
/// | rank | "Rank the top <n> items for the user from the following candidates, the most likely next click first, without any explanation." | `{"rank": [1..N] (1..n)}` |
/// | rerank | "Rerank these <n> recommended items so that the top of the list stays relevant to the user's interests and covers different topics, without any explanation." | `{"order": [1..n] (n)}` |
///
/// Candidates are shown by number (1-based) so the answer is an index list the schema can
/// enumerate; the paper's "{1. Item1, 2. Item2}" title lists needed fuzzy title matching, which
/// numbered candidates avoid. Every prompt ends with the JSON format to use. The history shown is the
/// last `history_max` titles (50 in the paper), each cut to `max_title_chars`.
///
/// Validation (then a re-ask in the session with a message naming the problem): a number outside
/// 1..c (`out_of_range`), an empty list (`empty`), a missing or mistyped field (`bad_field`);
/// repeated numbers are dropped (counted as a repair). After `max_attempts` invalid answers the
/// step falls back (counted): profile "" ; walk: the children in the order shown; leaf recall: the
/// first k items shown; rank and rerank: the input order. A user with no history gets no profile call
/// (profile "", counted in `no_history()`).
///
/// `flat_prompt(history, pool, n)` renders what a flat LLM ranker reads for the same task (the
/// profile instruction's history plus every item of `pool`, numbered) for token accounting.
///
/// Requires: `item_text(id)` answers for every id of the tree; options as in `chain_session`.
/// Thread-safety: not thread-safe; one object (and session) per thread over a thread-safe client.

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../llm/client.hpp"
#include "../llm/prompt_template.hpp"
#include "../retrieval/child_policy.hpp"
#include "chain_session.hpp"
#include "chain_step.hpp"

namespace recblocks::chain {

/// Options of `llm_chain_steps`.
struct llm_chain_options {
  chain_session_options session{};
  index_t history_max = 50;       ///< history titles shown (the paper truncates to 50)
  index_t max_title_chars = 80;   ///< longer titles are cut (UTF-8 safe)
  index_t max_interests = 3;      ///< interests asked for in the profile
  index_t walk_top = 10;          ///< m: children ranked per node (the paper's recall subnode number)
};

/// The five chain steps asked of an LLM in one session; see the file comment.
template <llm::llm_client Client, class T = float>
class llm_chain_steps {
 public:
  using text_fn = std::function<std::string(index_t)>;

  llm_chain_steps(Client& client, text_fn item_text, llm_chain_options options = {})
      : session_(client, options.session), text_(std::move(item_text)), options_(options) {
    if (!text_) throw value_error("chain::llm_chain_steps: item_text must be callable");
    if (options_.history_max < 0 || options_.max_title_chars < 8 || options_.max_interests < 1 || options_.walk_top < 1)
      throw value_error("chain::llm_chain_steps: history_max >= 0, max_title_chars >= 8, max_interests >= 1 and "
                        "walk_top >= 1 are required (got " + std::to_string(options_.history_max) + ", " +
                        std::to_string(options_.max_title_chars) + ", " + std::to_string(options_.max_interests) + ", " +
                        std::to_string(options_.walk_top) + ")");
  }

  /// Starts the session of `user` (called by the chain).
  void begin(const chain_user<T>& user) {
    session_.begin();
    history_ = user.history;
  }

  std::string profile(const chain_user<T>& user);
  std::vector<retrieval::scored_child> choose(const retrieval::tree_query<T>& q, std::string_view label,
                                              std::span<const retrieval::child_info<T>> children);
  std::vector<index_t> recall_leaf(const retrieval::tree_query<T>& q, std::string_view label,
                                   std::span<const index_t> items, index_t k);
  std::vector<index_t> rank(const retrieval::tree_query<T>& q, std::span<const index_t> candidates, index_t n);
  std::vector<index_t> rerank(const retrieval::tree_query<T>& q, std::span<const index_t> ranked, index_t n);

  /// The prompt texts (exposed for tests and token accounting).
  std::string profile_prompt(std::span<const index_t> history) const;
  std::string walk_prompt(std::string_view label, std::span<const retrieval::child_info<T>> children, index_t m) const;
  std::string leaf_prompt(std::string_view label, std::span<const index_t> items, index_t k) const;
  std::string rank_prompt(std::span<const index_t> candidates, index_t n) const;
  std::string rerank_prompt(std::span<const index_t> ranked) const;
  /// What a flat LLM ranker over `pool` reads (see the file comment).
  std::string flat_prompt(std::span<const index_t> history, std::span<const index_t> pool, index_t n) const;

  chain_session<Client>& session() { return session_; }
  const chain_session<Client>& session() const { return session_; }
  long no_history() const { return no_history_; }
  const llm_chain_options& options() const { return options_; }

 private:
  std::string title(index_t id) const {
    std::string t = text_(id);
    const auto cap = static_cast<std::size_t>(options_.max_title_chars);
    if (t.size() > cap) {
      std::size_t cut = cap;
      while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
      t = t.substr(0, cut) + "...";
    }
    for (auto& ch : t)
      if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    return t;
  }
  std::string numbered(std::span<const index_t> ids) const {
    std::string s;
    for (std::size_t p = 0; p < ids.size(); ++p) s += std::to_string(p + 1) + ". " + title(ids[p]) + "\n";
    return s;
  }
  static nlohmann::json index_schema(const std::string& field, std::size_t count, std::size_t min_items, std::size_t max_items) {
    nlohmann::json e = nlohmann::json::array();
    for (std::size_t i = 1; i <= count; ++i) e.push_back(i);
    return {{"type", "object"},
            {"properties", {{field, {{"type", "array"}, {"items", {{"type", "integer"}, {"enum", e}}},
                                     {"minItems", min_items}, {"maxItems", max_items}}}}},
            {"required", {field}},
            {"additionalProperties", false}};
  }
  /// Asks for a list of 1-based indices into `count` candidates; 0-based positions, duplicates dropped.
  std::optional<std::vector<std::size_t>> ask_indices(const std::string& step, const std::string& prompt,
                                                      const std::string& field, std::size_t count, std::size_t min_items,
                                                      std::size_t max_items);

  chain_session<Client> session_;
  text_fn text_;
  llm_chain_options options_;
  std::vector<index_t> history_;
  long no_history_ = 0;
};

// ---- implementation ------------------------------------------------------------------------------

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::profile_prompt(std::span<const index_t> history) const {
  const auto h = static_cast<std::size_t>(options_.history_max);
  const std::size_t from = history.size() > h ? history.size() - h : 0;
  std::string items;
  for (std::size_t p = from; p < history.size(); ++p) items += (p > from ? "; " : "") + title(history[p]);
  return "A user's click items are: " + items +
         ".\nSummarize the interested items topic categories, from the most important to the least important. "
         "Answer in JSON: {\"interests\": [\"<category>\", ...]}";
}

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::walk_prompt(std::string_view label, std::span<const retrieval::child_info<T>> children,
                                                    index_t m) const {
  std::string s = "Rank the top " + std::to_string(m) + " subcategories about " + std::string(label) +
                  " based on the user's interest from the following candidates without any explanation.\n";
  for (std::size_t c = 0; c < children.size(); ++c)
    s += std::to_string(c + 1) + ". " + retrieval::describe_child(children[c].label, children[c].item_count) + "\n";
  return s + "Answer in JSON with the candidate numbers: {\"rank\": [<number>, ...]}";
}

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::leaf_prompt(std::string_view label, std::span<const index_t> items, index_t k) const {
  return "Rank the top " + std::to_string(k) + " items about " + std::string(label) +
         " based on the user's interest from the following candidates without any explanation.\n" + numbered(items) +
         "Answer in JSON with the candidate numbers: {\"items\": [<number>, ...]}";
}

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::rank_prompt(std::span<const index_t> candidates, index_t n) const {
  return "Rank the top " + std::to_string(n) +
         " items for the user from the following candidates, the most likely next click first, without any "
         "explanation.\n" + numbered(candidates) + "Answer in JSON with the candidate numbers: {\"rank\": [<number>, ...]}";
}

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::rerank_prompt(std::span<const index_t> ranked) const {
  return "Rerank these " + std::to_string(ranked.size()) +
         " recommended items so that the top of the list stays relevant to the user's interests and covers different "
         "topics, without any explanation.\n" + numbered(ranked) + "Answer in JSON with all " +
         std::to_string(ranked.size()) + " numbers in the new order: {\"order\": [<number>, ...]}";
}

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::flat_prompt(std::span<const index_t> history, std::span<const index_t> pool,
                                                    index_t n) const {
  const auto h = static_cast<std::size_t>(options_.history_max);
  const std::size_t from = history.size() > h ? history.size() - h : 0;
  std::string items;
  for (std::size_t p = from; p < history.size(); ++p) items += (p > from ? "; " : "") + title(history[p]);
  return "A user's click items are: " + items + ".\n" + rank_prompt(pool, n);
}

template <llm::llm_client Client, class T>
std::optional<std::vector<std::size_t>> llm_chain_steps<Client, T>::ask_indices(const std::string& step,
                                                                                const std::string& prompt,
                                                                                const std::string& field, std::size_t count,
                                                                                std::size_t min_items, std::size_t max_items) {
  bool had_repeats = false;
  std::vector<std::size_t> out;
  const auto check = [&](const nlohmann::json& j, std::string& reason) -> std::optional<std::string> {
    const auto f = j.find(field);
    if (f == j.end() || !f->is_array()) {
      reason = "bad_field";
      return "Your reply has no \"" + field + "\" list of candidate numbers. Please answer again in the requested JSON format.";
    }
    std::vector<std::size_t> got;
    std::vector<char> seen(count, 0);
    bool rep = false;
    for (const auto& v : *f) {
      if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > static_cast<long long>(count)) {
        reason = "out_of_range";
        return "Number " + v.dump() + " in your reply is not one of the candidate numbers 1 to " + std::to_string(count) +
               ". Please check and answer again.";
      }
      const auto p = static_cast<std::size_t>(v.get<long long>() - 1);
      if (seen[p]++) {
        rep = true;
        continue;
      }
      got.push_back(p);
    }
    if (got.empty()) {
      reason = "empty";
      return std::string("Your reply lists no candidate. Please give the candidate numbers in the requested JSON format.");
    }
    out = std::move(got);
    had_repeats = rep;
    return std::nullopt;
  };
  const int max_tokens = static_cast<int>(16 + 4 * max_items);
  if (!session_.ask(step, prompt, index_schema(field, count, min_items, max_items), max_tokens, check)) return std::nullopt;
  if (had_repeats) session_.count_repair(step);
  return out;
}

template <llm::llm_client Client, class T>
std::string llm_chain_steps<Client, T>::profile(const chain_user<T>& user) {
  if (user.history.empty()) {
    ++no_history_;
    return {};
  }
  nlohmann::json schema = {
      {"type", "object"},
      {"properties",
       {{"interests",
         {{"type", "array"}, {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 40}}},
          {"minItems", 1}, {"maxItems", options_.max_interests}}}}},
      {"required", {"interests"}},
      {"additionalProperties", false}};
  std::vector<std::string> interests;
  const auto check = [&](const nlohmann::json& j, std::string& reason) -> std::optional<std::string> {
    const auto f = j.find("interests");
    if (f == j.end() || !f->is_array()) {
      reason = "bad_field";
      return std::string("Your reply has no \"interests\" list. Please answer again in the requested JSON format.");
    }
    std::vector<std::string> got;
    for (const auto& v : *f)
      if (v.is_string() && !v.get<std::string>().empty()) got.push_back(v.get<std::string>());
    if (got.empty()) {
      reason = "empty";
      return std::string("Your reply lists no interest. Please name the user's interested topic categories.");
    }
    interests = std::move(got);
    return std::nullopt;
  };
  const int max_tokens = static_cast<int>(24 + 20 * options_.max_interests);
  if (!session_.ask("profile", profile_prompt(user.history), schema, max_tokens, check)) return {};
  std::string s;
  for (const auto& i : interests) s += (s.empty() ? "" : "; ") + i;
  return s;
}

template <llm::llm_client Client, class T>
std::vector<retrieval::scored_child> llm_chain_steps<Client, T>::choose(const retrieval::tree_query<T>&, std::string_view label,
                                                                        std::span<const retrieval::child_info<T>> children) {
  std::vector<retrieval::scored_child> out;
  if (children.empty()) return out;
  const std::size_t c = children.size();
  if (c == 1) return {{0, 1.0}};  // nothing to choose
  const std::size_t m = std::min<std::size_t>(c, static_cast<std::size_t>(options_.walk_top));
  const auto got = ask_indices("walk", walk_prompt(label, children, static_cast<index_t>(m)), "rank", c, 1, m);
  std::vector<std::size_t> order;
  if (got) order = *got;
  else
    for (std::size_t p = 0; p < c; ++p) order.push_back(p);  // fallback: the order shown
  for (std::size_t r = 0; r < order.size(); ++r)
    out.push_back({static_cast<index_t>(order[r]), 1.0 / (1.0 + static_cast<double>(r))});
  return out;
}

template <llm::llm_client Client, class T>
std::vector<index_t> llm_chain_steps<Client, T>::recall_leaf(const retrieval::tree_query<T>&, std::string_view label,
                                                             std::span<const index_t> items, index_t k) {
  std::vector<index_t> out;
  if (items.empty() || k < 1) return out;
  const auto kk = std::min<std::size_t>(static_cast<std::size_t>(k), items.size());
  const auto got = ask_indices("leaf_recall", leaf_prompt(label, items, static_cast<index_t>(kk)), "items", items.size(), 1, kk);
  if (got)
    for (std::size_t p : *got) out.push_back(items[p]);
  else
    out.assign(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(kk));  // fallback: the first k shown
  if (out.size() > kk) out.resize(kk);
  return out;
}

template <llm::llm_client Client, class T>
std::vector<index_t> llm_chain_steps<Client, T>::rank(const retrieval::tree_query<T>&, std::span<const index_t> candidates,
                                                      index_t n) {
  std::vector<index_t> out;
  if (candidates.size() <= 1) return {candidates.begin(), candidates.end()};
  const auto nn = std::min<std::size_t>(static_cast<std::size_t>(std::max<index_t>(n, 1)), candidates.size());
  const auto got = ask_indices("rank", rank_prompt(candidates, static_cast<index_t>(nn)), "rank", candidates.size(), 1, nn);
  if (got)
    for (std::size_t p : *got) out.push_back(candidates[p]);
  // the chain appends the rest in input order (fallback: the input order)
  return out;
}

template <llm::llm_client Client, class T>
std::vector<index_t> llm_chain_steps<Client, T>::rerank(const retrieval::tree_query<T>&, std::span<const index_t> ranked,
                                                        index_t n) {
  const auto nn = std::min<std::size_t>(static_cast<std::size_t>(std::max<index_t>(n, 0)), ranked.size());
  const std::span<const index_t> head = ranked.first(nn);
  std::vector<index_t> out;
  if (nn <= 1) return {head.begin(), head.end()};
  const auto got = ask_indices("rerank", rerank_prompt(head), "order", nn, nn, nn);
  if (got)
    for (std::size_t p : *got) out.push_back(head[p]);
  return out;  // the chain completes a partial order with the input order (fallback: the input order)
}

}  // namespace recblocks::chain
