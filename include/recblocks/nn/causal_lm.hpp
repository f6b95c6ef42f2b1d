#pragma once
/// \file causal_lm.hpp
/// A small decoder-only transformer language model (GPT-2 style) over any token vocabulary: WordPiece
/// ids of behaviour text (UserIP-Tuning, papers.md 5) or item ids (then it is SASRec, Kang & McAuley
/// 2018: next-item prediction with a causal self-attention encoder and the item embeddings as output).
///
/// Over a packed batch of sequences (sequence s = rows `[offsets[s], offsets[s+1])`, no padding), with
/// token embeddings `E` `[V, d]`, positions `P` `[context, d]` and per layer l:
///
///     x_i   = E[w_i] + P[i - start(i)]                         (or a caller's input row + P, `hidden`)
///     pre-LN (default, GPT-2):  x <- x + Attn(LN_1(x));  x <- x + W_2 GELU(W_1 LN_2(x) + b_1) + b_2
///     post-LN (option):         x <- LN_1(x + Attn(x));  x <- LN_2(x + W_2 GELU(W_1 x + b_1) + b_2)
///     Attn(x) = MHA(x W_q + b_q, x W_k + b_k, x W_v + b_v) W_o + b_o, causal: row i sees rows <= i of its sequence
///     h = LN_f(x) (pre-LN only),  logits = h E^T                (tied output projection, no bias, GPT-2)
///
/// Dropout `p` (training tapes only) on the embedded input, the attention probabilities and each
/// residual branch (GPT-2 / SASRec places). Attention is `ops::packed_attention(..., causal = true)`:
/// O(sum_s L_s^2 d) per layer, nothing computed for padding.
///
/// `loss(t, tokens, offsets)` is the mean next-token cross-entropy over every position that has a
/// next token in its sequence (sum_s (L_s - 1) targets); `perplexity = exp(loss)`. `loss_at(t, h,
/// rows, targets)` computes the cross-entropy only at chosen rows of a hidden state (label masking:
/// UserIP-Tuning's loss on the behaviour tokens only).
///
/// Freezing: `freeze()` marks every parameter non-trainable: the tape then records them as constants,
/// no gradient reaches them and optimizers skip them, while gradients still flow through the model
/// into its inputs (soft prompts).
///
/// Shapes: `tokens` R ids in `[0, V)`, `offsets` S + 1 non-decreasing from 0 to R, every sequence at
/// most `context` long (`shape_error` otherwise: callers truncate, e.g. from the oldest behaviour).
/// Errors: `value_error` for bad options (d % heads, sizes < 1, dropout outside [0, 1)) or a token id
/// outside the vocabulary. Parameters: `token.table`, `position.table`, `<l>.{ln1,q,k,v,o,ln2,ff1,ff2}`,
/// `ln_f` (pre-LN). Thread-safety: `const` forward.

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/dropout.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/gather.hpp"
#include "../core/ops/linear_gelu.hpp"
#include "../core/ops/masked_attention.hpp"
#include "../core/ops/matmul.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "init.hpp"
#include "layer_norm.hpp"
#include "linear.hpp"
#include "module.hpp"

namespace recblocks::nn {

struct causal_lm_options {
  index_t vocabulary = 0;  ///< token count V (required)
  index_t context = 128;   ///< longest sequence (position table rows)
  index_t d_model = 64;
  index_t heads = 2;
  index_t layers = 2;
  index_t ff_dim = 256;    ///< MLP width (4 d as GPT-2)
  bool pre_ln = true;      ///< pre-LN with a final LN (GPT-2); false: post-LN (original transformer)
  double dropout = 0.1;    ///< embedding, attention and residual dropout (training tapes)
};

template <class T>
class causal_lm {
 public:
  using scalar_type = T;

  causal_lm(const causal_lm_options& opt, rng& gen);

  /// Token embeddings `E[tokens]` `[R, d]` (no positions), e.g. to interleave with soft prompt rows.
  var<T> embed(tape<T>& t, std::span<const index_t> tokens) const;

  /// Final hidden states `[R, d]` of the packed input rows `x` `[R, d]` (positions are added here).
  var<T> hidden(tape<T>& t, const var<T>& x, std::span<const index_t> offsets) const;

