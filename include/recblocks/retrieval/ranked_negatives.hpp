#pragma once
/// \file ranked_negatives.hpp
/// Hard negatives from precomputed rankings (BM25, a dense retriever, ...), as a `negative_source`.
///
/// Instance i has a ranking (best first) and a set of positives P_i. The kept candidates are the
/// ranking's entries at ranks >= `skip_top` that are not in P_i (the top ranks and every positive
/// are skipped: likely false negatives), in rank order, the first `pool` of them (0: all).
/// `sample(i, count, g)` returns `count` of them drawn uniformly without replacement, in rank order
/// (`pool = count` gives the hardest ones). Fewer when the ranking runs out.
/// Errors: `value_error` for mismatched list counts, negative options or count, an unknown instance.
/// Thread-safety: `sample` is const.

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Options of `ranked_negatives`.
struct ranked_negative_options {
  index_t skip_top = 0;  ///< ranks [0, skip_top) are never used
  index_t pool = 0;      ///< draw from the first `pool` kept candidates (0: all)
};

/// Negatives drawn from precomputed rankings (see the file comment).
class ranked_negatives {
 public:
  ranked_negatives(std::vector<std::vector<index_t>> rankings, const std::vector<std::vector<index_t>>& positives,
                   ranked_negative_options options = {}) {
    if (rankings.size() != positives.size())
      throw value_error("retrieval::ranked_negatives: " + std::to_string(rankings.size()) + " rankings for " +
                        std::to_string(positives.size()) + " positive lists");
    if (options.skip_top < 0 || options.pool < 0)
      throw value_error("retrieval::ranked_negatives: skip_top and pool must be >= 0");
    kept_.resize(rankings.size());
    for (std::size_t i = 0; i < rankings.size(); ++i) {
      const std::unordered_set<index_t> pos(positives[i].begin(), positives[i].end());
      std::unordered_set<index_t> seen;
      for (std::size_t r = static_cast<std::size_t>(options.skip_top); r < rankings[i].size(); ++r) {
        const index_t c = rankings[i][r];
        if (pos.count(c) || !seen.insert(c).second) continue;
        kept_[i].push_back(c);
        if (options.pool > 0 && static_cast<index_t>(kept_[i].size()) == options.pool) break;
      }
    }
  }

  std::vector<index_t> sample(index_t instance, index_t count, rng& g) const {
    if (instance < 0 || instance >= static_cast<index_t>(kept_.size()))
      throw value_error("retrieval::ranked_negatives::sample: instance " + std::to_string(instance) + " outside [0, " +
                        std::to_string(kept_.size()) + ")");
    if (count < 0) throw value_error("retrieval::ranked_negatives::sample: count must be >= 0");
    const auto& k = kept_[static_cast<std::size_t>(instance)];
    const std::size_t n = std::min(k.size(), static_cast<std::size_t>(count));
    std::vector<std::size_t> pos(k.size());
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = i;
    for (std::size_t i = 0; i < n; ++i) std::swap(pos[i], pos[i + static_cast<std::size_t>(g.integer(0, static_cast<index_t>(pos.size() - i) - 1))]);
    pos.resize(n);
    std::sort(pos.begin(), pos.end());
    std::vector<index_t> out;
    for (std::size_t p : pos) out.push_back(k[p]);
    return out;
  }

  /// The kept candidates of `instance`, in rank order.
  const std::vector<index_t>& kept(index_t instance) const { return kept_.at(static_cast<std::size_t>(instance)); }

 private:
  std::vector<std::vector<index_t>> kept_;
};

}  // namespace recblocks::retrieval
