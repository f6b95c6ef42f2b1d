#pragma once
/// \file checks.hpp
/// Input conversion and validation shared by the eval metrics.

#include <cmath>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"

namespace recblocks::eval::detail {

/// Copies any range of numbers (std::vector, std::span, Eigen vector or column) into doubles.
template <class Range>
std::vector<double> to_doubles(const Range& r) {
  std::vector<double> out;
  for (const auto& v : r) out.push_back(static_cast<double>(v));
  return out;
}

/// `shape_error` unless both sizes agree.
inline void require_same_size(const char* block, std::size_t a, std::size_t b, const char* what = "scores") {
  if (a != b)
    throw shape_error(std::string(block) + ": " + std::to_string(a) + " labels but " + std::to_string(b) + " " + what);
}

/// `value_error` for a label other than 0 or 1, naming the position.
inline void require_binary(const char* block, const std::vector<double>& labels) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] != 0.0 && labels[i] != 1.0)
      throw value_error(std::string(block) + ": label " + std::to_string(labels[i]) + " at position " +
                        std::to_string(i) + " is not 0 or 1");
}

/// `value_error` for a NaN or infinite score, naming the position.
inline void require_finite(const char* block, const std::vector<double>& scores, const char* what = "score") {
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (!std::isfinite(scores[i]))
      throw value_error(std::string(block) + ": " + what + " " + std::to_string(scores[i]) + " at position " +
                        std::to_string(i) + " is not finite");
}

}  // namespace recblocks::eval::detail
