#pragma once
/// \file mscan.hpp
/// M-scan (Multi-Scenario Causal-driven Adaptive Network, Zhu et al., WWW 2024; papers.md section 9),
/// composed from generic blocks with no model-specific backward. No code or full text of the paper was
/// found: the architecture below is the documented assumption of papers.md (see docs/models/mscan.md).
///
///     e      = feature_embedding(x) with the scenario embedded (S -> M)        [B, 16 F + J + 16]
///     t      = E_item[target item]                                             [B, d]
///     H, h   = GRU(E_item[seq_current])              states [B * L, h], last state [B, h]
///     r      = target_attention(t; H, H)                                       [B, h]
///     for each other scenario k:  (a_k, b_k) = co_attention(H, E_item[seq_other_k])   [B, d], [B, h]
///     c      = mean_k a_k ; mean_k b_k                 (interests of other scenarios aligned with the current one)
///     y_m    = MLP([e, t, r, h, c])                    interest branch M -> Y          [B, 1]
///     y_s    = b[scenario]                             scenario-only branch S -> Y     [B, 1]
///     logits = counterfactual_head(y_m, y_s)           fused on a training tape, TIE at inference
///
/// Training loss (the trainer adds `auxiliary_loss`): BCE(fused, y) + lambda BCE(sigmoid(y_s), y).
/// Ablations / baselines as options: `cross` = co_attention (default) | target_attention (each other
/// sequence pooled by target attention instead) | none (other scenarios unused); `debias = false`
/// (y_m alone, no bias branch, no auxiliary loss); `head.c = 0` (the bias branch trained but not
/// subtracted); `history = whole`: the DIN-style single-sequence baseline — target attention over the
/// unsplit history `seq_all`, no GRU, no per-scenario split, no co-attention.
///
/// Inputs: a schema with a scenario feature, a sparse item feature (`item_feature`; "" = the sparse
/// feature whose vocabulary equals the sequences'), and the sequence features of
/// `data::sequence_builder::add_features` (`<prefix>current`, `<prefix>other_0..S-2`, `<prefix>all`),
/// ids left-aligned, 0-padded. Lengths are the counts of leading non-zero ids.
///
/// Parameters: `embedding.*`, `item.table`, `gru.*`, `attention.weight`, `co_attention.weight` (or
/// `other_attention.weight`), `mlp.*`, `bias.table` [S, 1]. Buffers: the MLP's batch-norm statistics.
/// Errors: construction `value_error` for a schema without a scenario feature, a missing sequence or
/// item feature, vocabularies that differ, bad dims; the forward throws before computing anything:
/// `shape_error` for a batch without the sequence features or with the wrong widths, `value_error`
/// naming the feature, row and position for an id outside the vocabulary or a non-zero id in the
/// padding, and the checks of `models::ctr_model`. An empty history is valid (zeros, never NaN).
/// Thread-safety: `const` forward. Complexity per batch: O(B (L h (d + h) + (S - 1) L^2 (d + h) + MLP)).

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/ops/gather.hpp"
#include "../core/ops/shape.hpp"
#include "../nn/co_attention.hpp"
#include "../nn/counterfactual_head.hpp"
#include "../nn/embedding.hpp"
#include "../nn/gru.hpp"
#include "../nn/mlp.hpp"
#include "../nn/target_attention.hpp"
#include "detail/options_json.hpp"
#include "feature_embedding.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

enum class mscan_cross { co_attention, target_attention, none };
enum class mscan_history { per_scenario, whole };

