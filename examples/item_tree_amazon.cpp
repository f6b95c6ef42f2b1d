// item_tree_amazon: an item tree over the Amazon Video Games titles (LLMRank "Games" data), searched
// for each test user's held-out next item, against exact search and hnswlib.
//
// Item vectors: hashed word + character n-gram vectors of the titles (retrieval::text_hashing, 256
// dims, L2-normalised) -- no trained model, titles only, as in UniLLMRec/LLMTreeRec. Query: the
// normalised mean of the user's last 5 history items. History items are excluded from the results.
// Tree: recursive k-means (branching 8, leaves <= 50 items as in LLMTreeRec), each node labelled with
// the 3 highest tf-idf title words of its items, so that the token estimates are realistic.
//
// Usage: item_tree_amazon [--users N] [--efc EF_CONSTRUCTION] [--data DIR]   (data: $RECBLOCKS_DATA or --data)
// Exit status: 0 done; 1 bad data (an id outside the catalogue, a malformed line: named by file and
// line), a --data directory without the dataset, or a failure; 2 bad flags; 77 skipped ($RECBLOCKS_DATA
// unset or without the dataset).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.hpp"
#include "recblocks/retrieval/centroid_policy.hpp"
#include "recblocks/retrieval/item_tree.hpp"
#include "recblocks/retrieval/text_hashing.hpp"

#if __has_include(<hnswlib/hnswlib.h>)
#include "recblocks/retrieval/hnsw_index.hpp"
#define ITEM_TREE_EXAMPLE_HNSW 1
#endif

using recblocks::index_t;
using recblocks::matrix;
using recblocks::col_vector;
namespace rt = recblocks::retrieval;
using recblocks_examples::parse_id;
using recblocks_examples::seconds_since;

namespace {

struct user_row {
  std::vector<index_t> history;
  index_t target;
};

// Labels every node with its 3 highest tf-idf title words (idf over all titles; stop words dropped).
void label_nodes(rt::item_tree<float>& tree, const std::vector<std::vector<std::string>>& words) {
  static const std::set<std::string> stop{"the", "of", "and", "for", "a", "to", "in", "with", "edition", "game",
                                          "games", "video", "by", "on", "pc", "version", "1", "2", "3"};
  std::unordered_map<std::string, double> df;
  for (const auto& w : words) {
    std::set<std::string> u(w.begin(), w.end());
    for (const auto& x : u) df[x] += 1.0;
  }
  const double n = static_cast<double>(words.size());
  for (index_t id : tree.node_ids()) {
    if (id == tree.root()) continue;
    std::vector<index_t> items;
    std::vector<index_t> st{id};
    while (!st.empty()) {
      const index_t x = st.back();
      st.pop_back();
      const auto& nd = tree.at(x);
      items.insert(items.end(), nd.items.begin(), nd.items.end());
      st.insert(st.end(), nd.children.begin(), nd.children.end());
    }
    std::map<std::string, double> tf;
    for (index_t i : items)
      for (const auto& w : words[static_cast<std::size_t>(i)])
        if (!stop.count(w) && w.size() > 1) tf[w] += 1.0;
    std::vector<std::pair<double, std::string>> s;
    for (const auto& [w, c] : tf) s.push_back({c * std::log(n / df[w]), w});
    std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string label;
    for (std::size_t k = 0; k < s.size() && k < 3; ++k) label += (k ? ", " : "") + s[k].second;
    tree.relabel(id, label.empty() ? "misc" : label);
  }
}


int run(index_t n_users, index_t efc, const std::string& data_flag);

}  // namespace

int main(int argc, char** argv) {
  index_t n_users = 2000, efc = 48;
  std::string data_flag;
  recblocks_examples::command_line cl("item_tree_amazon", "item_tree_amazon [--users N] [--efc EF_CONSTRUCTION] [--data DIR]");
  cl.option("--users", n_users);
  cl.option("--efc", efc);
  cl.option("--data", data_flag);
  cl.parse(argc, argv);
  if (n_users < 1) cl.fail("--users must be >= 1");
  if (efc < 1) cl.fail("--efc must be >= 1");
  try {
    return run(n_users, efc, data_flag);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "item_tree_amazon: %s\n", e.what());
    return 1;
  }
}

