#pragma once
/// \file feature_embedding.hpp
/// The input layer of the Scenario-Wise Rec models: one embedding table per sparse field of a
/// schema, looked up and concatenated with the raw dense values (torch-rechub's `EmbeddingLayer`
/// with `squeeze_dim=True`):
///
///     e_b = [ E_1[x_{b,1}] ; ... ; E_F[x_{b,F}] ; (E_s[s_b]) ; d_{b,1} ; ... ; d_{b,J} ]
///
/// Shapes: a batch of B rows -> `[B, dim * (F + embed_scenario) + J]` where F = selected sparse
/// fields, J = selected dense fields. Sparse embeddings come first (in the selected order), then the
/// scenario embedding (when `embed_scenario`), then the dense values (in the selected order).
///
/// Options: `fields` names the sparse and dense features that feed the layer (empty = every sparse
/// and every dense feature of the schema, in schema order; the reference models' `sparse_feas +
/// dense_feas`); `embed_scenario` adds a `dim`-wide embedding of the scenario id (vocabulary =
/// number of scenarios; the reference's `domain_indicator` as a sparse feature, used by AdaSparse,
/// M2M, EPNet, ...). Tables are N(0, 1e-4) initialised (Scenario-Wise Rec) with row-sparse gradients.
///
/// Row order: `operator()(t, batch, rows)` builds the rows `rows[0], rows[1], ...` of the batch
/// (a permutation or selection, e.g. `scenario_router::order()`) directly from the ids: no extra
/// tape node and no copy of an embedded matrix. An empty `rows` means the batch order.
///
/// Errors (thrown by `check`, which `operator()` calls before any computation): `shape_error` when
/// the batch lacks a feature the layer reads (wrong `sparse`/`dense`/`scenario` shape for the
/// schema), `value_error` naming the field, row and id for an id outside its vocabulary.
/// Construction: `value_error` for an unknown field name, a field of another kind (sequence,
/// label, scenario: use `embed_scenario`), a repeated field, `embed_scenario` without a scenario
/// feature, or `dim < 1`.
///
/// Field gate (optional, `set_field_gate`): each sparse field's embedding and each dense value is
/// multiplied by its column of a `models::field_gate` (see field_gate.hpp); `nullptr` (the default)
/// leaves the forward unchanged. The pointer is not owned and is copied with the layer.
///
/// Parameters: `<field>.table` `[vocabulary, dim]` per sparse field, `<scenario feature>.table`
/// `[scenarios, dim]` when embedding the scenario.
/// Thread-safety: `const` forward; inference tapes touch no state. Complexity: O(B * output_dim).
///
///     models::feature_embedding<float> emb(schema, {}, gen);        // all sparse + dense, dim 16
///     var<float> e = emb(t, batch);                             // [B, 16 * n_sparse + n_dense]

#include <nlohmann/json.hpp>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/shape.hpp"
#include "detail/options_json.hpp"
#include "embedding_hook.hpp"
#include "../nn/embedding.hpp"
#include "../data/batch.hpp"
#include "../data/schema.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/gather.hpp"
#include "field_gate.hpp"


namespace recblocks::models {

struct feature_embedding_options {
  index_t dim = 16;                 ///< embedding width of every sparse field (and of the scenario)
  std::vector<std::string> fields;  ///< sparse/dense feature names to use; empty = all of both kinds
  bool embed_scenario = false;      ///< also embed the scenario id as a feature
  double init_stddev = 1e-4;        ///< tables ~ N(0, init_stddev)

  /// The one description of these options: JSON name <-> member (aliases: the reference's spellings).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("dim", o.dim);
    f("fields", o.fields);
    f("embed_scenario", o.embed_scenario);
    f("init_stddev", o.init_stddev);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static feature_embedding_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<feature_embedding_options>(j, "models::feature_embedding_options");
  }
};

template <class T>
class feature_embedding {
 public:
  using scalar_type = T;

  feature_embedding(const data::schema& s, const feature_embedding_options& opt, rng& gen);

  /// `[rows.size(), output_dim()]` (or `[B, output_dim()]` for empty `rows`), rows in the given order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b, std::span<const index_t> rows = {}) const;

  /// The same rows without the hook (see `set_hook`): what a wrapper's own branches read.
  var<T> unhooked(tape<T>& t, const data::batch<T>& b, std::span<const index_t> rows = {}) const;

  /// Installs `h` (nullptr: none): `operator()` then returns `(*h)(t, b, rows, e)` instead of `e`,
  /// which is how a wrapper (LLM4MSR's user-level meta layers, `models/llm4msr.hpp`) inserts layers
  /// at the bottom of a model it does not edit. The hook must keep the shape `[rows, output_dim()]`
  /// and outlive its installation; copies of this layer copy the pointer (the owner reinstalls it).
  void set_hook(const embedding_hook<T>* h) { hook_ = h; }
  const embedding_hook<T>* hook() const { return hook_; }

