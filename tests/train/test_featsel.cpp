// featsel/ (AltFS, issue 15): descriptors, rankings and metrics, mutual information, field selection,
// the field gate on feature_embedding (gradient-checked: rank-guided mask and learnable gate through a
// registry model), the LLM ranking policy (structured output, re-asks, counted fallback), the
// model-training policies on the synthetic dataset with known importance, and bad input.
#include <catch2/catch.hpp>

#include <recblocks/featsel.hpp>
#include <recblocks/llm/scripted_client.hpp>
#include <recblocks/models/shared_bottom.hpp>
#include <recblocks/testing/gradcheck.hpp>

using namespace recblocks;
using featsel::feature_ranking;

namespace {

feature_ranking truth_order() {
  feature_ranking r;
  r.policy = "truth";
  r.order = {"income", "category", "latitude_zone", "longitude_zone", "hour", "device", "income_k",
             "category_group", "browser_version", "day_of_month", "session_bucket", "noise_score", "ad_slot"};
  return r;
}

data::dataset tiny_two_field(index_t rows) {
  data::schema s;
  s.add({.name = "user_id", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "x", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 1});
  s.add({.name = "click", .kind = data::feature_kind::label});
  data::dataset d(s);
  for (index_t i = 0; i < rows; ++i) {
    const index_t id[1] = {1 + i % 4};
    const double x[1] = {double(i % 3)}, y[1] = {double(i % 2)};
    d.append(id, x, 0, y);
  }
  return d;
}

std::string answer(const std::string& f) { return "{\"feature\": \"" + f + "\"}"; }

}  // namespace

TEST_CASE("featsel: descriptors of the known-importance dataset", "[featsel]") {
  const auto d = featsel::known_importance::generate(2000, 3);
  const auto ds = featsel::feature_descriptor::from_dataset(d, {.descriptions = featsel::known_importance::descriptions(),
                                                                .examples = {{"hour", "14"}}});
  REQUIRE(ds.size() == 13);
  CHECK(ds[0].name == "category");
  CHECK(ds[0].kind == "categorical");
  CHECK(ds[0].n_unique == 20);
  CHECK(ds[12].name == "noise_score");
  CHECK(ds[12].kind == "numerical");
  CHECK(ds[12].n_unique == 2000);
  CHECK(ds[3].example == "14");
  CHECK(ds[3].to_line() == "hour (categorical, e.g. 14, 24 unique values): hour of the day of the impression");
  CHECK_THROWS_WITH(featsel::feature_descriptor::from_dataset(d, {.descriptions = {{"hours", "typo"}}}),
                    Catch::Contains("'hours'"));
  // a dataset with one field: nothing to select
  data::schema one;
  one.add({.name = "user_id", .kind = data::feature_kind::sparse, .vocabulary = 3});
  one.add({.name = "click", .kind = data::feature_kind::label});
  CHECK_THROWS_WITH(featsel::feature_descriptor::from_dataset(data::dataset(one)), Catch::Contains("at least 2"));
}

TEST_CASE("featsel: ranking metrics against the truth", "[featsel]") {
  const auto truth = featsel::known_importance::truth();
  feature_ranking r = truth_order();
  // the truth has ties, a ranking has none: the best ranking scores just below 1, whatever the order of a tie
  const double best = featsel::spearman(r, truth);
  CHECK(best > 0.95);
  CHECK(best < 1.0);
  CHECK(featsel::kendall_tau(r, truth) > 0.9);
  std::swap(r.order[0], r.order[1]);  // income <-> category: tied in the truth
  CHECK(featsel::spearman(r, truth) == Approx(best));
  std::swap(r.order[0], r.order[1]);
  CHECK(featsel::precision_at(r, truth, 2) == 1.0);
  CHECK(featsel::precision_at(r, truth, 6) == 1.0);
  std::reverse(r.order.begin(), r.order.end());
  CHECK(featsel::spearman(r, truth) == Approx(-best));
  CHECK(featsel::precision_at(r, truth, 4) == 0.0);
  // swap income (truth 5) with ad_slot (truth 0) in the true order: top-2 loses one field
  r = truth_order();
  std::swap(r.order[0], r.order[12]);
  CHECK(featsel::precision_at(r, truth, 2) == 0.5);
  CHECK(featsel::spearman(r, truth) < 0.6);
  CHECK_THROWS_WITH(featsel::precision_at(r, truth, 3), Catch::Contains("ambiguous"));
  CHECK_THROWS_WITH(featsel::precision_at(r, truth, 0), Catch::Contains("outside"));
  CHECK_THROWS_WITH(featsel::precision_at(r, truth, 14), Catch::Contains("outside"));
  r.order.push_back("unknown");
  CHECK_THROWS_WITH(featsel::spearman(r, truth), Catch::Contains("'unknown'"));
}

