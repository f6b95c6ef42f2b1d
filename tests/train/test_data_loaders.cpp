// MovieLens-100K and the Scenario-Wise Rec sample loaders on the real files (skipped when absent).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <recblocks/data/movielens.hpp>
#include <recblocks/data/scenario_datasets.hpp>

using namespace recblocks;

namespace {

/// `RECBLOCKS_DATA` (environment) wins over the compile-time `RECBLOCKS_TEST_DATA_DIR`.
std::string data_dir(const std::string& sub) {
  const char* env = std::getenv("RECBLOCKS_DATA");
  return std::string(env ? env : RECBLOCKS_TEST_DATA_DIR) + "/" + sub;
}

index_t total_rows(const data::csv_splits& s) { return s.train.rows() + s.validation.rows() + s.test.rows(); }

std::vector<index_t> total_scenarios(const data::csv_splits& s) {
  auto c = s.train.scenario_counts();
  const auto v = s.validation.scenario_counts(), t = s.test.scenario_counts();
  for (std::size_t i = 0; i < c.size(); ++i) c[i] += v[i] + t[i];
  return c;
}

}  // namespace

TEST_CASE("movielens-100k: join, recipe, scenario counts", "[data][movielens]") {
  const std::string dir = data_dir("movielens-100k");
  if (!std::filesystem::exists(dir + "/u.data")) {
    WARN("skipped: MovieLens-100K not found at " << dir);
    return;
  }
  CHECK(data::movielens::age_group("24") == 0);
  CHECK(data::movielens::age_group("25") == 1);
  CHECK(data::movielens::age_group("34") == 1);
  CHECK(data::movielens::age_group("35") == 2);
  CHECK(data::movielens::age_group("x") == -1);

  const data::movielens ml(dir);
  CHECK(ml.users() == 943);
  CHECK(ml.items() == 1682);
  REQUIRE(ml.table().rows() == 100000);
  data::csv_dataset builder(data::movielens::config());
  const auto s = ml.load({0.8, 0.1, 0.1}, 2022, &builder);
  CHECK(s.skipped == 0);
  CHECK(s.train.rows() == 80000);
  CHECK(s.validation.rows() == 10000);
  CHECK(s.test.rows() == 10000);
  // counted independently from u.user / u.data: ages < 25, 25-34, >= 35
  CHECK(total_scenarios(s) == std::vector<index_t>{26551, 35444, 38005});
  double positives = 0;
  for (const auto* part : {&s.train, &s.validation, &s.test})
    for (double y : part->label_column(0)) positives += y;
  CHECK(positives == 55375);  // ratings 4 and 5: 34174 + 21201
  const auto& schema = builder.get_schema();
  CHECK(schema.sparse_count() == 6);
  CHECK(schema.dense_count() == 1);
  CHECK(schema.scenario_count() == 3);
  CHECK(schema.at("genre").vocabulary <= 20);
  CHECK(schema.at("gender").vocabulary == 3);
  CHECK(schema.at("user_id").vocabulary <= 944);  // fitted on the train split only
  CHECK(schema.at("user_id").vocabulary > 900);
  s.train.validate();
  s.test.validate();
  const auto age = s.train.dense_column(0);
  CHECK(*std::min_element(age.begin(), age.end()) == 0.0);
  CHECK(*std::max_element(age.begin(), age.end()) == 1.0);
  CHECK_THROWS_AS(data::movielens(dir + "/nope"), io_error);
}

TEST_CASE("scenario-wise-rec samples: douban, kuairand, ali_ccp, mind", "[data][scenario_datasets]") {
  const std::string dir = data_dir("scenario-wise-rec-samples");
  if (!std::filesystem::exists(dir + "/douban_sample.csv")) {
    WARN("skipped: Scenario-Wise Rec samples not found at " << dir);
    return;
  }
  const auto douban = data::scenario_datasets::load("douban", dir);
  CHECK(total_rows(douban.splits) == 3000);
  CHECK(total_scenarios(douban.splits) == std::vector<index_t>{364, 337, 2299});  // book, music, movie
  CHECK(douban.builder.get_schema().sparse_count() == 4);

  const auto mind = data::scenario_datasets::load("mind", dir);
  CHECK(total_scenarios(mind.splits) == std::vector<index_t>{3742, 1565, 1428, 1265});
  CHECK(mind.splits.dropped == 0);

  const auto kuai = data::scenario_datasets::load("kuairand", dir);
  CHECK(total_rows(kuai.splits) == 200);
  CHECK(kuai.builder.get_schema().scenario_count() == 1);  // the sample holds tab 1 only
  CHECK(kuai.builder.get_schema().sparse_count() == 32);
  CHECK(kuai.builder.get_schema().dense_count() == 4);

  const auto ali = data::scenario_datasets::load("ali_ccp", dir);
  CHECK(ali.splits.train.scenario_counts() == std::vector<index_t>{69, 19, 12});
  CHECK(ali.splits.validation.scenario_counts() == std::vector<index_t>{38, 7, 5});
  CHECK(ali.splits.test.scenario_counts() == std::vector<index_t>{39, 6, 5});
  CHECK(ali.builder.get_schema().sparse_count() == 23);
  CHECK(ali.builder.get_schema().dense_count() == 8);
  ali.splits.test.validate();

  CHECK_THROWS_WITH(data::scenario_datasets::load("movielens", dir), Catch::Contains("known: douban"));
  // a dataset whose expected column is missing: MIND's recipe on the Douban file
  data::csv_dataset wrong(data::scenario_datasets::mind_config());
  CHECK_THROWS_WITH(wrong.load(data::csv_reader::from_file(dir + "/douban_sample.csv"), {0.8, 0.1, 0.1}, 1),
                    Catch::Contains("column 'User_ID' not found"));
}
