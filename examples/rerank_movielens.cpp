// rerank_movielens: rerank per-user MovieLens-100K candidate lists with MMR, greedy DPP and the
// fair-exposure reranker, and report accuracy, diversity and fairness before and after.
//
// Candidates: for every user, the N = 20 unseen movies with the highest item-item cosine score
// (implicit feedback of the official `ua.base` split): score(i) = mean_{j in history} cos(i, j).
// Relevance for the rerankers = score / max score of the user's list (in (0, 1]).
// Diversity is over the 19 genre flags (genre cosine similarity for MMR/DPP, alpha-NDCG subtopics,
// ILD features). Fairness groups follow LLM4Rerank's ML-1M setting: release year before 1996 vs 1996
// and later. Accuracy: HR@10 / NDCG@10 against the user's `ua.test` movies (10 per user).
// Every method outputs a full permutation of the 20 candidates (fairness MAD is over all 20, as in
// LLM4Rerank); the top-10 metrics read its prefix.
//
// Usage: rerank_movielens [--data DIR]   (data: $RECBLOCKS_DATA or --data)
// Every id read is checked (users 1..943, movies 1..1682 as in MovieLens-100K; a bad line is an
// error naming the file and line); users without training history, test movies or 20 scorable
// candidates are left out of the averages (and counted). Exit status: 0 done; 1 bad data, a --data
// directory without the dataset, or a failure; 2 bad flags; 77 skipped ($RECBLOCKS_DATA unset or
// without the dataset).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"
#include "recblocks/rerank.hpp"

using recblocks::index_t;
using recblocks::matrix;
using recblocks::col_vector;
namespace rr = recblocks::rerank;

namespace {

struct totals {
  double hr = 0, ndcg = 0, andcg = 0, ild = 0, subcov = 0, mad = 0;
  index_t users = 0, mad_users = 0;
  std::vector<std::vector<index_t>> lists;  // global item ids, top-10
};


/// A whole integer of `text` in [lo, hi], else `parse_error` naming `file`, `line` and `what`.
index_t parse_in(const std::string& text, index_t lo, index_t hi, const std::string& file, index_t line, const char* what) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < lo || v > hi)
    throw recblocks::parse_error(file + " line " + std::to_string(line) + ": " + what + " '" + text + "' is not an integer in [" +
                                 std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<index_t>(v);
}

/// `user item rating timestamp` lines (tab separated) of a MovieLens-100K split file.
std::vector<std::pair<index_t, index_t>> read_split(std::istream& in, const std::string& file, index_t n_users, index_t n_items) {
  std::vector<std::pair<index_t, index_t>> out;
  std::string line;
  for (index_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    std::istringstream ss(line);
    std::string u, i, rating, ts;
    if (!(ss >> u >> i >> rating >> ts))
      throw recblocks::parse_error(file + " line " + std::to_string(line_no) + ": expected user, item, rating, timestamp");
    out.push_back({parse_in(u, 1, n_users, file, line_no, "user id") - 1, parse_in(i, 1, n_items, file, line_no, "item id") - 1});
    parse_in(rating, 1, 5, file, line_no, "rating");
  }
  if (out.empty()) throw recblocks::parse_error(file + ": no ratings");
  return out;
}

int run(const std::string& data_flag);

}  // namespace

int main(int argc, char** argv) {
  std::string data_flag;
  recblocks_examples::command_line cl("rerank_movielens", "rerank_movielens [--data DIR]");
  cl.option("--data", data_flag);
  cl.parse(argc, argv);
  try {
    return run(data_flag);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rerank_movielens: %s\n", e.what());
    return 1;
  }
}

