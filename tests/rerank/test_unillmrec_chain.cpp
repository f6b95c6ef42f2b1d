// UniLLMRec chain (chain/): the driver's Algorithm 1, classical steps, LLM steps in one multi-turn
// session over scripted clients, validation / re-asks / fallbacks, a tree changing during a session,
// dynamic updates between sessions, node labels and token accounting.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <recblocks/chain.hpp>
#include <recblocks/llm/scripted_client.hpp>

using namespace recblocks;
namespace ch = recblocks::chain;
namespace rt = recblocks::retrieval;
namespace llm = recblocks::llm;

namespace {

// three well-separated blobs of 12 items each in 3 dims: ids 0..11 blob A (x axis), 12..23 B (y),
// 24..35 C (z); each blob's items spread a little around its axis
struct fixture {
  matrix<float> x{36, 3};
  std::vector<std::string> titles;
  rt::item_tree<float> tree{3, {.max_leaf_size = 4, .min_leaf_size = 0, .branching = 3, .kmeans_iterations = 20, .seed = 7}};
  fixture() {
    const char* names[3] = {"Racing", "Puzzle", "Shooter"};
    for (index_t i = 0; i < 36; ++i) {
      const index_t b = i / 12;
      x.row(i).setConstant(0.05f * static_cast<float>(i % 5));
      x(i, b) = 1.0f + 0.02f * static_cast<float>(i % 12);
      titles.push_back(std::string(names[b]) + " game " + std::to_string(i));
    }
    tree.build(x);
    tree.relabel(tree.root(), "games");
    // every cluster named after its title nearest the centroid, so a keyword "LLM" can steer the walk
    ch::node_labeler<float>({.titles_per_label = 1}).label_by_titles(tree, [this](index_t i) { return titles.at(static_cast<std::size_t>(i)); });
  }
  ch::llm_chain_steps<llm::scripted_client>::text_fn text() const {
    return [this](index_t i) { return titles.at(static_cast<std::size_t>(i)); };
  }
  ch::chain_user<float> user(std::vector<index_t> history) const {
    ch::chain_user<float> u;
    u.history = history;
    u.embedding = col_vector<float>::Zero(3);
    for (index_t h : history) u.embedding += x.row(h).transpose();
    return u;
  }
  index_t blob_of(index_t i) const { return i / 12; }
};

std::string last_user(const llm::chat_request& r) { return r.messages.back().content; }

// number of "N. " candidate lines in a prompt
int candidates_in(const std::string& p) {
  int n = 0;
  std::regex line(R"(\n(\d+)\. )");
  for (auto it = std::sregex_iterator(p.begin(), p.end(), line); it != std::sregex_iterator(); ++it) ++n;
  return n;
}

// An LLM that answers every step validly: it picks the candidates whose text contains `word` first.
llm::chat_response keyword_llm(const llm::chat_request& r, const std::string& word) {
  const std::string p = last_user(r);
  if (p.rfind("A user's click items", 0) == 0)
    return llm::scripted_client::make_response(r, R"({"interests": [")" + word + R"( games"]})");
  std::vector<int> good, rest;
  std::regex line(R"(\n(\d+)\. ([^\n]*))");
  for (auto it = std::sregex_iterator(p.begin(), p.end(), line); it != std::sregex_iterator(); ++it) {
    const int k = std::stoi((*it)[1]);
    ((*it)[2].str().find(word) != std::string::npos ? good : rest).push_back(k);
  }
  good.insert(good.end(), rest.begin(), rest.end());
  std::string field = p.find("\"rank\"") != std::string::npos ? "rank" : p.find("\"items\"") != std::string::npos ? "items" : "order";
  std::size_t keep = good.size();
  if (field == "items" || (field == "rank" && p.find("subcategories") == std::string::npos)) {
    std::smatch m;
    std::regex top(R"(Rank the top (\d+))");
    if (std::regex_search(p, m, top)) keep = std::min<std::size_t>(keep, std::stoul(m[1]));
  }
  std::string s = "{\"" + field + "\": [";
  for (std::size_t i = 0; i < keep; ++i) s += (i ? ", " : "") + std::to_string(good[i]);
  return llm::scripted_client::make_response(r, s + "]}");
}

}  // namespace

