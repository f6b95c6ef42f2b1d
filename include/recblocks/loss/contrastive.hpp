#pragma once
/// \file contrastive.hpp
/// InfoNCE / multiple-negatives softmax loss for dense retrieval, fused (one tape node):
///
///     s(i, c) = q_i . d_c / tau
///     L = mean_i ( log sum_{c in C_i} exp(s(i, c)) - s(i, pos_i) )
///     dL/ds(i, c) = (softmax_{C_i}(s(i, .))_c - [c = pos_i]) / B
///
/// Inputs: `queries` [B, D], `positives` [B, D] (row i is the positive of instance i), `negatives`
/// [M, D] holding every instance's negatives back to back, instance i owning rows
/// `offsets[i] .. offsets[i+1]` (`offsets` has B + 1 non-decreasing entries, `offsets[0] = 0`,
/// `offsets[B] = M`; an instance may own none). Embeddings are compared by dot product: normalise
/// them first (`l2_normalize_rows`) for cosine similarity.
///
/// Candidate set C_i: the own positive, the own negatives and, with `in_batch`, every other row of
/// `positives` and `negatives` (the other instances' positives and negatives, shared across the batch,
/// as sentence-transformers' MultipleNegativesRankingLoss).
///
/// False-negative masking (`ids`, optional): with `ids.positive` (B) and `ids.negative` (M) given, a
/// candidate other than the own positive is dropped from C_i when its id equals a positive id of the
/// same query (the own positive's id and, when `ids.query` (B) is given, the positive ids of every
/// instance with the same query id). Ids < 0 are unknown and never masked (e.g. synthetic documents
/// that are in no corpus). The number of dropped candidates is reported in `contrastive_stats`.
/// An instance whose C_i is only its positive contributes 0 (and no gradient).
///
/// Defaults: temperature 0.05 (cosine similarity; the usual setting for sentence-embedding
/// fine-tuning, = sentence-transformers' scale 20). Errors: `shape_error` (mismatched shapes, offsets),
/// `value_error` (temperature <= 0 or not finite, ids of the wrong length).
/// Complexity: O(B (B + M) D) with `in_batch`, else O((B + M) D) for the scores.

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../core/tape.hpp"

