#pragma once
/// \file normalization.hpp
/// Layer normalization (over the columns of each row) and batch normalization (over the rows of
/// each column).
///
///     layer_norm: xhat_i = (x_i - mean(x_i)) / sqrt(var(x_i) + eps),   y = xhat * gamma + beta
///     batch_norm (train): the same per column with batch statistics; running statistics are
///                 updated as r = (1 - momentum) r + momentum s, with the unbiased variance (PyTorch)
///     batch_norm (eval):  xhat = (x - running_mean) / sqrt(running_var + eps)
///     backward (normalised axis of length n): dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sigma

#include <cmath>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

namespace detail {
template <class T>
void check_affine(const char* op, const var<T>& x, const var<T>& gamma, const var<T>& beta) {
  if (gamma.rows != 1 || gamma.cols != x.cols || beta.rows != 1 || beta.cols != x.cols)
    throw shape_error(std::string(op) + ": gamma " + shape_string(gamma.rows, gamma.cols) + " and beta " +
                      shape_string(beta.rows, beta.cols) + " must be [1, " + std::to_string(x.cols) + "] for input " +
                      shape_string(x.rows, x.cols));
}
}  // namespace detail

/// Layer normalization of `x` `[R, C]` with affine `gamma`, `beta` `[1, C]`.
template <class T>
var<T> layer_norm(tape<T>& t, const var<T>& x, const var<T>& gamma, const var<T>& beta, T eps = T(1e-5)) {
  detail::check_affine("layer_norm", x, gamma, beta);
  var<T> y = t.make(x.rows, x.cols);
  T* xhat = t.template scratch<T>(static_cast<std::size_t>(x.size() + x.rows));  // xhat, then inv_std
  T* inv_std = xhat + x.size();
  const_map<T> xv(x.data, x.rows, x.cols);
  map<T> xh(xhat, x.rows, x.cols);
  for (index_t i = 0; i < x.rows; ++i) {
    const T mean = xv.row(i).mean();
    const T var_ = (xv.row(i).array() - mean).square().mean();
    inv_std[i] = T(1) / std::sqrt(var_ + eps);
    xh.row(i) = ((xv.row(i).array() - mean) * inv_std[i]).matrix();
  }
  y.value() = (xh.array().rowwise() * const_map<T>(gamma.data, 1, x.cols).array().row(0) ).matrix();
  y.value().rowwise() += const_map<T>(beta.data, 1, x.cols).row(0);
  if (auto* nd = t.record("layer_norm", y, {x, gamma, beta}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const var<T>& gamma = t.input(nd, 1);
        const var<T>& beta = t.input(nd, 2);
        const T* xhat = static_cast<const T*>(nd.aux);
        const T* inv_std = xhat + nd.rows * nd.cols;
        const_map<T> g(nd.grad, nd.rows, nd.cols), xh(xhat, nd.rows, nd.cols);
        if (t.wants_grad(beta)) t.accumulate(beta, g.colwise().sum());
        if (t.wants_grad(gamma)) t.accumulate(gamma, (g.array() * xh.array()).matrix().colwise().sum());
        if (t.wants_grad(x)) {
          map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
          const auto gm = const_map<T>(gamma.data, 1, nd.cols).array().row(0);
          for (index_t i = 0; i < nd.rows; ++i) {
            const auto dxhat = (g.row(i).array() * gm).eval();
            const T m1 = dxhat.mean();
            const T m2 = (dxhat * xh.row(i).array()).mean();
            dx.row(i) = ((dxhat - m1 - xh.row(i).array() * m2) * inv_std[i]).matrix();
          }
          t.accumulate(x, dx);
        }
      }))
    nd->aux = xhat;
  return y;
}

/// Running statistics of a batch-norm layer, owned by the layer (`[1, C]` each).
template <class T>
struct batch_norm_state {
  matrix<T>* running_mean = nullptr;
  matrix<T>* running_var = nullptr;
  T momentum = T(0.1);
  T eps = T(1e-5);
};

