#pragma once
/// \file llm4msr.hpp
/// LLM4MSR (Wang et al., CIKM 2024; papers.md section 7) as a wrapper over any multi-scenario model:
/// fixed knowledge vectors from a frozen LLM (one per user, one per scenario; `io::knowledge_cache`)
/// feed hierarchical meta networks that generate the weights of layers added to the backbone.
///
///     k_u = K_user[user_b]  [B, Du],   k_s = K_scen[s_b]  [B, Ds]            fixed (buffers)
///     c_u = LeakyReLU(k_u A_u + a_u)   [B, c]                                 meta network, user level
///     e   = embedding(x)               [B, D]                                 the backbone's input layer
///     e'  = e + LeakyReLU(e W(c_u) + b(c_u)) P       W(c) [D, r], b(c) [r]    user-level meta layer,
///                                                    P [r, D]                 at the bottom (per sample)
///     z   = backbone(e')                                                      the backbone, unchanged
///     c_d = LeakyReLU(K_scen[d] A_s + a_s)                                    per scenario d
///     z  += LeakyReLU(e W(c_{s_b}) + b(c_{s_b})) q   W(c) [D, r], q [r, 1]    scenario-level meta layer,
///                                                                            in parallel (per scenario)
///
/// W(c), b(c) are `nn::meta_linear` generators (one LeakyReLU layer each, no batch norm: the
/// knowledge vectors are fixed and few per scenario). The scenario-level weights are generated once
/// per scenario and gathered by row. ASSUMPTION (papers.md: the paper's equations are not
/// available): the compression `A`, the rank-r generated layer with the residual projection `P` (so
/// the backbone's input width does not change) and the parallel logit `q` are this library's
/// choices; defaults c = 32, r = 8. `user_level` / `scenario_level` switch either level off (the
/// ablations).
///
/// What a backbone must provide: the `models::ctr_model` concept (which every Scenario-Wise Rec model
/// and a user's own model satisfy) and, in its member list, a member named `"embedding"` of type
/// `models::feature_embedding<T>` whose output feeds the rest of the model (its `set_hook` inserts
/// the user-level layer; `unhooked` feeds the scenario-level branch). All twelve models qualify.
///
/// Knowledge: rows of the user table are indexed by the encoded id of `user_field` (vocabulary rows,
/// build it with `io::knowledge_cache::table` over the user keys; a user without a vector gets the
/// cache's documented fallback, counted there); the scenario table has one row per scenario. The
/// tables, and a 1x1 "attached" flag, are buffers: a checkpoint carries the vectors themselves, and
/// `options().knowledge` (the cache identity JSON, in `config()`) says which cache they came from.
/// `attach(users, scenarios, identity)` checks the shapes, non-finite values (`value_error`) and, when
/// the options name an identity, that it is the same one (`value_error` naming both). The forward
/// throws `state_error` until knowledge is attached (or restored from a checkpoint).
///
/// Shapes: batch of B rows -> logits `[B, 1]`. Errors: those of the backbone; construction
/// `value_error` for a backbone without a feature_embedding named "embedding", a `user_field` that is
/// not a sparse feature, or non-positive dims. Thread-safety: `const` forward (as `ctr_model`).
/// Moving is safe (the hook lives on the heap); the wrapper is not copyable.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "../core/ops/activation.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/gather.hpp"
#include "../nn/linear.hpp"
#include "../nn/scenario/meta_linear.hpp"
#include "detail/options_json.hpp"
#include "embedding_hook.hpp"
#include "feature_embedding.hpp"
#include "model_concept.hpp"

namespace recblocks::models {

namespace detail {
/// Finds the member named "embedding" of type feature_embedding<T> in a model's member list.
template <class T>
struct embedding_finder {
  feature_embedding<T>*& found;
  void operator()(const std::string& n, feature_embedding<T>& e) const {
    if (n == "embedding") found = &e;
  }
  template <class X>
  void operator()(const std::string&, X&) const {}
};
}  // namespace detail

/// Options of the meta part (the backbone's own options sit beside them in `llm4msr_options`).
struct llm4msr_meta_options {
  std::string user_field = "user_id";  ///< sparse feature whose encoded id indexes the user table
  index_t users = 0;                   ///< rows of the user table (0: the vocabulary of user_field)
  index_t user_dim = 640;              ///< knowledge vector widths (640: Gemma 3 270M's hidden state)
  index_t scenario_dim = 640;
  index_t condition_dim = 32;          ///< meta network's compression of a knowledge vector
  index_t rank = 8;                    ///< width r of the generated layers
  bool user_level = true;              ///< user-level meta layer at the bottom
  bool scenario_level = true;          ///< scenario-level meta layer in parallel
  std::string knowledge;               ///< identity JSON of the cache the vectors come from ("" = unchecked)

  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("user_field", o.user_field);
    f("users", o.users);
    f("user_dim", o.user_dim);
    f("scenario_dim", o.scenario_dim);
    f("condition_dim", o.condition_dim);
    f("rank", o.rank);
    f("user_level", o.user_level);
    f("scenario_level", o.scenario_level);
    f("knowledge", o.knowledge);
  }
};