  /// Throws (see file docs) unless `b` carries every feature this layer reads with valid ids.
  void check(const data::batch<T>& b) const;

  /// Width of the output: `dim * (sparse fields + embed_scenario) + dense fields`.
  index_t output_dim() const { return dim_ * static_cast<index_t>(tables_.size()) + static_cast<index_t>(dense_.size()); }
  /// Positions (rows of `batch::sparse`) of the embedded sparse fields, in output order.
  const std::vector<index_t>& sparse_fields() const { return sparse_; }
  /// Positions (columns of `batch::dense`) of the dense fields, in output order.
  const std::vector<index_t>& dense_fields() const { return dense_; }
  const data::schema& get_schema() const { return schema_; }
  const feature_embedding_options& options() const { return opt_; }
  /// Attaches (or, with `nullptr`, detaches) a per-field multiplier; see the file comment.
  void set_field_gate(const field_gate<T>* g) { gate_ = g; }
  const field_gate<T>* get_field_gate() const { return gate_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    for (std::size_t k = 0; k < self.tables_.size(); ++k) v(self.names_[k], self.tables_[k]);
  }

 private:
  std::span<const index_t> ids_of(const data::batch<T>& b, std::size_t table) const;

  data::schema schema_;
  feature_embedding_options opt_;
  index_t dim_;
  std::vector<index_t> sparse_;          // batch::sparse row per sparse table
  std::vector<index_t> dense_;           // batch::dense column per dense field
  bool all_dense_in_order_ = false;      // dense_ == 0..dense_count-1: the batch's dense block is used as is
  std::vector<std::string> names_;       // table names (feature names), sparse then scenario
  std::vector<index_t> vocab_;           // per table
  std::vector<nn::embedding<T>> tables_;     // sparse tables, then the scenario table
  const field_gate<T>* gate_ = nullptr;      // optional per-field multiplier (not owned)
  const embedding_hook<T>* hook_ = nullptr;  // see set_hook (not owned)
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------


template <class T>
feature_embedding<T>::feature_embedding(const data::schema& s, const feature_embedding_options& opt, rng& gen)
    : schema_(s), opt_(opt), dim_(opt.dim) {
  const std::string where = "models::feature_embedding: ";
  if (opt.dim < 1) throw value_error(where + "dim must be >= 1, got " + std::to_string(opt.dim));
  if (!(opt.init_stddev >= 0)) throw value_error(where + "init_stddev must be >= 0");
  std::vector<std::string> fields = opt.fields;
  if (fields.empty()) {
    for (const auto* f : s.of_kind(data::feature_kind::sparse)) fields.push_back(f->name);
    for (const auto* f : s.of_kind(data::feature_kind::dense)) fields.push_back(f->name);
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k)
      if (fields[k] == fields[i]) throw value_error(where + "field '" + fields[i] + "' is listed twice");
    if (!s.contains(fields[i])) throw value_error(where + "the schema has no feature '" + fields[i] + "'");
    const data::feature_spec& f = s.at(fields[i]);
    if (f.kind == data::feature_kind::sparse) {
      sparse_.push_back(s.index_of(f.name));
      names_.push_back(f.name);
      vocab_.push_back(f.vocabulary);
    } else if (f.kind == data::feature_kind::dense) {
      dense_.push_back(s.index_of(f.name));
    } else {
      throw value_error(where + "feature '" + f.name + "' is of kind " + data::to_string(f.kind) +
                        "; only sparse and dense features feed it" +
                        (f.kind == data::feature_kind::scenario ? " (set embed_scenario to embed the scenario id)" : ""));
    }
  }
  if (opt.embed_scenario) {
    if (s.scenario_count() < 1) throw value_error(where + "embed_scenario is set but the schema has no scenario feature");
    names_.push_back(s.of_kind(data::feature_kind::scenario).front()->name);
    vocab_.push_back(s.scenario_count());
  }
  if (names_.empty() && dense_.empty()) throw value_error(where + "no feature selected");
  all_dense_in_order_ = static_cast<index_t>(dense_.size()) == s.dense_count();
  for (std::size_t j = 0; j < dense_.size() && all_dense_in_order_; ++j) all_dense_in_order_ = dense_[j] == index_t(j);
  tables_.reserve(names_.size());
  for (std::size_t k = 0; k < names_.size(); ++k) tables_.emplace_back(vocab_[k], dim_, gen, nn::init::normal(0.0, opt.init_stddev));
}

template <class T>
std::span<const index_t> feature_embedding<T>::ids_of(const data::batch<T>& b, std::size_t table) const {
  if (table < sparse_.size()) return b.sparse_ids(sparse_[table]);
  return {b.scenario.data(), b.scenario.size()};
}

