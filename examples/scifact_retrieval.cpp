// scifact_retrieval: dense retrieval on BEIR SciFact with the pretrained all-MiniLM-L6-v2 encoder,
// in-process (text::sentence_encoder), evaluated on the 809 train queries.
//
// Documents are title + " " + text, truncated to the model's 256 tokens; queries are the claims.
// Embeddings are L2-normalised, so exact search is inner-product top-100 (retrieval::topk); the same
// vectors also go into an hnswlib index (cosine, M 16, ef_construction 200, ef 200). Prints
//     ndcg@10 X         recall@100 Y            (exact search)
//     hnsw ndcg@10 X    hnsw recall@100 Y
// Reference (sentence-transformers, PyTorch, exact cosine, 5,183 docs): NDCG@10 0.6602, Recall@100 0.9324.
//
// Corpus embeddings are cached in --cache (default ${RECBLOCKS_CACHE:-~/.cache/recblocks}/scifact) under a
// name derived from the model weights' checksum (FNV-1a 64 of model.safetensors), the tokenizer settings
// and the documents, written atomically (.npy via a temporary file + rename).
//
// Usage: scifact_retrieval [--docs N] [--threads T] [--batch B] [--no-cache] [--data DIR] [--models DIR] [--cache DIR]
//   --docs N: only the first N documents (and the queries with a relevant document among them): a quick run.
// Exits 0 with a one-line message when the data or the model is absent.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "example_util.hpp"
#include "recblocks/eval/ranking.hpp"
#include "recblocks/io/npy.hpp"
#include "recblocks/retrieval/topk.hpp"
#include "recblocks/text/sentence_encoder.hpp"

#if __has_include(<hnswlib/hnswlib.h>)
#include "recblocks/retrieval/hnsw_index.hpp"
#define SCIFACT_EXAMPLE_HNSW 1
#endif

using recblocks::index_t;
using recblocks::matrix;
namespace fs = std::filesystem;
using recblocks_examples::file_checksum;
using recblocks_examples::fnv1a;
using recblocks_examples::home_cache;
using recblocks_examples::seconds_since;

