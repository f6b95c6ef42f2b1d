#pragma once
/// \file partitioned_norm.hpp
/// STAR's partitioned normalization (Sheng et al. 2021): one normalization with a shared and a
/// per-scenario affine transform.
///
///     xhat = (x - mu) / sqrt(sigma^2 + eps)
///     y_b  = (gamma ⊙ gamma_{d(b)}) ⊙ xhat_b + (beta + beta_{d(b)})
///
/// `mu`, `sigma^2` are the statistics of the whole batch on training tapes (as Scenario-Wise Rec) and
/// running averages (momentum 0.1, PyTorch convention) on inference tapes. gamma = 1, beta = 0 initially.
///
/// Shapes: `x` `[B, dim]`, scenario ids `[B]` in `[0, scenarios)` -> `[B, dim]`.
/// Errors: `value_error` for an id outside `[0, scenarios)`; training tapes need `B >= 2`.
/// Thread-safety: `const` forward; the running statistics change on training tapes only.

#include <span>
#include <string>

#include "../../core/ops/elementwise.hpp"
#include "../../core/ops/gather.hpp"
#include "../../core/ops/normalization.hpp"
#include "detail/scenario_ids.hpp"
#include "../column_affine.hpp"
#include "../module.hpp"

namespace recblocks::nn {

template <class T>
class partitioned_norm {
 public:
  using scalar_type = T;

  partitioned_norm(index_t dim, index_t scenarios, T eps = T(1e-6), T momentum = T(0.1));

  var<T> operator()(tape<T>& t, const var<T>& x, std::span<const index_t> scenario) const;

  /// The two halves of `operator()`: `normalize` gives xhat `[B, dim]` (batch statistics on
  /// training tapes, updating the running ones once), `affine` applies row b's scenario affine
  /// (`scenario[b]`) to it. STAR's reference loop normalises once and applies scenario d's affine to
  /// every row for head d: `affine(t, xhat, ids all equal to d)`.
  var<T> normalize(tape<T>& t, const var<T>& x) const;
  var<T> affine(tape<T>& t, const var<T>& xhat, std::span<const index_t> scenario) const;

  /// Scenario `d`'s rows on an inference tape as a per-column map (running statistics; a snapshot of
  /// the current parameters), `[1, dim]` each:
  ///
  ///     y = a_d ⊙ x + c_d,   a_d = (gamma ⊙ gamma_d) / sqrt(running_var + eps),   c_d = (beta + beta_d) - a_d ⊙ running_mean
  ///
  /// What STAR's bf16 inference folds into its first layer (`nn::fold_affine`). `value_error` for `d`
  /// outside `[0, scenarios)`.
  column_affine<T> inference_affine(index_t d) const;

  index_t dim() const { return gamma_.cols(); }
  index_t scenarios() const { return gamma_d_.rows(); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("gamma_shared", self.gamma_);
    v("beta_shared", self.beta_);
    v("gamma_scenario", self.gamma_d_);
    v("beta_scenario", self.beta_d_);
    v("running_mean", self.running_mean_);
    v("running_var", self.running_var_);
  }

 private:
  param<T> gamma_, beta_, gamma_d_, beta_d_;
  matrix<T> ones_, zeros_;
  mutable matrix<T> running_mean_, running_var_;
  T eps_, momentum_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
partitioned_norm<T>::partitioned_norm(index_t dim, index_t scenarios, T eps, T momentum)
    : eps_(eps), momentum_(momentum) {
  if (dim < 1 || scenarios < 1)
    throw value_error("nn::partitioned_norm: dim and scenarios must be >= 1, got " + std::to_string(dim) + " and " +
                      std::to_string(scenarios));
  gamma_ = param<T>("gamma_shared", matrix<T>::Ones(1, dim));
  beta_ = param<T>("beta_shared", matrix<T>::Zero(1, dim));
  gamma_d_ = param<T>("gamma_scenario", matrix<T>::Ones(scenarios, dim));
  beta_d_ = param<T>("beta_scenario", matrix<T>::Zero(scenarios, dim));
  ones_ = matrix<T>::Ones(1, dim);
  zeros_ = matrix<T>::Zero(1, dim);
  running_mean_ = matrix<T>::Zero(1, dim);
  running_var_ = matrix<T>::Ones(1, dim);
}

template <class T>
var<T> partitioned_norm<T>::operator()(tape<T>& t, const var<T>& x, std::span<const index_t> scenario) const {
  if (x.cols != dim())
    throw shape_error("nn::partitioned_norm: input " + shape_string(x.rows, x.cols) + " but dim is " + std::to_string(dim()));
  detail::check_scenario_ids("nn::partitioned_norm", scenario, x.rows, scenarios());
  return affine(t, normalize(t, x), scenario);
}

template <class T>
var<T> partitioned_norm<T>::normalize(tape<T>& t, const var<T>& x) const {
  if (x.cols != dim())
    throw shape_error("nn::partitioned_norm: input " + shape_string(x.rows, x.cols) + " but dim is " + std::to_string(dim()));
  return ops::batch_norm(t, x, t.view(ones_.data(), 1, dim()), t.view(zeros_.data(), 1, dim()),
                         ops::batch_norm_state<T>{&running_mean_, &running_var_, momentum_, eps_});
}

template <class T>
column_affine<T> partitioned_norm<T>::inference_affine(index_t d) const {
  if (d < 0 || d >= scenarios())
    throw value_error("nn::partitioned_norm::inference_affine: scenario " + std::to_string(d) + " is outside [0, " +
                      std::to_string(scenarios()) + ")");
  const matrix<T> gamma = gamma_.value().cwiseProduct(gamma_d_.value().row(d));
  const matrix<T> beta = beta_.value() + beta_d_.value().row(d);
  return column_affine<T>::normalization(running_mean_, running_var_, eps_, gamma, beta);
}

template <class T>
var<T> partitioned_norm<T>::affine(tape<T>& t, const var<T>& xhat, std::span<const index_t> scenario) const {
  if (xhat.cols != dim())
    throw shape_error("nn::partitioned_norm::affine: input " + shape_string(xhat.rows, xhat.cols) + " but dim is " + std::to_string(dim()));
  detail::check_scenario_ids("nn::partitioned_norm", scenario, xhat.rows, scenarios());
  var<T> gamma = ops::mul(t, ops::gather_rows(t, t.leaf(gamma_d_), scenario), t.leaf(gamma_));
  var<T> beta = ops::add(t, ops::gather_rows(t, t.leaf(beta_d_), scenario), t.leaf(beta_));
  return ops::add(t, ops::mul(t, gamma, xhat), beta);
}

}  // namespace recblocks::nn
