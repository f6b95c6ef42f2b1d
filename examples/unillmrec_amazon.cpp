// unillmrec_amazon: UniLLMRec's chain of recommendation (papers.md §10) on Amazon Video Games titles
// (LLMRank's leave-one-out split): profile -> item-tree walk (Algorithm 1) -> leaf recall -> rank ->
// rerank, as one multi-turn LLM session, against the classical chain (centroid policy, score ranking,
// MMR), two mixed chains, exact search and hnsw over the same item vectors, with items added and
// removed between sessions and tokens counted per step against a flat prompt.
//
// Item vectors: hashed word + character n-gram vectors of the titles (retrieval::text_hashing, 256
// dims), as examples/item_tree_amazon. Tree: recursive k-means, branching 8, leaves <= 50 (LLMTreeRec's
// cap); nodes at depth 1 labelled by the LLM, deeper ones by the 2 titles nearest their centroid.
// Users: every 7th test user (the first N), target = the held-out next item; history excluded.
// Dynamic updates: 2% of the catalogue (ids = 0 mod 50) is held out of the initial tree; before each
// round of 3 users, 12 of them are inserted and 6 other items (ids = 25 mod 50, never
// a sampled user's item) removed, without rebuilding; new clusters get title labels.
//
// The LLM answers are recorded (examples/data/unillmrec_amazon_records.jsonl.gz) and replayed by
// default; --live re-asks the server of RECBLOCKS_LLM_URL (tools/llm_server.sh) and rewrites them.
//
// Usage: unillmrec_amazon [--users N] [--eval-users M] [--live] [--threads T] [--data DIR] [--records FILE] [--efc EF]
// (--eval-users M: the classical chain, exact search and hnsw also on the first M sampled users, on the
// final tree, for a sample large enough to compare them; 0 skips)
// Exit status: 0 done; 1 bad data or a failure (a replay miss names the request); 2 bad flags;
// 77 skipped ($RECBLOCKS_DATA unset or without the dataset).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.hpp"
#include "recblocks/chain/classical_chain_steps.hpp"
#include "recblocks/chain/llm_chain_steps.hpp"
#include "recblocks/chain/node_labeler.hpp"
#include "recblocks/chain/unillmrec_chain.hpp"
#include "recblocks/core/rng.hpp"
#include "recblocks/llm/any_client.hpp"
#include "recblocks/llm/caching_client.hpp"
#include "recblocks/llm/recorded_client.hpp"
#include "recblocks/llm/response_cache.hpp"
#include "recblocks/retrieval/item_tree.hpp"
#include "recblocks/retrieval/text_hashing.hpp"
#if defined(RECBLOCKS_HAVE_CURL)
#include "recblocks/llm/http_client.hpp"
#endif
#if __has_include(<hnswlib/hnswlib.h>)
#include "recblocks/retrieval/hnsw_index.hpp"
#define UNILLMREC_EXAMPLE_HNSW 1
#endif

using recblocks::col_vector;
using recblocks::index_t;
using recblocks::matrix;
namespace ch = recblocks::chain;
namespace llm = recblocks::llm;
namespace rt = recblocks::retrieval;
using recblocks_examples::parse_id;
using recblocks_examples::seconds_since;

namespace {

constexpr const char* prompt_version = "unillmrec_amazon/1";
constexpr const char* recorded_model = "gemma-3-270m-q4_k_m";
constexpr index_t recorded_users = 30;  // the fixed sample recorded in the shipped file (the first 30 sampled users)
constexpr index_t stride = 7;           // every 7th test user (as item_tree_amazon)
constexpr index_t max_sample = 120;     // users whose items are never removed by the update schedule
constexpr index_t max_eval_users = 7000;  // --eval-users bound (every 7th of 50,546)
constexpr index_t round_size = 3;       // updates happen before each round of this many users
constexpr index_t inserts_per_round = 12, removals_per_round = 6;

struct user_row {
  std::vector<index_t> history;
  index_t target = -1;
};

// per-user outcome of one method
struct outcome {
  double hit10 = 0, hit20 = 0, ndcg10 = 0, ild10 = 0, sim10 = 0, seconds = 0;  // sim10: see scorer
  ch::step_usage usage;                       // LLM usage of the session (all steps)
  std::map<std::string, ch::step_usage> by_step;
  ch::chain_result chain;                     // empty for exact / hnsw
  bool has_chain = false;
};

struct scorer {
  const matrix<float>* x;
  void score(outcome& o, const std::vector<index_t>& items, index_t target) const {
    for (std::size_t p = 0; p < items.size() && p < 20; ++p)
      if (items[p] == target) {
        o.hit20 = 1;
        if (p < 10) {
          o.hit10 = 1;
          o.ndcg10 = 1.0 / std::log2(static_cast<double>(p) + 2.0);
        }
      }
    // intra-list diversity of the top 10: 1 - mean pairwise cosine
    const std::size_t n = std::min<std::size_t>(10, items.size());
    // sim@10: the largest cosine between the held-out target's title vector and a top-10 item (a graded
    // proxy of how close the list comes to the target when exact hits are too rare to compare methods)
    {
      const auto vt = x->row(target);
      o.sim10 = 0;
      for (std::size_t a = 0; a < n; ++a) {
        const auto va = x->row(items[a]);
        const double d = static_cast<double>(va.norm()) * static_cast<double>(vt.norm());
        o.sim10 = std::max(o.sim10, d > 0 ? static_cast<double>(va.dot(vt)) / d : 0.0);
      }
    }
    double s = 0;
    int pairs = 0;
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) {
        const auto va = x->row(items[a]), vb = x->row(items[b]);
        const double d = static_cast<double>(va.norm()) * static_cast<double>(vb.norm());
        s += d > 0 ? static_cast<double>(va.dot(vb)) / d : 0.0;
        ++pairs;
      }
    o.ild10 = pairs ? 1.0 - s / pairs : 0.0;
  }
};

