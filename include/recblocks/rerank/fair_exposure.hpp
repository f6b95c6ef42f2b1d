#pragma once
/// \file fair_exposure.hpp
/// Fairness-aware greedy reranking under a group-exposure constraint.
///
/// Each candidate `i` has a relevance `r_i` and a group `g_i in [0, G)`. Position `p` (0-based) of the
/// output list gets the DCG exposure `e(p) = 1 / log2(p + 2)`. For a list of length `k`, the exposure of
/// group `g` is `E_g = sum_{p : g_{list[p]} = g} e(p)` and the total is `E = sum_{p<k} e(p)`. The constraint is
///
///     E_g / E  >=  target_g - tolerance        for every group g,
///
/// with `target_g` given by the caller or, by default, the group's share of the candidates (`n_g / n`).
///
/// Greedy rule, position by position: take the most relevant remaining item (ties: lower index) unless,
/// after placing it, the constraint could no longer be met. Feasibility is decided by a depth-first
/// search over the group assignment of the remaining positions (largest deficit `lower_g - E_g` first,
/// `lower_g = (target_g - tolerance) E`, pruned by the exposure each group can still reach), exact up to
/// a node budget (`search_budget`; when exceeded the placement counts as infeasible). If placing the best
/// item is infeasible, the position goes to the best item of another group: the one with the largest
/// deficit among those whose placement keeps the constraint feasible, or, if none does, the largest deficit.
/// Within each group, items keep their relevance order. When the constraint cannot be met at all (a group
/// has too few items, or the tolerance is too tight for the discrete exposures), the result is best
/// effort: deficient groups are served first at every position where the check fails.
///
/// Requires: `relevance` and `groups` of equal length `n`, finite relevance, groups in `[0, G)`, `G >= 1`,
/// targets (if given) of length `G` in `[0, 1]`, `tolerance >= 0`, `1 <= k <= n`.
/// Errors: `shape_error` for length mismatches, `value_error` otherwise.
/// Thread-safety: `const`, no shared state. Complexity: O(n log n + k G^2 budget) time worst case (typically O(n log n + k^2 G^2)), O(n + G) memory.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/checks.hpp"

namespace recblocks::rerank {

/// Options of `fair_exposure`.
struct fair_exposure_options {
  double tolerance = 0.05;      ///< allowed shortfall of a group's exposure share below its target
  std::vector<double> targets;  ///< per-group target shares; empty = each group's share of the candidates
  index_t search_budget = 4096; ///< node budget of the feasibility look-ahead per check (exceeded = infeasible)
};

/// Greedy relevance reranker with a group-exposure lower bound; see the file comment.
class fair_exposure {
 public:
  explicit fair_exposure(fair_exposure_options options = {});

  const fair_exposure_options& options() const { return options_; }

  /// Exposure weight of 0-based position `p`: `1 / log2(p + 2)`.
  static double exposure(index_t p) { return 1.0 / std::log2(static_cast<double>(p) + 2.0); }

  /// Candidate indices of the length-`k` list, best first. `num_groups` is G (0 = 1 + max group id).
  template <class T>
  std::vector<index_t> rerank(const Eigen::Ref<const col_vector<T>>& relevance, const std::vector<index_t>& groups,
                              index_t k, index_t num_groups = 0) const;

 private:
  fair_exposure_options options_;
};

// ---- implementation ------------------------------------------------------------------------------

inline fair_exposure::fair_exposure(fair_exposure_options options) : options_(std::move(options)) {
  if (!(options_.tolerance >= 0.0))
    throw value_error("rerank::fair_exposure: tolerance = " + std::to_string(options_.tolerance) + " must be >= 0");
  if (options_.search_budget < 1)
    throw value_error("rerank::fair_exposure: search_budget = " + std::to_string(options_.search_budget) + " must be >= 1");
  for (std::size_t g = 0; g < options_.targets.size(); ++g)
    if (!(options_.targets[g] >= 0.0 && options_.targets[g] <= 1.0))
      throw value_error("rerank::fair_exposure: targets[" + std::to_string(g) + "] = " +
                        std::to_string(options_.targets[g]) + " must be in [0, 1]");
}

template <class T>
std::vector<index_t> fair_exposure::rerank(const Eigen::Ref<const col_vector<T>>& relevance,
                                           const std::vector<index_t>& groups, index_t k, index_t num_groups) const {
  const char* block = "rerank::fair_exposure";
  const index_t n = relevance.size();
  if (static_cast<index_t>(groups.size()) != n)
    throw shape_error(std::string(block) + ": groups has " + std::to_string(groups.size()) +
                      " entries but relevance has " + std::to_string(n));
  detail::require_k(block, k, n);
  detail::require_finite(block, "relevance", relevance);
  index_t g_count = num_groups;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (groups[i] < 0 || (num_groups > 0 && groups[i] >= num_groups))
      throw value_error(std::string(block) + ": groups[" + std::to_string(i) + "] = " + std::to_string(groups[i]) +
                        " is outside [0, " + (num_groups > 0 ? std::to_string(num_groups) : std::string("inf")) + ")");
    if (num_groups <= 0 && groups[i] + 1 > g_count) g_count = groups[i] + 1;
  }
  const auto G = static_cast<std::size_t>(g_count);
  std::vector<double> target(G, 0.0);
  std::vector<index_t> left(G, 0);  // remaining items per group
  for (index_t g : groups) ++left[static_cast<std::size_t>(g)];
  if (options_.targets.empty()) {
    for (std::size_t g = 0; g < G; ++g) target[g] = static_cast<double>(left[g]) / static_cast<double>(n);
  } else {
    if (options_.targets.size() != G)
      throw shape_error(std::string(block) + ": " + std::to_string(options_.targets.size()) + " targets for " +
                        std::to_string(G) + " groups");
    target = options_.targets;
  }

