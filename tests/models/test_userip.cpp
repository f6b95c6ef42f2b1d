// UserIP-Tuning blocks (issue 18): causal attention, the causal LM (also SASRec), freezing, soft
// prompts with behaviour-only loss, the VQ codebook, the feature bank and DCN; gradient checks in double.
#include <catch2/catch.hpp>
#include <filesystem>
#include <recblocks/core/ops/masked_attention.hpp>
#include <recblocks/core/ops/reduce.hpp>
#include <recblocks/data/dataset.hpp>
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/dcn.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/models/userip.hpp>
#include <recblocks/nn/causal_lm.hpp>
#include <recblocks/optim/adam.hpp>
#include <recblocks/testing/gradcheck.hpp>

using namespace recblocks;
using D = double;

static_assert(models::ctr_model<models::dcn<float>>);

namespace {

testing::gradcheck_options tight() {
  testing::gradcheck_options o;
  o.samples_per_param = 6;
  o.abs_tolerance = 1e-8;
  return o;
}

nn::causal_lm_options tiny_lm(bool pre_ln = true) {
  return {.vocabulary = 7, .context = 8, .d_model = 4, .heads = 2, .layers = 2, .ff_dim = 6, .pre_ln = pre_ln, .dropout = 0.0};
}

}  // namespace

