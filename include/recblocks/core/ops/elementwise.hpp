#pragma once
/// \file elementwise.hpp
/// Element-wise ops. Binary ops broadcast like NumPy over 2-D shapes: each operand is `[R, C]`,
/// `[1, C]` (row broadcast), `[R, 1]` (column broadcast) or `[1, 1]`; the gradient of a broadcast
/// operand is summed back over the broadcast axis.
///
///     add: y = a + b      sub: y = a - b      mul: y = a * b      div: y = a / b
///     add_scalar: y = x + s   mul_scalar: y = s x   exp, log, sqrt, pow(x, p), clamp(x, lo, hi), abs

#include <cmath>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

namespace detail {

inline index_t broadcast_dim(const char* op, index_t a, index_t b, index_t ar, index_t ac, index_t br, index_t bc) {
  if (a == b || b == 1) return a;
  if (a == 1) return b;
  throw shape_error(std::string(op) + ": shapes " + shape_string(ar, ac) + " and " + shape_string(br, bc) +
                    " cannot be broadcast");
}

/// `v` replicated to `[rows, cols]` as an array expression.
template <class T>
auto broadcast(const var<T>& v, index_t rows, index_t cols) {
  return const_map<T>(v.data, v.rows, v.cols).replicate(rows / v.rows, cols / v.cols).array();
}

/// Adds a full `[R, C]` gradient into operand `v`, summing over the axes `v` was broadcast along.
template <class T, class Expr>
void accumulate_reduced(tape<T>& t, const var<T>& v, const Expr& g, index_t rows, index_t cols) {
  if (!t.wants_grad(v)) return;
  if (v.rows == rows && v.cols == cols) {
    t.accumulate(v, g.matrix());
  } else if (v.rows == 1 && v.cols == cols) {
    t.accumulate(v, g.matrix().colwise().sum());
  } else if (v.rows == rows && v.cols == 1) {
    t.accumulate(v, g.matrix().rowwise().sum());
  } else {
    matrix<T> s(1, 1);
    s(0, 0) = g.sum();
    t.accumulate(v, s);
  }
}

struct add_fn {
  static constexpr const char* name = "add";
  template <class A, class B> static auto forward(const A& a, const B& b) { return a + b; }
  template <class G, class A, class B, class Y> static auto grad_a(const G& g, const A&, const B&, const Y&) { return g; }
  template <class G, class A, class B, class Y> static auto grad_b(const G& g, const A&, const B&, const Y&) { return g; }
};
struct sub_fn {
  static constexpr const char* name = "sub";
  template <class A, class B> static auto forward(const A& a, const B& b) { return a - b; }
  template <class G, class A, class B, class Y> static auto grad_a(const G& g, const A&, const B&, const Y&) { return g; }
  template <class G, class A, class B, class Y> static auto grad_b(const G& g, const A&, const B&, const Y&) { return -g; }
};
struct mul_fn {
  static constexpr const char* name = "mul";
  template <class A, class B> static auto forward(const A& a, const B& b) { return a * b; }
  template <class G, class A, class B, class Y> static auto grad_a(const G& g, const A&, const B& b, const Y&) { return g * b; }
  template <class G, class A, class B, class Y> static auto grad_b(const G& g, const A& a, const B&, const Y&) { return g * a; }
};
struct div_fn {
  static constexpr const char* name = "div";
  template <class A, class B> static auto forward(const A& a, const B& b) { return a / b; }
  template <class G, class A, class B, class Y> static auto grad_a(const G& g, const A&, const B& b, const Y&) { return g / b; }
  template <class G, class A, class B, class Y> static auto grad_b(const G& g, const A&, const B& b, const Y& y) { return -g * y / b; }
};

template <class Fn, class T>
void binary_backward(tape<T>& t, const tape_node<T>& nd) {
  const var<T>& a = t.input(nd, 0);
  const var<T>& b = t.input(nd, 1);
  const index_t R = nd.rows, C = nd.cols;
  auto g = const_map<T>(nd.grad, R, C).array();
  auto y = const_map<T>(nd.value, R, C).array();
  if (a.rows == R && a.cols == C && b.rows == R && b.cols == C) {
    auto av = const_map<T>(a.data, R, C).array();
    auto bv = const_map<T>(b.data, R, C).array();
    if (t.wants_grad(a)) t.accumulate(a, Fn::grad_a(g, av, bv, y).matrix());
    if (t.wants_grad(b)) t.accumulate(b, Fn::grad_b(g, av, bv, y).matrix());
    return;
  }
  auto av = broadcast(a, R, C);
  auto bv = broadcast(b, R, C);
  // Materialise the full gradient once, then reduce over the broadcast axes.
  map<T> full(t.grad_scratch(R * C), R, C);
  if (t.wants_grad(a)) {
    full = Fn::grad_a(g, av, bv, y).matrix();
    accumulate_reduced(t, a, full.array(), R, C);
  }
  if (t.wants_grad(b)) {
    full = Fn::grad_b(g, av, bv, y).matrix();
    accumulate_reduced(t, b, full.array(), R, C);
  }
}

template <class Fn, class T>
var<T> binary(tape<T>& t, const var<T>& a, const var<T>& b) {
  const index_t R = broadcast_dim(Fn::name, a.rows, b.rows, a.rows, a.cols, b.rows, b.cols);
  const index_t C = broadcast_dim(Fn::name, a.cols, b.cols, a.rows, a.cols, b.rows, b.cols);
  var<T> y = t.make(R, C);
  if (a.rows == R && a.cols == C && b.rows == R && b.cols == C)
    t.out(y).array() = Fn::forward(const_map<T>(a.data, R, C).array(), const_map<T>(b.data, R, C).array());
  else
    t.out(y).array() = Fn::forward(broadcast(a, R, C), broadcast(b, R, C));
  t.record(Fn::name, y, {a, b}, &binary_backward<Fn, T>);
  return y;
}

/// A unary op `y = f(x; s0, s1)` whose backward is `dx += g * f'(x, y; s0, s1)`.
template <class Fn, class T>
void unary_backward(tape<T>& t, const tape_node<T>& nd) {
  const var<T>& x = t.input(nd, 0);
  t.accumulate(x, Fn::backward(const_map<T>(nd.grad, nd.rows, nd.cols).array(),
                               const_map<T>(x.data, x.rows, x.cols).array(),
                               const_map<T>(nd.value, nd.rows, nd.cols).array(), nd.s0, nd.s1)
                      .matrix());
}

template <class Fn, class T>
var<T> unary(tape<T>& t, const var<T>& x, T s0 = T(0), T s1 = T(0)) {
  var<T> y = t.make(x.rows, x.cols);
  t.out(y).array() = Fn::forward(const_map<T>(x.data, x.rows, x.cols).array(), s0, s1);
  if (auto nd = t.record(Fn::name, y, {x}, &unary_backward<Fn, T>)) {
    nd->s0 = s0;
    nd->s1 = s1;
  }
  return y;
}

struct add_scalar_fn {
  static constexpr const char* name = "add_scalar";
  template <class X, class S> static auto forward(const X& x, S s, S) { return x + s; }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X&, const Y&, S, S) { return g; }
};
struct mul_scalar_fn {
  static constexpr const char* name = "mul_scalar";
  template <class X, class S> static auto forward(const X& x, S s, S) { return x * s; }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X&, const Y&, S s, S) { return g * s; }
};
struct exp_fn {
  static constexpr const char* name = "exp";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.exp(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X&, const Y& y, S, S) { return g * y; }
};
struct log_fn {
  static constexpr const char* name = "log";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.log(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S, S) { return g / x; }
};
struct sqrt_fn {
  static constexpr const char* name = "sqrt";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.sqrt(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X&, const Y& y, S, S) { return g * S(0.5) / y; }
};
struct pow_fn {
  static constexpr const char* name = "pow";
  template <class X, class S> static auto forward(const X& x, S p, S) { return x.pow(p); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S p, S) { return g * p * x.pow(p - S(1)); }
};
struct clamp_fn {
  static constexpr const char* name = "clamp";
  template <class X, class S> static auto forward(const X& x, S lo, S hi) { return x.max(lo).min(hi); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S lo, S hi) {
    return ((x >= lo) && (x <= hi)).select(g, S(0));
  }
};
struct abs_fn {
  static constexpr const char* name = "abs";
  template <class X, class S> static auto forward(const X& x, S, S) { return x.abs(); }
  template <class G, class X, class Y, class S> static auto backward(const G& g, const X& x, const Y&, S, S) { return g * x.sign(); }
};

}  // namespace detail

