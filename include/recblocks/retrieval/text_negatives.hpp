#pragma once
/// \file text_negatives.hpp
/// Out-of-corpus text negatives (e.g. SyNeg's LLM-written documents) as a `negative_source`, so that
/// `hybrid_negatives` mixes them with corpus ids at the instance level.
///
/// Each added document gets the id `first_id + k` (k = 0, 1, ... in order of `add`), above every
/// corpus id when `first_id` is the corpus size; `is_text(id)` tells the two kinds apart and
/// `text(id)` returns the document. `sample(instance, count, g)` draws up to `count` distinct ids of
/// the instance's own documents uniformly without replacement (order: as drawn); an instance with
/// fewer documents yields them all, one with none yields nothing (the source "runs out": a hybrid
/// does not make up for it, see `hybrid_negatives`). Documents that are empty or repeat one already
/// added for the same instance (exact bytes) are not added (`add` returns how many were).
/// Errors: `value_error` for a negative instance or count, an id outside the range in `text`.
/// Thread-safety: `sample` and `text` are const; `add` is not.

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Out-of-corpus text negatives per instance (see the file comment).
class text_negatives {
 public:
  explicit text_negatives(index_t first_id) : first_id_(first_id) {
    if (first_id < 0) throw value_error("retrieval::text_negatives: first_id = " + std::to_string(first_id) + " must be >= 0");
  }

  /// Adds `documents` for `instance`; returns how many were added (empty and repeated ones are not).
  index_t add(index_t instance, const std::vector<std::string>& documents) {
    if (instance < 0) throw value_error("retrieval::text_negatives::add: instance " + std::to_string(instance) + " must be >= 0");
    auto& own = by_instance_[instance];
    std::unordered_set<std::string> seen;
    for (index_t id : own) seen.insert(texts_[static_cast<std::size_t>(id - first_id_)]);
    index_t added = 0;
    for (const auto& d : documents) {
      if (d.empty() || !seen.insert(d).second) continue;
      own.push_back(first_id_ + static_cast<index_t>(texts_.size()));
      texts_.push_back(d);
      ++added;
    }
    return added;
  }

  /// Up to `count` distinct ids of `instance`'s documents (see the file comment).
  std::vector<index_t> sample(index_t instance, index_t count, rng& g) const {
    if (instance < 0 || count < 0)
      throw value_error("retrieval::text_negatives::sample: instance and count must be >= 0, got " + std::to_string(instance) +
                        ", " + std::to_string(count));
    auto it = by_instance_.find(instance);
    if (it == by_instance_.end() || count == 0) return {};
    std::vector<index_t> ids = it->second;
    const std::size_t n = std::min(ids.size(), static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < n; ++i) std::swap(ids[i], ids[i + static_cast<std::size_t>(g.integer(0, static_cast<index_t>(ids.size() - i) - 1))]);
    ids.resize(n);
    return ids;
  }

  bool is_text(index_t id) const { return id >= first_id_ && id < first_id_ + static_cast<index_t>(texts_.size()); }
  const std::string& text(index_t id) const {
    if (!is_text(id))
      throw value_error("retrieval::text_negatives::text: id " + std::to_string(id) + " outside [" + std::to_string(first_id_) +
                        ", " + std::to_string(first_id_ + static_cast<index_t>(texts_.size())) + ")");
    return texts_[static_cast<std::size_t>(id - first_id_)];
  }
  /// All documents, in id order (document k has id first_id + k).
  const std::vector<std::string>& texts() const { return texts_; }
  index_t first_id() const { return first_id_; }
  index_t size() const { return static_cast<index_t>(texts_.size()); }
  /// Documents of `instance` (0 when none).
  index_t count(index_t instance) const {
    auto it = by_instance_.find(instance);
    return it == by_instance_.end() ? 0 : static_cast<index_t>(it->second.size());
  }

 private:
  index_t first_id_;
  std::vector<std::string> texts_;
  std::unordered_map<index_t, std::vector<index_t>> by_instance_;
};

}  // namespace recblocks::retrieval