  /// Next-token logits `h E^T` `[rows of h, V]`.
  var<T> logits(tape<T>& t, const var<T>& h) const { return ops::matmul(t, h, t.leaf(token_), false, true); }

  /// Mean cross-entropy of `targets` predicted from rows `rows` of `h` (label masking).
  var<T> loss_at(tape<T>& t, const var<T>& h, std::span<const index_t> rows, std::span<const index_t> targets) const {
    return loss::softmax_cross_entropy(t, logits(t, ops::gather_rows(t, h, rows)), targets);
  }

  /// Mean next-token cross-entropy of the packed token sequences (see file docs). `shape_error` when no
  /// sequence has two tokens.
  var<T> loss(tape<T>& t, std::span<const index_t> tokens, std::span<const index_t> offsets) const;

  /// Every parameter non-trainable (see file docs); `unfreeze()` reverses it.
  void freeze() { set_trainable(false); }
  void unfreeze() { set_trainable(true); }
  bool frozen() const { return !token_.trainable(); }

  /// Changes the dropout probability (e.g. 0 for prompt tuning through a frozen model); `value_error` outside [0, 1).
  void set_dropout(double p) {
    if (!(p >= 0.0 && p < 1.0)) throw value_error("nn::causal_lm: dropout must lie in [0, 1), got " + std::to_string(p));
    opt_.dropout = p;
  }

  const causal_lm_options& options() const { return opt_; }
  const param<T>& token_table() const { return token_; }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("token.table", self.token_);
    v("position.table", self.position_);
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      auto& L = self.layers_[l];
      const std::string p = std::to_string(l) + ".";
      v(p + "ln1", L.ln1);
      v(p + "q", L.q);
      v(p + "k", L.k);
      v(p + "v", L.v);
      v(p + "o", L.o);
      v(p + "ln2", L.ln2);
      v(p + "ff1", L.ff1);
      v(p + "ff2", L.ff2);
    }
    if (self.opt_.pre_ln) v("ln_f", self.ln_f_);
  }

 private:
  struct layer {
    layer_norm<T> ln1;
    linear<T> q, k, v, o;
    layer_norm<T> ln2;
    linear<T> ff1, ff2;
  };
  void set_trainable(bool on) {
    visit_parameters(*this, [&](const std::string&, param<T>& p) { p.set_trainable(on); });
  }
  var<T> attend(tape<T>& t, const layer& L, const var<T>& x, std::span<const index_t> offsets) const;
  var<T> mlp(tape<T>& t, const layer& L, const var<T>& x) const;

  causal_lm_options opt_;
  param<T> token_, position_;
  std::vector<layer> layers_;
  layer_norm<T> ln_f_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
causal_lm<T>::causal_lm(const causal_lm_options& opt, rng& gen)
    : opt_(opt), token_("table", opt.vocabulary, opt.d_model), position_("table", opt.context, opt.d_model), ln_f_(opt.d_model) {
  if (opt.vocabulary < 1 || opt.context < 1 || opt.d_model < 1 || opt.heads < 1 || opt.d_model % opt.heads != 0 ||
      opt.layers < 1 || opt.ff_dim < 1)
    throw value_error("nn::causal_lm: need vocabulary, context, layers, ff_dim >= 1 and d_model divisible by heads (vocabulary " +
                      std::to_string(opt.vocabulary) + ", d_model " + std::to_string(opt.d_model) + ", heads " +
                      std::to_string(opt.heads) + ")");
  if (!(opt.dropout >= 0.0 && opt.dropout < 1.0))
    throw value_error("nn::causal_lm: dropout must lie in [0, 1), got " + std::to_string(opt.dropout));
  init::normal(0.0, 0.02).apply(token_.value(), gen, opt.vocabulary, opt.d_model);   // GPT-2
  init::normal(0.0, 0.01).apply(position_.value(), gen, opt.context, opt.d_model);
  const index_t d = opt.d_model;
  const init w = init::normal(0.0, 0.02);
  for (index_t l = 0; l < opt.layers; ++l)
    layers_.push_back(layer{layer_norm<T>(d), linear<T>(d, d, gen, true, w), linear<T>(d, d, gen, true, w),
                            linear<T>(d, d, gen, true, w), linear<T>(d, d, gen, true, w), layer_norm<T>(d),
                            linear<T>(d, opt.ff_dim, gen, true, w), linear<T>(opt.ff_dim, d, gen, true, w)});
}

