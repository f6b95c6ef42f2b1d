// SASRec (Kang & McAuley 2018) = nn::causal_lm over item ids, on Amazon Video Games (LLMRank's Games-6k,
// leave-one-out): next-item prediction, full ranking over all 16,859 items (history items excluded, as
// RecBole's full-sort evaluation), Recall@10 / NDCG@10 on the test targets, model chosen at the best
// validation NDCG@10 epoch (issue 18; docs/userip.md).
//
// Training sequences: each user's history without its last two items (the valid history + nothing),
// loss = softmax cross-entropy of every next item over all items (RecBole's SASRec `loss_type = CE`).
// Model: RecBole's SASRec defaults (2 layers, 2 heads, d 64, inner 256, max length 50, lr 1e-3), with
// the library's block: pre-LN + final LN by default (RecBole: post-LN, `--post-ln`), dropout 0.5
// (RecBole's hidden_dropout_prob 0.5 / attn 0.5).
//
//   sasrec_amazon [--users N] [--epochs E] [--batch B] [--seed S] [--post-ln] [--dropout P] [--json FILE] [--quiet]
//
// Data: $RECBLOCKS_DATA/amazon-videogames-llmrank (exit 77 when absent).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <recblocks/nn/causal_lm.hpp>
#include <recblocks/optim/adam.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace recblocks;
namespace fs = std::filesystem;