/// `a + b` with broadcasting.
template <class T> var<T> add(tape<T>& t, const var<T>& a, const var<T>& b) { return detail::binary<detail::add_fn>(t, a, b); }
/// `a - b` with broadcasting.
template <class T> var<T> sub(tape<T>& t, const var<T>& a, const var<T>& b) { return detail::binary<detail::sub_fn>(t, a, b); }
/// `a * b` element-wise, with broadcasting.
template <class T> var<T> mul(tape<T>& t, const var<T>& a, const var<T>& b) { return detail::binary<detail::mul_fn>(t, a, b); }
/// `a / b` element-wise, with broadcasting. The caller keeps `b` away from zero.
template <class T> var<T> div(tape<T>& t, const var<T>& a, const var<T>& b) { return detail::binary<detail::div_fn>(t, a, b); }

/// `x + s`.
template <class T> var<T> add_scalar(tape<T>& t, const var<T>& x, T s) { return detail::unary<detail::add_scalar_fn>(t, x, s); }
/// `s x`.
template <class T> var<T> mul_scalar(tape<T>& t, const var<T>& x, T s) { return detail::unary<detail::mul_scalar_fn>(t, x, s); }
/// `-x`.
template <class T> var<T> neg(tape<T>& t, const var<T>& x) { return detail::unary<detail::mul_scalar_fn>(t, x, T(-1)); }
/// `e^x`.
template <class T> var<T> exp(tape<T>& t, const var<T>& x) { return detail::unary<detail::exp_fn>(t, x); }
/// `ln x` (x > 0).
template <class T> var<T> log(tape<T>& t, const var<T>& x) { return detail::unary<detail::log_fn>(t, x); }
/// `sqrt(x)` (x > 0 for a finite gradient).
template <class T> var<T> sqrt(tape<T>& t, const var<T>& x) { return detail::unary<detail::sqrt_fn>(t, x); }
/// `x^p`; `dx = p x^(p-1)`.
template <class T> var<T> pow(tape<T>& t, const var<T>& x, T p) { return detail::unary<detail::pow_fn>(t, x, p); }
/// `min(max(x, lo), hi)`; the gradient passes where `lo <= x <= hi`.
template <class T> var<T> clamp(tape<T>& t, const var<T>& x, T lo, T hi) {
  if (!(lo <= hi)) throw value_error("clamp: lo must not exceed hi");
  return detail::unary<detail::clamp_fn>(t, x, lo, hi);
}
/// `|x|`; `dx = sign(x)`.
template <class T> var<T> abs(tape<T>& t, const var<T>& x) { return detail::unary<detail::abs_fn>(t, x); }

}  // namespace recblocks::ops
