// Thrust top-k against the CPU reference on the configured device system (OMP by default) and on
// explicit CPP and OMP execution policies.
#include <catch2/catch.hpp>

#include <limits>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/topk.hpp"

#if __has_include(<thrust/version.h>) && defined(THRUST_DEVICE_SYSTEM)
#include <thrust/system/cpp/execution_policy.h>
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
#include <thrust/system/omp/execution_policy.h>
#endif
#include "recblocks/retrieval/topk_thrust.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::retrieval;

TEST_CASE("topk_thrust matches the CPU top-k on CPP and OMP policies", "[retrieval][topk][thrust]") {
  recblocks::rng g(9);
  matrix<float> x(700, 6), q(23, 6);
  for (index_t i = 0; i < x.rows(); ++i)  // integer values: exact ties, exact float arithmetic
    for (index_t j = 0; j < 6; ++j) x(i, j) = static_cast<float>(g.integer(-3, 3));
  for (index_t i = 0; i < q.rows(); ++i)
    for (index_t j = 0; j < 6; ++j) q(i, j) = static_cast<float>(g.integer(-3, 3));
  for (auto m : {rr::topk_metric::inner_product, rr::topk_metric::l2}) {
    const auto ref = rr::topk<float>(x, m).search(q, 25);
    rr::topk_thrust<float> t(x, m);
    const auto dev = t.search(q, 25);
    REQUIRE(dev.ids == ref.ids);
    REQUIRE(dev.scores == ref.scores);
    const auto cpp = t.search(thrust::cpp::par, q, 25);
    REQUIRE(cpp.ids == ref.ids);
    REQUIRE(cpp.scores == ref.scores);
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
    const auto omp = t.search(thrust::omp::par, q, 25);
    REQUIRE(omp.ids == ref.ids);
    REQUIRE(omp.scores == ref.scores);
#endif
  }
  // batches: more queries than one batch of batch_elements / n = 5 rows
  matrix<float> big(3000, 2), qq(3, 2);
  g.fill_uniform(big, 0.0, 1.0);
  g.fill_uniform(qq, 0.0, 1.0);
  rr::topk_thrust<float> tb(big, rr::topk_metric::l2, 15000);
  matrix<float> many(17, 2);
  for (index_t i = 0; i < many.rows(); ++i) many.row(i) = qq.row(i % 3);
  const auto r = tb.search(thrust::cpp::par, many, 4);
  const auto ref = rr::topk<float>(big, rr::topk_metric::l2).search(many, 4);
  REQUIRE(r.ids == ref.ids);
  REQUIRE_THROWS_AS(tb.search(many, 3001), recblocks::value_error);
  REQUIRE_THROWS_AS(tb.search(matrix<float>::Zero(1, 3), 1), recblocks::shape_error);
}
#else
TEST_CASE("topk_thrust (Thrust not available)", "[retrieval][topk][thrust]") {
  WARN("recblocks::thrust not linked: Thrust top-k test skipped");
}
#endif
