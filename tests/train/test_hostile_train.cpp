// Training under hostile options and data (issue 25, items 9 and 13): non-finite options are refused up
// front, a diverging run stops with an error naming the step, a configuration that would skip every
// batch is refused, loss::bce refuses probabilities outside [0, 1], and the opt-in finite check refuses
// NaN/inf dense features and logits.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/loss/bce.hpp>
#include <recblocks/models.hpp>
#include <recblocks/train.hpp>

using namespace recblocks;

namespace {

data::synthetic hostile_data(index_t rows = 1200) {
  data::synthetic_config c;
  c.rows = rows;
  c.users = 60;
  c.items = 40;
  return data::synthetic(c);
}

using model_type = models::shared_bottom<float>;

model_type hostile_model(const data::schema& s) {
  models::shared_bottom_options o;
  o.embedding.dim = 4;
  o.bottom_dims = {8};
  o.tower_dims = {4};
  rng g(5);
  return model_type(s, o, g);
}

/// A copy of `d` whose dense feature 0 is `value` at row `row`.
data::dataset with_dense(const data::dataset& d, index_t row, double value) {
  data::dataset out(d.get_schema());
  const auto& s = d.get_schema();
  std::vector<index_t> sp(static_cast<std::size_t>(s.sparse_count()));
  std::vector<double> de(static_cast<std::size_t>(s.dense_count()));
  for (index_t r = 0; r < d.rows(); ++r) {
    for (index_t f = 0; f < s.sparse_count(); ++f) sp[std::size_t(f)] = d.sparse_column(f)[std::size_t(r)];
    for (index_t j = 0; j < s.dense_count(); ++j) de[std::size_t(j)] = d.dense_column(j)[std::size_t(r)];
    if (r == row) de[0] = value;
    const double y = d.label_column(0)[std::size_t(r)];
    out.append(sp, de, d.scenario_column()[std::size_t(r)], std::span<const double>(&y, 1));
  }
  return out;
}

}  // namespace

TEST_CASE("trainer: non-finite or out-of-range options are refused before training", "[train][trainer][hostile]") {
  const auto gen = hostile_data();
  model_type m = hostile_model(gen.data().get_schema());
  auto refused = [&](train::trainer_options o, const std::string& why) {
    INFO(why);
    CHECK_THROWS_WITH(train::trainer<model_type>(m, o), Catch::Contains(why));
  };
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  train::trainer_options o;
  o.learning_rate = inf;
  refused(o, "learning_rate must be finite");
  o.learning_rate = nan;
  refused(o, "learning_rate must be finite");
  o.learning_rate = -1e-3;
  refused(o, "learning_rate must be finite and > 0");
  o = {};
  o.weight_decay = nan;
  refused(o, "weight_decay must be finite");
  o.weight_decay = inf;
  refused(o, "weight_decay must be finite");
  o = {};
  o.schedule = {.step_size = 1, .gamma = inf};
  refused(o, "finite schedule.gamma");
}

TEST_CASE("trainer: a diverging run stops with an error naming the step", "[train][trainer][hostile]") {
  const auto gen = hostile_data();
  const auto parts = gen.split({0.8, 0.1, 0.1}, 7);
  model_type m = hostile_model(gen.data().get_schema());
  train::trainer_options o;
  o.epochs = 3;
  o.batch_size = 64;
  o.learning_rate = 1e308;  // finite, and diverges within a few steps
  train::trainer<model_type> tr(m, o);
  try {
    tr.fit(parts.parts[0], parts.parts[1]);
    FAIL("a diverging run ended without an error");
  } catch (const value_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("training diverged"));
    CHECK_THAT(what, Catch::Contains("epoch 1, batch"));
    CHECK_THAT(what, Catch::Contains("(step "));
  }
}

