#pragma once
/// \file csv_dataset.hpp
/// Builds `dataset`s from CSV tables: column roles from a config, encoders fitted on the train split.
///
/// Column roles (`csv_dataset_config`):
/// - `sparse`: categorical columns, each label-encoded (`label_encoder`, `min_count`) on the
///   training rows; unseen values map to id 0; vocabulary = classes + 1;
///   With `keep_encoded_ids` the cells are taken as already encoded ids instead (non-negative
///   integers, e.g. the output of the reference's LabelEncoder): id v becomes v + 1, vocabulary =
///   largest training id + 2, and an id above the largest training id maps to 0 — the same unseen
///   bucket as the encoder's; a cell that is not a non-negative integer is a `parse_error`;
/// - `dense`: numeric columns, min-max scaled on the training rows when `scale_dense`;
/// - `labels`: binary 0/1 columns (anything else is an error), or thresholded numeric columns
///   (`greater_than`: label = value > threshold, e.g. MovieLens rating > 3);
/// - `scenario_column`: its value picks the scenario either through `scenario_values` (value i ->
///   scenario i) or through `scenario_of` (a function of the cell text; -1 drops the row). Rows whose
///   value is not listed are dropped when `drop_unknown_scenarios` (counted in `dropped`), an error
///   otherwise. With `compact_scenarios` the scenarios present are renumbered 0..k-1 in order
///   (sklearn LabelEncoder over the kept values, as Scenario-Wise Rec does for KuaiRand's `tab`);
///   otherwise every scenario must have at least one row. A column may be both sparse and the
///   scenario column (Ali-CCP's `301`).
///
/// Schema of the result, in this order: the sparse columns, the dense columns, the scenario feature
/// (named `scenario_name`), the labels; each feature is named after its column.
///
/// `transform` also drops (and counts in `dropped`) rows of a scenario that had no rows at fit time.
/// `load(table, ratios, seed)` splits the kept rows at random (`split_indices`, Scenario-Wise Rec's
/// 8:1:1) and fits on the train part only; `load(train, validation, test)` uses given splits
/// (Ali-CCP). `transform(table)` encodes more rows with the fitted encoders.
///
/// Errors: `value_error` naming the column when a configured column is missing from the table
/// (and listing the table's columns), when a scenario has no rows, or when the training part is
/// empty; `parse_error` ("file:line:column ('name'): ...") for a non-numeric dense value, a missing
/// or non-binary label, an unlisted scenario value — or, with `errors = on_error::skip`, such rows
/// are skipped and counted in `skipped`; `state_error` for `transform`/accessors before `load`.
/// Complexity: O(rows x columns) plus O(n log n) per encoder fit.
/// Thread-safety: `load` mutates; const members may run concurrently after it.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <array>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "csv_reader.hpp"
#include "dataset.hpp"
#include "label_encoder.hpp"
#include "min_max_scaler.hpp"
#include "schema.hpp"
#include "split.hpp"

namespace recblocks::data {

/// A label column: binary 0/1, or `value > greater_than` when set.
struct label_column_spec {
  std::string column;
  std::optional<double> greater_than{};
};

/// Column roles and options (see file docs).
struct csv_dataset_config {
  std::vector<std::string> sparse;
  std::vector<std::string> dense;
  std::vector<label_column_spec> labels;
  std::string scenario_column;                            ///< "" = no scenario feature
  std::vector<std::string> scenario_values;               ///< value i -> scenario i
  std::function<index_t(std::string_view)> scenario_of;   ///< used when scenario_values is empty
  bool drop_unknown_scenarios = false;
  bool compact_scenarios = false;
  std::string scenario_name = "scenario";
  bool scale_dense = true;
  index_t min_count = 1;
  bool keep_encoded_ids = false;  ///< sparse cells are ids already (see file docs): no encoder is fitted
  on_error errors = on_error::raise;
};

/// The three parts `csv_dataset::load` returns, with the counts of rows left out.
struct csv_splits {
  dataset train, validation, test;
  index_t skipped = 0;  ///< malformed rows skipped (on_error::skip)
  index_t dropped = 0;  ///< rows whose scenario value is not listed (drop_unknown_scenarios)
};

class csv_dataset {
 public:
  explicit csv_dataset(csv_dataset_config config);

  /// Splits `table`'s rows at random and fits the encoders on the train part.
  csv_splits load(const csv_reader& table, std::array<double, 3> ratios, std::uint64_t seed);
  /// Uses given splits; fits the encoders on `train`.
  csv_splits load(const csv_reader& train, const csv_reader& validation, const csv_reader& test);

  /// Encodes `table` with the fitted encoders. Counts are written when the pointers are given.
  dataset transform(const csv_reader& table, index_t* skipped = nullptr, index_t* dropped = nullptr) const;

