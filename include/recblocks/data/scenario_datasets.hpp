#pragma once
/// \file scenario_datasets.hpp
/// Loaders for the Scenario-Wise Rec sample CSVs with the benchmark's scenario definitions
/// (`scripts/run_*.py`; papers.md section 2.2). Every loader returns the three splits and the
/// fitted builder (encoders), and is also reachable by name (`load("douban", dir)`) for a `--data`
/// command-line switch.
///
/// | name       | file(s)                                   | scenario (column: value -> id)                      | label      | features |
/// |------------|-------------------------------------------|------------------------------------------------------|------------|----------|
/// | `douban`   | douban_sample.csv                          | domain: book 0, music 1, movie 2                     | rating (already 0/1) | sparse user_id, item_id, living_place, time_bin |
/// | `kuairand` | kuairand_sample.csv                        | tab: rows with tab in {0,1,2,4,6} kept, LabelEncoder over the present tabs (full data: 0,1,2,4,6 -> 0..4; the sample has only tab 1 -> 1 scenario) | is_click | 32 sparse (ids, flags, *_range bins, onehot_feat0-17, video/server fields) + 4 dense (MinMax) |
/// | `ali_ccp`  | ali_ccp_{train,val,test}_sample.csv (given splits) | 301: 1 -> 0, 2 -> 1, 3 -> 2                  | click      | 23 sparse fields (301 included; train frequency < 10 -> 0) + 8 dense (used as given: already in [0, 1]) |
/// | `mind`     | mind_sample.csv                            | Category: news 0, lifestyle 1, sports 2, finance 3 (other categories dropped) | label | sparse User_ID, News_ID, SubCategory |
///
/// Single-file datasets are split at random 8:1:1 (seed 2022 by default), as the scripts do.
/// Errors: `io_error` (file missing), `value_error` (a column the recipe expects is missing, a
/// scenario with no rows, an unknown dataset name), `parse_error` (malformed rows).
/// Thread-safety: pure functions.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "csv_dataset.hpp"
#include "csv_reader.hpp"

namespace recblocks::data {

/// A loaded benchmark dataset: the fitted builder and the three splits.
struct loaded_dataset {
  std::string name;
  csv_dataset builder;
  csv_splits splits;
};

class scenario_datasets {
 public:
  /// Names accepted by `load`.
  static std::vector<std::string> names() { return {"douban", "kuairand", "ali_ccp", "mind"}; }

  static csv_dataset_config douban_config();
  static csv_dataset_config kuairand_config();
  static csv_dataset_config ali_ccp_config();
  static csv_dataset_config mind_config();

  /// Loads dataset `name` from `dir` (the folder holding the sample CSVs).
  static loaded_dataset load(const std::string& name, const std::string& dir,
                             std::array<double, 3> ratios = {0.8, 0.1, 0.1}, std::uint64_t seed = 2022);
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline csv_dataset_config scenario_datasets::douban_config() {
  csv_dataset_config c;
  c.sparse = {"user_id", "item_id", "living_place", "time_bin"};
  c.labels = {{"rating"}};
  c.scenario_column = "domain";
  c.scenario_values = {"book", "music", "movie"};
  return c;
}

inline csv_dataset_config scenario_datasets::kuairand_config() {
  csv_dataset_config c;
  c.sparse = {"user_id", "video_id", "user_active_degree", "is_lowactive_period", "is_live_streamer", "is_video_author",
              "follow_user_num_range", "fans_user_num_range", "friend_user_num_range", "register_days_range"};
  for (int i = 0; i < 18; ++i) c.sparse.push_back("onehot_feat" + std::to_string(i));
  for (const char* f : {"video_type", "visible_status", "server_width", "server_height"}) c.sparse.push_back(f);
  c.dense = {"follow_user_num", "fans_user_num", "friend_user_num", "register_days"};
  c.labels = {{"is_click"}};
  c.scenario_column = "tab";
  c.scenario_values = {"0", "1", "2", "4", "6"};
  c.drop_unknown_scenarios = true;
  c.compact_scenarios = true;
  return c;
}

inline csv_dataset_config scenario_datasets::ali_ccp_config() {
  csv_dataset_config c;
  c.sparse = {"101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207",
              "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14"};
  c.dense = {"D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853"};
  c.labels = {{"click"}};
  c.scenario_column = "301";
  c.scenario_values = {"1", "2", "3"};
  c.scale_dense = false;
  c.min_count = 10;
  return c;
}

inline csv_dataset_config scenario_datasets::mind_config() {
  csv_dataset_config c;
  c.sparse = {"User_ID", "News_ID", "SubCategory"};
  c.labels = {{"label"}};
  c.scenario_column = "Category";
  c.scenario_values = {"news", "lifestyle", "sports", "finance"};
  c.drop_unknown_scenarios = true;
  return c;
}

inline loaded_dataset scenario_datasets::load(const std::string& name, const std::string& dir,
                                              std::array<double, 3> ratios, std::uint64_t seed) {
  auto one_file = [&](csv_dataset_config cfg, const char* file) {
    csv_dataset b(std::move(cfg));
    const csv_reader t = csv_reader::from_file(dir + "/" + file);
    csv_splits s = b.load(t, ratios, seed);
    return loaded_dataset{name, std::move(b), std::move(s)};
  };
  if (name == "douban") return one_file(douban_config(), "douban_sample.csv");
  if (name == "kuairand") return one_file(kuairand_config(), "kuairand_sample.csv");
  if (name == "mind") return one_file(mind_config(), "mind_sample.csv");
  if (name == "ali_ccp") {
    csv_dataset b(ali_ccp_config());
    const auto train = csv_reader::from_file(dir + "/ali_ccp_train_sample.csv");
    const auto val = csv_reader::from_file(dir + "/ali_ccp_val_sample.csv");
    const auto test = csv_reader::from_file(dir + "/ali_ccp_test_sample.csv");
    csv_splits s = b.load(train, val, test);
    return loaded_dataset{name, std::move(b), std::move(s)};
  }
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw value_error("data::scenario_datasets::load: unknown dataset '" + name + "' (known: " + known + ")");
}

}  // namespace recblocks::data
