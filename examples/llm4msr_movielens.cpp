// llm4msr_movielens: LLM4MSR (issue 14, papers.md section 7) on MovieLens-100K with the age-group
// scenarios. Knowledge vectors from a frozen LLM (scenario- and user-level prompts built from the
// TRAINING split) feed `models::llm4msr<Backbone>`; each backbone is trained with and without it.
//
//   llm4msr_movielens [--data-dir DIR] [--backbones shared_bottom,mmoe,ple,star] [--variants plain,both,...]
//                     [--seeds N] [--epochs E] [--patience P] [--batch-size B] [--lr X] [--rows N]
//                     [--out results.csv] [--quiet]
//                     [--live [--live-seconds S] [--answer-users N]]   recompute the knowledge caches (resumable;
//                                                      S bounds the hidden-state recording's wall time)
//
// Variants: plain (the backbone alone), both (user + scenario meta layers, hidden-state vectors),
// user (user level only), scenario (scenario level only), answer (both levels, sentence-encoder
// vectors of the LLM's generated answers), random (both levels, Gaussian vectors of the hidden-state
// shape and mean row norm: the control for "knowledge or just parameters").
//
// Knowledge: offline (default) the shipped caches examples/data/llm4msr_movielens_{hidden,answer}.kv
// are loaded and refused unless model, source, prompt version and the hash of the prompts (= of the
// training split) match. --live recomputes them: the hidden state through $RECBLOCKS_LLM_HIDDEN_URL
// (/v1/embeddings: last hidden state, last-token pooling), the answers through $RECBLOCKS_LLM_URL
// (JSON schema, temperature 0, one re-ask on an unusable answer) encoded with all-MiniLM-L6-v2.
// Users without a vector (cold start) get the cache's fallback (the mean vector), counted and printed.
//
// Split: the recipe's random 8:1:1 with seed 2022 for every run (the prompts depend on the training
// split); seed k varies the initialisation and batch order (2022 + k). --rows N keeps the first N
// training rows (the ctest run). Early stopping on validation AUC, best epoch restored (train::trainer).
// Exit: 0 done, 1 error, 2 bad flags, 77 skipped (MovieLens-100K not installed).
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
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <recblocks/data/movielens.hpp>
#include <recblocks/eval/auc.hpp>
#include <recblocks/io/knowledge_cache.hpp>
#include <recblocks/llm/knowledge_prompts.hpp>
#include <recblocks/models/llm4msr.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/ple.hpp>
#include <recblocks/models/shared_bottom.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/train.hpp>
#if defined(RECBLOCKS_HAVE_CURL)
#include <recblocks/llm/http_client.hpp>
#endif
#if defined(RECBLOCKS_HAVE_TEXT)
#include <recblocks/text/sentence_encoder.hpp>
#endif

#include "common.hpp"

using namespace recblocks;
using namespace recblocks_examples;
namespace fs = std::filesystem;

