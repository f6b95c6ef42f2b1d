// syneg_scifact: SyNeg (papers.md §1) end to end on BEIR SciFact — LLM-written synthetic hard negatives
// mixed at the instance level with retrieved ones, contrastive fine-tuning of the pretrained
// all-MiniLM-L6-v2 bi-encoder, and the ablation that tests the paper's claim.
//
// Data: the shared SciFact train qrels, split by data::beir_dataset::split (20 % dev, seed 13: 647 train
// / 162 dev queries). Nothing is tuned on dev; every row uses the same fixed schedule.
// Training instances: (train query, relevant document) pairs of the first --queries train queries (by
// query index; default: the LLM sample, so every row trains on the same pairs).
// Negatives per instance, by row (k = 4 in all, except synthetic-only: the 2 written per query):
//   random 4 | bm25 4 (BM25 ranks 3..32, positives skipped) | dense 4 (zero-shot MiniLM ranks 3..32) |
//   llm 2 | classical 2 | hybrid llm 1 + bm25 3 | hybrid llm 2 + bm25 2 | hybrid classical 2 + bm25 2,
// plus the batch's other positives and negatives (in-batch), false negatives masked by id.
// Loss: loss::contrastive (InfoNCE, temperature 0.05, cosine). Model: the encoder is frozen and a shared
// residual linear adapter e = normalize(x + x W) (W [384, 384], zero-initialised: step 0 is the zero-shot
// model) is trained on top of its embeddings, for queries and documents alike (a bi-encoder), Adam lr --lr.
// --full instead fine-tunes the whole BERT (mean pooling, normalised) on a recording tape
// (text::sentence_encoder::forward, Adam lr --full-lr 2e-5) and re-encodes the corpus after training:
// only small subsets fit this machine's time (see docs/syneg.md).
// Synthetic negatives: synthetic::llm_negative_policy answered by a local model chosen with --model:
//   smollm2 (default): SmolLM2 135M Instruct, prompt syneg/2 (one document per request, one request per
//     query, documents of 20..240 characters, reflection <= 100), examples/data/syneg_scifact_smollm2_records.jsonl.gz, live:
//     RECBLOCKS_LLM_INSTRUCT_URL / RECBLOCKS_LLM_INSTRUCT_MODEL;
//   gemma: Gemma 3 270M base, prompt syneg/1 (two documents per request), examples/data/
//     syneg_scifact_records.jsonl.gz, live: RECBLOCKS_LLM_URL / RECBLOCKS_LLM_MODEL;
// (recorded once, replayed; --live re-asks the server and rewrites the file; --live-budget S stops
// asking new queries after S seconds and records the answered prefix of the sample; the file's header names the
// model and replay checks it; syneg/2 requests carry the model name, so keys never mix models) and
// synthetic::perturbation_policy (classical).
// Evaluation: dev queries against the whole corpus (or the --docs subset), NDCG@10 and Recall@100,
// mean over --seeds; paired differences per seed.
//
// Usage: syneg_scifact [--data DIR] [--models DIR] [--model smollm2|gemma] [--records FILE] [--live] [--live-budget S] [--sample N] [--queries N]
//                      [--dev N] [--docs N] [--epochs N] [--seeds 1,2,3] [--rows a,b,...] [--batch B]
//                      [--lr X] [--full-lr X] [--max-length L] [--threads T] [--full]
// Prints one line per row and, last, `ndcg@10 X` of the default fine-tuned row (hybrid llm 2 + bm25 2).
#include <algorithm>
#include <atomic>
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
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "common.hpp"
#include "recblocks/core/ops/matmul.hpp"
#include "recblocks/core/ops/elementwise.hpp"
#include "recblocks/core/ops/row_pooling.hpp"
#include "recblocks/core/ops/shape.hpp"
#include "recblocks/data/beir_dataset.hpp"
#include "recblocks/eval/ranking.hpp"
#include "recblocks/io/npy.hpp"
#include "recblocks/llm/recorded_client.hpp"
#include "recblocks/loss/contrastive.hpp"
#include "recblocks/nn/module.hpp"
#include "recblocks/optim/adam.hpp"
#include "recblocks/retrieval/bm25.hpp"
#include "recblocks/retrieval/hybrid_negatives.hpp"
#include "recblocks/retrieval/random_negatives.hpp"
#include "recblocks/retrieval/ranked_negatives.hpp"
#include "recblocks/retrieval/text_negatives.hpp"
#include "recblocks/synthetic/llm_negative_policy.hpp"
#include "recblocks/synthetic/perturbation_policy.hpp"
#include "recblocks/text/sentence_encoder.hpp"
#if defined(RECBLOCKS_HAVE_CURL)
#include "recblocks/llm/http_client.hpp"
#endif

