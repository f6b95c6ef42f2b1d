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

#include <algorithm>
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
  t.out(y) = (xh.array().rowwise() * const_map<T>(gamma.data, 1, x.cols).array().row(0) ).matrix();
  t.out(y).rowwise() += const_map<T>(beta.data, 1, x.cols).row(0);
  if (auto nd = t.record("layer_norm", y, {x, gamma, beta}, +[](tape<T>& t, const tape_node<T>& nd) {
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
          for (index_t i = 0; i < nd.rows; ++i) {  // dxhat = g * gamma, never materialised
            const T m1 = (g.row(i).array() * gm).mean();
            const T m2 = (g.row(i).array() * gm * xh.row(i).array()).mean();
            dx.row(i) = ((g.row(i).array() * gm - m1 - xh.row(i).array() * m2) * inv_std[i]).matrix();
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
  // Statistics and the saved xhat live in the arena (no heap allocation per call).
  const index_t R = x.rows, C = x.cols;
  var<T> y = t.make(R, C);
  T* saved = t.template scratch<T>(static_cast<std::size_t>(x.size() + 3 * C + 1));  // xhat, inv_std, mean, var, flag
  map<T> xh(saved, R, C), inv_std(saved + R * C, 1, C), mean(saved + R * C + C, 1, C), var_(saved + R * C + 2 * C, 1, C);
  // plain loops over rows with the column loop innermost: vectorised by the compiler for any width,
  // without Eigen's per-row dispatch (which dominates at the widths of CTR towers, 8-64 columns)
  T *mu = mean.data(), *va = var_.data(), *is = inv_std.data(), *xs = xh.data(), *ys = t.out_data(y);
  const T *xd = x.data, *ga = gamma.data, *be = beta.data;
  if (train) {
    std::fill(mu, mu + C, T(0));
    std::fill(va, va + C, T(0));
    for (index_t i = 0; i < R; ++i)
      for (index_t j = 0; j < C; ++j) mu[j] += xd[i * C + j];
    for (index_t j = 0; j < C; ++j) mu[j] /= T(R);
    for (index_t i = 0; i < R; ++i)
      for (index_t j = 0; j < C; ++j) {
        const T c = xd[i * C + j] - mu[j];
        va[j] += c * c;
      }
    for (index_t j = 0; j < C; ++j) va[j] /= T(R);
    const T n = T(R);
    state.running_mean->row(0) = (T(1) - state.momentum) * state.running_mean->row(0) + state.momentum * mean;
    state.running_var->row(0) = (T(1) - state.momentum) * state.running_var->row(0) + state.momentum * var_ * (n / (n - T(1)));
  } else {
    mean = state.running_mean->row(0);
    var_ = state.running_var->row(0);
  }
  for (index_t j = 0; j < C; ++j) is[j] = T(1) / std::sqrt(va[j] + state.eps);
  saved[R * C + 3 * C] = train ? T(1) : T(0);
  for (index_t i = 0; i < R; ++i)
    for (index_t j = 0; j < C; ++j) {
      const T h = (xd[i * C + j] - mu[j]) * is[j];
      xs[i * C + j] = h;
      ys[i * C + j] = h * ga[j] + be[j];
    }
  if (auto nd = t.record("batch_norm", y, {x, gamma, beta}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const var<T>& gamma = t.input(nd, 1);
        const var<T>& beta = t.input(nd, 2);
        const T* saved = static_cast<const T*>(nd.aux);
        const index_t R = nd.rows, C = nd.cols;
        const_map<T> g(nd.grad, R, C), xh(saved, R, C), is(saved + R * C, 1, C), gm(gamma.data, 1, C);
        const bool train = saved[R * C + 3 * C] != T(0);
        // sum_g = sum_i g_i (d beta), sum_gx = sum_i g_i * xhat_i (d gamma)
        map<T> sum_g(t.grad_scratch(2 * C), 1, C), sum_gx(sum_g.data() + C, 1, C);
        T *sg = sum_g.data(), *sx = sum_gx.data();
        const T *gd = g.data(), *xd = xh.data(), *isd = is.data(), *ga = gm.data();
        std::fill(sg, sg + 2 * C, T(0));
        for (index_t i = 0; i < R; ++i)
          for (index_t j = 0; j < C; ++j) {
            sg[j] += gd[i * C + j];
            sx[j] += gd[i * C + j] * xd[i * C + j];
          }
        if (t.wants_grad(beta)) t.accumulate(beta, sum_g);
        if (t.wants_grad(gamma)) t.accumulate(gamma, sum_gx);
        if (t.wants_grad(x)) {
          // dxhat = g * gamma; train: dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) * inv_std, where
          // mean(dxhat) = gamma sum_g / R and mean(dxhat xhat) = gamma sum_gx / R; eval: dx = dxhat * inv_std
          auto [dx, first] = t.grad_slot(x);
          T* m1 = t.grad_scratch(2 * C);
          T* m2 = m1 + C;
          for (index_t j = 0; j < C; ++j) {
            m1[j] = train ? ga[j] * sg[j] / T(R) : T(0);
            m2[j] = train ? ga[j] * sx[j] / T(R) : T(0);
          }
          T* dd = dx.data();
          auto dx_ij = [&](index_t k, index_t j) { return (gd[k] * ga[j] - m1[j] - xd[k] * m2[j]) * isd[j]; };
          if (first)
            for (index_t i = 0; i < R; ++i)
              for (index_t j = 0; j < C; ++j) dd[i * C + j] = dx_ij(i * C + j, j);
          else
            for (index_t i = 0; i < R; ++i)
              for (index_t j = 0; j < C; ++j) dd[i * C + j] += dx_ij(i * C + j, j);
        }
      }))
    nd->aux = saved;
  return y;
}

}  // namespace recblocks::ops
