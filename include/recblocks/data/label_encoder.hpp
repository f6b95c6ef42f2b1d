#pragma once
/// \file label_encoder.hpp
/// Maps categorical string values to dense ids, fitted on the training split.
///
/// After `fit(values)`, the distinct values seen at least `min_count` times get ids 1..n in
/// ascending byte order (so the ids do not depend on row order); id 0 is reserved for unknown
/// values: anything unseen in training, or rarer than `min_count` (Scenario-Wise Rec's Ali-CCP
/// preprocessing maps values with train frequency < 10 to 0). `vocabulary() = n + 1` is the size of
/// the embedding table the feature needs.
///
/// JSON: `{"min_count": 1, "classes": ["F", "M"]}` (classes in id order, starting at id 1).
/// Errors: `value_error` for min_count < 1, `inverse` of an id outside [0, vocabulary), `parse_error`
/// for malformed JSON. Complexity: fit O(n log n); transform O(|value|) expected.
/// Thread-safety: const members may run concurrently after fitting.

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::data {

class label_encoder {
 public:
  explicit label_encoder(index_t min_count = 1);

  /// Fits on a range of values convertible to `std::string_view`; replaces any previous fit.
  template <class Range>
  label_encoder& fit(const Range& values);

  /// The id of `value`: 1..n for a known value, 0 for an unknown one.
  index_t transform(std::string_view value) const;

  /// The value of id `id` ("" for the unknown id 0).
  const std::string& inverse(index_t id) const;

  /// n + 1 (the unknown id included).
  index_t vocabulary() const { return static_cast<index_t>(classes_.size()) + 1; }
  index_t min_count() const { return min_count_; }
  const std::vector<std::string>& classes() const { return classes_; }

  nlohmann::json to_json() const;
  static label_encoder from_json(const nlohmann::json& j);

 private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void index();

  index_t min_count_;
  std::vector<std::string> classes_;
  std::unordered_map<std::string, index_t, hash, std::equal_to<>> ids_;
  static inline const std::string unknown_{};
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline label_encoder::label_encoder(index_t min_count) : min_count_(min_count) {
  if (min_count < 1) throw value_error("data::label_encoder: min_count must be >= 1, got " + std::to_string(min_count));
}

template <class Range>
label_encoder& label_encoder::fit(const Range& values) {
  std::map<std::string, index_t, std::less<>> counts;
  for (const auto& v : values) {
    const std::string_view sv(v);
    auto it = counts.find(sv);
    if (it == counts.end()) it = counts.emplace(std::string(sv), 0).first;
    ++it->second;
  }
  classes_.clear();
  for (auto& [value, count] : counts)
    if (count >= min_count_) classes_.push_back(value);
  index();
  return *this;
}

inline void label_encoder::index() {
  ids_.clear();
  ids_.reserve(classes_.size());
  for (std::size_t i = 0; i < classes_.size(); ++i) ids_.emplace(classes_[i], static_cast<index_t>(i) + 1);
}

inline index_t label_encoder::transform(std::string_view value) const {
  const auto it = ids_.find(value);
  return it == ids_.end() ? 0 : it->second;
}

inline const std::string& label_encoder::inverse(index_t id) const {
  if (id < 0 || id >= vocabulary())
    throw value_error("data::label_encoder::inverse: id " + std::to_string(id) + " outside [0, " +
                      std::to_string(vocabulary()) + ")");
  return id == 0 ? unknown_ : classes_[static_cast<std::size_t>(id - 1)];
}

inline nlohmann::json label_encoder::to_json() const {
  return nlohmann::json{{"min_count", min_count_}, {"classes", classes_}};
}

inline label_encoder label_encoder::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("classes") || !j["classes"].is_array())
    throw parse_error("data::label_encoder::from_json: expected {\"min_count\": int, \"classes\": [string, ...]}");
  const index_t mc = j.contains("min_count") && j["min_count"].is_number_integer() ? j["min_count"].get<index_t>() : 1;
  label_encoder e(mc);
  for (const auto& c : j["classes"]) {
    if (!c.is_string()) throw parse_error("data::label_encoder::from_json: classes must be strings");
    e.classes_.push_back(c.get<std::string>());
  }
  e.index();
  if (static_cast<std::size_t>(e.ids_.size()) != e.classes_.size())
    throw parse_error("data::label_encoder::from_json: duplicate class");
  return e;
}

}  // namespace recblocks::data
