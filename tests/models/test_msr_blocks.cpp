// The multi-scenario building blocks (Scenario-Wise Rec): behaviour and gradient checks in double.
#include <catch2/catch.hpp>
#include <recblocks/nn/cgc_layer.hpp>
#include <recblocks/nn/cluster_router.hpp>
#include <recblocks/nn/gate_nu.hpp>
#include <recblocks/nn/hyper_adapter.hpp>
#include <recblocks/nn/layer_norm_mlp.hpp>
#include <recblocks/nn/meta_attention.hpp>
#include <recblocks/nn/meta_tower.hpp>
#include <recblocks/nn/moe_gate.hpp>
#include <recblocks/nn/multi_level_experts.hpp>
#include <recblocks/nn/partitioned_norm.hpp>
#include <recblocks/nn/pruner.hpp>
#include <recblocks/nn/scenario_transfer.hpp>
#include <recblocks/nn/star_linear.hpp>
#include <recblocks/nn/transformer_encoder.hpp>
#include <recblocks/testing/gradcheck.hpp>

using namespace recblocks;
using D = double;

namespace {

/// Inputs of a block as parameters, so the check covers d/dinput as well as the block's own weights.
struct inputs {
  std::vector<param<D>> values;
  inputs(std::initializer_list<std::pair<index_t, index_t>> shapes, std::uint64_t seed) {
    rng g(seed);
    values.reserve(shapes.size());
    for (auto [r, c] : shapes) {
      values.emplace_back("input" + std::to_string(values.size()), r, c);
      g.fill_uniform(values.back().value(), -1.0, 1.0);
    }
  }
  var<D> operator()(tape<D>& t, std::size_t k) { return t.leaf(values[k]); }
};

/// Gradient check of `sum(f(t) ⊙ P)` (P a fixed random projection) over the block's parameters and inputs.
template <class Block, class F>
testing::gradcheck_result check_block(Block& block, inputs& in, F&& f, bool check_inputs = true) {
  matrix<D> projection;
  auto loss = [&](tape<D>& t) {
    var<D> y = f(t);
    if (projection.rows() != y.rows || projection.cols() != y.cols) {
      projection.resize(y.rows, y.cols);
      rng pg(99);
      pg.fill_uniform(projection, -1.0, 1.0);
    }
    return ops::sum_all(t, ops::mul(t, y, t.view(projection.data(), y.rows, y.cols)));
  };
  auto params = nn::parameters(block);
  if (check_inputs)
    for (auto& p : in.values) params.push_back(&p);
  testing::gradcheck_options opt;
  opt.samples_per_param = 6;
  opt.abs_tolerance = 1e-7;
  auto res = testing::gradcheck<D>(loss, params, opt);
  INFO(res.summary());
  CHECK(res.passed);
  CHECK(res.checked > 10);
  return res;
}

const std::vector<index_t> scenarios6 = {0, 1, 2, 1, 0, 2};

}  // namespace

TEST_CASE("moe_gate: probability rows, mixture and gradients", "[msr][blocks][moe_gate]") {
  rng gen(1);
  nn::moe_gate<D> gate({.input_dim = 5, .experts = 3, .batch_norm = true}, gen);
  inputs in({{6, 5}, {6, 4}, {6, 4}, {6, 4}}, 2);
  tape<D> t;
  var<D> g = gate(t, in(t, 0));
  REQUIRE(g.cols == 3);
  CHECK(g.value().rowwise().sum().isApprox(matrix<D>::Ones(6, 1)));
  CHECK(g.value().minCoeff() > 0.0);
  check_block(gate, in, [&](tape<D>& t) {
    std::vector<var<D>> e = {in(t, 1), in(t, 2), in(t, 3)};
    return gate.combine(t, in(t, 0), e);
  });
  std::vector<var<D>> two = {in(t, 1), in(t, 2)};
  CHECK_THROWS_AS(gate.combine(t, in(t, 0), two), shape_error);
}

