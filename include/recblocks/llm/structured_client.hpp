#pragma once
/// \file structured_client.hpp
/// `structured_client<Inner>`: structured (JSON) output over any `llm_client`.
///
/// In: a request plus a JSON Schema (or a C++ type with nlohmann `from_json`). Out: a validated
/// `nlohmann::json` (or the `T`). Each attempt sends the request (with `options.format` set to the
/// schema, which HTTP clients turn into the server's dialect), extracts the first JSON value from
/// the answer (`extract_json`: ```json fences and leading prose are fine), validates it with
/// `json_schema` and, for a type, converts it with `from_json`. On failure it appends the model's
/// answer and a user message showing the error and the schema, and asks again, up to
/// `max_attempts` calls in all; then it throws `llm_error(invalid_output)` whose `body()` is the last
/// raw answer and whose `attempts()` is the number of calls. Errors thrown by the inner client
/// propagate unchanged (retrying transport failures is the inner client's job).
///
/// `structured_client` is itself an `llm_client`: `chat(r)` validates when `r.options.format` asks
/// for JSON (`json_object`: any JSON object or array; `json_schema`: that schema) and returns the
/// answer with `text` replaced by the compact dump of the validated value and `usage` summed over
/// the attempts; text requests pass through. So `caching_client<structured_client<...>>` caches only
/// validated answers.
///
/// `Inner` is a client type (owned, moved in) or an lvalue reference to one (borrowed); the
/// deduction guide picks a reference for lvalues. Thread safety: as the inner client's `chat`; the
/// wrapper keeps no mutable state.

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "client.hpp"
#include "json_extract.hpp"
#include "json_schema.hpp"

namespace recblocks::llm {

/// Options of `structured_client`.
struct structured_options {
  int max_attempts = 3;              ///< calls in all, >= 1 (the first ask plus re-asks)
  bool set_response_format = true;   ///< put the schema into `options.format` for the server
  std::optional<int> default_max_tokens = 512;  ///< max_tokens of JSON requests that set none; nullopt: leave unset
  std::size_t max_echo_bytes = 1000;  ///< how much of a failed answer a re-ask quotes (>= 64)
};

/// Structured-output layer over `Inner` (see the file comment).
template <class Inner>
class structured_client {
 public:
  using inner_type = std::remove_cvref_t<Inner>;
  static_assert(llm_client<inner_type>, "structured_client: Inner must model llm_client");

  template <class C>
  explicit structured_client(C&& inner, structured_options options = {});

  /// Validates JSON requests (see the file comment); passes text requests through.
  chat_response chat(const chat_request& r);

  /// The validated JSON value answering `r` under `schema`.
  nlohmann::json ask_json(chat_request r, const nlohmann::json& schema);

  /// The answer to `r` converted to `T` with `from_json`; validated against `schema` first unless
  /// `schema` is null (then the model is asked for a JSON object and only the conversion checks it).
  template <class T>
  T ask_as(chat_request r, const nlohmann::json& schema = nullptr);

  inner_type& inner() noexcept { return inner_; }
  const structured_options& options() const noexcept { return options_; }

 private:
  using check_fn = std::function<std::string(const nlohmann::json&)>;
  std::pair<nlohmann::json, chat_response> run(chat_request r, const check_fn& check);
  static std::string repair_prompt(const std::string& error, const response_format& f);
  std::string echo(const std::string& answer) const;