namespace {

struct seq_row {
  std::vector<index_t> history;
  index_t target;
};

std::vector<seq_row> read_inter(const fs::path& p, index_t max_users) {
  std::ifstream f(p);
  std::string line;
  std::getline(f, line);  // header
  std::vector<seq_row> out;
  while (std::getline(f, line) && (max_users <= 0 || static_cast<index_t>(out.size()) < max_users)) {
    std::istringstream ls(line);
    std::string user, hist, target;
    std::getline(ls, user, '\t');
    std::getline(ls, hist, '\t');
    std::getline(ls, target, '\t');
    seq_row r;
    std::istringstream hs(hist);
    index_t x;
    while (hs >> x) r.history.push_back(x);
    r.target = std::stol(target);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  index_t users = 0, batch = 128;
  int epochs = 10, seed = 1;
  bool post_ln = false, quiet = false;
  double dropout = 0.5;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(2);
      return argv[++i];
    };
    if (k == "--users") users = std::stol(next());
    else if (k == "--epochs") epochs = std::stoi(next());
    else if (k == "--batch") batch = std::stol(next());
    else if (k == "--seed") seed = std::stoi(next());
    else if (k == "--post-ln") post_ln = true;
    else if (k == "--dropout") dropout = std::stod(next());
    else if (k == "--json") json = next();
    else if (k == "--quiet") quiet = true;
    else {
      std::cerr << "unknown argument " << k << "\n";
      return 2;
    }
  }
  const char* env = std::getenv("RECBLOCKS_DATA");
  const fs::path dir = fs::path(env ? env : "../shared/data") / "amazon-videogames-llmrank";
  if (!fs::exists(dir / "games.test.inter.tsv")) {
    std::cout << "Amazon Video Games not found in " << dir << " (set RECBLOCKS_DATA); skipping\n";
    return 77;
  }
  const auto valid = read_inter(dir / "games.valid.inter.tsv", users), test = read_inter(dir / "games.test.inter.tsv", users);
  index_t items = 0;
  {
    std::ifstream f(dir / "games.item.tsv");
    std::string line;
    std::getline(f, line);
    while (std::getline(f, line)) ++items;
  }
  const index_t context = 50;
  // training: the valid history (all but the last two items), truncated to the newest `context`
  std::vector<std::vector<index_t>> train;
  std::size_t train_targets = 0;
  for (const auto& r : valid) {
    std::vector<index_t> s(r.history.end() - std::min<std::ptrdiff_t>(std::ptrdiff_t(r.history.size()), context), r.history.end());
    if (s.size() >= 2) train_targets += s.size() - 1, train.push_back(std::move(s));
  }
  rng gen(static_cast<std::uint64_t>(seed));
  nn::causal_lm<float> lm({.vocabulary = items, .context = context, .d_model = 64, .heads = 2, .layers = 2, .ff_dim = 256, .pre_ln = !post_ln,
                           .dropout = dropout},
                          gen);
  if (!quiet)
    std::cout << test.size() << " users, " << items << " items, " << train_targets << " training targets; SASRec " << nn::parameter_count(lm)
              << " parameters\n";
  // evaluation: full ranking of every item except the history; the target's rank = items scoring higher
  auto evaluate = [&](const std::vector<seq_row>& rows) {
    double recall = 0, ndcg = 0;
    for (std::size_t b = 0; b < rows.size(); b += 256) {
      const std::size_t e = std::min(rows.size(), b + 256);
      tape<float> t(tape_mode::infer);
      std::vector<index_t> toks, off{0}, last;
      for (std::size_t k = b; k < e; ++k) {
        const auto& h = rows[k].history;
        const std::size_t n = std::min<std::size_t>(h.size(), static_cast<std::size_t>(context));
        toks.insert(toks.end(), h.end() - std::ptrdiff_t(n), h.end());
        off.push_back(static_cast<index_t>(toks.size()));
        last.push_back(static_cast<index_t>(toks.size()) - 1);
      }
      const matrix<float> s = lm.logits(t, ops::gather_rows(t, lm.hidden(t, lm.embed(t, toks), off), last)).value();
      for (std::size_t k = b; k < e; ++k) {
        const auto row = s.row(static_cast<index_t>(k - b));
        const float ts = row(rows[k].target);
        std::vector<char> seen(static_cast<std::size_t>(items), 0);
        for (index_t x : rows[k].history) seen[static_cast<std::size_t>(x)] = 1;
        index_t rank = 0;
        for (index_t j = 0; j < items; ++j)
          if (!seen[static_cast<std::size_t>(j)] && j != rows[k].target && row(j) > ts) ++rank;
        if (rank < 10) recall += 1, ndcg += 1.0 / std::log2(double(rank) + 2.0);
      }
    }
    return std::pair<double, double>{recall / double(rows.size()), ndcg / double(rows.size())};
  };
  optim::adam<float> opt(nn::parameters(lm), {.learning_rate = 1e-3});
  std::vector<std::size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 g(static_cast<std::uint64_t>(seed) * 31);
  double best_valid = -1, test_recall = 0, test_ndcg = 0;
  int best_epoch = 0;
  const auto t0 = std::chrono::steady_clock::now();
  nlohmann::json curve = nlohmann::json::array();
  for (int ep = 0; ep < epochs; ++ep) {
    std::shuffle(order.begin(), order.end(), g);
    double sum = 0;
    int steps = 0;
    for (std::size_t b = 0; b < order.size(); b += static_cast<std::size_t>(batch)) {
      std::vector<index_t> toks, off{0};
      for (std::size_t k = b; k < std::min(order.size(), b + static_cast<std::size_t>(batch)); ++k) {
        toks.insert(toks.end(), train[order[k]].begin(), train[order[k]].end());
        off.push_back(static_cast<index_t>(toks.size()));
      }
      tape<float> t(tape_mode::train, std::uint64_t(seed) * 1000003ull + std::uint64_t(ep) * 7919ull + b);
      opt.zero_grad();
      var<float> l = lm.loss(t, toks, off);
      t.backward(l);
      opt.step();
      sum += l.value()(0, 0), ++steps;
    }
    const auto [vr, vn] = evaluate(valid);
    curve.push_back({{"epoch", ep + 1}, {"train_loss", sum / steps}, {"valid_recall10", vr}, {"valid_ndcg10", vn}});
    if (!quiet) std::cout << "epoch " << ep + 1 << ": train loss " << sum / steps << ", valid Recall@10 " << vr << ", NDCG@10 " << vn << "\n";
    if (vn > best_valid) {
      best_valid = vn, best_epoch = ep + 1;
      std::tie(test_recall, test_ndcg) = evaluate(test);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("SASRec (nn::causal_lm, %s, dropout %.2f, seed %d) on Amazon Video Games LOO, full ranking over %ld items, %zu users: "
              "test Recall@10 %.4f, NDCG@10 %.4f (best valid epoch %d of %d, %.0f s)\n",
              post_ln ? "post-LN" : "pre-LN", dropout, seed, static_cast<long>(items), test.size(), test_recall, test_ndcg, best_epoch, epochs, secs);
  if (!json.empty())
    std::ofstream(json) << nlohmann::json{{"users", test.size()}, {"items", items}, {"post_ln", post_ln}, {"dropout", dropout}, {"seed", seed},
                                          {"test_recall10", test_recall}, {"test_ndcg10", test_ndcg}, {"best_epoch", best_epoch},
                                          {"epochs", epochs}, {"seconds", secs}, {"curve", curve}}
                               .dump(2)
                        << "\n";
  return 0;
}
