#pragma once
/// \file gemm.hpp
/// The one matrix-multiply entry point of the engine:
///
///     C = op(A) * op(B) + beta * C,      op(X) = X or X^T,   beta in {0, 1}
///
/// on row-major memory. With `RECBLOCKS_USE_CBLAS` (target `recblocks::blas`) products whose output
/// has at least `blas_min_rows` rows go to `cblas_sgemm`/`cblas_dgemm` (OpenBLAS reaches ~85 % of the
/// FP32 peak on CTR shapes, plain Eigen ~72 %); small ones, batch-1 GEMVs in particular, stay with
/// Eigen, which wins there. Results are evaluated straight into `C` (`noalias`), never a temporary.

#include <Eigen/Core>

#include "tensor.hpp"

#if defined(RECBLOCKS_USE_CBLAS)
#include <cblas.h>
#endif

namespace recblocks {

/// Output rows from which GEMMs are handed to BLAS when it is available.
inline constexpr index_t blas_min_rows = 32;

namespace detail {

template <class T, class CMap>
void eigen_gemm(const const_map<T>& a, bool ta, const const_map<T>& b, bool tb, CMap& c, bool accumulate) {
  if (!ta && !tb) {
    if (accumulate) c.noalias() += a * b; else c.noalias() = a * b;
  } else if (ta && !tb) {
    if (accumulate) c.noalias() += a.transpose() * b; else c.noalias() = a.transpose() * b;
  } else if (!ta && tb) {
    if (accumulate) c.noalias() += a * b.transpose(); else c.noalias() = a * b.transpose();
  } else {
    if (accumulate) c.noalias() += a.transpose() * b.transpose(); else c.noalias() = a.transpose() * b.transpose();
  }
}

}  // namespace detail

/// `C = op(A) op(B)` (or `+=` when `accumulate`). Shapes are checked by the caller.
template <class T>
void gemm(const const_map<T>& a, bool ta, const const_map<T>& b, bool tb, map<T> c, bool accumulate = false) {
  const index_t m = c.rows(), n = c.cols(), k = ta ? a.rows() : a.cols();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) c.setZero();
    return;
  }
#if defined(RECBLOCKS_USE_CBLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (m >= blas_min_rows) {
      const auto tra = ta ? CblasTrans : CblasNoTrans;
      const auto trb = tb ? CblasTrans : CblasNoTrans;
      const T beta = accumulate ? T(1) : T(0);
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, tra, trb, int(m), int(n), int(k), 1.0f, a.data(), int(a.cols()), b.data(),
                    int(b.cols()), beta, c.data(), int(n));
      else
        cblas_dgemm(CblasRowMajor, tra, trb, int(m), int(n), int(k), 1.0, a.data(), int(a.cols()), b.data(),
                    int(b.cols()), beta, c.data(), int(n));
      return;
    }
  }
#endif
  detail::eigen_gemm<T>(a, ta, b, tb, c, accumulate);
}

}  // namespace recblocks
