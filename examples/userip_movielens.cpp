// UserIP-Tuning on MovieLens-100K (issue 18, papers.md 5; docs/userip.md).
//
//   1. behaviour text: per user, the training-split ratings in time order as sentences
//      "The user watched {title}." (title without its "(year)"), WordPiece (all-MiniLM-L6-v2 vocab),
//      remapped to the token ids seen in training (+ [UNK]);
//   2. pre-train a small causal LM (nn::causal_lm: 2 layers, d 64, 2 heads, context 64) on those
//      texts; held-out perplexity on the test-split ratings' sentences; then freeze it;
//   3. prompt tuning (models::userip): per-user hobby and background soft tokens after the texts
//      "the user's hobby is" / "the user's background is", loss on the behaviour tokens only, VQ
//      codebooks K = 4 / 3 (codebook-only MSE, weight 0.5), AdamW lr 0.01, batch 8, 1 epoch (paper);
//   4. feature bank user -> (hobby id, background id); purity and mutual information against the
//      favourite genre (most frequent genre flag in training) and the occupation;
//   5. DCN CTR (rating > 3; embed 8, 3 cross layers, MLP (16, 16), dropout 0.2): ids; + demographics
//      (gender, occupation, age decade); + UserIP codes; + both. AUC / log loss on the test split at the
//      best validation epoch, over seeds, paired against ids; control: the code pairs permuted over users.
//
//   userip_movielens [--users N] [--seeds S] [--lm-epochs E] [--prompt-epochs E] [--ctr-epochs E]
//                    [--context C] [--json FILE] [--save-bank DIR] [--quiet]
//
// Data: $RECBLOCKS_DATA/movielens-100k (exit 77 when absent) and the MiniLM vocab in
// $RECBLOCKS_MODELS or ~/.cache/recblocks/models (tools/install_models.sh; exit 77 when absent).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <recblocks/data/dataset.hpp>
#include <recblocks/eval/auc.hpp>
#include <recblocks/eval/log_loss.hpp>
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/dcn.hpp>
#include <recblocks/models/userip.hpp>
#include <recblocks/nn/causal_lm.hpp>
#include <recblocks/optim/adam.hpp>
#include <recblocks/optim/clip.hpp>
#include <recblocks/text/wordpiece_tokenizer.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace recblocks;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

struct rating_row {
  index_t user, item;
  int rating;
  long ts;
  int split;  // 0 train, 1 valid, 2 test
};

struct args_t {
  index_t users = 0;  // 0 = all
  int seeds = 5;
  int lm_epochs = 4;
  int prompt_epochs = 1;
  int ctr_epochs = 10;
  index_t context = 64;
  std::string json, save_bank;
  bool quiet = false;
};

double secs(clk::time_point a) { return std::chrono::duration<double>(clk::now() - a).count(); }

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == c) out.push_back(cur), cur.clear();
    else cur.push_back(ch);
  }
  out.push_back(cur);
  return out;
}

// Latin-1 -> UTF-8 (u.item)
std::string latin1(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c < 0x80) o.push_back(char(c));
    else o.push_back(char(0xC0 | (c >> 6))), o.push_back(char(0x80 | (c & 0x3F)));
  }
  return o;
}

std::string strip_year(std::string t) {
  const auto p = t.rfind(" (");
  if (p != std::string::npos && t.size() - p == 7 && t.back() == ')') t.resize(p);
  return t;
}

