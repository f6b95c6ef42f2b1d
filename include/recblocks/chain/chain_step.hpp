#pragma once
/// \file chain_step.hpp
/// The steps of a chain of recommendation (UniLLMRec, papers.md §10) as concepts, so that each step
/// of `unillmrec_chain` can be an LLM step (`llm_chain_steps`) or a classical one
/// (`classical_chain_steps`) and the LLM's contribution isolated step by step:
///
/// | step | member | returns |
/// |---|---|---|
/// | 1 profile | `std::string profile(const chain_user<T>&)` | the user's interests in words ("" = none) |
/// | 2 tree walk | `choose(query, node_label, children)` (`retrieval::child_policy`) | children, best first |
/// | 3 leaf recall | `recall_leaf(query, leaf_label, items, k)` | at most k of `items`, best first |
/// | 4 rank | `rank(query, candidates, n)` | a permutation of `candidates`, best first |
/// | 5 rerank | `rerank(query, ranked, n)` | a permutation of the first n of `ranked` |
///
/// `query` is a `retrieval::tree_query<T>`: the user's embedding (may be empty), the profile text and
/// the history (excluded ids). An object may implement several steps; the chain calls
/// `begin(const chain_user<T>&)` once per session on every distinct step object that has it.

#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/tensor.hpp"
#include "../retrieval/child_policy.hpp"

namespace recblocks::chain {

/// The user of one session: history item ids (oldest first) and an embedding (`[dim]`, may be empty,
/// e.g. the mean of the last history items' vectors, used by classical steps).
template <class T>
struct chain_user {
  std::vector<index_t> history;
  col_vector<T> embedding;
};

/// Step 1: the user's interests in words.
template <class P, class T>
concept profile_step = requires(P& p, const chain_user<T>& u) {
  { p.profile(u) } -> std::convertible_to<std::string>;
};

/// Step 3: the best (at most) `k` of a leaf's `items`.
template <class P, class T>
concept leaf_recall_step = requires(P& p, const retrieval::tree_query<T>& q, std::string_view label,
                                    std::span<const index_t> items, index_t k) {
  { p.recall_leaf(q, label, items, k) } -> std::convertible_to<std::vector<index_t>>;
};

/// Step 4: `candidates` ordered best first (the first `n` matter most).
template <class P, class T>
concept rank_step = requires(P& p, const retrieval::tree_query<T>& q, std::span<const index_t> candidates, index_t n) {
  { p.rank(q, candidates, n) } -> std::convertible_to<std::vector<index_t>>;
};

/// Step 5: the first `n` of `ranked` reordered (for diversity).
template <class P, class T>
concept rerank_step = requires(P& p, const retrieval::tree_query<T>& q, std::span<const index_t> ranked, index_t n) {
  { p.rerank(q, ranked, n) } -> std::convertible_to<std::vector<index_t>>;
};

}  // namespace recblocks::chain
