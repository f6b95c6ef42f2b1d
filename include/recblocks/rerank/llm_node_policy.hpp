#pragma once
/// \file llm_node_policy.hpp
/// The LLM node policy of the aspect graph (LLM4Rerank, papers.md §8): at each node, any
/// `llm::llm_client` is shown the paper's prompt skeleton (user, history, candidates with the
/// generator's score, the historical pool, the current aspect and its definition, the goal, the next
/// nodes) and answers with structured output
///
///     {"ranking": [id, id, ...], "next": "<node>"}       (at `backward`: {"next": "<node>"})
///
/// constrained by a tight JSON schema (`ranking`: exactly n items, each one of the candidate ids;
/// `next`: one of the offered nodes). The format example in the prompt is the reference code's fixed
/// id list (not the candidates, so copying it is no answer). The answer is validated (JSON present; every id a candidate;
/// each exactly once; the right length; a known next node) and, on a violation, the model is asked
/// again with its answer and a corrective message in the reference code's wording ("Reranking id
/// '17' in your reply does not appear in the candidates provided. ..."). After `max_attempts`
/// invalid answers the step falls back (counted): the current list is kept and the next node is
/// `stop` (or, on the first step where `stop` is not offered, the current node again, which the
/// graph's max node count bounds).
///
/// Option `repair` (off by default) accepts a first answer that is not a permutation by repairing it
/// (first occurrences in order, then the missing candidates in the current order; counted).
///
/// Accounting (`stats()`): node decisions, requests, first answers that were valid, re-asks,
/// fallbacks, repairs, failure reasons, prompt and completion tokens (the server's `usage`, or
/// `llm::estimate_tokens` when it reports none) and wall time spent in the client.
/// Transport errors and replay misses (`llm::llm_error`) propagate: they are never a silent fallback.
///
/// Requires: candidate ids distinct (checked by the graph); `max_attempts >= 1`.
/// Thread-safety: not thread-safe (stats); use one policy per thread over a thread-safe client.
/// Complexity: at most `max_attempts` client calls per node; prompt length O(n + |pool| n).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
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
#include "aspect_graph.hpp"

namespace recblocks::rerank {

/// Options of `llm_node_policy`.
struct llm_node_policy_options {
  int max_attempts = 3;           ///< first answer plus re-asks per node
  index_t history_max = 5;        ///< history items shown (the most recent), as the reference code
  double temperature = 0.0;       ///< deterministic answers (recordable)
  std::int64_t seed = 42;
  int max_tokens = 0;             ///< 0: 8 per candidate + 48
  bool show_scores = true;        ///< show the generator's score "for your reference"
  /// Accept a ranking that is not a permutation (and a valid next node) by repairing it: the first
  /// occurrence of each candidate id in the answer's order, then the missing candidates in the current
  /// list's order (unknown ids dropped). Counted in `stats().repaired`, not as valid. Off by default
  /// (the reference code re-asks); it lets a model too small to write permutations still steer the path.
  bool repair = false;
};

/// What the LLM policy did (summed over its decisions until `reset_stats`).
struct llm_node_stats {
  long decisions = 0;          ///< node decisions asked
  long requests = 0;           ///< client calls
  long first_valid = 0;        ///< decisions whose first answer was valid
  long retries = 0;            ///< re-asks after an invalid answer
  long fallbacks = 0;          ///< decisions that fell back after max_attempts invalid answers
  long repaired = 0;           ///< decisions whose first answer was repaired (`repair` option)
  long prompt_tokens = 0;
  long completion_tokens = 0;
  double seconds = 0.0;        ///< wall time inside the client
  std::map<std::string, long> failures;  ///< invalid answers by reason

  llm_node_stats& operator+=(const llm_node_stats& o);
};

/// LLM node policy over any `llm_client`; see the file comment.
template <llm::llm_client Client>
class llm_node_policy {
 public:
  explicit llm_node_policy(Client& client, llm_node_policy_options options = {});

  node_decision decide(const node_context& ctx);

  /// The node prompt (the paper's skeleton) for `ctx`.
  std::string prompt(const node_context& ctx) const;
  /// The structured-output schema for `ctx`.
  nlohmann::json schema(const node_context& ctx) const;
  /// Parses and validates an answer; on success fills `out`, else returns the corrective message and
  /// sets `reason` (a short key: no_json, not_object, bad_ranking, unknown_id, duplicate_id,
  /// missing_id, wrong_length, bad_next).
  static std::optional<std::string> validate(const node_context& ctx, const std::string& text, node_decision& out,
                                             std::string& reason);

