#pragma once
/// \file optimizer_base.hpp
/// What every optimizer shares: the parameter list, the step counter, the learning rate, and the
/// dispatch of each parameter's gradient to a dense or a row-sparse update.
///
/// `step()` visits every trainable parameter: a dense gradient goes to `dense_update`; row-sparse
/// gradients (embedding tables) are coalesced (duplicate ids summed) and go to `sparse_update`,
/// which touches only those rows ("lazy" updates: untouched rows and their optimizer state are not
/// decayed). A parameter that received both kinds in one step is densified and updated densely.
/// Finally all gradients are cleared.

#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/param.hpp"

namespace recblocks::optim {

template <class T, class Derived>
class optimizer_base {
 public:
  explicit optimizer_base(std::vector<param<T>*> params, T learning_rate)
      : params_(std::move(params)), learning_rate_(learning_rate) {
    for (auto* p : params_)
      if (!p) throw value_error("optimizer: null parameter pointer");
    if (!(learning_rate > T(0))) throw value_error("optimizer: learning rate must be positive");
  }

  /// Applies one update from the accumulated gradients, then clears them.
  void step() {
    ++steps_;
    auto& self = static_cast<Derived&>(*this);
    for (std::size_t i = 0; i < params_.size(); ++i) {
      param<T>& p = *params_[i];
      if (!p.trainable()) continue;
      sparse_rows<T>& sp = p.sparse();
      if (p.has_dense_grad() && !sp.empty()) {
        p.grad() = p.dense_grad();
        sp.clear();
      }
      if (p.has_dense_grad()) {
        self.dense_update(i, p, p.grad());
      } else if (!sp.empty()) {
        sp.coalesce();
        self.sparse_update(i, p, sp);
      }
    }
    zero_grad();
  }

  /// Clears every parameter's gradient.
  void zero_grad() {
    for (auto* p : params_) p->zero_grad();
  }

  T learning_rate() const { return learning_rate_; }
  void set_learning_rate(T lr) {
    if (!(lr > T(0))) throw value_error("optimizer: learning rate must be positive");
    learning_rate_ = lr;
  }
  /// Number of `step()` calls so far (Adam's bias correction uses it).
  std::int64_t steps() const { return steps_; }
  const std::vector<param<T>*>& parameters() const { return params_; }

 protected:
  /// Lazily sized per-parameter state matrix, zero-initialised.
  static matrix<T>& state(std::vector<matrix<T>>& slots, std::size_t i, const param<T>& p) {
    if (slots.size() <= i) slots.resize(i + 1);
    if (slots[i].rows() != p.rows() || slots[i].cols() != p.cols()) slots[i] = matrix<T>::Zero(p.rows(), p.cols());
    return slots[i];
  }

  std::vector<param<T>*> params_;
  T learning_rate_;
  std::int64_t steps_ = 0;
};

}  // namespace recblocks::optim
