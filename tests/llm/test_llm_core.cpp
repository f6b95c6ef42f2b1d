// Pure parts of the LLM layer: messages and requests as JSON, the OpenAI protocol builders and
// parsers, SSE, the JSON-schema validator, JSON extraction, prompt templates, request hashing.
#include <catch2/catch.hpp>

#include <recblocks/llm/chat_request.hpp>
#include <recblocks/llm/chat_response.hpp>
#include <recblocks/llm/json_extract.hpp>
#include <recblocks/llm/json_schema.hpp>
#include <recblocks/llm/openai_protocol.hpp>
#include <recblocks/llm/prompt_template.hpp>
#include <recblocks/llm/request_hash.hpp>

using namespace recblocks::llm;
using nlohmann::json;

namespace {
chat_request sample_request() {
  chat_request r;
  r.messages = {message::system("You rank items."), message::user("Rank a, b, c.")};
  r.options.temperature = 0.0;
  r.options.seed = 7;
  r.options.max_tokens = 64;
  r.options.stop = {"\n\n"};
  return r;
}
const json item_schema = json::parse(R"({
  "type": "object",
  "properties": {
    "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    "score": {"type": "number", "minimum": 0, "maximum": 1},
    "kind": {"enum": ["a", "b"]},
    "count": {"type": "integer"}
  },
  "required": ["items", "score"],
  "additionalProperties": false
})");
}  // namespace

TEST_CASE("chat_request round-trips through JSON", "[llm][message]") {
  auto r = sample_request();
  r.options.format = response_format::json_schema(item_schema, "ranking");
  r.options.extra = {{"top_k", 20}};
  r.model = "m";
  const auto back = json(r).get<chat_request>();
  CHECK(back == r);
  CHECK_THROWS_AS(json({{"role", "wizard"}, {"content", "x"}}).get<message>(), recblocks::value_error);
  chat_response resp{"hi", "stop", {3, 1, 4}, "m", {{"hi", -0.5, {{"hi", -0.5}, {"ho", -1.2}}}}, "because", nullptr};
  CHECK(json(resp).get<chat_response>() == resp);
}

TEST_CASE("openai_protocol builds chat bodies in the three schema dialects", "[llm][protocol]") {
  auto r = sample_request();
  auto body = openai_protocol::chat_body(r, "qwen", schema_dialect::openai);
  CHECK(body["model"] == "qwen");
  CHECK(body["messages"][0] == json({{"role", "system"}, {"content", "You rank items."}}));
  CHECK(body["temperature"] == 0.0);
  CHECK(body["seed"] == 7);
  CHECK(body["max_tokens"] == 64);
  CHECK(body["stop"] == json::array({"\n\n"}));
  CHECK_FALSE(body.contains("response_format"));
  CHECK_FALSE(body.contains("stream"));

  r.options.format = response_format::json_schema(item_schema, "ranking");
  body = openai_protocol::chat_body(r, "qwen", schema_dialect::openai);
  CHECK(body["response_format"]["type"] == "json_schema");
  CHECK(body["response_format"]["json_schema"]["name"] == "ranking");
  CHECK(body["response_format"]["json_schema"]["strict"] == true);
  CHECK(body["response_format"]["json_schema"]["schema"] == item_schema);

  body = openai_protocol::chat_body(r, "qwen", schema_dialect::llamacpp);
  CHECK(body["response_format"] == json({{"type", "json_object"}, {"schema", item_schema}}));

  body = openai_protocol::chat_body(r, "qwen", schema_dialect::vllm);
  CHECK_FALSE(body.contains("response_format"));
  CHECK(body["structured_outputs"] == json({{"json", item_schema}}));

  r.options.format = response_format::json_object();
  r.options.extra = {{"top_k", 20}, {"seed", 9}};  // extra overrides
  r.options.logprobs = true;
  r.options.top_logprobs = 3;
  r.model = "override";
  body = openai_protocol::chat_body(r, "qwen", schema_dialect::vllm, /*stream=*/true);
  CHECK(body["response_format"] == json({{"type", "json_object"}}));
  CHECK(body["top_k"] == 20);
  CHECK(body["seed"] == 9);
  CHECK(body["model"] == "override");
  CHECK(body["logprobs"] == true);
  CHECK(body["top_logprobs"] == 3);
  CHECK(body["stream"] == true);
  CHECK(body["stream_options"]["include_usage"] == true);

  r.model.clear();
  CHECK_FALSE(openai_protocol::chat_body(r, "", schema_dialect::llamacpp).contains("model"));
}