  /// The `repair` reading of an answer (see the option), or nothing when its JSON, ranking list or
  /// next node is unusable.
  static std::optional<node_decision> repaired(const node_context& ctx, const std::string& text);

  const llm_node_stats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  const llm_node_policy_options& options() const { return options_; }

 private:
  Client& client_;
  llm_node_policy_options options_;
  llm_node_stats stats_;
};

// ---- implementation ------------------------------------------------------------------------------

inline llm_node_stats& llm_node_stats::operator+=(const llm_node_stats& o) {
  decisions += o.decisions;
  requests += o.requests;
  first_valid += o.first_valid;
  retries += o.retries;
  fallbacks += o.fallbacks;
  repaired += o.repaired;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
  seconds += o.seconds;
  for (const auto& [k, v] : o.failures) failures[k] += v;
  return *this;
}

template <llm::llm_client Client>
llm_node_policy<Client>::llm_node_policy(Client& client, llm_node_policy_options options)
    : client_(client), options_(options) {
  if (options_.max_attempts < 1)
    throw value_error("rerank::llm_node_policy: max_attempts = " + std::to_string(options_.max_attempts) + " must be >= 1");
  if (options_.history_max < 0)
    throw value_error("rerank::llm_node_policy: history_max = " + std::to_string(options_.history_max) + " must be >= 0");
  if (options_.max_tokens < 0)
    throw value_error("rerank::llm_node_policy: max_tokens = " + std::to_string(options_.max_tokens) + " must be >= 0");
}

namespace detail {

inline std::string id_list(const rerank_case& c, const std::vector<index_t>& order) {
  std::string s = "[";
  for (std::size_t p = 0; p < order.size(); ++p)
    s += (p ? ", " : "") + std::to_string(c.candidates[static_cast<std::size_t>(order[p])].id);
  return s + "]";
}

/// The reference code's format example ("[16, 1246, 536, ...]; stop"), cut or extended to `n` ids:
/// a format illustration that is not a permutation of the candidates, so copying it is no answer.
inline std::string format_example(std::size_t n) {
  static constexpr long ids[] = {16, 1246, 536, 15, 748, 1135, 1636, 1, 47, 8, 2478, 899, 151, 1032, 165, 363, 527, 2168, 37, 62};
  std::string s = "[";
  for (std::size_t p = 0; p < n; ++p) s += (p ? ", " : "") + std::to_string(p < 20 ? ids[p] : 2500 + static_cast<long>(p));
  return s + "]";
}

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace detail

template <llm::llm_client Client>
std::string llm_node_policy<Client>::prompt(const node_context& ctx) const {
  const rerank_case& c = ctx.input;
  std::string s = "Considering a user, his/her basic information is: {" + c.user + "}\n";
  s += "His/Her history of browsing items and related features are: {";
  const auto h0 = c.history.size() > static_cast<std::size_t>(options_.history_max)
                      ? c.history.size() - static_cast<std::size_t>(options_.history_max)
                      : 0;
  for (std::size_t i = h0; i < c.history.size(); ++i) s += "[" + c.history[i] + "]\n";
  s += "}\nHere's a list of the candidate items (with related features) he/she might see next: {";
  for (const auto& it : c.candidates) {
    s += "[item_id: " + std::to_string(it.id);
    for (const auto& [k, v] : it.features) s += ", " + k + ": " + v;
    if (options_.show_scores) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", it.score);
      s += std::string(", score: ") + buf;
    }
    s += "]\n";
  }
  s += "}\n";
  if (options_.show_scores)
    s += "Note that the 'score' feature is generated by an existing recommendation model for your reference.\n";
  s += "Your historical operations and reranking results represented by item_id are as follows: {";
  if (ctx.pool.empty()) s += "No historical operations yet.";
  for (const auto& e : ctx.pool) s += "\nFocus: " + e.node + ". Reranking Result: " + detail::id_list(c, e.order);
  s += "}\n";
  const std::string options = "{" + detail::join(ctx.options) + "}";
  const std::string tail =
      "Specially, 'stop' means to stop reranking in the next step and output the result of the current step as the "
      "final reranking output. And 'backward' means to delete the latest reranking operation and result so that they "
      "are not taken into consideration by subsequent operations.\n";
  if (ctx.node == aspect_graph::backward) {
    s += "The latest reranking operation has just been deleted. Now, please only give me the name of the operation "
         "you suggest to do next, from the following reranking focus: " + options + "\n" + tail +
         "Choose based on the final goal of the reranking: {" + c.goal + "}.\n"
         "Answer in JSON, for example: {\"next\": \"" + ctx.options.front() + "\"}\n";
    return s;
  }
  const aspect* a = ctx.graph.find(ctx.node);
  const std::string definition = a ? a->definition : std::string();
  std::string focus = a && !a->focus_template.empty()
                          ? a->focus_template
                          : "Now, you need to focus on the {aspect} aspect ({definition}) and rerank the candidates "
                            "based on the given information";
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{aspect}", ctx.node}, {"{definition}", definition}})
    for (std::size_t p = focus.find(key); p != std::string::npos; p = focus.find(key, p + value.size()))
      focus.replace(p, key.size(), value);
  s += focus + ", and then give suggestions about the next step of reranking from the following reranking focus: " +
       options + "\n" + tail +
       "The order of reranking result should represent how likely the user is to watch it. For suggestions about the "
       "next step, you should choose one of the functions representing the next reranking focus or 'stop' based on "
       "the final goal of the reranking: {" + c.goal + "}.\n"
       "For your response format, give the list of all " + std::to_string(c.candidates.size()) +
       " candidate item_id values, each once, in order of recommendation priority, and the next operation name, in "
       "JSON. Example answer format for " + std::to_string(c.candidates.size()) + " candidates: {\"ranking\": " +
       detail::format_example(c.candidates.size()) + ", \"next\": \"stop\"}\n";
  return s;
}

template <llm::llm_client Client>
nlohmann::json llm_node_policy<Client>::schema(const node_context& ctx) const {
  nlohmann::json next = {{"type", "string"}, {"enum", ctx.options}};
  if (ctx.node == aspect_graph::backward)
    return {{"type", "object"}, {"properties", {{"next", next}}}, {"required", {"next"}}, {"additionalProperties", false}};
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& it : ctx.input.candidates) ids.push_back(it.id);
  const auto n = ctx.input.candidates.size();
  nlohmann::json ranking = {{"type", "array"}, {"items", {{"type", "integer"}, {"enum", ids}}}, {"minItems", n}, {"maxItems", n}};
  return {{"type", "object"},
          {"properties", {{"ranking", ranking}, {"next", next}}},
          {"required", {"ranking", "next"}},
          {"additionalProperties", false}};
}

