#pragma once
/// \file scenario_router.hpp
/// Per-scenario heads (towers, gates) of a multi-scenario model: each row's output comes from the
/// head of its own scenario d(b).
///
///     y_b = head_{d(b)}(x_b)
///
/// Three modes, the same composed forward for all:
///
/// * `routing_mode::automatic` (the models' default): the faithful choice, resolved per forward by
///   `resolve_routing(mode, batch_statistics)`: `masked` when a head normalises with batch
///   statistics on this tape (a training tape and batch norm downstream of the split), where sorted
///   routing would change the model, and `sorted` otherwise, where the two are exactly equivalent
///   (inference tapes always; training tapes of models without batch norm in their heads). A router
///   constructed with `automatic` itself (without that knowledge) runs `masked`.
///
/// * `routing_mode::sorted` (fast; explicit, or chosen by `automatic` where exact): the batch is stably sorted by scenario once
///   (`order()`, a counting sort, O(B)); the model builds its inputs in that order (e.g.
///   `feature_embedding(t, batch, router.order())`), every head runs only on its scenario's rows,
///   which are a zero-copy `ops::slice_rows` view, the head outputs are stacked (`ops::concat_rows`)
///   and `restore()` puts them back into batch order with one `ops::gather_rows` by the inverse
///   permutation (its backward scatters the gradient rows back). A head costs its rows only; the
///   tape prototype measured 4-15 % per training step from this.
/// * `routing_mode::masked` (the reference code): every head runs on all rows and the outputs are
///   selected per row with `ops::where` (`final = where(d(b) == d, y_d, final)`), as Scenario-Wise
///   Rec does with `torch.where`. `order()` is the identity and `restore()` a no-op.
///
/// Both give the same outputs and gradients whenever a head's output row depends only on its input
/// row: always on inference tapes, and on training tapes for heads without batch norm. A head with
/// batch norm on a training tape normalises with the statistics of its scenario's rows in `sorted`
/// mode and with those of the whole batch in `masked` mode (the reference's quirk), so the two
/// modes train slightly different models there. In `sorted` mode a scenario with a single row in a
/// training batch (batch statistics of one row do not exist) runs its head with
/// `t.training() == false` (running statistics, no dropout); in `masked` mode a one-row batch
/// throws from batch norm, as in PyTorch. A scenario without rows in the batch is skipped in
/// `sorted` mode (its head is not evaluated; in `masked` mode every head always runs).
///
///     nn::scenario_router route(batch.scenario, n_scenarios, mode);    // validates the ids
///     var<T> e = embedding(t, batch, route.order());                   // inputs in routed order
///     var<T> h = bottom(t, e);
///     var<T> y = route.apply(t, [&](index_t d) { return towers[d](t, route.rows(t, h, d)); });
///     return route.restore(t, y);                                      // batch order, [B, c]
///
/// Requires: `scenario.size() == B >= 1`, every id in `[0, scenarios)` (`value_error` naming the
/// row and id otherwise, thrown by the constructor, i.e. before any computation); all head
/// outputs must have the same width. The router keeps its own copy of the ids.
/// Thread-safety: immutable after construction; use one per batch. Complexity: O(B + scenarios)
/// to build; `apply` adds O(B * width) copies (sorted) or `scenarios` selects (masked).

#include <algorithm>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "../../core/ops/gather.hpp"
#include "../../core/ops/shape.hpp"
#include "../../core/ops/where.hpp"

namespace recblocks::nn {

enum class routing_mode { automatic, sorted, masked };

/// "auto" / "sorted" / "masked".
inline const char* to_string(routing_mode m) {
  return m == routing_mode::sorted ? "sorted" : m == routing_mode::masked ? "masked" : "auto";
}
/// Inverse of `to_string`; `value_error` for other text.
inline routing_mode routing_mode_from_string(const std::string& s) {
  if (s == "auto" || s == "automatic") return routing_mode::automatic;
  if (s == "sorted") return routing_mode::sorted;
  if (s == "masked") return routing_mode::masked;
  throw value_error("nn::routing_mode: unknown mode '" + s + "' (expected auto, sorted or masked)");
}

/// The mode a model's forward runs with: `sorted` and `masked` as given; `automatic` becomes
/// `masked` when `batch_statistics` (the tape is a training tape and a head downstream of the split
/// normalises with batch statistics: the reference's whole-batch statistics) and `sorted`
/// otherwise (exactly equivalent there, and cheaper).
inline routing_mode resolve_routing(routing_mode m, bool batch_statistics) {
  if (m != routing_mode::automatic) return m;
  return batch_statistics ? routing_mode::masked : routing_mode::sorted;
}

class scenario_router {
 public:
  /// `batch_rows >= 0`: the batch size the ids must match (`shape_error` otherwise, e.g. a batch
  /// without the scenario feature).
  scenario_router(std::span<const index_t> scenario, index_t scenarios, routing_mode mode = routing_mode::automatic,
                  index_t batch_rows = -1);
  /// The same with its index arrays in `t`'s arena (valid until `t.reset()`): what a model's forward
  /// uses, so routing allocates no heap memory. `scenario` must outlive the router (the batch does).
  template <class T>
  scenario_router(tape<T>& t, std::span<const index_t> scenario, index_t scenarios,
                  routing_mode mode = routing_mode::automatic, index_t batch_rows = -1);