template <class BackboneOptions>
struct llm4msr_options {
  BackboneOptions backbone;
  llm4msr_meta_options meta;

  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("backbone", o.backbone);
    f("meta", o.meta);
  }
  nlohmann::json to_json() const { return detail::options_to_json(*this); }
  static llm4msr_options from_json(const nlohmann::json& j) {
    return detail::options_from_json<llm4msr_options>(j, "models::llm4msr_options");
  }
};

template <class Backbone>
class llm4msr {
 public:
  using scalar_type = typename Backbone::scalar_type;
  using T = scalar_type;
  using backbone_type = Backbone;
  using options_type = llm4msr_options<typename Backbone::options_type>;
  static constexpr const char* name = "llm4msr";

  llm4msr(const data::schema& s, const options_type& opt, rng& gen);
  llm4msr(llm4msr&&) noexcept = default;
  llm4msr& operator=(llm4msr&&) noexcept = default;

  /// Sets the knowledge (see file docs): `users` `[users, user_dim]`, `scenarios` `[N, scenario_dim]`.
  void attach(const matrix<T>& users, const matrix<T>& scenarios, const std::string& identity = "");
  bool attached() const { return s_->attached(0, 0) != T(0); }

  /// Logits `[B, 1]` in batch order.
  var<T> operator()(tape<T>& t, const data::batch<T>& b) const;

  nlohmann::json config() const { return opt_.to_json(); }
  static llm4msr from_config(const data::schema& s, const nlohmann::json& j, rng& gen) {
    return llm4msr(s, options_type::from_json(j), gen);
  }
  const data::schema& get_schema() const { return backbone().get_schema(); }
  const options_type& options() const { return opt_; }
  const Backbone& backbone() const { return s_->backbone; }
  Backbone& backbone() { return s_->backbone; }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    auto& s = *self.s_;
    v("backbone", s.backbone);
    if (self.opt_.meta.user_level) {
      v("user_condition", s.user_cond);
      v("user_meta", *s.user_meta);
      v("user_projection", *s.user_proj);
    }
    if (self.opt_.meta.scenario_level) {
      v("scenario_condition", s.scen_cond);
      v("scenario_meta", *s.scen_meta);
      v("scenario_output", *s.scen_out);
    }
    v("knowledge_users", s.user_knowledge);
    v("knowledge_scenarios", s.scen_knowledge);
    v("knowledge_attached", s.attached);
  }

 private:
  // Everything the hook points at lives here, on the heap, so moving the wrapper keeps it valid.
  struct state final : embedding_hook<T> {
    state(const data::schema& s, const options_type& opt, rng& gen);
    var<T> operator()(tape<T>& t, const data::batch<T>& b, std::span<const index_t> rows, const var<T>& e) const override;

    Backbone backbone;
    feature_embedding<T>* embedding = nullptr;
    index_t user_pos = 0, users = 0, dim = 0;
    nn::linear<T> user_cond, scen_cond;
    std::optional<nn::meta_linear<T>> user_meta, scen_meta;
    std::optional<nn::linear<T>> user_proj, scen_out;
    mutable matrix<T> user_knowledge, scen_knowledge, attached;
  };
  static feature_embedding<T>* find_embedding(Backbone& m);

  options_type opt_;
  std::unique_ptr<state> s_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class Backbone>
feature_embedding<typename Backbone::scalar_type>* llm4msr<Backbone>::find_embedding(Backbone& m) {
  feature_embedding<T>* found = nullptr;
  detail::embedding_finder<T> f{found};
  Backbone::visit(m, f);
  if (!found)
    throw value_error(std::string("models::llm4msr: backbone '") + Backbone::name +
                      "' has no member 'embedding' of type models::feature_embedding (see llm4msr.hpp: what a backbone must provide)");
  return found;
}

template <class Backbone>
llm4msr<Backbone>::state::state(const data::schema& s, const options_type& opt, rng& gen)
    : backbone(s, opt.backbone, gen),
      embedding(find_embedding(backbone)),
      user_cond(std::max<index_t>(opt.meta.user_dim, 1), std::max<index_t>(opt.meta.condition_dim, 1), gen),
      scen_cond(std::max<index_t>(opt.meta.scenario_dim, 1), std::max<index_t>(opt.meta.condition_dim, 1), gen) {
  const auto& m = opt.meta;
  const std::string where = "models::llm4msr: ";
  if (m.user_dim < 1 || m.scenario_dim < 1 || m.condition_dim < 1 || m.rank < 1 || m.users < 0)
    throw value_error(where + "user_dim, scenario_dim, condition_dim and rank must be >= 1 and users >= 0, got " +
                      std::to_string(m.user_dim) + ", " + std::to_string(m.scenario_dim) + ", " + std::to_string(m.condition_dim) +
                      ", " + std::to_string(m.rank) + ", " + std::to_string(m.users));
  if (!s.contains(m.user_field) || s.at(m.user_field).kind != data::feature_kind::sparse)
    throw value_error(where + "user_field '" + m.user_field + "' is not a sparse feature of the schema");
  user_pos = s.index_of(m.user_field);
  users = m.users > 0 ? m.users : s.at(m.user_field).vocabulary;
  if (users < s.at(m.user_field).vocabulary)
    throw value_error(where + "users = " + std::to_string(users) + " is below the vocabulary of '" + m.user_field + "' (" +
                      std::to_string(s.at(m.user_field).vocabulary) + ")");
  dim = embedding->output_dim();
  const nn::meta_linear_options gen_opt{.in = dim, .out = m.rank, .condition_dim = m.condition_dim, .batch_norm = false,
                                        .act = activation::leaky_relu, .bias = true};
  if (m.user_level) {
    user_meta.emplace(gen_opt, gen);
    user_proj.emplace(m.rank, dim, gen, false);
  }
  if (m.scenario_level) {
    scen_meta.emplace(gen_opt, gen);
    scen_out.emplace(m.rank, 1, gen, false);
  }
  user_knowledge.setZero(users, m.user_dim);
  scen_knowledge.setZero(s.scenario_count(), m.scenario_dim);
  attached.setZero(1, 1);
}

