#pragma once
/// \file learnable_gate.hpp
/// `featsel::learnable_gate<T>`: a gate-based feature selector (AutoField / LPFS-like, the agency
/// models AltFS compares with) as a `models::field_gate`: one learnable logit per field,
///
///     g_f = sigmoid(a_f)                          ([1, N], broadcast over the batch; also at inference)
///     penalty = λ · (1/N) Σ_f g_f                 (added to the training loss: `gated_model`)
///
/// trained jointly with the model; the fields are ranked by a_f. Simplifications (stated): a plain
/// sigmoid gate with an L1 sparsity term, trained on the training loss (AutoField trains its
/// architecture parameters on validation data with DARTS; LPFS uses a smoothed-L0 gate with an
/// annealed ε).
///
/// Parameters: `logits` `[1, S + D]` (every column; only selectable fields exist), filled with
/// `init` (default 0: g = 0.5). Errors: `value_error` for λ < 0 or a non-finite init.
/// Thread-safety: const forward.

#include <cmath>
#include <string>

#include "../core/error.hpp"
#include "../core/ops/activation.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/reduce.hpp"
#include "../core/param.hpp"
#include "../models/field_gate.hpp"
#include "feature_ranking.hpp"

namespace recblocks::featsel {

struct learnable_gate_options {
  double lambda = 0.01;  ///< weight of the mean-gate sparsity penalty
  double init = 0.0;     ///< initial logit
};

template <class T>
class learnable_gate : public models::field_gate<T> {
 public:
  using scalar_type = T;

  learnable_gate(const data::schema& s, learnable_gate_options options = {})
      : schema_(s), fields_(selectable_fields(s)), options_(options),
        logits_("logits", 1, s.sparse_count() + s.dense_count()) {
    if (!(options_.lambda >= 0) || !std::isfinite(options_.lambda))
      throw value_error("featsel::learnable_gate: lambda = " + std::to_string(options_.lambda) + " must be >= 0");
    if (!std::isfinite(options_.init)) throw value_error("featsel::learnable_gate: init must be finite");
    logits_.value().setConstant(T(options_.init));
  }

  var<T> gate(tape<T>& t, const data::batch<T>&) const override { return ops::sigmoid(t, t.leaf(logits_)); }

  /// λ · mean_f sigmoid(a_f), `[1, 1]`.
  var<T> penalty(tape<T>& t) const {
    const var<T> g = ops::sigmoid(t, t.leaf(logits_));
    return ops::mul_scalar(t, ops::sum_all(t, g), T(options_.lambda / double(g.cols)));
  }

  /// The fields ordered by their logit (ties: schema order), policy "learnable_gate".
  feature_ranking ranking() const {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& f : fields_) v.emplace_back(double(logits_.value()(0, gate_column(schema_, f))), f);
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    feature_ranking r;
    r.policy = "learnable_gate";
    for (const auto& [s, n] : v) r.order.push_back(n), r.scores.push_back(s);
    return r;
  }

  param<T>& logits() { return logits_; }

  template <class Self, class V>
  static void visit(Self& self, V& v) { v("logits", self.logits_); }

 private:
  data::schema schema_;
  std::vector<std::string> fields_;
  learnable_gate_options options_;
  param<T> logits_;
};

}  // namespace recblocks::featsel
