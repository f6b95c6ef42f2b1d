#pragma once
/// \file openai_protocol.hpp
/// `openai_protocol`: the OpenAI-compatible wire format as pure functions (no network), shared by
/// `http_client` and testable without a server.
///
/// - `chat_body(r, model, dialect, stream)`: the body of `POST {base}/v1/chat/completions`:
///   `{model, messages:[{role,content}], temperature, top_p, max_tokens, seed, stop, logprobs,
///   top_logprobs, stream, stream_options:{include_usage}}` plus the expected output in the server's
///   dialect, then `options.extra` merged over the top level:
///
///   | `schema_dialect` | `json_schema` output is sent as                                          |
///   |------------------|---------------------------------------------------------------------------|
///   | `openai`         | `response_format: {type:"json_schema", json_schema:{name, strict:true, schema}}` (OpenAI, Ollama, vLLM, recent llama.cpp) |
///   | `llamacpp`       | `response_format: {type:"json_object", schema}` (llama.cpp server, all builds) |
///   | `vllm`           | `structured_outputs: {json: schema}` (vLLM >= 0.12)                        |
///
///   `json_object` output is `response_format: {type:"json_object"}` in every dialect.
/// - `parse_chat(body)`: `choices[0].message.{content, reasoning_content}`, `finish_reason`,
///   `usage`, `model`, `choices[0].logprobs.content[]`. Missing `usage`/`logprobs` are fine; a null
///   `content` is "". An empty or non-JSON body, an `error` object, or no `choices[0].message`
///   throws `llm_error(bad_response)` carrying the body.
/// - `embeddings_body(texts, model)` / `parse_embeddings(body, n)`: `POST /v1/embeddings` with
///   `{model, input:[...], encoding_format:"float"}`; answers ordered by `data[i].index`.
/// - `sse_parser` + `parse_stream_chunk`: server-sent events (`data: {...}` lines, `data: [DONE]`).
/// - `endpoint(base, path)`: `http://h:8080` + `chat/completions` -> `http://h:8080/v1/chat/completions`;
///   a base that already ends in `/v1` (Ollama's documented `http://localhost:11434/v1`) is kept.
/// - `parse_retry_after(value, value_ms)`: Retry-After (seconds, fractional seconds or an HTTP
///   date) or `retry-after-ms`, in milliseconds, capped at `max_retry_after_ms` (10^12 ms, about
///   31 years: far beyond any `retry_policy::max_retry_after`, so a huge or infinite value gives up
///   instead of overflowing); -1 when absent or unparsable (negative, NaN, garbage).
/// - `parse_dialect(name)`: "openai" | "llamacpp" | "vllm" (case-sensitive) to `schema_dialect`;
///   anything else throws `llm_error(config)` naming the value (this is how `RECBLOCKS_LLM_DIALECT`
///   is read).
///
/// Bytes that are not valid UTF-8 in a body or a stream chunk are reported as such
/// (`llm_error(bad_response)`, "... is not valid UTF-8 at byte N"), never as "not JSON", and every
/// error message shows the body through `printable` (invalid bytes as `\xNN`).
///
/// Thread safety: static pure functions; an `sse_parser` object belongs to one stream.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <iomanip>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat_request.hpp"
#include "chat_response.hpp"
#include "llm_error.hpp"

namespace recblocks::llm {

/// How a JSON schema is sent to the server (see the file comment).
enum class schema_dialect { openai, llamacpp, vllm };

/// "openai", "llamacpp" or "vllm".
constexpr const char* to_string(schema_dialect d) noexcept {
  switch (d) {
    case schema_dialect::openai: return "openai";
    case schema_dialect::llamacpp: return "llamacpp";
    case schema_dialect::vllm: return "vllm";
  }
  return "unknown";
}

/// Pure request builders and response parsers of the OpenAI-compatible API.
class openai_protocol {
 public:
  /// One parsed streaming chunk.
  struct stream_chunk {
    std::string delta;          ///< `choices[0].delta.content` ("" when absent)
    std::string reasoning;      ///< `choices[0].delta.reasoning_content`
    std::string finish_reason;  ///< "" until the last content chunk
    std::optional<llm::usage> usage;
    std::string model;
  };

