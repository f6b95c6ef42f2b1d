// Layers over any llm_client, tested with scripted clients: the generic fallbacks, type erasure,
// structured output with re-asks, the cache, recording and replay, retries and rate limits.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <recblocks/llm.hpp>

using namespace recblocks::llm;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

chat_request user_request(std::string text) {
  chat_request r;
  r.messages.push_back(message::user(std::move(text)));
  r.options.temperature = 0.0;
  r.options.seed = 1;
  return r;
}

/// A user-written client with a batch call, to check the dispatch of llm::chat_batch.
struct batching_echo {
  int batch_calls = 0;
  chat_response chat(const chat_request& r) { return scripted_client::make_response(r, "one:" + r.messages[0].content); }
  std::vector<chat_response> chat_batch(std::span<const chat_request> rs) {
    ++batch_calls;
    std::vector<chat_response> out;
    for (const auto& r : rs) out.push_back(scripted_client::make_response(r, "batch:" + r.messages[0].content));
    return out;
  }
};

/// The ten-line user client of docs/llm.md.
struct echo_client {
  chat_response chat(const chat_request& r) {
    chat_response out;
    out.text = r.messages.empty() ? "" : r.messages.back().content;
    out.finish_reason = "stop";
    return out;
  }
};

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    path = std::filesystem::temp_directory_path() /
           ("recblocks_llm_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct ranking {
  std::vector<std::string> items;
  double confidence = 0;
};
void from_json(const json& j, ranking& r) {
  j.at("items").get_to(r.items);
  j.at("confidence").get_to(r.confidence);
  if (r.confidence < 0 || r.confidence > 1) throw recblocks::value_error("confidence out of [0, 1]");
}

const json ranking_schema = json::parse(R"({"type":"object","properties":{
  "items":{"type":"array","items":{"type":"string"},"minItems":1},
  "confidence":{"type":"number"}},"required":["items","confidence"]})");

}  // namespace

static_assert(llm_client<echo_client>);
static_assert(!batch_llm_client<echo_client>);
static_assert(batch_llm_client<batching_echo>);
static_assert(llm_client<scripted_client> && embedding_client<scripted_client>);
static_assert(llm_client<any_client> && llm_client<replay_client>);
static_assert(llm_client<structured_client<scripted_client&>>);
static_assert(llm_client<caching_client<structured_client<scripted_client>>>);
static_assert(!llm_client<int>);

TEST_CASE("generic entry points dispatch to members or fall back", "[llm][client]") {
  echo_client echo;
  const std::vector<chat_request> rs{user_request("a"), user_request("b")};
  auto out = chat_batch(echo, std::span<const chat_request>(rs));
  REQUIRE(out.size() == 2);
  CHECK(out[1].text == "b");

  batching_echo be;
  out = chat_batch(be, std::span<const chat_request>(rs));
  CHECK(be.batch_calls == 1);
  CHECK(out[0].text == "batch:a");

  std::string streamed;
  auto resp = chat_stream(echo, user_request("whole"), [&](std::string_view d) { streamed += d; });
  CHECK(streamed == "whole");
  CHECK(resp.text == "whole");
  CHECK(ask(echo, "hello") == "hello");

  CHECK_THROWS_AS(chat_logprobs(echo, user_request("x")), llm_error);  // no logprobs served
  scripted_client with_lp;
  with_lp.then_call([](const chat_request& r) {
    CHECK(r.options.logprobs);
    CHECK(r.options.top_logprobs == 2);
    auto resp = scripted_client::make_response(r, "yes");
    resp.logprobs.push_back({"yes", -0.1, {}});
    return resp;
  });
  CHECK(chat_logprobs(with_lp, user_request("q"), 2).logprobs.size() == 1);
}

TEST_CASE("any_client erases the type, owning or borrowing", "[llm][client]") {
  scripted_client s({"first", "second"});
  any_client borrowed(std::ref(s));
  CHECK(borrowed.chat(user_request("q")).text == "first");
  CHECK(s.calls() == 1);
  any_client owned(echo_client{});
  CHECK(owned.chat(user_request("mirror")).text == "mirror");
  CHECK_THROWS_AS(any_client{}.chat(user_request("q")), llm_error);
}

