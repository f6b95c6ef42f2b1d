#pragma once
/// \file unillmrec_chain.hpp
/// The chain of recommendation of UniLLMRec / LLMTreeRec (papers.md §10) over a dynamic
/// `retrieval::item_tree`, with every step pluggable (chain_step.hpp):
///
///     I = profile(H)                                   (step 1)
///     L = []; S = [root]                               (step 2+3: Algorithm 1, DFS with a stack)
///     while |L| < recall_n and S not empty:
///         node = S.pop()
///         if node is a leaf: L += recall_leaf(q, node.items \ H, items_per_leaf)
///         else: C = choose(q, node, children)[:children_per_node]; push reversed(C)  (best popped first)
///     R = rank(q, L, final_n)                          (step 4)
///     F = rerank(q, R, final_n) ++ R[final_n:]         (step 5)
///
/// Defaults are the paper's: `children_per_node` m = 10, `items_per_leaf` k = 5, `recall_n` n = 20
/// (Recall@20). The ranking and reranking stages of UniLLMRec v1 are not described in the text we
/// could read (papers.md): here rank orders the recalled items and rerank reorders the first
/// `final_n` = 10 for diversity.
///
/// Bad input and a changing tree (counted in `chain_result`, never an endless walk):
/// - a user with no history: the steps still run (the LLM profile step falls back to "no history"),
///   counted in `no_history`;
/// - a policy returning an out-of-range or repeated child: `value_error` (the policy's contract; the
///   LLM steps validate and re-ask before that, then fall back);
/// - a node popped from the stack that no longer exists or moved under another parent (the tree was
///   updated during the session): skipped, `stale_nodes`; leaf items removed meanwhile are dropped,
///   `stale_items`;
/// - a node reached twice (a loop): skipped, `revisits`;
/// - more than `max_visits` node visits or a node deeper than `max_depth`: the walk stops / the node
///   is skipped, `truncated` set;
/// - rank/rerank answers that are not permutations of their input are completed: missing ids appended
///   in input order (a step may rank only the first n), unknown and repeated ids dropped (counted in
///   `repaired_lists`).
/// The final list holds only items present in the tree at the end of the session.
///
/// Thread-safety: `run` is `const`; the step objects are the caller's (one set per thread).

#include <algorithm>
#include <chrono>
#include <set>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../retrieval/child_policy.hpp"
#include "../retrieval/item_tree.hpp"
#include "chain_step.hpp"

namespace recblocks::chain {

/// Options of `unillmrec_chain`.
struct unillmrec_chain_options {
  index_t children_per_node = 10;  ///< m: children pushed per node (the paper's recall subnode number)
  index_t items_per_leaf = 5;      ///< k: items recalled per leaf
  index_t recall_n = 20;           ///< n: items recalled before ranking
  index_t final_n = 10;            ///< items reranked at the top of the final list
  index_t max_visits = 200;        ///< node visits per session (a bound, not a tuning knob)
  index_t max_depth = 64;          ///< nodes deeper than this are skipped
};

/// Wall time per step of one session (seconds).
struct chain_timing {
  double profile = 0, walk = 0, recall = 0, rank = 0, rerank = 0;
  double total() const { return profile + walk + recall + rank + rerank; }
};

/// The outcome of one session.
struct chain_result {
  std::string profile;                 ///< step 1's text
  std::vector<index_t> recalled;       ///< step 2+3, discovery order
  std::vector<index_t> ranked;         ///< step 4
  std::vector<index_t> items;          ///< final list: reranked top final_n, then the rest of `ranked`
  std::vector<index_t> visited;        ///< nodes visited, in order
  std::vector<index_t> leaves;         ///< leaves recalled from
  index_t tree_tokens = 0;             ///< the tree's estimate of the labels read (`tokens_at`)
  index_t leaf_items_shown = 0;        ///< items offered to leaf recall
  chain_timing seconds;
  // counters (see the file comment)
  bool no_history = false;
  bool truncated = false;
  index_t stale_nodes = 0, stale_items = 0, revisits = 0, repaired_lists = 0;
};

/// The chain driver; see the file comment.
template <class T = float>
class unillmrec_chain {
 public:
  explicit unillmrec_chain(unillmrec_chain_options options = {}) : options_(options) {
    const auto& o = options_;
    if (o.children_per_node < 1 || o.items_per_leaf < 1 || o.recall_n < 1 || o.final_n < 1 || o.max_visits < 1 ||
        o.max_depth < 1)
      throw value_error("chain::unillmrec_chain: children_per_node, items_per_leaf, recall_n, final_n, max_visits and "
                        "max_depth must be >= 1 (got " + std::to_string(o.children_per_node) + ", " +
                        std::to_string(o.items_per_leaf) + ", " + std::to_string(o.recall_n) + ", " +
                        std::to_string(o.final_n) + ", " + std::to_string(o.max_visits) + ", " +
                        std::to_string(o.max_depth) + ")");
  }

