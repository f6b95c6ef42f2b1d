#pragma once
/// \file classical_chain_steps.hpp
/// The classical steps of the UniLLMRec chain (chain_step.hpp), with no language model, over the item
/// vectors held by a `retrieval::item_tree`:
///
/// - profile: "" (the user is their embedding q);
/// - tree walk: `retrieval::centroid_policy` (cosine of q with each child's centroid);
/// - leaf recall and rank: by item score s_i = cos(q, x_i), ties by lower id;
/// - rerank: MMR (`rerank::mmr`, lambda = `mmr_lambda`) over the first n with relevance s_i and
///   item similarity S_ij = cos(x_i, x_j).
///
/// Fallback when q is empty or zero (a user with no history): children by item count (largest
/// first), leaf items and ranks in the given order, rerank keeps the order; counted in
/// `no_embedding_calls()`.
///
/// Requires: the tree outlives the steps; q has the tree's dimension when not empty.
/// Errors: `shape_error` on a dimension mismatch; `value_error` for an id not in the tree.
/// Thread-safety: the counter is not synchronised; one object per thread.

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../rerank/mmr.hpp"
#include "../retrieval/centroid_policy.hpp"
#include "../retrieval/child_policy.hpp"
#include "../retrieval/item_tree.hpp"
#include "chain_step.hpp"

namespace recblocks::chain {

/// Options of `classical_chain_steps`.
struct classical_chain_options {
  double mmr_lambda = 0.5;  ///< relevance weight of MMR (rerank::mmr's default)
};

/// Classical implementations of all five steps; see the file comment.
template <class T = float>
class classical_chain_steps {
 public:
  explicit classical_chain_steps(const retrieval::item_tree<T>& tree, classical_chain_options options = {})
      : tree_(tree), options_(options), mmr_(options.mmr_lambda) {}

  std::string profile(const chain_user<T>&) { return {}; }

  std::vector<retrieval::scored_child> choose(const retrieval::tree_query<T>& q, std::string_view label,
                                              std::span<const retrieval::child_info<T>> children) {
    if (has_query(q)) return retrieval::centroid_policy{}.choose(q, label, children);
    ++no_embedding_;
    std::vector<retrieval::scored_child> out;
    for (std::size_t c = 0; c < children.size(); ++c)
      out.push_back({static_cast<index_t>(c), static_cast<double>(children[c].item_count)});
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
    return out;
  }

  std::vector<index_t> recall_leaf(const retrieval::tree_query<T>& q, std::string_view, std::span<const index_t> items,
                                   index_t k) {
    std::vector<index_t> out = by_score(q, items);
    if (static_cast<index_t>(out.size()) > k) out.resize(static_cast<std::size_t>(std::max<index_t>(k, 0)));
    return out;
  }

  std::vector<index_t> rank(const retrieval::tree_query<T>& q, std::span<const index_t> candidates, index_t) {
    return by_score(q, candidates);
  }

  std::vector<index_t> rerank(const retrieval::tree_query<T>& q, std::span<const index_t> ranked, index_t n) {
    n = std::min<index_t>(n, static_cast<index_t>(ranked.size()));
    std::vector<index_t> head(ranked.begin(), ranked.begin() + n);
    if (n <= 1) return head;
    if (!has_query(q)) {
      ++no_embedding_;
      return head;
    }
    col_vector<T> rel(n);
    matrix<T> x(n, tree_.dim());
    for (index_t a = 0; a < n; ++a) {
      const col_vector<T> v = tree_.vector_of(head[static_cast<std::size_t>(a)]);
      const double nv = v.template cast<double>().norm();
      x.row(a) = v.transpose();
      if (nv > 0) x.row(a) /= static_cast<T>(nv);
      rel(a) = static_cast<T>(cosine(q.embedding, v));
    }
    const matrix<T> sim = x * x.transpose();
    std::vector<index_t> out;
    for (index_t p : mmr_.rerank<T>(rel, sim, n)) out.push_back(head[static_cast<std::size_t>(p)]);
    return out;
  }

  /// Calls that took the no-embedding fallback.
  long no_embedding_calls() const { return no_embedding_; }

 private:
  static bool has_query(const retrieval::tree_query<T>& q) {
    return q.embedding.size() > 0 && q.embedding.template cast<double>().norm() > 0.0;
  }
  static double cosine(const col_vector<T>& a, const col_vector<T>& b) {
    if (a.size() != b.size())
      throw shape_error("chain::classical_chain_steps: query has " + std::to_string(a.size()) + " dims, items have " +
                        std::to_string(b.size()));
    const double d = a.template cast<double>().norm() * b.template cast<double>().norm();
    return d > 0 ? a.template cast<double>().dot(b.template cast<double>()) / d : 0.0;
  }
  std::vector<index_t> by_score(const retrieval::tree_query<T>& q, std::span<const index_t> items) {
    std::vector<index_t> ids(items.begin(), items.end());
    if (!has_query(q)) {
      ++no_embedding_;
      return ids;
    }
    std::vector<std::pair<double, index_t>> s;
    for (index_t i : ids) s.push_back({cosine(q.embedding, tree_.vector_of(i)), i});
    std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (std::size_t p = 0; p < s.size(); ++p) ids[p] = s[p].second;
    return ids;
  }

  const retrieval::item_tree<T>& tree_;
  classical_chain_options options_;
  rerank::mmr mmr_;
  long no_embedding_ = 0;
};

}  // namespace recblocks::chain
