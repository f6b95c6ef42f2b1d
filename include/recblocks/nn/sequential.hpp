#pragma once
/// \file sequential.hpp
/// Compile-time composition: `sequential<A, B, C>` applies `C(B(A(x)))`, each layer a module whose
/// forward is `var<T> operator()(tape<T>&, const var<T>&) const`. Layers are held by value in a
/// tuple: no virtual call, no heap allocation; parameter and buffer names are prefixed "0.", "1.", ...
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
  template <class Self, class V>
  static void visit(Self&, V&) {}  // no members

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
  template <class Self, class V>
  static void visit(Self&, V&) {}  // no members

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

  template <std::size_t I>
  const auto& get() const { return std::get<I>(layers_); }

  /// The member list: layer I is named "I" (its parameters and buffers both).
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    std::apply([&](auto&... layer) {
      std::size_t i = 0;
      ((v(std::to_string(i++), layer)), ...);
    }, self.layers_);
  }

 private:
  std::tuple<First, Rest...> layers_;
};

}  // namespace recblocks::nn
