// radio_scifact: RADIO (papers.md §4) on BEIR SciFact. A cross-encoder reranker (all-MiniLM-L6-v2's
// BERT + pooler, head from scratch) is fine-tuned on groups built from different rankings of each
// training claim's BM25 top 20, and evaluated as a reranker of the BM25 top 20 of held-out claims.
//
// Pipeline (per training claim):
//   BM25 top 20 (retrieval scores)  ->  LLM rationale for (claim, "LABEL: evidence title")  ->
//   sentence-encoder dot products of "claim. answer. rationale" with each document (rationale scores)
//   ->  min-max fusion s = α ŝ_rationale + (1 − α) ŝ_retrieval  ->  shift sampler (pos rank 0, negs
//   ranks {3,4,6,9,13,18})  ->  group softmax cross-entropy (positive first, group 7), AdamW.
// Rows: BM25 order; the rationale reranker itself on the dev claims (no training: each dev claim's BM25
// top 20 reordered by the fused scores, rr_rationale α = 1, rr_fused α = 0.5, rr_human α = 0.5 with the
// evidence sentences, rr_answer α = 1 with no rationale at all ("claim. answer." only: what the answer
// string alone contributes); the LLM is given the dev claim's gold answer, so these rows measure the
// ranking RADIO trains on, not a deployable reranker); the pretrained cross-encoder (random head);
// fine-tuned on retrieval ranks (α = 0); on LLM-rationale ranks (α = 1); fused α = 0.5 and α = --alpha2;
// fused α = 0.5 with SciFact's human evidence sentences as the rationale (an oracle); ft_answer: α = 1
// on "claim. answer." without a rationale (the control for ft_rationale: the answer string names the
// evidence abstract's title). Metrics on the dev claims: NDCG@5, NDCG@10, Recall@5
// of the reranked top 20 against the qrels.
//
// Data: the train qrels of SciFact split 80/20 by data::beir_dataset::split (seed 13); --train N takes
// the first N train-split claims (query index order), --dev M the first M dev-split claims.
// Rationales: recorded once from a local LLM chosen by --model and shipped; replayed by default (a
// missing answer is an error):
//   smollm2 (default): SmolLM2 135M Instruct, prompt radio_scifact/2 (RADIO's messages with the question,
//     answer and "Rationale: " in one user turn; {"rationale"} schema with maxLength 300, 100 tokens),
//     examples/data/radio_scifact_smollm2_records.jsonl.gz; live: RECBLOCKS_LLM_INSTRUCT_URL;
//   gemma: Gemma 3 270M base, prompt radio_scifact/1 (the reference's four messages, 64 tokens),
//     examples/data/radio_scifact_records.jsonl.gz; live: RECBLOCKS_LLM_URL.
// Rationales are asked for the training claims (ft_* rows) and the dev claims (rr_* rows).
// A claim whose rationale is empty, refused or unusable after a re-ask falls back to its retrieval
// ranking (counted and printed). Results go to stdout and, with --out FILE, one JSON line per run.
//
// Usage: radio_scifact [--data DIR] [--models DIR] [--model smollm2|gemma] [--train N] [--dev M] [--seeds S] [--epochs E]
//        [--max-length L] [--embed-length L] [--batch B] [--lr X] [--alpha2 A] [--rows r1,r2,...] [--records FILE]
//        [--live] [--live-budget S] [--record-only] [--threads T] [--timing] [--compute fp32|bf16] [--pairs-out FILE] [--head-lr X] [--out FILE] [--quiet]
// --max-length: tokens per cross-encoder pair (128); --embed-length: tokens per text for the rationale
// scores' sentence encoder (256, the model's maximum).
// --head-lr: a separate learning rate for the pooler and head (0: --lr, the paper's single rate).
// Exits 77 (ctest: skipped) when SciFact or the model is absent.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <atomic>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "recblocks/core/ops.hpp"
#include "recblocks/core/rng.hpp"
#include "recblocks/data/beir_dataset.hpp"
#include "recblocks/eval/ranking.hpp"
#include "recblocks/llm/recorded_client.hpp"
#include "recblocks/loss/softmax_cross_entropy.hpp"
#include "recblocks/nn/module.hpp"
#include "recblocks/optim/adam.hpp"
#include "recblocks/rerank/rationale_prompt.hpp"
#include "recblocks/rerank/rationale_scorer.hpp"
#include "recblocks/rerank/score_fusion.hpp"
#include "recblocks/rerank/shift_sampler.hpp"
#include "recblocks/retrieval/bm25.hpp"
#include "recblocks/text/cross_encoder.hpp"
#include "recblocks/text/sentence_encoder.hpp"
#if defined(RECBLOCKS_HAVE_CURL)
#include "recblocks/llm/http_client.hpp"
#endif