  /// Runs one session for `user` over `tree` with the given steps.
  template <class Profile, class Walk, class Recall, class Rank, class Rerank>
    requires profile_step<Profile, T> && retrieval::child_policy<Walk, T> && leaf_recall_step<Recall, T> &&
             rank_step<Rank, T> && rerank_step<Rerank, T>
  chain_result run(const retrieval::item_tree<T>& tree, const chain_user<T>& user, Profile& profile, Walk& walk,
                   Recall& recall, Rank& rank, Rerank& rerank) const;

  const unillmrec_chain_options& options() const { return options_; }

 private:
  /// `answer` as a permutation of `input` (ids not in `input` and repeats dropped, missing ids appended
  /// in input order); sets `repaired` when an id had to be dropped.
  static std::vector<index_t> complete(std::span<const index_t> input, const std::vector<index_t>& answer, bool& repaired) {
    std::unordered_set<index_t> in(input.begin(), input.end()), used;
    std::vector<index_t> out;
    repaired = false;
    for (index_t i : answer) {
      if (!in.count(i) || used.count(i)) {
        repaired = true;
        continue;
      }
      used.insert(i);
      out.push_back(i);
    }
    for (index_t i : input)
      if (!used.count(i)) {
        out.push_back(i);
        used.insert(i);
      }
    return out;
  }

