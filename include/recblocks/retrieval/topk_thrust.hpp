#pragma once
/// \file topk_thrust.hpp
/// Exact top-k on Thrust (target `recblocks::thrust`): the same results as `retrieval::topk` on the
/// CPP, OMP or CUDA backend.
///
///     inner_product: score = q . x (best = largest);   l2: score = ||q - x||^2 (best = smallest)
///
/// Queries are processed in batches of `b = max(1, batch_elements / n)` rows (default 2^22): one `thrust::transform` computes
/// the `[b, n]` scores (one dot product per element), one `thrust::sort` orders the flat index range
/// by (query, score, item id) so ties go to the lower id, and one `thrust::transform` gathers the
/// first k of every query. Memory: items on the device system plus `b n` scores and indices.
/// Complexity: O(m n d) for the scores plus O(m n log(b n)) for the sorts.
///
/// Execution policy: `search(queries, k)` runs on `thrust::device` (the configured device system).
/// `search(policy, queries, k)` runs on an explicit policy, e.g. `thrust::cpp::par` or
/// `thrust::omp::par`; the policy must be able to read the device system's memory (any host policy
/// when the device system is CPP or OMP; `thrust::device` or `thrust::cuda::par` under CUDA).
/// Requires 1 <= k <= n, equal dimension, finite values (`value_error` / `shape_error`).
/// Thread-safety: `search` is const; concurrent calls are safe (each allocates its own scratch).

#include <Eigen/Core>
#include <string>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/gather.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../core/host_device.hpp"
#include "../quant/nearest_centroid.hpp"
#include "topk.hpp"

namespace recblocks::retrieval {

namespace detail {

template <class T>
struct topk_score_fn {  // score of flat element e = (query r, item j) of a batch
  const T* q;
  const T* x;
  index_t n, d;
  bool l2;
  RECBLOCKS_HD T operator()(index_t e) const {
    const index_t r = e / n, j = e % n;
    const T* a = q + r * d;
    const T* b = x + j * d;
    T s = 0;
    if (l2) {
      for (index_t t = 0; t < d; ++t) {
        const T u = a[t] - b[t];
        s += u * u;
      }
    } else {
      for (index_t t = 0; t < d; ++t) s += a[t] * b[t];
    }
    return s;
  }
};

template <class T>
struct topk_order_fn {  // strict weak order of flat indices: query, then best score, then lower id
  const T* s;
  index_t n;
  bool l2;
  RECBLOCKS_HD bool operator()(index_t a, index_t b) const {
    const index_t ra = a / n, rb = b / n;
    if (ra != rb) return ra < rb;
    const T sa = s[a], sb = s[b];
    if (sa != sb) return l2 ? sa < sb : sa > sb;
    return a < b;
  }
};

template <class T>
struct topk_pick_fn {  // output slot o = (query r, rank j) -> flat index of that rank
  const index_t* order;
  index_t n, k;
  RECBLOCKS_HD index_t operator()(index_t o) const { return order[(o / k) * n + (o % k)]; }
};

}  // namespace detail

/// Exact top-k on Thrust (see the file comment).
template <class T>
class topk_thrust {
 public:
  /// Copies `items` [n, d] to the device system; `batch_elements` bounds the scratch (scores per batch).
  topk_thrust(const Eigen::Ref<const matrix<T>>& items, topk_metric metric, index_t batch_elements = index_t{1} << 22);

  /// The k best items of every query row on `thrust::device`.
  topk_result<T> search(const Eigen::Ref<const matrix<T>>& queries, index_t k) const {
    return search(thrust::device, queries, k);
  }
  /// The same on an explicit execution policy.
  template <class Policy>
  topk_result<T> search(const Policy& policy, const Eigen::Ref<const matrix<T>>& queries, index_t k) const;

  index_t size() const { return n_; }
  index_t dim() const { return d_; }

