// LLM4Rerank's aspect graph: the controller (pool, backward, stop, max node count), the fixed-path and
// classical scorer policies, and the LLM policy over scripted clients (valid answers, re-asks with the
// corrective message, fallbacks, hostile answers, token accounting).
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <recblocks/llm/scripted_client.hpp>
#include <recblocks/rerank/aspect_graph.hpp>
#include <recblocks/rerank/fixed_path_policy.hpp>
#include <recblocks/rerank/llm_node_policy.hpp>
#include <recblocks/rerank/scorer_node_policy.hpp>

using namespace recblocks;
using namespace recblocks::rerank;
namespace llm = recblocks::llm;

namespace {

/// Six candidates: ids 101..106, scores decreasing, genres {0,0,1,1,2,0}, groups {0,0,0,0,1,1}.
rerank_case six() {
  rerank_case c;
  c.user = "age: 30, gender: F";
  c.history = {"h1", "h2", "h3", "h4", "h5", "h6", "h7"};
  c.goal = "mainly accuracy, then diversity";
  const int genre[] = {0, 0, 1, 1, 2, 0};
  const index_t group[] = {0, 0, 0, 0, 1, 1};
  for (int i = 0; i < 6; ++i) {
    rerank_item it;
    it.id = 101 + i;
    it.score = 1.0 - 0.1 * i;
    it.features = {{"title", "movie " + std::to_string(i)}, {"genre", "g" + std::to_string(genre[i])}};
    it.subtopics = {0.0, 0.0, 0.0};
    it.subtopics[static_cast<std::size_t>(genre[i])] = 1.0;
    it.group = group[i];
    c.candidates.push_back(it);
  }
  return c;
}

/// A policy driven by a function, recording what it saw.
struct fn_policy {
  explicit fn_policy(std::function<node_decision(const node_context&)> f) : fn(std::move(f)) {}
  std::function<node_decision(const node_context&)> fn;
  std::vector<std::vector<std::string>> offered;
  std::vector<std::size_t> pool_sizes;
  node_decision decide(const node_context& c) {
    offered.push_back(c.options);
    pool_sizes.push_back(c.pool.size());
    return fn(c);
  }
};

std::vector<index_t> reversed(const node_context& c) {
  auto o = c.current();
  std::reverse(o.begin(), o.end());
  return o;
}

std::string answer(const std::vector<int>& ids, const std::string& next) {
  std::string s = "{\"ranking\": [";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "], \"next\": \"" + next + "\"}";
}

}  // namespace

TEST_CASE("aspect_graph: Algorithm 1 - start at accuracy, pool, backward pops, stop returns the last list",
          "[rerank][aspect_graph]") {
  const aspect_graph g({.max_count = 5});
  const rerank_case c = six();
  const std::vector<std::string> script = {"diversity", "backward", "fairness", "stop"};
  fn_policy p{[&](const node_context& ctx) {
    return node_decision{ctx.node == "backward" ? std::vector<index_t>{} : reversed(ctx),
                         script[static_cast<std::size_t>(ctx.step)]};
  }};
  const walk_result w = g.run(p, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "diversity", "backward", "fairness", "stop"});
  // accuracy: reversed input; diversity: reversed again (= input); backward pops it; fairness reverses accuracy's.
  REQUIRE(w.pool.size() == 2);
  CHECK(w.pool[0].node == "accuracy");
  CHECK(w.pool[1].node == "fairness");
  CHECK(w.order == std::vector<index_t>{0, 1, 2, 3, 4, 5});
  CHECK_FALSE(w.capped);
  CHECK(p.pool_sizes == std::vector<std::size_t>{0, 1, 1, 1});  // backward sees the popped pool
  // stop is not offered on the first step, every node afterwards
  CHECK(std::count(p.offered[0].begin(), p.offered[0].end(), "stop") == 0);
  CHECK(std::count(p.offered[1].begin(), p.offered[1].end(), "stop") == 1);
  CHECK(g.nodes() == std::vector<std::string>{"accuracy", "diversity", "fairness", "backward", "stop"});
}

