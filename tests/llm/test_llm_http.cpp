// http_client against a real HTTP/1.1 server on 127.0.0.1 started by the test (loopback_server.hpp):
// the happy path, retries (429 + Retry-After, 5xx, truncated bodies), what is not retried (400,
// bad bodies), timeouts, streaming, embeddings, batches under a concurrency cap, structured output.
// Nothing leaves the loopback interface.
#include <catch2/catch.hpp>

#ifdef RECBLOCKS_HAVE_CURL

#include <chrono>
#include <cstdlib>
#include <set>

#include <recblocks/llm.hpp>

#include "expect_llm_error.hpp"

#include "loopback_server.hpp"

using namespace recblocks::llm;
using recblocks_test::expect_llm_error;
using recblocks_test::http_reply;
using recblocks_test::loopback_server;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string completion(const std::string& content, const std::string& finish = "stop", int prompt = 7, int out = 3) {
  return json{{"id", "x"},
              {"model", "test-model"},
              {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}},
                            {"finish_reason", finish}}}},
              {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", out}, {"total_tokens", prompt + out}}}}
      .dump();
}

http_client_options fast_options(const loopback_server& server) {
  http_client_options o;
  o.base_url = server.url();
  o.model = "test-model";
  o.api_key = "sk-test";
  o.connect_timeout = 1000ms;
  o.total_timeout = 2000ms;
  o.idle_timeout = 300ms;
  o.retry.base_delay = 1ms;
  o.retry.max_delay = 5ms;
  o.retry.max_attempts = 3;
  return o;
}

chat_request unseeded_request(std::string text) {
  chat_request r;
  r.messages.push_back(message::user(std::move(text)));
  r.options.temperature = 0.0;
  return r;
}

using clock_type = std::chrono::steady_clock;

}  // namespace

static_assert(llm_client<http_client> && batch_llm_client<http_client> && streaming_llm_client<http_client> &&
              embedding_client<http_client> && logprob_llm_client<http_client>);

TEST_CASE("http_client: happy path sends an OpenAI request and parses the answer", "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json(completion("Hello there")));
  http_client client(fast_options(server));
  auto r = unseeded_request("Hi");
  r.options.seed = 3;
  const auto resp = client.chat(r);
  CHECK(resp.text == "Hello there");
  CHECK(resp.finish_reason == "stop");
  CHECK(resp.model == "test-model");
  CHECK(resp.usage == usage{7, 3, 10});

  const auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].path == "/v1/chat/completions");
  CHECK(seen[0].headers.at("authorization") == "Bearer sk-test");
  CHECK(seen[0].headers.at("content-type") == "application/json");
  const auto body = json::parse(seen[0].body);
  CHECK(body["model"] == "test-model");
  CHECK(body["messages"] == json::array({{{"role", "user"}, {"content", "Hi"}}}));
  CHECK(body["seed"] == 3);

  const auto t = client.totals();
  CHECK(t.requests == 1);
  CHECK(t.attempts == 1);
  CHECK(t.retries == 0);
  CHECK(t.tokens == usage{7, 3, 10});
}

TEST_CASE("http_client: configuration from the environment", "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json(completion("env ok")));
  ::setenv("RECBLOCKS_LLM_URL", (server.url() + "/v1").c_str(), 1);
  ::setenv("RECBLOCKS_LLM_MODEL", "env-model", 1);
  ::unsetenv("RECBLOCKS_LLM_KEY");
  http_client client;
  ::unsetenv("RECBLOCKS_LLM_URL");
  ::unsetenv("RECBLOCKS_LLM_MODEL");
  CHECK(client.options().model == "env-model");
  CHECK(client.chat(unseeded_request("q")).text == "env ok");
  const auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].path == "/v1/chat/completions");
  CHECK(seen[0].headers.count("authorization") == 0);
  CHECK(json::parse(seen[0].body)["model"] == "env-model");

  const auto e = expect_llm_error([] { http_client unconfigured{http_client_options{}}; });
  CHECK(e.kind() == llm_error_kind::config);
}

