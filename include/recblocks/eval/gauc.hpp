#pragma once
/// \file gauc.hpp
/// Group AUC: the per-user AUC averaged with impression weights (Zhou et al., DIN, KDD 2018).
///
///     gAUC = sum_u n_u AUC_u / sum_u n_u
///
/// over the users u whose impressions hold both a positive and a negative label (n_u = the user's
/// number of impressions; users with one class only are skipped, since AUC_u is undefined).
/// AUC_u is `eval::auc` (ties averaged) on that user's rows.
///
/// Inputs: equal-length ranges; labels 0/1; finite scores; any integer user ids.
/// Errors: `shape_error` (lengths), `value_error` (bad label, NaN/inf score, or no user with both
/// classes). Complexity: O(n log n). Thread-safety: pure function.

#include <map>
#include <vector>

#include "auc.hpp"

namespace recblocks::eval {

/// gAUC of `scores` against `labels`, grouped by `users`. `users_counted`, when given, receives the
/// number of users that entered the average.
template <class Labels, class Scores, class Users>
double gauc(const Labels& labels, const Scores& scores, const Users& users, index_t* users_counted = nullptr);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class Labels, class Scores, class Users>
double gauc(const Labels& labels, const Scores& scores, const Users& users, index_t* users_counted) {
  const char* block = "eval::gauc";
  const auto y = detail::to_doubles(labels);
  const auto s = detail::to_doubles(scores);
  std::vector<index_t> u;
  for (const auto& v : users) u.push_back(static_cast<index_t>(v));
  detail::require_same_size(block, y.size(), s.size());
  detail::require_same_size(block, y.size(), u.size(), "user ids");
  detail::require_binary(block, y);
  detail::require_finite(block, s);
  std::map<index_t, std::vector<std::size_t>> rows;
  for (std::size_t i = 0; i < u.size(); ++i) rows[u[i]].push_back(i);
  double weighted = 0.0, weight = 0.0;
  index_t counted = 0;
  std::vector<double> yu, su;
  for (const auto& [user, idx] : rows) {
    yu.clear();
    su.clear();
    for (std::size_t i : idx) {
      yu.push_back(y[i]);
      su.push_back(s[i]);
    }
    const double a = auc_unchecked(yu, su);
    if (std::isnan(a)) continue;
    weighted += static_cast<double>(idx.size()) * a;
    weight += static_cast<double>(idx.size());
    ++counted;
  }
  if (users_counted) *users_counted = counted;
  if (counted == 0) throw value_error(std::string(block) + ": no user has both a positive and a negative label");
  return weighted / weight;
}

}  // namespace recblocks::eval
