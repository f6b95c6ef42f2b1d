#pragma once
/// \file masked_attention.hpp
/// Multi-head scaled dot-product self-attention over variable-length sequences, one op with a
/// hand-written backward. Two layouts of the rows of `q`, `k`, `v` `[R, d]` (heads split the columns
/// into H slices of width d_h = d / H):
///
/// * `masked_attention(t, q, k, v, T, lengths, H)`: padded, B sequences of T rows each (R = B T); sequence b
///   has `lengths[b]` real tokens first, then padding. The key-padding mask keeps padded keys out of
///   every softmax, and padded query rows produce 0 (their gradient is 0).
/// * `packed_attention(t, q, k, v, offsets, H)`: packed, no padding at all; sequence s is rows
///   `[offsets[s], offsets[s + 1])`. This is what a variable-length batch should use: nothing is
///   computed for padding.
///
/// For every sequence with real rows Q, K, V `[L, d_h]` (one head):
///
///     P = softmax_rows(Q K^T / sqrt(d_h) + C)      [L, L]   (only real keys)
///     P' = P ⊙ M                                  M: inverted-dropout mask (training, p > 0), else 1
///     O = P' V                                     [L, d_h]
///
/// `C` is 0, or with `causal = true` the causal mask of a decoder (GPT, SASRec): C_ij = -inf for j > i,
/// so position i attends to positions 0..i of its own sequence only (P_ij = 0 above the diagonal; the
/// backward below is unchanged, since dS_ij = P_ij (...) = 0 there).
///
/// Backward (P saved when recording): with G the output gradient block,
///
///     dV = P'^T G,   dP = (G V^T) ⊙ M,   dS = P ⊙ (dP - rowsum(dP ⊙ P)) / sqrt(d_h),   dQ = dS K,   dK = dS^T Q
///
/// Cost O(sum_s L_s^2 d) as GEMMs (OpenBLAS with `recblocks::blas`, else Eigen); memory when recording:
/// sum_s H L_s^2 saved probabilities (and the mask under dropout). Errors: `shape_error` when the
/// shapes differ, `d % H != 0`, or the lengths/offsets do not fit the rows; `value_error` for a
/// dropout probability outside [0, 1). A sequence of length 0 produces nothing.
/// Thread-safety: everything lives in the tape's arena; no heap allocation after warm-up.

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <span>
#include <string>

#include "../gemm.hpp"
#include "../tape.hpp"