inline const char* to_string(mscan_cross c) {
  return c == mscan_cross::co_attention ? "co_attention" : c == mscan_cross::target_attention ? "target_attention" : "none";
}
inline const char* to_string(mscan_history h) { return h == mscan_history::per_scenario ? "per_scenario" : "whole"; }
inline mscan_cross enum_from_string(std::type_identity<mscan_cross>, const std::string& s) {
  if (s == "co_attention") return mscan_cross::co_attention;
  if (s == "target_attention") return mscan_cross::target_attention;
  if (s == "none") return mscan_cross::none;
  throw value_error("models::mscan: unknown cross '" + s + "' (expected co_attention, target_attention or none)");
}
inline mscan_history enum_from_string(std::type_identity<mscan_history>, const std::string& s) {
  if (s == "per_scenario") return mscan_history::per_scenario;
  if (s == "whole") return mscan_history::whole;
  throw value_error("models::mscan: unknown history '" + s + "' (expected per_scenario or whole)");
}

struct mscan_options {
  feature_embedding_options embedding = with_scenario();  ///< every sparse and dense feature + the scenario
  std::string item_feature;                    ///< the target item's sparse feature ("" = found by vocabulary)
  std::string sequence_prefix = "seq_";
  index_t item_dim = 16;                       ///< d: item embedding of the target and the sequences
  double item_init_stddev = 0.05;
  index_t hidden = 16;                         ///< h: GRU state
  mscan_history history = mscan_history::per_scenario;
  mscan_cross cross = mscan_cross::co_attention;
  bool debias = true;
  nn::counterfactual_head_options head;        ///< fusion, c, lambda, score
  std::vector<index_t> mlp_dims{128, 64};
  activation act = activation::relu;
  bool batch_norm = true;
  double dropout = 0.0;

  /// The one description of these options (JSON name <-> member; the head's keys are flat).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("embedding", o.embedding);
    f("item_feature", o.item_feature);
    f("sequence_prefix", o.sequence_prefix);
    f("item_dim", o.item_dim);
    f("item_init_stddev", o.item_init_stddev);
    f("hidden", o.hidden);
    f("history", o.history);
    f("cross", o.cross);
    f("debias", o.debias);
    f("fusion", o.head.fusion);
    f("c", o.head.c);
    f("lambda", o.head.lambda);
    f("score", o.head.score);
    f("mlp_dims", o.mlp_dims);
    f("activation", o.act);
    f("batch_norm", o.batch_norm);
    f("dropout", o.dropout);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  /// Inverse of `to_json`; missing keys keep defaults; `parse_error` for a wrong type or an unknown key.
  static mscan_options from_json(const nlohmann::json& j) { return detail::options_from_json<mscan_options>(j, "models::mscan_options"); }

 private:
  static feature_embedding_options with_scenario() {
    feature_embedding_options e;
    e.embed_scenario = true;
    return e;
  }
};

template <class T>
class mscan {
 public:
  using scalar_type = T;
  using options_type = mscan_options;
  static constexpr const char* name = "mscan";

  mscan(const data::schema& s, const options_type& opt, rng& gen);

  /// Logits `[B, 1]`: the fused score on a training tape, the debiased (TIE) score otherwise.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  /// The dual loss's bias term `lambda BCE(sigmoid(y_s), y)` `[1, 1]` (zero without `debias`).
  var<T> auxiliary_loss(tape<T>& t, const data::batch<T>& b, const var<T>& labels) const;

  /// The two branch logits `{y_m, y_s}` `[B, 1]` each (y_s zeros without `debias`).
  std::pair<var<T>, var<T>> branches(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static mscan from_config(const data::schema& s, const nlohmann::json& j, rng& gen) { return mscan(s, options_type::from_json(j), gen); }
  const data::schema& get_schema() const { return embedding_.get_schema(); }
  const options_type& options() const { return opt_; }
  index_t scenarios() const { return scenarios_; }

  /// Sets the TIE coefficient c used at inference (c does not enter training, so one trained model can
  /// be scored at several c). `value_error` for a negative or non-finite c. Not while other threads
  /// run the forward.
  void set_debias_coefficient(double c) {
    nn::counterfactual_head_options h = opt_.head;
    h.c = c;
    head_ = nn::counterfactual_head<T>(h);
    opt_.head = h;
  }

  /// The member list (see nn/module.hpp).
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embedding", self.embedding_);
    v("item", self.item_);
    v("gru", self.gru_);
    v("attention", self.attention_);
    v("co_attention", self.co_);
    v("other_attention", self.other_);
    v("mlp", self.mlp_);
    if (self.opt_.debias) v("bias", self.bias_);
  }

