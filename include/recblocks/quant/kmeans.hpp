#pragma once
/// \file kmeans.hpp
/// k-means codebooks: k-means++ seeding, Lloyd iterations, empty-cluster repair, GEMM assignment.
///
/// Objective (inertia), for data X [n, d] and centroids C [k, d]:
///
///     inertia = sum_i || x_i - c_{a(i)} ||^2,      a(i) = argmin_j || x_i - c_j ||^2
///
/// - **Seeding:** greedy k-means++ (2 + floor(ln k) candidates per step, the one that lowers the
///   potential most wins) on a uniform subsample of at most `max(64 k, 8192)` rows (all rows when n is
///   smaller), so seeding costs O(s k d) and not O(n k d).
/// - **Lloyd:** each iteration assigns every row to its nearest centroid (one blocked GEMM
///   `||x||^2 - 2 x C^T + ||c||^2`, `cblas_sgemm`/`cblas_dgemm` when `RECBLOCKS_USE_CBLAS` is defined,
///   Eigen `noalias()` otherwise; scratch ~1 MiB), then moves each centroid to the mean of its rows
///   (sums accumulated in double).
/// - **Empty clusters:** an empty cluster takes the row farthest from its centroid in the cluster with
///   the largest SSE (each cluster is split at most once per iteration).
/// - **Stopping:** after `iterations` Lloyd steps, or earlier when the relative change of the
///   assignment-step inertia `(prev - cur) / prev` drops below `tolerance` (> 0).
/// - **Results:** `assignments()` are the labels of the last assignment step, `centroids()` the means
///   after the last update, and `inertia()` the exact sum of squared distances between each row and
///   its *assigned* centroid (evaluated in double after the last update, so it is never larger than
///   the last assignment step's inertia unless a repaired cluster moved).
/// - **Determinism:** the same data, options and seed give the same result on the same build (BLAS
///   thread count fixed).
/// - **Backends:** `fit(data, assigner)` takes any callable
///   `void(const Eigen::Ref<const matrix<T>>& data, const matrix<T>& centroids, index_t* labels, T* dist)`
///   for the assignment step, e.g. `quant::thrust_assign` (Thrust CPP/OMP/CUDA).
///
/// Requires: 1 <= clusters <= n, d >= 1, every value finite, iterations >= 0, tolerance >= 0.
/// Errors: `value_error` (bad options, NaN/Inf, n < clusters, d == 0), `state_error` (use before fit),
/// `shape_error` (assign with another dimension).
/// Complexity: O(iterations * n k d) time, O(n + k d + 1 MiB) extra memory.
/// Thread-safety: `fit` mutates; the const members (`assign`, accessors) may run concurrently.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "nearest_centroid.hpp"

namespace recblocks::quant {

/// Options of `kmeans`.
struct kmeans_options {
  index_t clusters = 8;     ///< k, number of centroids (>= 1)
  int iterations = 25;      ///< maximum Lloyd iterations (>= 0)
  std::uint64_t seed = 42;  ///< seeds the k-means++ sampling
  double tolerance = 0.0;   ///< stop when relative inertia change < tolerance (0: run all iterations)
};

/// The default assignment backend: blocked GEMM on the CPU (see detail/nearest_centroid.hpp).
struct gemm_assign {
  template <class T>
  void operator()(const Eigen::Ref<const matrix<std::type_identity_t<T>>>& data, const matrix<T>& centroids, index_t* labels,
                  T* dist) const {
    detail::nearest_centroid<T>(data, centroids, labels, dist);
  }
};

/// k-means clustering of the rows of a matrix (see the file comment).
template <class T>
class kmeans {
 public:
  explicit kmeans(kmeans_options options);

  /// Clusters `data` [n, d] with the GEMM backend. Returns `*this`.
  const kmeans& fit(const Eigen::Ref<const matrix<T>>& data);

  /// Clusters `data` with a custom assignment backend (see the file comment).
  template <class Assigner>
  const kmeans& fit(const Eigen::Ref<const matrix<T>>& data, Assigner&& assigner);

  /// Centroids [k, d].
  const matrix<T>& centroids() const;
  /// Cluster of each fitted row [n].
  const std::vector<index_t>& assignments() const;
  /// Sum of squared distances of the fitted rows to their assigned centroids.
  double inertia() const;
  /// Lloyd iterations actually run.
  int iterations_run() const;
  /// Nearest centroid of every row of `data` [m, d] (ties: lower index).
  std::vector<index_t> assign(const Eigen::Ref<const matrix<T>>& data) const;

  /// The options given at construction.
  const kmeans_options& options() const { return options_; }
  /// True after a successful `fit`.
  bool fitted() const { return fitted_; }

