#pragma once
/// \file movielens.hpp
/// MovieLens-100K with Scenario-Wise Rec's MovieLens recipe, adapted to 100K's exact ages.
///
/// Files (GroupLens ml-100k layout, read from `dir`):
/// - `u.data`: `user_id \t movie_id \t rating \t timestamp` (100,000 rows);
/// - `u.user`: `user_id|age|gender|occupation|zip_code` (943 users);
/// - `u.item`: `movie_id|title|release_date|video_release_date|IMDb_URL|` + 19 genre flags, Latin-1
///   (converted to UTF-8 before parsing, so any byte >= 0x80 is safe).
///
/// Recipe (Scenario-Wise Rec `run_movielens_rank_multi_domain.py` on ML-1M, whose age codes are
/// {1,18} / {25} / {35,45,50,56}; 100K stores exact ages, so the same boundaries become):
///
///     scenario = 0 if age < 25, 1 if 25 <= age < 35, 2 if age >= 35
///     label    = rating > 3
///     sparse   = user_id, movie_id, gender, occupation, zip, genre (= the item's first genre flag,
///                by u.genre index; label-encoded, fitted on the train split)
///     dense    = age (min-max on the train split)
///
/// On the full data: 100,000 rows, 943 users, 1,682 items, 55,375 positives, scenario rows
/// 26,551 / 35,444 / 38,005 (234 / 310 / 399 users). The split is random 8:1:1 (seed 2022 by
/// default, as in the scripts).
///
/// Errors: `io_error` when a file is missing, `parse_error` ("file:line:column ...") naming the file
/// and line the user must fix for: malformed lines, a user or movie id listed twice, a non-integer age
/// or a comma in a u.user field, a rating outside 1..5, a rating whose user or movie is not in
/// u.user / u.item. Complexity: O(rows).
/// Thread-safety: immutable after construction.

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "csv_dataset.hpp"
#include "csv_reader.hpp"

namespace recblocks::data {

class movielens {
 public:
  /// Reads and joins the three files in `dir`.
  explicit movielens(const std::string& dir);

  /// The joined table: user_id, movie_id, rating, age, gender, occupation, zip, genre (one row per rating).
  const csv_reader& table() const { return table_; }
  index_t users() const { return users_; }
  index_t items() const { return items_; }

  /// The recipe's column roles (see file docs).
  static csv_dataset_config config();
  /// The age-group scenario of an age text ("24" -> 0); -1 if it is not an integer.
  static index_t age_group(std::string_view age);

  /// Splits and encodes with the recipe; `builder` (if given) receives the fitted encoders.
  csv_splits load(std::array<double, 3> ratios = {0.8, 0.1, 0.1}, std::uint64_t seed = 2022,
                  csv_dataset* builder = nullptr) const;