  const csv_dataset_config& config() const { return config_; }
  const schema& get_schema() const;
  const label_encoder& encoder(const std::string& column) const;
  const min_max_scaler& scaler(const std::string& column) const;
  /// For each raw scenario (position in `scenario_values`, or `scenario_of` result): its id, or -1.
  const std::vector<index_t>& scenario_map() const { return scenario_map_; }

  /// The fitted state: schema, encoders, scalers, scenario map.
  nlohmann::json to_json() const;

 private:
  struct prepared {
    std::vector<index_t> rows;      // kept table rows
    std::vector<index_t> scenario;  // raw scenario per kept row
    std::vector<double> dense;      // [kept, dense] raw
    std::vector<double> labels;     // [kept, labels]
    index_t skipped = 0, dropped = 0;
  };
  struct columns {
    std::vector<index_t> sparse, dense, labels;
    index_t scenario = -1;
  };

  columns resolve(const csv_reader& t) const;
  prepared prepare(const csv_reader& t, const columns& c) const;
  void fit(const csv_reader& t, const columns& c, const prepared& p, std::span<const index_t> train,
           const std::vector<const prepared*>& all, const std::vector<std::string>& names);
  dataset emit(const csv_reader& t, const columns& c, const prepared& p, std::span<const index_t> idx,
               index_t* unseen = nullptr) const;
  void require_fitted(const char* what) const;

