#pragma once
/// \file scenario_transfer.hpp
/// SAR-Net's scenario-specific transfer and debias experts, as implemented by Scenario-Wise Rec
/// (Shen et al. 2021, simplified: no cross-scenario behaviour-sequence attention).
///
///     x_b   = e_b ⊙ w_{d(b)} + b_{d(b)}                        scenario-specific feature transfer
///     E_k   = BN_k(x) W_k + c_k                                 debias experts: m_c shared, m_s per scenario
///     g     = softmax(x W_g + b_g)                              over [shared experts ; experts of d(b)]
///     h_b   = sum_k g_{b,k} E_k(x_b)
///
/// The experts of every scenario run on the whole batch (their batch-norm statistics are the batch's,
/// as the reference) and each row takes its own scenario's outputs; scenario d's experts read the
/// whole batch transferred with d's scale and shift, `e ⊙ w_d + b_d`, as the reference computes them
/// (on training tapes this sets their batch statistics; a row of scenario d sees its own x_b).
/// Init: w_d xavier-uniform, b_d uniform(0, 1) (the reference).
///
/// Shapes: `e` `[B, input_dim]`, scenario ids `[B]` in `[0, scenarios)` -> `[B, expert_dim]`.
/// Errors: `value_error` for an id outside `[0, scenarios)`.
/// Thread-safety: `const` forward (batch-norm statistics change on training tapes only).

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "../../core/ops/elementwise.hpp"
#include "../../core/ops/gather.hpp"
#include "../../core/ops/mixture.hpp"
#include "../../core/ops/softmax.hpp"
#include "../../core/ops/where.hpp"
#include "../batch_norm.hpp"
#include "detail/scenario_ids.hpp"
#include "../linear.hpp"

namespace recblocks::nn {

struct scenario_transfer_options {
  index_t input_dim = 0;
  index_t scenarios = 0;
  index_t shared_experts = 8;
  index_t specific_experts = 2;  ///< per scenario
  index_t expert_dim = 16;
};

template <class T>
class scenario_transfer {
 public:
  using scalar_type = T;

  scenario_transfer(const scenario_transfer_options& opt, rng& gen);

  var<T> operator()(tape<T>& t, const var<T>& e, std::span<const index_t> scenario) const;

  index_t output_dim() const { return opt_.expert_dim; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("transfer_scale", self.scale_);
    v("transfer_shift", self.shift_);
    for (std::size_t k = 0; k < self.norms_.size(); ++k) {
      v("expert." + std::to_string(k) + ".bn", self.norms_[k]);
      v("expert." + std::to_string(k) + ".linear", self.experts_[k]);
    }
    v("gate", self.gate_);
  }

 private:
  static const scenario_transfer_options& checked(const scenario_transfer_options& opt) {
    if (opt.input_dim < 1 || opt.scenarios < 1 || opt.shared_experts < 0 || opt.specific_experts < 0 ||
        opt.shared_experts + opt.specific_experts < 1 || opt.expert_dim < 1)
      throw value_error("nn::scenario_transfer: need input_dim, scenarios, expert_dim >= 1 and at least one expert");
    return opt;
  }
  var<T> expert(tape<T>& t, std::size_t k, const var<T>& x) const { return experts_[k](t, norms_[k](t, x)); }

  scenario_transfer_options opt_;
  param<T> scale_, shift_;
  // experts [0, m_c) are shared; scenario d's j-th expert is m_c + d m_s + j
  std::vector<batch_norm<T>> norms_;
  std::vector<linear<T>> experts_;
  linear<T> gate_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
scenario_transfer<T>::scenario_transfer(const scenario_transfer_options& opt, rng& gen)
    : opt_(opt),
      gate_(checked(opt).input_dim, opt.shared_experts + opt.specific_experts, gen) {
  scale_ = param<T>("transfer_scale", opt.scenarios, opt.input_dim);
  init::xavier_uniform().apply(scale_.value(), gen, 1, opt.input_dim);
  shift_ = param<T>("transfer_shift", opt.scenarios, opt.input_dim);
  init::uniform(0.0, 1.0).apply(shift_.value(), gen, opt.scenarios, opt.input_dim);
  const index_t total = opt.shared_experts + opt.scenarios * opt.specific_experts;
  for (index_t k = 0; k < total; ++k) {
    norms_.emplace_back(opt.input_dim);
    experts_.emplace_back(opt.input_dim, opt.expert_dim, gen);
  }
}

template <class T>
var<T> scenario_transfer<T>::operator()(tape<T>& t, const var<T>& e, std::span<const index_t> scenario) const {
  if (e.cols != opt_.input_dim)
    throw shape_error("nn::scenario_transfer: input " + shape_string(e.rows, e.cols) + " but input_dim is " +
                      std::to_string(opt_.input_dim));
  detail::check_scenario_ids("nn::scenario_transfer", scenario, e.rows, opt_.scenarios);
  var<T> x = ops::add(t, ops::mul(t, e, ops::gather_rows(t, t.leaf(scale_), scenario)),
                      ops::gather_rows(t, t.leaf(shift_), scenario));
  const index_t mc = opt_.shared_experts, ms = opt_.specific_experts, N = opt_.scenarios;
  // per-call lists in the arena (valid until reset): no heap allocation
  const std::span<var<T>> pool = t.template scratch_span<var<T>>(static_cast<std::size_t>(mc + ms));
  std::size_t n_pool = 0;
  for (index_t k = 0; k < mc; ++k) pool[n_pool++] = expert(t, static_cast<std::size_t>(k), x);
  const std::span<var<T>> masks = t.template scratch_span<var<T>>(static_cast<std::size_t>(N > 1 ? N - 1 : 0));
  for (index_t d = 1; d < N; ++d) masks[static_cast<std::size_t>(d - 1)] = detail::scenario_mask(t, scenario, d, opt_.expert_dim);
  // Scenario d's experts read every row transferred with d's scale and shift (the reference's
  // `domain_input = emb * w_d + b_d` for the whole batch), so their batch-norm statistics are those
  // of the reference; a row of scenario d sees exactly x_b there.
  const std::span<var<T>> xd = t.template scratch_span<var<T>>(static_cast<std::size_t>(ms > 0 ? N : 0));
  if (ms > 0) {
    const std::span<index_t> same = t.template scratch_span<index_t>(scenario.size());
    for (index_t d = 0; d < N; ++d) {
      std::fill(same.begin(), same.end(), d);
      xd[static_cast<std::size_t>(d)] =
          N == 1 ? x : ops::add(t, ops::mul(t, e, ops::gather_rows(t, t.leaf(scale_), same)), ops::gather_rows(t, t.leaf(shift_), same));
    }
  }
  for (index_t j = 0; j < ms; ++j) {
    var<T> sel = expert(t, static_cast<std::size_t>(mc + j), xd[0]);  // scenario 0
    for (index_t d = 1; d < N; ++d)
      sel = ops::where(t, masks[static_cast<std::size_t>(d - 1)],
                       expert(t, static_cast<std::size_t>(mc + d * ms + j), xd[static_cast<std::size_t>(d)]), sel);
    pool[n_pool++] = sel;
  }
  return ops::mixture(t, ops::softmax(t, gate_(t, x)), std::span<const var<T>>(pool.data(), n_pool));
}

}  // namespace recblocks::nn