TEST_CASE("http_client: 429 with Retry-After is retried after the advertised wait", "[llm][http]") {
  loopback_server server;
  auto busy = http_reply::json(R"({"error":{"message":"rate limited","type":"rate_limit"}})", 429);
  busy.headers.emplace_back("retry-after-ms", "150");
  server.push(busy);
  auto busy2 = http_reply::json(R"({"error":{"message":"rate limited"}})", 429);
  busy2.headers.emplace_back("Retry-After", "0.1");
  server.push(busy2);
  server.push(http_reply::json(completion("finally")));
  http_client client(fast_options(server));
  const auto t0 = clock_type::now();
  CHECK(client.chat(unseeded_request("q")).text == "finally");
  const auto elapsed = clock_type::now() - t0;
  CHECK(elapsed >= 250ms);  // 150 ms + 100 ms advertised, base backoff only 1 ms
  CHECK(server.requests().size() == 3);
  CHECK(client.totals().retries == 2);

  // A Retry-After beyond max_retry_after gives up at once instead of blocking.
  auto long_wait = http_reply::json(R"({"error":{"message":"come back in an hour"}})", 429);
  long_wait.headers.emplace_back("Retry-After", "3600");
  server.push(long_wait);
  const auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.status() == 429);
  CHECK(e.attempts() == 1);
  CHECK(e.retry_after_ms() == 3600000);
  CHECK_THAT(e.what(), Catch::Contains("come back in an hour"));
}

TEST_CASE("http_client: 502 then success; persistent 503 reports every attempt", "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json(R"({"error":{"message":"overloaded"}})", 502));
  server.push(http_reply::json(completion("recovered")));
  http_client client(fast_options(server));
  CHECK(client.chat(unseeded_request("q")).text == "recovered");
  CHECK(server.requests().size() == 2);

  server.set_fallback(http_reply::json(R"({"error":{"message":"still loading"}})", 503));
  const auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.kind() == llm_error_kind::http_status);
  CHECK(e.status() == 503);
  CHECK(e.attempts() == 3);
  CHECK(e.body() == R"({"error":{"message":"still loading"}})");
  CHECK(server.requests().size() == 5);
  CHECK(client.totals().failures == 1);
}

TEST_CASE("http_client: 400 and 401 are not retried", "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json(R"({"error":{"message":"messages must not be empty"}})", 400));
  server.push(http_reply::json(R"({"error":{"message":"invalid api key"}})", 401));
  http_client client(fast_options(server));
  auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.status() == 400);
  CHECK(e.attempts() == 1);
  CHECK_FALSE(e.retryable());
  CHECK_THAT(e.what(), Catch::Contains("messages must not be empty"));
  CHECK(server.requests().size() == 1);
  e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.status() == 401);
  CHECK(server.requests().size() == 2);
}

TEST_CASE("http_client: a slow server times out", "[llm][http]") {
  loopback_server server;
  auto slow = http_reply::json(completion("too late"));
  slow.delay_ms = 600;
  server.push(slow);
  auto o = fast_options(server);
  o.total_timeout = 150ms;
  o.retry.max_attempts = 1;
  http_client client(o);
  const auto t0 = clock_type::now();
  const auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(clock_type::now() - t0 < 550ms);
  CHECK(e.kind() == llm_error_kind::timeout);
  CHECK(e.attempts() == 1);
  CHECK(e.retryable());
}

TEST_CASE("http_client: refused connections are retried, then reported", "[llm][http]") {
  int port = 0;
  {
    loopback_server closed;  // bind an ephemeral port, then free it
    port = closed.port();
  }
  http_client_options o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.retry.base_delay = 1ms;
  o.retry.max_attempts = 2;
  http_client client(o);
  const auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.kind() == llm_error_kind::connection);
  CHECK(e.attempts() == 2);
  CHECK(e.status() == 0);
}

TEST_CASE("http_client: a truncated body is a connection error and is retried", "[llm][http]") {
  loopback_server server;
  auto cut = http_reply::json(completion("half of it"));
  cut.truncate = true;
  server.push(cut);
  server.push(http_reply::json(completion("whole")));
  http_client client(fast_options(server));
  CHECK(client.chat(unseeded_request("q")).text == "whole");
  CHECK(server.requests().size() == 2);

  auto drop = http_reply{};
  drop.drop = true;
  server.set_fallback(drop);
  const auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.kind() == llm_error_kind::connection);
  CHECK(e.attempts() == 3);
}

