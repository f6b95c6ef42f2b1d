#pragma once
/// \file row_decoder.hpp
/// Scoring requests as a service receives them — rows of features by name — decoded into a
/// `data::batch` for a schema, and batches built in C++ checked against it, with an error naming
/// the row and the feature for anything a model must not see.
///
/// JSON form of a request (the names are the schema's):
///
///     {"rows": [{"user_id": 17, "item_id": 243, "age": 0.31, "scenario": 2, "history": [5, 9, 31]}, ...]}
///
/// | kind       | JSON value                                   | checked                                   |
/// |------------|----------------------------------------------|-------------------------------------------|
/// | `sparse`   | integer                                      | 0 <= id < vocabulary (0 = unknown)        |
/// | `dense`    | number                                       | finite                                    |
/// | `scenario` | integer                                      | 0 <= id < scenarios                       |
/// | `sequence` | array of integers, most recent last          | length <= max_length, 0 <= id < vocabulary |
/// | `label`    | anything (ignored: a row copied from a dataset may carry it) |                           |
///
/// Every non-label feature must be present (a missing feature is an error, never a silent 0); a
/// name the schema does not have is an error; `rows` must be a non-empty array of objects of at
/// most `max_rows` rows. Sequences are stored left-aligned and 0-padded, as `data::dataset` does.
/// Errors: `value_error` (`"row 3: feature 'item_id': id 99999 outside [0, 1683)"`).
/// Thread-safety: const members may run concurrently. Complexity: O(rows x features).

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../data/batch.hpp"
#include "../data/schema.hpp"

namespace recblocks::serve {

template <class T>
class row_decoder {
 public:
  /// `max_rows`: the largest request accepted (bounds the memory one request can take).
  explicit row_decoder(data::schema schema, index_t max_rows = 4096);

  /// Decodes `request` (`{"rows": [...]}` or a bare array of rows) into `out` (resized, memory reused).
  void decode(const nlohmann::json& request, data::batch<T>& out) const;

  /// Checks a batch built in C++: shapes of the schema, ids in range, finite dense values.
  void check(const data::batch<T>& b) const;

  const data::schema& schema() const { return schema_; }
  index_t max_rows() const { return max_rows_; }

 private:
  [[noreturn]] static void fail(index_t row, const std::string& feature, const std::string& what) {
    throw value_error("serve::row_decoder: row " + std::to_string(row) + ": feature '" + feature + "': " + what);
  }
  static index_t id_value(const nlohmann::json& v, index_t row, const std::string& feature, index_t bound, const char* what);

