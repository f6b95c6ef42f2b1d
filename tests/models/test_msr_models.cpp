// The ten Scenario-Wise Rec models built from the msr blocks: concept, end-to-end gradient checks in
// double, configs, bad input, reference-behaviour switches, and training on the synthetic data.
#include <catch2/catch.hpp>
#include <recblocks/core/ops/elementwise.hpp>
#include <recblocks/data/dataset.hpp>
#include <recblocks/data/batcher.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/eval/auc.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/adaptdhm.hpp>
#include <recblocks/models/adasparse.hpp>
#include <recblocks/models/epnet.hpp>
#include <recblocks/models/hamur.hpp>
#include <recblocks/models/m2m.hpp>
#include <recblocks/models/m3oe.hpp>
#include <recblocks/models/ple.hpp>
#include <recblocks/models/ppnet.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/models/sarnet.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/optim/adam.hpp>
#include <recblocks/testing/gradcheck.hpp>

#include "model_test_helpers.hpp"

using namespace recblocks;
using D = double;
using recblocks_test::bce;

#define RECBLOCKS_MSR_MODELS(T)                                                                               \
  models::ple<T>, models::star<T>, models::sarnet<T>, models::m2m<T>, models::adasparse<T>, models::adaptdhm<T>, \
      models::epnet<T>, models::ppnet<T>, models::hamur<T>, models::m3oe<T>

namespace {

template <class... M>
constexpr bool all_ctr_models = (models::ctr_model<M> && ...);
static_assert(all_ctr_models<RECBLOCKS_MSR_MODELS(float)>);
static_assert(all_ctr_models<RECBLOCKS_MSR_MODELS(double)>);

data::schema tiny_schema() {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 7});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "genre", .kind = data::feature_kind::sparse, .vocabulary = 4});
  s.add({.name = "price", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 3});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}

data::batch<D> tiny_batch(index_t n, std::uint64_t seed) {
  data::dataset ds(tiny_schema());
  rng g(seed);
  for (index_t i = 0; i < n; ++i) {
    const std::array<index_t, 3> sp{g.integer(0, 6), g.integer(0, 4), g.integer(0, 3)};
    const std::array<double, 2> de{g.uniform(-1, 1), g.uniform(0, 2)};
    const std::array<double, 1> lab{double(g.bernoulli(0.4))};
    ds.append(sp, de, (i * 7 + i / 3) % 3, lab);
  }
  data::batch<D> b;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  ds.gather(std::span<const index_t>(rows), b);
  return b;
}

models::feature_embedding_options wide_init() {
  models::feature_embedding_options e;
  e.dim = 4;
  e.init_stddev = 0.7;  // tables large enough for well-conditioned finite differences
  return e;
}

/// Small hyperparameters for the gradient checks.
template <class M>
typename M::options_type tiny_options() {
  typename M::options_type o;
  o.embedding = wide_init();
  using Opt = typename M::options_type;
  if constexpr (std::is_same_v<Opt, models::ple_options>) {
    o.levels = 2;
    o.expert_dims = {4};
    o.tower_dims = {3};
  } else if constexpr (std::is_same_v<Opt, models::star_options>) {
    o.fcn_dims = {4, 3};
    o.aux_dims = {3};
  } else if constexpr (std::is_same_v<Opt, models::sarnet_options>) {
    o.shared_experts = 2;
    o.expert_dim = 3;
    o.tower_dims = {3};
  } else if constexpr (std::is_same_v<Opt, models::m2m_options>) {
    o.experts = 2;
    o.expert_output = 3;
    o.scenario_dim = 3;
    o.encoder_layers = 1;
    o.heads = 2;
    o.feedforward = 3;
    o.tower_dims = {3};
  } else if constexpr (std::is_same_v<Opt, models::adasparse_options>) {
    o.fcn_dims = {4, 3};
  } else if constexpr (std::is_same_v<Opt, models::adaptdhm_options>) {
    o.fcn_dims = {4};
    o.clusters = 2;
  } else if constexpr (std::is_same_v<Opt, models::epnet_options>) {
    o.fcn_dims = {4, 3};
  } else if constexpr (std::is_same_v<Opt, models::ppnet_options>) {
    o.fcn_dims = {4, 3};
  } else if constexpr (std::is_same_v<Opt, models::hamur_options>) {
    o.fcn_dims = {4, 3};
    o.hyper_dims = {3};
    o.rank = 2;
    o.bottleneck = 3;
  } else if constexpr (std::is_same_v<Opt, models::m3oe_options>) {
    o.fcn_dims = {4, 3, 3, 2};
    o.experts = 2;
  }
  return o;
}

