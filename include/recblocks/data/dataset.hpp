#pragma once
/// \file dataset.hpp
/// A columnar in-memory dataset described by a `schema`.
///
/// Storage: one column per feature — `index_t` ids per sparse feature, `double` values per dense
/// feature and label, one scenario id column (when the schema has a scenario feature), and per
/// sequence feature a row-major `[rows, max_length]` block of ids (left-aligned, 0-padded).
/// Dense values and labels are stored in double and converted to the batch's `T` in `gather`.
///
/// `append` checks only the *shapes* of a row (counts per kind, `shape_error`) and that a scenario id
/// is 0 when the schema has no scenario feature; value ranges are checked by `validate()` so that a
/// builder can append many rows and validate once. A sequence longer than its `max_length` keeps its
/// last (most recent) `max_length` ids.
///
/// `validate()` throws `value_error` naming the feature, the row and the value for: a sparse or
/// sequence id outside [0, vocabulary), a non-finite dense value, a non-finite label, a scenario id
/// outside [0, scenarios).
///
/// Complexity: `append` amortised O(features + sum of max_length); `gather` O(B * (features + sum L));
/// `subset` O(rows * width). Memory: 8 bytes per cell.
/// Thread-safety: const members (gather, subset, validate, ...) may run concurrently; `append` and
/// `reserve` need exclusive access.

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "batch.hpp"
#include "schema.hpp"

namespace recblocks::data {

class dataset {
 public:
  explicit dataset(schema s);

  const schema& get_schema() const { return schema_; }
  index_t rows() const { return rows_; }

  /// Reserves room for `n` rows in every column.
  void reserve(index_t n);

  /// Appends one row: sparse ids (sparse_count), dense values (dense_count), the scenario id (0 when
  /// the schema has no scenario feature), labels (label_count) and one id list per sequence feature
  /// (may be omitted, i.e. `{}`, only when the schema has no sequence feature).
  void append(std::span<const index_t> sparse, std::span<const double> dense, index_t scenario,
              std::span<const double> labels, const std::vector<std::vector<index_t>>& sequences = {});

  /// Fills `out` with the given rows in the given order, reusing its memory. `value_error` for a row
  /// outside [0, rows()).
  template <class T>
  void gather(std::span<const index_t> rows, batch<T>& out) const;

  /// A new dataset with the given rows (in that order; repeats allowed) and the same schema.
  dataset subset(std::span<const index_t> rows) const;

  /// Rows per scenario, `[scenario_count]`; empty when the schema has no scenario feature.
  std::vector<index_t> scenario_counts() const;

  /// Throws `value_error` on the first out-of-domain value (see file docs).
  void validate() const;

  // Column access (read-only views; valid until the next append).
  std::span<const index_t> sparse_column(index_t f) const { return checked(sparse_, f, "sparse_column"); }
  std::span<const double> dense_column(index_t j) const { return checked(dense_, j, "dense_column"); }
  std::span<const double> label_column(index_t j) const { return checked(labels_, j, "label_column"); }
  std::span<const index_t> scenario_column() const { return scenario_; }
  /// Sequence feature k as a row-major `[rows, max_length]` block.
  std::span<const index_t> sequence_block(index_t k) const { return checked(sequences_, k, "sequence_block"); }

 private:
  template <class V>
  static std::span<const typename V::value_type> checked(const std::vector<V>& cols, index_t i, const char* what) {
    if (i < 0 || i >= static_cast<index_t>(cols.size()))
      throw shape_error(std::string("data::dataset::") + what + ": index " + std::to_string(i) + " out of range [0, " +
                        std::to_string(cols.size()) + ")");
    return cols[static_cast<std::size_t>(i)];
  }
  void check_row(index_t r) const;

