// recorded_client: record a prompt set through a live client (here a scripted one), save it as a
// compressed file with its header, replay it offline; misses name the request; another model or
// prompt version is refused unless allowed; a corrupt file is a clear error.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include <recblocks/llm.hpp>

#include "expect_llm_error.hpp"

using namespace recblocks::llm;
using recblocks_test::expect_llm_error;
using nlohmann::json;

namespace {

std::filesystem::path recording_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("recblocks-recorded-" + name + "-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  return dir;
}

chat_request ask_for(std::string text) {
  chat_request r;
  r.messages.push_back(message::user(std::move(text)));
  r.options.temperature = 0.0;
  r.options.max_tokens = 16;
  return r;
}

record_meta gemma_meta(std::string prompt_version = "test/1") {
  record_meta m;
  m.model = "gemma-3-270m-q4_k_m";
  m.model_sha256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
  m.prompt_version = std::move(prompt_version);
  m.server = "llama.cpp llama-server (llama-cpp-python 0.3.36)";
  return m;
}

}  // namespace

TEST_CASE("recorded_client records live, saves, and replays offline", "[llm][recorded]") {
  const auto dir = recording_dir("roundtrip");
#if defined(RECBLOCKS_HAVE_ZLIB)
  const auto file = dir / "answers.jsonl.gz";
#else
  const auto file = dir / "answers.jsonl";
#endif
  scripted_client model;
  model.then_answer("first answer").then_answer("second answer");
  {
    recorded_client live(file, gemma_meta(), {.mode = record_mode::live}, std::ref(model));
    CHECK(live.chat(ask_for("one")).text == "first answer");
    CHECK(live.chat(ask_for("two")).text == "second answer");
    CHECK(live.recorded() == 2);
    live.save();
    CHECK_FALSE(live.meta().recorded_at.empty());
  }
  REQUIRE(std::filesystem::exists(file));
  CHECK(std::filesystem::file_size(file) < 2000);

  recorded_client replay(file, gemma_meta());
  CHECK(replay.size() == 2);
  CHECK(replay.chat(ask_for("two")).text == "second answer");
  CHECK(replay.chat(ask_for("one")).text == "first answer");
  CHECK(replay.hits() == 2);
  CHECK(replay.meta().server == gemma_meta().server);
  CHECK(replay.meta().model_sha256 == gemma_meta().model_sha256);
  CHECK(model.requests().size() == 2);  // replay never asked the model

  const auto miss = expect_llm_error([&] { replay.chat(ask_for("three, a prompt that was never recorded")); });
  CHECK(miss.kind() == llm_error_kind::replay_miss);
  CHECK_THAT(miss.what(), Catch::Contains(to_hex(request_hash(ask_for("three, a prompt that was never recorded")))));
  CHECK_THAT(miss.what(), Catch::Contains("three, a prompt"));
  CHECK_THAT(miss.what(), Catch::Contains(file.string()));
  CHECK_THAT(miss.what(), Catch::Contains("--live"));

  // the same text with other options is another request
  auto other = ask_for("one");
  other.options.max_tokens = 17;
  CHECK(expect_llm_error([&] { replay.chat(other); }).kind() == llm_error_kind::replay_miss);

  // another model or prompt version is refused, unless allowed
  auto other_model = gemma_meta();
  other_model.model = "qwen2.5-0.5b";
  other_model.model_sha256.clear();
  const auto refused = expect_llm_error([&] { recorded_client c(file, other_model); });
  CHECK(refused.kind() == llm_error_kind::config);
  CHECK_THAT(refused.what(), Catch::Contains("recorded with model \"gemma-3-270m-q4_k_m\""));
  CHECK_THAT(refused.what(), Catch::Contains("qwen2.5-0.5b"));
  CHECK_NOTHROW(recorded_client(file, other_model, {.allow_other_model = true}));
  CHECK_THROWS_AS(recorded_client(file, gemma_meta("test/2")), llm_error);
  CHECK_NOTHROW(recorded_client(file, gemma_meta("test/2"), {.allow_other_prompt_version = true}));
  auto any_model = gemma_meta();
  any_model.model.clear();
  CHECK_NOTHROW(recorded_client(file, any_model));

  std::filesystem::remove_all(dir);
}

TEST_CASE("recorded_client refuses missing, foreign and corrupt files clearly", "[llm][recorded]") {
  const auto dir = recording_dir("bad");
  auto e = expect_llm_error([&] { recorded_client c(dir / "none.jsonl", gemma_meta()); });
  CHECK(e.kind() == llm_error_kind::config);
  CHECK_THAT(e.what(), Catch::Contains("no record file"));

  const auto plain = dir / "foreign.jsonl";
  std::ofstream(plain) << "{\"hello\": 1}\n";
  e = expect_llm_error([&] { recorded_client c(plain, gemma_meta()); });
  CHECK_THAT(e.what(), Catch::Contains("line 1: not a recblocks.llm.records header"));

  std::ofstream(plain, std::ios::trunc) << json{{"format", "recblocks.llm.records"}, {"version", 1},
                                                 {"model", "gemma-3-270m-q4_k_m"}, {"prompt_version", "test/1"}}
                                                   .dump()
                                        << "\n{\"request\": 5}\n";
  e = expect_llm_error([&] { recorded_client c(plain, gemma_meta()); });
  CHECK_THAT(e.what(), Catch::Contains("line 2: malformed record"));

  CHECK_THROWS_AS(recorded_client(plain, gemma_meta(), {.mode = record_mode::live}), llm_error);  // no live client
#if defined(RECBLOCKS_HAVE_ZLIB)
  const auto gz = dir / "broken.jsonl.gz";
  std::ofstream(gz) << "this is not gzip";
  CHECK_THROWS_AS(recorded_client(gz, gemma_meta()), recblocks::error);
#endif
  std::filesystem::remove_all(dir);
}
