#pragma once
/// \file agent.hpp
/// `agent<Client>`: a conversational recommender over any `llm_client`, composed of a `toolbox`,
/// a `memory_store` and a `reflector` (papers.md §6: memory, reflection, tool use). One turn:
///
///     perceive  the user's message (cut to max_message_bytes on a UTF-8 boundary, counted)
///     recall    the user's best recall_k memories for it          (use_memory)
///     plan      up to max_steps steps, each one tool call named by the model (structured output:
///               toolbox::call_schema(), validated, re-asked; or the server's native tool calls),
///               run by the toolbox; the model ends with {"tool": "answer"}, offered only once
///               there are candidates not shown yet (answer_needs_candidates)   (use_tools)
///               — or a fixed plan (a callable giving the calls: the classical chain, no model)
///     answer    the first k candidates not shown before in the session
///     reflect   reflector rounds with the critic against the session's messages and memories
///     update    the message is remembered as a "preference"; end_session stores a "session" entry
///
/// Without tools (`use_tools = false`, the "LLM alone" ablation) the model is asked for k titles
/// (`{"titles": [string]}`) and `resolve_title` maps them to items (unresolved titles counted).
/// The reply is composed from `describe(item)` (no extra model call). Every stage is reported to
/// the `observer` as an `agent_event{stage, detail}`: "session", "perceive", "recall", "plan",
/// "tool", "step_bound", "answer", "reflect", "memory" (the library never prints).
///
/// Prompt of a plan step (one user message; the constant part first, so a server that caches the
/// prompt prefix evaluates it once per slot): the task, the tool list, "User: <message>",
/// "Remembered:" memories, "Earlier in this chat:" messages, "Last step: <observation>" (or "none
/// yet (no candidates)"), "Next step as JSON:".
///
/// Fallbacks (documented, counted in `turn_result`): a plan step whose answer stays invalid after
/// `max_attempts` ends planning (`invalid_steps`; one valid only after a re-ask: `repaired_steps`); a tool call that fails (unknown tool, bad
/// arguments, the tool threw) is shown to the model as the step's observation (`failed_calls`);
/// `max_steps` reached ends planning (`step_bound_hit`); a memory file that is refused leaves the
/// user with an empty memory and the "session" event says so.
///
/// Requires: `k >= 1`, `max_steps >= 1`, `max_message_bytes >= 16`, a `describe` callable, a
/// memory store when `use_memory`, a critic when `use_reflection`, a resolver without tools.
/// Errors: `value_error` for bad options or a turn outside a session; transport errors of the client
/// propagate. Thread-safety: none; one agent per conversation thread.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../llm/client.hpp"
#include "../llm/structured_client.hpp"
#include "memory_store.hpp"
#include "reflector.hpp"
#include "toolbox.hpp"

namespace recblocks::agents {

/// How the model names a tool call.
enum class tool_call_mode { structured, native };

/// Options of `agent`.
struct agent_options {
  index_t k = 5;                         ///< items per answer
  int max_steps = 4;                     ///< plan steps per turn (tool calls plus the final answer step)
  bool use_memory = true;
  bool use_reflection = true;
  bool use_tools = true;
  tool_call_mode mode = tool_call_mode::structured;
  std::size_t recall_k = 3;
  std::size_t max_message_bytes = 2000;  ///< longer messages are cut (counted)
  int max_attempts = 2;                  ///< calls per structured step (first ask + re-asks)
  int plan_max_tokens = 48;
  int answer_max_tokens = 96;            ///< the no-tools titles answer
  double temperature = 0.0;
  std::int64_t seed = 7;
  std::string task = "You help a user find a movie.";  ///< first line of every prompt
  /// Offer the model the "answer" step only when there are candidates not yet shown in the session
  /// (answering with nothing never helps): structured mode leaves "answer" out of the step schema and
  /// the tool list, native mode sends `tool_choice = "required"` instead of "auto".
  bool answer_needs_candidates = true;
};

/// One observable step.
struct agent_event {
  std::string stage;
  nlohmann::json detail;
};

/// What a turn did.
struct turn_result {
  std::vector<index_t> items;     ///< the answer, best first
  std::string reply;
  int steps = 0;                  ///< plan steps (model calls for steps, or fixed-plan calls)
  int tool_calls = 0;             ///< tool calls run (ok or failed)
  int failed_calls = 0;
  int invalid_steps = 0;          ///< steps whose model answer stayed invalid
  int repaired_steps = 0;         ///< steps whose model answer was valid only after a re-ask
  bool step_bound_hit = false;
  bool message_truncated = false;
  int llm_calls = 0;              ///< requests sent through `model()` (re-asks included; a critic built on it too)
  long prompt_tokens = 0, completion_tokens = 0;
  int unresolved_titles = 0;      ///< no-tools mode
  reflection_result reflection;
};

/// What a fixed plan reads.
struct plan_input {
  std::string message;
  std::vector<std::string> session_messages;
  std::vector<std::string> memories;
};

/// The conversational recommender; see the file comment.
template <class Client>
class agent {
 public:
  using observer_fn = std::function<void(const agent_event&)>;
  using fixed_plan_fn = std::function<std::vector<tool_call>(const plan_input&)>;