/// Batch normalization of `x` `[B, C]`. In training mode (`t.training()`) it normalises with the
/// batch statistics (B >= 2 required) and updates the running statistics; in eval mode it uses
/// them and touches no state (safe from many threads).
template <class T>
var<T> batch_norm(tape<T>& t, const var<T>& x, const var<T>& gamma, const var<T>& beta, const batch_norm_state<T>& state) {
  detail::check_affine("batch_norm", x, gamma, beta);
  if (!state.running_mean || !state.running_var || state.running_mean->cols() != x.cols ||
      state.running_var->cols() != x.cols)
    throw shape_error("batch_norm: running statistics must be [1, " + std::to_string(x.cols) + "]");
  const bool train = t.training();
  if (train && x.rows < 2)
    throw value_error("batch_norm: training needs more than one row per batch (got " + std::to_string(x.rows) +
                      "); evaluate with an inference tape");
  var<T> y = t.make(x.rows, x.cols);
  T* saved = t.template scratch<T>(static_cast<std::size_t>(x.size() + x.cols + 1));
  map<T> xh(saved, x.rows, x.cols);
  T* inv_std = saved + x.size();
  const_map<T> xv(x.data, x.rows, x.cols);
  row_vector<T> mean, var_;
  if (train) {
    mean = xv.colwise().mean();
    var_ = (xv.rowwise() - mean).array().square().colwise().mean().matrix();
    const T n = T(x.rows);
    state.running_mean->row(0) = (T(1) - state.momentum) * state.running_mean->row(0) + state.momentum * mean;
    state.running_var->row(0) =
        (T(1) - state.momentum) * state.running_var->row(0) + state.momentum * var_ * (n / (n - T(1)));
  } else {
    mean = state.running_mean->row(0);
    var_ = state.running_var->row(0);
  }
  for (index_t j = 0; j < x.cols; ++j) inv_std[j] = T(1) / std::sqrt(var_(j) + state.eps);
  saved[x.size() + x.cols] = train ? T(1) : T(0);
  const auto is = map<T>(inv_std, 1, x.cols).array().row(0);
  xh = ((xv.rowwise() - mean).array().rowwise() * is).matrix();
  y.value() = (xh.array().rowwise() * const_map<T>(gamma.data, 1, x.cols).array().row(0)).matrix();
  y.value().rowwise() += const_map<T>(beta.data, 1, x.cols).row(0);
  if (auto* nd = t.record("batch_norm", y, {x, gamma, beta}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const var<T>& gamma = t.input(nd, 1);
        const var<T>& beta = t.input(nd, 2);
        const T* saved = static_cast<const T*>(nd.aux);
        const index_t R = nd.rows, C = nd.cols;
        const_map<T> g(nd.grad, R, C), xh(saved, R, C);
        const auto is = const_map<T>(saved + R * C, 1, C).array().row(0);
        const bool train = saved[R * C + C] != T(0);
        if (t.wants_grad(beta)) t.accumulate(beta, g.colwise().sum());
        if (t.wants_grad(gamma)) t.accumulate(gamma, (g.array() * xh.array()).matrix().colwise().sum());
        if (t.wants_grad(x)) {
          const auto gm = const_map<T>(gamma.data, 1, C).array().row(0);
          map<T> dxhat(t.grad_scratch(R * C), R, C);
          dxhat = (g.array().rowwise() * gm).matrix();
          if (train) {
            const row_vector<T> m1 = dxhat.colwise().mean();
            const row_vector<T> m2 = (dxhat.array() * xh.array()).matrix().colwise().mean();
            map<T> dx(t.grad_scratch(R * C), R, C);
            dx = (((dxhat.rowwise() - m1).array() - xh.array().rowwise() * m2.array()).rowwise() * is).matrix();
            t.accumulate(x, dx);
          } else {
            t.accumulate(x, (dxhat.array().rowwise() * is).matrix());
          }
        }
      }))
    nd->aux = saved;
  return y;
}

}  // namespace recblocks::ops
