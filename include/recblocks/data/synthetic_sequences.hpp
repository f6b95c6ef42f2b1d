#pragma once
/// \file synthetic_sequences.hpp
/// A synthetic interaction log with per-user behaviour histories and a known direct scenario effect on
/// clicks (S -> Y) on top of the interest path (U, I, S -> M -> Y): ground truth for M-scan's
/// counterfactual debiasing.
///
/// Items belong to scenarios (item-side scenarios, item i in scenario (i - 1) mod S). Each user u has a
/// taste vector p_u, a per-scenario interest shift w_{u,s} (S -> M) and scenario preferences; each of
/// its `per_user` interactions at times 1, 2, ... picks a scenario s by the user's preferences and an
/// item i of s uniformly, then
///
///     m     = interest_scale * <p_u, q_i> / sqrt(k) + w_{u,s}        the interest (mediator) logit
///     y     ~ Bernoulli(sigmoid(m + b_s))                            the observed click (S -> Y: b_s)
///     y_int ~ Bernoulli(sigmoid(m))                                  the counterfactual click with no
///                                                                    direct scenario effect (same u, i)
///
/// with clustered tastes p_u = P_{g(u)} + e_u, q_i = Q_{c(i)} + h_i (centres ~ N(0, I_k), e, h ~
/// N(0, within_cluster^2 I_k), user cluster g(u) uniform, item cluster c(i) = ((i - 1) / S) mod C), w_{u,s} ~ N(0, shift_scale^2) and b_s = `scenario_bias[s]`. A click is
/// a behaviour: sequences (from `sequence_builder`, per-user time split) hold earlier clicked items,
/// so the taste p_u is recoverable from them. `interest()` holds m per row, so a model's score can be
/// compared with the interest-only ground truth (AUC against `interest_click`, or rank correlation
/// with m).
///
/// Schema: sparse user_id (users + 1), item_id (items + 1); scenario "scenario" (S); labels "click",
/// "interest_click"; sequences `seq_current`, `seq_other_*`, `seq_all` (see `sequence_builder`).
/// Rows ordered by (user, time). Errors: `value_error` for non-positive sizes, a `scenario_bias`
/// whose length is not S, or items < S. Deterministic from `seed`. Thread-safety: immutable.

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "csv_dataset.hpp"
#include "dataset.hpp"
#include "sequence_builder.hpp"

namespace recblocks::data {

struct synthetic_sequences_options {
  index_t users = 800;
  index_t items = 600;
  index_t scenarios = 3;
  index_t per_user = 60;          ///< interactions per user
  index_t dim = 8;                ///< k
  index_t user_clusters = 8;      ///< tastes p_u = P_{g(u)} + e_u: G clusters
  index_t item_clusters = 12;     ///< q_i = Q_{c(i)} + h_i: C clusters (item i in cluster (i - 1) / S mod C)
  double within_cluster = 0.3;    ///< std of e_u and h_i (the cluster centres have std 1)
  double interest_scale = 2.0;
  double shift_scale = 0.5;       ///< S -> M strength
  std::vector<double> scenario_bias{-1.5, 0.0, 1.5};  ///< b_s, S -> Y
  sequence_builder_options sequences{.length = 20, .all_length = 50};
  std::uint64_t seed = 2024;
};

class synthetic_sequences {
 public:
  explicit synthetic_sequences(const synthetic_sequences_options& opt = {});

  const schema& get_schema() const { return all_.get_schema(); }
  const dataset& all() const { return all_; }
  const sequence_log& log() const { return log_; }
  /// The interest logit m of every row (row order of `all()`).
  const std::vector<double>& interest() const { return interest_; }
  /// Per-user chronological split (`sequence_builder::time_split`).
  std::array<std::vector<index_t>, 3> split_rows(std::array<double, 3> ratios = {0.8, 0.1, 0.1}) const {
    return sequence_builder::time_split(log_, opt_.scenarios, ratios);
  }
  csv_splits load(std::array<double, 3> ratios = {0.8, 0.1, 0.1}) const {
    const auto p = split_rows(ratios);
    return csv_splits{all_.subset(p[0]), all_.subset(p[1]), all_.subset(p[2])};
  }

