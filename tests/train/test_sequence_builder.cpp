// Per-scenario behaviour sequences, the time-ordered split, the MovieLens genre-group data and the
// synthetic S->Y generator.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <recblocks/data/movielens_genre.hpp>
#include <recblocks/data/sequence_builder.hpp>
#include <recblocks/data/synthetic_sequences.hpp>
#include <set>

using namespace recblocks;
using data::sequence_builder;

namespace {

data::sequence_log small_log() {
  // user 7: times 1, 2, 2, 3, 5 across scenarios 0/1/2; user 3 interleaved
  data::sequence_log l;
  auto add = [&](index_t u, index_t i, std::int64_t t, index_t s, bool b) {
    l.user.push_back(u);
    l.item.push_back(i);
    l.time.push_back(t);
    l.scenario.push_back(s);
    l.behaviour.push_back(b ? 1 : 0);
  };
  add(7, 1, 1, 0, true);
  add(3, 9, 1, 2, true);
  add(7, 2, 2, 1, true);
  add(7, 3, 2, 0, true);   // same time as the row before: neither sees the other
  add(7, 4, 3, 0, false);  // not a behaviour: never enters a history
  add(3, 8, 4, 2, true);
  add(7, 5, 5, 2, true);
  return l;
}

}  // namespace

TEST_CASE("sequence builder: strictly earlier behaviours per scenario, other scenarios, unsplit history", "[sequences]") {
  const auto l = small_log();
  const auto h = sequence_builder::build(l, 3, 10, {.length = 2, .all_length = 3});
  REQUIRE(h.other.size() == 2);
  using V = std::vector<index_t>;
  // row 0: first interaction of user 7: everything empty (valid)
  CHECK(h.current.row(0).empty());
  CHECK(h.all.row(0).empty());
  // row 2 (user 7, t=2, scenario 1): sees item 1 (scenario 0) only
  CHECK(h.current.row(2).empty());
  CHECK(h.other[0].row(2) == V{1});  // scenario 0
  CHECK(h.other[1].row(2).empty());  // scenario 2
  // row 3 (t=2, scenario 0): the same-time row 2 is not history
  CHECK(h.current.row(3) == V{1});
  CHECK(h.other[0].row(3).empty());  // scenario 1
  // row 4 (t=3, scenario 0): items 1, 3 (chronological); scenario 1: item 2
  CHECK(h.current.row(4) == V{1, 3});
  CHECK(h.other[0].row(4) == V{2});
  CHECK(h.all.row(4) == V{1, 2, 3});
  // row 6 (t=5, scenario 2): item 4 was not a behaviour; length 2 keeps the last two of scenario 0
  CHECK(h.current.row(6).empty());
  CHECK(h.other[0].row(6) == V{1, 3});
  CHECK(h.other[1].row(6) == V{2});
  CHECK(h.all.row(6) == V{1, 2, 3});  // last 3 of [1, 2, 3]
  // user 3 is separate
  CHECK(h.current.row(5) == V{9});
  CHECK(h.all.row(5) == V{9});
  // padding is zeros after the length
  CHECK(h.current.ids[4 * 2 + 0] == 1);
  CHECK(h.current.ids[5 * 2 + 1] == 0);
  h.current.validate(10, "current");
  h.all.validate(10, "all");
}

TEST_CASE("sequence builder: bad input is refused before building", "[sequences][errors]") {
  auto l = small_log();
  l.time[4] = 1;  // user 7 goes back in time
  CHECK_THROWS_WITH(sequence_builder::build(l, 3, 10), Catch::Contains("non-decreasing per user") && Catch::Contains("row 4"));
  l = small_log();
  l.item[2] = 10;
  CHECK_THROWS_WITH(sequence_builder::build(l, 3, 10), Catch::Contains("item 10"));
  l.item[2] = 0;
  CHECK_THROWS_AS(sequence_builder::build(l, 3, 10), value_error);
  l = small_log();
  l.scenario[1] = 3;
  CHECK_THROWS_WITH(sequence_builder::build(l, 3, 10), Catch::Contains("scenario 3"));
  l = small_log();
  l.time.pop_back();
  CHECK_THROWS_AS(sequence_builder::build(l, 3, 10), value_error);
  CHECK_THROWS_AS(sequence_builder::build(small_log(), 3, 10, {.length = 0}), value_error);
  // padded_sequences::validate: lengths beyond L or negative, ids beyond the vocabulary, ids in padding
  data::padded_sequences p{.length = 2, .ids = {1, 2, 3, 0}, .lengths = {2, 1}};
  p.validate(4, "p");
  p.lengths[1] = 3;
  CHECK_THROWS_WITH(p.validate(4, "p"), Catch::Contains("length 3"));
  p.lengths[1] = -1;
  CHECK_THROWS_AS(p.validate(4, "p"), value_error);
  p.lengths[1] = 1;
  CHECK_THROWS_WITH(p.validate(3, "p"), Catch::Contains("id 3"));
  p.ids[3] = 2;
  CHECK_THROWS_WITH(p.validate(4, "p"), Catch::Contains("padding"));
}

