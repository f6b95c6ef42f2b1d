// feature_embedding, scenario_router, Shared Bottom and MMoE: behaviour, routing modes agree,
// end-to-end gradient checks in double.
#include <catch2/catch.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/shared_bottom.hpp>
#include <recblocks/core/ops/reduce.hpp>
#include <recblocks/core/ops/elementwise.hpp>
#include <recblocks/data/dataset.hpp>
#include <recblocks/testing/gradcheck.hpp>

#include "model_test_helpers.hpp"

using namespace recblocks;
using D = double;
using recblocks_test::bce;

static_assert(models::ctr_model<models::shared_bottom<float>>);
static_assert(models::ctr_model<models::mmoe<double>>);

namespace {

data::schema sb_schema() {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 7});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "price", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 3});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}

/// `n` random rows; scenario ids cycle unsorted with unequal counts.
data::batch<D> sb_batch(index_t n, std::uint64_t seed) {
  const data::schema s = sb_schema();
  data::dataset ds(s);
  rng g(seed);
  for (index_t i = 0; i < n; ++i) {
    const std::array<index_t, 2> sp{g.integer(0, 6), g.integer(0, 4)};
    const std::array<double, 2> de{g.uniform(-1, 1), g.uniform(0, 2)};
    const std::array<double, 1> lab{double(g.bernoulli(0.4))};
    const index_t sc = (i * 7 + i / 3) % 3;
    ds.append(sp, de, sc, lab);
  }
  data::batch<D> b;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  ds.gather(std::span<const index_t>(rows), b);
  return b;
}

template <class Model>
testing::gradcheck_result check_model(Model& m, const data::batch<D>& b) {
  testing::gradcheck_options opt;
  opt.samples_per_param = 4;
  opt.abs_tolerance = 1e-8;
  auto res = testing::gradcheck<D>([&](tape<D>& t) { return bce(t, m, b); }, nn::parameters(m), opt);
  INFO(res.summary());
  CHECK(res.passed);
  return res;
}

/// Running statistics set to non-trivial values, so inference tapes exercise them.
template <class Model>
void randomize_buffers(Model& m, std::uint64_t seed) {
  rng g(seed);
  nn::visit_buffers(m, [&](const std::string& name, matrix<D>& buf) {
    if (name.ends_with("running_var")) g.fill_uniform(buf, 0.5, 2.0);
    else g.fill_uniform(buf, -0.3, 0.3);
  }, "");
}

template <class Model>
std::vector<std::pair<std::string, matrix<D>>> grads_after_backward(Model& m, const data::batch<D>& b) {
  nn::zero_grad(m);
  tape<D> t;
  t.backward(bce(t, m, b));
  std::vector<std::pair<std::string, matrix<D>>> out;
  for (auto& [name, p] : nn::named_parameters(m)) out.emplace_back(name, p->dense_grad());
  nn::zero_grad(m);
  return out;
}

models::feature_embedding_options sb_wide_init() {
  models::feature_embedding_options e;
  e.dim = 3;
  e.init_stddev = 0.7;  // well-conditioned finite differences (the default 1e-4 makes the tables negligible)
  return e;
}

}  // namespace

