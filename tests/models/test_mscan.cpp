// M-scan and its blocks: the sequence ops, GRU, target attention, co-attention and the counterfactual
// head, each gradient-checked in double; the model end to end (gradcheck on both tapes, registry,
// config round trip, bad input, empty histories), and training on the synthetic S->Y data.
#include <catch2/catch.hpp>
#include <cmath>
#include <recblocks/core/ops/reduce.hpp>
#include <recblocks/core/ops/sequence.hpp>
#include <recblocks/data/batcher.hpp>
#include <recblocks/data/sequence_builder.hpp>
#include <recblocks/data/synthetic_sequences.hpp>
#include <recblocks/eval/auc.hpp>
#include <recblocks/models/mscan.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/nn/co_attention.hpp>
#include <recblocks/nn/counterfactual_head.hpp>
#include <recblocks/nn/gru.hpp>
#include <recblocks/nn/target_attention.hpp>
#include <recblocks/train/trainer.hpp>

#include "core/gradcheck_helpers.hpp"

using namespace recblocks;
using D = double;
using rbt::check_op;
using rbt::leaves;

namespace {

/// Sum of the output times a fixed random projection (distinct upstream gradient per element).
var<D> project(tape<D>& t, const var<D>& y, matrix<D>& proj) {
  if (proj.rows() != y.rows || proj.cols() != y.cols) {
    proj.resize(y.rows, y.cols);
    rng g(77);
    g.fill_uniform(proj, -1, 1);
  }
  return ops::sum_all(t, ops::mul(t, y, t.view(proj.data(), y.rows, y.cols)));
}

template <class Module>
testing::gradcheck_result check_module(Module& m, const std::function<var<D>(tape<D>&)>& f, bool training = true) {
  testing::gradcheck_options o;
  o.samples_per_param = 16;
  o.training = training;
  auto params = nn::parameters(m);
  auto res = testing::gradcheck<D>(f, params, o);
  INFO(res.summary());
  CHECK(res.passed);
  return res;
}

}  // namespace

TEST_CASE("sequence ops: group_matmul, masked_softmax, masked_mean", "[mscan][ops][gradcheck]") {
  check_op("group_matmul_tb", {{6, 4}, {9, 4}},
           [](tape<D>& t, const leaves& x) { return ops::group_matmul(t, x[0], x[1], 3, true); });
  check_op("group_matmul", {{6, 4}, {12, 5}},
           [](tape<D>& t, const leaves& x) { return ops::group_matmul(t, x[0], x[1], 3, false); });
  check_op("group_matmul_shared", {{6, 4}},  // one input on both sides
           [](tape<D>& t, const leaves& x) { return ops::group_matmul(t, x[0], x[0], 3, true); });
  check_op("group_transpose", {{6, 4}},
           [](tape<D>& t, const leaves& x) { return ops::group_transpose(t, x[0], 3); });
  {
    matrix<D> x(6, 4);
    rng g(4);
    g.fill_uniform(x, -1, 1);
    tape<D> t(tape_mode::infer);
    const matrix<D> y = ops::group_transpose(t, t.view(x.data(), 6, 4), 3).value();
    REQUIRE(y.rows() == 12);
    REQUIRE(y.cols() == 2);
    for (int s = 0; s < 3; ++s) CHECK(y.middleRows(4 * s, 4) == x.middleRows(2 * s, 2).transpose());
    CHECK_THROWS_AS(ops::group_transpose(t, t.view(x.data(), 6, 4), 4), shape_error);
  }
  const std::vector<index_t> rl{2, 0, 3}, cl{4, 2, 0};
  check_op("masked_softmax", {{9, 4, -2, 2}},
           [&](tape<D>& t, const leaves& x) { return ops::masked_softmax(t, x[0], 3, rl, cl); });
  check_op("masked_mean", {{9, 4}}, [&](tape<D>& t, const leaves& x) { return ops::masked_mean(t, x[0], 3, rl); });

  // values against a direct computation
  tape<D> t(tape_mode::infer);
  matrix<D> x(9, 4);
  rng g(3);
  g.fill_uniform(x, -1, 1);
  const matrix<D> y = ops::masked_softmax(t, t.view(x.data(), 9, 4), 3, rl, cl).value();
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 3; ++i) {
      const bool valid = i < rl[std::size_t(s)] && cl[std::size_t(s)] > 0;
      for (int j = 0; j < 4; ++j) {
        double expect = 0;
        if (valid && j < cl[std::size_t(s)]) {
          double z = 0;
          for (int k = 0; k < cl[std::size_t(s)]; ++k) z += std::exp(x(3 * s + i, k));
          expect = std::exp(x(3 * s + i, j)) / z;
        }
        CHECK(y(3 * s + i, j) == Approx(expect).margin(1e-14));
      }
    }
  CHECK(y.allFinite());
  const matrix<D> m = ops::masked_mean(t, t.view(x.data(), 9, 4), 3, rl).value();
  CHECK(m.row(0).isApprox((x.row(0) + x.row(1)) / 2.0));
  CHECK(m.row(1).isZero());
  CHECK(m.row(2).isApprox((x.row(6) + x.row(7) + x.row(8)) / 3.0));
  // bad lengths and shapes
  const std::vector<index_t> too_long{4, 0, 0}, negative{0, -1, 0}, two{1, 1};
  CHECK_THROWS_AS(ops::masked_mean(t, t.view(x.data(), 9, 4), 3, too_long), value_error);
  CHECK_THROWS_AS(ops::masked_softmax(t, t.view(x.data(), 9, 4), 3, {}, negative), value_error);
  CHECK_THROWS_AS(ops::masked_mean(t, t.view(x.data(), 9, 4), 3, two), shape_error);
  CHECK_THROWS_AS(ops::group_matmul(t, t.view(x.data(), 9, 4), t.view(x.data(), 8, 4), 3, true), shape_error);
}

