// Tests of retrieval::item_tree serialization (round trip, corrupted files) and bad input, and of
// retrieval::text_hashing.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/centroid_policy.hpp"
#include "recblocks/retrieval/item_tree.hpp"
#include "recblocks/retrieval/text_hashing.hpp"
#include "retrieval_test_helpers.hpp"

using recblocks::index_t;
using recblocks::matrix;
using recblocks::col_vector;
namespace rt = recblocks::retrieval;
using tree = rt::item_tree<float>;
using recblocks_test::temp_file;

namespace {

tree sample_tree() {
  recblocks::rng g(8);
  matrix<float> x(60, 3);
  g.fill_normal(x, 0.0, 1.0);
  std::vector<std::vector<std::string>> paths;
  for (int i = 0; i < 60; ++i) paths.push_back(i % 3 == 0 ? std::vector<std::string>{"a"} : std::vector<std::string>{"b", i % 2 ? "c" : "d"});
  std::vector<index_t> ids;
  for (int i = 0; i < 60; ++i) ids.push_back(1000 + 7 * i);
  tree t(3, {6, 0, 3, 10, 5});
  t.build(x, ids, paths);
  t.remove(1000);
  t.insert(5, x.row(0).transpose(), {"b"});
  t.relabel(t.at(t.root()).children.front(), "renamed");
  return t;
}

template <class F>
void expect_corrupt(F mutate, const std::string& needle) {
  nlohmann::json j = sample_tree().to_json();
  mutate(j);
  try {
    tree::from_json(j);
    FAIL("expected io_error containing '" << needle << "'");
  } catch (const recblocks::io_error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("item_tree: JSON and file round trip", "[retrieval][item_tree][io]") {
  const tree t = sample_tree();
  const tree u = tree::from_json(t.to_json());
  u.check_invariants();
  CHECK(u.size() == t.size());
  CHECK(u.num_nodes() == t.num_nodes());
  CHECK(u.depth() == t.depth());
  CHECK(u.to_json() == t.to_json());
  CHECK(u.path_of(5) == std::vector<std::string>{"b"});
  CHECK(u.vector_of(1007).isApprox(t.vector_of(1007)));
  rt::tree_query<float> q;
  q.embedding = t.vector_of(1014);
  rt::tree_search_options o;
  o.k = 5;
  const auto a = t.search(q, rt::centroid_policy{}, o), b = u.search(q, rt::centroid_policy{}, o);
  CHECK(a.items == b.items);
  CHECK(a.tokens == b.tokens);

  const std::string f = temp_file("tree.json");
  t.save(f);
  const tree v = tree::load(f);
  CHECK(v.to_json() == t.to_json());
  std::remove(f.c_str());
}

TEST_CASE("item_tree: corrupted trees give clear errors", "[retrieval][item_tree][io][errors]") {
  expect_corrupt([](auto& j) { j["format"] = "something.else"; }, "format");
  expect_corrupt([](auto& j) { j["version"] = 2; }, "unsupported format version 2");
  expect_corrupt([](auto& j) { j.erase("items"); }, "missing field \"items\"");
  expect_corrupt([](auto& j) { j["items"][0]["vector"].erase(0); }, "has a vector of 2 values");
  expect_corrupt([](auto& j) { j["items"][0]["vector"][1] = nullptr; }, "mistyped");  // NaN is written as null
  expect_corrupt([](auto& j) { j["items"][1]["id"] = j["items"][0]["id"]; }, "duplicate item id");
  expect_corrupt([](auto& j) { j["items"][0]["leaf"] = 0; }, "is not a leaf");
  expect_corrupt([](auto& j) { j["nodes"][1]["parent"] = 2; }, "does not point back");
  expect_corrupt([](auto& j) { j["nodes"][1]["kind"] = "galaxy"; }, "unknown");
  expect_corrupt([](auto& j) { j["dim"] = 4; }, "has a vector of 3 values");
  expect_corrupt([](auto& j) { j["options"]["branching"] = 1; }, "branching");
  expect_corrupt([](auto& j) { j["items"].erase(0); }, "count");  // stale structure vs items is caught
  CHECK_THROWS_AS(tree::from_json(nlohmann::json::array()), recblocks::io_error);

  const std::string f = temp_file("bad.json");
  {
    std::ofstream out(f);
    out << "{\"format\": \"recblocks.item_tree\", \"version\": 1, ";  // truncated
  }
  CHECK_THROWS_AS(tree::load(f), recblocks::parse_error);
  std::remove(f.c_str());
  CHECK_THROWS_AS(tree::load(temp_file("does_not_exist.json")), recblocks::io_error);
}

TEST_CASE("item_tree: bad input", "[retrieval][item_tree][errors]") {
  tree t = sample_tree();
  col_vector<float> v3 = col_vector<float>::Zero(3), v2 = col_vector<float>::Zero(2);
  CHECK_THROWS_AS(t.remove(999999), recblocks::value_error);
  CHECK_THROWS_AS(t.move(999999, {"a"}), recblocks::value_error);
  CHECK_THROWS_AS(t.leaf_of(-3), recblocks::value_error);
  CHECK_THROWS_WITH(t.path_of(42), Catch::Contains("unknown item id 42"));
  CHECK_THROWS_AS(t.insert(1007, v3), recblocks::value_error);  // duplicate
  CHECK_THROWS_AS(t.insert(1, v2), recblocks::shape_error);
  v3(1) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(t.insert(1, v3), recblocks::value_error);
  CHECK_THROWS_AS(t.move(1007, v3, {}), recblocks::value_error);
  CHECK_THROWS_AS(t.insert(1, col_vector<float>::Zero(3), {"a", ""}), recblocks::value_error);
  CHECK_FALSE(t.contains(1));
  t.check_invariants();  // failed calls left the tree unchanged

  matrix<float> bad(2, 3);
  bad << 1, 2, 3, 4, std::nanf(""), 6;
  tree e(3);
  CHECK_THROWS_AS(e.build(bad), recblocks::value_error);
  CHECK(e.size() == 0);
  CHECK_THROWS_AS(e.build(matrix<float>::Zero(2, 4)), recblocks::shape_error);
  CHECK_THROWS_AS(e.build(matrix<float>::Zero(2, 3), {1, 1}), recblocks::value_error);
  CHECK_THROWS_AS(e.build(matrix<float>::Zero(2, 3), {1}), recblocks::shape_error);

  rt::tree_query<float> q;
  q.embedding = col_vector<float>::Zero(2);
  CHECK_THROWS_AS(t.search(q, rt::centroid_policy{}), recblocks::shape_error);
  q.embedding = col_vector<float>::Ones(3);
  q.embedding(0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(t.search(q, rt::centroid_policy{}), recblocks::value_error);
  q.embedding(0) = 1;
  rt::tree_search_options o;
  o.k = 0;
  CHECK_THROWS_AS(t.search(q, rt::centroid_policy{}, o), recblocks::value_error);
  struct bad_policy {
    std::vector<rt::scored_child> choose(const rt::tree_query<float>&, std::string_view,
                                         std::span<const rt::child_info<float>> c) const {
      return {{static_cast<index_t>(c.size()), 1.0}};
    }
  };
  CHECK_THROWS_WITH(t.search(q, bad_policy{}), Catch::Contains("the policy chose child"));
  CHECK_THROWS_AS(tree(3, {0, 0, 8, 10, 1}), recblocks::value_error);
  CHECK_THROWS_AS(tree(3, {10, 0, 1, 10, 1}), recblocks::value_error);
  CHECK_THROWS_AS(tree(-1), recblocks::value_error);
}

TEST_CASE("text_hashing: deterministic, normalised, similar texts are close", "[retrieval][text_hashing]") {
  const rt::text_hashing h;
  CHECK(rt::text_hashing::words("Zelda: Breath of the Wild &amp; DLC") ==
        std::vector<std::string>{"zelda", "breath", "of", "the", "wild", "dlc"});
  const auto a = h.embed<float>("The Legend of Zelda: Ocarina of Time");
  const auto b = h.embed<float>("Legend of Zelda Ocarina of Time 3D");
  const auto c = h.embed<float>("PlayStation 4 DualShock Controller");
  CHECK(a.norm() == Approx(1.0f));
  CHECK(a.isApprox(h.embed<float>("the legend of zelda ocarina of time")));  // case and punctuation
  CHECK(a.dot(b) > 0.6f);
  CHECK(std::abs(a.dot(c)) < 0.3f);
  CHECK(h.embed<float>("!!!").norm() == 0.0f);
  const matrix<float> m = h.embed_all<float>({"one", "two"});
  CHECK(m.rows() == 2);
  CHECK(m.cols() == 256);
  CHECK_THROWS_AS(rt::text_hashing({0, 3, 4, 2.0, 1}), recblocks::value_error);
  CHECK_THROWS_AS(rt::text_hashing({16, 4, 3, 2.0, 1}), recblocks::value_error);
}