  /// Splits a byte stream into SSE events and hands each event's data to a callback.
  class sse_parser {
   public:
    /// Feeds bytes (any split); calls `on_data(data)` for each complete event except `[DONE]`.
    void feed(std::string_view bytes, const std::function<void(std::string_view)>& on_data);
    /// True once `data: [DONE]` was seen.
    bool done() const noexcept { return done_; }

   private:
    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool done_ = false;
  };

  static nlohmann::json chat_body(const chat_request& r, std::string_view default_model, schema_dialect dialect,
                                  bool stream = false);
  static chat_response parse_chat(std::string_view body);
  static stream_chunk parse_stream_chunk(std::string_view data);
  static nlohmann::json embeddings_body(std::span<const std::string> texts, std::string_view model);
  static std::vector<std::vector<float>> parse_embeddings(std::string_view body, std::size_t expected);
  /// `error.message` of an error body, else the body itself (truncated to 300 bytes).
  static std::string error_message(std::string_view body);
  static long parse_retry_after(std::string_view retry_after, std::string_view retry_after_ms = {});
  static schema_dialect parse_dialect(std::string_view name);
  /// The cap of `parse_retry_after`, in milliseconds.
  static constexpr long max_retry_after_ms = 1'000'000'000'000L;
  static std::string endpoint(std::string_view base_url, std::string_view path);

 private:
  [[noreturn]] static void bad(const std::string& what, std::string_view body);
};

// ---- implementation ----------------------------------------------------------------------------

inline void openai_protocol::bad(const std::string& what, std::string_view body) {
  throw llm_error(llm_error_kind::bad_response, what, 0, 1, std::string(body));
}

namespace detail {
/// Throws `llm_error(bad_response)` when `bytes` is not valid UTF-8 (`what`: "response body", ...).
inline void require_utf8(std::string_view bytes, const char* what) {
  const auto at = first_invalid_utf8(bytes);
  if (at != std::string_view::npos)
    throw llm_error(llm_error_kind::bad_response,
                    std::string(what) + " is not valid UTF-8 at byte " + std::to_string(at) + " of " +
                        std::to_string(bytes.size()),
                    0, 1, std::string(bytes));
}
}  // namespace detail

inline schema_dialect openai_protocol::parse_dialect(std::string_view name) {
  for (auto d : {schema_dialect::openai, schema_dialect::llamacpp, schema_dialect::vllm})
    if (name == to_string(d)) return d;
  throw llm_error(llm_error_kind::config,
                  "unknown schema dialect \"" + printable(name, 60) + "\" (RECBLOCKS_LLM_DIALECT or "
                  "http_client_options::dialect): expected openai, llamacpp or vllm",
                  0, 0);
}

inline nlohmann::json openai_protocol::chat_body(const chat_request& r, std::string_view default_model,
                                                 schema_dialect dialect, bool stream) {
  nlohmann::json body;
  const std::string model = r.model.empty() ? std::string(default_model) : r.model;
  if (!model.empty()) body["model"] = model;  // llama-server ignores it; vLLM and Ollama need it
  body["messages"] = r.messages;
  const auto& o = r.options;
  if (o.temperature) body["temperature"] = *o.temperature;
  if (o.top_p) body["top_p"] = *o.top_p;
  if (o.max_tokens) body["max_tokens"] = *o.max_tokens;
  if (o.seed) body["seed"] = *o.seed;
  if (!o.stop.empty()) body["stop"] = o.stop;
  if (o.logprobs) {
    body["logprobs"] = true;
    if (o.top_logprobs) body["top_logprobs"] = *o.top_logprobs;
  }
  switch (o.format.kind) {
    case format_kind::text: break;
    case format_kind::json_object: body["response_format"] = {{"type", "json_object"}}; break;
    case format_kind::json_schema:
      switch (dialect) {
        case schema_dialect::openai:
          body["response_format"] = {
              {"type", "json_schema"},
              {"json_schema", {{"name", o.format.name}, {"strict", true}, {"schema", o.format.schema}}}};
          break;
        case schema_dialect::llamacpp:
          body["response_format"] = {{"type", "json_object"}, {"schema", o.format.schema}};
          break;
        case schema_dialect::vllm: body["structured_outputs"] = {{"json", o.format.schema}}; break;
      }
      break;
  }
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  if (o.extra.is_object())
    for (const auto& [k, v] : o.extra.items()) body[k] = v;
  return body;
}

namespace detail {
inline std::string string_or_empty(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}
inline long long_or_zero(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0L;
  if (it->is_number_integer()) return it->get<long>();
  const double v = it->get<double>();  // a float count: clamp, never cast out of range
  return v >= 0.0 && v < 9.0e18 ? static_cast<long>(v) : 0L;
}
inline double double_or(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return (it != j.end() && it->is_number()) ? it->get<double>() : fallback;
}
inline usage parse_usage(const nlohmann::json& u) {
  usage out;
  if (!u.is_object()) return out;
  out.prompt_tokens = long_or_zero(u, "prompt_tokens");
  out.completion_tokens = long_or_zero(u, "completion_tokens");
  out.total_tokens = u.contains("total_tokens") ? long_or_zero(u, "total_tokens")
                                                : out.prompt_tokens + out.completion_tokens;
  return out;
}
}  // namespace detail

inline chat_response openai_protocol::parse_chat(std::string_view body) {
  if (body.empty()) bad("empty response body", body);
  detail::require_utf8(body, "response body");
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) bad("response body is not JSON", body);
  if (!j.is_object()) bad("response body is not a JSON object", body);
  if (j.contains("error")) bad("server error: " + error_message(body), body);
  auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty())
    bad("response has no \"choices\"", body);
  const auto& c0 = (*choices)[0];
  if (!c0.is_object()) bad("choices[0] is not an object", body);
  auto msg = c0.find("message");
  if (msg == c0.end() || !msg->is_object()) bad("response has no \"choices[0].message\"", body);
  auto content = msg->find("content");
  if (content != msg->end() && !content->is_null() && !content->is_string())
    bad("choices[0].message.content is not a string", body);
  chat_response out;
  out.text = detail::string_or_empty(*msg, "content");
  out.reasoning = detail::string_or_empty(*msg, "reasoning_content");
  if (auto tc = msg->find("tool_calls"); tc != msg->end() && tc->is_array() && !tc->empty()) out.tool_calls = *tc;
  out.finish_reason = detail::string_or_empty(c0, "finish_reason");
  out.model = detail::string_or_empty(j, "model");
  if (auto u = j.find("usage"); u != j.end()) out.usage = detail::parse_usage(*u);
  if (auto lp = c0.find("logprobs"); lp != c0.end() && lp->is_object()) {
    if (auto content_lp = lp->find("content"); content_lp != lp->end() && content_lp->is_array()) {
      for (const auto& t : *content_lp) {
        if (!t.is_object()) continue;
        token_logprob tl;
        tl.token = detail::string_or_empty(t, "token");
        tl.logprob = detail::double_or(t, "logprob", 0.0);
        if (auto top = t.find("top_logprobs"); top != t.end() && top->is_array())
          for (const auto& a : *top)
            if (a.is_object()) tl.top.emplace_back(detail::string_or_empty(a, "token"), detail::double_or(a, "logprob", 0.0));
        out.logprobs.push_back(std::move(tl));
      }
    }
  }
  return out;
}

