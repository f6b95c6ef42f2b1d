#pragma once
/// \file chat_response.hpp
/// What comes out of an `llm_client`: the text, the finish reason ("stop", "length", ...), token
/// `usage`, the model that answered, optional per-token `logprobs`, and optional `reasoning` text
/// (llama-server's `reasoning_content`).
///
/// Thread safety: plain values.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace recblocks::llm {

/// Token counts reported by the server (0 where the server did not report them).
struct usage {
  long prompt_tokens = 0;
  long completion_tokens = 0;
  long total_tokens = 0;

  usage& operator+=(const usage& o) {
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    total_tokens += o.total_tokens;
    return *this;
  }
  friend bool operator==(const usage&, const usage&) = default;
};

/// One generated token with its log-probability and the top alternatives (token, logprob).
struct token_logprob {
  std::string token;
  double logprob = 0.0;
  std::vector<std::pair<std::string, double>> top;
  friend bool operator==(const token_logprob&, const token_logprob&) = default;
};

/// The answer of one chat call.
struct chat_response {
  std::string text;
  std::string finish_reason;  ///< "stop", "length", "content_filter", "tool_calls", or "" if unknown
  llm::usage usage;
  std::string model;
  std::vector<token_logprob> logprobs;  ///< empty unless requested and served
  std::string reasoning;                ///< reasoning text some servers return separately
  /// Native tool calls (`choices[0].message.tool_calls`, OpenAI form `[{"id", "type": "function",
  /// "function": {"name", "arguments": "<JSON text>"}}]`) when the request offered `tools` (through
  /// `chat_options::extra`) and the server supports them; null otherwise.
  nlohmann::json tool_calls;

  friend bool operator==(const chat_response&, const chat_response&) = default;
};

void to_json(nlohmann::json& j, const usage& u);
void from_json(const nlohmann::json& j, usage& u);
void to_json(nlohmann::json& j, const token_logprob& t);
void from_json(const nlohmann::json& j, token_logprob& t);
void to_json(nlohmann::json& j, const chat_response& r);
void from_json(const nlohmann::json& j, chat_response& r);

// ---- implementation ----------------------------------------------------------------------------

inline void to_json(nlohmann::json& j, const usage& u) {
  j = nlohmann::json{{"prompt_tokens", u.prompt_tokens},
                     {"completion_tokens", u.completion_tokens},
                     {"total_tokens", u.total_tokens}};
}

inline void from_json(const nlohmann::json& j, usage& u) {
  u.prompt_tokens = j.value("prompt_tokens", 0L);
  u.completion_tokens = j.value("completion_tokens", 0L);
  u.total_tokens = j.value("total_tokens", u.prompt_tokens + u.completion_tokens);
}

inline void to_json(nlohmann::json& j, const token_logprob& t) {
  j = nlohmann::json{{"token", t.token}, {"logprob", t.logprob}, {"top", t.top}};
}

inline void from_json(const nlohmann::json& j, token_logprob& t) {
  t.token = j.at("token").get<std::string>();
  t.logprob = j.at("logprob").get<double>();
  t.top = j.value("top", std::vector<std::pair<std::string, double>>{});
}

inline void to_json(nlohmann::json& j, const chat_response& r) {
  j = nlohmann::json{{"text", r.text}, {"finish_reason", r.finish_reason}, {"usage", r.usage}, {"model", r.model}};
  if (!r.logprobs.empty()) j["logprobs"] = r.logprobs;
  if (!r.reasoning.empty()) j["reasoning"] = r.reasoning;
  if (!r.tool_calls.is_null()) j["tool_calls"] = r.tool_calls;
}

inline void from_json(const nlohmann::json& j, chat_response& r) {
  r.text = j.at("text").get<std::string>();
  r.finish_reason = j.value("finish_reason", std::string());
  r.usage = j.contains("usage") ? j.at("usage").get<usage>() : usage{};
  r.model = j.value("model", std::string());
  r.logprobs = j.value("logprobs", std::vector<token_logprob>{});
  r.reasoning = j.value("reasoning", std::string());
  r.tool_calls = j.contains("tool_calls") ? j.at("tool_calls") : nlohmann::json();
}

}  // namespace recblocks::llm