TEST_CASE("gru: PyTorch equations, padding freezes the state, gradient through time", "[mscan][gru][gradcheck]") {
  rng gen(11);
  nn::gru<D> g(3, 4, gen);
  const index_t B = 3, L = 4;
  matrix<D> x(B * L, 3);
  gen.fill_uniform(x, -1, 1);
  const std::vector<index_t> len{4, 2, 0};
  // reference: a plain loop over the PyTorch equations
  auto ref = [&](index_t b) {
    Eigen::Matrix<D, 1, Eigen::Dynamic> h = Eigen::Matrix<D, 1, Eigen::Dynamic>::Zero(4);
    std::vector<Eigen::Matrix<D, 1, Eigen::Dynamic>> states;
    matrix<D> wx, bx, wh, bh;
    nn::visit_parameters(g, [&](const std::string& n, param<D>& p) {
      if (n == "w_x") wx = p.value();
      if (n == "b_x") bx = p.value();
      if (n == "w_h") wh = p.value();
      if (n == "b_h") bh = p.value();
    });
    for (index_t s = 0; s < L; ++s) {
      if (s < len[std::size_t(b)]) {
        const Eigen::Matrix<D, 1, Eigen::Dynamic> a = x.row(b * L + s) * wx + bx, c = h * wh + bh;
        Eigen::Array<D, 1, Eigen::Dynamic> r = 1.0 / (1.0 + (-(a.head(4) + c.head(4)).array()).exp());
        Eigen::Array<D, 1, Eigen::Dynamic> z = 1.0 / (1.0 + (-(a.segment(4, 4) + c.segment(4, 4)).array()).exp());
        Eigen::Array<D, 1, Eigen::Dynamic> n = (a.tail(4).array() + r * c.tail(4).array()).tanh();
        h = ((1 - z) * n + z * h.array()).matrix();
      }
      states.push_back(h);
    }
    return states;
  };
  tape<D> t(tape_mode::infer);
  const auto out = g(t, t.view(x.data(), B * L, 3), L, len);
  REQUIRE(out.states.rows == B * L);
  for (index_t b = 0; b < B; ++b) {
    const auto st = ref(b);
    for (index_t s = 0; s < L; ++s) CHECK(out.states.value().row(b * L + s).isApprox(st[std::size_t(s)], 1e-12));
    CHECK(out.last.value().row(b).isApprox(st.back(), 1e-12));
  }
  CHECK(out.last.value().row(2).isZero());  // an empty sequence
  matrix<D> proj, proj2;
  param<D> xin("x", x);
  check_module(g, [&](tape<D>& tt) {
    const auto o = g(tt, tt.leaf(xin), L, len);
    return ops::add(tt, project(tt, o.states, proj), project(tt, o.last, proj2));
  });
  // the input's gradient too (through the time-major gather)
  std::vector<param<D>*> only_x{&xin};
  auto res = testing::gradcheck<D>([&](tape<D>& tt) { return project(tt, g(tt, tt.leaf(xin), L, len).states, proj); }, only_x);
  INFO(res.summary());
  CHECK(res.passed);
  const std::vector<index_t> bad{5, 0, 0};
  CHECK_THROWS_AS(g(t, t.view(x.data(), B * L, 3), L, bad), value_error);
  CHECK_THROWS_AS(g(t, t.view(x.data(), B * L, 3), 3, len), shape_error);
}

