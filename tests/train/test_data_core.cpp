// Schema, dataset, batch, batcher and random_split.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <recblocks/data.hpp>
#include <set>

using namespace recblocks;
using data::feature_kind;

namespace {

data::schema all_kinds_schema() {
  data::schema s;
  s.add({"user", feature_kind::sparse, 10})
      .add({"click", feature_kind::label})
      .add({"age", feature_kind::dense})
      .add({"item", feature_kind::sparse, 20})
      .add({"hist", feature_kind::sequence, 20, 3})
      .add({"scenario", feature_kind::scenario, 0, 0, 2});
  return s;
}

// Row r: user = r % 10, item = r % 20, age = r / 2, scenario = r % 2, click = r % 3 == 0,
// hist = [r % 20, (r + 1) % 20] (r < 5) or four ids (r >= 5: truncated to the last 3).
data::dataset small_dataset(index_t n) {
  data::dataset d(all_kinds_schema());
  for (index_t r = 0; r < n; ++r) {
    const index_t sp[] = {r % 10, r % 20};
    const double de[] = {r / 2.0};
    const double lab[] = {r % 3 == 0 ? 1.0 : 0.0};
    std::vector<index_t> h = r < 5 ? std::vector<index_t>{r % 20, (r + 1) % 20}
                                   : std::vector<index_t>{1, 2, 3, r % 20};
    d.append(sp, de, r % 2, lab, {h});
  }
  return d;
}

}  // namespace

TEST_CASE("schema counts, lookup, validation and JSON round trip", "[data][schema]") {
  const auto s = all_kinds_schema();
  CHECK(s.sparse_count() == 2);
  CHECK(s.dense_count() == 1);
  CHECK(s.sequence_count() == 1);
  CHECK(s.label_count() == 1);
  CHECK(s.scenario_count() == 2);
  CHECK(s.of_kind(feature_kind::sparse)[1]->name == "item");
  CHECK(s.at("item").vocabulary == 20);
  CHECK(s.index_of("item") == 1);
  CHECK(s.index_of("age") == 0);
  CHECK_THROWS_WITH(s.at("nope"), Catch::Contains("'nope'"));

  data::schema t = s;
  CHECK_THROWS_AS(t.add({"user", feature_kind::dense}), value_error);
  CHECK_THROWS_AS(t.add({"v0", feature_kind::sparse, 0}), value_error);
  CHECK_THROWS_AS(t.add({"seq0", feature_kind::sequence, 5, 0}), value_error);
  CHECK_THROWS_AS(t.add({"sc2", feature_kind::scenario, 0, 0, 3}), value_error);
  CHECK_THROWS_AS(t.add({"d", feature_kind::dense, 4}), value_error);
  CHECK_THROWS_AS(t.add({"", feature_kind::dense}), value_error);
  CHECK(t.features().size() == s.features().size());

  const auto j = s.to_json();
  CHECK(j["features"][0]["kind"] == "sparse");
  CHECK(data::schema::from_json(j) == s);
  CHECK_THROWS_AS(data::schema::from_json(nlohmann::json::parse(R"({"features":[{"name":"a","kind":"blob"}]})")),
                  parse_error);
  CHECK_THROWS_AS(data::schema::from_json(nlohmann::json::parse(R"({"feat":[]})")), parse_error);
  data::schema none;
  CHECK(none.scenario_count() == 0);
}

