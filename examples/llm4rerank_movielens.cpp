// llm4rerank_movielens: LLM4Rerank (papers.md §8) on MovieLens-100K. A GMF generator (BCE with sampled
// negatives, leave-one-out split) gives every user 20 candidates; the aspect graph reranks them with
// a classical scorer policy, a fixed path (GoT) and an LLM policy under four goals, against GMF order,
// MMR, DPP and fair exposure. Reports HR@10, NDCG@10, alpha-NDCG@10 (genres), MAD (release year before
// 1996 vs 1996 and later; over all 20), node usage per goal and the LLM's answer statistics and cost.
//
// The LLM rows run on a fixed, stated sample of users whose candidate lists are shipped with the
// recorded answers (examples/data/llm4rerank_movielens_sample.json, ..._records.jsonl.gz), so the
// sample table reproduces offline exactly; `--live` re-asks the server named by RECBLOCKS_LLM_URL
// (tools/llm_server.sh start; eval "$(tools/llm_server.sh env)") and rewrites both files.
//
// Usage: llm4rerank_movielens [--data DIR] [--epochs N] [--live] [--sample N] [--max-count MC]
//                             [--records FILE] [--sample-file FILE] [--no-llm] [--got-llm]
// Two LLM variants: strict (the reference code: re-ask, then a counted fallback) and repair (a first answer
// that is not a permutation is repaired and counted; files *_repair_*); replay runs both, --live --repair
// records the repair one.
// (--resume: with --live, reuse the answers already in the records file; --got-llm: with --live, also record the fixed path A-D-F with LLM nodes; replay reads it from the sample file)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "recblocks/data/csv_reader.hpp"
#include "recblocks/llm/recorded_client.hpp"
#include "recblocks/models/gmf.hpp"
#include "recblocks/optim/adam.hpp"
#include "recblocks/rerank.hpp"
#include "recblocks/rerank/aspect_graph.hpp"
#include "recblocks/rerank/fixed_path_policy.hpp"
#include "recblocks/rerank/llm_node_policy.hpp"
#include "recblocks/rerank/scorer_node_policy.hpp"
#if defined(RECBLOCKS_HAVE_CURL)
#include "recblocks/llm/http_client.hpp"
#endif

#ifndef RECBLOCKS_EXAMPLES_DIR
#define RECBLOCKS_EXAMPLES_DIR "examples"
#endif

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::rerank;
namespace llm = recblocks::llm;

