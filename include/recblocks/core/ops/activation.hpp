#pragma once
/// \file activation.hpp
/// Activations, element-wise unless stated.
///
///     relu(x) = max(x, 0)                  leaky_relu(x) = x > 0 ? x : a x
///     prelu(x, a) = x > 0 ? x : a x, a learned ([1, C] per column or [1, 1])
///     sigmoid(x) = 1 / (1 + e^-x)          tanh(x)
///     gelu(x) = x Phi(x) (exact, erf)      silu(x) = x sigmoid(x)
///     dice(x, a) = p x + (1 - p) a x,  p = sigmoid((x - mean_B(x)) / sqrt(var_B(x) + eps))   (DIN)

#include <cmath>
#include <string>

#include "elementwise.hpp"
#include "reduce.hpp"

namespace recblocks {

/// Activations selectable at run time (MLP configs, model configs).
enum class activation { none, relu, leaky_relu, sigmoid, tanh, gelu, silu };

/// Parses "relu", "sigmoid", ... (as used in JSON configs).
inline activation activation_from_string(const std::string& s) {
  if (s == "none" || s == "linear" || s == "identity") return activation::none;
  if (s == "relu") return activation::relu;
  if (s == "leaky_relu") return activation::leaky_relu;
  if (s == "sigmoid") return activation::sigmoid;
  if (s == "tanh") return activation::tanh;
  if (s == "gelu") return activation::gelu;
  if (s == "silu" || s == "swish") return activation::silu;
  throw value_error("activation: unknown name '" + s + "' (expected none, relu, leaky_relu, sigmoid, tanh, gelu, silu)");
}

inline const char* to_string(activation a) {
  switch (a) {
    case activation::none: return "none";
    case activation::relu: return "relu";
    case activation::leaky_relu: return "leaky_relu";
    case activation::sigmoid: return "sigmoid";
    case activation::tanh: return "tanh";
    case activation::gelu: return "gelu";
    case activation::silu: return "silu";
  }
  return "none";
}

namespace ops {
namespace detail {

struct relu_fn {
  static constexpr const char* name = "relu";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.max(S(0)); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S, S) { return (x > S(0)).select(g, S(0)); }
};
struct leaky_relu_fn {
  static constexpr const char* name = "leaky_relu";
  template <class X, class S> static auto forward(const X& x, S a, S) { return (x > S(0)).select(x, a * x); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S a, S) { return (x > S(0)).select(g, a * g); }
};
struct sigmoid_fn {
  static constexpr const char* name = "sigmoid";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.logistic(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X&, const Y& y, S, S) { return g * y * (S(1) - y); }
};
struct tanh_fn {
  static constexpr const char* name = "tanh";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.tanh(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X&, const Y& y, S, S) { return g * (S(1) - y.square()); }
};
struct gelu_fn {
  static constexpr const char* name = "gelu";
  template <class S> static S phi_cdf(S v) { return S(0.5) * (S(1) + std::erf(v * S(0.70710678118654752440))); }
  template <class X, class S> static auto forward(const X& x, S, S) {
    return x.unaryExpr([](S v) { return v * phi_cdf(v); });
  }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S, S) {
    return g * x.unaryExpr([](S v) { return phi_cdf(v) + v * S(0.39894228040143267794) * std::exp(S(-0.5) * v * v); });
  }
};
struct silu_fn {
  static constexpr const char* name = "silu";
  template <class X, class S> static auto forward(const X& x, S, S) { return x * x.logistic(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S, S) {
    return g * x.unaryExpr([](S v) {
      const S s = S(1) / (S(1) + std::exp(-v));
      return s * (S(1) + v * (S(1) - s));
    });
  }
};

}  // namespace detail

template <class T> var<T> relu(tape<T>& t, const var<T>& x) { return detail::unary<detail::relu_fn>(t, x); }
template <class T> var<T> leaky_relu(tape<T>& t, const var<T>& x, T slope = T(0.01)) { return detail::unary<detail::leaky_relu_fn>(t, x, slope); }
template <class T> var<T> sigmoid(tape<T>& t, const var<T>& x) { return detail::unary<detail::sigmoid_fn>(t, x); }
template <class T> var<T> tanh(tape<T>& t, const var<T>& x) { return detail::unary<detail::tanh_fn>(t, x); }
template <class T> var<T> gelu(tape<T>& t, const var<T>& x) { return detail::unary<detail::gelu_fn>(t, x); }
template <class T> var<T> silu(tape<T>& t, const var<T>& x) { return detail::unary<detail::silu_fn>(t, x); }

/// PReLU with a learned slope `a` of shape `[1, C]` (per column) or `[1, 1]`.
/// Backward: `dx = x > 0 ? g : a g`; `da += sum over rows (x <= 0 ? g x : 0)`.
template <class T>
var<T> prelu(tape<T>& t, const var<T>& x, const var<T>& a) {
  if (a.rows != 1 || (a.cols != 1 && a.cols != x.cols))
    throw shape_error("prelu: slope " + shape_string(a.rows, a.cols) + " must be [1, 1] or [1, " +
                      std::to_string(x.cols) + "] for input " + shape_string(x.rows, x.cols));
  var<T> y = t.make(x.rows, x.cols);
  auto av = detail::broadcast(a, x.rows, x.cols);
  auto xv = const_map<T>(x.data, x.rows, x.cols).array();
  t.out(y).array() = (xv > T(0)).select(xv, av * xv);
  t.record("prelu", y, {x, a}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const var<T>& a = t.input(nd, 1);
    auto g = const_map<T>(nd.grad, nd.rows, nd.cols).array();
    auto xv = const_map<T>(x.data, x.rows, x.cols).array();
    auto av = detail::broadcast(a, x.rows, x.cols);
    if (t.wants_grad(x)) t.accumulate(x, (xv > T(0)).select(g, av * g).matrix());
    if (t.wants_grad(a)) detail::accumulate_reduced(t, a, (xv > T(0)).select(T(0) * g, g * xv), x.rows, x.cols);
  });
  return y;
}

