// Trains one multi-scenario CTR model (any of the twelve Scenario-Wise Rec models, with the reference
// hyperparameters of its dataset), reports overall and per-scenario AUC / log loss on the test split,
// saves a checkpoint, reloads it and checks that the reloaded model scores the test set bit for bit
// identically (exit 1 otherwise).
//
//   train_msr [--model NAME] [--data synthetic|movielens|douban|kuairand|aliccp|mind] [--data-dir DIR]
//             [--rows N] [--epochs E] [--batch-size B] [--lr X] [--weight-decay X] [--patience P] [--fixed-epochs]
//             [--seed S] [--threads T] [--routing auto|sorted|masked] [--variant paper|reference]
//             [--scenario-features] [--synthetic demo|classic[,key=value...]] [--out DIR] [--quiet]
//             [--csv FILE | --train F --validation F --test F] [--schema JSON] [--sparse a,b] [--dense c,d]
//             [--scenario COL] [--label COL] [--label-threshold X] [--keep-encoded-ids] [--delimiter C]
//
// A user's CSV: --csv (split 8:1:1 with the seed) or --train/--validation/--test, column roles from the
// flags or a schema JSON (examples/common.hpp, csv_args); every model's defaults (MovieLens column).
// --fixed-epochs runs every epoch and keeps the last weights (the reference without early stopping).
//
// NAME: shared_bottom, mmoe (default), ple, sarnet, star, m2m, adasparse, adaptdhm, epnet, ppnet, hamur,
// m3oe (the reference scripts' spellings work too). Data: the synthetic multi-scenario generator by
// default (data/synthetic.hpp, with its Bayes AUC printed for reference); a real dataset is read from
// --data-dir or $RECBLOCKS_DATA (see examples/common.hpp), split 8:1:1 with the seed.
// Progress goes to stderr: a redrawn bar when stderr is a terminal, plain lines otherwise.
// Results go to stdout.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <recblocks/eval/bayes_report.hpp>
#include <recblocks/io.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/train.hpp>

#include "common.hpp"

using namespace recblocks;
using namespace recblocks_examples;
namespace fs = std::filesystem;