TEST_CASE("aspect_graph: the max node count bounds a policy that never stops or always goes backward",
          "[rerank][aspect_graph]") {
  const rerank_case c = six();
  const aspect_graph g({.max_count = 3});
  fn_policy never{[](const node_context& ctx) { return node_decision{reversed(ctx), "diversity"}; }};
  const walk_result a = g.run(never, c);
  CHECK(a.capped);
  CHECK(a.path == std::vector<std::string>{"accuracy", "diversity", "diversity", "stop"});
  fn_policy back{[](const node_context& ctx) {
    return node_decision{ctx.node == "backward" ? std::vector<index_t>{} : reversed(ctx), "backward"};
  }};
  const walk_result b = g.run(back, c);
  CHECK(b.capped);
  CHECK(b.path == std::vector<std::string>{"accuracy", "backward", "backward", "stop"});
  CHECK(b.pool.empty());
  CHECK(b.order == std::vector<index_t>{0, 1, 2, 3, 4, 5});  // empty pool: the input order
}

TEST_CASE("aspect_graph: bad decisions and bad cases throw naming the node, step and value",
          "[rerank][aspect_graph][errors]") {
  const aspect_graph g;
  rerank_case c = six();
  fn_policy unknown{[](const node_context& ctx) { return node_decision{ctx.current(), "novelty"}; }};
  CHECK_THROWS_WITH(g.run(unknown, c), Catch::Contains("next = \"novelty\"") && Catch::Contains("step 0"));
  fn_policy first_stop{[](const node_context& ctx) { return node_decision{ctx.current(), "stop"}; }};
  CHECK_THROWS_WITH(g.run(first_stop, c), Catch::Contains("next = \"stop\""));
  fn_policy dup{[](const node_context&) { return node_decision{{0, 0, 1, 2, 3, 4}, "diversity"}; }};
  CHECK_THROWS_WITH(g.run(dup, c), Catch::Contains("position 0 appears twice"));
  fn_policy short_list{[](const node_context&) { return node_decision{{0, 1}, "diversity"}; }};
  CHECK_THROWS_WITH(g.run(short_list, c), Catch::Contains("has 2 positions, expected 6"));
  fn_policy ok{[](const node_context& ctx) { return node_decision{ctx.current(), "fairness"}; }};
  rerank_case empty = c;
  empty.candidates.clear();
  CHECK_THROWS_WITH(g.run(ok, empty), Catch::Contains("no candidates"));
  rerank_case twice = c;
  twice.candidates[3].id = 101;
  CHECK_THROWS_WITH(g.run(ok, twice), Catch::Contains("candidate id 101 appears twice"));
  rerank_case nan = c;
  nan.candidates[2].score = std::nan("");
  CHECK_THROWS_WITH(g.run(ok, nan), Catch::Contains("candidates[2].score"));
  CHECK_THROWS_WITH(aspect_graph({.max_count = 0}), Catch::Contains("max_count = 0"));
  CHECK_THROWS_WITH(aspect_graph({.aspects = {{"stop", "x", ""}}, .start = "stop"}), Catch::Contains("reserved"));
  CHECK_THROWS_WITH(aspect_graph({.start = "novelty"}), Catch::Contains("start = \"novelty\""));
}

TEST_CASE("scorer_node_policy: each aspect applies the library's reranker; the goal-weighted deficit rule picks the next node",
          "[rerank][aspect_graph][scorer]") {
  const rerank_case c = six();
  const aspect_graph g({.max_count = 4});
  // Only diversity weighted (besides accuracy): A -> D -> stop.
  scorer_node_policy d_only({.goal_weights = {{"accuracy", 1.0}, {"diversity", 1.0}}, .k = 3});
  const walk_result w = g.run(d_only, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "diversity", "stop"});
  // diversity = MMR(0.7) over genre cosine with rank relevance of the accuracy list
  matrix<double> s = matrix<double>::Zero(6, 6);
  const int genre[] = {0, 0, 1, 1, 2, 0};
  for (int a = 0; a < 6; ++a)
    for (int b = 0; b < 6; ++b) s(a, b) = genre[a] == genre[b] ? 1.0 : 0.0;
  const col_vector<double> r = scorer_node_policy::rank_relevance({0, 1, 2, 3, 4, 5});
  CHECK(w.order == mmr(0.7).rerank<double>(r, s, 6));
  CHECK(w.order[1] == 2);  // a new genre climbs above the second genre-0 item
  // Fairness weighted far above diversity: fairness comes first, then diversity.
  scorer_node_policy f_first({.goal_weights = {{"accuracy", 1.0}, {"diversity", 0.1}, {"fairness", 10.0}}, .k = 3});
  const walk_result wf = g.run(f_first, c);
  REQUIRE(wf.path.size() >= 3);
  CHECK(wf.path[1] == "fairness");
  CHECK(scorer_node_policy::fairness_deficit(c, wf.pool[1].order) <= scorer_node_policy::fairness_deficit(c, wf.pool[0].order));
  // No weight beyond accuracy: stop is not offered on the first step, so accuracy runs again, then stop.
  scorer_node_policy a_only({.goal_weights = {{"accuracy", 1.0}}});
  const walk_result wa = g.run(a_only, c);
  CHECK(wa.path == std::vector<std::string>{"accuracy", "accuracy", "stop"});
  CHECK(wa.order == scorer_node_policy::by_score(c));
  // deficits
  CHECK(scorer_node_policy::accuracy_deficit(c, {0, 1, 2, 3, 4, 5}, 3) == Approx(0.0));
  CHECK(scorer_node_policy::accuracy_deficit(c, {5, 4, 3, 2, 1, 0}, 3) > 0.5);
  // rank scores 1, .8, .6, .4 (group 0) and .2, 0 (group 1): |0.7 - 0.1|
  CHECK(scorer_node_policy::fairness_deficit(c, {0, 1, 2, 3, 4, 5}) == Approx(0.6));
}

