#pragma once
/// \file llm_negative_policy.hpp
/// SyNeg's multi-attribute self-reflection prompt (papers.md §1, phase 1) over any `llm::llm_client`,
/// with structured output, validation and bounded re-asks. Satisfies `negative_policy`.
///
/// Prompt (version `syneg/1`; the opening is the paper's as quoted by its reviewers, the rest follows
/// the three constraint groups the paper names):
///
///     Assume you are an expert in {domain}, and there is an example with a "user_query" and its
///     related doc "positive_document". example: {"user_query": ..., "positive_document": ...}
///     [Task Definition] ...  [Hard Negatives Definition] ...        (context constraints)
///     [Attribute Constraints] domain, difficulty, length            (attribute constraints)
///     [Reflection] reason step by step in "reflection" first        (reflection constraints)
///     [Format Definition] {"reflection": "...", "hard_negatives": ["...", ...]}
///
/// The positive is cut to `positive_chars` characters (at a word boundary) to keep prompts short.
/// Schema (constrained decoding where the server supports it): an object with `reflection` (string,
/// at most `reflection_chars`) and `hard_negatives` (exactly `count` strings of 20 .. `document_chars`
/// characters); `reflection` comes first so the model reasons before it writes.
///
/// Validation of an answer, in order (the reason key in brackets): JSON present [no_json], an object
/// [not_object], `finish_reason` not "length" [truncated], a string `reflection` [no_reflection], a
/// `hard_negatives` list [no_negatives]; then each document: a non-empty string [empty], at least 5 words
/// of two or more letters outside <angle brackets> (a copied format placeholder such as "<document 1>" or
/// a padding loop is not a document) [no_content], not the positive,
/// its start or the query after folding [copies_positive / copies_query], not a repeat of an earlier
/// one [duplicate] — invalid documents are dropped and counted. An answer with no valid document is
/// re-asked with the model's answer and a corrective message, at most `max_attempts` calls in all;
/// then the request is skipped and counted (`stats().skipped`): never an exception for bad output.
/// Transport errors and replay misses (`llm::llm_error`) propagate (never a silent fallback).
///
/// Prompt styles (`llm_negative_options::style`): `syneg1` is the above (every document in one answer, a
/// list). `syneg2` (version `syneg/2`) is for very small instruction-tuned models (SmolLM2 135M Instruct):
/// tried by hand, that model looped over a JSON list ("a list of 1 with the 1 abstract ...") and copied
/// "<document 1>"-style format hints, so `syneg/2` asks for ONE document per call, in plain words, with
/// the same three constraint groups:
///
///     You are an expert in {domain}.
///     Query: "{query}"
///     Relevant document: "{positive, cut}"
///     Write the abstract of a study on the same topic that uses similar terms but reports a different
///     finding, so it looks relevant but does not support the query (a hard negative). Do not copy the
///     relevant document. Difficulty: {difficulty}. Length: about {length} words.
///     Answer in JSON: "reflection" (one sentence: why it is a hard negative), then "hard_negative".
///
/// schema `{"reflection": string <= reflection_chars, "hard_negative": string of 20 .. document_chars}`;
/// requests need `count == 1` (ask several documents with several requests, e.g. one per difficulty).
/// `options.model`, when set, goes into every request's `model` field, so recorded answers of different
/// models never share a replay key (`llm::request_hash` covers the whole request).
///
/// Requires `max_attempts >= 1`, `count >= 1` (`== 1` for `syneg2`). Thread-safety: not thread-safe (stats); use one
/// policy per thread over a thread-safe client (`recorded_client` is).

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../llm/chat_request.hpp"
#include "../llm/chat_response.hpp"
#include "../llm/client.hpp"
#include "../llm/json_extract.hpp"
#include "../llm/message.hpp"
#include "../llm/prompt_template.hpp"
#include "negative_policy.hpp"

