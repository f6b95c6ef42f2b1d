#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/hnsw_index.hpp"
#include "recblocks/retrieval/negatives.hpp"
#include "recblocks/retrieval/topk.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::retrieval;

namespace {

struct hit {
  index_t id;
  float distance;
};

// exact L2 searcher over `items` built on retrieval::topk
struct exact_l2 {
  std::shared_ptr<rr::topk<float>> t;
  std::vector<hit> operator()(std::span<const float> q, index_t k) const {
    const auto r = t->search(Eigen::Map<const matrix<float>>(q.data(), 1, static_cast<index_t>(q.size())), k);
    std::vector<hit> out;
    for (index_t j = 0; j < k; ++j) out.push_back({r.ids(0, j), r.scores(0, j)});
    return out;
  }
};

// items at 0, 1, ..., n-1 on a line
matrix<float> line(index_t n) {
  matrix<float> x(n, 1);
  for (index_t i = 0; i < n; ++i) x(i, 0) = static_cast<float>(i);
  return x;
}

struct constant_source {  // a stand-in for a synthetic (e.g. LLM-written) source: fixed ids
  std::vector<index_t> ids;
  std::vector<index_t> sample(index_t, index_t count, recblocks::rng&) const {
    return std::vector<index_t>(ids.begin(), ids.begin() + std::min<index_t>(count, static_cast<index_t>(ids.size())));
  }
};

}  // namespace

static_assert(rr::negative_source<rr::random_negatives>);
static_assert(rr::negative_source<rr::in_batch_negatives>);
static_assert(rr::negative_source<rr::hard_negatives<exact_l2>>);
static_assert(rr::negative_source<rr::hybrid_negatives>);
static_assert(rr::negative_source<constant_source>);

TEST_CASE("random_negatives: distinct, never positive, uniform", "[retrieval][negatives]") {
  rr::random_negatives src(10, {{2, 7}, {}});
  recblocks::rng g(1);
  std::map<index_t, int> freq;
  for (int rep = 0; rep < 4000; ++rep) {
    const auto s = src.sample(0, 2, g);
    REQUIRE(s.size() == 2);
    REQUIRE(s[0] != s[1]);
    for (index_t id : s) {
      REQUIRE(id != 2);
      REQUIRE(id != 7);
      ++freq[id];
    }
  }
  REQUIRE(freq.size() == 8);
  for (const auto& [id, f] : freq) REQUIRE(std::abs(f - 1000) < 150);  // 8000 draws over 8 ids
  auto all = src.sample(0, 50, g);  // more than available: all 8 free ids
  std::sort(all.begin(), all.end());
  REQUIRE(all == std::vector<index_t>{0, 1, 3, 4, 5, 6, 8, 9});
  REQUIRE(src.sample(1, 10, g).size() == 10);
  REQUIRE_THROWS_AS(src.sample(2, 1, g), recblocks::value_error);
  REQUIRE_THROWS_AS(rr::random_negatives(5, {{5}}), recblocks::value_error);
}

TEST_CASE("in_batch_negatives: other instances' positives minus own positives", "[retrieval][negatives]") {
  rr::in_batch_negatives src({5, 7, 5, 9}, {{}, {9}, {}, {}});
  recblocks::rng g(2);
  REQUIRE(src.sample(0, 10, g) == std::vector<index_t>{7, 9});
  REQUIRE(src.sample(1, 10, g) == std::vector<index_t>{5});  // 9 is an extra positive of instance 1
  REQUIRE(src.sample(3, 10, g) == std::vector<index_t>{5, 7});
  std::set<index_t> seen;
  for (int rep = 0; rep < 50; ++rep) {
    const auto s = src.sample(0, 1, g);
    REQUIRE(s.size() == 1);
    seen.insert(s[0]);
  }
  REQUIRE(seen == std::set<index_t>{7, 9});
  REQUIRE_THROWS_AS(src.sample(4, 1, g), recblocks::value_error);
  REQUIRE_THROWS_AS(rr::in_batch_negatives({1, 2}, {{1}}), recblocks::shape_error);
}