TEST_CASE("scorer_node_policy: DPP diversity, a caller's own aspect, missing attributes", "[rerank][aspect_graph][scorer]") {
  rerank_case c = six();
  aspect_graph_options go;
  go.aspects.push_back({"novelty", "items the user is less likely to know", ""});
  go.max_count = 5;
  const aspect_graph g(go);
  scorer_node_policy p({.goal_weights = {{"accuracy", 1.0}, {"novelty", 1.0}}, .diversity = diversity_method::dpp});
  p.add_aspect(
      "novelty", [](const node_context& ctx) { auto o = ctx.current(); std::reverse(o.begin(), o.end()); return o; },
      [](const rerank_case&, const std::vector<index_t>& l) { return l.front() == 0 ? 1.0 : 0.0; });
  const walk_result w = g.run(p, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "novelty", "stop"});
  CHECK(w.order.front() == 5);
  // DPP through the diversity node
  scorer_node_policy dpp_p({.goal_weights = {{"accuracy", 1.0}, {"diversity", 1.0}}, .k = 3, .diversity = diversity_method::dpp});
  const walk_result wd = aspect_graph().run(dpp_p, c);
  CHECK(wd.path[1] == "diversity");
  CHECK(scorer_node_policy::diversity_deficit(c, wd.order, 3) < scorer_node_policy::diversity_deficit(c, wd.pool[0].order, 3));
  // missing attributes
  rerank_case no_genre = c;
  no_genre.candidates[4].subtopics.clear();
  scorer_node_policy both;
  CHECK_THROWS_WITH(aspect_graph().run(both, no_genre), Catch::Contains("candidates[4] (id 105) has 0 subtopics"));
  rerank_case no_group = c;
  no_group.candidates[1].group = -1;
  CHECK_THROWS_WITH(scorer_node_policy::fairness_deficit(no_group, {0, 1, 2, 3, 4, 5}),
                    Catch::Contains("candidates[1] (id 102) has group = -1"));
  CHECK_THROWS_WITH(scorer_node_policy({.goal_weights = {{"diversity", -1.0}}}), Catch::Contains("goal_weights[diversity]"));
  CHECK_THROWS_WITH(p.add_aspect("stop", nullptr, nullptr), Catch::Contains("reserved"));
}

TEST_CASE("fixed_path_policy: GoT walks accuracy -> diversity -> fairness -> stop whatever the inner policy says",
          "[rerank][aspect_graph][fixed_path]") {
  const rerank_case c = six();
  scorer_node_policy inner({.goal_weights = {{"accuracy", 1.0}}});  // would stop at once
  fixed_path_policy<scorer_node_policy&> got(inner, {"accuracy", "diversity", "fairness", "stop"});
  const walk_result w = aspect_graph().run(got, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "diversity", "fairness", "stop"});
  CHECK(w.pool.size() == 3);
  CHECK_THROWS_WITH((fixed_path_policy<scorer_node_policy&>(inner, {"accuracy"})), Catch::Contains("end with \"stop\""));
  CHECK_THROWS_WITH((fixed_path_policy<scorer_node_policy&>(inner, {"accuracy", "backward", "stop"})),
                    Catch::Contains("path[1] = \"backward\""));
  fixed_path_policy<scorer_node_policy&> wrong_start(inner, {"diversity", "stop"});
  CHECK_THROWS_WITH(aspect_graph().run(wrong_start, c), Catch::Contains("not path[0]"));
}