TEST_CASE("scripted_client plays answers, functions, faults, garbage and delays", "[llm][scripted]") {
  scripted_client s;
  s.then_answer("one")
      .then_call([](const chat_request& r) { return scripted_client::make_response(r, "fn:" + r.messages[0].content); })
      .then_fail(llm_error(llm_error_kind::http_status, "injected", 503, 1, "{}"))
      .then_garbage()
      .then_delay(30ms)
      .then_answer("late");
  CHECK(s.remaining() == 5);
  auto r1 = s.chat(user_request("a"));
  CHECK(r1.text == "one");
  CHECK(r1.usage.prompt_tokens == 4 + 2);  // framing + one word (ceil(4/3))
  CHECK(r1.usage.total_tokens == r1.usage.prompt_tokens + r1.usage.completion_tokens);
  CHECK(s.chat(user_request("b")).text == "fn:b");
  try {
    s.chat(user_request("c"));
    FAIL("no fault");
  } catch (const llm_error& e) {
    CHECK(e.status() == 503);
    CHECK(e.retryable());
  }
  CHECK_FALSE(extract_json(s.chat(user_request("d")).text).has_value());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(s.chat(user_request("e")).text == "late");
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
  try {
    s.chat(user_request("f"));
    FAIL("no exhaustion error");
  } catch (const llm_error& e) {
    CHECK(e.kind() == llm_error_kind::scripted);
  }
  s.otherwise([](const chat_request& r) { return scripted_client::make_response(r, "default"); });
  CHECK(s.chat(user_request("g")).text == "default");
  REQUIRE(s.requests().size() == 7);
  CHECK(s.requests()[6].messages[0].content == "g");

  const std::vector<std::string> texts{"alpha", "beta", "alpha"};
  s.with_embedding_dim(16);
  const auto v = s.embed(texts);
  REQUIRE(v.size() == 3);
  CHECK(v[0].size() == 16);
  CHECK(v[0] == v[2]);
  CHECK(v[0] != v[1]);
  double norm = 0;
  for (float x : v[1]) norm += double(x) * x;
  CHECK(norm == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("structured_client re-asks with the error, then returns a validated value", "[llm][structured]") {
  scripted_client s;
  s.then_garbage()
      .then_answer(R"({"items": [], "confidence": 0.9})")  // violates minItems
      .then_answer("Here you go:\n```json\n{\"items\": [\"b\", \"a\"], \"confidence\": 0.8}\n```");
  structured_client sc(s, {.max_attempts = 3});
  auto j = sc.ask_json(user_request("rank a, b"), ranking_schema);
  CHECK(j["items"] == json::array({"b", "a"}));
  const auto reqs = s.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].options.format.kind == format_kind::json_schema);
  CHECK(reqs[0].options.format.schema == ranking_schema);
  REQUIRE(reqs[2].messages.size() == 3);  // user, the latest bad answer, repair (re-asks do not pile up)
  CHECK(reqs[1].messages[1].role == role::assistant);
  CHECK_THAT(reqs[1].messages[2].content, Catch::Contains("contains no JSON value"));
  CHECK(reqs[2].messages[1].content == R"({"items": [], "confidence": 0.9})");
  CHECK_THAT(reqs[2].messages[2].content, Catch::Contains("fewer than minItems"));
  CHECK_THAT(reqs[2].messages[2].content, Catch::Contains("\"minItems\":1"));
  CHECK(reqs[0].options.max_tokens == 512);  // structured requests are bounded by default
}

TEST_CASE("structured_client converts to a C++ type and gives up with the last raw answer", "[llm][structured]") {
  scripted_client s;
  s.then_answer(R"({"items":["x"],"confidence":3.5})")  // from_json rejects it
      .then_answer(R"({"items":["x"],"confidence":0.25})");
  structured_client sc(s);
  const auto r = sc.ask_as<ranking>(user_request("rank"), ranking_schema);
  CHECK(r.items == std::vector<std::string>{"x"});
  CHECK(r.confidence == 0.25);
  CHECK_THAT(s.requests()[1].messages.back().content, Catch::Contains("confidence out of [0, 1]"));

  scripted_client wrong;
  wrong.otherwise([](const chat_request& q) { return scripted_client::make_response(q, R"({"items":"x"})"); });
  structured_client sc2(wrong, {.max_attempts = 2});
  try {
    sc2.ask_as<ranking>(user_request("rank"), ranking_schema);
    FAIL("no exception");
  } catch (const llm_error& e) {
    CHECK(e.kind() == llm_error_kind::invalid_output);
    CHECK(e.attempts() == 2);
    CHECK(e.body() == R"({"items":"x"})");
    CHECK_THAT(e.what(), Catch::Contains("$.items: expected type \"array\""));
  }
  CHECK(wrong.calls() == 2);

  // Errors of the inner client propagate unchanged and are not re-asked.
  scripted_client failing;
  failing.then_fail(llm_error(llm_error_kind::connection, "refused", 0, 3));
  structured_client sc3(failing);
  try {
    sc3.ask_json(user_request("q"), ranking_schema);
    FAIL("no exception");
  } catch (const llm_error& e) {
    CHECK(e.kind() == llm_error_kind::connection);
    CHECK(e.attempts() == 3);
  }
  CHECK(failing.calls() == 1);
  CHECK_THROWS_AS(structured_client(failing, {.max_attempts = 0}), recblocks::value_error);
}