TEST_CASE("cgc_layer: task and shared outputs, gradients", "[msr][blocks][cgc]") {
  rng gen(3);
  nn::cgc_layer<D> cgc({.input_dim = 4, .tasks = 3, .specific_experts = 2, .shared_experts = 1, .expert_hidden = {5},
                        .shared_gate = true},
                       gen);
  inputs in({{6, 4}}, 4);
  tape<D> t;
  std::vector<var<D>> x = {in(t, 0)};
  auto out = cgc(t, x);
  REQUIRE(out.size() == 4);
  CHECK(out[0].cols == 5);
  CHECK_FALSE(out[0].value().isApprox(out[1].value()));
  check_block(cgc, in, [&](tape<D>& t) {
    std::vector<var<D>> x = {in(t, 0)};
    auto o = cgc(t, x);
    return ops::concat_cols(t, std::span<const var<D>>(o));
  });
  std::vector<var<D>> two = {in(t, 0), in(t, 0)};
  CHECK_THROWS_AS(cgc(t, two), shape_error);
}

TEST_CASE("partitioned_norm: shared and per-scenario affine, gradients, bad ids", "[msr][blocks][star]") {
  nn::partitioned_norm<D> pn(4, 3);
  inputs in({{6, 4}}, 5);
  // a per-scenario scale changes only that scenario's rows
  tape<D> t;
  matrix<D> before = pn(t, in(t, 0), scenarios6).value();
  nn::named_parameters(pn)[2].second->value().row(1).setConstant(3.0);
  t.reset();
  matrix<D> after = pn(t, in(t, 0), scenarios6).value();
  for (index_t b = 0; b < 6; ++b) {
    if (scenarios6[b] == 1) CHECK(after.row(b).isApprox(3.0 * before.row(b)));
    else CHECK(after.row(b).isApprox(before.row(b)));
  }
  CHECK(before.colwise().mean().norm() < 1e-9);  // batch statistics on a training tape
  rng g(6);
  for (auto* p : nn::parameters(pn)) g.fill_uniform(p->value(), 0.5, 1.5);
  check_block(pn, in, [&](tape<D>& t) { return pn(t, in(t, 0), scenarios6); });
  const std::vector<index_t> bad = {0, 1, 3, 1, 0, 2};
  CHECK_THROWS_AS(pn(t, in(t, 0), bad), value_error);
  const std::vector<index_t> short_ids = {0, 1};
  CHECK_THROWS_AS(pn(t, in(t, 0), short_ids), shape_error);
}

TEST_CASE("star_linear: W ⊙ W_d and b + b_d, gradients", "[msr][blocks][star]") {
  rng gen(7);
  nn::star_linear<D> layer({.in = 4, .out = 3, .scenarios = 2, .bias_init = nn::init::uniform(0, 1)}, gen);
  inputs in({{5, 4}}, 8);
  auto named = nn::named_parameters(layer);
  REQUIRE(named.size() == 6);
  tape<D> t(tape_mode::infer);
  matrix<D> expect = (in.values[0].value() * named[0].second->value().cwiseProduct(named[4].second->value())).rowwise() +
                     (named[1].second->value() + named[5].second->value()).row(0);
  CHECK(layer(t, in(t, 0), 1).value().isApprox(expect));
  CHECK_THROWS_AS(layer(t, in(t, 0), 2), value_error);
  check_block(layer, in, [&](tape<D>& t) {
    return ops::concat_cols(t, {layer(t, in(t, 0), 0, fused_activation::relu), layer(t, in(t, 0), 1)});
  });
}

TEST_CASE("meta_linear: per-sample generated weights from any condition, gradients", "[msr][blocks][meta]") {
  rng gen(9);
  nn::meta_linear<D> ml({.in = 3, .out = 2, .condition_dim = 5}, gen);
  inputs in({{6, 3}, {6, 5}}, 10);
  tape<D> t;
  var<D> y = ml(t, in(t, 0), in(t, 1));
  var<D> w = ml.weights(t, in(t, 1));
  var<D> b = ml.bias(t, in(t, 1));
  for (index_t s = 0; s < 6; ++s) {
    matrix<D> wb = const_map<D>(w.data + s * 6, 3, 2);
    CHECK(y.value().row(s).isApprox(in.values[0].value().row(s) * wb + b.value().row(s)));
  }
  check_block(ml, in, [&](tape<D>& t) { return ml(t, in(t, 0), in(t, 1)); });
}

