#pragma once
/// \file chain_session.hpp
/// One multi-turn LLM conversation for a chain of recommendation steps (UniLLMRec, papers.md §10):
/// every step sends its prompt as the next user turn of the same session and gets a structured
/// (JSON-schema constrained) answer, validated and re-asked within the conversation.
///
/// What is sent for a step `s` with prompt `p`:
///
///     [anchor exchange] + [last `carry_exchanges` accepted exchanges] + user(p)
///
/// where the anchor is the first accepted exchange of the session (the user-profile turn, so every
/// later step "remembers" the inferred interests) and an exchange is (user prompt, assistant answer).
/// The window keeps long sessions inside a small model's context; `carry_exchanges = -1` keeps the
/// whole conversation. An invalid answer is followed, in the same conversation, by the answer and a
/// corrective user message naming the problem; after `max_attempts` invalid answers `ask` returns
/// nothing and the caller takes its documented fallback (counted here as a fallback). Only the
/// accepted exchange stays in the session.
///
/// Accounting per step name (`step_usage`): calls, client requests, first answers valid, re-asks,
/// fallbacks, repairs (counted by the caller via `count_repair`), prompt and completion tokens (the
/// server's `usage`, else `llm::estimate_tokens`), the `llm::estimate_tokens` estimate of every
/// request sent (comparable with a flat prompt's estimate), wall time in the client, and invalid
/// answers by reason (`no_json`, `not_object`, and the caller's reasons).
/// Transport errors and replay misses (`llm::llm_error`) propagate: they are never a silent fallback.
///
/// Requires: `max_attempts >= 1`, `carry_exchanges >= -1`.
/// Thread-safety: not thread-safe; one session per thread (the client may be shared if it is).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../llm/chat_request.hpp"
#include "../llm/chat_response.hpp"
#include "../llm/client.hpp"
#include "../llm/json_extract.hpp"
#include "../llm/message.hpp"
#include "../llm/prompt_template.hpp"

namespace recblocks::chain {

/// Options of `chain_session`.
struct chain_session_options {
  int max_attempts = 3;          ///< first answer plus re-asks per step
  double temperature = 0.0;      ///< deterministic answers (recordable)
  std::int64_t seed = 42;
  index_t carry_exchanges = 0;   ///< accepted exchanges kept after the anchor; -1 keeps all
};

/// What one step (or all steps) of a session cost and how its answers fared.
struct step_usage {
  long calls = 0;              ///< `ask` calls
  long requests = 0;           ///< client calls (calls + re-asks)
  long first_valid = 0;        ///< calls whose first answer was valid
  long retries = 0;            ///< re-asks after an invalid answer
  long fallbacks = 0;          ///< calls that gave up after max_attempts invalid answers
  long repaired = 0;           ///< answers accepted after a counted repair (the caller's)
  long prompt_tokens = 0;      ///< server usage (or estimate when the server reports none)
  long completion_tokens = 0;
  long estimated_prompt_tokens = 0;  ///< llm::estimate_tokens of every request sent
  double seconds = 0.0;        ///< wall time inside the client
  std::map<std::string, long> failures;  ///< invalid answers by reason

  step_usage& operator+=(const step_usage& o) {
    calls += o.calls;
    requests += o.requests;
    first_valid += o.first_valid;
    retries += o.retries;
    fallbacks += o.fallbacks;
    repaired += o.repaired;
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    estimated_prompt_tokens += o.estimated_prompt_tokens;
    seconds += o.seconds;
    for (const auto& [k, v] : o.failures) failures[k] += v;
    return *this;
  }
};

/// Sum of the usage of all steps in `by_step`.
inline step_usage total_usage(const std::map<std::string, step_usage>& by_step) {
  step_usage t;
  for (const auto& [name, u] : by_step) t += u;
  return t;
}

/// One multi-turn conversation over any `llm::llm_client`; see the file comment.
template <llm::llm_client Client>
class chain_session {
 public:
  explicit chain_session(Client& client, chain_session_options options = {}) : client_(client), options_(options) {
    if (options_.max_attempts < 1)
      throw value_error("chain::chain_session: max_attempts = " + std::to_string(options_.max_attempts) + " must be >= 1");
    if (options_.carry_exchanges < -1)
      throw value_error("chain::chain_session: carry_exchanges = " + std::to_string(options_.carry_exchanges) +
                        " must be >= -1");
  }

  /// Starts a new conversation (the usage of the previous one stays in `usage()`).
  void begin() {
    anchor_.clear();
    exchanges_.clear();
    session_usage_.clear();
  }