namespace {

int run(index_t n_users, index_t efc, const std::string& data_flag) {
  const char* env = std::getenv("RECBLOCKS_DATA");
  const std::string data = !data_flag.empty() ? data_flag : env ? env : "";
  const std::string dir = data + "/amazon-videogames-llmrank";
  const std::string items_path = dir + "/games.item.tsv", test_path = dir + "/games.test.inter.tsv";
  std::ifstream items_in(items_path), test_in(test_path);
  if (data.empty() || !items_in || !test_in) {
    if (!data_flag.empty())
      throw recblocks::io_error("--data " + data_flag + ": cannot read " + (!items_in ? items_path : test_path));
    std::cout << "skipped: data not found at " << (data.empty() ? std::string("$RECBLOCKS_DATA (unset)") : dir) << "\n";
    return recblocks_examples::skip_exit_code;
  }
  // ---- read titles and test users --------------------------------------------------------------
  std::vector<std::string> titles;
  std::string line;
  std::getline(items_in, line);  // header
  for (index_t line_no = 2; std::getline(items_in, line); ++line_no) {
    const auto tab = line.find('\t');
    const index_t id = parse_id(line.substr(0, tab), items_path, line_no, "item id");
    if (id != static_cast<index_t>(titles.size()))
      throw recblocks::parse_error(items_path + " line " + std::to_string(line_no) + ": item id " + std::to_string(id) +
                                   ", expected " + std::to_string(titles.size()) + " (ids must be 0, 1, 2, ... in order)");
    titles.push_back(tab == std::string::npos ? "" : line.substr(tab + 1));
  }
  if (titles.empty()) throw recblocks::parse_error(items_path + ": no items");
  const auto catalogue = static_cast<index_t>(titles.size());
  auto item = [&](const std::string& text, index_t line_no, const char* what) {
    const index_t id = parse_id(text, test_path, line_no, what);
    if (id >= catalogue)
      throw recblocks::value_error(test_path + " line " + std::to_string(line_no) + ": " + what + " " + std::to_string(id) +
                                   " is outside the " + std::to_string(catalogue) + " items of " + items_path);
    return id;
  };
  std::vector<user_row> users;
  std::getline(test_in, line);
  index_t row = 0;
  const index_t stride = 7;  // a deterministic spread-out sample of users
  for (index_t line_no = 2; std::getline(test_in, line) && static_cast<index_t>(users.size()) < n_users; ++line_no) {
    if (row++ % stride != 0) continue;
    std::istringstream ss(line);
    std::string uid, hist, target;
    std::getline(ss, uid, '\t');
    std::getline(ss, hist, '\t');
    std::getline(ss, target, '\t');
    user_row u;
    std::istringstream hs(hist);
    for (std::string tok; hs >> tok;) u.history.push_back(item(tok, line_no, "history item id"));
    u.target = item(target, line_no, "target item id");
    users.push_back(std::move(u));
  }
  if (users.empty()) throw recblocks::parse_error(test_path + ": no test users");
  const auto n_items = static_cast<index_t>(titles.size());
  std::cout << "items " << n_items << ", test users evaluated " << users.size() << " (every " << stride << "th)\n";

  // ---- item vectors and queries ----------------------------------------------------------------
  auto t0 = std::chrono::steady_clock::now();
  const rt::text_hashing hasher;
  const matrix<float> x = hasher.embed_all<float>(titles);
  std::vector<std::vector<std::string>> words(titles.size());
  index_t all_title_tokens = 0;
  std::vector<index_t> title_tokens(titles.size());
  for (std::size_t i = 0; i < titles.size(); ++i) {
    words[i] = rt::text_hashing::words(titles[i]);
    title_tokens[i] = rt::estimate_tokens(titles[i]);
    all_title_tokens += title_tokens[i];
  }
  const auto nu = static_cast<index_t>(users.size());
  matrix<float> q(nu, x.cols());
  for (index_t u = 0; u < nu; ++u) {
    const auto& h = users[static_cast<std::size_t>(u)].history;
    col_vector<float> m = col_vector<float>::Zero(x.cols());
    const std::size_t from = h.size() > 5 ? h.size() - 5 : 0;
    for (std::size_t p = from; p < h.size(); ++p) m += x.row(h[p]).transpose();
    if (m.norm() > 0) m /= m.norm();
    q.row(u) = m.transpose();
  }
  std::printf("title vectors: %.2f s\n", seconds_since(t0));

  // ---- tree ------------------------------------------------------------------------------------
  t0 = std::chrono::steady_clock::now();
  rt::item_tree<float> tree(x.cols(), {50, 0, 8, 15, 42});
  tree.build(x);
  label_nodes(tree, words);
  index_t leaves = 0;
  for (index_t id : tree.node_ids()) leaves += tree.at(id).is_leaf();
  std::printf("tree: %lld nodes, %lld leaves, depth %lld, built in %.2f s\n", static_cast<long long>(tree.num_nodes()),
              static_cast<long long>(leaves), static_cast<long long>(tree.depth()), seconds_since(t0));
  std::printf("root children (labels a policy reads): ");
  for (index_t c : tree.at(tree.root()).children)
    std::printf("[%s] ", rt::describe_child(tree.at(c).label, tree.at(c).count).c_str());
  std::printf("\nall titles at once would be %lld tokens\n\n", static_cast<long long>(all_title_tokens));

  const index_t ks[2] = {10, 20};
  // ---- exact -----------------------------------------------------------------------------------
  t0 = std::chrono::steady_clock::now();
  double exact_hits[2] = {0, 0};
  {
    const index_t block = 256;
    for (index_t b = 0; b < nu; b += block) {
      const index_t nb = std::min(block, nu - b);
      const matrix<float> s = q.middleRows(b, nb) * x.transpose();
      for (index_t r = 0; r < nb; ++r) {
        const auto& u = users[static_cast<std::size_t>(b + r)];
        std::vector<std::pair<float, index_t>> all;
        std::set<index_t> hist(u.history.begin(), u.history.end());
        for (index_t i = 0; i < n_items; ++i)
          if (!hist.count(i)) all.push_back({s(r, i), i});
        const std::size_t top = std::min<std::size_t>(20, all.size());  // small catalogues: fewer candidates
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(top), all.end(), [](auto a, auto c) {
          return a.first > c.first || (a.first == c.first && a.second < c.second);
        });
        for (int kk = 0; kk < 2; ++kk)
          for (std::size_t p = 0; p < top && static_cast<index_t>(p) < ks[kk]; ++p)
            if (all[p].second == u.target) exact_hits[kk] += 1;
      }
    }
  }
  const double exact_s = seconds_since(t0);
  std::printf("%-34s %9s %9s %12s %12s %10s\n", "method", "recall@10", "recall@20", "items read", "tokens/query",
              "ms/query");
  std::printf("%-34s %9.4f %9.4f %12lld %12s %10.3f\n", "exact (inner product)", exact_hits[0] / nu, exact_hits[1] / nu,
              static_cast<long long>(n_items), "-", 1e3 * exact_s / nu);

