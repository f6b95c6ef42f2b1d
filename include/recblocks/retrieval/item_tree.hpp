#pragma once
/// \file item_tree.hpp
/// A dynamic hierarchical item tree (UniLLMRec / LLMTreeRec §2.1) built from category paths and/or
/// recursive k-means over item embeddings, searched by a pluggable child-selection policy.
///
/// **Structure.** Every node holds the set of items below it; items live in leaves only. A node's
/// children are either all *category* nodes (plus at most one *other* node) or all *cluster* nodes:
/// - category nodes come from item category paths `[s_1, ..., s_j]` (coarse to fine): the node at
///   path prefix `[s_1..s_i]` holds the items whose path starts with it;
/// - an item whose path ends at a node that has category children goes to that node's `"(other)"` child;
/// - a leaf with more than `max_leaf_size` items is split by k-means on the item embeddings into
///   `k = min(branching, max(2, ceil(n / max_leaf_size)))` cluster nodes, recursively, until every leaf
///   fits (a leaf whose items cannot be separated — identical vectors, or a tree with `dim == 0` — is
///   split into equal chunks in insertion order). Splitting a cluster leaf whose parent has room
///   (`< branching` children) adds the new clusters as siblings instead of deepening the tree.
/// Each node keeps its item count and centroid (mean embedding, accumulated in double).
///
/// **Updates at any time.** `insert` routes an item along its category path (creating nodes; a leaf
/// that gains a category child first moves its content into an `"(other)"` child), then down cluster
/// nodes by nearest centroid (fewest items when `dim == 0`), and splits the leaf if over-full.
/// `remove` deletes empty nodes upwards and rebalances an under-full cluster leaf
/// (`< min_leaf_size` items): if its parent has at most `max_leaf_size` items the parent's subtree is
/// collapsed into one leaf, otherwise the leaf is dissolved and its items re-routed to the nearest
/// sibling subtrees. A node left with a single cluster or `"(other)"` child absorbs it. `move` =
/// remove + insert under the same id, with a new path and/or vector.
///
/// **Search.** `search(query, policy, options)` runs, with any `child_policy` (see child_policy.hpp):
/// - *beam*: level by level, the policy scores the children of every frontier node; the best
///   `beam_width` children overall are kept, leaves among them are collected, the rest expanded;
///   finally all items of the collected leaves are scored and the top `k` returned;
/// - *dfs* (UniLLMRec Algorithm 1): an explicit stack starting at the root; a leaf contributes its best
///   `items_per_leaf` items, an internal node pushes the policy's children (at most
///   `children_per_node`) so that the best is popped first; stops at `k` items or an empty stack.
///   Items are returned in discovery order.
/// Items are scored by `<query, x_i>` (cosine when `cosine_items`), or keep leaf order when the query or
/// the tree has no embedding. The result lists the visited nodes and the estimated tokens a policy read
/// (`tokens_at(node)`: node label + one `"<label> (<count> items)"` line per child, see
/// `estimate_tokens`). Leaf item texts are not known to the tree: callers add those tokens themselves
/// from `result.leaves`.
///
/// **Serialization.** `to_json()` / `from_json()` / `save()` / `load()`: `{"format":
/// "recblocks.item_tree", "version": 1, "dim", "options", "nodes": [...], "items": [...]}` with nodes
/// renumbered in depth-first order (node ids are not stable across a save/load); each node stores its
/// item count so that a truncated item list is detected. Loading validates the
/// format, version, shapes, ids, tree links and values and throws `io_error` (structure) or
/// `parse_error` (not JSON) with the offending field. Sizes are checked before anything is allocated
/// from them: `dim` must be in [1, `max_loaded_dim`] and equal every item vector's length, `dim` x
/// nodes at most `max_loaded_dim` x max(1, items) (nodes without items cannot ask for more than the
/// vectors hold), so an edited file cannot make the loader allocate more than the file itself
/// carries; an allocation failure is an `io_error`, never `std::bad_alloc`. `save` writes a temporary
/// file and renames it.
///
/// Requires: item ids unique (any int64); vectors `[dim]` finite; path segments non-empty.
/// Errors: `value_error` (unknown or duplicate id, NaN, bad options, empty segment), `shape_error`
/// (dimension mismatch), `io_error` / `parse_error` (files), `state_error` (`check_invariants`).
/// Thread-safety: `const` members (search, accessors, to_json) may run concurrently; updates need
/// exclusive access.
/// Complexity: insert/remove O(depth * (d + c)) plus an occasional split (k-means on `max_leaf_size + 1`
/// rows); build O(n d k iterations * depth); beam search O(beam * depth * c d + leaf items * d).

#include <algorithm>
#include <new>
#include <stdexcept>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../quant/kmeans.hpp"
#include "child_policy.hpp"

namespace recblocks::retrieval {

/// Options of `item_tree`.
struct item_tree_options {
  index_t max_leaf_size = 50;  ///< a leaf with more items is split
  index_t min_leaf_size = 0;   ///< a cluster leaf with fewer items is merged away; 0 = max_leaf_size / 4
  index_t branching = 8;       ///< maximum clusters per k-means split (>= 2)
  int kmeans_iterations = 20;  ///< Lloyd iterations per split
  std::uint64_t seed = 42;     ///< k-means seed (combined with the node id)
};

/// Options of `item_tree::search`.
struct tree_search_options {
  enum class strategy { beam, dfs };
  strategy method = strategy::beam;
  index_t k = 10;                  ///< items to return
  index_t beam_width = 4;          ///< beam: nodes kept per level
  index_t children_per_node = 10;  ///< dfs: children pushed per node (UniLLMRec m = 10)
  index_t items_per_leaf = 5;      ///< dfs: items taken per leaf (UniLLMRec k = 5)
  bool cosine_items = false;       ///< score items by cosine instead of inner product
};

/// One node visited by a search.
struct tree_node_visit {
  index_t node = -1;
  index_t depth = 0;
  bool leaf = false;
  index_t children_shown = 0;  ///< children the policy was shown (0 for a leaf)
  index_t tokens = 0;          ///< estimated tokens read by the policy at this node (0 for a leaf)
};

/// Result of `item_tree::search`.
struct tree_search_result {
  std::vector<index_t> items;          ///< item ids, best first (dfs: discovery order)
  std::vector<double> scores;          ///< their item scores
  std::vector<tree_node_visit> visits; ///< every node visited, in order
  std::vector<index_t> leaves;         ///< leaves whose items were read
  index_t tokens = 0;                  ///< sum of the visits' tokens
  index_t items_scored = 0;            ///< items read from leaves
};

/// Hierarchical item tree over `T` embeddings; see the file comment.
template <class T = float>
class item_tree {
 public:
  using path_type = std::vector<std::string>;

