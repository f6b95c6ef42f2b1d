#pragma once
/// \file shipped_tools.hpp
/// `shipped_tools`: the tools issue 20 ships, as factories returning `tool`s that work on the
/// agent's working state (`agent_context`):
///
/// | tool | arguments | does |
/// |---|---|---|
/// | `search_catalogue` | `{"query": string}` | candidates = the best `pool` items of `catalogue_search` for the query (scores: cosine) |
/// | `score_for_user` | `{}` | scores the candidates for the user with a trained CTR model (any `score_fn`, e.g. a registry model or GMF) and sorts them, best first |
/// | `rerank_diverse` | `{"method": "mmr" or "dpp"}` | reorders the candidates for diversity: MMR (lambda) or DPP (theta) over their scores (min-max normalised) and the cosine similarity of item vectors |
/// | `lookup_item` | `{"title": string}` | finds an item by title (any resolver); found items go to the front of the candidates |
///
/// Requires: `pool >= 1`; set callables; item vectors with one row per item id the tools can see.
/// Errors: the tools throw `value_error` for ids outside the vectors (the toolbox reports it as a
/// failed call). Thread-safety: as the callables.

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/tensor.hpp"
#include "../rerank/dpp.hpp"
#include "../rerank/mmr.hpp"
#include "tool.hpp"

namespace recblocks::agents {

/// Factories of the shipped tools; see the file comment.
struct shipped_tools {
  /// Scores of `items` for `user`, one per item (higher is better).
  using score_fn = std::function<std::vector<double>(const std::string& user, std::span<const index_t> items)>;

  /// `search_catalogue` over any searcher `(query, n) -> [(id, similarity)]` (e.g. `catalogue_search`).
  template <class Searcher>
  static tool search(const Searcher& searcher, index_t pool = 20) {
    if (pool < 1) throw value_error("[agents::shipped_tools] search pool must be >= 1");
    return tool("search_catalogue", "find items matching a text query",
                {{"type", "object"},
                 {"properties", {{"query", {{"type", "string"}, {"minLength", 1}, {"maxLength", 100}}}}},
                 {"required", {"query"}},
                 {"additionalProperties", false}},
                [&searcher, pool](const nlohmann::json& a, agent_context& ctx) {
                  ctx.candidates.clear();
                  ctx.scores.clear();
                  for (const auto& [id, sim] : searcher.search(a.at("query").get<std::string>(), pool)) {
                    ctx.candidates.push_back(id);
                    ctx.scores.push_back(sim);
                  }
                  return nlohmann::json{{"items", ctx.candidates}};
                });
  }

  /// `score_for_user` with a CTR model's scores.
  static tool score(score_fn fn) {
    if (!fn) throw value_error("[agents::shipped_tools] score needs a score function");
    return tool("score_for_user", "rank the current candidates by how much this user will like them",
                {{"type", "object"}, {"properties", nlohmann::json::object()}, {"additionalProperties", false}},
                [fn](const nlohmann::json&, agent_context& ctx) {
                  if (ctx.candidates.empty()) throw value_error("score_for_user: there are no candidates yet (search first)");
                  const std::vector<double> s = fn(ctx.user, ctx.candidates);
                  if (s.size() != ctx.candidates.size())
                    throw value_error("score_for_user: the model returned " + std::to_string(s.size()) + " scores for " +
                                      std::to_string(ctx.candidates.size()) + " items");
                  std::vector<std::size_t> order(s.size());
                  std::iota(order.begin(), order.end(), std::size_t{0});
                  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
                  std::vector<index_t> c;
                  std::vector<double> sc;
                  for (std::size_t p : order) {
                    c.push_back(ctx.candidates[p]);
                    sc.push_back(s[p]);
                  }
                  ctx.candidates = std::move(c);
                  ctx.scores = std::move(sc);
                  return nlohmann::json{{"items", ctx.candidates}};
                });
  }

