#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/hnsw_index.hpp"
#include "retrieval_test_helpers.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::retrieval;
using recblocks_test::temp_file;

namespace {

matrix<float> clustered(index_t n, index_t d, std::uint64_t seed) {
  recblocks::rng g(seed);
  matrix<float> c(20, d);
  g.fill_uniform(c, -1.0, 1.0);
  matrix<float> x(n, d);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) x(i, j) = c(i % 20, j) + static_cast<float>(g.normal(0.0, 0.3));
  return x;
}

double exact_distance(rr::hnsw_metric m, const Eigen::RowVectorXf& q, const Eigen::RowVectorXf& x) {
  const Eigen::RowVectorXd a = q.cast<double>(), b = x.cast<double>();
  switch (m) {
    case rr::hnsw_metric::l2: return (a - b).squaredNorm();
    case rr::hnsw_metric::inner_product: return 1.0 - a.dot(b);
    default: return 1.0 - a.dot(b) / (a.norm() * b.norm());
  }
}

// exact k nearest ids by brute force (ties by lower id)
std::vector<index_t> brute(rr::hnsw_metric m, const matrix<float>& x, const Eigen::RowVectorXf& q, index_t k,
                           const std::set<index_t>& skip = {}) {
  std::vector<std::pair<double, index_t>> all;
  for (index_t i = 0; i < x.rows(); ++i)
    if (!skip.count(i)) all.push_back({exact_distance(m, q, x.row(i)), i});
  std::partial_sort(all.begin(), all.begin() + k, all.end());
  std::vector<index_t> ids;
  for (index_t i = 0; i < k; ++i) ids.push_back(all[i].second);
  return ids;
}

}  // namespace

TEST_CASE("hnsw_index: recall@10 against exact search for each metric", "[retrieval][hnsw]") {
  const auto x = clustered(2000, 16, 3);
  const auto q = clustered(50, 16, 4);
  for (auto m : {rr::hnsw_metric::l2, rr::hnsw_metric::inner_product, rr::hnsw_metric::cosine}) {
    rr::hnsw_index idx({.dim = 16, .metric = m, .m = 16, .ef_construction = 100, .capacity = 100});
    idx.add(x);  // ids 0..n-1, grows past the capacity
    REQUIRE(idx.size() == 2000);
    double hits = 0;
    for (index_t i = 0; i < q.rows(); ++i) {
      std::vector<float> qv(q.row(i).data(), q.row(i).data() + 16);
      const auto res = idx.search(qv, 10, 100);
      REQUIRE(res.size() == 10);
      const auto truth = brute(m, x, q.row(i), 10);
      for (std::size_t j = 0; j < res.size(); ++j) {
        // reported distance is the metric's distance, closest first
        REQUIRE(res[j].distance == Approx(exact_distance(m, q.row(i), x.row(res[j].id))).margin(1e-4));
        if (j > 0) REQUIRE(res[j - 1].distance <= res[j].distance);
        hits += std::count(truth.begin(), truth.end(), res[j].id);
      }
    }
    INFO("metric " << static_cast<int>(m) << " recall@10 " << hits / 500.0);
    REQUIRE(hits / 500.0 >= 0.95);
  }
}

TEST_CASE("hnsw_index: ef is per query and a larger ef does not lower recall", "[retrieval][hnsw]") {
  recblocks::rng g(7);
  matrix<float> x(3000, 24), q(40, 24);
  g.fill_uniform(x, 0.0, 1.0);
  g.fill_uniform(q, 0.0, 1.0);
  rr::hnsw_index idx({.dim = 24, .m = 8, .ef_construction = 40});
  idx.add(x);
  auto recall = [&](index_t ef) {
    const auto r = idx.search(q, 10, ef);
    double h = 0;
    for (index_t i = 0; i < q.rows(); ++i) {
      const auto t = brute(rr::hnsw_metric::l2, x, q.row(i), 10);
      for (index_t j = 0; j < 10; ++j) h += std::count(t.begin(), t.end(), r.ids(i, j));
    }
    return h / 400.0;
  };
  const double low = recall(10), high = recall(400);
  REQUIRE(high >= low);
  REQUIRE(high >= 0.97);
  // concurrent searches with different ef and a concurrent writer (exclusive lock) give valid results
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        const auto r = idx.search(q, 5, 10 + 50 * t);
        for (index_t i = 0; i < r.ids.rows(); ++i)
          for (index_t j = 0; j < 5; ++j) bad += r.ids(i, j) < 0 || r.ids(i, j) >= 3100;
      }
    });
  ts.emplace_back([&] {
    for (index_t i = 0; i < 100; ++i) {
      std::vector<float> v(24, 0.5f);
      idx.add(3000 + i, v);
    }
  });
  for (auto& t : ts) t.join();
  REQUIRE(bad == 0);
  REQUIRE(idx.size() == 3100);
}