/// Dice (DIN): a data-adaptive PReLU whose switch point follows the batch statistics of each column.
/// Composed from primitive ops (its gradient includes the batch-statistics path).
/// Shapes: `x` `[B, C]`, `a` `[1, C]`.
template <class T>
var<T> dice(tape<T>& t, const var<T>& x, const var<T>& a, T eps = T(1e-8)) {
  if (a.rows != 1 || a.cols != x.cols)
    throw shape_error("dice: alpha " + shape_string(a.rows, a.cols) + " must be [1, " + std::to_string(x.cols) + "]");
  var<T> mean = column_means(t, x);
  var<T> centered = sub(t, x, mean);
  var<T> var_ = column_means(t, mul(t, centered, centered));
  var<T> norm = div(t, centered, sqrt(t, add_scalar(t, var_, eps)));
  var<T> p = sigmoid(t, norm);
  // y = p x + (1 - p) a x = x (a + p (1 - a))
  var<T> one_minus_a = add_scalar(t, neg(t, a), T(1));
  return mul(t, x, add(t, a, mul(t, p, one_minus_a)));
}

/// Applies a run-time selected activation.
template <class T>
var<T> activate(tape<T>& t, const var<T>& x, activation act, T leaky_slope = T(0.01)) {
  switch (act) {
    case activation::none: return x;
    case activation::relu: return relu(t, x);
    case activation::leaky_relu: return leaky_relu(t, x, leaky_slope);
    case activation::sigmoid: return sigmoid(t, x);
    case activation::tanh: return tanh(t, x);
    case activation::gelu: return gelu(t, x);
    case activation::silu: return silu(t, x);
  }
  return x;
}

}  // namespace ops
}  // namespace recblocks