template <class T>
void feature_embedding<T>::check(const data::batch<T>& b) const {
  // a plain literal: a std::string here would allocate on every forward (it exceeds the SSO)
  static constexpr const char* where = "models::feature_embedding: ";
  const index_t B = b.size;
  if (!sparse_.empty() && (b.sparse.rows() != schema_.sparse_count() || b.sparse.cols() != B))
    throw shape_error(std::string(where) + "batch.sparse is " + shape_string(b.sparse.rows(), b.sparse.cols()) + ", the schema needs " +
                      shape_string(schema_.sparse_count(), B) + " (one row of ids per sparse feature)");
  if (!dense_.empty() && (b.dense.rows() != B || b.dense.cols() != schema_.dense_count()))
    throw shape_error(std::string(where) + "batch.dense is " + shape_string(b.dense.rows(), b.dense.cols()) + ", the schema needs " +
                      shape_string(B, schema_.dense_count()));
  if (opt_.embed_scenario && static_cast<index_t>(b.scenario.size()) != B)
    throw shape_error(std::string(where) + "the batch has " + std::to_string(b.scenario.size()) + " scenario ids for " +
                      std::to_string(B) + " rows");
  for (std::size_t k = 0; k < tables_.size(); ++k) {
    const auto ids = ids_of(b, k);
    for (std::size_t r = 0; r < ids.size(); ++r)
      if (ids[r] < 0 || ids[r] >= vocab_[k])
        throw value_error(std::string(where) + "feature '" + names_[k] + "', row " + std::to_string(r) + ": id " +
                          std::to_string(ids[r]) + " is outside [0, " + std::to_string(vocab_[k]) + ")");
  }
}

template <class T>
var<T> feature_embedding<T>::operator()(tape<T>& t, const data::batch<T>& b, std::span<const index_t> rows) const {
  const var<T> e = unhooked(t, b, rows);
  return hook_ ? (*hook_)(t, b, rows, e) : e;
}

template <class T>
var<T> feature_embedding<T>::unhooked(tape<T>& t, const data::batch<T>& b, std::span<const index_t> rows) const {
  check(b);
  const bool permuted = !rows.empty();
  const index_t n = permuted ? static_cast<index_t>(rows.size()) : b.size;
  for (index_t r : rows)
    if (r < 0 || r >= b.size)
      throw value_error("models::feature_embedding: row " + std::to_string(r) + " outside the batch of " + std::to_string(b.size));
  var<T>* parts = t.template scratch<var<T>>(tables_.size() + 1);  // arena, not heap
  std::size_t n_parts = 0;
  index_t* picked = permuted ? t.template scratch<index_t>(rows.size()) : nullptr;
  for (std::size_t k = 0; k < tables_.size(); ++k) {
    auto ids = ids_of(b, k);
    if (permuted) {
      for (index_t i = 0; i < n; ++i) picked[i] = ids[static_cast<std::size_t>(rows[static_cast<std::size_t>(i)])];
      ids = std::span<const index_t>(picked, rows.size());
    }
    new (parts + n_parts++) var<T>(tables_[k](t, ids));  // gather_rows saves its own copy of the ids
  }
  var<T> g;
  if (gate_) {
    g = gate_->gate(t, b);
    const index_t width = schema_.sparse_count() + schema_.dense_count();
    if (g.cols != width || (g.rows != 1 && g.rows != b.size))
      throw shape_error("models::feature_embedding: the field gate is " + shape_string(g.rows, g.cols) + ", expected [" +
                        std::to_string(b.size) + " or 1, " + std::to_string(width) + "]");
    if (permuted && g.rows != 1) g = ops::gather_rows(t, g, rows);
    for (std::size_t k = 0; k < sparse_.size(); ++k)
      parts[k] = ops::mul(t, parts[k], ops::slice_cols(t, g, sparse_[k], 1));
  }
  if (!dense_.empty()) {
    if (!permuted && all_dense_in_order_) {
      new (parts + n_parts++) var<T>(t.view(b.dense.data(), b.size, b.dense.cols()));
    } else {
      var<T> d = t.make(n, static_cast<index_t>(dense_.size()));
      auto dv = t.out(d);
      for (index_t i = 0; i < n; ++i) {
        const index_t src = permuted ? rows[static_cast<std::size_t>(i)] : i;
        for (std::size_t j = 0; j < dense_.size(); ++j) dv(i, index_t(j)) = b.dense(src, dense_[j]);
      }
      new (parts + n_parts++) var<T>(d);
    }
    if (gate_) {
      var<T>* cols = t.template scratch<var<T>>(dense_.size());
      for (std::size_t j = 0; j < dense_.size(); ++j)
        new (cols + j) var<T>(ops::slice_cols(t, g, schema_.sparse_count() + dense_[j], 1));
      const var<T> gd = dense_.size() == 1 ? cols[0] : ops::concat_cols(t, std::span<const var<T>>(cols, dense_.size()));
      parts[n_parts - 1] = ops::mul(t, parts[n_parts - 1], gd);
    }
  }
  if (n_parts == 1) return parts[0];
  return ops::concat_cols(t, std::span<const var<T>>(parts, n_parts));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class feature_embedding<float>;
#endif

}  // namespace recblocks::models