namespace {

constexpr const char* recorded_model = "gemma-3-270m-q4_k_m";  // the LLM the shipped caches were computed with
constexpr const char* answer_encoder = "all-MiniLM-L6-v2";
const std::vector<std::string> scenario_names = {"age under 25", "age 25-34", "age 35 and over"};

struct args {
  std::string data_dir, out;
  std::vector<std::string> backbones{"shared_bottom", "mmoe", "ple", "star"};
  std::vector<std::string> variants{"plain", "both"};
  index_t seeds = 1, epochs = 30, patience = 4, batch_size = 512, rows = 0, answer_users = 943;
  double lr = 1e-3, live_seconds = 1e9;
  bool live = false, quiet = false;
};

std::string hex64(std::uint64_t h) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

// ---- knowledge: facts from the training split, prompts ------------------------------------------

struct prompts_t {
  std::vector<std::string> keys, texts;  // "scenario:<s>" (3) then "user:<raw id>" (every user with training rows)
  std::string data_hash;
};

prompts_t build_prompts(const std::string& dir, const data::csv_dataset& enc, const data::dataset& train) {
  const auto genre_names = [&] {
    std::vector<std::string> g;
    const data::csv_reader r(data::read_file(dir + "/u.genre"), {.delimiter = '|', .quote = '\0', .header = false});
    for (index_t i = 0; i < r.rows(); ++i)
      if (!r.cell(i, 0).empty()) g.emplace_back(r.cell(i, 0));
    return g;
  }();
  std::map<std::string, std::string> title;  // raw movie id -> title
  {
    const data::csv_reader r(data::latin1_to_utf8(data::read_file(dir + "/u.item")), {.delimiter = '|', .quote = '\0', .header = false});
    for (index_t i = 0; i < r.rows(); ++i) title[std::string(r.cell(i, 0))] = std::string(r.cell(i, 1));
  }
  std::map<std::string, std::array<std::string, 3>> who;  // raw user id -> age, gender, occupation
  {
    const data::csv_reader r(data::read_file(dir + "/u.user"), {.delimiter = '|', .quote = '\0', .header = false});
    for (index_t i = 0; i < r.rows(); ++i)
      who[std::string(r.cell(i, 0))] = {std::string(r.cell(i, 1)), std::string(r.cell(i, 2)), std::string(r.cell(i, 3))};
  }
  const data::schema& s = train.get_schema();
  const auto users = train.sparse_column(s.index_of("user_id"));
  const auto movies = train.sparse_column(s.index_of("movie_id"));
  const auto genres = train.sparse_column(s.index_of("genre"));
  const auto labels = train.label_column(0);
  const auto scen = train.scenario_column();
  const auto& ue = enc.encoder("user_id");
  const auto& me = enc.encoder("movie_id");
  const auto& ge = enc.encoder("genre");
  auto genre_of = [&](index_t g) {
    const std::string& raw = ge.inverse(g);
    if (raw.empty() || raw == "none") return std::string("unknown");
    const auto k = static_cast<std::size_t>(std::stoi(raw));
    return k < genre_names.size() ? genre_names[k] : std::string("unknown");
  };
  struct acc {
    long n = 0, pos = 0;
    std::map<std::string, long> liked, disliked;
    std::vector<std::string> titles;
    index_t scenario = -1;
  };
  std::map<index_t, acc> per_user;
  std::vector<acc> per_scen(3);
  std::vector<std::set<index_t>> scen_users(3);
  for (index_t r = 0; r < train.rows(); ++r) {
    const auto k = static_cast<std::size_t>(r);
    acc& a = per_user[users[k]];
    const bool y = labels[k] > 0.5;
    const std::string g = genre_of(genres[k]);
    a.n++;
    a.pos += y;
    a.scenario = scen[k];
    (y ? a.liked : a.disliked)[g]++;
    if (y && a.titles.size() < 3) a.titles.push_back(title[me.inverse(movies[k])]);
    acc& sa = per_scen[static_cast<std::size_t>(scen[k])];
    sa.n++;
    sa.pos += y;
    if (y) sa.liked[g]++;
    scen_users[static_cast<std::size_t>(scen[k])].insert(users[k]);
  }
  auto top = [](const std::map<std::string, long>& m, std::size_t k) {
    std::vector<std::pair<long, std::string>> v;
    for (const auto& [g, c] : m) v.emplace_back(-c, g);
    std::sort(v.begin(), v.end());
    std::string out;
    for (std::size_t i = 0; i < std::min(k, v.size()); ++i) out += (i ? ", " : "") + v[i].second;
    return out.empty() ? std::string("none") : out;
  };
  const std::string domain = "MovieLens movie ratings";
  const std::vector<std::string> who_s = {"users younger than 25", "users aged 25 to 34", "users aged 35 or older"};
  prompts_t p;
  long total_pos = 0, total_n = 0;
  for (const auto& a : per_scen) total_pos += a.pos, total_n += a.n;
  for (std::size_t d = 0; d < 3; ++d) {
    const acc& a = per_scen[d];
    const long rate = a.n ? 100 * a.pos / a.n : 0, all = total_n ? 100 * total_pos / total_n : 0;
    const std::string rel = "They give " + std::to_string(a.n * 100 / std::max<long>(total_n, 1)) + "% of all ratings and like " +
                            (rate > all ? "more" : rate < all ? "fewer" : "as many") + " movies than the average user (" +
                            std::to_string(all) + "%).";
    p.keys.push_back("scenario:" + std::to_string(d));
    p.texts.push_back(llm::knowledge_prompts::scenario({.domain = domain, .scenario = scenario_names[d], .who = who_s[d],
                                                        .users = static_cast<long>(scen_users[d].size()), .ratings = a.n,
                                                        .like_rate = rate, .genres = top(a.liked, 4), .relation = rel}));
  }
  for (const auto& [u, a] : per_user) {
    const std::string raw = ue.inverse(u);
    const auto& w = who[raw];
    const std::string profile = "a " + w[0] + "-year-old " + (w[1] == "F" ? "woman" : "man") + ", " + w[2];
    std::string titles;
    for (std::size_t i = 0; i < a.titles.size(); ++i) titles += (i ? "; " : "") + a.titles[i];
    p.keys.push_back("user:" + raw);
    p.texts.push_back(llm::knowledge_prompts::user({.domain = domain, .profile = profile,
                                                    .scenario = scenario_names[static_cast<std::size_t>(a.scenario)],
                                                    .ratings = a.n, .like_rate = a.n ? 100 * a.pos / a.n : 0,
                                                    .liked = top(a.liked, 3), .disliked = top(a.disliked, 2),
                                                    .titles = titles.empty() ? "none" : titles}));
  }
  {  // users in a seeded random order (scenarios stay first): a time-bounded recording covers a random subset
    std::vector<std::size_t> order(p.keys.size() - 3);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i + 3;
    rng g(2022);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<std::size_t>(g.integer(0, static_cast<index_t>(i) - 1))]);
    prompts_t q;
    for (std::size_t i = 0; i < 3; ++i) q.keys.push_back(p.keys[i]), q.texts.push_back(p.texts[i]);
    for (std::size_t i : order) q.keys.push_back(p.keys[i]), q.texts.push_back(p.texts[i]);
    p = std::move(q);
  }
  std::vector<std::string> sorted = p.texts;  // the hash does not depend on the recording order
  std::sort(sorted.begin(), sorted.end());
  std::uint64_t h = 14695981039346656037ull;
  for (const auto& t : sorted)
    for (char c : t + "\n") h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  p.data_hash = hex64(h);
  return p;
}

