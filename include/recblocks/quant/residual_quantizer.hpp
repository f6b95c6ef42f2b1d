#pragma once
/// \file residual_quantizer.hpp
/// Residual quantization (RQ): L levels of k-means codebooks, each fitted on the residuals the
/// previous levels leave, giving every vector a semantic-ID tuple (c_1, ..., c_L).
///
///     r_1 = x,   c_l = argmin_j ||r_l - C_l[j]||^2,   r_{l+1} = r_l - C_l[c_l],   x^ = sum_l C_l[c_l]
///
/// Encoding is greedy level by level (the standard RQ-VAE / semantic-ID encoder). Shapes: data
/// [n, d]; codes [n, L] (`matrix<index_t>`, entries in [0, codebook_size)); codebooks [K, d] each.
/// `encode` assigns codes to new vectors (code assignment); `reconstruction_error` is the mean over
/// rows of ||x - x^||^2. Requires n >= codebook_size at fit, finite values, matching d.
/// Complexity: fit O(L iterations n K d), encode O(L n K d) (GEMM based). Thread-safety: `fit`
/// mutates; const members may run concurrently. Errors: `value_error`, `shape_error`, `state_error`.

#include <Eigen/Core>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/reconstruction.hpp"
#include "kmeans.hpp"

namespace recblocks::quant {

/// Options of `residual_quantizer`.
struct residual_quantizer_options {
  index_t levels = 3;           ///< L (>= 1)
  index_t codebook_size = 256;  ///< K per level (>= 1)
  int iterations = 20;          ///< Lloyd iterations per level
  std::uint64_t seed = 42;      ///< level l uses seed + l
};

/// Residual quantizer producing semantic-ID tuples (see the file comment).
template <class T>
class residual_quantizer {
 public:
  explicit residual_quantizer(residual_quantizer_options options);

  /// Fits the L codebooks on `data` [n, d].
  const residual_quantizer& fit(const Eigen::Ref<const matrix<T>>& data);
  /// Codes [n, L] of the rows of `data`.
  matrix<index_t> encode(const Eigen::Ref<const matrix<T>>& data) const;
  /// Reconstructions [n, d] of `codes` [n, L].
  matrix<T> decode(const Eigen::Ref<const matrix<index_t>>& codes) const;
  /// Mean squared reconstruction error of the rows of `data`.
  double reconstruction_error(const Eigen::Ref<const matrix<T>>& data) const;

  /// Codebook of `level` [K, d].
  const matrix<T>& codebook(index_t level) const;
  index_t levels() const { return options_.levels; }
  index_t codebook_size() const { return options_.codebook_size; }
  index_t dim() const { return dim_; }

 private:
  void check(const char* where, const Eigen::Ref<const matrix<T>>& data) const;

  residual_quantizer_options options_;
  std::vector<matrix<T>> codebooks_;
  index_t dim_ = 0;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <class T>
residual_quantizer<T>::residual_quantizer(residual_quantizer_options options) : options_(options) {
  if (options_.levels < 1) throw value_error("residual_quantizer: levels must be >= 1");
  if (options_.codebook_size < 1) throw value_error("residual_quantizer: codebook_size must be >= 1");
  if (options_.iterations < 0) throw value_error("residual_quantizer: iterations must be >= 0");
}

template <class T>
void residual_quantizer<T>::check(const char* where, const Eigen::Ref<const matrix<T>>& data) const {
  if (codebooks_.empty()) throw state_error(std::string("residual_quantizer::") + where + ": call fit() first");
  if (data.cols() != dim_)
    throw shape_error(std::string("residual_quantizer::") + where + ": data has dimension " +
                      std::to_string(data.cols()) + ", the quantizer has " + std::to_string(dim_));
  if (!detail::all_finite<T>(data))
    throw value_error(std::string("residual_quantizer::") + where + ": data contains NaN or Inf");
}

template <class T>
const residual_quantizer<T>& residual_quantizer<T>::fit(const Eigen::Ref<const matrix<T>>& data) {
  matrix<T> residual = data;
  std::vector<matrix<T>> books;
  std::vector<index_t> labels(static_cast<std::size_t>(data.rows()));
  for (index_t l = 0; l < options_.levels; ++l) {
    kmeans<T> km({.clusters = options_.codebook_size, .iterations = options_.iterations, .seed = options_.seed + l});
    km.fit(residual);
    books.push_back(km.centroids());
    detail::nearest_centroid<T>(residual, books.back(), labels.data(), static_cast<T*>(nullptr));
    for (index_t i = 0; i < residual.rows(); ++i) residual.row(i) -= books.back().row(labels[i]);
  }
  codebooks_ = std::move(books);
  dim_ = data.cols();
  return *this;
}

template <class T>
matrix<index_t> residual_quantizer<T>::encode(const Eigen::Ref<const matrix<T>>& data) const {
  check("encode", data);
  matrix<T> residual = data;
  matrix<index_t> codes(data.rows(), options_.levels);
  std::vector<index_t> labels(static_cast<std::size_t>(data.rows()));
  for (index_t l = 0; l < options_.levels; ++l) {
    detail::nearest_centroid<T>(residual, codebooks_[l], labels.data(), static_cast<T*>(nullptr));
    for (index_t i = 0; i < residual.rows(); ++i) {
      codes(i, l) = labels[i];
      residual.row(i) -= codebooks_[l].row(labels[i]);
    }
  }
  return codes;
}

template <class T>
matrix<T> residual_quantizer<T>::decode(const Eigen::Ref<const matrix<index_t>>& codes) const {
  if (codebooks_.empty()) throw state_error("residual_quantizer::decode: call fit() first");
  if (codes.cols() != options_.levels)
    throw shape_error("residual_quantizer::decode: codes have " + std::to_string(codes.cols()) + " levels, expected " +
                      std::to_string(options_.levels));
  matrix<T> out = matrix<T>::Zero(codes.rows(), dim_);
  for (index_t i = 0; i < codes.rows(); ++i)
    for (index_t l = 0; l < options_.levels; ++l) {
      const index_t c = codes(i, l);
      if (c < 0 || c >= options_.codebook_size)
        throw value_error("residual_quantizer::decode: code " + std::to_string(c) + " at row " + std::to_string(i) +
                          " outside [0, " + std::to_string(options_.codebook_size) + ")");
      out.row(i) += codebooks_[l].row(c);
    }
  return out;
}

template <class T>
double residual_quantizer<T>::reconstruction_error(const Eigen::Ref<const matrix<T>>& data) const {
  check("reconstruction_error", data);
  if (data.rows() == 0) return 0.0;
  return detail::mean_squared_error<T>(data, decode(encode(data)));
}

template <class T>
const matrix<T>& residual_quantizer<T>::codebook(index_t level) const {
  if (level < 0 || level >= static_cast<index_t>(codebooks_.size()))
    throw value_error("residual_quantizer::codebook: level " + std::to_string(level) + " not fitted");
  return codebooks_[static_cast<std::size_t>(level)];
}

}  // namespace recblocks::quant
