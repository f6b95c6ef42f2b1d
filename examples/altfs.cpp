// AltFS / SELF (issue 15, papers.md §3): LLM feature-importance ranking refined by a bridge vector with
// rank-guided masking, then retraining from scratch on the top-d fields; checked against features whose
// importance is known (synthetic) and measured on MovieLens-100K.
//
// Policies (one interface, featsel::ranking_policy): mutual information, permutation importance,
// learnable gate, the LLM ranking alone (K = 1), and the bridge over K = 3 LLM rankings. One model
// answers (Gemma 3 270M, Q4_K_M, llama.cpp): the K rankings come from K prompt orders (descriptor and
// candidate listing shuffled with order seeds 0, 1, 2), not from K different LLMs.
//
// The LLM answers are recorded once (`--live`, RECBLOCKS_LLM_URL) into examples/data/altfs_records.jsonl.gz
// and replayed offline by default (a replay miss is an error naming the request). The LLM ranks each
// dataset once (its descriptors come from the full training split; the rankings do not depend on the
// training seed); the seeds vary model initialisation and batch order (and the synthetic data).
//
// Usage: altfs [--data DIR] [--part synthetic|movielens|both] [--seeds N] [--epochs N] [--rows N]
//              [--batch-size B] [--lr LR] [--ml-rows N] [--model NAME] [--d LIST] [--live] [--records FILE] [--quiet]
//              [--llm-only]      (only the LLM rankings: what `--live --llm-only` records)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
constexpr const char* recorded_model = "gemma-3-270m-q4_k_m";
constexpr int K = 3;

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

/// The client: replay the shipped book, or ask the live server and record.
struct llm_source {
  std::optional<llm::recorded_client> book;
#if defined(RECBLOCKS_HAVE_CURL)
  std::optional<llm::http_client> http;
#endif
};

