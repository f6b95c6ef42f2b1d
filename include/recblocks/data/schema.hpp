#pragma once
/// \file schema.hpp
/// The feature schema of a dataset: an ordered list of named features, each of one kind.
///
/// | kind       | batch field                         | spec fields used                            |
/// |------------|-------------------------------------|---------------------------------------------|
/// | `sparse`   | `batch::sparse` row f, ids          | `vocabulary` (ids in [0, vocabulary), 0 = unknown) |
/// | `dense`    | `batch::dense` column j, real       | none                                        |
/// | `sequence` | `batch::sequences[k]` `[B, L]` ids  | `vocabulary`, `max_length` = L (0 = padding/unknown) |
/// | `scenario` | `batch::scenario`, ids              | `scenarios` (ids in [0, scenarios)); at most one |
/// | `label`    | `batch::labels` column j, real      | none                                        |
///
/// Features of one kind are numbered in insertion order (the f-th sparse feature is row f of
/// `batch::sparse`). Fields a kind does not use must be 0.
///
/// JSON form (`to_json`/`from_json`, round-trips exactly):
///
///     {"features": [{"name": "user_id", "kind": "sparse", "vocabulary": 944},
///                   {"name": "age", "kind": "dense"},
///                   {"name": "history", "kind": "sequence", "vocabulary": 1683, "max_length": 20},
///                   {"name": "scenario", "kind": "scenario", "scenarios": 3},
///                   {"name": "click", "kind": "label"}]}
///
/// Errors: `value_error` naming the feature (duplicate name, empty name, vocabulary < 1 for
/// sparse/sequence, max_length < 1 for sequence, scenarios < 1, a second scenario feature, a field
/// the kind does not use set); `parse_error` for malformed JSON in `from_json`.
/// Thread-safety: const members may run concurrently. Complexity: `add` and `at` are O(features).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::data {

/// What a feature is and where it lands in a batch.
enum class feature_kind { sparse, dense, sequence, scenario, label };

/// "sparse", "dense", "sequence", "scenario", "label".
inline const char* to_string(feature_kind k);

/// Inverse of `to_string`; `value_error` for any other text.
inline feature_kind feature_kind_from_string(std::string_view s);

/// One feature's declaration.
struct feature_spec {
  std::string name;
  feature_kind kind = feature_kind::sparse;
  index_t vocabulary = 0;  ///< sparse/sequence: ids lie in [0, vocabulary); id 0 is reserved for unknown (and sequence padding)
  index_t max_length = 0;  ///< sequence: padded length L
  index_t scenarios = 0;   ///< scenario: ids in [0, scenarios)
};

/// An ordered, validated list of `feature_spec`s.
class schema {
 public:
  /// Appends `f`; `value_error` on a duplicate name or a bad spec (see file docs). Returns *this.
  schema& add(feature_spec f);

  /// All features in insertion order.
  const std::vector<feature_spec>& features() const { return features_; }

  /// Pointers to the features of kind `k`, in insertion order (valid while the schema lives unchanged).
  std::vector<const feature_spec*> of_kind(feature_kind k) const;

  index_t sparse_count() const { return count(feature_kind::sparse); }
  index_t dense_count() const { return count(feature_kind::dense); }
  index_t sequence_count() const { return count(feature_kind::sequence); }
  index_t label_count() const { return count(feature_kind::label); }

  /// Number of scenarios (the scenario feature's `scenarios`), 0 when there is no scenario feature.
  index_t scenario_count() const;

  /// True when a feature of this name exists.
  bool contains(const std::string& name) const { return find(name) != nullptr; }

  /// The feature named `name`; `value_error` naming it if absent.
  const feature_spec& at(const std::string& name) const;

  /// Position of feature `name` among the features of its own kind (the row of `batch::sparse`
  /// for a sparse feature, the column of `batch::dense` for a dense one, ...); `value_error` if absent.
  index_t index_of(const std::string& name) const;

  nlohmann::json to_json() const;
  static schema from_json(const nlohmann::json& j);

  bool operator==(const schema& o) const;

 private:
  index_t count(feature_kind k) const;
  const feature_spec* find(const std::string& name) const;