namespace recblocks::synthetic {

/// The prompt style (see the file comment): `syneg1` = version "syneg/1", `syneg2` = "syneg/2".
enum class negative_prompt_style { syneg1, syneg2 };

/// Options of `llm_negative_policy`.
struct llm_negative_options {
  negative_prompt_style style = negative_prompt_style::syneg1;
  std::string model{};          ///< sent as chat_request::model ("" = the client's default)
  int max_attempts = 2;         ///< first answer plus re-asks per request
  double temperature = 0.0;     ///< deterministic answers (recordable)
  std::int64_t seed = 42;
  int max_tokens = 0;           ///< 0: 40 + count * (document_chars / 3) + reflection_chars / 3
  int positive_chars = 400;     ///< the positive shown in the prompt is cut here
  int reflection_chars = 150;   ///< schema maxLength of the reflection
  int document_chars = 300;     ///< schema maxLength of each negative
};

/// What the LLM policy did (summed until `reset_stats`).
struct llm_negative_stats {
  long requests = 0;        ///< generate() calls
  long calls = 0;           ///< client calls
  long first_valid = 0;     ///< requests whose first answer had every document valid
  long partial = 0;         ///< requests answered with fewer valid documents than asked
  long retries = 0;         ///< re-asks
  long skipped = 0;         ///< requests with no valid document after max_attempts
  long documents = 0;       ///< valid documents returned
  long dropped = 0;         ///< documents dropped by validation
  long prompt_tokens = 0;
  long completion_tokens = 0;
  double seconds = 0.0;     ///< wall time inside the client
  std::map<std::string, long> failures;  ///< answer- and document-level reasons

  llm_negative_stats& operator+=(const llm_negative_stats& o) {
    requests += o.requests;
    calls += o.calls;
    first_valid += o.first_valid;
    partial += o.partial;
    retries += o.retries;
    skipped += o.skipped;
    documents += o.documents;
    dropped += o.dropped;
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    seconds += o.seconds;
    for (const auto& [k, v] : o.failures) failures[k] += v;
    return *this;
  }
};

/// SyNeg's LLM policy (see the file comment).
template <llm::llm_client Client>
class llm_negative_policy {
 public:
  static constexpr const char* prompt_version = "syneg/1";   ///< of style syneg1
  static constexpr const char* prompt_version2 = "syneg/2";  ///< of style syneg2

  /// The prompt version of this policy's style.
  const char* version() const { return options_.style == negative_prompt_style::syneg2 ? prompt_version2 : prompt_version; }

  explicit llm_negative_policy(Client& client, llm_negative_options options = {}) : client_(client), options_(options) {
    if (options_.max_attempts < 1)
      throw value_error("synthetic::llm_negative_policy: max_attempts = " + std::to_string(options_.max_attempts) + " must be >= 1");
    if (options_.max_tokens < 0 || options_.positive_chars < 1 || options_.reflection_chars < 1 || options_.document_chars < 20)
      throw value_error("synthetic::llm_negative_policy: max_tokens >= 0, positive_chars >= 1, reflection_chars >= 1 and "
                        "document_chars >= 20 required");
  }

  /// The typed template of the prompt (slots: domain, example (json), count (int), difficulty,
  /// length (int), format (string)).
  static const llm::prompt_template& prompt_template() {
    static const llm::prompt_template t(
        "Assume you are an expert in {{domain}}, and there is an example with a \"user_query\" and its related doc "
        "\"positive_document\". example: {{example:json}}\n"
        "[Task Definition] Write {{count:int}} hard negative documents for the user_query.\n"
        "[Hard Negatives Definition] A hard negative document is about the same topic as the user_query and uses "
        "similar terms, so it looks relevant, but it does not support or answer the user_query. It must not copy the "
        "positive_document.\n"
        "[Attribute Constraints] domain: {{domain}}; difficulty: {{difficulty}}; length: about {{length:int}} words each.\n"
        "[Reflection] First explain briefly in \"reflection\" why such documents are hard negatives, then write them.\n"
        "[Format Definition] Answer in JSON: {{format}}\n");
    return t;
  }

  /// The typed template of the `syneg/2` prompt (slots: domain, query, positive, difficulty, length (int)).
  static const llm::prompt_template& prompt_template2() {
    static const llm::prompt_template t(
        "You are an expert in {{domain}}.\n"
        "Query: \"{{query}}\"\n"
        "Relevant document: \"{{positive}}\"\n"
        "Write the abstract of a study on the same topic that uses similar terms but reports a different finding, so it "
        "looks relevant but does not support the query (a hard negative). Do not copy the relevant document. "
        "Difficulty: {{difficulty}}. Length: about {{length:int}} words.\n"
        "Answer in JSON: \"reflection\" (one sentence: why it is a hard negative), then \"hard_negative\".\n");
    return t;
  }