  /// Asks `prompt` as the next user turn, constrained by `schema`, with at most `max_tokens`
  /// completion tokens. `check(json, reason)` returns a corrective message (and sets `reason`) for
  /// an invalid answer, or nothing when it accepts it. Returns the accepted JSON, or nothing after
  /// `max_attempts` invalid answers (a counted fallback).
  template <class Check>
  std::optional<nlohmann::json> ask(const std::string& step, const std::string& prompt, const nlohmann::json& schema,
                                    int max_tokens, Check&& check);

  /// Counts a repair for `step` (the caller accepted a fixable answer).
  void count_repair(const std::string& step) {
    ++usage_[step].repaired;
    ++session_usage_[step].repaired;
  }

  /// Usage by step over all sessions since construction (or `reset_usage`).
  const std::map<std::string, step_usage>& usage() const { return usage_; }
  /// Usage by step of the current session (since `begin`).
  const std::map<std::string, step_usage>& session_usage() const { return session_usage_; }
  void reset_usage() {
    usage_.clear();
    session_usage_.clear();
  }
  /// The conversation kept so far (anchor and accepted exchanges), oldest first.
  std::vector<llm::message> conversation() const {
    std::vector<llm::message> m = anchor_;
    m.insert(m.end(), exchanges_.begin(), exchanges_.end());
    return m;
  }
  const chain_session_options& options() const { return options_; }

 private:
  void add(const std::string& step, const step_usage& u) {
    usage_[step] += u;
    session_usage_[step] += u;
  }

  Client& client_;
  chain_session_options options_;
  std::vector<llm::message> anchor_;     // first accepted exchange (2 messages)
  std::vector<llm::message> exchanges_;  // later accepted exchanges (pairs)
  std::map<std::string, step_usage> usage_, session_usage_;
};

// ---- implementation ------------------------------------------------------------------------------

template <llm::llm_client Client>
template <class Check>
std::optional<nlohmann::json> chain_session<Client>::ask(const std::string& step, const std::string& prompt,
                                                         const nlohmann::json& schema, int max_tokens, Check&& check) {
  step_usage u;
  ++u.calls;
  llm::chat_request r;
  r.messages = anchor_;
  std::size_t keep = exchanges_.size();
  if (options_.carry_exchanges >= 0) keep = std::min(keep, 2 * static_cast<std::size_t>(options_.carry_exchanges));
  r.messages.insert(r.messages.end(), exchanges_.end() - static_cast<std::ptrdiff_t>(keep), exchanges_.end());
  r.messages.push_back(llm::message::user(prompt));
  r.options.temperature = options_.temperature;
  r.options.seed = options_.seed;
  r.options.max_tokens = max_tokens;
  r.options.format = llm::response_format::json_schema(schema, "chain_" + step);
  std::optional<nlohmann::json> accepted;
  std::string accepted_text;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) ++u.retries;
    ++u.requests;
    u.estimated_prompt_tokens += static_cast<long>(llm::estimate_tokens(r));
    const auto t0 = std::chrono::steady_clock::now();
    llm::chat_response resp;
    try {
      resp = client_.chat(r);
    } catch (...) {
      u.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      add(step, u);
      throw;
    }
    u.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    u.prompt_tokens += resp.usage.prompt_tokens > 0 ? resp.usage.prompt_tokens : static_cast<long>(llm::estimate_tokens(r));
    u.completion_tokens +=
        resp.usage.completion_tokens > 0 ? resp.usage.completion_tokens : static_cast<long>(llm::estimate_tokens(resp.text));
    std::string reason;
    std::optional<std::string> fix;
    const auto j = llm::extract_json(resp.text);
    if (!j) {
      reason = "no_json";
      fix = "Your reply does not contain the JSON object asked for. Please answer again in the requested JSON format.";
    } else if (!j->is_object()) {
      reason = "not_object";
      fix = "Your reply is not a JSON object. Please answer again in the requested JSON format.";
    } else {
      fix = check(*j, reason);
    }
    if (!fix) {
      if (attempt == 0) ++u.first_valid;
      accepted = *j;
      accepted_text = resp.text;
      break;
    }
    ++u.failures[reason.empty() ? std::string("invalid") : reason];
    r.messages.push_back(llm::message::assistant(resp.text));
    r.messages.push_back(llm::message::user(*fix));
  }
  if (!accepted) {
    ++u.fallbacks;
    add(step, u);
    return std::nullopt;
  }
  add(step, u);
  auto& into = anchor_.empty() ? anchor_ : exchanges_;
  into.push_back(llm::message::user(prompt));
  into.push_back(llm::message::assistant(accepted_text));
  return accepted;
}

}  // namespace recblocks::chain
