#pragma once
/// \file message.hpp
/// One chat message: a `role` (system, user, assistant, tool) and its text `content`, as in the
/// OpenAI chat API. `to_json`/`from_json` give `{"role":"user","content":"..."}`.
///
/// Thread safety: plain values.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"

namespace recblocks::llm {

/// Who speaks a message.
enum class role { system, user, assistant, tool };

/// "system", "user", "assistant" or "tool".
constexpr std::string_view to_string(role r) noexcept {
  switch (r) {
    case role::system: return "system";
    case role::user: return "user";
    case role::assistant: return "assistant";
    case role::tool: return "tool";
  }
  return "user";
}

/// Parses a role name; throws `recblocks::value_error` on an unknown name.
inline role role_from_string(std::string_view s) {
  if (s == "system") return role::system;
  if (s == "user") return role::user;
  if (s == "assistant") return role::assistant;
  if (s == "tool") return role::tool;
  throw value_error("[llm::message] unknown role \"" + std::string(s) + "\" (expected system|user|assistant|tool)");
}

/// A chat message. Build with the helpers: `message::user("hi")`.
struct message {
  llm::role role = llm::role::user;
  std::string content;

  static message system(std::string text) { return {llm::role::system, std::move(text)}; }
  static message user(std::string text) { return {llm::role::user, std::move(text)}; }
  static message assistant(std::string text) { return {llm::role::assistant, std::move(text)}; }

  friend bool operator==(const message&, const message&) = default;
};

inline void to_json(nlohmann::json& j, const message& m) {
  j = nlohmann::json{{"role", std::string(to_string(m.role))}, {"content", m.content}};
}

inline void from_json(const nlohmann::json& j, message& m) {
  m.role = role_from_string(j.at("role").get<std::string>());
  const auto& c = j.at("content");
  m.content = c.is_null() ? std::string() : c.get<std::string>();
}

}  // namespace recblocks::llm
