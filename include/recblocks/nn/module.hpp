#pragma once
/// \file module.hpp
/// What makes a block a module: one member list, and helpers over any module's members.
///
/// A module names each of its parameters, buffers and sub-modules exactly once, in one static
/// function template that serves both `const` and mutable access (`Self` is `M` or `const M`):
///
///     template <class Self, class V>
///     static void visit(Self& self, V& v) {
///       v("weight", self.weight_);          // param<T>               -> a parameter
///       v("running_mean", self.mean_);      // matrix<T>              -> a buffer (state saved in checkpoints)
///       v("bottom", self.bottom_);          // a module               -> its members, prefixed "bottom."
///       v("tower", self.towers_);           // std::vector of modules -> "tower.0.", "tower.1.", ...
///       v("hyper", self.hyper_);            // std::optional<module>  -> visited when engaged
///     }
///
/// Everything else follows from that list: `visit_parameters` / `visit_buffers` (dotted names such as
/// "tower.0.linear.weight", in a fixed order), `parameters`, `named_parameters`, `named_buffers`,
/// `parameter_count`, `zero_grad`, optimizers, gradient checks and checkpoints (`io::checkpoint`
/// saves any module from its member list alone). Visiting a `const` module yields `const param<T>&`
/// and `const matrix<T>&` (buffers declared `mutable` stay writable, as batch norm's running
/// statistics are). A module's forward is a `const` member taking a `tape<T>&`.
///
/// Thread-safety: visiting allocates (names) and is meant for setup, saving and loading, not the
/// hot path. Errors: none of its own.

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/param.hpp"

namespace recblocks::nn {

/// Joins a prefix and a local name with a dot ("" + "weight" = "weight").
inline std::string join_name(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (name.empty()) return prefix;
  return prefix + "." + name;
}

namespace detail {
template <class X>
struct is_param : std::false_type {};
template <class T>
struct is_param<param<T>> : std::true_type {};
template <class X>
struct is_std_vector : std::false_type {};
template <class X, class A>
struct is_std_vector<std::vector<X, A>> : std::true_type {};
template <class X>
struct is_std_optional : std::false_type {};
template <class X>
struct is_std_optional<std::optional<X>> : std::true_type {};
template <class X>
struct is_dense_matrix : std::false_type {};
template <class S, int R, int C, int O, int MR, int MC>
struct is_dense_matrix<Eigen::Matrix<S, R, C, O, MR, MC>> : std::true_type {};

/// Walks a module's member list, prefixing names, and calls `on_param(name, p)` for parameters and
/// `on_buffer(name, m)` for buffers.
template <class OnParam, class OnBuffer>
class member_walker {
 public:
  member_walker(OnParam& on_param, OnBuffer& on_buffer, std::string prefix)
      : on_param_(on_param), on_buffer_(on_buffer), prefix_(std::move(prefix)) {}

  template <class Member>
  void operator()(const std::string& name, Member& m) {
    using U = std::remove_const_t<Member>;
    if constexpr (is_param<U>::value) {
      on_param_(join_name(prefix_, name), m);
    } else if constexpr (is_dense_matrix<U>::value) {
      on_buffer_(join_name(prefix_, name), m);
    } else if constexpr (is_std_vector<U>::value) {
      for (std::size_t k = 0; k < m.size(); ++k) (*this)(join_name(name, std::to_string(k)), m[k]);
    } else if constexpr (is_std_optional<U>::value) {
      if (m) (*this)(name, *m);
    } else {
      member_walker sub(on_param_, on_buffer_, join_name(prefix_, name));
      U::visit(m, sub);
    }
  }

 private:
  OnParam& on_param_;
  OnBuffer& on_buffer_;
  std::string prefix_;
};

struct ignore_member {
  template <class X>
  void operator()(const std::string&, X&) const {}
};
}  // namespace detail

/// Walks every parameter (`on_param(name, param<T>&)`) and buffer (`on_buffer(name, matrix<T>&)`)
/// of `m` in member-list order (`const` module: `const` references).
template <class Module, class OnParam, class OnBuffer>
void visit_members(Module& m, OnParam&& on_param, OnBuffer&& on_buffer, const std::string& prefix = "") {
  detail::member_walker<std::remove_reference_t<OnParam>, std::remove_reference_t<OnBuffer>> w(on_param, on_buffer, prefix);
  std::remove_const_t<Module>::visit(m, w);
}

/// Calls `f(dotted name, param<T>&)` once per parameter of `m` (`const param<T>&` for a const `m`).
template <class Module, class F>
void visit_parameters(Module& m, F&& f, const std::string& prefix = "") {
  visit_members(m, f, detail::ignore_member{}, prefix);
}

/// Calls `f(dotted name, matrix<T>&)` once per buffer of `m` (running statistics, centroids, ...).
template <class Module, class F>
void visit_buffers(Module& m, F&& f, const std::string& prefix = "") {
  visit_members(m, detail::ignore_member{}, f, prefix);
}

/// Pointers to every parameter of `m`, in visiting order (`const param<T>*` for a const `m`).
template <class Module>
auto parameters(Module& m) {
  using T = typename std::remove_const_t<Module>::scalar_type;
  using P = std::conditional_t<std::is_const_v<Module>, const param<T>, param<T>>;
  std::vector<P*> out;
  visit_parameters(m, [&](const std::string&, P& p) { out.push_back(&p); });
  return out;
}

/// `(dotted name, parameter)` pairs of every parameter of `m`, in visiting order.
template <class Module>
auto named_parameters(Module& m, const std::string& prefix = "") {
  using T = typename std::remove_const_t<Module>::scalar_type;
  using P = std::conditional_t<std::is_const_v<Module>, const param<T>, param<T>>;
  std::vector<std::pair<std::string, P*>> out;
  visit_parameters(m, [&](const std::string& name, P& p) { out.emplace_back(name, &p); }, prefix);
  return out;
}

/// `(dotted name, buffer)` pairs of every buffer of `m`, in visiting order.
template <class Module>
auto named_buffers(Module& m, const std::string& prefix = "") {
  using T = typename std::remove_const_t<Module>::scalar_type;
  std::vector<std::pair<std::string, const matrix<T>*>> out;
  visit_buffers(m, [&](const std::string& name, const matrix<T>& b) { out.emplace_back(name, &b); }, prefix);
  return out;
}

/// Number of scalars in all parameters of `m`.
template <class Module>
index_t parameter_count(const Module& m) {
  index_t n = 0;
  visit_parameters(m, [&](const std::string&, const auto& p) { n += p.size(); });
  return n;
}

/// Clears the gradients of every parameter of `m`.
template <class Module>
void zero_grad(const Module& m) {
  visit_parameters(m, [](const std::string&, const auto& p) { p.zero_grad(); });
}

}  // namespace recblocks::nn
