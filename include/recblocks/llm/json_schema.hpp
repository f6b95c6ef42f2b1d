#pragma once
/// \file json_schema.hpp
/// `json_schema`: a validator for the common subset of JSON Schema that LLM structured output uses.
///
/// Supported keywords: `type` (a name or an array of names among object, array, string, number,
/// integer, boolean, null; "integer" also accepts a float with an integral value), `properties`,
/// `required`, `additionalProperties` (bool or schema), `enum`, `const`, `items` (one schema),
/// `minItems`/`maxItems`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum` (numbers),
/// `minLength`/`maxLength` (in bytes), `anyOf`. Other keywords (`description`, `title`, `$schema`,
/// `format`, ...) are ignored, so schemas written for servers validate here too.
///
/// `validate(v)` returns every violation as "path: message" (path like `$.items[2].name`), empty when
/// `v` is valid. The constructor checks the schema itself and throws `recblocks::value_error` on a
/// malformed one (unknown type name, `required` not an array of strings, ...).
///
/// Thread safety: immutable after construction; `validate` is const and reentrant.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"

namespace recblocks::llm {

/// A compiled-once JSON-schema validator (common subset; see the file comment).
class json_schema {
 public:
  /// Accepts any JSON; an empty object or `true` accepts everything.
  explicit json_schema(nlohmann::json schema);

  /// All violations, "path: message"; empty when valid.
  std::vector<std::string> validate(const nlohmann::json& value) const;

  /// True when `validate(value)` is empty.
  bool is_valid(const nlohmann::json& value) const { return validate(value).empty(); }

  /// Throws `recblocks::value_error` listing the violations when `value` is invalid.
  void check(const nlohmann::json& value) const;

  const nlohmann::json& schema() const noexcept { return schema_; }

 private:
  static void check_schema(const nlohmann::json& s, const std::string& path);
  static void validate_at(const nlohmann::json& s, const nlohmann::json& v, const std::string& path,
                          std::vector<std::string>& errors);
  static bool type_matches(const std::string& type, const nlohmann::json& v);

