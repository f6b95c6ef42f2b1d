// synthetic/: SyNeg's LLM negative policy (prompt, schema, validation, bounded re-asks, skips) and the
// classical perturbation policy; retrieval/text_negatives + ranked_negatives mixed by hybrid_negatives.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include <recblocks/llm/scripted_client.hpp>
#include <recblocks/retrieval/hybrid_negatives.hpp>
#include <recblocks/retrieval/ranked_negatives.hpp>
#include <recblocks/retrieval/text_negatives.hpp>
#include <recblocks/synthetic/llm_negative_policy.hpp>
#include <recblocks/synthetic/perturbation_policy.hpp>

using namespace recblocks;
using synthetic::negative_request;

namespace {
negative_request req() {
  negative_request r;
  r.query = "Vitamin D supplementation reduces fracture risk.";
  r.positive = "Vitamin D and fractures. In a trial of 2,686 adults, vitamin D3 every 4 months reduced fractures by 22%.";
  return r;
}
const std::string ok = R"({"reflection": "same topic, wrong claim", "hard_negatives": ["Vitamin D levels were measured in 300 children with asthma.", "Calcium intake and bone density in older women were unrelated to fracture rates."]})";
}  // namespace

static_assert(synthetic::negative_policy<synthetic::llm_negative_policy<llm::scripted_client>>);
static_assert(synthetic::negative_policy<synthetic::perturbation_policy>);
static_assert(retrieval::negative_source<retrieval::text_negatives>);
static_assert(retrieval::negative_source<retrieval::ranked_negatives>);

TEST_CASE("llm_negative_policy: prompt has the three constraint groups, schema is tight", "[syneg]") {
  llm::scripted_client c(std::vector<std::string>{ok});
  synthetic::llm_negative_policy p(c);
  const auto r = req();
  const std::string s = p.prompt(r);
  for (const char* part : {"Assume you are an expert in biomedical science", "\"user_query\"", "[Task Definition]",
                           "[Hard Negatives Definition]", "[Attribute Constraints]", "difficulty: hard", "about 60 words",
                           "[Reflection]", "[Format Definition]", "\"hard_negatives\""})
    CHECK(s.find(part) != std::string::npos);
  const auto sc = p.schema(r);
  CHECK(sc["properties"]["hard_negatives"]["minItems"] == 2);
  CHECK(sc["properties"]["hard_negatives"]["maxItems"] == 2);
  CHECK(sc["required"][0] == "reflection");
  const auto docs = p.generate(r);
  REQUIRE(docs.size() == 2);
  CHECK(p.stats().first_valid == 1);
  CHECK(p.stats().calls == 1);
  const auto& sent = c.requests().front();
  CHECK(sent.options.format.kind == llm::format_kind::json_schema);
  CHECK(sent.options.temperature == 0.0);
}