namespace recblocks::ops {

namespace detail {

/// `C = alpha op(A) op(B) + beta C` on row-major memory with leading dimensions (row strides).
template <class T>
void strided_gemm(bool ta, bool tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
                  index_t ldb, T beta, T* c, index_t ldc) {
  if (m == 0 || n == 0) return;
#if defined(RECBLOCKS_USE_CBLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (m * n * k >= 4096) {
      const auto tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, tra, trb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
      else
        cblas_dgemm(CblasRowMajor, tra, trb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
      return;
    }
  }
#endif
  using cmap = Eigen::Map<const matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
  using mmap = Eigen::Map<matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
  mmap cm(c, m, n, Eigen::OuterStride<>(ldc));
  const index_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  cmap am(a, ar, ac, Eigen::OuterStride<>(lda)), bm(b, br, bc, Eigen::OuterStride<>(ldb));
  if (beta == T(0)) cm.setZero();
  else if (beta != T(1)) cm *= beta;
  if (!ta && !tb) cm.noalias() += alpha * am * bm;
  else if (ta && !tb) cm.noalias() += alpha * am.transpose() * bm;
  else if (!ta && tb) cm.noalias() += alpha * am * bm.transpose();
  else cm.noalias() += alpha * am.transpose() * bm.transpose();
}

/// Row-wise softmax of `s` `[L, L]` in place.
template <class T>
void softmax_rows_inplace(T* s, index_t L) {
  for (index_t i = 0; i < L; ++i) {
    auto row = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>(s + i * L, L);
    row = (row - row.maxCoeff()).exp();
    row *= T(1) / row.sum();
  }
}

/// What a recorded attention node keeps (in the arena).
template <class T>
struct attention_saved {
  const index_t* starts = nullptr;
  const index_t* lens = nullptr;
  index_t segments = 0;
  index_t heads = 0;
  index_t max_len = 0;
  T scale = T(1);
  T* probs = nullptr;  // per segment and head: [L, L] softmax probabilities (before dropout)
  T* mask = nullptr;   // the same layout: dropout multipliers (0 or 1 / (1 - p)), or null
};

template <class T>
var<T> segment_attention(tape<T>& t, const char* op, const var<T>& q, const var<T>& k, const var<T>& v, const index_t* starts_in,
                         const index_t* lens_in, index_t segments, index_t heads, T dropout, bool causal = false) {
  const index_t d = q.cols, dh = d / heads;
  const T scale = T(1) / std::sqrt(T(dh));
  const bool drop = dropout > T(0) && t.training();
  const bool keep = t.recording() && (q.tracked() || k.tracked() || v.tracked());
  var<T> out = t.make(q.rows, d);
  t.out(out).setZero();  // rows outside every sequence (padding) stay 0
  index_t max_len = 0, total = 0;
  for (index_t s = 0; s < segments; ++s) {
    max_len = std::max(max_len, lens_in[s]);
    total += heads * lens_in[s] * lens_in[s];
  }
  auto* saved = t.template scratch<attention_saved<T>>(1);
  *saved = attention_saved<T>{};
  index_t* starts = t.template scratch<index_t>(static_cast<std::size_t>(2 * segments));
  index_t* lens = starts + segments;
  std::copy(starts_in, starts_in + segments, starts);
  std::copy(lens_in, lens_in + segments, lens);
  T* probs = keep ? t.template scratch<T>(static_cast<std::size_t>(total)) : t.template scratch<T>(static_cast<std::size_t>(max_len * max_len));
  T* mask = drop ? t.template scratch<T>(static_cast<std::size_t>(keep ? total : max_len * max_len)) : nullptr;
  T* dropped = drop ? t.template scratch<T>(static_cast<std::size_t>(max_len * max_len)) : nullptr;
  std::bernoulli_distribution keep_dist(1.0 - double(dropout));
  const T inv_keep = drop ? T(1) / (T(1) - dropout) : T(1);
  index_t off = 0;
  for (index_t s = 0; s < segments; ++s) {
    const index_t L = lens[s], row0 = starts[s];
    for (index_t h = 0; h < heads; ++h) {
      if (L == 0) continue;
      T* p = probs + (keep ? off : 0);
      const T* qb = q.data + row0 * d + h * dh;
      const T* kb = k.data + row0 * d + h * dh;
      const T* vb = v.data + row0 * d + h * dh;
      strided_gemm<T>(false, true, L, L, dh, scale, qb, d, kb, d, T(0), p, L);  // S = Q K^T / sqrt(dh)
      if (causal)
        for (index_t i = 0; i + 1 < L; ++i) std::fill(p + i * L + i + 1, p + (i + 1) * L, -std::numeric_limits<T>::infinity());
      softmax_rows_inplace(p, L);
      const T* pv = p;
      if (drop) {
        T* m = mask + (keep ? off : 0);
        auto& eng = t.rng().engine();
        for (index_t e = 0; e < L * L; ++e) {
          m[e] = keep_dist(eng) ? inv_keep : T(0);
          dropped[e] = p[e] * m[e];
        }
        pv = dropped;
      }
      strided_gemm<T>(false, false, L, dh, L, T(1), pv, L, vb, d, T(0), t.out_data(out) + row0 * d + h * dh, d);  // O = P' V
      off += L * L;
    }
  }
  saved->starts = starts;
  saved->lens = lens;
  saved->segments = segments;
  saved->heads = heads;
  saved->max_len = max_len;
  saved->scale = scale;
  saved->probs = probs;
  saved->mask = drop ? mask : nullptr;
  if (auto nd = t.record(op, out, {q, k, v}, +[](tape<T>& t, const tape_node<T>& nd) {
        const auto& sv = *static_cast<const attention_saved<T>*>(nd.aux);
        const var<T>&q = t.input(nd, 0), &k = t.input(nd, 1), &v = t.input(nd, 2);
        const index_t d = nd.cols, heads = sv.heads, dh = d / heads;
        const bool wq = tape<T>::wants_grad(q), wk = tape<T>::wants_grad(k), wv = tape<T>::wants_grad(v);
        // q, k, v may be one node: grad_buffer returns one zero-initialised buffer and every write adds
        T* dq = wq ? t.grad_buffer(q).data() : nullptr;
        T* dk = wk ? t.grad_buffer(k).data() : nullptr;
        T* dv = wv ? t.grad_buffer(v).data() : nullptr;
        T* dp = t.grad_scratch(2 * sv.max_len * sv.max_len);
        T* pd = dp + sv.max_len * sv.max_len;
        index_t off = 0;
        for (index_t s = 0; s < sv.segments; ++s) {
          const index_t L = sv.lens[s], row0 = sv.starts[s];
          for (index_t h = 0; h < heads; ++h) {
            if (L == 0) continue;
            const T* p = sv.probs + off;
            const T* m = sv.mask ? sv.mask + off : nullptr;
            const index_t base = row0 * d + h * dh;
            const T* g = nd.grad + base;
            const T* pv = p;
            if (m) {
              for (index_t e = 0; e < L * L; ++e) pd[e] = p[e] * m[e];
              pv = pd;
            }
            if (wv) strided_gemm<T>(true, false, L, dh, L, T(1), pv, L, g, d, T(1), dv + base, d);  // dV += P'^T G
            if (wq || wk) {
              strided_gemm<T>(false, true, L, L, dh, T(1), g, d, v.data + base, d, T(0), dp, L);  // dP' = G V^T
              for (index_t i = 0; i < L; ++i) {
                T* dpi = dp + i * L;
                const T* pi = p + i * L;
                if (m)
                  for (index_t j = 0; j < L; ++j) dpi[j] *= m[i * L + j];
                T dot = T(0);
                for (index_t j = 0; j < L; ++j) dot += dpi[j] * pi[j];
                for (index_t j = 0; j < L; ++j) dpi[j] = pi[j] * (dpi[j] - dot) * sv.scale;
              }
              if (wq) strided_gemm<T>(false, false, L, dh, L, T(1), dp, L, k.data + base, d, T(1), dq + base, d);  // dQ += dS K
              if (wk) strided_gemm<T>(true, false, L, dh, L, T(1), dp, L, q.data + base, d, T(1), dk + base, d);  // dK += dS^T Q
            }
            off += L * L;
          }
        }
      }))
    nd->aux = saved;
  return out;
}

template <class T>
void check_qkv(const char* op, const var<T>& q, const var<T>& k, const var<T>& v, index_t heads) {
  if (q.rows != k.rows || q.rows != v.rows || q.cols != k.cols || q.cols != v.cols)
    throw shape_error(std::string(op) + ": q " + shape_string(q.rows, q.cols) + ", k " + shape_string(k.rows, k.cols) + ", v " +
                      shape_string(v.rows, v.cols) + " must have one shape");
  if (heads < 1 || q.cols % heads != 0)
    throw shape_error(std::string(op) + ": width " + std::to_string(q.cols) + " is not a multiple of " + std::to_string(heads) + " heads");
}

template <class T>
void check_dropout(const char* op, T p) {
  if (!(p >= T(0) && p < T(1))) throw value_error(std::string(op) + ": dropout must lie in [0, 1), got " + std::to_string(double(p)));
}

}  // namespace detail