  /// Read-only view of one node.
  struct node {
    index_t parent = -1;
    node_kind kind = node_kind::root;
    std::string label;
    std::vector<index_t> children;
    std::vector<index_t> items;  ///< item ids (leaves only)
    index_t count = 0;           ///< items in the subtree
    col_vector<T> centroid;          ///< mean embedding of the subtree `[dim]`
    bool is_leaf() const { return children.empty(); }
  };

  /// An empty tree for `dim`-dimensional embeddings (`dim == 0`: categories only).
  explicit item_tree(index_t dim, item_tree_options options = {});

  /// Inserts many items at once: `vectors` `[n, dim]`, `ids` (empty = 0..n-1) and `paths` (empty = no
  /// categories) of length n. Equivalent to inserting them one by one, but builds each over-full leaf
  /// with one recursive k-means instead of incremental splits.
  void build(const Eigen::Ref<const matrix<T>>& vectors, const std::vector<index_t>& ids = {},
             const std::vector<path_type>& paths = {});

  /// Inserts item `id` with embedding `x` `[dim]` at category `path`.
  void insert(index_t id, const Eigen::Ref<const col_vector<T>>& x, const path_type& path = {});
  /// Removes item `id`.
  void remove(index_t id);
  /// Moves item `id` to category `path` (same embedding).
  void move(index_t id, const path_type& path);
  /// Moves item `id` to category `path` with the new embedding `x`.
  void move(index_t id, const Eigen::Ref<const col_vector<T>>& x, const path_type& path);

  bool contains(index_t id) const { return items_.count(id) != 0; }
  index_t size() const { return static_cast<index_t>(items_.size()); }
  index_t dim() const { return dim_; }
  const item_tree_options& options() const { return options_; }
  index_t root() const { return 0; }
  /// Node `id` (throws `value_error` if there is none).
  const node& at(index_t id) const;
  /// Ids of all live nodes.
  std::vector<index_t> node_ids() const;
  index_t num_nodes() const { return static_cast<index_t>(nodes_.size() - free_nodes_.size()); }
  /// Depth of the deepest node (root = 0).
  index_t depth() const;
  /// The leaf holding item `id`.
  index_t leaf_of(index_t id) const { return record(id).leaf; }
  /// The category path item `id` was inserted with.
  const path_type& path_of(index_t id) const { return record(id).path; }
  /// The embedding of item `id`.
  col_vector<T> vector_of(index_t id) const { return stored(record(id).slot); }
  /// Sets the label a policy reads for node `id` (e.g. keywords of a cluster's titles).
  void relabel(index_t id, std::string label);

  /// The children of `id` as a policy sees them.
  std::vector<child_info<T>> children_info(index_t id) const;
  /// Estimated tokens a policy reads at node `id` (0 for a leaf).
  index_t tokens_at(index_t id) const;

  /// Searches with `policy` (any `child_policy<P, T>`).
  template <class P>
    requires child_policy<P, T>
  tree_search_result search(const tree_query<T>& query, P&& policy, const tree_search_options& options = {}) const;

  /// Throws `state_error` naming the first broken invariant (links, kinds, counts, centroids, sizes).
  void check_invariants() const;

  nlohmann::json to_json() const;
  static item_tree from_json(const nlohmann::json& j);
  /// The largest `dim` `from_json` / `load` accept (see Serialization).
  static constexpr index_t max_loaded_dim = index_t{1} << 16;
  void save(const std::string& file) const;
  static item_tree load(const std::string& file);

 private:
  struct node_rec : node {
    Eigen::VectorXd sum;
    bool alive = false;
  };
  struct item_rec {
    index_t slot = -1;
    index_t leaf = -1;
    path_type path;
  };

  const item_rec& record(index_t id) const;
  node_rec& nd(index_t id) { return nodes_[static_cast<std::size_t>(id)]; }
  const node_rec& nd(index_t id) const { return nodes_[static_cast<std::size_t>(id)]; }
  Eigen::Map<col_vector<T>> stored(index_t slot) { return {storage_.data() + slot * dim_, dim_}; }
  Eigen::Map<const col_vector<T>> stored(index_t slot) const { return {storage_.data() + slot * dim_, dim_}; }
  index_t min_leaf() const { return options_.min_leaf_size > 0 ? options_.min_leaf_size : options_.max_leaf_size / 4; }

  void check_vector(const char* where, index_t id, const Eigen::Ref<const col_vector<T>>& x) const;
  void check_path(const char* where, const path_type& path) const;
  index_t new_node(index_t parent, node_kind kind, std::string label);
  void free_node(index_t id);
  index_t new_slot(const Eigen::Ref<const col_vector<T>>& x);
  void add_along(index_t from, index_t slot, double sign);
  void recompute(index_t id);
  bool children_are_clusters(index_t id) const;
  index_t find_child(index_t id, node_kind kind, const std::string& label) const;
  void push_down(index_t id);
  index_t route_category(const path_type& path);
  index_t descend(index_t from, index_t slot) const;
  void place(index_t id, index_t leaf);
  void split(index_t leaf);
  void gather(index_t id, std::vector<index_t>& out) const;
  void rebalance(index_t leaf);
  void prune_upwards(index_t id);
  void absorb_single_child(index_t id);
  double item_score(const tree_query<T>& q, index_t id, bool cosine) const;