TEST_CASE("structured_client as an llm_client validates JSON requests and sums usage", "[llm][structured]") {
  scripted_client s;
  s.then_answer("text passes through").then_answer("nope").then_answer(" [1, 2] ");
  structured_client sc(std::move(s));
  CHECK(sc.chat(user_request("q")).text == "text passes through");
  auto r = user_request("q");
  r.options.format = response_format::json_object();
  const auto resp = sc.chat(r);
  CHECK(resp.text == "[1,2]");
  CHECK(resp.usage.completion_tokens == static_cast<long>(estimate_tokens("nope") + estimate_tokens(" [1, 2] ")));
}

TEST_CASE("response_cache persists atomically and survives concurrent use", "[llm][cache]") {
  temp_dir dir;
  const auto req = user_request("cached?");
  chat_response resp{"yes", "stop", {1, 1, 2}, "m", {}, "", nullptr};
  {
    response_cache cache(dir.path / "c");
    CHECK_FALSE(cache.get(req).has_value());
    cache.put(req, resp);
    CHECK(cache.get(req) == resp);
    CHECK_FALSE(cache.get(req, "other-scope").has_value());
    CHECK(cache.size() == 1);
  }
  response_cache reopened(dir.path / "c");
  CHECK(reopened.get(req) == resp);
  // no temporary files left behind
  for (const auto& e : std::filesystem::directory_iterator(dir.path / "c"))
    CHECK(e.path().extension() == ".json");
  // a corrupt entry is a miss, then replaced
  { std::ofstream(reopened.path_for(req)) << "{ half"; }
  CHECK_FALSE(reopened.get(req).has_value());
  CHECK(reopened.stats().corrupt == 1);
  reopened.put(req, resp);
  CHECK(reopened.get(req) == resp);

  // many threads writing and reading the same few keys: every read sees a whole entry
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const auto r = user_request("k" + std::to_string(i % 5));
        chat_response v{"v" + std::to_string(i % 5), "stop", {}, "t" + std::to_string(t), {}, "", nullptr};
        reopened.put(r, v);
        auto got = reopened.get(r);
        if (!got || got->text != v.text) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
  CHECK(reopened.stats().corrupt == 1);
  CHECK(reopened.size() == 6);
}

TEST_CASE("caching_client serves repeats from the cache and never caches failures", "[llm][cache]") {
  scripted_client s;
  s.then_fail(llm_error(llm_error_kind::timeout, "slow", 0, 1)).then_answer("fresh");
  auto cache = response_cache::in_memory();
  caching_client cc(s, cache, "model-a");
  CHECK_THROWS_AS(cc.chat(user_request("q")), llm_error);
  CHECK(cache.size() == 0);
  CHECK(cc.chat(user_request("q")).text == "fresh");
  CHECK(cc.chat(user_request("q")).text == "fresh");
  CHECK(s.calls() == 2);
  CHECK(cache.stats().hits == 1);

  // batches send only the misses to the inner client
  s.otherwise([](const chat_request& r) { return scripted_client::make_response(r, "b:" + r.messages[0].content); });
  const std::vector<chat_request> rs{user_request("q"), user_request("new")};
  auto out = cc.chat_batch(rs);
  CHECK(out[0].text == "fresh");
  CHECK(out[1].text == "b:new");
  CHECK(s.calls() == 3);

  // over structured_client, invalid answers are re-asked, never cached
  scripted_client raw;
  raw.then_answer("not json").then_answer(R"({"items":["a"],"confidence":1})");
  auto cache2 = response_cache::in_memory();
  caching_client validated{structured_client(raw), cache2};
  auto req = user_request("rank");
  req.options.format = response_format::json_schema(ranking_schema);
  CHECK(json::parse(validated.chat(req).text)["items"][0] == "a");
  CHECK(json::parse(validated.chat(req).text)["confidence"] == 1);
  CHECK(raw.calls() == 2);
  CHECK(cache2.size() == 1);
}

