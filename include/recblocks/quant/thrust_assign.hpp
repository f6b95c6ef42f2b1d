#pragma once
/// \file thrust_assign.hpp
/// Nearest-centroid assignment on Thrust (target `recblocks::thrust`): a pluggable k-means
/// backend for the CPP, OMP and CUDA device systems.
///
///     label_i = argmin_j ||x_i - c_j||^2   (direct differences, ties to the lower j),  dist_i = min
///
/// One `thrust::transform` over the n rows; each row scans the k centroids (O(k d) per row, no GEMM).
/// `operator()` has the signature `kmeans::fit(data, assigner)` expects: it copies data and
/// centroids to the device system, runs on `thrust::device` (or on the execution policy given at
/// construction, which must be able to read device-system memory: any host policy when the device
/// system is CPP or OMP) and copies labels and distances back.
/// Complexity: O(n k d). Thread-safety: const; concurrent calls are safe.

#include <Eigen/Core>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>
#include <type_traits>

#include "../core/tensor.hpp"
#include "../core/host_device.hpp"

namespace recblocks::quant {

namespace detail {

template <class T>
struct thrust_nearest_fn {
  const T* x;
  const T* c;
  index_t k, d;
  T* dist;
  RECBLOCKS_HD index_t operator()(index_t i) const {
    const T* xi = x + i * d;
    index_t arg = 0;
    T best = 0;
    for (index_t j = 0; j < k; ++j) {
      const T* cj = c + j * d;
      T s = 0;
      for (index_t t = 0; t < d; ++t) {
        const T u = xi[t] - cj[t];
        s += u * u;
      }
      if (j == 0 || s < best) {
        best = s;
        arg = j;
      }
    }
    dist[i] = best;
    return arg;
  }
};

}  // namespace detail

/// Thrust nearest-centroid assignment (see the file comment). `Policy` defaults to the device system.
template <class Policy = std::remove_cv_t<decltype(thrust::device)>>
class thrust_assign {
 public:
  explicit thrust_assign(Policy policy = thrust::device) : policy_(policy) {}

  /// Labels and squared distances of the rows of `data` [n, d] against `centroids` [k, d].
  template <class T>
  void operator()(const Eigen::Ref<const matrix<std::type_identity_t<T>>>& data, const matrix<T>& centroids, index_t* labels,
                  T* dist) const {
    const index_t n = data.rows(), d = data.cols(), k = centroids.rows();
    if (n == 0 || k == 0) return;
    const matrix<T> dense = data;  // contiguous rows
    thrust::device_vector<T> x(dense.data(), dense.data() + dense.size());
    thrust::device_vector<T> c(centroids.data(), centroids.data() + centroids.size());
    thrust::device_vector<T> dd(static_cast<std::size_t>(n));
    thrust::device_vector<index_t> lab(static_cast<std::size_t>(n));
    thrust::counting_iterator<index_t> first(0);
    thrust::transform(policy_, first, first + n, thrust::raw_pointer_cast(lab.data()),
                      detail::thrust_nearest_fn<T>{thrust::raw_pointer_cast(x.data()),
                                                   thrust::raw_pointer_cast(c.data()), k, d,
                                                   thrust::raw_pointer_cast(dd.data())});
    thrust::copy(lab.begin(), lab.end(), labels);
    if (dist) thrust::copy(dd.begin(), dd.end(), dist);
  }

 private:
  Policy policy_;
};

}  // namespace recblocks::quant