using recblocks::index_t;
using recblocks::matrix;
namespace fs = std::filesystem;
namespace rb = recblocks;
using recblocks_examples::file_checksum;
using recblocks_examples::fnv1a;
using recblocks_examples::home_cache;
using recblocks_examples::seconds_since;

namespace {

/// The LLMs the example has records for: --model key, recorded model name, record file, prompt style.
struct llm_choice {
  const char* key;
  const char* model;
  const char* records;
  recblocks::synthetic::negative_prompt_style style;
  const char* url_env;
  const char* model_env;
  const char* sha_env;
};
constexpr llm_choice llm_choices[] = {
    {"smollm2", "smollm2-135m-instruct-q4_1", "syneg_scifact_smollm2_records.jsonl.gz", recblocks::synthetic::negative_prompt_style::syneg2,
     "RECBLOCKS_LLM_INSTRUCT_URL", "RECBLOCKS_LLM_INSTRUCT_MODEL", "RECBLOCKS_LLM_INSTRUCT_SHA256"},
    {"gemma", "gemma-3-270m-q4_k_m", "syneg_scifact_records.jsonl.gz", recblocks::synthetic::negative_prompt_style::syneg1,
     "RECBLOCKS_LLM_URL", "RECBLOCKS_LLM_MODEL", "RECBLOCKS_LLM_MODEL_SHA256"},
};

/// Embeddings of `texts`, cached under `cache` by the same key as examples/scifact_retrieval (model
/// checksum, tokenizer/pooling settings, texts), so the full corpus is encoded once per machine.
matrix<float> embed_cached(const rb::text::sentence_encoder<float>& enc, const fs::path& model_dir, const fs::path& cache,
                           const std::vector<std::string>& texts, const char* what) {
  std::uint64_t key = file_checksum(model_dir / "model.safetensors");
  const std::string settings = "max_length=" + std::to_string(enc.max_length()) + ";lowercase=" +
                               std::to_string(enc.tokenizer().options().lowercase) + ";strip_accents=" +
                               std::to_string(enc.tokenizer().options().strip_accents) + ";pooling=" +
                               std::to_string(int(enc.pooling_mode())) + ";normalize=" + std::to_string(enc.normalizes()) +
                               ";vocab=" + std::to_string(enc.tokenizer().vocab_size()) + ";docs=title+' '+text;";
  key = fnv1a(key, settings.data(), settings.size());
  for (const auto& d : texts) key = fnv1a(key, d.data(), d.size() + 1);
  char name[64];
  std::snprintf(name, sizeof name, "corpus_%016llx.npy", static_cast<unsigned long long>(key));
  const fs::path file = cache / name;
  if (fs::exists(file)) {
    matrix<float> m = rb::io::npy::load<float>(file);
    if (m.rows() == static_cast<index_t>(texts.size()) && m.cols() == enc.dim()) {
      std::printf("%s: %zu embeddings from cache %s\n", what, texts.size(), file.c_str());
      return m;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  matrix<float> m = enc.encode(texts);
  std::printf("%s: encoded %zu texts in %.1f s\n", what, texts.size(), seconds_since(t0));
  std::error_code ec;
  fs::create_directories(cache, ec);
  const fs::path tmp = file.string() + ".tmp" + std::to_string(::getpid());
  try {
    rb::io::npy::save(tmp, m);
    fs::rename(tmp, file);
  } catch (const std::exception&) {
    fs::remove(tmp, ec);  // the cache is an optimisation: a read-only cache folder is fine
  }
  return m;
}

struct row_config {
  std::string key, label;
  index_t random = 0, bm25 = 0, dense = 0, llm = 0, classical = 0;
  bool train = true;
  bool lexical = false;  // the BM25 retriever itself
};

const std::vector<row_config>& all_rows() {
  static const std::vector<row_config> rows = {
      {"zero", "zero-shot MiniLM (no training)", 0, 0, 0, 0, 0, false, false},
      {"bm25", "BM25 (k1 0.9, b 0.4)", 0, 0, 0, 0, 0, false, true},
      {"random", "fine-tuned, random negatives (4)", 4, 0, 0, 0, 0},
      {"bm25neg", "fine-tuned, BM25 negatives (4)", 0, 4, 0, 0, 0},
      {"dense", "fine-tuned, dense negatives (4)", 0, 0, 4, 0, 0},
      {"llm", "fine-tuned, LLM synthetic only (2)", 0, 0, 0, 2, 0},
      {"classical", "fine-tuned, classical synthetic only (2)", 0, 0, 0, 0, 2},
      {"hyb13", "hybrid: LLM 1 + BM25 3", 0, 3, 0, 1, 0},
      {"hyb22", "hybrid: LLM 2 + BM25 2", 0, 2, 0, 2, 0},
      {"chyb22", "hybrid: classical 2 + BM25 2", 0, 2, 0, 0, 2},
      {"chyb13", "hybrid: classical 1 + BM25 3", 0, 3, 0, 0, 1},
  };
  return rows;
}

struct metrics {
  double ndcg10 = 0, recall100 = 0;
};

/// Mean NDCG@10 / Recall@100 of `scores` rows (queries) against the relevant sets.
metrics evaluate(const std::vector<std::vector<std::pair<index_t, float>>>& ranked,
                 const std::vector<std::vector<index_t>>& relevant) {
  metrics m;
  for (std::size_t q = 0; q < ranked.size(); ++q) {
    std::vector<index_t> ids;
    for (const auto& [id, s] : ranked[q]) ids.push_back(id);
    m.ndcg10 += rb::eval::ndcg_at_k(ids, relevant[q], 10);
    m.recall100 += rb::eval::recall_at_k(ids, relevant[q], 100);
  }
  m.ndcg10 /= static_cast<double>(ranked.size());
  m.recall100 /= static_cast<double>(ranked.size());
  return m;
}

std::vector<std::pair<index_t, float>> top_k(const float* s, index_t n, index_t k) {
  std::vector<index_t> ids(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = i;
  const index_t m = std::min(k, n);
  std::partial_sort(ids.begin(), ids.begin() + m, ids.end(), [&](index_t a, index_t b) { return s[a] != s[b] ? s[a] > s[b] : a < b; });
  std::vector<std::pair<index_t, float>> out;
  for (index_t i = 0; i < m; ++i) out.push_back({ids[static_cast<std::size_t>(i)], s[ids[static_cast<std::size_t>(i)]]});
  return out;
}

/// e = normalize(x + x W) for every row of x (inference).
matrix<float> adapt(const matrix<float>& x, const matrix<float>& w) {
  matrix<float> y = x + x * w;
  for (index_t i = 0; i < y.rows(); ++i) {
    const float n = y.row(i).norm();
    if (n > 0) y.row(i) /= n;
  }
  return y;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}
double sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

int main(int argc, char** argv) try {
  std::string data = std::getenv("RECBLOCKS_DATA") ? std::getenv("RECBLOCKS_DATA") : "../shared/data";
  std::string models = std::getenv("RECBLOCKS_MODELS") ? std::getenv("RECBLOCKS_MODELS") : (home_cache() / "models").string();
  std::string records, model_key = "smollm2";
  std::string seeds_arg = "1,2,3", rows_arg = "all";
  index_t sample = 60, queries_n = 0, dev_n = 0, docs_n = 0, epochs = 4, batch = 32, max_length = 0, threads = 1;
  double lr = 1e-3, full_lr = 2e-5, live_budget = 0;
  bool live = false, full = false;
  recblocks_examples::command_line cl(
      "syneg_scifact",
      "syneg_scifact [--data DIR] [--models DIR] [--model smollm2|gemma] [--records FILE] [--live] [--live-budget S] [--sample N] [--queries N] [--dev N] "
      "[--docs N] [--epochs N] [--seeds 1,2,3] [--rows zero,bm25,random,bm25neg,dense,llm,classical,hyb13,hyb22,chyb22,chyb13|all] "
      "[--batch B] [--lr X] [--full-lr X] [--max-length L] [--threads T] [--full]");
  cl.option("--data", data);
  cl.option("--models", models);
  cl.option("--model", model_key);
  cl.option("--live-budget", live_budget);
  cl.option("--records", records);
  cl.option("--sample", sample);
  cl.option("--queries", queries_n);
  cl.option("--dev", dev_n);
  cl.option("--docs", docs_n);
  cl.option("--epochs", epochs);
  cl.option("--seeds", seeds_arg);
  cl.option("--rows", rows_arg);
  cl.option("--batch", batch);
  cl.option("--lr", lr);
  cl.option("--full-lr", full_lr);
  cl.option("--max-length", max_length);
  cl.option("--threads", threads);
  cl.flag("--live", live);
  cl.flag("--full", full);
  cl.parse(argc, argv);
  if (sample < 1 || queries_n < 0 || dev_n < 0 || docs_n < 0 || epochs < 0 || batch < 2 || max_length < 0 || threads < 1 || !(lr > 0))
    cl.fail("--sample >= 1, --queries/--dev/--docs/--epochs/--max-length >= 0, --batch >= 2, --threads >= 1, --lr > 0");
  const llm_choice* choice = nullptr;
  for (const auto& c : llm_choices)
    if (model_key == c.key) choice = &c;
  if (!choice) cl.fail("--model must be smollm2 or gemma, not '" + model_key + "'");
  if (records.empty()) records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/" + choice->records;
  const bool per_doc = choice->style == rb::synthetic::negative_prompt_style::syneg2;
  std::vector<std::uint64_t> seeds;
  for (const auto& s : split_list(seeds_arg)) seeds.push_back(std::stoull(s));
  if (seeds.empty()) cl.fail("--seeds needs at least one seed");
  std::vector<row_config> rows;
  {
    const auto want = split_list(rows_arg);
    for (const auto& r : all_rows())
      if (rows_arg == "all" || std::count(want.begin(), want.end(), r.key)) rows.push_back(r);
    for (const auto& k : want)
      if (k != "all" && std::none_of(all_rows().begin(), all_rows().end(), [&](const row_config& r) { return r.key == k; }))
        cl.fail("unknown row '" + k + "'");
  }

  const fs::path sf = fs::path(data) / "scifact-beir", model_dir = fs::path(models) / "all-MiniLM-L6-v2";
  if (!fs::exists(sf / "queries.jsonl")) {
    std::cout << "syneg_scifact: SciFact not found under " << sf << "; skipped\n";
    return recblocks_examples::skip_exit_code;
  }
  if (!fs::exists(model_dir / "model.safetensors")) {
    std::cout << "syneg_scifact: all-MiniLM-L6-v2 not installed under " << models << " (tools/install_models.sh); skipped\n";
    return recblocks_examples::skip_exit_code;
  }
  const auto t_start = std::chrono::steady_clock::now();

  // ---- data and the fixed split -------------------------------------------------------------------
  const auto ds = rb::data::beir_dataset::load(sf);
  const auto split = ds.split();  // 20 % dev, seed 13
  std::vector<index_t> train_q(split.train.begin(), split.train.end()), dev_q(split.dev.begin(), split.dev.end());
  if (queries_n == 0) queries_n = sample;
  if (static_cast<index_t>(train_q.size()) > queries_n) train_q.resize(static_cast<std::size_t>(queries_n));
  if (dev_n > 0 && static_cast<index_t>(dev_q.size()) > dev_n) dev_q.resize(static_cast<std::size_t>(dev_n));
  auto doc_string = [&](index_t d) {  // as examples/scifact_retrieval (same cache key)
    const auto& doc = ds.corpus()[static_cast<std::size_t>(d)];
    return doc.title + " " + doc.text;
  };

  // corpus: all, or a subset (the used queries' positives, then BM25 top documents of the dev queries)
  std::vector<index_t> corpus;  // dataset doc index of each corpus row
  if (docs_n == 0) {
    for (index_t d = 0; d < ds.documents(); ++d) corpus.push_back(d);
  } else {
    std::set<index_t> chosen;
    for (auto* qs : {&train_q, &dev_q})
      for (index_t q : *qs)
        for (index_t d : ds.relevant(q)) chosen.insert(d);
    std::vector<std::string> all_docs;
    for (index_t d = 0; d < ds.documents(); ++d) all_docs.push_back(doc_string(d));
    rb::retrieval::bm25 full_bm25;
    full_bm25.build(all_docs);
    for (index_t r = 0; r < 100 && static_cast<index_t>(chosen.size()) < docs_n; ++r)
      for (index_t q : dev_q) {
        if (static_cast<index_t>(chosen.size()) >= docs_n) break;
        const auto hits = full_bm25.search(ds.queries()[static_cast<std::size_t>(q)].text, r + 1);
        if (static_cast<index_t>(hits.size()) > r) chosen.insert(hits[static_cast<std::size_t>(r)].id);
      }
    corpus.assign(chosen.begin(), chosen.end());
  }
  const index_t N = static_cast<index_t>(corpus.size());
  std::unordered_map<index_t, index_t> row_of;  // dataset doc -> corpus row
  for (index_t r = 0; r < N; ++r) row_of[corpus[static_cast<std::size_t>(r)]] = r;
  auto rel_rows = [&](index_t q) {
    std::vector<index_t> out;
    for (index_t d : ds.relevant(q))
      if (auto it = row_of.find(d); it != row_of.end()) out.push_back(it->second);
    return out;
  };
  std::vector<std::string> corpus_text;
  for (index_t d : corpus) corpus_text.push_back(doc_string(d));
  std::printf("scifact: %lld documents, %zu train queries used (of %zu), %zu dev queries (split: 20%% dev, seed 13)\n",
              static_cast<long long>(N), train_q.size(), split.train.size(), dev_q.size());

  // ---- BM25 over the corpus ------------------------------------------------------------------------
  rb::retrieval::bm25 bm25;
  bm25.build(corpus_text);

  // ---- encoder, corpus and query embeddings --------------------------------------------------------
  rb::text::sentence_encoder_options eopt;
  eopt.max_length = max_length;
  eopt.threads = threads;
  auto enc = rb::text::sentence_encoder<float>::load(model_dir, eopt);
  const fs::path cache = home_cache() / "scifact";
  const matrix<float> corpus_emb = embed_cached(enc, model_dir, cache, corpus_text, "corpus");
  std::vector<std::string> train_text, dev_text;
  for (index_t q : train_q) train_text.push_back(ds.queries()[static_cast<std::size_t>(q)].text);
  for (index_t q : dev_q) dev_text.push_back(ds.queries()[static_cast<std::size_t>(q)].text);
  const matrix<float> train_emb = enc.encode(train_text), dev_emb = enc.encode(dev_text);

  // ---- synthetic negatives: LLM (recorded) and classical --------------------------------------------
  // One request per train query with its first relevant document; the attributes cycle over the
  // difficulties (hard, medium, hard, easy, ...), about 40 words, 2 documents.
  auto request_of = [&](std::size_t i, std::size_t k = 0) {
    rb::synthetic::negative_request r;
    const index_t q = train_q[i];
    r.query = ds.queries()[static_cast<std::size_t>(q)].text;
    r.positive = ds.document_text(ds.relevant(q).front());
    static const char* levels[] = {"hard", "medium", "hard", "easy"};
    r.difficulty = levels[(i + k) % 4];
    r.length_words = 40;
    return r;
  };
  std::size_t n_llm = std::min<std::size_t>(static_cast<std::size_t>(sample), train_q.size());
  std::vector<std::vector<std::string>> llm_docs(train_q.size()), classical_docs(train_q.size());
  rb::synthetic::llm_negative_stats llm_stats;
  std::string llm_line = "LLM negatives: not used";
  const bool need_llm = std::any_of(rows.begin(), rows.end(), [](const row_config& r) { return r.llm > 0; });
  if (need_llm) {
    namespace llm = rb::llm;
    const std::string prompt_version = per_doc ? rb::synthetic::llm_negative_policy<llm::recorded_client>::prompt_version2
                                               : rb::synthetic::llm_negative_policy<llm::recorded_client>::prompt_version;
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
        throw rb::value_error(std::string("syneg_scifact: --live --model ") + choice->key + " needs " + choice->url_env +
                              " (eval \"$(tools/llm_server.sh env)\")");
      hopt.max_concurrency = 6;
      http.emplace(hopt);
      llm::record_meta meta = llm::record_meta::from_env(prompt_version);
      meta.model = hopt.model.empty() ? std::string(choice->model) : hopt.model;
      meta.model_sha256 = env(choice->sha_env);
      book.emplace(records, meta, llm::recorded_options{.mode = llm::record_mode::live}, llm::any_client(std::ref(*http)));
#else
      throw rb::value_error("syneg_scifact: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
    } else {
      llm::record_meta expected;
      expected.model = choice->model;
      expected.prompt_version = prompt_version;
      book.emplace(records, expected);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t workers = live ? 4 : 1;  // the instruct server has 4 slots
    std::vector<rb::synthetic::llm_negative_stats> per(workers);
    std::atomic<std::size_t> next{0}, done{0}, stop_at{n_llm};
    std::mutex err_mutex;
    std::exception_ptr err;
    auto work = [&](std::size_t w) {
      // gemma (syneg/1): one call per query, no corrective re-ask (the recording budget of the first
      // recording); smollm2 (syneg/2): one request per query (one document), one corrective re-ask.
      rb::synthetic::llm_negative_options po;
      po.style = choice->style;
      po.max_attempts = per_doc ? 2 : 1;
      if (per_doc) {
        po.model = choice->model;
        po.document_chars = 240;  // ~40 words; fewer tokens on the shared CPU
        po.reflection_chars = 100;
      }
      rb::synthetic::llm_negative_policy<llm::recorded_client> policy(*book, po);
      try {
        for (std::size_t i; (i = next++) < n_llm;) {
          if (live && live_budget > 0 && seconds_since(t0) > live_budget) {  // the budget: stop asking new queries
            std::lock_guard<std::mutex> lock(err_mutex);
            stop_at = std::min<std::size_t>(stop_at, i);  // every query before the first one skipped was answered
            break;
          }
          auto r = request_of(i);
          if (per_doc) r.count = 1;
          llm_docs[i] = policy.generate(r);
          if (live) std::fprintf(stderr, "\r[live] %zu/%zu queries answered   ", ++done, n_llm);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mutex);
        if (!err) err = std::current_exception();
        next = n_llm;
      }
      per[w] = policy.stats();
    };
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
    work(0);
    for (auto& th : pool) th.join();
    if (err) std::rethrow_exception(err);
    for (const auto& s : per) llm_stats += s;
    if (live && stop_at < n_llm) {  // the budget ran out: queries 0 .. stop_at - 1 were answered
      std::fprintf(stderr, "\n[live] budget of %.0f s reached: the first %zu of %zu queries answered; replay with --sample %zu\n",
                   live_budget, std::size_t(stop_at), n_llm, std::size_t(stop_at));
      n_llm = stop_at;
      for (std::size_t i = n_llm; i < llm_docs.size(); ++i) llm_docs[i].clear();  // answered past the prefix: not used
    }
    if (live) {
      book->save();
      std::fprintf(stderr, "\n[live] %ld answers recorded in %s (%.0f s)\n", book->recorded(), records.c_str(), seconds_since(t0));
    }
    std::size_t covered = 0;
    for (std::size_t i = 0; i < n_llm; ++i) covered += !llm_docs[i].empty();
    char buf[768];
    std::snprintf(buf, sizeof buf,
                  "LLM negatives (%s, prompt %s, %s %s): %zu queries (%zu with >= 1 document), %ld requests, %ld calls, "
                  "first answer fully valid %ld (%.0f%%), re-asked %ld, partial %ld, skipped (unusable) %ld, documents %ld, "
                  "dropped %ld, tokens %ld prompt / %ld completion",
                  book->meta().model.c_str(), prompt_version.c_str(), live ? "live" : "replayed, recorded",
                  book->meta().recorded_at.c_str(), n_llm, covered, llm_stats.requests, llm_stats.calls, llm_stats.first_valid,
                  100.0 * static_cast<double>(llm_stats.first_valid) / std::max<long>(1, llm_stats.requests),
                  llm_stats.retries, llm_stats.partial, llm_stats.skipped, llm_stats.documents, llm_stats.dropped,
                  llm_stats.prompt_tokens, llm_stats.completion_tokens);
    llm_line = buf;
    for (const auto& [k, v] : llm_stats.failures) llm_line += "; " + k + " " + std::to_string(v);
  }
  {
    std::vector<std::string> pool;  // entity pool: entities of the first 1000 corpus documents
    std::set<std::string> seen;
    for (index_t r = 0; r < std::min<index_t>(N, 1000); ++r)
      for (const auto& e : rb::synthetic::perturbation_policy::entities(corpus_text[static_cast<std::size_t>(r)]))
        if (seen.insert(e).second) pool.push_back(e);
    rb::synthetic::perturbation_policy classical(pool);
    for (std::size_t i = 0; i < train_q.size(); ++i) classical_docs[i] = classical.generate(request_of(i));
    const auto& st = classical.stats();
    std::printf("classical negatives: %ld documents for %ld queries (negation %ld, number %ld, entity %ld, unchanged %ld)\n",
                st.documents, st.requests, st.negation, st.number, st.entity, st.unchanged);
  }
  std::printf("%s\n", llm_line.c_str());

  // All negatives' embeddings in one table: corpus rows, then LLM texts, then classical texts.
  rb::retrieval::text_negatives llm_neg(N);
  for (std::size_t i = 0; i < train_q.size(); ++i) llm_neg.add(static_cast<index_t>(i), llm_docs[i]);
  rb::retrieval::text_negatives classical_neg(N + llm_neg.size());
  for (std::size_t i = 0; i < train_q.size(); ++i) classical_neg.add(static_cast<index_t>(i), classical_docs[i]);
  matrix<float> table(N + llm_neg.size() + classical_neg.size(), enc.dim());
  table.topRows(N) = corpus_emb;
  if (llm_neg.size() > 0) table.middleRows(N, llm_neg.size()) = enc.encode(llm_neg.texts());
  if (classical_neg.size() > 0) table.bottomRows(classical_neg.size()) = enc.encode(classical_neg.texts());

  // ---- retrieved negatives (instance = train query position) ---------------------------------------
  std::vector<std::vector<index_t>> positives(train_q.size()), bm25_rank(train_q.size()), dense_rank(train_q.size());
  for (std::size_t i = 0; i < train_q.size(); ++i) {
    positives[i] = rel_rows(train_q[i]);
    for (const auto& h : bm25.search(train_text[i], 40)) bm25_rank[i].push_back(h.id);
    const Eigen::VectorXf s = corpus_emb * train_emb.row(static_cast<index_t>(i)).transpose();
    for (const auto& [id, v] : top_k(s.data(), N, 40)) dense_rank[i].push_back(id);
  }
  const rb::retrieval::ranked_negative_options ropt{.skip_top = 2, .pool = 30};
  const rb::retrieval::ranked_negatives bm25_neg(bm25_rank, positives, ropt), dense_neg(dense_rank, positives, ropt);
  const rb::retrieval::random_negatives random_neg(N, positives);

  // training pairs: (train query position, positive corpus row)
  std::vector<std::pair<index_t, index_t>> pairs;
  for (std::size_t i = 0; i < train_q.size(); ++i)
    for (index_t p : positives[i]) pairs.push_back({static_cast<index_t>(i), p});

  // ---- evaluation ---------------------------------------------------------------------------------
  std::vector<std::vector<index_t>> dev_rel;
  for (index_t q : dev_q) dev_rel.push_back(rel_rows(q));
  auto eval_embeddings = [&](const matrix<float>& c, const matrix<float>& q) {
    const matrix<float> s = q * c.transpose();  // [dev, N]
    std::vector<std::vector<std::pair<index_t, float>>> ranked;
    matrix<float> row(1, N);
    for (index_t i = 0; i < s.rows(); ++i) {
      row = s.row(i);
      ranked.push_back(top_k(row.data(), N, 100));
    }
    return evaluate(ranked, dev_rel);
  };
  auto eval_dense = [&](const matrix<float>& w) { return eval_embeddings(adapt(corpus_emb, w), adapt(dev_emb, w)); };
  auto text_of = [&](index_t id) -> const std::string& {
    if (id < N) return corpus_text[static_cast<std::size_t>(id)];
    return llm_neg.is_text(id) ? llm_neg.text(id) : classical_neg.text(id);
  };

  // ---- training one row ------------------------------------------------------------------------------
  const index_t D = enc.dim();
  struct run_result {
    metrics m;
    double seconds = 0, instances_per_s = 0;
    double masked = 0;
  };
  auto train_row = [&](const row_config& cfg, std::uint64_t seed) {
    rb::param<float> w("adapter.W", D, D);  // zero: the zero-shot model
    rb::optim::adam<float> opt({&w}, {.learning_rate = lr});
    std::optional<rb::text::sentence_encoder<float>> ft;  // --full: a fresh copy of the pretrained encoder
    std::optional<rb::optim::adam<float>> full_opt;
    if (full) {
      ft.emplace(rb::text::sentence_encoder<float>::load(model_dir, eopt));
      full_opt.emplace(rb::nn::parameters(*ft), rb::optim::adam_options{.learning_rate = full_lr});
    }
    rb::retrieval::hybrid_negatives mix;
    if (cfg.random) mix.add_source("random", random_neg, cfg.random);
    if (cfg.bm25) mix.add_source("bm25", bm25_neg, cfg.bm25);
    if (cfg.dense) mix.add_source("dense", dense_neg, cfg.dense);
    if (cfg.llm) mix.add_source("llm", llm_neg, cfg.llm);
    if (cfg.classical) mix.add_source("classical", classical_neg, cfg.classical);
    rb::rng g(seed);
    std::vector<std::size_t> order(pairs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    run_result res;
    long instances = 0, masked = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (index_t e = 0; e < epochs; ++e) {
      std::shuffle(order.begin(), order.end(), g.engine());
      for (std::size_t b0 = 0; b0 < order.size(); b0 += static_cast<std::size_t>(batch)) {
        const std::size_t b1 = std::min(order.size(), b0 + static_cast<std::size_t>(batch));
        const index_t B = static_cast<index_t>(b1 - b0);
        if (B < 2) continue;
        matrix<float> xq(B, D), xp(B, D);
        std::vector<index_t> neg_ids, offsets{0}, qid, pid;
        for (std::size_t k = b0; k < b1; ++k) {
          const auto [qi, p] = pairs[order[k]];
          xq.row(static_cast<index_t>(k - b0)) = train_emb.row(qi);
          xp.row(static_cast<index_t>(k - b0)) = table.row(p);
          for (index_t n : mix.sample(qi, g)) neg_ids.push_back(n);
          offsets.push_back(static_cast<index_t>(neg_ids.size()));
          qid.push_back(qi);
          pid.push_back(p);
        }
        rb::loss::contrastive_stats st;
        if (full) {  // the whole encoder on a recording tape: one packed forward over every text of the batch
          std::vector<std::string> texts;
          for (std::size_t k = b0; k < b1; ++k) texts.push_back(train_text[static_cast<std::size_t>(pairs[order[k]].first)]);
          for (std::size_t k = b0; k < b1; ++k) texts.push_back(text_of(pairs[order[k]].second));
          for (index_t n : neg_ids) texts.push_back(text_of(n));
          rb::tape<float> t(rb::tape_mode::train);
          const auto e = ft->forward(t, texts);
          const index_t M = static_cast<index_t>(neg_ids.size());
          const auto negs = M > 0 ? rb::ops::slice_rows(t, e, 2 * B, M) : t.view(xq.data(), 0, D);
          const auto loss = rb::loss::contrastive(t, rb::ops::slice_rows(t, e, 0, B), rb::ops::slice_rows(t, e, B, B), negs, offsets,
                                                  {.temperature = 0.05, .in_batch = true}, {qid, pid, neg_ids}, &st);
          t.backward(loss);
          full_opt->step();
          instances += B;
          masked += st.masked;
          continue;
        }
        matrix<float> xn(static_cast<index_t>(neg_ids.size()), D);
        for (std::size_t k = 0; k < neg_ids.size(); ++k) xn.row(static_cast<index_t>(k)) = table.row(neg_ids[k]);
        rb::tape<float> t(rb::tape_mode::train);
        const auto W = t.leaf(w);
        auto embed = [&](const matrix<float>& x) {
          const auto xv = t.view(x.data(), x.rows(), x.cols());
          return rb::ops::l2_normalize_rows(t, rb::ops::add(t, xv, rb::ops::matmul(t, xv, W)));
        };
        const auto loss = rb::loss::contrastive(t, embed(xq), embed(xp), embed(xn), offsets, {.temperature = 0.05, .in_batch = true},
                                                {qid, pid, neg_ids}, &st);
        t.backward(loss);
        opt.step();
        instances += B;
        masked += st.masked;
      }
    }
    res.seconds = seconds_since(t0);
    res.instances_per_s = res.seconds > 0 ? static_cast<double>(instances) / res.seconds : 0;
    res.masked = static_cast<double>(masked);
    res.m = full ? eval_embeddings(ft->encode(corpus_text), ft->encode(dev_text)) : eval_dense(w.value());
    return res;
  };

  // ---- the ablation ---------------------------------------------------------------------------------
  std::map<std::string, std::vector<metrics>> results;
  std::printf("\n| row | NDCG@10 | Recall@100 | seeds | train s/seed | inst/s |\n|---|---|---|---|---|---|\n");
  for (const auto& cfg : rows) {
    std::vector<double> n10, r100, secs, ips;
    if (cfg.lexical) {
      std::vector<std::vector<std::pair<index_t, float>>> ranked;
      for (const auto& q : dev_text) {
        std::vector<std::pair<index_t, float>> r;
        for (const auto& h : bm25.search(q, 100)) r.push_back({h.id, static_cast<float>(h.score)});
        ranked.push_back(std::move(r));
      }
      const metrics m = evaluate(ranked, dev_rel);
      results[cfg.key] = std::vector<metrics>(seeds.size(), m);
      n10.push_back(m.ndcg10);
      r100.push_back(m.recall100);
    } else if (!cfg.train) {
      const metrics m = eval_dense(matrix<float>::Zero(D, D));
      results[cfg.key] = std::vector<metrics>(seeds.size(), m);
      n10.push_back(m.ndcg10);
      r100.push_back(m.recall100);
    } else {
      for (std::uint64_t s : seeds) {
        const run_result r = train_row(cfg, s);
        results[cfg.key].push_back(r.m);
        n10.push_back(r.m.ndcg10);
        r100.push_back(r.m.recall100);
        secs.push_back(r.seconds);
        ips.push_back(r.instances_per_s);
      }
    }
    std::printf("| %s | %.4f ± %.4f | %.4f ± %.4f | %zu | %s | %s |\n", cfg.label.c_str(), mean(n10), sd(n10), mean(r100), sd(r100),
                cfg.train ? seeds.size() : std::size_t(1), secs.empty() ? "-" : std::to_string(mean(secs)).substr(0, 5).c_str(),
                ips.empty() ? "-" : std::to_string(mean(ips)).substr(0, 6).c_str());
    std::fflush(stdout);
  }
  // paired differences (same seed) against the retrieved-only and zero-shot rows
  auto paired = [&](const std::string& a, const std::string& b) {
    if (!results.count(a) || !results.count(b)) return;
    std::vector<double> dn, dr;
    for (std::size_t s = 0; s < seeds.size(); ++s) {
      dn.push_back(results[a][s].ndcg10 - results[b][s].ndcg10);
      dr.push_back(results[a][s].recall100 - results[b][s].recall100);
    }
    int wins = 0;
    for (double x : dn) wins += x > 0;
    std::printf("paired %s - %s: NDCG@10 %+.4f ± %.4f (%d/%zu seeds > 0), Recall@100 %+.4f ± %.4f\n", a.c_str(), b.c_str(), mean(dn),
                sd(dn), wins, seeds.size(), mean(dr), sd(dr));
  };
  std::printf("\n");
  for (const char* a : {"llm", "classical", "hyb13", "hyb22", "chyb22", "chyb13", "dense", "random"}) paired(a, "bm25neg");
  paired("hyb22", "llm");
  paired("chyb22", "classical");
  for (const char* a : {"llm", "hyb22", "bm25neg"}) paired(a, "zero");
  std::printf("total wall time %.1f s\n", seconds_since(t_start));
  const std::string main_row = results.count("hyb22") ? "hyb22" : results.count("chyb22") ? "chyb22" : rows.back().key;
  double final_ndcg = 0;
  for (const auto& m : results[main_row]) final_ndcg += m.ndcg10;
  std::printf("ndcg@10 %.4f\n", final_ndcg / static_cast<double>(results[main_row].size()));
  return 0;
} catch (const std::exception& e) {
  std::cerr << "syneg_scifact: " << e.what() << "\n";
  return 1;
}
