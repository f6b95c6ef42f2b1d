// The Scenario-Wise Rec benchmark in C++: trains every multi-scenario model (or a chosen subset) on one
// dataset over several seeds and prints overall and per-scenario AUC / log loss (mean ± std over the
// seeds), parameter count and training time; writes a CSV and, when gnuplot is on PATH, a PNG chart.
//
//   scenario_benchmark [--models a,b,c] [--data synthetic|movielens|douban|kuairand|aliccp|mind|movielens-genre|synthetic-sy]
//                      [--data-dir DIR] [--rows N] [--seeds N] [--first-seed S] [--epochs E] [--batch-size B] [--lr X]
//                      [--weight-decay X] [--patience P] [--fixed-epochs] [--threads T] [--variant paper|reference]
//                      [--scenario-features] [--synthetic demo|classic[,key=value...]] [--out results.csv] [--quiet]
//                      [--csv FILE | --train F --validation F --test F] [--schema JSON] [--sparse a,b] [--dense c,d]
//                      [--scenario COL] [--label COL] [--label-threshold X] [--keep-encoded-ids] [--delimiter C]
//
// A user's CSV: --csv (split 8:1:1 with each seed) or --train/--validation/--test (the same split for every
// seed), column roles from the flags or a schema JSON (examples/common.hpp, csv_args); every model's defaults.
// --variant reference: every model exactly as the reference code (registry variants); default "paper".
// Run records: with --out, <stem>_runs.csv has one row per (model, seed) with training seconds per epoch
// apart from validation, and <stem>_config.json the fully resolved options of every model, the trainer
// options and the data.
//
// A model may carry option overrides: `mscan:cross=none:c=0` (values parsed as JSON, else taken as text),
// which is how the M-scan ablations run. On the sequence datasets (movielens-genre, synthetic-sy) the
// default list adds mscan and din (the twelve ignore the sequences).
// Defaults: all 12 models, the synthetic multi-scenario data (data/synthetic.hpp, 60,000 rows of the demo
// setting data::synthetic_config::demo(); `--synthetic classic` for the generator's member defaults, the
// data of results before issue 24's demo change; with its Bayes-optimal AUC printed as the ceiling), 1 seed, at most 20 epochs, batch 512, Adam lr 1e-3, weight decay
// 1e-5, early stopping on validation AUC (patience 4) with the best epoch restored (train::trainer).
// Every model uses the reference hyperparameters of papers.md 2.4 for the dataset's column
// (models::registry::preset_options). Real datasets come from --data-dir or $RECBLOCKS_DATA
// (movielens-100k/, scenario-wise-rec-samples/); the split is random 8:1:1 with the seed (Ali-CCP: its
// given files). Seed k uses seed 2022 + k for the split, the initialisation, batch order and dropout
// (--first-seed S starts at S instead: `--first-seed 2024 --seeds 3` adds seeds 2024-2026 to earlier runs).
// Progress goes to stderr, the table to stdout.
// Output files (--out results.csv): one row per (model, seed) is appended to results_runs.csv (or
// --runs PATH) as soon as that run finishes, so a killed benchmark keeps every finished run; the
// summary (results.csv) and the gnuplot script follow at the end. Every write is checked: a failed
// write is an error (exit 1), never a silent loss. gnuplot runs with an argument vector (no shell),
// and paths inside its script are quoted for gnuplot. Exit status: 0 done, 1 error, 2 bad flags,
// 77 skipped (the dataset is not installed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>

#include <recblocks/eval/bayes_report.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/train.hpp>

#include "common.hpp"

extern char** environ;

using namespace recblocks;
using namespace recblocks_examples;
namespace fs = std::filesystem;