  // Not copyable (its views may point into its own storage); movable.
  scenario_router(const scenario_router&) = delete;
  scenario_router& operator=(const scenario_router&) = delete;
  scenario_router(scenario_router&&) noexcept = default;
  scenario_router& operator=(scenario_router&&) noexcept = default;

  /// `sorted` or `masked` (a router built with `automatic` runs `masked`).
  routing_mode mode() const { return mode_; }
  index_t rows() const { return static_cast<index_t>(scenario_.size()); }
  index_t scenarios() const { return static_cast<index_t>(offsets_.size()) - 1; }

  /// Batch row at each routed position: scenario-sorted (stable) in `sorted` mode, the identity in
  /// `masked` mode. Pass it to `feature_embedding` (or use `arrange`) to build inputs in routed order.
  std::span<const index_t> order() const { return {order_.data(), order_.size()}; }
  /// True when `order()` is not the identity (a sorted batch that was not already sorted).
  bool permuted() const { return permuted_; }
  /// Number of rows of scenario `d` in the batch.
  index_t count(index_t d) const { return offsets_[static_cast<std::size_t>(d) + 1] - offsets_[static_cast<std::size_t>(d)]; }
  /// First routed position of scenario `d` (`sorted` mode).
  index_t begin(index_t d) const { return offsets_[static_cast<std::size_t>(d)]; }
  /// Scenario ids of the rows in batch order.
  std::span<const index_t> scenario() const { return scenario_; }

  /// The rows head `d` reads from a routed value `x` `[B, c]`: a zero-copy view of scenario d's rows
  /// (`sorted`), or all of `x` (`masked`).
  template <class T>
  var<T> rows(tape<T>& t, const var<T>& x, index_t d) const;

  /// Runs `head(d)` (returning `[rows of d, c]`, built with `rows()`) for every scenario and
  /// combines the outputs into one routed `[B, c]` value (see file docs).
  template <class T, class Head>
  var<T> apply(tape<T>& t, Head&& head) const;

  /// A batch-order value `[B, c]` in routed order (`ops::gather_rows` by `order()`; no-op if not permuted).
  template <class T>
  var<T> arrange(tape<T>& t, const var<T>& x) const;
  /// A routed value `[B, c]` back in batch order (`ops::gather_rows` by the inverse; no-op if not permuted).
  template <class T>
  var<T> restore(tape<T>& t, const var<T>& y) const;

 private:
  template <class T>
  void check_rows(const char* where, const var<T>& x) const;

  void build(std::span<const index_t> scenario, index_t scenarios, index_t batch_rows, index_t* storage);
  static std::size_t storage_size(std::size_t rows, index_t scenarios) {
    return 3 * rows + 2 * static_cast<std::size_t>(std::max<index_t>(scenarios, 0)) + 1;
  }

