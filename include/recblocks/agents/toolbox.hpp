#pragma once
/// \file toolbox.hpp
/// `toolbox`: the set of tools an agent may call, the two ways a model names a call, and the
/// checked dispatch.
///
/// - **Structured output** (any OpenAI-compatible server): `call_schema()` is the JSON Schema of one
///   step, a JSON object naming a tool and its arguments,
///
///       anyOf_t { {"tool": const t.name, "arguments": t.parameters} }  ∪  {"tool": const "answer"}
///
///   sent as the response format (constrained decoding where the server supports it) and validated
///   on our side by `llm::structured_client`, which re-asks on error.
/// - **Native tool calling**: `openai_tools()` is the request's `tools` array
///   (`[{"type": "function", "function": {"name", "description", "parameters"}}]`) and
///   `parse_native(tool_calls)` reads a response's `tool_calls` (arguments arrive as JSON text).
///
/// `call(c, context)` never throws for a bad call: an unknown tool, arguments failing the schema and
/// a tool that throws each give a failed `tool_result` whose `error` says which (counted in
/// `stats()`), so the agent can show the error to the model and go on.
///
/// Requires: tool names unique. Errors: `value_error` for a duplicate name; `parse_native` throws
/// `llm::llm_error(bad_response)` for a malformed `tool_calls` value.
/// Thread-safety: `call` mutates the counters (not synchronised); one toolbox per agent.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../llm/llm_error.hpp"
#include "tool.hpp"

namespace recblocks::agents {

/// Counters of `toolbox::call`.
struct toolbox_stats {
  long calls = 0;           ///< every call
  long ok = 0;              ///< calls that returned a result
  long unknown_tool = 0;    ///< no tool of that name
  long bad_arguments = 0;   ///< arguments failed the tool's schema
  long tool_threw = 0;      ///< the callable threw
};

/// The tools of an agent; see the file comment.
class toolbox {
 public:
  toolbox() = default;

  /// Adds a tool; returns `*this`.
  toolbox& add(tool t) {
    if (find(t.name()))
      throw value_error("[agents::toolbox] a tool named \"" + t.name() + "\" is already registered");
    tools_.push_back(std::move(t));
    return *this;
  }

  const std::vector<tool>& tools() const noexcept { return tools_; }
  bool empty() const noexcept { return tools_.empty(); }
  const tool* find(const std::string& name) const {
    for (const auto& t : tools_)
      if (t.name() == name) return &t;
    return nullptr;
  }

  /// The schema of one step (see the file comment); `with_answer` adds the final "answer" step.
  nlohmann::json call_schema(bool with_answer = true) const {
    nlohmann::json any = nlohmann::json::array();
    for (const auto& t : tools_)
      any.push_back({{"type", "object"},
                     {"properties", {{"tool", {{"const", t.name()}}}, {"arguments", t.parameters()}}},
                     {"required", {"tool", "arguments"}},
                     {"additionalProperties", false}});
    if (with_answer)
      any.push_back({{"type", "object"},
                     {"properties", {{"tool", {{"const", "answer"}}}}},
                     {"required", {"tool"}},
                     {"additionalProperties", false}});
    return {{"anyOf", any}};
  }

  /// The `tools` array of an OpenAI chat request.
  nlohmann::json openai_tools() const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : tools_)
      out.push_back({{"type", "function"},
                     {"function", {{"name", t.name()}, {"description", t.description()}, {"parameters", t.parameters()}}}});
    return out;
  }

  /// One line per tool, "- name {schema}: description", for prompts.
  std::string listing() const {
    std::string s;
    for (const auto& t : tools_)
      s += "- " + t.name() + " " + t.parameters().value("properties", nlohmann::json::object()).dump() + ": " +
           t.description() + "\n";
    return s;
  }

  /// Reads a response's native `tool_calls` (OpenAI form) into calls; arguments given as JSON text
  /// are parsed (text that is not JSON becomes the string itself, which then fails the schema).
  static std::vector<tool_call> parse_native(const nlohmann::json& tool_calls) {
    std::vector<tool_call> out;
    if (tool_calls.is_null()) return out;
    auto bad = [&](const std::string& what) {
      throw llm::llm_error(llm::llm_error_kind::bad_response, "[agents::toolbox] tool_calls: " + what, 0, 1,
                           tool_calls.dump().substr(0, 1000));
    };
    if (!tool_calls.is_array()) bad("not an array");
    for (const auto& c : tool_calls) {
      if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) bad("an entry has no \"function\" object");
      const auto& f = c["function"];
      if (!f.contains("name") || !f["name"].is_string()) bad("a function has no \"name\" string");
      tool_call tc{f["name"].get<std::string>(), nlohmann::json::object(), c.value("id", std::string())};
      if (auto a = f.find("arguments"); a != f.end()) {
        if (a->is_string()) {
          auto j = nlohmann::json::parse(a->get<std::string>(), nullptr, false);
          tc.arguments = j.is_discarded() ? *a : j;
        } else {
          tc.arguments = *a;
        }
      }
      out.push_back(std::move(tc));
    }
    return out;
  }

  /// Runs `c` (see the file comment); never throws for a bad call.
  tool_result call(const tool_call& c, agent_context& context) {
    ++stats_.calls;
    tool_result r{c.name, false, nullptr, ""};
    const tool* t = find(c.name);
    if (!t) {
      ++stats_.unknown_tool;
      std::string known;
      for (const auto& x : tools_) known += (known.empty() ? "" : ", ") + x.name();
      r.error = "unknown tool \"" + c.name + "\" (known: " + known + ")";
      return r;
    }
    const auto errors = t->validate(c.arguments);
    if (!errors.empty()) {
      ++stats_.bad_arguments;
      r.error = "arguments of \"" + c.name + "\" fail its schema: ";
      for (std::size_t i = 0; i < errors.size(); ++i) r.error += (i ? "; " : "") + errors[i];
      return r;
    }
    try {
      r.output = t->invoke(c.arguments, context);
      r.ok = true;
      ++stats_.ok;
    } catch (const std::exception& e) {
      ++stats_.tool_threw;
      r.error = "tool \"" + c.name + "\" failed: " + e.what();
    }
    return r;
  }

  const toolbox_stats& stats() const noexcept { return stats_; }

 private:
  std::vector<tool> tools_;
  toolbox_stats stats_;
};

}  // namespace recblocks::agents
