// Trains a multi-scenario CTR model (Shared Bottom or MMoE, Scenario-Wise Rec), reports overall and
// per-scenario AUC / log loss on the test split, saves a checkpoint, reloads it and checks that the
// reloaded model scores the test set bit for bit identically (exit 1 otherwise).
//
//   train_msr [--model shared_bottom|mmoe] [--data synthetic|movielens] [--data-dir DIR] [--rows N]
//             [--epochs E] [--batch-size B] [--lr X] [--weight-decay X] [--patience P] [--seed S]
//             [--threads T] [--routing sorted|masked] [--out DIR] [--quiet]
//
// Data: the synthetic multi-scenario generator by default (data/synthetic.hpp, with its Bayes AUC
// printed for reference); `--data movielens` reads MovieLens-100K from --data-dir or
// $RECBLOCKS_DATA/movielens-100k (scenario = age group, label = rating > 3, random 8:1:1 split).
// Progress goes to stderr: a redrawn bar when stderr is a terminal, plain lines otherwise.
// Results go to stdout.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <recblocks/data/movielens.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/eval/bayes_report.hpp>
#include <recblocks/io.hpp>
#include <recblocks/models.hpp>
#include <recblocks/train.hpp>

using namespace recblocks;
namespace fs = std::filesystem;

namespace {

struct args {
  std::string model = "mmoe", data = "synthetic", data_dir, out, routing = "sorted";
  index_t rows = 60000, epochs = 5, batch_size = 4096, patience = 4;
  double lr = 1e-3, weight_decay = 1e-5;
  std::uint64_t seed = 2022;
  int threads = 1;
  bool quiet = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "train_msr: " << why << "\n"
            << "usage: train_msr [--model shared_bottom|mmoe] [--data synthetic|movielens] [--data-dir DIR] [--rows N]\n"
               "                 [--epochs E] [--batch-size B] [--lr X] [--weight-decay X] [--patience P] [--seed S]\n"
               "                 [--threads T] [--routing sorted|masked] [--out DIR] [--quiet]\n";
  std::exit(2);
}

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--quiet") {
      a.quiet = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value for " + k);
    const std::string v = argv[++i];
    try {
      if (k == "--model") a.model = v;
      else if (k == "--data") a.data = v;
      else if (k == "--data-dir") a.data_dir = v;
      else if (k == "--out") a.out = v;
      else if (k == "--routing") a.routing = v;
      else if (k == "--rows") a.rows = std::stoll(v);
      else if (k == "--epochs") a.epochs = std::stoll(v);
      else if (k == "--batch-size") a.batch_size = std::stoll(v);
      else if (k == "--patience") a.patience = std::stoll(v);
      else if (k == "--lr") a.lr = std::stod(v);
      else if (k == "--weight-decay") a.weight_decay = std::stod(v);
      else if (k == "--seed") a.seed = std::stoull(v);
      else if (k == "--threads") a.threads = std::stoi(v);
      else usage("unknown option " + k);
    } catch (const std::logic_error&) {
      usage("bad value '" + v + "' for " + k);
    }
  }
  if (a.model != "shared_bottom" && a.model != "mmoe") usage("--model must be shared_bottom or mmoe");
  if (a.data != "synthetic" && a.data != "movielens") usage("--data must be synthetic or movielens");
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
    std::fprintf(stderr, "epoch %lld: train loss %.4f, validation AUC %.4f%s\n", (long long)e.epoch + 1, e.train_loss,
                 e.validation ? e.validation->overall().auc : std::nan(""), e.improved ? " (best)" : "");
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
int run(const args& a, const std::array<data::dataset, 3>& parts, const data::synthetic* gen,
        const std::array<std::vector<double>, 3>* truth, const nlohmann::json& encoders) {
  typename Model::options_type mo;
  mo.routing = nn::routing_mode_from_string(a.routing);
  rng init(a.seed);
  Model model(parts[0].get_schema(), mo, init);
  train::trainer_options to;
  to.epochs = a.epochs;
  to.batch_size = a.batch_size;
  to.learning_rate = a.lr;
  to.weight_decay = a.weight_decay;
  to.patience = a.patience;
  to.seed = a.seed;
  to.threads = a.threads;
  progress bar(a.quiet);
  train::trainer<Model> tr(model, to,
                           {.on_step = [&](const train::step_info& s) { bar.step(s); },
                            .on_epoch_end = [&](const train::epoch_info& e) { bar.epoch(e); }});
  const auto fit = tr.fit(parts[0], parts[1]);
  std::printf("model %s (%lld parameters), %s data: train %lld / validation %lld / test %lld rows\n", Model::name,
              (long long)nn::parameter_count(model), a.data.c_str(), (long long)parts[0].rows(), (long long)parts[1].rows(),
              (long long)parts[2].rows());
  std::printf("epochs run %zu, best epoch %lld (validation AUC %.4f)%s\n", fit.history.size(), (long long)fit.best_epoch + 1,
              fit.best_auc, fit.stopped_early ? ", stopped early" : "");
  const auto report = tr.evaluate(parts[2]);
  print_report("test", report);
  if (gen && truth) print_report("Bayes (true probabilities, test)", eval::bayes_report(parts[2], (*truth)[2]));

  const bool temporary = a.out.empty();
  const fs::path dir = temporary ? fs::temp_directory_path() / ("recblocks_train_msr_" + std::to_string(::getpid())) : fs::path(a.out);
  io::checkpoint::save(dir, model, {.seed = a.seed, .encoders = encoders, .metadata = {{"test", report.to_json()}}});
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
    std::optional<data::synthetic> gen;
    std::array<data::dataset, 3> parts{data::dataset(data::schema{}), data::dataset(data::schema{}), data::dataset(data::schema{})};
    std::array<std::vector<double>, 3> truth;
    nlohmann::json encoders = nullptr;
    if (a.data == "synthetic") {
      data::synthetic_config c;
      c.rows = a.rows;
      gen.emplace(c);
      auto split = gen->split({0.8, 0.1, 0.1}, a.seed);
      parts = std::move(split.parts);
      truth = std::move(split.probability);
    } else {
      fs::path dir = a.data_dir;
      if (dir.empty()) {
        const char* root = std::getenv("RECBLOCKS_DATA");
        if (!root) {
          std::printf("skipped: --data movielens needs --data-dir or $RECBLOCKS_DATA/movielens-100k\n");
          return 0;
        }
        dir = fs::path(root) / "movielens-100k";
      }
      if (!fs::exists(dir / "u.data")) {
        std::printf("skipped: MovieLens-100K not found in %s\n", dir.c_str());
        return 0;
      }
      data::csv_dataset builder(data::movielens::config());
      auto split = data::movielens(dir.string()).load({0.8, 0.1, 0.1}, a.seed, &builder);
      parts = {std::move(split.train), std::move(split.validation), std::move(split.test)};
      encoders = builder.to_json();
    }
    const data::synthetic* g = gen ? &*gen : nullptr;
    if (a.model == "mmoe") return run<models::mmoe<float>>(a, parts, g, g ? &truth : nullptr, encoders);
    return run<models::shared_bottom<float>>(a, parts, g, g ? &truth : nullptr, encoders);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_msr: %s\n", e.what());
    return 1;
  }
}
