#pragma once
/// \file movielens_genre.hpp
/// MovieLens-100K with item-side scenarios and per-scenario behaviour sequences (M-scan's data; a
/// user acts in several scenarios, which age-group scenarios cannot give).
///
/// Scenario = a group of the movie's first genre flag (u.genre index), three groups of similar size:
///
/// | id | group          | first genres (u.genre index)                                             | rows   | movies | click rate |
/// |----|----------------|---------------------------------------------------------------------------|--------|--------|------------|
/// | 0  | action         | Action 1, Adventure 2, Horror 11, Sci-Fi 15, Thriller 16, War 17, Western 18 | 34,863 | 442 | 0.523 |
/// | 1  | light          | unknown 0, Animation 3, Children's 4, Comedy 5, Fantasy 9, Musical 12, Romance 14 | 29,745 | 552 | 0.508 |
/// | 2  | serious        | Crime 6, Documentary 7, Drama 8, Film-Noir 10, Mystery 13                  | 35,392 | 688 | 0.623 |
///
/// (counts on the full u.data: 100,000 rows, 943 users, 1,682 movies.) Label = rating > 3.
/// Features: sparse user_id (raw id, vocabulary 944), movie_id (raw id, 1,683), gender, occupation,
/// zip (label-encoded over the u.user catalogue: 1 + index of the sorted distinct value), dense age
/// (min-max over u.user); scenario `genre_group`; label `click`; sequences from
/// `sequence_builder` over the movie ids: `seq_current`, `seq_other_0`, `seq_other_1` (L each),
/// `seq_all` (L_all). A behaviour is a click (rating > 3): histories hold the movies the user rated
/// above 3 strictly before the row's timestamp. Ids come from the catalogues (u.user, u.item), which
/// are known in advance, so no encoder is fitted on interactions and nothing leaks across splits.
///
/// Rows are ordered by (user, timestamp, u.data order). Split: `sequence_builder::time_split`, per
/// user chronological 8:1:1 (documented there).
///
/// Errors: `io_error` when a file is missing, `parse_error` for malformed lines or a rating whose user or
/// movie is not in the catalogues, `value_error` from the builder/split (e.g. a scenario with no rows in
/// a part). Complexity: O(rows (S L + L_all)). Thread-safety: immutable after construction.

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "csv_dataset.hpp"
#include "csv_reader.hpp"
#include "dataset.hpp"
#include "sequence_builder.hpp"

namespace recblocks::data {

class movielens_genre {
 public:
  static constexpr index_t scenarios = 3;

  explicit movielens_genre(const std::string& dir, const sequence_builder_options& opt = {});

  /// The scenario of a first-genre index (0..18; -1 = no flag set, grouped with "unknown").
  static index_t genre_group(index_t first_genre);
  /// "action", "light", "serious".
  static const char* group_name(index_t group);

  const schema& get_schema() const { return all_.get_schema(); }
  /// Every row, ordered by (user, time).
  const dataset& all() const { return all_; }
  /// The interaction log the sequences were built from (same row order as `all()`).
  const sequence_log& log() const { return log_; }
  /// The time-ordered split (see file docs).
  csv_splits load(std::array<double, 3> ratios = {0.8, 0.1, 0.1}) const;