namespace {

constexpr const char* prompt_version = "llm4rerank_movielens/2";
constexpr const char* recorded_model = "gemma-3-270m-q4_k_m";
constexpr index_t n_cand = 20, top_k = 10, n_genres = 19;

const char* genre_names[n_genres] = {"unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                                     "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                                     "Romance", "Sci-Fi", "Thriller", "War", "Western"};

struct movie {
  std::string title, genres;
  int year = 0;  // 0 = unknown
  std::vector<double> flags;
};

struct goal {
  std::string key, text;
  std::map<std::string, double> weights;  // the scorer policy's reading of the goal
};

const std::vector<goal> goals = {
    {"A", "mainly accuracy: put the movies the user is most likely to watch next at the top",
     {{"accuracy", 1.0}, {"diversity", 0.2}, {"fairness", 0.2}}},
    {"D", "mainly diversity: movies of different genres at the top, then accuracy",
     {{"accuracy", 1.0}, {"diversity", 1.0}, {"fairness", 0.2}}},
    {"F", "fairness first: movies released before and after 1996 ranked alike on average, then accuracy",
     {{"accuracy", 1.0}, {"diversity", 0.2}, {"fairness", 1.0}}},
    {"ADF", "overall performance: accuracy, diversity and fairness together",
     {{"accuracy", 1.0}, {"diversity", 1.0}, {"fairness", 1.0}}}};

struct metrics {
  double hr = 0, ndcg = 0, andcg = 0, mad = 0;
  index_t users = 0, mad_users = 0;
  /// `positive`: the held-out item's candidate position, or -1 when it is not a candidate.
  void add(const rr::rerank_case& c, const std::vector<index_t>& order, index_t positive) {
    const matrix<double> j = rr::scorer_node_policy::subtopics(c);
    for (index_t p = 0; p < top_k; ++p)
      if (order[static_cast<std::size_t>(p)] == positive) {
        hr += 1;
        ndcg += 1.0 / std::log2(static_cast<double>(p) + 2.0);
      }
    andcg += rr::alpha_ndcg<double>(order, j, top_k, 0.5);
    std::vector<index_t> g;
    for (const auto& it : c.candidates) g.push_back(it.group);
    if (std::count(g.begin(), g.end(), 0) > 0 && std::count(g.begin(), g.end(), 1) > 0) {
      mad += rr::group_fairness(order, g, 2);
      ++mad_users;
    }
    ++users;
  }
  double m_hr() const { return hr / static_cast<double>(users); }
  double m_ndcg() const { return ndcg / static_cast<double>(users); }
  double m_andcg() const { return andcg / static_cast<double>(users); }
  double m_mad() const { return mad_users ? mad / static_cast<double>(mad_users) : 0.0; }
  double balanced() const { return (m_ndcg() + m_andcg() + (1.0 - m_mad())) / 3.0; }
};

struct usage_stats {
  std::map<std::string, long> visits;  // node -> visits (aspects and backward)
  std::map<std::string, long> paths;   // "A-D-F" -> count
  long walks = 0, steps = 0, capped = 0;
  void add(const rr::walk_result& w) {
    std::string p;
    for (const auto& n : w.path) {
      if (n == "stop") continue;
      ++visits[n];
      ++steps;
      p += (p.empty() ? "" : "-") + std::string(n == "backward" ? "B" : n == "accuracy" ? "A" : n == "diversity" ? "D" : n == "fairness" ? "F" : n);
    }
    ++paths[p];
    ++walks;
    capped += w.capped ? 1 : 0;
  }
  std::string summary() const {
    char buf[256];
    std::string s;
    for (const char* n : {"accuracy", "diversity", "fairness", "backward"}) {
      const auto it = visits.find(n);
      std::snprintf(buf, sizeof buf, "%s%s %.0f%%", s.empty() ? "" : ", ", n,
                    100.0 * (it == visits.end() ? 0.0 : static_cast<double>(it->second)) / static_cast<double>(std::max(1L, steps)));
      s += buf;
    }
    std::vector<std::pair<long, std::string>> top;
    for (const auto& [k, v] : paths) top.push_back({-v, k});
    std::sort(top.begin(), top.end());
    std::snprintf(buf, sizeof buf, " | %.2f nodes/walk, capped %ld/%ld | paths:", static_cast<double>(steps) / static_cast<double>(std::max(1L, walks)), capped, walks);
    s += buf;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, top.size()); ++i) {
      std::snprintf(buf, sizeof buf, " %s (%ld)", top[i].second.c_str(), -top[i].first);
      s += buf;
    }
    return s;
  }
};

void print_header(const char* what) {
  std::printf("\n%s\n\n| %-34s | %6s | %7s | %8s | %6s | %8s |\n|%s|%s|%s|%s|%s|%s|\n", what, "method", "HR@10", "NDCG@10",
              "aNDCG@10", "MAD", "balanced", "------------------------------------", "--------", "---------",
              "----------", "--------", "----------");
}
void print_row(const std::string& name, const metrics& m) {
  std::printf("| %-34s | %6.4f | %7.4f | %8.4f | %6.4f | %8.4f |\n", name.c_str(), m.m_hr(), m.m_ndcg(), m.m_andcg(),
              m.m_mad(), m.balanced());
}

}  // namespace

