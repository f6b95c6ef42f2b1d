#pragma once
/// \file scenario_report.hpp
/// Overall and per-scenario AUC, log loss, count and positive rate — the table Scenario-Wise Rec
/// reports for every model (its trainer evaluates sklearn `roc_auc_score` and `log_loss` overall and
/// per domain).
///
/// For the rows of scenario s (and for all rows, `overall()`):
///
///     count         = n_s
///     positive_rate = (1/n_s) sum y_i
///     auc           = eval::auc on those rows, NaN when they hold only one class (or none)
///     log_loss      = eval::log_loss (eps = 1e-7) on those rows, NaN when n_s = 0
///
/// Inputs: labels 0/1, probabilities in [0, 1] (finite), scenario ids in [0, scenarios); lengths
/// equal. `scenarios = 0` takes max(id) + 1. Errors: `shape_error` (lengths), `value_error` (a label,
/// probability or scenario id out of its domain). Complexity: O(n log n).
/// Thread-safety: immutable after construction.
///
/// JSON: `{"overall": {"count":..,"positive_rate":..,"auc":..,"log_loss":..}, "scenarios": [{...}, ...]}`
/// (NaN written as null).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auc.hpp"
#include "log_loss.hpp"

namespace recblocks::eval {

/// Metrics of one group of rows.
struct group_metrics {
  index_t count = 0;
  double positive_rate = std::numeric_limits<double>::quiet_NaN();
  double auc = std::numeric_limits<double>::quiet_NaN();
  double log_loss = std::numeric_limits<double>::quiet_NaN();
};

class scenario_report {
 public:
  template <class Labels, class Probabilities, class Scenarios>
  scenario_report(const Labels& labels, const Probabilities& probabilities, const Scenarios& scenarios,
                  index_t scenario_count = 0);

  const group_metrics& overall() const { return overall_; }
  const group_metrics& scenario(index_t s) const;
  index_t scenarios() const { return static_cast<index_t>(per_scenario_.size()); }
  const std::vector<group_metrics>& per_scenario() const { return per_scenario_; }

  nlohmann::json to_json() const;

 private:
  static group_metrics measure(const std::vector<double>& y, const std::vector<double>& p);

  group_metrics overall_;
  std::vector<group_metrics> per_scenario_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline group_metrics scenario_report::measure(const std::vector<double>& y, const std::vector<double>& p) {
  group_metrics m;
  m.count = static_cast<index_t>(y.size());
  if (y.empty()) return m;
  double pos = 0;
  for (double v : y) pos += v;
  m.positive_rate = pos / static_cast<double>(y.size());
  m.auc = auc_unchecked(y, p);
  m.log_loss = log_loss_unchecked(y, p);
  return m;
}

template <class Labels, class Probabilities, class Scenarios>
scenario_report::scenario_report(const Labels& labels, const Probabilities& probabilities, const Scenarios& scenarios,
                                 index_t scenario_count) {
  const char* block = "eval::scenario_report";
  const auto y = detail::to_doubles(labels);
  const auto p = detail::to_doubles(probabilities);
  std::vector<index_t> s;
  for (const auto& v : scenarios) s.push_back(static_cast<index_t>(v));
  detail::require_same_size(block, y.size(), p.size(), "probabilities");
  detail::require_same_size(block, y.size(), s.size(), "scenario ids");
  detail::require_binary(block, y);
  detail::require_finite(block, p, "probability");
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] < 0.0 || p[i] > 1.0)
      throw value_error(std::string(block) + ": probability " + std::to_string(p[i]) + " at position " +
                        std::to_string(i) + " is outside [0, 1]");
  if (scenario_count < 0) throw value_error(std::string(block) + ": scenario_count < 0");
  if (scenario_count == 0)
    for (index_t v : s) scenario_count = std::max(scenario_count, v + 1);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] < 0 || s[i] >= scenario_count)
      throw value_error(std::string(block) + ": scenario id " + std::to_string(s[i]) + " at position " +
                        std::to_string(i) + " outside [0, " + std::to_string(scenario_count) + ")");
  overall_ = measure(y, p);
  std::vector<std::vector<double>> ys(static_cast<std::size_t>(scenario_count)), ps(ys.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    ys[static_cast<std::size_t>(s[i])].push_back(y[i]);
    ps[static_cast<std::size_t>(s[i])].push_back(p[i]);
  }
  for (std::size_t k = 0; k < ys.size(); ++k) per_scenario_.push_back(measure(ys[k], ps[k]));
}

inline const group_metrics& scenario_report::scenario(index_t s) const {
  if (s < 0 || s >= scenarios())
    throw value_error("eval::scenario_report::scenario: " + std::to_string(s) + " outside [0, " +
                      std::to_string(scenarios()) + ")");
  return per_scenario_[static_cast<std::size_t>(s)];
}

inline nlohmann::json scenario_report::to_json() const {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  auto one = [&](const group_metrics& m) {
    return nlohmann::json{{"count", m.count}, {"positive_rate", num(m.positive_rate)}, {"auc", num(m.auc)},
                          {"log_loss", num(m.log_loss)}};
  };
  nlohmann::json per = nlohmann::json::array();
  for (const auto& m : per_scenario_) per.push_back(one(m));
  return nlohmann::json{{"overall", one(overall_)}, {"scenarios", per}};
}

}  // namespace recblocks::eval