/// End-to-end gradient check of the BCE of `m` on `b` over `params`, in double.
template <class Model>
testing::gradcheck_result model_gradcheck(const Model& m, const data::batch<D>& b, const std::vector<param<D>*>& params) {
  testing::gradcheck_options opt;
  opt.samples_per_param = 3;
  opt.abs_tolerance = 1e-8;
  auto res = testing::gradcheck<D>([&](tape<D>& t) { return bce(t, m, b); }, params, opt);
  INFO(res.summary());
  CHECK(res.passed);
  return res;
}

}  // namespace

TEMPLATE_TEST_CASE("msr model: end-to-end gradient check in double", "[msr][models][gradcheck]", RECBLOCKS_MSR_MODELS(D)) {
  rng g(7);
  TestType m(tiny_schema(), tiny_options<TestType>(), g);
  const auto b = tiny_batch(18, 11);
  // Parameters upstream of a deliberate stop-gradient (the gate inputs of EPNet, PPNet and M3oE) get
  // a tape gradient that omits the gate path, so finite differences cannot match them; they are
  // checked for a non-zero gradient below instead.
  std::vector<std::string> detached;
  if constexpr (std::is_same_v<TestType, models::epnet<D>> || std::is_same_v<TestType, models::ppnet<D>>) detached = {"embedding."};
  if constexpr (std::is_same_v<TestType, models::m3oe<D>>) detached = {"embedding.", "star.", "star_mlp.", "skip."};
  std::vector<param<D>*> checked;
  for (auto& [name, p] : nn::named_parameters(m)) {
    bool skip = false;
    for (const auto& prefix : detached) skip = skip || name.starts_with(prefix);
    if (!skip) checked.push_back(p);
  }
  INFO(TestType::name);
  CHECK(model_gradcheck(m, b, checked).checked >= 20);
  // every parameter receives a gradient from a training step
  nn::zero_grad(m);
  tape<D> t;
  t.backward(bce(t, m, b));
  for (auto& [name, p] : nn::named_parameters(m)) {
    INFO(TestType::name << " parameter " << name);
    CHECK(p->dense_grad().cwiseAbs().maxCoeff() > 0.0);
  }
}

TEMPLATE_TEST_CASE("msr model: config round trip, inference tape, bad input", "[msr][models][errors]", RECBLOCKS_MSR_MODELS(D)) {
  const auto s = tiny_schema();
  rng g(8);
  TestType m(s, tiny_options<TestType>(), g);
  TestType copy = TestType::from_config(s, m.config(), g);
  auto a = nn::named_parameters(m), c = nn::named_parameters(copy);
  REQUIRE(a.size() == c.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].first == c[k].first);
    CHECK(a[k].second->rows() == c[k].second->rows());
    CHECK(a[k].second->cols() == c[k].second->cols());
  }
  CHECK(copy.config() == m.config());
  auto b = tiny_batch(9, 12);
  {
    tape<D> t(tape_mode::infer);
    var<D> y = m(t, b);
    CHECK(y.rows == 9);
    CHECK(y.cols == 1);
    CHECK(y.value().allFinite());
    CHECK(t.node_count() == 0);
  }
  tape<D> t;
  SECTION("a scenario id outside the model's range") {
    b.scenario[4] = 3;
    CHECK_THROWS_AS(m(t, b), value_error);
    b.scenario[4] = -1;
    CHECK_THROWS_AS(m(t, b), value_error);
  }
  SECTION("a batch without the scenario feature") {
    b.scenario.clear();
    CHECK_THROWS_AS(m(t, b), shape_error);
  }
  SECTION("a batch that lacks a sparse feature the model reads") {
    b.sparse.conservativeResize(1, b.size);
    CHECK_THROWS_AS(m(t, b), shape_error);
  }
  SECTION("options naming a feature the schema lacks") {
    auto o = tiny_options<TestType>();
    o.embedding.fields = {"user", "watch_time"};
    CHECK_THROWS_AS(TestType(s, o, g), value_error);
  }
  SECTION("a schema without a scenario feature") {
    data::schema plain;
    plain.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 7});
    plain.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
    plain.add({.name = "age", .kind = data::feature_kind::dense});
    plain.add({.name = "click", .kind = data::feature_kind::label});
    CHECK_THROWS_AS(TestType(plain, tiny_options<TestType>(), g), value_error);
  }
}