int main(int argc, char** argv) try {
  std::string data = std::getenv("RECBLOCKS_DATA") ? std::getenv("RECBLOCKS_DATA") : "";
  std::string records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/llm4rerank_movielens_records.jsonl.gz";
  std::string sample_file = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/llm4rerank_movielens_sample.json";
  index_t epochs = 20, sample_size = 20, max_count = 3;
  bool live = false, no_llm = false, with_got_llm = false, resume = false, repair = false;
  recblocks_examples::command_line cl(
      "llm4rerank_movielens",
      "llm4rerank_movielens [--data DIR] [--epochs N] [--live] [--sample N] [--max-count MC] [--records FILE] "
      "[--sample-file FILE] [--no-llm] [--got-llm] [--resume] [--repair]");
  cl.option("--data", data);
  cl.option("--epochs", epochs);
  cl.option("--sample", sample_size);
  cl.option("--max-count", max_count);
  cl.option("--records", records);
  cl.option("--sample-file", sample_file);
  cl.flag("--live", live);
  cl.flag("--no-llm", no_llm);
  cl.flag("--got-llm", with_got_llm);
  cl.flag("--resume", resume);
  cl.flag("--repair", repair);
  cl.parse(argc, argv);
  if (epochs < 1 || sample_size < 1 || max_count < 1) cl.fail("--epochs, --sample and --max-count must be >= 1");

  const std::string dir = data + "/movielens-100k";
  if (data.empty() || !std::filesystem::exists(dir + "/u.data")) {
    std::cout << "skipped: MovieLens-100K not found at "
              << (data.empty() ? std::string("$RECBLOCKS_DATA (unset)") : dir) << "\n";
    return 77;  // ctest: skipped
  }
  const auto t_start = std::chrono::steady_clock::now();

  // ---- data: movies, users, leave-one-out ----------------------------------------------------------
  namespace rd = recblocks::data;
  const rd::csv_options bar{.delimiter = '|', .quote = '\0', .header = false};
  const rd::csv_reader items_csv(rd::latin1_to_utf8(rd::read_file(dir + "/u.item")), bar, dir + "/u.item");
  const rd::csv_reader users_csv(rd::read_file(dir + "/u.user"), bar, dir + "/u.user");
  const rd::csv_reader data_csv(rd::read_file(dir + "/u.data"), {.delimiter = '\t', .quote = '\0', .header = false}, dir + "/u.data");
  const index_t n_items = items_csv.rows(), n_users = users_csv.rows();
  std::vector<movie> movies(static_cast<std::size_t>(n_items));
  for (index_t r = 0; r < n_items; ++r) {
    movie& m = movies[static_cast<std::size_t>(items_csv.integer(r, 0) - 1)];
    std::string title(items_csv.cell(r, 1));
    if (title.size() > 7 && title[title.size() - 1] == ')' && title[title.size() - 6] == '(') title = title.substr(0, title.size() - 7);
    m.title = title;
    const std::string date(items_csv.cell(r, 2));
    m.year = date.size() >= 4 ? std::atoi(date.substr(date.size() - 4).c_str()) : 0;
    m.flags.assign(n_genres, 0.0);
    for (index_t g = 0; g < n_genres; ++g)
      if (items_csv.binary(r, 5 + g) == 1.0) {
        m.flags[static_cast<std::size_t>(g)] = 1.0;
        m.genres += (m.genres.empty() ? "" : "|") + std::string(genre_names[g]);
      }
  }
  std::vector<std::string> profile(static_cast<std::size_t>(n_users));
  for (index_t r = 0; r < n_users; ++r)
    profile[static_cast<std::size_t>(users_csv.integer(r, 0) - 1)] = "age: " + std::string(users_csv.cell(r, 1)) +
                                                                     ", gender: " + std::string(users_csv.cell(r, 2)) +
                                                                     ", occupation: " + std::string(users_csv.cell(r, 3));
  struct event { long ts; index_t item; };
  std::vector<std::vector<event>> events(static_cast<std::size_t>(n_users));
  for (index_t r = 0; r < data_csv.rows(); ++r)
    events[static_cast<std::size_t>(data_csv.integer(r, 0) - 1)].push_back({static_cast<long>(data_csv.integer(r, 3)), data_csv.integer(r, 1) - 1});
  std::vector<index_t> held(static_cast<std::size_t>(n_users));
  std::vector<std::vector<index_t>> train_items(static_cast<std::size_t>(n_users)), seen(static_cast<std::size_t>(n_users));
  std::vector<std::pair<index_t, index_t>> positives;
  for (index_t u = 0; u < n_users; ++u) {
    auto& ev = events[static_cast<std::size_t>(u)];
    std::stable_sort(ev.begin(), ev.end(), [](const event& a, const event& b) { return a.ts < b.ts; });
    held[static_cast<std::size_t>(u)] = ev.back().item;
    for (std::size_t k = 0; k + 1 < ev.size(); ++k) {
      train_items[static_cast<std::size_t>(u)].push_back(ev[k].item);
      positives.push_back({u, ev[k].item});
    }
    for (const auto& e : ev) seen[static_cast<std::size_t>(u)].push_back(e.item);
    std::sort(seen[static_cast<std::size_t>(u)].begin(), seen[static_cast<std::size_t>(u)].end());
  }

  // ---- GMF generator ------------------------------------------------------------------------------
  recblocks::rng gen(2024);
  recblocks::models::gmf<float> gmf({.users = n_users, .items = n_items, .dim = 32, .init_std = 0.01}, gen);
  recblocks::optim::adam<float> opt(recblocks::nn::parameters(gmf), {.learning_rate = 2e-3});
  double loss = 0;
  for (index_t e = 0; e < epochs; ++e) loss = gmf.train_epoch(positives, seen, opt, gen, {.negatives = 4, .batch_size = 256});
  const double t_train = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  auto make_case = [&](index_t u, const std::vector<std::pair<index_t, double>>& cands) {
    rr::rerank_case c;
    c.user = profile[static_cast<std::size_t>(u)];
    const auto& tr = train_items[static_cast<std::size_t>(u)];
    for (std::size_t k = tr.size() > 5 ? tr.size() - 5 : 0; k < tr.size(); ++k) {
      const movie& m = movies[static_cast<std::size_t>(tr[k])];
      c.history.push_back("title: " + m.title + ", genre: " + m.genres + ", year: " + std::to_string(m.year));
    }
    for (const auto& [item, score] : cands) {
      const movie& m = movies[static_cast<std::size_t>(item)];
      rr::rerank_item it;
      // The LLM sees candidate labels 1..20 (GMF order), not MovieLens ids: gemma's tokenizer spends a
      // token per digit, and the labels halve the answer length; titles identify the movies.
      it.id = static_cast<index_t>(c.candidates.size()) + 1;
      it.score = score;
      it.features = {{"title", m.title}, {"genre", m.genres}, {"year", m.year ? std::to_string(m.year) : "unknown"}};
      it.subtopics = m.flags;
      it.group = m.year >= 1996 ? 1 : 0;
      c.candidates.push_back(std::move(it));
    }
    return c;
  };
  // Candidates: GMF's top 20 unseen items (sigmoid scores, rounded to 3 decimals as the prompts show them).
  auto candidates_of = [&](index_t u) {
    const recblocks::col_vector<float> s = gmf.scores(u);
    const auto& sn = seen[static_cast<std::size_t>(u)];
    const index_t pos = held[static_cast<std::size_t>(u)];
    std::vector<std::pair<double, index_t>> scored;
    for (index_t i = 0; i < n_items; ++i)
      if (i == pos || !std::binary_search(sn.begin(), sn.end(), i)) scored.push_back({1.0 / (1.0 + std::exp(-double(s(i)))), i});
    std::partial_sort(scored.begin(), scored.begin() + n_cand, scored.end(),
                      [](auto a, auto b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    std::vector<std::pair<index_t, double>> out;
    for (index_t k = 0; k < n_cand; ++k)
      out.push_back({scored[static_cast<std::size_t>(k)].second, std::round(scored[static_cast<std::size_t>(k)].first * 1000.0) / 1000.0});
    return out;
  };
  auto positive_position = [&](index_t u, const std::vector<std::pair<index_t, double>>& cands) {
    for (std::size_t k = 0; k < cands.size(); ++k)
      if (cands[k].first == held[static_cast<std::size_t>(u)]) return static_cast<index_t>(k);
    return index_t{-1};
  };

  // ---- the classical methods ----------------------------------------------------------------------
  const rr::mmr mmr(0.7);
  const rr::dpp dpp;
  const rr::fair_exposure fair({0.02, {}, 4096});
  const rr::aspect_graph graph({.aspects = {{"accuracy", "the match between the user and items", ""},
                                            {"diversity", "more items with different 'genre' feature at the top of the list", ""},
                                            {"fairness", "for items with 'year' feature after 1996 and items with 'year' feature "
                                                         "before 1996, keep the average ranking of the two categories in the "
                                                         "candidate items similar", ""}},
                                .max_count = max_count});
  rr::scorer_node_policy got_inner;
  rr::fixed_path_policy<rr::scorer_node_policy&> got(got_inner, {"accuracy", "diversity", "fairness", "stop"});
  std::vector<rr::scorer_node_policy> scorer;
  for (const auto& g : goals) scorer.emplace_back(rr::scorer_node_policy_options{.goal_weights = g.weights, .threshold = 0.05});

  std::vector<std::string> names = {"GMF order", "MMR lambda=0.7", "DPP theta=0.7", "fair exposure tol=0.02",
                                    "fixed path A-D-F (scorer nodes)"};
  for (const auto& g : goals) names.push_back("graph, scorer policy, goal " + g.key);
  const std::size_t n_classical = names.size();
  std::vector<usage_stats> scorer_usage(goals.size());
  auto run_classical = [&](rr::rerank_case& c, std::size_t m, bool count_usage) {
    const index_t n = static_cast<index_t>(c.candidates.size());
    std::vector<index_t> identity(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) identity[static_cast<std::size_t>(i)] = i;
    const recblocks::col_vector<double> rel = rr::scorer_node_policy::rank_relevance(identity);
    const matrix<double> j = rr::scorer_node_policy::subtopics(c);
    matrix<double> sim(n, n);
    for (index_t a = 0; a < n; ++a)
      for (index_t b = 0; b < n; ++b) {
        const double na = j.row(a).norm(), nb = j.row(b).norm();
        sim(a, b) = na > 0 && nb > 0 ? j.row(a).dot(j.row(b)) / (na * nb) : (a == b ? 1.0 : 0.0);
      }
    switch (m) {
      case 0: return identity;
      case 1: return mmr.rerank<double>(rel, sim, n);
      case 2: return dpp.rerank<double>(rr::dpp::kernel<double>(rel, sim, 0.7), n);
      case 3: {
        std::vector<index_t> g;
        for (const auto& it : c.candidates) g.push_back(it.group);
        return fair.rerank<double>(rel, g, n, 2);
      }
      case 4: return graph.run(got, c).order;
      default: {
        const std::size_t gi = m - 5;
        c.goal = goals[gi].text;
        const rr::walk_result w = graph.run(scorer[gi], c);
        if (count_usage) scorer_usage[gi].add(w);
        return w.order;
      }
    }
  };

  std::vector<metrics> all(n_classical), with_positive(n_classical);
  std::vector<index_t> positive_users;  // users whose held-out item is among their candidates
  for (index_t u = 0; u < n_users; ++u) {
    const auto cands = candidates_of(u);
    rr::rerank_case c = make_case(u, cands);
    const index_t pos = positive_position(u, cands);
    if (pos >= 0) positive_users.push_back(u);
    for (std::size_t m = 0; m < n_classical; ++m) {
      const std::vector<index_t> order = run_classical(c, m, true);
      all[m].add(c, order, pos);
      if (pos >= 0) with_positive[m].add(c, order, pos);
    }
  }
  const index_t positive_in_top20 = static_cast<index_t>(positive_users.size());
  const double t_all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("MovieLens-100K, leave-one-out (last rating per user held out), %lld users, %lld items.\n",
              static_cast<long long>(n_users), static_cast<long long>(n_items));
  std::printf("GMF: dim 32, BCE with 4 sampled negatives, Adam 2e-3, batch 256, %lld epochs (final loss %.4f), %.1f s.\n",
              static_cast<long long>(epochs), loss, t_train);
  std::printf("Candidates: GMF top %lld of the unseen items; the held-out item is among them for %lld of %lld users "
              "(GMF HR@20 %.4f).\n",
              static_cast<long long>(n_cand), static_cast<long long>(positive_in_top20), static_cast<long long>(n_users),
              static_cast<double>(positive_in_top20) / static_cast<double>(n_users));
  std::printf("K = %lld of %lld; aNDCG over 19 genres (alpha 0.5); MAD over all %lld, year < 1996 vs >= 1996 (lower is "
              "fairer); balanced = (NDCG@10 + aNDCG@10 + 1 - MAD) / 3; graph max node count MC = %lld.\n",
              static_cast<long long>(top_k), static_cast<long long>(n_cand), static_cast<long long>(n_cand),
              static_cast<long long>(max_count));
  print_header("All users:");
  for (std::size_t m = 0; m < n_classical; ++m) print_row(names[m], all[m]);
  print_header(("The " + std::to_string(positive_in_top20) + " users whose held-out item is among the candidates:").c_str());
  for (std::size_t m = 0; m < n_classical; ++m) print_row(names[m], with_positive[m]);
  std::printf("\nNode usage, scorer policy (all users):\n");
  for (std::size_t g = 0; g < goals.size(); ++g) std::printf("  goal %-3s: %s\n", goals[g].key.c_str(), scorer_usage[g].summary().c_str());
  std::printf("(%.1f s so far)\n", t_all);
  if (no_llm) return 0;

  // ---- the LLM sample: strict (the reference code: re-ask, then fall back) and repair variants --------
  auto llm_variant = [&](bool repair, const std::string& records, const std::string& sample_file) {
    const std::string variant = repair ? "repair" : "strict";
    nlohmann::json sample;
    if (live) {
      // every stride-th of the users whose held-out item is among the candidates
      const index_t np = static_cast<index_t>(positive_users.size());
      const index_t stride = std::max<index_t>(1, np / sample_size);
      sample = {{"format", "llm4rerank_movielens.sample"}, {"version", 1}, {"prompt_version", prompt_version},
                {"max_count", max_count}, {"got_llm", with_got_llm}, {"users", nlohmann::json::array()}};
      for (index_t k = 0; k < sample_size && k * stride < np; ++k) {
        const index_t u = positive_users[static_cast<std::size_t>(k * stride)];
        nlohmann::json cj = nlohmann::json::array();
        for (auto [i, s] : candidates_of(u)) cj.push_back({i, s});
        sample["users"].push_back({{"user", u}, {"candidates", cj}});
      }
    } else {
      std::ifstream in(sample_file);
      if (!in) {
        std::printf("\nLLM rows skipped: no sample file %s (record it with --live).\n", sample_file.c_str());
        return;
      }
      sample = nlohmann::json::parse(in);
      if (sample.value("prompt_version", "") != prompt_version)
        throw recblocks::value_error("llm4rerank_movielens: " + sample_file + " is for prompt version " +
                                     sample.value("prompt_version", "") + ", this program asks " + prompt_version);
      max_count = sample.at("max_count").get<index_t>();
      with_got_llm = sample.value("got_llm", false);
    }
    const rr::aspect_graph llm_graph({.aspects = graph.options().aspects, .max_count = max_count});
    const rr::aspect_graph got_graph({.aspects = graph.options().aspects, .max_count = std::max<index_t>(max_count, 3)});

    // --live --resume: answers already in the records file are reused (so an interrupted recording
    // goes on where it stopped); the rest go to the server. Either way the new file holds every answer.
    struct resume_client {
      std::optional<llm::recorded_client> old;
      llm::any_client live;
      long live_calls = 0;
      llm::chat_response chat(const llm::chat_request& r) {
        if (old) try {
            return old->chat(r);
          } catch (const llm::llm_error& e) {
            if (e.kind() != llm::llm_error_kind::replay_miss) throw;
          }
        ++live_calls;
        return live.chat(r);
      }
    };
    resume_client source;
    nlohmann::json old_sample;
  #if defined(RECBLOCKS_HAVE_CURL)
    std::optional<llm::http_client> http;
  #endif
    std::optional<llm::recorded_client> book;
    if (live) {
  #if defined(RECBLOCKS_HAVE_CURL)
      http.emplace();
      source.live = llm::any_client(std::ref(*http));
      if (resume && std::filesystem::exists(records)) {
        source.old.emplace(records, llm::record_meta::from_env(prompt_version));
        std::ifstream in(sample_file);
        if (in) old_sample = nlohmann::json::parse(in);
      }
      book.emplace(records, llm::record_meta::from_env(prompt_version), llm::recorded_options{.mode = llm::record_mode::live},
                   llm::any_client(std::ref(source)));
  #else
      throw recblocks::value_error("llm4rerank_movielens: --live needs recblocks built with libcurl (recblocks::llm_http)");
  #endif
    } else {
      try {
        llm::record_meta expected;
        expected.model = recorded_model;
        expected.prompt_version = prompt_version;
        book.emplace(records, expected);
      } catch (const llm::llm_error& e) {
        std::printf("\nLLM rows skipped: %s\n", e.what());
        return;
      }
    }
    rr::llm_node_policy policy(*book, {.max_attempts = 2, .repair = repair});  // one re-ask: a bounded recording budget
    rr::fixed_path_policy<rr::llm_node_policy<llm::recorded_client>&> got_llm(policy, {"accuracy", "diversity", "fairness", "stop"});

    // The LLM runs goals A, D and F (the recording budget); ADF is measured with the scorer policy only.
    const std::size_t n_llm_goals = 3;
    const std::size_t n_llm = n_llm_goals + (with_got_llm ? 1 : 0);  // then the fixed path with LLM nodes (goal ADF)
    std::vector<metrics> on_sample(n_classical), llm_rows(n_llm);
    std::vector<usage_stats> llm_usage(goals.size()), sample_scorer_usage(goals.size());
    std::vector<rr::llm_node_stats> llm_stats(n_llm);
    std::vector<double> live_seconds(n_llm, 0.0);  // summed over the users timed live
    index_t timed_users = 0;
    const nlohmann::json planned = sample.at("users");
    sample["users"] = nlohmann::json::array();  // the users done (live: written after each one)
    const std::size_t sample_users = planned.size();
    for (std::size_t s = 0; s < sample_users; ++s) {
      nlohmann::json uj = planned[s];
      const index_t u = uj.at("user").get<index_t>();
      std::vector<std::pair<index_t, double>> cands;
      for (const auto& x : uj.at("candidates")) cands.push_back({x[0].get<index_t>(), x[1].get<double>()});
      rr::rerank_case c = make_case(u, cands);
      const index_t positive = positive_position(u, cands);
      for (std::size_t m = 0; m < n_classical; ++m) on_sample[m].add(c, run_classical(c, m, false), positive);
      for (std::size_t g = 0; g < goals.size(); ++g) {
        c.goal = goals[g].text;
        const rr::walk_result sw = graph.run(scorer[g], c);
        sample_scorer_usage[g].add(sw);
      }
      const long live_before = source.live_calls;
      nlohmann::json seconds = nlohmann::json::array();
      for (std::size_t g = 0; g < n_llm; ++g) {
        c.goal = goals[g < n_llm_goals ? g : goals.size() - 1].text;
        policy.reset_stats();
        const auto t0 = std::chrono::steady_clock::now();
        const rr::walk_result w = g < n_llm_goals ? llm_graph.run(policy, c) : got_graph.run(got_llm, c);
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        llm_stats[g] += policy.stats();
        llm_rows[g].add(c, w.order, positive);
        if (g < n_llm_goals) llm_usage[g].add(w);
      }
      if (live) {  // time measured now, or (answers reused by --resume) the earlier recording's time
        uj["seconds"] = source.live_calls > live_before ? seconds : nlohmann::json();
        if (uj["seconds"].is_null() && old_sample.contains("users"))
          for (const auto& o : old_sample["users"])
            if (o.value("user", index_t{-1}) == u && o.contains("seconds")) uj["seconds"] = o["seconds"];
      }
      if (uj.contains("seconds") && uj["seconds"].is_array() && uj["seconds"].size() == n_llm) {
        for (std::size_t g = 0; g < n_llm; ++g) live_seconds[g] += uj["seconds"][g].get<double>();
        ++timed_users;
      }
      sample["users"].push_back(uj);
      if (live) {  // keep a consistent pair of files after every user
        book->save();
        sample["model"] = book->meta().model;
        sample["recorded_at"] = book->meta().recorded_at;
        std::ofstream(sample_file) << sample.dump(1) << "\n";
        std::fprintf(stderr, "\r[live] user %zu/%zu recorded (%ld answers, %ld asked live)   ", s + 1, sample_users,
                     book->recorded(), source.live_calls);
      }
    }
    if (live) std::fprintf(stderr, "\n");
    std::vector<index_t> sample_ids;
    for (const auto& uj : sample["users"]) sample_ids.push_back(uj["user"].get<index_t>() + 1);
    std::string ids;
    for (index_t x : sample_ids) ids += (ids.empty() ? "" : ",") + std::to_string(x);
    print_header(("Sample: " + std::to_string(sample_users) + " users at a fixed stride among those whose held-out item is a candidate (ids " + ids + "), shipped candidates, LLM: " +
                  book->meta().model + " (recorded " + book->meta().recorded_at + ", " + (live ? "live" : "replayed") + "):")
                     .c_str());
    for (std::size_t m = 0; m < n_classical; ++m) print_row(names[m], on_sample[m]);
    for (std::size_t g = 0; g < n_llm; ++g)
      print_row(g < n_llm_goals ? "graph, LLM (" + variant + "), goal " + goals[g].key : "fixed path A-D-F (LLM nodes, goal ADF)", llm_rows[g]);
    std::printf("\nNode usage on the sample (share of node visits | mean visits per walk, walks the MC cap stopped | top paths):\n");
    for (std::size_t g = 0; g < goals.size(); ++g) {
      if (g < n_llm_goals) std::printf("  LLM (%s) goal %-3s: %s\n", variant.c_str(), goals[g].key.c_str(), llm_usage[g].summary().c_str());
      std::printf("  scorer        goal %-3s: %s\n", goals[g].key.c_str(), sample_scorer_usage[g].summary().c_str());
    }
    std::printf("\nLLM (%s) answers per run (%zu users each): decisions, valid first answers, repaired, re-asks, fallbacks, "
                "tokens per user, live time per user (over the %lld users timed when recorded)\n",
                variant.c_str(), sample_users, static_cast<long long>(timed_users));
    for (std::size_t g = 0; g < n_llm; ++g) {
      const auto& st = llm_stats[g];
      std::string why;
      for (const auto& [k, v] : st.failures) why += (why.empty() ? "" : ", ") + k + " " + std::to_string(v);
      const double nu = static_cast<double>(std::max<std::size_t>(1, sample_users));
      std::printf("  %-10s decisions %ld, first valid %ld (%.0f%%), repaired %ld, re-asks %ld, fallbacks %ld (%.0f%%), "
                  "prompt %.0f + completion %.0f tokens/user, %.1f s/user live%s%s\n",
                  g < n_llm_goals ? ("goal " + goals[g].key).c_str() : "GoT (LLM)", st.decisions, st.first_valid,
                  100.0 * static_cast<double>(st.first_valid) / static_cast<double>(std::max(1L, st.decisions)), st.repaired, st.retries,
                  st.fallbacks, 100.0 * static_cast<double>(st.fallbacks) / static_cast<double>(std::max(1L, st.decisions)),
                  static_cast<double>(st.prompt_tokens) / nu, static_cast<double>(st.completion_tokens) / nu,
                  live_seconds[g] / static_cast<double>(std::max<index_t>(1, timed_users)), why.empty() ? "" : "; invalid answers: ", why.c_str());
    }
  };
  auto repair_name = [](std::string f) {
    const auto p = f.rfind("_records");
    if (p != std::string::npos) return f.replace(p, 8, "_repair_records");
    const auto q = f.rfind("_sample");
    return q != std::string::npos ? f.replace(q, 7, "_repair_sample") : f + ".repair";
  };
  if (live) {
    llm_variant(repair, records, sample_file);
  } else {
    llm_variant(false, records, sample_file);
    llm_variant(true, repair_name(records), repair_name(sample_file));
  }
  std::printf("\nelapsed %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "llm4rerank_movielens: %s\n", e.what());
  return 1;
}