TEST_CASE("dataset append, gather, subset, scenario counts and validate", "[data][dataset]") {
  auto d = small_dataset(8);
  REQUIRE(d.rows() == 8);
  CHECK(d.scenario_counts() == std::vector<index_t>{4, 4});

  data::batch<float> b;
  const index_t rows[] = {7, 0, 3};
  d.gather<float>(rows, b);
  REQUIRE(b.size == 3);
  REQUIRE(b.sparse.rows() == 2);
  REQUIRE(b.sparse.cols() == 3);
  CHECK(std::vector<index_t>(b.sparse_ids(0).begin(), b.sparse_ids(0).end()) == std::vector<index_t>{7, 0, 3});
  CHECK(std::vector<index_t>(b.sparse_ids(1).begin(), b.sparse_ids(1).end()) == std::vector<index_t>{7, 0, 3});
  CHECK(b.dense(0, 0) == 3.5f);
  CHECK(b.dense(2, 0) == 1.5f);
  CHECK(b.labels(1, 0) == 1.0f);
  CHECK(b.labels(0, 0) == 0.0f);
  CHECK(b.scenario == std::vector<index_t>{1, 0, 1});
  REQUIRE(b.sequences.size() == 1);
  REQUIRE(b.sequences[0].shape()[0] == 3);
  REQUIRE(b.sequences[0].shape()[1] == 3);
  // row 7 kept its last 3 ids {2, 3, 7}; row 0 is {0, 1} padded with 0; row 3 is {3, 4, 0}
  CHECK(b.sequences[0](0, 0) == 2);
  CHECK(b.sequences[0](0, 2) == 7);
  CHECK(b.sequences[0](1, 1) == 1);
  CHECK(b.sequences[0](1, 2) == 0);
  CHECK(b.sequences[0](2, 1) == 4);
  const auto view = b.sequence_view(0);  // Eigen map of the same memory
  CHECK(view.data() == b.sequences[0].data());
  CHECK(view(2, 0) == 3);
  CHECK_THROWS_AS(b.sparse_ids(2), shape_error);

  const index_t bad[] = {8};
  CHECK_THROWS_AS(d.gather<float>(bad, b), value_error);

  const index_t pick[] = {1, 1, 6};
  const auto sub = d.subset(pick);
  REQUIRE(sub.rows() == 3);
  CHECK(sub.sparse_column(1)[2] == 6);
  CHECK(sub.scenario_counts() == std::vector<index_t>{1, 2});
  CHECK(sub.sequence_block(0)[0] == 1);

  d.validate();
  const index_t sp[] = {10, 0};  // user id 10 is outside [0, 10)
  const double de[] = {1.0}, lab[] = {0.0};
  d.append(sp, de, 0, lab, {{}});
  CHECK_THROWS_WITH(d.validate(), Catch::Contains("'user'") && Catch::Contains("row 8") && Catch::Contains("10"));

  auto e = small_dataset(2);
  const index_t ok[] = {0, 0};
  const double nan[] = {std::numeric_limits<double>::quiet_NaN()};
  e.append(ok, de, 0, nan, {{}});
  CHECK_THROWS_WITH(e.validate(), Catch::Contains("'click'") && Catch::Contains("row 2"));
  auto f = small_dataset(1);
  f.append(ok, de, 2, lab, {{}});
  CHECK_THROWS_WITH(f.validate(), Catch::Contains("'scenario'") && Catch::Contains("row 1"));
  CHECK_THROWS_AS(f.append(std::span<const index_t>(ok, 1), de, 0, lab, {{}}), shape_error);
  CHECK_THROWS_AS(f.append(ok, de, 0, lab), shape_error);  // sequences missing

  data::schema plain;
  plain.add({"x", feature_kind::sparse, 3}).add({"y", feature_kind::label});
  data::dataset p(plain);
  CHECK_THROWS_AS(p.append(std::span<const index_t>(ok, 1), {}, 1, lab), value_error);
  p.append(std::span<const index_t>(ok, 1), {}, 0, lab);
  data::batch<double> pb;
  const index_t zero[] = {0};
  p.gather<double>(zero, pb);
  CHECK(pb.scenario.empty());
  CHECK(pb.dense.cols() == 0);
  CHECK(p.scenario_counts().empty());
}

