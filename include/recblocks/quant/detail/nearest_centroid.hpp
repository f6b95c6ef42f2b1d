#pragma once
/// \file nearest_centroid.hpp
/// Internal: the GEMM-based nearest-centroid kernel shared by k-means, residual and product
/// quantization.
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

#include "../../core/tensor.hpp"

#if defined(RECBLOCKS_USE_CBLAS)
#include <cblas.h>
#endif

namespace recblocks::quant::detail {

/// Rows per block for `k` centroids: about 1 MiB of scratch, between 64 and 4096 rows.
inline index_t nearest_block_rows(index_t k) {
  const index_t rows = (index_t{1} << 18) / std::max<index_t>(k, 1);
  return std::clamp<index_t>(rows, 64, 4096);
}

/// `g[r, j] = alpha * x[r, :] . c[j, :]` for a block of rows (x row-major with outer stride).
template <class T>
void cross_gemm(const T* x, index_t rows, index_t ldx, const matrix<T>& c, T alpha, matrix<T>& g) {
  const index_t k = c.rows(), d = c.cols();
#if defined(RECBLOCKS_USE_CBLAS)
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
                static_cast<int>(d), alpha, x, static_cast<int>(ldx), c.data(), static_cast<int>(d), 0.0f, g.data(),
                static_cast<int>(k));
    return;
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
                static_cast<int>(d), alpha, x, static_cast<int>(ldx), c.data(), static_cast<int>(d), 0.0, g.data(),
                static_cast<int>(k));
    return;
  }
#endif
  Eigen::Map<const matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>> xb(x, rows, d, Eigen::OuterStride<>(ldx));
  auto gb = g.topRows(rows);
  gb.noalias() = alpha * (xb * c.transpose());
}

/// Nearest centroid of every row of `data` ([n, d]) among `centroids` ([k, d], k >= 1).
/// Writes `labels[i]` and, when `dist` is non-null, the squared distance `dist[i]` (>= 0).
template <class T>
void nearest_centroid(const Eigen::Ref<const matrix<T>>& data, const matrix<T>& centroids, index_t* labels,
                      T* dist) {
  const index_t n = data.rows(), k = centroids.rows();
  if (n == 0 || k == 0) return;
  const vector<T> cnorm = centroids.rowwise().squaredNorm();
  const index_t block = nearest_block_rows(k);
  matrix<T> g(std::min(block, n), k);
  for (index_t r0 = 0; r0 < n; r0 += block) {
    const index_t rows = std::min(block, n - r0);
    cross_gemm<T>(data.data() + r0 * data.outerStride(), rows, data.outerStride(), centroids, T(-2), g);
    for (index_t r = 0; r < rows; ++r) {
      const T* gr = g.data() + r * k;
      const T* cn = cnorm.data();
      T best = gr[0] + cn[0];
      index_t arg = 0;
      for (index_t j = 1; j < k; ++j) {
        const T v = gr[j] + cn[j];
        if (v < best) {
          best = v;
          arg = j;
        }
      }
      labels[r0 + r] = arg;
      if (dist) {
        const T xn = data.row(r0 + r).squaredNorm();
        dist[r0 + r] = std::max(T(0), xn + best);
      }
    }
  }
}

/// True when every entry of `m` is finite.
template <class Derived>
bool all_finite(const Eigen::DenseBase<Derived>& m) {
  return m.derived().allFinite();
}

}  // namespace recblocks::quant::detail
