#pragma once
/// \file synthetic.hpp
/// A synthetic multi-scenario CTR dataset with a known click model: the project's embedded default
/// data, usable offline and deterministic from a seed.
///
/// Entities: U users in G user groups, I items in C categories (popularity Zipf(`item_zipf`)),
/// X context values (e.g. hour bucket), S scenarios drawn per row with `scenario_weights`.
/// Every row draws a user (uniform), an item (by popularity), a context (uniform) and a scenario,
/// then a click y ~ Bernoulli(sigmoid(z)) with the logit
///
///     z = b_s                                   scenario base rate (scenario bias)
///       + a_u + a_i                             user and item biases
///       + <p_u, q_i>                            shared preference, p_u = P_g(u) + e_u, q_i = Q_c(i) + h_i
///       + <P^s_g(u), Q^s_c(i)>                  scenario-specific preference (group x category, per scenario)
///       + H[x, c(i)]                            context x category interaction
///       + w_s . (d_u, d_i) + rho d_u d_i        dense features (user activity d_u, item price d_i)
///       + kappa <mean_{j in hist(u)} q_j, q_i> / (sqrt(k) v_q)     only with behaviour sequences
///
/// with all vectors of dimension k = `dim`. Scales (standard deviations of each term, roughly):
/// a_u ~ N(0, user_bias^2), a_i ~ N(0, item_bias^2); P, e, Q, h chosen so that <p_u, q_i> has standard
/// deviation ~ `shared_scale` (half of it from the group/category means); P^s, Q^s so that the
/// specific term has ~ `specific_scale`; H ~ N(0, context_scale^2); w_s ~ N(0, dense_scale^2) per
/// scenario; rho = `interaction`; kappa = `history_scale`; v_q = the per-coordinate variance of q.
/// The scenarios differ in base rate b_s, in their own preference vectors P^s/Q^s and in w_s, so a
/// shared model without scenario-specific parameters cannot reach the Bayes AUC.
///
/// Optional parts: `history_length` L > 0 adds a sequence feature "history" (each user's fixed list
/// of 1..L past items, each chosen as the best of 4 popularity draws under <p_u, q_j>), which enters
/// the logit through kappa; `text_tokens` T > 0 adds a sequence feature "item_tokens": each item's bag
/// of T token ids in [1, text_vocabulary], 70 % drawn from its category's slice of the vocabulary.
///
/// Schema: sparse user_id (U+1), item_id (I+1), user_group (G+1), item_category (C+1), context
/// (X+1) — ids start at 1, 0 is "unknown" — [scenario_code (S+1)], dense user_activity, item_price,
/// [scenario_level] (the bracketed ones with `scenario_features`); sequences history,
/// item_tokens (when enabled); scenario "scenario" (S); label "click".
///
/// Bayes-optimal AUC: the AUC of the true probabilities sigmoid(z) against the sampled labels
/// (`probability()`), overall and per scenario: see `eval::bayes_report`. With the defaults
/// (60,000 rows, 3 scenarios, seed 2024) it is 0.8305 overall, 0.813 / 0.802 / 0.833 per scenario, and
/// the scenario positive rates are 0.291 / 0.438 / 0.592 (29,988 / 17,994 / 12,018 rows).
///
/// Determinism: the same config gives the same data with the same standard library (the normal
/// and uniform draws go through `recblocks::rng`). Errors: `value_error` for non-positive sizes,
/// weights or biases of the wrong length, negative scales. Complexity: O(rows (k + L + T)).
/// Thread-safety: immutable after construction.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "dataset.hpp"
#include "schema.hpp"
#include "split.hpp"

