#pragma once
/// \file hard_negatives.hpp
/// Hard-negative mining from a nearest-neighbour index, with false-negative guards.
///
/// For instance i with query q_i and positives P_i, the searcher returns candidates closest first.
/// Candidate c at (0-based) rank r is kept when
///
///     r >= skip_top   and   c not in P_i   and   dist(q_i, c) >= dist(q_i, P_i) + margin
///
/// where dist(q_i, P_i) is the distance of the closest positive (computed exactly from `items`).
/// Skipping the top ranks and everything that scores within `margin` of the positive limits false
/// negatives (unlabelled relevant items). `pool = 0` returns the `count` hardest kept candidates;
/// `pool > 0` draws `count` of the `pool` hardest uniformly (rank order kept). The search depth starts
/// at `skip_top + |P_i| + 2 want + 8` and doubles until enough candidates are kept or the whole
/// catalogue was searched, so the result has fewer than `count` ids only when the catalogue runs out.
///
/// Distances (must match the searcher's): `l2` = ||q - x||^2, `inner_product` = 1 - q.x,
/// `cosine` = 1 - cos(q, x) — the distances `hnsw_index` reports.
///
/// `Searcher`: any callable `searcher(std::span<const float> query, index_t k)` returning a range of
/// hits with members `id` and `distance`, closest first, over all rows of `items` (e.g.
/// `[&](auto q, index_t k) { return index.search(q, k, ef); }` for an `hnsw_index`).
/// Shapes: queries [instances, d], items [n, d]. Errors: `shape_error`, `value_error` (ids out of
/// range, NaN, negative count). Thread-safety: `sample` is const if the searcher is safe to call
/// concurrently (hnsw_index is). Satisfies `negative_source`.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Distance used by `hard_negatives` to score positives (same definitions as `hnsw_metric`).
enum class mining_distance { l2, inner_product, cosine };

/// Options of `hard_negatives`.
struct hard_negative_options {
  index_t skip_top = 0;                        ///< ranks [0, skip_top) are never used
  double margin = 0.0;                         ///< keep only dist >= dist(positive) + margin (-inf: off)
  index_t pool = 0;                            ///< 0: hardest first; > 0: sample from the pool hardest
  mining_distance distance = mining_distance::l2;
};

/// Hard negatives mined from an index (see the file comment).
template <class Searcher>
class hard_negatives {
 public:
  hard_negatives(Searcher searcher, matrix<float> queries, matrix<float> items,
                 std::vector<std::vector<index_t>> positives, hard_negative_options options = {});

  /// At most `count` mined negatives for `instance`, hardest first.
  std::vector<index_t> sample(index_t instance, index_t count, rng& g) const;

  /// Distance from the query of `instance` to its closest positive (+inf without positives).
  double positive_distance(index_t instance) const { return pos_dist_[static_cast<std::size_t>(instance)]; }

 private:
  double distance(const float* q, const float* x) const;

