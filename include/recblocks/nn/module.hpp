#pragma once
/// \file module.hpp
/// What makes a block a module, and helpers over any module's parameters.
///
/// A module exposes its parameters through
///
///     template <class Visitor> void visit_parameters(Visitor&& v, const std::string& prefix);
///
/// calling `v(full_name, param&)` once per parameter, with dotted names ("tower.0.weight"), in a fixed
/// order. Checkpoints, optimizers and gradient checks are built on this one function, so a user's
/// own block needs nothing else. A module's forward is a `const` member taking a `tape<T>&`.

#include <string>
#include <utility>
#include <vector>

#include "../core/param.hpp"

namespace recblocks::nn {

/// Joins a prefix and a local name with a dot ("" + "weight" = "weight").
inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

/// Pointers to every parameter of `m`, in visiting order.
template <class Module>
auto parameters(Module& m) {
  using T = typename Module::scalar_type;
  std::vector<param<T>*> out;
  m.visit_parameters([&](const std::string&, param<T>& p) { out.push_back(&p); }, "");
  return out;
}

/// `(dotted name, parameter)` pairs of every parameter of `m`, in visiting order.
template <class Module>
auto named_parameters(Module& m, const std::string& prefix = "") {
  using T = typename Module::scalar_type;
  std::vector<std::pair<std::string, param<T>*>> out;
  m.visit_parameters([&](const std::string& name, param<T>& p) { out.emplace_back(name, &p); }, prefix);
  return out;
}

/// Number of scalars in all parameters of `m`.
template <class Module>
index_t parameter_count(Module& m) {
  index_t n = 0;
  for (auto* p : parameters(m)) n += p->size();
  return n;
}

/// Clears the gradients of every parameter of `m`.
template <class Module>
void zero_grad(Module& m) {
  for (auto* p : parameters(m)) p->zero_grad();
}

}  // namespace recblocks::nn