// mutual information (bits), normalised MI (arithmetic), purity of `codes` against `truth`
struct agreement {
  double mi = 0, nmi = 0, purity = 0, majority = 0, mi_null = 0;
};
double entropy(const std::map<index_t, double>& n, double N) {
  double h = 0;
  for (auto& [k, c] : n)
    if (c > 0) h -= c / N * std::log2(c / N);
  return h;
}
double mutual_info(const std::vector<index_t>& a, const std::vector<index_t>& b) {
  std::map<std::pair<index_t, index_t>, double> j;
  std::map<index_t, double> na, nb;
  for (std::size_t i = 0; i < a.size(); ++i) j[{a[i], b[i]}] += 1, na[a[i]] += 1, nb[b[i]] += 1;
  const double N = double(a.size());
  double mi = 0;
  for (auto& [k, c] : j) mi += c / N * std::log2(c * N / (na[k.first] * nb[k.second]));
  return mi;
}
agreement agree(const std::vector<index_t>& codes, const std::vector<index_t>& truth, std::uint64_t seed) {
  agreement r;
  const double N = double(codes.size());
  std::map<index_t, double> nc, nt;
  std::map<index_t, std::map<index_t, double>> by;
  for (std::size_t i = 0; i < codes.size(); ++i) nc[codes[i]] += 1, nt[truth[i]] += 1, by[codes[i]][truth[i]] += 1;
  r.mi = mutual_info(codes, truth);
  const double hm = 0.5 * (entropy(nc, N) + entropy(nt, N));
  r.nmi = hm > 0 ? r.mi / hm : 0;
  for (auto& [k, m] : by) {
    double best = 0;
    for (auto& [t, c] : m) best = std::max(best, c);
    r.purity += best / N;
  }
  for (auto& [t, c] : nt) r.majority = std::max(r.majority, c / N);
  std::mt19937_64 g(seed);
  std::vector<index_t> sh = codes;
  const int reps = 200;
  for (int i = 0; i < reps; ++i) {
    std::shuffle(sh.begin(), sh.end(), g);
    r.mi_null += mutual_info(sh, truth) / reps;
  }
  return r;
}

struct ctr_result {
  double auc = 0, logloss = 0, valid_auc = 0;
  int best_epoch = 0;
};

}  // namespace

