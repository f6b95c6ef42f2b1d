#pragma once
/// \file mixture.hpp
/// Gated mixture of experts as one node (MMoE, PLE, SAR-Net, M3oE):
///
///     y_b = sum_k g_{b,k} E_k[b, :]
///     dE_k[b, :] += g_{b,k} dy_b          dg_{b,k} += <dy_b, E_k[b, :]>
///
/// Shapes: gates `[B, K]`, K experts `[B, D]` each -> `[B, D]`. Replaces K slices, K broadcast
/// multiplies and K-1 adds (and their temporaries) by one pass.

#include <new>
#include <span>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

template <class T>
var<T> mixture(tape<T>& t, const var<T>& gates, std::span<const var<T>> experts) {
  const index_t K = static_cast<index_t>(experts.size());
  if (K == 0) throw shape_error("mixture: no experts");
  if (gates.cols != K)
    throw shape_error("mixture: gates " + shape_string(gates.rows, gates.cols) + " for " + std::to_string(K) + " experts");
  const index_t B = gates.rows, D = experts[0].cols;
  for (const auto& e : experts)
    if (e.rows != B || e.cols != D)
      throw shape_error("mixture: expert " + shape_string(e.rows, e.cols) + " does not match " + shape_string(B, D) +
                        " (gates " + shape_string(gates.rows, gates.cols) + ")");
  var<T> y = t.make(B, D);
  auto yv = t.out(y);
  const_map<T> g(gates.data, B, K);
  yv = const_map<T>(experts[0].data, B, D).array().colwise() * g.col(0).array();
  for (index_t k = 1; k < K; ++k) yv.array() += const_map<T>(experts[k].data, B, D).array().colwise() * g.col(k).array();
  // inputs: gates first, then the experts
  var<T>* inputs = t.template scratch<var<T>>(static_cast<std::size_t>(K + 1));
  new (inputs) var<T>(gates);
  for (index_t k = 0; k < K; ++k) new (inputs + k + 1) var<T>(experts[k]);
  t.record_range("mixture", y, inputs, static_cast<std::size_t>(K + 1), +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& gates = t.input(nd, 0);
    const index_t B = nd.rows, D = nd.cols, K = nd.inputs_count - 1;
    const_map<T> dy(nd.grad, B, D), g(gates.data, B, K);
    if (t.wants_grad(gates)) {
      map<T> dg(t.grad_scratch(B * K), B, K);
      for (index_t k = 0; k < K; ++k)
        dg.col(k) = (dy.array() * const_map<T>(t.input(nd, int(k + 1)).data, B, D).array()).rowwise().sum().matrix();
      t.accumulate(gates, dg);
    }
    for (index_t k = 0; k < K; ++k) {
      const var<T>& e = t.input(nd, int(k + 1));
      if (t.wants_grad(e)) t.accumulate(e, (dy.array().colwise() * g.col(k).array()).matrix());
    }
  });
  return y;
}

template <class T>
var<T> mixture(tape<T>& t, const var<T>& gates, std::initializer_list<var<T>> experts) {
  return mixture(t, gates, std::span<const var<T>>(experts.begin(), experts.size()));
}

}  // namespace recblocks::ops