  /// The prompt for `r` (see the file comment).
  std::string prompt(const negative_request& r) const {
    if (options_.style == negative_prompt_style::syneg2)
      return prompt_template2().render({{"domain", r.domain},
                                        {"query", r.query},
                                        {"positive", cut(r.positive, options_.positive_chars)},
                                        {"difficulty", r.difficulty},
                                        {"length", r.length_words}});
    const nlohmann::json example = {{"user_query", r.query}, {"positive_document", cut(r.positive, options_.positive_chars)}};
    std::string items = "\"<document 1>\"";
    for (int i = 1; i < r.count; ++i) items += ", \"<document " + std::to_string(i + 1) + ">\"";
    return prompt_template().render({{"domain", r.domain},
                                     {"example", example},
                                     {"count", r.count},
                                     {"difficulty", r.difficulty},
                                     {"length", r.length_words},
                                     {"format", "{\"reflection\": \"<why they are hard negatives>\", \"hard_negatives\": [" + items + "]}"}});
  }

  /// The structured-output schema for `r`.
  nlohmann::json schema(const negative_request& r) const {
    if (options_.style == negative_prompt_style::syneg2)
      return {{"type", "object"},
              {"properties",
               {{"reflection", {{"type", "string"}, {"maxLength", options_.reflection_chars}}},
                {"hard_negative", {{"type", "string"}, {"minLength", 20}, {"maxLength", options_.document_chars}}}}},
              {"required", {"reflection", "hard_negative"}},
              {"additionalProperties", false}};
    return {{"type", "object"},
            {"properties",
             {{"reflection", {{"type", "string"}, {"maxLength", options_.reflection_chars}}},
              {"hard_negatives",
               {{"type", "array"},
                {"items", {{"type", "string"}, {"minLength", 20}, {"maxLength", options_.document_chars}}},
                {"minItems", r.count},
                {"maxItems", r.count}}}}},
            {"required", {"reflection", "hard_negatives"}},
            {"additionalProperties", false}};
  }

  /// Validates an answer: the valid documents (possibly fewer than asked) and, when none is valid,
  /// the corrective message; `reasons` collects every failure key (see the file comment).
  static std::vector<std::string> validate(const negative_request& r, const llm::chat_response& resp,
                                           std::vector<std::string>& reasons, std::string& fix, bool single_document = false) {
    std::vector<std::string> out;
    const auto j = llm::extract_json(resp.text);
    auto fail = [&](const char* reason, const std::string& msg) {
      reasons.push_back(reason);
      fix = msg;
      return std::vector<std::string>{};
    };
    const bool single = single_document || (j && j->is_object() && j->contains("hard_negative") && !j->contains("hard_negatives"));
    const std::string format = single ? " Answer again in the requested JSON format: {\"reflection\": \"...\", \"hard_negative\": \"...\"}."
                                      : " Answer again in the requested JSON format: {\"reflection\": \"...\", \"hard_negatives\": [...]}.";
    if (resp.finish_reason == "length") return fail("truncated", "Your answer was cut off. Write shorter documents." + format);
    if (!j) return fail("no_json", "Your reply does not contain the JSON object asked for." + format);
    if (!j->is_object()) return fail("not_object", "Your reply is not a JSON object." + format);
    const auto refl = j->find("reflection");
    if (refl == j->end() || !refl->is_string()) return fail("no_reflection", "Your reply has no \"reflection\" text." + format);
    nlohmann::json list;
    if (const auto one = j->find("hard_negative"); one != j->end() && j->find("hard_negatives") == j->end()) {
      if (!one->is_string()) return fail("no_negatives", "Your reply has no \"hard_negative\" text." + format);
      list = nlohmann::json::array({*one});  // syneg/2: one document per answer
    } else {
      const auto negs = j->find("hard_negatives");
      if (negs == j->end() || !negs->is_array()) return fail("no_negatives", "Your reply has no \"hard_negatives\" list." + format);
      list = *negs;
    }
    const nlohmann::json* negs = &list;
    const std::string pos = detail::fold(r.positive), query = detail::fold(r.query);
    std::set<std::string> seen;
    for (const auto& v : *negs) {
      if (static_cast<int>(out.size()) == r.count) break;
      const std::string doc = v.is_string() ? v.get<std::string>() : std::string();
      const std::string f = detail::fold(doc);
      if (f.empty()) {
        reasons.push_back("empty");
      } else if (content_words(f) < 5) {
        reasons.push_back("no_content");
      } else if (f == pos || (f.size() >= 40 && pos.rfind(f, 0) == 0)) {
        reasons.push_back("copies_positive");
      } else if (f == query) {
        reasons.push_back("copies_query");
      } else if (!seen.insert(f).second) {
        reasons.push_back("duplicate");
      } else {
        out.push_back(trim(doc));
      }
    }
    if (out.empty())
      fix = "None of your hard negatives is usable: each must be a new non-empty document, different from the "
            "positive_document, the user_query and each other." + format;
    return out;
  }