  schema schema_;
  std::vector<index_t> max_length_;  // per sequence feature
  bool has_scenario_ = false;
  index_t rows_ = 0;
  std::vector<std::vector<index_t>> sparse_;
  std::vector<std::vector<double>> dense_;
  std::vector<index_t> scenario_;
  std::vector<std::vector<double>> labels_;
  std::vector<std::vector<index_t>> sequences_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline dataset::dataset(schema s) : schema_(std::move(s)) {
  for (const auto* f : schema_.of_kind(feature_kind::sequence)) max_length_.push_back(f->max_length);
  has_scenario_ = schema_.scenario_count() > 0;
  sparse_.resize(static_cast<std::size_t>(schema_.sparse_count()));
  dense_.resize(static_cast<std::size_t>(schema_.dense_count()));
  labels_.resize(static_cast<std::size_t>(schema_.label_count()));
  sequences_.resize(max_length_.size());
}

inline void dataset::reserve(index_t n) {
  const auto un = static_cast<std::size_t>(std::max<index_t>(n, 0));
  for (auto& c : sparse_) c.reserve(un);
  for (auto& c : dense_) c.reserve(un);
  for (auto& c : labels_) c.reserve(un);
  if (has_scenario_) scenario_.reserve(un);
  for (std::size_t k = 0; k < sequences_.size(); ++k) sequences_[k].reserve(un * static_cast<std::size_t>(max_length_[k]));
}

inline void dataset::append(std::span<const index_t> sparse, std::span<const double> dense, index_t scenario,
                            std::span<const double> labels, const std::vector<std::vector<index_t>>& sequences) {
  auto require = [](const char* what, std::size_t got, std::size_t want) {
    if (got != want)
      throw shape_error(std::string("data::dataset::append: ") + what + " has " + std::to_string(got) +
                        " values, the schema expects " + std::to_string(want));
  };
  require("sparse", sparse.size(), sparse_.size());
  require("dense", dense.size(), dense_.size());
  require("labels", labels.size(), labels_.size());
  require("sequences", sequences.size(), sequences_.size());
  if (!has_scenario_ && scenario != 0)
    throw value_error("data::dataset::append: scenario id " + std::to_string(scenario) +
                      " given but the schema has no scenario feature");
  for (std::size_t f = 0; f < sparse.size(); ++f) sparse_[f].push_back(sparse[f]);
  for (std::size_t j = 0; j < dense.size(); ++j) dense_[j].push_back(dense[j]);
  for (std::size_t j = 0; j < labels.size(); ++j) labels_[j].push_back(labels[j]);
  if (has_scenario_) scenario_.push_back(scenario);
  for (std::size_t k = 0; k < sequences.size(); ++k) {
    const auto L = static_cast<std::size_t>(max_length_[k]);
    const auto& s = sequences[k];
    const std::size_t take = std::min(L, s.size());
    auto& block = sequences_[k];
    block.insert(block.end(), s.end() - static_cast<std::ptrdiff_t>(take), s.end());
    block.insert(block.end(), L - take, index_t{0});
  }
  ++rows_;
}

inline void dataset::check_row(index_t r) const {
  if (r < 0 || r >= rows_)
    throw value_error("data::dataset: row " + std::to_string(r) + " out of range [0, " + std::to_string(rows_) + ")");
}

template <class T>
void dataset::gather(std::span<const index_t> rows, batch<T>& out) const {
  for (index_t r : rows) check_row(r);
  const auto B = static_cast<index_t>(rows.size());
  out.size = B;
  out.sparse.resize(static_cast<index_t>(sparse_.size()), B);
  for (std::size_t f = 0; f < sparse_.size(); ++f) {
    index_t* dst = out.sparse.data() + static_cast<index_t>(f) * B;
    for (index_t i = 0; i < B; ++i) dst[i] = sparse_[f][static_cast<std::size_t>(rows[i])];
  }
  out.dense.resize(B, static_cast<index_t>(dense_.size()));
  for (std::size_t j = 0; j < dense_.size(); ++j)
    for (index_t i = 0; i < B; ++i) out.dense(i, static_cast<index_t>(j)) = static_cast<T>(dense_[j][static_cast<std::size_t>(rows[i])]);
  out.labels.resize(B, static_cast<index_t>(labels_.size()));
  for (std::size_t j = 0; j < labels_.size(); ++j)
    for (index_t i = 0; i < B; ++i)
      out.labels(i, static_cast<index_t>(j)) = static_cast<T>(labels_[j][static_cast<std::size_t>(rows[i])]);
  if (has_scenario_) {
    out.scenario.resize(static_cast<std::size_t>(B));
    for (index_t i = 0; i < B; ++i) out.scenario[static_cast<std::size_t>(i)] = scenario_[static_cast<std::size_t>(rows[i])];
  } else {
    out.scenario.clear();
  }
  out.sequences.resize(sequences_.size());
  for (std::size_t k = 0; k < sequences_.size(); ++k) {
    const index_t L = max_length_[k];
    auto& dst = out.sequences[k];
    if (dst.shape()[0] != static_cast<std::size_t>(B) || dst.shape()[1] != static_cast<std::size_t>(L))
      dst.resize({static_cast<std::size_t>(B), static_cast<std::size_t>(L)});
    for (index_t i = 0; i < B; ++i)
      std::copy_n(sequences_[k].data() + rows[i] * L, L, dst.data() + i * L);
  }
}

inline dataset dataset::subset(std::span<const index_t> rows) const {
  for (index_t r : rows) check_row(r);
  dataset d(schema_);
  d.rows_ = static_cast<index_t>(rows.size());
  auto pick = [&](const auto& src, auto& dst) {
    dst.resize(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) dst[i] = src[static_cast<std::size_t>(rows[i])];
  };
  for (std::size_t f = 0; f < sparse_.size(); ++f) pick(sparse_[f], d.sparse_[f]);
  for (std::size_t j = 0; j < dense_.size(); ++j) pick(dense_[j], d.dense_[j]);
  for (std::size_t j = 0; j < labels_.size(); ++j) pick(labels_[j], d.labels_[j]);
  if (has_scenario_) pick(scenario_, d.scenario_);
  for (std::size_t k = 0; k < sequences_.size(); ++k) {
    const index_t L = max_length_[k];
    auto& dst = d.sequences_[k];
    dst.resize(rows.size() * static_cast<std::size_t>(L));
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::copy_n(sequences_[k].data() + rows[i] * L, L, dst.data() + static_cast<index_t>(i) * L);
  }
  return d;
}

inline std::vector<index_t> dataset::scenario_counts() const {
  std::vector<index_t> counts(static_cast<std::size_t>(schema_.scenario_count()), 0);
  for (index_t s : scenario_)
    if (s >= 0 && s < static_cast<index_t>(counts.size())) ++counts[static_cast<std::size_t>(s)];
  return counts;
}

inline void dataset::validate() const {
  auto fail = [](const std::string& name, index_t row, const std::string& value, const std::string& why) {
    throw value_error("data::dataset::validate: feature '" + name + "', row " + std::to_string(row) + ": value " +
                      value + " " + why);
  };
  const auto sparse = schema_.of_kind(feature_kind::sparse);
  for (std::size_t f = 0; f < sparse.size(); ++f)
    for (index_t r = 0; r < rows_; ++r) {
      const index_t v = sparse_[f][static_cast<std::size_t>(r)];
      if (v < 0 || v >= sparse[f]->vocabulary)
        fail(sparse[f]->name, r, std::to_string(v), "outside [0, " + std::to_string(sparse[f]->vocabulary) + ")");
    }
  const auto dense = schema_.of_kind(feature_kind::dense);
  for (std::size_t j = 0; j < dense.size(); ++j)
    for (index_t r = 0; r < rows_; ++r)
      if (!std::isfinite(dense_[j][static_cast<std::size_t>(r)]))
        fail(dense[j]->name, r, std::to_string(dense_[j][static_cast<std::size_t>(r)]), "is not finite");
  const auto labels = schema_.of_kind(feature_kind::label);
  for (std::size_t j = 0; j < labels.size(); ++j)
    for (index_t r = 0; r < rows_; ++r)
      if (!std::isfinite(labels_[j][static_cast<std::size_t>(r)]))
        fail(labels[j]->name, r, std::to_string(labels_[j][static_cast<std::size_t>(r)]), "is not finite");
  if (has_scenario_) {
    const auto& sc = *schema_.of_kind(feature_kind::scenario).front();
    for (index_t r = 0; r < rows_; ++r) {
      const index_t v = scenario_[static_cast<std::size_t>(r)];
      if (v < 0 || v >= sc.scenarios)
        fail(sc.name, r, std::to_string(v), "outside [0, " + std::to_string(sc.scenarios) + ")");
    }
  }
  const auto seqs = schema_.of_kind(feature_kind::sequence);
  for (std::size_t k = 0; k < seqs.size(); ++k) {
    const index_t L = max_length_[k];
    for (index_t r = 0; r < rows_; ++r)
      for (index_t p = 0; p < L; ++p) {
        const index_t v = sequences_[k][static_cast<std::size_t>(r * L + p)];
        if (v < 0 || v >= seqs[k]->vocabulary)
          fail(seqs[k]->name, r, std::to_string(v) + " (position " + std::to_string(p) + ")",
               "outside [0, " + std::to_string(seqs[k]->vocabulary) + ")");
      }
  }
}

}  // namespace recblocks::data