  /// The model as the agent sees it: forwards to the client and counts calls and tokens into the
  /// current turn. Build an `llm_critic` over `agent.model()` so its calls are counted too.
  class metered {
   public:
    explicit metered(agent* a) : a_(a) {}
    llm::chat_response chat(const llm::chat_request& r) {
      llm::chat_response resp = a_->client_->chat(r);
      if (a_->current_) {
        ++a_->current_->llm_calls;
        a_->current_->prompt_tokens += resp.usage.prompt_tokens;
        a_->current_->completion_tokens += resp.usage.completion_tokens;
      }
      return resp;
    }
   private:
    agent* a_;
  };

  agent(Client& client, toolbox& tools, std::function<std::string(index_t)> describe, agent_options options = {})
      : client_(&client), tools_(&tools), describe_(std::move(describe)), options_(std::move(options)) {
    if (options_.k < 1) throw value_error("[agents::agent] k must be >= 1, got " + std::to_string(options_.k));
    if (options_.max_steps < 1) throw value_error("[agents::agent] max_steps must be >= 1, got " + std::to_string(options_.max_steps));
    if (options_.max_message_bytes < 16)
      throw value_error("[agents::agent] max_message_bytes must be >= 16, got " + std::to_string(options_.max_message_bytes));
    if (options_.max_attempts < 1) throw value_error("[agents::agent] max_attempts must be >= 1");
    if (!describe_) throw value_error("[agents::agent] describe is required");
  }

  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  /// The counting view of the model (see `metered`).
  metered& model() noexcept { return metered_; }

  agent& with_memory(memory_store& m) { memory_ = &m; return *this; }
  agent& with_critic(critic_fn c, int max_rounds) { critic_ = std::move(c); reflector_ = reflector(max_rounds); return *this; }
  agent& with_fixed_plan(fixed_plan_fn f) { fixed_plan_ = std::move(f); return *this; }
  agent& with_title_resolver(std::function<std::optional<index_t>(const std::string&)> r) { resolve_ = std::move(r); return *this; }
  agent& with_observer(observer_fn o) { observer_ = std::move(o); return *this; }

  /// Starts a session of `user` at logical time `now`; returns how the user's memory was found.
  memory_load begin_session(const std::string& user, std::int64_t now) {
    memory_load load;
    if (options_.use_memory) {
      if (!memory_) throw value_error("[agents::agent] use_memory needs with_memory(store)");
      load = memory_->open(user);
    }
    session_ = session{};
    session_->user = user;
    session_->now = now;
    session_->ctx.user = user;
    emit("session", {{"user", user},
                     {"memory", load.state == memory_load::status::loaded    ? "loaded"
                                : load.state == memory_load::status::refused ? "refused: starting with an empty memory"
                                                                             : "empty"},
                     {"entries", load.entries},
                     {"reason", load.reason}});
    return load;
  }

