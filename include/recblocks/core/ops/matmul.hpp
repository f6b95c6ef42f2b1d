#pragma once
/// \file matmul.hpp
/// Matrix products: `matmul` (with transposes), the fused `linear` (GEMM + bias + activation, one
/// node), and `batched_matmul` for per-sample generated weights.

#include <string>

#include "../bf16.hpp"
#include "../bf16_gemm.hpp"
#include "../gemm.hpp"
#include "../tape.hpp"

namespace recblocks {

/// Activations that the fused linear op applies in place (their derivative is a function of the
/// output, so no pre-activation copy is kept).
enum class fused_activation { none, relu, sigmoid, tanh };

namespace ops {

/// `C = op(A) op(B)`, `op(X) = X` or `X^T`.
///
/// Shapes: `op(A)` `[m, k]`, `op(B)` `[k, n]` -> `[m, n]`.
/// Backward: `dA += dC op(B)^T` (transposed back when `ta`), `dB += op(A)^T dC` (likewise).
template <class T>
var<T> matmul(tape<T>& t, const var<T>& a, const var<T>& b, bool ta = false, bool tb = false) {
  const index_t m = ta ? a.cols : a.rows, ka = ta ? a.rows : a.cols;
  const index_t kb = tb ? b.cols : b.rows, n = tb ? b.rows : b.cols;
  if (ka != kb)
    throw shape_error("matmul: inner dimensions differ: op(A) " + shape_string(m, ka) + " x op(B) " +
                      shape_string(kb, n));
  var<T> c = t.make(m, n);
  gemm<T>(const_map<T>(a.data, a.rows, a.cols), ta, const_map<T>(b.data, b.rows, b.cols), tb, t.out(c));
  if (auto node = t.record("matmul", c, {a, b}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& a = t.input(nd, 0);
        const var<T>& b = t.input(nd, 1);
        const bool ta = nd.i0 != 0, tb = nd.i1 != 0;
        const_map<T> g(nd.grad, nd.rows, nd.cols), av(a.data, a.rows, a.cols), bv(b.data, b.rows, b.cols);
        if (t.wants_grad(a)) {
          auto [ga, first] = t.grad_slot(a);
          // A: dA = G op(B)^T ; A^T: dA = op(B) G^T
          if (!ta) gemm<T>(g, false, bv, !tb, ga, !first);
          else gemm<T>(bv, tb, g, true, ga, !first);
        }
        if (t.wants_grad(b)) {
          auto [gb, first] = t.grad_slot(b);
          // B: dB = op(A)^T G ; B^T: dB = G^T op(A)
          if (!tb) gemm<T>(av, !ta, g, false, gb, !first);
          else gemm<T>(g, true, av, ta, gb, !first);
        }
      })) {
    node->i0 = ta;
    node->i1 = tb;
  }
  return c;
}

namespace detail {
/// Whether a float product asked for in `c` (resolved against the tape) runs on the bf16 kernel;
/// counts a fallback when bf16 was asked for and the CPU lacks it.
template <class T>
bool use_bf16(const tape<T>& t, compute_type c) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    const compute_type r = c == compute_type::automatic ? t.compute() : c;
    if (r != compute_type::bf16) return false;
    if (bf16_gemm_available()) return true;
    count_bf16_fallback();
    return false;
  }
}

/// `gemm`, or `gemm_bf16` when `bf16` (float only) and the product is wide enough for the kernel
/// (`bf16_worthwhile`: inner and output dimension >= 32) and has more than 3 rows (below that,
/// packing the weight on every call costs more than the FP32 GEMV; batch-1 bf16 takes the layer's
/// packed copy, `nn::linear::enable_bf16_inference`). Other products stay FP32.
template <class T>
void gemm_as(bool bf16, const const_map<T>& a, bool ta, const const_map<T>& b, bool tb, mutable_map<T> c, bool accumulate = false) {
  if constexpr (std::is_same_v<T, float>) {
    if (bf16 && c.rows() > 3 && bf16_worthwhile(ta ? a.rows() : a.cols(), c.cols())) return gemm_bf16(a, ta, b, tb, c, accumulate);
  }
  gemm<T>(a, ta, b, tb, c, accumulate);
}
/// `Y = act(Y)` in place: the forward half of the fused activations (`linear`, `linear_bf16`).
template <class Block>
void apply_activation(Block&& yv, fused_activation act) {
  using T = typename std::decay_t<Block>::Scalar;
  switch (act) {
    case fused_activation::none: break;
    case fused_activation::relu: yv = yv.cwiseMax(T(0)); break;
    case fused_activation::sigmoid: yv = yv.array().logistic().matrix(); break;
    case fused_activation::tanh: yv = yv.array().tanh().matrix(); break;
  }
}

}  // namespace detail

