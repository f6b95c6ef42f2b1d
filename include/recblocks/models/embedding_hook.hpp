#pragma once
/// \file embedding_hook.hpp
/// `models::embedding_hook`: a transform of the input layer's output, installed on a
/// `models::feature_embedding` with `set_hook`, so a wrapper can insert layers at the bottom of any
/// model built on that layer (all the Scenario-Wise Rec models) without editing it.
///
///     e' = hook(t, batch, rows, e)        e, e' : [rows.size() (or B when rows is empty), D]
///
/// `rows` is the row order the model asked the embedding for (`scenario_router::order()` or empty for
/// the batch order), so a hook that reads per-row data (a user id) must read row `rows[i]` for output
/// row `i`. Requires: the result has the shape of `e`, is built from tape ops only, and the call is
/// `const` and reentrant (one model serves many threads, one tape each).

#include <span>

#include "../core/tape.hpp"
#include "../data/batch.hpp"

namespace recblocks::models {

template <class T>
class embedding_hook {
 public:
  using scalar_type = T;
  virtual ~embedding_hook() = default;
  /// `e'` for `e` (see file docs).
  virtual var<T> operator()(tape<T>& t, const data::batch<T>& b, std::span<const index_t> rows, const var<T>& e) const = 0;
};

}  // namespace recblocks::models