void open_book(llm_source& s, const std::string& records, bool live) {
  if (live) {
#if defined(RECBLOCKS_HAVE_CURL)
    s.http.emplace();
    s.book.emplace(records, llm::record_meta::from_env(prompt_version), llm::recorded_options{.mode = llm::record_mode::live},
                   llm::any_client(std::ref(*s.http)));
#else
    throw recblocks::value_error("altfs: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
  } else {
    llm::record_meta expected;
    expected.model = recorded_model;
    expected.prompt_version = prompt_version;
    s.book.emplace(records, expected);
  }
}

/// K LLM rankings (prompt order seeds 0..K-1) of `descr_data`'s fields, with their accounting.
std::vector<fs::feature_ranking> llm_rankings(llm::recorded_client& book, const rd::dataset& descr_data, fs::llm_ranking_options base,
                                              fs::llm_ranking_stats& stats) {
  std::vector<fs::feature_ranking> out;
  for (int k = 0; k < K; ++k) {
    auto o = base;
    o.order_seed = static_cast<std::uint64_t>(k);
    fs::llm_ranking_policy<llm::recorded_client> p(book, o);
    out.push_back(p.rank(descr_data, descr_data));
    out.back().policy = "llm_order" + std::to_string(k);
    stats += p.stats();
  }
  return out;
}

void print_cost(const char* what, const fs::llm_ranking_stats& st, const llm::recorded_client& book, bool live) {
  std::printf("\nLLM cost (%s; %s, %s %s): %ld rankings, %ld steps, %ld requests, first answers valid %ld/%ld, "
              "re-asks %ld, fallbacks %ld, prompt tokens %ld, completion tokens %ld",
              what, book.meta().model.c_str(), live ? "asked live" : "replayed, recorded", book.meta().recorded_at.c_str(),
              st.rankings, st.steps, st.requests, st.first_valid, st.steps, st.retries, st.fallbacks, st.prompt_tokens,
              st.completion_tokens);
  if (live) std::printf(", wall time in the client %.1f s", st.seconds);
  std::printf("\n");
  for (const auto& [k, v] : st.failures) std::printf("  invalid answers '%s': %ld\n", k.c_str(), v);
}

// ---- synthetic: known importance ---------------------------------------------------------------------------
void run_synthetic(llm::recorded_client& book, bool live, index_t rows, index_t seeds, const std::vector<index_t>& ds, const run_config& rc) {
  retrain_cache.clear();
  const auto truth = fs::known_importance::truth();
  // the LLM sees descriptors of one fixed draw (seed 1, 20,000 rows): the recorded prompt set
  const rd::dataset descr = fs::known_importance::generate(20000, 1);
  fs::llm_ranking_options lo;
  lo.task = "click-through rate prediction: predict whether a user clicks an ad";
  lo.dataset = "ad impressions with user, item and context features";
  lo.initial = std::vector<std::string>{};
  lo.descriptors.descriptions = fs::known_importance::descriptions();
  fs::llm_ranking_stats st;
  const auto llm = llm_rankings(book, descr, lo, st);
  print_cost("synthetic", st, book, live);
  for (const auto& r : llm) std::printf("  %s: %s\n", r.policy.c_str(), join(r.order).c_str());
  if (rc.llm_only) return;

  const std::vector<std::string> policies = {"truth", "mutual_information", "permutation_importance", "learnable_gate", "llm_k1", "bridge_k3"};
  std::map<std::string, std::vector<double>> rho, tau, p2, p4, p6;
  std::map<std::string, std::map<index_t, std::vector<double>>> auc;
  std::vector<double> auc_all, bridge_seconds, w0, w1, w2;
  for (index_t seed = 1; seed <= seeds; ++seed) {
    const auto su = static_cast<std::uint64_t>(seed);
    const rd::dataset train = fs::known_importance::generate(rows, 1000 + su);
    const rd::dataset valid = fs::known_importance::generate(rows / 4, 2000 + su);
    const rd::dataset test = fs::known_importance::generate(rows / 4, 3000 + su);
    const auto spec = spec_for(rc, 2022 + su);
    std::map<std::string, fs::feature_ranking> r;
    fs::feature_ranking t;
    t.policy = "truth";
    for (const auto& [name, v] : truth) t.order.push_back(name);
    std::stable_sort(t.order.begin(), t.order.end(), [&](const auto& a, const auto& b) { return truth.at(a) > truth.at(b); });
    r["truth"] = t;
    r["mutual_information"] = fs::mutual_information_policy().rank(train, valid);
    r["permutation_importance"] = fs::permutation_importance_policy<float>(spec, 1, su).rank(train, valid);
    r["learnable_gate"] = fs::learnable_gate_policy<float>(spec).rank(train, valid);
    r["llm_k1"] = llm[0];
    fs::bridge_policy<float> bridge(llm, spec);
    r["bridge_k3"] = bridge.rank(train, valid);
    bridge_seconds.push_back(bridge.last_seconds());
    w0.push_back(bridge.last_weights()[0]), w1.push_back(bridge.last_weights()[1]), w2.push_back(bridge.last_weights()[2]);
    auc_all.push_back(retrain(train, valid, test, {}, rc, 2022 + su).auc);
    for (const auto& p : policies) {
      rho[p].push_back(fs::spearman(r[p], truth));
      tau[p].push_back(fs::kendall_tau(r[p], truth));
      p2[p].push_back(fs::precision_at(r[p], truth, 2));
      p4[p].push_back(fs::precision_at(r[p], truth, 4));
      p6[p].push_back(fs::precision_at(r[p], truth, 6));
      for (index_t d : ds) auc[p][d].push_back(retrain(train, valid, test, r[p].top(d), rc, 2022 + su).auc);
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
    std::printf("| %s | %s | %s | %s | %s | %s |\n", p.c_str(), pm(rho[p], 3).c_str(), pm(tau[p], 3).c_str(), pm(p2[p], 2).c_str(),
                pm(p4[p], 2).c_str(), pm(p6[p], 2).c_str());
  std::printf("\nSynthetic: test AUC after retraining on the top-d fields (all 13 fields: %s)\n", pm(auc_all).c_str());
  std::printf("| policy |");
  for (index_t d : ds) std::printf(" d = %lld |", static_cast<long long>(d));
  std::printf("\n|---|");
  for (std::size_t i = 0; i < ds.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& p : policies) {
    std::printf("| %s |", p.c_str());
    for (index_t d : ds) std::printf(" %s |", pm(auc[p][d]).c_str());
    std::printf("\n");
  }
  std::printf("Bridge: softmax(w/4) over the K = 3 prompt orders = (%.4f, %.4f, %.4f) (seed mean); bridge stage %.1f s per seed\n",
              mean(w0), mean(w1), mean(w2), mean(bridge_seconds));
}

// ---- MovieLens-100K ---------------------------------------------------------------------------------------
void run_movielens(llm::recorded_client& book, bool live, const std::string& dir, index_t ml_rows, index_t seeds,
                   const std::vector<index_t>& ds, const run_config& rc) {
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
  fs::llm_ranking_stats st;
  const auto llm = llm_rankings(book, splits.train, lo, st);  // descriptors of the full training split
  print_cost("MovieLens-100K", st, book, live);
  for (const auto& r : llm) std::printf("  %s: %s\n", r.policy.c_str(), join(r.order).c_str());
  if (rc.llm_only) return;

  const std::vector<std::string> policies = {"mutual_information", "permutation_importance", "learnable_gate", "llm_k1", "bridge_k3"};
  std::vector<double> none_auc, none_ll, bridge_seconds, train_seconds, w0, w1, w2;
  std::map<std::string, std::map<index_t, std::vector<double>>> auc, ll;
  std::map<std::string, std::vector<std::string>> orders;
  for (index_t seed = 1; seed <= seeds; ++seed) {
    const auto su = static_cast<std::uint64_t>(2022 + seed);
    const auto spec = spec_for(rc, su);
    const auto t0 = std::chrono::steady_clock::now();
    const metrics none = retrain(train, valid, test, {}, rc, su);
    train_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    none_auc.push_back(none.auc), none_ll.push_back(none.log_loss);
    std::map<std::string, fs::feature_ranking> r;
    r["mutual_information"] = fs::mutual_information_policy().rank(train, valid);
    r["permutation_importance"] = fs::permutation_importance_policy<float>(spec, 1, su).rank(train, valid);
    r["learnable_gate"] = fs::learnable_gate_policy<float>(spec).rank(train, valid);
    r["llm_k1"] = llm[0];
    fs::bridge_policy<float> bridge(llm, spec);
    r["bridge_k3"] = bridge.rank(train, valid);
    bridge_seconds.push_back(bridge.last_seconds());
    w0.push_back(bridge.last_weights()[0]), w1.push_back(bridge.last_weights()[1]), w2.push_back(bridge.last_weights()[2]);
    for (const auto& p : policies) {
      if (seed == 1) orders[p] = r[p].order;
      for (index_t d : ds) {
        const metrics m = retrain(train, valid, test, r[p].top(d), rc, su);
        auc[p][d].push_back(m.auc - none.auc);
        ll[p][d].push_back(m.log_loss - none.log_loss);
      }
    }
  }
  std::printf("\nMovieLens-100K (%lld training rows, 7 fields, model %s, %lld seeds): no selection AUC %s, log loss %s\n",
              static_cast<long long>(train.rows()), rc.model.c_str(), static_cast<long long>(seeds), pm(none_auc).c_str(),
              pm(none_ll).c_str());
  std::printf("Paired differences vs no selection (mean ± sd over seeds; AUC: + is better, log loss: − is better)\n");
  std::printf("| policy | d | ΔAUC | Δlog loss | seeds with ΔAUC > 0 |\n|---|---|---|---|---|\n");
  for (const auto& p : policies)
    for (index_t d : ds) {
      int wins = 0;
      for (double x : auc[p][d]) wins += x > 0;
      std::printf("| %s | %lld | %s | %s | %d/%zu |\n", p.c_str(), static_cast<long long>(d), pm(auc[p][d]).c_str(), pm(ll[p][d]).c_str(),
                  wins, auc[p][d].size());
    }
  std::printf("Rankings (seed 1):\n");
  for (const auto& p : policies) std::printf("  %-24s %s\n", p.c_str(), join(orders[p]).c_str());
  std::printf("Bridge: softmax(w/4) = (%.4f, %.4f, %.4f) (seed mean); bridge stage %.1f s vs one plain training %.1f s per seed\n",
              mean(w0), mean(w1), mean(w2), mean(bridge_seconds), mean(train_seconds));
}

}  // namespace

int main(int argc, char** argv) try {
  std::string data = std::getenv("RECBLOCKS_DATA") ? std::getenv("RECBLOCKS_DATA") : "";
  std::string records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/altfs_records.jsonl.gz";
  std::string part = "both", d_list = "";
  index_t seeds = 5, rows = 20000, ml_rows = 0;
  run_config rc;
  bool live = false;
  recblocks_examples::command_line cl("altfs",
                                      "altfs [--data DIR] [--part synthetic|movielens|both] [--seeds N] [--epochs N] [--batch-size B] [--lr LR] "
                                      "[--rows N] [--ml-rows N] [--model NAME] [--d LIST] [--live] [--records FILE] [--quiet] [--llm-only]");
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
  cl.flag("--live", live);
  cl.flag("--quiet", rc.quiet);
  cl.flag("--llm-only", rc.llm_only);
  cl.parse(argc, argv);
  if (seeds < 1 || rc.epochs < 1 || rc.batch_size < 2 || !(rc.learning_rate > 0) || rows < 100 || ml_rows < 0) cl.fail("--seeds and --epochs must be >= 1, --batch-size >= 2, --rows >= 100, --ml-rows >= 0");
  if (part != "synthetic" && part != "movielens" && part != "both") cl.fail("--part must be synthetic, movielens or both");
  rc.model = recblocks::models::registry::canonical(rc.model);
  auto parse_d = [&](const std::string& def) {
    std::vector<index_t> out;
    std::stringstream ss(d_list.empty() ? def : d_list);
    for (std::string x; std::getline(ss, x, ',');) out.push_back(std::stoll(x));
    return out;
  };
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines as they come
  const auto t0 = std::chrono::steady_clock::now();
  llm_source src;
  open_book(src, records, live);
  std::printf("AltFS: policies compared through featsel::ranking_policy; LLM answers by %s (%s), prompt %s; K = 3 rankings "
              "from one model with 3 prompt orders\n",
              src.book->meta().model.c_str(), live ? "live" : "replayed", prompt_version);
  if (part != "movielens") run_synthetic(*src.book, live, rows, seeds, parse_d("2,4,6"), rc);
  if (part != "synthetic") {
    const std::string dir = data + "/movielens-100k";
    if (data.empty() || !std::filesystem::exists(dir + "/u.data")) {
      std::printf("\nMovieLens part skipped: MovieLens-100K not found at %s\n",
                  data.empty() ? "$RECBLOCKS_DATA (unset)" : dir.c_str());
      if (part == "movielens") return 77;
    } else {
      run_movielens(*src.book, live, dir, ml_rows, seeds, parse_d("4,5,6"), rc);
    }
  }
  if (live) src.book->save();
  std::printf("\ntotal %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "altfs: %s\n", e.what());
  return 1;
}
