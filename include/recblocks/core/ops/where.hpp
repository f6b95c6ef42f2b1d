#pragma once
/// \file where.hpp
/// Selection by a constant mask: `y = mask != 0 ? a : b`, all `[R, C]`.
/// Backward: `da += mask ? g : 0`, `db += mask ? 0 : g`. The mask carries no gradient.

#include "../tape.hpp"

namespace recblocks::ops {

template <class T>
var<T> where(tape<T>& t, const var<T>& mask, const var<T>& a, const var<T>& b) {
  require_same_shape("where (mask vs a)", mask.rows, mask.cols, a.rows, a.cols);
  require_same_shape("where (a vs b)", a.rows, a.cols, b.rows, b.cols);
  var<T> y = t.make(a.rows, a.cols);
  auto m = const_map<T>(mask.data, mask.rows, mask.cols).array();
  t.out(y).array() = (m != T(0)).select(const_map<T>(a.data, a.rows, a.cols).array(),
                                         const_map<T>(b.data, b.rows, b.cols).array());
  var<T> mask_const{mask.data, mask.rows, mask.cols, -1, mask.epoch};
  t.record("where", y, {mask_const, a, b}, +[](tape<T>& t, const tape_node<T>& nd) {
    auto m = const_map<T>(t.input(nd, 0).data, nd.rows, nd.cols).array();
    auto g = const_map<T>(nd.grad, nd.rows, nd.cols).array();
    if (t.wants_grad(t.input(nd, 1))) t.accumulate(t.input(nd, 1), (m != T(0)).select(g, T(0)).matrix());
    if (t.wants_grad(t.input(nd, 2))) t.accumulate(t.input(nd, 2), (m != T(0)).select(T(0), g).matrix());
  });
  return y;
}

}  // namespace recblocks::ops