TEST_CASE("feature_embedding: layout, field selection, scenario embedding, row order", "[models][embedding]") {
  const auto s = sb_schema();
  const auto b = sb_batch(6, 3);
  rng g(1);
  models::feature_embedding<D> all(s, {}, g);
  CHECK(all.output_dim() == 2 * 16 + 2);
  tape<D> t(tape_mode::infer);
  var<D> e = all(t, b);
  REQUIRE(e.rows == 6);
  REQUIRE(e.cols == 34);
  auto params = nn::named_parameters(all);
  REQUIRE(params.size() == 2);
  CHECK(params[0].first == "user.table");
  CHECK(params[1].first == "item.table");
  CHECK(params[0].second->value().cwiseAbs().maxCoeff() < 1e-3);  // N(0, 1e-4)
  for (index_t r = 0; r < 6; ++r) {
    CHECK(e.value().row(r).segment(0, 16) == params[0].second->value().row(b.sparse(0, r)));
    CHECK(e.value().row(r).segment(16, 16) == params[1].second->value().row(b.sparse(1, r)));
    CHECK(e.value()(r, 32) == b.dense(r, 0));
    CHECK(e.value()(r, 33) == b.dense(r, 1));
  }

  models::feature_embedding_options o;
  o.dim = 4;
  o.fields = {"price", "item"};
  o.embed_scenario = true;
  models::feature_embedding<D> sel(s, o, g);
  CHECK(sel.output_dim() == 4 + 4 + 1);
  auto names = nn::named_parameters(sel, "emb");
  REQUIRE(names.size() == 2);
  CHECK(names[0].first == "emb.item.table");
  CHECK(names[1].first == "emb.scenario.table");
  CHECK(names[1].second->rows() == 3);
  const std::vector<index_t> order{5, 0, 3};
  var<D> p = sel(t, b, order);
  REQUIRE(p.rows == 3);
  for (index_t k = 0; k < 3; ++k) {
    const index_t r = order[static_cast<std::size_t>(k)];
    CHECK(p.value().row(k).segment(0, 4) == names[0].second->value().row(b.sparse(1, r)));
    CHECK(p.value().row(k).segment(4, 4) == names[1].second->value().row(b.scenario[static_cast<std::size_t>(r)]));
    CHECK(p.value()(k, 8) == b.dense(r, 1));
  }
}

TEST_CASE("feature_embedding: clear errors", "[models][embedding]") {
  const auto s = sb_schema();
  rng g(1);
  models::feature_embedding_options o;
  o.fields = {"nope"};
  CHECK_THROWS_WITH(models::feature_embedding<D>(s, o, g), Catch::Contains("no feature 'nope'"));
  o.fields = {"click"};
  CHECK_THROWS_WITH(models::feature_embedding<D>(s, o, g), Catch::Contains("kind label"));
  o.fields = {"scenario"};
  CHECK_THROWS_WITH(models::feature_embedding<D>(s, o, g), Catch::Contains("embed_scenario"));
  o.fields = {"user", "user"};
  CHECK_THROWS_WITH(models::feature_embedding<D>(s, o, g), Catch::Contains("twice"));

  models::feature_embedding<D> emb(s, {}, g);
  tape<D> t;
  auto b = sb_batch(4, 2);
  b.sparse(1, 2) = 5;  // item vocabulary is 5
  CHECK_THROWS_WITH(emb(t, b), Catch::Contains("feature 'item', row 2: id 5"));
  CHECK(t.node_count() == 0);
  b = sb_batch(4, 2);
  b.dense.resize(4, 1);
  CHECK_THROWS_AS(emb(t, b), shape_error);
}

