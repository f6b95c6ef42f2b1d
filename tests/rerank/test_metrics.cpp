// Tests of the rerank metrics against hand-computed values and brute-force references.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/rerank/metrics/alpha_ndcg.hpp"
#include "recblocks/rerank/metrics/coverage.hpp"
#include "recblocks/rerank/metrics/group_fairness.hpp"
#include "recblocks/rerank/metrics/intra_list_diversity.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::rerank;

namespace {

double naive_alpha_dcg(const std::vector<index_t>& list, const matrix<double>& j, index_t k, double alpha) {
  double dcg = 0.0;
  for (index_t p = 0; p < std::min<index_t>(k, list.size()); ++p) {
    double gain = 0.0;
    for (index_t t = 0; t < j.cols(); ++t) {
      int before = 0;
      for (index_t q = 0; q < p; ++q) before += j(list[q], t) > 0;
      gain += j(list[p], t) * std::pow(1 - alpha, before);
    }
    dcg += gain / std::log2(p + 2.0);
  }
  return dcg;
}

}  // namespace

TEST_CASE("alpha_ndcg: hand-computed", "[rerank][metrics]") {
  // items: 0 -> topic A, 1 -> topic A, 2 -> topic B; alpha = .5, k = 2.
  // list [0, 1]: DCG = 1 + .5 / log2(3) = 1.315465; ideal greedy [0, 2]: 1 + 1 / log2(3) = 1.630930.
  matrix<double> j(3, 2);
  j << 1, 0, 1, 0, 0, 1;
  CHECK(rr::alpha_ndcg<double>({0, 1}, j, 2, 0.5) == Approx(1.315465 / 1.630930).epsilon(1e-6));
  CHECK(rr::alpha_ndcg<double>({0, 2}, j, 2, 0.5) == Approx(1.0));
  CHECK(rr::alpha_ndcg<double>({2, 0}, j, 2, 0.5) == Approx(1.0));
  // alpha = 1: a repeated topic earns nothing: [0, 1] -> 1 / 1.630930.
  CHECK(rr::alpha_ndcg<double>({0, 1}, j, 2, 1.0) == Approx(1.0 / 1.630930).epsilon(1e-6));
  // shorter list than k is scored on its own positions: [0] -> 1 / 1.630930
  CHECK(rr::alpha_ndcg<double>({0}, j, 2, 0.5) == Approx(1.0 / 1.630930).epsilon(1e-6));
  // no subtopic anywhere -> 0
  CHECK(rr::alpha_ndcg<double>({0, 1}, matrix<double>::Zero(3, 2), 2, 0.5) == 0.0);
}

TEST_CASE("alpha_ndcg: brute-force DCG and ideal bound", "[rerank][metrics]") {
  recblocks::rng g(9);
  for (int trial = 0; trial < 20; ++trial) {
    const index_t n = 6, m = 3, k = 3;
    matrix<double> j(n, m);
    for (index_t i = 0; i < n; ++i)
      for (index_t t = 0; t < m; ++t) j(i, t) = g.bernoulli(0.4) ? 1.0 : 0.0;
    j(0, 0) = 1.0;
    // best DCG over all k-permutations
    std::vector<index_t> idx{0, 1, 2, 3, 4, 5};
    double best = 0.0;
    std::vector<index_t> best_list;
    do {
      std::vector<index_t> l(idx.begin(), idx.begin() + k);
      const double d = naive_alpha_dcg(l, j, k, 0.5);
      if (d > best) best = d, best_list = l;
    } while (std::next_permutation(idx.begin(), idx.end()));
    const double ndcg_best = rr::alpha_ndcg<double>(best_list, j, k, 0.5);
    CHECK(ndcg_best >= 1.0 - 1e-12);  // the greedy ideal never exceeds the true optimum
    std::vector<index_t> some{5, 3, 1};
    const double ratio = rr::alpha_ndcg<double>(some, j, k, 0.5) / ndcg_best;
    CHECK(ratio == Approx(naive_alpha_dcg(some, j, k, 0.5) / best));
  }
}

