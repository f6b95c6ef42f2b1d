// train::trainer: learns the synthetic click model, reproducible loss curves, early stopping with
// best-weight restore, learning-rate schedule, callbacks, evaluation report.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <recblocks/data/movielens.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/eval/bayes_report.hpp>
#include <recblocks/models.hpp>
#include <recblocks/train.hpp>

using namespace recblocks;

namespace {

data::synthetic make_data(index_t rows, index_t users = 300, index_t items = 200) {
  data::synthetic_config c;
  c.rows = rows;
  c.users = users;
  c.items = items;
  return data::synthetic(c);
}

/// The same rows with every label flipped (0 <-> 1).
data::dataset flipped(const data::dataset& d) {
  data::dataset out(d.get_schema());
  const auto& s = d.get_schema();
  std::vector<index_t> sp(static_cast<std::size_t>(s.sparse_count()));
  std::vector<double> de(static_cast<std::size_t>(s.dense_count()));
  for (index_t r = 0; r < d.rows(); ++r) {
    for (index_t f = 0; f < s.sparse_count(); ++f) sp[std::size_t(f)] = d.sparse_column(f)[std::size_t(r)];
    for (index_t j = 0; j < s.dense_count(); ++j) de[std::size_t(j)] = d.dense_column(j)[std::size_t(r)];
    const double y = 1.0 - d.label_column(0)[std::size_t(r)];
    out.append(sp, de, d.scenario_column()[std::size_t(r)], std::span<const double>(&y, 1));
  }
  return out;
}

}  // namespace

TEST_CASE("trainer: MMoE learns the synthetic data; callbacks and per-scenario report", "[train][trainer]") {
  const auto gen = make_data(8000, 100, 50);  // ~64 rows per user: per-user effects are learnable
  const auto parts = gen.split({0.8, 0.1, 0.1}, 2022);
  rng g(1);
  models::mmoe<float> model(gen.data().get_schema(), {}, g);
  index_t steps = 0, epochs = 0;
  double last_lr = 0;
  train::trainer_options o;
  o.epochs = 3;
  o.batch_size = 256;
  o.learning_rate = 3e-3;
  o.schedule = {.step_size = 1, .gamma = 0.5};
  train::trainer<models::mmoe<float>> tr(model, o,
                                         {.on_step = [&](const train::step_info& s) {
                                            ++steps;
                                            CHECK(s.step == steps);
                                            CHECK(std::isfinite(s.loss));
                                            last_lr = s.learning_rate;
                                          },
                                          .on_epoch_end = [&](const train::epoch_info& e) {
                                            CHECK(e.epoch == epochs++);
                                            REQUIRE(e.validation);
                                            CHECK(e.learning_rate == Approx(3e-3 * std::pow(0.5, double(e.epoch))));
                                          }});
  const double auc_before = tr.evaluate(parts.parts[1]).overall().auc;
  const auto res = tr.fit(parts.parts[0], parts.parts[1]);
  CHECK(epochs == 3);
  CHECK(steps == 3 * 25);  // ceil(6400 / 256)
  CHECK(res.steps == steps);
  CHECK(last_lr == Approx(0.75e-3));
  CHECK(tr.optimizer().learning_rate() == Approx(0.75e-3f));
  const auto report = tr.evaluate(parts.parts[2]);
  const auto bayes = eval::bayes_report(parts.parts[2], parts.probability[2]);
  INFO("test AUC " << report.overall().auc << " (before training " << auc_before << ", Bayes " << bayes.overall().auc << ")");
  CHECK(report.overall().auc > auc_before + 0.15);
  CHECK(report.overall().auc > bayes.overall().auc - 0.15);
  CHECK(report.overall().auc <= bayes.overall().auc + 0.03);
  index_t counted = 0;
  for (const auto& s : report.per_scenario()) {
    counted += s.count;
    CHECK(s.auc > 0.55);
  }
  CHECK(counted == parts.parts[2].rows());
  CHECK(res.best_epoch >= 0);
  CHECK(res.best_auc == tr.evaluate(parts.parts[1]).overall().auc);  // best weights are the final ones
}

