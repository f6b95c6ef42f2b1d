#pragma once
// Shared by the training examples (scenario_benchmark, train_msr): the command line, the data sources
// (the synthetic generator, or a real dataset under --data-dir / $RECBLOCKS_DATA) and the trainer
// options both build from the same flags.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <recblocks/data/movielens.hpp>
#include <recblocks/data/movielens_genre.hpp>
#include <recblocks/data/synthetic_sequences.hpp>
#include <recblocks/data/scenario_datasets.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/train/trainer.hpp>

namespace recblocks_examples {

using recblocks::index_t;

/// A minimal flag parser: `--name value` options and `--name` switches; anything else, a missing or
/// malformed value, or `--help` prints the usage and exits with status 2.
class command_line {
 public:
  command_line(std::string program, std::string usage) : program_(std::move(program)), usage_(std::move(usage)) {}

  /// `--name value`; `set` may throw std::logic_error (std::stoll & co.) or recblocks::error for a bad value.
  void option(const std::string& name, std::function<void(const std::string&)> set) { options_[name] = std::move(set); }
  void option(const std::string& name, std::string& target) {
    option(name, [&target](const std::string& v) { target = v; });
  }
  void option(const std::string& name, index_t& target) {
    option(name, [&target](const std::string& v) { target = parse_whole<index_t>(v); });
  }
  void option(const std::string& name, int& target) {
    option(name, [&target](const std::string& v) { target = static_cast<int>(parse_whole<long long>(v)); });
  }
  void option(const std::string& name, std::uint64_t& target) {
    option(name, [&target](const std::string& v) { target = parse_whole<std::uint64_t>(v); });
  }
  void option(const std::string& name, double& target) {
    option(name, [&target](const std::string& v) {
      std::size_t used = 0;
      target = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
    });
  }
  /// `--name` without a value.
  void flag(const std::string& name, bool& target) { flags_[name] = &target; }

  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (k == "--help" || k == "-h") fail("help");
      if (auto f = flags_.find(k); f != flags_.end()) {
        *f->second = true;
        continue;
      }
      const auto o = options_.find(k);
      if (o == options_.end()) fail("unknown option " + k);
      if (i + 1 >= argc) fail("missing value for " + k);
      const std::string v = argv[++i];
      try {
        o->second(v);
      } catch (const recblocks::error& e) {
        fail(e.what());
      } catch (const std::logic_error&) {
        fail("bad value '" + v + "' for " + k);
      }
    }
  }

  [[noreturn]] void fail(const std::string& why) const {
    std::cerr << program_ << ": " << why << "\nusage: " << usage_ << "\n";
    std::exit(2);
  }

 private:
  template <class I>
  static I parse_whole(const std::string& v) {
    std::size_t used = 0;
    const long long x = std::stoll(v, &used);
    if (used != v.size() || (std::is_unsigned_v<I> && x < 0)) throw std::invalid_argument(v);
    return static_cast<I>(x);
  }

  std::string program_, usage_;
  std::map<std::string, std::function<void(const std::string&)>> options_;
  std::map<std::string, bool*> flags_;
};

/// The flags every training example takes.
struct training_args {
  std::string data = "synthetic", data_dir;
  index_t rows = 20000, epochs = 5, batch_size = 512, patience = 4;
  double lr = 1e-3, weight_decay = 1e-5;
  int threads = 1;
  bool quiet = false;

  /// Registers --data --data-dir --rows --epochs --batch-size --patience --lr --weight-decay --threads --quiet.
  void add_to(command_line& cl) {
    cl.option("--data", data);
    cl.option("--data-dir", data_dir);
    cl.option("--rows", rows);
    cl.option("--epochs", epochs);
    cl.option("--batch-size", batch_size);
    cl.option("--patience", patience);
    cl.option("--lr", lr);
    cl.option("--weight-decay", weight_decay);
    cl.option("--threads", threads);
    cl.flag("--quiet", quiet);
  }

  /// The trainer options of these flags for a run with `seed`.
  recblocks::train::trainer_options trainer_options(std::uint64_t seed) const {
    recblocks::train::trainer_options to;
    to.epochs = epochs;
    to.batch_size = batch_size;
    to.learning_rate = lr;
    to.weight_decay = weight_decay;
    to.patience = patience;
    to.seed = seed;
    to.threads = threads;
    return to;
  }
};

