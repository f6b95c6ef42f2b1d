#pragma once
/// \file llm_ranking_policy.hpp
/// `featsel::llm_ranking_policy<Client>`: AltFS's stage 1 (papers.md §3), the iterative LLM feature
/// ranking, over any `llm::llm_client`. The prompt has the paper's five parts (a typed
/// `llm::prompt_template`, `default_template()`):
///
///     1. instructions                 (the task: pick the single most important candidate feature)
///     2. descriptions                 (the recommendation task, the dataset and its size, and one
///                                      `feature_descriptor::to_line()` per field)
///     3. feature sets                 (selected features so far; candidate features)
///     4. supplementary information    (the expected behaviour)
///     5. output format                ({"feature": "<one candidate>"})
///
/// At each step the client answers with structured output constrained by a tight JSON schema
/// (`{"feature": one of the candidates}`, `additionalProperties: false`); the answer is validated
/// (JSON object present; `feature` a string; a candidate; not already selected; exactly one name)
/// and, on a violation, asked again with its answer and a corrective message, at most
/// `max_attempts` times per step. Then the step falls back (counted): the candidate ranked highest
/// by the `fallback` ranking (a classical policy's; mutual information when none is given). The
/// chosen feature moves to the selected set; the last candidate is appended without asking. The
/// ranking is: the initial selected set (default: the user and item id fields present, see
/// `options::initial`), then the features in the order chosen.
///
/// Prompt orders: `order_seed` != 0 shuffles the order in which descriptors and candidates are
/// listed (seeded), so one model gives K different rankings (the paper uses K different LLMs; with one
/// model available, K prompt orders stand in for them, and results say so).
///
/// Accounting (`stats()`): rankings, steps, requests, first answers valid, re-asks, fallbacks,
/// failure reasons (no_json, not_object, no_feature, several, already_selected, unknown_feature),
/// prompt and completion tokens (server `usage`, else `llm::estimate_tokens`), wall time in the client.
/// Transport errors and replay misses propagate (never a silent fallback).
///
/// Errors: `value_error` for max_attempts < 1, an initial field that is not a selectable field (or
/// listed twice), a fallback ranking that does not rank the schema's fields, fewer than 2 fields.
/// Thread-safety: not thread-safe (stats); one policy per thread over a thread-safe client.

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../llm/chat_request.hpp"
#include "../llm/chat_response.hpp"
#include "../llm/client.hpp"
#include "../llm/json_extract.hpp"
#include "../llm/message.hpp"
#include "../llm/prompt_template.hpp"
#include "feature_descriptor.hpp"
#include "feature_ranking.hpp"
#include "mutual_information_policy.hpp"

namespace recblocks::featsel {

struct llm_ranking_options {
  std::string task = "click-through rate prediction: predict whether a user will like an item";
  std::string dataset = "";                  ///< one line about the dataset (name, what a row is)
  std::optional<std::vector<std::string>> initial;  ///< initial selected set; unset: the id fields present
  std::vector<std::string> id_fields = {"user_id", "item_id", "movie_id"};  ///< the default initial set's candidates
  descriptor_options descriptors;            ///< human descriptions / example values
  std::uint64_t order_seed = 0;              ///< 0: schema order; else a seeded shuffle of the listing order
  int max_attempts = 3;                      ///< first answer plus re-asks per step
  double temperature = 0.0;
  std::int64_t seed = 42;
  int max_tokens = 24;                       ///< {"feature": "<name>"} is short
  std::string prompt_version = "altfs/1";
};

struct llm_ranking_stats {
  long rankings = 0, steps = 0, requests = 0, first_valid = 0, retries = 0, fallbacks = 0;
  long prompt_tokens = 0, completion_tokens = 0;
  double seconds = 0;
  std::map<std::string, long> failures;
  llm_ranking_stats& operator+=(const llm_ranking_stats& o) {
    rankings += o.rankings, steps += o.steps, requests += o.requests, first_valid += o.first_valid;
    retries += o.retries, fallbacks += o.fallbacks, prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens, seconds += o.seconds;
    for (const auto& [k, v] : o.failures) failures[k] += v;
    return *this;
  }
};

template <llm::llm_client Client>
class llm_ranking_policy {
 public:
  explicit llm_ranking_policy(Client& client, llm_ranking_options options = {},
                              std::optional<feature_ranking> fallback = std::nullopt)
      : client_(client), options_(std::move(options)), fallback_(std::move(fallback)), template_(default_template()) {
    if (options_.max_attempts < 1)
      throw value_error("featsel::llm_ranking_policy: max_attempts = " + std::to_string(options_.max_attempts) + " must be >= 1");
    if (options_.max_tokens < 1)
      throw value_error("featsel::llm_ranking_policy: max_tokens = " + std::to_string(options_.max_tokens) + " must be >= 1");
  }