TEST_CASE("hard_negatives: skip top ranks, exclude positives and the margin band", "[retrieval][negatives]") {
  const auto items = line(40);
  matrix<float> q(2, 1);
  q << 10.2f, 10.7f;
  exact_l2 s{std::make_shared<rr::topk<float>>(items, rr::topk_metric::l2)};
  recblocks::rng g(3);
  {
    rr::hard_negatives<exact_l2> h(s, q, items, {{10}, {9}}, {.margin = 0.0});
    // query 10.2, positive 10 (d = 0.04): closest others are 11, 9, 12, 8
    REQUIRE(h.sample(0, 4, g) == std::vector<index_t>{11, 9, 12, 8});
    // query 10.7, positive 9 (d = 2.89): 11 (0.09), 10 (0.49), 12 (1.69) score better than the
    // positive -> possible false negatives, excluded; next are 13 (5.29), 8 (7.29), 14 (10.89)
    REQUIRE(h.positive_distance(1) == Approx(2.89).epsilon(1e-5));
    REQUIRE(h.sample(1, 3, g) == std::vector<index_t>{13, 8, 14});
  }
  {
    rr::hard_negatives<exact_l2> h(s, q, items, {{10}, {9}}, {.skip_top = 2, .margin = -1e30});
    REQUIRE(h.sample(0, 3, g) == std::vector<index_t>{9, 12, 8});  // ranks 0 (10) and 1 (11) skipped
    REQUIRE(h.sample(1, 2, g) == std::vector<index_t>{12, 13});    // ranks 0 (11), 1 (10) skipped; 9 positive
  }
  {
    rr::hard_negatives<exact_l2> h(s, q, items, {{10}, {9}}, {.margin = 1.0});
    REQUIRE(h.sample(0, 2, g) == std::vector<index_t>{9, 12});  // 11 (0.64 < 1.04) excluded
    // deep search: everything except the far end is in the band -> the depth has to grow
    rr::hard_negatives<exact_l2> deep(s, q, items, {{10}, {0}}, {.margin = 0.0});
    // query 10.7, positive 0 at d = 114.49: only ids >= 22 lie at least as far, so the first search
    // depth (19 ranks) keeps nothing and the depth has to grow
    REQUIRE(deep.sample(1, 5, g) == std::vector<index_t>{22, 23, 24, 25, 26});
    REQUIRE(deep.sample(1, 100, g).size() == 18);  // 22..39: the catalogue runs out
  }
  {
    rr::hard_negatives<exact_l2> h(s, q, items, {{10}, {9}}, {.pool = 5});
    std::set<index_t> seen;
    for (int rep = 0; rep < 60; ++rep) {
      const auto v = h.sample(0, 2, g);
      REQUIRE(v.size() == 2);
      for (index_t id : v) seen.insert(id);
    }
    REQUIRE(seen == std::set<index_t>{11, 9, 12, 8, 13});  // only the 5 hardest
  }
  REQUIRE_THROWS_AS(rr::hard_negatives<exact_l2>(s, q, items, {{10}}), recblocks::shape_error);
  REQUIRE_THROWS_AS(rr::hard_negatives<exact_l2>(s, q, items, {{10}, {40}}), recblocks::value_error);
  REQUIRE_THROWS_AS(rr::hard_negatives<exact_l2>(s, q, matrix<float>::Zero(4, 2), {{1}, {2}}), recblocks::shape_error);
}

