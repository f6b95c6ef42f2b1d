#pragma once
/// \file known_importance.hpp
/// `featsel::known_importance`: a synthetic CTR dataset whose feature importance is known, to score
/// any ranking against the truth (AltFS's claims: surrogate models fail under collinearity and miss
/// complementary features). Thirteen named, described fields and one binary label:
///
/// | field            | kind   | role                          | true importance |
/// |------------------|--------|-------------------------------|-----------------|
/// | income           | dense  | informative, strong           | 5               |
/// | category         | sparse | informative, strong (20 ids)  | 5 (tie)         |
/// | latitude_zone    | sparse | complementary pair (8 zones)  | 4               |
/// | longitude_zone   | sparse | complementary pair (8 zones)  | 4 (tie)         |
/// | hour             | sparse | informative, medium (24)      | 3               |
/// | device           | sparse | informative, weak (4)         | 2               |
/// | income_k         | dense  | collinear copy of income      | 1               |
/// | category_group   | sparse | coarse copy of category (5)   | 1 (tie)         |
/// | browser_version  | sparse | irrelevant (10)               | 0               |
/// | day_of_month     | sparse | irrelevant (31)               | 0               |
/// | session_bucket   | sparse | irrelevant (50)               | 0               |
/// | noise_score      | dense  | irrelevant                    | 0               |
/// | ad_slot          | sparse | irrelevant (6)                | 0               |
///
/// Generation (per row, seeded): income z ~ N(0, 1); category c ~ U{20}; zones a, o ~ U{8}; hour
/// h ~ U{24}; device v ~ U{4}; irrelevant fields uniform / N(0, 1);
///
///     logit = 1.0 z + α_c + 1.2 χ(a, o) + 0.6 η_h + 0.4 δ_v − 0.2,      y ~ Bernoulli(sigmoid(logit))
///
/// with α_c ~ N(0, 1) per category (drawn once from `world_seed`, the same for every `seed`: train,
/// validation and test draws share one world; the row generator skips 20 draws in their place), χ(a, o) = +1 if (a < 4) == (o < 4) else −1 (a checkerboard: each
/// zone alone carries no information, the pair does), η_h = sin(2π h / 24), δ_v = (+1, −1, +0.5, −0.5).
/// The copies: income_k = 1000 z + N(0, 50²) (standardised: z + small noise), category_group = c / 4
/// (category's coarse group: collinear, partly informative but redundant given category). The truth
/// ranks redundant copies below every field that adds information and above the irrelevant ones.
///
/// Ids are 1-based (0 = unknown). The schema has a one-scenario feature `scenario` (every registry
/// model routes by scenario) and the label `click`. `descriptions()` gives one neutral human line per
/// field for the LLM prompt (what the field is, never whether it matters).
///
/// Errors: `value_error` for rows < 2. Complexity: O(rows).

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../data/dataset.hpp"

namespace recblocks::featsel {

class known_importance {
 public:
  static constexpr std::uint64_t world_seed = 2024;  ///< seeds the category effects α
  /// The schema (13 fields in the table's order, grouped sparse/dense by kind, `scenario`, `click`).
  static data::schema schema();
  /// `rows` rows drawn with `seed` (the category effects α are fixed by `world_seed`).
  static data::dataset generate(index_t rows, std::uint64_t seed);
  /// Field -> true importance (the table's last column).
  static std::map<std::string, double> truth();
  /// Field -> neutral description (for `descriptor_options::descriptions`).
  static std::map<std::string, std::string> descriptions();
};

inline data::schema known_importance::schema() {
  data::schema s;
  for (auto [name, vocab] : std::vector<std::pair<std::string, index_t>>{{"category", 21}, {"latitude_zone", 9}, {"longitude_zone", 9},
                                                                           {"hour", 25}, {"device", 5}, {"category_group", 6},
                                                                           {"browser_version", 11}, {"day_of_month", 32},
                                                                           {"session_bucket", 51}, {"ad_slot", 7}})
    s.add({.name = name, .kind = data::feature_kind::sparse, .vocabulary = vocab});
  for (const char* name : {"income", "income_k", "noise_score"}) s.add({.name = name, .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 1});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}

inline data::dataset known_importance::generate(index_t rows, std::uint64_t seed) {
  if (rows < 2) throw value_error("featsel::known_importance::generate: rows = " + std::to_string(rows) + " must be >= 2");
  rng gen(seed);
  std::vector<double> alpha(20);
  for (auto& a : alpha) a = gen.normal();  // reserved draws: the row stream stays that of every version
  rng world(world_seed);                   // the category effects are one fixed world for every draw
  for (auto& a : alpha) a = world.normal();
  const double delta[4] = {1.0, -1.0, 0.5, -0.5};
  data::dataset d(schema());
  d.reserve(rows);
  constexpr double pi = 3.14159265358979323846;
  for (index_t i = 0; i < rows; ++i) {
    const index_t c = gen.integer(0, 19), a = gen.integer(0, 7), o = gen.integer(0, 7), h = gen.integer(0, 23), v = gen.integer(0, 3);
    const double z = gen.normal();
    const double zk = (1000.0 * z + gen.normal(0.0, 50.0)) / 1000.0;
    const double chi = ((a < 4) == (o < 4)) ? 1.0 : -1.0;
    const double logit = 1.0 * z + alpha[static_cast<std::size_t>(c)] + 1.2 * chi + 0.6 * std::sin(2 * pi * double(h) / 24.0) +
                         0.4 * delta[v] - 0.2;
    const double y = gen.bernoulli(1.0 / (1.0 + std::exp(-logit))) ? 1.0 : 0.0;
    const index_t sparse[10] = {c + 1, a + 1, o + 1, h + 1, v + 1, c / 4 + 1, gen.integer(1, 10), gen.integer(1, 31), gen.integer(1, 50),
                                gen.integer(1, 6)};
    const double dense[3] = {z, zk, gen.normal()};
    const double label[1] = {y};
    d.append(sparse, dense, 0, label);
  }
  return d;
}

inline std::map<std::string, double> known_importance::truth() {
  return {{"income", 5},         {"category", 5},       {"latitude_zone", 4}, {"longitude_zone", 4}, {"hour", 3},
          {"device", 2},         {"income_k", 1},       {"category_group", 1}, {"browser_version", 0}, {"day_of_month", 0},
          {"session_bucket", 0}, {"noise_score", 0},    {"ad_slot", 0}};
}

inline std::map<std::string, std::string> known_importance::descriptions() {
  return {{"income", "monthly income of the user, standardised"},
          {"income_k", "monthly income of the user in thousands, standardised"},
          {"category", "product category of the advertised item"},
          {"category_group", "coarse group of the item's product category"},
          {"latitude_zone", "latitude band of the user's location"},
          {"longitude_zone", "longitude band of the user's location"},
          {"hour", "hour of the day of the impression"},
          {"device", "device type of the user"},
          {"browser_version", "version of the user's web browser"},
          {"day_of_month", "day of the month of the impression"},
          {"session_bucket", "hash bucket of the session identifier"},
          {"noise_score", "score from an unrelated logging system"},
          {"ad_slot", "position slot of the ad on the page"}};
}

}  // namespace recblocks::featsel
