#pragma once
/// \file min_max_scaler.hpp
/// Min-max scaling of a dense feature, fitted on the training split (sklearn `MinMaxScaler`).
///
///     x' = (x - min) / (max - min)        (x' = 0 when max == min)
///
/// min and max are taken over the training values; values outside that range are extrapolated
/// (x' < 0 or > 1), as sklearn does, unless `clip` is set, which clamps x' to [0, 1].
///
/// JSON: `{"min": 1.0, "max": 73.0, "clip": false}`.
/// Errors: `value_error` when fitting on no values or on a non-finite value, or transforming a
/// non-finite value; `state_error` when used before `fit`; `parse_error` for malformed JSON.
/// Complexity: O(n) fit, O(1) transform. Thread-safety: const members may run concurrently.

#include <cmath>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "../core/error.hpp"

namespace recblocks::data {

class min_max_scaler {
 public:
  explicit min_max_scaler(bool clip = false) : clip_(clip) {}

  /// Fits min and max on `values` (at least one, all finite).
  min_max_scaler& fit(std::span<const double> values);

  double transform(double x) const;
  /// Inverse of `transform` (for unclipped values).
  double inverse(double y) const;

  bool fitted() const { return fitted_; }
  double min() const { return min_; }
  double max() const { return max_; }

  nlohmann::json to_json() const;
  static min_max_scaler from_json(const nlohmann::json& j);

 private:
  bool clip_;
  bool fitted_ = false;
  double min_ = 0, max_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline min_max_scaler& min_max_scaler::fit(std::span<const double> values) {
  if (values.empty()) throw value_error("data::min_max_scaler::fit: no values");
  double lo = values[0], hi = values[0];
  for (double v : values) {
    if (!std::isfinite(v)) throw value_error("data::min_max_scaler::fit: non-finite value " + std::to_string(v));
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  min_ = lo;
  max_ = hi;
  fitted_ = true;
  return *this;
}

inline double min_max_scaler::transform(double x) const {
  if (!fitted_) throw state_error("data::min_max_scaler::transform: not fitted");
  if (!std::isfinite(x)) throw value_error("data::min_max_scaler::transform: non-finite value " + std::to_string(x));
  if (max_ == min_) return 0.0;
  const double y = (x - min_) / (max_ - min_);
  return clip_ ? std::clamp(y, 0.0, 1.0) : y;
}

inline double min_max_scaler::inverse(double y) const {
  if (!fitted_) throw state_error("data::min_max_scaler::inverse: not fitted");
  return min_ + y * (max_ - min_);
}

inline nlohmann::json min_max_scaler::to_json() const {
  if (!fitted_) throw state_error("data::min_max_scaler::to_json: not fitted");
  return nlohmann::json{{"min", min_}, {"max", max_}, {"clip", clip_}};
}

inline min_max_scaler min_max_scaler::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("min") || !j.contains("max") || !j["min"].is_number() || !j["max"].is_number())
    throw parse_error("data::min_max_scaler::from_json: expected {\"min\": number, \"max\": number, \"clip\": bool}");
  min_max_scaler s(j.contains("clip") && j["clip"].is_boolean() && j["clip"].get<bool>());
  s.min_ = j["min"].get<double>();
  s.max_ = j["max"].get<double>();
  if (!(s.min_ <= s.max_)) throw parse_error("data::min_max_scaler::from_json: min > max");
  s.fitted_ = true;
  return s;
}

}  // namespace recblocks::data