 private:
  struct sequence_input {
    const_map<index_t> ids;
    std::vector<index_t> lengths;
  };
  sequence_input sequence(const data::batch<T>& b, std::size_t k) const;
  var<T> bias_logit(tape<T>& t, const data::batch<T>& b) const;
  static index_t input_width(const options_type& opt, index_t embedded, index_t others);

  options_type opt_;
  index_t scenarios_ = 0;
  index_t item_field_ = 0;                 // row of batch::sparse
  std::vector<index_t> seq_;               // positions in batch::sequences: current, others..., all
  std::vector<std::string> seq_names_;
  std::vector<index_t> seq_len_;           // max lengths
  index_t vocabulary_ = 0;
  feature_embedding<T> embedding_;
  nn::embedding<T> item_;
  std::optional<nn::gru<T>> gru_;
  nn::target_attention<T> attention_;
  std::optional<nn::co_attention<T>> co_;
  std::optional<nn::target_attention<T>> other_;
  nn::mlp<T> mlp_;
  nn::embedding<T> bias_;
  nn::counterfactual_head<T> head_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
index_t mscan<T>::input_width(const options_type& opt, index_t embedded, index_t others) {
  if (opt.history == mscan_history::whole) return embedded + 2 * opt.item_dim;
  index_t w = embedded + opt.item_dim + 2 * opt.hidden;
  if (others > 0 && opt.cross == mscan_cross::co_attention) w += opt.item_dim + opt.hidden;
  if (others > 0 && opt.cross == mscan_cross::target_attention) w += opt.item_dim;
  return w;
}

namespace detail {
inline index_t mscan_sequence_vocabulary(const data::schema& s, const mscan_options& opt) {
  const std::string name = opt.sequence_prefix + (opt.history == mscan_history::whole ? "all" : "current");
  if (!s.contains(name) || s.at(name).kind != data::feature_kind::sequence)
    throw value_error("models::mscan: the schema has no sequence feature '" + name +
                      "' (build the sequences with data::sequence_builder::add_features)");
  return s.at(name).vocabulary;
}
inline mscan_options mscan_checked(mscan_options opt) {
  if (opt.item_dim < 1 || opt.hidden < 1)
    throw value_error("models::mscan: item_dim and hidden must be >= 1, got " + std::to_string(opt.item_dim) + ", " +
                      std::to_string(opt.hidden));
  if (opt.mlp_dims.empty()) throw value_error("models::mscan: mlp_dims must not be empty");
  if (!(opt.item_init_stddev >= 0)) throw value_error("models::mscan: item_init_stddev must be >= 0");
  return opt;
}
}  // namespace detail

template <class T>
mscan<T>::mscan(const data::schema& s, const options_type& opt_in, rng& gen)
    : opt_(detail::mscan_checked(opt_in)),
      scenarios_(s.scenario_count()),
      vocabulary_(detail::mscan_sequence_vocabulary(s, opt_)),
      embedding_(s, opt_.embedding, gen),
      item_(vocabulary_, opt_.item_dim, gen, nn::init::normal(0.0, opt_.item_init_stddev)),
      attention_(opt_.item_dim, opt_.history == mscan_history::whole ? opt_.item_dim : opt_.hidden, gen),
      mlp_(nn::mlp_options{.input_dim = input_width(opt_, embedding_.output_dim(), std::max<index_t>(s.scenario_count() - 1, 0)),
                           .hidden = opt_.mlp_dims, .act = opt_.act, .batch_norm = opt_.batch_norm, .dropout = opt_.dropout,
                           .output_layer = true},
           gen),
      bias_(std::max<index_t>(s.scenario_count(), 1), 1, gen, nn::init::zeros(), false),
      head_(opt_.head) {
  const std::string where = "models::mscan: ";
  if (scenarios_ < 1) throw value_error(where + "the schema has no scenario feature");
  // the target item feature
  std::string item = opt_.item_feature;
  if (item.empty()) {
    for (const auto* f : s.of_kind(data::feature_kind::sparse))
      if (f->vocabulary == vocabulary_) {
        if (!item.empty())
          throw value_error(where + "sparse features '" + item + "' and '" + f->name + "' both have the sequences' vocabulary " +
                            std::to_string(vocabulary_) + "; set item_feature");
        item = f->name;
      }
    if (item.empty())
      throw value_error(where + "no sparse feature has the sequences' vocabulary " + std::to_string(vocabulary_) + "; set item_feature");
  }
  if (!s.contains(item) || s.at(item).kind != data::feature_kind::sparse)
    throw value_error(where + "item_feature '" + item + "' is not a sparse feature of the schema");
  if (s.at(item).vocabulary != vocabulary_)
    throw value_error(where + "item_feature '" + item + "' has vocabulary " + std::to_string(s.at(item).vocabulary) +
                      ", the sequences " + std::to_string(vocabulary_));
  item_field_ = s.index_of(item);
  if (opt_.history == mscan_history::whole) {
    seq_names_.push_back(opt_.sequence_prefix + "all");
  } else {
    seq_names_.push_back(opt_.sequence_prefix + "current");
    if (opt_.cross != mscan_cross::none)
      for (index_t k = 0; k + 1 < scenarios_; ++k) seq_names_.push_back(opt_.sequence_prefix + "other_" + std::to_string(k));
  }
  for (const auto& n : seq_names_) {
    if (!s.contains(n) || s.at(n).kind != data::feature_kind::sequence)
      throw value_error(where + "the schema has no sequence feature '" + n + "'");
    if (s.at(n).vocabulary != vocabulary_)
      throw value_error(where + "sequence '" + n + "' has vocabulary " + std::to_string(s.at(n).vocabulary) + ", expected " +
                        std::to_string(vocabulary_));
    seq_.push_back(s.index_of(n));
    seq_len_.push_back(s.at(n).max_length);
  }
  if (opt_.history == mscan_history::per_scenario) {
    gru_.emplace(opt_.item_dim, opt_.hidden, gen);
    if (scenarios_ > 1 && opt_.cross == mscan_cross::co_attention) co_.emplace(opt_.hidden, opt_.item_dim, gen);
    if (scenarios_ > 1 && opt_.cross == mscan_cross::target_attention) other_.emplace(opt_.item_dim, opt_.item_dim, gen);
  }
}

template <class T>
typename mscan<T>::sequence_input mscan<T>::sequence(const data::batch<T>& b, std::size_t k) const {
  const std::string& n = seq_names_[k];
  const index_t pos = seq_[k], L = seq_len_[k];
  if (pos >= static_cast<index_t>(b.sequences.size()))
    throw shape_error("models::mscan: the batch has " + std::to_string(b.sequences.size()) + " sequence features, '" + n +
                      "' is number " + std::to_string(pos));
  const const_map<index_t> ids = b.sequence_view(pos);
  if (ids.rows() != b.size || ids.cols() != L)
    throw shape_error("models::mscan: sequence '" + n + "' is " + shape_string(ids.rows(), ids.cols()) + ", expected " +
                      shape_string(b.size, L));
  sequence_input in{ids, std::vector<index_t>(static_cast<std::size_t>(b.size), 0)};
  for (index_t r = 0; r < b.size; ++r) {
    index_t len = 0;
    for (index_t p = 0; p < L; ++p) {
      const index_t id = ids(r, p);
      if (id < 0 || id >= vocabulary_)
        throw value_error("models::mscan: sequence '" + n + "', row " + std::to_string(r) + ", position " + std::to_string(p) +
                          ": id " + std::to_string(id) + " outside [0, " + std::to_string(vocabulary_) + ")");
      if (id != 0 && len != p)
        throw value_error("models::mscan: sequence '" + n + "', row " + std::to_string(r) + ": id " + std::to_string(id) +
                          " at position " + std::to_string(p) + " follows padding (sequences are left-aligned)");
      if (id != 0) ++len;
    }
    in.lengths[static_cast<std::size_t>(r)] = len;
  }
  return in;
}

template <class T>
var<T> mscan<T>::bias_logit(tape<T>& t, const data::batch<T>& b) const {
  return bias_(t, std::span<const index_t>(b.scenario));
}

template <class T>
std::pair<var<T>, var<T>> mscan<T>::branches(tape<T>& t, const data::batch<T>& b) const {
  embedding_.check(b);  // scenario ids, sparse and dense shapes, sparse ids
  std::vector<sequence_input> seqs;
  seqs.reserve(seq_.size());
  for (std::size_t k = 0; k < seq_.size(); ++k) seqs.push_back(sequence(b, k));
  const index_t B = b.size;
  const var<T> e = embedding_(t, b);
  const var<T> target = item_(t, b.sparse_ids(item_field_));
  auto flat = [](const sequence_input& s) { return std::span<const index_t>(s.ids.data(), static_cast<std::size_t>(s.ids.size())); };
  std::vector<var<T>> parts{e, target};
  if (opt_.history == mscan_history::whole) {
    const var<T> h = item_(t, flat(seqs[0]));
    parts.push_back(attention_(t, target, h, h, seqs[0].lengths));
  } else {
    const var<T> x = item_(t, flat(seqs[0]));
    const auto g = (*gru_)(t, x, seq_len_[0], seqs[0].lengths);
    parts.push_back(attention_(t, target, g.states, g.states, seqs[0].lengths));
    parts.push_back(g.last);
    if (co_ || other_) {
      var<T> sa, sb;
      for (std::size_t k = 1; k < seqs.size(); ++k) {
        const var<T> o = item_(t, flat(seqs[k]));
        if (co_) {
          const auto c = (*co_)(t, g.states, o, seqs[0].lengths, seqs[k].lengths);
          sa = k == 1 ? c.a_summary : ops::add(t, sa, c.a_summary);
          sb = k == 1 ? c.b_summary : ops::add(t, sb, c.b_summary);
        } else {
          const var<T> p = (*other_)(t, target, o, o, seqs[k].lengths);
          sa = k == 1 ? p : ops::add(t, sa, p);
        }
      }
      const T inv = T(1) / T(seqs.size() - 1);
      parts.push_back(ops::mul_scalar(t, sa, inv));
      if (co_) parts.push_back(ops::mul_scalar(t, sb, inv));
    }
  }
  const var<T> y_m = mlp_(t, ops::concat_cols(t, std::span<const var<T>>(parts)));
  const var<T> y_s = opt_.debias ? bias_logit(t, b) : t.constant(matrix<T>::Zero(B, 1));
  return {y_m, y_s};
}

template <class T>
var<T> mscan<T>::operator()(tape<T>& t, const data::batch<T>& b) const {
  const auto [y_m, y_s] = branches(t, b);
  return opt_.debias ? head_(t, y_m, y_s) : y_m;
}

template <class T>
var<T> mscan<T>::auxiliary_loss(tape<T>& t, const data::batch<T>& b, const var<T>& labels) const {
  if (!opt_.debias || opt_.head.lambda == 0) return t.constant(matrix<T>::Zero(1, 1));
  embedding_.check(b);
  return head_.bias_loss(t, bias_logit(t, b), labels);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
extern template class mscan<float>;
#endif

}  // namespace recblocks::models