TEST_CASE("meta_attention: attention over each sample's experts, independent of the batch", "[msr][blocks][meta]") {
  rng gen(11);
  nn::meta_attention<D> att({.expert_dim = 3, .context_dim = 2, .condition_dim = 4, .experts = 3}, gen);
  inputs in({{6, 3}, {6, 3}, {6, 3}, {6, 2}, {6, 4}}, 12);
  auto run = [&](tape<D>& t, index_t rows) {
    std::vector<var<D>> e;
    for (std::size_t k = 0; k < 3; ++k) e.push_back(ops::slice_rows(t, in(t, k), 0, rows));
    return att(t, e, ops::slice_rows(t, in(t, 3), 0, rows), ops::slice_rows(t, in(t, 4), 0, rows));
  };
  {
    tape<D> t(tape_mode::infer);
    std::vector<var<D>> e = {in(t, 0), in(t, 1), in(t, 2)};
    var<D> a = att.attention_weights(t, e, in(t, 3), in(t, 4));
    CHECK(a.value().rowwise().sum().isApprox(matrix<D>::Ones(6, 1)));
    // per-sample: the first two rows do not depend on the rest of the batch
    matrix<D> full = run(t, 6).value();
    matrix<D> part = run(t, 2).value();
    CHECK(part.isApprox(full.topRows(2)));
  }
  check_block(att, in, [&](tape<D>& t) { return run(t, 6); });
}

TEST_CASE("meta_tower: residual generated-weight layer, gradients", "[msr][blocks][meta]") {
  rng gen(13);
  nn::meta_tower<D> tower({.dim = 3, .condition_dim = 4, .layers = 2}, gen);
  inputs in({{6, 3}, {6, 4}}, 14);
  check_block(tower, in, [&](tape<D>& t) { return tower(t, in(t, 0), in(t, 1)); });
}

TEST_CASE("hyper_adapter: W = U Z V per sample, residual, gradients", "[msr][blocks][hamur]") {
  rng gen(15);
  nn::hyper_adapter<D> ad({.dim = 4, .rank = 3, .bottleneck = 5, .condition_dim = 6, .hyper_hidden = {7}}, gen);
  rng g(16);
  for (auto& [name, p] : nn::named_parameters(ad))
    if (name.find("hyper") == std::string::npos && name.find("norm") == std::string::npos) g.fill_uniform(p->value(), -1, 1);
  inputs in({{6, 4}, {6, 6}}, 17);
  {  // before the norm: sigmoid(h U1 Z V1 + b1) U2 Z V2 + b2, checked against explicit per-sample matrices
    tape<D> t(tape_mode::infer);
    var<D> z = ad.instance_matrix(t, in(t, 1));
    auto named = nn::named_parameters(ad);
    auto get = [&](const std::string& n) -> matrix<D> {
      for (auto& [k, p] : named)
        if (k == n) return p->value();
      FAIL("no parameter " << n);
      return {};
    };
    const matrix<D> u1 = get("u1"), v1 = get("v1"), b1 = get("b1"), u2 = get("u2"), v2 = get("v2"), b2 = get("b2");
    var<D> out = ad.apply(t, in(t, 0), z);
    matrix<D> o(6, 4);
    for (index_t s = 0; s < 6; ++s) {
      matrix<D> zs = const_map<D>(z.data + s * 9, 3, 3);
      matrix<D> a = ((in.values[0].value().row(s) * (u1 * zs * v1)) + b1).array().logistic().matrix();
      o.row(s) = a * (u2 * zs * v2) + b2;
    }
    // eval-mode norm with fresh running statistics (0, 1): x / sqrt(1 + eps)
    CHECK(out.value().isApprox(in.values[0].value() + o / std::sqrt(1.0 + 1e-5), 1e-9));
    CHECK(z.value().minCoeff() >= 0.0);  // the hyper-network ends in ReLU (the reference)
  }
  check_block(ad, in, [&](tape<D>& t) { return ad(t, in(t, 0), in(t, 1)); });
}

