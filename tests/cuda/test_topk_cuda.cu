// CUDA backend of the Thrust blocks (built only with -DRECBLOCKS_WITH_CUDA=ON; ctest label `cuda`;
// needs a GPU to run): exact top-k and k-means assignment on thrust::device against the CPU code.
#include <catch2/catch.hpp>

#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/quant/kmeans.hpp"
#include "recblocks/quant/thrust_assign.hpp"
#include "recblocks/retrieval/topk.hpp"
#include "recblocks/retrieval/topk_thrust.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::retrieval;
namespace rq = recblocks::quant;

TEST_CASE("topk_thrust on CUDA matches the CPU top-k", "[cuda][topk]") {
  recblocks::rng g(9);
  matrix<float> x(5000, 16), q(37, 16);
  for (index_t i = 0; i < x.rows(); ++i)  // integer values: exact ties, exact float arithmetic
    for (index_t j = 0; j < 16; ++j) x(i, j) = static_cast<float>(g.integer(-2, 2));
  for (index_t i = 0; i < q.rows(); ++i)
    for (index_t j = 0; j < 16; ++j) q(i, j) = static_cast<float>(g.integer(-2, 2));
  for (auto m : {rr::topk_metric::inner_product, rr::topk_metric::l2}) {
    const auto ref = rr::topk<float>(x, m).search(q, 50);
    rr::topk_thrust<float> t(x, m, 40000);  // batches of 8 queries
    const auto dev = t.search(q, 50);
    REQUIRE(dev.ids == ref.ids);
    REQUIRE(dev.scores == ref.scores);
  }
}

TEST_CASE("thrust_assign on CUDA matches the GEMM assignment", "[cuda][kmeans]") {
  recblocks::rng g(3);
  matrix<float> x(20000, 8), c(64, 8);
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < 8; ++j) x(i, j) = static_cast<float>(g.integer(-4, 4));
  for (index_t i = 0; i < c.rows(); ++i)
    for (index_t j = 0; j < 8; ++j) c(i, j) = static_cast<float>(g.integer(-4, 4)) + 0.25f;
  std::vector<index_t> a(20000), b(20000);
  std::vector<float> da(20000), db(20000);
  rq::thrust_assign<>{}(x, c, a.data(), da.data());
  rq::gemm_assign{}(x, c, b.data(), db.data());
  REQUIRE(a == b);
  for (index_t i = 0; i < 20000; ++i) REQUIRE(da[i] == Approx(db[i]).margin(1e-3));
}