TEST_CASE("batcher visits every row exactly once per epoch, deterministic per seed", "[data][batcher]") {
  const auto d = small_dataset(103);
  for (bool shuffle : {false, true}) {
    data::batcher<float> it(d, 10, shuffle, 7);
    CHECK(it.batches_per_epoch() == 11);
    data::batch<float> b;
    std::vector<index_t> first_epoch, seen;
    for (int epoch = 0; epoch < 2; ++epoch, it.reset()) {
      seen.clear();
      index_t batches = 0;
      while (it.next(b)) {
        ++batches;
        CHECK(b.size == (batches == 11 ? 3 : 10));
        for (index_t i = 0; i < b.size; ++i) seen.push_back(b.sparse(0, i) + 10 * static_cast<index_t>(b.dense(i, 0) * 2 / 10));
      }
      CHECK(batches == 11);
      CHECK(!it.next(b));
      // (user, age) identifies the row: row = 10 * floor(row / 10) + row % 10
      std::vector<index_t> sorted = seen;
      std::sort(sorted.begin(), sorted.end());
      CHECK(sorted == data::detail::iota(103));
      if (epoch == 0) first_epoch = seen;
    }
    if (shuffle) {
      CHECK(seen != first_epoch);                    // reshuffled for epoch 1
      CHECK(first_epoch != data::detail::iota(103));  // shuffled at all
      data::batcher<float> again(d, 10, true, 7);
      CHECK(again.order() == std::vector<index_t>(first_epoch.begin(), first_epoch.end()));
      data::batcher<float> other(d, 10, true, 8);
      CHECK(other.order() != again.order());
    } else {
      CHECK(first_epoch == data::detail::iota(103));
    }
  }
  data::batcher<double> dl(d, 10, true, 1, true);
  CHECK(dl.batches_per_epoch() == 10);
  data::batch<double> b;
  index_t n = 0, rows = 0;
  while (dl.next(b)) {
    ++n;
    rows += b.size;
  }
  CHECK(n == 10);
  CHECK(rows == 100);
  CHECK_THROWS_AS(data::batcher<float>(d, 0, false, 1), value_error);
  data::dataset empty(all_kinds_schema());
  data::batcher<float> e(empty, 4, true, 1);
  CHECK(e.batches_per_epoch() == 0);
  data::batch<float> fb;
  CHECK(!e.next(fb));
}

TEST_CASE("random_split sizes, disjointness and determinism", "[data][split]") {
  CHECK(data::split_sizes(100, {0.8, 0.1, 0.1}) == std::array<index_t, 3>{80, 10, 10});
  CHECK(data::split_sizes(60000, {0.8, 0.1, 0.1}) == std::array<index_t, 3>{48000, 6000, 6000});
  CHECK(data::split_sizes(100, {0.7, 0.29, 0.01}) == std::array<index_t, 3>{70, 29, 1});
  CHECK(data::split_sizes(10, {1, 1, 1}) == std::array<index_t, 3>{4, 3, 3});  // leftover 1 goes to part 0
  CHECK(data::split_sizes(5, {1, 0, 0}) == std::array<index_t, 3>{5, 0, 0});
  CHECK_THROWS_AS(data::split_sizes(5, {0, 0, 0}), value_error);
  CHECK_THROWS_AS(data::split_sizes(5, {-1, 1, 1}), value_error);

  const auto d = small_dataset(103);
  const auto parts = data::random_split(d, {0.8, 0.1, 0.1}, 2022);
  CHECK(parts[0].rows() == 83);  // floor(82.4) + the leftover row
  CHECK(parts[1].rows() == 10);
  CHECK(parts[2].rows() == 10);
  std::set<index_t> all;
  for (const auto& p : parts)
    for (index_t r = 0; r < p.rows(); ++r)
      all.insert(p.sparse_column(0)[static_cast<std::size_t>(r)] + 10 * static_cast<index_t>(p.dense_column(0)[static_cast<std::size_t>(r)] * 2 / 10));
  CHECK(all.size() == 103);
  const auto again = data::random_split(d, {0.8, 0.1, 0.1}, 2022);
  CHECK(std::equal(again[1].dense_column(0).begin(), again[1].dense_column(0).end(), parts[1].dense_column(0).begin()));
  const auto other = data::random_split(d, {0.8, 0.1, 0.1}, 2023);
  CHECK(!std::equal(other[1].dense_column(0).begin(), other[1].dense_column(0).end(), parts[1].dense_column(0).begin()));
}
