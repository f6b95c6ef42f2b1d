#pragma once
/// \file batch.hpp
/// One mini-batch of `B` samples, laid out the way the models consume it.
///
/// | field        | shape / type                          | content                                        |
/// |--------------|---------------------------------------|------------------------------------------------|
/// | `size`       | B                                     | number of samples                              |
/// | `sparse`     | `matrix<index_t>` `[sparse_count, B]` | row f = sparse feature f's ids (contiguous, ready for an embedding gather) |
/// | `dense`      | `matrix<T>` `[B, dense_count]`        | dense values                                   |
/// | `scenario`   | `std::vector<index_t>` `[B]`          | scenario ids; empty when the schema has none   |
/// | `labels`     | `matrix<T>` `[B, label_count]`        | labels                                         |
/// | `sequences`  | one `xt::xtensor<index_t, 2>` `[B, L]` per sequence feature | ids, left-aligned, 0-padded on the right |
///
/// Sequence batches are xtensor arrays (row-major); `sequence_view(k)` is an `Eigen::Map` over
/// `sequences[k].data()` (`const_map<index_t>` of shape `[B, L]`), so Eigen code reads them
/// without a copy. The view is valid until the batch is refilled or destroyed.
///
/// A batch is a plain value: `dataset::gather` and `batcher::next` refill it and reuse its memory
/// when the shapes are unchanged. Thread-safety: like any value type (concurrent reads are fine).

#include <span>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::data {

/// A mini-batch; `T` is the real type of dense values and labels (float or double).
template <class T>
struct batch {
  index_t size = 0;
  matrix<index_t> sparse;                         ///< [sparse_count, B]
  matrix<T> dense;                                ///< [B, dense_count]
  std::vector<index_t> scenario;                  ///< [B]; empty without a scenario feature
  matrix<T> labels;                               ///< [B, label_count]
  std::vector<xt::xtensor<index_t, 2>> sequences; ///< one [B, max_length] per sequence feature, 0-padded

  /// Row `field` of `sparse`: the B ids of sparse feature `field`. `shape_error` if out of range.
  std::span<const index_t> sparse_ids(index_t field) const;

  /// Eigen view `[B, L]` of sequence feature `k` (no copy). `shape_error` if out of range.
  const_map<index_t> sequence_view(index_t k) const;

  /// Column `j` of `labels` as a contiguous copy (B values), e.g. for `eval::auc`.
  std::vector<T> label_column(index_t j = 0) const;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
std::span<const index_t> batch<T>::sparse_ids(index_t field) const {
  if (field < 0 || field >= sparse.rows())
    throw shape_error("data::batch::sparse_ids: field " + std::to_string(field) + " out of range [0, " +
                      std::to_string(sparse.rows()) + ")");
  return {sparse.data() + field * sparse.cols(), static_cast<std::size_t>(sparse.cols())};
}

template <class T>
const_map<index_t> batch<T>::sequence_view(index_t k) const {
  if (k < 0 || k >= static_cast<index_t>(sequences.size()))
    throw shape_error("data::batch::sequence_view: sequence " + std::to_string(k) + " out of range [0, " +
                      std::to_string(sequences.size()) + ")");
  const auto& s = sequences[static_cast<std::size_t>(k)];
  return const_map<index_t>(s.data(), static_cast<index_t>(s.shape()[0]), static_cast<index_t>(s.shape()[1]));
}

template <class T>
std::vector<T> batch<T>::label_column(index_t j) const {
  if (j < 0 || j >= labels.cols())
    throw shape_error("data::batch::label_column: label " + std::to_string(j) + " out of range [0, " +
                      std::to_string(labels.cols()) + ")");
  std::vector<T> out(static_cast<std::size_t>(labels.rows()));
  for (index_t i = 0; i < labels.rows(); ++i) out[static_cast<std::size_t>(i)] = labels(i, j);
  return out;
}

}  // namespace recblocks::data
