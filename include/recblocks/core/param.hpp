#pragma once
/// \file param.hpp
/// A trainable tensor: its value, a dense gradient, and a row-sparse gradient for embedding tables.
///
/// Gradients accumulate: the first write of a step assigns, later writes add (so fan-out and
/// shared parameters just work). The optimizer (or trainer) clears them once per step with
/// `zero_grad()`. A parameter whose gradient is row-sparse (`sparse_grad = true`, set by embedding
/// tables) receives `(row id, gradient row)` pairs from the gather op instead of a dense matrix, so a
/// 10M-row table costs only the rows a batch touched.
///
/// Thread-safety: the value is read concurrently by inference threads; gradients are written only
/// by the one thread that runs a recording tape. The gradient members are `mutable` because models
/// expose a `const` forward that both inference and training call.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "tensor.hpp"

namespace recblocks {

template <class T>
class tape;

/// Row-sparse gradient: `ids.size()` rows of width `cols`, stored row after row in `rows`.
/// Ids may repeat until `coalesce()` sums duplicates (sorted by id).
template <class T>
struct sparse_rows {
  std::vector<index_t> ids;
  std::vector<T> rows;
  index_t cols = 0;

 private:
  std::vector<index_t> order_, out_ids_, count_;  // coalesce's scratch, kept for the next step
  std::vector<T> out_rows_;

 public:

  index_t size() const { return static_cast<index_t>(ids.size()); }
  bool empty() const { return ids.empty(); }
  void clear() {
    ids.clear();
    rows.clear();
  }
  /// Appends one gradient row for `id`.
  template <class RowExpr>
  void add(index_t id, const RowExpr& row) {
    ids.push_back(id);
    const std::size_t off = rows.size();
    rows.resize(off + static_cast<std::size_t>(cols));
    for (index_t j = 0; j < cols; ++j) rows[off + static_cast<std::size_t>(j)] = row(j);
  }
  /// Sums duplicate ids; afterwards ids are unique and ascending (each id's rows summed in the order
  /// they were added). Works in buffers kept across calls (swapped with `ids`/`rows`), so a
  /// steady-state step allocates nothing. The order is found by a counting sort when the id range is
  /// at most 2 n + 4096 for n ids (a sequence model's lookups: tens of thousands of ids from a table
  /// of thousands of rows), by a comparison sort otherwise; both give the same stable order.
  void coalesce() {
    if (ids.size() < 2) return;
    const auto [lo_it, hi_it] = std::minmax_element(ids.begin(), ids.end());
    const index_t lo = *lo_it, range = *hi_it - lo + 1, n = static_cast<index_t>(ids.size());
    order_.resize(ids.size());
    if (range <= 2 * n + 4096) {
      count_.assign(static_cast<std::size_t>(range) + 1, 0);
      for (const index_t id : ids) ++count_[static_cast<std::size_t>(id - lo) + 1];
      for (std::size_t k = 1; k < count_.size(); ++k) count_[k] += count_[k - 1];  // count_[v]: first slot of id lo + v
      for (index_t i = 0; i < n; ++i) order_[static_cast<std::size_t>(count_[static_cast<std::size_t>(ids[static_cast<std::size_t>(i)] - lo)]++)] = i;
    } else {
      std::iota(order_.begin(), order_.end(), index_t{0});
      // std::sort with the position as tie-break: the stable order without stable_sort's heap buffer
      std::sort(order_.begin(), order_.end(), [&](index_t a, index_t b) { return ids[a] < ids[b] || (ids[a] == ids[b] && a < b); });
    }
    out_ids_.clear();
    out_rows_.clear();
    out_ids_.reserve(ids.size());
    out_rows_.reserve(rows.size());
    for (std::size_t k = 0; k < order_.size(); ++k) {
      const index_t src = order_[k];
      const T* r = rows.data() + static_cast<std::size_t>(src * cols);
      if (!out_ids_.empty() && out_ids_.back() == ids[src]) {
        T* dst = out_rows_.data() + out_rows_.size() - static_cast<std::size_t>(cols);
        for (index_t j = 0; j < cols; ++j) dst[j] += r[j];
      } else {
        out_ids_.push_back(ids[src]);
        out_rows_.insert(out_rows_.end(), r, r + cols);
      }
    }
    ids.swap(out_ids_);
    rows.swap(out_rows_);
  }
  /// Row `k` as a mutable row-vector view.
  mutable_map<T> row(index_t k) { return mutable_map<T>(rows.data() + k * cols, 1, cols); }
};

/// The gradient side of a parameter, held on the heap so that its address survives a move of the
/// parameter (a `std::vector<param<T>>` that grows mid-step): a tape's leaf node points here, never
/// at the parameter object itself.
template <class T>
struct param_grad_state {
  matrix<T> grad;
  bool written = false;
  sparse_rows<T> sparse;
  // tape bookkeeping: the leaf node this parameter has on the tape step `epoch` (globally unique)
  std::uint64_t epoch = 0;
  int node = -1;

