#pragma once
/// \file options_json.hpp
/// Options described once. An options struct lists its members in one table,
///
///     template <class Self, class F>
///     static void describe(Self& o, F& f) {
///       f("embedding", o.embedding);                 // a nested options struct (has `describe`)
///       f("experts", o.experts, {"n_expert"});       // reference spellings accepted as JSON aliases
///       f("activation", o.act);                      // enums travel as their names: to_string(e) and
///                                                    // enum_from_string(std::type_identity<E>, text) by ADL
///     }
///
/// and `to_json` / `from_json` are generated from it (`options_to_json`, `options_from_json`):
/// `to_json` writes every member under its one name; `from_json` requires an object, reads each
/// present key (a missing key keeps the default; the alias of a name counts as the name), and throws
/// `parse_error` naming the options struct and the key for a wrong type, an unknown key (listing the
/// known ones), or a name given twice (as itself and as an alias). Every load path (registry,
/// checkpoints, examples' configs) goes through `from_json`, so a misspelt key is never ignored.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/ops/activation.hpp"
#include "../../nn/scenario/pruner.hpp"
#include "../../nn/scenario/scenario_router.hpp"

namespace recblocks::models::detail {

template <class V>
nlohmann::json option_to_json(const V& v);

template <class O>
struct options_writer {
  nlohmann::json& out;
  template <class V>
  void operator()(const char* name, const V& v, std::initializer_list<const char*> = {}) {
    out[name] = option_to_json(v);
  }
};

/// Every member of a described options struct under its one name.
template <class O>
nlohmann::json options_to_json(const O& o) {
  nlohmann::json j = nlohmann::json::object();
  options_writer<O> w{j};
  O::describe(o, w);
  return j;
}

template <class V>
nlohmann::json option_to_json(const V& v) {
  if constexpr (std::is_same_v<V, activation>) return to_string(v);
  else if constexpr (std::is_same_v<V, nn::routing_mode>) return nn::to_string(v);
  else if constexpr (std::is_same_v<V, nn::pruner_form>) return nn::to_string(v);
  else if constexpr (requires { V::describe(v, std::declval<options_writer<V>&>()); }) return options_to_json(v);
  else if constexpr (std::is_enum_v<V>) return to_string(v);  // any other enum: its to_string (found by ADL)
  else return nlohmann::json(v);
}

template <class V>
void option_from_json(const nlohmann::json& j, V& out, const std::string& where);

template <class O>
O options_from_json(const nlohmann::json& j, const std::string& where);

/// Collects the known names and aliases (for unknown-key rejection).
struct options_names {
  std::vector<std::string> names;  // canonical
  std::vector<std::string> all;    // canonical and aliases
  template <class V>
  void operator()(const char* name, const V&, std::initializer_list<const char*> aliases = {}) {
    names.emplace_back(name);
    all.emplace_back(name);
    for (const char* a : aliases) all.emplace_back(a);
  }
};

struct options_reader {
  const nlohmann::json& j;
  const std::string& where;
  template <class V>
  void operator()(const char* name, V& v, std::initializer_list<const char*> aliases = {}) {
    const char* found = j.contains(name) ? name : nullptr;
    for (const char* a : aliases) {
      if (!j.contains(a)) continue;
      if (found)
        throw parse_error(where + ": config keys \"" + found + "\" and \"" + a + "\" name the same option \"" + name +
                          "\"; give one");
      found = a;
    }
    if (found) option_from_json(j.at(found), v, where + ": config key \"" + found + "\"");
  }
};

template <class V>
void option_from_json(const nlohmann::json& j, V& out, const std::string& where) {
  try {
    if constexpr (std::is_same_v<V, activation>) {
      out = activation_from_string(j.get<std::string>());
    } else if constexpr (std::is_same_v<V, nn::routing_mode>) {
      out = nn::routing_mode_from_string(j.get<std::string>());
    } else if constexpr (std::is_same_v<V, nn::pruner_form>) {
      out = nn::pruner_form_from_string(j.get<std::string>());
    } else if constexpr (requires(V& x, options_reader& r) { V::describe(x, r); }) {
      out = options_from_json<V>(j, where);
    } else if constexpr (std::is_enum_v<V>) {
      // any other enum: `enum_from_string(std::type_identity<V>, text)` next to it (found by ADL)
      out = enum_from_string(std::type_identity<V>{}, j.get<std::string>());
    } else {
      // integers must be integers: nlohmann would truncate 16.5 to 16 silently (issue 25)
      if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
        if (!j.is_number_integer()) throw parse_error(where + ": expected an integer, got " + j.dump());
      } else if constexpr (requires { typename V::value_type; }) {
        using E = typename V::value_type;
        if constexpr (std::is_same_v<V, std::vector<E>> && std::is_integral_v<E> && !std::is_same_v<E, bool>)
          if (j.is_array())
            for (const auto& x : j)
              if (!x.is_number_integer()) throw parse_error(where + ": expected integers, got " + j.dump());
      }
      out = j.get<V>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(where + ": " + e.what());
  } catch (const value_error& e) {
    throw parse_error(where + ": " + e.what());
  }
}

/// `parse_error` unless `j` is an object.
inline void require_object(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw parse_error(where + ": the config must be a JSON object, got " + j.dump());
}

/// Reads a described options struct (see file docs); `where` names it in errors.
template <class O>
O options_from_json(const nlohmann::json& j, const std::string& where) {
  require_object(j, where);
  O o;
  options_names names;
  O::describe(o, names);
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const auto& n : names.all) known = known || n == key;
    if (!known) {
      std::string list;
      for (const auto& n : names.names) list += (list.empty() ? "" : ", ") + n;
      throw parse_error(where + ": unknown config key \"" + key + "\" (known: " + list + ")");
    }
  }
  options_reader r{j, where};
  O::describe(o, r);
  return o;
}

}  // namespace recblocks::models::detail
