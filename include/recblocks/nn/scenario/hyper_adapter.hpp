#pragma once
/// \file hyper_adapter.hpp
/// HAMUR's hyper adapter (Li et al. 2023): a residual bottleneck adapter whose weights are low-rank
/// and generated per sample, `W = U Z V`, with the instance matrix `Z` produced by a hyper-network
/// from a conditioning vector (HAMUR: the sample's concatenated embedding; any vector works, e.g. an
/// LLM embedding).
///
///     Z      = reshape(hyper(c), [k, k])             hyper = MLP(Linear -> BN -> ReLU per layer), last width k^2
///     W1     = U1 Z V1  [m, p],   W2 = U2 Z V2  [p, m]      (p = bottleneck, 32 in HAMUR)
///     a      = sigmoid(h W1 + b1)
///     o      = a W2 + b2
///     h'     = h + BN(o)                              "domain norm": batch norm with shared gamma, beta
///
/// The products are evaluated right to left, `((h U1) Z) V1`, so no `[m, p]` matrix is formed per sample.
/// Initialisation as HAMUR: U, V = 1, b = 0.
///
/// Shapes: `h` `[B, m]`, condition `c` `[B, condition_dim]` -> `[B, m]`; `Z` `[B, k * k]` (row-major k x k).
/// Thread-safety: `const` forward (batch-norm statistics change on training tapes only).

#include <optional>
#include <string>
#include <vector>

#include "../../core/ops/activation.hpp"
#include "../../core/ops/elementwise.hpp"
#include "../../core/ops/matmul.hpp"
#include "../batch_norm.hpp"
#include "../mlp.hpp"

namespace recblocks::nn {

struct hyper_adapter_options {
  index_t dim = 0;                        ///< m, width of the adapted hidden layer
  index_t rank = 35;                      ///< k
  index_t bottleneck = 32;                ///< p
  index_t condition_dim = 0;              ///< width of the hyper-network input
  std::vector<index_t> hyper_hidden{64};  ///< hyper-network hidden widths (its last layer has k^2 units)
  bool hyper_batch_norm = true;
  bool unbiased_norm = false;             ///< domain norm with the unbiased batch variance on training tapes (HAMUR's reference)
  /// false: no hyper-network of its own; the adapter is applied with an instance matrix computed by
  /// another adapter (`apply`), as HamurLarge's second adapter cell shares the first one's `Z`.
  bool own_hyper_network = true;
};

template <class T>
class hyper_adapter {
 public:
  using scalar_type = T;

  hyper_adapter(const hyper_adapter_options& opt, rng& gen);

  /// `h + BN(sigmoid(h W1 + b1) W2 + b2)` with `Z = hyper(condition)`.
  var<T> operator()(tape<T>& t, const var<T>& h, const var<T>& condition) const { return apply(t, h, instance_matrix(t, condition)); }

  /// `Z` `[B, k * k]` from the conditioning vector (share it between several adapters).
  /// `state_error` when the adapter was built without its own hyper-network.
  var<T> instance_matrix(tape<T>& t, const var<T>& condition) const;

  /// The adapter with a given instance matrix `z` `[B, k * k]`.
  var<T> apply(tape<T>& t, const var<T>& h, const var<T>& z) const;

  const hyper_adapter_options& options() const { return opt_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("hyper", self.hyper_);
    v("u1", self.u1_);
    v("v1", self.v1_);
    v("b1", self.b1_);
    v("u2", self.u2_);
    v("v2", self.v2_);
    v("b2", self.b2_);
    v("norm", self.norm_);
  }

 private:
  static const hyper_adapter_options& checked(const hyper_adapter_options& opt);
  static mlp_options hyper_options(const hyper_adapter_options& opt);

  hyper_adapter_options opt_;
  std::optional<mlp<T>> hyper_;
  param<T> u1_, v1_, b1_, u2_, v2_, b2_;
  batch_norm<T> norm_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
const hyper_adapter_options& hyper_adapter<T>::checked(const hyper_adapter_options& opt) {
  if (opt.dim < 1 || opt.rank < 1 || opt.bottleneck < 1 || (opt.own_hyper_network && opt.condition_dim < 1))
    throw value_error("nn::hyper_adapter: dim, rank, bottleneck and (with its own hyper-network) condition_dim must be >= 1");
  return opt;
}

template <class T>
mlp_options hyper_adapter<T>::hyper_options(const hyper_adapter_options& opt) {
  mlp_options m{.input_dim = opt.condition_dim, .hidden = opt.hyper_hidden, .act = activation::relu,
                .batch_norm = opt.hyper_batch_norm};
  m.hidden.push_back(opt.rank * opt.rank);
  return m;
}

template <class T>
hyper_adapter<T>::hyper_adapter(const hyper_adapter_options& opt, rng& gen)
    : opt_(checked(opt)),
      hyper_(opt.own_hyper_network ? std::optional<mlp<T>>(std::in_place, hyper_options(opt), gen) : std::nullopt),
      u1_("u1", matrix<T>::Ones(opt.dim, opt.rank)),
      v1_("v1", matrix<T>::Ones(opt.rank, opt.bottleneck)),
      b1_("b1", matrix<T>::Zero(1, opt.bottleneck)),
      u2_("u2", matrix<T>::Ones(opt.bottleneck, opt.rank)),
      v2_("v2", matrix<T>::Ones(opt.rank, opt.dim)),
      b2_("b2", matrix<T>::Zero(1, opt.dim)),
      norm_(opt.dim) {}

template <class T>
var<T> hyper_adapter<T>::instance_matrix(tape<T>& t, const var<T>& condition) const {
  if (!hyper_) throw state_error("nn::hyper_adapter: built with own_hyper_network = false; pass an instance matrix to apply()");
  if (condition.cols != opt_.condition_dim)
    throw shape_error("nn::hyper_adapter: condition " + shape_string(condition.rows, condition.cols) +
                      " but condition_dim is " + std::to_string(opt_.condition_dim));
  return (*hyper_)(t, condition);
}

template <class T>
var<T> hyper_adapter<T>::apply(tape<T>& t, const var<T>& h, const var<T>& z) const {
  const index_t k = opt_.rank;
  if (h.cols != opt_.dim || z.rows != h.rows || z.cols != k * k)
    throw shape_error("nn::hyper_adapter: hidden " + shape_string(h.rows, h.cols) + " and instance matrix " +
                      shape_string(z.rows, z.cols) + " do not fit dim = " + std::to_string(opt_.dim) + ", rank = " +
                      std::to_string(k));
  // a = sigmoid(((h U1) Z) V1 + b1)
  var<T> a = ops::batched_matmul(t, ops::matmul(t, h, t.leaf(u1_)), z, k);
  a = ops::linear(t, a, t.leaf(v1_), t.leaf(b1_), fused_activation::sigmoid);
  // o = ((a U2) Z) V2 + b2
  var<T> o = ops::batched_matmul(t, ops::matmul(t, a, t.leaf(u2_)), z, k);
  o = ops::linear(t, o, t.leaf(v2_), t.leaf(b2_));
  return ops::add(t, h, opt_.unbiased_norm ? norm_.unbiased(t, o) : norm_(t, o));
}

}  // namespace recblocks::nn