TEST_CASE("openai_protocol parses chat responses defensively", "[llm][protocol]") {
  const auto ok = openai_protocol::parse_chat(R"({"model":"m","choices":[{"index":0,
      "message":{"role":"assistant","content":"hello","reasoning_content":"think"},"finish_reason":"stop",
      "logprobs":{"content":[{"token":"hello","logprob":-0.25,"top_logprobs":[{"token":"hello","logprob":-0.25},
      {"token":"hi","logprob":-2.0}]}]}}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}})");
  CHECK(ok.text == "hello");
  CHECK(ok.reasoning == "think");
  CHECK(ok.finish_reason == "stop");
  CHECK(ok.model == "m");
  CHECK(ok.usage == usage{5, 1, 6});
  REQUIRE(ok.logprobs.size() == 1);
  CHECK(ok.logprobs[0].logprob == -0.25);
  REQUIRE(ok.logprobs[0].top.size() == 2);
  CHECK(ok.logprobs[0].top[1].first == "hi");

  // usage missing, content null, finish_reason null: fine
  const auto sparse = openai_protocol::parse_chat(
      R"({"choices":[{"message":{"role":"assistant","content":null},"finish_reason":null}]})");
  CHECK(sparse.text.empty());
  CHECK(sparse.usage == usage{});

  auto expect_bad = [](std::string_view body, const char* fragment) {
    try {
      openai_protocol::parse_chat(body);
      FAIL("no exception for " << body);
    } catch (const llm_error& e) {
      CHECK(e.kind() == llm_error_kind::bad_response);
      CHECK(e.body() == body);
      CHECK_THAT(e.what(), Catch::Contains(fragment));
      CHECK_FALSE(e.retryable());
    }
  };
  expect_bad("", "empty");
  expect_bad("<html>oops</html>", "not JSON");
  expect_bad("[1,2]", "not a JSON object");
  expect_bad(R"({"choices":[]})", "choices");
  expect_bad(R"({"choices":[{"text":"legacy"}]})", "choices[0].message");
  expect_bad(R"({"choices":[{"message":{"content":42}}]})", "not a string");
  expect_bad(R"({"error":{"message":"model not loaded","type":"server"}})", "model not loaded");
}

TEST_CASE("sse_parser splits events across arbitrary byte boundaries", "[llm][protocol]") {
  const std::string stream =
      ": comment\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
      "event: message\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n"
      "data: [DONE]\n\n";
  for (std::size_t step : {std::size_t(1), std::size_t(3), std::size_t(7), stream.size()}) {
    openai_protocol::sse_parser p;
    std::string text, finish;
    usage u;
    for (std::size_t i = 0; i < stream.size(); i += step) {
      p.feed(std::string_view(stream).substr(i, step), [&](std::string_view data) {
        auto c = openai_protocol::parse_stream_chunk(data);
        text += c.delta;
        if (!c.finish_reason.empty()) finish = c.finish_reason;
        if (c.usage) u = *c.usage;
      });
    }
    CHECK(p.done());
    CHECK(text == "Hello");
    CHECK(finish == "stop");
    CHECK(u == usage{3, 2, 5});
  }
  CHECK_THROWS_AS(openai_protocol::parse_stream_chunk("not json"), llm_error);
}

TEST_CASE("openai_protocol embeddings, endpoints, errors and Retry-After", "[llm][protocol]") {
  const std::vector<std::string> texts{"a", "b"};
  const auto body = openai_protocol::embeddings_body(texts, "emb");
  CHECK(body == json({{"model", "emb"}, {"input", {"a", "b"}}, {"encoding_format", "float"}}));
  const auto vecs = openai_protocol::parse_embeddings(
      R"({"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1.5,2]}]})", 2);
  CHECK(vecs == std::vector<std::vector<float>>{{1.5f, 2.f}, {3.f, 4.f}});
  CHECK_THROWS_AS(openai_protocol::parse_embeddings(R"({"data":[{"index":0,"embedding":[1]}]})", 2), llm_error);
  CHECK_THROWS_AS(openai_protocol::parse_embeddings(R"({"data":[{"index":0,"embedding":["x"]}]})", 1), llm_error);
  CHECK_THROWS_AS(openai_protocol::parse_embeddings(R"({"object":"list"})", 1), llm_error);

  CHECK(openai_protocol::endpoint("http://127.0.0.1:8080", "chat/completions") ==
        "http://127.0.0.1:8080/v1/chat/completions");
  CHECK(openai_protocol::endpoint("http://localhost:11434/v1/", "embeddings") == "http://localhost:11434/v1/embeddings");
  CHECK(openai_protocol::endpoint("https://api.example.com/v1", "chat/completions") ==
        "https://api.example.com/v1/chat/completions");

  CHECK(openai_protocol::error_message(R"({"error":{"message":"bad key"}})") == "bad key");
  CHECK(openai_protocol::error_message("plain text") == "plain text");

  CHECK(openai_protocol::parse_retry_after("2") == 2000);
  CHECK(openai_protocol::parse_retry_after("0.25") == 250);
  CHECK(openai_protocol::parse_retry_after("3", "150") == 150);
  CHECK(openai_protocol::parse_retry_after("") == -1);
  CHECK(openai_protocol::parse_retry_after("soon") == -1);
  CHECK(openai_protocol::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0);  // in the past
}