TEST_CASE("recording then strict replay reproduces answers offline", "[llm][replay]") {
  temp_dir dir;
  {
    response_cache rec(dir.path / "rec");
    scripted_client live({"alpha", "beta"});
    recording_client recorder(live, rec, "demo-model");
    CHECK(recorder.chat(user_request("1")).text == "alpha");
    CHECK(recorder.chat(user_request("2")).text == "beta");
    CHECK(recorder.recorded() == 2);
  }
  const response_cache rec(dir.path / "rec");
  replay_client replay(rec, "demo-model");
  CHECK(replay.mode() == replay_mode::strict);
  CHECK(replay.chat(user_request("2")).text == "beta");
  CHECK(replay.chat(user_request("1")).text == "alpha");
  try {
    replay.chat(user_request("never recorded"));
    FAIL("no miss error");
  } catch (const llm_error& e) {
    CHECK(e.kind() == llm_error_kind::replay_miss);
    CHECK_THAT(e.what(), Catch::Contains("never recorded"));
    CHECK_THAT(e.what(), Catch::Contains((dir.path / "rec").string()));
  }
  replay_client other_scope(rec, "another-model");
  CHECK_THROWS_AS(other_scope.chat(user_request("1")), llm_error);

  replay_client lenient(rec, any_client(echo_client{}), "demo-model");
  CHECK(lenient.mode() == replay_mode::fallback);
  CHECK(lenient.chat(user_request("1")).text == "alpha");
  CHECK(lenient.chat(user_request("echo me")).text == "echo me");
  CHECK(lenient.hits() == 1);
  CHECK(lenient.misses() == 1);
}

TEST_CASE("retry_policy and retrying_client retry transient errors only", "[llm][retry]") {
  retry_policy p;
  p.base_delay = 1ms;
  p.max_delay = 4ms;
  p.jitter = 0.0;
  CHECK(p.delay(1, -1) == 1ms);
  CHECK(p.delay(3, -1) == 4ms);
  CHECK(p.delay(10, -1) == 4ms);
  CHECK(p.delay(1, 30) == 30ms);
  p.jitter = 0.5;
  for (int i = 0; i < 20; ++i) {
    const auto d = p.delay(3, -1);
    CHECK(d >= 2ms);
    CHECK(d <= 4ms);
  }
  CHECK(p.should_retry(llm_error(llm_error_kind::http_status, "", 429), 1));
  CHECK(p.should_retry(llm_error(llm_error_kind::http_status, "", 503), 1));
  CHECK(p.should_retry(llm_error(llm_error_kind::http_status, "", 408), 1));
  CHECK_FALSE(p.should_retry(llm_error(llm_error_kind::http_status, "", 400), 1));
  CHECK_FALSE(p.should_retry(llm_error(llm_error_kind::http_status, "", 404), 1));
  CHECK_FALSE(p.should_retry(llm_error(llm_error_kind::bad_response, ""), 1));
  CHECK_FALSE(p.should_retry(llm_error(llm_error_kind::connection, ""), p.max_attempts));
  CHECK_FALSE(p.should_retry(llm_error(llm_error_kind::http_status, "", 429, 1, "", 3600000), 1));
  p.retry_timeouts = false;
  CHECK_FALSE(p.should_retry(llm_error(llm_error_kind::timeout, ""), 1));

  scripted_client s;
  s.then_fail(llm_error(llm_error_kind::connection, "reset"))
      .then_fail(llm_error(llm_error_kind::http_status, "busy", 503))
      .then_answer("ok")
      .then_fail(llm_error(llm_error_kind::http_status, "bad request", 400))
      .then_answer("unused");
  retry_policy fast;
  fast.base_delay = 1ms;
  retrying_client rc(s, fast);
  CHECK(rc.chat(user_request("q")).text == "ok");
  CHECK(s.calls() == 3);
  try {
    rc.chat(user_request("q"));
    FAIL("400 must not be retried");
  } catch (const llm_error& e) {
    CHECK(e.status() == 400);
    CHECK(e.attempts() == 1);
  }
  CHECK(s.calls() == 4);
  scripted_client always_slow;
  always_slow.otherwise([](const chat_request&) -> chat_response { throw llm_error(llm_error_kind::timeout, "slow"); });
  retrying_client rc2(always_slow, fast);
  try {
    rc2.chat(user_request("q"));
    FAIL("no exception");
  } catch (const llm_error& e) {
    CHECK(e.kind() == llm_error_kind::timeout);
    CHECK(e.attempts() == fast.max_attempts);
  }
  CHECK(always_slow.calls() == static_cast<std::size_t>(fast.max_attempts));
}

