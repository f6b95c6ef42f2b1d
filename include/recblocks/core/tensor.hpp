#pragma once
/// \file tensor.hpp
/// Row-major tensor aliases. A batch is `[batch, features]` and embedding rows are contiguous, so
/// every 2-D value in recblocks is a row-major Eigen matrix. N-d data at the boundary (sequence
/// batches `[B, L]`, `.npy` files) is held by xtensor and viewed through `mutable_map`/`const_map` of the
/// same memory.

#include <Eigen/Core>
#include <cstdint>
#include <sstream>
#include <string>

#include "error.hpp"

namespace recblocks {

/// Signed index type used for ids, rows and sizes in public APIs.
using index_t = std::int64_t;

/// A dense row-major matrix `[rows, cols]`.
template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A dense column vector `[n]`. (Not named `vector`/`map`: those would collide with `std::` names
/// under `using namespace std;`.)
template <class T>
using col_vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// A row vector `[1, n]`.
template <class T>
using row_vector = Eigen::Matrix<T, 1, Eigen::Dynamic>;

/// A mutable view of row-major memory as a matrix (no copy).
template <class T>
using mutable_map = Eigen::Map<matrix<T>, Eigen::Unaligned>;

/// A read-only view of row-major memory as a matrix (no copy).
template <class T>
using const_map = Eigen::Map<const matrix<T>, Eigen::Unaligned>;

/// Ids of sparse features or embedding rows.
using id_vector = Eigen::Matrix<index_t, Eigen::Dynamic, 1>;

/// "[r, c]" for error messages.
inline std::string shape_string(index_t rows, index_t cols) {
  std::ostringstream s;
  s << '[' << rows << ", " << cols << ']';
  return s.str();
}

/// Throws `shape_error` naming `where` and both shapes unless they are equal.
inline void require_same_shape(const char* where, index_t r1, index_t c1, index_t r2, index_t c2) {
  if (r1 != r2 || c1 != c2)
    throw shape_error(std::string(where) + ": shape mismatch " + shape_string(r1, c1) + " vs " + shape_string(r2, c2));
}

}  // namespace recblocks