int main(int argc, char** argv) {
  args_t a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << k << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--users") a.users = std::stol(next());
    else if (k == "--seeds") a.seeds = std::stoi(next());
    else if (k == "--lm-epochs") a.lm_epochs = std::stoi(next());
    else if (k == "--prompt-epochs") a.prompt_epochs = std::stoi(next());
    else if (k == "--ctr-epochs") a.ctr_epochs = std::stoi(next());
    else if (k == "--context") a.context = std::stol(next());
    else if (k == "--json") a.json = next();
    else if (k == "--save-bank") a.save_bank = next();
    else if (k == "--quiet") a.quiet = true;
    else {
      std::cerr << "unknown argument " << k << "\n";
      return 2;
    }
  }
  const char* env = std::getenv("RECBLOCKS_DATA");
  const fs::path dir = fs::path(env ? env : "../shared/data") / "movielens-100k";
  const char* menv = std::getenv("RECBLOCKS_MODELS");
  const char* home = std::getenv("HOME");
  const fs::path vocab = (menv ? fs::path(menv) : fs::path(home ? home : ".") / ".cache/recblocks/models") / "all-MiniLM-L6-v2" / "vocab.txt";
  if (!fs::exists(dir / "u.data")) {
    std::cout << "MovieLens-100K not found in " << dir << " (set RECBLOCKS_DATA); skipping\n";
    return 77;
  }
  if (!fs::exists(vocab)) {
    std::cout << "WordPiece vocab not found at " << vocab << " (run tools/install_models.sh); skipping\n";
    return 77;
  }
  const auto t_all = clk::now();
  // ---------------------------------------------------------------- data
  std::vector<std::string> titles(1), occupation_name(1);
  std::vector<std::array<char, 19>> genres(1);
  {
    std::ifstream f(dir / "u.item");
    std::string line;
    while (std::getline(f, line)) {
      const auto c = split(line, '|');
      if (c.size() < 24) continue;
      const index_t id = std::stol(c[0]);
      if (static_cast<index_t>(titles.size()) <= id) titles.resize(id + 1), genres.resize(id + 1);
      titles[id] = strip_year(latin1(c[1]));
      for (int g = 0; g < 19; ++g) genres[id][g] = c[5 + g] == "1";
    }
  }
  const index_t n_items = static_cast<index_t>(titles.size());
  std::vector<int> age(1), gender(1), occ(1);
  std::map<std::string, int> occ_ids;
  {
    std::ifstream f(dir / "u.user");
    std::string line;
    while (std::getline(f, line)) {
      const auto c = split(line, '|');
      if (c.size() < 5) continue;
      const index_t id = std::stol(c[0]);
      if (a.users > 0 && id > a.users) continue;
      if (static_cast<index_t>(age.size()) <= id) age.resize(id + 1), gender.resize(id + 1), occ.resize(id + 1);
      age[id] = std::stoi(c[1]);
      gender[id] = c[2] == "M";
      auto it = occ_ids.emplace(c[3], static_cast<int>(occ_ids.size())).first;
      occ[id] = it->second;
    }
  }
  const index_t n_users = static_cast<index_t>(age.size());
  std::vector<rating_row> rows;
  {
    std::ifstream f(dir / "u.data");
    index_t u, i;
    int r;
    long ts;
    while (f >> u >> i >> r >> ts)
      if (u < n_users) rows.push_back({u, i, r, ts, 0});
  }
  {  // fixed random 8:1:1 split (seed 2022, as Scenario-Wise Rec's MovieLens recipe)
    std::vector<std::size_t> perm(rows.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 g(2022);
    std::shuffle(perm.begin(), perm.end(), g);
    for (std::size_t k = 0; k < perm.size(); ++k) rows[perm[k]].split = k < perm.size() * 8 / 10 ? 0 : (k < perm.size() * 9 / 10 ? 1 : 2);
  }
  // ---------------------------------------------------------------- behaviour text
  const auto tok = text::wordpiece_tokenizer::from_vocab_file(vocab);
  std::vector<index_t> compact(static_cast<std::size_t>(tok.vocab_size()), -1);
  index_t V = 0;
  const index_t unk = V++;  // compact id 0 = [UNK]
  auto tokens_of = [&](const std::string& text, bool grow) {
    std::vector<index_t> out;
    for (std::int32_t id : tok.tokenize_ids(text)) {
      index_t& c = compact[static_cast<std::size_t>(id)];
      if (c < 0 && grow) c = V++;
      out.push_back(c < 0 ? unk : c);
    }
    return out;
  };
  std::vector<std::vector<index_t>> sentence(static_cast<std::size_t>(n_items));
  std::vector<std::vector<std::size_t>> by_user(static_cast<std::size_t>(n_users));
  for (std::size_t k = 0; k < rows.size(); ++k) by_user[static_cast<std::size_t>(rows[k].user)].push_back(k);
  for (auto& v : by_user) std::stable_sort(v.begin(), v.end(), [&](std::size_t x, std::size_t y) { return rows[x].ts < rows[y].ts; });
  const std::vector<index_t> hobby_text = tokens_of("the user's hobby is", true), bg_text = tokens_of("the user's background is", true);
  // vocabulary grows on training sentences only
  std::vector<char> in_train(static_cast<std::size_t>(n_items), 0);
  for (const auto& r : rows)
    if (r.split == 0) in_train[static_cast<std::size_t>(r.item)] = 1;
  for (index_t i = 1; i < n_items; ++i)
    if (in_train[static_cast<std::size_t>(i)]) sentence[static_cast<std::size_t>(i)] = tokens_of("The user watched " + titles[static_cast<std::size_t>(i)] + ".", true);
  for (index_t i = 1; i < n_items; ++i)
    if (!in_train[static_cast<std::size_t>(i)]) sentence[static_cast<std::size_t>(i)] = tokens_of("The user watched " + titles[static_cast<std::size_t>(i)] + ".", false);
  // per user token streams (train / test split), time order
  std::vector<std::vector<index_t>> train_text(static_cast<std::size_t>(n_users)), test_text(static_cast<std::size_t>(n_users));
  for (index_t u = 1; u < n_users; ++u)
    for (std::size_t k : by_user[static_cast<std::size_t>(u)]) {
      if (rows[k].split == 1) continue;  // validation ratings: neither LM training nor held-out text
      auto& dst = rows[k].split == 0 ? train_text[static_cast<std::size_t>(u)] : test_text[static_cast<std::size_t>(u)];
      const auto& s = sentence[static_cast<std::size_t>(rows[k].item)];
      dst.insert(dst.end(), s.begin(), s.end());
    }
  auto windows = [](const std::vector<std::vector<index_t>>& streams, index_t len) {
    std::vector<std::pair<index_t, std::vector<index_t>>> out;  // (user, tokens)
    for (std::size_t u = 0; u < streams.size(); ++u)
      for (std::size_t p = 0; p < streams[u].size(); p += static_cast<std::size_t>(len)) {
        const std::size_t e = std::min(streams[u].size(), p + static_cast<std::size_t>(len));
        if (e - p >= 2) out.emplace_back(static_cast<index_t>(u), std::vector<index_t>(streams[u].begin() + p, streams[u].begin() + e));
      }
    return out;
  };
  const auto lm_train = windows(train_text, a.context), lm_test = windows(test_text, a.context);
  std::size_t train_tokens = 0;
  for (auto& w : lm_train) train_tokens += w.second.size();
  if (!a.quiet)
    std::cout << "users " << n_users - 1 << ", items " << n_items - 1 << ", ratings " << rows.size() << "; LM vocabulary " << V
              << " WordPiece tokens seen in training; " << lm_train.size() << " training windows (" << train_tokens << " tokens), "
              << lm_test.size() << " held-out windows\n";
  nlohmann::json report;
  report["data"] = {{"users", n_users - 1}, {"ratings", rows.size()}, {"lm_vocabulary", V}, {"lm_train_tokens", train_tokens}};
  // ---------------------------------------------------------------- LM pre-training
  rng gen(1);
  nn::causal_lm<float> lm({.vocabulary = V, .context = a.context, .d_model = 64, .heads = 2, .layers = 2, .ff_dim = 256, .pre_ln = true, .dropout = 0.1}, gen);
  auto eval_ppl = [&](const std::vector<std::pair<index_t, std::vector<index_t>>>& ws) {
    double nll = 0;
    std::size_t n = 0;
    for (std::size_t b = 0; b < ws.size(); b += 64) {
      tape<float> t(tape_mode::infer);
      std::vector<index_t> toks, off{0};
      std::size_t targets = 0;
      for (std::size_t k = b; k < std::min(ws.size(), b + 64); ++k) {
        toks.insert(toks.end(), ws[k].second.begin(), ws[k].second.end());
        off.push_back(static_cast<index_t>(toks.size()));
        targets += ws[k].second.size() - 1;
      }
      nll += double(lm.loss(t, toks, off).value()(0, 0)) * double(targets);
      n += targets;
    }
    return std::exp(nll / double(n));
  };
  double unigram_ppl = 0;
  {  // add-one unigram baseline on the training tokens
    std::vector<double> cnt(static_cast<std::size_t>(V), 1.0);
    double tot = double(V);
    for (auto& w : lm_train)
      for (index_t x : w.second) cnt[static_cast<std::size_t>(x)] += 1, tot += 1;
    double nll = 0;
    std::size_t n = 0;
    for (auto& w : lm_test)
      for (std::size_t j = 1; j < w.second.size(); ++j) nll -= std::log(cnt[static_cast<std::size_t>(w.second[j])] / tot), ++n;
    unigram_ppl = std::exp(nll / double(n));
  }
  const double ppl0 = eval_ppl(lm_test);
  const auto t_lm = clk::now();
  {
    optim::adam<float> opt(nn::parameters(lm), {.learning_rate = 1e-3, .weight_decay = 0.01, .decoupled_weight_decay = true});
    std::vector<std::size_t> order(lm_train.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 g(7);
    for (int ep = 0; ep < a.lm_epochs; ++ep) {
      std::shuffle(order.begin(), order.end(), g);
      double sum = 0;
      int steps = 0;
      for (std::size_t b = 0; b < order.size(); b += 16) {
        tape<float> t(tape_mode::train, 1000003ull * std::uint64_t(ep + 1) + b);  // fresh dropout masks per batch
        std::vector<index_t> toks, off{0};
        for (std::size_t k = b; k < std::min(order.size(), b + 16); ++k) {
          const auto& w = lm_train[order[k]].second;
          toks.insert(toks.end(), w.begin(), w.end());
          off.push_back(static_cast<index_t>(toks.size()));
        }
        opt.zero_grad();
        var<float> l = lm.loss(t, toks, off);
        t.backward(l);
        optim::clip_grad_norm(nn::parameters(lm), 1.0f);
        opt.step();
        sum += l.value()(0, 0);
        ++steps;
      }
      if (!a.quiet) std::cout << "LM epoch " << ep + 1 << ": train loss " << sum / steps << ", held-out perplexity " << eval_ppl(lm_test) << "\n";
    }
  }
  const double lm_secs = secs(t_lm);
  const double ppl = eval_ppl(lm_test);
  report["lm"] = {{"layers", 2}, {"d_model", 64}, {"heads", 2}, {"ff_dim", 256}, {"context", a.context}, {"parameters", nn::parameter_count(lm)},
                  {"epochs", a.lm_epochs}, {"heldout_perplexity_init", ppl0}, {"heldout_perplexity", ppl}, {"unigram_perplexity", unigram_ppl},
                  {"seconds", lm_secs}};
  if (!a.quiet)
    std::cout << "LM (" << nn::parameter_count(lm) << " parameters) pre-trained in " << lm_secs << " s: held-out perplexity " << ppl
              << " (untrained " << ppl0 << ", add-one unigram " << unigram_ppl << ")\n";
  // ---------------------------------------------------------------- prompt tuning
  lm.freeze();
  lm.set_dropout(0.0);  // the paper's Llama-2 has no dropout
  models::userip<float> up(lm, n_users, {hobby_text, bg_text}, {}, gen);
  const auto tune = windows(train_text, up.behaviour_capacity());
  std::vector<bool> trained(static_cast<std::size_t>(n_users), false);
  for (auto& w : tune) trained[static_cast<std::size_t>(w.first)] = true;
  const auto t_pt = clk::now();
  double last_lm = 0, last_vq = 0;
  {
    optim::adam<float> opt(nn::parameters(up), {.learning_rate = 0.01, .weight_decay = 0.01, .decoupled_weight_decay = true});
    std::vector<std::size_t> order(tune.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 g(11);
    for (int ep = 0; ep < a.prompt_epochs; ++ep) {
      std::shuffle(order.begin(), order.end(), g);
      double sl = 0, sv = 0;
      int steps = 0;
      for (std::size_t b = 0; b < order.size(); b += 8) {
        std::vector<models::userip_sample> batch;
        for (std::size_t k = b; k < std::min(order.size(), b + 8); ++k) batch.push_back({tune[order[k]].first, tune[order[k]].second});
        tape<float> t;
        opt.zero_grad();
        auto l = up.loss(t, batch);
        t.backward(l.total);
        opt.step();
        sl += l.lm.value()(0, 0), sv += l.vq.value()(0, 0), ++steps;
      }
      last_lm = sl / steps, last_vq = sv / steps;
      if (!a.quiet) std::cout << "prompt epoch " << ep + 1 << ": behaviour loss " << last_lm << ", VQ loss " << last_vq << "\n";
    }
  }
  const double pt_secs = secs(t_pt);
  index_t n_trained = 0;
  for (bool x : trained) n_trained += x;
  const quant::feature_bank<float> bank = up.feature_bank(trained);
  if (!a.save_bank.empty()) io::checkpoint::save(a.save_bank, bank);  // the feature bank in the checkpoint format
  // ---------------------------------------------------------------- codes vs true attributes
  std::vector<index_t> fav(static_cast<std::size_t>(n_users), 0);
  for (index_t u = 1; u < n_users; ++u) {
    std::array<int, 19> c{};
    for (std::size_t k : by_user[static_cast<std::size_t>(u)])
      if (rows[k].split == 0)
        for (int g = 0; g < 19; ++g) c[g] += genres[static_cast<std::size_t>(rows[k].item)][g];
    fav[static_cast<std::size_t>(u)] = std::max_element(c.begin(), c.end()) - c.begin();
  }
  std::vector<index_t> hob, bgc, fav_t, occ_t;
  for (index_t u = 1; u < n_users; ++u)
    if (trained[static_cast<std::size_t>(u)]) {
      hob.push_back(bank.code(u, 0));
      bgc.push_back(bank.code(u, 1));
      fav_t.push_back(fav[static_cast<std::size_t>(u)]);
      occ_t.push_back(occ[static_cast<std::size_t>(u)]);
    }
  const agreement ah = agree(hob, fav_t, 5), ab = agree(bgc, occ_t, 6), ah_occ = agree(hob, occ_t, 7), ab_fav = agree(bgc, fav_t, 8);
  auto agj = [](const agreement& g) {
    return nlohmann::json{{"mi_bits", g.mi}, {"mi_shuffled_bits", g.mi_null}, {"nmi", g.nmi}, {"purity", g.purity}, {"majority", g.majority}};
  };
  report["prompt"] = {{"seconds", pt_secs}, {"trained_users", n_trained}, {"windows", tune.size()}, {"epochs", a.prompt_epochs},
                      {"behaviour_loss_last_epoch", last_lm}, {"vq_loss_last_epoch", last_vq}, {"truncated", up.truncated()},
                      {"seconds_per_user", n_trained ? pt_secs / double(n_trained) : 0.0},
                      {"hobby_counts", bank.counts(0)}, {"background_counts", bank.counts(1)},
                      {"hobby_vs_favourite_genre", agj(ah)}, {"background_vs_occupation", agj(ab)},
                      {"hobby_vs_occupation", agj(ah_occ)}, {"background_vs_favourite_genre", agj(ab_fav)}};
  if (!a.quiet) {
    std::cout << "prompt tuning: " << n_trained << " users, " << tune.size() << " windows, " << pt_secs << " s\n";
    auto pc = [](const std::vector<index_t>& c) {
      std::string s;
      for (index_t x : c) s += std::to_string(x) + " ";
      return s;
    };
    std::cout << "users per hobby code (last = cold start): " << pc(bank.counts(0)) << "\nusers per background code: " << pc(bank.counts(1)) << "\n";
    std::cout << "hobby code vs favourite genre: MI " << ah.mi << " bits (shuffled " << ah.mi_null << "), NMI " << ah.nmi << ", purity " << ah.purity
              << " (majority " << ah.majority << ")\n";
    std::cout << "background code vs occupation: MI " << ab.mi << " bits (shuffled " << ab.mi_null << "), NMI " << ab.nmi << ", purity " << ab.purity
              << " (majority " << ab.majority << ")\n";
  }
  // ---------------------------------------------------------------- CTR with DCN
  data::schema s;
  s.add({.name = "user_id", .kind = data::feature_kind::sparse, .vocabulary = n_users});
  s.add({.name = "item_id", .kind = data::feature_kind::sparse, .vocabulary = n_items});
  s.add({.name = "gender", .kind = data::feature_kind::sparse, .vocabulary = 2});
  s.add({.name = "occupation", .kind = data::feature_kind::sparse, .vocabulary = static_cast<index_t>(occ_ids.size()) + 1});
  s.add({.name = "age_decade", .kind = data::feature_kind::sparse, .vocabulary = 11});
  s.add({.name = "hobby_id", .kind = data::feature_kind::sparse, .vocabulary = bank.vocabulary(0)});
  s.add({.name = "background_id", .kind = data::feature_kind::sparse, .vocabulary = bank.vocabulary(1)});
  // control: the same code pairs permuted over users (same code sizes, no link to the user)
  s.add({.name = "shuffled_hobby_id", .kind = data::feature_kind::sparse, .vocabulary = bank.vocabulary(0)});
  s.add({.name = "shuffled_background_id", .kind = data::feature_kind::sparse, .vocabulary = bank.vocabulary(1)});
  std::vector<index_t> shuffled(static_cast<std::size_t>(n_users));
  std::iota(shuffled.begin(), shuffled.end(), 0);
  std::shuffle(shuffled.begin() + 1, shuffled.end(), std::mt19937_64(99));
  s.add({.name = "click", .kind = data::feature_kind::label});
  data::dataset ds(s);
  std::array<std::vector<index_t>, 3> part;
  for (const auto& r : rows) {
    const auto u = static_cast<std::size_t>(r.user);
    const index_t v = shuffled[u];
    const std::array<index_t, 9> sp{r.user, r.item, gender[u], occ[u], std::min<index_t>(age[u] / 10, 10), bank.code(r.user, 0), bank.code(r.user, 1),
                                    bank.code(v, 0), bank.code(v, 1)};
    const std::array<double, 1> lab{r.rating > 3 ? 1.0 : 0.0};
    part[static_cast<std::size_t>(r.split)].push_back(ds.rows());
    ds.append(sp, {}, 0, lab);
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> configs{
      {"ids", {"user_id", "item_id"}},
      {"ids + demographics", {"user_id", "item_id", "gender", "occupation", "age_decade"}},
      {"ids + UserIP codes", {"user_id", "item_id", "hobby_id", "background_id"}},
      {"ids + both", {"user_id", "item_id", "gender", "occupation", "age_decade", "hobby_id", "background_id"}},
      {"ids + shuffled codes", {"user_id", "item_id", "shuffled_hobby_id", "shuffled_background_id"}}};
  auto predict = [&](const models::dcn<float>& m, const std::vector<index_t>& idx, std::vector<double>& y, std::vector<double>& p) {
    y.clear(), p.clear();
    data::batch<float> b;
    for (std::size_t k = 0; k < idx.size(); k += 4096) {
      const std::size_t e = std::min(idx.size(), k + 4096);
      ds.gather(std::span<const index_t>(idx.data() + k, e - k), b);
      tape<float> t(tape_mode::infer);
      const matrix<float> z = m(t, b).value();
      for (index_t i = 0; i < b.size; ++i) y.push_back(b.labels(i, 0)), p.push_back(1.0 / (1.0 + std::exp(-double(z(i, 0)))));
    }
  };
  auto run_ctr = [&](const std::vector<std::string>& fields, int seed) {
    rng g(static_cast<std::uint64_t>(seed));
    models::dcn_options o;
    o.embedding.fields = fields;
    models::dcn<float> m(s, o, g);
    optim::adam<float> opt(nn::parameters(m), {.learning_rate = 1e-3});
    std::vector<index_t> order = part[0];
    std::mt19937_64 sh(static_cast<std::uint64_t>(seed) * 7919);
    ctr_result best;
    best.valid_auc = -1;
    int since = 0;
    std::vector<double> y, p;
    data::batch<float> b;
    for (int ep = 0; ep < a.ctr_epochs; ++ep) {
      std::shuffle(order.begin(), order.end(), sh);
      for (std::size_t k = 0; k < order.size(); k += 256) {
        const std::size_t e = std::min(order.size(), k + 256);
        ds.gather(std::span<const index_t>(order.data() + k, e - k), b);
        tape<float> t(tape_mode::train, static_cast<std::uint64_t>(seed) * 1000003ull + std::uint64_t(ep) * 100003ull + k);
        opt.zero_grad();
        t.backward(loss::bce_with_logits(t, m(t, b), t.view(b.labels.data(), b.size, 1)));
        opt.step();
      }
      predict(m, part[1], y, p);
      const double va = eval::auc(y, p);
      if (va > best.valid_auc) {
        best.valid_auc = va, best.best_epoch = ep + 1, since = 0;
        predict(m, part[2], y, p);
        best.auc = eval::auc(y, p);
        best.logloss = eval::log_loss(y, p);
      } else if (++since >= 2) break;  // early stop: 2 epochs without a better validation AUC
    }
    return best;
  };
  const auto t_ctr = clk::now();
  std::vector<std::vector<ctr_result>> res(configs.size());
  for (int sd = 1; sd <= a.seeds; ++sd)
    for (std::size_t c = 0; c < configs.size(); ++c) {
      res[c].push_back(run_ctr(configs[c].second, sd));
      if (!a.quiet)
        std::cout << "seed " << sd << " " << configs[c].first << ": test AUC " << res[c].back().auc << ", log loss " << res[c].back().logloss
                  << " (best valid epoch " << res[c].back().best_epoch << ")\n";
    }
  auto mean_sd = [](const std::vector<double>& v) {
    double m = 0, q = 0;
    for (double x : v) m += x;
    m /= double(v.size());
    for (double x : v) q += (x - m) * (x - m);
    return std::pair<double, double>{m, v.size() > 1 ? std::sqrt(q / double(v.size() - 1)) : 0.0};
  };
  std::printf("\nDCN on MovieLens-100K CTR (rating > 3), test split, %d seed(s); paired differences vs ids\n", a.seeds);
  std::printf("%-22s %-17s %-17s %-22s %-22s\n", "features", "AUC", "log loss", "dAUC vs ids", "dlogloss vs ids");
  nlohmann::json table = nlohmann::json::array();
  for (std::size_t c = 0; c < configs.size(); ++c) {
    std::vector<double> au, ll, da, dl;
    int wins = 0;
    for (int sd = 0; sd < a.seeds; ++sd) {
      au.push_back(res[c][sd].auc), ll.push_back(res[c][sd].logloss);
      da.push_back(res[c][sd].auc - res[0][sd].auc), dl.push_back(res[c][sd].logloss - res[0][sd].logloss);
      wins += da.back() > 0;
    }
    const auto [am, as] = mean_sd(au);
    const auto [lm_, ls] = mean_sd(ll);
    const auto [dam, das] = mean_sd(da);
    const auto [dlm, dls] = mean_sd(dl);
    std::printf("%-22s %.4f +- %.4f  %.4f +- %.4f  %+.4f +- %.4f (%d/%d)  %+.4f +- %.4f\n", configs[c].first.c_str(), am, as, lm_, ls, dam, das, wins,
                a.seeds, dlm, dls);
    table.push_back({{"features", configs[c].first}, {"auc", au}, {"logloss", ll}, {"auc_mean", am}, {"auc_sd", as}, {"logloss_mean", lm_},
                     {"logloss_sd", ls}, {"dauc_mean", dam}, {"dauc_sd", das}, {"dauc_wins", wins}, {"dlogloss_mean", dlm}, {"dlogloss_sd", dls}});
  }
  report["ctr"] = table;
  report["ctr_seconds"] = secs(t_ctr);
  report["total_seconds"] = secs(t_all);
  std::printf("LM pre-training %.1f s, prompt tuning %.1f s (%.3f s per user), CTR %.1f s, total %.1f s\n", lm_secs, pt_secs,
              n_trained ? pt_secs / double(n_trained) : 0.0, secs(t_ctr), secs(t_all));
  if (!a.json.empty()) std::ofstream(a.json) << report.dump(2) << "\n";
  return 0;
}