 private:
  sequence_log log_;
  dataset all_{schema{}};
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline index_t movielens_genre::genre_group(index_t g) {
  switch (g) {
    case 1: case 2: case 11: case 15: case 16: case 17: case 18: return 0;
    case 6: case 7: case 8: case 10: case 13: return 2;
    default: return 1;  // -1, 0, 3, 4, 5, 9, 12, 14
  }
}

inline const char* movielens_genre::group_name(index_t group) {
  static const char* names[] = {"action", "light", "serious"};
  return group >= 0 && group < 3 ? names[group] : "?";
}

inline movielens_genre::movielens_genre(const std::string& dir, const sequence_builder_options& opt) {
  const csv_options bar{.delimiter = '|', .quote = '\0', .header = false};
  const csv_reader user(read_file(dir + "/u.user"), bar, dir + "/u.user");
  const csv_reader item(latin1_to_utf8(read_file(dir + "/u.item")), bar, dir + "/u.item");
  const csv_reader data(read_file(dir + "/u.data"), {.delimiter = '\t', .quote = '\0', .header = false}, dir + "/u.data");
  if (user.columns() != 5) throw parse_error(dir + "/u.user:1:1: expected 5 fields, found " + std::to_string(user.columns()));
  if (item.columns() != 24) throw parse_error(dir + "/u.item:1:1: expected 24 fields, found " + std::to_string(item.columns()));
  if (data.columns() != 4) throw parse_error(dir + "/u.data:1:1: expected 4 fields, found " + std::to_string(data.columns()));
  // catalogue encodings
  auto encode = [&](index_t col) {
    std::map<std::string, index_t> ids;
    for (index_t r = 0; r < user.rows(); ++r) ids.emplace(std::string(user.cell(r, col)), 0);
    index_t k = 1;
    for (auto& [v, id] : ids) id = k++;
    return ids;
  };
  const auto gender = encode(2), occupation = encode(3), zip = encode(4);
  std::unordered_map<index_t, index_t> user_row;
  index_t max_user = 0, max_item = 0;
  double age_lo = 1e300, age_hi = -1e300;
  for (index_t r = 0; r < user.rows(); ++r) {
    const index_t id = user.integer(r, 0);
    if (id < 1) throw parse_error(user.where(r, 0) + ": user id " + std::to_string(id) + " must be >= 1");
    user_row[id] = r;
    max_user = std::max(max_user, id);
    const double a = double(user.integer(r, 1));
    age_lo = std::min(age_lo, a);
    age_hi = std::max(age_hi, a);
  }
  std::unordered_map<index_t, index_t> group_of;
  for (index_t r = 0; r < item.rows(); ++r) {
    const index_t id = item.integer(r, 0);
    if (id < 1) throw parse_error(item.where(r, 0) + ": movie id " + std::to_string(id) + " must be >= 1");
    index_t g = -1;
    for (index_t f = 0; f < 19 && g < 0; ++f)
      if (item.binary(r, 5 + f) == 1.0) g = f;
    group_of[id] = genre_group(g);
    max_item = std::max(max_item, id);
  }
  // rows ordered by (user, time, file order)
  std::vector<index_t> order(static_cast<std::size_t>(data.rows()));
  std::iota(order.begin(), order.end(), index_t{0});
  std::vector<index_t> u(order.size()), m(order.size());
  std::vector<std::int64_t> ts(order.size());
  for (index_t r = 0; r < data.rows(); ++r) {
    u[static_cast<std::size_t>(r)] = data.integer(r, 0);
    m[static_cast<std::size_t>(r)] = data.integer(r, 1);
    ts[static_cast<std::size_t>(r)] = data.integer(r, 3);
    if (!user_row.count(u[static_cast<std::size_t>(r)]))
      throw parse_error(data.where(r, 0) + ": user " + std::string(data.cell(r, 0)) + " not in u.user");
    if (!group_of.count(m[static_cast<std::size_t>(r)]))
      throw parse_error(data.where(r, 1) + ": movie " + std::string(data.cell(r, 1)) + " not in u.item");
  }
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
    const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
    return u[ua] != u[ub] ? u[ua] < u[ub] : ts[ua] < ts[ub];
  });
  std::vector<double> clicks(order.size());
  for (index_t r : order) {
    const auto k = static_cast<std::size_t>(r);
    const double rating = double(data.integer(r, 2));
    log_.user.push_back(u[k]);
    log_.item.push_back(m[k]);
    log_.time.push_back(ts[k]);
    log_.scenario.push_back(group_of.at(m[k]));
    log_.behaviour.push_back(rating > 3 ? 1 : 0);
  }
  const index_t item_vocab = max_item + 1;
  const scenario_histories h = sequence_builder::build(log_, scenarios, item_vocab, opt);
  schema s;
  s.add({.name = "user_id", .kind = feature_kind::sparse, .vocabulary = max_user + 1});
  s.add({.name = "movie_id", .kind = feature_kind::sparse, .vocabulary = item_vocab});
  s.add({.name = "gender", .kind = feature_kind::sparse, .vocabulary = static_cast<index_t>(gender.size()) + 1});
  s.add({.name = "occupation", .kind = feature_kind::sparse, .vocabulary = static_cast<index_t>(occupation.size()) + 1});
  s.add({.name = "zip", .kind = feature_kind::sparse, .vocabulary = static_cast<index_t>(zip.size()) + 1});
  s.add({.name = "age", .kind = feature_kind::dense});
  s.add({.name = "genre_group", .kind = feature_kind::scenario, .scenarios = scenarios});
  s.add({.name = "click", .kind = feature_kind::label});
  sequence_builder::add_features(s, scenarios, item_vocab, opt);
  all_ = dataset(s);
  all_.reserve(log_.rows());
  for (index_t r = 0; r < log_.rows(); ++r) {
    const auto k = static_cast<std::size_t>(r);
    const index_t ur = user_row.at(log_.user[k]);
    const std::array<index_t, 5> sparse{log_.user[k], log_.item[k], gender.at(std::string(user.cell(ur, 2))),
                                        occupation.at(std::string(user.cell(ur, 3))), zip.at(std::string(user.cell(ur, 4)))};
    const std::array<double, 1> dense{age_hi > age_lo ? (double(user.integer(ur, 1)) - age_lo) / (age_hi - age_lo) : 0.0};
    const std::array<double, 1> label{double(log_.behaviour[k])};
    all_.append(sparse, dense, log_.scenario[k], label, sequence_builder::row_sequences(h, r));
  }
  all_.validate();
}

inline csv_splits movielens_genre::load(std::array<double, 3> ratios) const {
  const auto parts = sequence_builder::time_split(log_, scenarios, ratios);
  return csv_splits{all_.subset(parts[0]), all_.subset(parts[1]), all_.subset(parts[2])};
}

}  // namespace recblocks::data