TEST_CASE("rate_limiter paces calls and caps concurrency", "[llm][rate]") {
  rate_limiter bucket(200.0, 2.0);  // 2 at once, then one every 5 ms
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 12; ++i) bucket.acquire_token();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed >= 45ms);   // 10 tokens beyond the burst at 5 ms each
  CHECK(elapsed < 1000ms);

  rate_limiter cap(0.0, 1.0, 3);
  std::vector<std::thread> threads;
  std::atomic<int> over{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto permit = cap.acquire();
        if (cap.in_flight() > 3) ++over;
        std::this_thread::sleep_for(1ms);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(over == 0);
  CHECK(cap.peak_in_flight() == 3);
  CHECK(cap.in_flight() == 0);
  CHECK_THROWS_AS(rate_limiter(-1.0), recblocks::value_error);
  CHECK_THROWS_AS(rate_limiter(1.0, 0.5), recblocks::value_error);
}

TEST_CASE("the umbrella composes: template -> structured -> cache over a scripted model", "[llm][client]") {
  const prompt_template t("Rank for {{user}}: {{items:list}}");
  scripted_client model;
  model.otherwise([](const chat_request& r) {
    CHECK_THAT(r.messages[0].content, Catch::Contains("- Up"));
    return scripted_client::make_response(r, R"({"items":["Up","Heat"],"confidence":0.7})");
  });
  auto cache = response_cache::in_memory();
  caching_client<structured_client<scripted_client&>> pipeline(structured_client<scripted_client&>(model), cache);
  auto req = user_request(t.render({{"user", "bob"}, {"items", {"Heat", "Up"}}}));
  req.options.format = response_format::json_schema(ranking_schema);
  for (int i = 0; i < 3; ++i) CHECK(json::parse(pipeline.chat(req).text)["items"][0] == "Up");
  CHECK(model.calls() == 1);
}

TEST_CASE("throttled_client caps concurrency and paces any client", "[llm][rate]") {
  std::atomic<int> now{0}, peak{0};
  scripted_client slow;
  slow.otherwise([&](const chat_request& r) {
    const int n = ++now;
    int p = peak.load();
    while (p < n && !peak.compare_exchange_weak(p, n)) {
    }
    std::this_thread::sleep_for(10ms);
    --now;
    return scripted_client::make_response(r, "a:" + r.messages[0].content);
  });
  throttled_client tc(slow, {.max_concurrency = 3});
  std::vector<chat_request> rs;
  for (int i = 0; i < 12; ++i) rs.push_back(user_request(std::to_string(i)));
  const auto out = chat_batch(tc, std::span<const chat_request>(rs));
  REQUIRE(out.size() == 12);
  for (int i = 0; i < 12; ++i) CHECK(out[static_cast<std::size_t>(i)].text == "a:" + std::to_string(i));
  CHECK(peak.load() <= 3);
  CHECK(peak.load() >= 2);
  CHECK(tc.limiter().peak_in_flight() <= 3);

  scripted_client quick;
  quick.otherwise([](const chat_request& r) { return scripted_client::make_response(r, "ok"); });
  throttled_client paced(quick, {.requests_per_second = 100.0});
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) paced.chat(user_request("q"));
  CHECK(std::chrono::steady_clock::now() - t0 >= 45ms);

  scripted_client failing;
  failing.then_answer("fine").then_fail(llm_error(llm_error_kind::http_status, "bad", 400)).then_answer("never");
  throttled_client one(failing, {.max_concurrency = 1});
  try {
    one.chat_batch(rs);
    FAIL("no exception");
  } catch (const llm_error& e) {
    CHECK(e.status() == 400);
  }
  CHECK(failing.calls() == 2);
  CHECK_THROWS_AS(throttled_client(quick, {.max_concurrency = 0}), recblocks::value_error);
}
