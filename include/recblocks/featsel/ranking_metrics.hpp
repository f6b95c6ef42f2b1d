#pragma once
/// \file ranking_metrics.hpp
/// Scores a `feature_ranking` against known importances (the synthetic dataset's truth):
///
///     spearman(r, truth)     = Pearson correlation of the ranks (ties: average ranks) of the
///                              ranking's positions and of the true importances (higher = better)
///     kendall_tau(r, truth)  = tau-b over field pairs (ties in the truth counted as in tau-b)
///     precision_at(r, truth, d) = |top-d of r ∩ the d truly most important fields| / d
///
/// `truth` maps every ranked field to its importance (larger = more important). precision_at needs
/// the truth's top-d to be unambiguous (no tie across position d): `value_error` otherwise, and for a
/// field missing from `truth`, d outside [1, N], or fewer than 2 fields.

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "feature_ranking.hpp"

namespace recblocks::featsel {

namespace detail {
inline std::vector<double> average_ranks(const std::vector<double>& v) {  // rank 1 = smallest
  std::vector<std::size_t> idx(v.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) r[idx[k]] = 0.5 * double(i + j) + 1.0;
    i = j + 1;
  }
  return r;
}
/// (ranking score = -position, truth importance) per ranked field.
inline void paired(const feature_ranking& r, const std::map<std::string, double>& truth, std::vector<double>& a,
                   std::vector<double>& b, const char* what) {
  if (r.order.size() < 2) throw value_error(std::string("featsel::") + what + ": needs at least 2 ranked fields");
  for (std::size_t p = 0; p < r.order.size(); ++p) {
    const auto it = truth.find(r.order[p]);
    if (it == truth.end()) throw value_error(std::string("featsel::") + what + ": field '" + r.order[p] + "' has no true importance");
    a.push_back(-double(p));
    b.push_back(it->second);
  }
}
}  // namespace detail

inline double spearman(const feature_ranking& r, const std::map<std::string, double>& truth) {
  std::vector<double> a, b;
  detail::paired(r, truth, a, b, "spearman");
  const auto ra = detail::average_ranks(a), rb = detail::average_ranks(b);
  const double n = double(ra.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) ma += ra[i] / n, mb += rb[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) throw value_error("featsel::spearman: constant truth, the correlation is undefined");
  return sab / std::sqrt(saa * sbb);
}

inline double kendall_tau(const feature_ranking& r, const std::map<std::string, double>& truth) {
  std::vector<double> a, b;
  detail::paired(r, truth, a, b, "kendall_tau");
  double conc = 0, disc = 0, ta = 0, tb = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = i + 1; j < a.size(); ++j) {
      const double x = a[i] - a[j], y = b[i] - b[j];
      if (x == 0 && y == 0) continue;
      if (x == 0) ++ta;
      else if (y == 0) ++tb;
      else if ((x > 0) == (y > 0)) ++conc;
      else ++disc;
    }
  const double den = std::sqrt((conc + disc + ta) * (conc + disc + tb));
  if (den == 0) throw value_error("featsel::kendall_tau: constant truth, tau is undefined");
  return (conc - disc) / den;
}

inline double precision_at(const feature_ranking& r, const std::map<std::string, double>& truth, index_t d) {
  std::vector<double> a, b;
  detail::paired(r, truth, a, b, "precision_at");
  const index_t n = static_cast<index_t>(b.size());
  if (d < 1 || d > n) throw value_error("featsel::precision_at: d = " + std::to_string(d) + " outside [1, " + std::to_string(n) + "]");
  std::vector<double> sorted = b;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  if (d < n && sorted[static_cast<std::size_t>(d - 1)] == sorted[static_cast<std::size_t>(d)])
    throw value_error("featsel::precision_at: the true top-" + std::to_string(d) + " is ambiguous (a tie across position " +
                      std::to_string(d) + ")");
  const double cut = sorted[static_cast<std::size_t>(d - 1)];
  index_t hits = 0;
  for (index_t p = 0; p < d; ++p) hits += b[static_cast<std::size_t>(p)] >= cut ? 1 : 0;
  return double(hits) / double(d);
}

}  // namespace recblocks::featsel
