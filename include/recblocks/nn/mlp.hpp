#pragma once
/// \file mlp.hpp
/// Multi-layer perceptron as in Scenario-Wise Rec / torch-rechub: per hidden layer
///
///     h <- dropout(act(batch_norm(h W_l + b_l)))
///
/// with batch norm and dropout optional, then an optional output layer `h W_o + b_o` -> `[B, 1]`.
/// Without batch norm and with relu/sigmoid/tanh, each hidden layer is one fused linear node; with
/// batch norm, so is each call on a bf16 inference copy (`enable_bf16_inference` folds the norm in).
///
/// Shapes: `[B, input_dim]` -> `[B, hidden.back()]`, or `[B, 1]` with the output layer.

#include <optional>
#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "../core/ops/dropout.hpp"
#include "batch_norm.hpp"
#include "linear.hpp"

namespace recblocks::nn {

struct mlp_options {
  index_t input_dim = 0;
  std::vector<index_t> hidden;           ///< widths of the hidden layers
  activation act = activation::relu;
  bool batch_norm = false;
  double dropout = 0.0;
  bool output_layer = false;             ///< append Linear(hidden.back(), 1)
  double leaky_slope = 0.01;             ///< negative slope when `act` is leaky_relu (PyTorch's default)
};

template <class T>
class mlp {
 public:
  using scalar_type = T;

  mlp(const mlp_options& opt, rng& gen) : opt_(opt) {
    if (opt.input_dim <= 0) throw value_error("mlp: input_dim must be positive");
    if (opt.hidden.empty() && !opt.output_layer) throw value_error("mlp: no hidden layers and no output layer");
    if (opt.dropout < 0.0 || opt.dropout >= 1.0) throw value_error("mlp: dropout must lie in [0, 1)");
    index_t in = opt.input_dim;
    for (index_t width : opt.hidden) {
      layers_.emplace_back(in, width, gen);
      if (opt.batch_norm) norms_.emplace_back(width);
      in = width;
    }
    if (opt.output_layer) output_.emplace(in, 1, gen);
  }

  var<T> operator()(tape<T>& t, const var<T>& x) const {
    if (x.cols != opt_.input_dim)
      throw shape_error("mlp: input " + shape_string(x.rows, x.cols) + " but input_dim is " + std::to_string(opt_.input_dim));
    var<T> h = x;
    const bool fusable = !opt_.batch_norm && fused(opt_.act).has_value();
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      if (fusable) {
        h = layers_[l](t, h, *fused(opt_.act));
      } else if (bn_folded_ && layers_[l].uses_packed_copy(t, h.rows)) {  // batch norm folded into the copy
        const auto f = fused(opt_.act);
        h = f ? layers_[l](t, h, *f) : ops::activate(t, layers_[l](t, h), opt_.act, T(opt_.leaky_slope));
      } else {
        h = layers_[l](t, h);
        if (opt_.batch_norm) h = norms_[l](t, h);
        h = ops::activate(t, h, opt_.act, T(opt_.leaky_slope));
      }
      h = ops::dropout(t, h, T(opt_.dropout));
    }
    if (output_) h = (*output_)(t, h);
    return h;
  }

  /// bf16 weight copies for small-batch inference in every layer (see `linear::enable_bf16_inference`).
  /// With batch norm, each hidden layer's packed copy also absorbs its batch norm's inference map
  /// (`batch_norm::inference_affine`, running statistics), so a call on the copy is one fused product +
  /// bias + activation. A snapshot: call again after further training.
  void enable_bf16_inference(index_t max_rows = 4) {
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      if (opt_.batch_norm) {
        const column_affine<T> bn = norms_[l].inference_affine();
        layers_[l].enable_bf16_inference(max_rows, &bn);
      } else {
        layers_[l].enable_bf16_inference(max_rows);
      }
    }
    if (output_) output_->enable_bf16_inference(max_rows);
    bn_folded_ = opt_.batch_norm;
  }

  index_t output_dim() const { return output_ ? 1 : opt_.hidden.back(); }
  const mlp_options& options() const { return opt_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      v(std::to_string(l) + ".linear", self.layers_[l]);
      if (self.opt_.batch_norm) v(std::to_string(l) + ".bn", self.norms_[l]);
    }
    v("output", self.output_);
  }

 private:
  static std::optional<fused_activation> fused(activation a) {
    switch (a) {
      case activation::none: return fused_activation::none;
      case activation::relu: return fused_activation::relu;
      case activation::sigmoid: return fused_activation::sigmoid;
      case activation::tanh: return fused_activation::tanh;
      default: return std::nullopt;
    }
  }

  mlp_options opt_;
  std::vector<linear<T>> layers_;
  std::vector<batch_norm<T>> norms_;
  std::optional<linear<T>> output_;
  bool bn_folded_ = false;  // the hidden layers' packed copies carry their batch norms
};

}  // namespace recblocks::nn
