#pragma once
/// \file registry.hpp
/// Name -> model for the twelve Scenario-Wise Rec models, through a visitor: `registry::visit` builds
/// the named model (its concrete type) and calls a generic callable with it, so the caller's code
/// (a trainer, a benchmark, a checkpoint loader) is compiled once per model type and runs on the
/// exact static type, with no virtual call in the forward.
///
///     models::registry::visit<float>("ple", schema, options_json, gen, [&](auto& model) {
///       train::trainer tr(model, opts);
///       tr.fit(train, valid);
///     });
///
/// Names (benchmark order): shared_bottom, mmoe, ple, sarnet, star, m2m, adasparse, adaptdhm, epnet,
/// ppnet, hamur, m3oe; the sequence models mscan (the 13th) and din (its single-sequence baseline); the reference scripts' spellings (`sharedbottom`, `SharedBottom`, `MMOE`,
/// `PLE`, ...) are accepted too (case-insensitive, underscores ignored).
///
/// `preset_options(name, preset)` gives the reference hyperparameters of papers.md 2.4 per dataset
/// column (MovieLens/Amazon/Douban, KuaiRand/MIND, Ali-CCP) as an options JSON; `{}` (empty object)
/// means the model's defaults, which are the MovieLens column.
///
/// Variants (one global switch over every model): an options JSON may carry `"variant"`:
/// `"paper"` (the default: the reference's computation with its documented bugs fixed) or
/// `"reference"` (the reference code exactly: `reference_behaviour = true` for the six models that
/// have a documented reference bug or quirk, STAR, M2M, AdaSparse, EPNet, PPNet and HAMUR; the other
/// six compute the reference's model in both variants). Batch statistics are the reference's (whole mixed batch)
/// in both variants, through `routing = auto`. An explicit `reference_behaviour` in the same JSON wins.
/// `resolved_options(name, options)` returns the fully resolved options (every key, variant expanded)
/// for run records.
///
/// `check_scenarios(dataset, scenarios)` throws `value_error` naming the scenario when a scenario of
/// the schema has no rows in the dataset (checked before training starts).
///
/// Errors: `value_error` for an unknown name (listing the known ones) or preset; `parse_error` for
/// a malformed options JSON (from the model's `from_json`) or a key the model does not have. Thread-safety: stateless.

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../data/dataset.hpp"
#include "adaptdhm.hpp"
#include "adasparse.hpp"
#include "dcn.hpp"
#include "epnet.hpp"
#include "hamur.hpp"
#include "llm4msr.hpp"
#include "m2m.hpp"
#include "m3oe.hpp"
#include "mmoe.hpp"
#include "mscan.hpp"
#include "ple.hpp"
#include "ppnet.hpp"
#include "sarnet.hpp"
#include "shared_bottom.hpp"
#include "star.hpp"

namespace recblocks::models {

/// Hyperparameter columns of the reference scripts (papers.md 2.4).
enum class preset { movielens, kuairand, aliccp };

/// "paper": the reference's computation with its documented bugs fixed (default); "reference": exactly the reference code.
enum class variant { paper, reference };

class registry {
 public:
  /// The twelve canonical names, in benchmark order.
  static const std::vector<std::string>& names();

  /// The models that read behaviour sequences (data built by `data::sequence_builder`): `mscan`,
  /// and `din`, the DIN-style single-sequence baseline (M-scan with `history = whole`, `cross = none`,
  /// `debias = false`; further options override these). Accepted by `visit` and `canonical`.
  static const std::vector<std::string>& sequence_names();

  /// Single-scenario CTR models (no scenario feature needed): `dcn` (Deep & Cross Network, v1 or v2 by
  /// option; UserIP-Tuning's downstream model). Accepted by `visit`, `canonical` and `resolved_options`.
  static const std::vector<std::string>& ctr_names();

  /// The canonical name of `name` (reference spellings accepted); `value_error` if unknown.
  static std::string canonical(const std::string& name);

  /// `preset` for a dataset name: movielens/amazon/douban/synthetic/csv (a user's data: the defaults;
  /// and the sequence datasets movielens-genre, synthetic-sy) -> movielens, kuairand/mind ->
  /// kuairand, aliccp -> aliccp; `value_error` otherwise.
  static preset preset_for_dataset(const std::string& dataset);

  /// The reference hyperparameters of model `name` for `p` as an options JSON.
  static nlohmann::json preset_options(const std::string& name, preset p);

