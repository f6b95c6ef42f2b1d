// chat_recommender: issue 20's conversational recommender agent over MovieLens-100K, measured against
// a rule-based simulated user (agents/simulated_user.hpp), and a terminal chat.
//
// Each simulated user is a real MovieLens user whose last rated movie (by time) is the hidden target;
// GMF (models/gmf.hpp) is trained on every other rating. In an earlier session the user told the
// agent the decade they watch (stored in the agent's long-term memory, never repeated); the measured
// session opens with the target's first genre and then gives one hint per turn (second genre, a title
// word, the first title word). Success: the target is among the k = 5 movies of a turn, within 5
// turns. Conditions:
//   classical chain        no LLM: search_catalogue(query = the session's messages + recalled memories)
//                          -> score_for_user (GMF) -> rerank_diverse (MMR), keyword critic, memory
//   classical search only  the same without scoring and reranking
//   classical, no memory / no reflection
//   LLM agent (full)       the LLM names each tool call (structured output over toolbox::call_schema(),
//                          constrained decoding, validated, one re-ask), LLM critic, memory
//   LLM agent, no memory / no reflection / LLM alone (no tools: it names 5 titles, resolved by title)
// The classical rows run on all --users users; the LLM rows, per model (--llm instruct: SmolLM2 135M
// Instruct; --llm base: Gemma 3 270M base; replay default: both), on the first users of the sample,
// from answers recorded once with the local servers and shipped
// (examples/data/chat_recommender_<model>[_native].records.jsonl.gz + .sample.json; --tool-mode native
// replays the 2-user native tool-call trial).
//
// Usage: chat_recommender [--data DIR] [--models DIR] [--users N] [--llm-users N] [--epochs N]
//                         [--llm instruct|base|all] [--tool-mode structured|native]
//                         [--live] [--resume] [--threads T] [--records FILE] [--no-llm] [--show N]
//        chat_recommender --chat [--live] [--llm M] [--user ID]   terminal chat (the LLM agent with
//                                                                 --live, else the classical chain)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "recblocks/agents.hpp"
#include "recblocks/data/csv_reader.hpp"
#include "recblocks/llm/recorded_client.hpp"
#include "recblocks/llm/scripted_client.hpp"
#include "recblocks/models/gmf.hpp"
#include "recblocks/optim/adam.hpp"
#include "recblocks/text/sentence_encoder.hpp"
#if defined(RECBLOCKS_HAVE_CURL)
#include "recblocks/llm/http_client.hpp"
#endif

#ifndef RECBLOCKS_EXAMPLES_DIR
#define RECBLOCKS_EXAMPLES_DIR "examples"
#endif

namespace fs = std::filesystem;
namespace ag = recblocks::agents;
namespace llm = recblocks::llm;
namespace rd = recblocks::data;
using recblocks::index_t;

