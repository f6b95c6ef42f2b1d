#pragma once
/// \file field_gate.hpp
/// `models::field_gate<T>`: an optional per-field multiplier applied by `feature_embedding` to each
/// field's embedding before the model sees it (AltFS's rank-guided masking, learnable gate selectors):
///
///     e_b = [ g_{b,1} E_1[x_{b,1}] ; ... ; g_{b,F} E_F[x_{b,F}] ; (E_s[s_b]) ; g_{b,d_1} d_{b,1} ; ... ]
///
/// `gate(t, b)` returns `[B, S + D]` or `[1, S + D]` (one row broadcast over the batch), where column
/// f < S is the f-th sparse feature of the schema and column S + j the j-th dense feature (kind order,
/// `schema::index_of`). The scenario embedding is never gated. The gate is composed of tape ops, so its
/// parameters (if any) get gradients through the model's loss.
///
/// A gate is attached with `feature_embedding::set_field_gate` (non-owning: the gate must outlive
/// every forward that uses it; `featsel::attach_field_gate` reaches the embedding layers of any
/// registry model through its member list). Without a gate (the default) nothing changes.
/// Thread-safety: as the implementation's `gate`.

#include "../core/tape.hpp"
#include "../data/batch.hpp"

namespace recblocks::models {

template <class T>
class field_gate {
 public:
  virtual ~field_gate() = default;
  /// `[B, S + D]` or `[1, S + D]` multipliers (see the file comment).
  virtual var<T> gate(tape<T>& t, const data::batch<T>& b) const = 0;
};

}  // namespace recblocks::models