TEST_CASE("trainer: the same seed gives a bit-identical loss curve", "[train][trainer]") {
  const auto gen = make_data(3000);
  auto curve = [&](std::uint64_t seed) {
    rng g(5);
    models::shared_bottom_options so;
    so.dropout = 0.2;  // the dropout masks are part of what must repeat
    models::shared_bottom<double> model(gen.data().get_schema(), so, g);
    std::vector<double> losses;
    train::trainer_options o;
    o.epochs = 2;
    o.batch_size = 500;
    o.seed = seed;
    train::trainer<models::shared_bottom<double>> tr(model, o, {.on_step = [&](const train::step_info& s) { losses.push_back(s.loss); }});
    tr.fit(gen.data());
    return losses;
  };
  const auto a = curve(11), b = curve(11), c = curve(12);
  REQUIRE(a.size() == 12);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("trainer: early stopping restores the best epoch; one-row batches are skipped", "[train][trainer]") {
  const auto gen = make_data(2001);  // 2001 = 4 * 500 + 1: the last batch holds one row
  const data::dataset& d = gen.data();
  const data::dataset anti = flipped(d);  // learning d makes the AUC on `anti` worse after epoch 0
  rng g(3);
  models::shared_bottom<float> model(d.get_schema(), {}, g);
  std::vector<double> aucs;
  train::trainer_options o;
  o.epochs = 20;
  o.batch_size = 500;
  o.learning_rate = 1e-2;
  o.patience = 2;
  train::trainer<models::shared_bottom<float>> tr(
      model, o, {.on_epoch_end = [&](const train::epoch_info& e) { aucs.push_back(e.validation->overall().auc); }});
  const auto res = tr.fit(d, anti);
  INFO("validation AUCs: " << Catch::Detail::stringify(aucs));
  CHECK(res.stopped_early);
  CHECK(res.history.size() == std::size_t(res.best_epoch) + 3);
  CHECK(res.best_auc == aucs[std::size_t(res.best_epoch)]);
  for (double a : aucs) CHECK(a <= res.best_auc);
  CHECK(tr.evaluate(anti).overall().auc == res.best_auc);  // the best epoch's weights are back
  CHECK(res.steps == index_t(res.history.size()) * 4);    // the 1-row batch never stepped

  train::trainer_options bad;
  bad.batch_size = 0;
  CHECK_THROWS_AS(train::trainer<models::shared_bottom<float>>(model, bad), value_error);
}

TEST_CASE("trainer: Shared Bottom on MovieLens-100K (real data; skipped when absent)", "[train][trainer][movielens]") {
  const char* env = std::getenv("RECBLOCKS_DATA");
  const std::string dir = std::string(env ? env : RECBLOCKS_TEST_DATA_DIR) + "/movielens-100k";
  if (!std::filesystem::exists(dir + "/u.data")) {
    WARN("skipped: MovieLens-100K not found in " << dir << " (set RECBLOCKS_DATA)");
    return;
  }
  data::csv_dataset builder(data::movielens::config());
  const auto split = data::movielens(dir).load({0.8, 0.1, 0.1}, 2022, &builder);
  CHECK(split.train.rows() == 80000);
  CHECK(split.train.get_schema().scenario_count() == 3);
  rng g(2022);
  models::shared_bottom<float> model(split.train.get_schema(), {}, g);
  train::trainer_options o;
  o.epochs = 2;
  o.learning_rate = 3e-3;
  train::trainer<models::shared_bottom<float>> tr(model, o);
  tr.fit(split.train, split.validation);
  const auto report = tr.evaluate(split.test);
  INFO(report.to_json().dump());
  CHECK(report.overall().auc > 0.6);
  for (const auto& s : report.per_scenario()) CHECK(s.auc > 0.6);
}

TEST_CASE("trainer: fixed epochs keep the last weights; training time is reported apart from validation", "[train][trainer]") {
  const auto gen = make_data(2000);
  const data::dataset& d = gen.data();
  const data::dataset anti = flipped(d);  // the validation AUC falls after the first epoch
  rng g(3);
  models::shared_bottom<float> model(d.get_schema(), {}, g);
  train::trainer_options o;
  o.epochs = 4;
  o.batch_size = 500;
  o.learning_rate = 1e-2;
  o.patience = 0;          // never stop early
  o.restore_best = false;  // the reference's fixed budget: the last epoch's weights stay
  std::vector<double> aucs, train_s, valid_s;
  train::trainer<models::shared_bottom<float>> tr(model, o, {.on_epoch_end = [&](const train::epoch_info& e) {
                                                    aucs.push_back(e.validation->overall().auc);
                                                    train_s.push_back(e.train_seconds);
                                                    valid_s.push_back(e.validation_seconds);
                                                  }});
  const auto res = tr.fit(d, anti);
  REQUIRE(res.history.size() == 4);
  CHECK_FALSE(res.stopped_early);
  CHECK(tr.evaluate(anti).overall().auc == aucs.back());  // not the best epoch's
  CHECK(aucs.back() < res.best_auc);
  double ts = 0, vs = 0;
  for (std::size_t e = 0; e < 4; ++e) {
    CHECK(train_s[e] > 0);
    CHECK(valid_s[e] > 0);
    CHECK(res.history[e].seconds >= train_s[e] + valid_s[e]);
    ts += train_s[e];
    vs += valid_s[e];
  }
  CHECK(res.train_seconds == Approx(ts));
  CHECK(res.validation_seconds == Approx(vs));
  CHECK(res.train_seconds_per_epoch() == Approx(ts / 4));
  CHECK(res.snapshot_seconds == 0);
}

TEST_CASE("scenario-constant features: default routing trains the reference's model (whole-batch statistics)", "[train][trainer][routing]") {
  // The mechanism of issue 24: with features constant within a scenario, per-scenario batch
  // statistics (sorted routing while training) erase them and the overall AUC drops while the
  // per-scenario AUCs hold; the reference normalises over the mixed batch. Before the fix the
  // default was sorted routing and the first CHECK below failed (see the INFO line: sorted ~0.02 below).
  data::synthetic_config c;
  c.rows = 60000;
  c.scenario_features = true;
  c.scenario_bias = {-2.0, -0.5, 1.0};  // scenarios far apart: the overall AUC rests on telling them apart
  const data::synthetic gen(c);
  const auto& s = gen.data().get_schema();
  REQUIRE(s.contains("scenario_code"));
  REQUIRE(s.contains("scenario_level"));
  for (index_t r = 0; r < 200; ++r) {  // constant within a scenario
    const index_t sc = gen.data().scenario_column()[std::size_t(r)];
    CHECK(gen.data().sparse_column(s.index_of("scenario_code"))[std::size_t(r)] == sc + 1);
    CHECK(gen.data().dense_column(s.index_of("scenario_level"))[std::size_t(r)] == gen.scenario_bias()[std::size_t(sc)]);
  }
  const auto parts = gen.split({0.8, 0.1, 0.1}, 2022);
  auto mean_auc = [&](const char* routing) {
    double sum = 0;
    for (std::uint64_t seed : {1, 2}) {
      rng init(seed);
      models::mmoe_options mo;
      if (routing) mo.routing = nn::routing_mode_from_string(routing);
      models::mmoe<float> model(s, mo, init);
      train::trainer_options o;
      o.epochs = 4;
      o.batch_size = 1024;
      o.patience = 0;
      o.restore_best = false;
      o.seed = seed;
      train::trainer<models::mmoe<float>> tr(model, o);
      tr.fit(parts.parts[0]);
      sum += tr.evaluate(parts.parts[2]).overall().auc;
    }
    return sum / 2;
  };
  const double by_default = mean_auc(nullptr), masked = mean_auc("masked"), sorted = mean_auc("sorted");
  INFO("mean test AUC: default " << by_default << ", masked (reference) " << masked << ", sorted " << sorted);
  CHECK(std::abs(by_default - masked) < 0.005);  // the default is the reference's computation
  CHECK(by_default > sorted + 0.01);             // what per-scenario statistics cost on this data
}