TEST_CASE("msr models: reference_behaviour switches reproduce the reference code", "[msr][models][reference]") {
  const auto s = tiny_schema();
  const auto b = tiny_batch(12, 13);
  rng g(9);
  SECTION("EPNet: the reference's MLP is one Linear(D, 1)") {
    auto o = tiny_options<models::epnet<D>>();
    models::epnet<D> paper(s, o, g);
    o.reference_behaviour = true;
    models::epnet<D> ref(s, o, g);
    const index_t D_in = 3 * 4 + 2;
    index_t mlp_params = 0;
    for (auto& [name, p] : nn::named_parameters(ref))
      if (name.starts_with("mlp.")) mlp_params += p->size();
    CHECK(mlp_params == D_in + 1);
    CHECK(nn::parameter_count(paper) > nn::parameter_count(ref));
  }
  SECTION("M2M: the reference attends across the samples of a batch") {
    auto o = tiny_options<models::m2m<D>>();
    for (bool reference : {false, true}) {
      o.reference_behaviour = reference;
      models::m2m<D> m(s, o, g);
      tape<D> t(tape_mode::infer);
      matrix<D> full = m(t, b).value();
      auto half = b;  // the first 6 rows alone
      half.size = 6;
      half.sparse.conservativeResize(Eigen::NoChange, 6);
      half.dense.conservativeResize(6, Eigen::NoChange);
      half.scenario.resize(6);
      half.labels.conservativeResize(6, Eigen::NoChange);
      matrix<D> part = m(t, half).value();
      if (reference) CHECK_FALSE(part.isApprox(full.topRows(6), 1e-9));
      else CHECK(part.isApprox(full.topRows(6), 1e-12));
    }
  }
  SECTION("AdaSparse: alpha anneals per training step, the reference per forward call") {
    auto o = tiny_options<models::adasparse<D>>();
    o.delta_alpha = 0.25;
    models::adasparse<D> paper(s, o, g);
    o.reference_behaviour = true;
    models::adasparse<D> ref(s, o, g);
    tape<D> t(tape_mode::infer);
    paper(t, b);
    ref(t, b);
    CHECK(paper.alpha() == 1.0);
    CHECK(ref.alpha() == 1.25);
    paper.on_training_step();
    CHECK(paper.alpha() == 1.25);
  }
  SECTION("PPNet: the reference's towers start from the gate input (no tower gradient into agnostic tables)") {
    auto o = tiny_options<models::ppnet<D>>();
    for (bool reference : {false, true}) {
      o.reference_behaviour = reference;
      models::ppnet<D> m(s, o, g);
      nn::zero_grad(m);
      tape<D> t;
      t.backward(bce(t, m, b));
      bool agn_grad = false;
      for (auto& [name, p] : nn::named_parameters(m))
        if (name.starts_with("embedding.")) agn_grad = agn_grad || p->dense_grad().cwiseAbs().maxCoeff() > 0.0;
      CHECK(agn_grad == !reference);
    }
  }
  SECTION("STAR: the reference's scenario logit passes BN + ReLU (one more BN per scenario)") {
    auto o = tiny_options<models::star<D>>();
    models::star<D> paper(s, o, g);
    o.reference_behaviour = true;
    models::star<D> ref(s, o, g);
    CHECK(nn::parameter_count(ref) == nn::parameter_count(paper) + 3 * 2);
  }
  SECTION("AdaptDHM: centres move on training tapes only") {
    models::adaptdhm<D> m(s, tiny_options<models::adaptdhm<D>>(), g);
    const matrix<D> c0 = m.router().centres();
    tape<D> ti(tape_mode::infer);
    m(ti, b);
    CHECK(m.router().centres() == c0);
    tape<D> tt;
    m(tt, b);
    CHECK_FALSE(m.router().centres() == c0);
  }
}