namespace {

int run(const std::string& data_flag) {
  const char* env = std::getenv("RECBLOCKS_DATA");
  const std::string data = !data_flag.empty() ? data_flag : env ? env : "";
  const std::string dir = data + "/movielens-100k";
  std::ifstream item_in(dir + "/u.item"), base_in(dir + "/ua.base"), test_in(dir + "/ua.test");
  if (data.empty() || !item_in || !base_in || !test_in) {
    if (!data_flag.empty()) throw recblocks::io_error("--data " + data_flag + ": cannot read " + dir + "/{u.item, ua.base, ua.test}");
    std::cout << "skipped: data not found at " << (data.empty() ? std::string("$RECBLOCKS_DATA (unset)") : dir) << "\n";
    return recblocks_examples::skip_exit_code;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const index_t n_items = 1682, n_users = 943, n_genres = 19, N = 20, K = 10;
  matrix<double> genres = matrix<double>::Zero(n_items, n_genres);
  std::vector<index_t> year_group(static_cast<std::size_t>(n_items), 0);
  std::string line;
  const std::string item_file = dir + "/u.item";
  for (index_t line_no = 1; std::getline(item_in, line); ++line_no) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, '|');) f.push_back(x);
    if (f.size() < 24) continue;
    const index_t i = parse_in(f[0], 1, n_items, item_file, line_no, "movie id") - 1;
    const int year = f[2].size() >= 4 ? std::atoi(f[2].substr(f[2].size() - 4).c_str()) : 0;
    year_group[static_cast<std::size_t>(i)] = year >= 1996 ? 1 : 0;
    for (index_t g = 0; g < n_genres; ++g) genres(i, g) = f[static_cast<std::size_t>(5 + g)] == "1" ? 1.0 : 0.0;
  }
  matrix<float> r = matrix<float>::Zero(n_users, n_items);
  std::vector<std::vector<index_t>> history(static_cast<std::size_t>(n_users)), test(static_cast<std::size_t>(n_users));
  for (const auto& [u, i] : read_split(base_in, dir + "/ua.base", n_users, n_items)) {
    r(u, i) = 1.0f;
    history[static_cast<std::size_t>(u)].push_back(i);
  }
  for (const auto& [u, i] : read_split(test_in, dir + "/ua.test", n_users, n_items)) test[static_cast<std::size_t>(u)].push_back(i);

  // item-item cosine on the implicit matrix
  matrix<float> sim = r.transpose() * r;
  col_vector<float> norm = sim.diagonal().cwiseSqrt();
  for (index_t a = 0; a < n_items; ++a)
    for (index_t b = 0; b < n_items; ++b)
      sim(a, b) = (norm(a) > 0 && norm(b) > 0 && a != b) ? sim(a, b) / (norm(a) * norm(b)) : 0.0f;

  const char* names[] = {"baseline (score order)", "MMR lambda=0.7", "MMR lambda=0.5", "DPP theta=0.7",
                         "DPP theta=0.5", "fair exposure tol=0.02"};
  const int n_methods = 6;
  std::vector<totals> tot(n_methods);
  const rr::mmr mmr7(0.7), mmr5(0.5);
  const rr::dpp dpp;
  const rr::fair_exposure fair({0.02, {}, 4096});

  index_t left_out = 0;
  for (index_t u = 0; u < n_users; ++u) {
    const auto& h = history[static_cast<std::size_t>(u)];
    if (h.empty() || test[static_cast<std::size_t>(u)].empty()) {
      left_out += !h.empty() || !test[static_cast<std::size_t>(u)].empty();  // users absent from both files are not users
      continue;
    }
    std::set<index_t> seen(h.begin(), h.end());
    std::vector<std::pair<double, index_t>> scored;
    for (index_t i = 0; i < n_items; ++i) {
      if (seen.count(i)) continue;
      double s = 0;
      for (index_t j : h) s += sim(i, j);
      scored.push_back({s / static_cast<double>(h.size()), i});
    }
    if (static_cast<index_t>(scored.size()) < N) {
      ++left_out;
      continue;
    }
    std::partial_sort(scored.begin(), scored.begin() + N, scored.end(),
                      [](auto a, auto b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    if (!(scored[0].first > 0)) {  // no candidate shares a rater with the history: no relevance to rerank
      ++left_out;
      continue;
    }
    std::vector<index_t> cand(static_cast<std::size_t>(N));
    col_vector<double> rel(N);
    for (index_t c = 0; c < N; ++c) {
      cand[static_cast<std::size_t>(c)] = scored[static_cast<std::size_t>(c)].second;
      rel(c) = scored[static_cast<std::size_t>(c)].first / scored[0].first;
    }
    matrix<double> g(N, n_genres);
    std::vector<index_t> groups(static_cast<std::size_t>(N));
    for (index_t c = 0; c < N; ++c) {
      g.row(c) = genres.row(cand[static_cast<std::size_t>(c)]);
      groups[static_cast<std::size_t>(c)] = year_group[static_cast<std::size_t>(cand[static_cast<std::size_t>(c)])];
    }
    matrix<double> gs(N, N);  // genre cosine, PSD
    for (index_t a = 0; a < N; ++a)
      for (index_t b = 0; b < N; ++b) gs(a, b) = g.row(a).dot(g.row(b)) / (g.row(a).norm() * g.row(b).norm());
    const std::set<index_t> truth(test[static_cast<std::size_t>(u)].begin(), test[static_cast<std::size_t>(u)].end());
    const bool two_groups = std::count(groups.begin(), groups.end(), 0) > 0 && std::count(groups.begin(), groups.end(), 1) > 0;

    for (int m = 0; m < n_methods; ++m) {
      std::vector<index_t> list;
      switch (m) {
        case 0:
          for (index_t c = 0; c < N; ++c) list.push_back(c);
          break;
        case 1: list = mmr7.rerank<double>(rel, gs, N); break;
        case 2: list = mmr5.rerank<double>(rel, gs, N); break;
        case 3: list = dpp.rerank<double>(rr::dpp::kernel<double>(rel, gs, 0.7), N); break;
        case 4: list = dpp.rerank<double>(rr::dpp::kernel<double>(rel, gs, 0.5), N); break;
        default: list = fair.rerank<double>(rel, groups, N, 2); break;
      }
      totals& t = tot[static_cast<std::size_t>(m)];
      double dcg = 0, idcg = 0, hit = 0;
      for (index_t p = 0; p < K; ++p) {
        if (truth.count(cand[static_cast<std::size_t>(list[static_cast<std::size_t>(p)])])) {
          dcg += 1.0 / std::log2(p + 2.0);
          hit = 1;
        }
        if (p < static_cast<index_t>(truth.size())) idcg += 1.0 / std::log2(p + 2.0);
      }
      t.hr += hit;
      t.ndcg += dcg / idcg;
      t.andcg += rr::alpha_ndcg<double>(list, g, K, 0.5);
      t.ild += rr::intra_list_diversity<double>(list, g, K);
      t.subcov += rr::subtopic_coverage<double>(list, g, K);
      if (two_groups) {
        t.mad += rr::group_fairness(list, groups, 2);
        ++t.mad_users;
      }
      ++t.users;
      std::vector<index_t> top;
      for (index_t p = 0; p < K; ++p) top.push_back(cand[static_cast<std::size_t>(list[static_cast<std::size_t>(p)])]);
      t.lists.push_back(top);
    }
  }
  if (tot[0].users == 0) throw recblocks::value_error("no user has training history, test movies and " + std::to_string(N) + " candidates");
  std::printf("MovieLens-100K ua split: %lld users (%lld left out), %lld candidates each, metrics @%lld (MAD over all %lld)\n\n",
              static_cast<long long>(tot[0].users), static_cast<long long>(left_out), static_cast<long long>(N),
              static_cast<long long>(K), static_cast<long long>(N));
  std::printf("| %-24s | %6s | %7s | %10s | %6s | %9s | %8s | %9s |\n", "method", "HR@10", "NDCG@10", "aNDCG@10",
              "ILD@10", "genres@10", "cov@10", "MAD (yr)");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------------", "--------", "---------", "------------",
              "--------", "-----------", "----------", "-----------");
  for (int m = 0; m < n_methods; ++m) {
    const totals& t = tot[static_cast<std::size_t>(m)];
    const double nu = static_cast<double>(t.users);
    std::printf("| %-24s | %6.4f | %7.4f | %10.4f | %6.4f | %9.4f | %8.4f | %9.4f |\n", names[m], t.hr / nu, t.ndcg / nu,
                t.andcg / nu, t.ild / nu, t.subcov / nu, rr::catalog_coverage(t.lists, n_items, K),
                t.mad / static_cast<double>(t.mad_users));
  }
  std::printf("\nMAD averaged over the %lld users whose candidates hold both year groups; lower is fairer.\n",
              static_cast<long long>(tot[0].mad_users));
  std::printf("elapsed %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

}  // namespace
