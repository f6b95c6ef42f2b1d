#pragma once
/// \file select_fields.hpp
/// `featsel::select_fields(dataset, fields)`: the same rows with only the named sparse/dense fields
/// (in the schema's order) plus every scenario, label and sequence feature: what "retrain from scratch
/// on the top-d fields" trains on, for any model of the registry (the model is simply built for the
/// smaller schema). Vocabularies are kept.
///
/// Errors: `value_error` for an unknown field, a field listed twice, a field that is not sparse or
/// dense, or an empty list. Complexity: O(rows * features).

#include <algorithm>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/dataset.hpp"

namespace recblocks::featsel {

inline data::dataset select_fields(const data::dataset& d, const std::vector<std::string>& fields) {
  const data::schema& s = d.get_schema();
  if (fields.empty()) throw value_error("featsel::select_fields: no field selected (d must be >= 1)");
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (!s.contains(fields[i])) throw value_error("featsel::select_fields: the schema has no feature '" + fields[i] + "'");
    const auto k = s.at(fields[i]).kind;
    if (k != data::feature_kind::sparse && k != data::feature_kind::dense)
      throw value_error("featsel::select_fields: feature '" + fields[i] + "' is of kind " + data::to_string(k) +
                        ", only sparse and dense fields are selected");
    for (std::size_t j = 0; j < i; ++j)
      if (fields[j] == fields[i]) throw value_error("featsel::select_fields: field '" + fields[i] + "' is listed twice");
  }
  data::schema out;
  std::vector<index_t> sparse, dense;
  for (const auto& f : s.features()) {
    const bool selectable = f.kind == data::feature_kind::sparse || f.kind == data::feature_kind::dense;
    if (selectable && std::find(fields.begin(), fields.end(), f.name) == fields.end()) continue;
    out.add(f);
    if (f.kind == data::feature_kind::sparse) sparse.push_back(s.index_of(f.name));
    if (f.kind == data::feature_kind::dense) dense.push_back(s.index_of(f.name));
  }
  data::dataset r(out);
  r.reserve(d.rows());
  const index_t n_seq = s.sequence_count();
  std::vector<index_t> sp(sparse.size());
  std::vector<double> de(dense.size()), lab(static_cast<std::size_t>(s.label_count()));
  std::vector<std::vector<index_t>> seq(static_cast<std::size_t>(n_seq));
  const auto scen = d.scenario_column();
  for (index_t row = 0; row < d.rows(); ++row) {
    for (std::size_t k = 0; k < sparse.size(); ++k) sp[k] = d.sparse_column(sparse[k])[static_cast<std::size_t>(row)];
    for (std::size_t k = 0; k < dense.size(); ++k) de[k] = d.dense_column(dense[k])[static_cast<std::size_t>(row)];
    for (index_t j = 0; j < s.label_count(); ++j) lab[static_cast<std::size_t>(j)] = d.label_column(j)[static_cast<std::size_t>(row)];
    for (index_t q = 0; q < n_seq; ++q) {
      const index_t L = s.of_kind(data::feature_kind::sequence)[static_cast<std::size_t>(q)]->max_length;
      const auto block = d.sequence_block(q);
      auto& v = seq[static_cast<std::size_t>(q)];
      v.clear();
      for (index_t p = 0; p < L; ++p) {
        const index_t id = block[static_cast<std::size_t>(row * L + p)];
        if (id != 0) v.push_back(id);
      }
    }
    r.append(sp, de, scen.empty() ? 0 : scen[static_cast<std::size_t>(row)], lab, seq);
  }
  return r;
}

}  // namespace recblocks::featsel