/// Fused fully-connected layer, one node: `Y = act(X W + 1 b)`.
///
/// Shapes: `X` `[B, in]`, `W` `[in, out]`, `b` `[1, out]` (pass `var<T>{}` for no bias) -> `[B, out]`.
/// Backward: `dZ = dY * act'(Y)`; `dW += X^T dZ`; `db += 1^T dZ`; `dX += dZ W^T`.
/// Precision (`compute`, `automatic` = the tape's `compute()`): with `bf16` on a float tape the
/// three GEMMs (forward, dW, dX) take bf16 inputs with FP32 accumulation (`gemm_bf16`, mixed
/// precision: W, its gradient and everything else stay float); without AVX512-BF16 they run in FP32
/// and `bf16_fallback_count()` counts it. Each of the three products with at most 3 rows or whose
/// inner or output dimension is below 32 (`bf16_worthwhile`) stays FP32 by design: a 32-column panel would be mostly
/// padding and the operand conversion would cost more than the product saves.
template <class T>
var<T> linear(tape<T>& t, const var<T>& x, const var<T>& w, const var<T>& b,
              fused_activation act = fused_activation::none, compute_type compute = compute_type::automatic) {
  if (x.cols != w.rows)
    throw shape_error("linear: input " + shape_string(x.rows, x.cols) + " does not match weight " +
                      shape_string(w.rows, w.cols));
  const bool has_bias = b.data != nullptr;
  if (has_bias && (b.rows != 1 || b.cols != w.cols))
    throw shape_error("linear: bias " + shape_string(b.rows, b.cols) + " does not match weight " +
                      shape_string(w.rows, w.cols) + " (expected [1, " + std::to_string(w.cols) + "])");
  var<T> y = t.make(x.rows, w.cols);
  auto yv = t.out(y);
  const bool bf16 = detail::use_bf16(t, compute);
  detail::gemm_as<T>(bf16, const_map<T>(x.data, x.rows, x.cols), false, const_map<T>(w.data, w.rows, w.cols), false, yv);
  if (has_bias) yv.rowwise() += const_map<T>(b.data, 1, b.cols).row(0);
  detail::apply_activation(yv, act);
  auto backward = +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const var<T>& w = t.input(nd, 1);
    const var<T>& b = t.input(nd, 2);
    const auto act = static_cast<fused_activation>(nd.i0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    const T* dz_data = nd.grad;
    if (act != fused_activation::none) {
      T* buf = t.grad_scratch(nd.rows * nd.cols);
      mutable_map<T> dz(buf, nd.rows, nd.cols);
      switch (act) {
        case fused_activation::relu: dz = (y.array() > T(0)).select(g.array(), T(0)).matrix(); break;
        case fused_activation::sigmoid: dz = (g.array() * y.array() * (T(1) - y.array())).matrix(); break;
        case fused_activation::tanh: dz = (g.array() * (T(1) - y.array().square())).matrix(); break;
        default: break;
      }
      dz_data = buf;
    }
    const_map<T> dz(dz_data, nd.rows, nd.cols);
    if (t.wants_grad(b)) t.accumulate(b, dz.colwise().sum());
    const bool bf16 = nd.i1 != 0;
    if (t.wants_grad(w)) {
      auto [gw, first] = t.grad_slot(w);
      detail::gemm_as<T>(bf16, const_map<T>(x.data, x.rows, x.cols), true, dz, false, gw, !first);
    }
    if (t.wants_grad(x)) {
      auto [gx, first] = t.grad_slot(x);
      detail::gemm_as<T>(bf16, dz, false, const_map<T>(w.data, w.rows, w.cols), true, gx, !first);
    }
  };
  if (auto node = t.record("linear", y, {x, w, b}, backward)) {
    node->i0 = static_cast<index_t>(act);
    node->i1 = bf16 ? 1 : 0;
  }
  return y;
}