inline openai_protocol::stream_chunk openai_protocol::parse_stream_chunk(std::string_view data) {
  detail::require_utf8(data, "stream chunk");
  auto j = nlohmann::json::parse(data.begin(), data.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("stream chunk is not a JSON object", data);
  if (j.contains("error")) bad("server error in stream: " + error_message(data), data);
  stream_chunk out;
  out.model = detail::string_or_empty(j, "model");
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) out.usage = detail::parse_usage(*u);
  if (auto choices = j.find("choices"); choices != j.end() && choices->is_array() && !choices->empty()) {
    const auto& c0 = (*choices)[0];
    if (auto d = c0.find("delta"); d != c0.end() && d->is_object()) {
      out.delta = detail::string_or_empty(*d, "content");
      out.reasoning = detail::string_or_empty(*d, "reasoning_content");
    }
    out.finish_reason = detail::string_or_empty(c0, "finish_reason");
  }
  return out;
}

inline void openai_protocol::sse_parser::feed(std::string_view bytes,
                                              const std::function<void(std::string_view)>& on_data) {
  for (char ch : bytes) {
    if (ch != '\n') {
      line_ += ch;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {  // end of event
      if (has_data_) {
        if (data_ == "[DONE]") done_ = true;
        else on_data(data_);
      }
      data_.clear();
      has_data_ = false;
    } else if (line_.rfind("data:", 0) == 0) {
      std::string_view v(line_);
      v.remove_prefix(5);
      if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (has_data_) data_ += '\n';
      data_.append(v);
      has_data_ = true;
    }  // other fields (event:, id:, retry:) and comments (":") are ignored
    line_.clear();
  }
}

inline nlohmann::json openai_protocol::embeddings_body(std::span<const std::string> texts, std::string_view model) {
  nlohmann::json input = nlohmann::json::array();
  for (const auto& t : texts) input.push_back(t);
  return {{"model", std::string(model)}, {"input", std::move(input)}, {"encoding_format", "float"}};
}

inline std::vector<std::vector<float>> openai_protocol::parse_embeddings(std::string_view body, std::size_t expected) {
  if (body.empty()) bad("empty embeddings body", body);
  detail::require_utf8(body, "embeddings body");
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("embeddings body is not a JSON object", body);
  if (j.contains("error")) bad("server error: " + error_message(body), body);
  auto data = j.find("data");
  if (data == j.end() || !data->is_array()) bad("embeddings response has no \"data\" array", body);
  if (data->size() != expected)
    bad("embeddings response has " + std::to_string(data->size()) + " vectors, expected " + std::to_string(expected),
        body);
  std::vector<std::vector<float>> out(expected);
  std::vector<bool> seen(expected, false);
  for (std::size_t i = 0; i < data->size(); ++i) {
    const auto& d = (*data)[i];
    if (!d.is_object()) bad("data[" + std::to_string(i) + "] is not an object", body);
    const std::size_t index = d.contains("index") && d["index"].is_number_unsigned() ? d["index"].get<std::size_t>() : i;
    if (index >= expected || seen[index]) bad("bad or repeated embedding index " + std::to_string(index), body);
    auto e = d.find("embedding");
    if (e == d.end() || !e->is_array() || e->empty()) bad("data[" + std::to_string(i) + "].embedding missing", body);
    auto& v = out[index];
    v.reserve(e->size());
    for (const auto& x : *e) {
      if (!x.is_number()) bad("data[" + std::to_string(i) + "].embedding holds a non-number", body);
      const double xv = x.get<double>();
      if (!(std::abs(xv) <= 3.0e38)) bad("data[" + std::to_string(i) + "].embedding holds a value out of float range", body);
      v.push_back(static_cast<float>(xv));
    }
    seen[index] = true;
  }
  return out;
}

inline std::string openai_protocol::error_message(std::string_view body) {
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) return printable(e->get<std::string>(), 300);
      if (e->is_object() && e->contains("message") && (*e)["message"].is_string())
        return printable((*e)["message"].get<std::string>(), 300);
    }
  }
  return body.empty() ? std::string("(empty body)") : printable(body, 300);
}