  /// The five-part prompt (slots: task, dataset, rows, features, selected, candidates).
  static std::string default_template() {
    return "Instructions: you are a feature selection expert for a recommender system. Pick the single most "
           "important feature among the candidate features.\n"
           "Task: {{task}}\nDataset: {{dataset}} ({{rows:int}} rows).\nFeatures:\n{{features:list}}\n"
           "Selected features: {{selected}}\nCandidate features: {{candidates}}\n"
           "Expected behaviour: given the selected features, choose the candidate that adds the most information "
           "for the prediction. Name exactly one candidate feature, never a selected one.\n"
           "Output format: JSON {\"feature\": \"<candidate name>\"}\n";
  }

  /// The initial selected set for `s` (see the options).
  std::vector<std::string> initial_set(const data::schema& s) const;

  /// The full ranking of `train`'s fields (`valid` is not used).
  feature_ranking rank(const data::dataset& train, const data::dataset& valid);

  /// The prompt for one step.
  std::string prompt(const std::vector<feature_descriptor>& listed, index_t rows, const std::vector<std::string>& selected,
                     const std::vector<std::string>& candidates) const;
  /// The step's structured-output schema.
  static nlohmann::json schema(const std::vector<std::string>& candidates);
  /// Validates an answer: the chosen candidate, or the corrective message with `reason` set.
  static std::optional<std::string> validate(const std::string& text, const std::vector<std::string>& selected,
                                             const std::vector<std::string>& candidates, std::string& chosen,
                                             std::string& reason);

  const llm_ranking_stats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  const llm_ranking_options& options() const { return options_; }

