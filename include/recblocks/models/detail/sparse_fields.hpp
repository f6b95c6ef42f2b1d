#pragma once
/// \file sparse_fields.hpp
/// Default field selections of the Scenario-Wise Rec models (papers.md 2.2, "Which features each
/// model receives").

#include <string>
#include <vector>

#include "../../data/schema.hpp"
#include "../feature_embedding.hpp"

namespace recblocks::models::detail {

/// Names of the schema's sparse features, in schema order, except those in `exclude`.
inline std::vector<std::string> sparse_field_names(const data::schema& s, const std::vector<std::string>& exclude = {}) {
  std::vector<std::string> out;
  for (const auto* f : s.of_kind(data::feature_kind::sparse)) {
    bool skip = false;
    for (const auto& e : exclude) skip = skip || e == f->name;
    if (!skip) out.push_back(f->name);
  }
  return out;
}

/// `opt` with `fields` = the schema's sparse features when the caller left `fields` empty.
inline models::feature_embedding_options sparse_only(models::feature_embedding_options opt, const data::schema& s) {
  if (opt.fields.empty()) opt.fields = sparse_field_names(s);
  return opt;
}

/// `[B]` scenario ids validated against `scenarios` (`shape_error` when the batch has none,
/// `value_error` naming row and id when out of range).
inline void check_batch_scenarios(const char* where, std::span<const index_t> ids, index_t rows, index_t scenarios) {
  if (static_cast<index_t>(ids.size()) != rows)
    throw shape_error(std::string(where) + ": " + std::to_string(ids.size()) + " scenario ids for a batch of " +
                      std::to_string(rows) + " rows (does the batch carry the scenario feature?)");
  for (std::size_t b = 0; b < ids.size(); ++b)
    if (ids[b] < 0 || ids[b] >= scenarios)
      throw value_error(std::string(where) + ": scenario id " + std::to_string(ids[b]) + " at row " + std::to_string(b) +
                        " is outside [0, " + std::to_string(scenarios) + ")");
}

}  // namespace recblocks::models::detail
