#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/quant/kmeans.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rq = recblocks::quant;

namespace {

// n points around `k` centres on a coarse grid (spread 10), noise sigma.
template <class T>
matrix<T> blobs(index_t per, index_t k, index_t d, double sigma, std::uint64_t seed, std::vector<index_t>* truth = nullptr,
                matrix<T>* centres = nullptr) {
  recblocks::rng g(seed);
  matrix<T> c(k, d);
  g.fill_uniform(c, -10.0, 10.0);
  matrix<T> x(per * k, d);
  if (truth) truth->resize(static_cast<std::size_t>(per * k));
  for (index_t i = 0; i < per * k; ++i) {
    const index_t b = i % k;
    for (index_t j = 0; j < d; ++j) x(i, j) = c(b, j) + static_cast<T>(g.normal(0.0, sigma));
    if (truth) (*truth)[i] = b;
  }
  if (centres) *centres = c;
  return x;
}

template <class T>
index_t brute_nearest(const matrix<T>& c, const Eigen::Ref<const matrix<T>>& x, index_t i) {
  index_t best = 0;
  double bd = std::numeric_limits<double>::infinity();
  for (index_t j = 0; j < c.rows(); ++j) {
    const double v = (x.row(i).template cast<double>() - c.row(j).template cast<double>()).squaredNorm();
    if (v < bd) {
      bd = v;
      best = j;
    }
  }
  return best;
}

}  // namespace

TEST_CASE("kmeans recovers well-separated blobs", "[quant][kmeans]") {
  std::vector<index_t> truth;
  matrix<double> centres;
  const auto x = blobs<double>(50, 5, 3, 0.05, 7, &truth, &centres);
  rq::kmeans<double> km({.clusters = 5, .iterations = 20, .seed = 3});
  km.fit(x);
  const auto& a = km.assignments();
  REQUIRE(a.size() == truth.size());
  // a is a relabelling of truth: one cluster per blob, each blob in one cluster
  std::vector<index_t> map(5, -1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (map[truth[i]] < 0) map[truth[i]] = a[i];
    REQUIRE(map[truth[i]] == a[i]);
  }
  REQUIRE(std::set<index_t>(map.begin(), map.end()).size() == 5);
  // centroids are the blob means; inertia equals the brute-force sum
  double sse = 0.0;
  for (index_t b = 0; b < 5; ++b) {
    Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(3);
    for (index_t i = 0; i < x.rows(); ++i)
      if (truth[i] == b) mean += x.row(i);
    mean /= 50.0;
    REQUIRE((km.centroids().row(map[b]) - mean).norm() < 1e-9);
    REQUIRE((mean - centres.row(b)).norm() < 0.05);
  }
  for (index_t i = 0; i < x.rows(); ++i) sse += (x.row(i) - km.centroids().row(a[i])).squaredNorm();
  REQUIRE(km.inertia() == Approx(sse).epsilon(1e-12));
  REQUIRE(km.iterations_run() == 20);
}

TEST_CASE("kmeans assign matches brute force and the fitted labels", "[quant][kmeans]") {
  recblocks::rng g(11);
  matrix<float> x(700, 17);
  g.fill_normal(x, 0.0, 1.0);
  rq::kmeans<float> km({.clusters = 13, .iterations = 8, .seed = 5});
  km.fit(x);
  REQUIRE(km.centroids().rows() == 13);
  REQUIRE(km.centroids().cols() == 17);
  matrix<float> q(301, 17);
  g.fill_normal(q, 0.0, 1.2);
  const auto lab = km.assign(q);
  index_t mismatches = 0;
  for (index_t i = 0; i < q.rows(); ++i) mismatches += lab[i] != brute_nearest<float>(km.centroids(), q, i);
  REQUIRE(mismatches <= 1);  // float GEMM expansion vs direct difference: at most a near-tie may flip
  // inertia is the SSE of the stored assignments
  double sse = 0.0;
  for (index_t i = 0; i < x.rows(); ++i)
    sse += (x.row(i).cast<double>() - km.centroids().row(km.assignments()[i]).cast<double>()).squaredNorm();
  REQUIRE(km.inertia() == Approx(sse).epsilon(1e-6));
  // a block boundary (block = 2^18 / k rows) is crossed: check the tail rows
  matrix<float> big(25000, 4);
  g.fill_uniform(big, 0.0, 1.0);
  rq::kmeans<float> km2({.clusters = 16, .iterations = 3, .seed = 1});
  km2.fit(big);
  const auto lab2 = km2.assign(big);
  index_t mm = 0;
  for (index_t i = 16000; i < 25000; i += 7) mm += lab2[i] != brute_nearest<float>(km2.centroids(), big, i);
  REQUIRE(mm <= 2);
}

