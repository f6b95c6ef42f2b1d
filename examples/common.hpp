#pragma once
// Shared by the training examples (scenario_benchmark, train_msr): the command line, the data sources
// (the synthetic generator, or a real dataset under --data-dir / $RECBLOCKS_DATA) and the trainer
// options both build from the same flags.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <recblocks/data/csv_dataset.hpp>
#include <recblocks/data/movielens.hpp>
#include <recblocks/data/movielens_genre.hpp>
#include <recblocks/data/synthetic_sequences.hpp>
#include <recblocks/data/scenario_datasets.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/train/trainer.hpp>

#include "example_util.hpp"

namespace recblocks_examples {

using recblocks::index_t;

/// Exit status of an example that skipped its work because its data is not installed (ctest reports
/// it as skipped through SKIP_RETURN_CODE). A directory the user named explicitly that does not exist
/// is an error (status 1), never a skip.
constexpr int skip_exit_code = 77;

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
    option(name, [&target](const std::string& v) {
      const long long x = parse_whole<long long>(v);
      if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) throw std::out_of_range(v);
      target = static_cast<int>(x);
    });
  }
  void option(const std::string& name, std::uint64_t& target) {
    option(name, [&target](const std::string& v) { target = parse_whole<std::uint64_t>(v); });
  }
  void option(const std::string& name, double& target) {
    option(name, [&target](const std::string& v) {
      std::size_t used = 0;
      const double x = std::stod(v, &used);
      if (used != v.size() || !std::isfinite(x)) throw std::invalid_argument(v);  // "inf", "nan" are not values
      target = x;
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
        fail("bad value '" + v + "' for " + k + " (expected a finite number in range)");
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

/// Splits "a,b,c" (empty parts dropped).
inline std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : v + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  return out;
}

/// A user's CSV data (`--data csv`): the files and the column roles, from flags or a schema JSON
///
///     {"sparse": ["user_id", "item_id"], "dense": ["price"], "scenario": "domain", "label": "click",
///      "label_greater_than": 3, "keep_encoded_ids": false, "delimiter": ","}
///
/// (flags given on the command line override the file's entries). One file (`--csv`) is split 8:1:1
/// with the seed; three files (`--train --validation --test`) are used as given. Encoders are fitted on
/// the training rows; unseen values (or, with --keep-encoded-ids, ids above the largest training id)
/// get id 0. The scenarios are the distinct values of the scenario column in the training data,
/// sorted (numerically when every value is a number), scenario i = the i-th value; rows of the
/// other parts with a value the training data lacks are dropped and counted.
struct csv_args {
  std::string file, train, validation, test, schema_file, scenario, label;
  std::vector<std::string> sparse, dense;
  std::optional<double> label_greater_than;
  bool keep_encoded_ids = false;
  char delimiter = ',';

  bool given() const { return !file.empty() || !train.empty(); }

  void add_to(command_line& cl) {
    cl.option("--csv", file);
    cl.option("--train", train);
    cl.option("--validation", validation);
    cl.option("--test", test);
    cl.option("--schema", schema_file);
    cl.option("--sparse", [this](const std::string& v) { sparse = split_list(v); });
    cl.option("--dense", [this](const std::string& v) { dense = split_list(v); });
    cl.option("--scenario", scenario);
    cl.option("--label", label);
    cl.option("--label-threshold", [this](const std::string& v) {
      std::size_t used = 0;
      label_greater_than = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
    });
    cl.option("--delimiter", [this](const std::string& v) {
      if (v.size() != 1 && v != "\\t") throw std::invalid_argument(v);
      delimiter = v == "\\t" ? '\t' : v[0];
    });
    cl.flag("--keep-encoded-ids", keep_encoded_ids);
  }

  /// Merges the schema JSON under the flags and checks that the roles are complete.
  void resolve() {
    if (!schema_file.empty()) {
      std::ifstream f(schema_file);
      if (!f) throw recblocks::io_error("cannot read schema file " + schema_file);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(f);
      } catch (const nlohmann::json::exception& e) {
        throw recblocks::parse_error("schema file " + schema_file + ": " + e.what());
      }
      for (const auto& [key, value] : j.items())
        if (key != "sparse" && key != "dense" && key != "scenario" && key != "label" && key != "label_greater_than" &&
            key != "keep_encoded_ids" && key != "delimiter")
          throw recblocks::parse_error("schema file " + schema_file + ": unknown key '" + key +
                                       "' (known: sparse, dense, scenario, label, label_greater_than, keep_encoded_ids, delimiter)");
      try {
        if (sparse.empty() && j.contains("sparse")) sparse = j.at("sparse").get<std::vector<std::string>>();
        if (dense.empty() && j.contains("dense")) dense = j.at("dense").get<std::vector<std::string>>();
        if (scenario.empty() && j.contains("scenario")) scenario = j.at("scenario").get<std::string>();
        if (label.empty() && j.contains("label")) label = j.at("label").get<std::string>();
        if (!label_greater_than && j.contains("label_greater_than") && !j.at("label_greater_than").is_null())
          label_greater_than = j.at("label_greater_than").get<double>();
        if (j.contains("keep_encoded_ids")) keep_encoded_ids = keep_encoded_ids || j.at("keep_encoded_ids").get<bool>();
        if (j.contains("delimiter")) {
          const auto d = j.at("delimiter").get<std::string>();
          if (d.size() != 1) throw recblocks::parse_error("delimiter must be one character");
          delimiter = d[0];
        }
      } catch (const nlohmann::json::exception& e) {
        throw recblocks::parse_error("schema file " + schema_file + ": " + e.what());
      }
    }
    if (!file.empty() && !train.empty()) throw recblocks::value_error("give either --csv FILE or --train/--validation/--test, not both");
    if (!train.empty() && (validation.empty() || test.empty()))
      throw recblocks::value_error("--train needs --validation and --test");
    if (scenario.empty() || label.empty() || (sparse.empty() && dense.empty()))
      throw recblocks::value_error("CSV data needs a --scenario column, a --label column and --sparse and/or --dense columns "
                                   "(flags or --schema FILE)");
  }

  /// The run's column roles as JSON (for run records).
  nlohmann::json to_json() const {
    return {{"csv", file}, {"train", train}, {"validation", validation}, {"test", test}, {"sparse", sparse},
            {"dense", dense}, {"scenario", scenario}, {"label", label},
            {"label_greater_than", label_greater_than ? nlohmann::json(*label_greater_than) : nlohmann::json(nullptr)},
            {"keep_encoded_ids", keep_encoded_ids}, {"delimiter", std::string(1, delimiter)}};
  }
};

/// The flags every training example takes.
struct training_args {
  std::string data = "synthetic", data_dir;
  index_t rows = 20000, epochs = 5, batch_size = 512, patience = 4;
  double lr = 1e-3, weight_decay = 1e-5;
  int threads = 1;
  recblocks::compute_type compute = recblocks::compute_type::fp32;  ///< --compute fp32|bf16 (issue 26)
  bool quiet = false;
  bool fixed_epochs = false;  ///< --fixed-epochs: run every epoch, keep the last weights (no early stop, no best restore)
  bool scenario_features = false;  ///< --scenario-features: synthetic data with scenario-constant features
  std::string synthetic = "demo";  ///< --synthetic demo|classic[,key=value...]: data::synthetic_config::named
  csv_args csv;

  /// Registers --data --data-dir --rows --epochs --batch-size --patience --lr --weight-decay --threads --quiet
  /// --fixed-epochs --scenario-features --synthetic and the CSV flags (csv_args).
  void add_to(command_line& cl) {
    cl.flag("--fixed-epochs", fixed_epochs);
    cl.flag("--scenario-features", scenario_features);
    cl.option("--synthetic", synthetic);
    csv.add_to(cl);
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
    cl.option("--compute", [this](const std::string& v) {  // issue 26: bf16 mixed precision
      if (v == "fp32") compute = recblocks::compute_type::fp32;
      else if (v == "bf16") compute = recblocks::compute_type::bf16;
      else throw std::invalid_argument(v);
    });
  }

  /// The trainer options of these flags for a run with `seed`.
  recblocks::train::trainer_options trainer_options(std::uint64_t seed) const {
    recblocks::train::trainer_options to;
    to.epochs = epochs;
    to.batch_size = batch_size;
    to.learning_rate = lr;
    to.weight_decay = weight_decay;
    to.patience = fixed_epochs ? 0 : patience;
    to.restore_best = !fixed_epochs;
    to.seed = seed;
    to.threads = threads;
    to.compute = compute;
    return to;
  }
};

/// The datasets `--data` accepts: the synthetic generator, MovieLens-100K, and Scenario-Wise Rec's
/// samples (data::scenario_datasets); and the two with behaviour sequences (M-scan): MovieLens-100K with
/// genre-group scenarios (data::movielens_genre) and the synthetic S->Y log (data::synthetic_sequences,
/// --rows / 60 users); both use the per-user time split, which does not depend on the seed.
inline const std::vector<std::string>& known_datasets() {
  static const std::vector<std::string> names = {"synthetic", "movielens", "douban", "kuairand", "aliccp", "mind", "csv",
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

/// Loads the user's CSV data (see csv_args); the encoders go to `encoders` with the column roles.
inline loaded_data load_csv(const csv_args& a, std::uint64_t seed) {
  namespace data = recblocks::data;
  data::csv_options ro;
  ro.delimiter = a.delimiter;
  const bool one = !a.file.empty();
  const data::csv_reader first = data::csv_reader::from_file(one ? a.file : a.train, ro);
  // the scenarios: distinct values of the scenario column in the training data (the whole file for --csv)
  if (!first.has_column(a.scenario)) throw recblocks::value_error("scenario column '" + a.scenario + "' not found in " + first.name());
  const index_t sc = first.column(a.scenario);
  std::vector<std::string> values;
  for (index_t r = 0; r < first.rows(); ++r) values.emplace_back(first.cell(r, sc));
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  auto number = [](const std::string& v, double& x) {
    std::size_t used = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      return false;
    }
    return used == v.size();
  };
  double x = 0, y = 0;
  if (std::all_of(values.begin(), values.end(), [&](const std::string& v) { return number(v, x); }))
    std::stable_sort(values.begin(), values.end(), [&](const std::string& l, const std::string& r) {
      number(l, x);
      number(r, y);
      return x < y;
    });
  data::csv_dataset_config c;
  c.sparse = a.sparse;
  c.dense = a.dense;
  c.labels = {{a.label, a.label_greater_than}};
  c.scenario_column = a.scenario;
  c.scenario_values = values;
  c.drop_unknown_scenarios = true;
  c.keep_encoded_ids = a.keep_encoded_ids;
  data::csv_dataset builder(c);
  data::csv_splits s = one ? builder.load(first, {0.8, 0.1, 0.1}, seed)
                           : builder.load(first, data::csv_reader::from_file(a.validation, ro), data::csv_reader::from_file(a.test, ro));
  loaded_data out;
  out.parts = {std::move(s.train), std::move(s.validation), std::move(s.test)};
  out.encoders = builder.to_json();
  out.encoders["columns"] = a.to_json();
  out.encoders["scenario_values"] = values;
  out.encoders["dropped_rows"] = s.dropped;
  return out;
}

/// Loads `a.data` split 8:1:1 with `seed` (Ali-CCP: its given files). For a real dataset the folder is
/// --data-dir, else $RECBLOCKS_DATA/{movielens-100k, scenario-wise-rec-samples}. A --data-dir that
/// does not exist is an `io_error` (the user named it); when $RECBLOCKS_DATA is unset or lacks the
/// dataset it prints a "skipped: ..." line and returns nullopt (the examples then exit with
/// `skip_exit_code`).
inline std::optional<loaded_data> load_data(const training_args& a, std::uint64_t seed) {
  namespace fs = std::filesystem;
  namespace data = recblocks::data;
  loaded_data out;
  if (a.data == "csv") return load_csv(a.csv, seed);
  if (a.data == "synthetic") {
    data::synthetic_config c = data::synthetic_config::named(a.synthetic);
    c.rows = a.rows;
    c.scenario_features = a.scenario_features;
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
  if (!root.empty() && !fs::is_directory(root))
    throw recblocks::io_error("--data-dir " + root.string() + ": no such directory");
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
