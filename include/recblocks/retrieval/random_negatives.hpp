#pragma once
/// \file random_negatives.hpp
/// Uniform random negatives: `count` distinct ids drawn uniformly from `[0, items)` minus the
/// instance's positives. Returns fewer only when fewer than `count` non-positive items exist.
/// Complexity: expected O(count) draws while count is well below the free items, O(items) otherwise.
/// Thread-safety: `sample` is const apart from the caller's rng; concurrent calls with separate rngs
/// are safe.

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Uniform negatives excluding positives (see the file comment).
class random_negatives {
 public:
  /// `items`: catalogue size; `positives[instance]`: the ids to exclude (may be empty: none).
  explicit random_negatives(index_t items, std::vector<std::vector<index_t>> positives = {});

  /// At most `count` distinct non-positive ids for `instance`.
  std::vector<index_t> sample(index_t instance, index_t count, rng& g) const;

  index_t items() const { return items_; }

 private:
  index_t items_;
  std::vector<std::vector<index_t>> positives_;
};

// ---------------------------------------------------------------------------------------------
// implementation

inline random_negatives::random_negatives(index_t items, std::vector<std::vector<index_t>> positives)
    : items_(items), positives_(std::move(positives)) {
  if (items_ < 1) throw value_error("random_negatives: items must be >= 1 (got " + std::to_string(items_) + ")");
  for (const auto& p : positives_)
    for (index_t id : p)
      if (id < 0 || id >= items_)
        throw value_error("random_negatives: positive id " + std::to_string(id) + " outside [0, " +
                          std::to_string(items_) + ")");
}

inline std::vector<index_t> random_negatives::sample(index_t instance, index_t count, rng& g) const {
  if (count < 0) throw value_error("random_negatives::sample: count must be >= 0");
  if (instance < 0 || (!positives_.empty() && instance >= static_cast<index_t>(positives_.size())))
    throw value_error("random_negatives::sample: instance " + std::to_string(instance) + " out of range");
  static const std::vector<index_t> none;
  const auto& pos = positives_.empty() ? none : positives_[static_cast<std::size_t>(instance)];
  std::unordered_set<index_t> taken(pos.begin(), pos.end());
  const index_t free = items_ - static_cast<index_t>(taken.size());
  std::vector<index_t> out;
  if (count >= free / 2) {  // dense case: shuffle the free ids
    for (index_t i = 0; i < items_; ++i)
      if (!taken.count(i)) out.push_back(i);
    std::shuffle(out.begin(), out.end(), g.engine());
    if (static_cast<index_t>(out.size()) > count) out.resize(static_cast<std::size_t>(count));
    return out;
  }
  out.reserve(static_cast<std::size_t>(count));
  while (static_cast<index_t>(out.size()) < count) {
    const index_t id = g.integer(0, items_ - 1);
    if (taken.insert(id).second) out.push_back(id);
  }
  return out;
}

}  // namespace recblocks::retrieval
