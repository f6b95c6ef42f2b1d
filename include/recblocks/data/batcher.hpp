#pragma once
/// \file batcher.hpp
/// Iterates a `dataset` in mini-batches, epoch by epoch.
///
/// Epoch e (e = 0 for the first, +1 on every `reset()`) visits the rows in the order of a
/// Fisher-Yates permutation seeded with `seed + e` (`shuffle = true`) or in row order
/// (`shuffle = false`). Every row is visited exactly once per epoch; the last batch holds the
/// `rows % batch_size` leftover rows unless `drop_last`, in which case they are skipped for that
/// epoch. The permutation is the same with every standard library (see detail/shuffle.hpp), so a
/// run is reproducible from its seed.
///
///     data::batcher<float> it(train, 4096, true, 2022);
///     data::batch<float> b;
///     for (int epoch = 0; epoch < 10; ++epoch, it.reset())
///       while (it.next(b)) { /* b.size <= 4096 */ }
///
/// Requires: batch_size >= 1 (`value_error` otherwise). The batcher keeps a reference to the dataset:
/// it must outlive the batcher and not change while iterating.
/// Complexity: O(rows) per epoch for the permutation, plus `dataset::gather` per batch.
/// Thread-safety: one batcher per thread; several batchers may share one dataset.

#include <cstdint>
#include <vector>

#include "batch.hpp"
#include "dataset.hpp"
#include "detail/shuffle.hpp"

namespace recblocks::data {

template <class T>
class batcher {
 public:
  batcher(const dataset& d, index_t batch_size, bool shuffle, std::uint64_t seed, bool drop_last = false);

  /// Fills `out` with the next batch; false (and `out` untouched) at the end of the epoch.
  bool next(batch<T>& out);

  /// Starts the next epoch (reshuffled with seed + epoch when shuffling).
  void reset();

  /// Number of batches `next` returns per epoch: ceil(rows / B), or floor(rows / B) with drop_last.
  index_t batches_per_epoch() const;

  /// The current epoch, 0 before the first `reset()`.
  index_t epoch() const { return epoch_; }

  /// Row order of the current epoch.
  const std::vector<index_t>& order() const { return order_; }

 private:
  void permute();

  const dataset* data_;
  index_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  bool drop_last_;
  index_t epoch_ = 0;
  index_t position_ = 0;
  std::vector<index_t> order_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
batcher<T>::batcher(const dataset& d, index_t batch_size, bool shuffle, std::uint64_t seed, bool drop_last)
    : data_(&d), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
  if (batch_size < 1) throw value_error("data::batcher: batch_size must be >= 1, got " + std::to_string(batch_size));
  permute();
}

template <class T>
void batcher<T>::permute() {
  order_ = detail::iota(data_->rows());
  if (shuffle_) detail::shuffle(order_, seed_ + static_cast<std::uint64_t>(epoch_));
  position_ = 0;
}

template <class T>
bool batcher<T>::next(batch<T>& out) {
  const index_t n = static_cast<index_t>(order_.size());
  const index_t remaining = n - position_;
  if (remaining <= 0 || (drop_last_ && remaining < batch_size_)) return false;
  const index_t take = std::min(batch_size_, remaining);
  data_->gather(std::span<const index_t>(order_.data() + position_, static_cast<std::size_t>(take)), out);
  position_ += take;
  return true;
}

template <class T>
void batcher<T>::reset() {
  ++epoch_;
  permute();
}

template <class T>
index_t batcher<T>::batches_per_epoch() const {
  const index_t n = static_cast<index_t>(order_.size());
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

}  // namespace recblocks::data