  double total = 0.0;
  for (index_t p = 0; p < k; ++p) total += exposure(p);
  std::vector<double> lower(G), got(G, 0.0);
  for (std::size_t g = 0; g < G; ++g) lower[g] = (target[g] - options_.tolerance) * total;

  // Per-group queues in relevance order (ties: lower index first).
  std::vector<index_t> order(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](index_t a, index_t b) { return relevance(a) > relevance(b); });
  std::vector<std::vector<index_t>> queue(G);
  for (index_t i : order) queue[static_cast<std::size_t>(groups[static_cast<std::size_t>(i)])].push_back(i);
  std::vector<std::size_t> head(G, 0);

  // Feasible iff the positions p+1..k-1 can be given to groups (within their remaining items) so that
  // every deficit lower_g - E_g is cleared: depth-first search, largest deficit first, pruned by each
  // group's best reachable exposure (its next avail_g positions), with a node budget.
  std::vector<double> suffix(static_cast<std::size_t>(k) + 1, 0.0);  // suffix[q] = sum_{q' >= q} e(q')
  for (index_t q = k - 1; q >= 0; --q) suffix[static_cast<std::size_t>(q)] = suffix[static_cast<std::size_t>(q) + 1] + exposure(q);
  auto feasible_after = [&](index_t p, std::vector<double> e_g, std::vector<index_t> avail) {
    index_t budget = options_.search_budget;
    auto dfs = [&](auto&& self, index_t q) -> bool {
      bool all_met = true;
      for (std::size_t g = 0; g < G; ++g) {
        const double need = lower[g] - e_g[g];
        if (need <= 1e-12) continue;
        all_met = false;
        const index_t reach = std::min<index_t>(avail[g], k - q);  // best case: the next `reach` positions
        if (suffix[static_cast<std::size_t>(q)] - suffix[static_cast<std::size_t>(q + reach)] < need - 1e-12) return false;
      }
      if (all_met) return true;
      if (q >= k || --budget < 0) return false;
      std::vector<std::size_t> cand;
      for (std::size_t g = 0; g < G; ++g)
        if (avail[g] > 0) cand.push_back(g);
      std::stable_sort(cand.begin(), cand.end(),
                       [&](std::size_t a, std::size_t b) { return lower[a] - e_g[a] > lower[b] - e_g[b]; });
      for (std::size_t g : cand) {
        e_g[g] += exposure(q);
        --avail[g];
        const bool ok = self(self, q + 1);
        e_g[g] -= exposure(q);
        ++avail[g];
        if (ok) return true;
      }
      return false;
    };
    return dfs(dfs, p + 1);
  };

  std::vector<index_t> out;
  out.reserve(static_cast<std::size_t>(k));
  for (index_t p = 0; p < k; ++p) {
    std::size_t best_g = G;
    for (std::size_t g = 0; g < G; ++g)
      if (head[g] < queue[g].size() &&
          (best_g == G || relevance(queue[g][head[g]]) > relevance(queue[best_g][head[best_g]]) ||
           (relevance(queue[g][head[g]]) == relevance(queue[best_g][head[best_g]]) &&
            queue[g][head[g]] < queue[best_g][head[best_g]])))
        best_g = g;
    std::vector<double> e_try = got;
    std::vector<index_t> avail_try = left;
    e_try[best_g] += exposure(p);
    --avail_try[best_g];
    std::size_t pick = best_g;
    if (!feasible_after(p, e_try, avail_try)) {
      // Other groups with items, largest deficit first; the first whose placement stays feasible wins.
      std::vector<std::size_t> others;
      for (std::size_t g = 0; g < G; ++g)
        if (g != best_g && head[g] < queue[g].size()) others.push_back(g);
      std::stable_sort(others.begin(), others.end(),
                       [&](std::size_t a, std::size_t b) { return lower[a] - got[a] > lower[b] - got[b]; });
      if (!others.empty()) pick = others.front();
      for (std::size_t g : others) {
        std::vector<double> e_alt = got;
        std::vector<index_t> avail_alt = left;
        e_alt[g] += exposure(p);
        --avail_alt[g];
        if (feasible_after(p, e_alt, avail_alt)) {
          pick = g;
          break;
        }
      }
    }
    out.push_back(queue[pick][head[pick]++]);
    got[pick] += exposure(p);
    --left[pick];
  }
  return out;
}

}  // namespace recblocks::rerank
