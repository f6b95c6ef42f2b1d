#pragma once
/// \file group_fairness.hpp
/// The group fairness gap of LLM4Rerank (papers.md §8, "MAD"): each position of a ranked list gets a
/// linear rank score from 1 (top) to 0 (bottom), and the gap is the absolute difference of the groups'
/// mean scores. Lower is fairer.
///
///     s(p) = 1 - p / (N - 1)   (0-based p, N = |list|; s = 1 when N = 1)
///     R_g  = mean_{p : group(list[p]) = g} s(p)
///     gap  = | R_0 - R_1 |                  (two groups, as in LLM4Rerank)
///     gap  = max_g R_g - min_g R_g          (G > 2 groups: the largest pairwise gap)
///
/// `groups` `[n]` maps each candidate id to its group in `[0, G)`, `G = num_groups` or `1 + max(groups)`.
/// LLM4Rerank scores the whole reranked candidate list (N = 20), not a top-k prefix.
///
/// Requires: distinct ids in `[0, n)`; every group in `[0, G)` occurs in `list`; `G >= 2`.
/// Errors: `value_error`. Thread-safety: pure function. Complexity: O(N + n).

#include <algorithm>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../detail/checks.hpp"

namespace recblocks::rerank {

/// LLM4Rerank's group fairness gap (MAD of mean linear rank scores) of `list`.
inline double group_fairness(const std::vector<index_t>& list, const std::vector<index_t>& groups,
                             index_t num_groups = 0);

// ---- implementation ------------------------------------------------------------------------------

inline double group_fairness(const std::vector<index_t>& list, const std::vector<index_t>& groups,
                             index_t num_groups) {
  const char* block = "rerank::group_fairness";
  const auto n = static_cast<index_t>(groups.size());
  detail::require_list(block, list, n);
  index_t g_count = num_groups;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (groups[i] < 0 || (num_groups > 0 && groups[i] >= num_groups))
      throw value_error(std::string(block) + ": groups[" + std::to_string(i) + "] = " + std::to_string(groups[i]) +
                        " is out of range");
    if (num_groups <= 0) g_count = std::max(g_count, groups[i] + 1);
  }
  if (g_count < 2) throw value_error(std::string(block) + ": needs at least 2 groups, got " + std::to_string(g_count));
  const auto N = static_cast<index_t>(list.size());
  std::vector<double> sum(static_cast<std::size_t>(g_count), 0.0);
  std::vector<index_t> cnt(static_cast<std::size_t>(g_count), 0);
  for (index_t p = 0; p < N; ++p) {
    const double s = N == 1 ? 1.0 : 1.0 - static_cast<double>(p) / static_cast<double>(N - 1);
    const auto g = static_cast<std::size_t>(groups[static_cast<std::size_t>(list[static_cast<std::size_t>(p)])]);
    sum[g] += s;
    ++cnt[g];
  }
  double lo = 2.0, hi = -1.0;
  for (std::size_t g = 0; g < sum.size(); ++g) {
    if (cnt[g] == 0)
      throw value_error(std::string(block) + ": group " + std::to_string(g) +
                        " has no item in the list (the gap is undefined)");
    const double r = sum[g] / static_cast<double>(cnt[g]);
    lo = std::min(lo, r);
    hi = std::max(hi, r);
  }
  return hi - lo;
}

}  // namespace recblocks::rerank
