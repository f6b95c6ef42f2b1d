#pragma once
/// \file transformer_decoder.hpp
/// A post-norm transformer decoder (Vaswani et al. 2017; PyTorch's `TransformerDecoder` of
/// `TransformerDecoderLayer`s without dropout and without masks), the second half of PyTorch's
/// `nn.Transformer`, which Scenario-Wise Rec's M2M uses as its backbone. Per layer, over target
/// positions x_1..x_L and memory positions m_1..m_M (width d, H heads of d / H):
///
///     x  <- LN_1(x + MHA_self(q = x, k = x, v = x))
///     x  <- LN_2(x + MHA_cross(q = x, k = m, v = m))
///     x  <- LN_3(x + ReLU(x W_1 + b_1) W_2 + b_2)                              (feed-forward width ff_dim)
///
/// with MHA(q, k, v) = [softmax(q W_q^h (k W_k^h)^T / sqrt(d / H)) v W_v^h]_h W_o + b_o (projections with
/// biases), then, when `final_norm` (nn.Transformer's default), one more layer norm `norm`.
///
/// Layout: one sequence per call, rows are positions (`sequence(t, x, memory)`: `x` `[L, d]`, `memory`
/// `[M, d]` -> `[L, d]`), as `transformer_encoder::sequence`; a batch of independent sequences is not
/// needed by any model yet. Layer norms: eps 1e-5, as PyTorch.
///
/// Parameters: `<l>.self.{q,k,v,o}`, `<l>.cross.{q,k,v,o}` (linear, weight `[in, out]`), `<l>.ln1..ln3`,
/// `<l>.ff1`, `<l>.ff2`, `norm`.
/// Requires `d % heads == 0`, `ff_dim >= 1`, `layers >= 1`; `shape_error` when an input's width is not d.
/// Thread-safety: `const` forward, no state.

#include <optional>
#include <string>
#include <vector>

#include "transformer_encoder.hpp"

namespace recblocks::nn {

struct transformer_decoder_options {
  index_t d_model = 0;
  index_t heads = 4;
  index_t ff_dim = 16;
  index_t layers = 2;
  bool final_norm = true;  ///< a layer norm after the last layer (nn.Transformer's decoder norm)
};

template <class T>
class transformer_decoder {
 public:
  using scalar_type = T;

  transformer_decoder(const transformer_decoder_options& opt, rng& gen);

  /// Target `x` `[L, d]` attending to itself and to `memory` `[M, d]` -> `[L, d]`.
  var<T> sequence(tape<T>& t, const var<T>& x, const var<T>& memory) const;

  const transformer_decoder_options& options() const { return opt_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      auto& L = self.layers_[l];
      const std::string p = std::to_string(l) + ".";
      v(p + "self.q", L.sq);
      v(p + "self.k", L.sk);
      v(p + "self.v", L.sv);
      v(p + "self.o", L.so);
      v(p + "ln1", L.ln1);
      v(p + "cross.q", L.cq);
      v(p + "cross.k", L.ck);
      v(p + "cross.v", L.cv);
      v(p + "cross.o", L.co);
      v(p + "ln2", L.ln2);
      v(p + "ff1", L.ff1);
      v(p + "ff2", L.ff2);
      v(p + "ln3", L.ln3);
    }
    v("norm", self.norm_);
  }

 private:
  struct layer {
    linear<T> sq, sk, sv, so;
    layer_norm<T> ln1;
    linear<T> cq, ck, cv, co;
    layer_norm<T> ln2;
    linear<T> ff1, ff2;
    layer_norm<T> ln3;
  };
  void check(const char* what, const var<T>& x) const;

  transformer_decoder_options opt_;
  std::vector<layer> layers_;
  std::optional<layer_norm<T>> norm_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
transformer_decoder<T>::transformer_decoder(const transformer_decoder_options& opt, rng& gen) : opt_(opt) {
  if (opt.d_model < 1 || opt.heads < 1 || opt.d_model % opt.heads != 0 || opt.ff_dim < 1 || opt.layers < 1)
    throw value_error("nn::transformer_decoder: need d_model divisible by heads, ff_dim >= 1 and layers >= 1 (d_model " +
                      std::to_string(opt.d_model) + ", heads " + std::to_string(opt.heads) + ", ff_dim " +
                      std::to_string(opt.ff_dim) + ", layers " + std::to_string(opt.layers) + ")");
  const index_t d = opt.d_model;
  for (index_t l = 0; l < opt.layers; ++l)
    layers_.push_back(layer{linear<T>(d, d, gen), linear<T>(d, d, gen), linear<T>(d, d, gen), linear<T>(d, d, gen),
                            layer_norm<T>(d), linear<T>(d, d, gen), linear<T>(d, d, gen), linear<T>(d, d, gen),
                            linear<T>(d, d, gen), layer_norm<T>(d), linear<T>(d, opt.ff_dim, gen),
                            linear<T>(opt.ff_dim, d, gen), layer_norm<T>(d)});
  if (opt.final_norm) norm_.emplace(d);
}

template <class T>
void transformer_decoder<T>::check(const char* what, const var<T>& x) const {
  if (x.cols != opt_.d_model || x.rows < 1)
    throw shape_error(std::string("nn::transformer_decoder: ") + what + " " + shape_string(x.rows, x.cols) +
                      " but d_model is " + std::to_string(opt_.d_model));
}

template <class T>
var<T> transformer_decoder<T>::sequence(tape<T>& t, const var<T>& x0, const var<T>& memory) const {
  check("target", x0);
  check("memory", memory);
  const index_t H = opt_.heads;
  var<T> x = x0;
  for (const auto& L : layers_) {
    x = L.ln1(t, ops::add(t, x, L.so(t, detail::sequence_attention(t, L.sq(t, x), L.sk(t, x), L.sv(t, x), H))));
    x = L.ln2(t, ops::add(t, x, L.co(t, detail::sequence_attention(t, L.cq(t, x), L.ck(t, memory), L.cv(t, memory), H))));
    x = L.ln3(t, ops::add(t, x, L.ff2(t, L.ff1(t, x, fused_activation::relu))));
  }
  return norm_ ? (*norm_)(t, x) : x;
}

}  // namespace recblocks::nn