TEST_CASE("unillmrec chain: classical steps walk to the query's blob and rank by score", "[chain]") {
  fixture f;
  f.tree.check_invariants();
  ch::classical_chain_steps<float> c(f.tree);
  ch::unillmrec_chain<float> chain({.children_per_node = 10, .items_per_leaf = 5, .recall_n = 6, .final_n = 4});
  const auto u = f.user({13, 14});  // blob B
  const auto r = chain.run(f.tree, u, c, c, c, c, c);
  REQUIRE(r.recalled.size() == 6);
  for (index_t i : r.recalled) CHECK(f.blob_of(i) == 1);
  for (index_t i : r.recalled) CHECK((i != 13 && i != 14));  // history excluded
  REQUIRE(r.items.size() == 6);
  CHECK(std::set<index_t>(r.items.begin(), r.items.end()) == std::set<index_t>(r.recalled.begin(), r.recalled.end()));
  // ranked by cosine, descending
  auto cosq = [&](index_t i) {
    const col_vector<float> v = f.x.row(i).transpose();
    return v.dot(u.embedding) / (v.norm() * u.embedding.norm());
  };
  for (std::size_t p = 1; p < r.ranked.size(); ++p) CHECK(cosq(r.ranked[p - 1]) >= cosq(r.ranked[p]) - 1e-6f);
  // rerank = MMR over the top 4: the first item is the most relevant
  CHECK(r.items[0] == r.ranked[0]);
  CHECK(r.tree_tokens > 0);
  CHECK(r.profile.empty());
  CHECK(r.visited.front() == f.tree.root());
}

TEST_CASE("unillmrec chain: LLM steps run as one multi-turn session", "[chain]") {
  fixture f;
  llm::scripted_client model;
  model.otherwise([](const llm::chat_request& r) { return keyword_llm(r, "Shooter"); });
  ch::llm_chain_steps<llm::scripted_client> steps(model, f.text());
  ch::unillmrec_chain<float> chain({.items_per_leaf = 3, .recall_n = 6, .final_n = 4});
  const auto u = f.user({0, 1});  // history in blob A, but the "LLM" prefers shooters
  const auto r = chain.run(f.tree, u, steps, steps, steps, steps, steps);
  CHECK(r.profile == "Shooter games");
  REQUIRE(r.recalled.size() == 6);
  for (index_t i : r.recalled) CHECK(f.blob_of(i) == 2);
  REQUIRE(r.items.size() == 6);
  const auto reqs = model.requests();
  REQUIRE(reqs.size() >= 5);
  // one session: every later request starts with the profile exchange
  const std::string profile_prompt = reqs[0].messages[0].content;
  CHECK(profile_prompt.find("Racing game 0; Racing game 1") != std::string::npos);
  for (std::size_t k = 1; k < reqs.size(); ++k) {
    REQUIRE(reqs[k].messages.size() == 3);  // anchor (2) + current prompt; carry_exchanges = 0
    CHECK(reqs[k].messages[0].content == profile_prompt);
    CHECK(reqs[k].messages[1].role == llm::role::assistant);
    CHECK(reqs[k].options.format.kind == llm::format_kind::json_schema);
    CHECK(reqs[k].options.temperature == 0.0);
  }
  // token accounting by step
  const auto& use = steps.session().session_usage();
  for (const char* s : {"profile", "walk", "leaf_recall", "rank", "rerank"}) {
    INFO(s);
    REQUIRE(use.count(s));
    CHECK(use.at(s).calls >= 1);
    CHECK(use.at(s).first_valid == use.at(s).calls);
    CHECK(use.at(s).prompt_tokens > 0);
    CHECK(use.at(s).estimated_prompt_tokens > 0);
  }
  // the flat prompt over the whole catalogue reads more than the chain for this (tiny) tree's leaves
  std::vector<index_t> pool;
  for (index_t i = 0; i < 36; ++i)
    if (i != 0 && i != 1) pool.push_back(i);
  const std::string flat = steps.flat_prompt(u.history, pool, 10);
  CHECK(candidates_in(flat) == 34);
  CHECK(llm::estimate_tokens(flat) > 0);
  // carry window: with carry_exchanges = 1 the previous exchange is sent too
  llm::scripted_client model2;
  model2.otherwise([](const llm::chat_request& r) { return keyword_llm(r, "Puzzle"); });
  ch::llm_chain_steps<llm::scripted_client> steps2(model2, f.text(), {.session = {.carry_exchanges = 1}});
  const auto r2 = chain.run(f.tree, u, steps2, steps2, steps2, steps2, steps2);
  for (index_t i : r2.recalled) CHECK(f.blob_of(i) == 1);
  const auto reqs2 = model2.requests();
  REQUIRE(reqs2.size() >= 3);
  CHECK(reqs2[1].messages.size() == 3);
  CHECK(reqs2[2].messages.size() == 5);
}

