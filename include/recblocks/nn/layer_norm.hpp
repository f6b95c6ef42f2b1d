#pragma once
/// \file layer_norm.hpp
/// Layer normalization over the columns of each row: `y = (x - mean) / sqrt(var + eps) * gamma + beta`,
/// `gamma` = 1 and `beta` = 0 initially, `[1, C]` each.

#include <string>

#include "../core/ops/normalization.hpp"
#include "module.hpp"

namespace recblocks::nn {

template <class T>
class layer_norm {
 public:
  using scalar_type = T;

  explicit layer_norm(index_t features, T eps = T(1e-5))
      : gamma_("gamma", matrix<T>::Ones(1, features)), beta_("beta", matrix<T>::Zero(1, features)), eps_(eps) {}

  var<T> operator()(tape<T>& t, const var<T>& x) const {
    return ops::layer_norm(t, x, t.leaf(gamma_), t.leaf(beta_), eps_);
  }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("gamma", self.gamma_);
    v("beta", self.beta_);
  }

 private:
  param<T> gamma_;
  param<T> beta_;
  T eps_;
};

}  // namespace recblocks::nn
