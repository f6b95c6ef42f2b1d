#pragma once
/// \file bayes_report.hpp
/// The Bayes-optimal metrics of a synthetic dataset: `scenario_report` of the true click
/// probabilities against the sampled labels. No model can beat this AUC in expectation, so a trained
/// model's AUC on the same rows is judged against it (e.g. "0.78 of a possible 0.80").
///
///     eval::bayes_report(gen)            // all rows of gen.data()
///     eval::bayes_report(part, probs)    // one part of gen.split(...)
///
/// Thread-safety: pure functions. Complexity: O(n log n).

#include <span>

#include "../data/dataset.hpp"
#include "../data/synthetic.hpp"
#include "scenario_report.hpp"

namespace recblocks::eval {

/// Report of `probability` (one per row of `d`) against `d`'s first label column, per scenario.
inline scenario_report bayes_report(const data::dataset& d, std::span<const double> probability) {
  return scenario_report(d.label_column(0), probability, d.scenario_column(), d.get_schema().scenario_count());
}

/// Report of the true probabilities of every generated row.
inline scenario_report bayes_report(const data::synthetic& g) { return bayes_report(g.data(), g.probability()); }

}  // namespace recblocks::eval