inline long openai_protocol::parse_retry_after(std::string_view retry_after, std::string_view retry_after_ms) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  };
  auto number = [](std::string_view s) -> std::optional<double> {
    if (s.empty()) return std::nullopt;
    std::string str(s);
    char* end = nullptr;
    const double v = std::strtod(str.c_str(), &end);
    if (end != str.c_str() + str.size() || !(v >= 0.0)) return std::nullopt;  // NaN, negative, garbage
    return v;
  };
  auto capped = [](double ms) {  // +inf and 1e300 included: never cast an out-of-range double
    return ms >= static_cast<double>(max_retry_after_ms) ? max_retry_after_ms : static_cast<long>(ms);
  };
  if (auto ms = number(trim(retry_after_ms))) return capped(*ms);
  const auto ra = trim(retry_after);
  if (ra.empty()) return -1;
  if (auto s = number(ra)) return capped(*s * 1000.0);
  std::tm tm{};
  std::istringstream in{std::string(ra)};
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S");
  if (in.fail()) return -1;
  const std::time_t when = timegm(&tm);
  const std::time_t now = std::time(nullptr);
  return when > now ? capped(static_cast<double>(when - now) * 1000.0) : 0L;
}

inline std::string openai_protocol::endpoint(std::string_view base_url, std::string_view path) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  const bool has_v1 = base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0;
  return base + (has_v1 ? "/" : "/v1/") + std::string(path);
}

}  // namespace recblocks::llm