namespace {

/// Trains `M` (reference hyperparameters, float) on synthetic data from initialisation seed
/// `init_seed` and returns the test AUC, scored on an inference tape (batch norm with running
/// statistics) or, with `batch_statistics`, on a training tape (each test batch normalised by its own
/// statistics; no backward).
template <class M>
double synthetic_auc(std::uint64_t init_seed, bool batch_statistics = false) {
  data::synthetic_config cfg;
  cfg.rows = 12000;
  cfg.seed = 5;
  const data::synthetic syn(cfg);
  const auto parts = syn.split({0.8, 0.1, 0.1}, 1);
  rng g(init_seed);
  M model(parts.parts[0].get_schema(), typename M::options_type{}, g);
  optim::adam<float> opt(nn::parameters(model), {.learning_rate = 3e-3});
  data::batch<float> b;
  tape<float> t;
  for (int epoch = 0; epoch < 2; ++epoch) {
    data::batcher<float> batches(parts.parts[0], 256, true, 17 + epoch, true);
    while (batches.next(b)) {
      t.reset();
      nn::zero_grad(model);
      t.backward(loss::bce_with_logits(t, model(t, b), t.view(b.labels.data(), b.size, 1)));
      opt.step();
      if constexpr (requires { model.on_training_step(); }) model.on_training_step();
    }
  }
  std::vector<double> y, p;
  data::batcher<float> test(parts.parts[2], 512, false, 0);
  tape<float> ti(batch_statistics ? tape_mode::train : tape_mode::infer);
  while (test.next(b)) {
    ti.reset();
    var<float> z = model(ti, b);
    for (index_t i = 0; i < b.size; ++i) {
      y.push_back(b.labels(i, 0));
      p.push_back(z.value()(i, 0));
    }
  }
  return eval::auc(y, p);
}

}  // namespace

TEMPLATE_TEST_CASE("msr model: trains on the synthetic data to above-chance AUC", "[msr][models][train]", RECBLOCKS_MSR_MODELS(float)) {
  // Two epochs on 9,600 rows without early stopping leave some models far from converged and
  // sensitive to the initialisation, so the check is on the mean over five initialisations. M2M is
  // scored with batch statistics: its batch-normed scenario networks see only three distinct inputs,
  // and after two epochs their running statistics can be far from the batch statistics it trained
  // with (docs/models/m2m.md), which makes its inference-tape AUC swing between 0.44 and 0.63 with
  // rounding-level changes to the arithmetic.
  constexpr bool batch_statistics = std::is_same_v<TestType, models::m2m<float>>;
  double mean = 0;
  for (std::uint64_t init_seed : {3, 4, 5, 6, 7}) {
    const double auc = synthetic_auc<TestType>(init_seed, batch_statistics);
    INFO(TestType::name << " init seed " << init_seed << " test AUC " << auc);
    mean += auc / 5;
  }
  INFO(TestType::name << " mean test AUC " << mean);
  CHECK(mean > 0.55);  // chance is 0.5; the Bayes AUC of this data is ~0.8
}

TEST_CASE("registry: names, reference spellings, presets, visit, and a scenario without rows", "[msr][models][registry]") {
  CHECK(models::registry::names().size() == 12);
  CHECK(models::registry::canonical("SharedBottom") == "shared_bottom");
  CHECK(models::registry::canonical("MMOE") == "mmoe");
  CHECK(models::registry::canonical("PLE") == "ple");
  CHECK_THROWS_AS(models::registry::canonical("xdeepfm"), value_error);
  CHECK(models::registry::preset_options("ple", models::preset::kuairand)["expert_dims"] == nlohmann::json({64, 32}));
  CHECK(models::registry::preset_options("star", models::preset::movielens).empty());
  const auto s = tiny_schema();
  const auto b = tiny_batch(9, 14);
  rng g(10);
  for (const auto& name : models::registry::names()) {
    const auto [model_name, rows] = models::registry::visit<D>(name, s, nlohmann::json::object(), g, [&](auto& m) {
      tape<D> t(tape_mode::infer);
      return std::pair<std::string, index_t>(std::remove_reference_t<decltype(m)>::name, m(t, b).rows);
    });
    CHECK(model_name == name);
    CHECK(rows == 9);
  }
  // a dataset in which scenario 1 has no rows: a clear error before any training
  data::dataset ds(s);
  for (index_t i = 0; i < 6; ++i) {
    const std::array<index_t, 3> sp{1, 1, 1};
    const std::array<double, 2> de{0.0, 0.0};
    const std::array<double, 1> lab{double(i % 2)};
    ds.append(sp, de, i % 2 == 0 ? 0 : 2, lab);
  }
  CHECK_THROWS_AS(models::registry::check_scenarios(ds, "training"), value_error);
  try {
    models::registry::check_scenarios(ds, "training");
  } catch (const value_error& e) {
    CHECK(std::string(e.what()).find("scenario 1") != std::string::npos);
  }
}