 private:
  index_t users_ = 0, items_ = 0;  // declared before table_: the join fills them while table_ is built
  csv_reader table_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline index_t movielens::age_group(std::string_view age) {
  index_t a = 0;
  const auto [end, ec] = std::from_chars(age.data(), age.data() + age.size(), a);
  if (ec != std::errc() || end != age.data() + age.size()) return -1;
  return a < 25 ? 0 : a < 35 ? 1 : 2;
}

inline csv_dataset_config movielens::config() {
  csv_dataset_config c;
  c.sparse = {"user_id", "movie_id", "gender", "occupation", "zip", "genre"};
  c.dense = {"age"};
  c.labels = {{"rating", 3.0}};
  c.scenario_column = "age";
  c.scenario_of = age_group;
  return c;
}

namespace detail {

inline csv_reader movielens_join(const std::string& dir, index_t& users, index_t& items) {
  const csv_options bar{.delimiter = '|', .quote = '\0', .header = false};
  const csv_reader user(read_file(dir + "/u.user"), bar, dir + "/u.user");
  const csv_reader item(latin1_to_utf8(read_file(dir + "/u.item")), bar, dir + "/u.item");
  const csv_reader data(read_file(dir + "/u.data"), {.delimiter = '\t', .quote = '\0', .header = false}, dir + "/u.data");
  if (user.columns() != 5) throw parse_error(dir + "/u.user:1:1: expected 5 fields, found " + std::to_string(user.columns()));
  if (item.columns() != 24) throw parse_error(dir + "/u.item:1:1: expected 24 fields, found " + std::to_string(item.columns()));
  if (data.columns() != 4) throw parse_error(dir + "/u.data:1:1: expected 4 fields, found " + std::to_string(data.columns()));
  std::unordered_map<index_t, index_t> user_row, item_row;
  for (index_t r = 0; r < user.rows(); ++r) {
    const auto [it, fresh] = user_row.emplace(user.integer(r, 0), r);
    if (!fresh)
      throw parse_error(user.where(r, 0) + ": user id " + std::string(user.cell(r, 0)) + " is listed twice (first on line " +
                        std::to_string(user.line(it->second)) + ")");
    user.integer(r, 1);  // the age: a malformed one fails here, against u.user and its line
    for (index_t c = 2; c < 5; ++c)  // the joined table is comma-separated
      if (user.cell(r, c).find(',') != std::string_view::npos)
        throw parse_error(user.where(r, c) + ": field '" + std::string(user.cell(r, c)) + "' holds a comma");
  }
  std::vector<std::string> genre(static_cast<std::size_t>(item.rows()));
  for (index_t r = 0; r < item.rows(); ++r) {
    const auto [it, fresh] = item_row.emplace(item.integer(r, 0), r);
    if (!fresh)
      throw parse_error(item.where(r, 0) + ": movie id " + std::string(item.cell(r, 0)) + " is listed twice (first on line " +
                        std::to_string(item.line(it->second)) + ")");
    index_t g = -1;
    for (index_t f = 0; f < 19 && g < 0; ++f)
      if (item.binary(r, 5 + f) == 1.0) g = f;
    genre[static_cast<std::size_t>(r)] = g < 0 ? "none" : std::to_string(g);
  }
  users = user.rows();
  items = item.rows();
  std::string joined = "user_id,movie_id,rating,age,gender,occupation,zip,genre\n";
  joined.reserve(static_cast<std::size_t>(data.rows()) * 48);
  for (index_t r = 0; r < data.rows(); ++r) {
    const auto u = user_row.find(data.integer(r, 0));
    if (u == user_row.end()) throw parse_error(data.where(r, 0) + ": user " + std::string(data.cell(r, 0)) + " not in u.user");
    const auto i = item_row.find(data.integer(r, 1));
    if (i == item_row.end()) throw parse_error(data.where(r, 1) + ": movie " + std::string(data.cell(r, 1)) + " not in u.item");
    const index_t rating = data.integer(r, 2);  // a malformed rating fails here with its position
    if (rating < 1 || rating > 5) throw parse_error(data.where(r, 2) + ": rating " + std::to_string(rating) + " is outside 1..5");
    for (std::string_view v : {data.cell(r, 0), data.cell(r, 1), data.cell(r, 2), user.cell(u->second, 1),
                               user.cell(u->second, 2), user.cell(u->second, 3), user.cell(u->second, 4)}) {
      joined.append(v);
      joined.push_back(',');
    }
    joined.append(genre[static_cast<std::size_t>(i->second)]);
    joined.push_back('\n');
  }
  return csv_reader(joined, {.quote = '\0'}, dir + "/u.data (joined)");
}

}  // namespace detail

inline movielens::movielens(const std::string& dir) : table_(detail::movielens_join(dir, users_, items_)) {}

inline csv_splits movielens::load(std::array<double, 3> ratios, std::uint64_t seed, csv_dataset* builder) const {
  csv_dataset b(config());
  csv_splits out = b.load(table_, ratios, seed);
  if (builder) *builder = std::move(b);
  return out;
}

}  // namespace recblocks::data
