// Every primitive op passes the central-difference gradient check in double.
#include <array>

#include "gradcheck_helpers.hpp"

using namespace recblocks;
using rbt::check_op;
using rbt::leaves;

TEST_CASE("matmul with every transpose combination", "[ops][gradcheck]") {
  check_op("matmul_nn", {{4, 3}, {3, 5}}, [](tape<double>& t, const leaves& x) { return ops::matmul(t, x[0], x[1]); });
  check_op("matmul_tn", {{3, 4}, {3, 5}}, [](tape<double>& t, const leaves& x) { return ops::matmul(t, x[0], x[1], true, false); });
  check_op("matmul_nt", {{4, 3}, {5, 3}}, [](tape<double>& t, const leaves& x) { return ops::matmul(t, x[0], x[1], false, true); });
  check_op("matmul_tt", {{3, 4}, {5, 3}}, [](tape<double>& t, const leaves& x) { return ops::matmul(t, x[0], x[1], true, true); });
  // large enough to take the BLAS path when recblocks::blas is linked
  check_op("matmul_big", {{40, 6}, {6, 7}}, [](tape<double>& t, const leaves& x) { return ops::matmul(t, x[0], x[1]); });
  check_op("matmul_big_tt", {{6, 40}, {7, 6}}, [](tape<double>& t, const leaves& x) { return ops::matmul(t, x[0], x[1], true, true); });
}

TEST_CASE("fused linear with each activation", "[ops][gradcheck]") {
  for (auto act : {fused_activation::none, fused_activation::relu, fused_activation::sigmoid, fused_activation::tanh}) {
    check_op("linear_act" + std::to_string(int(act)), {{5, 4}, {4, 3}, {1, 3}},
             [act](tape<double>& t, const leaves& x) { return ops::linear(t, x[0], x[1], x[2], act); });
    check_op("linear_big_act" + std::to_string(int(act)), {{36, 4}, {4, 3}, {1, 3}},
             [act](tape<double>& t, const leaves& x) { return ops::linear(t, x[0], x[1], x[2], act); });
  }
  check_op("linear_nobias", {{5, 4}, {4, 3}}, [](tape<double>& t, const leaves& x) { return ops::linear(t, x[0], x[1], var<double>{}); });
}

TEST_CASE("batched per-sample matmul", "[ops][gradcheck]") {
  check_op("batched_matmul", {{4, 3}, {4, 3 * 2}}, [](tape<double>& t, const leaves& x) { return ops::batched_matmul(t, x[0], x[1], 2); });
}

TEST_CASE("binary element-wise ops with broadcasting", "[ops][gradcheck]") {
  const std::vector<std::pair<rbt::input_spec, rbt::input_spec>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {1, 4}}, {{3, 4}, {3, 1}}, {{3, 4}, {1, 1}}, {{1, 4}, {3, 4}}, {{3, 1}, {1, 4}}};
  for (std::size_t s = 0; s < shapes.size(); ++s) {
    auto [a, b] = shapes[s];
    const std::string tag = std::to_string(s);
    check_op("add" + tag, {a, b}, [](tape<double>& t, const leaves& x) { return ops::add(t, x[0], x[1]); });
    check_op("sub" + tag, {a, b}, [](tape<double>& t, const leaves& x) { return ops::sub(t, x[0], x[1]); });
    check_op("mul" + tag, {a, b}, [](tape<double>& t, const leaves& x) { return ops::mul(t, x[0], x[1]); });
    b.lo = 0.5;
    b.hi = 2.0;
    check_op("div" + tag, {a, b}, [](tape<double>& t, const leaves& x) { return ops::div(t, x[0], x[1]); });
  }
}

TEST_CASE("scalar and unary math ops", "[ops][gradcheck]") {
  const rbt::input_spec any{3, 4}, positive{3, 4, 0.3, 2.0};
  check_op("add_scalar", {any}, [](tape<double>& t, const leaves& x) { return ops::add_scalar(t, x[0], 1.5); });
  check_op("mul_scalar", {any}, [](tape<double>& t, const leaves& x) { return ops::mul_scalar(t, x[0], -2.5); });
  check_op("neg", {any}, [](tape<double>& t, const leaves& x) { return ops::neg(t, x[0]); });
  check_op("exp", {any}, [](tape<double>& t, const leaves& x) { return ops::exp(t, x[0]); });
  check_op("log", {positive}, [](tape<double>& t, const leaves& x) { return ops::log(t, x[0]); });
  check_op("sqrt", {positive}, [](tape<double>& t, const leaves& x) { return ops::sqrt(t, x[0]); });
  check_op("pow", {positive}, [](tape<double>& t, const leaves& x) { return ops::pow(t, x[0], 2.7); });
  check_op("clamp", {{3, 4, -2.0, 2.0}}, [](tape<double>& t, const leaves& x) { return ops::clamp(t, x[0], -0.5, 0.7); });
  check_op("abs", {any}, [](tape<double>& t, const leaves& x) { return ops::abs(t, x[0]); });
}