template <class Backbone>
var<typename Backbone::scalar_type> llm4msr<Backbone>::state::operator()(tape<T>& t, const data::batch<T>& b,
                                                                        std::span<const index_t> rows, const var<T>& e) const {
  const auto all = b.sparse_ids(user_pos);
  std::span<const index_t> ids = all;
  if (!rows.empty()) {
    const std::span<index_t> picked = t.template scratch_span<index_t>(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) picked[i] = all[static_cast<std::size_t>(rows[i])];
    ids = picked;
  }
  const var<T> K = t.view(user_knowledge.data(), user_knowledge.rows(), user_knowledge.cols());
  const var<T> c = ops::activate(t, user_cond(t, ops::gather_rows(t, K, ids)), activation::leaky_relu);
  const var<T> h = ops::activate(t, (*user_meta)(t, e, c), activation::leaky_relu);
  return ops::add(t, e, (*user_proj)(t, h));
}

template <class Backbone>
llm4msr<Backbone>::llm4msr(const data::schema& s, const options_type& opt, rng& gen)
    : opt_(opt), s_(std::make_unique<state>(s, opt, gen)) {
  if (opt_.meta.user_level) s_->embedding->set_hook(s_.get());
}

template <class Backbone>
void llm4msr<Backbone>::attach(const matrix<T>& users, const matrix<T>& scenarios, const std::string& identity) {
  const std::string where = "models::llm4msr::attach: ";
  if (users.rows() != s_->user_knowledge.rows() || users.cols() != s_->user_knowledge.cols())
    throw shape_error(where + "user knowledge is " + shape_string(users.rows(), users.cols()) + ", the model needs " +
                      shape_string(s_->user_knowledge.rows(), s_->user_knowledge.cols()) + " (users x user_dim)");
  if (scenarios.rows() != s_->scen_knowledge.rows() || scenarios.cols() != s_->scen_knowledge.cols())
    throw shape_error(where + "scenario knowledge is " + shape_string(scenarios.rows(), scenarios.cols()) + ", the model needs " +
                      shape_string(s_->scen_knowledge.rows(), s_->scen_knowledge.cols()) + " (scenarios x scenario_dim)");
  if (!users.allFinite()) throw value_error(where + "user knowledge has a non-finite value");
  if (!scenarios.allFinite()) throw value_error(where + "scenario knowledge has a non-finite value");
  if (!opt_.meta.knowledge.empty() && !identity.empty() && identity != opt_.meta.knowledge)
    throw value_error(where + "the model was built for knowledge " + opt_.meta.knowledge + " but " + identity + " was given");
  if (opt_.meta.knowledge.empty()) opt_.meta.knowledge = identity;
  s_->user_knowledge = users;
  s_->scen_knowledge = scenarios;
  s_->attached(0, 0) = T(1);
}

template <class Backbone>
var<typename Backbone::scalar_type> llm4msr<Backbone>::operator()(tape<T>& t, const data::batch<T>& b) const {
  if (!attached())
    throw state_error("models::llm4msr: no knowledge attached (call attach() or restore a checkpoint first)");
  var<T> z = s_->backbone(t, b);
  if (!opt_.meta.scenario_level) return z;
  const var<T> e = s_->embedding->unhooked(t, b);
  const var<T> S = t.view(s_->scen_knowledge.data(), s_->scen_knowledge.rows(), s_->scen_knowledge.cols());
  const var<T> c = ops::activate(t, s_->scen_cond(t, S), activation::leaky_relu);  // [N, condition_dim]
  const auto& meta = *s_->scen_meta;
  const var<T> W = ops::gather_rows(t, meta.weights(t, c), std::span<const index_t>(b.scenario));
  const var<T> bias = ops::gather_rows(t, meta.bias(t, c), std::span<const index_t>(b.scenario));
  const var<T> h = ops::activate(t, meta.apply(t, e, W, bias), activation::leaky_relu);
  return ops::add(t, z, (*s_->scen_out)(t, h));
}

}  // namespace recblocks::models
