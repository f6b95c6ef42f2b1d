// featsel/ (AltFS, issue 15): descriptors, rankings and metrics, mutual information, field selection,
// the field gate on feature_embedding (gradient-checked: rank-guided mask and learnable gate through a
// registry model), the LLM ranking policy (structured output, re-asks, counted fallback), the
// model-training policies on the synthetic dataset with known importance, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

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

// Issue 15 follow-up: the bridge row of the first table (Spearman 0.002 with the truth) was suspected of a
// degenerate h*. These pin h* to hand-computed values on a schema whose selectable order (sparse first,
// then dense) differs from every ranking's order, so a ranking read by position instead of by field, a
// reversed score, or ties broken by column index would fail them.
namespace {
data::schema four_field_schema() {
  data::schema s;
  s.add({.name = "a", .kind = data::feature_kind::sparse, .vocabulary = 3});
  s.add({.name = "b", .kind = data::feature_kind::dense});
  s.add({.name = "c", .kind = data::feature_kind::sparse, .vocabulary = 3});
  s.add({.name = "d", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 1});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;  // selectable fields / gate columns: a, c, b, d
}

feature_ranking ranked(std::vector<std::string> order) {
  feature_ranking r;
  r.policy = "hand";
  r.order = std::move(order);
  return r;
}
}  // namespace

TEST_CASE("featsel: bridge h* matches a hand computation (K = 3) and K identical rankings give that ranking", "[featsel]") {
  const auto s = four_field_schema();
  REQUIRE(featsel::selectable_fields(s) == std::vector<std::string>{"a", "c", "b", "d"});
  // K = 3, N = 4; w = (4 ln 3, 4 ln 2, 0), tau = 4: pi = softmax(w / 4) = (3, 2, 1) / 6.
  // position scores 1 - t/N for t = 0..3: 1, 3/4, 1/2, 1/4.
  //   r1 = a b c d, r2 = c a b d, r3 = d c b a
  //   h_a = 1/2 * 1   + 1/3 * 3/4 + 1/6 * 1/4 = 19/24
  //   h_b = 1/2 * 3/4 + 1/3 * 1/2 + 1/6 * 1/2 = 15/24
  //   h_c = 1/2 * 1/2 + 1/3 * 1   + 1/6 * 3/4 = 17/24
  //   h_d = 1/2 * 1/4 + 1/3 * 1/4 + 1/6 * 1   =  9/24      -> h* order: a, c, b, d
  featsel::rank_guided_mask<double> m(s, {ranked({"a", "b", "c", "d"}), ranked({"c", "a", "b", "d"}), ranked({"d", "c", "b", "a"})});
  m.w().value() << 4 * std::log(3.0), 4 * std::log(2.0), 0.0;
  const auto pi = m.weights();
  REQUIRE(pi.size() == 3);
  CHECK(pi[0] == Approx(3.0 / 6));
  CHECK(pi[1] == Approx(2.0 / 6));
  CHECK(pi[2] == Approx(1.0 / 6));
  const auto h = m.scores();  // in selectable order a, c, b, d
  REQUIRE(h.size() == 4);
  CHECK(h[0] == Approx(19.0 / 24));
  CHECK(h[1] == Approx(17.0 / 24));
  CHECK(h[2] == Approx(15.0 / 24));
  CHECK(h[3] == Approx(9.0 / 24));
  const auto r = m.ranking();
  CHECK(r.order == std::vector<std::string>{"a", "c", "b", "d"});
  REQUIRE(r.scores.size() == 4);
  CHECK(r.scores[0] == Approx(19.0 / 24));
  CHECK(r.scores[3] == Approx(9.0 / 24));
  // a weight moved onto the third ranking moves h* towards it: w = (0, 0, 8) -> pi_3 = e^2 / (2 + e^2)
  m.w().value() << 0.0, 0.0, 8.0;
  CHECK(m.ranking().order.front() == "d");

  // K identical rankings, whatever w: h* = 1 - t/N, the ranking itself (here against the schema order)
  for (const auto& order : {std::vector<std::string>{"d", "b", "c", "a"}, std::vector<std::string>{"c", "d", "a", "b"}}) {
    featsel::rank_guided_mask<double> same(s, {ranked(order), ranked(order), ranked(order)});
    same.w().value() << 1.0, -2.0, 0.5;
    const auto hr = same.ranking();
    CHECK(hr.order == order);
    for (std::size_t p = 0; p < 4; ++p) CHECK(hr.scores[p] == Approx(1.0 - double(p) / 4));
  }
  // the same on the 13-field synthetic schema (3 dense fields after 10 sparse), with a shuffled order
  const auto ks = featsel::known_importance::schema();
  feature_ranking shuffled = truth_order();
  std::vector<std::string> o = shuffled.order;
  std::rotate(o.begin(), o.begin() + 5, o.end());
  std::swap(o[0], o[12]);
  shuffled.order = o;
  featsel::rank_guided_mask<double> same13(ks, {shuffled, shuffled, shuffled});
  same13.w().value() << 0.2, 3.0, -1.0;
  CHECK(same13.ranking().order == o);
}

