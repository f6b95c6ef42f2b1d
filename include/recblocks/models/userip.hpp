#pragma once
/// \file userip.hpp
/// UserIP-Tuning (Lu et al., arXiv 2408.06577; papers.md 5): latent user profiles as soft prompt tokens
/// of a frozen causal language model, quantised by codebooks into collaborative ids for a CTR model.
///
/// Per training sample (user u, behaviour tokens w_1..w_n, oldest first), the LM input rows are
///
///     [ E[text_1] ] [ theta_1(u) ] [ E[text_2] ] [ theta_2(u) ] ... [ E[w_1] ... E[w_n] ]
///
/// where `text_s` are the fixed token ids of slot s's profile-name text (e.g. "the user's hobby is") and
/// `theta_s(u)` the user's soft token (`nn::soft_prompt`; the paper: hobby then background). The
/// causal order puts each soft token after its name and the profile before the behaviour (the
/// paper's causal framing). The loss is the LM's cross-entropy on the behaviour tokens only (label
/// masking: w_1 is predicted from the last soft token's row, w_j from w_{j-1}'s), plus one
/// vector-quantisation term per slot (`quant::vector_quantizer`, K = 4 hobby / 3 background,
/// codebook-only MSE with stop-gradient on theta, weight 0.5: the paper's code):
///
///     L = CE_behaviour(LM(rows)) + sum_s lambda_s MSE(sg(theta_s), C_s[k*_s])
///
/// The LM must be frozen (`causal_lm::freeze()`; checked: `state_error` otherwise), so only the soft
/// tokens and the codebooks train. Not reproduced: the paper's attention-mask concatenation order
/// (`[mask_price, 1, mask_brand, 1, mask]` against embeddings in brand, price order); packed
/// sequences have no padding mask at all, so every row attends causally to every earlier row.
///
/// Behaviour longer than the LM's context minus the prompt rows is truncated from the oldest
/// (the most recent `behaviour_capacity()` tokens are kept; counted by `truncated()`). An empty
/// behaviour is a `value_error` (cold-start users are not trained: they get the feature bank's
/// default code). `codes(slot)` assigns every user its nearest code; `feature_bank(trained)` stores
/// them, with the default code for users that were not trained.
///
/// Errors: `value_error` for a slot count other than the text count, K < 1 or K larger than the
/// user count, a user out of range, an empty behaviour; `state_error` for an LM that is not frozen.
/// Parameters: `prompt.<slot>.table`, `vq.<slot>.codebook` (the LM is not a member).
/// Thread-safety: `const` loss (the truncation counter is atomic).

#include <atomic>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/gather.hpp"
#include "../core/ops/shape.hpp"
#include "../nn/causal_lm.hpp"
#include "../nn/soft_prompt.hpp"
#include "../quant/feature_bank.hpp"
#include "../quant/vector_quantizer.hpp"

namespace recblocks::models {

struct userip_options {
  std::vector<std::string> slots{"hobby", "background"};
  std::vector<index_t> codes{4, 3};  ///< K per slot (the paper's K_hobby = 4, K_background = 3)
  double codebook_weight = 0.5;      ///< lambda per slot
  double commitment_weight = 0.0;    ///< optional VQ commitment (not in the paper's code)
  bool straight_through = false;     ///< unused by the loss (z is not fed to the LM, as the paper); kept on the quantizers
  double init_range = 0.1;           ///< theta ~ U(-init_range, init_range)
};

struct userip_sample {
  index_t user = 0;
  std::vector<index_t> behaviour;  ///< LM token ids, oldest first
};

template <class T>
struct userip_loss {
  var<T> total, lm, vq;
  index_t behaviour_tokens = 0;  ///< targets in the LM term
};

template <class T>
class userip {
 public:
  using scalar_type = T;

  userip(const nn::causal_lm<T>& lm, index_t users, std::vector<std::vector<index_t>> slot_text, const userip_options& opt, rng& gen);

  /// The loss of a batch of samples (see file docs).
  userip_loss<T> loss(tape<T>& t, std::span<const userip_sample> batch) const;