TEST_CASE("trainer: a diverging run restores the best epoch's weights before stopping", "[train][trainer][hostile]") {
  const auto gen = hostile_data();
  const auto parts = gen.split({0.8, 0.1, 0.1}, 7);
  model_type m = hostile_model(gen.data().get_schema());
  train::trainer_options o;
  o.epochs = 4;
  o.batch_size = 64;
  o.learning_rate = 1e-2;
  index_t epochs_seen = 0;
  // a sane first epoch, then the learning rate explodes
  o.schedule = {.step_size = 1, .gamma = 1e150};
  train::trainer<model_type> tr(m, o, {.on_epoch_end = [&](const train::epoch_info&) { ++epochs_seen; }});
  CHECK_THROWS_WITH(tr.fit(parts.parts[0], parts.parts[1]), Catch::Contains("best epoch's weights were restored"));
  CHECK(epochs_seen >= 1);
  for (const auto& [name, p] : nn::named_parameters(m)) {
    INFO(name);
    CHECK(p->value().allFinite());
  }
  const auto report = tr.evaluate(parts.parts[2]);
  CHECK(std::isfinite(report.overall().auc));
}

TEST_CASE("trainer: a configuration that skips every batch is refused", "[train][trainer][hostile]") {
  const auto gen = hostile_data();
  model_type m = hostile_model(gen.data().get_schema());
  train::trainer_options o;
  o.batch_size = 1;
  train::trainer<model_type> tr(m, o);
  CHECK_THROWS_WITH(tr.fit(gen.data()), Catch::Contains("would skip every batch"));
  o.batch_size = 64;
  data::dataset one(gen.data().get_schema());
  const auto& s = gen.data().get_schema();
  std::vector<index_t> sp(static_cast<std::size_t>(s.sparse_count()), 1);
  std::vector<double> de(static_cast<std::size_t>(s.dense_count()), 0.5);
  const double y = 1;
  one.append(sp, de, 0, std::span<const double>(&y, 1));
  train::trainer<model_type> tr2(m, o);
  CHECK_THROWS_WITH(tr2.fit(one), Catch::Contains("1 training rows would skip every batch"));
  o.epochs = 0;  // nothing asked, nothing refused
  train::trainer<model_type> tr3(m, o);
  CHECK(tr3.fit(one).steps == 0);
}

TEST_CASE("trainer: the opt-in finite check refuses NaN/inf dense features and logits", "[train][trainer][hostile]") {
  const auto gen = hostile_data();
  REQUIRE(gen.data().get_schema().dense_count() > 0);
  const data::dataset bad = with_dense(gen.data(), 17, std::numeric_limits<double>::quiet_NaN());
  const data::dataset worse = with_dense(gen.data(), 3, std::numeric_limits<double>::infinity());
  model_type m = hostile_model(gen.data().get_schema());
  train::trainer_options o;
  o.batch_size = 64;
  o.check_finite = true;
  train::trainer<model_type> tr(m, o);
  CHECK_THROWS_WITH(tr.predict(bad), Catch::Contains("at row 17"));
  CHECK_THROWS_WITH(tr.evaluate(worse), Catch::Contains("is inf at row 3"));
  CHECK_THROWS_WITH(tr.fit(bad), Catch::Contains("training data's dense feature"));
  CHECK_THROWS_WITH(tr.fit(gen.data(), &bad), Catch::Contains("validation data's dense feature"));
  // non-finite weights give non-finite logits: refused by name of the row
  nn::named_parameters(m).front().second->value().setConstant(std::numeric_limits<float>::quiet_NaN());
  CHECK_THROWS_WITH(tr.predict(gen.data()), Catch::Contains("logit of row 0"));
  // off (the default): no scan, the caller's choice
  o.check_finite = false;
  train::trainer<model_type> unchecked(m, o);
  CHECK(std::isnan(unchecked.predict(gen.data()).front()));
}

TEST_CASE("loss::bce refuses probabilities outside [0, 1]", "[loss][hostile]") {
  tape<double> t(tape_mode::train);
  matrix<double> p(3, 1), y(3, 1);
  p << 0.2, 1.5, 0.7;
  y << 0, 1, 1;
  const var<double> pv = t.view(p.data(), 3, 1), yv = t.view(y.data(), 3, 1);
  CHECK_THROWS_WITH(loss::bce(t, pv, yv), Catch::Contains("probability 1.500000 at index 1 is outside [0, 1]"));
  p(1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(loss::bce(t, pv, yv), value_error);
  p(1) = 1.0;  // the boundary is a probability
  CHECK(std::isfinite(loss::bce(t, pv, yv).item()));
}
