#pragma once
/// \file cluster_router.hpp
/// AdaptDHM's online cluster router (Li et al. 2022): samples are routed to one of K learned
/// clusters whose centres follow the data by an exponential moving average of soft assignments.
///
///     r     = softmax(x C^T)                     [B, K] soft assignment (rows of C are unit length)
///     c_k   = sum_b r_{b,k} x_b                  (r^T x)
///     C_k  <- normalize(beta C_k + (1 - beta) c_k)      repeated `iterations` times per training step
///     route = argmax_k (x C^T)_k
///
/// The centres are a buffer ("centres", saved in checkpoints), never a parameter: they are updated
/// without gradient and only on training tapes (`t.training() && t.recording()`), before routing.
/// Inference tapes route with the current centres and change nothing.
///
/// Shapes: `x` `[B, dim]` -> B cluster ids in `[0, K)`.
/// Thread-safety: `route` on inference tapes is read-only; training calls mutate the centres (one thread).

#include <cmath>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tape.hpp"
#include "module.hpp"

namespace recblocks::nn {

struct cluster_router_options {
  index_t dim = 0;
  index_t clusters = 3;  ///< K
  double beta = 0.9;     ///< EMA factor
  int iterations = 3;    ///< updates per training step
};

template <class T>
class cluster_router {
 public:
  using scalar_type = T;

  cluster_router(const cluster_router_options& opt, rng& gen);

  /// Cluster ids of the rows of `x` (updating the centres first on a training tape).
  std::vector<index_t> operator()(tape<T>& t, const var<T>& x) const;

  /// Routes with the current centres, no update.
  std::vector<index_t> route(const var<T>& x) const;

  /// One EMA update of the centres from the rows of `x`.
  void update(const var<T>& x) const;

  const matrix<T>& centres() const { return centres_; }
  index_t clusters() const { return opt_.clusters; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("centres", self.centres_);
  }

 private:
  void check(const var<T>& x) const;
  cluster_router_options opt_;
  mutable matrix<T> centres_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
cluster_router<T>::cluster_router(const cluster_router_options& opt, rng& gen) : opt_(opt) {
  if (opt.dim < 1 || opt.clusters < 1 || opt.iterations < 0 || !(opt.beta >= 0.0 && opt.beta <= 1.0))
    throw value_error("nn::cluster_router: need dim >= 1, clusters >= 1, iterations >= 0 and beta in [0, 1]");
  centres_.resize(opt.clusters, opt.dim);
  gen.fill_normal(centres_, 0.0, 1.0);
  centres_.rowwise().normalize();
}

template <class T>
void cluster_router<T>::check(const var<T>& x) const {
  if (x.cols != opt_.dim)
    throw shape_error("nn::cluster_router: input " + shape_string(x.rows, x.cols) + " but dim is " + std::to_string(opt_.dim));
}

template <class T>
void cluster_router<T>::update(const var<T>& x) const {
  check(x);
  const_map<T> xv(x.data, x.rows, x.cols);
  matrix<T> r = xv * centres_.transpose();  // [B, K]
  for (index_t b = 0; b < r.rows(); ++b) {
    const T m = r.row(b).maxCoeff();
    r.row(b) = (r.row(b).array() - m).exp().matrix();
    r.row(b) /= r.row(b).sum();
  }
  const matrix<T> c = r.transpose() * xv;  // [K, dim]
  centres_ = T(opt_.beta) * centres_ + T(1 - opt_.beta) * c;
  for (index_t k = 0; k < centres_.rows(); ++k) {
    const T n = centres_.row(k).norm();
    if (n > T(0)) centres_.row(k) /= n;
  }
}

template <class T>
std::vector<index_t> cluster_router<T>::route(const var<T>& x) const {
  check(x);
  const matrix<T> s = const_map<T>(x.data, x.rows, x.cols) * centres_.transpose();
  std::vector<index_t> out(static_cast<std::size_t>(x.rows));
  for (index_t b = 0; b < x.rows; ++b) {
    Eigen::Index k;
    s.row(b).maxCoeff(&k);
    out[static_cast<std::size_t>(b)] = k;
  }
  return out;
}

template <class T>
std::vector<index_t> cluster_router<T>::operator()(tape<T>& t, const var<T>& x) const {
  if (t.training() && t.recording())
    for (int i = 0; i < opt_.iterations; ++i) update(x);
  return route(x);
}

}  // namespace recblocks::nn