 private:
  synthetic_sequences_options opt_;
  sequence_log log_;
  std::vector<double> interest_;
  dataset all_{schema{}};
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline synthetic_sequences::synthetic_sequences(const synthetic_sequences_options& opt) : opt_(opt) {
  const std::string where = "data::synthetic_sequences: ";
  const index_t S = opt.scenarios, k = opt.dim;
  if (opt.users < 1 || opt.items < 1 || S < 1 || opt.per_user < 1 || k < 1)
    throw value_error(where + "users, items, scenarios, per_user and dim must be >= 1");
  if (opt.items < S) throw value_error(where + "items (" + std::to_string(opt.items) + ") must be >= scenarios (" + std::to_string(S) + ")");
  if (static_cast<index_t>(opt.scenario_bias.size()) != S)
    throw value_error(where + "scenario_bias has " + std::to_string(opt.scenario_bias.size()) + " values for " + std::to_string(S) +
                      " scenarios");
  rng g(opt.seed);
  if (opt.user_clusters < 1 || opt.item_clusters < 1 || !(opt.within_cluster >= 0))
    throw value_error(where + "user_clusters and item_clusters must be >= 1 and within_cluster >= 0");
  matrix<double> pc(opt.user_clusters, k), qc(opt.item_clusters, k), q(opt.items + 1, k);
  g.fill_normal(pc, 0.0, 1.0);
  g.fill_normal(qc, 0.0, 1.0);
  g.fill_normal(q, 0.0, opt.within_cluster);
  for (index_t i = 1; i <= opt.items; ++i) q.row(i) += qc.row(((i - 1) / S) % opt.item_clusters);
  std::vector<std::vector<index_t>> items_of(static_cast<std::size_t>(S));
  for (index_t i = 1; i <= opt.items; ++i) items_of[static_cast<std::size_t>((i - 1) % S)].push_back(i);
  rng counterfactual = g.split();  // its own stream, so y_int does not perturb the observed log
  const double norm = 1.0 / std::sqrt(double(k));
  for (index_t u = 1; u <= opt.users; ++u) {
    matrix<double> p(1, k);
    g.fill_normal(p, 0.0, opt.within_cluster);
    p.row(0) += pc.row(g.integer(0, opt.user_clusters - 1));
    std::vector<double> shift(static_cast<std::size_t>(S)), pref(static_cast<std::size_t>(S));
    double total = 0;
    for (index_t s = 0; s < S; ++s) {
      shift[static_cast<std::size_t>(s)] = g.normal(0.0, opt.shift_scale);
      total += pref[static_cast<std::size_t>(s)] = std::exp(g.normal(0.0, 0.7));
    }
    for (index_t n = 0; n < opt.per_user; ++n) {
      double x = g.uniform(0.0, total);
      index_t s = 0;
      while (s + 1 < S && x >= pref[static_cast<std::size_t>(s)]) x -= pref[static_cast<std::size_t>(s++)];
      const auto& pool = items_of[static_cast<std::size_t>(s)];
      const index_t i = pool[static_cast<std::size_t>(g.integer(0, static_cast<index_t>(pool.size()) - 1))];
      const double m = opt.interest_scale * norm * p.row(0).dot(q.row(i)) + shift[static_cast<std::size_t>(s)];
      const bool y = g.bernoulli(1.0 / (1.0 + std::exp(-(m + opt.scenario_bias[static_cast<std::size_t>(s)]))));
      const bool y_int = counterfactual.bernoulli(1.0 / (1.0 + std::exp(-m)));
      log_.user.push_back(u);
      log_.item.push_back(i);
      log_.time.push_back(n + 1);
      log_.scenario.push_back(s);
      log_.behaviour.push_back(y ? 1 : 0);
      interest_.push_back(m);
      interest_.push_back(y_int ? 1.0 : 0.0);  // temporarily interleaved: (m, y_int)
    }
  }
  const scenario_histories h = sequence_builder::build(log_, S, opt.items + 1, opt.sequences);
  schema sc;
  sc.add({.name = "user_id", .kind = feature_kind::sparse, .vocabulary = opt.users + 1});
  sc.add({.name = "item_id", .kind = feature_kind::sparse, .vocabulary = opt.items + 1});
  sc.add({.name = "scenario", .kind = feature_kind::scenario, .scenarios = S});
  sc.add({.name = "click", .kind = feature_kind::label});
  sc.add({.name = "interest_click", .kind = feature_kind::label});
  sequence_builder::add_features(sc, S, opt.items + 1, opt.sequences);
  all_ = dataset(sc);
  all_.reserve(log_.rows());
  std::vector<double> m_only;
  m_only.reserve(static_cast<std::size_t>(log_.rows()));
  for (index_t r = 0; r < log_.rows(); ++r) {
    const auto k2 = static_cast<std::size_t>(r);
    const std::array<index_t, 2> sparse{log_.user[k2], log_.item[k2]};
    const std::array<double, 2> labels{double(log_.behaviour[k2]), interest_[2 * k2 + 1]};
    all_.append(sparse, std::span<const double>{}, log_.scenario[k2], labels, sequence_builder::row_sequences(h, r));
    m_only.push_back(interest_[2 * k2]);
  }
  interest_.swap(m_only);
  all_.validate();
}

}  // namespace recblocks::data