/// Inference-only linear layer on a bfloat16 copy of the weights: `Y = act(X W_bf16 + b)`, one
/// bf16 GEMV per row of `X` (meant for batch 1, where streaming the weights dominates).
/// Refuses to run on a recording tape with a tracked input (it has no backward).
template <class T>
var<T> linear_bf16(tape<T>& t, const var<T>& x, const bf16_matrix& w, const var<T>& b, fused_activation act = fused_activation::none) {
  static_assert(std::is_same_v<T, float>, "linear_bf16: float models only");
  if (t.recording() && x.tracked())
    throw state_error("linear_bf16: inference-only op used on a recording tape (train with the float weights)");
  if (x.cols != w.rows)
    throw shape_error("linear_bf16: input " + shape_string(x.rows, x.cols) + " does not match weight " + shape_string(w.rows, w.cols));
  if (b.data && (b.rows != 1 || b.cols != w.cols))
    throw shape_error("linear_bf16: bias " + shape_string(b.rows, b.cols) + " does not match weight " + shape_string(w.rows, w.cols));
  var<T> y = t.make(x.rows, w.cols);
  for (index_t r = 0; r < x.rows; ++r) gemv_bf16(x.data + r * x.cols, w, b.data, t.out_data(y) + r * w.cols);
  auto yv = t.out(y);
  detail::apply_activation(yv, act);
  return y;
}

/// Inference-only linear layer on a packed bfloat16 copy of the weights (`make_bf16_panels(W)`):
/// `Y = act(bf16(X) W_bf16 + b)` on the AVX512-BF16 kernel (`gemm_bf16_packed`), any number of rows.
/// Requires `bf16_gemm_available()` (throws `state_error` otherwise); refuses a recording tape with
/// a tracked input (it has no backward).
template <class T>
var<T> linear_bf16(tape<T>& t, const var<T>& x, const bf16_panels& w, const var<T>& b, fused_activation act = fused_activation::none) {
  static_assert(std::is_same_v<T, float>, "linear_bf16: float models only");
  if (t.recording() && x.tracked())
    throw state_error("linear_bf16: inference-only op used on a recording tape (train with the float weights)");
  if (!bf16_gemm_available()) throw state_error("linear_bf16: packed bf16 weights need AVX512-BF16, which this CPU lacks or is disabled");
  if (x.cols != w.k)
    throw shape_error("linear_bf16: input " + shape_string(x.rows, x.cols) + " does not match weight " + shape_string(w.k, w.n));
  if (b.data && (b.rows != 1 || b.cols != w.n))
    throw shape_error("linear_bf16: bias " + shape_string(b.rows, b.cols) + " does not match weight " + shape_string(w.k, w.n));
  var<T> y = t.make(x.rows, w.n);
  gemm_bf16_packed(x.data, x.cols, false, x.rows, w, t.out_data(y), w.n);
  auto yv = t.out(y);
  if (b.data) yv.rowwise() += const_map<T>(b.data, 1, b.cols).row(0);
  detail::apply_activation(yv, act);
  return y;
}

/// Per-sample product with generated weights: `y_b = x_b W_b`, `W_b` stored row-major in row `b`.
///
/// Shapes: `X` `[B, in]`, `W` `[B, in * out]` -> `[B, out]`.
/// Backward: `dx_b += dy_b W_b^T`, `dW_b += x_b^T dy_b` (an outer product).
template <class T>
var<T> batched_matmul(tape<T>& t, const var<T>& x, const var<T>& w, index_t out) {
  if (out <= 0 || w.rows != x.rows || w.cols != x.cols * out)
    throw shape_error("batched_matmul: input " + shape_string(x.rows, x.cols) + " and weights " +
                      shape_string(w.rows, w.cols) + " do not fit out = " + std::to_string(out) +
                      " (expected weights [B, in * out])");
  var<T> y = t.make(x.rows, out);
  const index_t in = x.cols;
  for (index_t s = 0; s < x.rows; ++s)
    t.out(y).row(s).noalias() = const_map<T>(x.data + s * in, 1, in) * const_map<T>(w.data + s * in * out, in, out);
  if (auto node = t.record("batched_matmul", y, {x, w}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const var<T>& w = t.input(nd, 1);
        const index_t in = x.cols, out = nd.cols;
        const_map<T> g(nd.grad, nd.rows, nd.cols);
        if (t.wants_grad(x)) {
          auto gx = t.grad_buffer(x);
          for (index_t s = 0; s < x.rows; ++s)
            gx.row(s).noalias() += g.row(s) * const_map<T>(w.data + s * in * out, in, out).transpose();
        }
        if (t.wants_grad(w)) {
          auto gw = t.grad_buffer(w);
          for (index_t s = 0; s < x.rows; ++s)
            mutable_map<T>(gw.data() + s * in * out, in, out).noalias() +=
                const_map<T>(x.data + s * in, 1, in).transpose() * g.row(s);
        }
      }))
    node->i0 = out;
  return y;
}

}  // namespace ops
}  // namespace recblocks