template <class T>
var<T> causal_lm<T>::embed(tape<T>& t, std::span<const index_t> tokens) const {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= opt_.vocabulary)
      throw value_error("nn::causal_lm: token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                        " is outside the vocabulary [0, " + std::to_string(opt_.vocabulary) + ")");
  return ops::gather_rows(t, t.leaf(token_), tokens);
}

template <class T>
var<T> causal_lm<T>::attend(tape<T>& t, const layer& L, const var<T>& x, std::span<const index_t> offsets) const {
  const var<T> a = ops::packed_attention(t, L.q(t, x), L.k(t, x), L.v(t, x), offsets, opt_.heads, T(opt_.dropout), true);
  return ops::dropout(t, L.o(t, a), T(opt_.dropout));
}

template <class T>
var<T> causal_lm<T>::mlp(tape<T>& t, const layer& L, const var<T>& x) const {
  const var<T> h = ops::linear_gelu(t, x, t.leaf(L.ff1.weight()), t.leaf(L.ff1.bias()));
  return ops::dropout(t, L.ff2(t, h), T(opt_.dropout));
}

template <class T>
var<T> causal_lm<T>::hidden(tape<T>& t, const var<T>& x0, std::span<const index_t> offsets) const {
  if (x0.cols != opt_.d_model)
    throw shape_error("nn::causal_lm: input " + shape_string(x0.rows, x0.cols) + " but d_model is " + std::to_string(opt_.d_model));
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != x0.rows)
    throw shape_error("nn::causal_lm: offsets must run from 0 to the row count " + std::to_string(x0.rows));
  index_t* pos = t.template scratch<index_t>(static_cast<std::size_t>(x0.rows));
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) {
    const index_t L = offsets[s + 1] - offsets[s];
    if (L < 0) throw shape_error("nn::causal_lm: offsets must be non-decreasing (offset " + std::to_string(s + 1) + ")");
    if (L > opt_.context)
      throw shape_error("nn::causal_lm: sequence " + std::to_string(s) + " has " + std::to_string(L) + " tokens, more than the context " +
                        std::to_string(opt_.context) + " (truncate it first)");
    for (index_t i = 0; i < L; ++i) pos[offsets[s] + i] = i;
  }
  var<T> x = ops::add(t, x0, ops::gather_rows(t, t.leaf(position_), std::span<const index_t>(pos, static_cast<std::size_t>(x0.rows))));
  x = ops::dropout(t, x, T(opt_.dropout));
  for (const auto& L : layers_) {
    if (opt_.pre_ln) {
      x = ops::add(t, x, attend(t, L, L.ln1(t, x), offsets));
      x = ops::add(t, x, mlp(t, L, L.ln2(t, x)));
    } else {
      x = L.ln1(t, ops::add(t, x, attend(t, L, x, offsets)));
      x = L.ln2(t, ops::add(t, x, mlp(t, L, x)));
    }
  }
  return opt_.pre_ln ? ln_f_(t, x) : x;
}

template <class T>
var<T> causal_lm<T>::loss(tape<T>& t, std::span<const index_t> tokens, std::span<const index_t> offsets) const {
  if (offsets.empty() || offsets.back() != static_cast<index_t>(tokens.size()))
    throw shape_error("nn::causal_lm::loss: offsets must run from 0 to the token count " + std::to_string(tokens.size()));
  const var<T> h = hidden(t, embed(t, tokens), offsets);
  std::size_t n = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) n += static_cast<std::size_t>(std::max<index_t>(0, offsets[s + 1] - offsets[s] - 1));
  if (n == 0) throw shape_error("nn::causal_lm::loss: no sequence has a next token to predict");
  index_t* rows = t.template scratch<index_t>(n);
  index_t* targets = t.template scratch<index_t>(n);
  std::size_t k = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s)
    for (index_t i = offsets[s]; i + 1 < offsets[s + 1]; ++i, ++k) {
      rows[k] = i;
      targets[k] = tokens[static_cast<std::size_t>(i + 1)];
    }
  return loss_at(t, h, std::span<const index_t>(rows, n), std::span<const index_t>(targets, n));
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class causal_lm<float>;
#endif

}  // namespace recblocks::nn
