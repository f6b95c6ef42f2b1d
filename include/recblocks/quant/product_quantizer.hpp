#pragma once
/// \file product_quantizer.hpp
/// Product quantization (PQ): the d dimensions are cut into M contiguous sub-spaces of d/M
/// dimensions, each with its own k-means codebook of K centroids.
///
///     code_m(x) = argmin_j ||x^(m) - C_m[j]||^2,      x^ = [C_1[code_1], ..., C_M[code_M]]
///     asymmetric distance:  ADC(q, x) = sum_m T[m, code_m(x)],   T[m, j] = ||q^(m) - C_m[j]||^2
///
/// ADC(q, x) equals ||q - x^||^2 exactly (up to rounding), at O(M) per item after an O(K d) table.
/// Shapes: data [n, d] with d % M == 0; codes [n, M] (`matrix<index_t>`); table [M, K].
/// `search(query, codes, k)` returns the k smallest ADC distances, ties to the lower row id.
/// Requires n >= K at fit, finite values, matching d, 1 <= k <= rows of codes.
/// Complexity: fit O(iterations n K d), encode O(n K d), search O(K d + n M + n log k).
/// Thread-safety: `fit` mutates; const members may run concurrently.

#include <Eigen/Core>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/reconstruction.hpp"
#include "kmeans.hpp"

namespace recblocks::quant {

/// Options of `product_quantizer`.
struct product_quantizer_options {
  index_t subspaces = 8;        ///< M (must divide d)
  index_t codebook_size = 256;  ///< K per sub-space
  int iterations = 20;          ///< Lloyd iterations per sub-space
  std::uint64_t seed = 42;      ///< sub-space m uses seed + m
};

/// Ids and ADC distances of one PQ search, best first.
template <class T>
struct pq_hits {
  std::vector<index_t> ids;
  std::vector<T> distances;
};

/// Product quantizer with asymmetric-distance search (see the file comment).
template <class T>
class product_quantizer {
 public:
  explicit product_quantizer(product_quantizer_options options);

  const product_quantizer& fit(const Eigen::Ref<const matrix<T>>& data);
  matrix<index_t> encode(const Eigen::Ref<const matrix<T>>& data) const;
  matrix<T> decode(const Eigen::Ref<const matrix<index_t>>& codes) const;
  /// ADC table [M, K] of one query (`dim()` values as a [1, d] matrix).
  matrix<T> distance_table(const Eigen::Ref<const matrix<T>>& query) const;
  /// The k codes rows closest to `query` [1, d] by ADC.
  pq_hits<T> search(const Eigen::Ref<const matrix<T>>& query, const Eigen::Ref<const matrix<index_t>>& codes,
                    index_t k) const;
  double reconstruction_error(const Eigen::Ref<const matrix<T>>& data) const;

  const matrix<T>& codebook(index_t subspace) const;
  index_t subspaces() const { return options_.subspaces; }
  index_t codebook_size() const { return options_.codebook_size; }
  index_t dim() const { return dim_; }

 private:
  void check(const char* where, const Eigen::Ref<const matrix<T>>& data) const;
  void check_codes(const char* where, const Eigen::Ref<const matrix<index_t>>& codes) const;