  /// Nearest code of every user's soft token of `slot` (B = users()).
  std::vector<index_t> codes(index_t slot) const { return vq_.at(static_cast<std::size_t>(slot)).assign(prompt_.table(slot).value()); }

  /// A feature bank with one field per slot: the codes of users with `trained[u]`, the default code otherwise.
  quant::feature_bank<T> feature_bank(const std::vector<bool>& trained) const;

  /// Behaviour tokens that fit after the prompt rows.
  index_t behaviour_capacity() const { return lm_->options().context - prompt_rows_; }
  index_t truncated() const { return truncated_.load(); }
  index_t users() const { return prompt_.users(); }
  const nn::soft_prompt<T>& prompt() const { return prompt_; }
  param<T>& prompt_table(index_t slot) { return prompt_.table(slot); }
  param<T>& codebook(index_t slot) { return vq_.at(static_cast<std::size_t>(slot)).codebook(); }
  const quant::vector_quantizer<T>& quantizer(index_t slot) const { return vq_.at(static_cast<std::size_t>(slot)); }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("prompt", self.prompt_);
    for (std::size_t s = 0; s < self.vq_.size(); ++s) v("vq." + self.opt_.slots[s], self.vq_[s]);
  }

 private:
  const nn::causal_lm<T>* lm_;
  userip_options opt_;
  std::vector<std::vector<index_t>> text_;
  index_t prompt_rows_ = 0;
  nn::soft_prompt<T> prompt_;
  std::vector<quant::vector_quantizer<T>> vq_;
  mutable std::atomic<index_t> truncated_{0};
};

template <class T>
userip<T>::userip(const nn::causal_lm<T>& lm, index_t users, std::vector<std::vector<index_t>> slot_text, const userip_options& opt, rng& gen)
    : lm_(&lm), opt_(opt), text_(std::move(slot_text)), prompt_(users, lm.options().d_model, opt.slots, gen, opt.init_range) {
  if (!lm.frozen()) throw state_error("models::userip: the language model must be frozen first (causal_lm::freeze())");
  if (text_.size() != opt.slots.size() || opt.codes.size() != opt.slots.size())
    throw value_error("models::userip: " + std::to_string(opt.slots.size()) + " slots need as many texts and code counts (got " +
                      std::to_string(text_.size()) + " texts, " + std::to_string(opt.codes.size()) + " code counts)");
  for (std::size_t s = 0; s < text_.size(); ++s) {
    prompt_rows_ += static_cast<index_t>(text_[s].size()) + 1;
    if (opt.codes[s] > users)
      throw value_error("models::userip: slot '" + opt.slots[s] + "' asks for K = " + std::to_string(opt.codes[s]) + " codes but there are only " +
                        std::to_string(users) + " users");
    vq_.emplace_back(quant::vector_quantizer_options{.codes = opt.codes[s], .dim = lm.options().d_model, .codebook_weight = opt.codebook_weight,
                                                     .commitment_weight = opt.commitment_weight, .straight_through = opt.straight_through},
                     gen);
  }
  if (prompt_rows_ >= lm.options().context)
    throw value_error("models::userip: the prompt takes " + std::to_string(prompt_rows_) + " rows, no room left in the context of " +
                      std::to_string(lm.options().context));
  // the profile texts go through the LM's embedding: check them now
  for (const auto& tx : text_)
    for (index_t id : tx)
      if (id < 0 || id >= lm.options().vocabulary) throw value_error("models::userip: profile text token " + std::to_string(id) + " outside the vocabulary");
}

