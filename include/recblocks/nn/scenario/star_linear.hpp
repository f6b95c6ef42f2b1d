#pragma once
/// \file star_linear.hpp
/// STAR's star-topology fully-connected layer (Sheng et al. 2021): every scenario's weights are the
/// element-wise product of a shared and a scenario-specific matrix.
///
///     W^d = W ⊙ W_d,    b^d = b + b_d,    y = act(x W^d + b^d)         for the rows of scenario d
///
/// Reused with a cluster id in place of the scenario (AdaptDHM) and as M3oE's fusion layer.
///
/// Shapes: `x` `[n, in]` (rows of one scenario, e.g. a routed slice) -> `[n, out]`.
/// Requires `0 <= d < scenarios` (`value_error` otherwise).
/// Inference (`enable_bf16_inference`): the composed `W^d` of every scenario is kept as a packed bf16
/// copy and `b^d` in FP32, so a serving call is one bf16 product, without the element-wise `W ⊙ W_d`
/// every call pays otherwise (batch 1: that product costs as much as the GEMV itself). The copies can
/// also absorb a per-scenario input map `in_d` (a normalization before the layer) and output map
/// `out_d` (one after it), `nn::fold_affine`:
///
///     copy_d(x) = act(x W'^d + b'^d) = act(out_d(in_d(x) W^d + b^d))
///
/// so a normalization on either side costs nothing on the calls that run on the copies
/// (`uses_inference_copy`); the caller applies the maps itself on every other call.
/// Thread-safety: `const` forward; `enable_bf16_inference` / `disable_bf16_inference` are not
/// concurrent with forward calls.

#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/ops/elementwise.hpp"
#include "../../core/ops/matmul.hpp"
#include "../column_affine.hpp"
#include "../init.hpp"
#include "../module.hpp"

namespace recblocks::nn {

struct star_linear_options {
  index_t in = 0;
  index_t out = 0;
  index_t scenarios = 0;
  bool bias = true;
  init weight_init = init::kaiming_uniform();  ///< applied to W and to every W_d
  init bias_init = init::zeros();              ///< applied to b and to every b_d
};

template <class T>
class star_linear {
 public:
  using scalar_type = T;

  star_linear(const star_linear_options& opt, rng& gen);

  /// `act(x (W ⊙ W_d) + b + b_d)` for scenario `d`.
  var<T> operator()(tape<T>& t, const var<T>& x, index_t d, fused_activation act = fused_activation::none) const;

  /// Keeps, per scenario, the composed weight `W ⊙ W_d` packed for the AVX512-BF16 kernel and the
  /// composed bias `b + b_d` for inference calls (non-recording tapes) chosen as `nn::linear`'s copies
  /// are (`use_packed_bf16`: at most `max_rows` rows, or any number on a bf16 tape; above 3 rows only for
  /// layers at least 32 wide in and out). Without AVX512-BF16 nothing is kept and calls run FP32. The copies
  /// are taken now: call again after further training. Float layers only.
  ///
  /// `input` / `output`: empty, or one map per scenario (`[1, in]` / `[1, out]`), folded into that
  /// scenario's copy (file comment; `shape_error` when the count or a width does not fit). A copy with
  /// maps computes `act(out_d(in_d(x) W^d + b^d))`, so it is used on inference tapes only (not
  /// `t.training()`, where a normalization would use batch statistics), and a caller that passes maps
  /// must skip them exactly on the calls where `uses_inference_copy` is true.
  void enable_bf16_inference(index_t max_rows = 4, std::span<const column_affine<T>> input = {},
                             std::span<const column_affine<T>> output = {});
  void disable_bf16_inference() {
    packed_d_.clear();
    bias_composed_d_.clear();
    folded_ = false;
  }
  /// Whether a call with `rows` rows on `t` runs on the inference copies (computing the folded maps,
  /// if any): a non-recording tape, copies kept and `use_packed_bf16`, and not `t.training()` when
  /// maps were folded.
  bool uses_inference_copy(const tape<T>& t, index_t rows) const {
    return !t.recording() && !packed_d_.empty() && !(folded_ && t.training()) &&
           use_packed_bf16(rows, bf16_max_rows_, t.compute() == compute_type::bf16, opt_.in, opt_.out);
  }

  index_t in_features() const { return opt_.in; }
  index_t out_features() const { return opt_.out; }
  index_t scenarios() const { return opt_.scenarios; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("weight_shared", self.weight_);
    if (self.opt_.bias) v("bias_shared", self.bias_);
    for (std::size_t d = 0; d < self.weights_d_.size(); ++d) {
      v("scenario." + std::to_string(d) + ".weight", self.weights_d_[d]);
      if (self.opt_.bias) v("scenario." + std::to_string(d) + ".bias", self.biases_d_[d]);
    }
  }