  product_quantizer_options options_;
  std::vector<matrix<T>> codebooks_;
  index_t dim_ = 0, sub_ = 0;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <class T>
product_quantizer<T>::product_quantizer(product_quantizer_options options) : options_(options) {
  if (options_.subspaces < 1) throw value_error("product_quantizer: subspaces must be >= 1");
  if (options_.codebook_size < 1) throw value_error("product_quantizer: codebook_size must be >= 1");
  if (options_.iterations < 0) throw value_error("product_quantizer: iterations must be >= 0");
}

template <class T>
void product_quantizer<T>::check(const char* where, const Eigen::Ref<const matrix<T>>& data) const {
  if (codebooks_.empty()) throw state_error(std::string("product_quantizer::") + where + ": call fit() first");
  if (data.cols() != dim_)
    throw shape_error(std::string("product_quantizer::") + where + ": data has dimension " +
                      std::to_string(data.cols()) + ", the quantizer has " + std::to_string(dim_));
  if (!detail::all_finite<T>(data))
    throw value_error(std::string("product_quantizer::") + where + ": data contains NaN or Inf");
}

template <class T>
void product_quantizer<T>::check_codes(const char* where, const Eigen::Ref<const matrix<index_t>>& codes) const {
  if (codebooks_.empty()) throw state_error(std::string("product_quantizer::") + where + ": call fit() first");
  if (codes.cols() != options_.subspaces)
    throw shape_error(std::string("product_quantizer::") + where + ": codes have " + std::to_string(codes.cols()) +
                      " columns, expected " + std::to_string(options_.subspaces));
  for (index_t i = 0; i < codes.rows(); ++i)
    for (index_t m = 0; m < codes.cols(); ++m)
      if (codes(i, m) < 0 || codes(i, m) >= options_.codebook_size)
        throw value_error(std::string("product_quantizer::") + where + ": code " + std::to_string(codes(i, m)) +
                          " at row " + std::to_string(i) + " outside [0, " + std::to_string(options_.codebook_size) +
                          ")");
}

template <class T>
const product_quantizer<T>& product_quantizer<T>::fit(const Eigen::Ref<const matrix<T>>& data) {
  const index_t d = data.cols(), m = options_.subspaces;
  if (d == 0 || d % m != 0)
    throw value_error("product_quantizer::fit: dimension " + std::to_string(d) + " is not a positive multiple of " +
                      std::to_string(m) + " sub-spaces");
  const index_t ds = d / m;
  std::vector<matrix<T>> books;
  for (index_t s = 0; s < m; ++s) {
    kmeans<T> km({.clusters = options_.codebook_size, .iterations = options_.iterations, .seed = options_.seed + s});
    km.fit(data.middleCols(s * ds, ds));
    books.push_back(km.centroids());
  }
  codebooks_ = std::move(books);
  dim_ = d;
  sub_ = ds;
  return *this;
}

template <class T>
matrix<index_t> product_quantizer<T>::encode(const Eigen::Ref<const matrix<T>>& data) const {
  check("encode", data);
  matrix<index_t> codes(data.rows(), options_.subspaces);
  std::vector<index_t> labels(static_cast<std::size_t>(data.rows()));
  for (index_t s = 0; s < options_.subspaces; ++s) {
    detail::nearest_centroid<T>(data.middleCols(s * sub_, sub_), codebooks_[s], labels.data(), static_cast<T*>(nullptr));
    for (index_t i = 0; i < data.rows(); ++i) codes(i, s) = labels[i];
  }
  return codes;
}

template <class T>
matrix<T> product_quantizer<T>::decode(const Eigen::Ref<const matrix<index_t>>& codes) const {
  check_codes("decode", codes);
  matrix<T> out(codes.rows(), dim_);
  for (index_t i = 0; i < codes.rows(); ++i)
    for (index_t s = 0; s < options_.subspaces; ++s) out.row(i).segment(s * sub_, sub_) = codebooks_[s].row(codes(i, s));
  return out;
}

template <class T>
matrix<T> product_quantizer<T>::distance_table(const Eigen::Ref<const matrix<T>>& query) const {
  check("distance_table", query);
  if (query.rows() != 1) throw shape_error("product_quantizer::distance_table: query must be one row [1, d]");
  matrix<T> table(options_.subspaces, options_.codebook_size);
  for (index_t s = 0; s < options_.subspaces; ++s)
    table.row(s) = (codebooks_[s].rowwise() - query.row(0).segment(s * sub_, sub_)).rowwise().squaredNorm().transpose();
  return table;
}

template <class T>
pq_hits<T> product_quantizer<T>::search(const Eigen::Ref<const matrix<T>>& query,
                                        const Eigen::Ref<const matrix<index_t>>& codes, index_t k) const {
  check_codes("search", codes);
  if (k < 1 || k > codes.rows())
    throw value_error("product_quantizer::search: k = " + std::to_string(k) + " must be in [1, rows of codes = " +
                      std::to_string(codes.rows()) + "]");
  const matrix<T> table = distance_table(query);
  std::vector<std::pair<T, index_t>> all(static_cast<std::size_t>(codes.rows()));
  for (index_t i = 0; i < codes.rows(); ++i) {
    T s = 0;
    for (index_t m = 0; m < options_.subspaces; ++m) s += table(m, codes(i, m));
    all[i] = {s, i};
  }
  std::partial_sort(all.begin(), all.begin() + k, all.end());  // pair order: distance, then lower id
  pq_hits<T> out;
  for (index_t j = 0; j < k; ++j) {
    out.ids.push_back(all[j].second);
    out.distances.push_back(all[j].first);
  }
  return out;
}

template <class T>
double product_quantizer<T>::reconstruction_error(const Eigen::Ref<const matrix<T>>& data) const {
  check("reconstruction_error", data);
  if (data.rows() == 0) return 0.0;
  return detail::mean_squared_error<T>(data, decode(encode(data)));
}

template <class T>
const matrix<T>& product_quantizer<T>::codebook(index_t subspace) const {
  if (subspace < 0 || subspace >= static_cast<index_t>(codebooks_.size()))
    throw value_error("product_quantizer::codebook: sub-space " + std::to_string(subspace) + " not fitted");
  return codebooks_[static_cast<std::size_t>(subspace)];
}

}  // namespace recblocks::quant
