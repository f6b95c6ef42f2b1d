#pragma once
/// \file sequence.hpp
/// Ops on padded sequence batches: per-sample (grouped) matrix products, a masked row softmax and a
/// masked mean over rows. They are the primitives that target attention and co-attention are
/// composed from (`nn::target_attention`, `nn::co_attention`).
///
/// Layout: a batch of G padded sequences of M positions is a `[G * M, d]` matrix, sample-major (row
/// g * M + i is position i of sample g). Lengths say how many leading positions of each sample are
/// real; the others are padding.
///
///     group_matmul(A [G*M, K], B, G, tb):  C_g = A_g B_g^T  (B [G*N, K], tb = true)  -> [G*M, N]
///                                          C_g = A_g B_g    (B [G*K, N], tb = false) -> [G*M, N]
///         backward: dA_g += G_g op(B_g)^T;  dB_g += (A_g^T G_g  or  G_g^T A_g)
///     masked_softmax(X [G*M, N], G, row_len, col_len):
///         y_{g i j} = exp(x_gij - m) / sum_{k < col_len_g} exp(x_gik - m)   for i < row_len_g, j < col_len_g
///         y = 0 elsewhere (a row with no valid column, or a padded row: zeros, never NaN)
///         backward: dx = y * (g - rowsum(g * y))   (zero where y is masked)
///     group_transpose(X [G*M, N], G):     Y_g = X_g^T  -> [G*N, M];  backward: dX_g += dY_g^T
///     masked_mean(X [G*M, K], G, len): y_g = (1 / len_g) sum_{i < len_g} x_{g i}  -> [G, K]; len_g = 0 -> 0
///         backward: dx_{g i} = g_g / len_g for i < len_g, else 0
///
/// Errors: `shape_error` when rows are not a multiple of G or operand shapes do not fit;
/// `value_error` naming the op, the sample and the value for a length outside [0, M] (or [0, N]).
/// Complexity: group_matmul O(G M N K); the others O(size). Thread-safety: like every op.

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

namespace detail {

inline void check_groups(const char* op, index_t rows, index_t groups) {
  if (groups < 1 || rows % groups != 0)
    throw shape_error(std::string(op) + ": " + std::to_string(rows) + " rows are not " + std::to_string(groups) +
                      " equal groups");
}

/// Copies `len` (G values, each in [0, limit]; empty = all `limit`) into arena memory.
template <class T>
index_t* saved_lengths(tape<T>& t, const char* op, const char* what, std::span<const index_t> len, index_t groups,
                       index_t limit) {
  if (!len.empty() && static_cast<index_t>(len.size()) != groups)
    throw shape_error(std::string(op) + ": " + what + " has " + std::to_string(len.size()) + " entries for " +
                      std::to_string(groups) + " samples");
  index_t* out = t.template scratch<index_t>(static_cast<std::size_t>(groups));
  for (index_t g = 0; g < groups; ++g) {
    const index_t l = len.empty() ? limit : len[static_cast<std::size_t>(g)];
    if (l < 0 || l > limit)
      throw value_error(std::string(op) + ": " + what + " of sample " + std::to_string(g) + " is " + std::to_string(l) +
                        ", outside [0, " + std::to_string(limit) + "]");
    out[g] = l;
  }
  return out;
}

}  // namespace detail

/// Per-sample product of the `groups` blocks of `a` and `b` (see file docs).
template <class T>
var<T> group_matmul(tape<T>& t, const var<T>& a, const var<T>& b, index_t groups, bool tb) {
  detail::check_groups("group_matmul (a)", a.rows, groups);
  detail::check_groups("group_matmul (b)", b.rows, groups);
  const index_t M = a.rows / groups, K = a.cols;
  const index_t kb = tb ? b.cols : b.rows / groups, N = tb ? b.rows / groups : b.cols;
  if (kb != K)
    throw shape_error("group_matmul: per-sample blocks " + shape_string(M, K) + " and " +
                      (tb ? shape_string(N, b.cols) + "^T" : shape_string(b.rows / groups, N)) + " do not fit");
  var<T> c = t.make(groups * M, N);
  T* out = t.out_data(c);
  const index_t bs = (b.rows / groups) * b.cols;  // elements per sample block of b
  for (index_t g = 0; g < groups; ++g) {
    const_map<T> ag(a.data + g * M * K, M, K), bg(b.data + g * bs, b.rows / groups, b.cols);
    mutable_map<T> cg(out + g * M * N, M, N);
    if (tb) cg.noalias() = ag * bg.transpose();
    else cg.noalias() = ag * bg;
  }
  if (auto nd = t.record("group_matmul", c, {a, b}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>&a = t.input(nd, 0), &b = t.input(nd, 1);
        const index_t groups = nd.i0;
        const bool tb = nd.i1 != 0;
        const index_t M = a.rows / groups, K = a.cols, N = nd.cols, Rb = b.rows / groups, bs = Rb * b.cols;
        const bool wa = tape<T>::wants_grad(a), wb = tape<T>::wants_grad(b);
        T* da = wa ? t.grad_buffer(a).data() : nullptr;
        T* db = wb ? t.grad_buffer(b).data() : nullptr;
        for (index_t g = 0; g < groups; ++g) {
          const_map<T> gg(nd.grad + g * M * N, M, N), ag(a.data + g * M * K, M, K), bg(b.data + g * bs, Rb, b.cols);
          if (wa) {
            mutable_map<T> dag(da + g * M * K, M, K);
            if (tb) dag.noalias() += gg * bg;
            else dag.noalias() += gg * bg.transpose();
          }
          if (wb) {
            mutable_map<T> dbg(db + g * bs, Rb, b.cols);
            if (tb) dbg.noalias() += gg.transpose() * ag;
            else dbg.noalias() += ag.transpose() * gg;
          }
        }
      })) {
    nd->i0 = groups;
    nd->i1 = tb ? 1 : 0;
  }
  return c;
}

