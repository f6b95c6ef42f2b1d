#pragma once
/// \file sharded_table.hpp
/// One embedding table row-sharded across the ranks of a communicator.
///
/// Ownership: `shard_scheme::modulo`: id -> rank `id mod n`, local row `id div n`;
/// `shard_scheme::range`: chunks of `c = ceil(V / n)` rows, id -> rank `id div c`, local row
/// `id mod c`. Rank r stores only its rows (`shard()`, a `param` `[owned_rows(r), dim]` with
/// row-sparse gradients), so the table's memory is divided by n.
///
/// The model keeps its own table parameter (found by name, `<field>.table`) as a *staging* table:
/// per step, `lookup` (collective) takes the batch's ids of the field, keeps the u distinct ones
/// (sorted), sends each to its owner (all-to-all of ids), receives the owners' rows (all-to-all of
/// rows), resizes the staging table to `[u, dim]` with those rows and rewrites the batch's ids to
/// positions 0..u-1, so the model's unchanged forward gathers the right rows. `push_gradients`
/// (collective) maps the staging table's row-sparse gradient back to global ids, scales it, and
/// sends each row to its owner, where it lands (in rank order) in `shard().sparse()` for the
/// owner's lazy optimizer step. Per step and rank: all-to-all bytes = 8 u (ids) + 4 u dim (rows,
/// float) for the lookup and about the same for the gradient.
///
/// Initialisation (`sharded_table(..)`): the owned rows are copied from the model's table as built
/// (every rank builds the same model from the same seed), then the staging table is shrunk to
/// `[0, dim]`; a table too large to build whole on one rank needs a per-row initialiser (not
/// provided). Requires: the field is a sparse feature of the batch schema and exactly one
/// parameter of the model is named `<field>.table` (`value_error` otherwise).

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/param.hpp"
#include "../data/batch.hpp"
#include "../data/schema.hpp"
#include "../nn/module.hpp"
#include "communicator.hpp"

namespace recblocks::dist {

enum class shard_scheme { modulo, range };

inline const char* to_string(shard_scheme s) { return s == shard_scheme::modulo ? "modulo" : "range"; }

/// Which rank owns a row and where it sits there (see file docs).
struct row_owner_map {
  shard_scheme scheme = shard_scheme::modulo;
  index_t vocabulary = 0;
  int ranks = 1;

  index_t chunk() const { return (vocabulary + ranks - 1) / ranks; }
  int owner(index_t id) const { return scheme == shard_scheme::modulo ? int(id % ranks) : int(id / chunk()); }
  index_t local(index_t id) const { return scheme == shard_scheme::modulo ? id / ranks : id % chunk(); }
  index_t global(int r, index_t local_row) const {
    return scheme == shard_scheme::modulo ? local_row * ranks + r : index_t(r) * chunk() + local_row;
  }
  index_t owned_rows(int r) const {
    if (scheme == shard_scheme::modulo) return vocabulary > r ? (vocabulary - r + ranks - 1) / ranks : 0;
    const index_t lo = std::min(vocabulary, index_t(r) * chunk());
    return std::min(vocabulary, lo + chunk()) - lo;
  }
};

template <class T>
class sharded_table {
 public:
  /// Shards the table of sparse feature `field` of `model` (see file docs).
  template <class Model>
  sharded_table(Model& model, const data::schema& schema, const std::string& field, shard_scheme scheme, int rank, int ranks)
      : field_name_(field), rank_(rank) {
    const std::string where = "dist::sharded_table: ";
    if (!schema.contains(field) || schema.at(field).kind != data::feature_kind::sparse)
      throw value_error(where + "'" + field + "' is not a sparse feature of the schema");
    field_ = schema.index_of(field);
    for (auto& [name, p] : nn::named_parameters(model))
      if (name == field + ".table" || (name.size() > field.size() + 7 && name.ends_with("." + field + ".table"))) {
        if (staging_) throw value_error(where + "two parameters of the model are tables of '" + field + "': " + staging_name_ + ", " + name);
        staging_ = p;
        staging_name_ = name;
      }
    if (!staging_) throw value_error(where + "the model has no parameter named '" + field + ".table'");
    map_ = {scheme, staging_->rows(), ranks};
    dim_ = staging_->cols();
    matrix<T> mine(map_.owned_rows(rank), dim_);
    for (index_t k = 0; k < mine.rows(); ++k) mine.row(k) = staging_->value().row(map_.global(rank, k));
    shard_ = param<T>(staging_name_ + ".shard" + std::to_string(rank), std::move(mine));
    shard_.set_sparse_grad(true);
    staging_->value().resize(0, dim_);
  }