  index_t dim_;
  item_tree_options options_;
  std::vector<node_rec> nodes_;
  std::vector<index_t> free_nodes_;
  std::unordered_map<index_t, item_rec> items_;
  std::vector<T> storage_;
  std::vector<index_t> free_slots_;
};

// ---- implementation ------------------------------------------------------------------------------

namespace detail {
inline const char* kind_name(node_kind k) {
  switch (k) {
    case node_kind::root: return "root";
    case node_kind::category: return "category";
    case node_kind::other: return "other";
    case node_kind::cluster: return "cluster";
  }
  return "?";
}
}  // namespace detail

template <class T>
item_tree<T>::item_tree(index_t dim, item_tree_options options) : dim_(dim), options_(options) {
  if (dim < 0) throw value_error("retrieval::item_tree: dim = " + std::to_string(dim) + " must be >= 0");
  if (options.max_leaf_size < 1)
    throw value_error("retrieval::item_tree: max_leaf_size = " + std::to_string(options.max_leaf_size) + " must be >= 1");
  if (options.min_leaf_size < 0 || options.min_leaf_size > options.max_leaf_size / 2)
    throw value_error("retrieval::item_tree: min_leaf_size = " + std::to_string(options.min_leaf_size) +
                      " must be in [0, max_leaf_size / 2]");
  if (options.branching < 2)
    throw value_error("retrieval::item_tree: branching = " + std::to_string(options.branching) + " must be >= 2");
  if (options.kmeans_iterations < 0)
    throw value_error("retrieval::item_tree: kmeans_iterations must be >= 0");
  new_node(-1, node_kind::root, "root");
}

template <class T>
const typename item_tree<T>::item_rec& item_tree<T>::record(index_t id) const {
  auto it = items_.find(id);
  if (it == items_.end()) throw value_error("retrieval::item_tree: unknown item id " + std::to_string(id));
  return it->second;
}

template <class T>
const typename item_tree<T>::node& item_tree<T>::at(index_t id) const {
  if (id < 0 || id >= static_cast<index_t>(nodes_.size()) || !nd(id).alive)
    throw value_error("retrieval::item_tree: unknown node id " + std::to_string(id));
  return nd(id);
}

template <class T>
std::vector<index_t> item_tree<T>::node_ids() const {
  std::vector<index_t> out;
  for (index_t i = 0; i < static_cast<index_t>(nodes_.size()); ++i)
    if (nd(i).alive) out.push_back(i);
  return out;
}

template <class T>
index_t item_tree<T>::depth() const {
  index_t best = 0;
  std::vector<std::pair<index_t, index_t>> st{{0, 0}};
  while (!st.empty()) {
    auto [id, d] = st.back();
    st.pop_back();
    best = std::max(best, d);
    for (index_t c : nd(id).children) st.push_back({c, d + 1});
  }
  return best;
}

template <class T>
void item_tree<T>::relabel(index_t id, std::string label) {
  at(id);
  nd(id).label = std::move(label);
}

template <class T>
void item_tree<T>::check_vector(const char* where, index_t id, const Eigen::Ref<const col_vector<T>>& x) const {
  if (x.size() != dim_)
    throw shape_error(std::string("retrieval::item_tree::") + where + ": item " + std::to_string(id) + " has a vector of " +
                      std::to_string(x.size()) + " dims, the tree has " + std::to_string(dim_));
  for (index_t j = 0; j < dim_; ++j)
    if (!std::isfinite(static_cast<double>(x(j))))
      throw value_error(std::string("retrieval::item_tree::") + where + ": item " + std::to_string(id) +
                        " has a non-finite value at dim " + std::to_string(j));
}

template <class T>
void item_tree<T>::check_path(const char* where, const path_type& path) const {
  for (std::size_t i = 0; i < path.size(); ++i)
    if (path[i].empty())
      throw value_error(std::string("retrieval::item_tree::") + where + ": path segment " + std::to_string(i) + " is empty");
}

template <class T>
index_t item_tree<T>::new_node(index_t parent, node_kind kind, std::string label) {
  index_t id;
  if (!free_nodes_.empty()) {
    id = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    id = static_cast<index_t>(nodes_.size());
    nodes_.emplace_back();
  }
  node_rec& n = nd(id);
  n = node_rec{};
  n.parent = parent;
  n.kind = kind;
  n.label = std::move(label);
  n.sum = Eigen::VectorXd::Zero(dim_);
  n.centroid = col_vector<T>::Zero(dim_);
  n.alive = true;
  if (parent >= 0) nd(parent).children.push_back(id);
  return id;
}

template <class T>
void item_tree<T>::free_node(index_t id) {
  node_rec& n = nd(id);
  if (n.parent >= 0) {
    auto& ch = nd(n.parent).children;
    ch.erase(std::find(ch.begin(), ch.end(), id));
  }
  n = node_rec{};
  free_nodes_.push_back(id);
}

template <class T>
index_t item_tree<T>::new_slot(const Eigen::Ref<const col_vector<T>>& x) {
  index_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<index_t>(dim_ == 0 ? items_.size() + free_slots_.size() : storage_.size() / static_cast<std::size_t>(dim_));
    storage_.resize(storage_.size() + static_cast<std::size_t>(dim_));
  }
  if (dim_ > 0) stored(slot) = x;
  return slot;
}

template <class T>
void item_tree<T>::add_along(index_t from, index_t slot, double sign) {
  for (index_t a = from; a >= 0; a = nd(a).parent) {
    node_rec& n = nd(a);
    n.count += sign > 0 ? 1 : -1;
    if (dim_ > 0) {
      n.sum += sign * stored(slot).template cast<double>();
      n.centroid = n.count > 0 ? (n.sum / static_cast<double>(n.count)).template cast<T>().eval() : col_vector<T>::Zero(dim_).eval();
    }
  }
}

template <class T>
void item_tree<T>::recompute(index_t id) {
  node_rec& n = nd(id);
  n.count = 0;
  n.sum.setZero();
  if (n.children.empty()) {
    for (index_t i : n.items) {
      ++n.count;
      if (dim_ > 0) n.sum += stored(items_.at(i).slot).template cast<double>();
    }
  } else {
    for (index_t c : n.children) {
      recompute(c);
      n.count += nd(c).count;
      n.sum += nd(c).sum;
    }
  }
  n.centroid = n.count > 0 ? (n.sum / static_cast<double>(n.count)).template cast<T>().eval() : col_vector<T>::Zero(dim_).eval();
}

template <class T>
bool item_tree<T>::children_are_clusters(index_t id) const {
  const auto& ch = nd(id).children;
  return !ch.empty() && nd(ch.front()).kind == node_kind::cluster;
}

template <class T>
index_t item_tree<T>::find_child(index_t id, node_kind kind, const std::string& label) const {
  for (index_t c : nd(id).children)
    if (nd(c).kind == kind && (kind == node_kind::other || nd(c).label == label)) return c;
  return -1;
}

// Moves the content of `id` (items or cluster children) into a new "(other)" child.
template <class T>
void item_tree<T>::push_down(index_t id) {
  std::vector<index_t> old_children = std::move(nd(id).children);
  std::vector<index_t> old_items = std::move(nd(id).items);
  nd(id).children.clear();
  nd(id).items.clear();
  const index_t o = new_node(id, node_kind::other, "(other)");
  node_rec& on = nd(o);
  on.children = std::move(old_children);
  on.items = std::move(old_items);
  for (index_t c : on.children) nd(c).parent = o;
  for (index_t i : on.items) items_.at(i).leaf = o;
  on.count = nd(id).count;
  on.sum = nd(id).sum;
  on.centroid = nd(id).centroid;
}