namespace recblocks::data {

/// Sizes and scales of the generative model (see file docs).
struct synthetic_config {
  index_t rows = 60000;
  index_t users = 2000;
  index_t user_groups = 12;
  index_t items = 1000;
  index_t categories = 16;
  index_t contexts = 8;
  index_t scenarios = 3;
  index_t dim = 8;
  std::vector<double> scenario_weights = {0.5, 0.3, 0.2};  ///< empty: uniform
  std::vector<double> scenario_bias = {-1.1, -0.3, 0.5};   ///< b_s; empty: evenly spaced in [-1.1, 0.5]
  double user_bias = 0.3;
  double item_bias = 0.5;
  double shared_scale = 0.9;
  double specific_scale = 0.9;
  double context_scale = 0.4;
  double dense_scale = 0.3;
  double interaction = 0.3;
  double item_zipf = 0.8;
  index_t history_length = 0;  ///< L; 0: no "history" feature
  double history_scale = 0.8;  ///< kappa
  index_t text_tokens = 0;     ///< T; 0: no "item_tokens" feature
  index_t text_vocabulary = 512;
  /// Adds features constant within each scenario (a scenario embedding and a scenario-level dense
  /// value, as real data often has): sparse "scenario_code" = s + 1 (vocabulary S + 1) and dense
  /// "scenario_level" = b_s. They carry no information beyond the scenario id; per-scenario batch
  /// statistics (sorted routing while training) erase them, whole-batch statistics keep them.
  bool scenario_features = false;
  std::uint64_t seed = 2024;

  /// The settings of the tools' demo data (`scenario_benchmark` / `train_msr` with `--data synthetic`,
  /// the README's first screen; `--synthetic classic` gives the defaults above). Fewer users and items
  /// (more training rows per id) and more of the signal in the learnable group x category terms, so the
  /// models come close to the Bayes AUC (the demo run, 60,000 rows: Bayes test AUC 0.8909; classic
  /// 0.8305); measured in docs/results.md ("The synthetic demo data"). Rows are the caller's.
  static synthetic_config demo() {
    synthetic_config c;
    c.users = 150;           // 320 training rows per user at the demo's 60,000 rows (classic: 24)
    c.items = 150;
    c.specific_scale = 1.8;  // the scenario x group x category term (classic: 0.9)
    return c;
  }

  /// A named setting (`demo`, `classic` = the member defaults) with optional overrides
  /// `name[,key=value...]` of users, items, user_groups, categories, contexts, dim, user_bias,
  /// item_bias, shared_scale, specific_scale, context_scale, dense_scale, interaction, item_zipf;
  /// `value_error` for an unknown name or key or a value that is not a number.
  static synthetic_config named(const std::string& spec) {
    const std::string where = "data::synthetic_config::named: ";
    std::size_t pos = spec.find(',');
    const std::string name = spec.substr(0, pos);
    synthetic_config c;
    if (name == "demo") c = demo();
    else if (name != "classic") throw value_error(where + "unknown setting '" + name + "' (expected demo or classic)");
    while (pos != std::string::npos) {
      const std::size_t next = spec.find(',', pos + 1);
      const std::string kv = spec.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      pos = next;
      const std::size_t eq = kv.find('=');
      const std::string key = kv.substr(0, eq);
      double v = 0;
      try {
        std::size_t used = 0;
        if (eq == std::string::npos) throw std::invalid_argument(kv);
        v = std::stod(kv.substr(eq + 1), &used);
        if (used != kv.size() - eq - 1) throw std::invalid_argument(kv);
      } catch (const std::exception&) {
        throw value_error(where + "'" + kv + "' is not key=number");
      }
      const auto count = static_cast<index_t>(v);
      if (key == "users") c.users = count;
      else if (key == "items") c.items = count;
      else if (key == "user_groups") c.user_groups = count;
      else if (key == "categories") c.categories = count;
      else if (key == "contexts") c.contexts = count;
      else if (key == "dim") c.dim = count;
      else if (key == "user_bias") c.user_bias = v;
      else if (key == "item_bias") c.item_bias = v;
      else if (key == "shared_scale") c.shared_scale = v;
      else if (key == "specific_scale") c.specific_scale = v;
      else if (key == "context_scale") c.context_scale = v;
      else if (key == "dense_scale") c.dense_scale = v;
      else if (key == "interaction") c.interaction = v;
      else if (key == "item_zipf") c.item_zipf = v;
      else throw value_error(where + "unknown key '" + key + "'");
    }
    return c;
  }
};

/// The generated dataset, its true click probabilities and ground truth.
class synthetic {
 public:
  explicit synthetic(synthetic_config config = {});

  const synthetic_config& config() const { return config_; }
  const dataset& data() const { return data_; }
  /// True click probability sigmoid(z) per row of `data()`.
  std::span<const double> probability() const { return probability_; }
  /// True logit z per row.
  std::span<const double> logit() const { return logit_; }
  /// b_s per scenario.
  const std::vector<double>& scenario_bias() const { return bias_; }