TEST_CASE("scenario_router: stable sort, restore, modes agree, gradient", "[models][router]") {
  const std::vector<index_t> sc{2, 0, 2, 1, 0, 2, 0};
  nn::scenario_router r(sc, 4, nn::routing_mode::sorted);
  CHECK(r.permuted());
  // automatic: masked where batch statistics follow the split (the reference), sorted where exact
  CHECK(nn::resolve_routing(nn::routing_mode::automatic, true) == nn::routing_mode::masked);
  CHECK(nn::resolve_routing(nn::routing_mode::automatic, false) == nn::routing_mode::sorted);
  CHECK(nn::resolve_routing(nn::routing_mode::sorted, true) == nn::routing_mode::sorted);
  CHECK(nn::scenario_router(sc, 4).mode() == nn::routing_mode::masked);
  CHECK(nn::routing_mode_from_string("auto") == nn::routing_mode::automatic);
  CHECK(std::string(nn::to_string(nn::routing_mode::automatic)) == "auto");
  CHECK(std::vector<index_t>(r.order().begin(), r.order().end()) == std::vector<index_t>{1, 4, 6, 3, 0, 2, 5});
  CHECK(r.count(0) == 3);
  CHECK(r.count(3) == 0);
  CHECK(r.begin(2) == 4);
  CHECK_THROWS_WITH(nn::scenario_router(std::vector<index_t>{0, 4}, 4), Catch::Contains("scenario id 4 at row 1"));
  CHECK_THROWS_AS(nn::scenario_router(sc, 3, nn::routing_mode::sorted, 8), shape_error);
  CHECK_FALSE(nn::scenario_router(std::vector<index_t>{0, 0, 1}, 2, nn::routing_mode::sorted).permuted());

  // Heads without batch norm: per-row functions, so sorted and masked routing agree exactly.
  rng g(5);
  param<D> x("x", 7, 3), w("w", 4 * 3, 2), bias("bias", 4, 2);
  g.fill_uniform(x.value(), -1, 1);
  g.fill_uniform(w.value(), -1, 1);
  g.fill_uniform(bias.value(), -1, 1);
  matrix<D> proj(7, 2);
  g.fill_uniform(proj, -1, 1);
  auto f = [&](nn::routing_mode mode) {
    return [&, mode](tape<D>& t) {
      nn::scenario_router route(sc, 4, mode);
      var<D> xs = route.arrange(t, ops::tanh(t, t.leaf(x)));
      var<D> y = route.apply(t, [&](index_t d) {
        var<D> wd = ops::slice_rows(t, t.leaf(w), 3 * d, 3);
        var<D> bd = ops::slice_rows(t, t.leaf(bias), d, 1);
        return ops::linear(t, route.rows(t, xs, d), wd, bd, fused_activation::tanh);
      });
      y = route.restore(t, y);
      return ops::sum_all(t, ops::mul(t, y, t.view(proj.data(), 7, 2)));
    };
  };
  std::vector<param<D>*> ps{&x, &w, &bias};
  std::vector<matrix<D>> grads[2];
  D values[2];
  for (int m = 0; m < 2; ++m) {
    tape<D> t;
    var<D> l = f(m == 0 ? nn::routing_mode::sorted : nn::routing_mode::masked)(t);
    values[m] = l.item();
    t.backward(l);
    for (auto* p : ps) {
      grads[m].push_back(p->dense_grad());
      p->zero_grad();
    }
  }
  CHECK(values[0] == Approx(values[1]).epsilon(1e-14));
  for (std::size_t k = 0; k < ps.size(); ++k) CHECK((grads[0][k] - grads[1][k]).cwiseAbs().maxCoeff() < 1e-14);
  for (auto mode : {nn::routing_mode::sorted, nn::routing_mode::masked}) {
    auto res = testing::gradcheck<D>(f(mode), ps);
    INFO(res.summary());
    CHECK(res.passed);
  }
}

TEST_CASE("shared_bottom and mmoe: logits, routing modes, errors, configs", "[models]") {
  const auto s = sb_schema();
  const auto b = sb_batch(13, 7);
  auto run = [&](auto tag) {
    using Model = decltype(tag);
    typename Model::options_type o;
    o.embedding = sb_wide_init();
    rng g1(11), g2(11);
    Model sorted(s, o, g1);
    o.routing = nn::routing_mode::masked;
    Model masked(s, o, g2);
    randomize_buffers(sorted, 3);
    randomize_buffers(masked, 3);
    tape<D> ti(tape_mode::infer);
    var<D> zs = sorted(ti, b), zm = masked(ti, b);
    REQUIRE(zs.rows == 13);
    REQUIRE(zs.cols == 1);
    CHECK((zs.value() - zm.value()).cwiseAbs().maxCoeff() < 1e-13);
    // each row comes from its own scenario's tower: changing tower 1 changes exactly the rows of scenario 1
    matrix<D> before = zs.value();
    for (auto& [name, p] : nn::named_parameters(sorted))
      if (name.starts_with("tower.1.output.bias")) p->value().array() += 1.0;
    tape<D> t2(tape_mode::infer);
    var<D> after = sorted(t2, b);
    for (index_t r = 0; r < 13; ++r)
      CHECK(after.value()(r, 0) - before(r, 0) == Approx(b.scenario[std::size_t(r)] == 1 ? 1.0 : 0.0).margin(1e-12));

    // config round trip rebuilds the same structure
    rng g3(99);
    Model again = Model::from_config(s, masked.config(), g3);
    CHECK(again.config() == masked.config());
    auto n1 = nn::named_parameters(masked), n2 = nn::named_parameters(again);
    REQUIRE(n1.size() == n2.size());
    for (std::size_t k = 0; k < n1.size(); ++k) {
      CHECK(n1[k].first == n2[k].first);
      CHECK(n1[k].second->rows() == n2[k].second->rows());
      CHECK(n1[k].second->cols() == n2[k].second->cols());
    }

    // errors before any computation
    auto bad = b;
    bad.scenario[4] = 3;
    tape<D> t3;
    CHECK_THROWS_WITH(sorted(t3, bad), Catch::Contains("scenario id 3 at row 4"));
    bad = b;
    bad.scenario.clear();
    CHECK_THROWS_AS(sorted(t3, bad), shape_error);
    bad = b;
    bad.sparse.resize(1, 13);
    CHECK_THROWS_AS(sorted(t3, bad), shape_error);
    CHECK(t3.node_count() == 0);
  };
  run(models::shared_bottom<D>(s, {}, *std::make_unique<rng>(1)));
  run(models::mmoe<D>(s, {}, *std::make_unique<rng>(1)));

  rng g(1);
  models::mmoe<D> m(s, {}, g);
  CHECK(m.experts() == 3);
  auto names = nn::named_parameters(m);
  CHECK(names.front().first == "embedding.user.table");
  bool gate_bn = false;
  for (auto& [n, p] : names) gate_bn = gate_bn || n == "gate.2.0.bn.gamma";
  CHECK(gate_bn);
  data::schema no_scenario;
  no_scenario.add({.name = "u", .kind = data::feature_kind::sparse, .vocabulary = 3});
  CHECK_THROWS_WITH(models::shared_bottom<D>(no_scenario, {}, g), Catch::Contains("no scenario feature"));
}