int main(int argc, char** argv) {
  fs::path data = std::getenv("RECBLOCKS_DATA") ? fs::path(std::getenv("RECBLOCKS_DATA")) : fs::path("../shared/data");
  fs::path models = std::getenv("RECBLOCKS_MODELS") ? fs::path(std::getenv("RECBLOCKS_MODELS")) : home_cache() / "models";
  fs::path cache = home_cache() / "scifact";
  index_t max_docs = 0, threads = 1, batch = 32;
  bool use_cache = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "scifact_retrieval: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--docs") max_docs = std::stoll(next());
      else if (a == "--threads") threads = std::stoll(next());
      else if (a == "--batch") batch = std::stoll(next());
      else if (a == "--data") data = next();
      else if (a == "--models") models = next();
      else if (a == "--cache") cache = next();
      else if (a == "--no-cache") use_cache = false;
      else {
        std::cerr << "scifact_retrieval: unknown argument '" << a << "'\n"
                  << "usage: scifact_retrieval [--docs N] [--threads T] [--batch B] [--no-cache] [--data DIR] [--models DIR] [--cache DIR]\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "scifact_retrieval: " << a << " needs an integer\n";
      return 2;
    }
  }
  if (max_docs < 0 || threads < 1 || batch < 1) {
    std::cerr << "scifact_retrieval: --docs must be >= 0, --threads and --batch >= 1\n";
    return 2;
  }
  const fs::path sf = data / "scifact-beir", model_dir = models / "all-MiniLM-L6-v2";
  if (!fs::exists(sf / "queries.jsonl") || !fs::exists(sf / "qrels/train.tsv")) {
    std::cout << "scifact_retrieval: SciFact not found under " << sf << "; skipped\n";
    return 0;
  }
  if (!fs::exists(model_dir / "model.safetensors")) {
    std::cout << "scifact_retrieval: all-MiniLM-L6-v2 not installed under " << models << " (run tools/install_models.sh); skipped\n";
    return 0;
  }
  try {
    // ---- data ------------------------------------------------------------------------------
    std::vector<std::string> doc_ids, docs;
    std::vector<fs::path> parts;
    for (const auto& e : fs::directory_iterator(sf))
      if (e.path().filename().string().rfind("corpus.part", 0) == 0) parts.push_back(e.path());
    std::sort(parts.begin(), parts.end());
    for (const auto& p : parts) {
      std::ifstream in(p);
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        doc_ids.push_back(j.at("_id").get<std::string>());
        docs.push_back(j.at("title").get<std::string>() + " " + j.at("text").get<std::string>());
        if (max_docs > 0 && static_cast<index_t>(docs.size()) >= max_docs) break;
      }
      if (max_docs > 0 && static_cast<index_t>(docs.size()) >= max_docs) break;
    }
    std::unordered_map<std::string, index_t> doc_index;
    for (std::size_t i = 0; i < doc_ids.size(); ++i) doc_index[doc_ids[i]] = static_cast<index_t>(i);
    std::map<std::string, std::set<index_t>> relevant;  // train query -> relevant docs (present in the corpus)
    {
      std::ifstream in(sf / "qrels/train.tsv");
      std::string line;
      std::getline(in, line);  // header
      while (std::getline(in, line)) {
        std::istringstream s(line);
        std::string q, d, score;
        if (!(s >> q >> d >> score) || std::stoi(score) <= 0) continue;
        auto it = doc_index.find(d);
        if (it != doc_index.end()) relevant[q].insert(it->second);
      }
    }
    std::vector<std::string> query_ids, queries;
    {
      std::ifstream in(sf / "queries.jsonl");
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        const std::string id = j.at("_id").get<std::string>();
        if (relevant.count(id)) {
          query_ids.push_back(id);
          queries.push_back(j.at("text").get<std::string>());
        }
      }
    }
    std::cout << "scifact: " << docs.size() << " documents, " << queries.size() << " train queries with relevant documents\n";

    // ---- encoder and corpus embeddings (cached) ----------------------------------------------
    recblocks::text::sentence_encoder_options opt;
    opt.batch_size = batch;
    opt.threads = threads;
    const auto enc = recblocks::text::sentence_encoder<float>::load(model_dir, opt);
    std::uint64_t key = file_checksum(model_dir / "model.safetensors");
    const std::string settings = "max_length=" + std::to_string(enc.max_length()) + ";lowercase=" +
                                 std::to_string(enc.tokenizer().options().lowercase) + ";strip_accents=" +
                                 std::to_string(enc.tokenizer().options().strip_accents) + ";pooling=" +
                                 std::to_string(int(enc.pooling_mode())) + ";normalize=" + std::to_string(enc.normalizes()) +
                                 ";vocab=" + std::to_string(enc.tokenizer().vocab_size()) + ";docs=title+' '+text;";
    key = fnv1a(key, settings.data(), settings.size());
    for (const auto& d : docs) key = fnv1a(key, d.data(), d.size() + 1);
    char name[64];
    std::snprintf(name, sizeof name, "corpus_%016llx.npy", static_cast<unsigned long long>(key));
    const fs::path cache_file = cache / name;
    matrix<float> doc_emb;
    if (use_cache && fs::exists(cache_file)) {
      doc_emb = recblocks::io::npy::load<float>(cache_file);
      if (doc_emb.rows() != static_cast<index_t>(docs.size()) || doc_emb.cols() != enc.dim()) doc_emb.resize(0, 0);
      else std::cout << "corpus embeddings: cache " << cache_file << "\n";
    }
    if (doc_emb.size() == 0) {
      const auto t0 = std::chrono::steady_clock::now();
      doc_emb = enc.encode(docs);
      const double s = seconds_since(t0);
      std::cout << "corpus embeddings: " << docs.size() << " documents in " << s << " s (" << double(docs.size()) / s << " docs/s, "
                << threads << " thread(s), batch " << batch << ")\n";
      if (use_cache) {
        fs::create_directories(cache);
        recblocks::io::npy::save(cache_file, doc_emb);  // temporary file + rename
      }
    }
    const auto t1 = std::chrono::steady_clock::now();
    const matrix<float> q_emb = enc.encode(queries);
    std::cout << "query embeddings: " << queries.size() << " queries in " << seconds_since(t1) << " s\n";

    // ---- retrieval and metrics -----------------------------------------------------------------
    const index_t k = std::min<index_t>(100, static_cast<index_t>(docs.size()));
    auto evaluate = [&](const matrix<index_t>& ids, const char* label) {
      double ndcg = 0, recall = 0;
      for (std::size_t q = 0; q < queries.size(); ++q) {
        std::vector<index_t> ranked(ids.row(static_cast<index_t>(q)).data(), ids.row(static_cast<index_t>(q)).data() + ids.cols());
        const auto& rel = relevant[query_ids[q]];
        const std::vector<index_t> r(rel.begin(), rel.end());
        ndcg += recblocks::eval::ndcg_at_k(ranked, r, 10);
        recall += recblocks::eval::recall_at_k(ranked, r, 100);
      }
      const double n = static_cast<double>(queries.size());
      std::printf("%sndcg@10 %.4f\n%srecall@100 %.4f\n", label, ndcg / n, label, recall / n);
    };
    recblocks::retrieval::topk<float> exact(doc_emb, recblocks::retrieval::topk_metric::inner_product);
    evaluate(exact.search(q_emb, k).ids, "");
#ifdef SCIFACT_EXAMPLE_HNSW
    recblocks::retrieval::hnsw_options ho;
    ho.dim = enc.dim();
    ho.metric = recblocks::retrieval::hnsw_metric::cosine;
    ho.ef_search = 200;
    ho.capacity = static_cast<index_t>(docs.size());
    recblocks::retrieval::hnsw_index index(ho);
    index.add(doc_emb, index_t{0});
    evaluate(index.search(q_emb, k).ids, "hnsw ");
#endif
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "scifact_retrieval: " << e.what() << "\n";
    return 1;
  }
}