TEST_CASE("hamur: HamurLarge's two adapter cells share one instance matrix", "[msr][models][hamur]") {
  const auto s = tiny_schema();
  auto o = tiny_options<models::hamur<D>>();
  o.fcn_dims = {4, 3, 3};
  o.adapters = 2;  // cells after hidden layers 2 and 3
  rng g(21);
  models::hamur<D> m(s, o, g);
  std::vector<std::string> names;
  for (auto& [name, p] : nn::named_parameters(m)) names.push_back(name);
  auto has = [&](const std::string& prefix) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return n.starts_with(prefix); });
  };
  CHECK(has("adapter.hyper."));     // cell 0 owns the hyper-network
  CHECK(has("adapter.1.u1"));       // cell 1 has its own U, V, b and domain norm ...
  CHECK(!has("adapter.1.hyper."));  // ... but no hyper-network
  CHECK(has("tail.0.1."));          // scenario 0's third hidden layer sits between the two cells
  CHECK(has("tail.2.1."));
  // one cell more than the Small variant: 2 * (U1, V1, b1, U2, V2, b2) + one tail layer per scenario
  auto small = o;
  small.adapters = 1;
  rng g2(21);
  models::hamur<D> small_model(s, small, g2);
  CHECK(nn::parameter_count(m) > nn::parameter_count(small_model));
  const auto b = tiny_batch(18, 22);
  CHECK(model_gradcheck(m, b, nn::parameters(m)).checked >= 20);
  CHECK(models::hamur<D>::from_config(s, m.config(), g).options().adapters == 2);
  o.adapters = 0;
  CHECK_THROWS_AS(models::hamur<D>(s, o, g), value_error);
  o.adapters = 4;  // more cells than hidden layers
  CHECK_THROWS_AS(models::hamur<D>(s, o, g), value_error);
  // the Ali-CCP preset is HamurLarge
  const auto large = models::registry::preset_options("hamur", models::preset::aliccp);
  CHECK(large["adapters"] == 2);
  CHECK(large["rank"] == 65);
}

TEST_CASE("registry: an options key the model does not have is an error, not ignored", "[msr][models][registry][errors]") {
  rng g(23);
  const auto s = tiny_schema();
  CHECK_THROWS_AS(models::registry::visit<D>("star", s, {{"fcn_dim", {8}}}, g, [](auto&) { return 0; }), parse_error);
  try {
    models::registry::visit<D>("star", s, {{"fcn_dim", {8}}}, g, [](auto&) { return 0; });
  } catch (const parse_error& e) {
    CHECK(std::string(e.what()).find("\"fcn_dim\"") != std::string::npos);
    CHECK(std::string(e.what()).find("fcn_dims") != std::string::npos);  // lists the real keys
  }
  CHECK(models::registry::visit<D>("star", s, {{"fcn_dims", {8}}}, g, [](auto& m) { return m.config().at("fcn_dims").size(); }) == 1);
}

TEST_CASE("registry: every model builds from every dataset preset", "[msr][models][registry]") {
  rng g(24);
  const auto s = tiny_schema();
  const auto b = tiny_batch(9, 25);
  for (const auto& name : models::registry::names())
    for (auto p : {models::preset::movielens, models::preset::kuairand, models::preset::aliccp}) {
      INFO(name << " preset " << int(p));
      const auto options = models::registry::preset_options(name, p);
      const index_t rows = models::registry::visit<D>(name, s, options, g, [&](auto& m) {
        for (const auto& [key, value] : options.items()) CHECK(m.config().at(key) == value);  // every preset key took effect
        tape<D> t(tape_mode::infer);
        return m(t, b).rows;
      });
      CHECK(rows == 9);
    }
}
