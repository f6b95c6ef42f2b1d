#pragma once
/// \file negative_source.hpp
/// The `negative_source` concept: anything that draws negative item ids for a training instance.
///
///     std::vector<index_t> S::sample(index_t instance, index_t count, recblocks::rng& g)
///
/// returns at most `count` distinct item ids that are negatives for `instance` (never one of its
/// positives); fewer only when the source runs out (each source documents when). Sources shipped:
/// `random_negatives`, `in_batch_negatives`, `hard_negatives` (mined from an index) and
/// `hybrid_negatives` (per-instance mixing of several sources with configured counts, as in SyNeg).
/// A synthetic-negative source (e.g. LLM-written hard negatives registered as new item ids) plugs in
/// by providing the same `sample` member.

#include <concepts>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// A source of negative item ids (see the file comment).
template <class S>
concept negative_source = requires(S& s, index_t instance, index_t count, rng& g) {
  { s.sample(instance, count, g) } -> std::convertible_to<std::vector<index_t>>;
};

}  // namespace recblocks::retrieval
