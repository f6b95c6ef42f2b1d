#pragma once
/// \file scorer_node_policy.hpp
/// The classical node policy of the aspect graph: each aspect node applies the library's own reranker
/// for that aspect, and the next node is chosen by a goal-weighted deficit rule. It runs the graph
/// fast and offline, and is the baseline that measures what an LLM policy adds.
///
/// Rerankers (relevance `r_i = 1 - p_i / (n - 1)` from the current list's positions `p_i`, so a node
/// refines the list it is given; `r = 1` when `n = 1`):
/// - accuracy: the generator's score order (ties: lower position);
/// - diversity: MMR(`mmr_lambda`) over the subtopic cosine similarity (`diversity = mmr`), or greedy
///   DPP with the kernel `Diag(exp(a r)) S Diag(exp(a r))`, `theta = dpp_theta` (`diversity = dpp`);
/// - fairness: fair exposure over the candidates' groups (tolerance `fair_tolerance`); unchanged when
///   only one group is present;
/// - a caller's aspect: the function given to `add_aspect`.
///
/// Next-node rule: with goal weights `w_a` (`goal_weights`), the deficits of the current list
///
///     deficit(accuracy)  = 1 - DCG@k(scores in list order) / DCG@k(scores in score order)
///     deficit(diversity) = 1 - alpha-NDCG@k(list, subtopics, alpha = 0.5)
///     deficit(fairness)  = MAD(list, groups)   (0 with fewer than two groups)
///     deficit(a)         = the caller's function, for a caller's aspect
///
/// the next node is the aspect not yet in the pool with the largest `w_a deficit(a)`, or `stop` when
/// that is at most `threshold` (or every weighted aspect is in the pool).
///
/// Requires: diversity needs every candidate's `subtopics` of one length `m >= 1`; fairness needs every
/// `group >= 0`. Missing attributes throw `value_error` naming the candidate and the field.
/// Thread-safety: `decide` is `const`-like (no mutable state); one policy may serve many threads.
/// Complexity per node: O(k n) (MMR), O(k^2 n) (DPP), fair exposure as documented there.

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "aspect_graph.hpp"
#include "dpp.hpp"
#include "fair_exposure.hpp"
#include "metrics/alpha_ndcg.hpp"
#include "metrics/group_fairness.hpp"
#include "mmr.hpp"

namespace recblocks::rerank {

/// Which classical diversity reranker the diversity node runs.
enum class diversity_method { mmr, dpp };

/// Options of `scorer_node_policy`.
struct scorer_node_policy_options {
  std::map<std::string, double> goal_weights = {{"accuracy", 1.0}, {"diversity", 1.0}, {"fairness", 1.0}};
  double threshold = 0.0;                          ///< stop when the best weighted deficit is at most this
  index_t k = 10;                                  ///< cut-off of the accuracy and diversity deficits
  diversity_method diversity = diversity_method::mmr;
  double mmr_lambda = 0.7;
  double dpp_theta = 0.7;
  double fair_tolerance = 0.02;
};

/// Classical aspect rerankers plus a goal-weighted next-node rule; see the file comment.
class scorer_node_policy {
 public:
  /// A reranker: the context in, a permutation of the candidate positions out.
  using reranker = std::function<std::vector<index_t>(const node_context&)>;
  /// A deficit of a list (candidate positions) for the next-node rule; larger = more needed.
  using deficit = std::function<double(const rerank_case&, const std::vector<index_t>&)>;

  explicit scorer_node_policy(scorer_node_policy_options options = {});

  /// Registers (or replaces) the reranker and the deficit of an aspect node.
  scorer_node_policy& add_aspect(const std::string& name, reranker rerank, deficit need);

  node_decision decide(const node_context& ctx) const;

  /// The reranked order of `ctx.node` (no next-node choice).
  std::vector<index_t> rerank(const node_context& ctx) const;
  /// The next node for the current list of `ctx` under the rule.
  std::string next(const node_context& ctx, const std::vector<index_t>& list) const;

  const scorer_node_policy_options& options() const { return options_; }

  // The built-in rerankers and deficits (usable on their own).
  static std::vector<index_t> by_score(const rerank_case& c);
  static col_vector<double> rank_relevance(const std::vector<index_t>& list);
  static matrix<double> subtopics(const rerank_case& c);
  static std::vector<index_t> groups(const rerank_case& c);
  static double accuracy_deficit(const rerank_case& c, const std::vector<index_t>& list, index_t k);
  static double diversity_deficit(const rerank_case& c, const std::vector<index_t>& list, index_t k);
  static double fairness_deficit(const rerank_case& c, const std::vector<index_t>& list);

