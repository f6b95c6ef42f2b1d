#pragma once
/// \file meta_tower.hpp
/// M2M's meta tower (Zhang et al. 2022): a residual layer whose weights are generated per sample from
/// a conditioning vector (the scenario representation in M2M, any vector in general).
///
///     o = LeakyReLU(r W(c) + b(c) + r)          W(c) [d, d], b(c) [d] from `meta_linear`
///
/// Stacking `layers` of them applies the same formula repeatedly with separate generators.
///
/// Shapes: `r` `[B, d]`, condition `c` `[B, condition_dim]` -> `[B, d]`.
/// Thread-safety: `const` forward (batch-norm statistics of the generators change on training tapes only).

#include <string>
#include <vector>

#include "../../core/ops/activation.hpp"
#include "../../core/ops/elementwise.hpp"
#include "meta_linear.hpp"

namespace recblocks::nn {

struct meta_tower_options {
  index_t dim = 0;            ///< d
  index_t condition_dim = 0;
  index_t layers = 1;
  bool batch_norm = true;     ///< BN in the weight generators
  double slope = 0.01;        ///< LeakyReLU slope on the output
  double generator_slope = 0.01;  ///< LeakyReLU slope inside the weight generators (Scenario-Wise Rec: 0.1)
};

template <class T>
class meta_tower {
 public:
  using scalar_type = T;

  meta_tower(const meta_tower_options& opt, rng& gen);

  var<T> operator()(tape<T>& t, const var<T>& r, const var<T>& condition) const;

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("", self.layers_);
  }

 private:
  meta_tower_options opt_;
  std::vector<meta_linear<T>> layers_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
meta_tower<T>::meta_tower(const meta_tower_options& opt, rng& gen) : opt_(opt) {
  if (opt.layers < 1) throw value_error("nn::meta_tower: layers must be >= 1");
  for (index_t l = 0; l < opt.layers; ++l)
    layers_.emplace_back(meta_linear_options{.in = opt.dim, .out = opt.dim, .condition_dim = opt.condition_dim,
                                             .batch_norm = opt.batch_norm, .slope = opt.generator_slope},
                         gen);
}

template <class T>
var<T> meta_tower<T>::operator()(tape<T>& t, const var<T>& r, const var<T>& condition) const {
  var<T> h = r;
  for (const auto& layer : layers_) h = ops::leaky_relu(t, ops::add(t, layer(t, h, condition), h), T(opt_.slope));
  return h;
}

}  // namespace recblocks::nn