  /// Fetches the rows of the batch's ids from their owners and rewrites the ids (collective; see file docs).
  void lookup(communicator& comm, data::batch<T>& b) {
    const index_t B = b.size;
    unique_.clear();
    if (B > 0) {
      unique_.assign(&b.sparse(field_, 0), &b.sparse(field_, 0) + B);
      std::sort(unique_.begin(), unique_.end());
      unique_.erase(std::unique(unique_.begin(), unique_.end()), unique_.end());
      for (index_t i = 0; i < B; ++i) {
        const index_t id = b.sparse(field_, i);
        if (id < 0 || id >= map_.vocabulary)
          throw value_error("dist::sharded_table: feature '" + field_name_ + "', row " + std::to_string(i) + ": id " +
                            std::to_string(id) + " is outside [0, " + std::to_string(map_.vocabulary) + ")");
        b.sparse(field_, i) = index_t(std::lower_bound(unique_.begin(), unique_.end(), id) - unique_.begin());
      }
    }
    std::vector<std::vector<std::int64_t>> ask(static_cast<std::size_t>(comm.size()));
    for (const index_t id : unique_) ask[map_.owner(id)].push_back(std::int64_t(id));  // ascending per owner
    const auto asked = comm.alltoallv(ask, "sharded_table lookup ids");
    std::vector<std::vector<T>> rows(asked.size());
    for (std::size_t r = 0; r < asked.size(); ++r) {
      rows[r].reserve(asked[r].size() * static_cast<std::size_t>(dim_));
      for (const std::int64_t id : asked[r]) {
        const auto row = shard_.value().row(map_.local(index_t(id)));
        rows[r].insert(rows[r].end(), row.data(), row.data() + dim_);
      }
    }
    const auto got = comm.alltoallv(rows, "sharded_table lookup rows");
    matrix<T>& st = staging_->value();
    st.resize(static_cast<index_t>(unique_.size()), dim_);
    std::vector<std::size_t> next(got.size(), 0);
    for (std::size_t k = 0; k < unique_.size(); ++k) {
      const int o = map_.owner(unique_[k]);
      std::copy_n(got[o].data() + next[o], dim_, st.row(index_t(k)).data());
      next[o] += static_cast<std::size_t>(dim_);
    }
  }

  /// Sends the staging table's gradient (times `scale`) to the owners, into `shard().sparse()`
  /// (collective; see file docs). The staging gradient is cleared.
  void push_gradients(communicator& comm, T scale) {
    sparse_rows<T>& sp = staging_->sparse();
    if (staging_->has_dense_grad())
      throw state_error("dist::sharded_table: the table of '" + field_name_ + "' received a dense gradient; only lookups "
                        "(row-sparse gradients) are supported for a sharded table");
    const std::size_t n = static_cast<std::size_t>(comm.size());
    std::vector<std::vector<std::int64_t>> ids(n);
    std::vector<std::vector<T>> rows(n);
    for (index_t k = 0; k < sp.size(); ++k) {
      const index_t id = unique_[static_cast<std::size_t>(sp.ids[static_cast<std::size_t>(k)])];
      const int o = map_.owner(id);
      ids[o].push_back(std::int64_t(id));
      const T* src = sp.rows.data() + k * dim_;
      for (index_t j = 0; j < dim_; ++j) rows[o].push_back(src[j] * scale);
    }
    staging_->zero_grad();
    const auto got_ids = comm.alltoallv(ids, "sharded_table gradient ids");
    const auto got_rows = comm.alltoallv(rows, "sharded_table gradient rows");
    sparse_rows<T>& out = shard_.sparse();
    out.clear();
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t k = 0; k < got_ids[r].size(); ++k)
        out.add(map_.local(index_t(got_ids[r][k])),
                const_map<T>(got_rows[r].data() + k * static_cast<std::size_t>(dim_), 1, dim_));
  }

  const std::string& field() const { return field_name_; }
  const std::string& parameter_name() const { return staging_name_; }
  param<T>& shard() { return shard_; }
  const param<T>& shard() const { return shard_; }
  const param<T>& staging() const { return *staging_; }
  const row_owner_map& owners() const { return map_; }
  index_t dim() const { return dim_; }
  /// Distinct ids of the last lookup (sorted).
  const std::vector<index_t>& last_ids() const { return unique_; }

 private:
  std::string field_name_, staging_name_;
  index_t field_ = 0, dim_ = 0;
  int rank_ = 0;
  param<T>* staging_ = nullptr;
  param<T> shard_;
  row_owner_map map_;
  std::vector<index_t> unique_;
};

}  // namespace recblocks::dist
