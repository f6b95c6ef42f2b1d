#pragma once
/// \file rationale_prompt.hpp
/// RADIO's rationale extraction (papers.md §4, `llm_generation.py`): any `llm::llm_client` is given the
/// question and its ground-truth answer and asked why the answer is correct. Messages, as the
/// reference code (its typo "corrrect" kept):
///
///     system: "You are a professional QA assistant. Given a question and the ground truth answer, you can
///              output the rationale why the ground truth answer is corrrect."
///     user:   "Question: {question}"
///     user:   "Answer: {answer}"
///     user:   "Rationale: "
///
/// Sampling as the code: temperature 0.2, top_p 1, seed 42 (its `max_completion_tokens` 1000 is an
/// option; the default 64 fits a small local model). With `structured` (the default) the answer is
/// constrained by the tight schema `{"rationale": non-empty string}` (optionally `maxLength`) and parsed; with
/// `structured = false` the free text is the rationale, as the reference code.
///
/// With `single_turn` the three user messages are sent as ONE user message joined by newlines
/// ("Question: ...\nAnswer: ...\nRationale: "): SmolLM2 135M Instruct, given three consecutive user turns
/// through its own chat template, answered `{"rationale": "rationale"}` (tried by hand); one turn gives
/// text. `model`, when set, goes into every request's `model` field (part of the replay key, so recorded
/// answers of different models never share a key).
///
/// Validation: an answer is usable when it holds a rationale with at least `min_chars` non-space
/// characters that is not a refusal (it starts with "I cannot", "I can't", "I'm sorry", "Sorry", "As an
/// AI", case-insensitive) and not the question or the answer repeated verbatim. An unusable answer is
/// asked again (same messages, the seed advanced by one per attempt) up to `max_attempts`; after that
/// the result has `ok = false` and the caller falls back (RADIO's pipeline: the query keeps its
/// retrieval scores). Every outcome is counted in `stats()`; transport errors and replay misses
/// (`llm::llm_error`) propagate, never a silent fallback.
///
/// Thread-safety: not thread-safe (stats); one instance per thread over a thread-safe client, and
/// `rationale_stats::operator+=` to add them up.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../llm/chat_request.hpp"
#include "../llm/chat_response.hpp"
#include "../llm/client.hpp"
#include "../llm/json_extract.hpp"
#include "../llm/message.hpp"
#include "../llm/prompt_template.hpp"

namespace recblocks::rerank {

struct rationale_options {
  int max_attempts = 2;       ///< first answer plus re-asks
  double temperature = 0.2;   ///< as the reference code
  double top_p = 1.0;
  std::int64_t seed = 42;
  int max_tokens = 64;        ///< the reference code asks up to 1000
  bool structured = true;     ///< JSON-schema constrained `{"rationale": ...}`; false: free text
  int max_chars = 0;          ///< schema maxLength of the rationale (0: none; max_tokens bounds it. llama.cpp turns
                              ///< maxLength N into N nested grammar rules: 400 stalled a loaded server)
  int min_chars = 8;          ///< fewer non-space characters: unusable
  bool single_turn = false;   ///< question, answer and "Rationale: " in one user message (see the file comment)
  std::string model{};        ///< sent as chat_request::model ("" = the client's default)
};

/// Counts over all calls (see the file comment).
struct rationale_stats {
  long queries = 0;        ///< rationales asked for
  long requests = 0;       ///< client calls
  long valid_first = 0;    ///< usable at the first answer
  long reasked = 0;        ///< usable after a re-ask
  long fallbacks = 0;      ///< no usable answer after max_attempts
  std::map<std::string, long> failures;  ///< reason -> count, over every unusable answer
  long prompt_tokens = 0, completion_tokens = 0;
  double seconds = 0;      ///< wall time in the client

  rationale_stats& operator+=(const rationale_stats& o) {
    queries += o.queries;
    requests += o.requests;
    valid_first += o.valid_first;
    reasked += o.reasked;
    fallbacks += o.fallbacks;
    for (const auto& [k, v] : o.failures) failures[k] += v;
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    seconds += o.seconds;
    return *this;
  }
};

/// One rationale: the text (empty when `ok` is false), attempts used and the last failure reason.
struct rationale_result {
  std::string text;
  bool ok = false;
  int attempts = 0;
  std::string failure;
};

template <llm::llm_client C>
class rationale_prompt {
 public:
  static constexpr const char* system_text =
      "You are a professional QA assistant. Given a question and the ground truth answer, you can output the rationale why the ground "
      "truth answer is corrrect.";