namespace {

struct args : training_args {
  std::vector<std::string> models;
  std::string out, runs, variant;
  index_t seeds = 1;
  std::uint64_t first_seed = 2022;
  args() {  // the synthetic generator's full default size; early stopping ends most runs after 5-10 epochs
    rows = 60000;
    epochs = 20;
  }
};

args parse(int argc, char** argv) {
  args a;
  command_line cl("scenario_benchmark",
                  "scenario_benchmark [--models a,b,c] [--data synthetic|movielens|douban|kuairand|aliccp|mind]\n"
                  "                          [--data-dir DIR] [--rows N] [--seeds N] [--first-seed S] [--epochs E] [--batch-size B] [--lr X]\n"
                  "                          [--weight-decay X] [--patience P] [--fixed-epochs] [--threads T] [--variant paper|reference]\n"
                  "                          [--scenario-features] [--synthetic demo|classic[,key=value...]] [--out results.csv]\n"
                  "                          [--runs runs.csv] [--quiet]\n"
                  "                          [--csv FILE | --train F --validation F --test F] [--schema JSON] [--sparse a,b] [--dense c,d]\n"
                  "                          [--scenario COL] [--label COL] [--label-threshold X] [--keep-encoded-ids] [--delimiter C]");
  a.add_to(cl);
  cl.option("--seeds", a.seeds);
  cl.option("--first-seed", a.first_seed);
  cl.option("--out", a.out);
  cl.option("--runs", a.runs);
  cl.option("--models", [&](const std::string& v) {
    std::stringstream ss(v);
    for (std::string m; std::getline(ss, m, ',');)
      if (!m.empty()) {
        const auto colon = m.find(':');
        a.models.push_back(models::registry::canonical(m.substr(0, colon)) + (colon == std::string::npos ? "" : m.substr(colon)));
      }
  });
  cl.option("--variant", [&](const std::string& v) {
    if (v != "paper" && v != "reference") throw std::invalid_argument(v);
    a.variant = v;
  });
  cl.parse(argc, argv);
  if (a.csv.given()) a.data = "csv";
  if (a.data == "csv") {
    try {
      a.csv.resolve();
    } catch (const recblocks::error& e) {
      cl.fail(e.what());
    }
  }
  if (a.models.empty()) {
    a.models = models::registry::names();
    if (sequence_dataset(a.data))
      for (const auto& n : models::registry::sequence_names()) a.models.push_back(n);
  }
  if (a.seeds < 1 || a.rows < 100 || a.epochs < 1) cl.fail("--seeds and --epochs must be >= 1, --rows >= 100");
  const auto& known = known_datasets();
  if (std::find(known.begin(), known.end(), a.data) == known.end()) cl.fail("unknown --data " + a.data);
  return a;
}

struct run_result {
  double auc = 0, log_loss = 0, seconds = 0, train_per_epoch = 0, validation_per_epoch = 0;
  std::vector<double> scenario_auc, scenario_log_loss;
  index_t params = 0, epochs = 0, best_epoch = 0;
  std::uint64_t seed = 0;
};

struct stats {
  double mean = 0, std = 0;
};
stats summarize(const std::vector<double>& v) {
  stats s;
  std::size_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) s.mean += x, ++n;
  if (n == 0) return {std::nan(""), std::nan("")};
  s.mean /= double(n);
  for (double x : v)
    if (!std::isnan(x)) s.std += (x - s.mean) * (x - s.mean);
  s.std = n > 1 ? std::sqrt(s.std / double(n - 1)) : 0.0;
  return s;
}

/// A model spec "name:key=value:..." -> its name and its options: the dataset's preset, the --variant, then
/// the overrides (values parsed as JSON, else taken as text).
std::pair<std::string, nlohmann::json> model_options(const args& a, const std::string& spec) {
  std::vector<std::string> fields;
  std::stringstream ss(spec);
  for (std::string f; std::getline(ss, f, ':');) fields.push_back(f);
  const std::string name = fields.front();
  nlohmann::json options = models::registry::preset_options(name, models::registry::preset_for_dataset(a.data));
  if (!a.variant.empty()) options["variant"] = a.variant;
  for (std::size_t k = 1; k < fields.size(); ++k) {
    const auto eq = fields[k].find('=');
    if (eq == std::string::npos) throw value_error("scenario_benchmark: model option '" + fields[k] + "' is not key=value");
    const std::string key = fields[k].substr(0, eq), text = fields[k].substr(eq + 1);
    options[key] = nlohmann::json::accept(text) ? nlohmann::json::parse(text) : nlohmann::json(text);
  }
  return {name, options};
}

