// Tests of retrieval::item_tree: building from category paths and recursive k-means, dynamic updates
// with rebalancing, beam / DFS search with pluggable policies, token accounting, serialization, errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "recblocks/core/rng.hpp"
#include "recblocks/retrieval/centroid_policy.hpp"
#include "recblocks/retrieval/item_tree.hpp"
#include "recblocks/retrieval/text_hashing.hpp"

using recblocks::index_t;
using recblocks::matrix;
using recblocks::col_vector;
namespace rt = recblocks::retrieval;
using tree = rt::item_tree<float>;

namespace {

// Three well-separated 2-D blobs of `per` items each: centres (0,0), (10,0), (0,10); ids 0..3*per-1.
matrix<float> blobs(index_t per, recblocks::rng& g) {
  matrix<float> x(3 * per, 2);
  const float cx[3] = {0, 10, 0}, cy[3] = {0, 0, 10};
  for (index_t b = 0; b < 3; ++b)
    for (index_t i = 0; i < per; ++i) {
      x(b * per + i, 0) = cx[b] + static_cast<float>(g.normal(0, 0.5));
      x(b * per + i, 1) = cy[b] + static_cast<float>(g.normal(0, 0.5));
    }
  return x;
}

col_vector<float> vec2(float a, float b) {
  col_vector<float> v(2);
  v << a, b;
  return v;
}

index_t count_leaves(const tree& t) {
  index_t n = 0;
  for (index_t id : t.node_ids()) n += t.at(id).is_leaf();
  return n;
}

index_t child_by_label(const tree& t, index_t node, const std::string& label) {
  for (index_t c : t.at(node).children)
    if (t.at(c).label == label) return c;
  return -1;
}

// A scripted stand-in for an LLM policy: ranks children by label, descending, scores 1 / (1 + rank).
struct label_policy {
  int calls = 0;
  std::vector<rt::scored_child> choose(const rt::tree_query<float>&, std::string_view,
                                       std::span<const rt::child_info<float>> children) {
    ++calls;
    std::vector<rt::scored_child> out;
    for (std::size_t c = 0; c < children.size(); ++c) out.push_back({static_cast<index_t>(c), 0.0});
    std::sort(out.begin(), out.end(),
              [&](auto a, auto b) { return children[a.index].label > children[b.index].label; });
    for (std::size_t r = 0; r < out.size(); ++r) out[r].score = 1.0 / (1.0 + static_cast<double>(r));
    return out;
  }
};

struct broken_policy {
  index_t bad_index;
  std::vector<rt::scored_child> choose(const rt::tree_query<float>&, std::string_view,
                                       std::span<const rt::child_info<float>>) const {
    return {{bad_index, 1.0}};
  }
};

static_assert(rt::child_policy<rt::centroid_policy, float>);
static_assert(rt::child_policy<label_policy, float>);

}  // namespace

TEST_CASE("item_tree: build from category paths", "[retrieval][item_tree]") {
  // items: 0 games/rpg, 1 games/rpg, 2 games/action, 3 games (ends at an internal node), 4 consoles
  matrix<float> x(5, 2);
  x << 1, 0, 3, 0, 0, 2, 0, 4, 8, 8;
  tree t(2, {4, 0, 2, 10, 1});
  t.build(x, {10, 11, 12, 13, 14}, {{"games", "rpg"}, {"games", "rpg"}, {"games", "action"}, {"games"}, {"consoles"}});
  t.check_invariants();
  CHECK(t.size() == 5);
  const index_t games = child_by_label(t, t.root(), "games");
  const index_t consoles = child_by_label(t, t.root(), "consoles");
  REQUIRE(games >= 0);
  REQUIRE(consoles >= 0);
  CHECK(t.at(games).count == 4);
  CHECK(t.at(games).centroid.isApprox(vec2(1, 1.5)));  // mean of (1,0) (3,0) (0,2) (0,4)
  const index_t rpg = child_by_label(t, games, "rpg");
  CHECK(t.at(rpg).items == std::vector<index_t>{10, 11});
  CHECK(t.at(rpg).centroid.isApprox(vec2(2, 0)));
  const index_t other = child_by_label(t, games, "(other)");
  REQUIRE(other >= 0);
  CHECK(t.at(other).kind == rt::node_kind::other);
  CHECK(t.leaf_of(13) == other);
  CHECK(t.path_of(12) == std::vector<std::string>{"games", "action"});
  CHECK(t.depth() == 2);
}

