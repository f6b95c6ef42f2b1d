#pragma once
/// \file embedding.hpp
/// An embedding table `[vocabulary, dim]`: `y_k = E_{ids_k}`, shape `[n, dim]` for `n` ids.
///
/// Gradients are row-sparse by default: a step touches only the looked-up rows, and the optimizers'
/// sparse step updates only those (a 10M-row table costs what a batch uses). Ids outside
/// `[0, vocabulary)` throw `value_error` at the lookup; use `hashed_embedding` for open vocabularies.
/// Default initialisation N(0, 1e-4) as in Scenario-Wise Rec / torch-rechub.

#include <span>
#include <string>

#include "../core/ops/gather.hpp"
#include "init.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class embedding {
 public:
  using scalar_type = T;

  embedding(index_t vocabulary, index_t dim, rng& gen, init how = init::normal(0.0, 1e-4), bool sparse_grad = true)
      : table_("table", vocabulary, dim) {
    if (vocabulary <= 0 || dim <= 0)
      throw value_error("embedding: vocabulary and dim must be positive, got " + shape_string(vocabulary, dim));
    how.apply(table_.value(), gen, vocabulary, dim);
    table_.set_sparse_grad(sparse_grad);
  }

  /// Rows for `ids` -> `[ids.size(), dim]`.
  var<T> operator()(tape<T>& t, std::span<const index_t> ids) const { return ops::gather_rows(t, t.leaf(table_), ids); }

  index_t vocabulary() const { return table_.rows(); }
  index_t dim() const { return table_.cols(); }
  param<T>& table() { return table_; }
  const param<T>& table() const { return table_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("table", self.table_);
  }

 private:
  param<T> table_;
};

}  // namespace recblocks::nn
