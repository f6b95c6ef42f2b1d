#pragma once
/// \file sequence_builder.hpp
/// Per-scenario behaviour sequences and a time-ordered split for any interaction log with user, item,
/// time and scenario columns (M-scan's inputs; papers.md section 9).
///
/// For every interaction r = (user u, item i, time t, scenario s) the builder gathers the user's
/// behaviours **strictly before t** (an earlier row with the same timestamp is not history):
///
///     current_r        the last L items of u in scenario s                     [L]
///     other_r[k]       the last L items of u in the k-th scenario other than s  [L] each, k = 0..S-2,
///                      other scenarios in ascending id order (for s = 1 of 3: scenarios 0, 2)
///     all_r            the last L_all items of u in any scenario (one sequence, no split)   [L_all]
///
/// Sequences are chronological (oldest first), left-aligned and 0-padded (0 is never an item: item
/// ids lie in [1, vocabulary)); their lengths are stored alongside. Which rows become behaviours is
/// `sequence_log::behaviour` (e.g. clicks only; empty = every row). An interaction with no earlier
/// behaviour has empty sequences (length 0), which is valid.
///
/// `time_split` (documented choice: per user, chronological): each user's interactions in time order
/// (ties by row order) go the first floor(r_0 n) to train, the next floor((r_0 + r_1) n) - floor(r_0 n)
/// to validation, the rest to test, so every training row of a user precedes (or ties with) that user's
/// validation and test rows. Sequences never look past the row's own time, so nothing from the future
/// leaks into any split. The split refuses (value_error) a part in which a scenario has no row.
///
/// Requires / errors (`value_error` naming the field, the row and the value, thrown before anything is
/// built): columns of different lengths; a user id < 0; an item outside [1, vocabulary); a scenario
/// outside [0, scenarios); a user whose times decrease from one of its rows to the next (the log must
/// be in non-decreasing time per user: sort it first); L or L_all < 1. `padded_sequences::validate`
/// throws for a length outside [0, L], an id outside [0, vocabulary), or a non-zero id in the padding.
/// Complexity: O(rows (S L + L_all)) time and memory. Thread-safety: pure functions.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "schema.hpp"

namespace recblocks::data {

/// One interaction per row (columns of equal length).
struct sequence_log {
  std::vector<index_t> user;
  std::vector<index_t> item;            ///< in [1, item_vocabulary)
  std::vector<std::int64_t> time;       ///< non-decreasing per user
  std::vector<index_t> scenario;        ///< in [0, scenarios)
  std::vector<char> behaviour;          ///< 1: the row enters later histories; empty = all rows

  index_t rows() const { return static_cast<index_t>(user.size()); }
};

/// `rows` padded sequences of `length` ids, row-major, with their lengths.
struct padded_sequences {
  index_t length = 0;
  std::vector<index_t> ids;      ///< [rows, length]
  std::vector<index_t> lengths;  ///< [rows]

  index_t rows() const { return static_cast<index_t>(lengths.size()); }
  /// Ids of row r as a vector of its real length (chronological).
  std::vector<index_t> row(index_t r) const {
    const auto b = ids.begin() + r * length;
    return {b, b + lengths[static_cast<std::size_t>(r)]};
  }
  /// `value_error` (naming `what`, row and value) for a length outside [0, length], an id outside
  /// [0, vocabulary) or a non-zero id after the length.
  void validate(index_t vocabulary, const std::string& what) const;
};

struct sequence_builder_options {
  index_t length = 20;      ///< L: per-scenario sequences
  index_t all_length = 50;  ///< L_all: the unsplit history
};

/// The sequences of every row of a log (see file docs).
struct scenario_histories {
  index_t scenarios = 0;
  padded_sequences current;
  std::vector<padded_sequences> other;  ///< S - 1 entries
  padded_sequences all;
};

class sequence_builder {
 public:
  /// Checks the log (see file docs) and builds the sequences of every row.
  static scenario_histories build(const sequence_log& log, index_t scenarios, index_t item_vocabulary,
                                  const sequence_builder_options& opt = {});

  /// Per-user chronological split into {train, validation, test} row lists (each ascending).
  static std::array<std::vector<index_t>, 3> time_split(const sequence_log& log, index_t scenarios,
                                                        std::array<double, 3> ratios = {0.8, 0.1, 0.1});

  /// The checks `build` runs (columns, ids, per-user time order).
  static void validate(const sequence_log& log, index_t scenarios, index_t item_vocabulary);

  /// Adds the sequence features to `s`, in this order: `<prefix>current`, `<prefix>other_0` ..
  /// `<prefix>other_{S-2}` (vocabulary `item_vocabulary`, max_length L), `<prefix>all` (L_all).
  static void add_features(schema& s, index_t scenarios, index_t item_vocabulary, const sequence_builder_options& opt = {},
                           const std::string& prefix = "seq_");

