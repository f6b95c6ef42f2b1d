#pragma once
/// \file gated_model.hpp
/// `featsel::gated_model<Model, Gate>`: any model whose inputs go through `models::feature_embedding`
/// (every model of the registry), with a `models::field_gate` attached to all its embedding layers,
/// presented to `train::trainer` as one module (the model's members under "model.", the gate's under
/// "gate."), so the trainer learns the gate's parameters together with the model's:
///
///     models::registry::visit<float>("shared_bottom", schema, {}, gen, [&](auto& model) {
///       featsel::rank_guided_mask<float> mask(schema, rankings, {});
///       featsel::gated_model gm(model, mask);            // attaches the mask; detaches on destruction
///       train::trainer(gm, opts).fit(train, valid);
///     });
///
/// The loss the trainer adds (`auxiliary_loss`) is the model's own auxiliary loss (M-scan) plus the
/// gate's `penalty(t)` when the gate has one (the learnable gate's sparsity term).
/// `attach_field_gate(module, gate)` is the walker: it visits the module's member list recursively and
/// sets the gate on every `models::feature_embedding` it finds, returning how many; `value_error` when
/// there is none. Neither owns anything; the wrapper is neither copyable nor movable (the embedding
/// layers hold a pointer to the gate). Thread-safety: as the model.

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/ops/elementwise.hpp"
#include "../models/feature_embedding.hpp"

namespace recblocks::featsel {

namespace detail {
template <class X> struct is_feature_embedding : std::false_type {};
template <class T> struct is_feature_embedding<models::feature_embedding<T>> : std::true_type {};
template <class X> struct is_vector : std::false_type {};
template <class X, class A> struct is_vector<std::vector<X, A>> : std::true_type {};
template <class X> struct is_optional : std::false_type {};
template <class X> struct is_optional<std::optional<X>> : std::true_type {};

template <class T>
struct gate_attacher {
  const models::field_gate<T>* gate;
  int found = 0;
  template <class M>
  void operator()(const std::string&, M& m) {
    using U = std::remove_const_t<M>;
    if constexpr (is_feature_embedding<U>::value) {
      const_cast<U&>(m).set_field_gate(gate);
      ++found;
    } else if constexpr (is_vector<U>::value) {
      for (auto& x : m) (*this)("", x);
    } else if constexpr (is_optional<U>::value) {
      if (m) (*this)("", *m);
    } else if constexpr (requires(U& u, gate_attacher& a) { U::visit(u, a); }) {
      U::visit(const_cast<U&>(m), *this);
    }
  }
};
}  // namespace detail

/// Sets `gate` (or `nullptr`) on every `feature_embedding` of `module`; returns how many.
template <class Module>
int attach_field_gate(Module& module, const models::field_gate<typename Module::scalar_type>* gate) {
  detail::gate_attacher<typename Module::scalar_type> a{gate};
  a("", module);
  if (a.found == 0) throw value_error("featsel::attach_field_gate: the model has no models::feature_embedding layer to gate");
  return a.found;
}

template <class Model, class Gate>
class gated_model {
 public:
  using scalar_type = typename Model::scalar_type;
  using T = scalar_type;

  gated_model(Model& model, Gate& gate) : model_(&model), gate_(&gate) { attach_field_gate(model, &gate); }
  ~gated_model() { attach_field_gate(*model_, nullptr); }
  gated_model(const gated_model&) = delete;
  gated_model& operator=(const gated_model&) = delete;

  var<T> operator()(tape<T>& t, const data::batch<T>& b) const { return (*model_)(t, b); }

  var<T> auxiliary_loss(tape<T>& t, const data::batch<T>& b, const var<T>& labels) const
    requires(requires(const Model& m) { m.auxiliary_loss(t, b, labels); } || requires(const Gate& g) { g.penalty(t); })
  {
    std::optional<var<T>> out;
    if constexpr (requires { model_->auxiliary_loss(t, b, labels); }) out = model_->auxiliary_loss(t, b, labels);
    if constexpr (requires { gate_->penalty(t); }) out = out ? ops::add(t, *out, gate_->penalty(t)) : gate_->penalty(t);
    return *out;
  }
  void on_training_step()
    requires requires(Model& m) { m.on_training_step(); }
  { model_->on_training_step(); }

  const data::schema& get_schema() const { return model_->get_schema(); }
  Model& model() const { return *model_; }
  Gate& gate() const { return *gate_; }

  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("model", *self.model_);
    v("gate", *self.gate_);
  }

 private:
  Model* model_;
  Gate* gate_;
};

}  // namespace recblocks::featsel
