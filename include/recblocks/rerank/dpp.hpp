#pragma once
/// \file dpp.hpp
/// Greedy MAP inference for a determinantal point process with incremental Cholesky updates
/// (Chen, Zhang & Zhou, "Fast Greedy MAP Inference for Determinantal Point Process to Improve
/// Recommendation Diversity", NeurIPS 2018, Algorithm 1).
///
/// Given a PSD kernel `L` `[n, n]`, greedy MAP grows `Y` one item at a time by
///
///     j = argmax_{i not in Y}  log det(L_{Y+i}) - log det(L_Y)  =  argmax_i log d_i^2
///
/// where `d_i^2` is the squared last diagonal entry of the Cholesky factor of `L_{Y+i}`. After picking
/// `j`, every remaining `i` gets one more Cholesky row entry and its gain is updated in O(|Y|):
///
///     e_i = (L_ji - <c_j, c_i>) / d_j,    c_i <- [c_i, e_i],    d_i^2 <- d_i^2 - e_i^2.
///
/// The greedy loop stops when `|Y| = k` or the best `d_j^2 < epsilon` (the selected items already span
/// every remaining one). In the second case, if `fill` is set (default), the remaining positions are
/// filled with the unselected items in decreasing `L_ii` order (quality order for the kernel below), so
/// that a reranker always returns `k` items; otherwise the shorter list is returned.
///
/// `kernel(r, S, theta)` builds the relevance/diversity trade-off kernel of Chen et al. §4.1:
/// `L = Diag(exp(alpha r)) S Diag(exp(alpha r))` with `alpha = theta / (2 (1 - theta))`, `theta in [0, 1)`;
/// `S` must be PSD (e.g. a cosine Gram matrix) for `L` to be a DPP kernel.
///
/// Requires: `L` square and finite, `1 <= k <= n`, `epsilon > 0`.
/// Errors: `shape_error` (not square / mismatched), `value_error` (NaN/inf, bad k, theta or epsilon).
/// Thread-safety: `const` methods, no shared state.
/// Complexity: O(k^2 n) time and O(k n) memory for `rerank`; O(n^2) for `kernel`.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/checks.hpp"

namespace recblocks::rerank {

/// Options of the greedy DPP reranker.
struct dpp_options {
  double epsilon = 1e-10;  ///< stop the greedy loop when the best gain d_j^2 falls below this
  bool fill = true;        ///< fill the remaining positions in decreasing L_ii order after stopping
};

/// Greedy DPP MAP reranker (fast incremental-Cholesky version).
class dpp {
 public:
  explicit dpp(dpp_options options = {});

  const dpp_options& options() const { return options_; }

  /// Candidate indices of the greedy MAP list of length `k` (shorter only if `fill` is off), best first.
  template <class T>
  std::vector<index_t> rerank(const Eigen::Ref<const matrix<T>>& kernel, index_t k) const;

  /// The trade-off kernel `Diag(exp(alpha r)) S Diag(exp(alpha r))`, `alpha = theta / (2 (1 - theta))`.
  template <class T>
  static matrix<T> kernel(const Eigen::Ref<const col_vector<T>>& relevance, const Eigen::Ref<const matrix<T>>& similarity,
                          double theta);

 private:
  dpp_options options_;
};

// ---- implementation ------------------------------------------------------------------------------

inline dpp::dpp(dpp_options options) : options_(options) {
  if (!(options.epsilon > 0.0))
    throw value_error("rerank::dpp: epsilon = " + std::to_string(options.epsilon) + " must be > 0");
}

template <class T>
std::vector<index_t> dpp::rerank(const Eigen::Ref<const matrix<T>>& kernel, index_t k) const {
  const index_t n = kernel.rows();
  detail::require_square("rerank::dpp", "kernel", kernel, n);
  detail::require_k("rerank::dpp", k, n);
  detail::require_finite("rerank::dpp", "kernel", kernel);

  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(k, n);  // column i = Cholesky row entries c_i
  std::vector<double> d2(static_cast<std::size_t>(n));
  std::vector<char> taken(static_cast<std::size_t>(n), 0);
  for (index_t i = 0; i < n; ++i) d2[static_cast<std::size_t>(i)] = static_cast<double>(kernel(i, i));

  std::vector<index_t> out;
  out.reserve(static_cast<std::size_t>(k));
  auto best_remaining = [&]() {
    index_t best = -1;
    double best_gain = -std::numeric_limits<double>::infinity();
    for (index_t i = 0; i < n; ++i)
      if (!taken[static_cast<std::size_t>(i)] && d2[static_cast<std::size_t>(i)] > best_gain) {
        best_gain = d2[static_cast<std::size_t>(i)];
        best = i;
      }
    return best;
  };

  index_t j = best_remaining();
  while (true) {
    if (!(d2[static_cast<std::size_t>(j)] >= options_.epsilon)) break;
    const index_t t = static_cast<index_t>(out.size());
    out.push_back(j);
    taken[static_cast<std::size_t>(j)] = 1;
    if (t + 1 == k) break;
    const double dj = std::sqrt(d2[static_cast<std::size_t>(j)]);
    for (index_t i = 0; i < n; ++i) {
      if (taken[static_cast<std::size_t>(i)]) continue;
      const double e = (static_cast<double>(kernel(j, i)) - c.col(j).head(t).dot(c.col(i).head(t))) / dj;
      c(t, i) = e;
      d2[static_cast<std::size_t>(i)] -= e * e;
    }
    j = best_remaining();
  }

  if (options_.fill && static_cast<index_t>(out.size()) < k) {
    while (static_cast<index_t>(out.size()) < k) {
      index_t best = -1;
      double best_q = -std::numeric_limits<double>::infinity();
      for (index_t i = 0; i < n; ++i)
        if (!taken[static_cast<std::size_t>(i)] && static_cast<double>(kernel(i, i)) > best_q) {
          best_q = static_cast<double>(kernel(i, i));
          best = i;
        }
      taken[static_cast<std::size_t>(best)] = 1;
      out.push_back(best);
    }
  }
  return out;
}

template <class T>
matrix<T> dpp::kernel(const Eigen::Ref<const col_vector<T>>& relevance, const Eigen::Ref<const matrix<T>>& similarity,
                      double theta) {
  const index_t n = relevance.size();
  detail::require_square("rerank::dpp::kernel", "similarity", similarity, n);
  detail::require_finite("rerank::dpp::kernel", "relevance", relevance);
  detail::require_finite("rerank::dpp::kernel", "similarity", similarity);
  if (!(theta >= 0.0 && theta < 1.0))
    throw value_error("rerank::dpp::kernel: theta = " + std::to_string(theta) + " must be in [0, 1)");
  const double alpha = theta / (2.0 * (1.0 - theta));
  Eigen::VectorXd q(n);
  for (index_t i = 0; i < n; ++i) q(i) = std::exp(alpha * static_cast<double>(relevance(i)));
  matrix<T> l(n, n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) l(i, j) = static_cast<T>(q(i) * static_cast<double>(similarity(i, j)) * q(j));
  detail::require_finite("rerank::dpp::kernel", "kernel (exp overflow: lower theta or rescale relevance)", l);
  return l;
}

}  // namespace recblocks::rerank