template <class T>
userip_loss<T> userip<T>::loss(tape<T>& t, std::span<const userip_sample> batch) const {
  if (!lm_->frozen()) throw state_error("models::userip: the language model must stay frozen");
  if (batch.empty()) throw value_error("models::userip: empty batch");
  const auto B = static_cast<index_t>(batch.size());
  const index_t S = static_cast<index_t>(text_.size()), cap = behaviour_capacity();
  std::vector<index_t> text_ids, ids(static_cast<std::size_t>(B));
  std::vector<std::pair<std::size_t, std::size_t>> kept(static_cast<std::size_t>(B));  // [first, count) of each behaviour
  for (index_t i = 0; i < B; ++i) {
    const auto& smp = batch[static_cast<std::size_t>(i)];
    if (smp.user < 0 || smp.user >= users())
      throw value_error("models::userip: user " + std::to_string(smp.user) + " (sample " + std::to_string(i) + ") outside [0, " + std::to_string(users()) + ")");
    if (smp.behaviour.empty()) throw value_error("models::userip: sample " + std::to_string(i) + " (user " + std::to_string(smp.user) + ") has no behaviour tokens");
    ids[static_cast<std::size_t>(i)] = smp.user;
    const std::size_t n = std::min<std::size_t>(smp.behaviour.size(), static_cast<std::size_t>(cap));
    if (n < smp.behaviour.size()) truncated_.fetch_add(1);
    kept[static_cast<std::size_t>(i)] = {smp.behaviour.size() - n, n};
  }
  // text rows: per sample, every slot text then the kept behaviour
  std::vector<index_t> perm, offsets{0}, rows, targets;
  index_t text_rows = 0;
  for (index_t i = 0; i < B; ++i) {
    for (const auto& tx : text_) text_rows += static_cast<index_t>(tx.size());
    text_rows += static_cast<index_t>(kept[static_cast<std::size_t>(i)].second);
  }
  index_t tr = 0;
  for (index_t i = 0; i < B; ++i) {
    const auto& smp = batch[static_cast<std::size_t>(i)];
    for (index_t s = 0; s < S; ++s) {
      for (index_t id : text_[static_cast<std::size_t>(s)]) {
        text_ids.push_back(id);
        perm.push_back(tr++);
      }
      perm.push_back(text_rows + s * B + i);  // soft token of slot s for sample i
    }
    const auto [first, n] = kept[static_cast<std::size_t>(i)];
    for (std::size_t j = 0; j < n; ++j) {
      rows.push_back(static_cast<index_t>(perm.size()) - 1);  // predicted from the previous row
      targets.push_back(smp.behaviour[first + j]);
      text_ids.push_back(smp.behaviour[first + j]);
      perm.push_back(tr++);
    }
    offsets.push_back(static_cast<index_t>(perm.size()));
  }
  std::vector<var<T>> parts{lm_->embed(t, text_ids)};
  for (index_t s = 0; s < S; ++s) parts.push_back(prompt_(t, ids, s));
  const var<T> x = ops::gather_rows(t, ops::concat_rows(t, std::span<const var<T>>(parts)), perm);
  const var<T> h = lm_->hidden(t, x, offsets);
  userip_loss<T> out;
  out.lm = lm_->loss_at(t, h, rows, targets);
  out.behaviour_tokens = static_cast<index_t>(targets.size());
  for (index_t s = 0; s < S; ++s) {
    const var<T> l = vq_[static_cast<std::size_t>(s)].quantize(t, parts[static_cast<std::size_t>(s + 1)]).loss;
    out.vq = s == 0 ? l : ops::add(t, out.vq, l);
  }
  out.total = ops::add(t, out.lm, out.vq);
  return out;
}

template <class T>
quant::feature_bank<T> userip<T>::feature_bank(const std::vector<bool>& trained) const {
  if (static_cast<index_t>(trained.size()) != users())
    throw value_error("models::userip::feature_bank: " + std::to_string(trained.size()) + " flags for " + std::to_string(users()) + " users");
  quant::feature_bank<T> bank(users(), opt_.slots, opt_.codes);
  for (index_t s = 0; s < static_cast<index_t>(opt_.slots.size()); ++s) {
    const std::vector<index_t> c = codes(s);
    for (index_t u = 0; u < users(); ++u)
      if (trained[static_cast<std::size_t>(u)]) bank.set(u, s, c[static_cast<std::size_t>(u)]);
  }
  return bank;
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class userip<float>;
#endif

}  // namespace recblocks::models
