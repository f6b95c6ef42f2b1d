#pragma once
/// \file adam.hpp
/// Adam and AdamW (PyTorch semantics):
///
///     Adam:  g <- g + wd * p   (L2 in the gradient)          AdamW: p <- p (1 - lr * wd)   (decoupled)
///     m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
///     p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
///
/// The sparse step is "lazy Adam": only the touched rows' moments and values are updated, with the
/// global step `t` in the bias correction. Set `lazy_sparse = false` to densify sparse gradients and
/// reproduce dense Adam exactly (as PyTorch's Adam does with dense embedding gradients).

#include <cmath>

#include "optimizer_base.hpp"

namespace recblocks::optim {

struct adam_options {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  ///< AdamW
  bool lazy_sparse = true;
};

template <class T>
class adam : public optimizer_base<T, adam<T>> {
  using base = optimizer_base<T, adam<T>>;

 public:
  adam(std::vector<param<T>*> params, adam_options opt = {}) : base(std::move(params), T(opt.learning_rate)), opt_(opt) {
    if (!(opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1))
      throw value_error("adam: betas must lie in [0, 1)");
    if (opt.eps <= 0 || opt.weight_decay < 0) throw value_error("adam: eps must be > 0 and weight_decay >= 0");
  }

  template <class G>
  void dense_update(std::size_t i, param<T>& p, const G& grad) {
    matrix<T>& m = base::state(m_, i, p);
    matrix<T>& v = base::state(v_, i, p);
    const auto [step_size, c2, b1, b2, eps, wd, lr] = coefficients();
    auto pv = p.value().array();
    if (wd != T(0) && opt_.decoupled_weight_decay) pv *= (T(1) - lr * wd);
    if (wd != T(0) && !opt_.decoupled_weight_decay) {
      m.array() = b1 * m.array() + (T(1) - b1) * (grad.array() + wd * pv);
      v.array() = b2 * v.array() + (T(1) - b2) * (grad.array() + wd * pv).square();
    } else {
      m.array() = b1 * m.array() + (T(1) - b1) * grad.array();
      v.array() = b2 * v.array() + (T(1) - b2) * grad.array().square();
    }
    pv -= step_size * m.array() / ((v.array() / c2).sqrt() + eps);
  }

  void sparse_update(std::size_t i, param<T>& p, sparse_rows<T>& sp) {
    if (!opt_.lazy_sparse) {
      matrix<T> dense = matrix<T>::Zero(p.rows(), p.cols());
      for (index_t k = 0; k < sp.size(); ++k) dense.row(sp.ids[static_cast<std::size_t>(k)]) = sp.row(k);
      dense_update(i, p, dense);
      return;
    }
    matrix<T>& m = base::state(m_, i, p);
    matrix<T>& v = base::state(v_, i, p);
    const auto [step_size, c2, b1, b2, eps, wd, lr] = coefficients();
    for (index_t k = 0; k < sp.size(); ++k) {
      const index_t r = sp.ids[static_cast<std::size_t>(k)];
      auto pr = p.value().row(r).array();
      auto g = sp.row(k).array();
      if (wd != T(0) && opt_.decoupled_weight_decay) pr *= (T(1) - lr * wd);
      if (wd != T(0) && !opt_.decoupled_weight_decay) g += wd * pr;
      m.row(r).array() = b1 * m.row(r).array() + (T(1) - b1) * g;
      v.row(r).array() = b2 * v.row(r).array() + (T(1) - b2) * g.square();
      pr -= step_size * m.row(r).array() / ((v.row(r).array() / c2).sqrt() + eps);
    }
  }

 private:
  struct coeffs {
    T step_size, c2, b1, b2, eps, wd, lr;
  };
  coeffs coefficients() const {
    const double t = double(this->steps_);
    const double c1 = 1.0 - std::pow(opt_.beta1, t), c2 = 1.0 - std::pow(opt_.beta2, t);
    const double lr = double(this->learning_rate_);
    return {T(lr / c1), T(c2), T(opt_.beta1), T(opt_.beta2), T(opt_.eps), T(opt_.weight_decay), T(lr)};
  }
  adam_options opt_;
  std::vector<matrix<T>> m_, v_;
};

/// AdamW: Adam with decoupled weight decay (default 1e-2, as PyTorch).
template <class T>
adam<T> make_adamw(std::vector<param<T>*> params, adam_options opt = {.learning_rate = 1e-3, .weight_decay = 1e-2}) {
  opt.decoupled_weight_decay = true;
  return adam<T>(std::move(params), opt);
}

}  // namespace recblocks::optim
