#pragma once
/// \file options_json.hpp
/// Reading model options from a JSON config (checkpoints): a present key must have the right type
/// (`parse_error` naming the model and key), a missing key keeps the option's default.

#include <nlohmann/json.hpp>
#include <string>

#include "../../core/error.hpp"
#include "../../core/ops/activation.hpp"
#include "../../nn/scenario_router.hpp"

namespace recblocks::models::detail {

/// `out = j[key]` when present; `parse_error` naming `where` and `key` on a type mismatch.
template <class V>
void read_option(const nlohmann::json& j, const char* key, V& out, const char* where) {
  if (!j.contains(key)) return;
  try {
    if constexpr (std::is_same_v<V, activation>) {
      out = activation_from_string(j.at(key).get<std::string>());
    } else if constexpr (std::is_same_v<V, nn::routing_mode>) {
      out = nn::routing_mode_from_string(j.at(key).get<std::string>());
    } else {
      out = j.at(key).get<V>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(std::string(where) + ": config key \"" + key + "\": " + e.what());
  } catch (const value_error& e) {
    throw parse_error(std::string(where) + ": config key \"" + key + "\": " + e.what());
  }
}

/// `parse_error` unless `j` is an object.
inline void require_object(const nlohmann::json& j, const char* where) {
  if (!j.is_object()) throw parse_error(std::string(where) + ": the config must be a JSON object");
}

}  // namespace recblocks::models::detail