  nlohmann::json schema_;
};

// ---- implementation ----------------------------------------------------------------------------

inline json_schema::json_schema(nlohmann::json schema) : schema_(std::move(schema)) { check_schema(schema_, "$"); }

inline void json_schema::check(const nlohmann::json& value) const {
  auto errs = validate(value);
  if (errs.empty()) return;
  std::string msg = "[llm::json_schema] value does not match the schema:";
  for (const auto& e : errs) msg += "\n  " + e;
  throw value_error(msg);
}

inline std::vector<std::string> json_schema::validate(const nlohmann::json& value) const {
  std::vector<std::string> errors;
  validate_at(schema_, value, "$", errors);
  return errors;
}

inline void json_schema::check_schema(const nlohmann::json& s, const std::string& path) {
  auto bad = [&](const std::string& what) { throw value_error("[llm::json_schema] bad schema at " + path + ": " + what); };
  if (s.is_boolean()) return;
  if (!s.is_object()) bad("a schema must be an object or a boolean, got " + s.dump());
  static const char* known[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
  auto check_type_name = [&](const nlohmann::json& t) {
    if (!t.is_string()) bad("\"type\" entries must be strings");
    for (const char* k : known)
      if (t.get<std::string>() == k) return;
    bad("unknown type \"" + t.get<std::string>() + "\"");
  };
  if (auto it = s.find("type"); it != s.end()) {
    if (it->is_array()) {
      for (const auto& t : *it) check_type_name(t);
    } else {
      check_type_name(*it);
    }
  }
  if (auto it = s.find("properties"); it != s.end()) {
    if (!it->is_object()) bad("\"properties\" must be an object");
    for (const auto& [k, sub] : it->items()) check_schema(sub, path + ".properties." + k);
  }
  if (auto it = s.find("required"); it != s.end()) {
    if (!it->is_array()) bad("\"required\" must be an array of strings");
    for (const auto& r : *it)
      if (!r.is_string()) bad("\"required\" must be an array of strings");
  }
  if (auto it = s.find("additionalProperties"); it != s.end()) check_schema(*it, path + ".additionalProperties");
  if (auto it = s.find("items"); it != s.end()) check_schema(*it, path + ".items");
  if (auto it = s.find("enum"); it != s.end() && !it->is_array()) bad("\"enum\" must be an array");
  if (auto it = s.find("anyOf"); it != s.end()) {
    if (!it->is_array() || it->empty()) bad("\"anyOf\" must be a non-empty array");
    for (const auto& sub : *it) check_schema(sub, path + ".anyOf");
  }
  for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
    if (auto it = s.find(k); it != s.end() && !it->is_number()) bad(std::string("\"") + k + "\" must be a number");
  for (const char* k : {"minItems", "maxItems", "minLength", "maxLength"})
    if (auto it = s.find(k); it != s.end() && !it->is_number_unsigned() && !(it->is_number_integer() && *it >= 0))
      bad(std::string("\"") + k + "\" must be a non-negative integer");
}

inline bool json_schema::type_matches(const std::string& type, const nlohmann::json& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    if (v.is_number_float()) {
      double d = v.get<double>();
      return d == static_cast<double>(static_cast<long long>(d));
    }
    return false;
  }
  return false;
}

inline void json_schema::validate_at(const nlohmann::json& s, const nlohmann::json& v, const std::string& path,
                                     std::vector<std::string>& errors) {
  if (s.is_boolean()) {
    if (!s.get<bool>()) errors.push_back(path + ": no value is allowed here");
    return;
  }
  auto type_name = [](const nlohmann::json& x) { return std::string(x.type_name()); };
  if (auto it = s.find("type"); it != s.end()) {
    bool ok = false;
    if (it->is_array()) {
      for (const auto& t : *it) ok = ok || type_matches(t.get<std::string>(), v);
    } else {
      ok = type_matches(it->get<std::string>(), v);
    }
    if (!ok) {
      errors.push_back(path + ": expected type " + it->dump() + ", got " + type_name(v) + " " + v.dump());
      return;  // the remaining keywords would only repeat the mismatch
    }
  }
  if (auto it = s.find("enum"); it != s.end()) {
    bool found = false;
    for (const auto& e : *it) found = found || e == v;
    if (!found) errors.push_back(path + ": " + v.dump() + " is not one of " + it->dump());
  }
  if (auto it = s.find("const"); it != s.end() && *it != v)
    errors.push_back(path + ": expected the constant " + it->dump() + ", got " + v.dump());
  if (auto it = s.find("anyOf"); it != s.end()) {
    bool any = false;
    for (const auto& sub : *it) {
      std::vector<std::string> sub_errors;
      validate_at(sub, v, path, sub_errors);
      if (sub_errors.empty()) {
        any = true;
        break;
      }
    }
    if (!any) errors.push_back(path + ": " + v.dump() + " matches none of the \"anyOf\" alternatives");
  }
  if (v.is_number()) {
    const double d = v.get<double>();
    if (auto it = s.find("minimum"); it != s.end() && d < it->get<double>())
      errors.push_back(path + ": " + v.dump() + " is below the minimum " + it->dump());
    if (auto it = s.find("maximum"); it != s.end() && d > it->get<double>())
      errors.push_back(path + ": " + v.dump() + " is above the maximum " + it->dump());
    if (auto it = s.find("exclusiveMinimum"); it != s.end() && d <= it->get<double>())
      errors.push_back(path + ": " + v.dump() + " must be greater than " + it->dump());
    if (auto it = s.find("exclusiveMaximum"); it != s.end() && d >= it->get<double>())
      errors.push_back(path + ": " + v.dump() + " must be less than " + it->dump());
  }
  if (v.is_string()) {
    const auto n = v.get_ref<const std::string&>().size();
    if (auto it = s.find("minLength"); it != s.end() && n < it->get<std::size_t>())
      errors.push_back(path + ": string shorter than minLength " + it->dump());
    if (auto it = s.find("maxLength"); it != s.end() && n > it->get<std::size_t>())
      errors.push_back(path + ": string longer than maxLength " + it->dump());
  }
  if (v.is_array()) {
    if (auto it = s.find("minItems"); it != s.end() && v.size() < it->get<std::size_t>())
      errors.push_back(path + ": " + std::to_string(v.size()) + " items, fewer than minItems " + it->dump());
    if (auto it = s.find("maxItems"); it != s.end() && v.size() > it->get<std::size_t>())
      errors.push_back(path + ": " + std::to_string(v.size()) + " items, more than maxItems " + it->dump());
    if (auto it = s.find("items"); it != s.end())
      for (std::size_t i = 0; i < v.size(); ++i) validate_at(*it, v[i], path + "[" + std::to_string(i) + "]", errors);
  }
  if (v.is_object()) {
    if (auto it = s.find("required"); it != s.end())
      for (const auto& r : *it)
        if (!v.contains(r.get<std::string>()))
          errors.push_back(path + ": missing required property \"" + r.get<std::string>() + "\"");
    const auto props = s.find("properties");
    const auto addl = s.find("additionalProperties");
    for (const auto& [k, sub] : v.items()) {
      const std::string sub_path = path + "." + k;
      if (props != s.end() && props->contains(k)) {
        validate_at(props->at(k), sub, sub_path, errors);
      } else if (addl != s.end()) {
        if (addl->is_boolean() && !addl->get<bool>())
          errors.push_back(path + ": property \"" + k + "\" is not allowed (additionalProperties is false)");
        else
          validate_at(*addl, sub, sub_path, errors);
      }
    }
  }
}

}  // namespace recblocks::llm