TEST_CASE("hard_negatives mined from an hnsw_index", "[retrieval][negatives][hnsw]") {
  recblocks::rng g(4);
  matrix<float> items(500, 8), q(5, 8);
  g.fill_normal(items, 0.0, 1.0);
  g.fill_normal(q, 0.0, 1.0);
  auto index = std::make_shared<rr::hnsw_index>(rr::hnsw_options{.dim = 8});
  index->add(items);
  auto searcher = [index](std::span<const float> v, index_t k) { return index->search(v, k, 200); };
  const std::vector<std::vector<index_t>> pos{{1}, {2}, {3}, {4}, {5}};
  rr::hard_negatives<decltype(searcher)> h(searcher, q, items, pos, {.skip_top = 1, .margin = 0.0});
  exact_l2 exact{std::make_shared<rr::topk<float>>(items, rr::topk_metric::l2)};
  rr::hard_negatives<exact_l2> ref(exact, q, items, pos, {.skip_top = 1, .margin = 0.0});
  for (index_t i = 0; i < 5; ++i) {
    const auto a = h.sample(i, 10, g), b = ref.sample(i, 10, g);
    REQUIRE(a.size() == 10);
    index_t common = 0;
    for (index_t id : a) {
      REQUIRE(id != pos[i][0]);
      REQUIRE(items.row(id).cast<double>().dot(items.row(id).cast<double>()) >= 0);
      common += std::count(b.begin(), b.end(), id);
    }
    REQUIRE(common >= 9);  // ef = 200 on 500 items: (near) exact
  }
}

TEST_CASE("hybrid_negatives mixes sources per instance with configured counts", "[retrieval][negatives]") {
  const auto items = line(40);
  matrix<float> q(2, 1);
  q << 10.2f, 30.0f;
  exact_l2 s{std::make_shared<rr::topk<float>>(items, rr::topk_metric::l2)};
  const std::vector<std::vector<index_t>> pos{{10}, {30}};
  rr::hybrid_negatives mix;
  mix.add_source("synthetic", constant_source{{11, 12, 13}}, 2)
      .add_source("hard", rr::hard_negatives<exact_l2>(s, q, items, pos), 3)
      .add_source("random", rr::random_negatives(40, pos), 2);
  REQUIRE(mix.total_count() == 7);
  REQUIRE(mix.source_name(1) == "hard");
  recblocks::rng g(5);
  for (int rep = 0; rep < 20; ++rep) {
    const auto v = mix.sample_labeled(0, g);
    REQUIRE(v.size() == 7);
    std::set<index_t> ids;
    for (const auto& n : v) {
      REQUIRE(n.id != 10);
      ids.insert(n.id);
    }
    REQUIRE(ids.size() == 7);  // de-duplicated across sources
    // synthetic gives 11, 12; hard (ranked 11, 9, 12, 8, 13, ...) is re-asked past the duplicates
    REQUIRE(v[0].id == 11);
    REQUIRE(v[1].id == 12);
    REQUIRE(v[0].source == 0);
    REQUIRE(v[2].source == 1);
    REQUIRE(v[2].id == 9);  // 11 and 12 already taken by the synthetic source
    REQUIRE(v[3].id == 8);
    REQUIRE(v[4].id == 13);
    REQUIRE(v[5].source == 2);
    REQUIRE(v[6].source == 2);
  }
  // proportional split of an explicit count: 14 = 4 + 6 + 4; the synthetic source has only 3 ids
  // and runs out (no other source makes up for it)
  const auto v = mix.sample(1, 14, g);
  REQUIRE(v.size() == 13);
  REQUIRE(std::set<index_t>(v.begin(), v.end()).size() == 13);
  REQUIRE(v[0] == 11);
  REQUIRE(v[2] == 13);
  REQUIRE(v[3] == 29);  // hard negatives of query 30 (positive 30 excluded): 29, 31, 28, 32, 27, 33
  REQUIRE(v[4] == 31);
  rr::hybrid_negatives nested;  // hybrids nest through the negative_source form
  nested.add_source("inner", mix, 1);
  REQUIRE(nested.sample(0, g).size() == 1);
  REQUIRE_THROWS_AS(rr::hybrid_negatives().sample(0, 3, g), recblocks::state_error);
}