TEST_CASE("activations", "[ops][gradcheck]") {
  const rbt::input_spec any{4, 5, -2.0, 2.0};
  check_op("relu", {any}, [](tape<double>& t, const leaves& x) { return ops::relu(t, x[0]); });
  check_op("leaky_relu", {any}, [](tape<double>& t, const leaves& x) { return ops::leaky_relu(t, x[0], 0.2); });
  check_op("sigmoid", {any}, [](tape<double>& t, const leaves& x) { return ops::sigmoid(t, x[0]); });
  check_op("tanh", {any}, [](tape<double>& t, const leaves& x) { return ops::tanh(t, x[0]); });
  check_op("gelu", {any}, [](tape<double>& t, const leaves& x) { return ops::gelu(t, x[0]); });
  check_op("silu", {any}, [](tape<double>& t, const leaves& x) { return ops::silu(t, x[0]); });
  check_op("prelu_per_column", {any, {1, 5, 0.0, 0.5}}, [](tape<double>& t, const leaves& x) { return ops::prelu(t, x[0], x[1]); });
  check_op("prelu_shared", {any, {1, 1, 0.0, 0.5}}, [](tape<double>& t, const leaves& x) { return ops::prelu(t, x[0], x[1]); });
  check_op("dice", {any, {1, 5, 0.0, 0.5}}, [](tape<double>& t, const leaves& x) { return ops::dice(t, x[0], x[1]); });
}

TEST_CASE("softmax and log-softmax", "[ops][gradcheck]") {
  check_op("softmax", {{4, 5, -3.0, 3.0}}, [](tape<double>& t, const leaves& x) { return ops::softmax(t, x[0]); });
  check_op("log_softmax", {{4, 5, -3.0, 3.0}}, [](tape<double>& t, const leaves& x) { return ops::log_softmax(t, x[0]); });
}

TEST_CASE("reductions over rows, columns and all", "[ops][gradcheck]") {
  const rbt::input_spec any{4, 5};
  check_op("column_sums", {any}, [](tape<double>& t, const leaves& x) { return ops::column_sums(t, x[0]); });
  check_op("column_means", {any}, [](tape<double>& t, const leaves& x) { return ops::column_means(t, x[0]); });
  check_op("row_sums", {any}, [](tape<double>& t, const leaves& x) { return ops::row_sums(t, x[0]); });
  check_op("row_means", {any}, [](tape<double>& t, const leaves& x) { return ops::row_means(t, x[0]); });
  check_op("column_max", {any}, [](tape<double>& t, const leaves& x) { return ops::column_max(t, x[0]); });
  check_op("row_max", {any}, [](tape<double>& t, const leaves& x) { return ops::row_max(t, x[0]); });
  check_op("sum_all", {any}, [](tape<double>& t, const leaves& x) { return ops::sum_all(t, x[0]); });
  check_op("mean_all", {any}, [](tape<double>& t, const leaves& x) { return ops::mean_all(t, x[0]); });
}

TEST_CASE("concat, slice and split", "[ops][gradcheck]") {
  check_op("concat_cols", {{3, 2}, {3, 4}, {3, 1}}, [](tape<double>& t, const leaves& x) { return ops::concat_cols(t, {x[0], x[1], x[2]}); });
  check_op("concat_rows", {{2, 3}, {4, 3}}, [](tape<double>& t, const leaves& x) { return ops::concat_rows(t, {x[0], x[1]}); });
  check_op("slice_cols", {{3, 6}}, [](tape<double>& t, const leaves& x) { return ops::slice_cols(t, x[0], 2, 3); });
  check_op("slice_rows", {{6, 3}}, [](tape<double>& t, const leaves& x) { return ops::slice_rows(t, x[0], 1, 4); });
  check_op("split_cols", {{3, 6}}, [](tape<double>& t, const leaves& x) {
    auto parts = ops::split_cols(t, x[0], {1, 2, 3});
    return ops::concat_cols(t, {ops::mul_scalar(t, parts[2], 2.0), parts[0], ops::exp(t, parts[1])});
  });
  check_op("split_rows", {{6, 3}}, [](tape<double>& t, const leaves& x) {
    auto parts = ops::split_rows(t, x[0], {2, 4});
    return ops::concat_rows(t, {ops::tanh(t, parts[1]), parts[0]});
  });
}