TEST_CASE("target attention and co-attention: gradients, masks, empty sequences", "[mscan][attention][gradcheck]") {
  rng gen(5);
  const index_t B = 3, La = 4, Lb = 3;
  nn::target_attention<D> att(5, 4, gen);
  nn::co_attention<D> co(4, 6, gen);
  param<D> q("q", B, 5), ha("ha", B * La, 4), hb("hb", B * Lb, 6);
  for (param<D>* p : {&q, &ha, &hb}) gen.fill_uniform(p->value(), -1, 1);
  const std::vector<index_t> la{4, 2, 0}, lb{1, 3, 2};
  matrix<D> p1, p2, p3;
  check_module(att, [&](tape<D>& t) { return project(t, att(t, t.leaf(q), t.leaf(ha), t.leaf(ha), la), p1); });
  check_module(co, [&](tape<D>& t) {
    const auto o = co(t, t.leaf(ha), t.leaf(hb), la, lb);
    return ops::add(t, project(t, o.a_summary, p2), project(t, o.b_summary, p3));
  });
  std::vector<param<D>*> inputs{&q, &ha, &hb};
  auto res = testing::gradcheck<D>([&](tape<D>& t) {
    const auto o = co(t, t.leaf(ha), t.leaf(hb), la, lb);
    return ops::add(t, project(t, att(t, t.leaf(q), t.leaf(ha), t.leaf(ha), la), p1),
                    ops::add(t, project(t, o.a_summary, p2), project(t, o.b_summary, p3)));
  }, inputs);
  INFO(res.summary());
  CHECK(res.passed);

  tape<D> t(tape_mode::infer);
  const matrix<D> pooled = att(t, t.leaf(q), t.leaf(ha), t.leaf(ha), la).value();
  CHECK(pooled.allFinite());
  CHECK(pooled.row(2).isZero());  // empty history
  // padding does not matter: change padded rows, same result
  param<D> ha2 = ha;
  ha2.value().row(1 * La + 3).setConstant(50);
  ha2.value().row(2 * La + 0).setConstant(-50);
  CHECK(att(t, t.leaf(q), t.leaf(ha2), t.leaf(ha2), la).value().isApprox(pooled, 1e-12));
  const auto o = co(t, t.leaf(ha), t.leaf(hb), la, lb);
  CHECK(o.a_summary.value().row(2).isZero());
  CHECK(o.b_summary.value().row(2).isZero());
  CHECK(o.a_summary.value().allFinite());
  // sample 0: a has 4 positions, b has 1: every row of a attends fully to b's single position
  CHECK(o.a_summary.value().row(0).isApprox(hb.value().row(0), 1e-12));
  CHECK_THROWS_AS(co(t, t.leaf(hb), t.leaf(ha), la, lb), shape_error);
}