TEST_CASE("pruner: three forms, zero below epsilon, reference sign, alpha per step", "[msr][blocks][adasparse]") {
  for (auto form : {nn::pruner_form::binarization, nn::pruner_form::scaling, nn::pruner_form::fusion}) {
    DYNAMIC_SECTION("form " << nn::to_string(form)) {
      rng gen(18);
      nn::pruner<D> pr({.condition_dim = 3, .dim = 4, .form = form, .epsilon = 0.3}, gen);
      inputs in({{8, 3}, {8, 4}}, 19);
      tape<D> t(tape_mode::infer);
      var<D> pi = pr.factors(t, in(t, 0), in(t, 1));
      if (form == nn::pruner_form::binarization) {
        CHECK(((pi.value().array() == 0.0) || (pi.value().array() == 1.0)).all());
      } else {
        CHECK(pi.value().minCoeff() >= 0.0);
        CHECK(((pi.value().array() == 0.0) || (pi.value().array() >= 0.3)).all());
        CHECK(pi.value().maxCoeff() <= 2.0);
      }
      if (form != nn::pruner_form::binarization)  // the straight-through estimator is not a true derivative
        check_block(pr, in, [&](tape<D>& t) { return pr(t, in(t, 0), in(t, 1)); });
      // the paper's epsilon cut gives zeros; the reference gives negative factors instead
      nn::pruner<D> ref({.condition_dim = 3, .dim = 4, .form = form, .epsilon = 0.6, .reference_behaviour = true}, gen);
      var<D> pr_ref = ref.factors(t, in(t, 0), in(t, 1));
      CHECK(pr_ref.value().minCoeff() < 0.0);
    }
  }
  rng gen(20);
  nn::pruner<D> paper({.condition_dim = 2, .dim = 3, .alpha = 1.0, .delta_alpha = 0.5}, gen);
  nn::pruner<D> ref({.condition_dim = 2, .dim = 3, .alpha = 1.0, .delta_alpha = 0.5, .reference_behaviour = true}, gen);
  inputs in({{4, 2}, {4, 3}}, 21);
  for (int i = 0; i < 3; ++i) {
    tape<D> t(tape_mode::infer);
    paper(t, in(t, 0), in(t, 1));
    ref(t, in(t, 0), in(t, 1));
  }
  CHECK(paper.alpha() == 1.0);  // forward calls never anneal
  CHECK(ref.alpha() == 2.5);    // the reference anneals on every call, evaluation included
  paper.advance();
  CHECK(paper.alpha() == 1.5);
  matrix<D> saved;
  nn::visit_buffers(paper, [&](const std::string& name, matrix<D>& m) { if (name == "p.alpha") saved = m; }, "p");
  CHECK(saved(0, 0) == 1.5);
  CHECK_THROWS_AS(nn::pruner_form_from_string("soft"), value_error);
}

TEST_CASE("cluster_router: EMA centres only on training tapes, argmax routing", "[msr][blocks][adaptdhm]") {
  rng gen(22);
  nn::cluster_router<D> router({.dim = 3, .clusters = 2, .beta = 0.5, .iterations = 3}, gen);
  matrix<D> x(6, 3);
  x << 5, 0, 0, 4, 1, 0, 6, 0, 1, 0, 0, 5, 0, 1, 4, 1, 0, 6;
  const matrix<D> c0 = router.centres();
  {
    tape<D> t(tape_mode::infer);
    auto r = router(t, t.view(x.data(), 6, 3));
    CHECK(router.centres() == c0);
    for (index_t b = 0; b < 6; ++b) {
      Eigen::Index k;
      (x.row(b) * c0.transpose()).maxCoeff(&k);
      CHECK(r[static_cast<std::size_t>(b)] == k);
    }
  }
  tape<D> t;
  for (int step = 0; step < 20; ++step) router(t, t.view(x.data(), 6, 3));
  CHECK_FALSE(router.centres() == c0);
  CHECK(router.centres().rowwise().norm().isApprox(matrix<D>::Ones(2, 1)));
  // the centres follow the data: every centre lies in the positive orthant spanned by the rows
  CHECK(router.centres().minCoeff() > -1e-9);
  CHECK(t.node_count() == 0);  // no gradient, nothing recorded
  CHECK_THROWS_AS(router.route(t.view(x.data(), 3, 2)), shape_error);
}