// Walks/creates the category nodes of `path`; returns the node at its end (or its "(other)" child).
template <class T>
index_t item_tree<T>::route_category(const path_type& path) {
  index_t n = 0;
  for (const std::string& seg : path) {
    index_t c = find_child(n, node_kind::category, seg);
    if (c < 0) {
      const bool has_content = children_are_clusters(n) || (nd(n).children.empty() && nd(n).count > 0);
      if (has_content) push_down(n);
      c = new_node(n, node_kind::category, seg);
    }
    n = c;
  }
  if (!nd(n).children.empty() && !children_are_clusters(n)) {
    index_t o = find_child(n, node_kind::other, "");
    if (o < 0) o = new_node(n, node_kind::other, "(other)");
    n = o;
  }
  return n;
}

// Descends cluster children from `from` to a leaf: nearest centroid, or fewest items when dim == 0.
template <class T>
index_t item_tree<T>::descend(index_t from, index_t slot) const {
  index_t n = from;
  while (!nd(n).children.empty()) {
    index_t best = -1;
    double best_v = std::numeric_limits<double>::infinity();
    for (index_t c : nd(n).children) {
      const double v = dim_ > 0 ? (nd(c).centroid.template cast<double>() - stored(slot).template cast<double>()).squaredNorm()
                                : static_cast<double>(nd(c).count);
      if (v < best_v) best_v = v, best = c;
    }
    n = best;
  }
  return n;
}

template <class T>
void item_tree<T>::place(index_t id, index_t leaf) {
  item_rec& r = items_.at(id);
  r.leaf = leaf;
  nd(leaf).items.push_back(id);
  add_along(leaf, r.slot, +1.0);
}

template <class T>
void item_tree<T>::split(index_t leaf) {
  std::vector<index_t> work{leaf};
  while (!work.empty()) {
    const index_t l = work.back();
    work.pop_back();
    if (static_cast<index_t>(nd(l).items.size()) <= options_.max_leaf_size) continue;
    const std::vector<index_t> its = nd(l).items;
    const auto n = static_cast<index_t>(its.size());
    const index_t want = std::min<index_t>(
        options_.branching, std::max<index_t>(2, (n + options_.max_leaf_size - 1) / options_.max_leaf_size));
    std::vector<std::vector<index_t>> groups;
    if (dim_ > 0) {
      matrix<T> data(n, dim_);
      for (index_t i = 0; i < n; ++i) data.row(i) = stored(items_.at(its[static_cast<std::size_t>(i)]).slot).transpose();
      quant::kmeans<T> km({want, options_.kmeans_iterations, options_.seed + static_cast<std::uint64_t>(l), 0.0});
      km.fit(data);
      groups.assign(static_cast<std::size_t>(want), {});
      for (index_t i = 0; i < n; ++i)
        groups[static_cast<std::size_t>(km.assignments()[static_cast<std::size_t>(i)])].push_back(its[static_cast<std::size_t>(i)]);
      groups.erase(std::remove_if(groups.begin(), groups.end(), [](const auto& g) { return g.empty(); }), groups.end());
    }
    if (groups.size() < 2) {  // inseparable: equal chunks in insertion order
      groups.assign(static_cast<std::size_t>(want), {});
      for (index_t i = 0; i < n; ++i) groups[static_cast<std::size_t>(i * want / n)].push_back(its[static_cast<std::size_t>(i)]);
    }
    const index_t parent = nd(l).parent;
    const bool as_siblings = nd(l).kind == node_kind::cluster && parent >= 0 &&
                             static_cast<index_t>(nd(parent).children.size() + groups.size()) - 1 <= options_.branching;
    std::vector<index_t> made;
    if (as_siblings) {
      nd(l).items = groups[0];
      made.push_back(l);
      for (std::size_t g = 1; g < groups.size(); ++g) {
        const index_t c = new_node(parent, node_kind::cluster, "cluster " + std::to_string(nd(parent).children.size() + 1));
        nd(c).items = groups[g];
        made.push_back(c);
      }
    } else {
      nd(l).items.clear();
      for (std::size_t g = 0; g < groups.size(); ++g) {
        const index_t c = new_node(l, node_kind::cluster, "cluster " + std::to_string(g + 1));
        nd(c).items = groups[g];
        made.push_back(c);
      }
    }
    for (index_t c : made) {
      for (index_t i : nd(c).items) items_.at(i).leaf = c;
      recompute(c);
      work.push_back(c);
    }
  }
}