TEST_CASE("json_schema validates the common subset", "[llm][schema]") {
  const json_schema s(item_schema);
  CHECK(s.is_valid(json::parse(R"({"items":["x"],"score":0.5})")));
  CHECK(s.is_valid(json::parse(R"({"items":["x","y","z"],"score":1,"kind":"b","count":3.0})")));

  auto errors_of = [&](const char* text) { return s.validate(json::parse(text)); };
  auto has = [](const std::vector<std::string>& errs, const char* fragment) {
    for (const auto& e : errs)
      if (e.find(fragment) != std::string::npos) return true;
    return false;
  };
  CHECK(has(errors_of(R"({"score":0.5})"), "missing required property \"items\""));
  CHECK(has(errors_of(R"({"items":[],"score":0.5})"), "fewer than minItems"));
  CHECK(has(errors_of(R"({"items":["a","b","c","d"],"score":0.5})"), "more than maxItems"));
  CHECK(has(errors_of(R"({"items":["a",2],"score":0.5})"), "$.items[1]: expected type \"string\""));
  CHECK(has(errors_of(R"({"items":["a"],"score":1.5})"), "above the maximum"));
  CHECK(has(errors_of(R"({"items":["a"],"score":-1})"), "below the minimum"));
  CHECK(has(errors_of(R"({"items":["a"],"score":0.5,"kind":"c"})"), "is not one of"));
  CHECK(has(errors_of(R"({"items":["a"],"score":0.5,"count":2.5})"), "$.count: expected type \"integer\""));
  CHECK(has(errors_of(R"({"items":["a"],"score":0.5,"extra":1})"), "\"extra\" is not allowed"));
  CHECK(has(errors_of(R"([1])"), "$: expected type \"object\""));
  CHECK(errors_of(R"({"score":"x","items":"y","more":0})").size() == 3);
  CHECK_THROWS_AS(s.check(json::parse(R"({"score":0.5})")), recblocks::value_error);

  const json_schema typed_extra(json::parse(
      R"({"type":["object","null"],"additionalProperties":{"type":"integer"},
          "properties":{"name":{"type":"string","minLength":2,"maxLength":4}}})"));
  CHECK(typed_extra.is_valid(nullptr));
  CHECK(typed_extra.is_valid(json::parse(R"({"name":"abc","n":1})")));
  CHECK_FALSE(typed_extra.is_valid(json::parse(R"({"n":"1"})")));
  CHECK_FALSE(typed_extra.is_valid(json::parse(R"({"name":"a"})")));
  CHECK_FALSE(typed_extra.is_valid(json::parse(R"({"name":"abcde"})")));

  const json_schema any_of(json::parse(R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})"));
  CHECK(any_of.is_valid("x"));
  CHECK(any_of.is_valid(3));
  CHECK_FALSE(any_of.is_valid(-3));
  CHECK(json_schema(json::object()).is_valid(json::parse(R"({"anything":[1]})")));

  CHECK_THROWS_AS(json_schema(json::parse(R"({"type":"strnig"})")), recblocks::value_error);
  CHECK_THROWS_AS(json_schema(json::parse(R"({"required":"a"})")), recblocks::value_error);
  CHECK_THROWS_AS(json_schema(json::parse(R"({"minItems":-1})")), recblocks::value_error);
  CHECK_THROWS_AS(json_schema(json::parse(R"({"properties":{"a":3}})")), recblocks::value_error);
}

