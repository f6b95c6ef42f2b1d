#pragma once
/// \file simulated_user.hpp
/// `simulated_user`: a rule-based, deterministic user with a hidden target item for measuring a
/// conversational recommender (issue 20).
///
/// The user holds a target and an ordered list of hints about it. It opens with the first hint;
/// after each recommendation list it accepts when the target is in the list (success at that turn),
/// else it says so and gives the next hint (repeating the last one when none is left), and gives up
/// after `max_turns` lists:
///
///     turn t = 1..max_turns:  list_t = agent(message_t);  target in list_t → success at t
///
/// `prior_facts` are what the user told the agent in an earlier session (e.g. the decade they
/// watch); the user never repeats them, so only an agent with memory across sessions can use them.
/// `from_item` builds the profile of an item with a title, genres and a year: prior fact "I mostly
/// watch movies from the <decade>."; hints "I want a <genre 1> movie.", "It should also be
/// <genre 2>." (when it has one), "The title has the word '<longest title word>'.", "The title
/// starts with '<first word>'.".
///
/// Requires: at least one hint; `max_turns >= 1`. Errors: `value_error`.
/// Thread-safety: `respond` mutates the turn count; one user per conversation.

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::agents {

/// The answer of the simulated user to one list.
struct simulated_reply {
  bool accepted = false;    ///< the target was in the list
  bool done = false;        ///< accepted, or gave up after max_turns
  std::string message;      ///< the next user message (when not done)
};

/// Rule-based simulated user; see the file comment.
class simulated_user {
 public:
  simulated_user(index_t target, std::vector<std::string> hints, std::vector<std::string> prior_facts, int max_turns = 5)
      : target_(target), hints_(std::move(hints)), prior_(std::move(prior_facts)), max_turns_(max_turns) {
    if (hints_.empty()) throw value_error("[agents::simulated_user] at least one hint is required");
    if (max_turns_ < 1) throw value_error("[agents::simulated_user] max_turns must be >= 1, got " + std::to_string(max_turns_));
  }

  /// The profile of an item (see the file comment).
  static simulated_user from_item(index_t target, const std::string& title, const std::vector<std::string>& genres, int year,
                                  int max_turns = 5) {
    std::vector<std::string> hints;
    hints.push_back("I want a " + (genres.empty() ? std::string("good") : genres[0]) + " movie.");
    if (genres.size() > 1) hints.push_back("It should also be " + genres[1] + ".");
    std::vector<std::string> words;
    std::string w;
    for (char c : title + " ") {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '\'') w += c;
      else if (!w.empty()) { words.push_back(w); w.clear(); }
    }
    static const std::vector<std::string> stop = {"The", "the", "A", "a", "An", "an", "of", "and", "in", "on", "to", "Le", "La", "Les"};
    std::string longest;
    for (const auto& x : words)
      if (std::find(stop.begin(), stop.end(), x) == stop.end() && x.size() > longest.size()) longest = x;
    if (!longest.empty()) hints.push_back("The title has the word '" + longest + "'.");
    if (!words.empty()) hints.push_back("The title starts with '" + words[0] + "'.");
    std::vector<std::string> prior;
    if (year > 0) prior.push_back("I mostly watch movies from the " + std::to_string(year / 10 * 10) + "s.");
    return simulated_user(target, std::move(hints), std::move(prior), max_turns);
  }

  /// The first message.
  const std::string& opening() const { return hints_.front(); }
  /// What the user said in an earlier session (never repeated).
  const std::vector<std::string>& prior_facts() const noexcept { return prior_; }
  const std::vector<std::string>& hints() const noexcept { return hints_; }
  index_t target() const noexcept { return target_; }
  int turns() const noexcept { return turns_; }
  int max_turns() const noexcept { return max_turns_; }

  /// Reads one recommendation list (see the file comment).
  simulated_reply respond(const std::vector<index_t>& list) {
    ++turns_;
    simulated_reply r;
    if (std::find(list.begin(), list.end(), target_) != list.end()) {
      r.accepted = r.done = true;
      r.message = "Yes, that one. Thanks!";
      return r;
    }
    if (turns_ >= max_turns_) {
      r.done = true;
      r.message = "Never mind.";
      return r;
    }
    const std::size_t h = std::min<std::size_t>(static_cast<std::size_t>(turns_), hints_.size() - 1);
    r.message = "Not those. " + hints_[h];
    return r;
  }

 private:
  index_t target_;
  std::vector<std::string> hints_, prior_;
  int max_turns_;
  int turns_ = 0;
};

}  // namespace recblocks::agents