TEST_CASE("counterfactual head: fusions, dual loss, TIE", "[mscan][debias][gradcheck]") {
  rng gen(9);
  param<D> ym("ym", 6, 1), ys("ys", 6, 1);
  gen.fill_uniform(ym.value(), -2, 2);
  gen.fill_uniform(ys.value(), -2, 2);
  matrix<D> labels(6, 1);
  labels << 1, 0, 1, 1, 0, 0;
  std::vector<param<D>*> ps{&ym, &ys};
  for (auto fusion : {nn::cf_fusion::additive, nn::cf_fusion::product})
    for (bool training : {true, false}) {
      nn::counterfactual_head<D> head({.fusion = fusion, .c = 0.7, .lambda = 0.5});
      matrix<D> proj;
      auto res = testing::gradcheck<D>([&](tape<D>& t) {
        const var<D> y = head(t, t.leaf(ym), t.leaf(ys));
        return ops::add(t, project(t, y, proj), head.bias_loss(t, t.leaf(ys), t.view(labels.data(), 6, 1)));
      }, ps, {.training = training});
      INFO(res.summary());
      CHECK(res.passed);
    }
  // values
  tape<D> t(tape_mode::infer);
  auto sig = [](double z) { return 1 / (1 + std::exp(-z)); };
  nn::counterfactual_head<D> add({.c = 0.6});
  const matrix<D> tie = add.debiased(t, t.leaf(ym), t.leaf(ys)).value();
  nn::counterfactual_head<D> prod({.fusion = nn::cf_fusion::product, .c = 0.6});
  const matrix<D> fused = prod.fused(t, t.leaf(ym), t.leaf(ys)).value();
  nn::counterfactual_head<D> lg({.c = 0.25, .score = nn::cf_score::logit});
  const matrix<D> tie_logit = lg(t, t.leaf(ym), t.leaf(ys)).value();  // inference tape: TIE
  for (int i = 0; i < 6; ++i) {
    const double m = ym.value()(i, 0), s = ys.value()(i, 0);
    const double score = sig(m + s) - 0.6 * sig(s);
    CHECK(sig(tie(i, 0)) == Approx((score + 0.6) / 1.6).epsilon(1e-9));
    CHECK(sig(fused(i, 0)) == Approx(sig(m) * sig(s)).epsilon(1e-9));
    CHECK(tie_logit(i, 0) == Approx(m + 0.75 * s).epsilon(1e-12));
  }
  // the training tape gives the fused logit
  tape<D> tr(tape_mode::train);
  CHECK(add(tr, tr.leaf(ym), tr.leaf(ys)).value().isApprox(ym.value() + ys.value()));
  CHECK_THROWS_AS(nn::counterfactual_head<D>({.c = -1}), value_error);
  CHECK_THROWS_AS(nn::counterfactual_head<D>({.lambda = std::nan("")}), value_error);
  CHECK_THROWS_AS(nn::counterfactual_head<D>({.fusion = nn::cf_fusion::product, .score = nn::cf_score::logit}), value_error);
}

namespace {

data::schema seq_schema(index_t L = 3) {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 9});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 3});
  s.add({.name = "click", .kind = data::feature_kind::label});
  data::sequence_builder::add_features(s, 3, 9, {.length = L, .all_length = 4});
  return s;
}

data::dataset seq_data(index_t n, std::uint64_t seed) {
  data::dataset d(seq_schema());
  rng g(seed);
  for (index_t i = 0; i < n; ++i) {
    const std::array<index_t, 2> sp{g.integer(0, 4), g.integer(1, 8)};
    const std::array<double, 1> de{g.uniform(-1, 1)};
    const std::array<double, 1> lab{double(g.bernoulli(0.5))};
    std::vector<std::vector<index_t>> seqs;
    for (index_t k = 0; k < 4; ++k) {
      std::vector<index_t> s;
      const index_t len = (i + k) % 4 == 0 ? 0 : g.integer(1, k == 3 ? 4 : 3);  // some empty histories
      for (index_t p = 0; p < len; ++p) s.push_back(g.integer(1, 8));
      seqs.push_back(s);
    }
    d.append(sp, de, i % 3, lab, seqs);
  }
  d.validate();
  return d;
}

data::batch<D> all_rows(const data::dataset& d) {
  data::batch<D> b;
  std::vector<index_t> rows(static_cast<std::size_t>(d.rows()));
  for (index_t i = 0; i < d.rows(); ++i) rows[std::size_t(i)] = i;
  d.gather(std::span<const index_t>(rows), b);
  return b;
}

models::mscan_options tiny_mscan() {
  models::mscan_options o;
  o.embedding.dim = 3;
  o.embedding.init_stddev = 0.7;
  o.item_dim = 4;
  o.item_init_stddev = 0.7;
  o.hidden = 3;
  o.mlp_dims = {6};
  o.batch_norm = false;
  o.head.c = 0.5;
  o.head.lambda = 0.5;
  return o;
}

}  // namespace

static_assert(models::ctr_model<models::mscan<float>>);
static_assert(models::ctr_model<models::mscan<double>>);