 private:
  void check_fit_input(const Eigen::Ref<const matrix<T>>& data) const;
  void seed_plus_plus(const Eigen::Ref<const matrix<T>>& data);
  void require_fitted(const char* what) const;

  kmeans_options options_;
  matrix<T> centroids_;
  std::vector<index_t> assignments_;
  double inertia_ = 0.0;
  int iterations_run_ = 0;
  bool fitted_ = false;
};

// ---------------------------------------------------------------------------------------------
// implementation

template <class T>
kmeans<T>::kmeans(kmeans_options options) : options_(options) {
  if (options_.clusters < 1)
    throw value_error("kmeans: clusters must be >= 1 (got " + std::to_string(options_.clusters) + ")");
  if (options_.iterations < 0)
    throw value_error("kmeans: iterations must be >= 0 (got " + std::to_string(options_.iterations) + ")");
  if (!(options_.tolerance >= 0.0))
    throw value_error("kmeans: tolerance must be >= 0 (got " + std::to_string(options_.tolerance) + ")");
}

template <class T>
void kmeans<T>::check_fit_input(const Eigen::Ref<const matrix<T>>& data) const {
  if (data.cols() == 0) throw value_error("kmeans::fit: data has dimension 0");
  if (data.rows() < options_.clusters)
    throw value_error("kmeans::fit: n = " + std::to_string(data.rows()) + " rows is fewer than clusters = " +
                      std::to_string(options_.clusters));
  if (!detail::all_finite<T>(data)) throw value_error("kmeans::fit: data contains NaN or Inf");
}

template <class T>
void kmeans<T>::require_fitted(const char* what) const {
  if (!fitted_) throw state_error(std::string("kmeans::") + what + ": call fit() first");
}

template <class T>
void kmeans<T>::seed_plus_plus(const Eigen::Ref<const matrix<T>>& data) {
  const index_t n = data.rows(), d = data.cols(), k = options_.clusters;
  std::mt19937_64 gen(options_.seed);
  // uniform subsample (partial Fisher-Yates), sorted for locality
  const index_t s = std::min<index_t>(n, std::max<index_t>(64 * k, 8192));
  matrix<T> sample(s, d);
  if (s == n) {
    sample = data;
  } else {
    std::vector<index_t> idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), index_t{0});
    for (index_t i = 0; i < s; ++i) {
      std::uniform_int_distribution<index_t> pick(i, n - 1);
      std::swap(idx[i], idx[pick(gen)]);
    }
    std::sort(idx.begin(), idx.begin() + s);
    for (index_t i = 0; i < s; ++i) sample.row(i) = data.row(idx[i]);
  }
  const col_vector<T> snorm = sample.rowwise().squaredNorm();
  const index_t trials = 2 + static_cast<index_t>(std::log(static_cast<double>(k)));
  centroids_.resize(k, d);
  std::uniform_int_distribution<index_t> first(0, s - 1);
  centroids_.row(0) = sample.row(first(gen));
  std::vector<double> mind(static_cast<std::size_t>(s));
  for (index_t i = 0; i < s; ++i)
    mind[i] = static_cast<double>((sample.row(i) - centroids_.row(0)).squaredNorm());
  matrix<T> cand(trials, d), dots(s, trials);
  std::vector<index_t> cand_id(static_cast<std::size_t>(trials));
  std::vector<double> cdf(static_cast<std::size_t>(s));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (index_t c = 1; c < k; ++c) {
    std::partial_sum(mind.begin(), mind.end(), cdf.begin());
    const double total = cdf.back();
    for (index_t t = 0; t < trials; ++t) {
      index_t id;
      if (total > 0.0) {
        const double u = unit(gen) * total;
        id = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
        id = std::min(id, s - 1);
        while (id > 0 && mind[id] == 0.0) --id;  // never land on a zero-weight row by rounding
      } else {
        id = first(gen);
      }
      cand_id[t] = id;
      cand.row(t) = sample.row(id);
    }
    detail::cross_gemm<T>(sample.data(), s, d, cand, T(1), dots);
    const col_vector<T> cnorm = cand.rowwise().squaredNorm();
    index_t best_t = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (index_t t = 0; t < trials; ++t) {
      double pot = 0.0;
      for (index_t i = 0; i < s; ++i) {
        const double dd = std::max(0.0, static_cast<double>(snorm[i] - 2 * dots(i, t) + cnorm[t]));
        pot += std::min(mind[i], dd);
      }
      if (pot < best_pot) {
        best_pot = pot;
        best_t = t;
      }
    }
    centroids_.row(c) = cand.row(best_t);
    for (index_t i = 0; i < s; ++i) {
      const double dd = std::max(0.0, static_cast<double>(snorm[i] - 2 * dots(i, best_t) + cnorm[best_t]));
      mind[i] = std::min(mind[i], dd);
    }
    mind[cand_id[best_t]] = 0.0;
  }
}