template <llm::llm_client Client>
std::optional<std::string> llm_node_policy<Client>::validate(const node_context& ctx, const std::string& text,
                                                             node_decision& out, std::string& reason) {
  const std::string keep =
      " You should make sure that your reranking list is a reorder of the original candidate ids, including each "
      "candidate id once and only once. Please check and answer again.";
  const auto j = llm::extract_json(text);
  if (!j) {
    reason = "no_json";
    return "Your reply does not contain the JSON object asked for. Please answer again in the requested JSON format.";
  }
  if (!j->is_object()) {
    reason = "not_object";
    return "Your reply is not a JSON object. Please answer again in the requested JSON format.";
  }
  const bool backward = ctx.node == aspect_graph::backward;
  node_decision d;
  if (!backward) {
    const auto r = j->find("ranking");
    if (r == j->end() || !r->is_array()) {
      reason = "bad_ranking";
      return "Your reply has no \"ranking\" list of item ids." + keep;
    }
    const rerank_case& c = ctx.input;
    const auto n = c.candidates.size();
    std::vector<char> seen(n, 0);
    for (const auto& v : *r) {
      if (!v.is_number_integer()) {
        reason = "bad_ranking";
        return "Reranking id '" + v.dump() + "' in your reply is not an item id." + keep;
      }
      const auto id = v.get<long long>();
      std::size_t pos = n;
      for (std::size_t i = 0; i < n; ++i)
        if (c.candidates[i].id == id) pos = i;
      if (pos == n) {
        reason = "unknown_id";
        return "Reranking id '" + std::to_string(id) + "' in your reply does not appear in the candidates provided." + keep;
      }
      if (seen[pos]++) {
        reason = "duplicate_id";
        return "Reranking id '" + std::to_string(id) + "' appears more than once in your reply." + keep;
      }
      d.order.push_back(static_cast<index_t>(pos));
    }
    for (std::size_t i = 0; i < n; ++i)
      if (!seen[i]) {
        reason = "missing_id";
        return "Candidate id '" + std::to_string(c.candidates[i].id) + "' is missing from your reranking list." + keep;
      }
    if (d.order.size() != n) {  // unreachable after the checks above; kept as the reference's third rule
      reason = "wrong_length";
      return "Your reranking list has " + std::to_string(d.order.size()) + " ids but there are " + std::to_string(n) +
             " candidates." + keep;
    }
  }
  const auto nx = j->find("next");
  std::string name = nx != j->end() && nx->is_string() ? nx->get<std::string>() : std::string();
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (std::find(ctx.options.begin(), ctx.options.end(), name) == ctx.options.end()) {
    reason = "bad_next";
    return "The next operation '" + (nx == j->end() ? std::string() : nx->dump()) +
           "' in your reply is not one of the reranking focus provided: {" + detail::join(ctx.options) +
           "}. Please check and answer again.";
  }
  d.next = name;
  out = std::move(d);
  return std::nullopt;
}