TEST_CASE("mscan: end-to-end gradient check of every variant, on both tapes", "[mscan][model][gradcheck]") {
  const data::dataset d = seq_data(10, 3);
  const data::batch<D> b = all_rows(d);
  struct variant {
    const char* name;
    std::function<void(models::mscan_options&)> set;
  };
  const std::vector<variant> variants = {
      {"full", [](auto&) {}},
      {"product", [](auto& o) { o.head.fusion = nn::cf_fusion::product; }},
      {"target_attention", [](auto& o) { o.cross = models::mscan_cross::target_attention; }},
      {"no_cross_no_debias", [](auto& o) { o.cross = models::mscan_cross::none; o.debias = false; }},
      {"din", [](auto& o) { o.history = models::mscan_history::whole; o.cross = models::mscan_cross::none; }},
      {"batch_norm", [](auto& o) { o.batch_norm = true; }},
  };
  for (const auto& v : variants) {
    models::mscan_options o = tiny_mscan();
    v.set(o);
    rng gen(21);
    models::mscan<D> m(d.get_schema(), o, gen);
    const matrix<D> labels = b.labels;
    for (bool training : {true, false}) {
      if (!training && o.batch_norm) continue;  // running statistics are not parameters
      INFO(v.name << (training ? " (train)" : " (infer)"));
      check_module(m, [&](tape<D>& t) {
        const var<D> z = m(t, b);
        var<D> loss = loss::bce_with_logits(t, z, t.view(labels.data(), b.size, 1));
        return ops::add(t, loss, m.auxiliary_loss(t, b, t.view(labels.data(), b.size, 1)));
      }, training);
    }
  }
}

TEST_CASE("mscan: registry, config round trip, debiasing at inference only", "[mscan][model]") {
  const data::dataset d = seq_data(12, 4);
  const data::batch<D> b = all_rows(d);
  rng gen(1);
  const nlohmann::json opts = tiny_mscan().to_json();
  int visited = 0;
  // one generic callable for both names (every registry::visit instantiates it for all 13 model types)
  auto check = [&](auto& m) {
    using M = std::decay_t<decltype(m)>;
    if constexpr (std::is_same_v<M, models::mscan<D>>) {
      ++visited;
      if (m.options().history == models::mscan_history::whole) {  // "din"
        CHECK_FALSE(m.options().debias);
        CHECK(m.options().cross == models::mscan_cross::none);
        return;
      }
      rng g2(1);
      auto copy = M::from_config(d.get_schema(), m.config(), g2);
      CHECK(copy.config() == m.config());
      CHECK(nn::named_parameters(copy).size() == nn::named_parameters(m).size());
      // the inference logits are the TIE of the same branches; training logits the fused score
      tape<D> t(tape_mode::infer), tr(tape_mode::train);
      const auto [ym, ys] = m.branches(t, b);
      const matrix<D> infer = m(t, b).value(), train = m(tr, b).value();
      for (index_t i = 0; i < b.size; ++i) {
        const double sm = ym.value()(i, 0), ss = ys.value()(i, 0);
        const double p = 1 / (1 + std::exp(-(sm + ss))) - 0.5 / (1 + std::exp(-ss));
        CHECK(1 / (1 + std::exp(-infer(i, 0))) == Approx((p + 0.5) / 1.5).epsilon(1e-9));
        CHECK(train(i, 0) == Approx(sm + ss).epsilon(1e-12));
      }
    }
  };
  models::registry::visit<D>("MScan", d.get_schema(), opts, gen, check);
  models::registry::visit<D>("din", d.get_schema(), nlohmann::json{{"item_dim", 4}}, gen, check);
  CHECK(visited == 2);
  CHECK(models::registry::canonical("m-scan") == "mscan");
  CHECK_THROWS_AS(models::registry::visit<D>("mscan", d.get_schema(), nlohmann::json{{"c_typo", 1}}, gen, check), parse_error);
  CHECK_THROWS_AS(models::registry::visit<D>("din", d.get_schema(), nlohmann::json{{"typo", 1}}, gen, check), parse_error);
  CHECK_THROWS_AS(models::mscan_options::from_json({{"cross", "sideways"}}), parse_error);
}