namespace recblocks::loss {

/// Options of `contrastive` (see the file comment).
struct contrastive_options {
  double temperature = 0.05;
  bool in_batch = false;
};

/// Optional ids for false-negative masking (empty spans: no masking).
struct contrastive_ids {
  std::span<const index_t> query;     ///< B query ids (optional)
  std::span<const index_t> positive;  ///< B positive document ids
  std::span<const index_t> negative;  ///< M negative document ids
};

/// What one `contrastive` call saw (optional output).
struct contrastive_stats {
  index_t candidates = 0;  ///< sum over instances of |C_i| (positives included)
  index_t masked = 0;      ///< candidates dropped as false negatives
};

/// The contrastive loss (see the file comment). Returns a [1, 1] value.
template <class T>
var<T> contrastive(tape<T>& t, const var<T>& queries, const var<T>& positives, const var<T>& negatives,
                   std::span<const index_t> offsets, const contrastive_options& options = {},
                   const contrastive_ids& ids = {}, contrastive_stats* stats = nullptr) {
  const index_t B = queries.rows, D = queries.cols, M = negatives.rows;
  if (B == 0) throw shape_error("contrastive: empty batch");
  if (positives.rows != B || positives.cols != D)
    throw shape_error("contrastive: positives " + shape_string(positives.rows, positives.cols) + " for queries " +
                      shape_string(B, D));
  if (M > 0 && negatives.cols != D)
    throw shape_error("contrastive: negatives " + shape_string(M, negatives.cols) + " for queries " + shape_string(B, D));
  if (static_cast<index_t>(offsets.size()) != B + 1)
    throw shape_error("contrastive: offsets has " + std::to_string(offsets.size()) + " entries, expected B + 1 = " +
                      std::to_string(B + 1));
  if (offsets[0] != 0 || offsets[static_cast<std::size_t>(B)] != M)
    throw shape_error("contrastive: offsets must start at 0 and end at M = " + std::to_string(M) + ", got " +
                      std::to_string(offsets[0]) + " .. " + std::to_string(offsets[static_cast<std::size_t>(B)]));
  for (index_t i = 0; i < B; ++i)
    if (offsets[static_cast<std::size_t>(i + 1)] < offsets[static_cast<std::size_t>(i)])
      throw shape_error("contrastive: offsets decrease at instance " + std::to_string(i));
  if (!(options.temperature > 0.0) || !std::isfinite(options.temperature))
    throw value_error("contrastive: temperature " + std::to_string(options.temperature) + " must be a finite value > 0");
  const bool masking = !ids.positive.empty() || !ids.negative.empty() || !ids.query.empty();
  if (masking) {
    if (static_cast<index_t>(ids.positive.size()) != B)
      throw value_error("contrastive: ids.positive has " + std::to_string(ids.positive.size()) + " entries for B = " +
                        std::to_string(B));
    if (static_cast<index_t>(ids.negative.size()) != M)
      throw value_error("contrastive: ids.negative has " + std::to_string(ids.negative.size()) + " entries for M = " +
                        std::to_string(M));
    if (!ids.query.empty() && static_cast<index_t>(ids.query.size()) != B)
      throw value_error("contrastive: ids.query has " + std::to_string(ids.query.size()) + " entries for B = " +
                        std::to_string(B));
  }
  const index_t C = B + M;  // candidate columns: positives then negatives
  const T inv_tau = T(1) / static_cast<T>(options.temperature);
  // G [B, C]: dL/ds * tau * B ... kept as the softmax minus one-hot, scaled in backward
  T* g = t.template scratch<T>(static_cast<std::size_t>(B * C));
  mutable_map<T> G(g, B, C);
  G.setZero();
  const_map<T> Q(queries.data, B, D), P(positives.data, B, D);
  std::vector<unsigned char> allowed(static_cast<std::size_t>(C));
  std::vector<T> s(static_cast<std::size_t>(C));
  contrastive_stats st;
  T total = T(0);
  for (index_t i = 0; i < B; ++i) {
    const index_t n0 = offsets[static_cast<std::size_t>(i)], n1 = offsets[static_cast<std::size_t>(i + 1)];
    for (index_t c = 0; c < C; ++c) {
      bool ok;
      if (c < B) ok = c == i || options.in_batch;
      else ok = options.in_batch || (c - B >= n0 && c - B < n1);
      if (ok && masking && c != i) {
        const index_t id = c < B ? ids.positive[static_cast<std::size_t>(c)] : ids.negative[static_cast<std::size_t>(c - B)];
        if (id >= 0) {
          bool hit = false;
          for (index_t j = 0; j < B && !hit; ++j) {
            const bool same_query = j == i || (!ids.query.empty() && ids.query[static_cast<std::size_t>(j)] ==
                                                                         ids.query[static_cast<std::size_t>(i)]);
            hit = same_query && ids.positive[static_cast<std::size_t>(j)] == id;
          }
          if (hit) {
            ok = false;
            ++st.masked;
          }
        }
      }
      allowed[static_cast<std::size_t>(c)] = ok;
    }
    T m = -std::numeric_limits<T>::infinity();
    for (index_t c = 0; c < C; ++c) {
      if (!allowed[static_cast<std::size_t>(c)]) continue;
      const T v = (c < B ? P.row(c).dot(Q.row(i)) : const_map<T>(negatives.data, M, D).row(c - B).dot(Q.row(i))) * inv_tau;
      s[static_cast<std::size_t>(c)] = v;
      m = std::max(m, v);
      ++st.candidates;
    }
    T z = T(0);
    for (index_t c = 0; c < C; ++c)
      if (allowed[static_cast<std::size_t>(c)]) {
        const T e = std::exp(s[static_cast<std::size_t>(c)] - m);
        G(i, c) = e;
        z += e;
      }
    G.row(i) /= z;
    G(i, i) -= T(1);
    total += m + std::log(z) - s[static_cast<std::size_t>(i)];
  }
  if (stats) *stats = st;
  var<T> out = t.make(1, 1);
  t.out_data(out)[0] = total / T(B);
  if (auto nd = t.record("contrastive", out, {queries, positives, negatives}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& q = t.input(nd, 0);
        const var<T>& p = t.input(nd, 1);
        const var<T>& n = t.input(nd, 2);
        const index_t B = q.rows, D = q.cols, M = n.rows, C = B + M;
        const_map<T> G(static_cast<const T*>(nd.aux), B, C);
        const T scale = nd.grad[0] * nd.s0 / T(B);  // s0 = 1 / tau
        const_map<T> Q(q.data, B, D), P(p.data, B, D);
        if (tape<T>::wants_grad(q)) {
          mutable_map<T> dq(t.grad_scratch(B * D), B, D);
          dq.noalias() = G.leftCols(B) * P;
          if (M > 0) dq.noalias() += G.rightCols(M) * const_map<T>(n.data, M, D);
          dq *= scale;
          t.accumulate(q, dq);
        }
        if (tape<T>::wants_grad(p)) t.accumulate(p, (G.leftCols(B).transpose() * Q) * scale);
        if (M > 0 && tape<T>::wants_grad(n)) t.accumulate(n, (G.rightCols(M).transpose() * Q) * scale);
      })) {
    nd->aux = g;
    nd->s0 = inv_tau;
  }
  return out;
}

}  // namespace recblocks::loss