TEST_CASE("intra_list_diversity: hand-computed", "[rerank][metrics]") {
  // x0 = [1,0], x1 = [1,1], x2 = [0,1]: distances .2929, 1, .2929; ILD@3 = (2 / 6) * 1.585786 = .528595
  matrix<double> x(3, 2);
  x << 1, 0, 1, 1, 0, 1;
  CHECK(rr::intra_list_diversity<double>({0, 1, 2}, x, 3) == Approx(0.528595).epsilon(1e-5));
  CHECK(rr::intra_list_diversity<double>({0, 2, 1}, x, 2) == Approx(1.0));
  CHECK(rr::intra_list_diversity<double>({0}, x, 1) == 0.0);
  matrix<double> z = x;
  z.row(1).setZero();
  CHECK_THROWS_AS(rr::intra_list_diversity<double>({0, 1}, z, 2), recblocks::value_error);
}

TEST_CASE("coverage: hand-computed", "[rerank][metrics]") {
  // top-2 of [0,1,2] and [2,3,4] = {0,1,2,3}: 4 / 10
  CHECK(rr::catalog_coverage({{0, 1, 2}, {2, 3, 4}}, 10, 2) == Approx(0.4));
  CHECK(rr::catalog_coverage({{0, 1, 2}, {2, 3, 4}}, 10, 3) == Approx(0.5));
  CHECK_THROWS_AS(rr::catalog_coverage({{0, 11}}, 10, 2), recblocks::value_error);
  matrix<double> j(3, 3);
  j << 1, 0, 0, 1, 0, 0, 0, 1, 0;  // topic 2 absent from the pool
  CHECK(rr::subtopic_coverage<double>({0, 1}, j, 2) == Approx(0.5));
  CHECK(rr::subtopic_coverage<double>({0, 2}, j, 2) == Approx(1.0));
}

TEST_CASE("group_fairness: LLM4Rerank MAD, hand-computed", "[rerank][metrics]") {
  // N = 4: scores 1, 2/3, 1/3, 0.
  const std::vector<index_t> groups{0, 0, 1, 1};
  CHECK(rr::group_fairness({0, 1, 2, 3}, groups) == Approx(2.0 / 3.0));  // .8333 - .1667
  CHECK(rr::group_fairness({0, 2, 1, 3}, groups) == Approx(1.0 / 3.0));  // .6667 - .3333
  CHECK(rr::group_fairness({0, 2, 3, 1}, groups) == Approx(0.0).margin(1e-12));
  // three groups: max - min of the means: g0 {1}, g1 {.5}, g2 {0} -> 1
  CHECK(rr::group_fairness({0, 1, 2}, {0, 1, 2}) == Approx(1.0));
  CHECK_THROWS_AS(rr::group_fairness({0, 1}, groups), recblocks::value_error);  // group 1 absent
  CHECK_THROWS_AS(rr::group_fairness({0, 0}, groups), recblocks::value_error);  // duplicate
  CHECK_THROWS_AS(rr::group_fairness({0, 1}, {0, 0}), recblocks::value_error);  // one group
}

TEST_CASE("rerank metrics: bad input", "[rerank][metrics][errors]") {
  matrix<double> j(3, 2);
  j << 1, 0, 1, 0, 0, 1;
  CHECK_THROWS_AS(rr::alpha_ndcg<double>({0, 1}, j, 4, 0.5), recblocks::value_error);   // k > n
  CHECK_THROWS_AS(rr::alpha_ndcg<double>({0, 5}, j, 2, 0.5), recblocks::value_error);   // unknown id
  CHECK_THROWS_AS(rr::alpha_ndcg<double>({0, 1}, j, 2, 1.5), recblocks::value_error);   // alpha
  j(1, 1) = std::nan("");
  CHECK_THROWS_AS(rr::alpha_ndcg<double>({0, 1}, j, 2, 0.5), recblocks::value_error);   // NaN
  CHECK_THROWS_AS(rr::intra_list_diversity<double>({0, 1}, j, 2), recblocks::value_error);
}
