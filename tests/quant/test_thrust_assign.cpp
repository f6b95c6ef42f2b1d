// The Thrust assignment backend on the configured device system (OMP by default) and on explicit
// CPP and OMP policies, against the GEMM backend.
#include <catch2/catch.hpp>

#include "recblocks/core/rng.hpp"
#include "recblocks/quant/kmeans.hpp"

#if __has_include(<thrust/version.h>) && defined(THRUST_DEVICE_SYSTEM)
#include <thrust/system/cpp/execution_policy.h>
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
#include <thrust/system/omp/execution_policy.h>
#endif
#include "recblocks/quant/thrust_assign.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rq = recblocks::quant;

TEST_CASE("thrust_assign matches brute force and plugs into kmeans", "[quant][kmeans][thrust]") {
  recblocks::rng g(8);
  matrix<float> x(900, 5), c(7, 5);
  g.fill_normal(x, 0.0, 1.0);
  g.fill_normal(c, 0.0, 1.0);
  c.row(6) = c.row(2);  // a duplicated centroid: ties go to the lower index
  std::vector<index_t> lab(900), lab_cpp(900);
  std::vector<float> dist(900), dist_cpp(900);
  rq::thrust_assign<>{}(x, c, lab.data(), dist.data());
  rq::thrust_assign(thrust::cpp::par)(x, c, lab_cpp.data(), dist_cpp.data());
  for (index_t i = 0; i < 900; ++i) {
    index_t best = 0;
    float bd = (x.row(i) - c.row(0)).squaredNorm();
    for (index_t j = 1; j < 7; ++j)
      if ((x.row(i) - c.row(j)).squaredNorm() < bd) {
        bd = (x.row(i) - c.row(j)).squaredNorm();
        best = j;
      }
    REQUIRE(lab[i] == best);
    REQUIRE(lab[i] != 6);
    REQUIRE(dist[i] == Approx(bd).margin(1e-5));
    REQUIRE(lab_cpp[i] == lab[i]);
    REQUIRE(dist_cpp[i] == dist[i]);
  }
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
  std::vector<index_t> lab_omp(900);
  rq::thrust_assign(thrust::omp::par)(x, c, lab_omp.data(), static_cast<float*>(nullptr));
  REQUIRE(lab_omp == lab);
#endif
  // as the k-means backend on well-separated blobs: same clustering as the GEMM backend
  matrix<double> blobs(200, 3);
  matrix<double> centres(4, 3);
  g.fill_uniform(centres, -20.0, 20.0);
  for (index_t i = 0; i < 200; ++i)
    for (index_t j = 0; j < 3; ++j) blobs(i, j) = centres(i % 4, j) + g.normal(0.0, 0.1);
  rq::kmeans<double> a({.clusters = 4, .iterations = 10, .seed = 1}), b({.clusters = 4, .iterations = 10, .seed = 1});
  a.fit(blobs);
  b.fit(blobs, rq::thrust_assign(thrust::cpp::par));
  REQUIRE(a.assignments() == b.assignments());
  REQUIRE((a.centroids() - b.centroids()).norm() < 1e-9);
  REQUIRE(a.inertia() == Approx(b.inertia()).epsilon(1e-9));
}
#else
TEST_CASE("thrust_assign (Thrust not available)", "[quant][thrust]") {
  WARN("recblocks::thrust not linked: Thrust assignment test skipped");
}
#endif
