// Tape behaviour: modes, errors, accumulation, sparse gradients, NaN detection, hand-computed values.
#include <catch2/catch.hpp>
#include <recblocks/recblocks.hpp>

using namespace recblocks;

TEST_CASE("forward values match hand-computed results", "[tape]") {
  tape<double> t;
  matrix<double> a(2, 2), b(2, 2);
  a << 1, 2, 3, 4;
  b << 0.5, -1, 2, 0;
  auto c = ops::matmul(t, t.constant(a), t.constant(b));
  CHECK(c.value()(0, 0) == Approx(4.5));
  CHECK(c.value()(0, 1) == Approx(-1));
  CHECK(c.value()(1, 0) == Approx(9.5));
  CHECK(c.value()(1, 1) == Approx(-3));
  auto s = ops::softmax(t, t.constant(a));
  CHECK(s.value()(0, 0) == Approx(1.0 / (1.0 + std::exp(1.0))));
  auto ls = ops::log_softmax(t, t.constant(matrix<double>::Constant(1, 3, 1000.0)));  // stable at large logits
  CHECK(ls.value()(0, 1) == Approx(-std::log(3.0)));
  matrix<double> logits(2, 1), labels(2, 1);
  logits << 0.0, 100.0;
  labels << 1, 0;
  // l = [log 2, 100 + log(1 + e^-100)] -> mean
  CHECK(loss::bce_with_logits(t, t.constant(logits), t.constant(labels)).item() == Approx((std::log(2.0) + 100.0) / 2));
}

TEST_CASE("gradients of a small graph match hand derivation", "[tape]") {
  // L = sum(x * w) + sum(x) with x used twice: dL/dx = w + 1, dL/dw = x
  param<double> x("x", matrix<double>::Constant(1, 3, 2.0)), w("w", matrix<double>(1, 3));
  w.value() << 1, -1, 0.5;
  tape<double> t;
  auto xv = t.leaf(x);
  auto loss = ops::add(t, ops::sum_all(t, ops::mul(t, xv, t.leaf(w))), ops::sum_all(t, xv));
  CHECK(loss.item() == Approx(2 * (1 - 1 + 0.5) + 6));
  t.backward(loss);
  CHECK(x.grad()(0, 0) == Approx(2.0));
  CHECK(x.grad()(0, 1) == Approx(0.0));
  CHECK(x.grad()(0, 2) == Approx(1.5));
  CHECK(w.grad()(0, 1) == Approx(2.0));
}

TEST_CASE("gradients accumulate across steps until zero_grad", "[tape]") {
  param<double> x("x", matrix<double>::Ones(1, 2));
  for (int i = 0; i < 2; ++i) {
    tape<double> t;
    t.backward(ops::sum_all(t, t.leaf(x)));
  }
  CHECK(x.grad()(0, 0) == Approx(2.0));
  x.zero_grad();
  CHECK_FALSE(x.has_dense_grad());
}

