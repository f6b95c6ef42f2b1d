#pragma once
/// \file feature_descriptor.hpp
/// `featsel::feature_descriptor`: what AltFS's ranking prompt shows per field (papers.md §3): its
/// name, kind ("categorical" for sparse ids, "numerical" for dense values), an example value, its
/// number of unique values in the data, and an optional human description.
///
///     auto ds = featsel::feature_descriptor::from_dataset(train, {.descriptions = {{"zip", "zip code"}}});
///
/// The example is `options.examples[name]` when given (e.g. a raw value before label encoding),
/// else the field's most frequent value (the encoded id for sparse fields; dense values printed with
/// 4 significant digits). `to_line()` is the one-line text the prompt uses.
///
/// Errors: `value_error` for a dataset with no rows, for fewer than 2 selectable fields, and for a
/// description or example naming a feature that is not a selectable field (a typo would silently
/// vanish otherwise). Complexity: O(rows * fields log rows).

#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../data/dataset.hpp"
#include "feature_ranking.hpp"

namespace recblocks::featsel {

/// Per-field texts supplied by the user (see the file comment).
struct descriptor_options {
  std::map<std::string, std::string> descriptions;  ///< field -> human description
  std::map<std::string, std::string> examples;      ///< field -> example value (overrides the data's)
};

struct feature_descriptor {
  std::string name;
  std::string kind;         ///< "categorical" (sparse) or "numerical" (dense)
  std::string example;
  index_t n_unique = 0;
  std::string description;  ///< may be empty

  /// "name (categorical, e.g. 3, 21 unique values): description"
  std::string to_line() const {
    std::string s = name + " (" + kind + ", e.g. " + example + ", " + std::to_string(n_unique) + " unique values)";
    if (!description.empty()) s += ": " + description;
    return s;
  }

  /// One descriptor per selectable field of `d`, in kind order (sparse, then dense).
  static std::vector<feature_descriptor> from_dataset(const data::dataset& d, const descriptor_options& options = {});
};

inline std::vector<feature_descriptor> feature_descriptor::from_dataset(const data::dataset& d, const descriptor_options& options) {
  const data::schema& s = d.get_schema();
  const auto fields = selectable_fields(s);
  if (d.rows() < 1) throw value_error("featsel::feature_descriptor::from_dataset: the dataset has no rows");
  for (const auto* m : {&options.descriptions, &options.examples})
    for (const auto& [k, v] : *m)
      if (std::find(fields.begin(), fields.end(), k) == fields.end())
        throw value_error("featsel::feature_descriptor::from_dataset: a description or example names '" + k +
                          "', which is not a sparse or dense field of the schema");
  std::vector<feature_descriptor> out;
  for (const auto& name : fields) {
    feature_descriptor fd;
    fd.name = name;
    const bool sparse = s.at(name).kind == data::feature_kind::sparse;
    fd.kind = sparse ? "categorical" : "numerical";
    std::unordered_map<double, index_t> counts;
    if (sparse)
      for (index_t id : d.sparse_column(s.index_of(name))) ++counts[double(id)];
    else
      for (double v : d.dense_column(s.index_of(name))) ++counts[v];
    fd.n_unique = static_cast<index_t>(counts.size());
    double best = 0;
    index_t best_n = -1;
    for (const auto& [v, n] : counts)
      if (n > best_n || (n == best_n && v < best)) best = v, best_n = n;
    char buf[40];
    if (sparse) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(best));
    else std::snprintf(buf, sizeof buf, "%.4g", best);
    fd.example = buf;
    if (auto it = options.examples.find(name); it != options.examples.end()) fd.example = it->second;
    if (auto it = options.descriptions.find(name); it != options.descriptions.end()) fd.description = it->second;
    out.push_back(std::move(fd));
  }
  return out;
}

}  // namespace recblocks::featsel
