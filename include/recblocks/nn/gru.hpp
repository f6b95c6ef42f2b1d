#pragma once
/// \file gru.hpp
/// A one-layer GRU over padded sequences, composed from tape ops (no hand-written backward; the
/// gradient flows through time by the tape). Gates as PyTorch's `nn.GRU` (order r, z, n):
///
///     [a_r a_z a_n] = x_t W_x + b_x                      W_x [in, 3h], b_x [1, 3h]
///     [c_r c_z c_n] = h_{t-1} W_h + b_h                  W_h [h, 3h],  b_h [1, 3h]
///     r = sigmoid(a_r + c_r),  z = sigmoid(a_z + c_z),  n = tanh(a_n + r * c_n)
///     h'_t = (1 - z) * n + z * h_{t-1}
///     h_t  = h_{t-1} + m_t (h'_t - h_{t-1}),   m_t = [t < len]          (padding freezes the state)
///
/// h_0 = 0. Input and output are sample-major padded batches: `x` `[B * L, in]` (row b * L + t is step t
/// of sample b; steps t >= len_b are padding and ignored) -> `states` `[B * L, h]` (a padded step
/// repeats the last real state; an empty sequence gives zeros) and `last` `[B, h]` = h_{len_b} (zeros
/// when len_b = 0). The input projection of all steps is one GEMM; each step records about ten
/// nodes, and the loop stops at the longest length in the batch.
///
/// Parameters: `w_x`, `b_x`, `w_h`, `b_h`, all ~ U(-1/sqrt(h), 1/sqrt(h)) (PyTorch's init).
/// Errors: `shape_error` when `x` is not `[B * L, in]`; `value_error` naming the sample for a length
/// outside [0, L]. Thread-safety: `const` forward. Complexity: O(B L h (in + h)).

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/gather.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/ops/shape.hpp"
#include "init.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class gru {
 public:
  using scalar_type = T;

  /// What one call returns (see file docs).
  struct output {
    var<T> states;  ///< [B * L, h], sample-major
    var<T> last;    ///< [B, h]
  };

  gru(index_t input_dim, index_t hidden, rng& gen);

  /// Runs the GRU over `lengths.size()` padded sequences of `steps` positions each.
  output operator()(tape<T>& t, const var<T>& x, index_t steps, std::span<const index_t> lengths) const;

  index_t input_dim() const { return w_x_.rows(); }
  index_t hidden() const { return w_h_.rows(); }

  /// The member list (see nn/module.hpp).
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("w_x", self.w_x_);
    v("b_x", self.b_x_);
    v("w_h", self.w_h_);
    v("b_h", self.b_h_);
  }

 private:
  param<T> w_x_, b_x_, w_h_, b_h_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
gru<T>::gru(index_t input_dim, index_t hidden, rng& gen)
    : w_x_("w_x", input_dim, 3 * hidden), b_x_("b_x", 1, 3 * hidden), w_h_("w_h", hidden, 3 * hidden), b_h_("b_h", 1, 3 * hidden) {
  if (input_dim < 1 || hidden < 1)
    throw value_error("nn::gru: input_dim and hidden must be >= 1, got " + shape_string(input_dim, hidden));
  const double k = 1.0 / std::sqrt(double(hidden));
  for (param<T>* p : {&w_x_, &b_x_, &w_h_, &b_h_}) init::uniform(-k, k).apply(p->value(), gen, p->rows(), p->cols());
}

template <class T>
typename gru<T>::output gru<T>::operator()(tape<T>& t, const var<T>& x, index_t steps, std::span<const index_t> lengths) const {
  const index_t B = static_cast<index_t>(lengths.size()), h = hidden();
  if (steps < 1 || x.rows != B * steps || x.cols != input_dim())
    throw shape_error("nn::gru: input " + shape_string(x.rows, x.cols) + " is not [B * L, in] = " +
                      shape_string(B * steps, input_dim()) + " for B = " + std::to_string(B) + ", L = " + std::to_string(steps));
  index_t longest = 0;
  for (index_t b = 0; b < B; ++b) {
    const index_t l = lengths[static_cast<std::size_t>(b)];
    if (l < 0 || l > steps)
      throw value_error("nn::gru: length of sample " + std::to_string(b) + " is " + std::to_string(l) + ", outside [0, " +
                        std::to_string(steps) + "]");
    longest = std::max(longest, l);
  }
  // time-major copy of the input: row t * B + b = step t of sample b
  std::vector<index_t> order(static_cast<std::size_t>(B * steps));
  for (index_t s = 0; s < steps; ++s)
    for (index_t b = 0; b < B; ++b) order[static_cast<std::size_t>(s * B + b)] = b * steps + s;
  const var<T> xt = ops::gather_rows(t, x, std::span<const index_t>(order).first(static_cast<std::size_t>(B * std::max<index_t>(longest, 1))));
  const var<T> a = ops::linear(t, xt, t.leaf(w_x_), t.leaf(b_x_));  // [longest * B, 3h]
  const var<T> wh = t.leaf(w_h_), bh = t.leaf(b_h_);
  var<T> state = t.constant(matrix<T>::Zero(B, h));
  std::vector<var<T>> per_step;
  per_step.reserve(static_cast<std::size_t>(steps));
  matrix<T> mask(B, 1);
  for (index_t s = 0; s < longest; ++s) {
    const var<T> as = ops::slice_rows(t, a, s * B, B);
    const var<T> c = ops::linear(t, state, wh, bh);
    const var<T> rz = ops::sigmoid(t, ops::add(t, ops::slice_cols(t, as, 0, 2 * h), ops::slice_cols(t, c, 0, 2 * h)));
    const var<T> r = ops::slice_cols(t, rz, 0, h), z = ops::slice_cols(t, rz, h, h);
    const var<T> n = ops::tanh(t, ops::add(t, ops::slice_cols(t, as, 2 * h, h), ops::mul(t, r, ops::slice_cols(t, c, 2 * h, h))));
    const var<T> next = ops::add(t, n, ops::mul(t, z, ops::sub(t, state, n)));
    bool all = true;
    for (index_t b = 0; b < B; ++b) {
      mask(b, 0) = s < lengths[static_cast<std::size_t>(b)] ? T(1) : T(0);
      all = all && mask(b, 0) == T(1);
    }
    state = all ? next : ops::add(t, state, ops::mul(t, t.constant(mask), ops::sub(t, next, state)));
    per_step.push_back(state);
  }
  for (index_t s = longest; s < steps; ++s) per_step.push_back(state);  // padding after the longest sequence
  const var<T> states_tm = ops::concat_rows(t, std::span<const var<T>>(per_step));
  for (index_t b = 0; b < B; ++b)
    for (index_t s = 0; s < steps; ++s) order[static_cast<std::size_t>(b * steps + s)] = s * B + b;
  return {ops::gather_rows(t, states_tm, std::span<const index_t>(order)), state};
}

}  // namespace recblocks::nn
