#pragma once
/// \file feature_ranking.hpp
/// `featsel::feature_ranking`: a full ranking of a dataset's selectable fields (most important first)
/// and the `ranking_policy` concept every feature-importance policy satisfies (AltFS, papers.md §3:
/// the LLM ranking, the bridge refinement, permutation importance, mutual information, the learnable
/// gate), so that every policy is compared through one interface:
///
///     template <featsel::ranking_policy P> featsel::feature_ranking r = policy.rank(train, valid);
///     std::vector<std::string> keep = r.top(d);               // the d most important fields
///
/// Selectable fields are the sparse and dense features of a schema (kind order: sparse first, then
/// dense, as `models::field_gate` columns); scenario, label and sequence features are never ranked.
///
/// Errors: `top(d)` throws `value_error` for d < 1 or d larger than the ranking; `check(schema)`
/// throws `value_error` when the ranking is not a permutation of the schema's selectable fields;
/// `selectable_fields` throws `value_error` for a schema with fewer than 2 selectable fields (there is
/// nothing to select). Thread-safety: a plain value.

#include <algorithm>
#include <concepts>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/dataset.hpp"
#include "../data/schema.hpp"

namespace recblocks::featsel {

/// A ranking of fields, most important first.
struct feature_ranking {
  std::string policy;               ///< who ranked ("mutual_information", "llm", "bridge", ...)
  std::vector<std::string> order;   ///< field names, most important first
  std::vector<double> scores;       ///< per position in `order` (non-increasing), policy-specific scale
  long fallbacks = 0;               ///< steps decided by a documented fallback (LLM policies)

  /// The `d` most important fields. `value_error` for d < 1 or d > order.size().
  std::vector<std::string> top(index_t d) const {
    if (d < 1 || d > static_cast<index_t>(order.size()))
      throw value_error("featsel::feature_ranking::top: d = " + std::to_string(d) + " must lie in [1, " +
                        std::to_string(order.size()) + "] (the number of ranked fields) for policy '" + policy + "'");
    return {order.begin(), order.begin() + d};
  }
  /// 0-based position of `name`; `value_error` when it is not ranked.
  index_t position(const std::string& name) const {
    const auto it = std::find(order.begin(), order.end(), name);
    if (it == order.end()) throw value_error("featsel::feature_ranking::position: field '" + name + "' is not ranked by '" + policy + "'");
    return static_cast<index_t>(it - order.begin());
  }
  /// `value_error` unless `order` is a permutation of `selectable_fields(s)`.
  void check(const data::schema& s) const;
};

/// The sparse and dense feature names of `s` in kind order (sparse first). `value_error` when there
/// are fewer than 2 (a dataset with one field has nothing to select).
inline std::vector<std::string> selectable_fields(const data::schema& s) {
  std::vector<std::string> out;
  for (const auto* f : s.of_kind(data::feature_kind::sparse)) out.push_back(f->name);
  for (const auto* f : s.of_kind(data::feature_kind::dense)) out.push_back(f->name);
  if (out.size() < 2)
    throw value_error("featsel: the dataset has " + std::to_string(out.size()) +
                      " sparse/dense field(s); feature selection needs at least 2");
  return out;
}

/// Column of field `name` in a `models::field_gate` row (sparse index, or sparse_count + dense index).
inline index_t gate_column(const data::schema& s, const std::string& name) {
  const data::feature_spec& f = s.at(name);
  if (f.kind == data::feature_kind::sparse) return s.index_of(name);
  if (f.kind == data::feature_kind::dense) return s.sparse_count() + s.index_of(name);
  throw value_error("featsel: feature '" + name + "' is of kind " + data::to_string(f.kind) + ", not a selectable field");
}

inline void feature_ranking::check(const data::schema& s) const {
  const auto fields = selectable_fields(s);
  if (order.size() != fields.size())
    throw value_error("featsel::feature_ranking::check: policy '" + policy + "' ranks " + std::to_string(order.size()) +
                      " fields, the schema has " + std::to_string(fields.size()));
  for (const auto& f : fields)
    if (std::count(order.begin(), order.end(), f) != 1)
      throw value_error("featsel::feature_ranking::check: policy '" + policy + "' ranks field '" + f + "' " +
                        std::to_string(std::count(order.begin(), order.end(), f)) + " times");
}

/// A feature-importance policy: `rank(train, valid)` ranks every selectable field of `train`'s schema
/// (`valid` has the same schema; policies that need no held-out data ignore it).
template <class P>
concept ranking_policy = requires(P& p, const data::dataset& train, const data::dataset& valid) {
  { p.rank(train, valid) } -> std::same_as<feature_ranking>;
};

}  // namespace recblocks::featsel
