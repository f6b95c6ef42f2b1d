#pragma once
/// \file embedding_bag.hpp
/// Pooled embeddings of variable-length id lists (multi-hot features, behaviour histories):
///
///     y_s = pool_{k in [offsets_s, offsets_{s+1})} E_{ids_k},   pool = sum or mean
///
/// Shapes: `ids` `[n]`, `offsets` `[S + 1]` (0, ..., n) -> `[S, dim]`. An empty bag gives a zero row.

#include <span>

#include "../core/ops/gather.hpp"
#include "embedding.hpp"

namespace recblocks::nn {

enum class bag_pooling { sum, mean };

template <class T>
class embedding_bag {
 public:
  using scalar_type = T;

  embedding_bag(index_t vocabulary, index_t dim, rng& gen, bag_pooling pooling = bag_pooling::mean,
                init how = init::normal(0.0, 1e-4))
      : table_(vocabulary, dim, gen, how), pooling_(pooling) {}

  var<T> operator()(tape<T>& t, std::span<const index_t> ids, std::span<const index_t> offsets) const {
    var<T> rows = table_(t, ids);
    return pooling_ == bag_pooling::sum ? ops::segment_sum(t, rows, offsets) : ops::segment_mean(t, rows, offsets);
  }

  index_t dim() const { return table_.dim(); }
  embedding<T>& table() { return table_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("", self.table_);
  }

 private:
  embedding<T> table_;
  bag_pooling pooling_;
};

}  // namespace recblocks::nn