  /// Writes up to `r.count` negatives for `r` (see the file comment).
  std::vector<std::string> generate(const negative_request& r) {
    if (r.count < 1) throw value_error("synthetic::llm_negative_policy: count = " + std::to_string(r.count) + " must be >= 1");
    if (options_.style == negative_prompt_style::syneg2 && r.count != 1)
      throw value_error("synthetic::llm_negative_policy: count = " + std::to_string(r.count) +
                        " with the syneg/2 prompt, which asks one document per request (count must be 1)");
    ++stats_.requests;
    llm::chat_request req;
    req.model = options_.model;
    req.messages.push_back(llm::message::user(prompt(r)));
    req.options.temperature = options_.temperature;
    req.options.seed = options_.seed;
    req.options.max_tokens = options_.max_tokens > 0
                                 ? options_.max_tokens
                                 : 40 + r.count * (options_.document_chars / 3) + options_.reflection_chars / 3;
    req.options.format = llm::response_format::json_schema(schema(r), "syneg_negatives");
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      if (attempt > 0) ++stats_.retries;
      ++stats_.calls;
      const auto t0 = std::chrono::steady_clock::now();
      const llm::chat_response resp = client_.chat(req);
      stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      stats_.prompt_tokens += resp.usage.prompt_tokens > 0 ? resp.usage.prompt_tokens : static_cast<long>(llm::estimate_tokens(req));
      stats_.completion_tokens +=
          resp.usage.completion_tokens > 0 ? resp.usage.completion_tokens : static_cast<long>(llm::estimate_tokens(resp.text));
      std::vector<std::string> reasons;
      std::string fix;
      auto docs = validate(r, resp, reasons, fix, options_.style == negative_prompt_style::syneg2);
      for (const auto& k : reasons) ++stats_.failures[k];
      if (!docs.empty()) {
        const long dropped = static_cast<long>(reasons.size());
        stats_.dropped += dropped;
        if (attempt == 0 && static_cast<int>(docs.size()) == r.count) ++stats_.first_valid;
        if (static_cast<int>(docs.size()) < r.count) ++stats_.partial;
        stats_.documents += static_cast<long>(docs.size());
        return docs;
      }
      stats_.dropped += static_cast<long>(std::count_if(reasons.begin(), reasons.end(), [](const std::string& k) {
        return k == "empty" || k == "no_content" || k == "copies_positive" || k == "copies_query" || k == "duplicate";
      }));
      req.messages.push_back(llm::message::assistant(resp.text));
      req.messages.push_back(llm::message::user(fix));
    }
    ++stats_.skipped;
    return {};
  }

  const llm_negative_stats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  const llm_negative_options& options() const { return options_; }

 private:
  /// Words with at least two ASCII letters and no angle bracket (copied "..." or "<document 1>"
  /// placeholders count none).
  static int content_words(const std::string& s) {
    int words = 0, letters = 0;
    bool bracket = false;  // a <placeholder> word never counts
    for (std::size_t i = 0; i <= s.size(); ++i) {
      const char c = i < s.size() ? s[i] : ' ';
      if (c == ' ' || c == '\t' || c == '\n') {
        words += letters >= 2 && !bracket;
        letters = 0;
        bracket = false;
      } else if (c == '<' || c == '>') {
        bracket = true;
      } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        ++letters;
      }
    }
    return words;
  }
  static std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
  }
  static std::string cut(const std::string& s, int chars) {
    if (static_cast<int>(s.size()) <= chars) return s;
    std::size_t p = s.rfind(' ', static_cast<std::size_t>(chars));
    if (p == std::string::npos || p == 0) p = static_cast<std::size_t>(chars);
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;  // never split a UTF-8 sequence
    return s.substr(0, p) + " ...";
  }

  Client& client_;
  llm_negative_options options_;
  llm_negative_stats stats_;
};

}  // namespace recblocks::synthetic
