#pragma once
/// \file layer_norm_mlp.hpp
/// An MLP with layer normalization (M3oE's `Mlp_N`): per layer
///
///     h <- act(LayerNorm(h W_l + b_l))
///
/// Shapes: `[B, input_dim]` -> `[B, hidden.back()]`. Thread-safety: `const` forward, no state.

#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "layer_norm.hpp"
#include "linear.hpp"

namespace recblocks::nn {

struct layer_norm_mlp_options {
  index_t input_dim = 0;
  std::vector<index_t> hidden;
  activation act = activation::relu;
};

template <class T>
class layer_norm_mlp {
 public:
  using scalar_type = T;

  layer_norm_mlp(const layer_norm_mlp_options& opt, rng& gen);

  var<T> operator()(tape<T>& t, const var<T>& x) const;

  index_t output_dim() const { return opt_.hidden.back(); }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      v(std::to_string(l) + ".linear", self.layers_[l]);
      v(std::to_string(l) + ".ln", self.norms_[l]);
    }
  }

 private:
  layer_norm_mlp_options opt_;
  std::vector<linear<T>> layers_;
  std::vector<layer_norm<T>> norms_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
layer_norm_mlp<T>::layer_norm_mlp(const layer_norm_mlp_options& opt, rng& gen) : opt_(opt) {
  if (opt.input_dim < 1 || opt.hidden.empty())
    throw value_error("nn::layer_norm_mlp: input_dim must be >= 1 and hidden non-empty");
  index_t in = opt.input_dim;
  for (index_t w : opt.hidden) {
    layers_.emplace_back(in, w, gen);
    norms_.emplace_back(w);
    in = w;
  }
}

template <class T>
var<T> layer_norm_mlp<T>::operator()(tape<T>& t, const var<T>& x) const {
  if (x.cols != opt_.input_dim)
    throw shape_error("nn::layer_norm_mlp: input " + shape_string(x.rows, x.cols) + " but input_dim is " +
                      std::to_string(opt_.input_dim));
  var<T> h = x;
  for (std::size_t l = 0; l < layers_.size(); ++l) h = ops::activate(t, norms_[l](t, layers_[l](t, h)), opt_.act);
  return h;
}

}  // namespace recblocks::nn