  /// The gradient `[rows, cols]` as a dense matrix, sparse rows scattered in.
  matrix<T> dense(index_t rows, index_t cols) const {
    matrix<T> g = written ? grad : matrix<T>::Zero(rows, cols);
    for (index_t k = 0; k < sparse.size(); ++k)
      g.row(sparse.ids[static_cast<std::size_t>(k)]) += const_map<T>(sparse.rows.data() + k * cols, 1, cols);
    return g;
  }
};

/// A named trainable tensor `[rows, cols]`.
template <class T>
class param {
 public:
  using scalar_type = T;

  param() = default;
  /// Zeros `[rows, cols]`; throws `shape_error` on a negative size (a hostile config's layer width).
  param(std::string name, index_t rows, index_t cols) : name_(std::move(name)), value_(zeros(name_, rows, cols)) {}
  param(std::string name, matrix<T> value) : name_(std::move(name)), value_(std::move(value)) {}

  // A copy gets its own (empty) gradient state; a move carries the state along, so a tape node
  // recorded before the move still writes into the moved-to parameter.
  param(const param& other) : name_(other.name_), value_(other.value_), trainable_(other.trainable_),
                              sparse_(other.sparse_) {}
  param& operator=(const param& other) {
    if (this == &other) return *this;
    name_ = other.name_;
    value_ = other.value_;
    trainable_ = other.trainable_;
    sparse_ = other.sparse_;
    if (!state_) state_ = std::make_unique<param_grad_state<T>>();
    zero_grad();
    return *this;
  }
  param(param&&) noexcept = default;
  param& operator=(param&&) noexcept = default;

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  matrix<T>& value() { return value_; }
  const matrix<T>& value() const { return value_; }
  index_t rows() const { return value_.rows(); }
  index_t cols() const { return value_.cols(); }
  index_t size() const { return value_.size(); }

  /// Whether optimizers update it and the tape records it (frozen parameters are constants).
  bool trainable() const { return trainable_; }
  void set_trainable(bool on) { trainable_ = on; }

  /// Whether gradients arrive as sparse rows (embedding tables) rather than a dense matrix.
  bool sparse_grad() const { return sparse_; }
  void set_sparse_grad(bool on) { sparse_ = on; }

  /// True when the dense gradient holds this step's value.
  bool has_dense_grad() const { return state_->written; }
  /// The dense gradient `[rows, cols]`; meaningful only when `has_dense_grad()`.
  const matrix<T>& grad() const { return state_->grad; }
  matrix<T>& grad() { return state_->grad; }
  /// Overwrites the dense gradient with `g` (same shape) and marks it written: how a distributed
  /// trainer (`dist/`) stores the all-reduced gradient before the optimizer step.
  template <class Derived>
  void set_dense_grad(const Eigen::MatrixBase<Derived>& g) {
    state_->grad = g;
    state_->written = true;
  }
  /// The row-sparse gradient (embedding tables).
  sparse_rows<T>& sparse() const {
    state_->sparse.cols = value_.cols();
    return state_->sparse;
  }

  /// Clears both gradients (no memory is released).
  void zero_grad() const {
    if (!state_) return;  // moved-from
    state_->written = false;
    state_->sparse.clear();
    state_->sparse.cols = value_.cols();
  }

  /// The gradient as a dense matrix, sparse rows scattered in (for tests, clipping and checks).
  matrix<T> dense_grad() const { return state_->dense(rows(), cols()); }

  /// Bytes held by value and gradient buffers.
  std::size_t memory_bytes() const {
    return sizeof(T) * (static_cast<std::size_t>(value_.size()) + static_cast<std::size_t>(state_->grad.size()) +
                        state_->sparse.rows.capacity());
  }

 private:
  static matrix<T> zeros(const std::string& name, index_t rows, index_t cols) {
    if (rows < 0 || cols < 0) throw shape_error("param '" + name + "': negative shape " + shape_string(rows, cols));
    return matrix<T>::Zero(rows, cols);
  }

  friend class tape<T>;
  std::string name_;
  matrix<T> value_;
  bool trainable_ = true;
  bool sparse_ = false;
  // `mutable`: models expose a `const` forward that training also calls (see file docs)
  mutable std::unique_ptr<param_grad_state<T>> state_ = std::make_unique<param_grad_state<T>>();
};

}  // namespace recblocks
