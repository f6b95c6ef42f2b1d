#pragma once
/// \file sequential.hpp
/// Compile-time composition: `sequential<A, B, C>` applies `C(B(A(x)))`, each layer a module whose
/// forward is `var<T> operator()(tape<T>&, const var<T>&) const`. Layers are held by value in a
/// tuple: no virtual call, no heap allocation; parameter names are prefixed "0.", "1.", ...
///
///     nn::sequential<nn::linear<float>, nn::activation_layer<float>, nn::linear<float>> net(
///         nn::linear<float>(64, 32, gen), nn::activation_layer<float>(activation::relu), nn::linear<float>(32, 1, gen));

#include <string>
#include <tuple>
#include <utility>

#include "../core/ops/activation.hpp"
#include "../core/ops/dropout.hpp"
#include "module.hpp"

namespace recblocks::nn {

/// A parameter-free activation as a layer.
template <class T>
class activation_layer {
 public:
  using scalar_type = T;
  explicit activation_layer(activation act) : act_(act) {}
  var<T> operator()(tape<T>& t, const var<T>& x) const { return ops::activate(t, x, act_); }
  template <class Visitor>
  void visit_parameters(Visitor&&, const std::string&) {}

 private:
  activation act_;
};

/// Dropout as a layer (active on training tapes only).
template <class T>
class dropout_layer {
 public:
  using scalar_type = T;
  explicit dropout_layer(T p) : p_(p) {}
  var<T> operator()(tape<T>& t, const var<T>& x) const { return ops::dropout(t, x, p_); }
  template <class Visitor>
  void visit_parameters(Visitor&&, const std::string&) {}

 private:
  T p_;
};

template <class First, class... Rest>
class sequential {
 public:
  using scalar_type = typename First::scalar_type;
  using T = scalar_type;

  explicit sequential(First first, Rest... rest) : layers_(std::move(first), std::move(rest)...) {}

  var<T> operator()(tape<T>& t, const var<T>& x) const {
    return std::apply([&](const auto&... layer) {
      var<T> h = x;
      ((h = layer(t, h)), ...);
      return h;
    }, layers_);
  }

  /// The i-th layer.
  template <std::size_t I>
  auto& get() { return std::get<I>(layers_); }

  template <class Visitor>
  void visit_parameters(Visitor&& v, const std::string& prefix) {
    visit_impl(v, prefix, std::index_sequence_for<First, Rest...>{});
  }

 private:
  template <class Visitor, std::size_t... I>
  void visit_impl(Visitor& v, const std::string& prefix, std::index_sequence<I...>) {
    (std::get<I>(layers_).visit_parameters(v, join_name(prefix, std::to_string(I))), ...);
  }
  std::tuple<First, Rest...> layers_;
};

}  // namespace recblocks::nn
