#pragma once
/// \file batch_norm.hpp
/// Batch normalization over the rows of `[B, C]` with learned `gamma`, `beta` `[1, C]` and running
/// statistics (PyTorch semantics: momentum 0.1, eps 1e-5, unbiased running variance).
///
/// Training tapes normalise with batch statistics and update the running ones (single training
/// thread); inference tapes use the running statistics and modify nothing.

#include <cmath>
#include <string>

#include "../core/ops/elementwise.hpp"
#include "../core/ops/normalization.hpp"
#include "column_affine.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class batch_norm {
 public:
  using scalar_type = T;

  explicit batch_norm(index_t features, T momentum = T(0.1), T eps = T(1e-5))
      : gamma_("gamma", matrix<T>::Ones(1, features)),
        beta_("beta", matrix<T>::Zero(1, features)),
        running_mean_(matrix<T>::Zero(1, features)),
        running_var_(matrix<T>::Ones(1, features)),
        momentum_(momentum),
        eps_(eps) {}

  var<T> operator()(tape<T>& t, const var<T>& x) const {
    return ops::batch_norm(t, x, t.leaf(gamma_), t.leaf(beta_),
                           ops::batch_norm_state<T>{&running_mean_, &running_var_, momentum_, eps_});
  }

  /// As `operator()`, but on training tapes the batch is normalised with its unbiased variance,
  /// `(x - mean) / sqrt(var_unbiased + eps)` (`torch.var`'s default; HAMUR's reference domain norm):
  /// computed as `sqrt((n-1)/n) * gamma * BN_{eps (n-1)/n}(x) + beta`, the same running statistics.
  /// Inference tapes and one-row batches use `operator()`.
  var<T> unbiased(tape<T>& t, const var<T>& x) const {
    if (!t.training() || x.rows < 2) return (*this)(t, x);
    const T n = T(x.rows), c = std::sqrt((n - T(1)) / n);
    return ops::batch_norm(t, x, ops::mul_scalar(t, t.leaf(gamma_), c), t.leaf(beta_),
                           ops::batch_norm_state<T>{&running_mean_, &running_var_, momentum_, eps_ * (n - T(1)) / n});
  }

  /// This layer on an inference tape as a per-column map (running statistics, the current gamma and
  /// beta): `scale = gamma / sqrt(running_var + eps)`, `shift = beta - scale ⊙ running_mean`, `[1, C]`
  /// each. A snapshot: what inference copies fold (`nn::fold_affine`).
  column_affine<T> inference_affine() const {
    return column_affine<T>::normalization(running_mean_, running_var_, eps_, gamma_.value(), beta_.value());
  }

  param<T>& gamma() { return gamma_; }
  param<T>& beta() { return beta_; }
  matrix<T>& running_mean() const { return running_mean_; }
  matrix<T>& running_var() const { return running_var_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("gamma", self.gamma_);
    v("beta", self.beta_);
    v("running_mean", self.running_mean_);  // buffers: running statistics (state, not parameters)
    v("running_var", self.running_var_);
  }

 private:
  param<T> gamma_;
  param<T> beta_;
  mutable matrix<T> running_mean_;
  mutable matrix<T> running_var_;
  T momentum_;
  T eps_;
};

}  // namespace recblocks::nn