/// Padded layout: `q`, `k`, `v` `[B * tokens, d]`, `lengths` `[B]` real tokens per sequence (key-padding
/// mask), optional attention dropout `p` in training, optional causal mask -> `[B * tokens, d]`, padded
/// rows 0 (see file docs).
template <class T>
var<T> masked_attention(tape<T>& t, const var<T>& q, const var<T>& k, const var<T>& v, index_t tokens,
                        std::span<const index_t> lengths, index_t heads, T dropout = T(0), bool causal = false) {
  detail::check_qkv("masked_attention", q, k, v, heads);
  detail::check_dropout("masked_attention", dropout);
  const auto B = static_cast<index_t>(lengths.size());
  if (tokens < 1 || q.rows != B * tokens)
    throw shape_error("masked_attention: " + std::to_string(q.rows) + " rows are not " + std::to_string(B) + " sequences of " +
                      std::to_string(tokens) + " tokens");
  index_t* starts = t.template scratch<index_t>(static_cast<std::size_t>(B));
  for (index_t b = 0; b < B; ++b) {
    const index_t L = lengths[static_cast<std::size_t>(b)];
    if (L < 0 || L > tokens)
      throw shape_error("masked_attention: length " + std::to_string(L) + " of sequence " + std::to_string(b) + " is outside [0, " +
                        std::to_string(tokens) + "]");
    starts[b] = b * tokens;
  }
  return detail::segment_attention(t, causal ? "masked_attention_causal" : "masked_attention", q, k, v, starts, lengths.data(), B,
                                   heads, dropout, causal);
}

/// Packed layout: sequence s is rows `[offsets[s], offsets[s + 1])` of `q`, `k`, `v` `[R, d]`; `offsets`
/// non-decreasing from 0 to R, optional causal mask -> `[R, d]` (see file docs).
template <class T>
var<T> packed_attention(tape<T>& t, const var<T>& q, const var<T>& k, const var<T>& v, std::span<const index_t> offsets,
                        index_t heads, T dropout = T(0), bool causal = false) {
  detail::check_qkv("packed_attention", q, k, v, heads);
  detail::check_dropout("packed_attention", dropout);
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != q.rows)
    throw shape_error("packed_attention: offsets must run from 0 to the row count " + std::to_string(q.rows));
  const auto S = static_cast<index_t>(offsets.size()) - 1;
  index_t* lens = t.template scratch<index_t>(static_cast<std::size_t>(S));
  for (index_t s = 0; s < S; ++s) {
    lens[s] = offsets[static_cast<std::size_t>(s + 1)] - offsets[static_cast<std::size_t>(s)];
    if (lens[s] < 0)
      throw shape_error("packed_attention: offsets must be non-decreasing (offset " + std::to_string(s + 1) + ")");
  }
  return detail::segment_attention(t, causal ? "packed_attention_causal" : "packed_attention", q, k, v, offsets.data(), lens, S,
                                   heads, dropout, causal);
}

}  // namespace recblocks::ops