using recblocks::index_t;
using recblocks::matrix;
namespace fs = std::filesystem;
namespace rr = recblocks::rerank;
namespace llm = recblocks::llm;

namespace {

/// The LLMs the example has records for (see the file comment).
struct llm_choice {
  const char* key;
  const char* model;
  const char* records;
  const char* prompt_version;
  bool single_turn;
  int max_tokens, max_chars;
  const char* url_env;
  const char* model_env;
  const char* sha_env;
};
constexpr llm_choice llm_choices[] = {
    {"smollm2", "smollm2-135m-instruct-q4_1", "radio_scifact_smollm2_records.jsonl.gz", "radio_scifact/2", true, 100, 300,
     "RECBLOCKS_LLM_INSTRUCT_URL", "RECBLOCKS_LLM_INSTRUCT_MODEL", "RECBLOCKS_LLM_INSTRUCT_SHA256"},
    {"gemma", "gemma-3-270m-q4_k_m", "radio_scifact_records.jsonl.gz", "radio_scifact/1", false, 64, 0, "RECBLOCKS_LLM_URL",
     "RECBLOCKS_LLM_MODEL", "RECBLOCKS_LLM_MODEL_SHA256"},
};
constexpr index_t top_k = 20, keep_k = 5;

struct claim_info {
  std::string label = "NOT ENOUGH INFO";  // of the first cited document with evidence
  index_t doc = -1;                       // the first cited document (corpus index)
  std::vector<std::pair<index_t, std::vector<int>>> evidence;  // (document, sentence indices)
};

// byte offset of the code point `cp` in UTF-8 `s`
std::size_t byte_of_codepoint(const std::string& s, std::size_t cp) {
  std::size_t i = 0, n = 0;
  while (i < s.size() && n < cp) {
    const auto c = static_cast<unsigned char>(s[i]);
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    ++n;
  }
  return std::min(i, s.size());
}

struct run_metrics {
  std::vector<double> ndcg5, ndcg10, recall5;  // per dev query
  double mean(const std::vector<double>& v) const { return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string data = std::getenv("RECBLOCKS_DATA") ? std::getenv("RECBLOCKS_DATA") : "";
  std::string models = std::getenv("RECBLOCKS_MODELS") ? std::getenv("RECBLOCKS_MODELS")
                                                        : std::string(std::getenv("HOME") ? std::getenv("HOME") : ".") + "/.cache/recblocks/models";
  std::string records, model_key = "smollm2";
  std::string compute = "fp32";  // --timing's reranking: fp32, or bf16 projections (AVX512-BF16)
  std::string rows_arg = "bm25,rr_rationale,rr_fused,rr_human,rr_answer,pretrained,ft_retrieval,ft_rationale,ft_fused,ft_fused2,ft_human,ft_answer",
              out_file, pairs_out;
  index_t n_train = 60, n_dev = 60, seeds = 3, epochs = 1, max_length = 128, batch = 4, threads = 6, embed_length = 256;
  double lr = 6e-5, alpha2 = 0.8, head_lr = 0, live_budget = 0;
  bool live = false, timing = false, quiet = false, record_only = false;
  recblocks_examples::command_line cl("radio_scifact",
                                      "radio_scifact [--data DIR] [--models DIR] [--model smollm2|gemma] [--train N] [--dev M] [--seeds S] [--epochs E] "
                                      "[--max-length L] [--embed-length L] [--batch B] [--lr X] [--alpha2 A] [--rows r1,r2,...] [--records FILE] "
                                      "[--live] [--live-budget S] [--record-only] [--threads T] [--timing] [--compute fp32|bf16] [--pairs-out FILE] [--head-lr X] [--out FILE] [--quiet]");
  cl.option("--data", data);
  cl.option("--models", models);
  cl.option("--train", n_train);
  cl.option("--dev", n_dev);
  cl.option("--seeds", seeds);
  cl.option("--epochs", epochs);
  cl.option("--max-length", max_length);
  cl.option("--embed-length", embed_length);
  cl.option("--batch", batch);
  cl.option("--lr", lr);
  cl.option("--alpha2", alpha2);
  cl.option("--rows", rows_arg);
  cl.option("--model", model_key);
  cl.option("--live-budget", live_budget);
  cl.option("--records", records);
  cl.option("--threads", threads);
  cl.option("--out", out_file);
  cl.option("--pairs-out", pairs_out);
  cl.option("--compute", compute);
  cl.option("--head-lr", head_lr);
  cl.flag("--live", live);
  cl.flag("--timing", timing);
  cl.flag("--quiet", quiet);
  cl.flag("--record-only", record_only);
  cl.parse(argc, argv);
  if (n_train < 1 || n_dev < 1 || seeds < 1 || epochs < 1 || batch < 1 || threads < 1 || max_length < 8)
    cl.fail("--train, --dev, --seeds, --epochs, --batch, --threads must be >= 1 and --max-length >= 8");
  if (!(alpha2 >= 0 && alpha2 <= 1)) cl.fail("--alpha2 must lie in [0, 1]");
  if (compute != "fp32" && compute != "bf16") cl.fail("--compute must be fp32 or bf16, not '" + compute + "'");
  const llm_choice* choice = nullptr;
  for (const auto& c : llm_choices)
    if (model_key == c.key) choice = &c;
  if (!choice) cl.fail("--model must be smollm2 or gemma, not '" + model_key + "'");
  if (records.empty()) records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/" + choice->records;
  const char* prompt_version = choice->prompt_version;
  const auto rows = split_list(rows_arg);
  const std::set<std::string> known{"bm25",         "rr_rationale", "rr_fused", "rr_human",  "rr_answer", "pretrained",
                                    "ft_retrieval", "ft_rationale", "ft_fused", "ft_fused2", "ft_human",  "ft_answer"};
  for (const auto& r : rows)
    if (!known.count(r)) cl.fail("unknown row '" + r + "'");

  const fs::path dir = fs::path(data) / "scifact-beir";
  const fs::path model_dir = fs::path(models) / "all-MiniLM-L6-v2";
  if (data.empty() || !fs::exists(dir / "queries.jsonl")) {
    std::cout << "skipped: SciFact not found at " << (data.empty() ? std::string("$RECBLOCKS_DATA (unset)") : dir.string()) << "\n";
    return recblocks_examples::skip_exit_code;
  }
  if (!fs::exists(model_dir / "model.safetensors")) {
    std::cout << "skipped: all-MiniLM-L6-v2 not installed under " << models << " (run tools/install_models.sh)\n";
    return recblocks_examples::skip_exit_code;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  // ---- data --------------------------------------------------------------------------------------
  const auto ds = recblocks::data::beir_dataset::load(dir, "train");
  const auto split = ds.split();
  std::vector<index_t> train_q(split.train.begin(), split.train.begin() + std::min<index_t>(n_train, index_t(split.train.size())));
  std::vector<index_t> dev_q(split.dev.begin(), split.dev.begin() + std::min<index_t>(n_dev, index_t(split.dev.size())));
  // labels and evidence sentences (claims_train.jsonl), sentence starts (corpus parts)
  std::map<std::string, claim_info> claims;
  {
    std::ifstream in(dir / "claims_train.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      claim_info ci;
      if (!j["cited_doc_ids"].empty()) ci.doc = ds.find_document(std::to_string(j["cited_doc_ids"][0].get<long long>()));
      bool labelled = false;
      for (const auto& [doc, evs] : j["evidence"].items()) {
        const index_t d = ds.find_document(doc);
        std::vector<int> sents;
        for (const auto& e : evs) {
          if (!labelled) {
            ci.label = e["label"].get<std::string>();
            ci.doc = d;
            labelled = true;
          }
          for (const auto& s : e["sentences"]) sents.push_back(s.get<int>());
        }
        ci.evidence.emplace_back(d, sents);
      }
      claims[std::to_string(j["id"].get<long long>())] = std::move(ci);
    }
  }
  std::map<index_t, std::vector<std::size_t>> sentence_starts;  // only the evidence documents
  {
    std::set<std::string> wanted;
    for (const auto* qs : {&train_q, &dev_q})
      for (index_t q : *qs)
        for (const auto& [d, s] : claims[ds.queries()[q].id].evidence) wanted.insert(ds.corpus()[d].id);
    for (const auto& f : fs::directory_iterator(dir)) {
      const auto name = f.path().filename().string();
      if (name.rfind("corpus", 0) != 0 || f.path().extension() != ".jsonl") continue;
      std::ifstream in(f.path());
      for (std::string line; std::getline(in, line);) {
        const auto p = line.find("\"_id\": \"");
        if (p == std::string::npos) continue;
        const auto e = line.find('"', p + 8);
        if (!wanted.count(line.substr(p + 8, e - p - 8))) continue;
        const auto j = nlohmann::json::parse(line);
        sentence_starts[ds.find_document(j["_id"].get<std::string>())] = j["sentence_starts"].get<std::vector<std::size_t>>();
      }
    }
  }
  auto human_rationale = [&](index_t q) {
    std::string r;
    for (const auto& [d, sents] : claims[ds.queries()[q].id].evidence) {
      const auto& text = ds.corpus()[d].text;
      const auto& st = sentence_starts[d];
      for (int s : sents) {
        if (s < 0 || std::size_t(s) >= st.size()) continue;
        const std::size_t b = byte_of_codepoint(text, st[std::size_t(s)]);
        const std::size_t e = std::size_t(s) + 1 < st.size() ? byte_of_codepoint(text, st[std::size_t(s) + 1]) : text.size();
        std::string sent = text.substr(b, e - b);
        while (!sent.empty() && sent.back() == ' ') sent.pop_back();
        r += (r.empty() ? "" : " ") + sent;
      }
    }
    return r;
  };
  auto answer_text = [&](index_t q) {
    const auto& ci = claims[ds.queries()[q].id];
    return ci.label + ": " + (ci.doc >= 0 ? ds.corpus()[ci.doc].title : std::string());
  };

  // ---- BM25 top 20 ---------------------------------------------------------------------------------
  recblocks::retrieval::bm25 bm;
  {
    std::vector<std::string> docs;
    docs.reserve(std::size_t(ds.documents()));
    for (index_t d = 0; d < ds.documents(); ++d) docs.push_back(ds.document_text(d));
    bm.build(docs);
  }
  std::map<index_t, std::vector<rr::scored_doc>> retrieved;  // query -> top 20 with BM25 scores
  for (const auto* qs : {&train_q, &dev_q})
    for (index_t q : *qs) {
      auto& l = retrieved[q];
      for (const auto& h : bm.search(ds.queries()[q].text, top_k)) l.push_back({h.id, h.score});
    }
  if (!quiet)
    std::printf("SciFact: %zu documents, split %zu train / %zu dev claims; using %zu train, %zu dev; BM25 top %lld (%.1f s)\n",
                ds.corpus().size(), split.train.size(), split.dev.size(), train_q.size(), dev_q.size(), (long long)top_k, elapsed());

  // ---- rationales (recorded LLM answers) ------------------------------------------------------------
  auto has = [&](const char* r) { return std::count(rows.begin(), rows.end(), r) > 0; };
  const bool need_train_llm = has("ft_rationale") || has("ft_fused") || has("ft_fused2");
  const bool need_dev_llm = has("rr_rationale") || has("rr_fused");
  const bool need_llm = need_train_llm || need_dev_llm;
  std::vector<index_t> llm_q;  // claims whose rationales are asked: training claims, then dev claims
  if (need_train_llm) llm_q = train_q;
  if (need_dev_llm) llm_q.insert(llm_q.end(), dev_q.begin(), dev_q.end());
  std::map<index_t, std::string> llm_rationale;  // query -> rationale ("" = fallback)
  rr::rationale_stats rstats;
  std::string answered_by = "-";
  if (need_llm) {
    std::optional<llm::recorded_client> book;
#if defined(RECBLOCKS_HAVE_CURL)
    std::optional<llm::http_client> http;
#endif
    if (live) {
#if defined(RECBLOCKS_HAVE_CURL)
      auto env = [](const char* n) { return std::getenv(n) ? std::string(std::getenv(n)) : std::string(); };
      llm::http_client_options hopt;
      hopt.base_url = env(choice->url_env);
      hopt.model = env(choice->model_env);
      if (hopt.base_url.empty())
        throw recblocks::value_error(std::string("radio_scifact: --live --model ") + choice->key + " needs " + choice->url_env +
                                     " (eval \"$(tools/llm_server.sh env)\")");
      http.emplace(hopt);
      llm::record_meta meta = llm::record_meta::from_env(prompt_version);
      meta.model = hopt.model.empty() ? std::string(choice->model) : hopt.model;
      meta.model_sha256 = env(choice->sha_env);
      book.emplace(records, meta, llm::recorded_options{.mode = llm::record_mode::live}, llm::any_client(std::ref(*http)));
#else
      throw recblocks::value_error("radio_scifact: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
    } else {
      llm::record_meta expected;
      expected.prompt_version = prompt_version;
      expected.model = choice->model;
      book.emplace(records, expected);
    }
    answered_by = book->meta().model;
    std::mutex m;
    std::atomic<std::size_t> next{0};
    std::size_t stop_at = llm_q.size();  // --live-budget: the first claim not asked
    std::exception_ptr failure;
    auto work = [&] {
      rr::rationale_options ro;
      ro.single_turn = choice->single_turn;
      ro.max_tokens = choice->max_tokens;
      ro.max_chars = choice->max_chars;
      if (choice->single_turn) ro.model = choice->model;  // radio_scifact/2 keys name the model
      rr::rationale_prompt<llm::recorded_client&> prompt(*book, ro);
      try {
        for (std::size_t i = next++; i < llm_q.size(); i = next++) {
          if (live && live_budget > 0 && elapsed() > live_budget) {
            std::lock_guard<std::mutex> lock(m);
            stop_at = std::min(stop_at, i);  // every claim before the first one skipped was answered
            break;
          }
          const index_t q = llm_q[i];
          const auto r = prompt(ds.queries()[q].text, answer_text(q));
          std::lock_guard<std::mutex> lock(m);
          llm_rationale[q] = r.ok ? r.text : "";
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!failure) failure = std::current_exception();
        next = llm_q.size();
      }
      std::lock_guard<std::mutex> lock(m);
      rstats += prompt.stats();
    };
    const index_t n_threads = live ? threads : 1;
    std::vector<std::thread> pool;
    for (index_t k = 0; k < n_threads; ++k) pool.emplace_back(work);
    for (auto& th : pool) th.join();
    if (live) book->save();
    if (failure) std::rethrow_exception(failure);
    if (stop_at < llm_q.size()) {
      const std::size_t nt = need_train_llm ? train_q.size() : 0;
      std::printf("--live-budget %.0f s reached: the first %zu of %zu claims answered; replay with --train %zu --dev %zu\n", live_budget,
                  stop_at, llm_q.size(), need_train_llm ? std::min(stop_at, nt) : train_q.size(), stop_at > nt ? stop_at - nt : std::size_t(0));
    }
    std::printf("rationales (%s, prompt %s): %ld claims, %ld requests, %ld valid at once, %ld after a re-ask, %ld fallbacks", answered_by.c_str(),
                prompt_version, rstats.queries, rstats.requests, rstats.valid_first, rstats.reasked, rstats.fallbacks);
    for (const auto& [k, v] : rstats.failures) std::printf(", %s %ld", k.c_str(), v);
    std::printf(" (%.1f s)\n", elapsed());
    if (record_only) return 0;
  }

  // ---- rationale scores with the sentence encoder ---------------------------------------------------
  recblocks::text::sentence_encoder_options so;
  so.max_length = embed_length;
  const auto senc = recblocks::text::sentence_encoder<float>::load(model_dir, so);
  std::map<index_t, std::vector<float>> doc_emb;  // documents of the training (and, for rr_*, dev) claims' top 20
  {
    std::vector<index_t> need, rq = train_q;
    if (has("rr_rationale") || has("rr_fused") || has("rr_human") || has("rr_answer")) rq.insert(rq.end(), dev_q.begin(), dev_q.end());
    for (index_t q : rq)
      for (const auto& s : retrieved[q])
        if (!doc_emb.count(s.id)) {
          doc_emb[s.id] = {};
          need.push_back(s.id);
        }
    std::vector<std::string> texts;
    for (index_t d : need) texts.push_back(ds.document_text(d));
    const matrix<float> e = senc.encode(texts);
    for (std::size_t i = 0; i < need.size(); ++i) doc_emb[need[i]].assign(e.row(index_t(i)).data(), e.row(index_t(i)).data() + e.cols());
  }
  auto rationale_list = [&](index_t q, const std::string& rationale) {
    const auto& top = retrieved[q];
    std::vector<index_t> ids;
    matrix<float> m(index_t(top.size()), senc.dim());
    for (std::size_t i = 0; i < top.size(); ++i) {
      ids.push_back(top[i].id);
      m.row(index_t(i)) = Eigen::Map<const Eigen::RowVectorXf>(doc_emb[top[i].id].data(), senc.dim());
    }
    const std::vector<std::string> t{rr::rationale_text(ds.queries()[q].text, answer_text(q), rationale)};
    const matrix<float> te = senc.encode(t);
    return rr::rationale_scores(std::span<const float>(te.data(), std::size_t(te.cols())), ids, m);
  };
  if (!quiet) std::printf("document embeddings for %zu documents (%.1f s)\n", doc_emb.size(), elapsed());

  // training groups for a ranking source: alpha, rationale source ("llm" or "human")
  struct group_set {
    std::vector<std::pair<index_t, rr::train_group>> groups;  // (query, group)
    long fallbacks = 0, pos_relevant = 0, short_groups = 0;
  };
  auto make_groups = [&](double alpha, const std::string& source) {
    group_set out;
    const rr::score_fusion fuse({.alpha = alpha});
    const rr::shift_sampler sampler;
    const std::size_t full = 1 + sampler.options().neg_ranks.size();
    for (index_t q : train_q) {
      const auto& ret = retrieved[q];
      std::vector<rr::scored_doc> ranked = ret;  // retrieval order (also the fallback)
      if (alpha > 0) {
        // "answer": no rationale, the text is "claim. answer. " alone (never a fallback)
        const std::string rat = source == "human" ? human_rationale(q) : source == "answer" ? std::string() : llm_rationale[q];
        if (rat.empty() && source != "answer") ++out.fallbacks;
        else ranked = fuse(rationale_list(q, rat), ret).docs;
      }
      std::vector<index_t> ids;
      for (const auto& s : ranked) ids.push_back(s.id);
      for (auto& g : sampler(ids)) {
        if (1 + g.neg.size() != full) {  // a top list shorter than 19: not in a fixed-size group batch
          ++out.short_groups;
          continue;
        }
        const auto& rel = ds.relevant(q);
        out.pos_relevant += std::binary_search(rel.begin(), rel.end(), g.pos[0]);
        out.groups.emplace_back(q, std::move(g));
      }
    }
    return out;
  };

  // ---- cross-encoder: evaluation and fine-tuning ----------------------------------------------------
  using ce_t = recblocks::text::cross_encoder<float>;
  recblocks::text::cross_encoder_options co;
  co.max_length = max_length;
  std::map<index_t, std::vector<std::int32_t>> tok_cache;
  auto ids_of_doc = [&](const ce_t& ce, index_t d) -> const std::vector<std::int32_t>& {
    auto it = tok_cache.find(d);
    if (it == tok_cache.end()) it = tok_cache.emplace(d, ce.token_ids(ds.document_text(d))).first;
    return it->second;
  };
  long rr_fallbacks = 0;  // dev claims without a usable rationale (rr_* rows keep the BM25 order)
  auto evaluate = [&](const ce_t* ce, double rr_alpha = -1, const std::string& rr_source = "") {
    run_metrics m;
    rr_fallbacks = 0;
    recblocks::tape<float> t(recblocks::tape_mode::infer);
    for (index_t q : dev_q) {
      const auto& top = retrieved[q];
      std::vector<index_t> order;
      for (const auto& s : top) order.push_back(s.id);
      if (rr_alpha >= 0) {  // the rationale reranker: fused scores of the dev claim itself
        const std::string rat = rr_source == "human" ? human_rationale(q) : rr_source == "answer" ? std::string() : llm_rationale[q];
        if (rat.empty() && rr_source != "answer") {
          ++rr_fallbacks;
        } else {
          order.clear();
          for (const auto& d : rr::score_fusion({.alpha = rr_alpha})(rationale_list(q, rat), top).docs) order.push_back(d.id);
        }
      }
      if (ce) {
        ce_t::packed p;
        const auto qi = ce->token_ids(ds.queries()[q].text);
        for (index_t d : order) ce->pair(p, qi, ids_of_doc(*ce, d));
        const auto s = ce->score(t, p);
        std::vector<std::size_t> idx(order.size());
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
        std::vector<index_t> re;
        for (auto i : idx) re.push_back(order[i]);
        order = re;
      }
      const auto& rel = ds.relevant(q);
      m.ndcg5.push_back(recblocks::eval::ndcg_at_k(order, rel, keep_k));
      m.ndcg10.push_back(recblocks::eval::ndcg_at_k(order, rel, 10));
      m.recall5.push_back(recblocks::eval::recall_at_k(order, rel, keep_k));
    }
    return m;
  };
  // group softmax cross-entropy (positive first), AdamW (lr, weight decay 0.01), linear decay to 0
  double pairs_per_s = 0;
  auto fine_tune = [&](ce_t& ce, const group_set& gs, std::uint64_t seed) {
    std::vector<recblocks::param<float>*> body, head;
    recblocks::nn::visit_parameters(ce, [&](const std::string& name, recblocks::param<float>& p) {
      (name.rfind("bert.pooler", 0) == 0 || name.rfind("classifier", 0) == 0 ? head : body).push_back(&p);
    });
    const double hl = head_lr > 0 ? head_lr : lr;
    auto opt = recblocks::optim::make_adamw<float>(body, {.learning_rate = lr, .weight_decay = 0.01});
    auto opt_head = recblocks::optim::make_adamw<float>(head, {.learning_rate = hl, .weight_decay = 0.01});
    std::mt19937_64 shuffle(seed);
    recblocks::tape<float> t(recblocks::tape_mode::train, seed);  // dropout masks
    const index_t n = index_t(gs.groups.size());
    const index_t steps = (n + batch - 1) / batch * epochs;
    index_t step = 0;
    long pairs = 0;
    double loss_sum = 0;
    const auto s0 = std::chrono::steady_clock::now();
    for (index_t e = 0; e < epochs; ++e) {
      std::vector<std::size_t> order(gs.groups.size());
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), shuffle);
      for (std::size_t b = 0; b < order.size(); b += std::size_t(batch)) {
        t.reset();
        opt.zero_grad();
        opt_head.zero_grad();
        ce_t::packed p;
        index_t groups = 0, size = 0;
        for (std::size_t k = b; k < std::min(order.size(), b + std::size_t(batch)); ++k, ++groups) {
          const auto& [q, g] = gs.groups[order[k]];
          const auto qi = ce.token_ids(ds.queries()[q].text);
          ce.pair(p, qi, ids_of_doc(ce, g.pos[0]));
          for (index_t d : g.neg) ce.pair(p, qi, ids_of_doc(ce, d));
          size = index_t(1 + g.neg.size());
        }
        const auto scores = ce.forward(t, p);  // [groups * size, 1]
        const std::vector<index_t> targets(std::size_t(groups), 0);
        const auto loss = recblocks::loss::softmax_cross_entropy(t, recblocks::ops::reshape(t, scores, groups, size), targets);
        t.backward(loss);
        const double decay = 1.0 - double(step) / double(steps);
        opt.set_learning_rate(float(lr * decay));
        opt_head.set_learning_rate(float(hl * decay));
        opt.step();
        opt_head.step();
        loss_sum += double(loss.value()(0, 0));
        pairs += long(groups * size);
        ++step;
      }
    }
    pairs_per_s = double(pairs) / std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    return loss_sum / double(std::max<index_t>(step, 1));
  };

  // ---- the rows ---------------------------------------------------------------------------------------
  std::ofstream out;
  if (!out_file.empty()) out.open(out_file, std::ios::app);
  std::map<std::string, std::vector<run_metrics>> results;
  std::printf("\n| row | seed | NDCG@5 | NDCG@10 | Recall@5 | train groups (pos relevant, fallbacks) | loss | pairs/s | s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  auto report = [&](const std::string& row, std::uint64_t seed, const run_metrics& m, const group_set* gs, double loss, double secs) {
    results[row].push_back(m);
    std::string g = "-";
    if (gs) g = std::to_string(gs->groups.size()) + " (" + std::to_string(gs->pos_relevant) + ", " + std::to_string(gs->fallbacks) + ")";
    std::printf("| %s | %llu | %.4f | %.4f | %.4f | %s | %.4f | %.1f | %.0f |\n", row.c_str(), (unsigned long long)seed, m.mean(m.ndcg5),
                m.mean(m.ndcg10), m.mean(m.recall5), g.c_str(), loss, gs ? pairs_per_s : 0.0, secs);
    std::fflush(stdout);
    if (out.is_open()) {
      nlohmann::json j = {{"row", row}, {"seed", seed}, {"ndcg5", m.ndcg5}, {"ndcg10", m.ndcg10}, {"recall5", m.recall5},
                          {"train", train_q.size()}, {"dev", dev_q.size()}, {"max_length", max_length}, {"epochs", epochs},
                          {"batch", batch}, {"lr", lr}, {"loss", loss}, {"seconds", secs}, {"llm", answered_by}};
      if (gs) j["groups"] = {{"n", gs->groups.size()}, {"pos_relevant", gs->pos_relevant}, {"fallbacks", gs->fallbacks}};
      out << j.dump() << "\n";
      out.flush();
    }
  };
  for (const auto& row : rows) {
    if (row == "bm25") {
      report(row, 0, evaluate(nullptr), nullptr, 0, 0);
      continue;
    }
    if (row.rfind("rr_", 0) == 0) {
      const bool alpha1 = row == "rr_rationale" || row == "rr_answer";
      const auto m = evaluate(nullptr, alpha1 ? 1.0 : 0.5, row == "rr_human" ? "human" : row == "rr_answer" ? "answer" : "llm");
      report(row, 0, m, nullptr, 0, 0);
      std::printf("  (%s: %ld of %zu dev claims without a rationale keep the BM25 order)\n", row.c_str(), rr_fallbacks, dev_q.size());
      continue;
    }
    std::optional<group_set> gs;
    if (row == "ft_retrieval") gs = make_groups(0.0, "llm");
    else if (row == "ft_rationale") gs = make_groups(1.0, "llm");
    else if (row == "ft_fused") gs = make_groups(0.5, "llm");
    else if (row == "ft_fused2") gs = make_groups(alpha2, "llm");
    else if (row == "ft_human") gs = make_groups(0.5, "human");
    else if (row == "ft_answer") gs = make_groups(1.0, "answer");
    for (index_t s = 1; s <= seeds; ++s) {
      const auto r0 = std::chrono::steady_clock::now();
      auto o = co;
      o.head_seed = std::uint64_t(s);
      ce_t ce = ce_t::load(model_dir, o);
      double loss = 0;
      if (gs) loss = fine_tune(ce, *gs, std::uint64_t(s));
      const auto m = evaluate(&ce);
      report(row, std::uint64_t(s), m, gs ? &*gs : nullptr, loss, std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count());
    }
  }
  // paired differences over dev claims (seed-averaged per claim) against ft_retrieval
  auto per_query = [&](const std::string& row) {
    const auto& runs = results[row];
    std::vector<double> v(dev_q.size(), 0.0);
    for (const auto& r : runs)
      for (std::size_t i = 0; i < v.size(); ++i) v[i] += r.ndcg10[i] / double(runs.size());
    return v;
  };
  for (const char* base_row : {"ft_retrieval", "bm25"}) {
    if (!results.count(base_row)) continue;
    const auto base = per_query(base_row);
    std::printf("\npaired NDCG@10 differences against %s over %zu dev claims (seed means per claim): mean ± s.e.\n", base_row, dev_q.size());
    for (const auto& [row, runs] : results) {
      if (row == base_row) continue;
      const auto v = per_query(row);
      double m = 0, ss = 0;
      long better = 0, worse = 0;
      for (std::size_t i = 0; i < v.size(); ++i) {
        const double d = v[i] - base[i];
        m += d;
        better += d > 1e-12;
        worse += d < -1e-12;
      }
      m /= double(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) ss += (v[i] - base[i] - m) * (v[i] - base[i] - m);
      const double se = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1) / double(v.size())) : 0.0;
      std::printf("  %-13s %+.4f ± %.4f  (better on %ld, worse on %ld claims)\n", row.c_str(), m, se, better, worse);
    }
  }
  if (timing) {
    // reranking latency for 20 documents (one claim), one and two threads; fine-tuning throughput above
    ce_t ce = ce_t::load(model_dir, co);
    if (compute == "bf16") ce.bert().enable_bf16_inference();  // bf16 projections in the reranking below
    const index_t q = dev_q[0];
    ce_t::packed p;
    const auto qi = ce.token_ids(ds.queries()[q].text);
    for (const auto& s : retrieved[q]) ce.pair(p, qi, ids_of_doc(ce, s.id));
    if (!pairs_out.empty()) {
      nlohmann::json j = {{"query", ds.queries()[q].text}, {"docs", nlohmann::json::array()}};
      for (const auto& s : retrieved[q]) j["docs"].push_back(ds.document_text(s.id));
      std::ofstream(pairs_out) << j.dump();
    }
    {  // fine-tuning throughput: 4 groups of 7 pairs (the 20 documents reused), as bench/peers/radio_peer.py
      ce_t tr = ce_t::load(model_dir, co);
      auto params = recblocks::nn::parameters(tr);
      auto opt = recblocks::optim::make_adamw<float>(params, {.learning_rate = lr, .weight_decay = 0.01});
      recblocks::tape<float> t(recblocks::tape_mode::train);
      std::vector<double> secs;
      for (int step = 0; step < 6; ++step) {
        const std::clock_t a = std::clock();  // process CPU time (one thread: OPENBLAS_NUM_THREADS=1)
        t.reset();
        opt.zero_grad();
        ce_t::packed g;
        for (int k = 0; k < 28; ++k) tr.pair(g, qi, ids_of_doc(tr, retrieved[q][std::size_t((k / 7 * 5 + k % 7) % 20)].id));
        const auto sc = tr.forward(t, g);
        const std::vector<index_t> targets(4, 0);
        t.backward(recblocks::loss::softmax_cross_entropy(t, recblocks::ops::reshape(t, sc, 4, 7), targets));
        opt.step();
        if (step) secs.push_back(double(std::clock() - a) / CLOCKS_PER_SEC);
      }
      std::sort(secs.begin(), secs.end());
      std::printf("fine-tuning, 1 thread: %.2f pairs/s of CPU time (median of 5 steps of 4 groups x 7 pairs, max length %lld)\n", 28 / secs[secs.size() / 2],
                  (long long)max_length);
    }
    ce_t::packed halves[2];
    for (int k = 0; k < 2; ++k)
      for (std::size_t i = k ? retrieved[q].size() / 2 : 0; i < (k ? retrieved[q].size() : retrieved[q].size() / 2); ++i)
        ce.pair(halves[k], qi, ids_of_doc(ce, retrieved[q][i].id));
    for (int th : {1, 2}) {
      std::vector<double> ms;
      for (int rep = 0; rep < 7; ++rep) {
        const auto a = std::chrono::steady_clock::now();
        const std::clock_t c = std::clock();
        if (th == 1) {
          recblocks::tape<float> t(recblocks::tape_mode::infer);
          (void)ce.score(t, p);
        } else {
          std::thread other([&] {
            recblocks::tape<float> t(recblocks::tape_mode::infer);
            (void)ce.score(t, halves[1]);
          });
          recblocks::tape<float> t(recblocks::tape_mode::infer);
          (void)ce.score(t, halves[0]);
          other.join();
        }
        // one thread: CPU time (the machine is shared); two threads: wall time
        ms.push_back(th == 1 ? 1e3 * double(std::clock() - c) / CLOCKS_PER_SEC
                             : 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
      }
      std::sort(ms.begin(), ms.end());
      std::printf("rerank 20 documents, %d thread%s: median %.1f ms (%s) of 7 (max length %lld, %lld tokens, %s)\n", th, th > 1 ? "s" : "", ms[ms.size() / 2],
                  th > 1 ? "wall" : "CPU", (long long)max_length, (long long)p.ids.size(), ce.bert().bf16_inference() ? "bf16 projections" : "FP32");
    }
  }
  std::printf("total %.1f s\n", elapsed());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "radio_scifact: %s\n", e.what());
  return 1;
}