TEST_CASE("hnsw_index: deletion, replacement and k bounds", "[retrieval][hnsw]") {
  const auto x = clustered(300, 8, 5);
  rr::hnsw_index idx({.dim = 8, .ef_construction = 64});
  idx.add(x);
  const std::vector<float> q(x.row(17).data(), x.row(17).data() + 8);
  REQUIRE(idx.search(q, 1)[0].id == 17);
  idx.mark_deleted(17);
  REQUIRE_FALSE(idx.contains(17));
  REQUIRE(idx.size() == 299);
  REQUIRE(idx.stored() == 300);
  const auto res = idx.search(q, 20, 200);
  const auto truth = brute(rr::hnsw_metric::l2, x, x.row(17), 20, {17});
  for (const auto& h : res) REQUIRE(h.id != 17);
  REQUIRE(res[0].id == truth[0]);
  REQUIRE_THROWS_AS(idx.mark_deleted(17), recblocks::value_error);
  REQUIRE_THROWS_AS(idx.mark_deleted(1000), recblocks::value_error);
  REQUIRE_THROWS_AS(idx.search(q, 300), recblocks::value_error);  // k > live elements: error, no clamp
  REQUIRE_THROWS_AS(idx.search(q, 0), recblocks::value_error);
  REQUIRE(idx.search(q, 299, 10).size() <= 299);
  // re-adding an id replaces its vector and undeletes it
  std::vector<float> far(8, 50.0f);
  idx.add(17, far);
  REQUIRE(idx.contains(17));
  REQUIRE(idx.search(far, 1)[0].id == 17);
  REQUIRE(idx.search(far, 1)[0].distance == Approx(0.0f).margin(1e-6));
}

TEST_CASE("hnsw_index: bad input is rejected", "[retrieval][hnsw]") {
  REQUIRE_THROWS_AS(rr::hnsw_index({.dim = 0}), recblocks::value_error);
  REQUIRE_THROWS_AS(rr::hnsw_index({.dim = 4, .m = 1}), recblocks::value_error);
  rr::hnsw_index idx({.dim = 4, .metric = rr::hnsw_metric::cosine});
  std::vector<float> ok{1, 2, 3, 4}, short_v{1, 2, 3}, nan_v{1, std::numeric_limits<float>::quiet_NaN(), 0, 0},
      zero(4, 0.0f);
  REQUIRE_THROWS_AS(idx.add(0, short_v), recblocks::shape_error);
  REQUIRE_THROWS_AS(idx.add(0, nan_v), recblocks::value_error);
  REQUIRE_THROWS_AS(idx.add(0, zero), recblocks::value_error);
  REQUIRE_THROWS_AS(idx.add(-1, ok), recblocks::value_error);
  REQUIRE_THROWS_AS(idx.search(ok, 1), recblocks::value_error);  // empty index: k > size
  idx.add(3, ok);
  REQUIRE_THROWS_AS(idx.search(short_v, 1), recblocks::shape_error);
  REQUIRE_THROWS_AS(idx.search(nan_v, 1), recblocks::value_error);
  REQUIRE_THROWS_AS(idx.search(matrix<float>::Ones(2, 5), 1), recblocks::shape_error);
  REQUIRE_THROWS_AS(idx.add(matrix<float>::Ones(2, 4), std::vector<index_t>{1}), recblocks::shape_error);
  REQUIRE(idx.search(ok, 1)[0].id == 3);
}

TEST_CASE("hnsw_index: save and load round trip, corrupted and truncated files", "[retrieval][hnsw]") {
  const auto x = clustered(200, 6, 9);
  rr::hnsw_index idx({.dim = 6, .metric = rr::hnsw_metric::inner_product, .m = 6, .ef_construction = 32});
  idx.add(x, 1000);
  idx.mark_deleted(1005);
  const std::string path = temp_file("hnsw_roundtrip.bin");
  idx.save(path);
  auto back = rr::hnsw_index::load(path);
  REQUIRE(back.dim() == 6);
  REQUIRE(back.metric() == rr::hnsw_metric::inner_product);
  REQUIRE(back.size() == 199);
  REQUIRE_FALSE(back.contains(1005));
  const auto q = clustered(10, 6, 10);
  const auto a = idx.search(q, 5, 50), b = back.search(q, 5, 50);
  REQUIRE(a.ids == b.ids);
  REQUIRE(a.distances == b.distances);

  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string bad = temp_file("hnsw_bad.bin");
  auto write = [&](const std::vector<char>& b) {
    std::ofstream out(bad, std::ios::binary | std::ios::trunc);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  auto expect_io = [&](const std::vector<char>& b) {
    write(b);
    REQUIRE_THROWS_AS(rr::hnsw_index::load(bad), recblocks::io_error);
  };
  // every truncation: prefixes in steps, plus every length near the header and the end
  std::vector<std::size_t> cuts;
  for (std::size_t n = 0; n < 200; ++n) cuts.push_back(n);
  for (std::size_t n = 200; n < bytes.size(); n += 97) cuts.push_back(n);
  for (std::size_t n = bytes.size() - 40; n < bytes.size(); ++n) cuts.push_back(n);
  for (auto n : cuts) expect_io(std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)));
  auto extended = bytes;
  extended.push_back(0);
  expect_io(extended);
  auto mutate = [&](std::size_t offset, char value) {
    auto b = bytes;
    b[offset] = value;
    return b;
  };
  expect_io(mutate(0, 'X'));                    // magic
  expect_io(mutate(8, 9));                      // format version
  expect_io(mutate(16, 7));                     // metric
  auto swapped = bytes;                         // endianness tag of the other byte order
  std::reverse(swapped.begin() + 12, swapped.begin() + 16);
  expect_io(swapped);
  expect_io(mutate(24, 7));                     // dimension
  expect_io(mutate(32, 3));                     // element count
  expect_io(mutate(72 + 16, 99));               // hnswlib's element count
  expect_io(mutate(72 + 64, 42));               // hnswlib's maxM
  // a graph link pointing outside the index (first link of element 0 at level 0)
  auto link = bytes;
  const std::size_t first_link = 72 + 96 + 4;
  link[first_link + 3] = static_cast<char>(0x7f);
  expect_io(link);
  expect_io(mutate(72 + 96, 100));              // link count of element 0 above 2M
  REQUIRE_THROWS_AS(rr::hnsw_index::load(temp_file("does_not_exist.bin")), recblocks::io_error);
  std::filesystem::remove(path);
  std::filesystem::remove(bad);
}
