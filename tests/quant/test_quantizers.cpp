#include <catch2/catch.hpp>

#include <limits>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/quant.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rq = recblocks::quant;

TEST_CASE("residual_quantizer recovers a two-level additive code exactly", "[quant][rq]") {
  // x = A[a] + B[b]: A on a coarse scale, B on a fine scale, 4 x 4 combinations, 10 copies each
  recblocks::rng g(1);
  matrix<double> a(4, 3), b(4, 3);
  g.fill_uniform(a, -100.0, 100.0);
  g.fill_uniform(b, -1.0, 1.0);
  matrix<double> x(160, 3);
  std::vector<std::pair<index_t, index_t>> truth;
  for (index_t i = 0; i < 160; ++i) {
    const index_t ia = i % 4, ib = (i / 4) % 4;
    x.row(i) = a.row(ia) + b.row(ib);
    truth.push_back({ia, ib});
  }
  rq::residual_quantizer<double> q({.levels = 2, .codebook_size = 4, .iterations = 10, .seed = 3});
  q.fit(x);
  REQUIRE(q.reconstruction_error(x) < 1e-18);
  const auto codes = q.encode(x);
  REQUIRE(codes.cols() == 2);
  // same (a, b) <=> same code tuple
  for (index_t i = 0; i < 160; ++i)
    for (index_t j = 0; j < 160; j += 7)
      REQUIRE((truth[i] == truth[j]) == (codes(i, 0) == codes(j, 0) && codes(i, 1) == codes(j, 1)));
  // decode is the sum of the selected codewords
  const auto rec = q.decode(codes);
  for (index_t i = 0; i < 5; ++i)
    REQUIRE((rec.row(i) - q.codebook(0).row(codes(i, 0)) - q.codebook(1).row(codes(i, 1))).norm() < 1e-12);
  REQUIRE((rec - x).norm() < 1e-8);
}

TEST_CASE("residual_quantizer: more levels lower the error; level 1 is k-means", "[quant][rq]") {
  recblocks::rng g(2);
  matrix<float> x(600, 8), fresh(100, 8);
  g.fill_normal(x, 0.0, 1.0);
  g.fill_normal(fresh, 0.0, 1.0);
  double prev = std::numeric_limits<double>::infinity();
  for (index_t levels = 1; levels <= 3; ++levels) {
    rq::residual_quantizer<float> q({.levels = levels, .codebook_size = 16, .iterations = 8});
    q.fit(x);
    const double e = q.reconstruction_error(x);
    REQUIRE(e < prev);
    prev = e;
    if (levels == 1) {
      rq::kmeans<float> km({.clusters = 16, .iterations = 8, .seed = 42});
      km.fit(x);
      REQUIRE(q.codebook(0) == km.centroids());
      // re-encoding against the final centroids can only lower the SSE of k-means' stored assignment
      REQUIRE(e * 600 <= km.inertia() * (1 + 1e-9));
      REQUIRE(e * 600 >= km.inertia() * 0.99);
    }
    REQUIRE(q.reconstruction_error(fresh) < 8.0);  // new vectors get codes too (variance 8 per row)
  }
  rq::residual_quantizer<float> q({.levels = 2, .codebook_size = 16, .iterations = 3});
  REQUIRE_THROWS_AS(q.encode(x), recblocks::state_error);
  q.fit(x);
  REQUIRE_THROWS_AS(q.encode(matrix<float>::Zero(2, 7)), recblocks::shape_error);
  matrix<float> bad = fresh;
  bad(0, 0) = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_AS(q.encode(bad), recblocks::value_error);
  matrix<index_t> codes = q.encode(fresh.topRows(2));
  codes(1, 1) = 16;
  REQUIRE_THROWS_AS(q.decode(codes), recblocks::value_error);
  REQUIRE_THROWS_AS(rq::residual_quantizer<float>({.levels = 0}), recblocks::value_error);
  REQUIRE_THROWS_AS(rq::residual_quantizer<float>({.codebook_size = 1000}).fit(x), recblocks::value_error);
}

TEST_CASE("product_quantizer: ADC equals the distance to the reconstruction", "[quant][pq]") {
  recblocks::rng g(3);
  matrix<float> x(800, 12), q(4, 12);
  g.fill_normal(x, 0.0, 1.0);
  g.fill_normal(q, 0.0, 1.0);
  rq::product_quantizer<float> pq({.subspaces = 4, .codebook_size = 32, .iterations = 6});
  pq.fit(x);
  const auto codes = pq.encode(x);
  REQUIRE(codes.cols() == 4);
  const auto rec = pq.decode(codes);
  // each sub-space code is the nearest sub-centroid
  for (index_t i = 0; i < 50; ++i)
    for (index_t s = 0; s < 4; ++s) {
      const auto sub = x.row(i).segment(s * 3, 3);
      double best = std::numeric_limits<double>::infinity();
      for (index_t j = 0; j < 32; ++j) best = std::min(best, double((pq.codebook(s).row(j) - sub).squaredNorm()));
      REQUIRE((pq.codebook(s).row(codes(i, s)) - sub).squaredNorm() == Approx(best).margin(1e-5));
    }
  for (index_t r = 0; r < q.rows(); ++r) {
    const matrix<float> qr = q.row(r);
    const auto table = pq.distance_table(qr);
    REQUIRE(table.rows() == 4);
    REQUIRE(table.cols() == 32);
    const auto hits = pq.search(qr, codes, 20);
    // brute force over the reconstructions
    std::vector<std::pair<double, index_t>> all;
    for (index_t i = 0; i < x.rows(); ++i) all.push_back({(rec.row(i) - q.row(r)).squaredNorm(), i});
    std::sort(all.begin(), all.end());
    for (index_t j = 0; j < 20; ++j) {
      REQUIRE(hits.distances[j] == Approx(all[j].first).epsilon(1e-4));
      if (j > 0) REQUIRE(hits.distances[j - 1] <= hits.distances[j]);
    }
    REQUIRE(hits.ids[0] == all[0].second);
  }
  REQUIRE(pq.reconstruction_error(x) < 12.0 * 0.5);  // 32 centroids per 3-d sub-space
  REQUIRE_THROWS_AS(pq.search(q.row(0), codes, 801), recblocks::value_error);
  REQUIRE_THROWS_AS(pq.search(q.row(0), codes.leftCols(3), 1), recblocks::shape_error);
  REQUIRE_THROWS_AS(pq.encode(matrix<float>::Zero(1, 10)), recblocks::shape_error);
  REQUIRE_THROWS_AS(rq::product_quantizer<float>({.subspaces = 5, .codebook_size = 4}).fit(x), recblocks::value_error);
}