TEST_CASE("llm_negative_policy: bad answers are re-asked, then skipped and counted", "[syneg]") {
  const auto r = req();
  {  // not JSON, then valid
    llm::scripted_client c(std::vector<std::string>{"I cannot do that.", ok});
    synthetic::llm_negative_policy p(c);
    CHECK(p.generate(r).size() == 2);
    CHECK(p.stats().retries == 1);
    CHECK(p.stats().failures.at("no_json") == 1);
    REQUIRE(c.requests().size() == 2);
    CHECK(c.requests()[1].messages.size() == 3);  // prompt, the bad answer, the corrective message
  }
  {  // missing field, copies of the positive/query, empty: all invalid twice -> skipped, never throws
    llm::scripted_client c(std::vector<std::string>{
        R"({"hard_negatives": ["x"]})",
        R"({"reflection": "r", "hard_negatives": ["  ", ")" + req().positive + R"(", "vitamin d SUPPLEMENTATION reduces fracture risk."]})"});
    synthetic::llm_negative_policy p(c);
    CHECK(p.generate(r).empty());
    CHECK(p.stats().skipped == 1);
    CHECK(p.stats().failures.at("no_reflection") == 1);
    CHECK(p.stats().failures.at("empty") == 1);
    CHECK(p.stats().failures.at("copies_positive") == 1);
    CHECK(p.stats().failures.at("copies_query") == 1);
  }
  {  // truncated answer (finish_reason length) is re-asked; a duplicate is dropped, the rest kept
    llm::scripted_client c;
    c.then_call([](const llm::chat_request&) {
      llm::chat_response a;
      a.text = R"({"reflection": "r", "hard_negatives": ["Vitamin D is made in the sk)";
      a.finish_reason = "length";
      return a;
    });
    c.then_answer(R"({"reflection": "r", "hard_negatives": ["Bone health depends on many factors here.", "bone health depends on many  factors here."]})");
    synthetic::llm_negative_policy p(c);
    const auto docs = p.generate(r);
    CHECK(docs.size() == 1);
    CHECK(p.stats().failures.at("truncated") == 1);
    CHECK(p.stats().failures.at("duplicate") == 1);
    CHECK(p.stats().partial == 1);
  }
  {  // the tiny model's failure mode: the format placeholders copied, or a padding loop
    llm::scripted_client c(std::vector<std::string>{
        R"({"reflection": "...", "hard_negatives": ["<document 1> <document 2> <document 3> <document 4> <document 5>", "... \t... \t... \t... \t... \t..."]})",
        R"({"reflection": "...", "hard_negatives": ["...", "..."]})"});
    synthetic::llm_negative_policy p(c);
    CHECK(p.generate(r).empty());
    CHECK(p.stats().failures.at("no_content") == 4);
    CHECK(p.stats().skipped == 1);
    CHECK(p.stats().dropped == 4);
  }
  llm::scripted_client c;
  CHECK_THROWS_AS(synthetic::llm_negative_policy(c, {.max_attempts = 0}), value_error);
  synthetic::llm_negative_policy p(c);
  auto bad = req();
  bad.count = 0;
  CHECK_THROWS_AS(p.generate(bad), value_error);
  // a transport error propagates (never a silent fallback)
  llm::scripted_client failing;
  failing.then_fail(llm::llm_error(llm::llm_error_kind::replay_miss, "miss"));
  synthetic::llm_negative_policy pf(failing);
  CHECK_THROWS_AS(pf.generate(req()), llm::llm_error);
}

TEST_CASE("perturbation_policy: negation, numbers, entities; never the positive", "[syneg]") {
  synthetic::perturbation_policy p;
  negative_request r = req();
  r.positive = "IL-6 increases the risk of sepsis in 45 of 120 patients while TNF was measured.";
  r.length_words = 40;
  r.count = 3;
  const auto docs = p.generate(r);
  REQUIRE(docs.size() >= 2);
  std::set<std::string> distinct(docs.begin(), docs.end());
  CHECK(distinct.size() == docs.size());
  for (const auto& d : docs) CHECK(d != r.positive);
  CHECK(p.stats().documents == static_cast<long>(docs.size()));
  bool any_negated = false, any_number = false, any_swap = false;
  for (const auto& d : docs) {
    any_negated |= d.find("decreases") != std::string::npos;
    any_number |= d.find("45 of 120") == std::string::npos && d.find("increases") != std::string::npos;
    any_swap |= d.find("TNF increases") != std::string::npos || d.find("IL-6 was measured") != std::string::npos;
  }
  CHECK((any_negated || any_number || any_swap));
  CHECK(synthetic::perturbation_policy::entities("IL-6 and TNF, not Vitamin nor mTOR.") == std::vector<std::string>{"IL-6", "TNF", "mTOR"});
  // nothing to change: no document, counted
  negative_request plain = req();
  plain.positive = "plain words only here";
  plain.count = 1;
  synthetic::perturbation_policy q;
  CHECK(q.generate(plain).empty());
  CHECK(q.stats().unchanged == 1);
  plain.count = 0;
  CHECK_THROWS_AS(q.generate(plain), value_error);
}