io::knowledge_identity identity(const std::string& source, const std::string& data_hash, const std::string& model, index_t dim) {
  return {.model = model, .source = source, .prompt_version = llm::knowledge_prompts::version, .data_hash = data_hash, .dim = dim};
}

// ---- live extraction -----------------------------------------------------------------------------

struct extraction_stats {
  long prompts = 0, valid = 0, reasked = 0, unusable = 0, prompt_tokens = 0, completion_tokens = 0;
  double seconds = 0;
};

#if defined(RECBLOCKS_HAVE_CURL)
// Resumable: keys already in the cache at `path` (same identity) are kept; the others are asked in
// chunks of 8 in the order of `p` (scenarios first, then users in a seeded random order) and the cache
// is saved after every chunk, so an interrupted recording keeps what it computed and `max_seconds`
// bounds the wall time (the vectors then cover a stated subset; the rest fall back, counted).
io::knowledge_cache extract_hidden(const prompts_t& p, const std::string& model, const fs::path& path, double max_seconds,
                                   extraction_stats& st) {
  const char* url = std::getenv("RECBLOCKS_LLM_HIDDEN_URL");
  if (!url || !*url) throw value_error("llm4msr_movielens --live: RECBLOCKS_LLM_HIDDEN_URL is not set (eval \"$(tools/llm_server.sh env)\")");
  llm::http_client_options o;
  o.base_url = url;
  o.embedding_batch = 8;
  llm::http_client c(o);
  const auto id = identity("hidden_state", p.data_hash, model, 640);
  io::knowledge_cache cache(id);
  if (fs::exists(path)) {
    try {
      cache = io::knowledge_cache::load(path, id);
      std::fprintf(stderr, "resuming %s: %zu vectors already there\n", path.c_str(), cache.size());
    } catch (const recblocks::error& e) {
      std::fprintf(stderr, "not resuming (%s)\n", e.what());
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < p.keys.size(); ++i)
    if (!cache.contains(p.keys[i])) todo.push_back(i);
  for (std::size_t at = 0; at < todo.size() && elapsed() < max_seconds; at += 8) {
    std::vector<std::string> texts;
    std::vector<std::size_t> which;
    for (std::size_t k = at; k < std::min(todo.size(), at + 8); ++k) which.push_back(todo[k]), texts.push_back(p.texts[todo[k]]);
    const auto v = c.embed(texts);
    for (std::size_t k = 0; k < v.size(); ++k) {
      ++st.prompts;
      st.prompt_tokens += static_cast<long>(llm::estimate_tokens(texts[k]));
      try {
        cache.put(p.keys[which[k]], v[k]);
        ++st.valid;
      } catch (const recblocks::error& e) {  // NaN or wrong dimension: counted, the key falls back
        ++st.unusable;
        std::fprintf(stderr, "hidden state unusable: %s\n", e.what());
      }
    }
    cache.save(path);
    std::fprintf(stderr, "\r%zu / %zu vectors, %.0f s", cache.size(), p.keys.size(), elapsed());
  }
  st.seconds = elapsed();
  std::fprintf(stderr, "\n");
  return cache;
}

std::vector<std::string> generate_answers(const prompts_t& p, std::size_t n, extraction_stats& st) {
  std::vector<std::string> answers(n);
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  const auto t0 = std::chrono::steady_clock::now();
  auto work = [&] {
    llm::http_client c;
    for (std::size_t i; (i = next++) < n;) {
      std::optional<std::string> got;
      bool reasked = false;
      long pt = 0, ct = 0;
      for (int attempt = 0; attempt < 2 && !got; ++attempt) {
        auto req = llm::knowledge_prompts::answer_request(p.texts[i]);
        if (attempt == 1) {
          req.options.temperature = 0.7;
          req.options.seed = 7;
          reasked = true;
        }
        try {
          const auto r = c.chat(req);
          pt += r.usage.prompt_tokens;
          ct += r.usage.completion_tokens;
          got = llm::knowledge_prompts::parse_answer(r.text);
        } catch (const llm::llm_error& e) {
          std::lock_guard lk(mu);
          std::cerr << "answer " << p.keys[i] << ": " << e.what() << "\n";
        }
      }
      std::lock_guard lk(mu);
      ++st.prompts;
      st.prompt_tokens += pt;
      st.completion_tokens += ct;
      if (got) {
        answers[i] = *got;
        ++(reasked ? st.reasked : st.valid);
      } else {
        ++st.unusable;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < 6; ++k) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return answers;
}
#endif

// ---- training ------------------------------------------------------------------------------------

struct run_result {
  std::string backbone, variant;
  index_t seed = 0, epochs = 0;
  double auc = 0, log_loss = 0, seconds = 0;
  double auc_covered = NAN, auc_fallback = NAN;  // test rows whose user has / lacks an LLM vector
  double infer_us = NAN;                         // inference per test row (batch 512, one thread): microseconds
  std::vector<double> scen_auc, scen_ll;
  index_t params = 0;
};

struct knowledge_sets {
  std::map<std::string, std::pair<matrix<float>, matrix<float>>> tables;  // source -> (users, scenarios)
  std::map<std::string, std::string> identity;                               // source -> identity JSON
  std::vector<char> covered;  // per encoded user id: has a hidden-state vector
};

template <class Backbone>
run_result run_one(const std::string& bname, const std::string& variant, index_t seed, const std::array<data::dataset, 3>& parts,
                   const knowledge_sets& k, const args& a) {
  const data::schema& s = parts[0].get_schema();
  train::trainer_options to;
  to.epochs = a.epochs;
  to.batch_size = a.batch_size;
  to.learning_rate = a.lr;
  to.weight_decay = 1e-5;
  to.patience = a.patience;
  to.restore_best = true;
  to.seed = 2022 + static_cast<std::uint64_t>(seed);
  to.threads = 1;
  run_result r;
  r.backbone = bname;
  r.variant = variant;
  r.seed = seed;
  auto finish = [&](auto& model) {
    train::trainer tr(model, to);
    const auto t0 = std::chrono::steady_clock::now();
    const auto fit = tr.fit(parts[0], parts[1]);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.epochs = static_cast<index_t>(fit.history.size());
    const auto rep = tr.evaluate(parts[2]);
    r.auc = rep.overall().auc;
    r.log_loss = rep.overall().log_loss;
    for (index_t d = 0; d < rep.scenarios(); ++d) {
      r.scen_auc.push_back(rep.scenario(d).auc);
      r.scen_ll.push_back(rep.scenario(d).log_loss);
    }
    r.params = static_cast<index_t>(nn::parameter_count(model));
    {
      const auto t1 = std::chrono::steady_clock::now();
      const auto p = tr.predict(parts[2]);
      r.infer_us = 1e6 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() / double(p.size());
      if (k.covered.empty()) return;
      const auto y = parts[2].label_column(0);
      const auto u = parts[2].sparse_column(parts[2].get_schema().index_of("user_id"));
      std::vector<double> yc, pc, yf, pf;
      for (std::size_t i = 0; i < p.size(); ++i) {
        const bool c = k.covered[static_cast<std::size_t>(u[i])] != 0;
        (c ? yc : yf).push_back(y[i]);
        (c ? pc : pf).push_back(double(p[i]));
      }
      if (!yc.empty()) r.auc_covered = eval::auc(yc, pc);
      if (!yf.empty()) r.auc_fallback = eval::auc(yf, pf);
    }
  };
  rng gen(to.seed);
  if (variant == "plain") {
    Backbone m(s, typename Backbone::options_type{}, gen);
    finish(m);
    return r;
  }
  const std::string source = variant == "answer" ? "answer" : variant == "random" ? "random" : "hidden";
  const auto it = k.tables.find(source);
  if (it == k.tables.end()) throw value_error("llm4msr_movielens: no " + source + " knowledge available for variant " + variant);
  typename models::llm4msr<Backbone>::options_type o;
  o.meta.users = it->second.first.rows();
  o.meta.user_dim = it->second.first.cols();
  o.meta.scenario_dim = it->second.second.cols();
  o.meta.user_level = variant != "scenario";
  o.meta.scenario_level = variant != "user";
  o.meta.knowledge = k.identity.at(source);
  models::llm4msr<Backbone> m(s, o, gen);
  m.attach(it->second.first, it->second.second, k.identity.at(source));
  finish(m);
  return r;
}

run_result run_any(const std::string& b, const std::string& v, index_t seed, const std::array<data::dataset, 3>& parts,
                   const knowledge_sets& k, const args& a) {
  if (b == "shared_bottom") return run_one<models::shared_bottom<float>>(b, v, seed, parts, k, a);
  if (b == "mmoe") return run_one<models::mmoe<float>>(b, v, seed, parts, k, a);
  if (b == "ple") return run_one<models::ple<float>>(b, v, seed, parts, k, a);
  if (b == "star") return run_one<models::star<float>>(b, v, seed, parts, k, a);
  throw value_error("llm4msr_movielens: backbone '" + b + "' is not built into this example (shared_bottom, mmoe, ple, star)");
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / double(v.size());
}
double stdev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  command_line cl("llm4msr_movielens",
                  "llm4msr_movielens [--data-dir DIR] [--backbones a,b] [--variants plain,both,user,scenario,answer,random]\n"
                  "                         [--seeds N] [--epochs E] [--patience P] [--batch-size B] [--lr X] [--rows N]\n"
                  "                         [--out results.csv] [--quiet] [--live [--live-seconds S] [--answer-users N]]");
  cl.option("--data-dir", a.data_dir);
  cl.option("--out", a.out);
  cl.option("--backbones", [&](const std::string& v) { a.backbones = split_list(v); });
  cl.option("--variants", [&](const std::string& v) { a.variants = split_list(v); });
  cl.option("--seeds", a.seeds);
  cl.option("--epochs", a.epochs);
  cl.option("--patience", a.patience);
  cl.option("--batch-size", a.batch_size);
  cl.option("--lr", a.lr);
  cl.option("--rows", a.rows);
  cl.option("--answer-users", a.answer_users);
  cl.option("--live-seconds", a.live_seconds);
  cl.flag("--live", a.live);
  cl.flag("--quiet", a.quiet);
  cl.parse(argc, argv);
  for (const auto& v : a.variants)
    if (v != "plain" && v != "both" && v != "user" && v != "scenario" && v != "answer" && v != "random") cl.fail("unknown variant " + v);
  if (a.seeds < 1 || a.epochs < 1 || a.batch_size < 2) cl.fail("--seeds, --epochs must be >= 1, --batch-size >= 2");

  if (a.data_dir.empty()) {
    const char* d = std::getenv("RECBLOCKS_DATA");
    a.data_dir = std::string(d && *d ? d : "../shared/data") + "/movielens-100k";
  }
  if (!fs::exists(fs::path(a.data_dir) / "u.data")) {
    std::cout << "llm4msr_movielens: MovieLens-100K not found in " << a.data_dir << " (set RECBLOCKS_DATA); skipped\n";
    return 77;
  }
  try {
    const data::movielens ml(a.data_dir);
    data::csv_dataset enc(data::movielens::config());
    auto splits = ml.load({0.8, 0.1, 0.1}, 2022, &enc);
    const prompts_t prompts = build_prompts(a.data_dir, enc, splits.train);
    const fs::path dir = RECBLOCKS_EXAMPLES_DIR "/data";
    const fs::path hidden_path = dir / "llm4msr_movielens_hidden.kv", answer_path = dir / "llm4msr_movielens_answer.kv";
    std::printf("LLM4MSR on MovieLens-100K (age-group scenarios): %zu prompts (3 scenario, %zu user) from the training split, "
                "prompt version %s, data hash %s\n",
                prompts.texts.size(), prompts.texts.size() - 3, llm::knowledge_prompts::version, prompts.data_hash.c_str());

    if (a.live) {
#if defined(RECBLOCKS_HAVE_CURL)
      const char* m = std::getenv("RECBLOCKS_LLM_MODEL");
      const std::string model = m && *m ? m : recorded_model;
      extraction_stats hs;
      const auto hidden = extract_hidden(prompts, model, hidden_path, a.live_seconds, hs);
      std::printf("hidden states (%s, %s): this run %ld prompts, %ld valid, %ld unusable, ~%ld prompt tokens (estimate), %.1f s; "
                  "cache now %zu of %zu keys -> %s\n",
                  model.c_str(), std::getenv("RECBLOCKS_LLM_HIDDEN_URL"), hs.prompts, hs.valid, hs.unusable, hs.prompt_tokens,
                  hs.seconds, hidden.size(), prompts.keys.size(), hidden_path.c_str());
#if defined(RECBLOCKS_HAVE_TEXT)
      if (a.answer_users > 0) {
        const std::size_t n = std::min(prompts.texts.size(), static_cast<std::size_t>(a.answer_users) + 3);
        extraction_stats as;
        const auto answers = generate_answers(prompts, n, as);
        const char* home = std::getenv("HOME");
        const fs::path mdir = std::getenv("RECBLOCKS_MODELS") ? fs::path(std::getenv("RECBLOCKS_MODELS"))
                                                               : fs::path(home ? home : ".") / ".cache/recblocks/models";
        auto encoder = text::sentence_encoder<float>::load(mdir / answer_encoder);
        std::vector<std::string> keys, texts;
        for (std::size_t i = 0; i < n; ++i)
          if (!answers[i].empty()) keys.push_back(prompts.keys[i]), texts.push_back(answers[i]);
        const auto t0 = std::chrono::steady_clock::now();
        const auto vecs = encoder.embed(texts);
        const double enc_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        io::knowledge_cache cache(identity("answer_encoder:" + std::string(answer_encoder), prompts.data_hash, model,
                                           static_cast<index_t>(vecs.at(0).size())));
        for (std::size_t i = 0; i < keys.size(); ++i) cache.put(keys[i], vecs[i]);
        cache.save(answer_path);
        nlohmann::json aj = nlohmann::json::object();
        for (std::size_t i = 0; i < keys.size(); ++i) aj[keys[i]] = texts[i];
        std::ofstream(dir / "llm4msr_movielens_answers.json") << aj.dump(1) << "\n";
        std::printf("generated answers (%s, JSON schema, max 64 tokens): %ld prompts, %ld valid first time, %ld valid after a re-ask, "
                    "%ld unusable; %ld prompt + %ld completion tokens; %.1f s; encoded with %s in %.1f s -> %s\n",
                    model.c_str(), as.prompts, as.valid, as.reasked, as.unusable, as.prompt_tokens, as.completion_tokens, as.seconds,
                    answer_encoder, enc_s, answer_path.c_str());
      }
#else
      std::printf("generated-answer path skipped: built without recblocks::text (utf8proc)\n");
#endif
#else
      throw value_error("llm4msr_movielens: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
    }

    // The user table is indexed by the encoded user id; key "user:<raw id>".
    const data::label_encoder& ue = enc.encoder("user_id");
    std::vector<std::string> user_keys(static_cast<std::size_t>(ue.vocabulary()));
    for (index_t e = 0; e < ue.vocabulary(); ++e) user_keys[static_cast<std::size_t>(e)] = "user:" + ue.inverse(e);
    const std::vector<std::string> scen_keys = {"scenario:0", "scenario:1", "scenario:2"};
    knowledge_sets k;
    auto add = [&](const std::string& name, const fs::path& path, const std::string& source, index_t dim) {
      const auto cache = io::knowledge_cache::load(path, identity(source, prompts.data_hash, recorded_model, dim));
      auto users = cache.table<float>(user_keys);
      auto scen = cache.table<float>(scen_keys);
      if (scen.missing > 0) throw value_error("llm4msr_movielens: " + path.string() + " lacks a scenario vector");
      std::printf("knowledge '%s': %s, %zu vectors of %lld, users without a vector (fallback = mean vector): %lld of %lld "
                  "(the encoder's unknown id 0 among them)\n",
                  name.c_str(), path.filename().c_str(), cache.size(), static_cast<long long>(dim), static_cast<long long>(users.missing),
                  static_cast<long long>(user_keys.size()));
      if (name == "hidden") {
        k.covered.assign(user_keys.size(), 0);
        for (std::size_t e = 0; e < user_keys.size(); ++e) k.covered[e] = cache.contains(user_keys[e]) ? 1 : 0;
      }
      k.tables[name] = {std::move(users.values), std::move(scen.values)};
      k.identity[name] = cache.identity().to_string();
    };
    bool need_hidden = false, need_answer = false;
    for (const auto& v : a.variants) {
      need_hidden = need_hidden || v == "both" || v == "user" || v == "scenario" || v == "random";
      need_answer = need_answer || v == "answer";
    }
    if (need_hidden) add("hidden", hidden_path, "hidden_state", 640);
    if (need_answer) add("answer", answer_path, "answer_encoder:" + std::string(answer_encoder), 384);
    if (std::find(a.variants.begin(), a.variants.end(), "random") != a.variants.end()) {
      const auto& [hu, hs] = k.tables.at("hidden");
      const double norm = hu.rowwise().norm().mean();
      rng g(99);
      auto gauss = [&](index_t r, index_t c) {
        matrix<float> m(r, c);
        for (index_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(g.normal(0.0, 1.0));
        for (index_t i = 0; i < r; ++i) m.row(i) *= static_cast<float>(norm / std::max(1e-12, double(m.row(i).norm())));
        return m;
      };
      k.tables["random"] = {gauss(hu.rows(), hu.cols()), gauss(hs.rows(), hs.cols())};
      k.identity["random"] = "{\"source\":\"random\",\"seed\":99}";
    }

    std::array<data::dataset, 3> parts{splits.train, splits.validation, splits.test};
    if (a.rows > 0 && a.rows < parts[0].rows()) {
      std::vector<index_t> keep(static_cast<std::size_t>(a.rows));
      for (index_t i = 0; i < a.rows; ++i) keep[static_cast<std::size_t>(i)] = i;
      parts[0] = parts[0].subset(keep);
    }
    std::vector<run_result> runs;
    std::ofstream csv;
    if (!a.out.empty()) {
      csv.open(a.out);
      csv << "backbone,variant,seed,auc,log_loss,auc_s0,auc_s1,auc_s2,ll_s0,ll_s1,ll_s2,epochs,seconds,params,auc_covered,auc_fallback,infer_us_per_row\n";
    }
    for (const auto& b : a.backbones)
      for (index_t seed = 0; seed < a.seeds; ++seed)
        for (const auto& v : a.variants) {
          run_result r = run_any(b, v, seed, parts, k, a);
          if (!a.quiet)
            std::fprintf(stderr, "%s %s seed %lld: AUC %.4f log loss %.4f (%lld epochs, %.1f s)\n", b.c_str(), v.c_str(),
                         static_cast<long long>(seed), r.auc, r.log_loss, static_cast<long long>(r.epochs), r.seconds);
          if (csv.is_open()) {
            csv << b << ',' << v << ',' << seed << ',' << r.auc << ',' << r.log_loss;
            for (double x : r.scen_auc) csv << ',' << x;
            for (double x : r.scen_ll) csv << ',' << x;
            csv << ',' << r.epochs << ',' << r.seconds << ',' << r.params << ',' << r.auc_covered << ',' << r.auc_fallback << ',' << r.infer_us << "\n";
            csv.flush();
          }
          runs.push_back(std::move(r));
        }

    std::printf("\n| backbone | variant | AUC | log loss | AUC <25 | AUC 25-34 | AUC >=35 | dAUC vs plain (paired) | wins | dLogLoss (paired) | epochs | params |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& b : a.backbones)
      for (const auto& v : a.variants) {
        std::vector<double> auc, ll, s0, s1, s2, dauc, dll, ep;
        double params = 0;
        int wins = 0;
        for (const auto& r : runs) {
          if (r.backbone != b || r.variant != v) continue;
          auc.push_back(r.auc), ll.push_back(r.log_loss), ep.push_back(double(r.epochs));
          s0.push_back(r.scen_auc[0]), s1.push_back(r.scen_auc[1]), s2.push_back(r.scen_auc[2]);
          params = double(r.params);
          for (const auto& p : runs)
            if (p.backbone == b && p.variant == "plain" && p.seed == r.seed && v != "plain") {
              dauc.push_back(r.auc - p.auc), dll.push_back(r.log_loss - p.log_loss);
              wins += r.auc > p.auc;
            }
        }
        std::printf("| %s | %s | %.4f ± %.4f | %.4f ± %.4f | %.4f | %.4f | %.4f |", b.c_str(), v.c_str(), mean(auc), stdev(auc), mean(ll),
                    stdev(ll), mean(s0), mean(s1), mean(s2));
        if (dauc.empty())
          std::printf(" — | — | — |");
        else
          std::printf(" %+.4f ± %.4f | %d/%zu | %+.4f ± %.4f |", mean(dauc), stdev(dauc), wins, dauc.size(), mean(dll), stdev(dll));
        std::printf(" %.1f | %.0f |\n", mean(ep), params);
      }
    std::printf("\nKnowledge from %s (shipped caches; --live recomputes). Seeds: %lld (init/batch order 2022+k), split seed 2022.\n",
                recorded_model, static_cast<long long>(a.seeds));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "llm4msr_movielens: " << e.what() << "\n";
    return 1;
  }
}
