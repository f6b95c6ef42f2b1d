#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/topk.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::retrieval;

namespace {

// brute force in double: (score, id) sorted best first, ties by lower id
template <class T>
std::vector<std::pair<double, index_t>> brute(const matrix<T>& x, const matrix<T>& q, index_t r,
                                              rr::topk_metric m) {
  std::vector<std::pair<double, index_t>> all;
  for (index_t i = 0; i < x.rows(); ++i) {
    const double s = m == rr::topk_metric::l2
                         ? (q.row(r).template cast<double>() - x.row(i).template cast<double>()).squaredNorm()
                         : q.row(r).template cast<double>().dot(x.row(i).template cast<double>());
    all.push_back({s, i});
  }
  std::sort(all.begin(), all.end(), [m](const auto& a, const auto& b) {
    if (a.first != b.first) return m == rr::topk_metric::l2 ? a.first < b.first : a.first > b.first;
    return a.second < b.second;
  });
  return all;
}

}  // namespace

TEST_CASE("topk: exact results equal brute force, ties by lower id", "[retrieval][topk]") {
  recblocks::rng g(3);
  // small integer values: many exact ties, exactly representable dot products
  matrix<double> x(5000, 5), q(70, 5);
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < 5; ++j) x(i, j) = static_cast<double>(g.integer(-2, 2));
  for (index_t i = 0; i < q.rows(); ++i)
    for (index_t j = 0; j < 5; ++j) q(i, j) = static_cast<double>(g.integer(-2, 2));
  for (auto m : {rr::topk_metric::inner_product, rr::topk_metric::l2}) {
    rr::topk<double> t(x, m);
    const auto r = t.search(q, 37);
    REQUIRE(r.ids.rows() == 70);
    REQUIRE(r.ids.cols() == 37);
    for (index_t i = 0; i < q.rows(); ++i) {
      const auto b = brute(x, q, i, m);
      for (index_t j = 0; j < 37; ++j) {
        REQUIRE(r.ids(i, j) == b[j].second);
        REQUIRE(r.scores(i, j) == Approx(b[j].first).margin(1e-9));
      }
    }
  }
}

TEST_CASE("topk: float random data, k = n, and bad input", "[retrieval][topk]") {
  recblocks::rng g(5);
  matrix<float> x(300, 12), q(9, 12);
  g.fill_normal(x, 0.0, 1.0);
  g.fill_normal(q, 0.0, 1.0);
  rr::topk<float> t(x, rr::topk_metric::l2);
  const auto r = t.search(q, 300);
  for (index_t i = 0; i < q.rows(); ++i) {
    const auto b = brute(x, q, i, rr::topk_metric::l2);
    for (index_t j = 0; j < 10; ++j) REQUIRE(r.ids(i, j) == b[j].second);
    for (index_t j = 0; j < 300; ++j) REQUIRE(r.scores(i, j) == Approx(b[j].first).epsilon(1e-4).margin(1e-4));
  }
  REQUIRE_THROWS_AS(t.search(q, 301), recblocks::value_error);
  REQUIRE_THROWS_AS(t.search(q, 0), recblocks::value_error);
  REQUIRE_THROWS_AS(t.search(matrix<float>::Zero(2, 11), 1), recblocks::shape_error);
  matrix<float> bad = q;
  bad(2, 3) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(t.search(bad, 1), recblocks::value_error);
  REQUIRE_THROWS_AS(rr::topk<float>(bad, rr::topk_metric::inner_product), recblocks::value_error);
  REQUIRE_THROWS_AS(rr::topk<float>(matrix<float>(0, 3), rr::topk_metric::inner_product), recblocks::value_error);
}