TEST_CASE("item_tree: recursive k-means keeps leaves small and pure", "[retrieval][item_tree]") {
  recblocks::rng g(1);
  const matrix<float> x = blobs(40, g);
  tree t(2, {10, 0, 3, 20, 7});
  t.build(x);
  t.check_invariants();
  CHECK(t.size() == 120);
  CHECK(t.at(t.root()).children.size() == 3);  // k = min(3, ceil(120 / 10)) = 3 blobs
  for (index_t id : t.node_ids()) {
    const auto& n = t.at(id);
    if (!n.is_leaf()) continue;
    CHECK(static_cast<index_t>(n.items.size()) <= 10);
    std::set<index_t> blob;
    for (index_t i : n.items) blob.insert(i / 40);
    CHECK(blob.size() == 1);
  }
  CHECK(count_leaves(t) >= 12);
  CHECK(t.at(t.root()).centroid.isApprox(x.colwise().mean().transpose(), 1e-4f));
}

TEST_CASE("item_tree: insert splits, remove collapses and dissolves", "[retrieval][item_tree]") {
  tree t(2, {4, 1, 2, 10, 3});
  // four items in one leaf (the root): no split yet
  for (index_t i = 0; i < 4; ++i) t.insert(i, vec2(static_cast<float>(i), 0));
  CHECK(t.at(t.root()).is_leaf());
  // a fifth far away: the root splits into 2 clusters
  t.insert(4, vec2(100, 0));
  t.check_invariants();
  REQUIRE(t.at(t.root()).children.size() == 2);
  const index_t far_leaf = t.leaf_of(4);
  CHECK(t.at(far_leaf).items == std::vector<index_t>{4});
  // removing one of the four: root count 4 <= max -> ... no leaf under-full (min 1) -> structure kept
  t.remove(0);
  t.check_invariants();
  CHECK(t.at(t.root()).children.size() == 2);
  // removing the far item empties its leaf: it is deleted and the single sibling is absorbed
  t.remove(4);
  t.check_invariants();
  CHECK(t.at(t.root()).is_leaf());
  CHECK(t.at(t.root()).items.size() == 3);
  CHECK_FALSE(t.contains(4));
}

TEST_CASE("item_tree: under-full cluster leaf collapses into its parent", "[retrieval][item_tree]") {
  // max 4, min 2: 5 items split into {0,1,2} near 0 and {3,4} near 50; removing 3 leaves {4} (< 2)
  // and the root holds 4 <= max items: the subtree collapses into one leaf.
  tree t(2, {4, 2, 2, 10, 3});
  t.insert(0, vec2(0, 0));
  t.insert(1, vec2(1, 0));
  t.insert(2, vec2(2, 0));
  t.insert(3, vec2(50, 0));
  t.insert(4, vec2(51, 0));
  REQUIRE(t.at(t.root()).children.size() == 2);
  t.remove(3);
  t.check_invariants();
  CHECK(t.at(t.root()).is_leaf());
  CHECK(t.size() == 4);
}