  /// Row `r`'s sequences in the order of `add_features` (for `dataset::append`).
  static std::vector<std::vector<index_t>> row_sequences(const scenario_histories& h, index_t r);
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline void padded_sequences::validate(index_t vocabulary, const std::string& what) const {
  const std::string where = "data::padded_sequences (" + what + "): ";
  if (static_cast<index_t>(ids.size()) != rows() * length)
    throw value_error(where + std::to_string(ids.size()) + " ids for " + std::to_string(rows()) + " rows of length " +
                      std::to_string(length));
  for (index_t r = 0; r < rows(); ++r) {
    const index_t n = lengths[static_cast<std::size_t>(r)];
    if (n < 0 || n > length)
      throw value_error(where + "row " + std::to_string(r) + ": length " + std::to_string(n) + " outside [0, " +
                        std::to_string(length) + "]");
    for (index_t p = 0; p < length; ++p) {
      const index_t id = ids[static_cast<std::size_t>(r * length + p)];
      if (p < n && (id < 0 || id >= vocabulary))
        throw value_error(where + "row " + std::to_string(r) + ", position " + std::to_string(p) + ": id " + std::to_string(id) +
                          " outside [0, " + std::to_string(vocabulary) + ")");
      if (p >= n && id != 0)
        throw value_error(where + "row " + std::to_string(r) + ", position " + std::to_string(p) + ": id " + std::to_string(id) +
                          " in the padding after length " + std::to_string(n));
    }
  }
}

inline void sequence_builder::validate(const sequence_log& log, index_t scenarios, index_t item_vocabulary) {
  const std::string where = "data::sequence_builder: ";
  const std::size_t n = log.user.size();
  if (log.item.size() != n || log.time.size() != n || log.scenario.size() != n || (!log.behaviour.empty() && log.behaviour.size() != n))
    throw value_error(where + "columns differ in length (user " + std::to_string(n) + ", item " + std::to_string(log.item.size()) +
                      ", time " + std::to_string(log.time.size()) + ", scenario " + std::to_string(log.scenario.size()) +
                      ", behaviour " + std::to_string(log.behaviour.size()) + ")");
  if (scenarios < 1) throw value_error(where + "scenarios must be >= 1, got " + std::to_string(scenarios));
  std::unordered_map<index_t, std::pair<std::int64_t, std::size_t>> last;  // user -> (time, row)
  for (std::size_t r = 0; r < n; ++r) {
    const std::string row = "row " + std::to_string(r) + ": ";
    if (log.user[r] < 0) throw value_error(where + row + "user " + std::to_string(log.user[r]) + " is negative");
    if (log.item[r] < 1 || log.item[r] >= item_vocabulary)
      throw value_error(where + row + "item " + std::to_string(log.item[r]) + " outside [1, " + std::to_string(item_vocabulary) +
                        ") (0 is the padding id)");
    if (log.scenario[r] < 0 || log.scenario[r] >= scenarios)
      throw value_error(where + row + "scenario " + std::to_string(log.scenario[r]) + " outside [0, " + std::to_string(scenarios) + ")");
    auto [it, fresh] = last.try_emplace(log.user[r], log.time[r], r);
    if (!fresh) {
      if (log.time[r] < it->second.first)
        throw value_error(where + row + "time " + std::to_string(log.time[r]) + " of user " + std::to_string(log.user[r]) +
                          " is before its previous row " + std::to_string(it->second.second) + " (time " +
                          std::to_string(it->second.first) + "): the time column must be non-decreasing per user");
      it->second = {log.time[r], r};
    }
  }
}

inline scenario_histories sequence_builder::build(const sequence_log& log, index_t scenarios, index_t item_vocabulary,
                                                  const sequence_builder_options& opt) {
  if (opt.length < 1 || opt.all_length < 1)
    throw value_error("data::sequence_builder: length and all_length must be >= 1, got " + std::to_string(opt.length) + ", " +
                      std::to_string(opt.all_length));
  validate(log, scenarios, item_vocabulary);
  const index_t n = log.rows(), L = opt.length, La = opt.all_length, S = scenarios;
  auto make = [n](index_t len) {
    padded_sequences p;
    p.length = len;
    p.ids.assign(static_cast<std::size_t>(n * len), 0);
    p.lengths.assign(static_cast<std::size_t>(n), 0);
    return p;
  };
  scenario_histories h;
  h.scenarios = S;
  h.current = make(L);
  h.all = make(La);
  for (index_t k = 0; k + 1 < S; ++k) h.other.push_back(make(L));
  auto write = [](padded_sequences& p, index_t r, const std::deque<index_t>& q) {
    const index_t m = std::min<index_t>(p.length, static_cast<index_t>(q.size()));
    const std::size_t skip = q.size() - static_cast<std::size_t>(m);
    for (index_t k = 0; k < m; ++k) p.ids[static_cast<std::size_t>(r * p.length + k)] = q[skip + static_cast<std::size_t>(k)];
    p.lengths[static_cast<std::size_t>(r)] = m;
  };
  struct state {
    std::vector<std::deque<index_t>> per;  // per scenario, last L
    std::deque<index_t> all;               // last L_all
    std::vector<index_t> pending;          // rows at the current timestamp, not yet history
    std::int64_t time = 0;
  };
  std::unordered_map<index_t, state> users;
  auto flush = [&](state& st) {
    for (index_t r : st.pending) {
      if (!log.behaviour.empty() && !log.behaviour[static_cast<std::size_t>(r)]) continue;
      const index_t item = log.item[static_cast<std::size_t>(r)];
      auto& q = st.per[static_cast<std::size_t>(log.scenario[static_cast<std::size_t>(r)])];
      q.push_back(item);
      if (static_cast<index_t>(q.size()) > L) q.pop_front();
      st.all.push_back(item);
      if (static_cast<index_t>(st.all.size()) > La) st.all.pop_front();
    }
    st.pending.clear();
  };
  for (index_t r = 0; r < n; ++r) {
    const auto ur = static_cast<std::size_t>(r);
    state& st = users[log.user[ur]];
    if (st.per.empty()) st.per.resize(static_cast<std::size_t>(S));
    if (!st.pending.empty() && log.time[ur] > st.time) flush(st);
    st.time = log.time[ur];
    const index_t s = log.scenario[ur];
    write(h.current, r, st.per[static_cast<std::size_t>(s)]);
    index_t k = 0;
    for (index_t o = 0; o < S; ++o)
      if (o != s) write(h.other[static_cast<std::size_t>(k++)], r, st.per[static_cast<std::size_t>(o)]);
    write(h.all, r, st.all);
    st.pending.push_back(r);
  }
  return h;
}

inline void sequence_builder::add_features(schema& s, index_t scenarios, index_t item_vocabulary,
                                          const sequence_builder_options& opt, const std::string& prefix) {
  s.add({.name = prefix + "current", .kind = feature_kind::sequence, .vocabulary = item_vocabulary, .max_length = opt.length});
  for (index_t k = 0; k + 1 < scenarios; ++k)
    s.add({.name = prefix + "other_" + std::to_string(k), .kind = feature_kind::sequence, .vocabulary = item_vocabulary,
           .max_length = opt.length});
  s.add({.name = prefix + "all", .kind = feature_kind::sequence, .vocabulary = item_vocabulary, .max_length = opt.all_length});
}

inline std::vector<std::vector<index_t>> sequence_builder::row_sequences(const scenario_histories& h, index_t r) {
  std::vector<std::vector<index_t>> out;
  out.reserve(h.other.size() + 2);
  out.push_back(h.current.row(r));
  for (const auto& o : h.other) out.push_back(o.row(r));
  out.push_back(h.all.row(r));
  return out;
}

inline std::array<std::vector<index_t>, 3> sequence_builder::time_split(const sequence_log& log, index_t scenarios,
                                                                        std::array<double, 3> ratios) {
  const std::string where = "data::sequence_builder::time_split: ";
  double sum = 0;
  for (double r : ratios) {
    if (!(r >= 0) || !std::isfinite(r)) throw value_error(where + "ratios must be finite and >= 0, got " + std::to_string(r));
    sum += r;
  }
  if (!(sum > 0)) throw value_error(where + "ratios sum to 0");
  const std::size_t n = log.user.size();
  if (log.time.size() != n || log.scenario.size() != n)
    throw value_error(where + "columns differ in length (user " + std::to_string(n) + ", time " + std::to_string(log.time.size()) +
                      ", scenario " + std::to_string(log.scenario.size()) + ")");
  std::unordered_map<index_t, std::vector<index_t>> by_user;
  std::vector<index_t> users;
  for (std::size_t r = 0; r < n; ++r) {
    auto [it, fresh] = by_user.try_emplace(log.user[r]);
    if (fresh) users.push_back(log.user[r]);
    it->second.push_back(static_cast<index_t>(r));
  }
  std::array<std::vector<index_t>, 3> parts;
  for (index_t u : users) {
    auto& rows = by_user[u];
    std::stable_sort(rows.begin(), rows.end(), [&](index_t a, index_t b) {
      return log.time[static_cast<std::size_t>(a)] < log.time[static_cast<std::size_t>(b)];
    });
    const double m = static_cast<double>(rows.size());
    const auto c0 = static_cast<std::size_t>(std::floor(m * ratios[0] / sum + 1e-9));
    const auto c1 = static_cast<std::size_t>(std::floor(m * (ratios[0] + ratios[1]) / sum + 1e-9));
    for (std::size_t k = 0; k < rows.size(); ++k) parts[k < c0 ? 0 : k < c1 ? 1 : 2].push_back(rows[k]);
  }
  const char* names[3] = {"train", "validation", "test"};
  for (std::size_t p = 0; p < 3; ++p) {
    std::sort(parts[p].begin(), parts[p].end());
    if (ratios[p] <= 0) continue;
    std::vector<index_t> count(static_cast<std::size_t>(std::max<index_t>(scenarios, 0)), 0);
    for (index_t r : parts[p]) {
      const index_t s = log.scenario[static_cast<std::size_t>(r)];
      if (s >= 0 && s < scenarios) ++count[static_cast<std::size_t>(s)];
    }
    for (index_t s = 0; s < scenarios; ++s)
      if (count[static_cast<std::size_t>(s)] == 0)
        throw value_error(where + "scenario " + std::to_string(s) + " has no rows in the " + names[p] + " part");
  }
  return parts;
}

}  // namespace recblocks::data
