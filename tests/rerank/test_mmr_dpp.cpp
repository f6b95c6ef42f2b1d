// Tests of rerank::mmr and rerank::dpp: hand-computed cases, brute-force references, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Dense>

#include "recblocks/core/rng.hpp"
#include "recblocks/rerank/dpp.hpp"
#include "recblocks/rerank/mmr.hpp"

using recblocks::index_t;
using recblocks::matrix;
using recblocks::col_vector;
namespace rr = recblocks::rerank;

namespace {

// Naive MMR: recomputes max_{j in Y} S_ij from scratch at every step.
std::vector<index_t> naive_mmr(const col_vector<double>& r, const matrix<double>& s, double lambda, index_t k) {
  std::vector<index_t> y;
  std::vector<char> taken(r.size(), 0);
  for (index_t step = 0; step < k; ++step) {
    index_t best = -1;
    double best_v = -std::numeric_limits<double>::infinity();
    for (index_t i = 0; i < r.size(); ++i) {
      if (taken[i]) continue;
      double red = y.empty() ? 0.0 : -std::numeric_limits<double>::infinity();
      for (index_t j : y) red = std::max(red, s(i, j));
      const double v = lambda * r(i) - (1 - lambda) * red;
      if (v > best_v) best_v = v, best = i;
    }
    taken[best] = 1;
    y.push_back(best);
  }
  return y;
}

// Naive greedy DPP MAP: argmax_i det(L_{Y+i}) by full determinants.
std::vector<index_t> naive_dpp(const matrix<double>& l, index_t k) {
  std::vector<index_t> y;
  std::vector<char> taken(l.rows(), 0);
  for (index_t step = 0; step < k; ++step) {
    index_t best = -1;
    double best_det = -std::numeric_limits<double>::infinity();
    for (index_t i = 0; i < l.rows(); ++i) {
      if (taken[i]) continue;
      std::vector<index_t> z = y;
      z.push_back(i);
      Eigen::MatrixXd sub(z.size(), z.size());
      for (std::size_t a = 0; a < z.size(); ++a)
        for (std::size_t b = 0; b < z.size(); ++b) sub(a, b) = l(z[a], z[b]);
      const double det = sub.determinant();
      if (det > best_det) best_det = det, best = i;
    }
    taken[best] = 1;
    y.push_back(best);
  }
  return y;
}

matrix<double> random_psd(recblocks::rng& g, index_t n, index_t rank) {
  matrix<double> b(n, rank);
  g.fill_normal(b, 0.0, 1.0);
  return b * b.transpose();
}

}  // namespace

TEST_CASE("mmr: hand-computed 3-item case", "[rerank][mmr]") {
  // r = [0.9, 0.8, 0.3], lambda = 0.5, S as below.
  // step 1: 0.45, 0.40, 0.15                          -> item 0
  // step 2: item 1: 0.40 - 0.5*0.9 = -0.05; item 2: 0.15 - 0.5*0.1 = 0.10 -> item 2
  // step 3: item 1
  col_vector<double> r(3);
  r << 0.9, 0.8, 0.3;
  matrix<double> s(3, 3);
  s << 1, 0.9, 0.1, 0.9, 1, 0.2, 0.1, 0.2, 1;
  CHECK(rr::mmr(0.5).rerank<double>(r, s, 3) == std::vector<index_t>{0, 2, 1});
  CHECK(rr::mmr(1.0).rerank<double>(r, s, 3) == std::vector<index_t>{0, 1, 2});
  CHECK(rr::mmr(0.5).rerank<double>(r, s, 1) == std::vector<index_t>{0});
}

TEST_CASE("mmr: matches a naive reference on random cases", "[rerank][mmr]") {
  recblocks::rng g(7);
  for (int trial = 0; trial < 30; ++trial) {
    const index_t n = 5 + trial % 10;
    col_vector<double> r(n);
    for (index_t i = 0; i < n; ++i) r(i) = g.uniform();
    matrix<double> s(n, n);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j <= i; ++j) s(i, j) = s(j, i) = (i == j) ? 1.0 : g.uniform(-1, 1);
    const double lambda = g.uniform();
    const index_t k = 1 + trial % n;
    CHECK(rr::mmr(lambda).rerank<double>(r, s, k) == naive_mmr(r, s, lambda, k));
  }
}