  csv_dataset_config config_;
  bool fitted_ = false;
  schema schema_;
  std::vector<label_encoder> encoders_;
  std::vector<index_t> id_max_;  // keep_encoded_ids: largest training id per sparse column
  static index_t encoded_id(const csv_reader& t, index_t r, index_t col);
  std::vector<min_max_scaler> scalers_;
  std::vector<index_t> scenario_map_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline csv_dataset::csv_dataset(csv_dataset_config config) : config_(std::move(config)) {
  if (!config_.scenario_column.empty() && config_.scenario_values.empty() && !config_.scenario_of)
    throw value_error("data::csv_dataset: scenario column '" + config_.scenario_column +
                      "' needs scenario_values or scenario_of");
  if (config_.min_count < 1) throw value_error("data::csv_dataset: min_count must be >= 1");
}

inline void csv_dataset::require_fitted(const char* what) const {
  if (!fitted_) throw state_error(std::string("data::csv_dataset::") + what + ": call load() first");
}

inline const schema& csv_dataset::get_schema() const {
  require_fitted("get_schema");
  return schema_;
}

inline index_t csv_dataset::encoded_id(const csv_reader& t, index_t r, index_t col) {
  std::string_view v = t.cell(r, col);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
  std::int64_t id = -1;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || id < 0 || id > (std::int64_t(1) << 40))
    throw parse_error(t.where(r, col) + ": '" + std::string(t.cell(r, col)) +
                      "' is not an encoded id (a non-negative integer; keep_encoded_ids is set)");
  return static_cast<index_t>(id);
}

inline const label_encoder& csv_dataset::encoder(const std::string& column) const {
  require_fitted("encoder");
  if (config_.keep_encoded_ids) throw state_error("data::csv_dataset::encoder: keep_encoded_ids is set (no encoders)");
  for (std::size_t i = 0; i < config_.sparse.size(); ++i)
    if (config_.sparse[i] == column) return encoders_[i];
  throw value_error("data::csv_dataset::encoder: '" + column + "' is not a sparse column");
}

inline const min_max_scaler& csv_dataset::scaler(const std::string& column) const {
  require_fitted("scaler");
  if (!config_.scale_dense) throw state_error("data::csv_dataset::scaler: scale_dense is off");
  for (std::size_t i = 0; i < config_.dense.size(); ++i)
    if (config_.dense[i] == column) return scalers_[i];
  throw value_error("data::csv_dataset::scaler: '" + column + "' is not a dense column");
}

inline csv_dataset::columns csv_dataset::resolve(const csv_reader& t) const {
  auto find = [&](const std::string& name, const char* role) {
    if (t.has_column(name)) return t.column(name);
    std::string cols;
    for (const auto& h : t.header()) cols += (cols.empty() ? "" : ", ") + h;
    throw value_error("data::csv_dataset: " + std::string(role) + " column '" + name + "' not found in " + t.name() +
                      " (columns: " + cols + ")");
  };
  columns c;
  for (const auto& s : config_.sparse) c.sparse.push_back(find(s, "sparse"));
  for (const auto& s : config_.dense) c.dense.push_back(find(s, "dense"));
  for (const auto& l : config_.labels) c.labels.push_back(find(l.column, "label"));
  if (!config_.scenario_column.empty()) c.scenario = find(config_.scenario_column, "scenario");
  return c;
}

inline csv_dataset::prepared csv_dataset::prepare(const csv_reader& t, const columns& c) const {
  prepared p;
  p.skipped = t.skipped();
  std::vector<double> dense(c.dense.size()), labels(c.labels.size());
  for (index_t r = 0; r < t.rows(); ++r) {
    index_t scenario = 0;
    try {
      if (c.scenario >= 0) {
        const std::string_view v = t.cell(r, c.scenario);
        if (!config_.scenario_values.empty()) {
          const auto it = std::find(config_.scenario_values.begin(), config_.scenario_values.end(), v);
          scenario = it == config_.scenario_values.end() ? -1 : it - config_.scenario_values.begin();
        } else {
          scenario = config_.scenario_of(v);
        }
        if (scenario < 0) {
          if (!config_.drop_unknown_scenarios)
            throw parse_error(t.where(r, c.scenario) + ": scenario value '" + std::string(v) + "' is not listed");
          ++p.dropped;
          continue;
        }
      }
      for (std::size_t j = 0; j < c.dense.size(); ++j) dense[j] = t.number(r, c.dense[j]);
      if (config_.keep_encoded_ids)
        for (index_t col : c.sparse) (void)encoded_id(t, r, col);
      for (std::size_t j = 0; j < c.labels.size(); ++j) {
        const auto& spec = config_.labels[j];
        labels[j] = spec.greater_than ? (t.number(r, c.labels[j]) > *spec.greater_than ? 1.0 : 0.0)
                                      : t.binary(r, c.labels[j]);
      }
    } catch (const parse_error&) {
      if (config_.errors == on_error::raise) throw;
      ++p.skipped;
      continue;
    }
    p.rows.push_back(r);
    p.scenario.push_back(scenario);
    p.dense.insert(p.dense.end(), dense.begin(), dense.end());
    p.labels.insert(p.labels.end(), labels.begin(), labels.end());
  }
  return p;
}

inline void csv_dataset::fit(const csv_reader& t, const columns& c, const prepared& p, std::span<const index_t> train,
                             const std::vector<const prepared*>& all, const std::vector<std::string>& names) {
  if (train.empty()) throw value_error("data::csv_dataset: no training rows in " + t.name());
  encoders_.clear();
  id_max_.assign(config_.keep_encoded_ids ? c.sparse.size() : 0, -1);
  for (std::size_t f = 0; f < id_max_.size(); ++f)
    for (index_t i : train) id_max_[f] = std::max(id_max_[f], encoded_id(t, p.rows[static_cast<std::size_t>(i)], c.sparse[f]));
  for (std::size_t f = 0; f < (config_.keep_encoded_ids ? 0 : c.sparse.size()); ++f) {
    std::vector<std::string_view> cells;
    cells.reserve(train.size());
    for (index_t i : train) cells.push_back(t.cell(p.rows[static_cast<std::size_t>(i)], c.sparse[f]));
    encoders_.emplace_back(config_.min_count).fit(cells);
  }
  scalers_.clear();
  if (config_.scale_dense) {
    const std::size_t D = c.dense.size();
    for (std::size_t j = 0; j < D; ++j) {
      std::vector<double> v;
      v.reserve(train.size());
      for (index_t i : train) v.push_back(p.dense[static_cast<std::size_t>(i) * D + j]);
      scalers_.emplace_back().fit(v);
    }
  }
  // scenarios: count rows per raw id over every loaded part
  index_t scenarios = 0;
  if (c.scenario >= 0) {
    index_t raw = static_cast<index_t>(config_.scenario_values.size());
    for (const prepared* q : all)
      for (index_t s : q->scenario) raw = std::max(raw, s + 1);
    std::vector<index_t> counts(static_cast<std::size_t>(raw), 0);
    for (const prepared* q : all)
      for (index_t s : q->scenario) ++counts[static_cast<std::size_t>(s)];
    scenario_map_.assign(static_cast<std::size_t>(raw), -1);
    for (index_t s = 0; s < raw; ++s) {
      if (counts[static_cast<std::size_t>(s)] > 0) {
        scenario_map_[static_cast<std::size_t>(s)] = config_.compact_scenarios ? scenarios : s;
        ++scenarios;
      } else if (!config_.compact_scenarios) {
        const std::string label = s < static_cast<index_t>(config_.scenario_values.size())
                                      ? " ('" + config_.scenario_values[static_cast<std::size_t>(s)] + "')"
                                      : "";
        std::string files;
        for (const auto& n : names) files += (files.empty() ? "" : ", ") + n;
        throw value_error("data::csv_dataset: scenario " + std::to_string(s) + label + " of column '" +
                          config_.scenario_column + "' has no rows in " + files);
      }
    }
  }
  schema s;
  for (std::size_t f = 0; f < c.sparse.size(); ++f)
    s.add({config_.sparse[f], feature_kind::sparse, config_.keep_encoded_ids ? id_max_[f] + 2 : encoders_[f].vocabulary()});
  for (const auto& d : config_.dense) s.add({d, feature_kind::dense});
  if (c.scenario >= 0) s.add({config_.scenario_name, feature_kind::scenario, 0, 0, scenarios});
  for (const auto& l : config_.labels) s.add({l.column, feature_kind::label});
  schema_ = std::move(s);
  fitted_ = true;
}

inline dataset csv_dataset::emit(const csv_reader& t, const columns& c, const prepared& p,
                                 std::span<const index_t> idx, index_t* unseen) const {
  dataset d(schema_);
  d.reserve(static_cast<index_t>(idx.size()));
  const std::size_t D = c.dense.size(), L = c.labels.size();
  std::vector<index_t> sparse(c.sparse.size());
  std::vector<double> dense(D);
  for (index_t i : idx) {
    const auto k = static_cast<std::size_t>(i);
    const index_t r = p.rows[k];
    for (std::size_t f = 0; f < c.sparse.size(); ++f) {
      if (config_.keep_encoded_ids) {
        const index_t id = encoded_id(t, r, c.sparse[f]);
        sparse[f] = id <= id_max_[f] ? id + 1 : 0;  // above the training range: the unseen bucket
      } else {
        sparse[f] = encoders_[f].transform(t.cell(r, c.sparse[f]));
      }
    }
    for (std::size_t j = 0; j < D; ++j) dense[j] = config_.scale_dense ? scalers_[j].transform(p.dense[k * D + j]) : p.dense[k * D + j];
    index_t scenario = 0;
    if (c.scenario >= 0) {
      const index_t raw = p.scenario[k];
      scenario = raw < static_cast<index_t>(scenario_map_.size()) ? scenario_map_[static_cast<std::size_t>(raw)] : -1;
      if (scenario < 0) {  // a scenario unseen at fit time (transform only)
        if (unseen) ++*unseen;
        continue;
      }
    }
    d.append(sparse, dense, scenario, std::span<const double>(p.labels.data() + k * L, L));
  }
  return d;
}

inline csv_splits csv_dataset::load(const csv_reader& table, std::array<double, 3> ratios, std::uint64_t seed) {
  const columns c = resolve(table);
  const prepared p = prepare(table, c);
  const auto parts = split_indices(static_cast<index_t>(p.rows.size()), ratios, seed);
  fit(table, c, p, parts[0], {&p}, {table.name()});
  return {emit(table, c, p, parts[0]), emit(table, c, p, parts[1]), emit(table, c, p, parts[2]), p.skipped, p.dropped};
}

inline csv_splits csv_dataset::load(const csv_reader& train, const csv_reader& validation, const csv_reader& test) {
  const columns ct = resolve(train), cv = resolve(validation), cs = resolve(test);
  const prepared pt = prepare(train, ct), pv = prepare(validation, cv), ps = prepare(test, cs);
  const auto all_t = detail::iota(static_cast<index_t>(pt.rows.size()));
  fit(train, ct, pt, all_t, {&pt, &pv, &ps}, {train.name(), validation.name(), test.name()});
  return {emit(train, ct, pt, all_t), emit(validation, cv, pv, detail::iota(static_cast<index_t>(pv.rows.size()))),
          emit(test, cs, ps, detail::iota(static_cast<index_t>(ps.rows.size()))), pt.skipped + pv.skipped + ps.skipped,
          pt.dropped + pv.dropped + ps.dropped};
}

inline dataset csv_dataset::transform(const csv_reader& table, index_t* skipped, index_t* dropped) const {
  require_fitted("transform");
  const columns c = resolve(table);
  const prepared p = prepare(table, c);
  index_t unseen = 0;
  dataset d = emit(table, c, p, detail::iota(static_cast<index_t>(p.rows.size())), &unseen);
  if (skipped) *skipped = p.skipped;
  if (dropped) *dropped = p.dropped + unseen;
  return d;
}

inline nlohmann::json csv_dataset::to_json() const {
  require_fitted("to_json");
  nlohmann::json sparse = nlohmann::json::object(), dense = nlohmann::json::object();
  for (std::size_t i = 0; i < encoders_.size(); ++i) sparse[config_.sparse[i]] = encoders_[i].to_json();
  for (std::size_t i = 0; i < scalers_.size(); ++i) dense[config_.dense[i]] = scalers_[i].to_json();
  return nlohmann::json{{"schema", schema_.to_json()},
                        {"sparse", sparse},
                        {"dense", dense},
                        {"scenario_column", config_.scenario_column},
                        {"keep_encoded_ids", config_.keep_encoded_ids},
                        {"largest_training_id", id_max_},
                        {"scenario_map", scenario_map_}};
}

}  // namespace recblocks::data