TEST_CASE("packed/masked attention causal: gradient check, row i ignores rows after i", "[userip][attention][gradcheck]") {
  rng gen(5);
  std::vector<param<D>> p;
  for (int i = 0; i < 3; ++i) {
    p.emplace_back("in" + std::to_string(i), 9, 4);
    gen.fill_uniform(p.back().value(), -1.5, 1.5);
  }
  const std::vector<index_t> offsets{0, 4, 4, 9};
  matrix<D> proj(9, 4);
  gen.fill_uniform(proj, -1, 1);
  auto f = [&](tape<D>& t) {
    var<D> y = ops::packed_attention(t, t.leaf(p[0]), t.leaf(p[1]), t.leaf(p[2]), offsets, 2, 0.0, true);
    return ops::sum_all(t, ops::mul(t, y, t.view(proj.data(), 9, 4)));
  };
  auto res = testing::gradcheck<D>(f, {&p[0], &p[1], &p[2]}, tight());
  INFO(res.summary());
  CHECK(res.passed);
  // causality: changing the last row of sequence 2 leaves its earlier rows unchanged
  tape<D> t(tape_mode::infer);
  const matrix<D> a = ops::packed_attention(t, t.leaf(p[0]), t.leaf(p[1]), t.leaf(p[2]), offsets, 2, 0.0, true).value();
  p[1].value().row(8).setConstant(3.0);
  p[2].value().row(8).setConstant(-2.0);
  const matrix<D> b = ops::packed_attention(t, t.leaf(p[0]), t.leaf(p[1]), t.leaf(p[2]), offsets, 2, 0.0, true).value();
  CHECK((a.topRows(8) - b.topRows(8)).cwiseAbs().maxCoeff() == 0.0);
  CHECK((a.row(8) - b.row(8)).cwiseAbs().maxCoeff() > 1e-6);
  // the first row of a sequence attends to itself only: output = its own v
  CHECK((a.row(4) - p[2].value().row(4)).cwiseAbs().maxCoeff() < 1e-12);
  // padded layout agrees with packed
  const std::vector<index_t> lens{4, 4};
  matrix<D> q = p[0].value().topRows(8), k = p[1].value().topRows(8), v = p[2].value().topRows(8);
  const matrix<D> m = ops::masked_attention(t, t.view(q.data(), 8, 4), t.view(k.data(), 8, 4), t.view(v.data(), 8, 4), 4, lens, 2, 0.0, true).value();
  const std::vector<index_t> off2{0, 4, 8};
  const matrix<D> pk = ops::packed_attention(t, t.view(q.data(), 8, 4), t.view(k.data(), 8, 4), t.view(v.data(), 8, 4), off2, 2, 0.0, true).value();
  CHECK((m - pk).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("causal_lm: gradient check (pre-LN and post-LN), context and vocabulary errors", "[userip][causal_lm][gradcheck]") {
  for (bool pre : {true, false}) {
    rng gen(11);
    nn::causal_lm<D> lm(tiny_lm(pre), gen);
    const std::vector<index_t> tokens{1, 2, 3, 4, 0, 6, 5, 5, 2, 1, 3};
    const std::vector<index_t> offsets{0, 5, 6, 11};
    auto res = testing::gradcheck<D>([&](tape<D>& t) { return lm.loss(t, tokens, offsets); }, nn::parameters(lm), tight());
    INFO((pre ? "pre-LN " : "post-LN ") << res.summary());
    CHECK(res.passed);
  }
  rng gen(1);
  nn::causal_lm<D> lm(tiny_lm(), gen);
  tape<D> t;
  const std::vector<index_t> long_seq(9, 1), off{0, 9};
  CHECK_THROWS_AS(lm.loss(t, long_seq, off), shape_error);
  const std::vector<index_t> bad{1, 7}, off2{0, 2};
  CHECK_THROWS_AS(lm.loss(t, bad, off2), value_error);
  CHECK_THROWS_AS(nn::causal_lm<D>({.vocabulary = 5, .d_model = 6, .heads = 4}, gen), value_error);
  CHECK(nn::parameter_count(lm) > 0);
}

TEST_CASE("causal_lm learns a deterministic next-token pattern (SASRec use on item ids)", "[userip][causal_lm]") {
  rng gen(3);
  nn::causal_lm<float> lm({.vocabulary = 6, .context = 8, .d_model = 16, .heads = 2, .layers = 1, .ff_dim = 32, .dropout = 0.0}, gen);
  // item sequences: i, i+1, i+2, ... (mod 6): the next item is a function of the last one
  std::vector<index_t> tokens, offsets{0};
  for (index_t s = 0; s < 6; ++s) {
    for (index_t i = 0; i < 6; ++i) tokens.push_back((s + i) % 6);
    offsets.push_back(static_cast<index_t>(tokens.size()));
  }
  optim::adam<float> opt(nn::parameters(lm), {.learning_rate = 0.02});
  float first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    tape<float> t;
    opt.zero_grad();
    var<float> l = lm.loss(t, tokens, offsets);
    if (step == 0) first = l.value()(0, 0);
    last = l.value()(0, 0);
    t.backward(l);
    opt.step();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(first > 1.5f);  // about log 6
  CHECK(last < 0.1f);
}

TEST_CASE("vector_quantizer: nearest code, codebook-only loss, commitment and straight-through", "[userip][vq][gradcheck]") {
  rng gen(2);
  quant::vector_quantizer<D> vq({.codes = 3, .dim = 2}, gen);
  vq.codebook().value() << 0, 0, 1, 0, 0, 1;
  param<D> x("x", 4, 2);
  x.value() << 0.1, 0.1, 0.9, 0.2, 0.2, 0.8, -0.1, 0.05;
  const std::vector<index_t> want{0, 1, 2, 0};
  CHECK(vq.assign(x.value()) == want);
  {
    nn::zero_grad(vq);
    x.zero_grad();
    tape<D> t;
    auto r = vq.quantize(t, t.leaf(x));
    CHECK(r.codes == want);
    // paper: 0.5 * mean((sg(x) - z)^2); d/dC_k = 0.5 * 2 (C_k - x_b) / (B d) summed over rows of k
    t.backward(r.loss);
    const matrix<D> g = vq.codebook().dense_grad();
    CHECK(g(1, 0) == Approx(0.5 * 2 * (1 - 0.9) / 8));
    CHECK(g(0, 0) == Approx(0.5 * 2 * ((0 - 0.1) + (0 + 0.1)) / 8).margin(1e-12));
    CHECK(x.dense_grad().cwiseAbs().maxCoeff() == 0.0);  // stop-gradient on the profile
  }
  quant::vector_quantizer<D> vq2({.codes = 3, .dim = 2, .commitment_weight = 0.25, .straight_through = true}, gen);
  // the commitment term is an ordinary function of x (codes fixed near the point): gradient-checked on x;
  // the codebook term on the codebook (its x-dependence is cut by the stop-gradient by design)
  {
    quant::vector_quantizer<D> commit({.codes = 3, .dim = 2, .codebook_weight = 0.0, .commitment_weight = 0.25}, gen);
    commit.codebook().value() = vq.codebook().value();
    std::vector<param<D>*> px{&x};
    auto res = testing::gradcheck<D>([&](tape<D>& t) { return commit.quantize(t, t.leaf(x)).loss; }, px, tight());
    INFO(res.summary());
    CHECK(res.passed);
    std::vector<param<D>*> pc{&vq.codebook()};  // the paper's codebook-only loss
    auto res2 = testing::gradcheck<D>([&](tape<D>& t) { return vq.quantize(t, t.leaf(x)).loss; }, pc, tight());
    INFO(res2.summary());
    CHECK(res2.passed);
  }
  {  // straight-through: value z, gradient passed to x unchanged (not a finite difference by design)
    matrix<D> proj(4, 2);
    gen.fill_uniform(proj, -1, 1);
    x.zero_grad();
    nn::zero_grad(vq2);
    tape<D> t;
    auto r = vq2.quantize(t, t.leaf(x));
    const matrix<D> z = r.out.value();
    for (index_t b = 0; b < 4; ++b) CHECK((z.row(b) - vq2.codebook().value().row(r.codes[std::size_t(b)])).norm() < 1e-12);
    t.backward(ops::sum_all(t, ops::mul(t, r.out, t.view(proj.data(), 4, 2))));
    CHECK((x.dense_grad() - proj).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(vq2.codebook().dense_grad().cwiseAbs().maxCoeff() == 0.0);  // z enters only through sg(z - x)
  }
  CHECK_THROWS_AS(quant::vector_quantizer<D>({.codes = 0, .dim = 2}, gen), value_error);
  matrix<D> wrong(2, 3);
  wrong.setZero();
  CHECK_THROWS_AS(vq.assign(wrong), shape_error);
}

TEST_CASE("userip: frozen LM gets no gradient, soft tokens and codebooks do; loss only on behaviour", "[userip][gradcheck]") {
  rng gen(7);
  nn::causal_lm<D> lm({.vocabulary = 9, .context = 10, .d_model = 4, .heads = 2, .layers = 2, .ff_dim = 6, .dropout = 0.0}, gen);
  CHECK_THROWS_AS(models::userip<D>(lm, 5, {{1, 2}, {3}}, {}, gen), state_error);  // not frozen yet
  lm.freeze();
  models::userip<D> up(lm, 5, {{1, 2}, {3}}, {}, gen);
  CHECK(up.behaviour_capacity() == 10 - 5);
  std::vector<models::userip_sample> batch{{0, {4, 5, 6}}, {3, {7, 8}}, {0, {5}}};
  // soft tokens: the LM term (the VQ term's x-dependence is cut by the stop-gradient by design);
  // codebooks: the whole loss
  std::vector<param<D>*> soft{&up.prompt_table(0), &up.prompt_table(1)}, books{&up.codebook(0), &up.codebook(1)};
  auto res = testing::gradcheck<D>([&](tape<D>& t) { return up.loss(t, batch).lm; }, soft, tight());
  INFO(res.summary());
  CHECK(res.passed);
  auto res2 = testing::gradcheck<D>([&](tape<D>& t) { return up.loss(t, batch).total; }, books, tight());
  INFO(res2.summary());
  CHECK(res2.passed);
  nn::zero_grad(lm);
  nn::zero_grad(up);
  {
    tape<D> t;
    auto l = up.loss(t, batch);
    CHECK(l.behaviour_tokens == 6);
    t.backward(l.total);
  }
  nn::visit_parameters(lm, [&](const std::string& name, param<D>& p) {
    INFO(name);
    CHECK(!p.trainable());
    CHECK(p.dense_grad().cwiseAbs().maxCoeff() == 0.0);
  });
  const matrix<D> hobby = up.prompt().table(0).dense_grad();
  CHECK(hobby.row(0).norm() > 0);
  CHECK(hobby.row(3).norm() > 0);
  CHECK(hobby.row(1).norm() == 0);  // not in the batch
  // the loss is on behaviour tokens only: changing the profile text does not change the target count
  models::userip<D> up2(lm, 5, {{1, 2, 2, 2}, {3, 3}}, {}, gen);
  tape<D> t;
  CHECK(up.loss(t, batch).behaviour_tokens == 6);
  // truncation from the oldest: up2's prompt takes 8 rows, capacity 10 - 8 = 2 tokens
  CHECK(up2.behaviour_capacity() == 2);
  CHECK(up2.loss(t, batch).behaviour_tokens == 2 + 2 + 1);
  CHECK(up2.truncated() == 1);
  std::vector<models::userip_sample> long_b{{1, {4, 5, 6, 7, 8}}};
  CHECK(up2.loss(t, long_b).behaviour_tokens == 2);
  CHECK(up2.truncated() == 2);
  {  // the kept tokens are the newest: the same loss as the last two tokens alone
    std::vector<models::userip_sample> tail_b{{1, {7, 8}}};
    tape<D> t2(tape_mode::infer);
    CHECK(up2.loss(t2, long_b).lm.value()(0, 0) == Approx(up2.loss(t2, tail_b).lm.value()(0, 0)).epsilon(1e-12));
  }
  // bad input
  std::vector<models::userip_sample> empty_b{{1, {}}};
  CHECK_THROWS_AS(up.loss(t, empty_b), value_error);
  std::vector<models::userip_sample> bad_user{{5, {4}}};
  CHECK_THROWS_AS(up.loss(t, bad_user), value_error);
  CHECK_THROWS_AS(models::userip<D>(lm, 3, {{1}, {2}}, {}, gen), value_error);  // K_hobby = 4 > 3 users
  CHECK_THROWS_AS(models::userip<D>(lm, 5, {{1}, {2}}, {.codes = {0, 3}}, gen), value_error);  // empty codebook
}

TEST_CASE("feature_bank: codes, cold-start default, checkpoint round trip", "[userip][feature_bank]") {
  quant::feature_bank<float> bank(4, {"hobby", "background"}, {4, 3});
  bank.set(0, 0, 2);
  bank.set(0, 1, 1);
  bank.set(2, 0, 3);
  CHECK(bank.code(0, 0) == 2);
  CHECK(bank.code(1, 0) == 4);  // cold start: default code = K
  CHECK(bank.code(1, 1) == 3);
  CHECK(bank.vocabulary(0) == 5);
  CHECK(bank.counts(0) == std::vector<index_t>{0, 0, 1, 1, 2});
  CHECK_THROWS_AS(bank.set(0, 1, 3), value_error);
  CHECK_THROWS_AS(bank.code(4, 0), value_error);
  CHECK_THROWS_AS(quant::feature_bank<float>(4, {"a"}, {0}), value_error);
  const auto dir = std::filesystem::temp_directory_path() / ("recblocks_bank_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  io::checkpoint::save(dir, bank);
  quant::feature_bank<float> back(4, {"hobby", "background"}, {4, 3});
  io::checkpoint::open(dir).restore(back);
  for (index_t u = 0; u < 4; ++u)
    for (index_t f = 0; f < 2; ++f) CHECK(back.code(u, f) == bank.code(u, f));
  std::filesystem::remove_all(dir);
}

namespace {

data::schema dcn_schema() {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 7});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}

data::batch<D> dcn_batch(index_t n, std::uint64_t seed) {
  data::dataset ds(dcn_schema());
  rng g(seed);
  for (index_t i = 0; i < n; ++i) {
    const std::array<index_t, 2> sp{g.integer(0, 6), g.integer(0, 4)};
    const std::array<double, 1> de{g.uniform(-1, 1)};
    const std::array<double, 1> lab{double(g.bernoulli(0.4))};
    ds.append(sp, de, 0, lab);
  }
  data::batch<D> b;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  ds.gather(std::span<const index_t>(rows), b);
  return b;
}

}  // namespace

TEST_CASE("dcn: v1 and v2 gradient checks, registry, options", "[userip][dcn][gradcheck]") {
  const data::batch<D> b = dcn_batch(12, 4);
  for (const char* cross : {"v1", "v2"}) {
    rng gen(9);
    models::dcn<D> m(dcn_schema(), {.embedding = {.dim = 3, .fields = {}, .embed_scenario = false, .init_stddev = 0.3}, .cross = cross}, gen);
    auto res = testing::gradcheck<D>(
        [&](tape<D>& t) { return loss::bce_with_logits(t, m(t, b), t.view(b.labels.data(), b.size, 1)); }, nn::parameters(m), tight());
    INFO(cross << ": " << res.summary());
    CHECK(res.passed);
    tape<D> t(tape_mode::infer);
    CHECK(m(t, b).rows == 12);
  }
  rng gen(1);
  CHECK(models::registry::canonical("DCN") == "dcn");
  const index_t n = models::registry::visit<float>("dcn", dcn_schema(), {{"cross", "v2"}}, gen, [](auto& m) { return nn::parameter_count(m); });
  CHECK(n > 0);
  CHECK(models::registry::resolved_options("dcn", {}).at("mlp_dims") == nlohmann::json({16, 16}));
  CHECK_THROWS_AS(models::dcn<float>(dcn_schema(), {.cross = "v3"}, gen), value_error);
  CHECK_THROWS_AS(models::registry::visit<float>("dcn", dcn_schema(), {{"crosss", "v1"}}, gen, [](auto&) { return 0; }), parse_error);
}