TEST_CASE("bad use of the tape is refused clearly", "[tape][errors]") {
  param<double> x("x", matrix<double>::Ones(2, 2));
  SECTION("backward twice") {
    tape<double> t;
    auto l = ops::sum_all(t, t.leaf(x));
    t.backward(l);
    CHECK_THROWS_AS(t.backward(l), state_error);
    t.reset();
    auto l2 = ops::sum_all(t, t.leaf(x));
    CHECK_NOTHROW(t.backward(l2));
  }
  SECTION("backward on an inference tape") {
    tape<double> t(tape_mode::infer);
    auto l = ops::sum_all(t, t.leaf(x));
    CHECK_THROWS_AS(t.backward(l), state_error);
  }
  SECTION("backward with recording switched off") {
    tape<double> t;
    var<double> l;
    {
      no_grad<double> guard(t);
      l = ops::sum_all(t, t.leaf(x));
      CHECK(t.node_count() == 0);
    }
    CHECK(t.recording());
    CHECK_THROWS_AS(t.backward(l), state_error);
  }
  SECTION("non-scalar loss") {
    tape<double> t;
    CHECK_THROWS_AS(t.backward(ops::relu(t, t.leaf(x))), shape_error);
  }
  SECTION("shape mismatches name the op and both shapes") {
    tape<double> t;
    auto a = t.constant(matrix<double>::Ones(2, 3));
    auto b = t.constant(matrix<double>::Ones(4, 5));
    CHECK_THROWS_WITH(ops::matmul(t, a, b), Catch::Contains("matmul") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
    CHECK_THROWS_AS(ops::add(t, a, b), shape_error);
    CHECK_THROWS_AS(ops::concat_cols(t, {a, b}), shape_error);
    CHECK_THROWS_AS(ops::slice_cols(t, a, 2, 2), shape_error);
    CHECK_THROWS_AS(ops::batched_matmul(t, a, b, 2), shape_error);
    CHECK_THROWS_AS(ops::linear(t, a, b, var<double>{}), shape_error);
  }
  SECTION("ids outside a table") {
    tape<double> t;
    const std::vector<index_t> ids = {0, 2};
    CHECK_THROWS_AS(ops::gather_rows(t, t.leaf(x), ids), value_error);
    const std::vector<index_t> neg = {-1};
    CHECK_THROWS_AS(ops::gather_rows(t, t.leaf(x), neg), value_error);
  }
  SECTION("labels outside [0, 1] and targets outside the classes") {
    tape<double> t;
    matrix<double> z = matrix<double>::Zero(2, 1), y(2, 1);
    y << 1, 2;
    CHECK_THROWS_AS(loss::bce_with_logits(t, t.constant(z), t.constant(y)), value_error);
    y << 1, std::nan("");
    CHECK_THROWS_AS(loss::bce_with_logits(t, t.constant(z), t.constant(y)), value_error);
    CHECK_THROWS_AS(loss::softmax_cross_entropy(t, t.leaf(x), {0, 2}), value_error);
  }
}

TEST_CASE("the finite check reports the first op producing NaN", "[tape][errors]") {
  tape<double> t;
  t.set_check_finite(true);
  auto x = t.constant(matrix<double>::Constant(1, 2, -1.0));
  auto ok = ops::exp(t, x);
  (void)ok;
  CHECK_THROWS_WITH(ops::sqrt(t, x), Catch::Contains("sqrt") && Catch::Contains("non-finite"));
}

TEST_CASE("embedding gradients stay sparse and match the dense path", "[tape][sparse]") {
  rng gen(1);
  param<double> table("table", 10, 3);
  gen.fill_uniform(table.value(), -1, 1);
  param<double> dense_table = table;
  table.set_sparse_grad(true);
  const std::vector<index_t> ids = {4, 7, 4, 1};
  matrix<double> w(4, 3);
  gen.fill_uniform(w, -1, 1);
  {
    tape<double> t;
    t.backward(ops::sum_all(t, ops::mul(t, ops::gather_rows(t, t.leaf(table), ids), t.constant(w))));
  }
  {
    tape<double> t;
    t.backward(ops::sum_all(t, ops::mul(t, ops::gather_rows(t, t.leaf(dense_table), ids), t.constant(w))));
  }
  CHECK_FALSE(table.has_dense_grad());
  CHECK(table.sparse().size() == 4);
  table.sparse().coalesce();
  CHECK(table.sparse().size() == 3);
  CHECK(table.sparse().ids == std::vector<index_t>{1, 4, 7});
  CHECK((table.dense_grad() - dense_table.grad()).cwiseAbs().maxCoeff() < 1e-14);
  CHECK(table.dense_grad().row(4).isApprox(w.row(0) + w.row(2)));
}

TEST_CASE("a parameter used twice gets one leaf node", "[tape]") {
  param<double> w("w", matrix<double>::Ones(2, 2));
  tape<double> t;
  auto a = t.leaf(w);
  auto b = t.leaf(w);
  CHECK(a.node == b.node);
  t.reset();
  auto c = t.leaf(w);
  CHECK(c.node == 0);
}

TEST_CASE("steady-state steps reuse arena memory", "[tape][arena]") {
  rng gen(2);
  nn::mlp<float> net({.input_dim = 16, .hidden = {64, 32}, .output_layer = true}, gen);
  matrix<float> x = matrix<float>::Random(128, 16);
  tape<float> t;
  std::size_t capacity = 0;
  for (int step = 0; step < 5; ++step) {
    t.reset();
    auto y = net(t, t.view(x.data(), 128, 16));
    t.backward(ops::sum_all(t, y));
    if (step == 2) capacity = t.arena_bytes();
  }
  CHECK(t.arena_bytes() == capacity);
}

TEST_CASE("arena allocations are aligned and merge after overflow", "[arena]") {
  arena a(256);
  void* p1 = a.allocate(10);
  void* p2 = a.allocate(1000);  // overflows into a second block
  CHECK(reinterpret_cast<std::uintptr_t>(p1) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(p2) % 64 == 0);
  a.reset();
  CHECK(a.capacity() >= 1024);
  const auto cap = a.capacity();
  a.allocate(10);
  a.allocate(1000);
  a.reset();
  CHECK(a.capacity() == cap);
}

TEST_CASE("dropout is seeded, scaled and off at inference", "[tape][dropout]") {
  matrix<double> x = matrix<double>::Ones(50, 40);
  tape<double> t1(tape_mode::train, 7), t2(tape_mode::train, 7), inf(tape_mode::infer);
  auto a = ops::dropout(t1, t1.view(x.data(), 50, 40), 0.25);
  auto b = ops::dropout(t2, t2.view(x.data(), 50, 40), 0.25);
  CHECK(a.value() == b.value());
  const double kept = (a.value().array() != 0).cast<double>().mean();
  CHECK(kept == Approx(0.75).margin(0.04));
  CHECK(a.value().maxCoeff() == Approx(1 / 0.75));
  auto c = ops::dropout(inf, inf.view(x.data(), 50, 40), 0.25);
  CHECK(c.value() == x);
  CHECK_THROWS_AS(ops::dropout(t1, t1.view(x.data(), 50, 40), 1.0), value_error);
}

TEST_CASE("batch norm updates running statistics like PyTorch", "[tape][batchnorm]") {
  nn::batch_norm<double> bn(2);
  matrix<double> x(4, 2);
  x << 1, 10, 2, 20, 3, 30, 4, 40;
  tape<double> t;
  auto y = bn(t, t.constant(x));
  // batch mean [2.5, 25], biased var [1.25, 125], unbiased [5/3, 500/3]
  CHECK(bn.running_mean()(0, 0) == Approx(0.25));
  CHECK(bn.running_mean()(0, 1) == Approx(2.5));
  CHECK(bn.running_var()(0, 0) == Approx(0.9 + 0.1 * 5.0 / 3.0));
  CHECK(y.value()(0, 0) == Approx((1 - 2.5) / std::sqrt(1.25 + 1e-5)));
  tape<double> inf(tape_mode::infer);
  auto z = bn(inf, inf.constant(x));
  CHECK(z.value()(0, 1) == Approx((10 - 2.5) / std::sqrt(bn.running_var()(0, 1) + 1e-5)));
  matrix<double> one = x.topRows(1);
  CHECK_THROWS_AS(bn(t, t.constant(one)), value_error);
}