  /// One turn (see the file comment).
  turn_result turn(std::string message) {
    if (!session_) throw value_error("[agents::agent] turn() outside a session: call begin_session first");
    turn_result out;
    current_ = &out;
    struct reset_current { turn_result** p; ~reset_current() { *p = nullptr; } } guard{&current_};
    session& s = *session_;
    // perceive
    if (message.size() > options_.max_message_bytes) {
      std::size_t cut = options_.max_message_bytes;
      while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xc0) == 0x80) --cut;
      message.resize(cut);
      out.message_truncated = true;
    }
    emit("perceive", {{"message", message}, {"truncated", out.message_truncated}});
    // recall
    std::vector<std::string> memories;
    if (options_.use_memory) {
      for (const auto& m : memory_->recall(s.user, message, options_.recall_k, s.now)) memories.push_back(m.entry.text);
      emit("recall", {{"memories", memories}});
    }
    const plan_input in{message, s.messages, memories};
    s.messages.push_back(message);
    // plan
    if (!options_.use_tools) {
      titles_only(in, out);
    } else if (fixed_plan_) {
      for (const auto& c : fixed_plan_(in)) {
        if (out.steps >= options_.max_steps) {
          out.step_bound_hit = true;
          emit("step_bound", {{"steps", out.steps}});
          break;
        }
        ++out.steps;
        run_call(c, out);
      }
    } else {
      plan_with_model(in, out);
    }
    // answer
    std::vector<index_t> pool;
    for (index_t c : s.ctx.candidates)
      if (std::find(s.ctx.excluded.begin(), s.ctx.excluded.end(), c) == s.ctx.excluded.end()) pool.push_back(c);
    std::vector<index_t> list(pool.begin(), pool.begin() + std::min<std::ptrdiff_t>(options_.k, static_cast<std::ptrdiff_t>(pool.size())));
    emit("answer", {{"items", list}});
    // reflect
    if (options_.use_reflection && critic_ && !list.empty()) {
      std::vector<std::string> constraints = s.messages;
      constraints.insert(constraints.end(), memories.begin(), memories.end());
      out.reflection = reflector_.reflect(list, pool, constraints, critic_, s.ctx.excluded);
      list = out.reflection.items;
      emit("reflect", {{"rounds", out.reflection.rounds}, {"flagged", out.reflection.flagged},
                       {"replaced", out.reflection.replaced}, {"items", list}});
    }
    out.items = list;
    for (index_t i : list) s.ctx.excluded.push_back(i);
    out.reply = list.empty() ? "Sorry, I found nothing to recommend." : "You might like:";
    for (std::size_t p = 0; p < list.size(); ++p) out.reply += "\n" + std::to_string(p + 1) + ". " + describe_(list[p]);
    // update memory
    if (options_.use_memory) {
      memory_->remember(s.user, "preference", message, s.now);
      emit("memory", {{"stored", "preference"}, {"text", message}});
    }
    ++s.turns;
    return out;
  }

  /// Ends the session: stores a "session" memory `summary` (when memory is on).
  void end_session(const std::string& summary) {
    if (!session_) return;
    if (options_.use_memory && !summary.empty()) {
      memory_->remember(session_->user, "session", summary, session_->now);
      emit("memory", {{"stored", "session"}, {"text", summary}});
    }
    session_.reset();
  }

  /// The current session's working state (candidates, shown items).
  const agent_context* context() const { return session_ ? &session_->ctx : nullptr; }
  const agent_options& options() const noexcept { return options_; }

 private:
  struct session {
    std::string user;
    std::int64_t now = 0;
    int turns = 0;
    std::vector<std::string> messages;
    agent_context ctx;
  };

  void emit(const char* stage, nlohmann::json detail) {
    if (observer_) observer_(agent_event{stage, std::move(detail)});
  }

  // The prompt: `head` (the same for every step and turn: the task and the tool list, so a server
  // that keeps the prompt prefix cached evaluates it once), then the user's message, the recalled
  // memories, the session's earlier messages, and `ask` (what this step asks).
  llm::chat_request base_request(const plan_input& in, std::string head, std::string ask) const {
    std::string u = std::move(head) + "User: " + in.message + "\n";
    if (!in.memories.empty()) {
      u += "Remembered:\n";
      for (const auto& m : in.memories) u += "- " + m + "\n";
    }
    if (!in.session_messages.empty()) {
      u += "Earlier in this chat:\n";
      for (const auto& m : in.session_messages) u += "- " + m + "\n";
    }
    u += std::move(ask);
    llm::chat_request r;
    r.messages = {llm::message::user(std::move(u))};
    r.options.temperature = options_.temperature;
    r.options.seed = options_.seed;
    return r;
  }

  void run_call(const tool_call& c, turn_result& out) {
    emit("plan", {{"step", out.steps}, {"tool", c.name}, {"arguments", c.arguments}});
    const tool_result r = tools_->call(c, session_->ctx);
    ++out.tool_calls;
    if (!r.ok) ++out.failed_calls;
    last_observation_ = r.ok ? observation(r) : "error: " + r.error;
    emit("tool", {{"tool", c.name}, {"ok", r.ok}, {"error", r.error},
                  {"candidates", static_cast<long>(session_->ctx.candidates.size())}});
  }

  std::string observation(const tool_result& r) const {
    std::string s = r.name + " -> " + std::to_string(session_->ctx.candidates.size()) + " candidates";
    const auto& c = session_->ctx.candidates;
    for (std::size_t p = 0; p < std::min<std::size_t>(3, c.size()); ++p) s += (p ? "; " : ": ") + describe_(c[p]);
    if (!r.output.is_null() && !r.output.contains("items")) {
      std::string o = r.output.dump();
      s += " | " + o.substr(0, 200);
    }
    return s;
  }

  void plan_with_model(const plan_input& in, turn_result& out) {
    last_observation_.clear();
    llm::structured_client<metered&> sc(metered_, {.max_attempts = options_.max_attempts});
    for (;;) {
      if (out.steps >= options_.max_steps) {
        out.step_bound_hit = true;
        emit("step_bound", {{"steps", out.steps}});
        return;
      }
      ++out.steps;
      const bool can_answer = !options_.answer_needs_candidates || has_unshown_candidates();
      const nlohmann::json schema = tools_->call_schema(can_answer);
      std::string head = options_.task + "\nTools:\n" + tools_->listing() +
                         (can_answer ? "- answer {}: reply to the user with the current candidates\n" : "");
      std::string ask;
      ask += "Last step: " + (last_observation_.empty() ? std::string("none yet (no candidates)") : last_observation_) + "\n";
      ask += "Next step as JSON:";
      llm::chat_request r = base_request(in, std::move(head), std::move(ask));
      r.options.max_tokens = options_.plan_max_tokens;
      std::optional<tool_call> call;
      if (options_.mode == tool_call_mode::structured) {
        r.options.format = llm::response_format::json_schema(schema, "step");
        try {
          const int calls_before = out.llm_calls;
          const llm::chat_response resp = sc.chat(r);
          if (out.llm_calls - calls_before > 1) ++out.repaired_steps;
          const auto j = nlohmann::json::parse(resp.text);
          call = tool_call{j.at("tool").get<std::string>(), j.value("arguments", nlohmann::json::object()), ""};
        } catch (const llm::llm_error& e) {
          if (e.kind() != llm::llm_error_kind::invalid_output) throw;
          ++out.invalid_steps;
          emit("plan", {{"step", out.steps}, {"invalid", e.what()}});
          return;
        }
      } else {
        r.options.extra = {{"tools", tools_->openai_tools()}, {"tool_choice", can_answer ? "auto" : "required"}};
        call = native_step(r, out, can_answer);
        if (!call) return;  // invalid after re-asks (counted) or no call: answer
      }
      if (call->name == "answer") {
        emit("plan", {{"step", out.steps}, {"tool", "answer"}});
        return;
      }
      run_call(*call, out);
    }
  }

  bool has_unshown_candidates() const {
    const agent_context& c = session_->ctx;
    for (index_t i : c.candidates)
      if (std::find(c.excluded.begin(), c.excluded.end(), i) == c.excluded.end()) return true;
    return false;
  }

  std::optional<tool_call> native_step(llm::chat_request r, turn_result& out, bool can_answer) {
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      const llm::chat_response resp = metered_.chat(r);
      std::vector<tool_call> calls;
      std::string error;
      try {
        calls = toolbox::parse_native(resp.tool_calls);
      } catch (const llm::llm_error& e) {
        error = e.what();
      }
      if (error.empty() && calls.empty()) {  // no call: the answer step, when one is offered
        if (!can_answer) {
          error = "no tool call, but there are no candidates yet";
        } else {
          if (attempt > 1) ++out.repaired_steps;
          return tool_call{"answer", nlohmann::json::object(), ""};
        }
      }
      if (error.empty()) {
        const tool* t = tools_->find(calls.front().name);
        if (!t) error = "unknown tool \"" + calls.front().name + "\"";
        else if (auto v = t->validate(calls.front().arguments); !v.empty()) error = "arguments fail the schema: " + v.front();
      }
      if (error.empty()) {
        if (attempt > 1) ++out.repaired_steps;
        return calls.front();
      }
      r.messages.resize(1);
      r.messages.push_back(llm::message::assistant(resp.text.empty() ? resp.tool_calls.dump().substr(0, 500) : resp.text.substr(0, 500)));
      r.messages.push_back(llm::message::user("That tool call could not be used: " + error + ". Call one of the listed tools."));
    }
    ++out.invalid_steps;
    emit("plan", {{"step", out.steps}, {"invalid", "no valid native tool call"}});
    return std::nullopt;
  }

  void titles_only(const plan_input& in, turn_result& out) {
    if (!resolve_) throw value_error("[agents::agent] use_tools = false needs with_title_resolver");
    llm::chat_request r = base_request(in, options_.task + "\n", "Suggest " + std::to_string(options_.k) +
                                                                     " movie titles the user would like, as JSON:");
    r.options.max_tokens = options_.answer_max_tokens;
    r.options.format = llm::response_format::json_schema(
        {{"type", "object"},
         {"properties", {{"titles", {{"type", "array"}, {"items", {{"type", "string"}, {"maxLength", 60}}},
                                     {"minItems", 1}, {"maxItems", options_.k}}}}},
         {"required", {"titles"}},
         {"additionalProperties", false}},
        "titles");
    llm::structured_client<metered&> sc(metered_, {.max_attempts = options_.max_attempts});
    ++out.steps;
    try {
      const int calls_before = out.llm_calls;
      const llm::chat_response resp = sc.chat(r);
      if (out.llm_calls - calls_before > 1) ++out.repaired_steps;
      std::vector<index_t> items;
      const nlohmann::json answer = nlohmann::json::parse(resp.text);
      for (const auto& t : answer.at("titles")) {
        const auto id = resolve_(t.get<std::string>());
        if (id && std::find(items.begin(), items.end(), *id) == items.end()) items.push_back(*id);
        else if (!id) ++out.unresolved_titles;
      }
      session_->ctx.candidates = items;
      session_->ctx.scores.clear();
      emit("plan", {{"step", 1}, {"titles", answer.at("titles")}, {"resolved", items}});
    } catch (const llm::llm_error& e) {
      if (e.kind() != llm::llm_error_kind::invalid_output) throw;
      ++out.invalid_steps;
      session_->ctx.candidates.clear();
      emit("plan", {{"step", 1}, {"invalid", e.what()}});
    }
  }

  Client* client_;
  toolbox* tools_;
  std::function<std::string(index_t)> describe_;
  agent_options options_;
  memory_store* memory_ = nullptr;
  critic_fn critic_;
  reflector reflector_{0};
  fixed_plan_fn fixed_plan_;
  std::function<std::optional<index_t>(const std::string&)> resolve_;
  observer_fn observer_;
  std::optional<session> session_;
  std::string last_observation_;
  turn_result* current_ = nullptr;
  metered metered_{this};
};

}  // namespace recblocks::agents