TEST_CASE("reshape is a view with the gradient passed through", "[ops][gradcheck]") {
  check_op("reshape", {{3, 8}}, [](tape<double>& t, const leaves& x) {
    // used twice, so the gradient of x accumulates from the view and from x itself
    return ops::add(t, ops::reshape(t, ops::tanh(t, ops::reshape(t, x[0], 6, 4)), 3, 8), ops::mul_scalar(t, x[0], 0.5));
  });
  tape<double> t;
  matrix<double> m = matrix<double>::Random(2, 6);
  var<double> x = t.view(m.data(), 2, 6);
  var<double> y = ops::reshape(t, x, 4, 3);
  CHECK(y.data == x.data);  // no copy
  CHECK(y.value()(1, 0) == m(0, 3));
  CHECK_THROWS_AS(ops::reshape(t, x, 5, 3), shape_error);
}

TEST_CASE("token attention: each sample attends over its own tokens", "[ops][gradcheck]") {
  // 3 samples of 4 tokens, width 6, 2 heads
  check_op("token_attention", {{12, 6, -1.5, 1.5}, {12, 6, -1.5, 1.5}, {12, 6}},
           [](tape<double>& t, const leaves& x) { return ops::token_attention(t, x[0], x[1], x[2], 4, 2); });
  check_op("token_attention_shared_qkv", {{8, 4, -1.5, 1.5}},  // the same input as q, k and v
           [](tape<double>& t, const leaves& x) { return ops::token_attention(t, x[0], x[0], x[0], 2, 1); });
  // against an explicit per-sample, per-head computation
  rng g(5);
  matrix<double> q(12, 6), k(12, 6), v(12, 6);
  g.fill_uniform(q, -1, 1);
  g.fill_uniform(k, -1, 1);
  g.fill_uniform(v, -1, 1);
  tape<double> t(tape_mode::infer);
  const matrix<double> out = ops::token_attention(t, t.view(q.data(), 12, 6), t.view(k.data(), 12, 6), t.view(v.data(), 12, 6), 4, 2).value();
  for (int b = 0; b < 3; ++b)
    for (int h = 0; h < 2; ++h) {
      matrix<double> s = q.block(4 * b, 3 * h, 4, 3) * k.block(4 * b, 3 * h, 4, 3).transpose() / std::sqrt(3.0);
      for (int i = 0; i < 4; ++i) s.row(i) = (s.row(i).array() - s.row(i).maxCoeff()).exp() / (s.row(i).array() - s.row(i).maxCoeff()).exp().sum();
      const matrix<double> expected = s * v.block(4 * b, 3 * h, 4, 3);
      CHECK(out.block(4 * b, 3 * h, 4, 3).isApprox(expected, 1e-12));
    }
  CHECK_THROWS_AS(ops::token_attention(t, t.view(q.data(), 12, 6), t.view(k.data(), 12, 6), t.view(v.data(), 12, 6), 5, 2), shape_error);
  CHECK_THROWS_AS(ops::token_attention(t, t.view(q.data(), 12, 6), t.view(k.data(), 12, 6), t.view(v.data(), 12, 6), 4, 4), shape_error);
  CHECK_THROWS_AS(ops::token_attention(t, t.view(q.data(), 12, 6), t.view(k.data(), 12, 5), t.view(v.data(), 12, 6), 4, 2), shape_error);
}

