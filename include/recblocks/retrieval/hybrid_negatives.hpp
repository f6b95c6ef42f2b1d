#pragma once
/// \file hybrid_negatives.hpp
/// Per-instance mixing of several negative sources with configured counts (SyNeg's hybrid
/// sampling: every instance gets, e.g., 2 synthetic + 4 retrieved hard + 2 random negatives).
///
/// `sample(instance, g)` asks each source in the order added for its count, drops ids already taken
/// by an earlier source (or earlier in the same source), and re-asks a source for the deficit (up to
/// 3 extra rounds, asking for more each time) so duplicates do not shrink its share. The result is
/// the concatenation, source by source; `sample_labeled` also says which source gave each id.
/// `sample(instance, count, g)` (the `negative_source` form, so hybrids nest) splits `count` over the
/// sources in proportion to their configured counts (largest remainder, earlier source first).
/// A source that runs out yields fewer ids; no other source makes up for it.
/// Sources are stored by value (copy or move in; wrap big ones in `std::ref`-like handles yourself).
/// Thread-safety: as thread-safe as the sources; the mixer itself keeps no mutable state.

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "negative_source.hpp"

namespace recblocks::retrieval {

/// One negative and the index of the source (order of `add_source`) that produced it.
struct labeled_negative {
  index_t id;
  index_t source;
};

/// Mixes negative sources per instance with fixed counts (see the file comment).
class hybrid_negatives {
 public:
  hybrid_negatives() = default;

  /// Adds a source that contributes `count` negatives per instance. Returns `*this`.
  template <negative_source S>
  hybrid_negatives& add_source(std::string name, S source, index_t count);

  /// Negatives of `instance` with the configured counts.
  std::vector<index_t> sample(index_t instance, rng& g) const;
  /// Negatives of `instance`, `count` in total split by the configured proportions.
  std::vector<index_t> sample(index_t instance, index_t count, rng& g) const;
  /// As `sample(instance, g)`, with the producing source of every id.
  std::vector<labeled_negative> sample_labeled(index_t instance, rng& g) const;

  index_t sources() const { return static_cast<index_t>(sources_.size()); }
  const std::string& source_name(index_t s) const { return sources_.at(static_cast<std::size_t>(s)).name; }
  index_t total_count() const;

 private:
  struct entry {
    std::string name;
    std::function<std::vector<index_t>(index_t, index_t, rng&)> draw;
    index_t count;
  };
  std::vector<labeled_negative> draw(index_t instance, const std::vector<index_t>& counts, rng& g) const;

  std::vector<entry> sources_;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <negative_source S>
hybrid_negatives& hybrid_negatives::add_source(std::string name, S source, index_t count) {
  if (count < 0) throw value_error("hybrid_negatives::add_source(" + name + "): count must be >= 0");
  auto held = std::make_shared<S>(std::move(source));
  sources_.push_back(entry{std::move(name),
                           [held](index_t instance, index_t c, rng& g) {
                             return std::vector<index_t>(held->sample(instance, c, g));
                           },
                           count});
  return *this;
}

inline index_t hybrid_negatives::total_count() const {
  index_t t = 0;
  for (const auto& s : sources_) t += s.count;
  return t;
}

inline std::vector<labeled_negative> hybrid_negatives::draw(index_t instance, const std::vector<index_t>& counts,
                                                            rng& g) const {
  std::vector<labeled_negative> out;
  std::unordered_set<index_t> taken;
  for (std::size_t s = 0; s < sources_.size(); ++s) {
    index_t got = 0, ask = counts[s];
    for (int round = 0; round < 4 && got < counts[s]; ++round) {
      for (index_t id : sources_[s].draw(instance, ask, g)) {
        if (got == counts[s]) break;
        if (taken.insert(id).second) {
          out.push_back({id, static_cast<index_t>(s)});
          ++got;
        }
      }
      ask = counts[s] + (counts[s] - got) * (round + 2);  // duplicates seen: ask for more
    }
  }
  return out;
}

inline std::vector<labeled_negative> hybrid_negatives::sample_labeled(index_t instance, rng& g) const {
  std::vector<index_t> counts;
  for (const auto& s : sources_) counts.push_back(s.count);
  return draw(instance, counts, g);
}

inline std::vector<index_t> hybrid_negatives::sample(index_t instance, rng& g) const {
  std::vector<index_t> ids;
  for (const auto& n : sample_labeled(instance, g)) ids.push_back(n.id);
  return ids;
}

inline std::vector<index_t> hybrid_negatives::sample(index_t instance, index_t count, rng& g) const {
  if (count < 0) throw value_error("hybrid_negatives::sample: count must be >= 0");
  const index_t total = total_count();
  if (total == 0) throw state_error("hybrid_negatives::sample: no source with a positive count");
  std::vector<index_t> counts(sources_.size());
  std::vector<std::pair<index_t, std::size_t>> rest;  // (remainder, source)
  index_t given = 0;
  for (std::size_t s = 0; s < sources_.size(); ++s) {
    counts[s] = count * sources_[s].count / total;
    given += counts[s];
    rest.push_back({count * sources_[s].count % total, s});
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; given < count; ++i, ++given) ++counts[rest[i % rest.size()].second];
  std::vector<index_t> ids;
  for (const auto& n : draw(instance, counts, g)) ids.push_back(n.id);
  return ids;
}

}  // namespace recblocks::retrieval
