#pragma once
/// \file child_policy.hpp
/// The child-selection policy of item-tree search (UniLLMRec / LLMTreeRec "ItemTreeSearch"), as a concept.
///
/// At every internal node it visits, `item_tree::search` shows the policy the node's label and one
/// `child_info` per child (label, item count, centroid) together with the query, and the policy returns
/// the children it wants to descend into, best first, each with a score:
///
///     std::vector<scored_child> choose(const tree_query<T>& query, std::string_view node_label,
///                                      std::span<const child_info<T>> children);
///
/// `scored_child::index` is a position in `children` (not a node id). A policy may return a subset (an
/// LLM keeps its top m); children it leaves out are pruned. Beam search compares the scores of children
/// of different nodes, so scores should be comparable across nodes (an LLM policy can return
/// rank-derived scores such as `1 / (1 + rank)`); depth-first search uses only the order.
/// The classical implementation is `centroid_policy` (query/centroid similarity); an LLM implementation
/// prompts an `llm_client` with the same descriptions.
///
/// Token accounting: `estimate_tokens(text) = max(words, ceil(bytes / 4))` — the usual "1 token ~ 4
/// characters of English" rule, floored by the word count (short labels are about one token per
/// word). A node visit costs `estimate_tokens(node label) + sum_c estimate_tokens(describe(c))` where
/// `describe(c) = "<label> (<count> items)"`, i.e. what a prompt listing the children would contain.
/// This is an estimate for budgeting and comparing search settings, not a tokenizer.

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Kind of an item-tree node: the root, a category (from an item's category path), the "(other)"
/// bucket of a category node for items whose path ends there, or a cluster made by k-means splitting.
enum class node_kind { root, category, other, cluster };

/// What a search is looking for: an embedding (`[dim]`, may be empty for text-only policies), free
/// text for LLM policies (e.g. the user's profile), and item ids never to return (e.g. the history).
template <class T>
struct tree_query {
  col_vector<T> embedding;
  std::string text;
  std::vector<index_t> exclude;
};

/// One child as the policy sees it. `centroid` is the mean embedding of the child's items (`[dim]`,
/// empty when the tree has `dim == 0`); the pointers stay valid during the `choose` call only.
template <class T>
struct child_info {
  index_t node = -1;
  std::string_view label;
  index_t item_count = 0;
  const col_vector<T>* centroid = nullptr;
  node_kind kind = node_kind::cluster;
  bool is_leaf = false;
};

/// A chosen child: its position in the `children` span and its score (higher is better).
struct scored_child {
  index_t index = 0;
  double score = 0.0;
};

/// A child-selection policy for element type `T` (see the file comment).
template <class P, class T>
concept child_policy = requires(P& p, const tree_query<T>& q, std::string_view label,
                                std::span<const child_info<T>> children) {
  { p.choose(q, label, children) } -> std::convertible_to<std::vector<scored_child>>;
};

/// Rough token estimate of `text`: `max(words, ceil(bytes / 4))` (see the file comment).
inline index_t estimate_tokens(std::string_view text) {
  index_t words = 0;
  bool in_word = false;
  for (char ch : text) {
    const bool space = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  const auto by_chars = static_cast<index_t>((text.size() + 3) / 4);
  return words > by_chars ? words : by_chars;
}

/// The text a policy reads for one child: `"<label> (<count> items)"`.
inline std::string describe_child(std::string_view label, index_t item_count) {
  return std::string(label) + " (" + std::to_string(item_count) + " items)";
}

}  // namespace recblocks::retrieval