namespace {

// prompt version 2: the plan prompt puts the constant task and tool list first (prefix cache)
constexpr const char* prompt_version = "chat_recommender/2";

// The models the LLM rows can be asked of (tools/llm_server.sh env): `key` names the records file
// (examples/data/chat_recommender_<key>[_native].records.jsonl.gz) and `--llm`.
struct llm_model {
  std::string key, name, url_env, model_env, sha_env, note;
};
const llm_model llm_models[] = {
    {"instruct", "smollm2-135m-instruct-q4_1", "RECBLOCKS_LLM_INSTRUCT_URL", "RECBLOCKS_LLM_INSTRUCT_MODEL",
     "RECBLOCKS_LLM_INSTRUCT_SHA256", "SmolLM2 135M Instruct Q4_1, llama-server --jinja"},
    {"base", "gemma-3-270m-q4_k_m", "RECBLOCKS_LLM_URL", "RECBLOCKS_LLM_MODEL", "RECBLOCKS_LLM_MODEL_SHA256",
     "Gemma 3 270M base Q4_K_M, llama-server --no-jinja"},
};
constexpr index_t n_genres = 19;
const char* genre_names[n_genres] = {"unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                                     "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                                     "Romance", "Sci-Fi", "Thriller", "War", "Western"};

struct movie {
  std::string title;
  std::vector<std::string> genres;
  int year = 0;
};

std::string lower_alnum(const std::string& s) {
  std::string o;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) o += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What one simulated conversation cost and gave.
struct conversation {
  bool success = false;
  int turns = 0;
  long tokens = 0, llm_calls = 0, tool_calls = 0, failed_calls = 0, invalid_steps = 0, repaired_steps = 0, steps = 0,
       step_bounds = 0, reflection_rounds = 0, flagged = 0, unresolved = 0, critic_calls = 0, critic_invalid = 0,
       critic_repaired = 0, empty_results = 0;
  long user_messages = 0, user_invalid = 0, user_repaired = 0, user_leaks = 0, user_tokens = 0;  // llm_simulated_user
  std::map<std::string, long> tool_use;  // tool calls by tool name
};

struct condition {
  std::string name;
  bool llm = false, memory = true, reflection = true, tools = true, chain = true;
  bool llm_user = false;  // the user's messages written by a model (llm_simulated_user), not the rules
};

struct row {
  long users = 0, successes = 0, turns_to_success = 0, tokens = 0, llm_calls = 0, tool_calls = 0, failed_calls = 0,
       invalid_steps = 0, repaired_steps = 0, steps = 0, step_bounds = 0, reflection_rounds = 0, flagged = 0,
       unresolved = 0, critic_calls = 0, critic_invalid = 0, critic_repaired = 0, empty_results = 0, user_messages = 0,
       user_invalid = 0, user_repaired = 0, user_leaks = 0, user_tokens = 0;
  std::map<std::string, long> tool_use;
  bool llm = false;
  std::vector<int> success_of;  // per user, in sample order
  std::vector<int> turns_of;    // per user: turns to success, or max_turns + 1 when not found
  void add(const conversation& c, int max_turns) {
    ++users;
    successes += c.success;
    if (c.success) turns_to_success += c.turns;
    success_of.push_back(c.success);
    turns_of.push_back(c.success ? c.turns : max_turns + 1);
    tokens += c.tokens;
    llm_calls += c.llm_calls;
    tool_calls += c.tool_calls;
    failed_calls += c.failed_calls;
    invalid_steps += c.invalid_steps;
    repaired_steps += c.repaired_steps;
    critic_calls += c.critic_calls;
    critic_invalid += c.critic_invalid;
    critic_repaired += c.critic_repaired;
    empty_results += c.empty_results;
    user_messages += c.user_messages;
    user_invalid += c.user_invalid;
    user_repaired += c.user_repaired;
    user_leaks += c.user_leaks;
    user_tokens += c.user_tokens;
    for (const auto& [name, n] : c.tool_use) tool_use[name] += n;
    steps += c.steps;
    step_bounds += c.step_bounds;
    reflection_rounds += c.reflection_rounds;
    flagged += c.flagged;
    unresolved += c.unresolved;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string data = std::getenv("RECBLOCKS_DATA") ? std::getenv("RECBLOCKS_DATA") : "";
  const char* cache_env = std::getenv("RECBLOCKS_CACHE");
  const char* home = std::getenv("HOME");
  std::string models = std::getenv("RECBLOCKS_MODELS") ? std::getenv("RECBLOCKS_MODELS")
                       : cache_env && *cache_env      ? std::string(cache_env) + "/models"
                                                      : std::string(home ? home : ".") + "/.cache/recblocks/models";
  std::string records, sample_file;   // default: examples/data/chat_recommender_<model>[_native].{records.jsonl.gz,sample.json}
  std::string llm_choice;             // --llm instruct | base | all (default: all in replay, instruct with --live / --chat)
  std::string tool_mode_name = "structured";
  double budget = 1200, timeout = 900;  // --live: seconds of recording; users are recorded whole, one after another
  index_t n_users = 100, llm_users = -1, sim_users = -1, epochs = 2, threads = 1, show = 0, max_turns = 5, chat_user = 1;
  bool live = false, resume = false, no_llm = false, chat = false;
  recblocks_examples::command_line cl(
      "chat_recommender",
      "chat_recommender [--data DIR] [--models DIR] [--users N] [--llm-users N] [--epochs N] [--turns N] [--live] "
      "[--resume] [--threads T] [--llm instruct|base|all] [--tool-mode structured|native] [--records FILE] "
      "[--sample-file FILE] [--budget S] [--timeout S] [--no-llm] [--show N] | --chat [--live] [--llm M] [--user ID]");
  cl.option("--data", data);
  cl.option("--llm", llm_choice);
  cl.option("--tool-mode", tool_mode_name);
  cl.option("--models", models);
  cl.option("--records", records);
  cl.option("--sample-file", sample_file);
  cl.option("--users", n_users);
  cl.option("--llm-users", llm_users);
  cl.option("--sim-users", sim_users);
  cl.option("--epochs", epochs);
  cl.option("--threads", threads);
  cl.option("--budget", budget);
  cl.option("--timeout", timeout);
  cl.option("--show", show);
  cl.option("--turns", max_turns);
  cl.option("--user", chat_user);
  cl.flag("--live", live);
  cl.flag("--resume", resume);
  cl.flag("--no-llm", no_llm);
  cl.flag("--chat", chat);
  cl.parse(argc, argv);
  if (n_users < 1 || epochs < 1 || threads < 1 || max_turns < 1 || show < 0)
    cl.fail("--users, --epochs, --threads and --turns must be >= 1, --show >= 0");
  if (tool_mode_name != "structured" && tool_mode_name != "native") cl.fail("--tool-mode must be structured or native");
  const ag::tool_call_mode tool_mode = tool_mode_name == "native" ? ag::tool_call_mode::native : ag::tool_call_mode::structured;
  if (llm_choice.empty()) llm_choice = live || chat ? "instruct" : "all";
  std::vector<const llm_model*> chosen;
  for (const auto& m : llm_models)
    if (llm_choice == "all" || llm_choice == m.key) chosen.push_back(&m);
  if (chosen.empty() || (llm_choice == "all" && (live || chat))) cl.fail("--llm must be instruct or base (or all, in replay)");
  if (chosen.size() > 1 && (!records.empty() || !sample_file.empty())) cl.fail("--records and --sample-file need one --llm model");
  const std::string mode_suffix = tool_mode == ag::tool_call_mode::native ? "_native" : "";
  auto records_of = [&](const llm_model& m) {
    return !records.empty() ? records
                            : std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/chat_recommender_" + m.key + mode_suffix + ".records.jsonl.gz";
  };
  auto sample_of = [&](const llm_model& m) {
    return !sample_file.empty() ? sample_file
                                : std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/chat_recommender_" + m.key + mode_suffix + ".sample.json";
  };
  auto http_options_of = [&](const llm_model& m) {
    auto env = [](const std::string& n) { const char* v = std::getenv(n.c_str()); return v ? std::string(v) : std::string(); };
#if defined(RECBLOCKS_HAVE_CURL)
    llm::http_client_options ho;
    ho.base_url = env(m.url_env);
    ho.model = env(m.model_env);
    if (ho.base_url.empty()) throw recblocks::value_error("chat_recommender: " + m.url_env + " is not set (eval \"$(tools/llm_server.sh env)\")");
    return ho;
#else
    (void)env;
    throw recblocks::value_error("chat_recommender: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
  };
  auto meta_of = [&](const llm_model& m) {
    llm::record_meta meta = llm::record_meta::from_env(prompt_version);
    const char* sha = std::getenv(m.sha_env.c_str());
    meta.model = m.name;
    meta.model_sha256 = sha ? sha : "";
    meta.server = meta.server + " (" + m.note + (tool_mode == ag::tool_call_mode::native ? "; native tool calls" : "") + ")";
    return meta;
  };

  const std::string dir = data + "/movielens-100k";
  if (data.empty() || !fs::exists(dir + "/u.data")) {
    std::cout << "skipped: MovieLens-100K not found at " << (data.empty() ? std::string("$RECBLOCKS_DATA (unset)") : dir) << "\n";
    return recblocks_examples::skip_exit_code;
  }
  const fs::path model_dir = fs::path(models) / "all-MiniLM-L6-v2";
  if (!fs::exists(model_dir / "model.safetensors")) {
    std::cout << "skipped: all-MiniLM-L6-v2 not installed under " << models << " (run tools/install_models.sh)\n";
    return recblocks_examples::skip_exit_code;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  // ---- data -----------------------------------------------------------------------------------------
  const rd::csv_options bar{.delimiter = '|', .quote = '\0', .header = false};
  const rd::csv_reader items_csv(rd::latin1_to_utf8(rd::read_file(dir + "/u.item")), bar, dir + "/u.item");
  const rd::csv_reader data_csv(rd::read_file(dir + "/u.data"), {.delimiter = '\t', .quote = '\0', .header = false}, dir + "/u.data");
  const index_t n_items = items_csv.rows();
  std::vector<movie> movies(static_cast<std::size_t>(n_items));
  index_t n_all_users = 0;
  for (index_t r = 0; r < n_items; ++r) {
    movie& m = movies[static_cast<std::size_t>(items_csv.integer(r, 0) - 1)];
    std::string title(items_csv.cell(r, 1));
    if (title.size() > 7 && title.back() == ')' && title[title.size() - 6] == '(') title = title.substr(0, title.size() - 7);
    m.title = title;
    const std::string date(items_csv.cell(r, 2));
    m.year = date.size() >= 4 ? std::atoi(date.substr(date.size() - 4).c_str()) : 0;
    for (index_t g = 1; g < n_genres; ++g)
      if (items_csv.binary(r, 5 + g) == 1.0) m.genres.push_back(genre_names[g]);
  }
  struct event { long ts; index_t item; };
  std::vector<std::vector<event>> events;
  for (index_t r = 0; r < data_csv.rows(); ++r) {
    const index_t u = data_csv.integer(r, 0) - 1;
    if (u >= static_cast<index_t>(events.size())) events.resize(static_cast<std::size_t>(u) + 1);
    events[static_cast<std::size_t>(u)].push_back({static_cast<long>(data_csv.integer(r, 3)), data_csv.integer(r, 1) - 1});
  }
  n_all_users = static_cast<index_t>(events.size());
  std::vector<index_t> target(static_cast<std::size_t>(n_all_users));
  std::vector<std::vector<index_t>> seen(static_cast<std::size_t>(n_all_users));
  std::vector<std::pair<index_t, index_t>> positives;
  for (index_t u = 0; u < n_all_users; ++u) {
    auto& ev = events[static_cast<std::size_t>(u)];
    std::stable_sort(ev.begin(), ev.end(), [](const event& a, const event& b) { return a.ts < b.ts; });
    target[static_cast<std::size_t>(u)] = ev.back().item;
    for (std::size_t k = 0; k + 1 < ev.size(); ++k) positives.push_back({u, ev[k].item});
    for (const auto& e : ev) seen[static_cast<std::size_t>(u)].push_back(e.item);
    std::sort(seen[static_cast<std::size_t>(u)].begin(), seen[static_cast<std::size_t>(u)].end());
  }
  // The fixed sample: users in a seeded Fisher-Yates order (mt19937 is portable), keeping those whose
  // target has a year and a genre.
  std::vector<index_t> order(static_cast<std::size_t>(n_all_users));
  for (index_t u = 0; u < n_all_users; ++u) order[static_cast<std::size_t>(u)] = u;
  std::mt19937 shuffle_gen(20);
  for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[shuffle_gen() % (i + 1)]);
  std::vector<index_t> sample;
  for (index_t u : order) {
    const movie& m = movies[static_cast<std::size_t>(target[static_cast<std::size_t>(u)])];
    if (m.year > 0 && !m.genres.empty()) sample.push_back(u);
    if (static_cast<index_t>(sample.size()) == n_users) break;
  }

  // ---- the CTR model (GMF) and the catalogue search (MiniLM + HNSW) ----------------------------------
  recblocks::rng gen(2024);
  recblocks::models::gmf<float> gmf({.users = n_all_users, .items = n_items, .dim = 32, .init_std = 0.01}, gen);
  recblocks::optim::adam<float> opt(recblocks::nn::parameters(gmf), {.learning_rate = 2e-3});
  for (index_t e = 0; e < epochs; ++e) gmf.train_epoch(positives, seen, opt, gen, {.negatives = 4, .batch_size = 256});
  const double t_gmf = seconds();
  auto encoder = recblocks::text::sentence_encoder<float>::load(model_dir);
  encoder.set_threads(2);  // the catalogue is embedded once, in batches over two threads
  auto describe = [&](index_t i) {
    const movie& m = movies[static_cast<std::size_t>(i)];
    std::string g;
    for (const auto& x : m.genres) g += (g.empty() ? "" : ", ") + x;
    return m.title + " (" + std::to_string(m.year) + "; " + g + ")";
  };
  std::vector<std::string> texts;
  for (index_t i = 0; i < n_items; ++i) texts.push_back(describe(i));
  const ag::catalogue_search search(texts, [&](std::span<const std::string> t) { return encoder.embed(t); });
  const double t_index = seconds() - t_gmf;
  std::map<std::string, index_t> by_title;
  for (index_t i = n_items - 1; i >= 0; --i) {
    std::string t = movies[static_cast<std::size_t>(i)].title;
    by_title[lower_alnum(t)] = i;
    if (t.size() > 5 && t.substr(t.size() - 5) == ", The") by_title[lower_alnum("The " + t.substr(0, t.size() - 5))] = i;
  }
  auto resolve = [&](const std::string& t) -> std::optional<index_t> {
    auto it = by_title.find(lower_alnum(t));
    if (it == by_title.end()) return std::nullopt;
    return it->second;
  };
  auto score = [&](const std::string& user, std::span<const index_t> items) {
    const index_t u = std::stoll(user.substr(1)) - 1;  // "u<MovieLens id>"
    const recblocks::col_vector<float> s = gmf.scores(u);
    std::vector<double> out;
    for (index_t i : items) out.push_back(1.0 / (1.0 + std::exp(-double(s(i)))));
    return out;
  };
  auto make_tools = [&](bool chain_full) {
    ag::toolbox box;
    box.add(ag::shipped_tools::search(search, 20));
    if (chain_full) {
      box.add(ag::shipped_tools::score(score));
      box.add(ag::shipped_tools::diversify(search.vectors()));
      box.add(ag::shipped_tools::lookup(resolve, describe));
    }
    return box;
  };
  // The classical critic: genres and decades named in the messages and memories must hold.
  const ag::critic_fn keyword_critic = [&](const ag::critique_input& in) {
    std::vector<std::string> want_genres;
    int decade = 0;
    for (const auto& c : in.constraints) {
      const std::string l = lower(c);
      for (index_t g = 1; g < n_genres; ++g)
        if (l.find(lower(std::string("a ") + genre_names[g] + " movie")) != std::string::npos ||
            l.find(lower(std::string("also be ") + genre_names[g])) != std::string::npos)
          want_genres.push_back(genre_names[g]);
      for (int d = 1920; d <= 1990; d += 10)
        if (l.find(std::to_string(d) + "s") != std::string::npos) decade = d;
    }
    ag::critique out;
    for (std::size_t p = 0; p < in.items.size(); ++p) {
      const movie& m = movies[static_cast<std::size_t>(in.items[p])];
      bool ok = decade == 0 || (m.year / 10 * 10 == decade);
      for (const auto& g : want_genres) ok = ok && std::find(m.genres.begin(), m.genres.end(), g) != m.genres.end();
      if (!ok) out.violating.push_back(p);
    }
    return out;
  };
  auto fixed_plan = [](bool chain_full) {
    return [chain_full](const ag::plan_input& in) {
      std::string q;
      for (const auto& m : in.memories) q += m + " ";
      for (const auto& m : in.session_messages) q += m + " ";
      q += in.message;
      for (std::size_t p; (p = q.find("Not those. ")) != std::string::npos;) q.erase(p, 11);
      if (q.size() > 100) q = q.substr(q.size() - 100);  // the tool's schema: at most 100 bytes, the latest text
      while (!q.empty() && (static_cast<unsigned char>(q.front()) & 0xc0) == 0x80) q.erase(0, 1);
      std::vector<ag::tool_call> calls = {{"search_catalogue", {{"query", q}}, ""}};
      if (chain_full) {
        calls.push_back({"score_for_user", nlohmann::json::object(), ""});
        calls.push_back({"rerank_diverse", {{"method", "mmr"}}, ""});
      }
      return calls;
    };
  };

  // ---- one simulated conversation ---------------------------------------------------------------------
  const fs::path memdir = fs::temp_directory_path() / ("recblocks_chat_recommender_" + std::to_string(::getpid()));
  llm::recorded_client* user_book = nullptr;  // the model writing the messages of an llm_user condition
  auto converse = [&](const condition& cond, index_t u, auto& model, std::vector<std::string>* transcript) {
    const std::string user = "u" + std::to_string(u + 1);
    const movie& tm = movies[static_cast<std::size_t>(target[static_cast<std::size_t>(u)])];
    ag::simulated_user sim = ag::simulated_user::from_item(target[static_cast<std::size_t>(u)], tm.title, tm.genres, tm.year,
                                                           static_cast<int>(max_turns));
    ag::toolbox box = make_tools(cond.chain);
    using model_t = std::remove_reference_t<decltype(model)>;
    ag::agent<model_t> a(model, box, describe,
                         {.k = 5, .max_steps = cond.llm ? 2 : 4, .use_memory = cond.memory, .use_reflection = cond.reflection,
                          .use_tools = cond.tools, .mode = tool_mode, .plan_max_tokens = 48, .answer_max_tokens = 80});
    // every conversation starts from its own empty memory folder (condition, model and user in the name)
    const fs::path conv_memdir = memdir / (lower_alnum(cond.name) + "_" + user);
    std::error_code rm_ec;
    fs::remove_all(conv_memdir, rm_ec);
    ag::memory_store mem(conv_memdir, [&](const std::string& t) {
      const std::string one[1] = {t};
      return encoder.embed(std::span<const std::string>(one, 1)).front();
    });
    if (cond.memory) {
      a.with_memory(mem);
      for (const auto& f : sim.prior_facts()) mem.remember(user, "preference", f, 0);
    }
    std::optional<ag::llm_critic<typename ag::agent<model_t>::metered>> critic;
    if (cond.reflection) {
      if (cond.llm) {
        critic.emplace(a.model(), describe);
        a.with_critic(std::ref(*critic), 1);
      } else {
        a.with_critic(keyword_critic, 2);
      }
    }
    if (!cond.llm) a.with_fixed_plan(fixed_plan(cond.chain));
    if (!cond.tools) a.with_title_resolver(resolve);
    conversation c;
    a.with_observer([&](const ag::agent_event& e) {
      if (e.stage == "tool") {  // which tools the plan called, and how many calls left no candidate at all
        ++c.tool_use[e.detail.at("tool").get<std::string>()];
        if (e.detail.value("candidates", 0L) == 0) ++c.empty_results;
      }
      if (transcript &&
          (e.stage == "plan" || e.stage == "tool" || e.stage == "reflect" || e.stage == "recall" || e.stage == "session"))
        transcript->push_back("    [" + e.stage + "] " + e.detail.dump().substr(0, 300));
    });
    a.begin_session(user, 1);
    std::optional<ag::llm_simulated_user<llm::recorded_client>> llm_sim;
    if (cond.llm_user) {
      if (!user_book) throw recblocks::value_error("chat_recommender: an LLM-simulated user needs a model");
      llm_sim.emplace(*user_book, sim, describe(target[static_cast<std::size_t>(u)]), tm.title, describe);
    }
    std::string msg = llm_sim ? llm_sim->opening() : sim.opening();
    for (;;) {
      if (transcript) transcript->push_back("  user: " + msg);
      const ag::turn_result t = a.turn(msg);
      if (transcript) transcript->push_back("  agent: " + t.reply);
      c.tokens += t.prompt_tokens + t.completion_tokens;
      c.llm_calls += t.llm_calls;
      c.tool_calls += t.tool_calls;
      c.failed_calls += t.failed_calls;
      c.invalid_steps += t.invalid_steps;
      c.repaired_steps += t.repaired_steps;
      c.steps += t.steps;
      c.step_bounds += t.step_bound_hit;
      c.reflection_rounds += t.reflection.rounds;
      c.flagged += t.reflection.flagged;
      c.unresolved += t.unresolved_titles;
      const ag::simulated_reply r = llm_sim ? llm_sim->respond(t.items) : sim.respond(t.items);
      if (r.done) {
        c.success = r.accepted;
        c.turns = llm_sim ? llm_sim->turns() : sim.turns();
        if (transcript) transcript->push_back("  user: " + r.message);
        break;
      }
      msg = r.message;
    }
    a.end_session(c.success ? "Found " + tm.title + "." : "Did not find what they wanted.");
    if (llm_sim) {
      const auto& st = llm_sim->stats();
      c.user_messages = st.messages;
      c.user_invalid = st.invalid;
      c.user_repaired = st.repaired;
      c.user_leaks = st.leaks;
      c.user_tokens = st.prompt_tokens + st.completion_tokens;
    }
    if (critic) {
      c.critic_calls = critic->stats().calls;
      c.critic_invalid = critic->stats().invalid;
      c.critic_repaired = critic->stats().repaired;
    }
    return c;
  };

  // ---- terminal chat --------------------------------------------------------------------------------
  if (chat) {
    const condition cond{"chat", live, true, true, true, true};
    const std::string user = "u" + std::to_string(chat_user);
    if (chat_user < 1 || chat_user > n_all_users) cl.fail("--user must be a MovieLens user id in [1, 943]");
    ag::toolbox box = make_tools(true);
    ag::memory_store mem(fs::path(models).parent_path() / "chat_recommender_memory", [&](const std::string& t) {
      const std::string one[1] = {t};
      return encoder.embed(std::span<const std::string>(one, 1)).front();
    });
    auto run_chat = [&](auto& model) {
      using model_t = std::remove_reference_t<decltype(model)>;
      ag::agent<model_t> a(model, box, describe, {.k = 5, .max_steps = 3, .mode = tool_mode});
      a.with_memory(mem).with_observer([](const ag::agent_event& e) {
        if (e.stage == "session" || e.stage == "plan" || e.stage == "reflect")
          std::cout << "  [" << e.stage << "] " << e.detail.dump().substr(0, 200) << "\n";
      });
      std::optional<ag::llm_critic<typename ag::agent<model_t>::metered>> critic;
      if (cond.llm) {
        critic.emplace(a.model(), describe);
        a.with_critic(std::ref(*critic), 1);
      } else {
        a.with_critic(keyword_critic, 2).with_fixed_plan(fixed_plan(true));
      }
      a.begin_session(user, static_cast<std::int64_t>(std::time(nullptr)));
      std::cout << "chat_recommender (" << (cond.llm ? "LLM agent, " + chosen.front()->name + ", " + tool_mode_name + " tool calls" : std::string("classical chain, no LLM")) << ", user " << user
                << "). Type a wish; 'forget' deletes your memory; an empty line ends.\n> " << std::flush;
      std::string line;
      while (std::getline(std::cin, line) && !line.empty()) {
        if (line == "forget") {
          mem.forget(user);
          std::cout << "Your memory is deleted.\n> " << std::flush;
          continue;
        }
        const auto t = a.turn(line);
        std::cout << t.reply << "\n(" << t.tool_calls << " tool calls, " << t.llm_calls << " LLM calls, "
                  << t.prompt_tokens + t.completion_tokens << " tokens)\n> " << std::flush;
      }
      a.end_session("Chatted about: " + line);
    };
    if (cond.llm) {
#if defined(RECBLOCKS_HAVE_CURL)
      llm::http_client http(http_options_of(*chosen.front()));
      run_chat(http);
#endif
    } else {
      llm::scripted_client unused;
      run_chat(unused);
    }
    return 0;
  }

  // ---- the table ------------------------------------------------------------------------------------
  const std::vector<condition> classical = {{"classical chain (search+GMF+MMR, keyword critic, memory)", false, true, true, true, true},
                                            {"classical chain, no memory", false, false, true, true, true},
                                            {"classical chain, no reflection", false, true, false, true, true},
                                            {"classical search only (memory, critic)", false, true, true, true, false}};
  const std::vector<condition> with_llm = {{"LLM agent (full: LLM tool calls, LLM critic, memory)", true, true, true, true, true},
                                           {"LLM agent, no memory", true, false, true, true, true},
                                           {"LLM agent, no reflection", true, true, false, true, true},
                                           {"LLM alone (no tools; names 5 titles)", true, false, false, false, true}};
  std::printf("chat_recommender: MovieLens-100K, %zu simulated users (seeded sample), k = 5, at most %ld turns\n",
              sample.size(), static_cast<long>(max_turns));
  std::printf("GMF: %ld epochs in %.1f s; catalogue: %ld movies embedded (all-MiniLM-L6-v2) and indexed (HNSW) in %.1f s\n\n",
              static_cast<long>(epochs), t_gmf, static_cast<long>(n_items), t_index);
  std::vector<std::string> names;
  std::vector<row> rows;
  std::vector<std::vector<std::string>> transcripts;
  auto run_rows = [&](const std::vector<condition>& conds, std::size_t users, auto& model) {
    for (const auto& cond : conds) {
      std::vector<conversation> convs(users);
      std::vector<std::vector<std::string>> tr(users);
      std::atomic<std::size_t> next{0};
      std::mutex err_mu;
      std::string err;
      auto worker = [&] {
        for (std::size_t i; (i = next++) < users;) {
          try {
            convs[i] = converse(cond, sample[i], model, static_cast<index_t>(i) < show ? &tr[i] : nullptr);
          } catch (const std::exception& e) {
            std::lock_guard lock(err_mu);
            if (err.empty()) err = e.what();
          }
        }
      };
      std::vector<std::thread> pool;
      for (index_t t = 1; t < threads; ++t) pool.emplace_back(worker);
      worker();
      for (auto& t : pool) t.join();
      if (!err.empty()) throw recblocks::value_error("chat_recommender (" + cond.name + "): " + err);
      row r;
      for (const auto& c : convs) r.add(c, static_cast<int>(max_turns));
      names.push_back(cond.name);
      rows.push_back(r);
      for (std::size_t i = 0; i < users; ++i)
        if (static_cast<index_t>(i) < show) {
          tr[i].insert(tr[i].begin(), "--- " + cond.name + ", user u" + std::to_string(sample[i] + 1) + ", target " +
                                          describe(target[static_cast<std::size_t>(sample[i])]));
          transcripts.push_back(tr[i]);
        }
    }
  };
  llm::scripted_client no_model;  // the classical rows never call it
  run_rows(classical, sample.size(), no_model);
  const double t_classical = seconds();

  // ---- the LLM rows, per model: recorded answers (replay), or the live server (--live) ---------------
  struct llm_block {
    const llm_model* model = nullptr;
    std::size_t users = 0, first_row = 0, n_rows = 0;
    std::string note;
  };
  std::vector<llm_block> blocks;
  struct resume_client {
    std::optional<llm::recorded_client> old;
    llm::any_client live;
    std::atomic<long> live_calls{0};
    std::mutex mu;
    // Identical requests of several conditions are asked once, also when two conditions send one at
    // the same moment (the second waits for the first's answer): every condition then sees the answer
    // the book keeps, so the replay gives exactly the recorded run.
    std::map<std::string, std::shared_future<llm::chat_response>> asked;
    llm::chat_response chat(const llm::chat_request& r) {
      if (old) try {
          return old->chat(r);
        } catch (const llm::llm_error& e) {
          if (e.kind() != llm::llm_error_kind::replay_miss) throw;
        }
      const std::string key = nlohmann::json(r).dump();
      std::promise<llm::chat_response> mine;
      std::shared_future<llm::chat_response> pending;
      {
        std::lock_guard lock(mu);
        if (auto it = asked.find(key); it != asked.end()) pending = it->second;
        else asked.emplace(key, mine.get_future().share());
      }
      if (pending.valid()) return pending.get();
      ++live_calls;
      try {
        llm::chat_response resp = live.chat(r);
        mine.set_value(resp);
        return resp;
      } catch (...) {
        mine.set_exception(std::current_exception());
        throw;
      }
    }
  };
  for (const llm_model* m : no_llm ? std::vector<const llm_model*>{} : chosen) {
    llm_block blk;
    blk.model = m;
    const std::string m_records = records_of(*m), m_sample = sample_of(*m);
    resume_client source;
#if defined(RECBLOCKS_HAVE_CURL)
    std::optional<llm::http_client> http;
#endif
    std::optional<llm::recorded_client> book;
    try {
      if (live) {
#if defined(RECBLOCKS_HAVE_CURL)
        llm::http_client_options ho = http_options_of(*m);
        ho.total_timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000));  // a shared, busy server
        ho.retry.max_attempts = 2;
        http.emplace(ho);
        source.live = llm::any_client(std::ref(*http));
        if (resume && fs::exists(m_records)) source.old.emplace(m_records, meta_of(*m));
        book.emplace(m_records, meta_of(*m), llm::recorded_options{.mode = llm::record_mode::live}, llm::any_client(std::ref(source)));
#else
        throw recblocks::value_error("chat_recommender: --live needs recblocks built with libcurl (recblocks::llm_http)");
#endif
      } else {
        llm::record_meta expected;
        expected.model = m->name;
        expected.prompt_version = prompt_version;
        book.emplace(m_records, expected);
      }
    } catch (const llm::llm_error& e) {
      blk.note = "LLM rows of " + m->name + " skipped: " + e.what();
    }
    if (!book) {
      blocks.push_back(blk);
      continue;
    }
    // The LLM sample: the first N users of the classical sample; replay reads N (and checks the users)
    // from the sample file written by the recording.
    std::size_t n_llm_users = 0;
    if (live) {
      n_llm_users = llm_users >= 0 ? static_cast<std::size_t>(llm_users) : std::size_t{10};
    } else {
      std::ifstream in(m_sample);
      if (!in) throw recblocks::io_error("chat_recommender: cannot read the LLM sample file " + m_sample);
      const auto j = nlohmann::json::parse(in);
      if (j.value("prompt_version", "") != prompt_version || j.value("model", "") != m->name)
        throw recblocks::value_error("chat_recommender: " + m_sample + " is for prompt version " + j.value("prompt_version", "") +
                                     " and model " + j.value("model", "") + ", this program asks " + prompt_version + " of " + m->name);
      const auto users = j.at("users").get<std::vector<index_t>>();
      n_llm_users = users.size();
      if (llm_users >= 0) n_llm_users = std::min(n_llm_users, static_cast<std::size_t>(llm_users));
      n_llm_users = std::min(n_llm_users, sample.size());  // a smaller --users replays a prefix
      for (std::size_t i = 0; i < n_llm_users; ++i)
        if (users[i] != sample[i] + 1)
          throw recblocks::value_error("chat_recommender: the recorded LLM sample (" + m_sample +
                                       ") is not the first users of this run's sample: run with the default --users, or re-record");
    }
    n_llm_users = std::min(n_llm_users, sample.size());
    const auto t_llm0 = std::chrono::steady_clock::now();
    // Users one after another, the conditions of a user in parallel (one thread each); when
    // recording, the book and the sample file are saved after every user, so a recording stopped by
    // --budget (or interrupted and resumed) always holds whole users.
    std::vector<std::vector<conversation>> convs(with_llm.size());
    std::vector<std::vector<std::vector<std::string>>> trs(with_llm.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < n_llm_users; ++i) {
      if (live && std::chrono::duration<double>(std::chrono::steady_clock::now() - t_llm0).count() > budget) break;
      std::vector<conversation> c(with_llm.size());
      std::vector<std::vector<std::string>> tr(with_llm.size());
      std::vector<std::string> errs(with_llm.size());
      std::vector<std::thread> pool;
      for (std::size_t k = 0; k < with_llm.size(); ++k)
        pool.emplace_back([&, k] {
          try {
            condition cond = with_llm[k];
            cond.name += " " + m->key;  // the memory folder of a conversation names the model too
            c[k] = converse(cond, sample[i], *book, static_cast<index_t>(i) < show ? &tr[k] : nullptr);
          } catch (const std::exception& e) {
            errs[k] = e.what();
          }
        });
      for (auto& t : pool) t.join();
      for (std::size_t k = 0; k < with_llm.size(); ++k)
        if (!errs[k].empty()) throw recblocks::value_error("chat_recommender (" + with_llm[k].name + ", " + m->name + "): " + errs[k]);
      for (std::size_t k = 0; k < with_llm.size(); ++k) {
        convs[k].push_back(c[k]);
        trs[k].push_back(tr[k]);
      }
      done = i + 1;
      if (live) {
        book->save();
        nlohmann::json j = {{"prompt_version", prompt_version}, {"model", m->name}, {"tool_mode", tool_mode_name},
                            {"users", nlohmann::json::array()}, {"targets", nlohmann::json::array()}, {"max_turns", max_turns}};
        for (std::size_t q = 0; q < done; ++q) {
          j["users"].push_back(sample[q] + 1);
          j["targets"].push_back(target[static_cast<std::size_t>(sample[q])] + 1);
        }
        std::ofstream(m_sample) << j.dump(1) << "\n";
        std::fprintf(stderr, "%s: recorded user %zu/%zu (%.0f s)\n", m->name.c_str(), done, n_llm_users,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t_llm0).count());
      }
    }
    blk.users = done;
    blk.first_row = rows.size();
    blk.n_rows = with_llm.size();
    for (std::size_t k = 0; k < with_llm.size(); ++k) {
      row r;
      r.llm = true;
      for (const auto& c : convs[k]) r.add(c, static_cast<int>(max_turns));
      names.push_back(with_llm[k].name + " [" + m->key + "]");
      rows.push_back(r);
      for (std::size_t i = 0; i < trs[k].size(); ++i)
        if (static_cast<index_t>(i) < show) {
          trs[k][i].insert(trs[k][i].begin(), "--- " + with_llm[k].name + " [" + m->name + "], user u" + std::to_string(sample[i] + 1) +
                                                  ", target " + describe(target[static_cast<std::size_t>(sample[i])]));
          transcripts.push_back(trs[k][i]);
        }
    }
    const double t_llm = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_llm0).count();
    if (live) {
      blk.note = m->name + ": recorded " + std::to_string(book->size()) + " answers live (" + std::to_string(source.live_calls.load()) +
                 " asked now, " + tool_mode_name + " tool calls) in " + std::to_string(static_cast<long>(t_llm)) + " s into " + m_records;
    } else {
      blk.note = m->name + ": replayed " + std::to_string(book->hits()) + " recorded answers from " + m_records + " (prompt " +
                 book->meta().prompt_version + ", recorded " + book->meta().recorded_at + ", " + book->meta().server + ")";
    }
    blocks.push_back(blk);
  }

  // ---- the option: an LLM-simulated user (SmolLM2 writes the user's messages) against the classical
  // chain; its answers are recorded apart (chat_recommender_simuser.*), --sim-users N (0: skip) -----------
  std::string sim_note;
  std::size_t sim_n = 0, sim_row = 0;
  if (!no_llm && tool_mode == ag::tool_call_mode::structured && (live ? sim_users > 0 : sim_users != 0)) {
    const llm_model& m = llm_models[0];  // the instruct model: it writes usable text
    const std::string s_records = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/chat_recommender_simuser.records.jsonl.gz";
    const std::string s_sample = std::string(RECBLOCKS_EXAMPLES_DIR) + "/data/chat_recommender_simuser.sample.json";
    constexpr const char* sim_prompt_version = "chat_recommender_simuser/1";
    std::optional<llm::recorded_client> book;
#if defined(RECBLOCKS_HAVE_CURL)
    std::optional<llm::http_client> http;
#endif
    try {
      if (live) {
#if defined(RECBLOCKS_HAVE_CURL)
        llm::http_client_options ho = http_options_of(m);
        ho.total_timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000));
        ho.retry.max_attempts = 2;
        http.emplace(ho);
        llm::record_meta meta = meta_of(m);
        meta.prompt_version = sim_prompt_version;
        book.emplace(s_records, meta, llm::recorded_options{.mode = llm::record_mode::live}, llm::any_client(std::ref(*http)));
#endif
      } else {
        llm::record_meta expected;
        expected.model = m.name;
        expected.prompt_version = sim_prompt_version;
        book.emplace(s_records, expected);
      }
    } catch (const llm::llm_error& e) {
      sim_note = std::string("LLM-simulated user skipped: ") + e.what();
    }
    if (book) {
      if (live) {
        sim_n = static_cast<std::size_t>(sim_users);
      } else {
        std::ifstream in(s_sample);
        if (!in) throw recblocks::io_error("chat_recommender: cannot read the LLM-simulated user sample file " + s_sample);
        const auto j = nlohmann::json::parse(in);
        const auto users = j.at("users").get<std::vector<index_t>>();
        sim_n = std::min(users.size(), sample.size());
        if (sim_users > 0) sim_n = std::min(sim_n, static_cast<std::size_t>(sim_users));
        for (std::size_t i = 0; i < sim_n; ++i)
          if (users[i] != sample[i] + 1)
            throw recblocks::value_error("chat_recommender: the LLM-simulated user sample (" + s_sample + ") is not the first users of this run's sample");
      }
      sim_n = std::min(sim_n, sample.size());
      user_book = &*book;
      condition cond{"classical chain, LLM-simulated user", false, true, true, true, true};
      cond.llm_user = true;
      const auto t_sim0 = std::chrono::steady_clock::now();
      row r;
      std::size_t done = 0;
      constexpr std::size_t batch = 4;  // users in parallel (the instruct server has 4 slots); saved after each batch
      for (std::size_t i0 = 0; i0 < sim_n; i0 += batch) {
        if (live && std::chrono::duration<double>(std::chrono::steady_clock::now() - t_sim0).count() > budget) break;
        const std::size_t i1 = std::min(sim_n, i0 + batch);
        std::vector<conversation> cs(i1 - i0);
        std::vector<std::vector<std::string>> trs(i1 - i0);
        std::vector<std::string> errs(i1 - i0);
        std::vector<std::thread> pool;
        for (std::size_t i = i0; i < i1; ++i)
          pool.emplace_back([&, i] {
            try {
              cs[i - i0] = converse(cond, sample[i], no_model, static_cast<index_t>(i) < show ? &trs[i - i0] : nullptr);
            } catch (const std::exception& e) {
              errs[i - i0] = e.what();
            }
          });
        for (auto& t : pool) t.join();
        for (const auto& e : errs)
          if (!e.empty()) throw recblocks::value_error("chat_recommender (" + cond.name + "): " + e);
        for (std::size_t i = i0; i < i1; ++i) {
          r.add(cs[i - i0], static_cast<int>(max_turns));
          auto& tr = trs[i - i0];
          if (!tr.empty()) {
            tr.insert(tr.begin(), "--- " + cond.name + " [user: " + m.name + "], user u" + std::to_string(sample[i] + 1) + ", target " +
                                      describe(target[static_cast<std::size_t>(sample[i])]));
            transcripts.push_back(tr);
          }
        }
        done = i1;
        if (live) {
          book->save();
          nlohmann::json j = {{"prompt_version", sim_prompt_version}, {"model", m.name}, {"users", nlohmann::json::array()}};
          for (std::size_t q = 0; q < done; ++q) j["users"].push_back(sample[q] + 1);
          std::ofstream(s_sample) << j.dump(1) << "\n";
          std::fprintf(stderr, "LLM-simulated user: recorded user %zu/%zu\n", done, sim_n);
        }
      }
      sim_n = done;
      user_book = nullptr;
      names.push_back(cond.name + " [user: " + m.key + "]");
      rows.push_back(r);
      sim_row = rows.size() - 1;
      sim_note = (live ? "LLM-simulated user: recorded " + std::to_string(book->size()) + " answers into " + s_records
                       : "LLM-simulated user: replayed " + std::to_string(book->hits()) + " answers from " + s_records) +
                 " (" + m.name + ", prompt " + sim_prompt_version + ")";
    }
  }

  // ---- print ----------------------------------------------------------------------------------------
  std::printf("%-72s %6s %8s %7s %9s %7s %7s\n", "condition [model]", "users", "success", "turns", "tokens", "tools", "LLM");
  std::printf("%-72s %6s %8s %7s %9s %7s %7s\n", "", "", "rate", "to succ", "per conv", "/conv", "calls");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    const double n = static_cast<double>(std::max(1L, r.users));
    std::printf("%-72s %6ld %7.1f%% %7.2f %9.0f %7.2f %7.2f\n", names[i].c_str(), r.users, 100.0 * r.successes / n,
                r.successes ? static_cast<double>(r.turns_to_success) / static_cast<double>(r.successes) : 0.0,
                static_cast<double>(r.tokens) / n, static_cast<double>(r.tool_calls) / n, static_cast<double>(r.llm_calls) / n);
  }
  for (const auto& blk : blocks) {
    std::printf("\n%s\n", blk.note.c_str());
    if (blk.users == 0) continue;
    std::printf("model %s (%s), %s tool calls, the first %zu users of the sample:\n", blk.model->name.c_str(), blk.model->note.c_str(),
                tool_mode_name.c_str(), blk.users);
    long base_succ = 0;
    for (std::size_t k = 0; k < blk.users; ++k) base_succ += rows[0].success_of[k];
    std::printf("  paired against the classical chain on the same users (%ld / %zu successes there; turns: a failure counts %ld):\n",
                base_succ, blk.users, static_cast<long>(max_turns) + 1);
    for (std::size_t i = blk.first_row; i < blk.first_row + blk.n_rows; ++i) {
      long better = 0, worse = 0, diff = 0, dturns = 0;
      for (std::size_t k = 0; k < blk.users; ++k) {
        const int d = rows[i].success_of[k] - rows[0].success_of[k];
        diff += d;
        better += d > 0;
        worse += d < 0;
        dturns += rows[i].turns_of[k] - rows[0].turns_of[k];
      }
      std::printf("    %-70s %ld/%zu success, %+ld users (%ld better, %ld worse), turns %+.2f per user\n", names[i].c_str(),
                  rows[i].successes, blk.users, diff, better, worse, static_cast<double>(dturns) / static_cast<double>(blk.users));
    }
    std::printf("  model steps (valid at the first ask / repaired by a re-ask / invalid), tool calls (ran / failed),\n"
                "  step bounds, critic (asked / repaired / invalid, items flagged), titles unresolved, tokens:\n");
    for (std::size_t i = blk.first_row; i < blk.first_row + blk.n_rows; ++i) {
      const row& r = rows[i];
      std::printf("    %-70s steps %ld (%ld/%ld/%ld), tools %ld/%ld, bounds %ld, critic %ld (%ld/%ld, %ld flagged), unresolved %ld, "
                  "tokens %ld\n",
                  names[i].c_str(), r.steps, r.steps - r.repaired_steps - r.invalid_steps, r.repaired_steps, r.invalid_steps,
                  r.tool_calls - r.failed_calls, r.failed_calls, r.step_bounds, r.critic_calls, r.critic_repaired, r.critic_invalid,
                  r.flagged, r.unresolved, r.tokens);
      std::string use;
      for (const auto& [name, n] : r.tool_use) use += (use.empty() ? "" : ", ") + name + " " + std::to_string(n);
      std::printf("      tools called: %s; calls leaving no candidate: %ld\n", use.empty() ? "none" : use.c_str(), r.empty_results);
    }
  }
  if (!sim_note.empty()) std::printf("\n%s\n", sim_note.c_str());
  if (sim_n > 0) {
    const row& r = rows[sim_row];
    long diff = 0, better = 0, worse = 0, dturns = 0;
    for (std::size_t k = 0; k < sim_n; ++k) {
      const int d = r.success_of[k] - rows[0].success_of[k];
      diff += d;
      better += d > 0;
      worse += d < 0;
      dturns += r.turns_of[k] - rows[0].turns_of[k];
    }
    std::printf("  paired against the classical chain with the rule-based user, first %zu users: %ld/%zu success, %+ld users "
                "(%ld better, %ld worse), turns %+.2f per user\n",
                sim_n, r.successes, sim_n, diff, better, worse, static_cast<double>(dturns) / static_cast<double>(sim_n));
    std::printf("  user messages written by the model: %ld (repaired %ld, invalid -> rule-based hint %ld, title masked %ld), "
                "%ld tokens\n", r.user_messages, r.user_repaired, r.user_invalid, r.user_leaks, r.user_tokens);
  }
  for (const auto& t : transcripts)
    for (const auto& line : t) std::printf("%s\n", line.c_str());
  std::printf("\ntime: classical rows %.1f s, total %.1f s\n", t_classical, seconds());
  std::error_code ec;
  fs::remove_all(memdir, ec);
  return 0;
}
