// LLM4MSR's typed knowledge prompts (issue 14): rendering, the answer request's schema, answer parsing.
#include <catch2/catch.hpp>
#include <recblocks/llm/knowledge_prompts.hpp>

using namespace recblocks::llm;

TEST_CASE("knowledge_prompts: scenario and user prompts render every fact", "[llm][llm4msr]") {
  const std::string s = knowledge_prompts::scenario({.domain = "MovieLens movie ratings", .scenario = "age 25-34",
                                                     .who = "users aged 25 to 34", .users = 310, .ratings = 28000,
                                                     .like_rate = 56, .genres = "Drama, Comedy", .relation = "They rate more."});
  CHECK(s.find("age 25-34") != std::string::npos);
  CHECK(s.find("310 users gave 28000 ratings") != std::string::npos);
  CHECK(s.find("56%") != std::string::npos);
  CHECK(s.find("They rate more.") != std::string::npos);
  const std::string u = knowledge_prompts::user({.domain = "MovieLens movie ratings", .profile = "a 24-year-old man, student",
                                                 .scenario = "age under 25", .ratings = 40, .like_rate = 60, .liked = "Action",
                                                 .disliked = "Horror", .titles = "Star Wars (1977)"});
  CHECK(u.find("a 24-year-old man, student") != std::string::npos);
  CHECK(u.find("Star Wars (1977)") != std::string::npos);
  CHECK(u.find("Disliked genres: Horror") != std::string::npos);
  CHECK(std::string(knowledge_prompts::version) == "llm4msr-v1");
}

TEST_CASE("knowledge_prompts: the answer request is constrained; unusable answers are recognised", "[llm][llm4msr]") {
  const chat_request r = knowledge_prompts::answer_request("hello");
  REQUIRE(r.messages.size() == 1);
  CHECK(r.options.max_tokens == 64);
  CHECK(r.options.temperature == 0.0);
  CHECK(r.options.format.kind == format_kind::json_schema);
  CHECK(r.options.format.schema["properties"]["interests"]["maxLength"] == knowledge_prompts::max_answer_chars);
  CHECK(knowledge_prompts::parse_answer(R"({"interests": "action films"})") == std::optional<std::string>("action films"));
  CHECK_FALSE(knowledge_prompts::parse_answer("action films"));
  CHECK_FALSE(knowledge_prompts::parse_answer(R"({"interests": 3})"));
  CHECK_FALSE(knowledge_prompts::parse_answer(R"({"interests": "  "})"));
  CHECK_FALSE(knowledge_prompts::parse_answer(R"([1, 2])"));
}