TEST_CASE("gather rows and segment pooling", "[ops][gradcheck]") {
  const std::vector<index_t> ids = {3, 0, 3, 5, 1};  // a repeated id accumulates
  check_op("gather_rows", {{6, 4}}, [&](tape<double>& t, const leaves& x) { return ops::gather_rows(t, x[0], ids); });
  const std::vector<index_t> offsets = {0, 2, 2, 5, 6};  // one empty segment
  check_op("segment_sum", {{6, 3}}, [&](tape<double>& t, const leaves& x) { return ops::segment_sum(t, x[0], offsets); });
  check_op("segment_mean", {{6, 3}}, [&](tape<double>& t, const leaves& x) { return ops::segment_mean(t, x[0], offsets); });
}

TEST_CASE("layer norm and batch norm", "[ops][gradcheck]") {
  check_op("layer_norm", {{4, 6}, {1, 6, 0.5, 1.5}, {1, 6}},
           [](tape<double>& t, const leaves& x) { return ops::layer_norm(t, x[0], x[1], x[2]); });
  matrix<double> rm = matrix<double>::Zero(1, 3), rv = matrix<double>::Ones(1, 3);
  ops::batch_norm_state<double> st{&rm, &rv, 0.1, 1e-5};
  check_op("batch_norm_train", {{6, 3}, {1, 3, 0.5, 1.5}, {1, 3}},
           [&](tape<double>& t, const leaves& x) { return ops::batch_norm(t, x[0], x[1], x[2], st); });
  testing::gradcheck_options eval;
  eval.training = false;
  rm << 0.1, -0.2, 0.3;
  rv << 0.5, 1.5, 2.0;
  check_op("batch_norm_eval", {{6, 3}, {1, 3, 0.5, 1.5}, {1, 3}},
           [&](tape<double>& t, const leaves& x) { return ops::batch_norm(t, x[0], x[1], x[2], st); }, eval);
}

TEST_CASE("batch norm values: batch statistics, PyTorch running statistics, eval mode", "[ops]") {
  // column 0: 1, 2, 3, 6 -> mean 3, biased variance 3.5, unbiased 14/3; column 1 constant 5 -> variance 0
  matrix<double> x(4, 2);
  x << 1, 5, 2, 5, 3, 5, 6, 5;
  matrix<double> gamma(1, 2), beta(1, 2);
  gamma << 2.0, 1.0;
  beta << 0.5, -1.0;
  matrix<double> rm = matrix<double>::Zero(1, 2), rv = matrix<double>::Ones(1, 2);
  ops::batch_norm_state<double> st{&rm, &rv, 0.1, 1e-5};
  tape<double> t;
  const matrix<double> y = ops::batch_norm(t, t.view(x.data(), 4, 2), t.view(gamma.data(), 1, 2), t.view(beta.data(), 1, 2), st).value();
  const double sd = std::sqrt(3.5 + 1e-5);
  for (int i = 0; i < 4; ++i) {
    CHECK(y(i, 0) == Approx(2.0 * (x(i, 0) - 3.0) / sd + 0.5).epsilon(1e-12));
    CHECK(y(i, 1) == Approx(-1.0).margin(1e-12));  // a constant column normalises to 0
  }
  CHECK(rm(0, 0) == Approx(0.3));                             // 0.9 * 0 + 0.1 * 3
  CHECK(rm(0, 1) == Approx(0.5));
  CHECK(rv(0, 0) == Approx(0.9 + 0.1 * 14.0 / 3.0));          // unbiased variance, as PyTorch
  CHECK(rv(0, 1) == Approx(0.9));
  tape<double> e(tape_mode::infer);
  const matrix<double> z = ops::batch_norm(e, e.view(x.data(), 4, 2), e.view(gamma.data(), 1, 2), e.view(beta.data(), 1, 2), st).value();
  CHECK(z(3, 0) == Approx(2.0 * (6.0 - rm(0, 0)) / std::sqrt(rv(0, 0) + 1e-5) + 0.5).epsilon(1e-12));
  CHECK(rm(0, 0) == Approx(0.3));  // eval leaves the statistics alone
}

TEST_CASE("dropout, where and stop-gradient", "[ops][gradcheck]") {
  check_op("dropout", {{5, 6}}, [](tape<double>& t, const leaves& x) { return ops::dropout(t, x[0], 0.4); });
  matrix<double> mask = matrix<double>::Zero(3, 4);
  mask(0, 1) = mask(1, 2) = mask(2, 0) = mask(2, 3) = 1;
  check_op("where", {{3, 4}, {3, 4}}, [&](tape<double>& t, const leaves& x) {
    return ops::where(t, t.view(mask.data(), 3, 4), x[0], x[1]);
  });
}