  // ---- tree search -----------------------------------------------------------------------------
  struct setting {
    const char* name;
    rt::tree_search_options::strategy method;
    index_t beam, children, per_leaf;
  };
  const setting settings[] = {
      {"tree beam width 4", rt::tree_search_options::strategy::beam, 4, 10, 5},
      {"tree beam width 16", rt::tree_search_options::strategy::beam, 16, 10, 5},
      {"tree beam width 64", rt::tree_search_options::strategy::beam, 64, 10, 5},
      {"tree DFS m=10 children, 5/leaf", rt::tree_search_options::strategy::dfs, 4, 10, 5},
      {"tree DFS m=3 children, 20/leaf", rt::tree_search_options::strategy::dfs, 4, 3, 20},
  };
  for (const auto& st : settings) {
    t0 = std::chrono::steady_clock::now();
    double hits[2] = {0, 0}, items_read = 0, node_tokens = 0, leaf_tokens = 0;
    for (index_t u = 0; u < nu; ++u) {
      const auto& ur = users[static_cast<std::size_t>(u)];
      rt::tree_query<float> tq;
      tq.embedding = q.row(u).transpose();
      tq.exclude = ur.history;
      rt::tree_search_options o;
      o.method = st.method;
      o.k = 20;
      o.beam_width = st.beam;
      o.children_per_node = st.children;
      o.items_per_leaf = st.per_leaf;
      const auto r = tree.search(tq, rt::centroid_policy{}, o);
      for (int kk = 0; kk < 2; ++kk)
        for (std::size_t p = 0; p < r.items.size() && static_cast<index_t>(p) < ks[kk]; ++p)
          if (r.items[p] == ur.target) hits[kk] += 1;
      items_read += static_cast<double>(r.items_scored);
      node_tokens += static_cast<double>(r.tokens);
      for (index_t l : r.leaves)
        for (index_t i : tree.at(l).items) leaf_tokens += static_cast<double>(title_tokens[static_cast<std::size_t>(i)]);
    }
    const double secs = seconds_since(t0);
    char tok[64];
    std::snprintf(tok, sizeof tok, "%.0f+%.0f", node_tokens / nu, leaf_tokens / nu);
    std::printf("%-34s %9.4f %9.4f %12.0f %12s %10.3f\n", st.name, hits[0] / nu, hits[1] / nu, items_read / nu, tok,
                1e3 * secs / nu);
  }

#ifdef ITEM_TREE_EXAMPLE_HNSW
  // ---- hnswlib ---------------------------------------------------------------------------------
  t0 = std::chrono::steady_clock::now();
  rt::hnsw_options ho;
  ho.dim = x.cols();
  ho.metric = rt::hnsw_metric::inner_product;
  ho.m = 16;
  ho.ef_construction = efc;
  ho.capacity = n_items;
  rt::hnsw_index index(ho);
  index.add(x, 0);
  const double build_s = seconds_since(t0);
  for (index_t ef : {index_t{64}, index_t{256}}) {
    t0 = std::chrono::steady_clock::now();
    double hits[2] = {0, 0};
    for (index_t u = 0; u < nu; ++u) {
      const auto& ur = users[static_cast<std::size_t>(u)];
      std::set<index_t> hist(ur.history.begin(), ur.history.end());
      const col_vector<float> qq = q.row(u).transpose();
      const auto found = index.search(std::span<const float>(qq.data(), static_cast<std::size_t>(qq.size())),
                                      std::min<index_t>(n_items, 20 + static_cast<index_t>(hist.size())), ef);
      std::vector<std::pair<float, index_t>> res;
      for (const auto& h : found)
        if (!hist.count(h.id)) res.push_back({h.distance, h.id});
      std::sort(res.begin(), res.end());  // distance = 1 - ip, ascending
      for (int kk = 0; kk < 2; ++kk)
        for (std::size_t p = 0; p < res.size() && static_cast<index_t>(p) < ks[kk]; ++p)
          if (res[p].second == ur.target) hits[kk] += 1;
    }
    const double secs = seconds_since(t0);
    char name[64];
    std::snprintf(name, sizeof name, "hnsw M=16 efc=%lld ef=%lld", static_cast<long long>(efc), static_cast<long long>(ef));
    std::printf("%-34s %9.4f %9.4f %12s %12s %10.3f\n", name, hits[0] / nu, hits[1] / nu, "-", "-", 1e3 * secs / nu);
  }
  std::printf("(retrieval::hnsw_index build %.2f s)\n", build_s);
#else
  std::printf("hnswlib not available: hnsw comparison skipped\n");
#endif
  std::printf("\ntokens/query = policy tokens at internal nodes + title tokens of the leaves read (estimate_tokens)\n");
  return 0;
}

}  // namespace
