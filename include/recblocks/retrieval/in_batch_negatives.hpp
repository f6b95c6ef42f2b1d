#pragma once
/// \file in_batch_negatives.hpp
/// In-batch negatives: the positives of the other instances of a batch. Instance i of the batch has
/// positive item `batch_items[i]`; its negatives are the distinct `batch_items[j]`, j != i, that are
/// not among its own positives (`batch_items[i]` and the optional extra positives). With
/// `count >= available` all of them are returned in batch order, otherwise a uniform random subset
/// (in batch order). Returns fewer than `count` when the batch has fewer usable items.
/// Complexity: O(batch). Thread-safety: const; concurrent calls with separate rngs are safe.

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Negatives taken from the other instances of a batch (see the file comment).
class in_batch_negatives {
 public:
  /// `batch_items[i]`: positive item of instance i; `extra_positives[i]` (optional): more ids to
  /// exclude for instance i (e.g. all items the user interacted with).
  explicit in_batch_negatives(std::vector<index_t> batch_items,
                              std::vector<std::vector<index_t>> extra_positives = {});

  /// At most `count` negatives for batch position `instance`.
  std::vector<index_t> sample(index_t instance, index_t count, rng& g) const;

  index_t batch_size() const { return static_cast<index_t>(items_.size()); }

 private:
  std::vector<index_t> items_;
  std::vector<std::vector<index_t>> extra_;
};

// ---------------------------------------------------------------------------------------------
// implementation

inline in_batch_negatives::in_batch_negatives(std::vector<index_t> batch_items,
                                              std::vector<std::vector<index_t>> extra_positives)
    : items_(std::move(batch_items)), extra_(std::move(extra_positives)) {
  if (!extra_.empty() && extra_.size() != items_.size())
    throw shape_error("in_batch_negatives: extra_positives has " + std::to_string(extra_.size()) +
                      " entries for a batch of " + std::to_string(items_.size()));
}

inline std::vector<index_t> in_batch_negatives::sample(index_t instance, index_t count, rng& g) const {
  if (count < 0) throw value_error("in_batch_negatives::sample: count must be >= 0");
  if (instance < 0 || instance >= batch_size())
    throw value_error("in_batch_negatives::sample: instance " + std::to_string(instance) + " outside the batch of " +
                      std::to_string(batch_size()));
  std::unordered_set<index_t> excluded{items_[static_cast<std::size_t>(instance)]};
  if (!extra_.empty()) excluded.insert(extra_[instance].begin(), extra_[instance].end());
  std::vector<index_t> out;
  for (index_t j = 0; j < batch_size(); ++j)
    if (j != instance && excluded.insert(items_[j]).second) out.push_back(items_[j]);
  if (static_cast<index_t>(out.size()) <= count) return out;
  std::vector<index_t> pos(out.size());
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<index_t>(i);
  std::shuffle(pos.begin(), pos.end(), g.engine());
  pos.resize(static_cast<std::size_t>(count));
  std::sort(pos.begin(), pos.end());
  std::vector<index_t> picked;
  for (index_t p : pos) picked.push_back(out[p]);
  return picked;
}

}  // namespace recblocks::retrieval