TEST_CASE("featsel: top(d) and select_fields bad input", "[featsel]") {
  const feature_ranking r = truth_order();
  CHECK(r.top(2) == std::vector<std::string>{"income", "category"});
  CHECK_THROWS_WITH(r.top(0), Catch::Contains("d = 0"));
  CHECK_THROWS_WITH(r.top(14), Catch::Contains("d = 14"));
  const auto d = featsel::known_importance::generate(50, 1);
  const auto sel = featsel::select_fields(d, {"noise_score", "hour", "income"});
  CHECK(sel.rows() == 50);
  CHECK(sel.get_schema().sparse_count() == 1);
  CHECK(sel.get_schema().dense_count() == 2);
  CHECK(sel.get_schema().scenario_count() == 1);
  CHECK(sel.dense_column(0)[7] == d.dense_column(0)[7]);   // income stays the first dense field
  CHECK(sel.sparse_column(0)[9] == d.sparse_column(3)[9]);  // hour
  CHECK(sel.label_column(0)[5] == d.label_column(0)[5]);
  CHECK_THROWS_WITH(featsel::select_fields(d, {}), Catch::Contains("no field"));
  CHECK_THROWS_WITH(featsel::select_fields(d, {"hour", "hour"}), Catch::Contains("twice"));
  CHECK_THROWS_WITH(featsel::select_fields(d, {"click"}), Catch::Contains("kind label"));
  CHECK_THROWS_WITH(featsel::select_fields(d, {"nope"}), Catch::Contains("'nope'"));
  CHECK_NOTHROW(r.check(d.get_schema()));
  feature_ranking twice = r;
  twice.order[1] = "income";
  CHECK_THROWS_WITH(twice.check(d.get_schema()), Catch::Contains("'category' 0 times"));
}

TEST_CASE("featsel: mutual information sees single fields, misses the complementary pair", "[featsel]") {
  const auto d = featsel::known_importance::generate(20000, 11);
  const featsel::mutual_information_policy mi;
  const auto r = mi.rank(d, d);
  r.check(d.get_schema());
  CHECK(r.position("income") < 3);
  CHECK(r.position("category") < 3);
  CHECK(mi.information(d, "latitude_zone") < 0.003);  // no information alone (checkerboard) ...
  CHECK(mi.information(d, "hour") > 0.005);           // ... unlike a weaker single field
  CHECK(r.position("latitude_zone") > r.position("hour"));
  CHECK(mi.information(d, "income_k") > 0.5 * mi.information(d, "income"));  // the copy looks as useful
  CHECK_THROWS_WITH(featsel::mutual_information_policy({.bins = 1}), Catch::Contains("bins = 1"));
}