TEST_CASE("unillmrec chain: invalid answers are re-asked in the session, then fall back (counted)", "[chain]") {
  fixture f;
  llm::scripted_client model;
  model.then_answer(R"({"interests": ["Racing"]})")
      .then_answer(R"({"rank": [9]})")        // walk at the root: no child 9 -> re-ask
      .then_answer(R"({"rank": []})")         // empty -> re-ask
      .then_answer(R"({"rank": [1, 1]})")     // repeat: accepted, repaired
      .then_garbage()                          // next step: no JSON
      .then_answer("[1]")                      // not an object
      .then_answer(R"({"nope": 1})");          // bad field -> fallback (3 attempts)
  model.otherwise([](const llm::chat_request& r) { return keyword_llm(r, "Racing"); });
  ch::llm_chain_steps<llm::scripted_client> steps(model, f.text());
  ch::unillmrec_chain<float> chain({.items_per_leaf = 2, .recall_n = 4, .final_n = 3});
  const auto r = chain.run(f.tree, f.user({2}), steps, steps, steps, steps, steps);
  const auto reqs = model.requests();
  // the re-ask carries the invalid answer and a message naming the problem
  REQUIRE(reqs.size() > 4);
  REQUIRE(reqs[2].messages.size() == 5);
  CHECK(reqs[2].messages[3].content == R"({"rank": [9]})");
  CHECK(reqs[2].messages[4].content.find("Number 9") != std::string::npos);
  const auto use = ch::total_usage(steps.session().usage());
  CHECK(use.retries >= 4);
  CHECK(use.fallbacks == 1);
  CHECK(use.repaired == 1);
  CHECK(use.failures.at("out_of_range") == 1);
  CHECK(use.failures.at("empty") == 1);
  CHECK(use.failures.at("no_json") == 1);
  CHECK(use.failures.at("not_object") == 1);
  CHECK(use.failures.at("bad_field") == 1);
  // the chain still produced a list of live items
  CHECK(r.items.size() == 4);
  for (index_t i : r.items) CHECK(f.tree.contains(i));
  // a failed step is not kept in the session: later requests are anchor + prompt
  CHECK(reqs.back().messages.size() == 3);
}

TEST_CASE("unillmrec chain: a tree changing during the session, limits, bad policies", "[chain]") {
  fixture f;
  // the client removes every blob-C item while the walk is asking (the tree changed mid-session)
  llm::scripted_client model;
  bool removed = false;
  model.otherwise([&](const llm::chat_request& r) {
    const std::string p = last_user(r);
    if (!removed && p.find("subcategories") != std::string::npos) {
      removed = true;
      for (index_t i = 24; i < 36; ++i) f.tree.remove(i);
    }
    return keyword_llm(r, "Shooter");
  });
  ch::llm_chain_steps<llm::scripted_client> steps(model, f.text());
  ch::unillmrec_chain<float> chain({.items_per_leaf = 3, .recall_n = 6, .final_n = 4});
  const auto r = chain.run(f.tree, f.user({0}), steps, steps, steps, steps, steps);
  f.tree.check_invariants();
  CHECK(removed);
  CHECK(r.stale_nodes + r.stale_items > 0);
  for (index_t i : r.items) CHECK(f.tree.contains(i));

  // max_visits bounds the walk
  fixture g;
  ch::classical_chain_steps<float> c(g.tree);
  ch::unillmrec_chain<float> short_chain({.recall_n = 30, .max_visits = 2});
  const auto r2 = short_chain.run(g.tree, g.user({0}), c, c, c, c, c);
  CHECK(r2.truncated);
  CHECK(r2.visited.size() == 2);

  // a policy choosing a child that does not exist: value_error naming it
  struct bad_policy {
    std::vector<rt::scored_child> choose(const rt::tree_query<float>&, std::string_view, std::span<const rt::child_info<float>> ch) {
      return {{static_cast<index_t>(ch.size()), 1.0}};
    }
  } bad;
  CHECK_THROWS_AS(short_chain.run(g.tree, g.user({0}), c, bad, c, c, c), value_error);
  // wrong embedding size
  ch::chain_user<float> wrong;
  wrong.embedding = col_vector<float>::Ones(5);
  CHECK_THROWS_AS(short_chain.run(g.tree, wrong, c, c, c, c, c), shape_error);
  CHECK_THROWS_AS(ch::unillmrec_chain<float>({.recall_n = 0}), value_error);
}

TEST_CASE("unillmrec chain: a user with no history", "[chain]") {
  fixture f;
  llm::scripted_client model;
  model.otherwise([](const llm::chat_request& r) { return keyword_llm(r, "Puzzle"); });
  ch::llm_chain_steps<llm::scripted_client> steps(model, f.text());
  ch::classical_chain_steps<float> c(f.tree);
  ch::unillmrec_chain<float> chain({.items_per_leaf = 3, .recall_n = 6, .final_n = 4});
  ch::chain_user<float> nobody;  // no history, no embedding
  const auto r = chain.run(f.tree, nobody, steps, steps, steps, steps, steps);
  CHECK(r.no_history);
  CHECK(steps.no_history() == 1);
  CHECK(r.profile.empty());
  CHECK(r.items.size() == 6);
  for (const auto& q : model.requests()) CHECK(q.messages.back().content.rfind("A user's click items", 0) != 0);
  // classical: children by item count, counted
  const auto rc = chain.run(f.tree, nobody, c, c, c, c, c);
  CHECK(rc.items.size() == 6);
  CHECK(c.no_embedding_calls() > 0);
}