 private:
  scorer_node_policy_options options_;
  std::map<std::string, std::pair<reranker, deficit>> aspects_;
};

// ---- implementation ------------------------------------------------------------------------------

inline std::vector<index_t> scorer_node_policy::by_score(const rerank_case& c) {
  std::vector<index_t> o(c.candidates.size());
  for (std::size_t i = 0; i < o.size(); ++i) o[i] = static_cast<index_t>(i);
  std::stable_sort(o.begin(), o.end(), [&](index_t a, index_t b) {
    return c.candidates[static_cast<std::size_t>(a)].score > c.candidates[static_cast<std::size_t>(b)].score;
  });
  return o;
}

inline col_vector<double> scorer_node_policy::rank_relevance(const std::vector<index_t>& list) {
  const auto n = static_cast<index_t>(list.size());
  col_vector<double> r(n);
  for (index_t p = 0; p < n; ++p)
    r(list[static_cast<std::size_t>(p)]) = n == 1 ? 1.0 : 1.0 - static_cast<double>(p) / static_cast<double>(n - 1);
  return r;
}

inline matrix<double> scorer_node_policy::subtopics(const rerank_case& c) {
  const auto n = static_cast<index_t>(c.candidates.size());
  const auto m = static_cast<index_t>(c.candidates.front().subtopics.size());
  for (index_t i = 0; i < n; ++i) {
    const auto& s = c.candidates[static_cast<std::size_t>(i)].subtopics;
    if (s.empty() || static_cast<index_t>(s.size()) != m)
      throw value_error("rerank::scorer_node_policy: candidates[" + std::to_string(i) + "] (id " +
                        std::to_string(c.candidates[static_cast<std::size_t>(i)].id) + ") has " +
                        std::to_string(s.size()) + " subtopics, expected " + std::to_string(m) +
                        (m == 0 ? " >= 1 (diversity needs them)" : ""));
  }
  matrix<double> j(n, m);
  for (index_t i = 0; i < n; ++i)
    for (index_t t = 0; t < m; ++t) j(i, t) = c.candidates[static_cast<std::size_t>(i)].subtopics[static_cast<std::size_t>(t)];
  return j;
}

inline std::vector<index_t> scorer_node_policy::groups(const rerank_case& c) {
  std::vector<index_t> g;
  for (std::size_t i = 0; i < c.candidates.size(); ++i) {
    if (c.candidates[i].group < 0)
      throw value_error("rerank::scorer_node_policy: candidates[" + std::to_string(i) + "] (id " +
                        std::to_string(c.candidates[i].id) + ") has group = " + std::to_string(c.candidates[i].group) +
                        " (fairness needs a group >= 0)");
    g.push_back(c.candidates[i].group);
  }
  return g;
}

inline double scorer_node_policy::accuracy_deficit(const rerank_case& c, const std::vector<index_t>& list, index_t k) {
  const std::vector<index_t> ideal = by_score(c);
  const double lo = c.candidates[static_cast<std::size_t>(ideal.back())].score;
  double dcg = 0, idcg = 0;
  const index_t kk = std::min<index_t>(k, static_cast<index_t>(list.size()));
  for (index_t p = 0; p < kk; ++p) {
    const double disc = 1.0 / std::log2(static_cast<double>(p) + 2.0);
    dcg += (c.candidates[static_cast<std::size_t>(list[static_cast<std::size_t>(p)])].score - lo) * disc;
    idcg += (c.candidates[static_cast<std::size_t>(ideal[static_cast<std::size_t>(p)])].score - lo) * disc;
  }
  return idcg > 0 ? 1.0 - dcg / idcg : 0.0;
}

inline double scorer_node_policy::diversity_deficit(const rerank_case& c, const std::vector<index_t>& list, index_t k) {
  const matrix<double> j = subtopics(c);
  return 1.0 - alpha_ndcg<double>(list, j, std::min<index_t>(k, static_cast<index_t>(list.size())), 0.5);
}

inline double scorer_node_policy::fairness_deficit(const rerank_case& c, const std::vector<index_t>& list) {
  const std::vector<index_t> g = groups(c);
  const index_t num = 1 + *std::max_element(g.begin(), g.end());
  std::vector<char> present(static_cast<std::size_t>(num), 0);
  for (index_t x : g) present[static_cast<std::size_t>(x)] = 1;
  if (std::count(present.begin(), present.end(), 1) < 2 || std::count(present.begin(), present.end(), 0) > 0) {
    if (std::count(present.begin(), present.end(), 1) < 2) return 0.0;
    // renumber the present groups so every group occurs
    std::vector<index_t> id(static_cast<std::size_t>(num), -1);
    index_t next = 0;
    for (index_t x = 0; x < num; ++x)
      if (present[static_cast<std::size_t>(x)]) id[static_cast<std::size_t>(x)] = next++;
    std::vector<index_t> g2;
    for (index_t x : g) g2.push_back(id[static_cast<std::size_t>(x)]);
    return group_fairness(list, g2, next);
  }
  return group_fairness(list, g, num);
}

inline scorer_node_policy::scorer_node_policy(scorer_node_policy_options options) : options_(std::move(options)) {
  if (options_.k < 1) throw value_error("rerank::scorer_node_policy: k = " + std::to_string(options_.k) + " must be >= 1");
  if (!(options_.threshold >= 0.0))
    throw value_error("rerank::scorer_node_policy: threshold = " + std::to_string(options_.threshold) + " must be >= 0");
  for (const auto& [name, w] : options_.goal_weights)
    if (!(w >= 0.0 && std::isfinite(w)))
      throw value_error("rerank::scorer_node_policy: goal_weights[" + name + "] = " + std::to_string(w) + " must be >= 0");
  const index_t k = options_.k;
  aspects_["accuracy"] = {[](const node_context& c) { return by_score(c.input); },
                          [k](const rerank_case& c, const std::vector<index_t>& l) { return accuracy_deficit(c, l, k); }};
  const auto method = options_.diversity;
  const double lambda = options_.mmr_lambda, theta = options_.dpp_theta;
  const mmr m(lambda);  // validates lambda
  (void)m;
  if (!(theta >= 0.0 && theta < 1.0))
    throw value_error("rerank::scorer_node_policy: dpp_theta = " + std::to_string(theta) + " must be in [0, 1)");
  aspects_["diversity"] = {
      [method, lambda, theta](const node_context& c) {
        const matrix<double> j = subtopics(c.input);
        const auto n = j.rows();
        const col_vector<double> r = rank_relevance(c.current());
        matrix<double> s(n, n);
        for (index_t a = 0; a < n; ++a)
          for (index_t b = 0; b < n; ++b) {
            const double na = j.row(a).norm(), nb = j.row(b).norm();
            s(a, b) = na > 0 && nb > 0 ? j.row(a).dot(j.row(b)) / (na * nb) : (a == b ? 1.0 : 0.0);
          }
        if (method == diversity_method::mmr) return mmr(lambda).rerank<double>(r, s, n);
        return dpp().rerank<double>(dpp::kernel<double>(r, s, theta), n);
      },
      [k](const rerank_case& c, const std::vector<index_t>& l) { return diversity_deficit(c, l, k); }};
  const double tol = options_.fair_tolerance;
  const fair_exposure fe_check({tol, {}, 4096});  // validates the tolerance
  (void)fe_check;
  aspects_["fairness"] = {
      [tol](const node_context& c) {
        const std::vector<index_t> g = groups(c.input);
        const std::vector<index_t> cur = c.current();
        if (std::adjacent_find(g.begin(), g.end(), std::not_equal_to<>()) == g.end()) return cur;  // one group
        const col_vector<double> r = rank_relevance(cur);
        return fair_exposure({tol, {}, 4096}).rerank<double>(r, g, static_cast<index_t>(g.size()));
      },
      [](const rerank_case& c, const std::vector<index_t>& l) { return fairness_deficit(c, l); }};
}

inline scorer_node_policy& scorer_node_policy::add_aspect(const std::string& name, reranker rerank, deficit need) {
  if (name.empty() || name == aspect_graph::backward || name == aspect_graph::stop)
    throw value_error("rerank::scorer_node_policy: aspect name \"" + name + "\" is empty or reserved");
  if (!rerank || !need) throw value_error("rerank::scorer_node_policy: aspect \"" + name + "\" needs a reranker and a deficit");
  aspects_[name] = {std::move(rerank), std::move(need)};
  return *this;
}

inline std::vector<index_t> scorer_node_policy::rerank(const node_context& ctx) const {
  const auto it = aspects_.find(ctx.node);
  if (it == aspects_.end())
    throw value_error("rerank::scorer_node_policy: no reranker for node \"" + ctx.node + "\" (add_aspect)");
  return it->second.first(ctx);
}

inline std::string scorer_node_policy::next(const node_context& ctx, const std::vector<index_t>& list) const {
  std::string best(aspect_graph::stop);
  double best_value = options_.threshold;
  for (const auto& name : ctx.options) {
    if (name == aspect_graph::backward || name == aspect_graph::stop) continue;
    const auto w = options_.goal_weights.find(name);
    if (w == options_.goal_weights.end() || w->second <= 0.0) continue;
    if (name == ctx.node) continue;
    if (std::any_of(ctx.pool.begin(), ctx.pool.end(), [&](const pool_entry& e) { return e.node == name; })) continue;
    const auto it = aspects_.find(name);
    if (it == aspects_.end()) continue;
    const double v = w->second * it->second.second(ctx.input, list);
    if (v > best_value) {
      best_value = v;
      best = name;
    }
  }
  if (best == aspect_graph::stop &&
      std::find(ctx.options.begin(), ctx.options.end(), std::string(aspect_graph::stop)) == ctx.options.end())
    best = ctx.node;  // stop is not offered on the first step: stay on the current aspect
  return best;
}

inline node_decision scorer_node_policy::decide(const node_context& ctx) const {
  if (ctx.node == aspect_graph::backward) return {{}, next(ctx, ctx.current())};
  std::vector<index_t> order = rerank(ctx);
  std::string nx = next(ctx, order);
  return {std::move(order), std::move(nx)};
}

}  // namespace recblocks::rerank