TEST_CASE("mmr: bad input", "[rerank][mmr][errors]") {
  col_vector<double> r = col_vector<double>::Ones(3);
  matrix<double> s = matrix<double>::Identity(3, 3);
  CHECK_THROWS_AS(rr::mmr(1.5), recblocks::value_error);
  CHECK_THROWS_AS(rr::mmr(0.5).rerank<double>(r, s, 4), recblocks::value_error);
  CHECK_THROWS_AS(rr::mmr(0.5).rerank<double>(r, s, 0), recblocks::value_error);
  matrix<double> s2 = matrix<double>::Identity(2, 2);
  CHECK_THROWS_AS(rr::mmr(0.5).rerank<double>(r, s2, 2), recblocks::shape_error);
  r(1) = std::nan("");
  CHECK_THROWS_AS(rr::mmr(0.5).rerank<double>(r, s, 2), recblocks::value_error);
}

TEST_CASE("dpp: hand-computed 3-item case", "[rerank][dpp]") {
  // L = [[1, .9, 0], [.9, 1, 0], [0, 0, .5]]
  // d^2 = [1, 1, .5]                      -> item 0 (tie with 1, lower index)
  // e_1 = .9 / 1 -> d_1^2 = 1 - .81 = .19;  e_2 = 0 -> d_2^2 = .5   -> item 2
  // e_1 = (L_21 - c_2.c_1) / d_2 = 0      -> d_1^2 = .19            -> item 1
  // (det L_{0,2} = .5 > det L_{0,1} = .19, as the greedy gain says)
  matrix<double> l(3, 3);
  l << 1, 0.9, 0, 0.9, 1, 0, 0, 0, 0.5;
  CHECK(rr::dpp().rerank<double>(l, 3) == std::vector<index_t>{0, 2, 1});
  CHECK(rr::dpp().rerank<double>(l, 2) == std::vector<index_t>{0, 2});
}

TEST_CASE("dpp: fast greedy equals naive determinant greedy", "[rerank][dpp]") {
  recblocks::rng g(11);
  for (int trial = 0; trial < 20; ++trial) {
    const index_t n = 6 + trial % 8, k = 1 + trial % 6;
    const matrix<double> l = random_psd(g, n, n);  // full rank
    CHECK(rr::dpp().rerank<double>(l, k) == naive_dpp(l, k));
    const matrix<float> lf = l.cast<float>();
    CHECK(rr::dpp().rerank<float>(lf, std::min<index_t>(k, 3)) == naive_dpp(l, std::min<index_t>(k, 3)));
  }
}

TEST_CASE("dpp: singular kernel stops early, fill completes in quality order", "[rerank][dpp]") {
  recblocks::rng g(3);
  const matrix<double> l = random_psd(g, 8, 2);  // rank 2: a third item adds no volume
  const auto short_list = rr::dpp({1e-9, false}).rerank<double>(l, 5);
  REQUIRE(short_list.size() == 2);
  CHECK(short_list == naive_dpp(l, 2));
  const auto full = rr::dpp().rerank<double>(l, 5);
  REQUIRE(full.size() == 5);
  CHECK(std::vector<index_t>(full.begin(), full.begin() + 2) == short_list);
  for (std::size_t p = 3; p < full.size(); ++p) CHECK(l(full[p - 1], full[p - 1]) >= l(full[p], full[p]));
}

TEST_CASE("dpp: trade-off kernel", "[rerank][dpp]") {
  // theta = 0.5 -> alpha = 0.5 / (2 * 0.5) = 0.5, q_i = exp(0.5 r_i), L_ij = q_i S_ij q_j.
  col_vector<double> r(2);
  r << 0.0, 2.0;
  matrix<double> s(2, 2);
  s << 1, 0.5, 0.5, 1;
  const matrix<double> l = rr::dpp::kernel<double>(r, s, 0.5);
  CHECK(l(0, 0) == Approx(1.0));
  CHECK(l(1, 1) == Approx(std::exp(2.0)));
  CHECK(l(0, 1) == Approx(0.5 * std::exp(1.0)));
  // theta = 0 ignores relevance: L = S.
  CHECK(rr::dpp::kernel<double>(r, s, 0.0).isApprox(s));
  CHECK_THROWS_AS(rr::dpp::kernel<double>(r, s, 1.0), recblocks::value_error);
}

TEST_CASE("dpp: bad input", "[rerank][dpp][errors]") {
  matrix<double> l = matrix<double>::Identity(3, 3);
  CHECK_THROWS_AS(rr::dpp().rerank<double>(l, 4), recblocks::value_error);
  matrix<double> rect(3, 2);
  rect.setZero();
  CHECK_THROWS_AS(rr::dpp().rerank<double>(rect, 1), recblocks::shape_error);
  l(0, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(rr::dpp().rerank<double>(l, 2), recblocks::value_error);
  CHECK_THROWS_AS(rr::dpp({0.0, true}), recblocks::value_error);
  col_vector<double> r = col_vector<double>::Ones(2);
  CHECK_THROWS_AS(rr::dpp::kernel<double>(r, matrix<double>::Identity(3, 3), 0.5), recblocks::shape_error);
}
