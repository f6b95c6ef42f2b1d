#pragma once
/// \file npy.hpp
/// `.npy` export and import of a matrix, thin helpers over xtensor's `xnpy` (NPY 1.0/2.0):
///
///     io::npy::save("scores.npy", m);                 // matrix<T> [r, c] -> '<f4' / '<f8' / '<i8' / '<i4', C order
///     matrix<float> m = io::npy::load<float>("x.npy");
///
/// `load` accepts rank 0 (-> `[1, 1]`), rank 1 `[n]` (-> `[n, 1]`, one value per row) and rank 2,
/// C or Fortran order; the file's dtype must be exactly `T`'s (xnpy converts nothing). Errors:
/// `io_error` naming the path (unreadable, malformed, other dtype, rank > 2). `save` writes atomically
/// (temporary file + rename). Thread-safety: free of shared state. Complexity: O(size).

#include <filesystem>
#include <sstream>
#include <string>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/atomic_file.hpp"

namespace recblocks::io {

class npy {
 public:
  /// Writes `m` as a C-order 2-D array.
  template <class T>
  static void save(const std::filesystem::path& path, const matrix<T>& m);
  /// Reads a rank <= 2 array of element type `T` (see file docs).
  template <class T>
  static matrix<T> load(const std::filesystem::path& path);
};

template <class T>
void npy::save(const std::filesystem::path& path, const matrix<T>& m) {
  const std::vector<std::size_t> shape{static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
  const auto view = xt::adapt(m.data(), static_cast<std::size_t>(m.size()), xt::no_ownership(), shape);
  detail::write_file_atomically(path, xt::dump_npy(view));
}

template <class T>
matrix<T> npy::load(const std::filesystem::path& path) {
  const std::string bytes = detail::read_file(path, std::numeric_limits<std::uint64_t>::max());
  xt::xarray<T> a;
  try {
    std::istringstream in(bytes);
    a = xt::load_npy<T>(in);
  } catch (const std::exception& e) {
    throw io_error("io::npy::load: '" + path.string() + "': " + e.what());
  }
  if (a.dimension() > 2)
    throw io_error("io::npy::load: '" + path.string() + "' has rank " + std::to_string(a.dimension()) + ", expected at most 2");
  const index_t rows = a.dimension() == 0 ? 1 : static_cast<index_t>(a.shape()[0]);
  const index_t cols = a.dimension() == 2 ? static_cast<index_t>(a.shape()[1]) : 1;
  matrix<T> m(rows, cols);
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c)
      m(r, c) = a.dimension() == 2 ? a(static_cast<std::size_t>(r), static_cast<std::size_t>(c))
                                   : a.dimension() == 1 ? a(static_cast<std::size_t>(r)) : a();
  return m;
}

}  // namespace recblocks::io