 private:
  thrust::device_vector<T> items_;
  index_t n_, d_;
  topk_metric metric_;
  index_t batch_elements_;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <class T>
topk_thrust<T>::topk_thrust(const Eigen::Ref<const matrix<T>>& items, topk_metric metric, index_t batch_elements)
    : n_(items.rows()), d_(items.cols()), metric_(metric), batch_elements_(batch_elements) {
  if (n_ < 1 || d_ < 1) throw value_error("topk_thrust: items must be non-empty (got " + shape_string(n_, d_) + ")");
  if (!quant::all_finite<T>(items)) throw value_error("topk_thrust: items contain NaN or Inf");
  const matrix<T> dense = items;  // contiguous copy
  items_.assign(dense.data(), dense.data() + dense.size());
}

template <class T>
template <class Policy>
topk_result<T> topk_thrust<T>::search(const Policy& policy, const Eigen::Ref<const matrix<T>>& queries,
                                      index_t k) const {
  const index_t m = queries.rows();
  if (queries.cols() != d_)
    throw shape_error("topk_thrust::search: queries have dimension " + std::to_string(queries.cols()) +
                      ", items have " + std::to_string(d_));
  if (k < 1 || k > n_)
    throw value_error("topk_thrust::search: k = " + std::to_string(k) + " must be in [1, items = " +
                      std::to_string(n_) + "]");
  if (!quant::all_finite<T>(queries)) throw value_error("topk_thrust::search: queries contain NaN or Inf");
  const bool l2 = metric_ == topk_metric::l2;
  topk_result<T> out{matrix<index_t>(m, k), matrix<T>(m, k)};
  const index_t batch = std::max<index_t>(1, batch_elements_ / n_);
  const matrix<T> q_all = queries;  // contiguous
  thrust::device_vector<T> q_dev, scores;
  thrust::device_vector<index_t> order, picked;
  thrust::device_vector<T> picked_scores;
  std::vector<index_t> host_ids;
  std::vector<T> host_scores;
  for (index_t q0 = 0; q0 < m; q0 += batch) {
    const index_t b = std::min(batch, m - q0);
    q_dev.assign(q_all.data() + q0 * d_, q_all.data() + (q0 + b) * d_);
    scores.resize(static_cast<std::size_t>(b * n_));
    order.resize(static_cast<std::size_t>(b * n_));
    const T* qp = thrust::raw_pointer_cast(q_dev.data());
    const T* xp = thrust::raw_pointer_cast(items_.data());
    T* sp = thrust::raw_pointer_cast(scores.data());
    index_t* op = thrust::raw_pointer_cast(order.data());
    thrust::counting_iterator<index_t> first(0);
    thrust::transform(policy, first, first + b * n_, sp, detail::topk_score_fn<T>{qp, xp, n_, d_, l2});
    thrust::sequence(policy, op, op + b * n_);
    thrust::sort(policy, op, op + b * n_, detail::topk_order_fn<T>{sp, n_, l2});
    picked.resize(static_cast<std::size_t>(b * k));
    picked_scores.resize(static_cast<std::size_t>(b * k));
    index_t* pp = thrust::raw_pointer_cast(picked.data());
    thrust::transform(policy, first, first + b * k, pp, detail::topk_pick_fn<T>{op, n_, k});
    thrust::gather(policy, pp, pp + b * k, sp, thrust::raw_pointer_cast(picked_scores.data()));
    host_ids.resize(static_cast<std::size_t>(b * k));
    host_scores.resize(static_cast<std::size_t>(b * k));
    thrust::copy(picked.begin(), picked.end(), host_ids.begin());
    thrust::copy(picked_scores.begin(), picked_scores.end(), host_scores.begin());
    for (index_t r = 0; r < b; ++r)
      for (index_t j = 0; j < k; ++j) {
        out.ids(q0 + r, j) = host_ids[r * k + j] % n_;
        out.scores(q0 + r, j) = host_scores[r * k + j];
      }
  }
  return out;
}

}  // namespace recblocks::retrieval