TEST_CASE("featsel: the rank-guided mask drops the fields ranked last, by name", "[featsel]") {
  const auto s = four_field_schema();
  data::dataset d(s);
  const index_t sp[2] = {1, 2};
  const double dn[2] = {0.5, -0.5}, y[1] = {1.0};
  d.append(sp, dn, 0, y);
  data::batch<double> b;
  const index_t row[1] = {0};
  d.gather(std::span<const index_t>(row, 1), b);
  // one ranking d, b, c, a; beta = 0.5, N = 4: r ~ U{0, 1, 2} last fields masked: a, then c
  featsel::rank_guided_mask<double> m(s, {ranked({"d", "b", "c", "a"})}, {.tau = 4.0, .beta = 0.5});
  std::map<index_t, int> seen;  // number of masked fields -> count
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    tape<double> t(tape_mode::train, seed);
    const auto g = m.gate(t, b).value();  // columns a, c, b, d
    REQUIRE(g.cols() == 4);
    CHECK(g(0, 3) == 1.0);  // d: ranked first, never masked
    CHECK(g(0, 2) == 1.0);  // b: ranked second, never masked (r <= 2)
    if (g(0, 1) == 0.0) CHECK(g(0, 0) == 0.0);  // c masked only with a
    ++seen[static_cast<index_t>((g(0, 0) == 0.0) + (g(0, 1) == 0.0))];
  }
  CHECK(seen.size() == 3);  // 0, 1 and 2 masked fields all occur
  tape<double> inf(tape_mode::infer);
  CHECK(m.gate(inf, b).value().minCoeff() == 1.0);  // no masking at inference
}

TEST_CASE("featsel: the recorded Gemma prompt-order rankings and their bridge (diagnosis of the 0.002 row)", "[featsel]") {
  // The three rankings Gemma 3 270M gave in prompt orders 0, 1, 2 (examples/data/altfs_records.jsonl.gz).
  const auto truth = featsel::known_importance::truth();
  const auto s = featsel::known_importance::schema();
  const feature_ranking o0 = ranked({"category_group", "category", "latitude_zone", "device", "longitude_zone", "hour", "browser_version",
                                     "day_of_month", "session_bucket", "ad_slot", "income_k", "income", "noise_score"});
  const feature_ranking o1 = ranked({"day_of_month", "device", "ad_slot", "browser_version", "category_group", "category", "income_k",
                                     "latitude_zone", "noise_score", "income", "session_bucket", "longitude_zone", "hour"});
  const feature_ranking o2 = ranked({"category_group", "category", "device", "browser_version", "latitude_zone", "session_bucket",
                                     "income_k", "income", "ad_slot", "hour", "noise_score", "day_of_month", "longitude_zone"});
  // they do not all agree with the truth: only order 0 does (0.414), order 1 is anti-correlated
  CHECK(featsel::spearman(o0, truth) == Approx(0.4144).margin(1e-4));
  CHECK(featsel::spearman(o1, truth) == Approx(-0.3860).margin(1e-4));
  CHECK(featsel::spearman(o2, truth) == Approx(0.1760).margin(1e-4));
  // uniform w: h* is the Borda count; position sums (hand): category_group 4, device 6, category 7,
  // browser_version 12, latitude_zone 13, day_of_month 18, ad_slot 19, income_k 22, session_bucket 23,
  // hour 26, longitude_zone 27 = income 27 (tie: order 0 lists longitude_zone first), noise_score 30
  featsel::rank_guided_mask<double> m(s, {o0, o1, o2});
  const auto r = m.ranking();
  CHECK(r.order == std::vector<std::string>{"category_group", "device", "category", "browser_version", "latitude_zone", "day_of_month",
                                            "ad_slot", "income_k", "session_bucket", "hour", "longitude_zone", "income", "noise_score"});
  // so the bridge's near-zero correlation is the mean of +0.41, -0.39 and +0.18, not a defect of h*
  CHECK(std::abs(featsel::spearman(r, truth)) < 0.05);
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