TEST_CASE("http_client: invalid JSON, empty bodies and missing fields are typed errors, not retried",
          "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json("<html>502 from a proxy, but with status 200</html>"));
  server.push(http_reply::json(""));
  server.push(http_reply::json(R"({"object":"chat.completion","choices":[]})"));
  http_client client(fast_options(server));
  auto e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.kind() == llm_error_kind::bad_response);
  CHECK(e.status() == 0);
  CHECK(e.attempts() == 1);
  CHECK(e.body() == "<html>502 from a proxy, but with status 200</html>");
  e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK(e.kind() == llm_error_kind::bad_response);
  CHECK_THAT(e.what(), Catch::Contains("empty"));
  e = expect_llm_error([&] { client.chat(unseeded_request("q")); });
  CHECK_THAT(e.what(), Catch::Contains("choices"));
  CHECK(server.requests().size() == 3);
}

TEST_CASE("http_client + structured_client: a wrong schema is re-asked, then validated", "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json(completion(R"({"label": "maybe"})")));  // wrong enum
  server.push(http_reply::json(completion("Sure:\n```json\n{\"label\": \"yes\", \"p\": 0.9}\n```")));
  auto o = fast_options(server);
  o.dialect = schema_dialect::llamacpp;
  http_client client(o);
  structured_client sc(client);
  const json schema = json::parse(
      R"({"type":"object","properties":{"label":{"enum":["yes","no"]},"p":{"type":"number"}},"required":["label"]})");
  const auto j = sc.ask_json(unseeded_request("Is it good?"), schema);
  CHECK(j["label"] == "yes");
  const auto seen = server.requests();
  REQUIRE(seen.size() == 2);
  const auto first = json::parse(seen[0].body);
  CHECK(first["response_format"] == json({{"type", "json_object"}, {"schema", schema}}));
  const auto second = json::parse(seen[1].body);
  REQUIRE(second["messages"].size() == 3);
  CHECK(second["messages"][1]["role"] == "assistant");
  CHECK_THAT(second["messages"][2]["content"].get<std::string>(), Catch::Contains("is not one of"));

  server.set_fallback(http_reply::json(completion(R"({"label": 3})")));
  const auto e = expect_llm_error([&] { sc.ask_json(unseeded_request("again"), schema); });
  CHECK(e.kind() == llm_error_kind::invalid_output);
  CHECK(e.body() == R"({"label": 3})");
}

TEST_CASE("http_client: streamed chunks reach the callback in order", "[llm][http]") {
  loopback_server server;
  http_reply sse;
  sse.chunks = {
      "data: {\"model\":\"test-model\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo, \"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"con",
      "tent\":\"world\"},\"finish_reason\":\"stop\"}]}\n\n",
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3,\"total_tokens\":7}}\n\n",
      "data: [DONE]\n\n"};
  sse.chunk_delay_ms = 10;
  server.push(sse);
  http_client client(fast_options(server));
  std::vector<std::string> deltas;
  const auto resp = client.chat_stream(unseeded_request("greet"), [&](std::string_view d) { deltas.emplace_back(d); });
  CHECK(deltas == std::vector<std::string>{"Hel", "lo, ", "world"});
  CHECK(resp.text == "Hello, world");
  CHECK(resp.finish_reason == "stop");
  CHECK(resp.usage == usage{4, 3, 7});
  CHECK(resp.model == "test-model");
  const auto body = json::parse(server.requests().at(0).body);
  CHECK(body["stream"] == true);
  CHECK(server.requests().at(0).headers.at("accept") == "text/event-stream");

  // A stream that stalls after its first delta hits the idle timeout and is not retried.
  http_reply stall;
  stall.chunks = {"data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"};
  stall.stall_ms = 1500;
  server.push(stall);
  std::string got;
  const auto t0 = clock_type::now();
  const auto e = expect_llm_error([&] { client.chat_stream(unseeded_request("q"), [&](std::string_view d) { got += d; }); });
  CHECK(clock_type::now() - t0 < 1200ms);
  CHECK(e.kind() == llm_error_kind::timeout);
  CHECK(e.attempts() == 1);
  CHECK(got == "par");
  CHECK(server.requests().size() == 2);

  // An error status on a streamed call carries the JSON error body.
  server.push(http_reply::json(R"({"error":{"message":"context too long"}})", 400));
  const auto e2 = expect_llm_error([&] { client.chat_stream(unseeded_request("q"), nullptr); });
  CHECK(e2.status() == 400);
  CHECK_THAT(e2.what(), Catch::Contains("context too long"));
}

