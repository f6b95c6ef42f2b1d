#pragma once
/// \file aspect_graph.hpp
/// LLM4Rerank's aspect graph and its controller (Gao et al., WWW 2025; papers.md §8, Algorithm 1).
///
/// Nodes: aspect nodes (by default accuracy, diversity, fairness; a caller may add its own, e.g.
/// novelty, with a name, a definition text and a focus template) and the functional nodes `backward`
/// and `stop`. Every node may follow every other (fully connected). A *node policy* is asked at each
/// visited node for the reranked candidate list and the next node:
///
///     CN = start (accuracy); Pool = []; NC = 0
///     while CN != stop:
///         if CN == backward: Pool.pop_back()          (then the policy only chooses `next`)
///         (order, next) = policy.decide(CN, case, goal, Pool)
///         if CN != backward: Pool.push_back((CN, order))
///         NC += 1; CN = next
///         if NC >= MC and CN != stop: CN = stop       (max node count bounds every walk)
///     return Pool.back().order   (the input order when the pool is empty)
///
/// On the first step `stop` is not offered (as in the reference code), so a walk always reranks at
/// least once. Orders are permutations of the candidate *positions* `0..n-1` of `rerank_case::candidates`
/// (the input order is the generator's, best first). The controller validates every decision: an order
/// that is not a permutation, or a next node outside the offered options, throws `value_error` naming
/// the node, the step and the value (an LLM policy validates and falls back before that; see
/// `llm_node_policy`).
///
/// Shapes: `n = candidates.size() >= 1`; `subtopics` of every candidate of equal length `m` (diversity,
/// may be empty when unused); `group >= 0` (fairness; -1 = missing).
/// Requires: distinct candidate ids; finite scores; `max_count >= 1`; distinct node names, none of them
/// `backward` or `stop`; the start node is an aspect.
/// Errors: `value_error` naming the block, the field and the value.
/// Thread-safety: `run` is `const`; a policy's own state decides whether one policy may serve threads.
/// Complexity: O(MC) policy calls plus O(MC n) validation.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::rerank {

/// One candidate of a reranking case, as the generator produced it.
struct rerank_item {
  index_t id = 0;                                            ///< item id (what an LLM sees)
  double score = 0.0;                                        ///< the ranking model's score
  std::vector<std::pair<std::string, std::string>> features; ///< text features for prompts (title, genre, year)
  std::vector<double> subtopics;                             ///< diversity attribute, e.g. genre flags [m]
  index_t group = -1;                                        ///< fairness group (-1 = missing)
};

/// One user's reranking problem.
struct rerank_case {
  std::string user;                  ///< the user's profile as text ("age: 24, gender: M, ...")
  std::vector<std::string> history;  ///< recent items as text, most recent last
  std::vector<rerank_item> candidates;
  std::string goal;                  ///< the reranking goal as text ("mainly accuracy, then diversity")
};

/// An aspect node: its name, its definition (shown to an LLM) and the focus sentence of its prompt
/// (`{aspect}` and `{definition}` are replaced; empty = the default skeleton sentence).
struct aspect {
  std::string name;
  std::string definition;
  std::string focus_template;
};

/// One entry of the historical reranking pool.
struct pool_entry {
  std::string node;
  std::vector<index_t> order;  ///< candidate positions, best first
};

/// Options of `aspect_graph`.
struct aspect_graph_options {
  std::vector<aspect> aspects = {
      {"accuracy", "the match between the user and items", ""},
      {"diversity", "more items with different genres at the top of the list", ""},
      {"fairness", "keep the average ranking of the item groups in the candidates similar", ""}};
  std::string start = "accuracy";  ///< first node (an aspect)
  index_t max_count = 3;           ///< MC: node visits (aspects and backward) before a forced stop
};

class aspect_graph;

/// What a node policy sees at one step.
struct node_context {
  const rerank_case& input;
  const aspect_graph& graph;
  const std::string& node;                 ///< the current node (an aspect or "backward")
  const std::vector<pool_entry>& pool;     ///< the pool before this step
  const std::vector<std::string>& options; ///< the next nodes it may choose
  index_t step = 0;                        ///< 0-based node visit count

  /// The current list: the pool's last order, or the input order when the pool is empty.
  std::vector<index_t> current() const;
};

/// A node policy's answer: the reranked order (ignored at `backward`) and the next node.
struct node_decision {
  std::vector<index_t> order;
  std::string next;
};

/// Anything that decides a node: `decide(const node_context&) -> node_decision`.
template <class P>
concept node_policy = requires(P& p, const node_context& c) {
  { p.decide(c) } -> std::convertible_to<node_decision>;
};

/// One walk through the graph.
struct walk_result {
  std::vector<index_t> order;       ///< the final list (candidate positions, best first)
  std::vector<std::string> path;    ///< visited nodes in order (aspects and backward), then "stop"
  std::vector<pool_entry> pool;     ///< the pool at the end
  bool capped = false;              ///< the max node count forced the stop
};

/// The controller; see the file comment.
class aspect_graph {
 public:
  explicit aspect_graph(aspect_graph_options options = {});

  static constexpr std::string_view backward = "backward";
  static constexpr std::string_view stop = "stop";

  const aspect_graph_options& options() const { return options_; }
  /// The aspect named `name`, or nullptr.
  const aspect* find(std::string_view name) const;
  /// Every node name: the aspects in order, then backward and stop.
  const std::vector<std::string>& nodes() const { return nodes_; }

