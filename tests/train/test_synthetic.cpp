// The synthetic multi-scenario generator and its Bayes-optimal report.
#include <catch2/catch.hpp>

#include <recblocks/data/synthetic.hpp>
#include <recblocks/eval/bayes_report.hpp>

using namespace recblocks;

TEST_CASE("synthetic: default data, Bayes AUC, scenario base rates", "[data][synthetic]") {
  const data::synthetic g;
  const auto& d = g.data();
  REQUIRE(d.rows() == 60000);
  const auto& s = d.get_schema();
  CHECK(s.sparse_count() == 5);
  CHECK(s.dense_count() == 2);
  CHECK(s.scenario_count() == 3);
  CHECK(s.label_count() == 1);
  CHECK(s.sequence_count() == 0);
  d.validate();
  const auto counts = d.scenario_counts();
  CHECK(counts[0] > counts[1]);  // weights 0.5 / 0.3 / 0.2
  CHECK(counts[1] > counts[2]);

  const auto bayes = eval::bayes_report(g);
  CHECK(bayes.overall().auc > 0.75);
  REQUIRE(bayes.scenarios() == 3);
  for (index_t k = 0; k < 3; ++k) CHECK(bayes.scenario(k).auc > 0.7);
  // scenario-dependent base rates: increasing with b_s and clearly apart
  CHECK(bayes.scenario(1).positive_rate - bayes.scenario(0).positive_rate > 0.08);
  CHECK(bayes.scenario(2).positive_rate - bayes.scenario(1).positive_rate > 0.08);
  // the true probabilities are calibrated: mean probability ~ positive rate
  double mean_p = 0;
  for (double p : g.probability()) mean_p += p;
  mean_p /= static_cast<double>(d.rows());
  CHECK(mean_p == Approx(bayes.overall().positive_rate).margin(0.01));
  // a constant predictor has AUC 0.5 whatever the labels: the Bayes AUC is not an artefact
  const std::vector<double> constant(static_cast<std::size_t>(d.rows()), 0.5);
  CHECK(eval::auc(d.label_column(0), constant) == 0.5);
}

TEST_CASE("synthetic: deterministic per seed, optional sequences and text, split", "[data][synthetic]") {
  data::synthetic_config c;
  c.rows = 3000;
  c.users = 200;
  c.items = 150;
  c.history_length = 6;
  c.text_tokens = 4;
  c.text_vocabulary = 64;
  c.scenarios = 4;
  c.scenario_weights = {};
  c.scenario_bias = {};
  const data::synthetic a(c), b(c);
  c.seed += 1;
  const data::synthetic other(c);
  REQUIRE(a.data().rows() == 3000);
  CHECK(std::equal(a.logit().begin(), a.logit().end(), b.logit().begin()));
  CHECK(std::equal(a.data().label_column(0).begin(), a.data().label_column(0).end(), b.data().label_column(0).begin()));
  CHECK(!std::equal(a.logit().begin(), a.logit().end(), other.logit().begin()));
  REQUIRE(a.scenario_bias().size() == 4);  // evenly spaced in [-1.1, 0.5]
  CHECK(a.scenario_bias()[1] == Approx(-1.1 + 1.6 / 3));
  CHECK(a.scenario_bias()[3] == Approx(0.5));
  const auto& s = a.data().get_schema();
  REQUIRE(s.sequence_count() == 2);
  CHECK(s.at("history").max_length == 6);
  CHECK(s.at("item_tokens").vocabulary == 65);
  a.data().validate();
  // a user's history is the same on all of their rows; item tokens follow the item
  data::batch<float> batch;
  const index_t rows[] = {0, 1, 2, 3};
  a.data().gather<float>(rows, batch);
  REQUIRE(batch.sequences.size() == 2);
  CHECK(batch.sequences[0](0, 0) >= 1);  // at least one history item
  CHECK(batch.sequences[1](0, 3) >= 1);  // T tokens, no padding

  const auto parts = a.split({0.8, 0.1, 0.1}, 7);
  CHECK(parts.parts[0].rows() == 2400);
  CHECK(parts.parts[2].rows() == 300);
  CHECK(parts.probability[2].size() == 300);
  const auto test_report = eval::bayes_report(parts.parts[2], parts.probability[2]);
  CHECK(test_report.overall().count == 300);
  CHECK(test_report.scenarios() == 4);

  data::synthetic_config bad;
  bad.scenarios = 2;  // three default weights
  CHECK_THROWS_AS(data::synthetic(bad), value_error);
  bad = {};
  bad.rows = 0;
  CHECK_THROWS_AS(data::synthetic(bad), value_error);
}

TEST_CASE("synthetic: named settings (demo, classic) with overrides", "[data][synthetic]") {
  const data::synthetic_config classic = data::synthetic_config::named("classic"), defaults;
  CHECK(classic.users == defaults.users);
  CHECK(classic.items == defaults.items);
  CHECK(classic.specific_scale == defaults.specific_scale);
  const data::synthetic_config demo = data::synthetic_config::named("demo"), expect = data::synthetic_config::demo();
  CHECK(demo.users == expect.users);
  CHECK(demo.items == expect.items);
  CHECK(demo.user_bias == expect.user_bias);
  CHECK(demo.shared_scale == expect.shared_scale);
  CHECK(demo.specific_scale == expect.specific_scale);
  CHECK(demo.rows == defaults.rows);  // rows are the caller's
  const data::synthetic_config o = data::synthetic_config::named("demo,users=123,specific_scale=0.25");
  CHECK(o.users == 123);
  CHECK(o.specific_scale == 0.25);
  CHECK(o.items == expect.items);
  CHECK_THROWS_AS(data::synthetic_config::named("large"), value_error);
  CHECK_THROWS_AS(data::synthetic_config::named("demo,colour=1"), value_error);
  CHECK_THROWS_AS(data::synthetic_config::named("demo,users=many"), value_error);
  CHECK_THROWS_AS(data::synthetic_config::named("demo,users"), value_error);
  CHECK_THROWS_AS(data::synthetic_config::named("demo,users=12x"), value_error);
  // the demo setting generates (ids within the smaller catalogues)
  data::synthetic_config small = data::synthetic_config::demo();
  small.rows = 2000;
  const data::synthetic g(small);
  CHECK(g.data().rows() == 2000);
  CHECK(g.data().get_schema().at("user_id").vocabulary == small.users + 1);
  CHECK(g.data().get_schema().at("item_id").vocabulary == small.items + 1);
}