TEST_CASE("gate_nu: gates in (0, 2), stop-gradient on the gated input, gradients", "[msr][blocks][epnet]") {
  rng gen(23);
  nn::gate_nu<D> gate({.input_dim = 5, .output_dim = 3}, gen);
  inputs in({{6, 2}, {6, 3}}, 24);
  tape<D> t;
  var<D> g = gate(t, in(t, 0), in(t, 1));
  CHECK(g.value().minCoeff() > 0.0);
  CHECK(g.value().maxCoeff() < 2.0);
  t.backward(ops::sum_all(t, g));
  CHECK(in.values[0].has_dense_grad());
  CHECK_FALSE(in.values[1].has_dense_grad());  // stop-gradient on the gated part
  for (auto& p : in.values) p.zero_grad();
  inputs plain({{6, 5}}, 25);
  check_block(gate, plain, [&](tape<D>& t) { return gate(t, plain(t, 0)); });
}

TEST_CASE("scenario_transfer (SAR-Net): per-scenario transfer and experts, gradients, bad ids", "[msr][blocks][sarnet]") {
  rng gen(26);
  nn::scenario_transfer<D> st({.input_dim = 4, .scenarios = 3, .shared_experts = 2, .specific_experts = 2, .expert_dim = 3}, gen);
  inputs in({{6, 4}}, 27);
  tape<D> t;
  CHECK(st(t, in(t, 0), scenarios6).cols == 3);
  const std::vector<index_t> bad = {0, 1, -1, 1, 0, 2};
  CHECK_THROWS_AS(st(t, in(t, 0), bad), value_error);
  check_block(st, in, [&](tape<D>& t) { return st(t, in(t, 0), scenarios6); });
}

TEST_CASE("multi_level_experts (M3oE): shared, domain and balanced experts, gradients", "[msr][blocks][m3oe]") {
  rng gen(28);
  nn::multi_level_experts<D> mle({.input_dim = 4, .expert_hidden = {3}, .shared_experts = 2, .scenarios = 3}, gen);
  inputs in({{6, 4}}, 29);
  tape<D> t;
  auto out = mle(t, in(t, 0));
  REQUIRE(out.size() == 3);
  CHECK(out[0].cols == 3);
  // the gates see stop_gradient(x), so the input's tape gradient deliberately differs from the
  // numeric one: check the block's parameters only
  check_block(mle, in, [&](tape<D>& t) {
    auto o = mle(t, t.constant(in.values[0].value()));
    return ops::concat_cols(t, std::span<const var<D>>(o));
  }, false);
  nn::layer_norm_mlp<D> ln({.input_dim = 4, .hidden = {5, 2}}, gen);
  check_block(ln, in, [&](tape<D>& t) { return ln(t, in(t, 0)); });
}

TEST_CASE("transformer_encoder: per-sample attention equals the sequence form on each sample, gradients", "[msr][blocks][m2m]") {
  rng gen(31);
  nn::transformer_encoder<D> enc({.d_model = 4, .heads = 2, .ff_dim = 5, .layers = 2}, gen);
  const index_t B = 5, T = 3, d = 4;
  inputs in({{B, T * d}}, 32);
  tape<D> t(tape_mode::infer);
  const matrix<D> y = enc.encode(t, in(t, 0), T).value();
  REQUIRE(y.rows() == B);
  REQUIRE(y.cols() == T * d);
  // independent path: sequence() attends over the rows of one [T, d] matrix with matmul-based attention
  for (index_t b = 0; b < B; ++b) {
    matrix<D> tokens = const_map<D>(in.values[0].value().row(b).data(), T, d);
    const matrix<D> expected = enc.sequence(t, t.view(tokens.data(), T, d)).value();
    CHECK(const_map<D>(y.row(b).data(), T, d).isApprox(expected, 1e-12));
  }
  // the token-list form agrees
  std::vector<var<D>> list;
  for (index_t i = 0; i < T; ++i) list.push_back(ops::slice_cols(t, in(t, 0), i * d, d));
  const auto out = enc(t, list);
  for (index_t i = 0; i < T; ++i) CHECK(out[static_cast<std::size_t>(i)].value().isApprox(y.middleCols(i * d, d), 1e-12));
  CHECK_THROWS_AS(enc.encode(t, in(t, 0), 2), shape_error);
  check_block(enc, in, [&](tape<D>& t) { return enc.encode(t, in(t, 0), T); });
}