  /// True for the models with a `reference_behaviour` switch (a documented reference bug).
  static bool has_reference_switch(const std::string& name);

  /// `options` with `"variant"` expanded (see file docs): `parse_error` for a variant other than
  /// "paper" / "reference" or a non-object `options`.
  static nlohmann::json expand_variant(const std::string& name, const nlohmann::json& options);

  /// Every option of model `name` as it will be built from `options` (defaults filled in, variant
  /// expanded): what run records store. Errors as `visit`.
  static nlohmann::json resolved_options(const std::string& name, const nlohmann::json& options);

  /// Builds model `name` (scalar `T`) from `options` (a JSON object; missing keys keep defaults) and
  /// returns `f(model)`.
  template <class T, class F>
  static decltype(auto) visit(const std::string& name, const data::schema& s, const nlohmann::json& options, rng& gen, F&& f);

  /// `value_error` naming the first scenario in `[0, scenarios)` without rows in `d`.
  static void check_scenarios(const data::dataset& d, const std::string& what);

  // --- LLM4MSR (issue 14): `llm4msr_<backbone>` for each of the twelve names ---------------------
  /// `llm4msr_shared_bottom`, `llm4msr_mmoe`, ... (the twelve names prefixed).
  static const std::vector<std::string>& llm4msr_names();
  /// The canonical `llm4msr_<backbone>` name (backbone spellings as `canonical`); `value_error` otherwise.
  static std::string canonical_llm4msr(const std::string& name);
  /// Builds `models::llm4msr<backbone<T>>` from `options` (`{"backbone": {...}, "meta": {...}}`; the
  /// backbone part takes `"variant"` as `visit`) and returns `f(model)`. The caller attaches the
  /// knowledge (`model.attach(...)`) or restores a checkpoint before the first forward.
  template <class T, class F>
  static decltype(auto) visit_llm4msr(const std::string& name, const data::schema& s, const nlohmann::json& options, rng& gen, F&& f);
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline const std::vector<std::string>& registry::names() {
  static const std::vector<std::string> n = {"shared_bottom", "mmoe",      "ple",      "sarnet", "star",  "m2m",
                                             "adasparse",     "adaptdhm", "epnet",    "ppnet",  "hamur", "m3oe"};
  return n;
}

inline const std::vector<std::string>& registry::sequence_names() {
  static const std::vector<std::string> n = {"mscan", "din"};
  return n;
}

inline const std::vector<std::string>& registry::ctr_names() {
  static const std::vector<std::string> n = {"dcn"};
  return n;
}

inline std::string registry::canonical(const std::string& name) {
  std::string key;
  for (char c : name)
    if (c != '_' && c != '-') key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const auto& n : sequence_names())
    if (n == key) return n;
  for (const auto& n : ctr_names())
    if (n == key) return n;
  for (const auto& n : names()) {
    std::string k;
    for (char c : n)
      if (c != '_') k.push_back(c);
    if (k == key) return n;
  }
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  for (const auto& n : sequence_names()) known += ", " + n;
  for (const auto& n : ctr_names()) known += ", " + n;
  throw value_error("models::registry: unknown model '" + name + "' (known: " + known + ")");
}

inline preset registry::preset_for_dataset(const std::string& dataset) {
  if (dataset == "movielens" || dataset == "amazon" || dataset == "douban" || dataset == "synthetic" || dataset == "csv" ||
      dataset == "movielens-genre" || dataset == "synthetic-sy")
    return preset::movielens;
  if (dataset == "kuairand" || dataset == "mind") return preset::kuairand;
  if (dataset == "aliccp" || dataset == "ali-ccp" || dataset == "ali_ccp") return preset::aliccp;
  throw value_error("models::registry: no hyperparameter preset for dataset '" + dataset + "'");
}

inline nlohmann::json registry::preset_options(const std::string& name, preset p) {
  const std::string n = canonical(name);
  using J = nlohmann::json;
  const std::vector<index_t> deep{256, 128, 64, 32, 16, 8};
  if (p == preset::movielens) return J::object();  // every model's defaults are the MovieLens column
  const bool kr = p == preset::kuairand;
  if (n == "shared_bottom") return kr ? J{{"bottom_dims", {128}}, {"tower_dims", {64, 32}}} : J{{"bottom_dims", {512}}, {"tower_dims", deep}};
  if (n == "mmoe") return kr ? J{{"expert_dims", {32}}, {"tower_dims", {16}}} : J{{"expert_dims", deep}, {"tower_dims", {16}}};
  if (n == "ple") return kr ? J{{"expert_dims", {64, 32}}, {"tower_dims", {16}}} : J{{"expert_dims", deep}, {"tower_dims", {16}}};
  if (n == "star") return kr ? J::object() : J{{"fcn_dims", {256, 128, 64, 32, 16, 8}}, {"aux_dims", {16}}};
  if (n == "adasparse") return J{{"fcn_dims", kr ? std::vector<index_t>{128, 64, 32} : deep}};
  if (n == "adaptdhm") return kr ? J::object() : J{{"fcn_dims", deep}};
  if (n == "epnet" || n == "ppnet") return kr ? J::object() : J{{"fcn_dims", deep}};
  if (n == "m3oe") return kr ? J::object() : J{{"fcn_dims", {512, 256, 256, 64}}};
  if (n == "hamur")  // HamurLarge: 7 layers, adapter cells after layers 6 and 7, k = 65
    return kr ? J::object() : J{{"fcn_dims", {256, 128, 64, 64, 32, 16, 8}}, {"rank", 65}, {"adapters", 2}};
  return J::object();  // sarnet, m2m: the same on every dataset
}

inline bool registry::has_reference_switch(const std::string& name) {
  const std::string n = canonical(name);
  return n == "star" || n == "m2m" || n == "adasparse" || n == "epnet" || n == "ppnet" || n == "hamur";
}

inline nlohmann::json registry::expand_variant(const std::string& name, const nlohmann::json& options) {
  nlohmann::json o = options.is_null() ? nlohmann::json::object() : options;
  if (!o.is_object()) throw parse_error("models::registry: options for " + canonical(name) + " must be a JSON object");
  if (!o.contains("variant")) return o;
  const nlohmann::json v = o.at("variant");
  o.erase("variant");
  if (!v.is_string() || (v.get<std::string>() != "paper" && v.get<std::string>() != "reference"))
    throw parse_error("models::registry: option 'variant' of " + canonical(name) + " must be \"paper\" or \"reference\", got " + v.dump());
  if (has_reference_switch(name) && !o.contains("reference_behaviour")) o["reference_behaviour"] = v.get<std::string>() == "reference";
  return o;
}

inline nlohmann::json registry::resolved_options(const std::string& name, const nlohmann::json& options) {
  nlohmann::json out;
  const std::string n = canonical(name);
  const nlohmann::json o = expand_variant(n, options);
  auto resolve = [&]<class M>(std::type_identity<M>) {
    out = M::options_type::from_json(o).to_json();  // rejects unknown keys, accepts the reference spellings
  };
  if (n == "dcn") resolve(std::type_identity<dcn<float>>{});
  else if (n == "shared_bottom") resolve(std::type_identity<shared_bottom<float>>{});
  else if (n == "mmoe") resolve(std::type_identity<mmoe<float>>{});
  else if (n == "ple") resolve(std::type_identity<ple<float>>{});
  else if (n == "sarnet") resolve(std::type_identity<sarnet<float>>{});
  else if (n == "star") resolve(std::type_identity<star<float>>{});
  else if (n == "m2m") resolve(std::type_identity<m2m<float>>{});
  else if (n == "adasparse") resolve(std::type_identity<adasparse<float>>{});
  else if (n == "adaptdhm") resolve(std::type_identity<adaptdhm<float>>{});
  else if (n == "epnet") resolve(std::type_identity<epnet<float>>{});
  else if (n == "ppnet") resolve(std::type_identity<ppnet<float>>{});
  else if (n == "hamur") resolve(std::type_identity<hamur<float>>{});
  else resolve(std::type_identity<m3oe<float>>{});
  return out;
}

template <class T, class F>
decltype(auto) registry::visit(const std::string& name, const data::schema& s, const nlohmann::json& options, rng& gen, F&& f) {
  const std::string n = canonical(name);
  const nlohmann::json o = expand_variant(n, options);
  auto run = [&]<class M>(std::type_identity<M>) -> decltype(auto) {
    // from_json rejects a key the model does not have (a misspelt key is never ignored silently)
    M model(s, M::options_type::from_json(o), gen);
    return f(model);
  };
  if (n == "dcn") return run(std::type_identity<dcn<T>>{});
  if (n == "mscan") return run(std::type_identity<mscan<T>>{});
  if (n == "din") {
    nlohmann::json merged = {{"history", "whole"}, {"cross", "none"}, {"debias", false}};
    if (o.is_object()) merged.update(o);
    const nlohmann::json known = mscan_options{}.to_json();
    for (const auto& [key, value] : merged.items())
      if (!known.contains(key)) throw parse_error("models::registry: unknown option '" + key + "' for model din (an mscan variant)");
    mscan<T> model(s, mscan_options::from_json(merged), gen);
    return f(model);
  }
  if (n == "shared_bottom") return run(std::type_identity<shared_bottom<T>>{});
  if (n == "mmoe") return run(std::type_identity<mmoe<T>>{});
  if (n == "ple") return run(std::type_identity<ple<T>>{});
  if (n == "sarnet") return run(std::type_identity<sarnet<T>>{});
  if (n == "star") return run(std::type_identity<star<T>>{});
  if (n == "m2m") return run(std::type_identity<m2m<T>>{});
  if (n == "adasparse") return run(std::type_identity<adasparse<T>>{});
  if (n == "adaptdhm") return run(std::type_identity<adaptdhm<T>>{});
  if (n == "epnet") return run(std::type_identity<epnet<T>>{});
  if (n == "ppnet") return run(std::type_identity<ppnet<T>>{});
  if (n == "hamur") return run(std::type_identity<hamur<T>>{});
  return run(std::type_identity<m3oe<T>>{});
}

inline void registry::check_scenarios(const data::dataset& d, const std::string& what) {
  const index_t S = d.get_schema().scenario_count();
  if (S < 1) throw value_error("models::registry: the " + what + " data has no scenario feature");
  const std::vector<index_t> counts = d.scenario_counts();
  for (index_t s = 0; s < S; ++s)
    if (s >= static_cast<index_t>(counts.size()) || counts[static_cast<std::size_t>(s)] == 0)
      throw value_error("models::registry: scenario " + std::to_string(s) + " of " + std::to_string(S) + " has no rows in the " +
                        what + " data (every scenario needs rows to train and evaluate its parameters)");
}

// --- LLM4MSR (issue 14) -------------------------------------------------------------------------

inline const std::vector<std::string>& registry::llm4msr_names() {
  static const std::vector<std::string> n = [] {
    std::vector<std::string> v;
    for (const auto& b : names()) v.push_back("llm4msr_" + b);
    return v;
  }();
  return n;
}

inline std::string registry::canonical_llm4msr(const std::string& name) {
  std::string key;
  for (char c : name) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (key.rfind("llm4msr", 0) != 0)
    throw value_error("models::registry: '" + name + "' is not an llm4msr name (llm4msr_<backbone>)");
  std::string rest = key.substr(7);
  if (!rest.empty() && (rest[0] == '_' || rest[0] == '-')) rest.erase(0, 1);
  const std::string b = canonical(rest);
  if (std::find(names().begin(), names().end(), b) == names().end())
    throw value_error("models::registry: llm4msr wraps the twelve multi-scenario models, not '" + b + "'");
  return "llm4msr_" + b;
}

template <class T, class F>
decltype(auto) registry::visit_llm4msr(const std::string& name, const data::schema& s, const nlohmann::json& options, rng& gen, F&& f) {
  const std::string n = canonical_llm4msr(name).substr(8);
  nlohmann::json o = options.is_null() ? nlohmann::json::object() : options;
  if (!o.is_object()) throw parse_error("models::registry: llm4msr options must be a JSON object");
  if (o.contains("backbone")) o["backbone"] = expand_variant(n, o["backbone"]);
  auto run = [&]<class M>(std::type_identity<M>) -> decltype(auto) {
    llm4msr<M> model(s, llm4msr<M>::options_type::from_json(o), gen);
    return f(model);
  };
  if (n == "shared_bottom") return run(std::type_identity<shared_bottom<T>>{});
  if (n == "mmoe") return run(std::type_identity<mmoe<T>>{});
  if (n == "ple") return run(std::type_identity<ple<T>>{});
  if (n == "sarnet") return run(std::type_identity<sarnet<T>>{});
  if (n == "star") return run(std::type_identity<star<T>>{});
  if (n == "m2m") return run(std::type_identity<m2m<T>>{});
  if (n == "adasparse") return run(std::type_identity<adasparse<T>>{});
  if (n == "adaptdhm") return run(std::type_identity<adaptdhm<T>>{});
  if (n == "epnet") return run(std::type_identity<epnet<T>>{});
  if (n == "ppnet") return run(std::type_identity<ppnet<T>>{});
  if (n == "hamur") return run(std::type_identity<hamur<T>>{});
  return run(std::type_identity<m3oe<T>>{});
}

}  // namespace recblocks::models