run_result train_one(const args& a, const std::string& spec, const std::array<data::dataset, 3>& parts, std::uint64_t seed) {
  const auto resolved = model_options(a, spec);
  const std::string& name = resolved.first;
  const nlohmann::json& options = resolved.second;
  rng init(seed);
  return models::registry::visit<float>(name, parts[0].get_schema(), options, init, [&](auto& model) {
    using M = std::remove_reference_t<decltype(model)>;
    const train::trainer_options to = a.trainer_options(seed);
    train::callbacks cb;
    cb.on_step = [&](const train::step_info& s) {
      if (!a.quiet && (s.batch == s.batches))
        std::fprintf(stderr, "  %s seed %llu epoch %lld loss %.4f %.1fs\n", M::name, (unsigned long long)seed,
                     (long long)s.epoch + 1, s.loss, s.seconds);
    };
    train::trainer<M> tr(model, to, cb);
    const auto start = std::chrono::steady_clock::now();
    const auto fit = tr.fit(parts[0], parts[1]);
    run_result r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.epochs = static_cast<index_t>(fit.history.size());
    r.train_per_epoch = fit.train_seconds_per_epoch();
    r.validation_per_epoch = fit.validation_seconds / double(std::max<index_t>(r.epochs, 1));
    r.best_epoch = fit.best_epoch + 1;
    r.seed = seed;
    r.params = nn::parameter_count(model);
    const auto report = tr.evaluate(parts[2]);
    r.auc = report.overall().auc;
    r.log_loss = report.overall().log_loss;
    for (index_t s = 0; s < report.scenarios(); ++s) {
      r.scenario_auc.push_back(report.scenario(s).auc);
      r.scenario_log_loss.push_back(report.scenario(s).log_loss);
    }
    return r;
  });
}

std::string pm(stats s, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f±%.*f", digits, s.mean, digits, s.std);
  return buf;
}

/// A file written with every write checked: `io_error` naming the path and the system's reason.
class checked_file {
 public:
  checked_file(const fs::path& path, const char* mode) : path_(path), f_(std::fopen(path.c_str(), mode)) {
    if (!f_) fail("cannot open");
  }
  ~checked_file() {
    if (f_) std::fclose(f_);
  }
  checked_file(const checked_file&) = delete;
  checked_file& operator=(const checked_file&) = delete;
  /// Writes `text` and flushes it to the OS (so a killed process keeps it).
  void write(const std::string& text) {
    if (std::fwrite(text.data(), 1, text.size(), f_) != text.size() || std::fflush(f_) != 0) fail("cannot write");
  }
  void close() {
    std::FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) fail("cannot write");
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw io_error(std::string(what) + " " + path_.string() + ": " + std::strerror(errno));
  }
  fs::path path_;
  std::FILE* f_;
};

void write_file(const fs::path& path, const std::string& text) {
  checked_file f(path, "wb");
  f.write(text);
  f.close();
}

/// `s` as a single-quoted gnuplot string: a quote inside is doubled (gnuplot's escape), so no path can
/// end the string and inject commands into the script.
std::string gnuplot_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

/// Runs `argv` directly (posix_spawnp: no shell, nothing is interpreted) and returns its exit status
/// (-1 when it could not start or did not exit normally).
int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