TEST_CASE("featsel: a field gate on feature_embedding scales each field", "[featsel]") {
  struct fixed_gate : models::field_gate<double> {
    std::vector<double> g;
    var<double> gate(tape<double>& t, const data::batch<double>&) const override {
      var<double> v = t.make(1, static_cast<index_t>(g.size()));
      for (std::size_t i = 0; i < g.size(); ++i) t.out(v)(0, index_t(i)) = g[i];
      return v;
    }
  };
  const auto d = featsel::known_importance::generate(8, 2);
  rng gen(5);
  models::feature_embedding<double> emb(d.get_schema(), {.dim = 2, .fields = {"hour", "income", "noise_score"}, .init_stddev = 1.0}, gen);
  std::vector<index_t> rows{0, 1, 2, 3};
  data::batch<double> b;
  d.gather(std::span<const index_t>(rows), b);
  tape<double> t(tape_mode::infer);
  const matrix<double> plain = emb(t, b).value();
  fixed_gate g;
  g.g.assign(13, 1.0);
  g.g[3] = 0.0;   // hour (sparse 3)
  g.g[12] = 2.0;  // noise_score (dense 2 -> column 10 + 2)
  emb.set_field_gate(&g);
  const matrix<double> gated = emb(t, b).value();
  CHECK(gated.leftCols(2).norm() == 0.0);
  CHECK(gated.col(2) == plain.col(2));
  CHECK(gated.col(3) == 2.0 * plain.col(3));
  std::vector<index_t> perm{3, 1};
  const matrix<double> gp = emb(t, b, perm).value();
  CHECK(gp.row(0) == gated.row(3));
  g.g.pop_back();
  CHECK_THROWS_WITH(emb(t, b), Catch::Contains("field gate is [1, 12]"));
}

TEST_CASE("featsel: rank-guided mask and learnable gate pass the gradient check through a registry model",
          "[featsel][gradcheck]") {
  const auto d = featsel::known_importance::generate(24, 4);
  const auto& s = d.get_schema();
  models::shared_bottom_options o;
  o.embedding.dim = 3;
  o.embedding.init_stddev = 0.5;
  o.bottom_dims = {6};
  o.tower_dims = {4};
  o.batch_norm = false;
  rng gen(9);
  models::shared_bottom<double> model(s, o, gen);
  std::vector<index_t> rows(24);
  std::iota(rows.begin(), rows.end(), index_t{0});
  data::batch<double> b;
  d.gather(std::span<const index_t>(rows), b);
  feature_ranking r1 = truth_order(), r2 = truth_order();
  std::reverse(r2.order.begin(), r2.order.end());
  featsel::rank_guided_mask<double> mask(s, {r1, r2}, {.tau = 4.0, .beta = 0.5});
  mask.w().value() << 0.3, -0.7;
  testing::gradcheck_options opt;
  opt.samples_per_param = 4;
  {
    featsel::gated_model gm(model, mask);
    auto params = nn::parameters(gm);
    auto res = testing::gradcheck<double>(
        [&](tape<double>& t) { return loss::bce_with_logits(t, gm(t, b), t.view(b.labels.data(), b.size, 1)); }, params, opt);
    INFO(res.summary());
    CHECK(res.passed);
    // w gets a gradient: the mask is not constant (some field is masked with beta = 0.5, N = 13)
    tape<double> t;
    t.backward(loss::bce_with_logits(t, gm(t, b), t.view(b.labels.data(), b.size, 1)));
    CHECK(mask.w().grad().norm() > 0);
  }
  featsel::learnable_gate<double> gate(s, {.lambda = 0.1, .init = 0.4});
  gate.logits().value()(0, 2) = -1.0;
  {
    featsel::gated_model gm(model, gate);
    auto res = testing::gradcheck<double>(
        [&](tape<double>& t) {
          const var<double> y = t.view(b.labels.data(), b.size, 1);
          return ops::add(t, loss::bce_with_logits(t, gm(t, b), y), gm.auxiliary_loss(t, b, y));
        },
        nn::parameters(gm), opt);
    INFO(res.summary());
    CHECK(res.passed);
  }
  // detached on destruction: the model is ungated again
  CHECK(featsel::attach_field_gate(model, nullptr) == 1);
  // weights and scores: uniform w gives the mean of the linear position scores
  featsel::rank_guided_mask<double> uniform(s, {r1, r2});
  const auto h = uniform.scores();
  for (double x : h) CHECK(x == Approx(0.5 * ((1.0 - 0.0 / 13) + (1.0 - 12.0 / 13))));
  CHECK(uniform.ranking().order == r1.order);  // all ties: the first ranking's order
  CHECK_THROWS_WITH(featsel::rank_guided_mask<double>(s, {}), Catch::Contains("K >= 1"));
  CHECK_THROWS_WITH(featsel::rank_guided_mask<double>(s, {r1}, {.tau = 0}), Catch::Contains("tau"));
  CHECK_THROWS_WITH(featsel::rank_guided_mask<double>(s, {r1}, {.beta = 1.0}), Catch::Contains("beta"));
  feature_ranking short_r = r1;
  short_r.order.pop_back();
  CHECK_THROWS_WITH(featsel::rank_guided_mask<double>(s, {short_r}), Catch::Contains("ranks 12 fields"));
}