TEST_CASE("llm_node_policy: prompt skeleton, tight schema, valid answers walk the graph", "[rerank][aspect_graph][llm]") {
  const rerank_case c = six();
  const aspect_graph g({.max_count = 4});
  llm::scripted_client model;
  model.then_answer(answer({102, 101, 103, 104, 105, 106}, "diversity"))
      .then_answer("Sure! " + answer({103, 102, 101, 104, 105, 106}, "Stop") + " done");
  llm_node_policy policy(model, {.history_max = 5});
  const walk_result w = g.run(policy, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "diversity", "stop"});
  CHECK(w.order == std::vector<index_t>{2, 1, 0, 3, 4, 5});
  CHECK(policy.stats().decisions == 2);
  CHECK(policy.stats().first_valid == 2);
  CHECK(policy.stats().retries == 0);
  CHECK(policy.stats().fallbacks == 0);
  CHECK(policy.stats().prompt_tokens > 200);
  CHECK(policy.stats().completion_tokens > 10);
  const auto reqs = model.requests();
  REQUIRE(reqs.size() == 2);
  const std::string& p0 = reqs[0].messages[0].content;
  CHECK_THAT(p0, Catch::Contains("basic information is: {age: 30, gender: F}"));
  CHECK_THAT(p0, Catch::Contains("[h3]") && !Catch::Contains("[h2]"));  // the 5 most recent
  CHECK_THAT(p0, Catch::Contains("[item_id: 104, title: movie 3, genre: g1, score: 0.700]"));
  CHECK_THAT(p0, Catch::Contains("No historical operations yet."));
  CHECK_THAT(p0, Catch::Contains("focus on the accuracy aspect (the match between the user and items)"));
  CHECK_THAT(p0, Catch::Contains("{mainly accuracy, then diversity}"));
  CHECK_THAT(p0, Catch::Contains("{accuracy, diversity, fairness, backward}"));
  const std::string& p1 = reqs[1].messages[0].content;
  CHECK_THAT(p1, Catch::Contains("Focus: accuracy. Reranking Result: [102, 101, 103, 104, 105, 106]"));
  CHECK_THAT(p1, Catch::Contains("{accuracy, diversity, fairness, backward, stop}"));
  // the schema: exactly n candidate ids and an offered next node
  const auto& s = reqs[0].options.format.schema;
  CHECK(s["properties"]["ranking"]["minItems"] == 6);
  CHECK(s["properties"]["ranking"]["maxItems"] == 6);
  CHECK(s["properties"]["ranking"]["items"]["enum"].size() == 6);
  CHECK(s["properties"]["next"]["enum"].size() == 4);
  CHECK(reqs[0].options.temperature == 0.0);
}

TEST_CASE("llm_node_policy: invalid answers are re-asked with the corrective message, then fall back (counted)",
          "[rerank][aspect_graph][llm][errors]") {
  const rerank_case c = six();
  const aspect_graph g({.max_count = 3});
  llm::scripted_client model;
  model.then_answer(answer({101, 101, 103, 104, 105, 106}, "fairness"))  // duplicate
      .then_answer(answer({999, 102, 103, 104, 105, 106}, "fairness"))  // unknown id
      .then_answer(answer({106, 105, 104, 103, 102, 101}, "fairness"))  // valid on the 3rd attempt
      .then_answer(answer({101, 102, 103}, "stop"))                     // too short
      .then_garbage()                                                    // no JSON
      .then_answer(answer({101, 102, 103, 104, 105, 106}, "novelty"));  // unknown node -> fallback
  llm_node_policy policy(model, {.max_attempts = 3});
  const walk_result w = g.run(policy, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "fairness", "stop"});
  CHECK(w.order == std::vector<index_t>{5, 4, 3, 2, 1, 0});  // fallback keeps the current list
  const auto& st = policy.stats();
  CHECK(st.decisions == 2);
  CHECK(st.requests == 6);
  CHECK(st.first_valid == 0);
  CHECK(st.retries == 4);
  CHECK(st.fallbacks == 1);
  CHECK(st.failures.at("duplicate_id") == 1);
  CHECK(st.failures.at("unknown_id") == 1);
  CHECK(st.failures.at("missing_id") == 1);
  CHECK(st.failures.at("no_json") == 1);
  CHECK(st.failures.at("bad_next") == 1);
  const auto reqs = model.requests();
  REQUIRE(reqs[1].messages.size() == 3);
  CHECK(reqs[1].messages[1].role == llm::role::assistant);
  CHECK_THAT(reqs[1].messages[2].content, Catch::Contains("Reranking id '101' appears more than once"));
  CHECK_THAT(reqs[2].messages[4].content,
             Catch::Contains("Reranking id '999' in your reply does not appear in the candidates provided. You should "
                             "make sure that your reranking list is a reorder of the original candidate ids"));
  CHECK_THAT(reqs[4].messages[2].content, Catch::Contains("Candidate id '104' is missing"));
}

