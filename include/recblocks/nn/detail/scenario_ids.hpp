#pragma once
/// \file scenario_ids.hpp
/// Helpers shared by the scenario-conditioned blocks: validating per-sample scenario ids and building
/// constant per-scenario row masks for `ops::where`.

#include <span>
#include <string>

#include "../../core/tape.hpp"

namespace recblocks::nn::detail {

/// Throws `value_error` naming `where` unless `ids` has `rows` entries, each in `[0, scenarios)`.
inline void check_scenario_ids(const char* where, std::span<const index_t> ids, index_t rows, index_t scenarios) {
  if (static_cast<index_t>(ids.size()) != rows)
    throw shape_error(std::string(where) + ": " + std::to_string(ids.size()) + " scenario ids for " +
                      std::to_string(rows) + " rows");
  for (std::size_t b = 0; b < ids.size(); ++b)
    if (ids[b] < 0 || ids[b] >= scenarios)
      throw value_error(std::string(where) + ": scenario id " + std::to_string(ids[b]) + " at row " + std::to_string(b) +
                        " is outside [0, " + std::to_string(scenarios) + ")");
}

/// A constant `[B, cols]` mask: row b is 1 where `ids[b] == scenario`, else 0.
template <class T>
var<T> scenario_mask(tape<T>& t, std::span<const index_t> ids, index_t scenario, index_t cols) {
  var<T> m = t.make(static_cast<index_t>(ids.size()), cols);
  for (index_t b = 0; b < m.rows; ++b) t.out(m).row(b).setConstant(ids[static_cast<std::size_t>(b)] == scenario ? T(1) : T(0));
  return m;
}

}  // namespace recblocks::nn::detail