  routing_mode mode_;
  std::vector<index_t> own_;          // storage of the tape-less constructor
  std::span<const index_t> scenario_;
  std::span<index_t> offsets_;        // [scenarios + 1]
  std::span<index_t> order_;          // routed position -> batch row
  std::span<index_t> inverse_;        // batch row -> routed position
  bool permuted_ = false;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline scenario_router::scenario_router(std::span<const index_t> scenario, index_t scenarios, routing_mode mode,
                                        index_t batch_rows)
    : mode_(mode == routing_mode::automatic ? routing_mode::masked : mode) {
  if (scenarios < 1) throw value_error("nn::scenario_router: scenarios must be >= 1, got " + std::to_string(scenarios));
  own_.resize(storage_size(scenario.size(), scenarios));
  std::copy(scenario.begin(), scenario.end(), own_.begin());  // this router owns a copy of the ids
  build(std::span<const index_t>(own_.data(), scenario.size()), scenarios, batch_rows, own_.data() + scenario.size());
}

template <class T>
scenario_router::scenario_router(tape<T>& t, std::span<const index_t> scenario, index_t scenarios, routing_mode mode,
                                 index_t batch_rows)
    : mode_(mode == routing_mode::automatic ? routing_mode::masked : mode) {
  if (scenarios < 1) throw value_error("nn::scenario_router: scenarios must be >= 1, got " + std::to_string(scenarios));
  build(scenario, scenarios, batch_rows, t.template scratch<index_t>(storage_size(scenario.size(), scenarios)));
}

inline void scenario_router::build(std::span<const index_t> scenario, index_t scenarios, index_t batch_rows, index_t* storage) {
  scenario_ = scenario;
  if (batch_rows >= 0 && static_cast<index_t>(scenario.size()) != batch_rows)
    throw shape_error("nn::scenario_router: " + std::to_string(scenario.size()) + " scenario ids for a batch of " +
                      std::to_string(batch_rows) + " rows (does the batch carry the scenario feature?)");
  if (scenario.empty()) throw shape_error("nn::scenario_router: empty batch (no scenario ids)");
  const std::size_t B = scenario.size(), S = static_cast<std::size_t>(scenarios);
  offsets_ = std::span<index_t>(storage, S + 1);
  order_ = std::span<index_t>(storage + S + 1, B);
  inverse_ = std::span<index_t>(storage + S + 1 + B, B);
  const std::span<index_t> next(storage + S + 1 + 2 * B, S);
  std::fill(offsets_.begin(), offsets_.end(), index_t{0});
  for (std::size_t b = 0; b < B; ++b) {
    const index_t d = scenario[b];
    if (d < 0 || d >= scenarios)
      throw value_error("nn::scenario_router: scenario id " + std::to_string(d) + " at row " + std::to_string(b) +
                        " is outside [0, " + std::to_string(scenarios) + ")");
    ++offsets_[static_cast<std::size_t>(d) + 1];
  }
  for (std::size_t d = 1; d < offsets_.size(); ++d) offsets_[d] += offsets_[d - 1];
  if (mode_ == routing_mode::sorted) {
    std::copy(offsets_.begin(), offsets_.end() - 1, next.begin());
    for (std::size_t b = 0; b < B; ++b) order_[static_cast<std::size_t>(next[static_cast<std::size_t>(scenario[b])]++)] = index_t(b);
  } else {
    for (std::size_t b = 0; b < B; ++b) order_[b] = index_t(b);
  }
  permuted_ = false;
  for (std::size_t k = 0; k < B; ++k) {
    inverse_[static_cast<std::size_t>(order_[k])] = index_t(k);
    permuted_ = permuted_ || order_[k] != index_t(k);
  }
}

template <class T>
void scenario_router::check_rows(const char* where, const var<T>& x) const {
  if (x.rows != rows())
    throw shape_error(std::string("nn::scenario_router::") + where + ": value " + shape_string(x.rows, x.cols) + " for a batch of " +
                      std::to_string(rows()) + " rows");
}

template <class T>
var<T> scenario_router::rows(tape<T>& t, const var<T>& x, index_t d) const {
  check_rows("rows", x);
  if (d < 0 || d >= scenarios())
    throw value_error("nn::scenario_router::rows: scenario " + std::to_string(d) + " outside [0, " + std::to_string(scenarios()) + ")");
  if (mode_ == routing_mode::masked) return x;
  return ops::slice_rows(t, x, begin(d), count(d));
}

template <class T, class Head>
var<T> scenario_router::apply(tape<T>& t, Head&& head) const {
  const index_t S = scenarios();
  if (mode_ == routing_mode::sorted) {
    var<T>* parts = t.template scratch<var<T>>(static_cast<std::size_t>(S));  // arena, not heap
    std::size_t n_parts = 0;
    for (index_t d = 0; d < S; ++d) {
      if (count(d) == 0) continue;
      var<T> y;
      if (count(d) == 1 && t.training()) {
        t.set_training(false);  // one row has no batch statistics: running ones instead (see file docs)
        try {
          y = head(d);
        } catch (...) {
          t.set_training(true);
          throw;
        }
        t.set_training(true);
      } else {
        y = head(d);
      }
      if (y.rows != count(d) || (n_parts > 0 && y.cols != parts[0].cols))
        throw shape_error("nn::scenario_router::apply: head " + std::to_string(d) + " returned " + shape_string(y.rows, y.cols) +
                          " for " + std::to_string(count(d)) + " rows" +
                          (n_parts == 0 ? "" : " (other heads: " + std::to_string(parts[0].cols) + " columns)"));
      new (parts + n_parts++) var<T>(y);
    }
    if (n_parts == 1) return parts[0];
    return ops::concat_rows(t, std::span<const var<T>>(parts, n_parts));
  }
  var<T> out;
  for (index_t d = 0; d < S; ++d) {
    var<T> y = head(d);
    if (y.rows != rows() || (d > 0 && y.cols != out.cols))
      throw shape_error("nn::scenario_router::apply: head " + std::to_string(d) + " returned " + shape_string(y.rows, y.cols) +
                        " for " + std::to_string(rows()) + " rows");
    if (d == 0) {
      out = y;  // the reference starts from zeros; every row is overwritten by exactly one head
      continue;
    }
    var<T> mask = t.make(y.rows, y.cols);
    for (index_t b = 0; b < y.rows; ++b)
      t.out(mask).row(b).setConstant(scenario_[static_cast<std::size_t>(b)] == d ? T(1) : T(0));
    out = ops::where(t, mask, y, out);
  }
  return out;
}

template <class T>
var<T> scenario_router::arrange(tape<T>& t, const var<T>& x) const {
  check_rows("arrange", x);
  if (!permuted_) return x;
  return ops::gather_rows(t, x, std::span<const index_t>(order_.data(), order_.size()));
}

template <class T>
var<T> scenario_router::restore(tape<T>& t, const var<T>& y) const {
  check_rows("restore", y);
  if (!permuted_) return y;
  return ops::gather_rows(t, y, std::span<const index_t>(inverse_.data(), inverse_.size()));
}

}  // namespace recblocks::nn
