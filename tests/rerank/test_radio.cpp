// RADIO's blocks (rerank/rationale_prompt.hpp, rationale_scorer.hpp, score_fusion.hpp,
// shift_sampler.hpp): the prompt and its validation through a scripted client, min-max fusion with
// one-document / all-equal / missing-document lists, and the three samplers.
#include <catch2/catch.hpp>

#include <recblocks/llm/request_hash.hpp>
#include <recblocks/llm/scripted_client.hpp>
#include <recblocks/rerank/rationale_prompt.hpp>
#include <recblocks/rerank/rationale_scorer.hpp>
#include <recblocks/rerank/score_fusion.hpp>
#include <recblocks/rerank/shift_sampler.hpp>

using namespace recblocks;
using rerank::scored_doc;

TEST_CASE("rationale_prompt: the reference code's four messages, sampling and a tight schema", "[rerank][radio]") {
  llm::scripted_client c;
  c.then_answer(R"({"rationale": "Because the cited abstract reports the effect."})");
  rerank::rationale_prompt p(c);
  const auto r = p("Aspirin lowers risk.", "SUPPORT (Aspirin trial)");
  CHECK(r.ok);
  CHECK(r.text == "Because the cited abstract reports the effect.");
  const auto req = c.requests().at(0);
  REQUIRE(req.messages.size() == 4);
  CHECK(req.messages[0].role == llm::role::system);
  CHECK(req.messages[0].content.find("output the rationale why the ground truth answer is corrrect.") != std::string::npos);
  CHECK(req.messages[1].content == "Question: Aspirin lowers risk.");
  CHECK(req.messages[2].content == "Answer: SUPPORT (Aspirin trial)");
  CHECK(req.messages[3].content == "Rationale: ");
  CHECK(req.options.temperature == 0.2);
  CHECK(req.options.top_p == 1.0);
  CHECK(req.options.seed == 42);
  CHECK(req.options.format.kind == llm::format_kind::json_schema);
  CHECK(req.options.format.schema["required"] == nlohmann::json::array({"rationale"}));
  CHECK(p.stats().valid_first == 1);
  CHECK(p.stats().fallbacks == 0);
}

