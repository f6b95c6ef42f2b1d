#pragma once
/// \file chat_request.hpp
/// What goes into an `llm_client`: the messages, and `chat_options` (sampling, stop strings, the
/// expected `response_format`, logprobs, and an `extra` JSON object passed through verbatim to the
/// server body, e.g. `{"top_k": 20}` for vLLM).
///
/// Canonical form: `to_json(chat_request)` writes every field under fixed keys; nlohmann's object
/// keys are sorted, so `dump()` of it is canonical and is what `request_hash` hashes.
///
/// Thread safety: plain values.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "message.hpp"

namespace recblocks::llm {

/// Kind of output the model is asked for.
enum class format_kind { text, json_object, json_schema };

/// The expected output. `json_schema` carries a JSON Schema; the HTTP client translates it into the
/// server's dialect, and `structured_client` validates the answer against it.
struct response_format {
  format_kind kind = format_kind::text;
  nlohmann::json schema;          ///< for `json_schema`: the schema (object)
  std::string name = "response";  ///< schema name (OpenAI dialect requires one)

  static response_format text() { return {}; }
  static response_format json_object() { return {format_kind::json_object, nullptr, "response"}; }
  static response_format json_schema(nlohmann::json schema, std::string name = "response") {
    return {format_kind::json_schema, std::move(schema), std::move(name)};
  }
  friend bool operator==(const response_format&, const response_format&) = default;
};

/// Sampling and output options. Unset optionals are not sent (the server default applies).
struct chat_options {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> max_tokens;
  std::optional<std::int64_t> seed;
  std::vector<std::string> stop;
  llm::response_format format;
  bool logprobs = false;            ///< ask for per-token logprobs of the answer
  std::optional<int> top_logprobs;  ///< alternatives per token (with `logprobs`)
  nlohmann::json extra = nlohmann::json::object();  ///< merged into the request body as is

  friend bool operator==(const chat_options&, const chat_options&) = default;
};

/// A chat call: messages, options, and an optional model override (empty: the client's default).
struct chat_request {
  std::vector<message> messages;
  chat_options options;
  std::string model;

  friend bool operator==(const chat_request&, const chat_request&) = default;
};

void to_json(nlohmann::json& j, const response_format& f);
void from_json(const nlohmann::json& j, response_format& f);
void to_json(nlohmann::json& j, const chat_options& o);
void from_json(const nlohmann::json& j, chat_options& o);
void to_json(nlohmann::json& j, const chat_request& r);
void from_json(const nlohmann::json& j, chat_request& r);

// ---- implementation ----------------------------------------------------------------------------

namespace detail {
template <class T>
void put_optional(nlohmann::json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <class T>
void get_optional(const nlohmann::json& j, const char* key, std::optional<T>& v) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) v = it->template get<T>(); else v.reset();
}
}  // namespace detail

inline void to_json(nlohmann::json& j, const response_format& f) {
  static constexpr const char* names[] = {"text", "json_object", "json_schema"};
  j = nlohmann::json{{"type", names[static_cast<int>(f.kind)]}};
  if (f.kind == format_kind::json_schema) {
    j["schema"] = f.schema;
    j["name"] = f.name;
  }
}

inline void from_json(const nlohmann::json& j, response_format& f) {
  const auto type = j.at("type").get<std::string>();
  if (type == "text") f = response_format::text();
  else if (type == "json_object") f = response_format::json_object();
  else if (type == "json_schema") f = response_format::json_schema(j.at("schema"), j.value("name", "response"));
  else throw value_error("[llm::response_format] unknown type \"" + type + "\"");
}

inline void to_json(nlohmann::json& j, const chat_options& o) {
  j = nlohmann::json::object();
  detail::put_optional(j, "temperature", o.temperature);
  detail::put_optional(j, "top_p", o.top_p);
  detail::put_optional(j, "max_tokens", o.max_tokens);
  detail::put_optional(j, "seed", o.seed);
  if (!o.stop.empty()) j["stop"] = o.stop;
  j["response_format"] = o.format;
  if (o.logprobs) j["logprobs"] = true;
  detail::put_optional(j, "top_logprobs", o.top_logprobs);
  if (!o.extra.empty()) j["extra"] = o.extra;
}

inline void from_json(const nlohmann::json& j, chat_options& o) {
  detail::get_optional(j, "temperature", o.temperature);
  detail::get_optional(j, "top_p", o.top_p);
  detail::get_optional(j, "max_tokens", o.max_tokens);
  detail::get_optional(j, "seed", o.seed);
  o.stop = j.value("stop", std::vector<std::string>{});
  o.format = j.contains("response_format") ? j.at("response_format").get<response_format>() : response_format{};
  o.logprobs = j.value("logprobs", false);
  detail::get_optional(j, "top_logprobs", o.top_logprobs);
  o.extra = j.value("extra", nlohmann::json::object());
}

inline void to_json(nlohmann::json& j, const chat_request& r) {
  j = nlohmann::json{{"messages", r.messages}, {"options", r.options}};
  if (!r.model.empty()) j["model"] = r.model;
}

inline void from_json(const nlohmann::json& j, chat_request& r) {
  r.messages = j.at("messages").get<std::vector<message>>();
  r.options = j.contains("options") ? j.at("options").get<chat_options>() : chat_options{};
  r.model = j.value("model", std::string());
}

}  // namespace recblocks::llm