TEST_CASE("item_tree: random updates keep every invariant (brute-force contents)", "[retrieval][item_tree]") {
  recblocks::rng g(3);
  tree t(3, {6, 0, 3, 5, 11});
  std::set<index_t> live;
  const std::vector<std::vector<std::string>> paths{{}, {"a"}, {"a", "x"}, {"b"}, {"a", "y"}};
  index_t next = 0;
  for (int step = 0; step < 600; ++step) {
    const double u = g.uniform();
    if (u < 0.55 || live.empty()) {
      col_vector<float> v(3);
      for (int d = 0; d < 3; ++d) v(d) = static_cast<float>(g.normal(g.integer(0, 2) * 5.0, 1.0));
      t.insert(next, v, paths[static_cast<std::size_t>(g.integer(0, 4))]);
      live.insert(next++);
    } else {
      auto it = live.begin();
      std::advance(it, g.integer(0, static_cast<index_t>(live.size()) - 1));
      if (u < 0.85) {
        t.remove(*it);
        live.erase(it);
      } else {
        t.move(*it, paths[static_cast<std::size_t>(g.integer(0, 4))]);
      }
    }
    t.check_invariants();
    REQUIRE(t.size() == static_cast<index_t>(live.size()));
  }
  for (index_t id : live) CHECK(t.contains(id));
  // every leaf holds at most max_leaf_size items, and the items' paths match their category ancestors
  for (index_t id : live) {
    const auto& p = t.path_of(id);
    index_t n = t.leaf_of(id);
    std::vector<std::string> cats;
    for (; n != t.root(); n = t.at(n).parent)
      if (t.at(n).kind == rt::node_kind::category) cats.insert(cats.begin(), t.at(n).label);
    CHECK(cats == p);
  }
}

TEST_CASE("item_tree: a category arriving at a clustered node pushes the clusters down", "[retrieval][item_tree]") {
  recblocks::rng g(2);
  tree t(2, {10, 0, 3, 10, 5});
  t.build(blobs(20, g));
  REQUIRE(t.at(t.root()).children.size() == 3);
  t.insert(1000, vec2(5, 5), {"new"});
  t.check_invariants();
  const auto& root = t.at(t.root());
  REQUIRE(root.children.size() == 2);
  const index_t other = child_by_label(t, t.root(), "(other)");
  REQUIRE(other >= 0);
  CHECK(t.at(other).count == 60);
  CHECK(t.at(other).children.size() == 3);
  CHECK(t.at(child_by_label(t, t.root(), "new")).items == std::vector<index_t>{1000});
  // moving the only "new" item back into the clusters removes the category and un-pushes the clusters
  t.move(1000, {});
  t.check_invariants();
  CHECK(t.at(t.root()).children.size() == 3);
}

TEST_CASE("item_tree: beam search equals exact search when the beam covers the tree", "[retrieval][item_tree]") {
  recblocks::rng g(4);
  const matrix<float> x = blobs(50, g);
  tree t(2, {8, 0, 4, 20, 9});
  t.build(x);
  for (int trial = 0; trial < 10; ++trial) {
    rt::tree_query<float> q;
    q.embedding = vec2(static_cast<float>(g.uniform(-2, 12)), static_cast<float>(g.uniform(-2, 12)));
    q.exclude = {0, 1, 2};
    rt::tree_search_options o;
    o.k = 7;
    o.beam_width = 1000;
    const auto r = t.search(q, rt::centroid_policy{}, o);
    // exact: inner product over all items not excluded
    std::vector<std::pair<double, index_t>> all;
    for (index_t i = 3; i < x.rows(); ++i) all.push_back({x.row(i).cast<double>().dot(q.embedding.cast<double>()), i});
    std::stable_sort(all.begin(), all.end(), [](auto a, auto b) { return a.first > b.first; });
    REQUIRE(r.items.size() == 7);
    for (std::size_t p = 0; p < 7; ++p) CHECK(r.scores[p] == Approx(all[p].first).epsilon(1e-5));
    CHECK(r.items_scored == 150);
  }
  // a narrow beam towards blob 2 (centre (0, 10)) returns only blob-2 items and reads fewer items
  rt::tree_query<float> q;
  q.embedding = vec2(0, 10);
  rt::tree_search_options o;
  o.k = 5;
  o.beam_width = 2;
  o.cosine_items = true;
  const auto r = t.search(q, rt::centroid_policy{}, o);
  REQUIRE(r.items.size() == 5);
  for (index_t i : r.items) CHECK(i / 50 == 2);
  CHECK(r.items_scored < 150);
  CHECK(r.tokens > 0);
}

