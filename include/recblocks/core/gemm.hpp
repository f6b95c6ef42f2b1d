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
#include <limits>
#include <vector>

#include "tensor.hpp"

#if defined(RECBLOCKS_USE_CBLAS)
#include <cblas.h>
#endif

namespace recblocks {

/// Output rows from which GEMMs are handed to BLAS when it is available.
inline constexpr index_t blas_min_rows = 32;

namespace detail {

/// A per-thread buffer for physically transposed operands of the Eigen path.
template <class T>
T* transpose_scratch(int which, std::size_t n) {
  thread_local std::vector<T> buffers[2];
  if (buffers[which].size() < n) buffers[which].resize(n);
  return buffers[which].data();
}

/// The Eigen path instantiates a single product form (row-major x row-major): a transposed operand
/// is first copied transposed into a scratch buffer (O(mk) against the product's O(mnk)), which
/// keeps every translation unit from instantiating Eigen's GEMM machinery eight times.
template <class T>
void eigen_gemm(const const_map<T>& a, bool ta, const const_map<T>& b, bool tb, mutable_map<T>& c, bool accumulate) {
  const T* ap = a.data();
  const T* bp = b.data();
  const index_t ar = ta ? a.cols() : a.rows(), ac = ta ? a.rows() : a.cols();
  const index_t br = tb ? b.cols() : b.rows(), bc = tb ? b.rows() : b.cols();
  if (ta) {
    T* s = transpose_scratch<T>(0, static_cast<std::size_t>(a.size()));
    mutable_map<T>(s, ar, ac) = a.transpose();
    ap = s;
  }
  if (tb) {
    T* s = transpose_scratch<T>(1, static_cast<std::size_t>(b.size()));
    mutable_map<T>(s, br, bc) = b.transpose();
    bp = s;
  }
  const_map<T> lhs(ap, ar, ac), rhs(bp, br, bc);
  if (accumulate) c.noalias() += lhs * rhs;
  else c.noalias() = lhs * rhs;
}

/// Whether every extent and leading dimension of a product fits the `int` of the CBLAS interface
/// (OpenBLAS without ILP64). Larger products stay on the Eigen path instead of a silently truncated
/// `int(...)` cast.
inline bool fits_blas_int(index_t m, index_t n, index_t k, index_t lda, index_t ldb, index_t ldc) {
  constexpr index_t max = std::numeric_limits<int>::max();
  return m <= max && n <= max && k <= max && lda <= max && ldb <= max && ldc <= max;
}

}  // namespace detail

/// `C = op(A) op(B)` (or `+=` when `accumulate`). Shapes are checked by the caller.
template <class T>
void gemm(const const_map<T>& a, bool ta, const const_map<T>& b, bool tb, mutable_map<T> c, bool accumulate = false) {
  const index_t m = c.rows(), n = c.cols(), k = ta ? a.rows() : a.cols();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) c.setZero();
    return;
  }
#if defined(RECBLOCKS_USE_CBLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (m >= blas_min_rows && detail::fits_blas_int(m, n, k, a.cols(), b.cols(), n)) {
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
