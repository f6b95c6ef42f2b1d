// sparse_rows::coalesce: duplicate ids summed in the order they were added, ids unique and ascending,
// whether the id range is dense (counting sort) or sparse (comparison sort).
#include <catch2/catch.hpp>

#include <array>
#include <map>
#include <vector>
#include <recblocks/core/param.hpp>
#include <recblocks/core/rng.hpp>

using namespace recblocks;

namespace {
/// Adds `ids` (one row of width 3 each, values from `gen`), coalesces, and checks the result against a
/// std::map that sums the same rows in the same order.
void check_coalesce(const std::vector<index_t>& ids, std::uint64_t seed) {
  sparse_rows<double> sp;
  sp.cols = 3;
  rng gen(seed);
  std::map<index_t, std::array<double, 3>> expect;
  for (const index_t id : ids) {
    matrix<double> row(1, 3);
    gen.fill_uniform(row, -1, 1);
    sp.add(id, [&](index_t j) { return row(0, j); });
    auto [it, fresh] = expect.try_emplace(id, std::array<double, 3>{0, 0, 0});
    for (int j = 0; j < 3; ++j) it->second[std::size_t(j)] += row(0, j);
  }
  for (int pass = 0; pass < 2; ++pass) {  // a second coalesce (already unique) changes nothing
    sp.coalesce();
    REQUIRE(sp.size() == static_cast<index_t>(expect.size()));
    std::size_t k = 0;
    for (const auto& [id, sum] : expect) {
      CHECK(sp.ids[k] == id);
      for (int j = 0; j < 3; ++j) CHECK(sp.rows[k * 3 + std::size_t(j)] == sum[std::size_t(j)]);  // same order of additions: exact
      ++k;
    }
  }
}
}  // namespace

TEST_CASE("sparse_rows::coalesce sums duplicates in add order (dense and sparse id ranges)", "[tape][sparse]") {
  rng gen(9);
  std::vector<index_t> dense, sparse;
  for (int i = 0; i < 5000; ++i) dense.push_back(3 + static_cast<index_t>(gen.integer(0, 999)));  // range 1,000 <= 2 n + 4096
  for (int i = 0; i < 300; ++i) sparse.push_back(static_cast<index_t>(gen.integer(0, 9)) * 1000003);  // range 9e6: comparison sort
  check_coalesce(dense, 1);
  check_coalesce(sparse, 2);
  check_coalesce({7}, 3);
  check_coalesce({5, 5, 5, 2, 2}, 4);
}
