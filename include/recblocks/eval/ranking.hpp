#pragma once
/// \file ranking.hpp
/// Top-k ranking metrics for one query: NDCG@k, Recall@k, MRR@k (average them over queries).
///
/// Binary relevance, ranked list `ranked` (best first, distinct ids) and set `relevant` (distinct ids),
/// positions p = 1..k, rel(p) = 1 if ranked[p] is relevant:
///
///     DCG@k    = sum_{p <= k} rel(p) / log2(p + 1)
///     IDCG@k   = sum_{p <= min(k, |relevant|)} 1 / log2(p + 1)
///     NDCG@k   = DCG@k / IDCG@k
///     Recall@k = |top-k ∩ relevant| / |relevant|
///     MRR@k    = 1 / (first p <= k with rel(p) = 1), 0 when there is none
///
/// Graded relevance from candidate scores (`ndcg_at_k(scores, gains, k)`): the candidates are ranked
/// by score descending (ties: lower index first), gain(p) = 2^g - 1 for the candidate's grade g >= 0,
/// and IDCG uses the grades sorted descending; a query whose grades are all 0 gives 0.
///
/// A list shorter than k is scored on its own positions. Errors: `value_error` for k < 1, an empty
/// `relevant` set (the metric is undefined: filter such queries), duplicate ids, NaN scores or
/// negative/non-finite grades; `shape_error` for scores and grades of different lengths.
/// Complexity: O(|ranked| + |relevant| log |relevant|) per call (O(n log n) for the graded form).
/// Thread-safety: pure functions.

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "detail/checks.hpp"

namespace recblocks::eval {

inline double ndcg_at_k(std::span<const index_t> ranked, std::span<const index_t> relevant, index_t k);
inline double recall_at_k(std::span<const index_t> ranked, std::span<const index_t> relevant, index_t k);
inline double mrr_at_k(std::span<const index_t> ranked, std::span<const index_t> relevant, index_t k);

/// Graded NDCG@k of candidates scored `scores` with relevance grades `gains` (see file docs).
template <class Scores, class Gains>
double ndcg_at_k_graded(const Scores& scores, const Gains& gains, index_t k);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

namespace detail {

/// Validates k and both id lists; returns the relevant set and the number of positions to score.
inline std::unordered_set<index_t> relevance_set(const char* block, std::span<const index_t> ranked,
                                                 std::span<const index_t> relevant, index_t k) {
  if (k < 1) throw value_error(std::string(block) + ": k must be >= 1, got " + std::to_string(k));
  if (relevant.empty()) throw value_error(std::string(block) + ": no relevant item (the metric is undefined)");
  std::unordered_set<index_t> rel(relevant.begin(), relevant.end());
  if (rel.size() != relevant.size()) throw value_error(std::string(block) + ": duplicate id in the relevant set");
  std::unordered_set<index_t> seen;
  for (index_t id : ranked)
    if (!seen.insert(id).second)
      throw value_error(std::string(block) + ": id " + std::to_string(id) + " ranked twice");
  return rel;
}

inline double discount(index_t position) { return 1.0 / std::log2(static_cast<double>(position) + 1.0); }

}  // namespace detail

inline double ndcg_at_k(std::span<const index_t> ranked, std::span<const index_t> relevant, index_t k) {
  const auto rel = detail::relevance_set("eval::ndcg_at_k", ranked, relevant, k);
  const index_t n = std::min<index_t>(k, static_cast<index_t>(ranked.size()));
  double dcg = 0.0, idcg = 0.0;
  for (index_t p = 1; p <= n; ++p)
    if (rel.count(ranked[static_cast<std::size_t>(p - 1)])) dcg += detail::discount(p);
  for (index_t p = 1; p <= std::min<index_t>(k, static_cast<index_t>(rel.size())); ++p) idcg += detail::discount(p);
  return dcg / idcg;
}

inline double recall_at_k(std::span<const index_t> ranked, std::span<const index_t> relevant, index_t k) {
  const auto rel = detail::relevance_set("eval::recall_at_k", ranked, relevant, k);
  const index_t n = std::min<index_t>(k, static_cast<index_t>(ranked.size()));
  index_t hits = 0;
  for (index_t p = 0; p < n; ++p) hits += rel.count(ranked[static_cast<std::size_t>(p)]) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(rel.size());
}

inline double mrr_at_k(std::span<const index_t> ranked, std::span<const index_t> relevant, index_t k) {
  const auto rel = detail::relevance_set("eval::mrr_at_k", ranked, relevant, k);
  const index_t n = std::min<index_t>(k, static_cast<index_t>(ranked.size()));
  for (index_t p = 1; p <= n; ++p)
    if (rel.count(ranked[static_cast<std::size_t>(p - 1)])) return 1.0 / static_cast<double>(p);
  return 0.0;
}

template <class Scores, class Gains>
double ndcg_at_k_graded(const Scores& scores, const Gains& gains, index_t k) {
  const char* block = "eval::ndcg_at_k_graded";
  const auto s = detail::to_doubles(scores);
  const auto g = detail::to_doubles(gains);
  if (s.size() != g.size())
    throw shape_error(std::string(block) + ": " + std::to_string(s.size()) + " scores but " + std::to_string(g.size()) +
                      " grades");
  if (k < 1) throw value_error(std::string(block) + ": k must be >= 1, got " + std::to_string(k));
  detail::require_finite(block, s);
  detail::require_finite(block, g, "grade");
  for (double v : g)
    if (v < 0) throw value_error(std::string(block) + ": negative grade " + std::to_string(v));
  std::vector<std::size_t> order(s.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
  std::vector<double> ideal = g;
  std::sort(ideal.begin(), ideal.end(), std::greater<>());
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(k), s.size());
  double dcg = 0.0, idcg = 0.0;
  for (std::size_t p = 0; p < n; ++p) {
    dcg += (std::exp2(g[order[p]]) - 1.0) * detail::discount(static_cast<index_t>(p) + 1);
    idcg += (std::exp2(ideal[p]) - 1.0) * detail::discount(static_cast<index_t>(p) + 1);
  }
  return idcg == 0.0 ? 0.0 : dcg / idcg;
}

}  // namespace recblocks::eval
