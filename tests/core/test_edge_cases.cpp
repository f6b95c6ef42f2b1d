// Edge cases of the engine (issue 10, part 2), one regression test each: empty batches in broadcast
// ops, clip_grad_value on repeated sparse rows, softmax of rows without finite entries (and masked
// softmax), log1p in the BCE losses, and the BLAS int range.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <recblocks/recblocks.hpp>

using namespace recblocks;

TEST_CASE("an empty batch through broadcast ops gives empty results, no division by zero", "[edge][ops]") {
  param<double> bias("b", matrix<double>::Constant(1, 3, 0.5));
  tape<double> t;
  matrix<double> empty(0, 3);
  var<double> x = t.view(empty.data(), 0, 3);
  var<double> y = ops::mul(t, ops::add(t, x, t.leaf(bias)), t.leaf(bias));  // [0, 3] op [1, 3] (was SIGFPE)
  CHECK(y.rows == 0);
  CHECK(y.cols == 3);
  var<double> col = t.constant(matrix<double>::Ones(1, 1));
  var<double> z = ops::sub(t, x, col);  // [0, 3] op [1, 1]
  CHECK(z.rows == 0);
  t.backward(ops::add(t, ops::sum_all(t, y), ops::sum_all(t, t.leaf(bias))));
  CHECK(bias.dense_grad() == matrix<double>::Ones(1, 3));  // only the second term contributes
}

TEST_CASE("clip_grad_value clamps the coalesced sparse rows", "[edge][optim]") {
  param<double> table("t", matrix<double>::Zero(10, 2));
  table.set_sparse_grad(true);
  tape<double> t;
  const std::vector<index_t> ids{3, 3};  // one row looked up twice: its gradient is the sum, 2 * 0.8
  t.backward(ops::sum_all(t, ops::mul_scalar(t, ops::gather_rows(t, t.leaf(table), ids), 0.8)));
  optim::clip_grad_value<double>({&table}, 1.0);
  const matrix<double> g = table.dense_grad();
  CHECK(g(3, 0) == Approx(1.0));  // before: each lookup clamped separately, 0.8 + 0.8 = 1.6
  CHECK(g(3, 1) == Approx(1.0));
  CHECK(table.sparse().size() == 1);
}

TEST_CASE("softmax of a row without finite entries is defined; masked softmax", "[edge][ops][softmax]") {
  constexpr double inf = std::numeric_limits<double>::infinity();
  param<double> x("x", matrix<double>{{1.0, -inf, 2.0}, {-inf, -inf, -inf}});
  tape<double> t;
  var<double> s = ops::softmax(t, t.leaf(x));
  CHECK(s.value().allFinite());
  CHECK(s.value().row(1).isZero());
  CHECK(s.value().row(0).sum() == Approx(1.0));
  var<double> ls = ops::log_softmax(t, t.leaf(x));
  CHECK(std::isinf(ls.value()(1, 0)));
  CHECK_FALSE(std::isnan(ls.value()(1, 0)));
  matrix<double> w{{1.0, 0.0, 2.0}, {0.5, 0.5, 0.5}};
  t.backward(ops::add(t, ops::sum_all(t, ops::mul(t, s, t.constant(w))),
                      ops::sum_all(t, ops::mul(t, ops::softmax(t, t.leaf(x)), t.constant(w)))));
  CHECK(x.dense_grad().row(1).isZero());  // no NaN flows back from the empty row
  CHECK(x.dense_grad().allFinite());

  // masked softmax: masked entries and fully masked rows get 0; the rest sums to 1
  matrix<double> mask{{1, 0, 1}, {0, 0, 0}};
  matrix<double> xv{{0.3, 5.0, -0.2}, {1.0, 2.0, 3.0}};
  tape<double> t2;
  var<double> m = ops::masked_softmax(t2, t2.constant(xv), t2.constant(mask));
  CHECK(m.value()(0, 1) == 0.0);
  CHECK(m.value().row(0).sum() == Approx(1.0));
  CHECK(m.value()(0, 0) == Approx(std::exp(0.3) / (std::exp(0.3) + std::exp(-0.2))));
  CHECK(m.value().row(1).isZero());
  CHECK_THROWS_AS(ops::masked_softmax(t2, t2.constant(xv), t2.constant(matrix<double>::Ones(1, 3))), shape_error);

  rng gen(3);
  param<double> p("p", 3, 4);
  gen.fill_uniform(p.value(), -1.0, 1.0);
  matrix<double> pm{{1, 1, 0, 1}, {0, 1, 1, 0}, {1, 0, 0, 0}};
  matrix<double> pw(3, 4);
  gen.fill_uniform(pw, -1.0, 1.0);
  auto res = testing::gradcheck<double>(
      [&](tape<double>& tt) { return ops::sum_all(tt, ops::mul(tt, ops::masked_softmax(tt, tt.leaf(p), tt.constant(pm)), tt.constant(pw))); },
      {&p});
  INFO(res.summary());
  CHECK(res.passed);
}

TEST_CASE("the BCE losses use log1p: tiny losses keep their value in float", "[edge][loss]") {
  tape<float> t;
  matrix<float> z{{-20.0f}}, y0{{0.0f}};
  const float l = loss::bce_with_logits(t, t.constant(z), t.constant(y0)).item();
  CHECK(l == Approx(2.0611536e-9).epsilon(1e-4));  // log(1 + e^-20) in float was exactly 0
  matrix<float> p{{1e-6f}};
  const float lb = loss::bce(t, t.constant(p), t.constant(y0)).item();
  CHECK(lb == Approx(1.0000005e-6).epsilon(1e-4));  // -log(1 - p): log(1 - 1e-6f) was ~1 % off
}

TEST_CASE("GEMM extents beyond int never reach the CBLAS interface", "[edge][gemm]") {
  const index_t big = index_t{std::numeric_limits<int>::max()} + 1;
  CHECK(detail::fits_blas_int(64, 64, 64, 64, 64, 64));
  CHECK_FALSE(detail::fits_blas_int(big, 4, 4, 4, 4, 4));
  CHECK_FALSE(detail::fits_blas_int(64, 4, big, big, 4, 4));
  CHECK_FALSE(detail::fits_blas_int(64, big, 4, 4, big, big));
}
