#pragma once
/// \file attention.hpp
/// Multi-head scaled dot-product attention within each sample's group of tokens, as one op.
///
/// The rows of `q`, `k`, `v` `[B * T, d]` are B samples of T tokens each, sample-major (row b * T + i is
/// token i of sample b, the layout of a `[B, T * d]` matrix reshaped to `[B * T, d]`). Heads split the
/// columns into H slices of width d_h = d / H. For every sample b and head h, with Q, K, V the sample's
/// `[T, d_h]` blocks:
///
///     A = softmax_rows(Q K^T / sqrt(d_h))      [T, T]
///     O = A V                                   [T, d_h]   -> the output's block
///
/// Backward (A recomputed, nothing is stored): with G the output gradient block,
///
///     dV = A^T G,   dA = G V^T,   dS = A ⊙ (dA - rowsum(dA ⊙ A)),   dQ = dS K / sqrt(d_h),   dK = dS^T Q / sqrt(d_h)
///
/// Cost O(B H T^2 d_h) with no per-token tape nodes (the column-op composition it replaces recorded
/// O(H T^2) nodes per layer). Shapes: `q`, `k`, `v` `[B * T, d]` -> `[B * T, d]`.
/// Errors: `shape_error` when the shapes differ, the row count is not a multiple of `tokens`, or `d`
/// is not a multiple of `heads`.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

namespace detail {

/// One sample and head: `a` (T x T, contiguous) = softmax_rows(Q K^T * scale), where Q and K are
/// T x dh blocks with row stride `ld`. Plain loops: T and dh are small (M2M: 9 and 4), where Eigen's
/// dynamic-size product dispatch costs more than the arithmetic.
template <class T>
void attention_weights(const T* q, const T* k, index_t ld, index_t tokens, index_t dh, T scale, T* a) {
  for (index_t i = 0; i < tokens; ++i) {
    T* ai = a + i * tokens;
    T top = -std::numeric_limits<T>::infinity();
    for (index_t j = 0; j < tokens; ++j) {
      T dot = T(0);
      for (index_t c = 0; c < dh; ++c) dot += q[i * ld + c] * k[j * ld + c];
      ai[j] = dot * scale;
      top = std::max(top, ai[j]);
    }
    for (index_t j = 0; j < tokens; ++j) ai[j] -= top;
  }
  auto e = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(a, tokens * tokens);
  e = e.exp();  // vectorised over the whole block
  for (index_t i = 0; i < tokens; ++i) {
    T* ai = a + i * tokens;
    T sum = T(0);
    for (index_t j = 0; j < tokens; ++j) sum += ai[j];
    const T inv = T(1) / sum;
    for (index_t j = 0; j < tokens; ++j) ai[j] *= inv;
  }
}

}  // namespace detail

/// Per-sample multi-head attention over groups of `tokens` rows (see file docs).
template <class T>
var<T> token_attention(tape<T>& t, const var<T>& q, const var<T>& k, const var<T>& v, index_t tokens, index_t heads) {
  if (q.rows != k.rows || q.rows != v.rows || q.cols != k.cols || q.cols != v.cols)
    throw shape_error("token_attention: q " + shape_string(q.rows, q.cols) + ", k " + shape_string(k.rows, k.cols) + ", v " +
                      shape_string(v.rows, v.cols) + " must have one shape");
  if (tokens < 1 || q.rows % tokens != 0)
    throw shape_error("token_attention: " + std::to_string(q.rows) + " rows are not groups of " + std::to_string(tokens) + " tokens");
  if (heads < 1 || q.cols % heads != 0)
    throw shape_error("token_attention: width " + std::to_string(q.cols) + " is not a multiple of " + std::to_string(heads) + " heads");
  const index_t B = q.rows / tokens, d = q.cols, dh = d / heads;
  const T scale = T(1) / std::sqrt(T(dh));
  var<T> out = t.make(q.rows, q.cols);
  T* a = t.template scratch<T>(static_cast<std::size_t>(tokens * tokens));  // arena, no heap
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < heads; ++h) {
      const index_t off = b * tokens * d + h * dh;  // element (b * T, h * dh)
      detail::attention_weights(q.data + off, k.data + off, d, tokens, dh, scale, a);
      const T* vb = v.data + off;
      T* ob = t.out_data(out) + off;
      for (index_t i = 0; i < tokens; ++i) {  // O = A V
        T* oi = ob + i * d;
        for (index_t c = 0; c < dh; ++c) oi[c] = T(0);
        for (index_t j = 0; j < tokens; ++j) {
          const T w = a[i * tokens + j];
          for (index_t c = 0; c < dh; ++c) oi[c] += w * vb[j * d + c];
        }
      }
    }
  if (auto nd = t.record("token_attention", out, {q, k, v}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>&q = t.input(nd, 0), &k = t.input(nd, 1), &v = t.input(nd, 2);
        const index_t tokens = nd.i0, heads = nd.i1, d = nd.cols, dh = d / heads, B = nd.rows / tokens;
        const T scale = nd.s0;
        const bool wq = tape<T>::wants_grad(q), wk = tape<T>::wants_grad(k), wv = tape<T>::wants_grad(v);
        // q, k, v may be one node (self-attention on one input): grad_buffer then returns the same
        // buffer each time and the += below accumulates every contribution
        T* dq = wq ? t.grad_buffer(q).data() : nullptr;
        T* dk = wk ? t.grad_buffer(k).data() : nullptr;
        T* dv = wv ? t.grad_buffer(v).data() : nullptr;
        T* a = t.grad_scratch(2 * tokens * tokens);
        T* ds = a + tokens * tokens;
        for (index_t b = 0; b < B; ++b)
          for (index_t h = 0; h < heads; ++h) {
            const index_t off = b * tokens * d + h * dh;
            const T *qb = q.data + off, *kb = k.data + off, *vb = v.data + off, *g = nd.grad + off;
            detail::attention_weights(qb, kb, d, tokens, dh, scale, a);
            if (wv)  // dV = A^T G
              for (index_t i = 0; i < tokens; ++i)
                for (index_t j = 0; j < tokens; ++j) {
                  const T w = a[i * tokens + j];
                  for (index_t c = 0; c < dh; ++c) dv[off + j * d + c] += w * g[i * d + c];
                }
            if (!wq && !wk) continue;
            for (index_t i = 0; i < tokens; ++i) {  // dS = A * (G V^T - rowdot) * scale
              T dot = T(0);
              for (index_t j = 0; j < tokens; ++j) {
                T gv = T(0);
                for (index_t c = 0; c < dh; ++c) gv += g[i * d + c] * vb[j * d + c];
                ds[i * tokens + j] = gv;
                dot += gv * a[i * tokens + j];
              }
              for (index_t j = 0; j < tokens; ++j) ds[i * tokens + j] = a[i * tokens + j] * (ds[i * tokens + j] - dot) * scale;
            }
            for (index_t i = 0; i < tokens; ++i)
              for (index_t j = 0; j < tokens; ++j) {
                const T w = ds[i * tokens + j];
                if (wq)  // dQ = dS K
                  for (index_t c = 0; c < dh; ++c) dq[off + i * d + c] += w * kb[j * d + c];
                if (wk)  // dK = dS^T Q
                  for (index_t c = 0; c < dh; ++c) dk[off + j * d + c] += w * qb[i * d + c];
              }
          }
      })) {
    nd->i0 = tokens;
    nd->i1 = heads;
    nd->s0 = scale;
  }
  return out;
}

}  // namespace recblocks::ops