  unillmrec_chain_options options_;
};

// ---- implementation ------------------------------------------------------------------------------

namespace detail {
template <class S, class T>
void begin_once(S& s, const chain_user<T>& u, std::vector<const void*>& seen) {
  if constexpr (requires { s.begin(u); }) {
    const void* p = static_cast<const void*>(&s);
    if (std::find(seen.begin(), seen.end(), p) != seen.end()) return;
    seen.push_back(p);
    s.begin(u);
  }
}
inline double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace detail

template <class T>
template <class Profile, class Walk, class Recall, class Rank, class Rerank>
  requires profile_step<Profile, T> && retrieval::child_policy<Walk, T> && leaf_recall_step<Recall, T> &&
           rank_step<Rank, T> && rerank_step<Rerank, T>
chain_result unillmrec_chain<T>::run(const retrieval::item_tree<T>& tree, const chain_user<T>& user, Profile& profile,
                                     Walk& walk, Recall& recall, Rank& rank, Rerank& rerank) const {
  const char* where = "chain::unillmrec_chain::run";
  if (user.embedding.size() != 0 && user.embedding.size() != tree.dim())
    throw shape_error(std::string(where) + ": user embedding has " + std::to_string(user.embedding.size()) +
                      " dims, the tree has " + std::to_string(tree.dim()));
  chain_result res;
  res.no_history = user.history.empty();
  std::vector<const void*> seen;
  detail::begin_once(profile, user, seen);
  detail::begin_once(walk, user, seen);
  detail::begin_once(recall, user, seen);
  detail::begin_once(rank, user, seen);
  detail::begin_once(rerank, user, seen);

  auto t0 = std::chrono::steady_clock::now();
  res.profile = profile.profile(user);
  res.seconds.profile = detail::since(t0);

  retrieval::tree_query<T> q;
  q.embedding = user.embedding;
  q.text = res.profile;
  q.exclude = user.history;
  std::vector<index_t> excl = user.history;
  std::sort(excl.begin(), excl.end());
  const auto excluded = [&](index_t i) { return std::binary_search(excl.begin(), excl.end(), i); };

  // ---- steps 2 + 3: Algorithm 1 --------------------------------------------------------------------
  struct entry {
    index_t node, parent, depth;
  };
  std::vector<entry> stack{{tree.root(), -1, 0}};
  std::unordered_set<index_t> visited, taken;
  index_t visits = 0;
  while (!stack.empty() && static_cast<index_t>(res.recalled.size()) < options_.recall_n) {
    const entry e = stack.back();
    stack.pop_back();
    const typename retrieval::item_tree<T>::node* n = nullptr;
    try {
      n = &tree.at(e.node);
    } catch (const value_error&) {
      n = nullptr;
    }
    if (n == nullptr || (e.parent >= 0 && n->parent != e.parent)) {
      ++res.stale_nodes;
      continue;
    }
    if (!visited.insert(e.node).second) {
      ++res.revisits;
      continue;
    }
    if (e.depth > options_.max_depth) {
      res.truncated = true;
      continue;
    }
    if (++visits > options_.max_visits) {
      res.truncated = true;
      break;
    }
    res.visited.push_back(e.node);
    if (n->is_leaf()) {
      std::vector<index_t> items;
      for (index_t i : n->items)
        if (!excluded(i) && !taken.count(i)) items.push_back(i);
      res.leaves.push_back(e.node);
      res.leaf_items_shown += static_cast<index_t>(items.size());
      if (items.empty()) continue;
      const std::string label = n->label;  // the tree may change during the call
      const auto t1 = std::chrono::steady_clock::now();
      const index_t k = std::min(options_.items_per_leaf, options_.recall_n - static_cast<index_t>(res.recalled.size()));
      const std::vector<index_t> got = recall.recall_leaf(q, label, std::span<const index_t>(items), k);
      res.seconds.recall += detail::since(t1);
      std::unordered_set<index_t> offered(items.begin(), items.end());
      index_t added = 0;
      for (index_t i : got) {
        if (added >= k) break;
        if (!offered.count(i) || taken.count(i)) continue;  // not offered, or repeated
        taken.insert(i);
        res.recalled.push_back(i);
        ++added;
      }
    } else {
      const auto info = tree.children_info(e.node);
      res.tree_tokens += tree.tokens_at(e.node);
      const std::string label = n->label;
      const auto t1 = std::chrono::steady_clock::now();
      std::vector<retrieval::scored_child> chosen =
          walk.choose(q, std::string_view(label), std::span<const retrieval::child_info<T>>(info.data(), info.size()));
      res.seconds.walk += detail::since(t1);
      std::vector<char> dup(info.size(), 0);
      for (const auto& c : chosen)
        if (c.index < 0 || c.index >= static_cast<index_t>(info.size()) || dup[static_cast<std::size_t>(c.index)]++)
          throw value_error(std::string(where) + ": the walk policy chose child " + std::to_string(c.index) + " of node '" +
                            label + "', which has " + std::to_string(info.size()) + " children (or chose it twice)");
      if (static_cast<index_t>(chosen.size()) > options_.children_per_node)
        chosen.resize(static_cast<std::size_t>(options_.children_per_node));
      for (auto it = chosen.rbegin(); it != chosen.rend(); ++it)
        stack.push_back({info[static_cast<std::size_t>(it->index)].node, e.node, e.depth + 1});
    }
  }
  // items removed from the tree during the session
  std::vector<index_t> live;
  for (index_t i : res.recalled) {
    if (tree.contains(i)) live.push_back(i);
    else ++res.stale_items;
  }
  res.recalled = std::move(live);

  // ---- step 4: rank --------------------------------------------------------------------------------
  t0 = std::chrono::steady_clock::now();
  const std::span<const index_t> pool(res.recalled);
  bool fixed = false;
  res.ranked = res.recalled.empty() ? std::vector<index_t>{} : complete(pool, rank.rank(q, pool, options_.final_n), fixed);
  res.repaired_lists += fixed;
  res.seconds.rank = detail::since(t0);

  // ---- step 5: rerank the top final_n --------------------------------------------------------------
  t0 = std::chrono::steady_clock::now();
  const index_t top = std::min<index_t>(options_.final_n, static_cast<index_t>(res.ranked.size()));
  if (top > 0) {
    const std::span<const index_t> head(res.ranked.data(), static_cast<std::size_t>(top));
    std::vector<index_t> final_head = complete(head, rerank.rerank(q, std::span<const index_t>(res.ranked), top), fixed);
    res.repaired_lists += fixed;
    res.items = std::move(final_head);
    res.items.insert(res.items.end(), res.ranked.begin() + top, res.ranked.end());
  }
  res.seconds.rerank = detail::since(t0);
  // items removed during rank/rerank
  std::vector<index_t> final_live;
  for (index_t i : res.items) {
    if (tree.contains(i)) final_live.push_back(i);
    else ++res.stale_items;
  }
  res.items = std::move(final_live);
  return res;
}

}  // namespace recblocks::chain