TEST_CASE("time split: per user chronological, no scenario left empty", "[sequences][split]") {
  data::sequence_log l;
  for (index_t u = 0; u < 4; ++u)
    for (index_t k = 0; k < 10; ++k) {
      l.user.push_back(u);
      l.item.push_back(1 + k);
      l.time.push_back(100 * u + k);
      l.scenario.push_back((k + u) % 2);
    }
  const auto parts = sequence_builder::time_split(l, 2);
  CHECK(parts[0].size() == 32);
  CHECK(parts[1].size() == 4);
  CHECK(parts[2].size() == 4);
  // every training row of a user precedes its validation and test rows
  for (index_t u = 0; u < 4; ++u) {
    std::int64_t last_train = -1, first_later = 1 << 30;
    for (index_t r : parts[0])
      if (l.user[std::size_t(r)] == u) last_train = std::max(last_train, l.time[std::size_t(r)]);
    for (int p = 1; p < 3; ++p)
      for (index_t r : parts[std::size_t(p)])
        if (l.user[std::size_t(r)] == u) first_later = std::min(first_later, l.time[std::size_t(r)]);
    CHECK(last_train < first_later);
  }
  // with scenario = k % 2 for every user, validation (k = 8) holds only scenario 0
  for (std::size_t r = 0; r < l.scenario.size(); ++r) l.scenario[r] = index_t(r % 10) % 2;
  CHECK_THROWS_WITH(sequence_builder::time_split(l, 2), Catch::Contains("scenario 1 has no rows in the validation part"));
}

TEST_CASE("synthetic S->Y generator: known direct effect, sequences from earlier clicks", "[sequences][synthetic]") {
  data::synthetic_sequences_options o;
  o.users = 200;
  o.items = 90;
  o.per_user = 30;
  o.scenario_bias = {-2.0, 0.0, 2.0};
  const data::synthetic_sequences syn(o);
  CHECK(syn.all().rows() == 6000);
  CHECK(syn.get_schema().label_count() == 2);
  CHECK(syn.get_schema().sequence_count() == 4);
  // click rates follow b_s; the counterfactual clicks do not
  std::array<double, 3> clicks{}, interest{}, n{};
  const auto s = syn.all().scenario_column();
  const auto y = syn.all().label_column(0), yi = syn.all().label_column(1);
  for (index_t r = 0; r < syn.all().rows(); ++r) {
    clicks[std::size_t(s[std::size_t(r)])] += y[std::size_t(r)];
    interest[std::size_t(s[std::size_t(r)])] += yi[std::size_t(r)];
    n[std::size_t(s[std::size_t(r)])] += 1;
  }
  CHECK(clicks[0] / n[0] < 0.35);
  CHECK(clicks[2] / n[2] > 0.65);
  for (int k = 0; k < 3; ++k) CHECK(std::abs(interest[std::size_t(k)] / n[std::size_t(k)] - 0.5) < 0.1);
  // deterministic
  const data::synthetic_sequences again(o);
  CHECK(again.interest() == syn.interest());
  CHECK_THROWS_AS(data::synthetic_sequences({.scenarios = 2}), value_error);  // 3 biases for 2 scenarios
  const auto parts = syn.split_rows();
  CHECK(parts[0].size() + parts[1].size() + parts[2].size() == 6000);
}

TEST_CASE("MovieLens-100K genre groups: counts, no future in any sequence", "[sequences][movielens][data]") {
  const char* env = std::getenv("RECBLOCKS_DATA");
  const std::string root = env ? env : RECBLOCKS_TEST_DATA_DIR;
  std::string dir = root + "/movielens-100k/ml-100k";
  if (!std::filesystem::exists(dir + "/u.data")) dir = root + "/movielens-100k";
  if (!std::filesystem::exists(dir + "/u.data")) {
    WARN("MovieLens-100K not found under " << root << " (set RECBLOCKS_DATA): skipped");
    return;
  }
  const data::movielens_genre ml(dir);
  const auto& d = ml.all();
  REQUIRE(d.rows() == 100000);
  const auto counts = d.scenario_counts();
  CHECK(counts == std::vector<index_t>{34863, 29745, 35392});
  const auto& log = ml.log();
  // every id in row r's current sequence is an earlier click of the same user in the same scenario
  const index_t L = d.get_schema().at("seq_current").max_length;
  const auto cur = d.sequence_block(0);
  std::set<std::tuple<index_t, index_t, std::int64_t>> clicked;  // (user, item, time) of clicks
  for (index_t r = 0; r < d.rows(); ++r)
    if (log.behaviour[std::size_t(r)]) clicked.insert({log.user[std::size_t(r)], log.item[std::size_t(r)], log.time[std::size_t(r)]});
  index_t checked = 0;
  for (index_t r = 0; r < d.rows(); r += 97) {
    for (index_t p = 0; p < L; ++p) {
      const index_t item = cur[std::size_t(r * L + p)];
      if (item == 0) break;
      auto it = clicked.lower_bound({log.user[std::size_t(r)], item, std::numeric_limits<std::int64_t>::min()});
      REQUIRE(it != clicked.end());
      CHECK(std::get<0>(*it) == log.user[std::size_t(r)]);
      CHECK(std::get<1>(*it) == item);
      CHECK(std::get<2>(*it) < log.time[std::size_t(r)]);
      ++checked;
    }
  }
  CHECK(checked > 1000);
  const auto splits = ml.load();
  CHECK(splits.train.rows() + splits.validation.rows() + splits.test.rows() == 100000);
  CHECK(splits.train.rows() > 78000);
}
