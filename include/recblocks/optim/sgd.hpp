#pragma once
/// \file sgd.hpp
/// Stochastic gradient descent with momentum (PyTorch semantics, dampening 0):
///
///     g <- g + wd * p;   b <- mu * b + g (b = g on the first update);   g <- nesterov ? g + mu * b : b
///     p <- p - lr * g
///
/// The sparse step applies the same to the touched rows only (their momentum buffers included).

#include "optimizer_base.hpp"

namespace recblocks::optim {

struct sgd_options {
  double learning_rate = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

template <class T>
class sgd : public optimizer_base<T, sgd<T>> {
  using base = optimizer_base<T, sgd<T>>;

 public:
  sgd(std::vector<param<T>*> params, sgd_options opt = {}) : base(std::move(params), T(opt.learning_rate)), opt_(opt) {
    if (opt.momentum < 0 || opt.weight_decay < 0) throw value_error("sgd: momentum and weight_decay must be >= 0");
    if (opt.nesterov && opt.momentum == 0) throw value_error("sgd: nesterov needs momentum > 0");
  }

  template <class G>
  void dense_update(std::size_t i, param<T>& p, const G& grad) {
    const T lr = this->learning_rate_, mu = T(opt_.momentum), wd = T(opt_.weight_decay);
    auto pv = p.value().array();
    if (mu == T(0)) {
      if (wd != T(0)) pv -= lr * (grad.array() + wd * pv);
      else pv -= lr * grad.array();
      return;
    }
    auto b = base::state(buffers_, i, p).array();
    if (started(i)) b = mu * b + grad.array() + wd * pv;
    else b = grad.array() + wd * pv;
    if (opt_.nesterov) pv -= lr * (grad.array() + wd * pv + mu * b);
    else pv -= lr * b;
  }

  void sparse_update(std::size_t i, param<T>& p, sparse_rows<T>& sp) {
    const T lr = this->learning_rate_, mu = T(opt_.momentum), wd = T(opt_.weight_decay);
    matrix<T>* b = mu != T(0) ? &base::state(buffers_, i, p) : nullptr;
    std::vector<char>* touched = nullptr;
    if (b) {
      if (row_started_.size() <= i) row_started_.resize(i + 1);
      row_started_[i].resize(static_cast<std::size_t>(p.rows()), 0);
      touched = &row_started_[i];
    }
    for (index_t k = 0; k < sp.size(); ++k) {
      const index_t r = sp.ids[static_cast<std::size_t>(k)];
      auto g = sp.row(k);  // the gradient row, updated in place (no allocation)
      if (wd != T(0)) g += wd * p.value().row(r);
      if (b) {
        char& s = (*touched)[static_cast<std::size_t>(r)];
        if (s) b->row(r) = mu * b->row(r) + g; else b->row(r) = g;
        s = 1;
        if (opt_.nesterov) g += mu * b->row(r); else g = b->row(r);
      }
      p.value().row(r) -= lr * g;
    }
  }

 private:
  bool started(std::size_t i) {
    if (dense_started_.size() <= i) dense_started_.resize(i + 1, 0);
    const bool s = dense_started_[i];
    dense_started_[i] = 1;
    return s;
  }
  sgd_options opt_;
  std::vector<matrix<T>> buffers_;
  std::vector<char> dense_started_;
  std::vector<std::vector<char>> row_started_;
};

}  // namespace recblocks::optim
