#pragma once
/// \file llm_critic.hpp
/// `llm_critic<Client>`: a critic for `reflector` that asks any `llm_client` which listed items
/// break the user's stated wishes. Prompt (kept short for small local models):
///
///     The user said: <constraints, one per line>
///     Recommended:
///     1. <describe(item)>  ...
///     Which numbers do not fit what the user said? Answer in JSON.
///
/// Answer schema (constrained decoding): `{"bad": [integer in 1..n, at most n]}`, validated and
/// re-asked by `llm::structured_client` (`max_attempts`). An answer that stays invalid counts as
/// "no violation" (`stats().invalid`, the documented fallback: the list is kept as it is); one valid
/// only after a re-ask is counted in `stats().repaired`.
/// Token usage and calls are summed in `stats()`.
///
/// Requires: `describe` set. Errors: transport errors of the client propagate.
/// Thread-safety: `operator()` mutates the counters; one critic per thread.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../llm/structured_client.hpp"
#include "reflector.hpp"

namespace recblocks::agents {

/// Options of `llm_critic`.
struct llm_critic_options {
  int max_attempts = 2;
  int max_tokens = 24;
  double temperature = 0.0;
  std::int64_t seed = 7;
  std::size_t max_constraint_bytes = 600;   ///< the constraints are cut to this many bytes
};

/// Counters of `llm_critic`.
struct llm_critic_stats {
  long calls = 0;              ///< critiques asked
  long invalid = 0;            ///< no valid answer after max_attempts (the list is kept)
  long repaired = 0;           ///< valid only after a re-ask
  long requests = 0;           ///< requests sent (re-asks included)
  long prompt_tokens = 0, completion_tokens = 0;
};

/// LLM critic; see the file comment.
template <class Client>
class llm_critic {
 public:
  llm_critic(Client& client, std::function<std::string(index_t)> describe, llm_critic_options options = {})
      : client_(&client), describe_(std::move(describe)), options_(options),
        stats_(std::make_shared<llm_critic_stats>()) {
    if (!describe_) throw value_error("[agents::llm_critic] describe is required");
  }

  critique operator()(const critique_input& in) const {
    critique out;
    if (in.items.empty()) return out;
    std::string said;
    for (const auto& c : in.constraints) said += c + "\n";
    if (said.size() > options_.max_constraint_bytes) said = said.substr(said.size() - options_.max_constraint_bytes);
    std::string list;
    for (std::size_t p = 0; p < in.items.size(); ++p) list += std::to_string(p + 1) + ". " + describe_(in.items[p]) + "\n";
    llm::chat_request r;
    r.messages = {llm::message::user("The user said:\n" + said + "Recommended:\n" + list +
                                     "Which numbers do not fit what the user said? Answer in JSON.")};
    r.options.temperature = options_.temperature;
    r.options.seed = options_.seed;
    r.options.max_tokens = options_.max_tokens;
    const auto n = static_cast<int>(in.items.size());
    r.options.format = llm::response_format::json_schema(
        {{"type", "object"},
         {"properties", {{"bad", {{"type", "array"}, {"items", {{"type", "integer"}, {"minimum", 1}, {"maximum", n}}},
                                  {"maxItems", n}}}}},
         {"required", {"bad"}},
         {"additionalProperties", false}},
        "critique");
    struct counting {  // counts the requests of this critique (first ask + re-asks)
      Client* c;
      long n = 0;
      llm::chat_response chat(const llm::chat_request& q) { ++n; return c->chat(q); }
    } counted{client_};
    llm::structured_client<counting&> sc(counted, {.max_attempts = options_.max_attempts});
    ++stats_->calls;
    struct add_requests { long* total; const long* n; ~add_requests() { *total += *n; } } add{&stats_->requests, &counted.n};
    try {
      const llm::chat_response resp = sc.chat(r);
      if (counted.n > 1) ++stats_->repaired;
      stats_->prompt_tokens += resp.usage.prompt_tokens;
      stats_->completion_tokens += resp.usage.completion_tokens;
      const auto j = nlohmann::json::parse(resp.text);
      for (const auto& b : j.at("bad")) out.violating.push_back(static_cast<std::size_t>(b.get<long>() - 1));
      out.reason = "the model flagged " + j.at("bad").dump();
    } catch (const llm::llm_error& e) {
      if (e.kind() != llm::llm_error_kind::invalid_output) throw;
      ++stats_->invalid;
      out.reason = "no valid critique (kept the list)";
    }
    return out;
  }

  const llm_critic_stats& stats() const noexcept { return *stats_; }

 private:
  Client* client_;
  std::function<std::string(index_t)> describe_;
  llm_critic_options options_;
  std::shared_ptr<llm_critic_stats> stats_;  // shared: the critic is copied into a critic_fn
};

}  // namespace recblocks::agents
