// Issue 20: the agents layer — tools and tool-call validation, memory (persistence, bound, deletion,
// refusal, kill -9), reflection bounds, the agent loop, the simulated user, the shipped tools.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <recblocks/agents.hpp>
#include <recblocks/llm/openai_protocol.hpp>
#include <recblocks/llm/scripted_client.hpp>

namespace ag = recblocks::agents;
namespace llm = recblocks::llm;
using recblocks::index_t;
using nlohmann::json;

namespace {

// A deterministic bag-of-character-trigrams embedding (64-d): similar texts get similar vectors.
std::vector<float> trigram_embed(const std::string& text) {
  std::vector<float> v(64, 0.0f);
  std::string t = " " + text + " ";
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::size_t i = 0; i + 3 <= t.size(); ++i) v[recblocks::hash_string(t.substr(i, 3)) % 64] += 1.0f;
  v[63] += 0.01f;  // never the zero vector
  return v;
}

std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("recblocks_agents_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}

ag::tool echo_tool() {
  return ag::tool("echo", "echo a word",
                  {{"type", "object"},
                   {"properties", {{"word", {{"type", "string"}, {"maxLength", 10}}}}},
                   {"required", {"word"}},
                   {"additionalProperties", false}},
                  [](const json& a, ag::agent_context& ctx) {
                    ctx.candidates = {1, 2, 3, 4, 5, 6, 7};
                    return json{{"said", a.at("word")}};
                  });
}

ag::tool throwing_tool() {
  return ag::tool("boom", "always fails", {{"type", "object"}},
                  [](const json&, ag::agent_context&) -> json { throw std::runtime_error("kaboom"); });
}

std::string describe(index_t i) { return "item " + std::to_string(i); }

}  // namespace

TEST_CASE("tool: construction checks name, schema and callable", "[agents]") {
  auto fn = [](const json&, ag::agent_context&) { return json(); };
  CHECK_THROWS_AS(ag::tool("", "d", {{"type", "object"}}, fn), recblocks::value_error);
  CHECK_THROWS_AS(ag::tool("has space", "d", {{"type", "object"}}, fn), recblocks::value_error);
  CHECK_THROWS_AS(ag::tool("answer", "d", {{"type", "object"}}, fn), recblocks::value_error);
  CHECK_THROWS_AS(ag::tool("t", "d", {{"type", "string"}}, fn), recblocks::value_error);
  CHECK_THROWS_AS(ag::tool("t", "d", {{"type", "object"}}, nullptr), recblocks::value_error);
  ag::agent_context ctx;
  const ag::tool t = echo_tool();
  CHECK(t.invoke({{"word", "hi"}}, ctx)["said"] == "hi");
  CHECK_THROWS_WITH(t.invoke({{"word", 3}}, ctx), Catch::Contains("echo") && Catch::Contains("fail its schema"));
}

TEST_CASE("toolbox: unknown tools, bad arguments and throwing tools are failed results, counted", "[agents]") {
  ag::toolbox box;
  box.add(echo_tool()).add(throwing_tool());
  CHECK_THROWS_AS(box.add(echo_tool()), recblocks::value_error);
  ag::agent_context ctx;
  auto r = box.call({"nope", json::object(), ""}, ctx);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Catch::Contains("unknown tool \"nope\"") && Catch::Contains("echo, boom"));
  r = box.call({"echo", {{"word", "far too long a word"}}, ""}, ctx);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Catch::Contains("fail its schema"));
  r = box.call({"echo", {{"word", 1}, {"extra", 2}}, ""}, ctx);
  CHECK_FALSE(r.ok);
  r = box.call({"boom", json::object(), ""}, ctx);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Catch::Contains("kaboom"));
  r = box.call({"echo", {{"word", "ok"}}, ""}, ctx);
  CHECK(r.ok);
  CHECK(ctx.candidates.size() == 7);
  const auto& s = box.stats();
  CHECK(s.calls == 5);
  CHECK(s.unknown_tool == 1);
  CHECK(s.bad_arguments == 2);
  CHECK(s.tool_threw == 1);
  CHECK(s.ok == 1);
}

