#pragma once
/// \file counterfactual_head.hpp
/// Counterfactual bias-elimination head (M-scan's Scenario Bias Eliminator; MACR-style template,
/// papers.md section 9 — the exact M-scan formula is UNVERIFIED, this is the documented assumption).
///
/// Two branch logits per row, computed by the model: `y_m` from the interest (mediator) path
/// M -> Y and `y_s` from a bias-only branch S -> Y (the scenario alone).
///
///     fused (training score):  additive  p = sigmoid(y_m + y_s)
///                              product   p = sigmoid(y_m) * sigmoid(y_s)
///     dual loss:               L = BCE(p, y) + lambda * BCE(sigmoid(y_s), y)
///     inference (TIE):         probability score  s = p - c * sigmoid(y_s)     in (-c, 1)
///                              logit score (additive only)  s = y_m + (1 - c) y_s
///
/// c = 0 keeps the biased training score; c = 1 with the probability score subtracts the whole
/// natural direct effect of the scenario (TIE = y(M, S) - y(M*, S) with the reference interest
/// y_m* = 0). The head returns logits: the fused logit on a training tape (`tape::training()`),
/// and on an inference tape the TIE score mapped monotonically to a logit — the probability score as
/// logit((s + c) / (1 + c)) (an affine map onto (0, 1), so rankings and AUC are those of s; the
/// value is not a calibrated probability when c > 0), the logit score as is.
///
/// Shapes: `y_m`, `y_s` `[B, 1]`, labels `[B, 1]` -> logits `[B, 1]`, loss `[1, 1]`.
/// Options: `fusion` (additive | product), `c` >= 0, `lambda` >= 0, `score` (probability | logit).
/// Errors: `value_error` for a negative or non-finite c or lambda, or the logit score with product
/// fusion; `shape_error` when the branch shapes differ. No parameters. Thread-safety: stateless.

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "../core/ops/activation.hpp"
#include "../core/ops/elementwise.hpp"
#include "../loss/bce_with_logits.hpp"

namespace recblocks::nn {

enum class cf_fusion { additive, product };
enum class cf_score { probability, logit };

inline const char* to_string(cf_fusion f) { return f == cf_fusion::additive ? "additive" : "product"; }
inline const char* to_string(cf_score s) { return s == cf_score::probability ? "probability" : "logit"; }
inline cf_fusion enum_from_string(std::type_identity<cf_fusion>, const std::string& s) {
  if (s == "additive") return cf_fusion::additive;
  if (s == "product") return cf_fusion::product;
  throw value_error("nn::counterfactual_head: unknown fusion '" + s + "' (expected additive or product)");
}
inline cf_score enum_from_string(std::type_identity<cf_score>, const std::string& s) {
  if (s == "probability") return cf_score::probability;
  if (s == "logit") return cf_score::logit;
  throw value_error("nn::counterfactual_head: unknown score '" + s + "' (expected probability or logit)");
}

struct counterfactual_head_options {
  cf_fusion fusion = cf_fusion::additive;
  double c = 1.0;       ///< TIE coefficient at inference
  double lambda = 1.0;  ///< weight of the bias branch's own BCE in the dual loss
  cf_score score = cf_score::probability;

  /// The options' one description (JSON name <-> member; see models/detail/options_json.hpp).
  template <class Self, class F>
  static void describe(Self& o, F& f) {
    f("fusion", o.fusion);
    f("c", o.c);
    f("lambda", o.lambda);
    f("score", o.score);
  }
};

template <class T>
class counterfactual_head {
 public:
  using scalar_type = T;

  explicit counterfactual_head(const counterfactual_head_options& opt = {}) : opt_(opt) {
    const std::string where = "nn::counterfactual_head: ";
    if (!std::isfinite(opt.c) || opt.c < 0) throw value_error(where + "c must be finite and >= 0, got " + std::to_string(opt.c));
    if (!std::isfinite(opt.lambda) || opt.lambda < 0)
      throw value_error(where + "lambda must be finite and >= 0, got " + std::to_string(opt.lambda));
    if (opt.score == cf_score::logit && opt.fusion != cf_fusion::additive)
      throw value_error(where + "the logit score needs additive fusion (fusion = product given)");
  }

  /// Logit of the fused training score `p`.
  var<T> fused(tape<T>& t, const var<T>& y_m, const var<T>& y_s) const {
    check(y_m, y_s);
    if (opt_.fusion == cf_fusion::additive) return ops::add(t, y_m, y_s);
    return logit(t, ops::mul(t, ops::sigmoid(t, y_m), ops::sigmoid(t, y_s)));
  }

  /// The TIE score as a logit (see file docs).
  var<T> debiased(tape<T>& t, const var<T>& y_m, const var<T>& y_s) const {
    check(y_m, y_s);
    const T c = T(opt_.c);
    if (opt_.score == cf_score::logit) return ops::add(t, y_m, ops::mul_scalar(t, y_s, T(1) - c));
    const var<T> p = ops::sigmoid(t, fused(t, y_m, y_s));
    const var<T> s = ops::sub(t, p, ops::mul_scalar(t, ops::sigmoid(t, y_s), c));
    return logit(t, ops::mul_scalar(t, ops::add_scalar(t, s, c), T(1) / (T(1) + c)));
  }

  /// `fused` on a training tape, `debiased` otherwise.
  var<T> operator()(tape<T>& t, const var<T>& y_m, const var<T>& y_s) const {
    return t.training() ? fused(t, y_m, y_s) : debiased(t, y_m, y_s);
  }

  /// `lambda * mean BCE(sigmoid(y_s), y)`: the dual loss's bias term (the trainer adds it to the
  /// BCE of the fused logit).
  var<T> bias_loss(tape<T>& t, const var<T>& y_s, const var<T>& labels) const {
    return ops::mul_scalar(t, loss::bce_with_logits(t, y_s, labels), T(opt_.lambda));
  }

  const counterfactual_head_options& options() const { return opt_; }

 private:
  static void check(const var<T>& y_m, const var<T>& y_s) {
    if (y_m.rows != y_s.rows || y_m.cols != 1 || y_s.cols != 1)
      throw shape_error("nn::counterfactual_head: branches " + shape_string(y_m.rows, y_m.cols) + " and " +
                        shape_string(y_s.rows, y_s.cols) + " must both be [B, 1]");
  }
  /// log(p) - log(1 - p), p clamped into [eps, 1 - eps].
  static var<T> logit(tape<T>& t, const var<T>& p) {
    const T eps = std::is_same_v<T, float> ? T(1e-7) : T(1e-12);
    const var<T> q = ops::clamp(t, p, eps, T(1) - eps);
    return ops::sub(t, ops::log(t, q), ops::log(t, ops::add_scalar(t, ops::neg(t, q), T(1))));
  }

  counterfactual_head_options opt_;
};

}  // namespace recblocks::nn
