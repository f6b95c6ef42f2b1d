#pragma once
/// \file knowledge_prompts.hpp
/// `llm::knowledge_prompts`: LLM4MSR's two typed prompts (papers.md section 7), a scenario-level
/// prompt (what the scenario is, its statistics, how it relates to the others) and a user-level
/// prompt (the user's profile and behaviour, from the TRAINING split only), and the chat request
/// that asks for a short answer when the knowledge is taken from generated text.
///
///     scenario prompt: {{domain}} {{scenario}} {{who}} {{users:int}} {{ratings:int}} {{like_rate:int}}
///                      {{genres}} {{relation}}
///     user prompt:     {{domain}} {{profile}} {{scenario}} {{ratings:int}} {{like_rate:int}} {{liked}}
///                      {{disliked}} {{titles}}
///
/// The paper takes the LLM's last hidden state over the prompt (no text): send `scenario(...)` /
/// `user(...)` to an embeddings endpoint that returns the last hidden state (last-token pooling).
/// The alternative sends `answer_request(prompt)` (JSON schema `{"interests": string}` of at most
/// `max_answer_chars` characters, temperature 0, `max_tokens` 64) and encodes `interests` with a
/// sentence encoder; `parse_answer` returns the text or nothing for an unusable answer (not JSON,
/// no string, empty).
///
/// `version` names the wording: a cache made with another version is refused
/// (`io::knowledge_cache`). The exact wording of the paper's prompts is not published (papers.md):
/// these are this library's, short on purpose (a small local model, 4096-token slots).
/// Errors: `value_error` from `prompt_template::render` for a missing or mistyped slot.
/// Thread-safety: stateless (static members).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chat_request.hpp"
#include "message.hpp"
#include "prompt_template.hpp"

namespace recblocks::llm {

class knowledge_prompts {
 public:
  static constexpr const char* version = "llm4msr-v1";
  static constexpr int max_answer_chars = 240;

  /// Statistics of one scenario on the training split.
  struct scenario_facts {
    std::string domain;    ///< "MovieLens movie ratings"
    std::string scenario;  ///< "age group 25-34"
    std::string who;       ///< "users aged 25 to 34"
    long users = 0, ratings = 0;
    long like_rate = 0;    ///< percent of ratings that are positive
    std::string genres;    ///< most liked genres, comma-separated
    std::string relation;  ///< one sentence: how it compares to the other scenarios
  };
  /// One user's profile and behaviour on the training split.
  struct user_facts {
    std::string domain;
    std::string profile;   ///< "a 24-year-old male student"
    std::string scenario;
    long ratings = 0, like_rate = 0;
    std::string liked, disliked, titles;
  };

  static std::string scenario(const scenario_facts& f) {
    static const prompt_template t(
        "{{domain}}. Scenario: {{scenario}} ({{who}}). {{users:int}} users gave {{ratings:int}} ratings; "
        "{{like_rate:int}}% were 4 or 5 stars. Most liked genres: {{genres}}. {{relation}} "
        "Summarise what this group of users likes to watch.");
    return t.render({{"domain", f.domain}, {"scenario", f.scenario}, {"who", f.who}, {"users", f.users}, {"ratings", f.ratings},
                     {"like_rate", f.like_rate}, {"genres", f.genres}, {"relation", f.relation}});
  }

  static std::string user(const user_facts& f) {
    static const prompt_template t(
        "{{domain}}. User: {{profile}}, in scenario {{scenario}}. Rated {{ratings:int}} movies, liked {{like_rate:int}}% "
        "of them. Liked genres: {{liked}}. Disliked genres: {{disliked}}. Liked movies: {{titles}}. "
        "Summarise this user's movie interests.");
    return t.render({{"domain", f.domain}, {"profile", f.profile}, {"scenario", f.scenario}, {"ratings", f.ratings},
                     {"like_rate", f.like_rate}, {"liked", f.liked}, {"disliked", f.disliked}, {"titles", f.titles}});
  }

  /// The chat request of the generated-answer path (see file docs).
  static chat_request answer_request(const std::string& prompt) {
    chat_request r;
    r.messages.push_back(message::user(prompt));
    r.options.temperature = 0.0;
    r.options.max_tokens = 64;
    r.options.format = response_format::json_schema(
        {{"type", "object"},
         {"properties", {{"interests", {{"type", "string"}, {"minLength", 1}, {"maxLength", max_answer_chars}}}}},
         {"required", {"interests"}},
         {"additionalProperties", false}},
        "interests");
    return r;
  }

  /// The `interests` text of an answer, or nothing when unusable.
  static std::optional<std::string> parse_answer(const std::string& text) {
    try {
      const auto j = nlohmann::json::parse(text);
      if (!j.is_object() || !j.contains("interests") || !j["interests"].is_string()) return std::nullopt;
      std::string s = j["interests"].get<std::string>();
      if (s.find_first_not_of(" \t\n") == std::string::npos) return std::nullopt;
      return s;
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;
    }
  }
};

}  // namespace recblocks::llm