  explicit rationale_prompt(C client, rationale_options opt = {}) : client_(std::forward<C>(client)), opt_(opt) {
    if (opt_.max_attempts < 1) throw value_error("rerank::rationale_prompt: max_attempts must be >= 1, got " + std::to_string(opt_.max_attempts));
    if (opt_.max_tokens < 1) throw value_error("rerank::rationale_prompt: max_tokens must be >= 1, got " + std::to_string(opt_.max_tokens));
    if (opt_.max_chars < 0 || opt_.min_chars < 0 || (opt_.max_chars > 0 && opt_.min_chars > opt_.max_chars))
      throw value_error("rerank::rationale_prompt: need 0 <= min_chars <= max_chars (max_chars 0: no limit)");
  }

  /// The request of attempt `attempt` (0-based) for `question` and `answer`.
  llm::chat_request request(std::string_view question, std::string_view answer, int attempt = 0) const {
    static const llm::prompt_template q("Question: {{question:string}}"), a("Answer: {{answer:string}}");
    llm::chat_request r;
    const std::string qs = q.render({{"question", std::string(question)}}), as = a.render({{"answer", std::string(answer)}});
    if (opt_.single_turn)
      r.messages = {llm::message::system(system_text), llm::message::user(qs + "\n" + as + "\nRationale: ")};
    else
      r.messages = {llm::message::system(system_text), llm::message::user(qs), llm::message::user(as), llm::message::user("Rationale: ")};
    r.model = opt_.model;
    r.options.temperature = opt_.temperature;
    r.options.top_p = opt_.top_p;
    r.options.seed = opt_.seed + attempt;
    r.options.max_tokens = opt_.max_tokens;
    if (opt_.structured) {
      nlohmann::json field = {{"type", "string"}, {"minLength", 1}};
      if (opt_.max_chars > 0) field["maxLength"] = opt_.max_chars;
      r.options.format = llm::response_format::json_schema(
          {{"type", "object"}, {"properties", {{"rationale", field}}}, {"required", {"rationale"}}, {"additionalProperties", false}},
          "rationale");
    }
    return r;
  }

  /// Checks an answer: the rationale, or "" with `why` set to the failure reason.
  std::string parse(const llm::chat_response& resp, std::string_view question, std::string_view answer, std::string& why) const {
    std::string text;
    if (opt_.structured) {
      const auto j = llm::extract_json(resp.text);
      if (!j) return why = resp.finish_reason == "length" ? "truncated" : "no_json", "";
      if (!j->is_object() || !j->contains("rationale") || !(*j)["rationale"].is_string()) return why = "no_rationale_field", "";
      text = (*j)["rationale"].get<std::string>();
    } else {
      text = resp.text;
    }
    text = trim(text);
    long visible = 0;
    for (unsigned char c : text) visible += !std::isspace(c);
    if (visible < opt_.min_chars) return why = text.empty() ? "empty" : "too_short", "";
    const std::string low = lower(text);
    for (const char* r : {"i cannot", "i can't", "i can not", "i'm sorry", "i am sorry", "sorry", "as an ai"})
      if (low.rfind(r, 0) == 0) return why = "refusal", "";
    if (low == lower(trim(std::string(question))) || low == lower(trim(std::string(answer)))) return why = "echo", "";
    why.clear();
    return text;
  }

  /// Asks for the rationale of (`question`, `answer`), re-asking unusable answers.
  rationale_result operator()(std::string_view question, std::string_view answer) {
    rationale_result out;
    ++stats_.queries;
    for (int k = 0; k < opt_.max_attempts; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      const llm::chat_response resp = client_.chat(request(question, answer, k));
      stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++stats_.requests;
      ++out.attempts;
      const auto& u = resp.usage;
      stats_.prompt_tokens += u.prompt_tokens;
      stats_.completion_tokens += u.completion_tokens;
      std::string why;
      std::string text = parse(resp, question, answer, why);
      if (why.empty()) {
        out.text = std::move(text);
        out.ok = true;
        out.failure.clear();
        ++(k == 0 ? stats_.valid_first : stats_.reasked);
        return out;
      }
      ++stats_.failures[why];
      out.failure = why;
    }
    ++stats_.fallbacks;
    return out;
  }

  const rationale_stats& stats() const { return stats_; }
  const rationale_options& options() const { return opt_; }

 private:
  static std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
  }
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  C client_;
  rationale_options opt_;
  rationale_stats stats_;
};

template <class C>
rationale_prompt(C&&, rationale_options = {}) -> rationale_prompt<C>;

}  // namespace recblocks::rerank