  data::schema schema_;
  index_t max_rows_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
row_decoder<T>::row_decoder(data::schema schema, index_t max_rows) : schema_(std::move(schema)), max_rows_(max_rows) {
  if (max_rows_ < 1) throw value_error("serve::row_decoder: max_rows must be >= 1, got " + std::to_string(max_rows_));
}

template <class T>
index_t row_decoder<T>::id_value(const nlohmann::json& v, index_t row, const std::string& feature, index_t bound,
                                 const char* what) {
  if (!v.is_number_integer()) fail(row, feature, std::string("expected an integer ") + what + ", got " + v.dump());
  const bool negative = v.is_number_unsigned() ? false : v.get<std::int64_t>() < 0;
  const std::uint64_t u = negative ? 0 : v.get<std::uint64_t>();
  if (negative || u >= static_cast<std::uint64_t>(bound))
    fail(row, feature, std::string(what) + " " + v.dump() + " outside [0, " + std::to_string(bound) + ")");
  return static_cast<index_t>(u);
}

template <class T>
void row_decoder<T>::decode(const nlohmann::json& request, data::batch<T>& out) const {
  const nlohmann::json* rows = &request;
  if (request.is_object()) {
    if (request.size() != 1 || !request.contains("rows"))
      throw value_error("serve::row_decoder: a request is {\"rows\": [...]} (got the keys " +
                        [&] {
                          std::string k;
                          for (auto it = request.begin(); it != request.end(); ++it) k += (k.empty() ? "" : ", ") + it.key();
                          return k.empty() ? std::string("none") : k;
                        }() +
                        ")");
    rows = &request["rows"];
  }
  if (!rows->is_array()) throw value_error("serve::row_decoder: \"rows\" must be an array, got " + std::string(rows->type_name()));
  const auto n = static_cast<index_t>(rows->size());
  if (n == 0) throw value_error("serve::row_decoder: \"rows\" is empty");
  if (n > max_rows_)
    throw value_error("serve::row_decoder: " + std::to_string(n) + " rows exceed the limit of " + std::to_string(max_rows_));

  const auto& features = schema_.features();
  out.size = n;
  out.sparse.resize(schema_.sparse_count(), n);
  out.dense.resize(n, schema_.dense_count());
  out.labels.resize(n, 0);
  if (schema_.scenario_count() > 0) out.scenario.assign(static_cast<std::size_t>(n), 0);
  else out.scenario.clear();
  const auto seqs = schema_.of_kind(data::feature_kind::sequence);
  out.sequences.resize(seqs.size());
  for (std::size_t k = 0; k < seqs.size(); ++k) {
    out.sequences[k].resize({static_cast<std::size_t>(n), static_cast<std::size_t>(seqs[k]->max_length)});
    out.sequences[k].fill(0);
  }

  for (index_t r = 0; r < n; ++r) {
    const nlohmann::json& row = (*rows)[static_cast<std::size_t>(r)];
    if (!row.is_object()) throw value_error("serve::row_decoder: row " + std::to_string(r) + " is not an object");
    for (auto it = row.begin(); it != row.end(); ++it)
      if (!schema_.contains(it.key())) fail(r, it.key(), "not in the model's schema");
    index_t sparse_i = 0, dense_i = 0, seq_i = 0;
    for (const data::feature_spec& f : features) {
      if (f.kind == data::feature_kind::label) continue;
      const auto it = row.find(f.name);
      if (it == row.end()) fail(r, f.name, std::string("missing (a ") + data::to_string(f.kind) + " feature)");
      const nlohmann::json& v = *it;
      switch (f.kind) {
        case data::feature_kind::sparse:
          out.sparse(sparse_i++, r) = id_value(v, r, f.name, f.vocabulary, "id");
          break;
        case data::feature_kind::dense: {
          if (!v.is_number()) fail(r, f.name, "expected a number, got " + v.dump());
          const double x = v.get<double>();
          if (!std::isfinite(x)) fail(r, f.name, "not finite");
          out.dense(r, dense_i++) = static_cast<T>(x);
          break;
        }
        case data::feature_kind::scenario:
          out.scenario[static_cast<std::size_t>(r)] = id_value(v, r, f.name, f.scenarios, "scenario");
          break;
        case data::feature_kind::sequence: {
          if (!v.is_array()) fail(r, f.name, "expected an array of ids, got " + v.dump());
          if (static_cast<index_t>(v.size()) > f.max_length)
            fail(r, f.name, std::to_string(v.size()) + " ids exceed max_length " + std::to_string(f.max_length));
          auto& s = out.sequences[static_cast<std::size_t>(seq_i++)];
          for (std::size_t j = 0; j < v.size(); ++j)
            s(static_cast<std::size_t>(r), j) = id_value(v[j], r, f.name, f.vocabulary, "sequence id");
          break;
        }
        case data::feature_kind::label: break;
      }
    }
  }
}

template <class T>
void row_decoder<T>::check(const data::batch<T>& b) const {
  const index_t n = b.size;
  const auto bad = [](const std::string& what) { throw shape_error("serve::row_decoder::check: " + what); };
  if (n < 1) bad("empty batch");
  if (n > max_rows_) bad(std::to_string(n) + " rows exceed the limit of " + std::to_string(max_rows_));
  if (b.sparse.rows() != schema_.sparse_count() || b.sparse.cols() != n)
    bad("sparse is [" + std::to_string(b.sparse.rows()) + ", " + std::to_string(b.sparse.cols()) + "], expected [" +
        std::to_string(schema_.sparse_count()) + ", " + std::to_string(n) + "]");
  if (b.dense.rows() != n || b.dense.cols() != schema_.dense_count())
    bad("dense is [" + std::to_string(b.dense.rows()) + ", " + std::to_string(b.dense.cols()) + "], expected [" +
        std::to_string(n) + ", " + std::to_string(schema_.dense_count()) + "]");
  const bool scenarios = schema_.scenario_count() > 0;
  if (static_cast<index_t>(b.scenario.size()) != (scenarios ? n : 0))
    bad("scenario has " + std::to_string(b.scenario.size()) + " ids for " + std::to_string(n) + " rows");
  const auto seqs = schema_.of_kind(data::feature_kind::sequence);
  if (b.sequences.size() != seqs.size())
    bad(std::to_string(b.sequences.size()) + " sequences, the schema has " + std::to_string(seqs.size()));
  index_t sparse_i = 0, dense_i = 0, seq_i = 0;
  for (const data::feature_spec& f : schema_.features()) {
    switch (f.kind) {
      case data::feature_kind::sparse: {
        for (index_t r = 0; r < n; ++r) {
          const index_t id = b.sparse(sparse_i, r);
          if (id < 0 || id >= f.vocabulary)
            fail(r, f.name, "id " + std::to_string(id) + " outside [0, " + std::to_string(f.vocabulary) + ")");
        }
        ++sparse_i;
        break;
      }
      case data::feature_kind::dense:
        for (index_t r = 0; r < n; ++r)
          if (!std::isfinite(static_cast<double>(b.dense(r, dense_i)))) fail(r, f.name, "not finite");
        ++dense_i;
        break;
      case data::feature_kind::scenario:
        for (index_t r = 0; r < n; ++r) {
          const index_t id = b.scenario[static_cast<std::size_t>(r)];
          if (id < 0 || id >= f.scenarios)
            fail(r, f.name, "scenario " + std::to_string(id) + " outside [0, " + std::to_string(f.scenarios) + ")");
        }
        break;
      case data::feature_kind::sequence: {
        const auto& s = b.sequences[static_cast<std::size_t>(seq_i++)];
        if (s.shape()[0] != static_cast<std::size_t>(n) || s.shape()[1] != static_cast<std::size_t>(f.max_length))
          bad("sequence '" + f.name + "' is [" + std::to_string(s.shape()[0]) + ", " + std::to_string(s.shape()[1]) +
              "], expected [" + std::to_string(n) + ", " + std::to_string(f.max_length) + "]");
        for (index_t r = 0; r < n; ++r)
          for (index_t j = 0; j < f.max_length; ++j) {
            const index_t id = s(static_cast<std::size_t>(r), static_cast<std::size_t>(j));
            if (id < 0 || id >= f.vocabulary)
              fail(r, f.name, "sequence id " + std::to_string(id) + " outside [0, " + std::to_string(f.vocabulary) + ")");
          }
        break;
      }
      case data::feature_kind::label: break;
    }
  }
}

}  // namespace recblocks::serve
