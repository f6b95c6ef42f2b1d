// retrieval under hostile input (issue 25, item 5): the item tree's JSON loader checks every size
// against what the file holds before allocating, and no std::bad_alloc escapes it.
#include <catch2/catch.hpp>

#include <new>
#include <string>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/item_tree.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rt = recblocks::retrieval;
using tree = rt::item_tree<float>;

namespace {

nlohmann::json small_tree_json() {
  recblocks::rng g(3);
  matrix<float> x(30, 4);
  g.fill_normal(x, 0.0, 1.0);
  tree t(4, {6, 0, 3, 10, 5});
  t.build(x);
  return t.to_json();
}

/// `from_json(j)` throws an io_error containing `needle`, and nothing else (no bad_alloc).
void refused(const nlohmann::json& j, const std::string& needle) {
  INFO(needle);
  try {
    (void)tree::from_json(j);
    FAIL("loaded");
  } catch (const recblocks::io_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(needle));
  } catch (const std::exception& e) {
    FAIL(std::string("not an io_error: ") + e.what());
  }
}

}  // namespace

TEST_CASE("item_tree: sizes in the JSON are checked before anything is allocated", "[retrieval][item_tree][hostile]") {
  const nlohmann::json good = small_tree_json();
  REQUIRE(tree::from_json(good).size() == 30);
  auto edit = [&](auto&& f) {
    nlohmann::json j = good;
    f(j);
    return j;
  };
  // a huge dim used to size every node's centroid before the item vectors were compared with it
  refused(edit([](auto& j) { j["dim"] = 1ll << 40; }), "dim 1099511627776 is outside [1, 65536]");
  refused(edit([](auto& j) { j["dim"] = 1ll << 30; }), "is outside");
  refused(edit([](auto& j) { j["dim"] = 0; }), "dim 0 is outside");
  refused(edit([](auto& j) { j["dim"] = 4.5; }), "\"dim\" must be an integer");
  // within the cap, but not what the vectors hold
  refused(edit([](auto& j) { j["dim"] = 60000; }), "items[0] has a vector of 4 values, dim is 60000");
  // no items: the nodes cannot justify a large dim
  refused(edit([](auto& j) {
            j["items"] = nlohmann::json::array();
            j["dim"] = 65536;
            nlohmann::json nodes = nlohmann::json::array();
            for (int k = 0; k < 4; ++k) nodes.push_back(j["nodes"][0]);
            j["nodes"] = nodes;
          }),
          "more than 0 items can justify");
  refused(edit([](auto& j) { j["items"] = 7; }), "must be arrays");
}

TEST_CASE("item_tree: integer fields holding floats are refused, not converted", "[retrieval][item_tree][hostile]") {
  // fuzz_item_tree found `"dim": 5e59` converted to an integer (undefined behaviour under UBSan)
  const nlohmann::json good = small_tree_json();
  nlohmann::json j = good;
  j["dim"] = 5e59;
  refused(j, "\"dim\" must be an integer");
  j = good;
  j["options"]["branching"] = 2.5;
  refused(j, "\"options.branching\" must be an integer");
  j = good;
  j["nodes"][1]["parent"] = 1e300;
  refused(j, "\"nodes[].parent\" must be an integer");
  j = good;
  j["nodes"][0]["children"][0] = 1.5;
  refused(j, "\"nodes[].children[]\" must be an integer");
  j = good;
  j["items"][0]["leaf"] = -1e40;
  refused(j, "\"items[].leaf\" must be an integer");
  j = good;
  j["options"]["kmeans_iterations"] = std::int64_t{1000000000000};
  refused(j, "\"options.kmeans_iterations\" = 1000000000000 is out of range");
  j = good;
  j["nodes"][0]["count"] = 18446744073709551615ull;
  refused(j, "\"nodes[].count\" must be an integer");
}
