#pragma once
/// \file dropout.hpp
/// Inverted dropout: in training mode each element is kept with probability `1 - p` and scaled by
/// `1 / (1 - p)`, the mask drawn from the tape's seeded generator; in eval mode (or p = 0) the input
/// passes through unchanged and nothing is recorded.

#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

template <class T>
var<T> dropout(tape<T>& t, const var<T>& x, T p) {
  if (!(p >= T(0) && p < T(1))) throw value_error("dropout: p must lie in [0, 1), got " + std::to_string(double(p)));
  if (!t.training() || p == T(0)) return x;
  var<T> y = t.make(x.rows, x.cols);
  T* mask = t.template scratch<T>(static_cast<std::size_t>(x.size()));
  const T scale = T(1) / (T(1) - p);
  std::bernoulli_distribution keep(1.0 - double(p));
  auto& eng = t.rng().engine();
  for (index_t k = 0; k < x.size(); ++k) {
    mask[k] = keep(eng) ? scale : T(0);
    t.out_data(y)[k] = x.data[k] * mask[k];
  }
  if (auto nd = t.record("dropout", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        t.accumulate(x, (const_map<T>(nd.grad, nd.rows, nd.cols).array() *
                         const_map<T>(static_cast<const T*>(nd.aux), nd.rows, nd.cols).array())
                            .matrix());
      }))
    nd->aux = mask;
  return y;
}

}  // namespace recblocks::ops