TEST_CASE("item_tree: DFS with a scripted policy follows UniLLMRec's stack order", "[retrieval][item_tree]") {
  // categories a, b, c with 2 items each; the policy ranks labels descending: c, b, a.
  matrix<float> x(6, 2);
  x << 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0;
  tree t(2, {4, 0, 2, 10, 1});
  t.build(x, {}, {{"a"}, {"a"}, {"b"}, {"b"}, {"c"}, {"c"}});
  rt::tree_query<float> q;
  q.embedding = vec2(1, 0);
  rt::tree_search_options o;
  o.method = rt::tree_search_options::strategy::dfs;
  o.k = 3;
  o.items_per_leaf = 1;
  label_policy p;
  const auto r = t.search(q, p, o);
  // leaves visited c, b, a; the best item (largest x) of each: 5, 3, 1
  CHECK(r.items == std::vector<index_t>{5, 3, 1});
  CHECK(p.calls == 1);
  REQUIRE(r.visits.size() == 4);
  CHECK(r.visits[0].node == t.root());
  CHECK(t.at(r.visits[1].node).label == "c");
  // children_per_node = 1: only c is pushed, the stack empties after one leaf
  o.children_per_node = 1;
  o.items_per_leaf = 5;
  const auto r2 = t.search(q, p, o);
  CHECK(r2.items == std::vector<index_t>{5, 4});
}

TEST_CASE("item_tree: token accounting, hand-computed", "[retrieval][item_tree]") {
  // root label "root": max(1 word, ceil(4 / 4)) = 1.
  // "games (3 items)": 15 bytes -> 4, 3 words -> 4.  "consoles (1 items)": 18 bytes -> 5, 3 words -> 5.
  CHECK(rt::estimate_tokens("root") == 1);
  CHECK(rt::estimate_tokens("games (3 items)") == 4);
  CHECK(rt::estimate_tokens("a b c d e") == 5);  // 9 bytes -> 3, but 5 words
  CHECK(rt::estimate_tokens("") == 0);
  matrix<float> x(4, 2);
  x << 1, 0, 2, 0, 3, 0, 4, 0;
  tree t(2, {4, 0, 2, 10, 1});
  t.build(x, {}, {{"games"}, {"games"}, {"games"}, {"consoles"}});
  CHECK(t.tokens_at(t.root()) == 1 + 4 + 5);
  CHECK(t.tokens_at(child_by_label(t, t.root(), "games")) == 0);  // a leaf
  rt::tree_search_options o;
  const auto r = t.search(rt::tree_query<float>{vec2(1, 0), "", {}}, rt::centroid_policy{}, o);
  CHECK(r.tokens == 10);
  t.relabel(child_by_label(t, t.root(), "games"), "video games and more");  // 25 bytes+ " (3 items)"
  CHECK(t.tokens_at(t.root()) == 1 + rt::estimate_tokens("video games and more (3 items)") + 5);
}

TEST_CASE("item_tree: categories only (dim 0) split leaves into chunks", "[retrieval][item_tree]") {
  rt::item_tree<float> t(0, {3, 0, 2, 10, 1});
  const matrix<float> none(7, 0);
  t.build(none, {}, std::vector<std::vector<std::string>>(7, {"x"}));
  t.check_invariants();
  const index_t xnode = child_by_label(t, t.root(), "x");
  // 7 items, k = min(branching 2, ceil(7 / 3)) = 2 chunks {3, 4}; the 4-chunk cannot become a sibling
  // (x already has 2 = branching children), so it splits below into {2, 2}.
  CHECK(t.at(xnode).children.size() == 2);
  CHECK(t.depth() == 3);
  // search without embeddings works with a text policy; items keep leaf order
  rt::tree_search_options o;
  o.method = rt::tree_search_options::strategy::dfs;
  o.k = 7;
  label_policy p;
  const auto r = t.search(rt::tree_query<float>{}, p, o);
  CHECK(r.items.size() == 7);
  CHECK_THROWS_AS(t.search(rt::tree_query<float>{}, rt::centroid_policy{}, o), recblocks::shape_error);
}