/// Per-sample transpose of the `groups` blocks of `x` `[G * M, N]` -> `[G * N, M]` (see file docs).
template <class T>
var<T> group_transpose(tape<T>& t, const var<T>& x, index_t groups) {
  detail::check_groups("group_transpose", x.rows, groups);
  const index_t M = x.rows / groups, N = x.cols;
  var<T> y = t.make(groups * N, M);
  T* out = t.out_data(y);
  for (index_t g = 0; g < groups; ++g) mutable_map<T>(out + g * N * M, N, M) = const_map<T>(x.data + g * M * N, M, N).transpose();
  if (auto nd = t.record("group_transpose", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const index_t groups = nd.i0, M = x.rows / groups, N = x.cols;
        T* dx = t.grad_buffer(x).data();
        for (index_t g = 0; g < groups; ++g)
          mutable_map<T>(dx + g * M * N, M, N) += const_map<T>(nd.grad + g * N * M, N, M).transpose();
      }))
    nd->i0 = groups;
  return y;
}

/// Softmax over the first `col_len[g]` columns of the first `row_len[g]` rows of each sample block,
/// zeros elsewhere (see file docs). Empty `row_len` / `col_len`: every row / column is valid.
template <class T>
var<T> masked_softmax(tape<T>& t, const var<T>& x, index_t groups, std::span<const index_t> row_len,
                      std::span<const index_t> col_len) {
  detail::check_groups("masked_softmax", x.rows, groups);
  const index_t M = x.rows / groups, N = x.cols;
  const index_t* rl = detail::saved_lengths(t, "masked_softmax", "row length", row_len, groups, M);
  const index_t* cl = detail::saved_lengths(t, "masked_softmax", "column length", col_len, groups, N);
  var<T> y = t.make(x.rows, x.cols);
  T* out = t.out_data(y);
  for (index_t g = 0; g < groups; ++g)
    for (index_t i = 0; i < M; ++i) {
      const T* xi = x.data + (g * M + i) * N;
      T* yi = out + (g * M + i) * N;
      const index_t n = i < rl[g] ? cl[g] : 0;
      T top = -std::numeric_limits<T>::infinity();
      for (index_t j = 0; j < n; ++j) top = std::max(top, xi[j]);
      T sum = T(0);
      for (index_t j = 0; j < n; ++j) sum += (yi[j] = std::exp(xi[j] - top));
      for (index_t j = 0; j < n; ++j) yi[j] /= sum;
      for (index_t j = n; j < N; ++j) yi[j] = T(0);
    }
  t.record("masked_softmax", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    const_map<T> g(nd.grad, nd.rows, nd.cols), y(nd.value, nd.rows, nd.cols);
    mutable_map<T> dx(t.grad_scratch(nd.rows * nd.cols), nd.rows, nd.cols);
    for (index_t i = 0; i < nd.rows; ++i) {
      const T dot = g.row(i).dot(y.row(i));
      dx.row(i) = (y.row(i).array() * (g.row(i).array() - dot)).matrix();
    }
    t.accumulate(x, dx);
  });
  return y;
}

/// Mean of the first `len[g]` rows of each sample block of `x` `[G * M, K]` -> `[G, K]`; zeros for
/// an empty sample (see file docs).
template <class T>
var<T> masked_mean(tape<T>& t, const var<T>& x, index_t groups, std::span<const index_t> len) {
  detail::check_groups("masked_mean", x.rows, groups);
  const index_t M = x.rows / groups, K = x.cols;
  index_t* l = detail::saved_lengths(t, "masked_mean", "length", len, groups, M);
  var<T> y = t.make(groups, K);
  mutable_map<T> yv = t.out(y);
  for (index_t g = 0; g < groups; ++g) {
    if (l[g] == 0) {
      yv.row(g).setZero();
      continue;
    }
    yv.row(g) = const_map<T>(x.data + g * M * K, l[g], K).colwise().sum() / T(l[g]);
  }
  if (auto nd = t.record("masked_mean", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const index_t groups = nd.rows, K = nd.cols, M = x.rows / groups;
        const index_t* l = static_cast<const index_t*>(nd.aux);
        auto dx = t.grad_buffer(x);
        for (index_t g = 0; g < groups; ++g) {
          if (l[g] == 0) continue;
          const Eigen::Matrix<T, 1, Eigen::Dynamic> gg = const_map<T>(nd.grad + g * K, 1, K) / T(l[g]);
          for (index_t i = 0; i < l[g]; ++i) dx.row(g * M + i) += gg;
        }
      }))
    nd->aux = l;
  return y;
}

}  // namespace recblocks::ops