void write_plot(const fs::path& csv, std::size_t models) {
  const fs::path gp = fs::path(csv).replace_extension(".gp"), png = fs::path(csv).replace_extension(".png");
  for (char c : csv.string())
    if (c == '\n' || c == '\r' || c == '\0') {
      std::printf("no chart: the --out path holds a line break\n");
      return;
    }
  std::ostringstream g;
  g << "# Written by scenario_benchmark: test AUC per model (mean and std over seeds).\n"
    << "set datafile separator ','\n"
    << "set terminal pngcairo noenhanced size " << std::max<std::size_t>(640, 90 * models) << ",480\n"
    << "set output " << gnuplot_quoted(png.string()) << "\n"
    << "set title 'Scenario-Wise Rec models: test AUC (mean ± std over seeds)'\n"
    << "set style data histograms\nset style histogram errorbars gap 1 lw 1\nset style fill solid 0.6 border -1\n"
    << "set boxwidth 0.8\nset xtics rotate by -30\nset ylabel 'AUC'\nset grid ytics\nset key off\n"
    << "stats " << gnuplot_quoted(csv.string()) << " using 4 nooutput\n"
    << "set yrange [STATS_min - 0.02 : STATS_max + 0.02]\n"
    << "plot " << gnuplot_quoted(csv.string()) << " using 4:5:xtic(1) every ::1 title 'AUC'\n";
  write_file(gp, g.str());
  const int rc = run_program({"gnuplot", gp.string()});
  if (rc == 0) std::printf("chart: %s (script %s)\n", png.c_str(), gp.c_str());
  else if (rc < 0)
    std::printf("gnuplot not found: plot with `gnuplot %s` (writes %s), or chart columns auc_mean/auc_std of %s\n",
                gp.c_str(), png.c_str(), csv.c_str());
  else std::printf("gnuplot failed; the script is %s\n", gp.c_str());
}

/// The per-run rows (one per model and seed), appended as each run finishes.
class runs_file {
 public:
  /// The path of `--runs`, else `<out stem>_runs.csv` next to a regular-file `--out`; empty: none.
  static fs::path path_for(const args& a) {
    if (!a.runs.empty()) return a.runs;
    if (a.out.empty()) return {};
    const fs::path out(a.out);
    std::error_code ec;
    if (fs::exists(out, ec) && !fs::is_regular_file(out, ec)) return {};  // a device such as /dev/stdout
    return out.parent_path() / (out.stem().string() + "_runs.csv");
  }
  void append(const fs::path& path, const std::string& model, const run_result& r) {
    if (path.empty()) return;
    if (!file_) {
      if (path.has_parent_path()) fs::create_directories(path.parent_path());
      file_.emplace(path, "wb");
      std::ostringstream h;
      h << "model,seed,auc,logloss";
      for (std::size_t sc = 0; sc < r.scenario_auc.size(); ++sc) h << ",s" << sc << "_auc,s" << sc << "_logloss";
      h << ",epochs,best_epoch,train_seconds,train_seconds_per_epoch,validation_seconds_per_epoch\n";
      file_->write(h.str());
    }
    std::ostringstream row;
    row << model << ',' << r.seed << ',' << r.auc << ',' << r.log_loss;
    for (std::size_t sc = 0; sc < r.scenario_auc.size(); ++sc) row << ',' << r.scenario_auc[sc] << ',' << r.scenario_log_loss[sc];
    row << ',' << r.epochs << ',' << r.best_epoch << ',' << r.seconds << ',' << r.train_per_epoch << ',' << r.validation_per_epoch << '\n';
    file_->write(row.str());
  }
  void close() {
    if (file_) file_->close();
  }

 private:
  std::optional<checked_file> file_;
};

}  // namespace

