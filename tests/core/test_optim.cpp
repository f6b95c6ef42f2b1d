// Optimizers against hand-computed updates; sparse steps against dense ones.
#include <catch2/catch.hpp>
#include <recblocks/recblocks.hpp>

using namespace recblocks;

namespace {
// Sets p's dense gradient to g (as a backward pass would).
void set_grad(param<double>& p, const matrix<double>& g) {
  tape<double> t;
  t.backward(ops::sum_all(t, ops::mul(t, t.leaf(p), t.constant(g))));
}
}  // namespace

TEST_CASE("SGD with momentum and Nesterov follows PyTorch", "[optim]") {
  param<double> p("p", matrix<double>::Constant(1, 1, 1.0));
  optim::sgd<double> opt({&p}, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  set_grad(p, matrix<double>::Constant(1, 1, 0.5));
  opt.step();
  // g = 0.5 + 0.01 * 1 = 0.51; b = g; p = 1 - 0.051
  CHECK(p.value()(0, 0) == Approx(0.949));
  set_grad(p, matrix<double>::Constant(1, 1, 0.5));
  opt.step();
  // g = 0.5 + 0.00949; b = 0.9 * 0.51 + 0.50949 = 0.96849; p = 0.949 - 0.096849
  CHECK(p.value()(0, 0) == Approx(0.949 - 0.096849));
  param<double> q("q", matrix<double>::Constant(1, 1, 1.0));
  optim::sgd<double> nes({&q}, {.learning_rate = 0.1, .momentum = 0.5, .nesterov = true});
  set_grad(q, matrix<double>::Constant(1, 1, 2.0));
  nes.step();
  // b = 2; g = 2 + 0.5 * 2 = 3; q = 1 - 0.3
  CHECK(q.value()(0, 0) == Approx(0.7));
}

TEST_CASE("Adam and AdamW follow PyTorch", "[optim]") {
  param<double> p("p", matrix<double>::Constant(1, 2, 1.0));
  optim::adam<double> opt({&p}, {.learning_rate = 0.1, .weight_decay = 0.1});
  matrix<double> g(1, 2);
  g << 0.5, -2.0;
  set_grad(p, g);
  opt.step();
  // first step: the update is lr * sign(g + wd p) (m_hat / sqrt(v_hat) = +-1, up to eps)
  CHECK(p.value()(0, 0) == Approx(1.0 - 0.1).epsilon(1e-6));
  CHECK(p.value()(0, 1) == Approx(1.0 + 0.1).epsilon(1e-6));
  const double p1 = p.value()(0, 0);
  set_grad(p, g);
  opt.step();
  // second step by hand for coordinate 0
  const double g1 = 0.5 + 0.1 * 1.0, g2 = 0.5 + 0.1 * p1;
  const double m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
  const double expected = p1 - 0.1 * (m / (1 - 0.81)) / (std::sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
  CHECK(p.value()(0, 0) == Approx(expected).epsilon(1e-10));

  param<double> q("q", matrix<double>::Constant(1, 1, 1.0));
  auto adamw = optim::make_adamw<double>({&q}, {.learning_rate = 0.1, .weight_decay = 0.5});
  set_grad(q, matrix<double>::Constant(1, 1, 1.0));
  adamw.step();
  // decoupled: q = 1 * (1 - 0.05) - 0.1 * 1
  CHECK(q.value()(0, 0) == Approx(0.85).epsilon(1e-6));
}

TEST_CASE("Adagrad follows PyTorch", "[optim]") {
  param<double> p("p", matrix<double>::Constant(1, 1, 1.0));
  optim::adagrad<double> opt({&p}, {.learning_rate = 0.5});
  set_grad(p, matrix<double>::Constant(1, 1, 2.0));
  opt.step();
  CHECK(p.value()(0, 0) == Approx(1.0 - 0.5 * 2.0 / 2.0));
  set_grad(p, matrix<double>::Constant(1, 1, 1.0));
  opt.step();
  CHECK(p.value()(0, 0) == Approx(0.5 - 0.5 * 1.0 / std::sqrt(5.0)));
}

TEMPLATE_TEST_CASE("sparse steps equal dense steps on the touched rows", "[optim][sparse]", optim::sgd<double>,
                   optim::adam<double>, optim::adagrad<double>) {
  rng gen(11);
  param<double> sparse_table("t", 8, 3);
  gen.fill_uniform(sparse_table.value(), -1, 1);
  param<double> dense_table = sparse_table;
  sparse_table.set_sparse_grad(true);
  TestType a({&sparse_table}), b({&dense_table});
  const std::vector<index_t> ids = {2, 5, 2};
  matrix<double> w(3, 3);
  gen.fill_uniform(w, -1, 1);
  for (auto* p : {&sparse_table, &dense_table}) {
    tape<double> t;
    t.backward(ops::sum_all(t, ops::mul(t, ops::gather_rows(t, t.leaf(*p), ids), t.constant(w))));
  }
  a.step();
  b.step();
  // first step, no weight decay: touched rows agree exactly; untouched rows keep their values
  for (index_t r : {2, 5}) CHECK((sparse_table.value().row(r) - dense_table.value().row(r)).norm() < 1e-12);
  CHECK((sparse_table.value().row(0) - dense_table.value().row(0)).norm() < 1e-12);
  CHECK_FALSE(sparse_table.has_dense_grad());
  CHECK(sparse_table.sparse().empty());
}

TEST_CASE("lazy sparse Adam leaves untouched rows and their moments alone", "[optim][sparse]") {
  param<double> table("t", matrix<double>::Ones(4, 2));
  table.set_sparse_grad(true);
  optim::adam<double> opt({&table}, {.learning_rate = 0.1});
  for (int step = 0; step < 3; ++step) {
    tape<double> t;
    const std::vector<index_t> ids = {1};
    t.backward(ops::sum_all(t, ops::gather_rows(t, t.leaf(table), ids)));
    opt.step();
  }
  CHECK(table.value().row(0) == matrix<double>::Ones(1, 2));
  CHECK(table.value()(1, 0) < 0.75);
}

TEST_CASE("gradient clipping by norm and by value", "[optim]") {
  param<double> a("a", matrix<double>::Zero(1, 2)), b("b", matrix<double>::Zero(3, 2));
  b.set_sparse_grad(true);
  matrix<double> ga(1, 2);
  ga << 3, 0;
  set_grad(a, ga);
  {
    tape<double> t;
    const std::vector<index_t> ids = {1, 1};
    t.backward(ops::sum_all(t, ops::mul(t, ops::gather_rows(t, t.leaf(b), ids), t.constant(matrix<double>::Constant(2, 2, 1.0)))));
  }
  // dense [3, 0], sparse row 1 = [2, 2] after coalescing: norm sqrt(9 + 8) = sqrt(17)
  const double n = optim::clip_grad_norm<double>({&a, &b}, 1.0);
  CHECK(n == Approx(std::sqrt(17.0)));
  CHECK(a.grad()(0, 0) == Approx(3 / std::sqrt(17.0)).epsilon(1e-5));
  CHECK(b.dense_grad()(1, 1) == Approx(2 / std::sqrt(17.0)).epsilon(1e-5));
  optim::clip_grad_value<double>({&a}, 0.5);
  CHECK(a.grad()(0, 0) == Approx(0.5));
  CHECK_THROWS_AS(optim::clip_grad_norm<double>({&a}, 0.0), value_error);
}
