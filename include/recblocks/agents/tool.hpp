#pragma once
/// \file tool.hpp
/// `tool`: one typed tool an agent may call — a name, a description, the JSON Schema of its
/// arguments and a C++ callable.
///
///     result = fn(arguments, context)      arguments: a JSON object valid under `parameters`
///
/// The callable receives the arguments (already validated by `tool::invoke`) and the agent's working
/// state (`agent_context`: the user, the current candidate list with its scores, the items already
/// shown). It returns a JSON value (the observation shown to the model); a tool that produces a
/// candidate list writes it into `context.candidates` (and `context.scores`).
///
/// Requires: `name` matches `[A-Za-z0-9_-]{1,64}` (the OpenAI function-name rule) and is not
/// "answer" (reserved for the agent's final step); `parameters` is a JSON Schema object (compiled
/// by `llm::json_schema`); `fn` is set.
/// Errors: `value_error` naming the tool and the field at construction; `invoke` throws
/// `value_error` listing every schema violation of the arguments (the callable is not run), and
/// lets the callable's own exceptions through (the `toolbox` turns both into failed results).
/// Thread-safety: `invoke` is const; it is as thread-safe as the callable.

#include <cctype>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../llm/json_schema.hpp"

namespace recblocks::agents {

/// The agent's working state handed to every tool call of a turn.
struct agent_context {
  std::string user;                  ///< the user the agent serves
  std::vector<index_t> candidates;   ///< the current candidate list, best first
  std::vector<double> scores;        ///< scores of `candidates` (same length) or empty
  std::vector<index_t> excluded;     ///< items not to recommend again (already shown), any order
};

/// One requested call: the tool's name and its arguments (a JSON object); `id` is the server's call
/// id for native tool calls ("" for structured output).
struct tool_call {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();
  std::string id;
};

/// What a call gave: `ok` with the tool's `output`, or `!ok` with the `error` text.
struct tool_result {
  std::string name;
  bool ok = false;
  nlohmann::json output;
  std::string error;
};

/// A typed tool; see the file comment.
class tool {
 public:
  using function = std::function<nlohmann::json(const nlohmann::json& arguments, agent_context& context)>;

  tool(std::string name, std::string description, nlohmann::json parameters, function fn)
      : name_(std::move(name)), description_(std::move(description)), parameters_(std::move(parameters)),
        validator_(parameters_), fn_(std::move(fn)) {
    if (name_.empty() || name_.size() > 64)
      throw value_error("[agents::tool] name must have 1..64 characters, got \"" + name_ + "\"");
    for (char c : name_)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
        throw value_error("[agents::tool] name \"" + name_ + "\" may only hold letters, digits, '_' and '-'");
    if (name_ == "answer") throw value_error("[agents::tool] name \"answer\" is reserved for the agent's final step");
    if (!parameters_.is_object() || parameters_.value("type", std::string()) != "object")
      throw value_error("[agents::tool] parameters of \"" + name_ + "\" must be a JSON Schema with type \"object\"");
    if (!fn_) throw value_error("[agents::tool] \"" + name_ + "\" has no callable");
  }

  const std::string& name() const noexcept { return name_; }
  const std::string& description() const noexcept { return description_; }
  const nlohmann::json& parameters() const noexcept { return parameters_; }

  /// Every schema violation of `arguments` (empty when valid).
  std::vector<std::string> validate(const nlohmann::json& arguments) const { return validator_.validate(arguments); }

  /// Validates `arguments`, then runs the callable.
  nlohmann::json invoke(const nlohmann::json& arguments, agent_context& context) const {
    const auto errors = validate(arguments);
    if (!errors.empty()) {
      std::string msg;
      for (const auto& e : errors) msg += (msg.empty() ? "" : "; ") + e;
      throw value_error("[agents::tool] arguments of \"" + name_ + "\" fail its schema: " + msg);
    }
    return fn_(arguments, context);
  }

 private:
  std::string name_, description_;
  nlohmann::json parameters_;
  llm::json_schema validator_;
  function fn_;
};

}  // namespace recblocks::agents