int main(int argc, char** argv) {
  const args a = parse(argc, argv);
  try {
    const fs::path runs_path = runs_file::path_for(a);
    runs_file runs;
    std::vector<std::vector<run_result>> results(a.models.size());
    index_t scenarios = 0;
    std::vector<double> bayes_auc;
    std::array<index_t, 3> sizes{};
    for (index_t k = 0; k < a.seeds; ++k) {
      const std::uint64_t seed = a.first_seed + static_cast<std::uint64_t>(k);
      auto loaded = load_data(a, seed);
      if (!loaded) return skip_exit_code;
      const auto& parts = loaded->parts;
      const std::vector<double>& truth = loaded->truth[2];
      // bad data gets a clear error before any training: every scenario needs rows in every split
      models::registry::check_scenarios(parts[0], "training");
      models::registry::check_scenarios(parts[1], "validation");
      models::registry::check_scenarios(parts[2], "test");
      scenarios = parts[0].get_schema().scenario_count();
      sizes = {parts[0].rows(), parts[1].rows(), parts[2].rows()};
      if (!truth.empty()) bayes_auc.push_back(eval::bayes_report(parts[2], truth).overall().auc);
      for (std::size_t m = 0; m < a.models.size(); ++m) {
        if (!a.quiet) std::fprintf(stderr, "%s (seed %llu)\n", a.models[m].c_str(), (unsigned long long)seed);
        results[m].push_back(train_one(a, a.models[m], parts, seed));
        runs.append(runs_path, a.models[m], results[m].back());
      }
    }
    std::printf("Scenario-Wise Rec benchmark: %s data, %lld scenarios, train/validation/test %lld/%lld/%lld rows, %lld seed(s), "
                "<= %lld epochs, batch %lld, lr %g\n",
                a.data.c_str(), (long long)scenarios, (long long)sizes[0], (long long)sizes[1], (long long)sizes[2],
                (long long)a.seeds, (long long)a.epochs, (long long)a.batch_size, a.lr);
    if (!bayes_auc.empty()) std::printf("Bayes-optimal test AUC (true click probabilities): %.4f\n", summarize(bayes_auc).mean);
    std::printf("\n%-14s %9s %16s %16s", "model", "params", "AUC", "logloss");
    for (index_t s = 0; s < scenarios; ++s) std::printf("  %13s", ("AUC s" + std::to_string(s)).c_str());
    // Paired comparison with Shared Bottom: every model of a seed trains on the same split, so the
    // per-seed difference removes the split's variance from the comparison.
    const auto sb = std::find(a.models.begin(), a.models.end(), "shared_bottom");
    const bool paired = sb != a.models.end() && a.seeds > 1;
    const auto& sb_runs = paired ? results[static_cast<std::size_t>(sb - a.models.begin())] : results.front();
    if (paired) std::printf(" %16s %5s", "dAUC vs SB", "wins");
    std::printf(" %8s %9s %7s\n", "time s", "s/epoch", "epochs");
    std::ostringstream csv;
    csv << "model,params,seeds,auc_mean,auc_std,logloss_mean,logloss_std";
    for (index_t s = 0; s < scenarios; ++s)
      csv << ",s" << s << "_auc_mean,s" << s << "_auc_std,s" << s << "_logloss_mean,s" << s << "_logloss_std";
    if (paired) csv << ",delta_auc_vs_shared_bottom_mean,delta_auc_vs_shared_bottom_std,wins_vs_shared_bottom";
    csv << ",train_seconds_mean,train_seconds_per_epoch_mean,validation_seconds_per_epoch_mean,epochs_mean\n";
    for (std::size_t m = 0; m < a.models.size(); ++m) {
      const auto& rs = results[m];
      auto column = [&](auto get) {
        std::vector<double> v;
        for (const auto& r : rs) v.push_back(get(r));
        return summarize(v);
      };
      const stats auc = column([](const run_result& r) { return r.auc; });
      const stats ll = column([](const run_result& r) { return r.log_loss; });
      const stats secs = column([](const run_result& r) { return r.seconds; });
      const stats epochs = column([](const run_result& r) { return double(r.epochs); });
      const stats per_epoch = column([](const run_result& r) { return r.train_per_epoch; });
      const stats valid_per_epoch = column([](const run_result& r) { return r.validation_per_epoch; });
      std::printf("%-14s %9lld %16s %16s", a.models[m].c_str(), (long long)rs.front().params, pm(auc).c_str(), pm(ll).c_str());
      csv << a.models[m] << ',' << rs.front().params << ',' << rs.size() << ',' << auc.mean << ',' << auc.std << ',' << ll.mean
          << ',' << ll.std;
      for (index_t s = 0; s < scenarios; ++s) {
        const auto si = static_cast<std::size_t>(s);
        const stats sa = column([&](const run_result& r) { return r.scenario_auc[si]; });
        const stats sl = column([&](const run_result& r) { return r.scenario_log_loss[si]; });
        std::printf("  %13s", pm(sa).c_str());
        csv << ',' << sa.mean << ',' << sa.std << ',' << sl.mean << ',' << sl.std;
      }
      if (paired) {
        std::vector<double> delta;
        int wins = 0;
        for (std::size_t k = 0; k < rs.size(); ++k) {
          delta.push_back(rs[k].auc - sb_runs[k].auc);
          wins += delta.back() > 0;
        }
        const stats d = summarize(delta);
        if (&rs == &sb_runs) std::printf(" %16s %5s", "(baseline)", "");
        else std::printf(" %+8.4f±%.4f %2d/%-2zu", d.mean, d.std, wins, rs.size());
        csv << ',' << d.mean << ',' << d.std << ',' << wins;
      }
      std::printf(" %8.1f %9.2f %7.1f\n", secs.mean, per_epoch.mean, epochs.mean);
      csv << ',' << secs.mean << ',' << per_epoch.mean << ',' << valid_per_epoch.mean << ',' << epochs.mean << '\n';
    }
    std::printf("(mean±std over seeds; time s: fit wall time incl. validation, s/epoch: training only; per-scenario log loss in the CSV%s)\n",
                paired ? "; dAUC vs SB: AUC minus Shared Bottom's on the same split, mean±std over seeds, and the seeds it is higher" : "");
    runs.close();
    if (!runs_path.empty()) std::printf("runs: %s\n", runs_path.c_str());
    if (!a.out.empty()) {
      const fs::path out(a.out);
      if (out.has_parent_path()) fs::create_directories(out.parent_path());
      write_file(out, csv.str());
      std::printf("results: %s\n", out.c_str());
      // the fully resolved configuration of the run (never {}: every option of every model)
      nlohmann::json config;
      for (const auto& m : a.models) {
        const auto [name, options] = model_options(a, m);
        config["models"][m] = models::registry::resolved_options(name, options);
      }
      const train::trainer_options to = a.trainer_options(a.first_seed);
      config["trainer"] = {{"epochs", to.epochs},       {"batch_size", to.batch_size}, {"learning_rate", to.learning_rate},
                           {"weight_decay", to.weight_decay}, {"patience", to.patience},    {"restore_best", to.restore_best},
                           {"lazy_sparse_adam", to.lazy_sparse_adam}, {"threads", to.threads}, {"seeds", a.seeds}, {"first_seed", a.first_seed}};
      config["data"] = {{"name", a.data}, {"rows", a.rows}, {"scenario_features", a.scenario_features}, {"synthetic", a.synthetic}};
      if (a.data == "csv") config["data"]["csv"] = a.csv.to_json();
      config["variant"] = a.variant.empty() ? "paper" : a.variant;
      std::error_code ec;
      if (fs::is_regular_file(out, ec)) {
        const fs::path config_path = out.parent_path() / (out.stem().string() + "_config.json");
        std::ofstream cf(config_path);
        cf << config.dump(2) << '\n';
        if (!cf) throw io_error("scenario_benchmark: cannot write " + config_path.string());
        std::printf("config: %s\n", config_path.c_str());
        write_plot(out, a.models.size());
      }
    }
    if (std::fflush(stdout) != 0) throw io_error(std::string("scenario_benchmark: cannot write stdout: ") + std::strerror(errno));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scenario_benchmark: %s\n", e.what());
    return 1;
  }
}
