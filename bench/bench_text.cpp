// bench_text: the in-process sentence encoder (all-MiniLM-L6-v2, FP32) on SciFact abstracts.
//
//     encode_b32_t1   encode N abstracts (title + " " + text, max 256 tokens, batch 32), one thread: docs/s
//     encode_b32_t2   the same on two threads (one tape each, OpenBLAS single-threaded): docs/s
//     encode_b1_t1    batch-1 latency of a 20-token query (tokenisation included), one thread: ms
//     train_b16       one fine-tuning step: 16 (claim, abstract) pairs, max 128 tokens, in-batch softmax
//                     (MultipleNegativesRankingLoss, scale 20), backward, AdamW: samples/s
//     peak_rss_mb     the process's peak resident memory
//
// One-thread cases are timed in thread CPU time (robust to other load on a shared machine), two-thread
// cases in wall time. Prints "recblocks <case> <value>" lines; bench/run_text_bench.sh runs the PyTorch
// peer (bench/peers/text_peer.py) in the same run and prints the speedups.
//
// Usage: bench_text [--docs N] [--models DIR] [--data DIR]  (OPENBLAS_NUM_THREADS=1 expected)
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recblocks/loss/softmax_cross_entropy.hpp"
#include "recblocks/nn/module.hpp"
#include "recblocks/optim/adam.hpp"
#include "recblocks/text/sentence_encoder.hpp"
#include "timing.hpp"

namespace fs = std::filesystem;
using namespace recblocks;

int main(int argc, char** argv) {
  fs::path data = std::getenv("RECBLOCKS_DATA") ? fs::path(std::getenv("RECBLOCKS_DATA")) : fs::path("../shared/data");
  fs::path models = std::getenv("RECBLOCKS_MODELS") ? fs::path(std::getenv("RECBLOCKS_MODELS"))
                                                    : fs::path(std::getenv("HOME") ? std::getenv("HOME") : ".") / ".cache/recblocks/models";
  std::size_t n_docs = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--docs") n_docs = std::stoul(argv[i + 1]);
    else if (a == "--models") models = argv[i + 1];
    else if (a == "--data") data = argv[i + 1];
    else {
      std::cerr << "bench_text: unknown argument " << a << "\n";
      return 2;
    }
  }
  const fs::path model_dir = models / "all-MiniLM-L6-v2";
  if (!fs::exists(model_dir / "model.safetensors") || !fs::exists(data / "scifact-beir")) {
    std::cout << "bench_text: model or SciFact missing; skipped\n";
    return 0;
  }
  std::vector<std::string> docs, abstracts, claims;
  for (int part = 1; part <= 3 && docs.size() < n_docs; ++part) {
    std::ifstream in(data / "scifact-beir" / ("corpus.part" + std::to_string(part) + ".jsonl"));
    std::string line;
    while (std::getline(in, line) && docs.size() < n_docs) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      docs.push_back(j["title"].get<std::string>() + " " + j["text"].get<std::string>());
      abstracts.push_back(j["text"].get<std::string>());
    }
  }
  {
    std::ifstream in(data / "scifact-beir/claims_train.jsonl");
    std::string line;
    while (std::getline(in, line) && claims.size() < 16)
      if (!line.empty()) claims.push_back(nlohmann::json::parse(line)["claim"].get<std::string>());
  }
  auto enc = text::sentence_encoder<float>::load(model_dir);
  // a 20-token query (with [CLS] and [SEP])
  const std::string query = "Vitamin D supplementation reduces the risk of fractures in elderly women with low bone density.";
  std::printf("recblocks docs %zu\nrecblocks query_tokens %lld\n", docs.size(), (long long)enc.tokenizer().encode(query).size());

  const double t1 = bench_timing::median_seconds([&] { (void)enc.encode(docs); }, 0, 1, 0.0, true);
  std::printf("recblocks encode_b32_t1 %.3f\n", double(docs.size()) / t1);
  enc.set_threads(2);
  const double t2 = bench_timing::median_seconds([&] { (void)enc.encode(docs); }, 0, 1, 0.0, false);
  std::printf("recblocks encode_b32_t2 %.3f\n", double(docs.size()) / t2);
  enc.set_threads(1);
  tape<float> qt(tape_mode::infer);
  const std::vector<std::string> one{query};
  const double lat = bench_timing::median_seconds([&] { (void)enc.encode(qt, one); }, 20, 200, 2.0, true);
  std::printf("recblocks encode_b1_t1 %.4f\n", lat * 1e3);

  {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("recblocks peak_rss_mb_encode %.1f\n", double(ru.ru_maxrss) / 1024.0);
  }
  // fine-tuning step: 16 claims against 16 abstracts, max 128 tokens
  text::sentence_encoder_options o;
  o.max_length = 128;
  auto ft = text::sentence_encoder<float>::load(model_dir, o);
  optim::adam_options ao;
  ao.learning_rate = 2e-5;
  ao.weight_decay = 0.01;
  ao.decoupled_weight_decay = true;
  optim::adam<float> opt(nn::parameters(ft), ao);
  const std::vector<std::string> q16(claims.begin(), claims.begin() + 16), d16(abstracts.begin(), abstracts.begin() + 16);
  std::vector<index_t> labels(16);
  for (index_t i = 0; i < 16; ++i) labels[static_cast<std::size_t>(i)] = i;
  tape<float> tt(tape_mode::train);
  float last_loss = 0;
  auto step = [&] {
    tt.reset();
    opt.zero_grad();
    const var<float> q = ft.forward(tt, q16), d = ft.forward(tt, d16);
    const var<float> scores = ops::mul_scalar(tt, ops::matmul(tt, q, d, false, true), 20.0f);
    const var<float> loss = loss::softmax_cross_entropy(tt, scores, labels);
    last_loss = loss.item();
    tt.backward(loss);
    opt.step();
  };
  const double ts = bench_timing::median_seconds(step, 1, 5, 0.0, true);
  std::printf("recblocks train_b16 %.3f\nrecblocks train_loss %.4f\n", 16.0 / ts, last_loss);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("recblocks peak_rss_mb %.1f\n", double(ru.ru_maxrss) / 1024.0);
  return 0;
}