template <llm::llm_client Client>
std::optional<node_decision> llm_node_policy<Client>::repaired(const node_context& ctx, const std::string& text) {
  const auto j = llm::extract_json(text);
  if (!j || !j->is_object() || ctx.node == aspect_graph::backward) return std::nullopt;
  const auto r = j->find("ranking");
  const auto nx = j->find("next");
  if (r == j->end() || !r->is_array() || nx == j->end() || !nx->is_string()) return std::nullopt;
  std::string name = nx->get<std::string>();
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (std::find(ctx.options.begin(), ctx.options.end(), name) == ctx.options.end()) return std::nullopt;
  const auto& cands = ctx.input.candidates;
  std::vector<char> used(cands.size(), 0);
  node_decision d;
  for (const auto& v : *r) {
    if (!v.is_number_integer()) continue;
    const auto id = v.get<long long>();
    for (std::size_t i = 0; i < cands.size(); ++i)
      if (cands[i].id == id && !used[i]) {
        used[i] = 1;
        d.order.push_back(static_cast<index_t>(i));
      }
  }
  for (index_t p : ctx.current())
    if (!used[static_cast<std::size_t>(p)]) d.order.push_back(p);
  d.next = std::move(name);
  return d;
}

template <llm::llm_client Client>
node_decision llm_node_policy<Client>::decide(const node_context& ctx) {
  ++stats_.decisions;
  llm::chat_request r;
  r.messages.push_back(llm::message::user(prompt(ctx)));
  r.options.temperature = options_.temperature;
  r.options.seed = options_.seed;
  r.options.max_tokens =
      options_.max_tokens > 0 ? options_.max_tokens : static_cast<int>(8 * ctx.input.candidates.size() + 48);
  r.options.format = llm::response_format::json_schema(schema(ctx), "llm4rerank_node");
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) ++stats_.retries;
    ++stats_.requests;
    const auto t0 = std::chrono::steady_clock::now();
    const llm::chat_response resp = client_.chat(r);
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats_.prompt_tokens += resp.usage.prompt_tokens > 0 ? resp.usage.prompt_tokens : static_cast<long>(llm::estimate_tokens(r));
    stats_.completion_tokens +=
        resp.usage.completion_tokens > 0 ? resp.usage.completion_tokens : static_cast<long>(llm::estimate_tokens(resp.text));
    node_decision d;
    std::string reason;
    const auto fix = validate(ctx, resp.text, d, reason);
    if (!fix) {
      if (attempt == 0) ++stats_.first_valid;
      return d;
    }
    ++stats_.failures[reason];
    if (options_.repair && attempt == 0 && (reason == "duplicate_id" || reason == "missing_id" || reason == "unknown_id")) {
      if (auto fixed = repaired(ctx, resp.text)) {
        ++stats_.repaired;
        return *fixed;
      }
    }
    r.messages.push_back(llm::message::assistant(resp.text));
    r.messages.push_back(llm::message::user(*fix));
  }
  ++stats_.fallbacks;
  const bool stop_offered =
      std::find(ctx.options.begin(), ctx.options.end(), std::string(aspect_graph::stop)) != ctx.options.end();
  return {ctx.node == aspect_graph::backward ? std::vector<index_t>{} : ctx.current(),
          stop_offered ? std::string(aspect_graph::stop) : ctx.node};
}

}  // namespace recblocks::rerank