TEST_CASE("stop_gradient blocks exactly its branch", "[ops]") {
  // L = sum(x * stop(x)): the true derivative is 2x, the tape's must be x (only the first factor).
  param<double> x("x", matrix<double>(1, 3));
  x.value() << 0.5, -2.0, 3.0;
  tape<double> t;
  auto xv = t.leaf(x);
  t.backward(ops::sum_all(t, ops::mul(t, xv, ops::stop_gradient(t, xv))));
  CHECK(x.grad().isApprox(x.value()));
}

TEST_CASE("losses", "[ops][gradcheck][loss]") {
  matrix<double> labels(6, 1);
  labels << 1, 0, 0, 1, 1, 0;
  matrix<double> weights(6, 1);
  weights << 1, 2, 0.5, 1, 3, 1;
  check_op("bce_with_logits", {{6, 1, -3.0, 3.0}}, [&](tape<double>& t, const leaves& x) {
    return loss::bce_with_logits(t, x[0], t.view(labels.data(), 6, 1));
  });
  check_op("bce_with_logits_weighted", {{6, 1, -3.0, 3.0}}, [&](tape<double>& t, const leaves& x) {
    return loss::bce_with_logits(t, x[0], t.view(labels.data(), 6, 1), t.view(weights.data(), 6, 1));
  });
  check_op("bce", {{6, 1, 0.05, 0.95}}, [&](tape<double>& t, const leaves& x) {
    return loss::bce(t, x[0], t.view(labels.data(), 6, 1));
  });
  const std::vector<index_t> targets = {2, 0, 1, 2};
  check_op("softmax_cross_entropy", {{4, 3, -2.0, 2.0}}, [&](tape<double>& t, const leaves& x) {
    return loss::softmax_cross_entropy(t, x[0], targets);
  });
}

TEST_CASE("the gradient check works in float too", "[ops][gradcheck]") {
  rng gen(3);
  param<float> w("w", 4, 3), x("x", 5, 4);
  gen.fill_uniform(w.value(), -1, 1);
  gen.fill_uniform(x.value(), -1, 1);
  auto f = [&](tape<float>& t) { return ops::sum_all(t, ops::tanh(t, ops::matmul(t, t.leaf(x), t.leaf(w)))); };
  testing::gradcheck_options opt;
  opt.step = 1e-2;
  opt.tolerance = 2e-2;
  opt.abs_tolerance = 1e-3;
  auto res = testing::gradcheck<float>(f, {&w, &x}, opt);
  INFO(res.summary());
  CHECK(res.passed);
}

TEST_CASE("the gradient check catches a wrong backward", "[ops][gradcheck]") {
  // An op with a deliberately wrong derivative (2x instead of 3x^2) must fail the check.
  rng gen(5);
  param<double> x("x", 3, 3);
  gen.fill_uniform(x.value(), 0.5, 1.5);
  auto cube_wrong = [](tape<double>& t, const var<double>& in) {
    var<double> y = t.make(in.rows, in.cols);
    t.out(y) = in.value().array().cube().matrix();
    t.record("cube_wrong", y, {in}, +[](tape<double>& t, const tape_node<double>& nd) {
      const var<double>& x = t.input(nd, 0);
      t.accumulate(x, (nd.grad_map().array() * 2.0 * x.value().array()).matrix());
    });
    return y;
  };
  auto res = testing::gradcheck<double>([&](tape<double>& t) { return ops::sum_all(t, cube_wrong(t, t.leaf(x))); }, {&x});
  CHECK_FALSE(res.passed);
  CHECK(res.max_rel_error > 0.1);
}

TEST_CASE("gated mixture of experts", "[ops][gradcheck]") {
  check_op("mixture", {{4, 3}, {4, 5}, {4, 5}, {4, 5}}, [](tape<double>& t, const leaves& x) {
    return ops::mixture(t, ops::softmax(t, x[0]), {x[1], x[2], x[3]});
  });
  tape<double> t;
  auto g = t.constant(matrix<double>::Ones(2, 2));
  auto e = t.constant(matrix<double>::Ones(2, 3));
  auto f = t.constant(matrix<double>::Ones(3, 3));
  CHECK_THROWS_AS(ops::mixture(t, g, {e, f}), shape_error);
  CHECK_THROWS_AS(ops::mixture(t, g, {e}), shape_error);
}