 private:
  Client& client_;
  llm_ranking_options options_;
  std::optional<feature_ranking> fallback_;
  llm::prompt_template template_;
  llm_ranking_stats stats_;
};

namespace detail {
inline std::string name_list(const std::vector<std::string>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}
}  // namespace detail

template <llm::llm_client Client>
std::vector<std::string> llm_ranking_policy<Client>::initial_set(const data::schema& s) const {
  const auto fields = selectable_fields(s);
  std::vector<std::string> init;
  if (options_.initial) {
    for (const auto& f : *options_.initial) {
      if (std::find(fields.begin(), fields.end(), f) == fields.end())
        throw value_error("featsel::llm_ranking_policy: initial feature '" + f + "' is not a sparse or dense field of the schema");
      if (std::find(init.begin(), init.end(), f) != init.end())
        throw value_error("featsel::llm_ranking_policy: initial feature '" + f + "' is listed twice");
      init.push_back(f);
    }
  } else {
    for (const auto& f : options_.id_fields)
      if (std::find(fields.begin(), fields.end(), f) != fields.end() && std::find(init.begin(), init.end(), f) == init.end())
        init.push_back(f);
  }
  return init;
}

template <llm::llm_client Client>
std::string llm_ranking_policy<Client>::prompt(const std::vector<feature_descriptor>& listed, index_t rows,
                                               const std::vector<std::string>& selected,
                                               const std::vector<std::string>& candidates) const {
  nlohmann::json lines = nlohmann::json::array();
  for (const auto& d : listed) lines.push_back(d.to_line());
  return template_.render({{"task", options_.task},
                           {"dataset", options_.dataset.empty() ? std::string("a tabular recommendation log") : options_.dataset},
                           {"rows", rows},
                           {"features", lines},
                           {"selected", selected.empty() ? std::string("none") : detail::name_list(selected)},
                           {"candidates", detail::name_list(candidates)}});
}

template <llm::llm_client Client>
nlohmann::json llm_ranking_policy<Client>::schema(const std::vector<std::string>& candidates) {
  return {{"type", "object"},
          {"properties", {{"feature", {{"type", "string"}, {"enum", candidates}}}}},
          {"required", {"feature"}},
          {"additionalProperties", false}};
}

template <llm::llm_client Client>
std::optional<std::string> llm_ranking_policy<Client>::validate(const std::string& text, const std::vector<std::string>& selected,
                                                                const std::vector<std::string>& candidates, std::string& chosen,
                                                                std::string& reason) {
  const std::string again = " Please answer again with exactly one candidate feature: " + detail::name_list(candidates) +
                            ", in JSON {\"feature\": \"<candidate name>\"}.";
  const auto j = llm::extract_json(text);
  if (!j) return reason = "no_json", "Your reply does not contain a JSON object." + again;
  if (!j->is_object()) return reason = "not_object", "Your reply is not a JSON object." + again;
  const auto f = j->find("feature");
  if (f == j->end() || f->is_null() || (f->is_string() && f->get<std::string>().empty()))
    return reason = "no_feature", "Your reply names no feature." + again;
  if (f->is_array()) return reason = "several", "Your reply names several features; name one." + again;
  if (!f->is_string()) return reason = "no_feature", "The \"feature\" in your reply is not a name." + again;
  const std::string name = f->get<std::string>();
  if (std::find(candidates.begin(), candidates.end(), name) != candidates.end()) {
    chosen = name;
    return std::nullopt;
  }
  if (std::find(selected.begin(), selected.end(), name) != selected.end())
    return reason = "already_selected", "Feature '" + name + "' is already selected." + again;
  int named = 0;
  for (const auto& c : candidates)
    if (name.find(c) != std::string::npos) ++named;
  if (named > 1) return reason = "several", "Your reply '" + name + "' names several features; name one." + again;
  return reason = "unknown_feature", "Feature '" + name + "' is not a candidate feature." + again;
}

template <llm::llm_client Client>
feature_ranking llm_ranking_policy<Client>::rank(const data::dataset& train, const data::dataset&) {
  const data::schema& s = train.get_schema();
  auto listed = feature_descriptor::from_dataset(train, options_.descriptors);
  std::vector<std::string> selected = initial_set(s);
  std::vector<std::string> candidates;
  for (const auto& d : listed)
    if (std::find(selected.begin(), selected.end(), d.name) == selected.end()) candidates.push_back(d.name);
  if (options_.order_seed != 0) {
    rng gen(options_.order_seed);
    std::shuffle(listed.begin(), listed.end(), gen.engine());
    std::shuffle(candidates.begin(), candidates.end(), gen.engine());
  }
  feature_ranking fb;
  if (fallback_) {
    fallback_->check(s);
    fb = *fallback_;
  }
  bool have_fb = fallback_.has_value();
  ++stats_.rankings;
  feature_ranking out;
  out.policy = "llm";
  out.order = selected;
  while (!candidates.empty()) {
    std::string chosen;
    if (candidates.size() == 1) {
      chosen = candidates.front();
    } else {
      ++stats_.steps;
      llm::chat_request r;
      r.messages.push_back(llm::message::user(prompt(listed, train.rows(), selected, candidates)));
      r.options.temperature = options_.temperature;
      r.options.seed = options_.seed;
      r.options.max_tokens = options_.max_tokens;
      r.options.format = llm::response_format::json_schema(schema(candidates), "altfs_feature");
      for (int attempt = 0; attempt < options_.max_attempts && chosen.empty(); ++attempt) {
        if (attempt > 0) ++stats_.retries;
        ++stats_.requests;
        const auto t0 = std::chrono::steady_clock::now();
        const llm::chat_response resp = client_.chat(r);
        stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        stats_.prompt_tokens += resp.usage.prompt_tokens > 0 ? resp.usage.prompt_tokens : static_cast<long>(llm::estimate_tokens(r));
        stats_.completion_tokens +=
            resp.usage.completion_tokens > 0 ? resp.usage.completion_tokens : static_cast<long>(llm::estimate_tokens(resp.text));
        std::string reason;
        const auto fix = validate(resp.text, selected, candidates, chosen, reason);
        if (!fix) {
          if (attempt == 0) ++stats_.first_valid;
          break;
        }
        ++stats_.failures[reason];
        r.messages.push_back(llm::message::assistant(resp.text));
        r.messages.push_back(llm::message::user(*fix));
      }
      if (chosen.empty()) {  // fallback: the classical ranking's best remaining candidate
        ++stats_.fallbacks;
        ++out.fallbacks;
        if (!have_fb) {
          fb = mutual_information_policy().rank(train, train);
          have_fb = true;
        }
        for (const auto& name : fb.order)
          if (std::find(candidates.begin(), candidates.end(), name) != candidates.end()) {
            chosen = name;
            break;
          }
      }
    }
    selected.push_back(chosen);
    out.order.push_back(chosen);
    candidates.erase(std::find(candidates.begin(), candidates.end(), chosen));
  }
  const double N = double(out.order.size());
  for (std::size_t p = 0; p < out.order.size(); ++p) out.scores.push_back(1.0 - double(p) / N);
  return out;
}

}  // namespace recblocks::featsel