/// The datasets `--data` accepts: the synthetic generator, MovieLens-100K, and Scenario-Wise Rec's
/// samples (data::scenario_datasets); and the two with behaviour sequences (M-scan): MovieLens-100K with
/// genre-group scenarios (data::movielens_genre) and the synthetic S->Y log (data::synthetic_sequences,
/// --rows / 60 users); both use the per-user time split, which does not depend on the seed.
inline const std::vector<std::string>& known_datasets() {
  static const std::vector<std::string> names = {"synthetic", "movielens", "douban", "kuairand", "aliccp", "mind",
                                                 "movielens-genre", "synthetic-sy"};
  return names;
}

/// Whether `--data` carries the behaviour sequences the sequence models (mscan, din) read.
inline bool sequence_dataset(const std::string& data) { return data == "movielens-genre" || data == "synthetic-sy"; }

/// One seed's train / validation / test splits.
struct loaded_data {
  std::array<recblocks::data::dataset, 3> parts{recblocks::data::dataset(recblocks::data::schema{}),
                                                recblocks::data::dataset(recblocks::data::schema{}),
                                                recblocks::data::dataset(recblocks::data::schema{})};
  std::optional<recblocks::data::synthetic> generator;   ///< synthetic data only
  std::array<std::vector<double>, 3> truth;              ///< synthetic data only: true click probabilities
  nlohmann::json encoders = nullptr;                     ///< real data: the fitted encoders (for checkpoints)
};

/// Loads `a.data` split 8:1:1 with `seed` (Ali-CCP: its given files). For a real dataset the folder is
/// --data-dir, else $RECBLOCKS_DATA/{movielens-100k, scenario-wise-rec-samples}; when neither is
/// available it prints a "skipped: ..." line and returns nullopt (the examples then exit 0).
inline std::optional<loaded_data> load_data(const training_args& a, std::uint64_t seed) {
  namespace fs = std::filesystem;
  namespace data = recblocks::data;
  loaded_data out;
  if (a.data == "synthetic") {
    data::synthetic_config c;
    c.rows = a.rows;
    out.generator.emplace(c);
    auto split = out.generator->split({0.8, 0.1, 0.1}, seed);
    out.parts = std::move(split.parts);
    out.truth = std::move(split.probability);
    return out;
  }
  if (a.data == "synthetic-sy") {
    data::synthetic_sequences_options c;
    c.users = std::max<index_t>(1, a.rows / c.per_user);
    const data::synthetic_sequences syn(c);
    data::csv_splits s = syn.load();
    out.parts = {std::move(s.train), std::move(s.validation), std::move(s.test)};
    return out;
  }
  fs::path root = a.data_dir;
  if (root.empty()) {
    const char* env = std::getenv("RECBLOCKS_DATA");
    if (!env) {
      std::printf("skipped: --data %s needs --data-dir or $RECBLOCKS_DATA\n", a.data.c_str());
      return std::nullopt;
    }
    root = fs::path(env) / (a.data == "movielens" || a.data == "movielens-genre" ? "movielens-100k" : "scenario-wise-rec-samples");
  }
  if (!fs::exists(root)) {
    std::printf("skipped: %s not found\n", root.c_str());
    return std::nullopt;
  }
  if (a.data == "movielens-genre") {
    data::csv_splits s = data::movielens_genre(root.string()).load();
    out.parts = {std::move(s.train), std::move(s.validation), std::move(s.test)};
    return out;
  }
  if (a.data == "movielens") {
    data::csv_dataset builder(data::movielens::config());
    data::csv_splits s = data::movielens(root.string()).load({0.8, 0.1, 0.1}, seed, &builder);
    out.parts = {std::move(s.train), std::move(s.validation), std::move(s.test)};
    out.encoders = builder.to_json();
    return out;
  }
  data::loaded_dataset d = data::scenario_datasets::load(a.data == "aliccp" ? "ali_ccp" : a.data, root.string(), {0.8, 0.1, 0.1}, seed);
  out.parts = {std::move(d.splits.train), std::move(d.splits.validation), std::move(d.splits.test)};
  out.encoders = d.builder.to_json();
  return out;
}

}  // namespace recblocks_examples