TEST_CASE("text_negatives mix with corpus ids in hybrid_negatives", "[syneg][negatives]") {
  retrieval::text_negatives syn(100);
  CHECK(syn.add(0, {"a doc", "", "a doc", "b doc"}) == 2);  // empty and duplicate not added
  CHECK(syn.add(1, {"c doc"}) == 1);
  CHECK(syn.size() == 3);
  CHECK(syn.is_text(101));
  CHECK(!syn.is_text(99));
  CHECK(syn.text(102) == "c doc");
  CHECK_THROWS_AS(syn.text(103), value_error);
  rng g(1);
  CHECK(syn.sample(2, 5, g).empty());  // an instance without synthetic documents
  // rankings: instance 0's positive 5 at rank 0 is skipped; skip_top 1
  retrieval::ranked_negatives ranked({{5, 7, 8, 5, 9, 10}, {1, 2, 3}}, {{5}, {}}, {.skip_top = 1, .pool = 3});
  CHECK(ranked.kept(0) == std::vector<index_t>{7, 8, 9});
  CHECK(ranked.kept(1) == std::vector<index_t>{2, 3});
  CHECK_THROWS_AS(ranked.sample(2, 1, g), value_error);
  retrieval::hybrid_negatives mix;
  mix.add_source("llm", syn, 2).add_source("bm25", ranked, 2);
  const auto got = mix.sample_labeled(0, g);
  REQUIRE(got.size() == 4);
  CHECK(got[0].source == 0);
  CHECK(syn.is_text(got[0].id));
  CHECK(syn.is_text(got[1].id));
  CHECK(got[2].source == 1);
  CHECK(!syn.is_text(got[2].id));
  CHECK(mix.sample(1, g).size() == 3);  // instance 1 has one synthetic document: the source runs out
}

TEST_CASE("llm_negative_policy: syneg/2 asks one document per request, names the model, validates it", "[syneg]") {
  const std::string one = R"({"reflection": "same topic, other finding", "hard_negative": "Vitamin D levels were measured in 300 children with asthma and were unrelated to wheezing."})";
  llm::scripted_client c(std::vector<std::string>{one, R"({"reflection": "r", "hard_negative": "<document 1>"})",
                                                  R"({"reflection": "r", "hard_negative": "<document 1> and <document 2>"})"});
  synthetic::llm_negative_policy p(c, {.style = synthetic::negative_prompt_style::syneg2, .model = "smollm2-135m-instruct-q4_1"});
  CHECK(std::string(p.version()) == "syneg/2");
  auto r = req();
  CHECK_THROWS_AS(p.generate(r), value_error);  // count 2: syneg/2 asks one document per request
  r.count = 1;
  r.difficulty = "medium";
  const std::string s = p.prompt(r);
  for (const char* part : {"You are an expert in biomedical science.", "Query: \"Vitamin D supplementation", "Relevant document: \"Vitamin D",
                           "does not support the query", "Difficulty: medium.", "about 60 words", "\"reflection\"", "\"hard_negative\""})
    CHECK(s.find(part) != std::string::npos);
  CHECK(s.find("<document") == std::string::npos);  // no placeholder to copy
  const auto sc = p.schema(r);
  CHECK(sc["properties"].contains("hard_negative"));
  CHECK(!sc["properties"].contains("hard_negatives"));
  const auto docs = p.generate(r);
  REQUIRE(docs.size() == 1);
  CHECK(docs[0].rfind("Vitamin D levels", 0) == 0);
  CHECK(c.requests().front().model == "smollm2-135m-instruct-q4_1");  // part of the replay key
  // a placeholder twice: re-asked once with the single-document format, then skipped and counted
  CHECK(p.generate(r).empty());
  CHECK(p.stats().skipped == 1);
  CHECK(p.stats().retries == 1);
  CHECK(p.stats().failures.at("no_content") == 2);
  REQUIRE(c.requests().size() == 3);
  CHECK(c.requests()[2].messages.back().content.find("\"hard_negative\": \"...\"") != std::string::npos);
  // the two styles' requests for the same (query, positive) never share a replay key
  synthetic::llm_negative_policy p1(c);
  CHECK(p1.prompt(r) != p.prompt(r));
}
