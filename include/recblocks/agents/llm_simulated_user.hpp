#pragma once
/// \file llm_simulated_user.hpp
/// `llm_simulated_user<Client>`: a simulated user whose messages are written by a language model
/// (issue 20's option), with the same hidden target and the same rule-based acceptance as
/// `simulated_user`: the user accepts a list when the target is in it, and gives up after
/// `max_turns` lists. Only the *wording* of each message is the model's. Prompt (one user message):
///
///     You are chatting with a movie recommender. You want exactly this movie: <description>.
///     [It suggested: <the list's descriptions, "; "-separated>. None of them is the one.]
///     Write your [first|next] message to it in one short sentence: what kind of movie you want.
///     Do not write the title. Answer in JSON.
///
/// Answer schema (constrained decoding): `{"message": string, 3..max_message_bytes}`, validated and
/// re-asked by `llm::structured_client` (`max_attempts`). Documented, counted fallbacks
/// (`stats()`): an answer that stays invalid is replaced by the rule-based user's hint for that
/// turn (`invalid`); a message that contains the title (case-insensitive) has it replaced by
/// "that movie" (`leaks`) — else the user would name the answer and the agent only had to look it
/// up.
///
/// Requires: a non-empty description and title, `max_turns >= 1`, `max_message_bytes >= 16`.
/// Errors: `value_error`; transport errors of the client propagate.
/// Thread-safety: one user per conversation (it mutates its turn count and counters).

#include <algorithm>
#include <cctype>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../llm/structured_client.hpp"
#include "simulated_user.hpp"

namespace recblocks::agents {

/// Options of `llm_simulated_user`.
struct llm_simulated_user_options {
  int max_attempts = 2;
  int max_tokens = 48;
  std::size_t max_message_bytes = 160;
  double temperature = 0.0;
  std::int64_t seed = 7;
};

/// Counters of `llm_simulated_user`.
struct llm_simulated_user_stats {
  long messages = 0;   ///< messages asked of the model
  long requests = 0;   ///< requests sent (re-asks included)
  long repaired = 0;   ///< valid only after a re-ask
  long invalid = 0;    ///< replaced by the rule-based hint
  long leaks = 0;      ///< messages that named the title (masked)
  long prompt_tokens = 0, completion_tokens = 0;
};

/// LLM-written simulated user; see the file comment.
template <class Client>
class llm_simulated_user {
 public:
  /// `fallback` is the rule-based user of the same target (its hints replace invalid answers; its
  /// prior facts are this user's); `describe(item)` writes the items of a list for the prompt.
  llm_simulated_user(Client& client, simulated_user fallback, std::string description, std::string title,
                     std::function<std::string(index_t)> describe, llm_simulated_user_options options = {})
      : client_(&client), rules_(std::move(fallback)), description_(std::move(description)), title_(std::move(title)),
        describe_(std::move(describe)), options_(options) {
    if (description_.empty() || title_.empty()) throw value_error("[agents::llm_simulated_user] description and title are required");
    if (!describe_) throw value_error("[agents::llm_simulated_user] describe is required");
    if (options_.max_message_bytes < 16)
      throw value_error("[agents::llm_simulated_user] max_message_bytes must be >= 16, got " + std::to_string(options_.max_message_bytes));
  }

  /// The first message (asks the model).
  std::string opening() { return ask({}, 0); }

  /// Reads one recommendation list: accepts it when the target is in it, gives up after
  /// max_turns, else asks the model for the next message.
  simulated_reply respond(const std::vector<index_t>& list) {
    simulated_reply r = rules_.respond(list);  // acceptance, giving up and the fallback hint are the rules'
    if (r.done) return r;
    r.message = ask(list, rules_.turns());
    return r;
  }

  const std::vector<std::string>& prior_facts() const noexcept { return rules_.prior_facts(); }
  int turns() const noexcept { return rules_.turns(); }
  const llm_simulated_user_stats& stats() const noexcept { return stats_; }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  std::string ask(const std::vector<index_t>& list, int turn) {
    std::string p = "You are chatting with a movie recommender. You want exactly this movie: " + description_ + ".\n";
    if (turn > 0) {
      std::string shown;
      for (index_t i : list) shown += (shown.empty() ? "" : "; ") + describe_(i);
      p += "It suggested: " + (shown.empty() ? std::string("nothing") : shown) + ". None of them is the one.\n";
    }
    p += std::string("Write your ") + (turn == 0 ? "first" : "next") +
         " message to it in one short sentence: what kind of movie you want. Do not write the title. Answer in JSON.";
    llm::chat_request r;
    r.messages = {llm::message::user(std::move(p))};
    r.options.temperature = options_.temperature;
    r.options.seed = options_.seed;
    r.options.max_tokens = options_.max_tokens;
    r.options.format = llm::response_format::json_schema(
        {{"type", "object"},
         {"properties", {{"message", {{"type", "string"}, {"minLength", 3}, {"maxLength", options_.max_message_bytes}}}}},
         {"required", {"message"}},
         {"additionalProperties", false}},
        "user_message");
    struct counting {
      Client* c;
      long n = 0;
      llm::chat_response chat(const llm::chat_request& q) { ++n; return c->chat(q); }
    } counted{client_};
    llm::structured_client<counting&> sc(counted, {.max_attempts = options_.max_attempts});
    ++stats_.messages;
    std::string message;
    try {
      const llm::chat_response resp = sc.chat(r);
      stats_.prompt_tokens += resp.usage.prompt_tokens;
      stats_.completion_tokens += resp.usage.completion_tokens;
      if (counted.n > 1) ++stats_.repaired;
      message = nlohmann::json::parse(resp.text).at("message").get<std::string>();
    } catch (const llm::llm_error& e) {
      stats_.requests += counted.n;
      if (e.kind() != llm::llm_error_kind::invalid_output) throw;
      ++stats_.invalid;
      const auto& h = rules_.hints();
      return turn == 0 ? h.front() : "Not those. " + h[std::min<std::size_t>(static_cast<std::size_t>(turn), h.size() - 1)];
    }
    stats_.requests += counted.n;
    // mask the title (case-insensitive)
    const std::string t = lower(title_);
    bool leaked = false;
    for (std::size_t pos; (pos = lower(message).find(t)) != std::string::npos;) {
      message.replace(pos, title_.size(), "that movie");
      leaked = true;
    }
    stats_.leaks += leaked;
    return message;
  }

  Client* client_;
  simulated_user rules_;
  std::string description_, title_;
  std::function<std::string(index_t)> describe_;
  llm_simulated_user_options options_;
  llm_simulated_user_stats stats_;
};

}  // namespace recblocks::agents