TEST_CASE("featsel: LLM ranking policy asks one feature per step with a tight schema", "[featsel][llm]") {
  const auto d = featsel::known_importance::generate(300, 5);
  const std::vector<std::string> picks = {"income", "category", "latitude_zone", "longitude_zone", "hour", "device",
                                          "income_k", "category_group", "ad_slot", "noise_score", "session_bucket", "day_of_month"};
  llm::scripted_client client;
  for (const auto& p : picks) client.then_answer(answer(p));
  featsel::llm_ranking_policy policy(client, {.initial = std::vector<std::string>{},
                                              .descriptors = {.descriptions = featsel::known_importance::descriptions()}});
  const auto r = policy.rank(d, d);
  r.check(d.get_schema());
  CHECK(r.order.front() == "income");
  CHECK(r.order.back() == "browser_version");  // the last candidate is appended without asking
  CHECK(client.calls() == 12);
  CHECK(policy.stats().first_valid == 12);
  CHECK(policy.stats().fallbacks == 0);
  const auto reqs = client.requests();
  const std::string p0 = reqs[0].messages[0].content;
  for (const char* part : {"Instructions:", "Task:", "Dataset:", "Features:", "Selected features: none", "Candidate features: [",
                           "Expected behaviour:", "Output format:", "latitude band of the user's location"})
    CHECK(p0.find(part) != std::string::npos);
  CHECK(reqs[0].options.format.kind == llm::format_kind::json_schema);
  CHECK(reqs[0].options.format.schema["properties"]["feature"]["enum"].size() == 13);
  CHECK(reqs[1].options.format.schema["properties"]["feature"]["enum"].size() == 12);
  CHECK(reqs[1].messages[0].content.find("Selected features: [income]") != std::string::npos);
}