  /// The three parts of `split_indices(rows, ratios, seed)` with their true probabilities.
  struct split_result {
    std::array<dataset, 3> parts;
    std::array<std::vector<double>, 3> probability;
  };
  split_result split(std::array<double, 3> ratios, std::uint64_t seed) const;

 private:
  synthetic_config config_;
  dataset data_;
  std::vector<double> probability_, logit_, bias_;
};

// ---------------------------------------------------------------------------------------------
// Implementation. Header-only use compiles it inline in every translation unit that includes this
// header. A target linking the optional `recblocks::instantiations` library (RECBLOCKS_EXTERN_TEMPLATES)
// sees only the declarations above: src/instantiations/synthetic.cpp defines
// RECBLOCKS_SYNTHETIC_DEFINITIONS and compiles these definitions once, not inline (docs/performance.md,
// "Compile time": the generator is a third of a small training program's compile time).
// ---------------------------------------------------------------------------------------------

#if !defined(RECBLOCKS_EXTERN_TEMPLATES) || defined(RECBLOCKS_SYNTHETIC_DEFINITIONS)

#if defined(RECBLOCKS_SYNTHETIC_DEFINITIONS)
#define RECBLOCKS_SYNTHETIC_INLINE
#else
#define RECBLOCKS_SYNTHETIC_INLINE inline
#endif

namespace detail {

inline schema synthetic_schema(const synthetic_config& c) {
  schema s;
  s.add({"user_id", feature_kind::sparse, c.users + 1})
      .add({"item_id", feature_kind::sparse, c.items + 1})
      .add({"user_group", feature_kind::sparse, c.user_groups + 1})
      .add({"item_category", feature_kind::sparse, c.categories + 1})
      .add({"context", feature_kind::sparse, c.contexts + 1});
  if (c.scenario_features) s.add({"scenario_code", feature_kind::sparse, c.scenarios + 1});
  s.add({"user_activity", feature_kind::dense}).add({"item_price", feature_kind::dense});
  if (c.scenario_features) s.add({"scenario_level", feature_kind::dense});
  if (c.history_length > 0) s.add({"history", feature_kind::sequence, c.items + 1, c.history_length});
  if (c.text_tokens > 0) s.add({"item_tokens", feature_kind::sequence, c.text_vocabulary + 1, c.text_tokens});
  s.add({"scenario", feature_kind::scenario, 0, 0, c.scenarios}).add({"click", feature_kind::label});
  return s;
}

/// Index drawn from a cumulative weight table with one uniform draw.
inline index_t draw_cumulative(const std::vector<double>& cumulative, rng& r) {
  const double u = r.uniform(0.0, cumulative.back());
  const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
  return std::min<index_t>(static_cast<index_t>(it - cumulative.begin()), static_cast<index_t>(cumulative.size()) - 1);
}

}  // namespace detail

RECBLOCKS_SYNTHETIC_INLINE synthetic::synthetic(synthetic_config c) : config_(std::move(c)), data_(schema{}) {
  const char* block = "data::synthetic";
  auto positive = [&](index_t v, const char* name) {
    if (v < 1) throw value_error(std::string(block) + ": " + name + " must be >= 1, got " + std::to_string(v));
  };
  positive(config_.rows, "rows");
  positive(config_.users, "users");
  positive(config_.user_groups, "user_groups");
  positive(config_.items, "items");
  positive(config_.categories, "categories");
  positive(config_.contexts, "contexts");
  positive(config_.scenarios, "scenarios");
  positive(config_.dim, "dim");
  if (config_.text_tokens > 0) positive(config_.text_vocabulary, "text_vocabulary");
  if (config_.history_length < 0 || config_.text_tokens < 0)
    throw value_error(std::string(block) + ": history_length and text_tokens must be >= 0");
  for (double v : {config_.user_bias, config_.item_bias, config_.shared_scale, config_.specific_scale,
                   config_.context_scale, config_.dense_scale, config_.item_zipf})
    if (!(v >= 0) || !std::isfinite(v)) throw value_error(std::string(block) + ": scales must be finite and >= 0");
  const auto S = static_cast<std::size_t>(config_.scenarios);
  std::vector<double> weights = config_.scenario_weights;
  if (weights.empty()) weights.assign(S, 1.0);
  if (weights.size() != S)
    throw value_error(std::string(block) + ": scenario_weights has " + std::to_string(weights.size()) + " values for " +
                      std::to_string(S) + " scenarios");
  bias_ = config_.scenario_bias;
  if (bias_.empty())
    for (std::size_t s = 0; s < S; ++s) bias_.push_back(S == 1 ? 0.0 : -1.1 + 1.6 * static_cast<double>(s) / static_cast<double>(S - 1));
  if (bias_.size() != S)
    throw value_error(std::string(block) + ": scenario_bias has " + std::to_string(bias_.size()) + " values for " +
                      std::to_string(S) + " scenarios");
  std::vector<double> scenario_cdf;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) throw value_error(std::string(block) + ": scenario weights must be >= 0");
    scenario_cdf.push_back((scenario_cdf.empty() ? 0.0 : scenario_cdf.back()) + w);
  }
  if (!(scenario_cdf.back() > 0)) throw value_error(std::string(block) + ": scenario weights sum to 0");

  data_ = dataset(detail::synthetic_schema(config_));
  rng r(config_.seed);
  const index_t U = config_.users, I = config_.items, G = config_.user_groups, C = config_.categories,
                X = config_.contexts, k = config_.dim;
  const double sk = std::sqrt(static_cast<double>(k));
  // <p, q> with p, q of per-coordinate variance v each has variance k v^2: v = scale / sqrt(k).
  const double v_shared = config_.shared_scale / sk, v_specific = config_.specific_scale / sk;
  const double sd_shared_half = std::sqrt(v_shared / 2), sd_specific = std::sqrt(v_specific);

  // ground truth
  std::vector<index_t> group(static_cast<std::size_t>(U)), category(static_cast<std::size_t>(I));
  for (auto& g : group) g = r.integer(0, G - 1);
  for (auto& cat : category) cat = r.integer(0, C - 1);
  matrix<double> P(G, k), Q(C, k), p(U, k), q(I, k);
  r.fill_normal(P, 0.0, sd_shared_half);
  r.fill_normal(Q, 0.0, sd_shared_half);
  r.fill_normal(p, 0.0, sd_shared_half);
  r.fill_normal(q, 0.0, sd_shared_half);
  for (index_t u = 0; u < U; ++u) p.row(u) += P.row(group[static_cast<std::size_t>(u)]);
  for (index_t i = 0; i < I; ++i) q.row(i) += Q.row(category[static_cast<std::size_t>(i)]);
  std::vector<matrix<double>> Ps(S, matrix<double>(G, k)), Qs(S, matrix<double>(C, k));
  for (std::size_t s = 0; s < S; ++s) {
    r.fill_normal(Ps[s], 0.0, sd_specific);
    r.fill_normal(Qs[s], 0.0, sd_specific);
  }
  // specific term per (scenario, group, category), precomputed: [S][G x C]
  std::vector<matrix<double>> specific(S);
  for (std::size_t s = 0; s < S; ++s) specific[s] = Ps[s] * Qs[s].transpose();
  matrix<double> H(X, C);
  r.fill_normal(H, 0.0, config_.context_scale);
  std::vector<double> a_user(static_cast<std::size_t>(U)), a_item(static_cast<std::size_t>(I)),
      activity(static_cast<std::size_t>(U)), price(static_cast<std::size_t>(I));
  for (auto& v : a_user) v = r.normal(0.0, config_.user_bias);
  for (auto& v : a_item) v = r.normal(0.0, config_.item_bias);
  for (auto& v : activity) v = r.normal();
  for (auto& v : price) v = r.normal();
  matrix<double> w(static_cast<index_t>(S), 2);
  r.fill_normal(w, 0.0, config_.dense_scale);
  // item popularity: Zipf over a random permutation of ranks
  std::vector<index_t> rank = detail::iota(I);
  detail::shuffle(rank, r.engine()());
  std::vector<double> item_cdf(static_cast<std::size_t>(I));
  for (index_t i = 0; i < I; ++i)
    item_cdf[static_cast<std::size_t>(i)] = (i ? item_cdf[static_cast<std::size_t>(i - 1)] : 0.0) +
                                            std::pow(static_cast<double>(rank[static_cast<std::size_t>(i)]) + 1.0, -config_.item_zipf);
  // behaviour histories and their mean item vector per user
  const index_t L = config_.history_length;
  std::vector<std::vector<index_t>> history(static_cast<std::size_t>(L > 0 ? U : 0));
  matrix<double> history_mean = matrix<double>::Zero(L > 0 ? U : 0, k);
  for (index_t u = 0; u < (L > 0 ? U : 0); ++u) {
    const index_t len = r.integer(1, L);
    auto& h = history[static_cast<std::size_t>(u)];
    for (index_t t = 0; t < len; ++t) {
      index_t best = -1;
      double best_score = 0;
      for (int draw = 0; draw < 4; ++draw) {
        const index_t j = detail::draw_cumulative(item_cdf, r);
        const double score = p.row(u).dot(q.row(j));
        if (best < 0 || score > best_score) {
          best = j;
          best_score = score;
        }
      }
      h.push_back(best + 1);
      history_mean.row(u) += q.row(best) / static_cast<double>(len);
    }
  }
  // item token bags
  const index_t T = config_.text_tokens, V = config_.text_vocabulary;
  std::vector<std::vector<index_t>> tokens(static_cast<std::size_t>(T > 0 ? I : 0));
  for (index_t i = 0; i < (T > 0 ? I : 0); ++i) {
    const index_t cat = category[static_cast<std::size_t>(i)];
    const index_t lo = cat * V / C, hi = std::max(lo + 1, (cat + 1) * V / C);
    for (index_t t = 0; t < T; ++t)
      tokens[static_cast<std::size_t>(i)].push_back(1 + (r.bernoulli(0.7) ? r.integer(lo, std::min(hi, V) - 1) : r.integer(0, V - 1)));
  }
  const double history_norm = sk * v_shared > 0 ? sk * v_shared : 1.0;

  // rows
  data_.reserve(config_.rows);
  probability_.reserve(static_cast<std::size_t>(config_.rows));
  logit_.reserve(static_cast<std::size_t>(config_.rows));
  std::vector<std::vector<index_t>> sequences;
  for (index_t n = 0; n < config_.rows; ++n) {
    const index_t u = r.integer(0, U - 1);
    const index_t i = detail::draw_cumulative(item_cdf, r);
    const index_t x = r.integer(0, X - 1);
    const index_t s = detail::draw_cumulative(scenario_cdf, r);
    const index_t g = group[static_cast<std::size_t>(u)], cat = category[static_cast<std::size_t>(i)];
    const double du = activity[static_cast<std::size_t>(u)], di = price[static_cast<std::size_t>(i)];
    double z = bias_[static_cast<std::size_t>(s)] + a_user[static_cast<std::size_t>(u)] + a_item[static_cast<std::size_t>(i)] +
               p.row(u).dot(q.row(i)) + specific[static_cast<std::size_t>(s)](g, cat) + H(x, cat) + w(s, 0) * du +
               w(s, 1) * di + config_.interaction * du * di;
    if (L > 0) z += config_.history_scale * history_mean.row(u).dot(q.row(i)) / history_norm;
    const double prob = 1.0 / (1.0 + std::exp(-z));
    const double click = r.bernoulli(prob) ? 1.0 : 0.0;
    const index_t sparse_all[] = {u + 1, i + 1, g + 1, cat + 1, x + 1, s + 1};
    const double dense_all[] = {du, di, bias_[static_cast<std::size_t>(s)]};
    const std::span<const index_t> sparse(sparse_all, config_.scenario_features ? 6 : 5);
    const std::span<const double> dense(dense_all, config_.scenario_features ? 3 : 2);
    sequences.clear();
    if (L > 0) sequences.push_back(history[static_cast<std::size_t>(u)]);
    if (T > 0) sequences.push_back(tokens[static_cast<std::size_t>(i)]);
    data_.append(sparse, dense, s, std::span<const double>(&click, 1), sequences);
    probability_.push_back(prob);
    logit_.push_back(z);
  }
}

RECBLOCKS_SYNTHETIC_INLINE synthetic::split_result synthetic::split(std::array<double, 3> ratios, std::uint64_t seed) const {
  const auto idx = split_indices(data_.rows(), ratios, seed);
  split_result out{{data_.subset(idx[0]), data_.subset(idx[1]), data_.subset(idx[2])}, {}};
  for (std::size_t k = 0; k < 3; ++k)
    for (index_t r : idx[k]) out.probability[k].push_back(probability_[static_cast<std::size_t>(r)]);
  return out;
}

#undef RECBLOCKS_SYNTHETIC_INLINE
#endif  // definitions

}  // namespace recblocks::data