template <class T>
const kmeans<T>& kmeans<T>::fit(const Eigen::Ref<const matrix<T>>& data) {
  return fit(data, gemm_assign{});
}

template <class T>
template <class Assigner>
const kmeans<T>& kmeans<T>::fit(const Eigen::Ref<const matrix<T>>& data, Assigner&& assigner) {
  check_fit_input(data);
  fitted_ = false;
  const index_t n = data.rows(), d = data.cols(), k = options_.clusters;
  seed_plus_plus(data);
  assignments_.assign(static_cast<std::size_t>(n), 0);
  std::vector<T> dist(static_cast<std::size_t>(n));
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> sums(k, d);
  std::vector<index_t> counts(static_cast<std::size_t>(k));
  std::vector<double> sse(static_cast<std::size_t>(k));
  std::vector<index_t> far(static_cast<std::size_t>(k));
  std::vector<char> split(static_cast<std::size_t>(k));
  double prev = std::numeric_limits<double>::infinity();
  iterations_run_ = 0;
  if (options_.iterations == 0) assigner(data, static_cast<const matrix<T>&>(centroids_), assignments_.data(), dist.data());
  for (int it = 0; it < options_.iterations; ++it) {
    assigner(data, static_cast<const matrix<T>&>(centroids_), assignments_.data(), dist.data());
    // update: means in double, per-cluster SSE and farthest row for the repair
    sums.setZero();
    std::fill(counts.begin(), counts.end(), 0);
    std::fill(sse.begin(), sse.end(), 0.0);
    std::fill(far.begin(), far.end(), index_t{-1});
    double cur = 0.0;
    const index_t ld = data.outerStride();
    for (index_t i = 0; i < n; ++i) {
      const index_t a = assignments_[i];
      const T* xi = data.data() + i * ld;
      double* sa = sums.data() + a * d;
      for (index_t j = 0; j < d; ++j) sa[j] += static_cast<double>(xi[j]);
      ++counts[a];
      const double di = static_cast<double>(dist[i]);
      cur += di;
      sse[a] += di;
      if (far[a] < 0 || di > static_cast<double>(dist[far[a]])) far[a] = i;
    }
    for (index_t j = 0; j < k; ++j)
      if (counts[j] > 0) centroids_.row(j) = (sums.row(j) / static_cast<double>(counts[j])).template cast<T>();
    std::fill(split.begin(), split.end(), 0);
    for (index_t j = 0; j < k; ++j) {
      if (counts[j] > 0) continue;
      index_t big = -1;
      for (index_t c = 0; c < k; ++c)
        if (counts[c] >= 2 && !split[c] && (big < 0 || sse[c] > sse[big])) big = c;
      if (big < 0) break;
      split[big] = 1;
      centroids_.row(j) = data.row(far[big]);
    }
    iterations_run_ = it + 1;
    if (options_.tolerance > 0.0 && std::isfinite(prev)) {
      const double rel = prev > 0.0 ? (prev - cur) / prev : 0.0;
      if (std::abs(rel) < options_.tolerance) break;
    }
    prev = cur;
  }
  double total = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const T* xi = data.data() + i * data.outerStride();
    const T* ci = centroids_.data() + assignments_[i] * d;
    double si = 0.0;
    for (index_t j = 0; j < d; ++j) {
      const double e = static_cast<double>(xi[j]) - static_cast<double>(ci[j]);
      si += e * e;
    }
    total += si;
  }
  inertia_ = total;
  fitted_ = true;
  return *this;
}

template <class T>
const matrix<T>& kmeans<T>::centroids() const {
  require_fitted("centroids");
  return centroids_;
}

template <class T>
const std::vector<index_t>& kmeans<T>::assignments() const {
  require_fitted("assignments");
  return assignments_;
}

template <class T>
double kmeans<T>::inertia() const {
  require_fitted("inertia");
  return inertia_;
}

template <class T>
int kmeans<T>::iterations_run() const {
  require_fitted("iterations_run");
  return iterations_run_;
}

template <class T>
std::vector<index_t> kmeans<T>::assign(const Eigen::Ref<const matrix<T>>& data) const {
  require_fitted("assign");
  if (data.cols() != centroids_.cols())
    throw shape_error("kmeans::assign: data has dimension " + std::to_string(data.cols()) + ", centroids have " +
                      std::to_string(centroids_.cols()));
  if (!detail::all_finite<T>(data)) throw value_error("kmeans::assign: data contains NaN or Inf");
  std::vector<index_t> labels(static_cast<std::size_t>(data.rows()));
  detail::nearest_centroid<T>(data, centroids_, labels.data(), static_cast<T*>(nullptr));
  return labels;
}

}  // namespace recblocks::quant
