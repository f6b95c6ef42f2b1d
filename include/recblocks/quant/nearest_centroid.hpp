#pragma once
/// \file nearest_centroid.hpp
/// The GEMM-based nearest-centroid kernel shared by k-means, residual and product quantization and
/// by `retrieval/` (public: `quant::nearest_centroid`, `quant::all_finite`; the block helpers stay in
/// `quant::detail`).
///
///     dist(i, j) = ||x_i||^2 - 2 x_i . c_j + ||c_j||^2,      label_i = argmin_j dist(i, j)
///
/// Rows are processed in blocks so the scratch `[block, k]` stays about 1 MiB. The cross term is one
/// GEMM per block (`cblas_sgemm`/`cblas_dgemm` when `RECBLOCKS_USE_CBLAS` is defined, Eigen
/// `noalias()` otherwise). Ties go to the lower centroid index. Distances are clamped at 0 (the
/// expansion can go slightly negative through cancellation). Cost O(n k d) FLOPs, O(block k) memory.

#include <Eigen/Core>
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/tensor.hpp"

#if defined(RECBLOCKS_USE_CBLAS)
#include <cblas.h>
#endif

namespace recblocks::quant::detail {

/// Rows per block for `k` centroids: about 1 MiB of scratch, between 64 and 4096 rows.
inline index_t nearest_block_rows(index_t k) {
  const index_t rows = (index_t{1} << 18) / std::max<index_t>(k, 1);
  return std::clamp<index_t>(rows, 64, 4096);
}

/// `g[r, j] = alpha * x[r, :] . c[j, :] + beta * g[r, j]` for a block of rows (x row-major with
/// outer stride `ldx`, g row-major [>= rows, k]).
template <class T>
void cross_gemm(const T* x, index_t rows, index_t ldx, const matrix<T>& c, T alpha, matrix<T>& g, T beta = T(0)) {
#if defined(RECBLOCKS_USE_CBLAS)
  const index_t k = c.rows(), d = c.cols();
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
                static_cast<int>(d), alpha, x, static_cast<int>(ldx), c.data(), static_cast<int>(d), beta, g.data(),
                static_cast<int>(k));
    return;
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
                static_cast<int>(d), alpha, x, static_cast<int>(ldx), c.data(), static_cast<int>(d), beta, g.data(),
                static_cast<int>(k));
    return;
  }
#endif
  Eigen::Map<const matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>> xb(x, rows, c.cols(), Eigen::OuterStride<>(ldx));
  auto gb = g.topRows(rows);
  if (beta == T(0))
    gb.noalias() = alpha * (xb * c.transpose());
  else
    gb.noalias() += alpha * (xb * c.transpose());  // callers only pass beta 0 or 1
}

/// Index of the smallest of `v[0..k)` (first one on ties) and its value. Two vectorizable passes.
template <class T>
inline index_t argmin_first(const T* v, index_t k, T& best) {
  const T m = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(v, k).minCoeff();  // SIMD min
  index_t arg = 0;
  while (arg < k - 1 && !(v[arg] == m)) ++arg;
  best = m;
  return arg;
}

/// Squared norm of a contiguous row.
template <class T>
inline T row_sqnorm(const T* x, index_t d) {
  T s = 0;
  for (index_t j = 0; j < d; ++j) s += x[j] * x[j];
  return s;
}

/// Nearest centroid of every row of `data` ([n, d]) among `centroids` ([k, d], k >= 1).
/// Writes `labels[i]` and, when `dist` is non-null, the squared distance `dist[i]` (>= 0).
template <class T>
void nearest_centroid(const Eigen::Ref<const matrix<T>>& data, const matrix<T>& centroids, index_t* labels,
                      T* dist) {
  const index_t n = data.rows(), k = centroids.rows(), d = data.cols();
  if (n == 0 || k == 0) return;
  const col_vector<T> cnorm = centroids.rowwise().squaredNorm();
  const index_t block = nearest_block_rows(k);
  matrix<T> g(std::min(block, n), k);
  const index_t ld = data.outerStride();
  for (index_t r0 = 0; r0 < n; r0 += block) {
    const index_t rows = std::min(block, n - r0);
    for (index_t r = 0; r < rows; ++r) std::copy(cnorm.data(), cnorm.data() + k, g.data() + r * k);
    cross_gemm<T>(data.data() + r0 * ld, rows, ld, centroids, T(-2), g, T(1));
    for (index_t r = 0; r < rows; ++r) {
      T best;
      labels[r0 + r] = argmin_first(g.data() + r * k, k, best);
      if (dist) dist[r0 + r] = std::max(T(0), row_sqnorm(data.data() + (r0 + r) * ld, d) + best);
    }
  }
}

/// True when every entry of `m` is finite (x * 0 is NaN exactly for NaN and +-Inf; vectorizes).
template <class T>
bool all_finite(const Eigen::Ref<const matrix<T>>& m) {
  const index_t d = m.cols();
  for (index_t i = 0; i < m.rows(); ++i) {
    const T* x = m.data() + i * m.outerStride();
    T acc = 0;
    for (index_t j = 0; j < d; ++j) acc += x[j] * T(0);
    if (!(acc == T(0))) return false;
  }
  return true;
}

}  // namespace recblocks::quant::detail

namespace recblocks::quant {
/// `labels[i] = argmin_j ||data_i - centroids_j||^2` (see file docs).
using detail::nearest_centroid;
/// Whether every entry of `m` is finite.
using detail::all_finite;
}  // namespace recblocks::quant