template <class T>
void item_tree<T>::build(const Eigen::Ref<const matrix<T>>& vectors, const std::vector<index_t>& ids,
                         const std::vector<path_type>& paths) {
  const index_t n = vectors.rows();
  if (vectors.cols() != dim_)
    throw shape_error("retrieval::item_tree::build: vectors are " + shape_string(n, vectors.cols()) + ", the tree has dim " +
                      std::to_string(dim_));
  if (!ids.empty() && static_cast<index_t>(ids.size()) != n)
    throw shape_error("retrieval::item_tree::build: " + std::to_string(ids.size()) + " ids for " + std::to_string(n) + " vectors");
  if (!paths.empty() && static_cast<index_t>(paths.size()) != n)
    throw shape_error("retrieval::item_tree::build: " + std::to_string(paths.size()) + " paths for " + std::to_string(n) + " vectors");
  // validate everything first, so a bad row leaves the tree unchanged
  std::unordered_map<index_t, char> seen;
  for (index_t i = 0; i < n; ++i) {
    const index_t id = ids.empty() ? i : ids[static_cast<std::size_t>(i)];
    if (items_.count(id) || !seen.emplace(id, 1).second)
      throw value_error("retrieval::item_tree::build: duplicate item id " + std::to_string(id));
    check_vector("build", id, vectors.row(i).transpose());
    if (!paths.empty()) check_path("build", paths[static_cast<std::size_t>(i)]);
  }
  // create every category node first so that "(other)" routing sees the final category structure
  if (!paths.empty())
    for (index_t i = 0; i < n; ++i) {
      index_t node_id = 0;
      for (const std::string& seg : paths[static_cast<std::size_t>(i)]) {
        index_t c = find_child(node_id, node_kind::category, seg);
        if (c < 0) {
          if (children_are_clusters(node_id) || (nd(node_id).children.empty() && nd(node_id).count > 0)) push_down(node_id);
          c = new_node(node_id, node_kind::category, seg);
        }
        node_id = c;
      }
    }
  std::vector<index_t> touched;
  for (index_t i = 0; i < n; ++i) {
    const index_t id = ids.empty() ? i : ids[static_cast<std::size_t>(i)];
    item_rec r;
    r.slot = new_slot(vectors.row(i).transpose());
    if (!paths.empty()) r.path = paths[static_cast<std::size_t>(i)];
    items_.emplace(id, r);
    const index_t leaf = descend(route_category(items_.at(id).path), r.slot);
    place(id, leaf);
    touched.push_back(leaf);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (index_t l : touched) split(l);
}

template <class T>
void item_tree<T>::insert(index_t id, const Eigen::Ref<const col_vector<T>>& x, const path_type& path) {
  if (items_.count(id)) throw value_error("retrieval::item_tree::insert: item id " + std::to_string(id) + " already exists");
  check_vector("insert", id, x);
  check_path("insert", path);
  item_rec r;
  r.slot = new_slot(x);
  r.path = path;
  items_.emplace(id, r);
  const index_t leaf = descend(route_category(path), r.slot);
  place(id, leaf);
  split(leaf);
}

template <class T>
void item_tree<T>::remove(index_t id) {
  const item_rec r = record(id);
  auto& its = nd(r.leaf).items;
  its.erase(std::find(its.begin(), its.end(), id));
  add_along(r.leaf, r.slot, -1.0);
  free_slots_.push_back(r.slot);
  items_.erase(id);
  rebalance(r.leaf);
}

template <class T>
void item_tree<T>::move(index_t id, const path_type& path) {
  const col_vector<T> x = vector_of(id);
  move(id, x, path);
}

template <class T>
void item_tree<T>::move(index_t id, const Eigen::Ref<const col_vector<T>>& x, const path_type& path) {
  record(id);
  check_vector("move", id, x);
  check_path("move", path);
  const col_vector<T> copy = x;  // x may alias the stored row
  remove(id);
  insert(id, copy, path);
}

template <class T>
void item_tree<T>::gather(index_t id, std::vector<index_t>& out) const {
  const node_rec& n = nd(id);
  out.insert(out.end(), n.items.begin(), n.items.end());
  for (index_t c : n.children) gather(c, out);
}

// Deletes `id` if it is an empty non-root node, then its parent likewise; finally a node left with a
// single cluster / "(other)" child absorbs it.
template <class T>
void item_tree<T>::prune_upwards(index_t id) {
  index_t n = id;
  while (n != 0 && nd(n).count == 0) {
    const index_t p = nd(n).parent;
    std::vector<index_t> sub;
    std::vector<index_t> st{n};
    while (!st.empty()) {  // free the (empty) subtree bottom-up
      const index_t x = st.back();
      st.pop_back();
      sub.push_back(x);
      for (index_t c : nd(x).children) st.push_back(c);
    }
    for (auto it = sub.rbegin(); it != sub.rend(); ++it) free_node(*it);
    n = p;
  }
  absorb_single_child(n);
}

template <class T>
void item_tree<T>::absorb_single_child(index_t id) {
  node_rec& n = nd(id);
  if (n.children.size() != 1) return;
  const index_t c = n.children.front();
  if (nd(c).kind != node_kind::cluster && nd(c).kind != node_kind::other) return;
  std::vector<index_t> ch = std::move(nd(c).children);
  std::vector<index_t> its = std::move(nd(c).items);
  nd(c).children.clear();
  free_node(c);
  node_rec& m = nd(id);
  m.children = std::move(ch);
  m.items = std::move(its);
  for (index_t x : m.children) nd(x).parent = id;
  for (index_t i : m.items) items_.at(i).leaf = id;
}

template <class T>
void item_tree<T>::rebalance(index_t leaf) {
  if (nd(leaf).count == 0) {
    prune_upwards(leaf);
    return;
  }
  index_t l = leaf;
  while (l != 0 && nd(l).kind == node_kind::cluster && nd(l).children.empty() && nd(l).count < min_leaf()) {
    const index_t p = nd(l).parent;
    if (nd(p).count <= options_.max_leaf_size) {  // collapse the parent's subtree into one leaf
      std::vector<index_t> all;
      gather(p, all);
      while (!nd(p).children.empty()) {
        std::vector<index_t> st{nd(p).children.back()}, sub;
        while (!st.empty()) {
          const index_t x = st.back();
          st.pop_back();
          sub.push_back(x);
          for (index_t c : nd(x).children) st.push_back(c);
        }
        for (auto it = sub.rbegin(); it != sub.rend(); ++it) {
          nd(*it).items.clear();
          free_node(*it);
        }
      }
      nd(p).items = all;
      for (index_t i : all) items_.at(i).leaf = p;
      l = p;  // p may itself be an under-full cluster leaf now
      continue;
    }
    // dissolve: re-route the leaf's items to the nearest sibling subtrees
    std::vector<index_t> its = nd(l).items;
    for (index_t i : its) add_along(l, items_.at(i).slot, -1.0);
    nd(l).items.clear();
    free_node(l);
    std::vector<index_t> touched;
    for (index_t i : its) {
      const index_t dst = descend(p, items_.at(i).slot);
      place(i, dst);
      touched.push_back(dst);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (index_t t : touched)
      if (nd(t).alive) split(t);
    absorb_single_child(p);
    break;
  }
}

template <class T>
std::vector<child_info<T>> item_tree<T>::children_info(index_t id) const {
  at(id);
  std::vector<child_info<T>> out;
  for (index_t c : nd(id).children) {
    const node_rec& n = nd(c);
    out.push_back({c, n.label, n.count, &n.centroid, n.kind, n.children.empty()});
  }
  return out;
}

template <class T>
index_t item_tree<T>::tokens_at(index_t id) const {
  const node& n = at(id);
  if (n.children.empty()) return 0;
  index_t t = estimate_tokens(n.label);
  for (index_t c : n.children) t += estimate_tokens(describe_child(nd(c).label, nd(c).count));
  return t;
}

template <class T>
double item_tree<T>::item_score(const tree_query<T>& q, index_t id, bool cosine) const {
  if (dim_ == 0 || q.embedding.size() == 0) return 0.0;
  const auto x = stored(items_.at(id).slot).template cast<double>();
  double s = q.embedding.template cast<double>().dot(x);
  if (cosine) {
    const double d = q.embedding.template cast<double>().norm() * x.norm();
    s = d > 0.0 ? s / d : 0.0;
  }
  return s;
}

template <class T>
template <class P>
  requires child_policy<P, T>
tree_search_result item_tree<T>::search(const tree_query<T>& query, P&& policy, const tree_search_options& opt) const {
  const char* where = "retrieval::item_tree::search";
  if (query.embedding.size() != 0 && query.embedding.size() != dim_)
    throw shape_error(std::string(where) + ": query embedding has " + std::to_string(query.embedding.size()) +
                      " dims, the tree has " + std::to_string(dim_));
  for (index_t j = 0; j < query.embedding.size(); ++j)
    if (!std::isfinite(static_cast<double>(query.embedding(j))))
      throw value_error(std::string(where) + ": query embedding has a non-finite value at dim " + std::to_string(j));
  if (opt.k < 1 || opt.beam_width < 1 || opt.children_per_node < 1 || opt.items_per_leaf < 1)
    throw value_error(std::string(where) + ": k, beam_width, children_per_node and items_per_leaf must be >= 1");
  std::vector<index_t> excl = query.exclude;
  std::sort(excl.begin(), excl.end());
  const auto excluded = [&](index_t i) { return std::binary_search(excl.begin(), excl.end(), i); };

  tree_search_result res;
  // asks the policy at internal node `id`; returns (child node id, score), validated
  const auto ask = [&](index_t id, index_t depth) {
    const auto info = children_info(id);
    std::vector<scored_child> chosen = policy.choose(query, std::string_view(nd(id).label),
                                                     std::span<const child_info<T>>(info.data(), info.size()));
    std::vector<std::pair<index_t, double>> out;
    std::vector<char> seen(info.size(), 0);
    for (const scored_child& s : chosen) {
      if (s.index < 0 || s.index >= static_cast<index_t>(info.size()) || seen[static_cast<std::size_t>(s.index)])
        throw value_error(std::string(where) + ": the policy chose child " + std::to_string(s.index) + " of node '" +
                          nd(id).label + "', which has " + std::to_string(info.size()) + " children (or chose it twice)");
      if (!std::isfinite(s.score))
        throw value_error(std::string(where) + ": the policy gave a non-finite score at node '" + nd(id).label + "'");
      seen[static_cast<std::size_t>(s.index)] = 1;
      out.push_back({info[static_cast<std::size_t>(s.index)].node, s.score});
    }
    const index_t tok = tokens_at(id);
    res.visits.push_back({id, depth, false, static_cast<index_t>(info.size()), tok});
    res.tokens += tok;
    return out;
  };
  const auto leaf_items = [&](index_t leaf, index_t depth) {
    res.visits.push_back({leaf, depth, true, 0, 0});
    res.leaves.push_back(leaf);
    std::vector<std::pair<double, index_t>> s;
    for (index_t i : nd(leaf).items) {
      ++res.items_scored;
      if (!excluded(i)) s.push_back({item_score(query, i, opt.cosine_items), i});
    }
    std::stable_sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    return s;
  };

  if (opt.method == tree_search_options::strategy::beam) {
    std::vector<std::pair<double, index_t>> pool;
    std::vector<std::pair<index_t, index_t>> frontier{{0, 0}};  // (node, depth)
    if (nd(0).children.empty()) {
      frontier.clear();
      auto s = leaf_items(0, 0);
      pool.insert(pool.end(), s.begin(), s.end());
    }
    while (!frontier.empty()) {
      std::vector<std::tuple<double, index_t, index_t>> cand;  // (score, node, depth)
      for (auto [id, d] : frontier)
        for (auto [c, s] : ask(id, d)) cand.push_back({s, c, d + 1});
      std::stable_sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
      if (static_cast<index_t>(cand.size()) > opt.beam_width) cand.resize(static_cast<std::size_t>(opt.beam_width));
      frontier.clear();
      for (auto [s, c, d] : cand) {
        if (nd(c).children.empty()) {
          auto li = leaf_items(c, d);
          pool.insert(pool.end(), li.begin(), li.end());
        } else {
          frontier.push_back({c, d});
        }
      }
    }
    std::stable_sort(pool.begin(), pool.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t i = 0; i < pool.size() && static_cast<index_t>(res.items.size()) < opt.k; ++i) {
      res.items.push_back(pool[i].second);
      res.scores.push_back(pool[i].first);
    }
  } else {
    std::vector<std::pair<index_t, index_t>> stack{{0, 0}};
    std::vector<index_t> taken;
    while (!stack.empty() && static_cast<index_t>(res.items.size()) < opt.k) {
      auto [id, d] = stack.back();
      stack.pop_back();
      if (nd(id).children.empty()) {
        index_t got = 0;
        for (auto [s, i] : leaf_items(id, d)) {
          if (got >= opt.items_per_leaf || static_cast<index_t>(res.items.size()) >= opt.k) break;
          res.items.push_back(i);
          res.scores.push_back(s);
          ++got;
        }
      } else {
        auto ch = ask(id, d);
        if (static_cast<index_t>(ch.size()) > opt.children_per_node) ch.resize(static_cast<std::size_t>(opt.children_per_node));
        for (auto it = ch.rbegin(); it != ch.rend(); ++it) stack.push_back({it->first, d + 1});
      }
    }
  }
  return res;
}

template <class T>
void item_tree<T>::check_invariants() const {
  const auto fail = [](const std::string& m) { throw state_error("retrieval::item_tree invariant: " + m); };
  if (nodes_.empty() || !nd(0).alive || nd(0).kind != node_kind::root || nd(0).parent != -1) fail("bad root");
  std::unordered_map<index_t, index_t> item_leaf;
  std::vector<index_t> st{0};
  index_t reached = 0;
  while (!st.empty()) {
    const index_t id = st.back();
    st.pop_back();
    ++reached;
    const node_rec& n = nd(id);
    const std::string name = "node " + std::to_string(id) + " '" + n.label + "'";
    if (id != 0 && n.count == 0) fail(name + " is empty");
    if (!n.children.empty() && !n.items.empty()) fail(name + " has both children and items");
    index_t cnt = 0, clusters = 0, others = 0;
    Eigen::VectorXd sum = Eigen::VectorXd::Zero(dim_);
    for (index_t c : n.children) {
      if (c < 0 || c >= static_cast<index_t>(nodes_.size()) || !nd(c).alive || nd(c).parent != id)
        fail(name + " has a bad child link " + std::to_string(c));
      if (nd(c).kind == node_kind::root) fail(name + " has a root child");
      clusters += nd(c).kind == node_kind::cluster;
      others += nd(c).kind == node_kind::other;
      for (index_t c2 : n.children)
        if (c2 != c && nd(c).kind == node_kind::category && nd(c2).kind == node_kind::category && nd(c).label == nd(c2).label)
          fail(name + " has two category children '" + nd(c).label + "'");
      cnt += nd(c).count;
      sum += nd(c).sum;
      st.push_back(c);
    }
    if (clusters != 0 && clusters != static_cast<index_t>(n.children.size())) fail(name + " mixes cluster and category children");
    if (others > 1) fail(name + " has several (other) children");
    if (n.children.size() == 1 && (clusters == 1 || others == 1)) fail(name + " has a single cluster/(other) child");
    if (n.children.empty()) {
      if (static_cast<index_t>(n.items.size()) > options_.max_leaf_size) fail(name + " is an over-full leaf");
      for (index_t i : n.items) {
        auto it = items_.find(i);
        if (it == items_.end() || it->second.leaf != id) fail(name + " lists item " + std::to_string(i) + " wrongly");
        if (!item_leaf.emplace(i, id).second) fail("item " + std::to_string(i) + " is in two leaves");
        ++cnt;
        if (dim_ > 0) sum += stored(it->second.slot).template cast<double>();
      }
    }
    if (cnt != n.count) fail(name + " count " + std::to_string(n.count) + " != " + std::to_string(cnt));
    if (dim_ > 0 && (sum - n.sum).norm() > 1e-6 * (1.0 + sum.norm())) fail(name + " has a stale centroid sum");
    if (dim_ > 0 && cnt > 0 &&
        ((sum / static_cast<double>(cnt)).template cast<T>() - n.centroid).template cast<double>().norm() >
            1e-4 * (1.0 + sum.norm() / static_cast<double>(cnt)))
      fail(name + " has a stale centroid");
  }
  if (reached != num_nodes()) fail("unreachable live nodes");
  if (item_leaf.size() != items_.size()) fail("items missing from leaves");
}

template <class T>
nlohmann::json item_tree<T>::to_json() const {
  nlohmann::json j;
  j["format"] = "recblocks.item_tree";
  j["version"] = 1;
  j["dim"] = dim_;
  j["options"] = {{"max_leaf_size", options_.max_leaf_size}, {"min_leaf_size", options_.min_leaf_size},
                  {"branching", options_.branching},         {"kmeans_iterations", options_.kmeans_iterations},
                  {"seed", options_.seed}};
  std::unordered_map<index_t, index_t> renum;
  std::vector<index_t> order, st{0};
  while (!st.empty()) {
    const index_t id = st.back();
    st.pop_back();
    renum[id] = static_cast<index_t>(order.size());
    order.push_back(id);
    const auto& ch = nd(id).children;
    for (auto it = ch.rbegin(); it != ch.rend(); ++it) st.push_back(*it);
  }
  nlohmann::json nodes = nlohmann::json::array(), items = nlohmann::json::array();
  for (index_t id : order) {
    const node_rec& n = nd(id);
    std::vector<index_t> ch;
    for (index_t c : n.children) ch.push_back(renum.at(c));
    nodes.push_back({{"id", renum.at(id)},
                     {"parent", n.parent < 0 ? -1 : renum.at(n.parent)},
                     {"kind", detail::kind_name(n.kind)},
                     {"label", n.label},
                     {"count", n.count},
                     {"children", ch}});
    for (index_t i : n.items) {
      const item_rec& r = items_.at(i);
      std::vector<double> v(static_cast<std::size_t>(dim_));
      for (index_t d = 0; d < dim_; ++d) v[static_cast<std::size_t>(d)] = static_cast<double>(stored(r.slot)(d));
      items.push_back({{"id", i}, {"leaf", renum.at(id)}, {"path", r.path}, {"vector", v}});
    }
  }
  j["nodes"] = std::move(nodes);
  j["items"] = std::move(items);
  return j;
}

template <class T>
item_tree<T> item_tree<T>::from_json(const nlohmann::json& j) {
  const auto bad = [](const std::string& m) { return io_error("retrieval::item_tree::from_json: corrupted tree: " + m); };
  // an integer field: a JSON integer that fits the destination (a float such as 5e59 would be undefined
  // behaviour to convert; found by fuzz_item_tree)
  const auto integer = [&bad](const nlohmann::json& v, const std::string& field, std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                              std::int64_t hi = std::numeric_limits<std::int64_t>::max()) -> std::int64_t {
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
      throw bad("\"" + field + "\" must be an integer");
    const std::int64_t x = v.get<std::int64_t>();
    if (x < lo || x > hi) throw bad("\"" + field + "\" = " + std::to_string(x) + " is out of range");
    return x;
  };
  constexpr std::int64_t int_max = std::numeric_limits<int>::max();
  try {
    if (!j.is_object()) throw bad("not a JSON object");
    if (!j.contains("format") || j.at("format") != "recblocks.item_tree") throw bad("missing or wrong \"format\" (expected \"recblocks.item_tree\")");
    if (!j.contains("version") || !j.at("version").is_number_integer()) throw bad("missing \"version\"");
    if (integer(j.at("version"), "version") != 1)
      throw bad("unsupported format version " + std::to_string(integer(j.at("version"), "version")) + " (this build reads version 1)");
    for (const char* f : {"dim", "options", "nodes", "items"})
      if (!j.contains(f)) throw bad(std::string("missing field \"") + f + "\"");
    const auto& o = j.at("options");
    item_tree_options opt;
    opt.max_leaf_size = integer(o.at("max_leaf_size"), "options.max_leaf_size");
    opt.min_leaf_size = integer(o.at("min_leaf_size"), "options.min_leaf_size");
    opt.branching = integer(o.at("branching"), "options.branching");
    opt.kmeans_iterations = static_cast<int>(integer(o.at("kmeans_iterations"), "options.kmeans_iterations", -int_max, int_max));
    if (!o.at("seed").is_number_integer()) throw bad("\"options.seed\" must be an integer");
    opt.seed = o.at("seed").is_number_unsigned() ? o.at("seed").get<std::uint64_t>()
                                                 : static_cast<std::uint64_t>(o.at("seed").get<std::int64_t>());
    if (!j.at("dim").is_number_integer()) throw bad("\"dim\" must be an integer");
    const index_t dim = integer(j.at("dim"), "dim");
    // sizes before allocations: dim against the vectors the file actually holds
    if (dim < 1 || dim > max_loaded_dim)
      throw bad("dim " + std::to_string(dim) + " is outside [1, " + std::to_string(max_loaded_dim) + "]");
    if (!j.at("nodes").is_array() || !j.at("items").is_array()) throw bad("\"nodes\" and \"items\" must be arrays");
    for (std::size_t k = 0; k < j.at("items").size(); ++k) {
      const auto& ji = j.at("items")[k];
      if (!ji.is_object() || !ji.contains("vector") || !ji.at("vector").is_array())
        throw bad("items[" + std::to_string(k) + "] has no \"vector\" array");
      if (static_cast<index_t>(ji.at("vector").size()) != dim)
        throw bad("items[" + std::to_string(k) + "] has a vector of " + std::to_string(ji.at("vector").size()) +
                  " values, dim is " + std::to_string(dim));
    }
    if (static_cast<double>(dim) * static_cast<double>(j.at("nodes").size()) >
        static_cast<double>(max_loaded_dim) * static_cast<double>(std::max<std::size_t>(1, j.at("items").size())))
      throw bad("dim " + std::to_string(dim) + " x " + std::to_string(j.at("nodes").size()) + " nodes is more than " +
                std::to_string(j.at("items").size()) + " items can justify");
    item_tree t = [&] {
      try {
        return item_tree(dim, opt);
      } catch (const value_error& e) {
        throw bad(std::string("bad dim or options: ") + e.what());
      }
    }();
    const auto& nodes = j.at("nodes");
    if (!nodes.is_array() || nodes.empty()) throw bad("\"nodes\" must be a non-empty array");
    const auto n_nodes = static_cast<index_t>(nodes.size());
    t.nodes_.clear();
    t.nodes_.resize(static_cast<std::size_t>(n_nodes));
    for (index_t k = 0; k < n_nodes; ++k) {
      const auto& jn = nodes.at(static_cast<std::size_t>(k));
      if (integer(jn.at("id"), "nodes[].id") != k) throw bad("nodes[" + std::to_string(k) + "].id must be " + std::to_string(k));
      node_rec& n = t.nodes_[static_cast<std::size_t>(k)];
      n.parent = integer(jn.at("parent"), "nodes[].parent");
      const std::string kind = jn.at("kind").get<std::string>();
      if (kind == "root") n.kind = node_kind::root;
      else if (kind == "category") n.kind = node_kind::category;
      else if (kind == "other") n.kind = node_kind::other;
      else if (kind == "cluster") n.kind = node_kind::cluster;
      else throw bad("nodes[" + std::to_string(k) + "].kind '" + kind + "' is unknown");
      if ((k == 0) != (n.kind == node_kind::root) || (k == 0) != (n.parent == -1))
        throw bad("nodes[" + std::to_string(k) + "]: only node 0 is the root, with parent -1");
      if (k != 0 && (n.parent < 0 || n.parent >= n_nodes)) throw bad("nodes[" + std::to_string(k) + "].parent out of range");
      n.label = jn.at("label").get<std::string>();
      if (!jn.at("children").is_array()) throw bad("nodes[" + std::to_string(k) + "].children must be an array");
      n.children.clear();
      for (const auto& c : jn.at("children")) n.children.push_back(integer(c, "nodes[].children[]"));
      n.sum = Eigen::VectorXd::Zero(dim);
      n.centroid = col_vector<T>::Zero(dim);
      n.alive = true;
    }
    std::vector<char> has_parent(static_cast<std::size_t>(n_nodes), 0);
    for (index_t k = 0; k < n_nodes; ++k)
      for (index_t c : t.nodes_[static_cast<std::size_t>(k)].children) {
        if (c <= 0 || c >= n_nodes || t.nd(c).parent != k || has_parent[static_cast<std::size_t>(c)])
          throw bad("nodes[" + std::to_string(k) + "] lists child " + std::to_string(c) + " that does not point back");
        has_parent[static_cast<std::size_t>(c)] = 1;
      }
    for (index_t k = 1; k < n_nodes; ++k)
      if (!has_parent[static_cast<std::size_t>(k)]) throw bad("nodes[" + std::to_string(k) + "] is not listed by its parent");
    const auto& items = j.at("items");
    if (!items.is_array()) throw bad("\"items\" must be an array");
    col_vector<T> x(dim);
    for (std::size_t k = 0; k < items.size(); ++k) {
      const auto& ji = items[k];
      const index_t id = integer(ji.at("id"), "items[].id");
      const index_t leaf = integer(ji.at("leaf"), "items[].leaf");
      const auto v = ji.at("vector").get<std::vector<double>>();
      if (static_cast<index_t>(v.size()) != dim)
        throw bad("items[" + std::to_string(k) + "] (id " + std::to_string(id) + ") has a vector of " +
                  std::to_string(v.size()) + " values, dim is " + std::to_string(dim));
      for (index_t d = 0; d < dim; ++d) {
        if (!std::isfinite(v[static_cast<std::size_t>(d)])) throw bad("items[" + std::to_string(k) + "] has a non-finite value");
        x(d) = static_cast<T>(v[static_cast<std::size_t>(d)]);
      }
      if (leaf < 0 || leaf >= n_nodes || !t.nd(leaf).children.empty())
        throw bad("items[" + std::to_string(k) + "].leaf " + std::to_string(leaf) + " is not a leaf");
      if (t.items_.count(id)) throw bad("duplicate item id " + std::to_string(id));
      item_rec r;
      r.slot = t.new_slot(x);
      r.leaf = leaf;
      r.path = ji.at("path").get<path_type>();
      t.items_.emplace(id, std::move(r));
      t.nd(leaf).items.push_back(id);
    }
    t.recompute(0);
    for (index_t k = 0; k < n_nodes; ++k) {
      const index_t stored_count = integer(nodes.at(static_cast<std::size_t>(k)).at("count"), "nodes[].count");
      if (stored_count != t.nd(k).count)
        throw bad("nodes[" + std::to_string(k) + "].count = " + std::to_string(stored_count) + " but its items add up to " +
                  std::to_string(t.nd(k).count) + " (truncated or edited item list)");
    }
    try {
      t.check_invariants();
    } catch (const state_error& e) {
      throw bad(e.what());
    }
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw io_error(std::string("retrieval::item_tree::from_json: corrupted tree: missing or mistyped field (") + e.what() + ")");
  } catch (const std::bad_alloc&) {
    throw io_error("retrieval::item_tree::from_json: the tree does not fit in memory");
  } catch (const std::length_error&) {
    throw io_error("retrieval::item_tree::from_json: corrupted tree: impossible size");
  }
}

template <class T>
void item_tree<T>::save(const std::string& file) const {
  const std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw io_error("retrieval::item_tree::save: cannot open '" + tmp + "' for writing");
    out << to_json().dump();
    out.flush();
    if (!out) throw io_error("retrieval::item_tree::save: writing '" + tmp + "' failed");
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw io_error("retrieval::item_tree::save: cannot rename '" + tmp + "' to '" + file + "'");
  }
}

template <class T>
item_tree<T> item_tree<T>::load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io_error("retrieval::item_tree::load: cannot open '" + file + "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw parse_error("retrieval::item_tree::load: '" + file + "' is not valid JSON: " + e.what());
  } catch (const std::bad_alloc&) {
    throw io_error("retrieval::item_tree::load: '" + file + "' does not fit in memory");
  }
  try {
    return from_json(j);
  } catch (const io_error& e) {
    throw io_error(std::string(e.what()) + " (file '" + file + "')");
  }
}

}  // namespace recblocks::retrieval