// An answerer for token accounting on many users without a model: a fixed profile, and every list
// answer takes the candidates in the order shown (as many as the schema allows).
struct shown_order_client {
  llm::chat_response chat(const llm::chat_request& r) const {
    llm::chat_response resp;
    const auto& props = r.options.format.schema.at("properties");
    const std::string field = props.begin().key();
    if (field == "interests") {
      resp.text = R"({"interests": ["video games"]})";
    } else {
      const auto& f = props.begin().value();
      const std::size_t n = std::min(f.at("items").at("enum").size(), f.at("maxItems").get<std::size_t>());
      std::string s = "{\"" + field + "\": [";
      for (std::size_t i = 1; i <= n; ++i) s += (i > 1 ? ", " : "") + std::to_string(i);
      resp.text = s + "]}";
    }
    resp.usage.prompt_tokens = static_cast<long>(llm::estimate_tokens(r));
    resp.usage.completion_tokens = static_cast<long>(llm::estimate_tokens(resp.text));
    return resp;
  }
};

int run(index_t n_users, index_t eval_users, bool live, index_t threads, const std::string& data_flag, std::string records, index_t efc);

}  // namespace

int main(int argc, char** argv) {
  index_t n_users = recorded_users, eval_users = 2000, threads = 1, efc = 48;
  bool live = false;
  std::string data_flag, records;
  recblocks_examples::command_line cl(
      "unillmrec_amazon", "unillmrec_amazon [--users N] [--eval-users M] [--live] [--threads T] [--data DIR] [--records FILE] [--efc EF]");
  cl.option("--users", n_users);
  cl.option("--threads", threads);
  cl.option("--eval-users", eval_users);
  cl.option("--data", data_flag);
  cl.option("--records", records);
  cl.option("--efc", efc);
  cl.flag("--live", live);
  cl.parse(argc, argv);
  if (n_users < 1 || n_users > max_sample) cl.fail("--users must be in [1, " + std::to_string(max_sample) + "]");
  if (eval_users < 0 || eval_users > max_eval_users) cl.fail("--eval-users must be in [0, " + std::to_string(max_eval_users) + "]");
  if (threads < 1 || threads > 64) cl.fail("--threads must be in [1, 64]");
  if (efc < 1) cl.fail("--efc must be >= 1");
  if (!live && n_users > recorded_users)
    cl.fail("--users " + std::to_string(n_users) + ": the shipped records hold the first " + std::to_string(recorded_users) +
            " users (record more with --live)");
  try {
    return run(n_users, eval_users, live, threads, data_flag, records, efc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unillmrec_amazon: %s\n", e.what());
    return 1;
  }
}

namespace {

int run(index_t n_users, index_t eval_users, bool live, index_t threads, const std::string& data_flag, std::string records, index_t efc) {
  const char* env = std::getenv("RECBLOCKS_DATA");
  const std::string data = !data_flag.empty() ? data_flag : env ? env : "";
  const std::string dir = data + "/amazon-videogames-llmrank";
  const std::string items_path = dir + "/games.item.tsv", test_path = dir + "/games.test.inter.tsv";
  std::ifstream items_in(items_path), test_in(test_path);
  if (data.empty() || !items_in || !test_in) {
    if (!data_flag.empty()) throw recblocks::io_error("--data " + data_flag + ": cannot read " + (!items_in ? items_path : test_path));
    std::cout << "skipped: data not found at " << (data.empty() ? std::string("$RECBLOCKS_DATA (unset)") : dir) << "\n";
    return recblocks_examples::skip_exit_code;
  }
  if (records.empty()) records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/unillmrec_amazon_records.jsonl.gz";

  // ---- data ----------------------------------------------------------------------------------------
  std::vector<std::string> titles;
  std::string line;
  std::getline(items_in, line);
  for (index_t line_no = 2; std::getline(items_in, line); ++line_no) {
    const auto tab = line.find('\t');
    const index_t id = parse_id(line.substr(0, tab), items_path, line_no, "item id");
    if (id != static_cast<index_t>(titles.size()))
      throw recblocks::parse_error(items_path + " line " + std::to_string(line_no) + ": item id " + std::to_string(id) +
                                   ", expected " + std::to_string(titles.size()));
    titles.push_back(tab == std::string::npos ? "" : line.substr(tab + 1));
  }
  const auto n_items = static_cast<index_t>(titles.size());
  if (n_items == 0) throw recblocks::parse_error(items_path + ": no items");
  std::vector<user_row> sample;
  std::getline(test_in, line);
  index_t row = 0;
  const index_t to_read = std::max(max_sample, eval_users);
  for (index_t line_no = 2; std::getline(test_in, line) && static_cast<index_t>(sample.size()) < to_read; ++line_no) {
    if (row++ % stride != 0) continue;
    std::istringstream ss(line);
    std::string uid, hist, target;
    std::getline(ss, uid, '\t');
    std::getline(ss, hist, '\t');
    std::getline(ss, target, '\t');
    user_row u;
    std::istringstream hs(hist);
    for (std::string tok; hs >> tok;) u.history.push_back(parse_id(tok, test_path, line_no, "history item id"));
    u.target = parse_id(target, test_path, line_no, "target item id");
    for (index_t i : u.history)
      if (i >= n_items) throw recblocks::value_error(test_path + " line " + std::to_string(line_no) + ": item " + std::to_string(i) + " outside the catalogue");
    if (u.target >= n_items) throw recblocks::value_error(test_path + " line " + std::to_string(line_no) + ": target outside the catalogue");
    sample.push_back(std::move(u));
  }
  if (static_cast<index_t>(sample.size()) < n_users) throw recblocks::parse_error(test_path + ": fewer test users than --users");
  std::set<index_t> protected_items;
  for (std::size_t k = 0; k < sample.size() && static_cast<index_t>(k) < max_sample; ++k) {
    const auto& u = sample[k];
    protected_items.insert(u.history.begin(), u.history.end());
    protected_items.insert(u.target);
  }
  const std::vector<user_row> users(sample.begin(), sample.begin() + n_users);
  const auto text = [&titles](index_t i) { return titles.at(static_cast<std::size_t>(i)); };

  // ---- vectors, tree, update schedule ---------------------------------------------------------------
  auto t0 = std::chrono::steady_clock::now();
  const rt::text_hashing hasher;
  const matrix<float> x = hasher.embed_all<float>(titles);
  std::vector<index_t> held_out, removable, initial;
  for (index_t i = 0; i < n_items; ++i) {
    if (i % 50 == 0 && !protected_items.count(i)) held_out.push_back(i);
    else initial.push_back(i);
    if (i % 50 == 25 && !protected_items.count(i)) removable.push_back(i);
  }
  rt::item_tree<float> tree(x.cols(), {50, 0, 8, 15, 42});
  {
    matrix<float> xi(static_cast<index_t>(initial.size()), x.cols());
    for (std::size_t r = 0; r < initial.size(); ++r) xi.row(static_cast<index_t>(r)) = x.row(initial[r]);
    tree.build(xi, initial);
  }
  tree.relabel(tree.root(), "video games");
  std::vector<char> is_live(static_cast<std::size_t>(n_items), 0);
  for (index_t i : initial) is_live[static_cast<std::size_t>(i)] = 1;
  std::printf("items %lld (%zu held out for insertion), users %zu (every %lldth test user), tree %lld nodes, depth %lld, "
              "built in %.1f s\n",
              static_cast<long long>(n_items), held_out.size(), users.size(), static_cast<long long>(stride),
              static_cast<long long>(tree.num_nodes()), static_cast<long long>(tree.depth()), seconds_since(t0));

  // ---- the LLM: recorded answers (replay) or the live server (--live) --------------------------------
  std::optional<llm::recorded_client> book;
  llm::response_cache memo_cache = llm::response_cache::in_memory();
#if defined(RECBLOCKS_HAVE_CURL)
  std::optional<llm::http_client> http;
  std::optional<llm::caching_client<llm::http_client&>> memo;
#endif
  std::string skip_reason;
  // --live: answers already in the records file (same prompt version) are reused, so an interrupted
  // recording goes on where it stopped; the rest go to the server. The new file holds every answer.
  struct resume_client {
    std::optional<llm::recorded_client> old;
    llm::any_client live;
    llm::chat_response chat(const llm::chat_request& r) {
      if (old) try {
          return old->chat(r);
        } catch (const llm::llm_error& e) {
          if (e.kind() != llm::llm_error_kind::replay_miss) throw;
        }
      return live.chat(r);
    }
  };
  resume_client source;
  if (live) {
#if defined(RECBLOCKS_HAVE_CURL)
    http.emplace();
    memo.emplace(*http, memo_cache, "unillmrec");  // the mixed chains repeat the LLM chain's requests
    source.live = llm::any_client(std::ref(*memo));
    if (std::filesystem::exists(records)) source.old.emplace(records, llm::record_meta::from_env(prompt_version));
    book.emplace(records, llm::record_meta::from_env(prompt_version), llm::recorded_options{.mode = llm::record_mode::live},
                 llm::any_client(std::ref(source)));
#else
    throw recblocks::value_error("--live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
  } else {
    try {
      llm::record_meta expected;
      expected.model = recorded_model;
      expected.prompt_version = prompt_version;
      book.emplace(records, expected);
    } catch (const llm::llm_error& e) {
      skip_reason = e.what();
    }
  }
  const bool with_llm = book.has_value();
  ch::node_labeler<float> labeler({.llm_max_depth = 1});  // the root's children: every walk's first read
  t0 = std::chrono::steady_clock::now();
  ch::step_usage label_usage;
  if (with_llm) label_usage = labeler.label_by_llm(tree, *book, text);
  else labeler.label_by_titles(tree, text);
  std::printf("node labels: %s in %.1f s", with_llm ? "LLM (depth 1) + nearest-centroid titles" : "nearest-centroid titles",
              seconds_since(t0));
  if (with_llm)
    std::printf(" (%ld LLM labels, %ld first answers valid, %ld title fallbacks)", label_usage.calls,
                label_usage.first_valid, label_usage.fallbacks);
  std::printf("\nroot children: ");
  for (index_t c : tree.at(tree.root()).children) std::printf("[%s] ", rt::describe_child(tree.at(c).label, tree.at(c).count).c_str());
  std::printf("\n");
  if (!with_llm) std::printf("LLM rows skipped: %s\n", skip_reason.c_str());

#ifdef UNILLMREC_EXAMPLE_HNSW
  t0 = std::chrono::steady_clock::now();
  rt::hnsw_options ho;
  ho.dim = x.cols();
  ho.metric = rt::hnsw_metric::inner_product;
  ho.m = 16;
  ho.ef_construction = efc;
  ho.capacity = n_items;
  rt::hnsw_index index(ho);
  for (index_t i : initial) {
    const col_vector<float> v = x.row(i).transpose();
    index.add(i, std::span<const float>(v.data(), static_cast<std::size_t>(v.size())));
  }
  std::printf("hnsw (M = 16, ef_construction = %lld) built in %.1f s\n", static_cast<long long>(efc), seconds_since(t0));
#endif

  // ---- methods -------------------------------------------------------------------------------------
  const std::vector<std::string> names = {"LLM chain (all 5 steps LLM)", "classical chain (centroid, score, MMR)",
                                          "mixed: LLM walk + leaf recall only", "mixed: LLM rank + rerank only",
                                          "exact search (inner product)", "hnsw (ef = 64)"};
  const std::size_t n_methods = names.size();
  const std::vector<bool> needs_llm = {true, false, true, true, false, false};
  std::vector<std::vector<outcome>> out(n_methods, std::vector<outcome>(users.size()));
  std::vector<double> flat_all(users.size()), flat_100(users.size());
  const ch::unillmrec_chain<float> chain;  // the paper's m = 10, k = 5, n = 20; rerank the top 10
  const scorer sc{&x};
  index_t inserted = 0, removed = 0;
  double update_seconds = 0;
  std::unordered_set<index_t> inserted_ids;
  std::mutex err_mutex;
  std::string first_error;

  const auto run_user = [&](std::size_t u) {
    const user_row& ur = users[u];
    ch::chain_user<float> cu;
    cu.history = ur.history;
    cu.embedding = col_vector<float>::Zero(x.cols());
    const std::size_t from = ur.history.size() > 5 ? ur.history.size() - 5 : 0;  // mean of the last 5
    for (std::size_t p = from; p < ur.history.size(); ++p) cu.embedding += x.row(ur.history[p]).transpose();
    if (cu.embedding.norm() > 0) cu.embedding /= cu.embedding.norm();
    ch::classical_chain_steps<float> classical(tree);
    const auto do_chain = [&](std::size_t m, auto& p, auto& w, auto& r, auto& k, auto& rr, ch::chain_session<llm::recorded_client>* s) {
      const auto t = std::chrono::steady_clock::now();
      outcome& o = out[m][u];
      o.chain = chain.run(tree, cu, p, w, r, k, rr);
      o.has_chain = true;
      o.seconds = seconds_since(t);
      if (s) {
        o.by_step = s->session_usage();
        o.usage = ch::total_usage(o.by_step);
      }
      sc.score(o, o.chain.items, ur.target);
    };
    do_chain(1, classical, classical, classical, classical, classical, nullptr);
    if (with_llm) {
      ch::llm_chain_options lo;
      lo.session.max_attempts = 2;  // one re-ask: a bounded recording budget
      lo.max_interests = 2;
      ch::llm_chain_steps<llm::recorded_client> full(*book, text, lo), walk_only(*book, text, lo), rank_only(*book, text, lo);
      do_chain(0, full, full, full, full, full, &full.session());
      do_chain(2, walk_only, walk_only, walk_only, classical, classical, &walk_only.session());
      do_chain(3, rank_only, classical, classical, rank_only, rank_only, &rank_only.session());
      // flat prompts over the same pool: the whole live catalogue, and LLM-Ranker's 100 candidates
      std::set<index_t> hist(ur.history.begin(), ur.history.end());
      std::vector<index_t> pool;
      for (index_t i = 0; i < n_items; ++i)
        if (is_live[static_cast<std::size_t>(i)] && !hist.count(i)) pool.push_back(i);
      flat_all[u] = static_cast<double>(llm::estimate_tokens(full.flat_prompt(ur.history, pool, 20)));
      recblocks::rng gen(1000 + u);
      std::vector<index_t> hundred{ur.target};
      while (hundred.size() < 100) {
        const index_t i = pool[static_cast<std::size_t>(gen.integer(0, static_cast<index_t>(pool.size()) - 1))];
        if (std::find(hundred.begin(), hundred.end(), i) == hundred.end()) hundred.push_back(i);
      }
      flat_100[u] = static_cast<double>(llm::estimate_tokens(full.flat_prompt(ur.history, hundred, 20)));
    }
    // exact and hnsw over the same vectors and the same live items
    const col_vector<float>& q = cu.embedding;
    std::set<index_t> hist(ur.history.begin(), ur.history.end());
    {
      const auto t = std::chrono::steady_clock::now();
      std::vector<std::pair<float, index_t>> all;
      for (index_t i = 0; i < n_items; ++i)
        if (is_live[static_cast<std::size_t>(i)] && !hist.count(i)) all.push_back({x.row(i).dot(q.transpose()), i});
      std::partial_sort(all.begin(), all.begin() + 20, all.end(),
                        [](auto a, auto b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      std::vector<index_t> top;
      for (std::size_t p = 0; p < 20; ++p) top.push_back(all[p].second);
      out[4][u].seconds = seconds_since(t);
      sc.score(out[4][u], top, ur.target);
    }
#ifdef UNILLMREC_EXAMPLE_HNSW
    {
      const auto t = std::chrono::steady_clock::now();
      const auto found = index.search(std::span<const float>(q.data(), static_cast<std::size_t>(q.size())),
                                      std::min<index_t>(index.size(), 20 + static_cast<index_t>(hist.size())), 64);
      std::vector<index_t> top;
      for (const auto& h : found)
        if (!hist.count(h.id) && top.size() < 20) top.push_back(h.id);
      out[5][u].seconds = seconds_since(t);
      sc.score(out[5][u], top, ur.target);
    }
#endif
  };

  t0 = std::chrono::steady_clock::now();
  std::size_t next_insert = 0, next_remove = 0;
  for (std::size_t r0 = 0; r0 < users.size(); r0 += static_cast<std::size_t>(round_size)) {
    {  // dynamic updates between sessions (before every round), no rebuild
      const auto tu = std::chrono::steady_clock::now();
      for (index_t k = 0; k < inserts_per_round && next_insert < held_out.size(); ++k, ++next_insert) {
        const index_t i = held_out[next_insert];
        tree.insert(i, x.row(i).transpose());
        is_live[static_cast<std::size_t>(i)] = 1;
        inserted_ids.insert(i);
#ifdef UNILLMREC_EXAMPLE_HNSW
        const col_vector<float> v = x.row(i).transpose();
        index.add(i, std::span<const float>(v.data(), static_cast<std::size_t>(v.size())));
#endif
        ++inserted;
      }
      for (index_t k = 0; k < removals_per_round && next_remove < removable.size(); ++k, ++next_remove) {
        const index_t i = removable[next_remove];
        tree.remove(i);
        is_live[static_cast<std::size_t>(i)] = 0;
#ifdef UNILLMREC_EXAMPLE_HNSW
        index.mark_deleted(i);
#endif
        ++removed;
      }
      labeler.label_by_titles(tree, text, /*only_default=*/true);
      update_seconds += seconds_since(tu);
    }
    const std::size_t r1 = std::min(users.size(), r0 + static_cast<std::size_t>(round_size));
    std::vector<std::thread> pool;
    std::size_t next = r0;
    std::mutex next_mutex;
    for (index_t t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (;;) {
          std::size_t u;
          {
            std::lock_guard<std::mutex> lock(next_mutex);
            if (next >= r1) return;
            u = next++;
          }
          try {
            run_user(u);
            if (live) book->save();  // every finished session is kept: an interrupted recording resumes
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(err_mutex);
            if (first_error.empty()) first_error = "user " + std::to_string(u) + ": " + e.what();
          }
        }
      });
    for (auto& th : pool) th.join();
    if (!first_error.empty()) throw recblocks::value_error(first_error);
    if (live) std::fprintf(stderr, "  %zu / %zu users, %.0f s\n", r1, users.size(), seconds_since(t0));
  }
  const double total_seconds = seconds_since(t0);
  tree.check_invariants();
  if (live) book->save();

  // ---- tables --------------------------------------------------------------------------------------
  const double nu = static_cast<double>(users.size());
  std::printf("\ndynamic updates between sessions: %lld items inserted, %lld removed, %.3f s in all (no rebuild); "
              "tree now %lld items, %lld nodes; invariants hold\n",
              static_cast<long long>(inserted), static_cast<long long>(removed), update_seconds,
              static_cast<long long>(tree.size()), static_cast<long long>(tree.num_nodes()));
  std::printf("\n%-40s %9s %9s %8s %7s %7s %14s %14s %10s\n", "method (same users, same tree states)", "recall@10", "recall@20",
              "ndcg@10", "sim@10", "ILD@10", "prompt tok/u", "compl. tok/u", "s/user");
  for (std::size_t m = 0; m < n_methods; ++m) {
    if (needs_llm[m] && !with_llm) continue;
#ifndef UNILLMREC_EXAMPLE_HNSW
    if (m == 5) continue;
#endif
    double h10 = 0, h20 = 0, nd = 0, ild = 0, pt = 0, ct = 0, s = 0, sim = 0;
    for (const auto& o : out[m]) {
      sim += o.sim10;
      h10 += o.hit10;
      h20 += o.hit20;
      nd += o.ndcg10;
      ild += o.ild10;
      pt += static_cast<double>(o.usage.prompt_tokens);
      ct += static_cast<double>(o.usage.completion_tokens);
      s += o.seconds;
    }
    char ptok[32] = "-", ctok[32] = "-";
    if (needs_llm[m]) {
      std::snprintf(ptok, sizeof ptok, "%.0f", pt / nu);
      std::snprintf(ctok, sizeof ctok, "%.0f", ct / nu);
    }
    std::printf("%-40s %9.4f %9.4f %8.4f %7.3f %7.3f %14s %14s %10.3f\n", names[m].c_str(), h10 / nu, h20 / nu, nd / nu, sim / nu,
                ild / nu, ptok, ctok, s / nu);
  }
  std::printf("(s/user: replay time unless --live; a live run's s/user is the LLM's wall time)\n");

  // paired differences (per user, the same users and tree states): mean, a percentile bootstrap 95%
  // interval (10,000 resamples of the users, seed 7) and the exact two-sided sign test on the users
  // where the two methods differ (wins / losses; ties dropped)
  if (with_llm) {
    const auto metric_of = [](const outcome& o, int metric) { return metric == 0 ? o.hit10 : metric == 1 ? o.hit20 : metric == 2 ? o.ndcg10 : o.sim10; };
    const auto sign_p = [](long w, long l) {  // exact two-sided binomial test, p = 1/2
      const long n = w + l, k = std::min(w, l);
      if (n == 0) return 1.0;
      double c = 0, term = std::pow(0.5, static_cast<double>(n));  // C(n, 0) / 2^n
      for (long i = 0; i <= k; ++i) {
        c += term;
        term *= static_cast<double>(n - i) / static_cast<double>(i + 1);
      }
      return std::min(1.0, 2.0 * c);
    };
    std::printf("\npaired differences per user (mean, bootstrap 95%% interval over users, sign test wins/losses/ties and p):\n");
    const std::vector<std::pair<std::size_t, std::size_t>> pairs = {{0, 1}, {0, 4}, {0, 5}, {2, 1}, {3, 1}, {1, 4}};
    const std::vector<std::string> short_names = {"LLM chain", "classical chain", "mixed LLM walk", "mixed LLM rank", "exact", "hnsw"};
    for (const auto& [a_m, b_m] : pairs) {
#ifndef UNILLMREC_EXAMPLE_HNSW
      if (a_m == 5 || b_m == 5) continue;
#endif
      for (int metric = 0; metric < 4; ++metric) {
        std::vector<double> d(users.size());
        long w = 0, l = 0;
        for (std::size_t u = 0; u < users.size(); ++u) {
          d[u] = metric_of(out[a_m][u], metric) - metric_of(out[b_m][u], metric);
          w += d[u] > 0;
          l += d[u] < 0;
        }
        double sum = 0;
        for (double v : d) sum += v;
        recblocks::rng g(7);
        std::vector<double> boot(10000);
        for (double& bm : boot) {
          double s = 0;
          for (std::size_t k = 0; k < d.size(); ++k) s += d[static_cast<std::size_t>(g.integer(0, static_cast<index_t>(d.size()) - 1))];
          bm = s / nu;
        }
        std::sort(boot.begin(), boot.end());
        std::printf("  %-34s %-10s %+.4f  [%+.4f, %+.4f]  %ld/%ld/%ld  p = %.3f\n",
                    metric == 0 ? (short_names[a_m] + " - " + short_names[b_m]).c_str() : "",
                    metric == 0 ? "recall@10" : metric == 1 ? "recall@20" : metric == 2 ? "ndcg@10" : "sim@10", sum / nu, boot[249], boot[9749], w, l,
                    static_cast<long>(users.size()) - w - l, sign_p(w, l));
      }
    }
    std::printf("  hits (users with the target in the top 10 / top 20):");
    for (std::size_t m = 0; m < n_methods; ++m) {
#ifndef UNILLMREC_EXAMPLE_HNSW
      if (m == 5) continue;
#endif
      double h10 = 0, h20 = 0;
      for (const auto& o : out[m]) h10 += o.hit10, h20 += o.hit20;
      std::printf(" %s %.0f / %.0f;", short_names[m].c_str(), h10, h20);
    }
    std::printf("\n");

    // token accounting per step (LLM chain) and against flat prompts
    std::map<std::string, ch::step_usage> steps;
    for (const auto& o : out[0])
      for (const auto& [k, v] : o.by_step) steps[k] += v;
    std::printf("\nLLM chain, per step (sums over %zu users; model %s, prompt version %s):\n", users.size(),
                book->meta().model.c_str(), prompt_version);
    std::printf("  %-12s %6s %8s %8s %8s %9s %13s %13s %13s\n", "step", "calls", "valid1st", "re-asks", "fallback", "repaired",
                "prompt tok", "(estimated)", "compl. tok");
    ch::step_usage all;
    for (const char* k : {"profile", "walk", "leaf_recall", "rank", "rerank"}) {
      const auto& v = steps[k];
      all += v;
      std::printf("  %-12s %6ld %8ld %8ld %8ld %9ld %13ld %13ld %13ld\n", k, v.calls, v.first_valid, v.retries, v.fallbacks,
                  v.repaired, v.prompt_tokens, v.estimated_prompt_tokens, v.completion_tokens);
    }
    std::printf("  %-12s %6ld %8ld %8ld %8ld %9ld %13ld %13ld %13ld\n", "all", all.calls, all.first_valid, all.retries,
                all.fallbacks, all.repaired, all.prompt_tokens, all.estimated_prompt_tokens, all.completion_tokens);
    std::printf("  invalid answers by reason:");
    for (const auto& [k, v] : all.failures) std::printf(" %s %ld", k.c_str(), v);
    std::printf("\n  node labels: %ld calls, %ld valid first, %ld fallbacks, %ld prompt tokens (once per tree)\n", label_usage.calls,
                label_usage.first_valid, label_usage.fallbacks, label_usage.prompt_tokens);
    double fa = 0, f100 = 0;
    for (std::size_t u = 0; u < users.size(); ++u) {
      fa += flat_all[u];
      f100 += flat_100[u];
    }
    const double chain_est = static_cast<double>(all.estimated_prompt_tokens) / nu;
    const double chain_srv = static_cast<double>(all.prompt_tokens) / nu;
    std::printf("\ninput tokens per user (estimate_tokens on both sides; server-counted chain tokens in brackets):\n");
    std::printf("  LLM chain, one session, every request     %10.0f  [%.0f server]\n", chain_est, chain_srv);
    std::printf("  flat prompt, whole live catalogue         %10.0f  -> chain saves %.1f%%\n", fa / nu, 100.0 * (1.0 - chain_est / (fa / nu)));
    std::printf("  flat prompt, 100 candidates (LLM-Ranker)  %10.0f  -> chain saves %.1f%%\n", f100 / nu,
                100.0 * (1.0 - chain_est / (f100 / nu)));
    index_t stale = 0, repaired = 0, truncated = 0, new_found = 0;
    double visits = 0, leaves = 0;
    for (const auto& o : out[0]) {
      stale += o.chain.stale_nodes + o.chain.stale_items;
      repaired += o.chain.repaired_lists;
      truncated += o.chain.truncated;
      visits += static_cast<double>(o.chain.visited.size());
      leaves += static_cast<double>(o.chain.leaves.size());
      for (index_t i : o.chain.items) new_found += inserted_ids.count(i);
    }
    std::printf("  walk: %.1f nodes visited, %.1f leaves per user; repaired lists %lld, truncated walks %lld, stale %lld; "
                "inserted items recommended %lld times\n",
                visits / nu, leaves / nu, static_cast<long long>(repaired), static_cast<long long>(truncated),
                static_cast<long long>(stale), static_cast<long long>(new_found));
    std::printf("  wall time of the whole run: %.1f s (%lld threads)\n", total_seconds, static_cast<long long>(threads));
  }
  // ---- the classical rows on a larger sample (final tree, no LLM) -------------------------------------
  const index_t ne = std::min<index_t>(eval_users, static_cast<index_t>(sample.size()));
  if (ne > 0) {
    double h[3][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    ch::classical_chain_steps<float> classical(tree);
    shown_order_client shown;
    ch::llm_chain_options lo;
    lo.max_interests = 2;
    ch::llm_chain_steps<shown_order_client> dry(shown, text, lo);
    double dry_tokens = 0, dry_flat = 0, dry_flat100 = 0, dry_leaf = 0;
    for (index_t k = 0; k < ne; ++k) {
      const user_row& ur = sample[static_cast<std::size_t>(k)];
      ch::chain_user<float> cu;
      cu.history = ur.history;
      cu.embedding = col_vector<float>::Zero(x.cols());
      const std::size_t from = ur.history.size() > 5 ? ur.history.size() - 5 : 0;
      for (std::size_t p = from; p < ur.history.size(); ++p) cu.embedding += x.row(ur.history[p]).transpose();
      if (cu.embedding.norm() > 0) cu.embedding /= cu.embedding.norm();
      std::set<index_t> hist(ur.history.begin(), ur.history.end());
      outcome o[3];
      sc.score(o[0], chain.run(tree, cu, classical, classical, classical, classical, classical).items, ur.target);
      // prompt tokens of the chain's prompts on this user, with the shown-order answerer
      chain.run(tree, cu, dry, dry, dry, dry, dry);
      const auto du = ch::total_usage(dry.session().session_usage());
      dry_tokens += static_cast<double>(du.estimated_prompt_tokens);
      if (dry.session().session_usage().count("leaf_recall"))
        dry_leaf += static_cast<double>(dry.session().session_usage().at("leaf_recall").estimated_prompt_tokens);
      {
        std::vector<index_t> pool;
        for (index_t i = 0; i < n_items; ++i)
          if (is_live[static_cast<std::size_t>(i)] && !hist.count(i)) pool.push_back(i);
        dry_flat += static_cast<double>(llm::estimate_tokens(dry.flat_prompt(ur.history, pool, 20)));
        recblocks::rng gen(1000 + static_cast<std::uint64_t>(k));
        std::vector<index_t> hundred{ur.target};
        while (hundred.size() < 100) {
          const index_t i = pool[static_cast<std::size_t>(gen.integer(0, static_cast<index_t>(pool.size()) - 1))];
          if (std::find(hundred.begin(), hundred.end(), i) == hundred.end()) hundred.push_back(i);
        }
        dry_flat100 += static_cast<double>(llm::estimate_tokens(dry.flat_prompt(ur.history, hundred, 20)));
      }
      std::vector<std::pair<float, index_t>> all;
      for (index_t i = 0; i < n_items; ++i)
        if (is_live[static_cast<std::size_t>(i)] && !hist.count(i)) all.push_back({x.row(i).dot(cu.embedding.transpose()), i});
      std::partial_sort(all.begin(), all.begin() + 20, all.end(),
                        [](auto a, auto b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      std::vector<index_t> top;
      for (std::size_t p = 0; p < 20; ++p) top.push_back(all[p].second);
      sc.score(o[1], top, ur.target);
#ifdef UNILLMREC_EXAMPLE_HNSW
      const auto found = index.search(std::span<const float>(cu.embedding.data(), static_cast<std::size_t>(cu.embedding.size())),
                                      std::min<index_t>(index.size(), 20 + static_cast<index_t>(hist.size())), 64);
      std::vector<index_t> ht;
      for (const auto& hh : found)
        if (!hist.count(hh.id) && ht.size() < 20) ht.push_back(hh.id);
      sc.score(o[2], ht, ur.target);
#endif
      for (int m = 0; m < 3; ++m) {
        h[m][0] += o[m].hit10;
        h[m][1] += o[m].hit20;
        h[m][2] += o[m].ndcg10;
        h[m][3] += o[m].sim10;
      }
    }
    std::printf("\nno-LLM rows on the first %lld sampled users (final tree):\n", static_cast<long long>(ne));
    const char* en[3] = {"classical chain (centroid, score, MMR)", "exact search (inner product)", "hnsw (ef = 64)"};
    for (int m = 0; m < 3; ++m) {
#ifndef UNILLMREC_EXAMPLE_HNSW
      if (m == 2) continue;
#endif
      const double d = static_cast<double>(ne);
      std::printf("%-40s %9.4f %9.4f %8.4f %7.3f (sim@10)\n", en[m], h[m][0] / d, h[m][1] / d, h[m][2] / d, h[m][3] / d);
    }
    const double d = static_cast<double>(ne);
    std::printf("\nchain prompt tokens on the same %lld users with the shown-order answerer (estimate_tokens, every request "
                "of the session): %.0f per user (leaf recall %.0f = %.0f%%)\n",
                static_cast<long long>(ne), dry_tokens / d, dry_leaf / d, 100.0 * dry_leaf / std::max(1.0, dry_tokens));
    std::printf("  flat prompt, whole live catalogue %.0f -> chain saves %.1f%%; flat, 100 candidates %.0f -> saves %.1f%%\n",
                dry_flat / d, 100.0 * (1.0 - dry_tokens / dry_flat), dry_flat100 / d, 100.0 * (1.0 - dry_tokens / dry_flat100));
  }
  return 0;
}

}  // namespace