  /// Walks the graph for one case with `policy`.
  template <node_policy Policy>
  walk_result run(Policy& policy, const rerank_case& input) const;

  /// Checks a case (non-empty, distinct ids, finite scores); throws `value_error`.
  static void check_case(const rerank_case& input);
  /// True when `order` is a permutation of `0..n-1`; otherwise `why` says what is wrong.
  static bool is_permutation(const std::vector<index_t>& order, index_t n, std::string* why = nullptr);

 private:
  aspect_graph_options options_;
  std::vector<std::string> nodes_, first_options_;
};

// ---- implementation ------------------------------------------------------------------------------

inline std::vector<index_t> node_context::current() const {
  if (!pool.empty()) return pool.back().order;
  std::vector<index_t> o(input.candidates.size());
  for (std::size_t i = 0; i < o.size(); ++i) o[i] = static_cast<index_t>(i);
  return o;
}

inline aspect_graph::aspect_graph(aspect_graph_options options) : options_(std::move(options)) {
  if (options_.max_count < 1)
    throw value_error("rerank::aspect_graph: max_count = " + std::to_string(options_.max_count) + " must be >= 1");
  if (options_.aspects.empty()) throw value_error("rerank::aspect_graph: aspects is empty");
  for (const auto& a : options_.aspects) {
    if (a.name.empty() || a.name == backward || a.name == stop)
      throw value_error("rerank::aspect_graph: aspect name \"" + a.name + "\" is empty or reserved");
    if (std::count(nodes_.begin(), nodes_.end(), a.name))
      throw value_error("rerank::aspect_graph: aspect name \"" + a.name + "\" appears twice");
    nodes_.push_back(a.name);
  }
  if (!find(options_.start))
    throw value_error("rerank::aspect_graph: start = \"" + options_.start + "\" is not an aspect");
  nodes_.emplace_back(backward);
  first_options_ = nodes_;
  nodes_.emplace_back(stop);
}

inline const aspect* aspect_graph::find(std::string_view name) const {
  for (const auto& a : options_.aspects)
    if (a.name == name) return &a;
  return nullptr;
}

inline void aspect_graph::check_case(const rerank_case& input) {
  if (input.candidates.empty()) throw value_error("rerank::aspect_graph: the case has no candidates");
  std::vector<index_t> ids;
  for (std::size_t i = 0; i < input.candidates.size(); ++i) {
    const auto& c = input.candidates[i];
    if (!std::isfinite(c.score))
      throw value_error("rerank::aspect_graph: candidates[" + std::to_string(i) + "].score is not finite");
    ids.push_back(c.id);
  }
  std::sort(ids.begin(), ids.end());
  if (auto d = std::adjacent_find(ids.begin(), ids.end()); d != ids.end())
    throw value_error("rerank::aspect_graph: candidate id " + std::to_string(*d) + " appears twice");
}

inline bool aspect_graph::is_permutation(const std::vector<index_t>& order, index_t n, std::string* why) {
  auto fail = [&](std::string w) {
    if (why) *why = std::move(w);
    return false;
  };
  if (static_cast<index_t>(order.size()) != n)
    return fail("has " + std::to_string(order.size()) + " positions, expected " + std::to_string(n));
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  for (index_t p : order) {
    if (p < 0 || p >= n) return fail("position " + std::to_string(p) + " is outside [0, " + std::to_string(n) + ")");
    if (seen[static_cast<std::size_t>(p)]++) return fail("position " + std::to_string(p) + " appears twice");
  }
  return true;
}

template <node_policy Policy>
walk_result aspect_graph::run(Policy& policy, const rerank_case& input) const {
  check_case(input);
  const index_t n = static_cast<index_t>(input.candidates.size());
  walk_result out;
  std::string node = options_.start;
  index_t count = 0;
  while (node != stop) {
    out.path.push_back(node);
    const std::vector<std::string>& offered = count == 0 ? first_options_ : nodes_;
    if (node == backward && !out.pool.empty()) out.pool.pop_back();  // the policy then picks only `next`
    const node_context ctx{input, *this, node, out.pool, offered, count};
    node_decision d = policy.decide(ctx);
    if (std::find(offered.begin(), offered.end(), d.next) == offered.end()) {
      std::string list;
      for (const auto& o : offered) list += (list.empty() ? "" : ", ") + o;
      throw value_error("rerank::aspect_graph: at step " + std::to_string(count) + " (node " + node +
                        ") the policy chose next = \"" + d.next + "\", not one of {" + list + "}");
    }
    if (node != backward) {
      std::string why;
      if (!is_permutation(d.order, n, &why))
        throw value_error("rerank::aspect_graph: at step " + std::to_string(count) + " (node " + node +
                          ") the policy's order " + why);
      out.pool.push_back({node, std::move(d.order)});
    }
    ++count;
    node = std::move(d.next);
    if (count >= options_.max_count && node != stop) {
      node = std::string(stop);
      out.capped = true;
    }
  }
  out.path.emplace_back(stop);
  if (out.pool.empty()) {
    out.order.resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) out.order[static_cast<std::size_t>(i)] = i;
  } else {
    out.order = out.pool.back().order;
  }
  return out;
}

}  // namespace recblocks::rerank