  std::vector<feature_spec> features_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline const char* to_string(feature_kind k) {
  switch (k) {
    case feature_kind::sparse: return "sparse";
    case feature_kind::dense: return "dense";
    case feature_kind::sequence: return "sequence";
    case feature_kind::scenario: return "scenario";
    case feature_kind::label: return "label";
  }
  return "?";
}

inline feature_kind feature_kind_from_string(std::string_view s) {
  for (feature_kind k : {feature_kind::sparse, feature_kind::dense, feature_kind::sequence, feature_kind::scenario,
                         feature_kind::label})
    if (s == to_string(k)) return k;
  throw value_error("data::feature_kind: unknown kind '" + std::string(s) +
                    "' (expected sparse, dense, sequence, scenario or label)");
}

inline schema& schema::add(feature_spec f) {
  const std::string where = "data::schema::add: feature '" + f.name + "'";
  if (f.name.empty()) throw value_error("data::schema::add: empty feature name");
  if (find(f.name)) throw value_error(where + " already exists");
  const bool ids = f.kind == feature_kind::sparse || f.kind == feature_kind::sequence;
  if (ids && f.vocabulary < 1)
    throw value_error(where + ": vocabulary must be >= 1, got " + std::to_string(f.vocabulary));
  if (!ids && f.vocabulary != 0)
    throw value_error(where + ": vocabulary is only for sparse/sequence features, got " + std::to_string(f.vocabulary));
  if (f.kind == feature_kind::sequence && f.max_length < 1)
    throw value_error(where + ": max_length must be >= 1, got " + std::to_string(f.max_length));
  if (f.kind != feature_kind::sequence && f.max_length != 0)
    throw value_error(where + ": max_length is only for sequence features, got " + std::to_string(f.max_length));
  if (f.kind == feature_kind::scenario) {
    if (f.scenarios < 1) throw value_error(where + ": scenarios must be >= 1, got " + std::to_string(f.scenarios));
    if (count(feature_kind::scenario) > 0)
      throw value_error(where + ": a schema has at most one scenario feature (already: '" +
                        of_kind(feature_kind::scenario).front()->name + "')");
  } else if (f.scenarios != 0) {
    throw value_error(where + ": scenarios is only for the scenario feature, got " + std::to_string(f.scenarios));
  }
  features_.push_back(std::move(f));
  return *this;
}

inline std::vector<const feature_spec*> schema::of_kind(feature_kind k) const {
  std::vector<const feature_spec*> out;
  for (const auto& f : features_)
    if (f.kind == k) out.push_back(&f);
  return out;
}

inline index_t schema::count(feature_kind k) const {
  index_t n = 0;
  for (const auto& f : features_) n += f.kind == k;
  return n;
}

inline index_t schema::scenario_count() const {
  for (const auto& f : features_)
    if (f.kind == feature_kind::scenario) return f.scenarios;
  return 0;
}

inline const feature_spec* schema::find(const std::string& name) const {
  for (const auto& f : features_)
    if (f.name == name) return &f;
  return nullptr;
}

inline const feature_spec& schema::at(const std::string& name) const {
  if (const feature_spec* f = find(name)) return *f;
  throw value_error("data::schema::at: no feature named '" + name + "'");
}

inline index_t schema::index_of(const std::string& name) const {
  const feature_spec& f = at(name);
  index_t i = 0;
  for (const auto& g : features_) {
    if (&g == &f) return i;
    i += g.kind == f.kind;
  }
  return i;  // unreachable
}

inline nlohmann::json schema::to_json() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& f : features_) {
    nlohmann::json j{{"name", f.name}, {"kind", to_string(f.kind)}};
    if (f.vocabulary) j["vocabulary"] = f.vocabulary;
    if (f.max_length) j["max_length"] = f.max_length;
    if (f.scenarios) j["scenarios"] = f.scenarios;
    arr.push_back(std::move(j));
  }
  return nlohmann::json{{"features", std::move(arr)}};
}

inline schema schema::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("features") || !j["features"].is_array())
    throw parse_error("data::schema::from_json: expected an object with a \"features\" array");
  schema s;
  std::size_t i = 0;
  for (const auto& e : j["features"]) {
    const std::string where = "data::schema::from_json: features[" + std::to_string(i++) + "]";
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("kind") || !e["kind"].is_string())
      throw parse_error(where + ": expected {\"name\": string, \"kind\": string, ...}");
    feature_spec f;
    f.name = e["name"].get<std::string>();
    try {
      f.kind = feature_kind_from_string(e["kind"].get<std::string>());
    } catch (const value_error& err) {
      throw parse_error(where + ": " + err.what());
    }
    auto integer = [&](const char* key) -> index_t {
      if (!e.contains(key)) return 0;
      if (!e[key].is_number_integer()) throw parse_error(where + ": \"" + key + "\" must be an integer");
      return e[key].get<index_t>();
    };
    f.vocabulary = integer("vocabulary");
    f.max_length = integer("max_length");
    f.scenarios = integer("scenarios");
    s.add(std::move(f));
  }
  return s;
}

inline bool schema::operator==(const schema& o) const {
  if (features_.size() != o.features_.size()) return false;
  for (std::size_t i = 0; i < features_.size(); ++i) {
    const auto &a = features_[i], &b = o.features_[i];
    if (a.name != b.name || a.kind != b.kind || a.vocabulary != b.vocabulary || a.max_length != b.max_length ||
        a.scenarios != b.scenarios)
      return false;
  }
  return true;
}

}  // namespace recblocks::data