TEST_CASE("kmeans is deterministic and Lloyd does not increase inertia", "[quant][kmeans]") {
  const auto x = blobs<double>(40, 12, 6, 2.5, 21);
  rq::kmeans<double> a({.clusters = 10, .iterations = 6, .seed = 9});
  rq::kmeans<double> b({.clusters = 10, .iterations = 6, .seed = 9});
  a.fit(x);
  b.fit(x);
  REQUIRE(a.centroids() == b.centroids());
  REQUIRE(a.assignments() == b.assignments());
  double prev = std::numeric_limits<double>::infinity();
  for (int it = 0; it <= 6; ++it) {
    rq::kmeans<double> c({.clusters = 10, .iterations = it, .seed = 9});
    c.fit(x);
    REQUIRE(c.inertia() <= prev * (1 + 1e-12));
    prev = c.inertia();
  }
  rq::kmeans<double> other({.clusters = 10, .iterations = 6, .seed = 10});
  other.fit(x);
  REQUIRE(other.centroids() != a.centroids());
}

TEST_CASE("kmeans stops early on tolerance", "[quant][kmeans]") {
  const auto x = blobs<float>(30, 4, 2, 0.1, 2);
  rq::kmeans<float> km({.clusters = 4, .iterations = 100, .seed = 1, .tolerance = 1e-6});
  km.fit(x);
  REQUIRE(km.iterations_run() < 100);
  REQUIRE(km.iterations_run() >= 2);
}

TEST_CASE("kmeans repairs empty clusters by splitting the largest-SSE cluster", "[quant][kmeans]") {
  const auto x = blobs<double>(20, 3, 2, 0.01, 4);
  int calls = 0;
  // first assignment step puts everything into cluster 0, emptying clusters 1 and 2
  auto forced = [&calls](const Eigen::Ref<const matrix<double>>& data, const matrix<double>& c, index_t* labels,
                         double* dist) {
    if (calls++ == 0) {
      for (index_t i = 0; i < data.rows(); ++i) {
        labels[i] = 0;
        dist[i] = (data.row(i) - c.row(0)).squaredNorm();
      }
    } else {
      rq::gemm_assign{}(data, c, labels, dist);
    }
  };
  rq::kmeans<double> km({.clusters = 3, .iterations = 10, .seed = 2});
  km.fit(x, forced);
  REQUIRE(calls == 10);
  const auto& a = km.assignments();
  REQUIRE(std::set<index_t>(a.begin(), a.end()).size() == 3);
  // repair reached the three-blob optimum: each blob is a cluster, so inertia ~ 60 * 2 * sigma^2
  REQUIRE(km.inertia() < 60 * 2 * 0.01 * 0.01 * 3);
}

TEST_CASE("kmeans rejects bad input", "[quant][kmeans]") {
  REQUIRE_THROWS_AS(rq::kmeans<float>({.clusters = 0}), recblocks::value_error);
  REQUIRE_THROWS_AS(rq::kmeans<float>({.clusters = 2, .iterations = -1}), recblocks::value_error);
  rq::kmeans<float> km({.clusters = 4});
  REQUIRE_THROWS_AS(km.assign(matrix<float>::Zero(2, 2)), recblocks::state_error);
  REQUIRE_THROWS_AS(km.centroids(), recblocks::state_error);
  REQUIRE_THROWS_AS(km.fit(matrix<float>::Zero(3, 2)), recblocks::value_error);  // n < k
  REQUIRE_THROWS_AS(km.fit(matrix<float>::Zero(10, 0)), recblocks::value_error);  // d == 0
  matrix<float> bad = matrix<float>::Ones(10, 2);
  bad(3, 1) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(km.fit(bad), recblocks::value_error);
  matrix<float> ok(10, 2);
  recblocks::rng g(1);
  g.fill_uniform(ok, 0, 1);
  km.fit(ok);
  REQUIRE_THROWS_AS(km.assign(matrix<float>::Zero(2, 3)), recblocks::shape_error);
  REQUIRE_THROWS_AS(km.assign(bad), recblocks::value_error);
  // duplicate rows (fewer distinct points than k) still fit
  rq::kmeans<float> dup({.clusters = 4, .iterations = 3});
  dup.fit(matrix<float>::Ones(10, 2));
  REQUIRE(dup.inertia() == 0.0);
}