TEST_CASE("llm_node_policy: an LLM that always says backward, never stops, or fails at the first node is bounded",
          "[rerank][aspect_graph][llm][errors]") {
  const rerank_case c = six();
  const aspect_graph g({.max_count = 4});
  llm::scripted_client always_back;
  always_back.otherwise([](const llm::chat_request& r) {
    const bool back = r.messages[0].content.find("has just been deleted") != std::string::npos;
    return llm::scripted_client::make_response(
        r, back ? std::string("{\"next\": \"backward\"}") : answer({106, 105, 104, 103, 102, 101}, "backward"));
  });
  llm_node_policy pb(always_back);
  const walk_result b = g.run(pb, c);
  CHECK(b.capped);
  CHECK(b.path == std::vector<std::string>{"accuracy", "backward", "backward", "backward", "stop"});
  CHECK(b.order == std::vector<index_t>{0, 1, 2, 3, 4, 5});
  CHECK(always_back.requests()[1].options.format.schema["properties"].size() == 1);  // backward: next only
  llm::scripted_client never_stop;
  never_stop.otherwise(
      [](const llm::chat_request& r) { return llm::scripted_client::make_response(r, answer({101, 102, 103, 104, 105, 106}, "diversity")); });
  llm_node_policy pn(never_stop);
  const walk_result n = g.run(pn, c);
  CHECK(n.capped);
  CHECK(n.path.size() == 5);
  llm::scripted_client garbage;
  garbage.otherwise([](const llm::chat_request& r) { return llm::scripted_client::make_response(r, "I like movies."); });
  llm_node_policy pg(garbage, {.max_attempts = 2});
  const walk_result gw = g.run(pg, c);
  // first step: stop is not offered, so the fallback stays on accuracy; second step: stop
  CHECK(gw.path == std::vector<std::string>{"accuracy", "accuracy", "stop"});
  CHECK(gw.order == std::vector<index_t>{0, 1, 2, 3, 4, 5});
  CHECK(pg.stats().fallbacks == 2);
  CHECK(pg.stats().requests == 4);
  CHECK(pg.stats().failures.at("no_json") == 4);
  // transport errors are not fallbacks
  llm::scripted_client down;
  down.then_fail(llm::llm_error(llm::llm_error_kind::connection, "refused"));
  llm_node_policy pd(down);
  CHECK_THROWS_AS(g.run(pd, c), llm::llm_error);
  CHECK_THROWS_WITH(llm_node_policy(down, {.max_attempts = 0}), Catch::Contains("max_attempts = 0"));
}

TEST_CASE("llm_node_policy: the repair option keeps first occurrences, appends the missing ids, and counts it",
          "[rerank][aspect_graph][llm]") {
  const rerank_case c = six();
  const aspect_graph g({.max_count = 3});
  llm::scripted_client model;
  model.then_answer(answer({104, 104, 101, 104, 101, 101}, "fairness"))  // repaired: 104, 101, then 102 103 105 106
      .then_answer(answer({106, 105, 104, 103, 102, 101}, "stop"))      // valid
      ;
  llm_node_policy policy(model, {.repair = true});
  const walk_result w = g.run(policy, c);
  CHECK(w.path == std::vector<std::string>{"accuracy", "fairness", "stop"});
  REQUIRE(w.pool.size() == 2);
  CHECK(w.pool[0].order == std::vector<index_t>{3, 0, 1, 2, 4, 5});
  CHECK(w.order == std::vector<index_t>{5, 4, 3, 2, 1, 0});
  CHECK(policy.stats().repaired == 1);
  CHECK(policy.stats().first_valid == 1);
  CHECK(policy.stats().retries == 0);
  CHECK(policy.stats().failures.at("duplicate_id") == 1);
  // an unknown next node is not repaired: it is re-asked, then falls back
  llm::scripted_client bad_next;
  bad_next.otherwise([](const llm::chat_request& r) {
    return llm::scripted_client::make_response(r, answer({101, 101, 101, 101, 101, 101}, "novelty"));
  });
  llm_node_policy pb(bad_next, {.max_attempts = 2, .repair = true});
  const walk_result wb = aspect_graph({.max_count = 2}).run(pb, c);
  CHECK(pb.stats().repaired == 0);
  CHECK(pb.stats().fallbacks == 2);
  CHECK(wb.order == std::vector<index_t>{0, 1, 2, 3, 4, 5});
}
