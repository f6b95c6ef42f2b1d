#pragma once
/// \file adagrad.hpp
/// Adagrad (PyTorch semantics, no learning-rate decay):
///
///     g <- g + wd * p;   s <- s + g^2;   p <- p - lr * g / (sqrt(s) + eps)
///
/// The sparse step updates the touched rows' accumulators and values only (the classic choice for
/// huge embedding tables, e.g. DLRM).

#include <cmath>

#include "optimizer_base.hpp"

namespace recblocks::optim {

struct adagrad_options {
  double learning_rate = 1e-2;
  double eps = 1e-10;
  double weight_decay = 0.0;
  double initial_accumulator = 0.0;
};

template <class T>
class adagrad : public optimizer_base<T, adagrad<T>> {
  using base = optimizer_base<T, adagrad<T>>;

 public:
  adagrad(std::vector<param<T>*> params, adagrad_options opt = {})
      : base(std::move(params), T(opt.learning_rate)), opt_(opt) {
    if (opt.eps <= 0 || opt.weight_decay < 0 || opt.initial_accumulator < 0)
      throw value_error("adagrad: eps must be > 0, weight_decay and initial_accumulator >= 0");
  }

  template <class G>
  void dense_update(std::size_t i, param<T>& p, const G& grad) {
    auto s = sum(i, p).array();
    const T lr = this->learning_rate_, eps = T(opt_.eps), wd = T(opt_.weight_decay);
    auto pv = p.value().array();
    if (wd != T(0)) {
      s += (grad.array() + wd * pv).square();
      pv -= lr * (grad.array() + wd * pv) / (s.sqrt() + eps);
    } else {
      s += grad.array().square();
      pv -= lr * grad.array() / (s.sqrt() + eps);
    }
  }

  void sparse_update(std::size_t i, param<T>& p, sparse_rows<T>& sp) {
    matrix<T>& s = sum(i, p);
    const T lr = this->learning_rate_, eps = T(opt_.eps), wd = T(opt_.weight_decay);
    for (index_t k = 0; k < sp.size(); ++k) {
      const index_t r = sp.ids[static_cast<std::size_t>(k)];
      auto g = sp.row(k);  // the gradient row, updated in place (no allocation)
      if (wd != T(0)) g += wd * p.value().row(r);
      s.row(r).array() += g.array().square();
      p.value().row(r).array() -= lr * g.array() / (s.row(r).array().sqrt() + eps);
    }
  }

 private:
  matrix<T>& sum(std::size_t i, const param<T>& p) {
    if (sums_.size() <= i) sums_.resize(i + 1);
    if (sums_[i].rows() != p.rows() || sums_[i].cols() != p.cols())
      sums_[i] = matrix<T>::Constant(p.rows(), p.cols(), T(opt_.initial_accumulator));
    return sums_[i];
  }
  adagrad_options opt_;
  std::vector<matrix<T>> sums_;
};

}  // namespace recblocks::optim