  /// `rerank_diverse`: MMR (`lambda`) or DPP (`theta`) over the candidates' item vectors.
  static tool diversify(const matrix<float>& item_vectors, double lambda = 0.7, double theta = 0.7) {
    const ::recblocks::rerank::mmr mmr(lambda);
    if (!(theta >= 0 && theta < 1)) throw value_error("[agents::shipped_tools] dpp theta must be in [0, 1)");
    return tool("rerank_diverse", "reorder the current candidates so that the top ones differ from each other",
                {{"type", "object"},
                 {"properties", {{"method", {{"enum", {"mmr", "dpp"}}}}}},
                 {"required", {"method"}},
                 {"additionalProperties", false}},
                [&item_vectors, mmr, theta](const nlohmann::json& a, agent_context& ctx) {
                  const auto n = static_cast<index_t>(ctx.candidates.size());
                  if (n == 0) throw value_error("rerank_diverse: there are no candidates yet (search first)");
                  col_vector<double> rel(n);
                  for (index_t i = 0; i < n; ++i) {
                    const index_t id = ctx.candidates[static_cast<std::size_t>(i)];
                    if (id < 0 || id >= item_vectors.rows())
                      throw value_error("rerank_diverse: item " + std::to_string(id) + " has no vector");
                    rel(i) = ctx.scores.size() == ctx.candidates.size() ? ctx.scores[static_cast<std::size_t>(i)]
                                                                        : 1.0 - static_cast<double>(i) / static_cast<double>(n);
                  }
                  const double lo = rel.minCoeff(), hi = rel.maxCoeff();
                  if (hi > lo) rel = ((rel.array() - lo) / (hi - lo)).matrix();
                  else rel.setOnes();
                  matrix<double> sim(n, n);
                  for (index_t x = 0; x < n; ++x)
                    for (index_t y = 0; y < n; ++y)
                      sim(x, y) = item_vectors.row(ctx.candidates[static_cast<std::size_t>(x)])
                                      .cast<double>()
                                      .dot(item_vectors.row(ctx.candidates[static_cast<std::size_t>(y)]).cast<double>());
                  const std::vector<index_t> order =
                      a.at("method").get<std::string>() == "mmr"
                          ? mmr.rerank<double>(rel, sim, n)
                          : ::recblocks::rerank::dpp().rerank<double>(::recblocks::rerank::dpp::kernel<double>(rel, sim, theta), n);
                  std::vector<index_t> c;
                  std::vector<double> sc;
                  for (index_t p : order) {
                    c.push_back(ctx.candidates[static_cast<std::size_t>(p)]);
                    if (ctx.scores.size() == static_cast<std::size_t>(n)) sc.push_back(ctx.scores[static_cast<std::size_t>(p)]);
                  }
                  // partial lists (DPP may stop early): the rest keep their order
                  for (index_t i = 0; i < n; ++i)
                    if (std::find(order.begin(), order.end(), i) == order.end()) {
                      c.push_back(ctx.candidates[static_cast<std::size_t>(i)]);
                      if (ctx.scores.size() == static_cast<std::size_t>(n)) sc.push_back(ctx.scores[static_cast<std::size_t>(i)]);
                    }
                  ctx.candidates = std::move(c);
                  ctx.scores = std::move(sc);
                  return nlohmann::json{{"items", ctx.candidates}};
                });
  }

  /// `lookup_item`: a title resolver and a describer.
  static tool lookup(std::function<std::optional<index_t>(const std::string&)> resolve,
                     std::function<std::string(index_t)> describe) {
    if (!resolve || !describe) throw value_error("[agents::shipped_tools] lookup needs a resolver and a describer");
    return tool("lookup_item", "look up one item by its title",
                {{"type", "object"},
                 {"properties", {{"title", {{"type", "string"}, {"minLength", 1}, {"maxLength", 100}}}}},
                 {"required", {"title"}},
                 {"additionalProperties", false}},
                [resolve, describe](const nlohmann::json& a, agent_context& ctx) {
                  const auto id = resolve(a.at("title").get<std::string>());
                  if (!id) return nlohmann::json{{"found", false}};
                  auto it = std::find(ctx.candidates.begin(), ctx.candidates.end(), *id);
                  if (it != ctx.candidates.end()) {
                    const auto p = static_cast<std::size_t>(it - ctx.candidates.begin());
                    ctx.candidates.erase(it);
                    if (p < ctx.scores.size()) ctx.scores.erase(ctx.scores.begin() + static_cast<std::ptrdiff_t>(p));
                  }
                  ctx.candidates.insert(ctx.candidates.begin(), *id);
                  if (!ctx.scores.empty()) ctx.scores.insert(ctx.scores.begin(), ctx.scores.front());
                  return nlohmann::json{{"found", true}, {"item", *id}, {"details", describe(*id)}};
                });
  }
};

}  // namespace recblocks::agents
