#pragma once
/// \file shift_sampler.hpp
/// RADIO's training-group construction (papers.md §4, `sample()` in `score_cache_to_dataset.py`) from
/// one query's ranked documents (best first), truncated to the top `truncate` (20):
///
/// - `shift` (the paper's): positive = rank `pos_rank` (0), negatives = ranks `neg_ranks`
///   {3, 4, 6, 9, 13, 18} (ranks 1-2 skipped as likely false negatives): one group of 1 + 6, the
///   `train_group_size 7` of the fine-tuning;
/// - `shift_all_neg`: positive rank 0, negatives every rank from 3 to `truncate - 1`;
/// - `iteration`: the list is cut into consecutive blocks of `block` (5) documents (a last partial
///   block is dropped, as the code); inside a block every document but the last is a positive against
///   all the documents after it in the block (4 + 3 + 2 + 1 groups per block).
///
/// Short lists (defined, where the reference code would raise IndexError): ranks beyond the list are
/// skipped, so a group may have fewer negatives; a group with no negative, or no positive, is not
/// produced. Options are checked: ranks non-negative, the positive not among the negatives, `truncate`
/// and `block` >= 2 (`value_error` naming the field).
///
/// Complexity O(truncate^2) for `iteration`, O(truncate) otherwise. Thread-safety: const, reentrant.

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::rerank {

enum class sample_method { shift, shift_all_neg, iteration };

struct shift_sampler_options {
  sample_method method = sample_method::shift;
  index_t pos_rank = 0;
  std::vector<index_t> neg_ranks{3, 4, 6, 9, 13, 18};
  index_t truncate = 20;
  index_t block = 5;  ///< `iteration`'s block size
};

/// One training group: the positive document ids (one) and the negatives, in rank order.
struct train_group {
  std::vector<index_t> pos;
  std::vector<index_t> neg;
};

class shift_sampler {
 public:
  explicit shift_sampler(shift_sampler_options opt = {}) : opt_(std::move(opt)) {
    if (opt_.truncate < 2) throw value_error("rerank::shift_sampler: truncate must be >= 2, got " + std::to_string(opt_.truncate));
    if (opt_.block < 2) throw value_error("rerank::shift_sampler: block must be >= 2, got " + std::to_string(opt_.block));
    if (opt_.pos_rank < 0) throw value_error("rerank::shift_sampler: pos_rank must be >= 0, got " + std::to_string(opt_.pos_rank));
    for (index_t r : opt_.neg_ranks) {
      if (r < 0) throw value_error("rerank::shift_sampler: neg_ranks holds " + std::to_string(r) + " (< 0)");
      if (r == opt_.pos_rank) throw value_error("rerank::shift_sampler: neg_ranks holds the positive rank " + std::to_string(r));
    }
  }

  /// The groups of one query from its ranked document ids (best first).
  std::vector<train_group> operator()(std::span<const index_t> ranked) const {
    const auto n = std::min<index_t>(static_cast<index_t>(ranked.size()), opt_.truncate);
    std::vector<train_group> out;
    auto at = [&](index_t r) { return ranked[static_cast<std::size_t>(r)]; };
    switch (opt_.method) {
      case sample_method::shift:
      case sample_method::shift_all_neg: {
        if (opt_.pos_rank >= n) return out;
        train_group g;
        g.pos.push_back(at(opt_.pos_rank));
        if (opt_.method == sample_method::shift) {
          for (index_t r : opt_.neg_ranks)
            if (r < n) g.neg.push_back(at(r));
        } else {
          for (index_t r = 3; r < n; ++r)
            if (r != opt_.pos_rank) g.neg.push_back(at(r));
        }
        if (!g.neg.empty()) out.push_back(std::move(g));
        return out;
      }
      case sample_method::iteration: {
        for (index_t b = 0; b + opt_.block <= n; b += opt_.block)
          for (index_t i = b; i + 1 < b + opt_.block; ++i) {
            train_group g;
            g.pos.push_back(at(i));
            for (index_t j = i + 1; j < b + opt_.block; ++j) g.neg.push_back(at(j));
            out.push_back(std::move(g));
          }
        return out;
      }
    }
    return out;
  }

  const shift_sampler_options& options() const { return opt_; }

 private:
  shift_sampler_options opt_;
};

}  // namespace recblocks::rerank
