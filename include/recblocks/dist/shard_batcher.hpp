#pragma once
/// \file shard_batcher.hpp
/// One rank's share of every global mini-batch, deterministic from the seed.
///
/// Epoch e visits the rows in the permutation `data::batcher` uses (Fisher-Yates seeded with
/// `seed + e`, or row order without shuffling) and cuts it into global batches of `global_batch`
/// rows (the last holds the leftover). Global batch g of size G is split into `ranks` contiguous
/// slices: rank r takes positions `[floor(r G / n), floor((r + 1) G / n))`. So, across ranks,
/// every row is visited exactly once per epoch, the slices of rank 0, 1, ... concatenated are the
/// single-process batch in its order, and a rank's slice may be empty (G < n). Every rank sees the
/// same number of global batches, which keeps collectives in step.
///
/// Requires: `global_batch >= 1`, `0 <= rank < ranks` (`value_error`). The dataset must outlive the
/// batcher. Complexity: O(rows) per epoch for the permutation plus `dataset::gather` of the slice.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../data/batch.hpp"
#include "../data/dataset.hpp"
#include <algorithm>
#include "../data/batcher.hpp"

namespace recblocks::dist {

template <class T>
class shard_batcher {
 public:
  shard_batcher(const data::dataset& d, index_t global_batch, bool shuffle, std::uint64_t seed, int rank, int ranks)
      : data_(&d), global_batch_(global_batch), rank_(rank), ranks_(ranks), order_(d, std::max<index_t>(global_batch, 1), shuffle, seed) {
    if (global_batch < 1)
      throw value_error("dist::shard_batcher: global_batch must be >= 1, got " + std::to_string(global_batch));
    if (ranks < 1 || rank < 0 || rank >= ranks)
      throw value_error("dist::shard_batcher: rank " + std::to_string(rank) + " outside [0, " + std::to_string(ranks) + ")");
  }

  /// This rank's slice of the next global batch into `out`; `global_rows` = the global batch's size.
  /// False at the end of the epoch.
  bool next(data::batch<T>& out, index_t& global_rows) {
    const index_t n = static_cast<index_t>(order().size());
    if (position_ >= n) return false;
    const index_t g = std::min(global_batch_, n - position_);
    const index_t lo = position_ + slice_begin(g, rank_), hi = position_ + slice_begin(g, rank_ + 1);
    data_->gather(std::span<const index_t>(order().data() + lo, static_cast<std::size_t>(hi - lo)), out);
    position_ += g;
    global_rows = g;
    return true;
  }

  /// Start of rank r's slice within a global batch of g rows.
  index_t slice_begin(index_t g, int r) const { return g * r / ranks_; }

  void reset() {
    order_.reset();
    position_ = 0;
  }
  index_t epoch() const { return order_.epoch(); }
  index_t batches_per_epoch() const { return (data_->rows() + global_batch_ - 1) / global_batch_; }
  /// Row order of the current epoch (`data::batcher`'s permutation).
  const std::vector<index_t>& order() const { return order_.order(); }

 private:
  const data::dataset* data_;
  index_t global_batch_;
  int rank_, ranks_;
  data::batcher<T> order_;  // only its permutation is used
  index_t position_ = 0;
};

}  // namespace recblocks::dist