TEST_CASE("rationale_prompt: empty, refused, echoed and broken answers are re-asked, then a counted fallback", "[rerank][radio]") {
  llm::scripted_client c;
  c.then_answer(R"({"rationale": "   "})")                               // empty -> re-ask
      .then_answer(R"({"rationale": "Because the abstract says so."})")  // usable at attempt 2
      .then_answer(R"({"rationale": "I'm sorry, I cannot help with that."})")
      .then_answer("no json here")
      .then_answer(R"({"rationale": "aspirin lowers risk."})")  // the question echoed
      .then_answer(R"({"other": 1})")
      .then_answer(R"({"rationale": "ok"})");  // too short
  rerank::rationale_prompt p(c);
  const auto a = p("Aspirin lowers risk.", "SUPPORT");
  CHECK(a.ok);
  CHECK(a.attempts == 2);
  CHECK(c.requests().at(1).options.seed == 43);  // the re-ask advances the seed
  const auto b = p("Aspirin lowers risk.", "SUPPORT");
  CHECK_FALSE(b.ok);
  CHECK(b.text.empty());
  CHECK(b.failure == "no_json");
  const auto d = p("Aspirin lowers risk.", "SUPPORT");
  CHECK_FALSE(d.ok);
  CHECK(d.failure == "no_rationale_field");
  rerank::rationale_options one;
  one.max_attempts = 1;
  rerank::rationale_prompt p1(c, one);
  CHECK(p1("q", "a").failure == "too_short");
  const auto& s = p.stats();
  CHECK(s.queries == 3);
  CHECK(s.requests == 6);
  CHECK(s.valid_first == 0);
  CHECK(s.reasked == 1);
  CHECK(s.fallbacks == 2);
  CHECK(s.failures.at("empty") == 1);
  CHECK(s.failures.at("refusal") == 1);
  CHECK(s.failures.at("echo") == 1);
  rerank::rationale_stats total = s;
  total += p1.stats();
  CHECK(total.fallbacks == 3);
  // free text, as the reference code
  llm::scripted_client f;
  f.then_answer("  The trial reported lower risk.\n");
  rerank::rationale_options free_text;
  free_text.structured = false;
  rerank::rationale_prompt pf(f, free_text);
  CHECK(pf("q", "a").text == "The trial reported lower risk.");
  CHECK(f.requests().at(0).options.format.kind == llm::format_kind::text);
  rerank::rationale_options bad;
  bad.max_attempts = 0;
  CHECK_THROWS_AS(rerank::rationale_prompt(f, bad), value_error);
}

TEST_CASE("rationale_scorer: 'q. a. r' text and dot products; shapes checked", "[rerank][radio]") {
  CHECK(rerank::rationale_text("Claim", "SUPPORT", "Why") == "Claim. SUPPORT. Why");
  llm::scripted_client emb;  // deterministic unit vectors from a hash of each text
  const std::vector<index_t> ids{7, 3};
  const std::vector<std::string> docs{"same text", "other"};
  const auto s = rerank::rationale_scores(emb, "same text", ids, docs);
  REQUIRE(s.size() == 2);
  CHECK(s[0].id == 7);
  CHECK(s[0].score == Approx(1.0).epsilon(1e-5));  // a text against itself: unit vectors
  CHECK(s[1].score < 0.999);
  matrix<float> m(2, 2);
  m << 1, 0, 0.5, 0.5;
  const std::vector<float> q{2, 1};
  const auto t = rerank::rationale_scores(q, ids, m);
  CHECK(t[0].score == 2.0);
  CHECK(t[1].score == 1.5);
  CHECK_THROWS_AS(rerank::rationale_scores(q, std::vector<index_t>{1}, m), shape_error);
  CHECK_THROWS_AS(rerank::rationale_scores(std::vector<float>{1, 2, 3}, ids, m), shape_error);
  CHECK_THROWS_AS(rerank::rationale_scores(emb, "x", ids, std::vector<std::string>{"a"}), shape_error);
}

TEST_CASE("score_fusion: min-max per list, alpha mix, inner join, stable ties", "[rerank][radio]") {
  const std::vector<scored_doc> reason{{1, 0.9}, {2, 0.5}, {3, 0.1}}, retrieval{{3, 30}, {1, 10}, {2, 20}};
  const auto f = rerank::score_fusion()(reason, retrieval);
  // reason: 1 -> 1, 2 -> 0.5, 3 -> 0; retrieval: 3 -> 1, 1 -> 0, 2 -> 0.5
  REQUIRE(f.docs.size() == 3);
  // every fused score is 0.5: ties keep the rationale list's order
  CHECK(f.docs[0] == scored_doc{1, 0.5});
  CHECK(f.docs[1] == scored_doc{2, 0.5});
  CHECK(f.docs[2] == scored_doc{3, 0.5});
  CHECK(f.missing == 0);
  CHECK(f.constant_lists == 0);
  const auto only_reason = rerank::score_fusion({.alpha = 1.0})(reason, retrieval);
  CHECK(only_reason.docs[0].id == 1);
  CHECK(only_reason.docs[2].id == 3);
  const auto only_retrieval = rerank::score_fusion({.alpha = 0.0})(reason, retrieval);
  CHECK(only_retrieval.docs[0].id == 3);
  CHECK(only_retrieval.docs[1].id == 2);
  const auto w = rerank::score_fusion({.alpha = 0.8})(reason, retrieval);
  CHECK(w.docs[0].id == 1);
  CHECK(w.docs[0].score == Approx(0.8));
}

TEST_CASE("score_fusion: one document, all-equal scores, missing documents, bad input", "[rerank][radio]") {
  bool constant = false;
  CHECK(rerank::min_max_normalize(std::vector<double>{4.0}, &constant) == std::vector<double>{1.0});
  CHECK(constant);
  CHECK(rerank::min_max_normalize(std::vector<double>{2, 2, 2}) == std::vector<double>{1, 1, 1});
  CHECK(rerank::min_max_normalize(std::vector<double>{}).empty());
  const std::vector<scored_doc> one{{5, 0.3}}, one_r{{5, -2}};
  const auto f = rerank::score_fusion()(one, one_r);
  REQUIRE(f.docs.size() == 1);
  CHECK(std::isfinite(f.docs[0].score));
  CHECK(f.constant_lists == 2);
  const std::vector<scored_doc> equal{{1, 1}, {2, 1}, {3, 1}}, ret{{1, 3}, {2, 2}, {3, 1}};
  const auto g = rerank::score_fusion()(equal, ret);
  CHECK(g.constant_lists == 1);
  CHECK(g.docs[0].id == 1);
  CHECK(g.docs[2].id == 3);
  // documents in one list only: dropped (inner join) or kept with 0 for the missing side
  const std::vector<scored_doc> a{{1, 1}, {2, 0}, {9, 0.5}}, b{{1, 0}, {2, 1}, {8, 2}};
  const auto dropped = rerank::score_fusion()(a, b);
  CHECK(dropped.docs.size() == 2);
  CHECK(dropped.missing == 2);
  const auto kept = rerank::score_fusion({.alpha = 0.5, .missing = rerank::missing_doc::zero})(a, b);
  CHECK(kept.docs.size() == 4);
  // 1: 0.5 * 1 + 0.5 * 0, 2: 0.5 * 0.5, 9: 0.5 * 0.5 (no retrieval score), 8: 0.5 * 1 (no rationale score)
  CHECK(kept.docs[0] == scored_doc{1, 0.5});
  CHECK(kept.docs[1] == scored_doc{8, 0.5});
  CHECK(kept.docs[2] == scored_doc{2, 0.25});
  CHECK(kept.docs[3] == scored_doc{9, 0.25});
  CHECK(rerank::score_fusion()(std::vector<scored_doc>{}, b).docs.empty());
  CHECK(rerank::score_fusion({.alpha = 0.5, .missing = rerank::missing_doc::zero})(std::vector<scored_doc>{}, b).docs.size() == 3);
  CHECK_THROWS_AS(rerank::score_fusion({.alpha = 1.5}), value_error);
  CHECK_THROWS_AS(rerank::score_fusion()(std::vector<scored_doc>{{1, 0}, {1, 1}}, b), value_error);
  CHECK_THROWS_AS(rerank::score_fusion()(a, std::vector<scored_doc>{{1, std::nan("")}}), value_error);
}

TEST_CASE("shift_sampler: shift {3,4,6,9,13,18} of the top 20, shift_all_neg, iteration blocks, short lists", "[rerank][radio]") {
  std::vector<index_t> ranked;
  for (index_t i = 0; i < 30; ++i) ranked.push_back(100 + i);
  const auto s = rerank::shift_sampler()(ranked);
  REQUIRE(s.size() == 1);
  CHECK(s[0].pos == std::vector<index_t>{100});
  CHECK(s[0].neg == std::vector<index_t>{103, 104, 106, 109, 113, 118});
  const auto all = rerank::shift_sampler({.method = rerank::sample_method::shift_all_neg})(ranked);
  REQUIRE(all.size() == 1);
  CHECK(all[0].neg.size() == 17);
  CHECK(all[0].neg.front() == 103);
  CHECK(all[0].neg.back() == 119);
  const auto it = rerank::shift_sampler({.method = rerank::sample_method::iteration})(ranked);
  CHECK(it.size() == 16);  // 4 blocks of 5 in the top 20, 4 groups each
  CHECK(it[0].pos == std::vector<index_t>{100});
  CHECK(it[0].neg == std::vector<index_t>{101, 102, 103, 104});
  CHECK(it[3].pos == std::vector<index_t>{103});
  CHECK(it[3].neg == std::vector<index_t>{104});
  CHECK(it[4].pos == std::vector<index_t>{105});
  // short lists: ranks beyond the list skipped; no group without a negative
  const std::vector<index_t> seven{1, 2, 3, 4, 5, 6, 7};
  const auto sh = rerank::shift_sampler()(seven);
  REQUIRE(sh.size() == 1);
  CHECK(sh[0].neg == std::vector<index_t>{4, 5, 7});
  CHECK(rerank::shift_sampler()(std::vector<index_t>{1, 2, 3}).empty());
  CHECK(rerank::shift_sampler()(std::vector<index_t>{}).empty());
  CHECK(rerank::shift_sampler({.method = rerank::sample_method::iteration})(std::vector<index_t>{1, 2, 3, 4}).empty());
  CHECK_THROWS_AS(rerank::shift_sampler({.neg_ranks = {0, 3}}), value_error);
  CHECK_THROWS_AS(rerank::shift_sampler({.neg_ranks = {-1}}), value_error);
  CHECK_THROWS_AS(rerank::shift_sampler({.truncate = 1}), value_error);
}

TEST_CASE("rationale_prompt: single_turn joins question, answer and 'Rationale: ' into one user message; model in the request", "[rerank][radio]") {
  llm::scripted_client c;
  c.then_answer(R"({"rationale": "The cited abstract reports that aspirin lowers the risk."})");
  rerank::rationale_prompt p(c, {.max_tokens = 100, .max_chars = 300, .single_turn = true, .model = "smollm2-135m-instruct-q4_1"});
  const auto r = p("Aspirin lowers risk.", "SUPPORT (Aspirin trial)");
  CHECK(r.ok);
  const auto req = c.requests().at(0);
  REQUIRE(req.messages.size() == 2);
  CHECK(req.messages[0].role == llm::role::system);
  CHECK(req.messages[1].role == llm::role::user);
  CHECK(req.messages[1].content == "Question: Aspirin lowers risk.\nAnswer: SUPPORT (Aspirin trial)\nRationale: ");
  CHECK(req.model == "smollm2-135m-instruct-q4_1");
  CHECK(req.options.max_tokens == 100);
  CHECK(req.options.format.schema["properties"]["rationale"]["maxLength"] == 300);
  // the four-message request of the same pair differs (a different replay key)
  rerank::rationale_prompt p4(c);
  CHECK(llm::request_hash(p4.request("Aspirin lowers risk.", "SUPPORT (Aspirin trial)")) !=
        llm::request_hash(p.request("Aspirin lowers risk.", "SUPPORT (Aspirin trial)")));
}