TEST_CASE("extract_json finds the JSON in fenced or chatty answers", "[llm][schema]") {
  CHECK(extract_json(R"({"a":1})") == json({{"a", 1}}));
  CHECK(extract_json("42") == json(42));
  CHECK(extract_json("Sure! Here it is:\n```json\n{\"a\": [1, 2]}\n```\nAnything else?") ==
        json::parse(R"({"a":[1,2]})"));
  CHECK(extract_json("The answer is {\"text\": \"a } brace and a \\\" quote\"} as requested.") ==
        json({{"text", "a } brace and a \" quote"}}));
  CHECK(extract_json("Ranking: [\"b\", \"a\"] (best first)") == json::array({"b", "a"}));
  CHECK(extract_json("I think {not json} but then {\"ok\": true}") == json({{"ok", true}}));
  CHECK_FALSE(extract_json("no json here").has_value());
  CHECK_FALSE(extract_json("{\"unterminated\": 1").has_value());
  CHECK_FALSE(extract_json("").has_value());
}

TEST_CASE("prompt_template renders typed slots and rejects bad values", "[llm][template]") {
  const prompt_template t(
      "User {{ user }} liked:\n{{liked:list}}\nRank these {{k:int}} items:\n{{items:numbered}}\n"
      "Weight {{w:number}}, strict {{strict:bool}}, meta {{meta:json}}. Again: {{user}}.");
  REQUIRE(t.slots().size() == 7);
  CHECK(t.slots()[0].name == "user");
  CHECK(t.slots()[1].type == prompt_template::slot_type::list);
  const json values = {{"user", "alice"}, {"liked", {"Heat", "Alien"}}, {"k", 2}, {"items", {"Up", 7}},
                       {"w", 0.5},       {"strict", true},            {"meta", {{"a", 1}}}};
  CHECK(t.render(values) ==
        "User alice liked:\n- Heat\n- Alien\nRank these 2 items:\n1. Up\n2. 7\n"
        "Weight 0.5, strict true, meta {\"a\":1}. Again: alice.");

  auto fails_with = [&](json v, const char* fragment) {
    try {
      (void)t.render(v);
      FAIL("no exception");
    } catch (const recblocks::value_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(fragment));
    }
  };
  json missing = values;
  missing.erase("k");
  fails_with(missing, "missing value for slot \"k\"");
  json unknown = values;
  unknown["usr"] = "typo";
  fails_with(unknown, "unknown slot \"usr\"");
  json wrong = values;
  wrong["k"] = "two";
  fails_with(wrong, "slot \"k\" expects an integer");
  wrong = values;
  wrong["liked"] = "Heat";
  fails_with(wrong, "slot \"liked\" expects an array");
  wrong = values;
  wrong["liked"] = json::array({json::array({1})});
  fails_with(wrong, "array of scalars");

  CHECK_THROWS_AS(prompt_template("Hello {{name"), recblocks::value_error);
  CHECK_THROWS_AS(prompt_template("Hello {{}}"), recblocks::value_error);
  CHECK_THROWS_AS(prompt_template("Hello {{n:date}}"), recblocks::value_error);
  CHECK_THROWS_AS(prompt_template("{{n:int}} {{n:bool}}"), recblocks::value_error);
  CHECK(prompt_template("no slots { at all }").render(json::object()) == "no slots { at all }");
}

TEST_CASE("estimate_tokens follows the documented heuristic", "[llm][template]") {
  CHECK(estimate_tokens("") == 0);
  CHECK(estimate_tokens("abcd") == 2);                    // 1 word -> ceil(4/3) = 2 > 1
  CHECK(estimate_tokens("a b c d e f") == 8);             // 6 words -> 8 > ceil(11/4) = 3
  CHECK(estimate_tokens(std::string(400, 'x')) == 100);   // one long token-less run: chars rule
  chat_request r;
  r.messages = {message::user("abcd"), message::assistant("")};
  CHECK(estimate_tokens(r) == 4 + 2 + 4);
}

TEST_CASE("request_hash is FNV-1a of the canonical request", "[llm][cache]") {
  STATIC_REQUIRE(fnv1a64("") == 0xcbf29ce484222325ULL);
  STATIC_REQUIRE(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  STATIC_REQUIRE(fnv1a64("foobar") == 0x85944171f73967e8ULL);
  CHECK(to_hex(0xaf63dc4c8601ec8cULL) == "af63dc4c8601ec8c");

  auto a = sample_request();
  auto b = sample_request();
  a.options.extra = {{"top_k", 1}, {"min_p", 0.1}};
  b.options.extra = json::object();
  b.options.extra["min_p"] = 0.1;
  b.options.extra["top_k"] = 1;
  CHECK(canonical_request(a) == canonical_request(b));
  CHECK(request_hash(a) == request_hash(b));
  CHECK(request_hash(a, "model-1") != request_hash(a, "model-2"));
  b.options.temperature = 0.7;
  CHECK(request_hash(a) != request_hash(b));
  b = a;
  b.messages[1].content += " ";
  CHECK(request_hash(a) != request_hash(b));
}