  Searcher searcher_;
  matrix<float> queries_, items_;
  std::vector<std::vector<index_t>> positives_;
  std::vector<double> pos_dist_;
  hard_negative_options options_;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <class Searcher>
hard_negatives<Searcher>::hard_negatives(Searcher searcher, matrix<float> queries, matrix<float> items,
                                         std::vector<std::vector<index_t>> positives, hard_negative_options options)
    : searcher_(std::move(searcher)),
      queries_(std::move(queries)),
      items_(std::move(items)),
      positives_(std::move(positives)),
      options_(options) {
  if (queries_.cols() != items_.cols())
    throw shape_error("hard_negatives: queries have dimension " + std::to_string(queries_.cols()) + ", items have " +
                      std::to_string(items_.cols()));
  if (static_cast<index_t>(positives_.size()) != queries_.rows())
    throw shape_error("hard_negatives: " + std::to_string(positives_.size()) + " positive lists for " +
                      std::to_string(queries_.rows()) + " queries");
  if (items_.rows() < 1) throw value_error("hard_negatives: empty item matrix");
  if (options_.skip_top < 0 || options_.pool < 0) throw value_error("hard_negatives: skip_top and pool must be >= 0");
  if (std::isnan(options_.margin)) throw value_error("hard_negatives: margin is NaN");
  if (!queries_.allFinite() || !items_.allFinite()) throw value_error("hard_negatives: NaN or Inf in embeddings");
  pos_dist_.resize(positives_.size());
  for (std::size_t i = 0; i < positives_.size(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (index_t p : positives_[i]) {
      if (p < 0 || p >= items_.rows())
        throw value_error("hard_negatives: positive id " + std::to_string(p) + " outside [0, " +
                          std::to_string(items_.rows()) + ")");
      best = std::min(best, distance(queries_.row(static_cast<index_t>(i)).data(), items_.row(p).data()));
    }
    pos_dist_[i] = best;
  }
}

template <class Searcher>
double hard_negatives<Searcher>::distance(const float* q, const float* x) const {
  const index_t d = items_.cols();
  double dot = 0.0, qq = 0.0, xx = 0.0;
  for (index_t j = 0; j < d; ++j) {
    dot += static_cast<double>(q[j]) * x[j];
    qq += static_cast<double>(q[j]) * q[j];
    xx += static_cast<double>(x[j]) * x[j];
  }
  switch (options_.distance) {
    case mining_distance::l2: return std::max(0.0, qq - 2 * dot + xx);
    case mining_distance::inner_product: return 1.0 - dot;
    default: return (qq > 0 && xx > 0) ? 1.0 - dot / std::sqrt(qq * xx) : 1.0;
  }
}

template <class Searcher>
std::vector<index_t> hard_negatives<Searcher>::sample(index_t instance, index_t count, rng& g) const {
  if (count < 0) throw value_error("hard_negatives::sample: count must be >= 0");
  if (instance < 0 || instance >= queries_.rows())
    throw value_error("hard_negatives::sample: instance " + std::to_string(instance) + " outside [0, " +
                      std::to_string(queries_.rows()) + ")");
  if (count == 0) return {};
  const auto& pos = positives_[static_cast<std::size_t>(instance)];
  const std::unordered_set<index_t> pos_set(pos.begin(), pos.end());
  // without positives there is nothing to guard: the margin test is off
  const double limit = pos.empty() ? -std::numeric_limits<double>::infinity()
                                   : pos_dist_[static_cast<std::size_t>(instance)] + options_.margin;
  const index_t n = items_.rows();
  const index_t want = options_.pool > 0 ? std::max(options_.pool, count) : count;
  index_t k = std::min(n, options_.skip_top + static_cast<index_t>(pos.size()) + 2 * want + 8);
  const std::span<const float> q(queries_.row(instance).data(), static_cast<std::size_t>(queries_.cols()));
  std::vector<index_t> kept;
  while (true) {
    kept.clear();
    index_t rank = 0;
    for (const auto& h : searcher_(q, k)) {
      const index_t r = rank++;
      if (r < options_.skip_top || pos_set.count(static_cast<index_t>(h.id))) continue;
      if (static_cast<double>(h.distance) < limit) continue;
      kept.push_back(static_cast<index_t>(h.id));
      if (static_cast<index_t>(kept.size()) == want) break;
    }
    if (static_cast<index_t>(kept.size()) >= want || k >= n) break;
    k = std::min(n, 2 * k);
  }
  if (options_.pool == 0 || static_cast<index_t>(kept.size()) <= count) {
    if (static_cast<index_t>(kept.size()) > count) kept.resize(static_cast<std::size_t>(count));
    return kept;
  }
  std::vector<index_t> slots(kept.size());
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<index_t>(i);
  std::shuffle(slots.begin(), slots.end(), g.engine());
  slots.resize(static_cast<std::size_t>(count));
  std::sort(slots.begin(), slots.end());
  std::vector<index_t> out;
  for (index_t s : slots) out.push_back(kept[s]);
  return out;
}

}  // namespace recblocks::retrieval