TEST_CASE("mscan: bad input is refused before computing, empty histories are valid", "[mscan][model][errors]") {
  const data::dataset d = seq_data(9, 5);
  rng gen(2);
  models::mscan<D> m(d.get_schema(), tiny_mscan(), gen);
  tape<D> t(tape_mode::infer);
  data::batch<D> b = all_rows(d);
  CHECK(m(t, b).value().allFinite());
  // every history empty: finite, no NaN
  data::batch<D> empty = b;
  for (auto& s : empty.sequences) s.fill(0);
  CHECK(m(t, empty).value().allFinite());
  tape<D> tr(tape_mode::train);
  CHECK(m(tr, empty).value().allFinite());
  // id beyond the vocabulary
  data::batch<D> bad = b;
  bad.sequences[0](1, 0) = 9;
  CHECK_THROWS_AS(m(t, bad), value_error);
  bad = b;
  bad.sequences[1](2, 0) = -1;
  CHECK_THROWS_AS(m(t, bad), value_error);
  // an id after padding (a length that does not match the ids)
  bad = b;
  bad.sequences[0](0, 0) = 0;
  bad.sequences[0](0, 2) = 3;
  CHECK_THROWS_AS(m(t, bad), value_error);
  // a missing / mis-shaped sequence
  bad = b;
  bad.sequences.pop_back();
  bad.sequences.pop_back();
  CHECK_THROWS_AS(m(t, bad), shape_error);
  bad = b;
  bad.sequences[0] = xt::xtensor<index_t, 2>::from_shape({std::size_t(b.size), 2});
  CHECK_THROWS_AS(m(t, bad), shape_error);
  bad = b;
  bad.scenario[0] = 3;
  CHECK_THROWS_AS(m(t, bad), value_error);
  // construction
  data::schema plain;
  plain.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 5});
  plain.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 2});
  CHECK_THROWS_AS(models::mscan<D>(plain, {}, gen), value_error);
  auto o = tiny_mscan();
  o.item_feature = "user";
  CHECK_THROWS_AS(models::mscan<D>(d.get_schema(), o, gen), value_error);
  o = tiny_mscan();
  o.hidden = 0;
  CHECK_THROWS_AS(models::mscan<D>(d.get_schema(), o, gen), value_error);
}

TEST_CASE("mscan on synthetic S->Y data: trains, and the debiased score ranks by interest better", "[mscan][train][synthetic]") {
  data::synthetic_sequences_options so;
  so.users = 300;
  so.items = 120;
  so.per_user = 60;
  so.scenario_bias = {-2.0, 0.0, 2.0};
  const data::synthetic_sequences syn(so);
  const auto parts = syn.split_rows();
  const data::dataset train = syn.all().subset(parts[0]), valid = syn.all().subset(parts[1]), test = syn.all().subset(parts[2]);
  models::mscan_options o;
  o.head.c = 1.0;
  o.mlp_dims = {32};
  rng gen(7);
  models::mscan<float> m(syn.get_schema(), o, gen);
  train::trainer_options to;
  to.epochs = 12;
  to.batch_size = 256;
  to.learning_rate = 1e-2;
  to.patience = 0;
  train::trainer<models::mscan<float>> tr(m, to);
  tr.fit(train, &valid);
  const std::vector<float> debiased = tr.predict(test);
  models::mscan_options o0 = o;
  o0.head.c = 0.0;  // same weights, no subtraction
  rng g2(7);
  models::mscan<float> m0(syn.get_schema(), o0, g2);
  auto src = nn::parameters(m);
  auto dst = nn::parameters(m0);
  for (std::size_t k = 0; k < src.size(); ++k) dst[k]->value() = src[k]->value();
  nn::visit_buffers(m, [&](const std::string& n, matrix<float>& v) {
    nn::visit_buffers(m0, [&](const std::string& n0, matrix<float>& v0) { if (n0 == n) v0 = v; });
  });
  train::trainer<models::mscan<float>> tr0(m0, to);
  const std::vector<float> biased = tr0.predict(test);
  std::vector<double> interest;
  for (index_t r : parts[2]) interest.push_back(syn.interest()[std::size_t(r)] > 0 ? 1.0 : 0.0);
  const std::vector<double> click(test.label_column(0).begin(), test.label_column(0).end());
  const double auc_click_biased = eval::auc(click, biased), auc_int_biased = eval::auc(interest, biased);
  const double auc_int_debiased = eval::auc(interest, debiased);
  INFO("click AUC (c = 0) " << auc_click_biased << ", interest AUC c = 0: " << auc_int_biased << ", c = 1: " << auc_int_debiased);
  CHECK(auc_click_biased > 0.8);                      // it learned the observed clicks (0.853 when written)
  CHECK(auc_int_debiased > auc_int_biased + 0.04);    // and the TIE ranks by the interest path (0.760 -> 0.843)
}