namespace {

struct args : training_args {
  std::string model = "mmoe", out, routing, variant;
  std::uint64_t seed = 2022;
  args() {
    rows = 60000;
    batch_size = 4096;
  }
};

args parse(int argc, char** argv) {
  args a;
  command_line cl("train_msr",
                  "train_msr [--model NAME] [--data synthetic|movielens|douban|kuairand|aliccp|mind] [--data-dir DIR]\n"
                  "                 [--rows N] [--epochs E] [--batch-size B] [--lr X] [--weight-decay X] [--patience P]\n"
                  "                 [--fixed-epochs] [--seed S] [--threads T] [--routing auto|sorted|masked] [--variant paper|reference]\n"
                  "                 [--scenario-features] [--synthetic demo|classic[,key=value...]] [--out DIR] [--quiet]\n"
                  "                 [--csv FILE | --train F --validation F --test F] [--schema JSON] [--sparse a,b] [--dense c,d]\n"
                  "                 [--scenario COL] [--label COL] [--label-threshold X] [--keep-encoded-ids] [--delimiter C]");
  a.add_to(cl);
  cl.option("--model", [&](const std::string& v) { a.model = models::registry::canonical(v); });
  cl.option("--out", a.out);
  cl.option("--seed", a.seed);
  cl.option("--routing", [&](const std::string& v) {
    nn::routing_mode_from_string(v);  // validates
    a.routing = v;
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
  const auto& known = known_datasets();
  if (std::find(known.begin(), known.end(), a.data) == known.end()) cl.fail("unknown --data " + a.data);
  return a;
}

/// stderr progress: a redrawn bar at <= 10 Hz on a terminal, else one plain line per ~10 % of an epoch.
class progress {
 public:
  explicit progress(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}
  void step(const train::step_info& s) {
    if (quiet_) return;
    if (tty_) {
      const auto now = std::chrono::steady_clock::now();
      if (s.batch != s.batches && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      const int width = 30, filled = int(width * s.batch / std::max<index_t>(s.batches, 1));
      std::fprintf(stderr, "\repoch %lld [%s%s] %lld/%lld loss %.4f  %.1fs", (long long)s.epoch + 1,
                   std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
                   (long long)s.batch, (long long)s.batches, s.loss, s.seconds);
      std::fflush(stderr);
    } else {
      const index_t every = std::max<index_t>(1, s.batches / 10);
      if (s.batch % every == 0 || s.batch == s.batches)
        std::fprintf(stderr, "epoch %lld step %lld/%lld loss %.4f lr %.2g %.1fs\n", (long long)s.epoch + 1, (long long)s.batch,
                     (long long)s.batches, s.loss, s.learning_rate, s.seconds);
    }
  }
  void epoch(const train::epoch_info& e) {
    if (quiet_) return;
    if (tty_) std::fputc('\n', stderr);
    std::fprintf(stderr, "epoch %lld: train loss %.4f, validation AUC %.4f%s (train %.2fs, validation %.2fs)\n", (long long)e.epoch + 1,
                 e.train_loss, e.validation ? e.validation->overall().auc : std::nan(""), e.improved ? " (best)" : "", e.train_seconds,
                 e.validation_seconds);
  }

 private:
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point last_{};
};

void print_report(const char* title, const eval::scenario_report& r) {
  std::printf("%s\n  %-10s %8s %8s %8s %8s\n", title, "group", "rows", "pos.rate", "AUC", "logloss");
  auto row = [](const std::string& name, const eval::group_metrics& m) {
    std::printf("  %-10s %8lld %8.4f %8.4f %8.4f\n", name.c_str(), (long long)m.count, m.positive_rate, m.auc, m.log_loss);
  };
  row("overall", r.overall());
  for (index_t s = 0; s < r.scenarios(); ++s) row("scenario " + std::to_string(s), r.scenario(s));
}

template <class Model>
int run(const args& a, Model& model, const loaded_data& d) {
  const auto& parts = d.parts;
  const train::trainer_options to = a.trainer_options(a.seed);
  progress bar(a.quiet);
  train::trainer<Model> tr(model, to,
                           {.on_step = [&](const train::step_info& s) { bar.step(s); },
                            .on_epoch_end = [&](const train::epoch_info& e) { bar.epoch(e); }});
  const auto fit = tr.fit(parts[0], parts[1]);
  std::printf("model %s (%lld parameters), %s data: train %lld / validation %lld / test %lld rows\n", Model::name,
              (long long)nn::parameter_count(model), a.data.c_str(), (long long)parts[0].rows(), (long long)parts[1].rows(),
              (long long)parts[2].rows());
  std::printf("epochs run %zu, best epoch %lld (validation AUC %.4f)%s%s\n", fit.history.size(), (long long)fit.best_epoch + 1,
              fit.best_auc, fit.stopped_early ? ", stopped early" : "", a.fixed_epochs ? ", last epoch's weights kept (--fixed-epochs)" : "");
  std::printf("time: training %.3f s/epoch, validation %.3f s/epoch\n", fit.train_seconds_per_epoch(),
              fit.validation_seconds / double(std::max<std::size_t>(fit.history.size(), 1)));
  const auto report = tr.evaluate(parts[2]);
  print_report("test", report);
  if (d.generator) print_report("Bayes (true probabilities, test)", eval::bayes_report(parts[2], d.truth[2]));

  const bool temporary = a.out.empty();
  const fs::path dir = temporary ? fs::temp_directory_path() / ("recblocks_train_msr_" + std::to_string(::getpid())) : fs::path(a.out);
  io::checkpoint::save(dir, model, {.seed = a.seed, .encoders = d.encoders, .metadata = {{"test", report.to_json()}}});
  const Model reloaded = io::checkpoint::load<Model>(dir);
  Model copy = reloaded;
  train::trainer<Model> check(copy, to);
  const auto p1 = tr.predict(parts[2]), p2 = check.predict(parts[2]);
  const bool same = p1 == p2;
  std::printf("checkpoint %s: reloaded scores %s\n", dir.c_str(), same ? "identical (bit for bit)" : "DIFFER");
  if (temporary) fs::remove_all(dir);
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const args a = parse(argc, argv);
  try {
    const auto d = load_data(a, a.seed);
    if (!d) return skip_exit_code;
    models::registry::check_scenarios(d->parts[0], "training");
    nlohmann::json options = models::registry::preset_options(a.model, models::registry::preset_for_dataset(a.data));
    if (!a.routing.empty()) options["routing"] = a.routing;  // an error for a model without scenario routing
    if (!a.variant.empty()) options["variant"] = a.variant;
    if (!a.quiet) std::fprintf(stderr, "options: %s\n", models::registry::resolved_options(a.model, options).dump().c_str());
    rng init(a.seed);
    return models::registry::visit<float>(a.model, d->parts[0].get_schema(), options, init,
                                          [&](auto& model) { return run(a, model, *d); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_msr: %s\n", e.what());
    return 1;
  }
}
