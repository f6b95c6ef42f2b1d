#pragma once
/// \file rank_guided_mask.hpp
/// `featsel::rank_guided_mask<T>`: AltFS/SELF's bridge (papers.md §3, stage 2) as a
/// `models::field_gate`: a learnable vector w ∈ R^K over K field rankings and rank-guided masking of
/// the field embeddings during training.
///
///     π = softmax(w / τ)                                           (τ = 4 by default)
///     per training batch and ranking k: r_k ~ U{0, ..., floor(β N)} (β = 0.2 by default),
///         m_{k,f} = 0 for the r_k fields ranked last by ranking k, else 1
///     gate_f = Σ_k π_k m_{k,f}                                      ([1, N], broadcast over the batch)
///     after training: h*_f = Σ_k π_k (1 − t_k(f) / N)               (t_k(f): 0-based position in ranking k)
///
/// The paper masks each batch "following one LLM's ranking" and weights the unmasked embeddings by
/// w; how masks and weights combine across rankings is not public (UNVERIFIED in papers.md). This
/// block uses the soft mixture above, which makes w differentiable: a ranking whose masks drop
/// useful fields raises the loss, so its weight falls. On an inference tape the gate is all ones (no
/// masking). The draws use the tape's generator, so a gradient check (which re-seeds it) is exact.
///
/// Parameters: `w` `[1, K]`, zeros at construction (uniform π).
/// Requires: every ranking is a permutation of the schema's selectable fields, K >= 1, τ > 0,
/// β in [0, 1). Errors: `value_error` naming the ranking / option otherwise.
/// Thread-safety: `gate` is const and draws from the caller's tape.

#include <cmath>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/ops/softmax.hpp"
#include "../core/param.hpp"
#include "../models/field_gate.hpp"
#include "feature_ranking.hpp"

namespace recblocks::featsel {

struct rank_guided_mask_options {
  double tau = 4.0;   ///< softmax temperature over w
  double beta = 0.2;  ///< maximum masked share of the fields
};

template <class T>
class rank_guided_mask : public models::field_gate<T> {
 public:
  using scalar_type = T;

  rank_guided_mask(const data::schema& s, std::vector<feature_ranking> rankings, rank_guided_mask_options options = {});

  var<T> gate(tape<T>& t, const data::batch<T>& b) const override;

  /// softmax(w / τ), one weight per ranking.
  std::vector<double> weights() const;
  /// h* per field, in `selectable_fields` order.
  std::vector<double> scores() const;
  /// The fields ordered by h* (ties, up to 1e-12: the first ranking's order), policy "bridge".
  feature_ranking ranking() const;

  const std::vector<feature_ranking>& rankings() const { return rankings_; }
  param<T>& w() { return w_; }
  const param<T>& w() const { return w_; }

  template <class Self, class V>
  static void visit(Self& self, V& v) { v("w", self.w_); }

 private:
  std::vector<std::string> fields_;
  std::vector<feature_ranking> rankings_;
  std::vector<std::vector<index_t>> columns_;  // per ranking: gate columns in ranked order
  rank_guided_mask_options options_;
  index_t width_;                              // S + D
  param<T> w_;
};

template <class T>
rank_guided_mask<T>::rank_guided_mask(const data::schema& s, std::vector<feature_ranking> rankings, rank_guided_mask_options options)
    : fields_(selectable_fields(s)), rankings_(std::move(rankings)), options_(options),
      width_(s.sparse_count() + s.dense_count()), w_("w", 1, static_cast<index_t>(rankings_.size())) {
  const std::string where = "featsel::rank_guided_mask: ";
  if (rankings_.empty()) throw value_error(where + "needs at least one ranking (K >= 1)");
  if (!(options_.tau > 0) || !std::isfinite(options_.tau)) throw value_error(where + "tau = " + std::to_string(options_.tau) + " must be > 0");
  if (!(options_.beta >= 0 && options_.beta < 1)) throw value_error(where + "beta = " + std::to_string(options_.beta) + " must lie in [0, 1)");
  for (const auto& r : rankings_) {
    r.check(s);
    std::vector<index_t> cols;
    for (const auto& name : r.order) cols.push_back(gate_column(s, name));
    columns_.push_back(std::move(cols));
  }
}

template <class T>
var<T> rank_guided_mask<T>::gate(tape<T>& t, const data::batch<T>&) const {
  if (!t.training()) {
    var<T> ones = t.make(1, width_);
    t.out(ones).setOnes();
    return ones;
  }
  const index_t K = static_cast<index_t>(rankings_.size());
  const index_t N = static_cast<index_t>(fields_.size());
  const index_t r_max = static_cast<index_t>(std::floor(options_.beta * double(N)));
  var<T> m = t.make(K, width_);
  auto mv = t.out(m);
  mv.setOnes();
  for (index_t k = 0; k < K; ++k) {
    const index_t r = r_max > 0 ? t.rng().integer(0, r_max) : 0;
    for (index_t p = N - r; p < N; ++p) mv(k, columns_[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)]) = T(0);
  }
  const var<T> pi = ops::softmax(t, ops::mul_scalar(t, t.leaf(w_), T(1.0 / options_.tau)));
  return ops::matmul(t, pi, m);
}

template <class T>
std::vector<double> rank_guided_mask<T>::weights() const {
  const index_t K = w_.cols();
  std::vector<double> p(static_cast<std::size_t>(K));
  double mx = -1e300, z = 0;
  for (index_t k = 0; k < K; ++k) mx = std::max(mx, double(w_.value()(0, k)) / options_.tau);
  for (index_t k = 0; k < K; ++k) z += p[static_cast<std::size_t>(k)] = std::exp(double(w_.value()(0, k)) / options_.tau - mx);
  for (auto& x : p) x /= z;
  return p;
}

template <class T>
std::vector<double> rank_guided_mask<T>::scores() const {
  const auto pi = weights();
  const double N = double(fields_.size());
  std::vector<double> h(fields_.size(), 0.0);
  for (std::size_t f = 0; f < fields_.size(); ++f)
    for (std::size_t k = 0; k < rankings_.size(); ++k)
      h[f] += pi[k] * (1.0 - double(rankings_[k].position(fields_[f])) / N);
  return h;
}

template <class T>
feature_ranking rank_guided_mask<T>::ranking() const {
  const auto h = scores();
  std::vector<std::size_t> idx(fields_.size());
  for (std::size_t f = 0; f < idx.size(); ++f) idx[f] = f;
  const auto& first = rankings_.front();
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    if (std::abs(h[a] - h[b]) > 1e-12) return h[a] > h[b];  // equal up to rounding: a tie
    return first.position(fields_[a]) < first.position(fields_[b]);
  });
  feature_ranking r;
  r.policy = "bridge";
  for (std::size_t i : idx) r.order.push_back(fields_[i]), r.scores.push_back(h[i]);
  for (const auto& k : rankings_) r.fallbacks += k.fallbacks;
  return r;
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class rank_guided_mask<float>;
#endif

}  // namespace recblocks::featsel