TEST_CASE("http_client: embeddings are batched and ordered by index", "[llm][http]") {
  loopback_server server;
  server.push(http_reply::json(
      R"({"object":"list","data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0]}],"usage":{"prompt_tokens":2}})"));
  server.push(http_reply::json(R"({"data":[{"index":0,"embedding":[0.5,0.5]}]})"));
  auto o = fast_options(server);
  o.embedding_batch = 2;
  o.embedding_model = "nomic-embed";
  http_client client(o);
  const std::vector<std::string> texts{"first", "second", "third"};
  const auto vecs = client.embed(texts);
  CHECK(vecs == std::vector<std::vector<float>>{{1, 0}, {0, 1}, {0.5f, 0.5f}});
  const auto seen = server.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].path == "/v1/embeddings");
  const auto body = json::parse(seen[0].body);
  CHECK(body["model"] == "nomic-embed");
  CHECK(body["input"] == json::array({"first", "second"}));
  CHECK(json::parse(seen[1].body)["input"] == json::array({"third"}));

  server.push(http_reply::json(R"({"data":[]})"));
  const std::vector<std::string> one{"x"};
  const auto e = expect_llm_error([&] { client.embed(one); });
  CHECK(e.kind() == llm_error_kind::bad_response);
}

TEST_CASE("http_client: batches run concurrently under the cap, in request order", "[llm][http]") {
  loopback_server server;
  auto slow_echo = http_reply::json(completion("same"));
  slow_echo.delay_ms = 60;
  server.set_fallback(slow_echo);
  auto o = fast_options(server);
  o.max_concurrency = 3;
  http_client client(o);
  std::vector<chat_request> rs;
  for (int i = 0; i < 9; ++i) rs.push_back(unseeded_request("q" + std::to_string(i)));
  const auto t0 = clock_type::now();
  const auto out = client.chat_batch(rs);
  const auto elapsed = clock_type::now() - t0;
  REQUIRE(out.size() == 9);
  CHECK(server.max_concurrent() == 3);
  CHECK(elapsed < 9 * 60ms);  // concurrent, not serial
  std::set<std::string> asked;
  for (const auto& r : server.requests()) asked.insert(json::parse(r.body)["messages"][0]["content"]);
  CHECK(asked.size() == 9);
  CHECK(client.totals().tokens.total_tokens == 90);

  // one failing request fails the batch with its own error
  loopback_server failing;
  failing.push(http_reply::json(completion("ok")));
  failing.set_fallback(http_reply::json(R"({"error":{"message":"bad"}})", 400));
  auto o2 = fast_options(failing);
  o2.max_concurrency = 1;
  http_client c2(o2);
  const auto e = expect_llm_error([&] { c2.chat_batch(rs); });
  CHECK(e.status() == 400);
  CHECK(failing.requests().size() == 2);  // stopped after the failure
}

TEST_CASE("http_client: requests_per_second paces the calls", "[llm][http]") {
  loopback_server server;
  server.set_fallback(http_reply::json(completion("ok")));
  auto o = fast_options(server);
  o.requests_per_second = 50.0;  // one every 20 ms after a burst of 1
  http_client client(o);
  const auto t0 = clock_type::now();
  for (int i = 0; i < 6; ++i) client.chat(unseeded_request("q"));
  CHECK(clock_type::now() - t0 >= 95ms);
}

TEST_CASE("http_client: record from the loopback server, then replay offline", "[llm][http][replay]") {
  auto cache = response_cache::in_memory();
  {
    loopback_server server;
    server.push(http_reply::json(completion("recorded answer")));
    http_client client(fast_options(server));
    recording_client rec(client, cache, "test-model");
    CHECK(rec.chat(unseeded_request("q")).text == "recorded answer");
  }  // server gone
  replay_client replay(cache, "test-model");
  const auto r = replay.chat(unseeded_request("q"));
  CHECK(r.text == "recorded answer");
  CHECK(r.usage == usage{7, 3, 10});
}

#endif  // RECBLOCKS_HAVE_CURL