TEST_CASE("toolbox: the step schema accepts exactly the registered calls", "[agents]") {
  ag::toolbox box;
  box.add(echo_tool());
  const llm::json_schema step(box.call_schema(true));
  CHECK(step.is_valid({{"tool", "echo"}, {"arguments", {{"word", "a"}}}}));
  CHECK(step.is_valid({{"tool", "answer"}}));
  CHECK_FALSE(step.is_valid({{"tool", "unknown"}, {"arguments", json::object()}}));
  CHECK_FALSE(step.is_valid({{"tool", "echo"}, {"arguments", {{"word", 5}}}}));
  CHECK_FALSE(step.is_valid({{"tool", "echo"}}));
  CHECK_FALSE(llm::json_schema(box.call_schema(false)).is_valid({{"tool", "answer"}}));
  const json tools = box.openai_tools();
  REQUIRE(tools.size() == 1);
  CHECK(tools[0]["function"]["name"] == "echo");
}

TEST_CASE("toolbox: native tool_calls are parsed; malformed ones are bad responses", "[agents]") {
  const json ok = json::parse(R"([{"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{\"word\": \"hi\"}"}}])");
  const auto calls = ag::toolbox::parse_native(ok);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].name == "echo");
  CHECK(calls[0].arguments["word"] == "hi");
  CHECK(calls[0].id == "c1");
  CHECK(ag::toolbox::parse_native(json()).empty());
  CHECK_THROWS_AS(ag::toolbox::parse_native(json::object()), llm::llm_error);
  CHECK_THROWS_AS(ag::toolbox::parse_native(json::parse(R"([{"function": {"arguments": "{}"}}])")), llm::llm_error);
  // arguments that are not JSON text stay a string, which then fails any object schema
  const auto odd = ag::toolbox::parse_native(json::parse(R"([{"function": {"name": "echo", "arguments": "not json"}}])"));
  CHECK(odd[0].arguments.is_string());
  // the wire format: parse_chat keeps message.tool_calls
  const auto resp = llm::openai_protocol::parse_chat(
      R"({"choices": [{"message": {"content": null, "tool_calls": [{"id": "x", "type": "function", "function": {"name": "echo", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]})");
  CHECK(resp.tool_calls.size() == 1);
  const json round_trip = resp;
  CHECK(round_trip.get<llm::chat_response>() == resp);
}

TEST_CASE("memory_store: recall by similarity and recency, persistence, deletion", "[agents][memory]") {
  const auto dir = fresh_dir("mem");
  {
    ag::memory_store m(dir, trigram_embed);
    CHECK(m.open("ann").state == ag::memory_load::status::empty);
    m.remember("ann", "preference", "I love science fiction movies", 0);
    m.remember("ann", "preference", "I hate horror", 1);
    m.remember("bob", "preference", "Only comedies for me", 1);
    const auto r = m.recall("ann", "science fiction", 1, 2);
    REQUIRE(r.size() == 1);
    CHECK(r[0].entry.text == "I love science fiction movies");
    CHECK(m.recall("ann", "anything", 10, 2).size() == 2);
    CHECK(std::filesystem::exists(m.file_of("ann")));
  }
  {
    ag::memory_store m(dir, trigram_embed);
    const auto load = m.open("ann");
    CHECK(load.state == ag::memory_load::status::loaded);
    CHECK(load.entries == 2);
    // recency: of two equally similar texts, the newer ranks first
    m.remember("ann", "preference", "I like Westerns", 10);
    m.remember("ann", "preference", "I like Westerns", 50);
    const auto r = m.recall("ann", "I like Westerns", 2, 50);
    CHECK(r[0].entry.time == 50);
    CHECK(r[0].score > r[1].score);
    m.forget("ann");
    CHECK_FALSE(std::filesystem::exists(m.file_of("ann")));
    CHECK(m.entries("ann").empty());
    CHECK(m.entries("bob").size() == 1);
    CHECK(m.stats().forgotten == 1);
  }
  ag::memory_store m(dir, trigram_embed);
  CHECK(m.open("ann").state == ag::memory_load::status::empty);  // deleted stays deleted
  std::filesystem::remove_all(dir);
}