TEST_CASE("featsel: LLM ranking bad answers are re-asked, then a counted fallback", "[featsel][llm]") {
  const auto d = featsel::known_importance::generate(300, 6);
  feature_ranking fb = truth_order();
  std::reverse(fb.order.begin(), fb.order.end());  // fallback picks ad_slot first
  llm::scripted_client client;
  client.then_answer(answer("zip_code"))               // unknown
      .then_answer(answer("income"))                   // already selected (initial)
      .then_answer("{\"feature\": [\"hour\", \"device\"]}")  // two at once
      // third strike: fallback
      .then_answer("{}")                               // step 2: nothing
      .then_answer("no json here")                     // step 2: no JSON
      .then_answer(answer("hour"));                    // step 2: valid on the second re-ask
  client.otherwise([](const llm::chat_request& r) {
    const auto& e = r.options.format.schema["properties"]["feature"]["enum"];
    return llm::scripted_client::make_response(r, "{\"feature\": \"" + e[0].get<std::string>() + "\"}");
  });
  featsel::llm_ranking_policy policy(client, {.initial = std::vector<std::string>{"income"}, .max_attempts = 3}, fb);
  const auto r = policy.rank(d, d);
  r.check(d.get_schema());
  CHECK(r.order[0] == "income");
  CHECK(r.order[1] == "ad_slot");  // the fallback's highest remaining candidate
  CHECK(r.order[2] == "hour");
  CHECK(r.fallbacks == 1);
  const auto& st = policy.stats();
  CHECK(st.fallbacks == 1);
  CHECK(st.failures.at("unknown_feature") == 1);
  CHECK(st.failures.at("already_selected") == 1);
  CHECK(st.failures.at("several") == 1);
  CHECK(st.failures.at("no_feature") == 1);
  CHECK(st.failures.at("no_json") == 1);
  CHECK(st.retries == 4);
  CHECK(st.steps == 11);
  CHECK(st.first_valid == 9);
  // the re-ask carries the answer and a corrective message naming the problem
  const auto reqs = client.requests();
  REQUIRE(reqs[1].messages.size() == 3);
  CHECK(reqs[1].messages[2].content.find("'zip_code' is not a candidate") != std::string::npos);
  // K prompt orders: the listing order differs with the seed, the schema stays the candidate set
  llm::scripted_client c2;
  c2.otherwise([](const llm::chat_request& r) {
    const auto& e = r.options.format.schema["properties"]["feature"]["enum"];
    return llm::scripted_client::make_response(r, "{\"feature\": \"" + e[0].get<std::string>() + "\"}");
  });
  featsel::llm_ranking_policy k1(c2, {.initial = std::vector<std::string>{}, .order_seed = 1});
  featsel::llm_ranking_policy k2(c2, {.initial = std::vector<std::string>{}, .order_seed = 2});
  CHECK(k1.rank(d, d).order != k2.rank(d, d).order);
  // bad options and input
  CHECK_THROWS_WITH(featsel::llm_ranking_policy(client, {.max_attempts = 0}), Catch::Contains("max_attempts = 0"));
  featsel::llm_ranking_policy bad(client, {.initial = std::vector<std::string>{"zip"}});
  CHECK_THROWS_WITH(bad.rank(d, d), Catch::Contains("'zip'"));
  // default initial set: the id fields present
  const auto two = tiny_two_field(10);
  featsel::llm_ranking_policy ids(client);
  CHECK(ids.initial_set(two.get_schema()) == std::vector<std::string>{"user_id"});
}

TEST_CASE("featsel: model policies rank the synthetic fields through the registry", "[featsel][slow]") {
  const auto train = featsel::known_importance::generate(6000, 21);
  const auto valid = featsel::known_importance::generate(2000, 22);
  featsel::model_spec spec;
  spec.options = {{"bottom_dims", {32}}, {"tower_dims", {8}}};
  spec.trainer.epochs = 3;
  spec.trainer.batch_size = 256;
  spec.trainer.learning_rate = 3e-3;
  const auto truth = featsel::known_importance::truth();
  featsel::permutation_importance_policy<float> perm(spec);
  const auto rp = perm.rank(train, valid);
  rp.check(train.get_schema());
  CHECK(truth.at(rp.order[0]) >= 1);  // the most important field by permutation is not an irrelevant one
  CHECK(rp.scores.front() > 0.01);     // shuffling it costs AUC
  CHECK(rp.scores.back() < 0.01);      // shuffling the least important costs (almost) nothing
  featsel::learnable_gate_policy<float> gate(spec);
  const auto rg = gate.rank(train, valid);
  rg.check(train.get_schema());
  feature_ranking good = truth_order(), bad = truth_order();
  std::reverse(bad.order.begin(), bad.order.end());
  featsel::bridge_policy<float> bridge({good, bad}, spec);
  const auto rb = bridge.rank(train, valid);
  rb.check(train.get_schema());
  REQUIRE(bridge.last_weights().size() == 2);
  CHECK(bridge.last_weights()[0] > bridge.last_weights()[1]);  // the truthful ranking gains weight
  CHECK(bridge.last_seconds() > 0);
  // d and field-count errors at the boundary
  CHECK_THROWS_WITH(featsel::select_fields(train, rb.top(0)), Catch::Contains("d = 0"));
}
