#pragma once
/// \file model_concept.hpp
/// `models::ctr_model`: what every multi-scenario CTR model in `recblocks::models` provides, so the
/// trainer, the checkpoint code and the examples work with any of them (and with a user's own).
///
///     template <class T>
///     class my_model {
///      public:
///       using scalar_type = T;                                  // float or double
///       using options_type = my_model_options;                  // hyperparameters, JSON round trip
///       static constexpr const char* name = "my_model";          // checkpoint "model.name"
///
///       my_model(const data::schema&, const options_type&, rng&);
///       /// Logits `[B, 1]` (sigmoid NOT applied), row b from its own scenario's head.
///       var<T> operator()(tape<T>&, const data::batch<T>&) const;
///
///       template <class Self, class V> static void visit(Self& self, V& v);  // the member list (nn/module.hpp)
///       nlohmann::json config() const;                          // == options as JSON
///       static my_model from_config(const data::schema&, const nlohmann::json&, rng&);
///       const data::schema& get_schema() const;                 // the schema it was built for
///     };
///
/// Contract:
/// * The forward validates the batch before computing anything: a scenario id outside
///   `[0, scenarios)` throws `value_error` (row and id named), a batch that lacks a feature the model
///   reads (shapes not those of the schema) throws `shape_error`.
/// * The forward is `const` and composed of tape ops only (no model-specific backward). On an
///   inference tape it touches no state, so one model serves many threads (one tape each).
/// * Parameter and buffer names are dotted, unique and stable (`"embedding.user_id.table"`,
///   `"tower.0.0.bn.running_mean"`): checkpoints are keyed by them.
/// * `from_config(schema, m.config(), g)` rebuilds a model of identical structure (same names and
///   shapes); loading a checkpoint then restores the values.
/// * Per-scenario heads follow `nn::scenario_router` (sorted routing by default, the reference's
///   masked selection as an option).
///
/// Models: `shared_bottom`, `mmoe` (this folder), and the other Scenario-Wise Rec models.

#include <concepts>
#include <nlohmann/json.hpp>
#include <string>

#include "../core/param.hpp"
#include "../core/rng.hpp"
#include "../core/tape.hpp"
#include "../nn/module.hpp"
#include "../data/batch.hpp"
#include "../data/schema.hpp"

namespace recblocks::models {

namespace detail {
/// A member visitor accepted by every module's `visit` (the concept's archetype).
struct member_visitor_archetype {
  template <class X>
  void operator()(const std::string&, X&) const {}
};
}  // namespace detail

/// A multi-scenario CTR model (see file docs).
template <class M>
concept ctr_model =
    requires { typename M::scalar_type; typename M::options_type; } &&
    std::constructible_from<M, const data::schema&, const typename M::options_type&, rng&> &&
    requires(M& m, const M& cm, tape<typename M::scalar_type>& t, const data::batch<typename M::scalar_type>& b,
             const data::schema& s, const nlohmann::json& j, rng& g) {
      { M::name } -> std::convertible_to<const char*>;
      { cm(t, b) } -> std::same_as<var<typename M::scalar_type>>;
      M::visit(m, std::declval<detail::member_visitor_archetype&>());
      M::visit(cm, std::declval<detail::member_visitor_archetype&>());
      { cm.config() } -> std::convertible_to<nlohmann::json>;
      { M::from_config(s, j, g) } -> std::same_as<M>;
      { cm.get_schema() } -> std::convertible_to<const data::schema&>;
    };

}  // namespace recblocks::models