  Inner inner_;
  structured_options options_;
};

template <class C>
structured_client(C&&, structured_options = {}) -> structured_client<C>;

// ---- implementation ----------------------------------------------------------------------------

template <class Inner>
template <class C>
structured_client<Inner>::structured_client(C&& inner, structured_options options)
    : inner_(std::forward<C>(inner)), options_(options) {
  if (options_.max_attempts < 1)
    throw value_error("[llm::structured_client] max_attempts must be >= 1, got " +
                      std::to_string(options_.max_attempts));
  if (options_.default_max_tokens && *options_.default_max_tokens < 1)
    throw value_error("[llm::structured_client] default_max_tokens must be >= 1, got " +
                      std::to_string(*options_.default_max_tokens));
  if (options_.max_echo_bytes < 64)
    throw value_error("[llm::structured_client] max_echo_bytes must be >= 64, got " +
                      std::to_string(options_.max_echo_bytes));
}

template <class Inner>
std::string structured_client<Inner>::echo(const std::string& answer) const {
  const std::size_t limit = options_.max_echo_bytes;
  if (answer.size() <= limit) return answer;
  // head and tail, cut on UTF-8 character boundaries
  auto boundary = [&](std::size_t i) {
    while (i > 0 && i < answer.size() && (static_cast<unsigned char>(answer[i]) & 0xc0) == 0x80) --i;
    return i;
  };
  const std::size_t head = boundary(limit / 2);
  const std::size_t tail = boundary(answer.size() - limit / 2 + 16);
  return answer.substr(0, head) + "\n[... " + std::to_string(tail - head) + " bytes cut ...]\n" + answer.substr(tail);
}

template <class Inner>
chat_response structured_client<Inner>::chat(const chat_request& r) {
  const auto& f = r.options.format;
  if (f.kind == format_kind::text) return inner_.chat(r);
  if (f.kind == format_kind::json_object)
    return run(r, [](const nlohmann::json& j) -> std::string {
             return j.is_structured() ? "" : "expected a JSON object or array, got " + j.dump();
           }).second;
  const json_schema schema(f.schema);
  return run(r, [&schema](const nlohmann::json& j) {
           std::string err;
           for (const auto& e : schema.validate(j)) err += (err.empty() ? "" : "; ") + e;
           return err;
         }).second;
}

template <class Inner>
nlohmann::json structured_client<Inner>::ask_json(chat_request r, const nlohmann::json& schema) {
  r.options.format = response_format::json_schema(schema);
  const json_schema validator(schema);
  return run(std::move(r), [&validator](const nlohmann::json& j) {
           std::string err;
           for (const auto& e : validator.validate(j)) err += (err.empty() ? "" : "; ") + e;
           return err;
         }).first;
}

template <class Inner>
template <class T>
T structured_client<Inner>::ask_as(chat_request r, const nlohmann::json& schema) {
  std::optional<json_schema> validator;
  if (schema.is_null()) {
    r.options.format = response_format::json_object();
  } else {
    r.options.format = response_format::json_schema(schema);
    validator.emplace(schema);
  }
  std::optional<T> out;
  run(std::move(r), [&](const nlohmann::json& j) -> std::string {
    if (validator) {
      std::string err;
      for (const auto& e : validator->validate(j)) err += (err.empty() ? "" : "; ") + e;
      if (!err.empty()) return err;
    }
    try {
      out.emplace(j.get<T>());
    } catch (const std::exception& e) {  // nlohmann::json::exception or the type's own checks
      return std::string("cannot convert the JSON to the expected type: ") + e.what();
    }
    return "";
  });
  return std::move(*out);
}

template <class Inner>
std::pair<nlohmann::json, chat_response> structured_client<Inner>::run(chat_request r, const check_fn& check) {
  const response_format wanted = r.options.format;
  if (!options_.set_response_format) r.options.format = response_format::text();
  if (!r.options.max_tokens && options_.default_max_tokens) r.options.max_tokens = options_.default_max_tokens;
  const std::size_t base_messages = r.messages.size();
  usage total;
  std::string last_raw;
  std::string last_error;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    chat_response resp = inner_.chat(r);
    total += resp.usage;
    auto j = extract_json(resp.text);
    last_error = j ? check(*j) : std::string("the answer contains no JSON value");
    if (last_error.empty()) {
      resp.text = j->dump();
      resp.usage = total;
      return {std::move(*j), std::move(resp)};
    }
    if (last_error.size() > 500) last_error = last_error.substr(0, 500) + "...";
    last_raw = std::move(resp.text);
    r.messages.resize(base_messages);
    r.messages.push_back(message::assistant(echo(last_raw)));
    r.messages.push_back(message::user(repair_prompt(last_error, wanted)));
  }
  throw llm_error(llm_error_kind::invalid_output,
                  "structured_client: no valid JSON answer after " + std::to_string(options_.max_attempts) +
                      " attempts; last error: " + last_error,
                  0, options_.max_attempts, last_raw);
}

template <class Inner>
std::string structured_client<Inner>::repair_prompt(const std::string& error, const response_format& f) {
  std::string s = "Your previous answer could not be used: " + error + ".\n";
  if (f.kind == format_kind::json_schema)
    s += "Reply with only a JSON value that matches this JSON Schema, without any other text:\n" + f.schema.dump();
  else
    s += "Reply with only a JSON object, without any other text.";
  return s;
}

}  // namespace recblocks::llm