TEST_CASE("unillmrec chain: items added and removed between sessions", "[chain]") {
  fixture f;
  ch::classical_chain_steps<float> c(f.tree);
  ch::unillmrec_chain<float> chain({.items_per_leaf = 5, .recall_n = 10, .final_n = 5});
  const auto u = f.user({31});
  auto r = chain.run(f.tree, u, c, c, c, c, c);
  const index_t best = r.ranked.front();
  // remove the best item: never returned again
  f.tree.remove(best);
  r = chain.run(f.tree, u, c, c, c, c, c);
  CHECK(std::find(r.items.begin(), r.items.end(), best) == r.items.end());
  // add a new item exactly at the user's direction: it is found at the top, without a rebuild
  const col_vector<float> q = u.embedding / u.embedding.norm();
  f.tree.insert(1000, q);
  f.tree.check_invariants();
  r = chain.run(f.tree, u, c, c, c, c, c);
  REQUIRE(!r.ranked.empty());
  CHECK(r.ranked.front() == 1000);
  // new clusters made by splits get labels from the labeller
  for (index_t i = 0; i < 6; ++i) f.tree.insert(2000 + i, q);
  ch::node_labeler<float> lab;
  f.titles.resize(2100, "New shooter");
  const index_t n = lab.label_by_titles(f.tree, f.text(), /*only_default=*/true);
  CHECK(n >= 0);
  for (index_t id : f.tree.node_ids()) {
    const auto& nd = f.tree.at(id);
    if (id != f.tree.root() && nd.kind == rt::node_kind::cluster) CHECK(nd.label.rfind("cluster ", 0) != 0);
  }
}

TEST_CASE("unillmrec chain: node labels from nearest-centroid titles and from an LLM", "[chain]") {
  fixture f;
  ch::node_labeler<float> lab({.titles_per_label = 1});
  const index_t relabelled = lab.label_by_titles(f.tree, f.text());
  CHECK(relabelled == f.tree.num_nodes() - 1);
  // a root child is one blob: its label is a title of that blob, the nearest to its centroid
  for (index_t c : f.tree.at(f.tree.root()).children) {
    const auto near = ch::node_labeler<float>::nearest_items(f.tree, c, 1);
    REQUIRE(near.size() == 1);
    CHECK(f.tree.at(c).label == f.titles[static_cast<std::size_t>(near[0])]);
    // brute force: no item of the subtree is closer to the centroid
    const col_vector<float> mu = f.tree.at(c).centroid;
    std::vector<index_t> items, st{c};
    while (!st.empty()) {
      const index_t x = st.back();
      st.pop_back();
      items.insert(items.end(), f.tree.at(x).items.begin(), f.tree.at(x).items.end());
      st.insert(st.end(), f.tree.at(x).children.begin(), f.tree.at(x).children.end());
    }
    const auto cosm = [&](index_t i) { return mu.dot(f.x.row(i).transpose()) / (mu.norm() * f.x.row(i).norm()); };
    for (index_t i : items) CHECK(cosm(i) <= cosm(near[0]) + 1e-6f);
  }
  // LLM labels at depth <= 1, the rest titles; garbage falls back to titles (counted)
  llm::scripted_client model;
  model.then_garbage().then_garbage();  // first node: two invalid answers -> title fallback
  model.otherwise([](const llm::chat_request& r) {
    CHECK(r.messages.size() == 1);
    CHECK(r.messages[0].content.find("Give a short name") != std::string::npos);
    return llm::scripted_client::make_response(r, R"({"label": " Group name "})");
  });
  ch::node_labeler<float> llm_lab({.llm_max_depth = 1, .max_attempts = 2});
  const auto use = llm_lab.label_by_llm(f.tree, model, f.text());
  const index_t root_children = static_cast<index_t>(f.tree.at(f.tree.root()).children.size());
  CHECK(use.calls == root_children);
  CHECK(use.fallbacks == 1);
  index_t named = 0;
  for (index_t c : f.tree.at(f.tree.root()).children) named += f.tree.at(c).label == "Group name";
  CHECK(named == root_children - 1);
  CHECK_THROWS_AS(ch::node_labeler<float>({.titles_per_label = 0}), value_error);
}