 private:
  star_linear_options opt_;
  param<T> weight_, bias_;
  std::vector<param<T>> weights_d_, biases_d_;
  std::vector<bf16_panels> packed_d_;           // W ⊙ W_d per scenario (inference copies)
  std::vector<matrix<T>> bias_composed_d_;      // b + b_d per scenario (inference copies; folded: b'^d, always kept)
  index_t bf16_max_rows_ = 4;
  bool folded_ = false;                         // the copies carry input or output maps
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
star_linear<T>::star_linear(const star_linear_options& opt, rng& gen) : opt_(opt) {
  if (opt.in < 1 || opt.out < 1 || opt.scenarios < 1)
    throw value_error("nn::star_linear: in, out and scenarios must be >= 1, got " + std::to_string(opt.in) + ", " +
                      std::to_string(opt.out) + ", " + std::to_string(opt.scenarios));
  auto weight = [&](const std::string& name) {
    param<T> p(name, opt.in, opt.out);
    opt.weight_init.apply(p.value(), gen, opt.in, opt.out);
    return p;
  };
  auto bias = [&](const std::string& name) {
    param<T> p(name, 1, opt.out);
    opt.bias_init.apply(p.value(), gen, opt.in, opt.out);
    return p;
  };
  weight_ = weight("weight_shared");
  if (opt.bias) bias_ = bias("bias_shared");
  for (index_t d = 0; d < opt.scenarios; ++d) {
    weights_d_.push_back(weight("weight"));
    if (opt.bias) biases_d_.push_back(bias("bias"));
  }
}

template <class T>
var<T> star_linear<T>::operator()(tape<T>& t, const var<T>& x, index_t d, fused_activation act) const {
  if (d < 0 || d >= opt_.scenarios)
    throw value_error("nn::star_linear: scenario " + std::to_string(d) + " is outside [0, " +
                      std::to_string(opt_.scenarios) + ")");
  const auto k = static_cast<std::size_t>(d);
  if constexpr (std::is_same_v<T, float>) {
    if (uses_inference_copy(t, x.rows)) {
      const var<T> b = bias_composed_d_.empty() ? var<T>{} : t.view(bias_composed_d_[k].data(), 1, opt_.out);
      return ops::linear_bf16(t, x, packed_d_[k], b, act);
    }
  }
  var<T> w = ops::mul(t, t.leaf(weight_), t.leaf(weights_d_[k]));
  var<T> b = opt_.bias ? ops::add(t, t.leaf(bias_), t.leaf(biases_d_[k])) : var<T>{};
  return ops::linear(t, x, w, b, act);
}

template <class T>
void star_linear<T>::enable_bf16_inference(index_t max_rows, std::span<const column_affine<T>> input,
                                           std::span<const column_affine<T>> output) {
  static_assert(std::is_same_v<T, float>, "bf16 inference is for float models");
  const auto S = static_cast<std::size_t>(opt_.scenarios);
  auto check = [&](std::span<const column_affine<T>> maps, index_t width, const char* side) {
    if (maps.empty()) return;
    if (maps.size() != S)
      throw shape_error(std::string("nn::star_linear::enable_bf16_inference: ") + std::to_string(maps.size()) + " " + side +
                        " maps for " + std::to_string(S) + " scenarios");
    for (const auto& m : maps)
      m.expect_width(width, std::string("nn::star_linear::enable_bf16_inference: ") + side + " map for a layer " +
                                std::to_string(opt_.in) + " -> " + std::to_string(opt_.out));
  };
  check(input, opt_.in, "input");
  check(output, opt_.out, "output");
  disable_bf16_inference();
  if (!bf16_gemm_available()) return;
  const bool folded = !input.empty() || !output.empty();
  for (std::size_t d = 0; d < S; ++d) {
    matrix<T> w = weight_.value().cwiseProduct(weights_d_[d].value());
    matrix<T> b = opt_.bias ? matrix<T>(bias_.value() + biases_d_[d].value()) : matrix<T>();
    fold_affine(w, b, input.empty() ? nullptr : &input[d], output.empty() ? nullptr : &output[d]);
    packed_d_.push_back(make_bf16_panels(w));
    if (b.size() != 0) bias_composed_d_.push_back(std::move(b));
  }
  folded_ = folded;
  bf16_max_rows_ = max_rows;
}

}  // namespace recblocks::nn