TEST_CASE("shared_bottom and mmoe: end-to-end gradient check (double)", "[models][gradcheck]") {
  const auto s = sb_schema();
  const auto b = sb_batch(14, 5);
  for (auto mode : {nn::routing_mode::sorted, nn::routing_mode::masked}) {
    INFO("routing " << nn::to_string(mode));
    models::shared_bottom_options so;
    so.embedding = sb_wide_init();
    so.bottom_dims = {6};
    so.tower_dims = {4};
    so.routing = mode;
    rng g1(3);
    models::shared_bottom<D> sb(s, so, g1);
    check_model(sb, b);

    models::mmoe_options mo;
    mo.embedding = sb_wide_init();
    mo.embedding.embed_scenario = true;
    mo.expert_dims = {5};
    mo.tower_dims = {3};
    mo.experts = 2;
    mo.routing = mode;
    rng g2(4);
    models::mmoe<D> mm(s, mo, g2);
    check_model(mm, b);
  }
}

TEST_CASE("routing modes train identically without batch norm; one-row scenarios train", "[models][router]") {
  const auto s = sb_schema();
  const auto b = sb_batch(12, 9);
  models::mmoe_options o;
  o.embedding = sb_wide_init();
  o.batch_norm = false;
  o.gate_batch_norm = false;
  rng g1(8), g2(8);
  models::mmoe<D> sorted(s, o, g1);
  o.routing = nn::routing_mode::masked;
  models::mmoe<D> masked(s, o, g2);
  auto gs = grads_after_backward(sorted, b), gm = grads_after_backward(masked, b);
  REQUIRE(gs.size() == gm.size());
  for (std::size_t k = 0; k < gs.size(); ++k) {
    INFO(gs[k].first);
    CHECK((gs[k].second - gm[k].second).cwiseAbs().maxCoeff() < 1e-14);
  }

  // with batch norm, a scenario holding a single row of the batch still trains (running statistics)
  auto one = b;
  for (auto& sc : one.scenario) sc = sc == 2 ? 0 : sc;
  one.scenario[5] = 2;
  rng g3(2);
  models::shared_bottom<D> sb(s, {}, g3);
  tape<D> t;
  var<D> l = bce(t, sb, one);
  CHECK(t.training());
  t.backward(l);
  bool tower2_grad = false;
  for (auto& [n, p] : nn::named_parameters(sb))
    if (n == "tower.2.output.weight") tower2_grad = p->has_dense_grad() && p->grad().cwiseAbs().maxCoeff() > 0;
  CHECK(tower2_grad);
}