TEST_CASE("memory_store: size bound by summarisation or eviction", "[agents][memory]") {
  const auto dir = fresh_dir("bound");
  ag::memory_store sum(dir / "s", trigram_embed, {.max_entries = 6, .summarise_batch = 3});
  for (int i = 0; i < 20; ++i) sum.remember("u", "preference", "fact number " + std::to_string(i), i);
  CHECK(sum.entries("u").size() <= 6);
  CHECK(sum.stats().summarised > 0);
  bool has_summary = false;
  for (const auto& e : sum.entries("u")) has_summary |= e.kind == "summary";
  CHECK(has_summary);
  CHECK(sum.entries("u").back().text == "fact number 19");
  ag::memory_store ev(dir / "e", trigram_embed, {.max_entries = 4, .summarise_batch = 1, .summarise = false});
  for (int i = 0; i < 10; ++i) ev.remember("u", "preference", "fact " + std::to_string(i), i);
  REQUIRE(ev.entries("u").size() == 4);
  CHECK(ev.entries("u").front().text == "fact 6");
  CHECK(ev.stats().evicted == 6);
  CHECK_THROWS_AS(ag::memory_store(dir / "x", trigram_embed, {.max_entries = 4, .summarise_batch = 1}), recblocks::value_error);
  CHECK_THROWS_AS(ag::memory_store(dir / "x", trigram_embed, {.max_entries = 1}), recblocks::value_error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("memory_store: truncated, other-version, other-user and tampered files are refused", "[agents][memory]") {
  const auto dir = fresh_dir("refuse");
  std::filesystem::path file;
  {
    ag::memory_store m(dir, trigram_embed);
    m.remember("ann", "preference", "I love science fiction movies", 0);
    file = m.file_of("ann");
  }
  std::ifstream in(file);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& s) { std::ofstream(file, std::ios::trunc) << s; };
  auto expect_refused = [&](const std::string& bytes, const std::string& why) {
    write(bytes);
    ag::memory_store m(dir, trigram_embed);
    const auto load = m.open("ann");
    CHECK(load.state == ag::memory_load::status::refused);
    CHECK_THAT(load.reason, Catch::Contains(why));
    CHECK(m.entries("ann").empty());
    CHECK(m.stats().refused == 1);
    CHECK(std::filesystem::exists(file.string() + ".refused"));  // kept aside, not overwritten
    std::filesystem::remove(file.string() + ".refused");
  };
  expect_refused(good.substr(0, good.size() / 2), "truncated");
  expect_refused("", "truncated");
  json j = json::parse(good);
  j["version"] = 2;
  expect_refused(j.dump(), "format version 2");
  j = json::parse(good);
  j["user"] = "mallory";
  expect_refused(j.dump(), "another user");
  j = json::parse(good);
  j["entries"][0]["text"] = "changed";
  expect_refused(j.dump(), "checksum");
  // the agent says so
  write(good.substr(0, 10));
  ag::memory_store m(dir, trigram_embed);
  llm::scripted_client model;
  ag::toolbox box;
  ag::agent<llm::scripted_client> a(model, box, describe, {.use_reflection = false});
  a.with_memory(m).with_fixed_plan([](const ag::plan_input&) { return std::vector<ag::tool_call>{}; });
  std::vector<ag::agent_event> events;
  a.with_observer([&](const ag::agent_event& e) { events.push_back(e); });
  CHECK(a.begin_session("ann", 0).state == ag::memory_load::status::refused);
  REQUIRE_FALSE(events.empty());
  CHECK_THAT(events[0].detail["memory"].get<std::string>(), Catch::Contains("starting with an empty memory"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("memory_store: a writer killed with SIGKILL never leaves a corrupt file", "[agents][memory][crash]") {
  const auto dir = fresh_dir("kill");
  std::mt19937 gen(42);
  long last_seen = -1;
  for (int round = 0; round < 12; ++round) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child writes as fast as it can until killed
      try {
        ag::memory_store m(dir, trigram_embed, {.max_entries = 40, .summarise_batch = 10});
        for (long i = 0;; ++i) m.remember("ann", "preference", "fact " + std::to_string(i) + std::string(200, 'x'), i);
      } catch (...) {
        ::_exit(3);
      }
    }
    ::usleep(static_cast<useconds_t>(2000 + gen() % 30000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    ag::memory_store m(dir, trigram_embed);
    const auto load = m.open("ann");
    INFO("round " << round << ": " << load.reason);
    CHECK(load.state != ag::memory_load::status::refused);
    if (load.state == ag::memory_load::status::loaded) {
      CHECK(load.entries >= 1);
      CHECK(load.entries <= 40);
      last_seen = static_cast<long>(load.entries);
    }
  }
  CHECK(last_seen >= 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("reflector: rounds are bounded, flagged items replaced from the pool", "[agents][reflection]") {
  const ag::reflector r(3);
  int calls = 0;
  const ag::critic_fn always = [&](const ag::critique_input& in) {
    ++calls;
    ag::critique c;
    for (std::size_t p = 0; p < in.items.size(); ++p) c.violating.push_back(p);
    return c;
  };
  auto out = r.reflect({1, 2}, {3, 4, 5, 6, 7, 8, 9}, {"anything"}, always);
  CHECK(calls == 3);
  CHECK(out.rounds == 3);
  CHECK_FALSE(out.converged);
  CHECK(out.items == std::vector<index_t>{7, 8});
  // odd items break the rule; pool exhausted -> dropped; out-of-range positions ignored
  const ag::constraint_critic even({{"even", [](index_t i) { return i % 2 == 0; }}});
  out = r.reflect({1, 2, 3}, {4}, {}, even);
  CHECK(out.items == std::vector<index_t>{4, 2});
  CHECK(out.converged);
  CHECK(out.dropped == 1);
  out = r.reflect({2}, {}, {}, [](const ag::critique_input&) { return ag::critique{{7}, ""}; });
  CHECK(out.ignored == 1);
  CHECK(out.converged);
  CHECK(out.items == std::vector<index_t>{2});
  CHECK(ag::reflector(0).reflect({1}, {2}, {}, always).rounds == 0);
  CHECK_THROWS_AS(ag::reflector(-1), recblocks::value_error);
  // excluded items are never brought back
  out = ag::reflector(1).reflect({1}, {4}, {}, even, {4});
  CHECK(out.items.empty());
}

TEST_CASE("llm_critic: asks for the positions, falls back on invalid answers", "[agents][reflection]") {
  llm::scripted_client model;
  model.then_answer(R"({"bad": [2]})").then_garbage().then_garbage();
  ag::llm_critic<llm::scripted_client> critic(model, describe);
  auto c = critic({{"I want item 1"}, {1, 2, 3}});
  CHECK(c.violating == std::vector<std::size_t>{1});
  CHECK_THAT(model.requests()[0].messages[0].content, Catch::Contains("2. item 2"));
  CHECK(model.requests()[0].options.format.kind == llm::format_kind::json_schema);
  c = critic({{"x"}, {1, 2}});
  CHECK(c.violating.empty());
  CHECK(critic.stats().invalid == 1);
  CHECK(critic.stats().calls == 2);
  CHECK(critic.stats().requests == 3);
  CHECK(critic.stats().repaired == 0);
  // valid only after a re-ask: repaired
  model.then_garbage().then_answer(R"({"bad": []})");
  c = critic({{"x"}, {1, 2}});
  CHECK(c.violating.empty());
  CHECK(critic.stats().repaired == 1);
  CHECK(critic.stats().invalid == 1);
  CHECK(critic.stats().requests == 5);
}

TEST_CASE("agent: structured tool calls are validated, re-asked, and bounded in steps", "[agents][loop]") {
  ag::toolbox box;
  box.add(echo_tool()).add(throwing_tool());
  llm::scripted_client model;
  model.then_garbage()                                                   // no JSON: re-asked
      .then_answer(R"({"tool": "echo", "arguments": {"word": "hi"}})")  // ok
      .then_answer(R"({"tool": "nope", "arguments": {}})")              // unknown tool: schema fails, re-asked
      .then_answer(R"({"tool": "boom", "arguments": {}})")              // the tool throws: observation
      .then_answer(R"({"tool": "answer"})");
  ag::agent<llm::scripted_client> a(model, box, describe, {.k = 3, .max_steps = 4, .use_memory = false, .use_reflection = false});
  std::vector<std::string> stages;
  a.with_observer([&](const ag::agent_event& e) { stages.push_back(e.stage); });
  a.begin_session("u", 0);
  auto t = a.turn("find me something");
  CHECK(t.items == std::vector<index_t>{1, 2, 3});
  CHECK(t.steps == 3);
  CHECK(t.tool_calls == 2);
  CHECK(t.failed_calls == 1);
  CHECK(t.llm_calls == 5);
  CHECK(t.repaired_steps == 2);  // the no-JSON answer and the unknown tool, each valid at the re-ask
  CHECK(t.invalid_steps == 0);
  // the prompt: the constant task and tool list first, then the user's message, then the ask
  {
    const std::string& p = model.requests().front().messages.front().content;
    CHECK(p.find("Tools:\n- echo") < p.find("User: find me something"));
    CHECK(p.find("User: find me something") < p.find("Last step: none yet (no candidates)"));
    CHECK(p.find("Last step: none yet") < p.find("Next step as JSON:"));
  }
  CHECK(t.prompt_tokens > 0);
  CHECK_FALSE(t.step_bound_hit);
  CHECK_THAT(t.reply, Catch::Contains("1. item 1"));
  CHECK(stages.front() == "session");
  CHECK(std::find(stages.begin(), stages.end(), "tool") != stages.end());
  // the error of the failed call is shown to the model at the next step
  CHECK_THAT(model.requests().back().messages.back().content, Catch::Contains("kaboom"));
  // a model that loops on tool calls stops at max_steps; the next turn does not repeat shown items
  model.otherwise([](const llm::chat_request& r) {
    return llm::scripted_client::make_response(r, R"({"tool": "echo", "arguments": {"word": "again"}})");
  });
  t = a.turn("more");
  CHECK(t.step_bound_hit);
  CHECK(t.steps == 4);
  CHECK(t.items == std::vector<index_t>{4, 5, 6});
  CHECK(std::find(stages.begin(), stages.end(), "step_bound") != stages.end());
  CHECK_THROWS_AS(ag::agent<llm::scripted_client>(model, box, describe, {.max_steps = 0}), recblocks::value_error);
}

TEST_CASE("agent: a model that never gives a valid step ends planning (counted)", "[agents][loop]") {
  ag::toolbox box;
  box.add(echo_tool());
  llm::scripted_client model;
  model.otherwise([](const llm::chat_request& r) { return llm::scripted_client::make_response(r, "no idea"); });
  ag::agent<llm::scripted_client> a(model, box, describe, {.use_memory = false, .use_reflection = false, .max_attempts = 2});
  a.begin_session("u", 0);
  const auto t = a.turn("hello");
  CHECK(t.invalid_steps == 1);
  CHECK(t.repaired_steps == 0);
  CHECK(t.llm_calls == 2);
  CHECK(t.items.empty());
  CHECK_THAT(t.reply, Catch::Contains("nothing"));
  CHECK_THROWS_AS(ag::agent<llm::scripted_client>(model, box, describe).turn("x"), recblocks::value_error);
}

TEST_CASE("agent: native tool calls, re-asked when invalid", "[agents][loop]") {
  ag::toolbox box;
  box.add(echo_tool());
  llm::scripted_client model;
  auto with_calls = [](std::string calls) {
    return [calls](const llm::chat_request& r) {
      auto resp = llm::scripted_client::make_response(r, "");
      resp.tool_calls = json::parse(calls);
      return resp;
    };
  };
  model.then_call(with_calls(R"([{"id": "1", "type": "function", "function": {"name": "echo", "arguments": "{\"word\": 5}"}}])"))
      .then_call(with_calls(R"([{"id": "2", "type": "function", "function": {"name": "echo", "arguments": "{\"word\": \"hi\"}"}}])"))
      .then_answer("Here you go.");  // no tool call: the answer step
  ag::agent<llm::scripted_client> a(model, box, describe,
                                    {.k = 2, .use_memory = false, .use_reflection = false, .mode = ag::tool_call_mode::native});
  a.begin_session("u", 0);
  const auto t = a.turn("hi");
  CHECK(t.items == std::vector<index_t>{1, 2});
  CHECK(t.tool_calls == 1);
  CHECK(t.llm_calls == 3);
  CHECK(t.repaired_steps == 1);  // the bad arguments, valid at the re-ask
  const auto reqs = model.requests();
  CHECK(reqs[0].options.extra["tools"][0]["function"]["name"] == "echo");
  CHECK(reqs[0].options.extra["tool_choice"] == "required");  // no candidates yet: a call is required
  CHECK(reqs[2].options.extra["tool_choice"] == "auto");      // after echo: answering is allowed
  CHECK_THAT(reqs[1].messages.back().content, Catch::Contains("could not be used"));
}

TEST_CASE("agent: the answer step is offered only once there are candidates not shown yet", "[agents][loop]") {
  ag::toolbox box;
  box.add(echo_tool());
  llm::scripted_client model;
  model.then_answer(R"({"tool": "answer"})")                          // not offered yet: fails the schema, re-asked
      .then_answer(R"({"tool": "echo", "arguments": {"word": "a"}})")  // candidates 1..7
      .then_answer(R"({"tool": "answer"})");                          // now offered
  ag::agent<llm::scripted_client> a(model, box, describe, {.k = 3, .use_memory = false, .use_reflection = false});
  a.begin_session("u", 0);
  auto t = a.turn("hi");
  CHECK(t.items == std::vector<index_t>{1, 2, 3});
  CHECK(t.repaired_steps == 1);
  CHECK(t.steps == 2);
  const auto reqs = model.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].options.format.schema.dump().find("\"answer\"") == std::string::npos);
  CHECK(reqs[0].messages[0].content.find("- answer {}") == std::string::npos);
  CHECK(reqs[2].options.format.schema.dump().find("\"answer\"") != std::string::npos);
  CHECK_THAT(reqs[2].messages[0].content, Catch::Contains("- answer {}"));
  // with the option off, "answer" is always offered
  llm::scripted_client m2;
  m2.then_answer(R"({"tool": "answer"})");
  ag::agent<llm::scripted_client> b(m2, box, describe, {.use_memory = false, .use_reflection = false, .answer_needs_candidates = false});
  b.begin_session("u", 0);
  t = b.turn("hi");
  CHECK(t.items.empty());
  CHECK(t.llm_calls == 1);
  // native: a text answer while a call is required is re-asked, then counted invalid
  llm::scripted_client m3;
  m3.otherwise([](const llm::chat_request& r) { return llm::scripted_client::make_response(r, "I like films."); });
  ag::agent<llm::scripted_client> c(m3, box, describe,
                                    {.use_memory = false, .use_reflection = false, .mode = ag::tool_call_mode::native, .max_attempts = 2});
  c.begin_session("u", 0);
  t = c.turn("hi");
  CHECK(t.invalid_steps == 1);
  CHECK(t.llm_calls == 2);
  CHECK_THAT(m3.requests()[1].messages.back().content, Catch::Contains("no candidates yet"));
}

TEST_CASE("agent: memory across sessions, reflection, a 1 MB message, no-tools mode", "[agents][loop]") {
  const auto dir = fresh_dir("loop");
  ag::memory_store mem(dir, trigram_embed);
  ag::toolbox box;
  box.add(echo_tool());
  llm::scripted_client model;
  std::vector<ag::plan_input> seen;
  ag::agent<llm::scripted_client> a(model, box, describe, {.k = 3, .recall_k = 2});
  a.with_memory(mem)
      .with_fixed_plan([&](const ag::plan_input& in) {
        seen.push_back(in);
        return std::vector<ag::tool_call>{{"echo", {{"word", "x"}}, ""}};
      })
      .with_critic(ag::constraint_critic({{"no 2", [](index_t i) { return i != 2; }}}), 2);
  a.begin_session("ann", 0);
  auto t = a.turn("I only watch the 1990s");
  CHECK(t.items == std::vector<index_t>{1, 4, 3});  // 2 flagged and replaced in place
  CHECK(t.reflection.rounds == 2);
  CHECK(t.reflection.converged);
  CHECK(t.llm_calls == 0);
  a.end_session("asked for 1990s movies");
  a.begin_session("ann", 1);
  t = a.turn(std::string(1 << 20, 'a'));
  CHECK(t.message_truncated);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].message.size() == 2000);
  CHECK(seen[1].memories.size() == 2);  // recalled from the first session
  CHECK(mem.entries("ann").size() == 3);
  // no tools: titles resolved through the resolver
  model.then_answer(R"({"titles": ["Alien", "Unknown Film", "Alien"]})");
  ag::agent<llm::scripted_client> alone(model, box, describe, {.k = 3, .use_memory = false, .use_reflection = false, .use_tools = false});
  alone.with_title_resolver([](const std::string& t) -> std::optional<index_t> {
    if (t == "Alien") return 9;
    return std::nullopt;
  });
  alone.begin_session("bob", 0);
  t = alone.turn("scary space movie");
  CHECK(t.items == std::vector<index_t>{9});
  CHECK(t.unresolved_titles == 1);
  CHECK(t.llm_calls == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("simulated_user: hints in order, success, giving up", "[agents][simulated]") {
  auto u = ag::simulated_user::from_item(7, "Star Wars", {"Action", "Sci-Fi"}, 1977, 4);
  CHECK(u.opening() == "I want a Action movie.");
  CHECK(u.prior_facts() == std::vector<std::string>{"I mostly watch movies from the 1970s."});
  REQUIRE(u.hints().size() == 4);
  CHECK(u.hints()[2] == "The title has the word 'Star'.");
  auto r = u.respond({1, 2});
  CHECK_FALSE(r.done);
  CHECK(r.message == "Not those. It should also be Sci-Fi.");
  r = u.respond({7});
  CHECK(r.accepted);
  CHECK(u.turns() == 2);
  auto v = ag::simulated_user::from_item(1, "Heat", {"Crime"}, 1995, 2);
  CHECK_FALSE(v.respond({}).done);
  r = v.respond({});
  CHECK(r.done);
  CHECK_FALSE(r.accepted);
  CHECK_THROWS_AS(ag::simulated_user(1, {}, {}), recblocks::value_error);
}

TEST_CASE("llm_simulated_user: model-written messages, rule-based acceptance, counted fallbacks", "[agents][simulated]") {
  llm::scripted_client model;
  model.then_answer(R"({"message": "I want an old crime film about Bonnie and Clyde."})")  // names the title: masked
      .then_garbage()
      .then_garbage()                                                                   // invalid twice: the rule-based hint
      .then_garbage()
      .then_answer(R"({"message": "Something darker, please."})");                       // valid at the re-ask
  auto rules = ag::simulated_user::from_item(7, "Bonnie and Clyde", {"Crime", "Drama"}, 1967, 4);
  ag::llm_simulated_user<llm::scripted_client> u(model, rules, "Bonnie and Clyde (1967; Crime, Drama)", "Bonnie and Clyde", describe);
  CHECK(u.prior_facts() == rules.prior_facts());
  const std::string first = u.opening();
  CHECK(first == "I want an old crime film about that movie.");
  CHECK_THAT(model.requests()[0].messages[0].content, Catch::Contains("You want exactly this movie: Bonnie and Clyde (1967"));
  CHECK(model.requests()[0].options.format.kind == llm::format_kind::json_schema);
  auto r = u.respond({1, 2});
  CHECK_FALSE(r.done);
  CHECK(r.message == "Not those. It should also be Drama.");  // the fallback: the rules' hint for turn 1
  CHECK_THAT(model.requests()[1].messages[0].content, Catch::Contains("It suggested: item 1; item 2. None of them"));
  r = u.respond({3});
  CHECK(r.message == "Something darker, please.");
  r = u.respond({7, 8});
  CHECK(r.done);
  CHECK(r.accepted);
  CHECK(u.turns() == 3);
  const auto& st = u.stats();
  CHECK(st.messages == 3);
  CHECK(st.requests == 5);
  CHECK(st.leaks == 1);
  CHECK(st.invalid == 1);
  CHECK(st.repaired == 1);
  CHECK(model.requests().size() == 5);  // accepting asks nothing
  CHECK_THROWS_AS(ag::llm_simulated_user<llm::scripted_client>(model, rules, "", "x", describe), recblocks::value_error);
}

TEST_CASE("shipped tools: search, score, diversify, lookup", "[agents][tools]") {
  const std::vector<std::string> titles = {"Star Wars", "Star Trek", "Heat", "Alien", "Aliens", "Toy Story"};
  ag::catalogue_search search(titles, [](std::span<const std::string> ts) {
    std::vector<std::vector<float>> out;
    for (const auto& t : ts) out.push_back(trigram_embed(t));
    return out;
  });
  ag::toolbox box;
  box.add(ag::shipped_tools::search(search, 4))
      .add(ag::shipped_tools::score([](const std::string&, std::span<const index_t> items) {
        std::vector<double> s;
        for (index_t i : items) s.push_back(static_cast<double>(i));  // higher id = better
        return s;
      }))
      .add(ag::shipped_tools::diversify(search.vectors()))
      .add(ag::shipped_tools::lookup(
          [&](const std::string& t) -> std::optional<index_t> {
            for (std::size_t i = 0; i < titles.size(); ++i)
              if (titles[i] == t) return static_cast<index_t>(i);
            return std::nullopt;
          },
          [&](index_t i) { return titles[static_cast<std::size_t>(i)]; }));
  ag::agent_context ctx;
  CHECK_FALSE(box.call({"score_for_user", json::object(), ""}, ctx).ok);  // nothing to score yet
  auto r = box.call({"search_catalogue", {{"query", "Alien"}}, ""}, ctx);
  REQUIRE(r.ok);
  REQUIRE(ctx.candidates.size() == 4);
  CHECK(ctx.candidates[0] == 3);
  r = box.call({"score_for_user", json::object(), ""}, ctx);
  REQUIRE(r.ok);
  CHECK(std::is_sorted(ctx.candidates.rbegin(), ctx.candidates.rend()));
  for (const char* m : {"mmr", "dpp"}) {
    r = box.call({"rerank_diverse", {{"method", m}}, ""}, ctx);
    REQUIRE(r.ok);
    CHECK(std::set<index_t>(ctx.candidates.begin(), ctx.candidates.end()).size() == 4);
  }
  CHECK_FALSE(box.call({"rerank_diverse", {{"method", "random"}}, ""}, ctx).ok);
  r = box.call({"lookup_item", {{"title", "Toy Story"}}, ""}, ctx);
  CHECK(r.output["found"] == true);
  CHECK(ctx.candidates.front() == 5);
  CHECK(box.call({"lookup_item", {{"title", "Nope"}}, ""}, ctx).output["found"] == false);
  CHECK_THROWS_AS(search.search("x", 0), recblocks::value_error);
  CHECK(search.search(std::string(5000, 'a'), 2).size() == 2);  // long queries are cut
}
