#pragma once
/// \file gather.hpp
/// Embedding lookup and bags of variable-length ids.
///
///     gather_rows(table [N, d], ids [n]) -> [n, d],  y_k = table_{ids_k}
///     segment_sum(x [n, d], offsets [S + 1]) -> [S, d],  y_s = sum_{k in [o_s, o_{s+1})} x_k
///     segment_mean: the same divided by the segment length (an empty segment gives zeros)
///
/// The gradient of `gather_rows` into an embedding parameter with `sparse_grad()` stays sparse: the
/// op appends `(id, gradient row)` pairs to the parameter and the optimizer updates only those rows.

#include <algorithm>
#include <span>
#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

/// Rows `ids` of `table`. Every id must lie in `[0, table.rows)` (checked: `value_error`).
template <class T>
var<T> gather_rows(tape<T>& t, const var<T>& table, std::span<const index_t> ids) {
  const index_t n = static_cast<index_t>(ids.size());
  index_t* saved = t.template scratch<index_t>(ids.size());
  var<T> y = t.make(n, table.cols);
  const index_t d = table.cols;
  for (index_t k = 0; k < n; ++k) {
    const index_t id = ids[static_cast<std::size_t>(k)];
    if (id < 0 || id >= table.rows)
      throw value_error("gather_rows: id " + std::to_string(id) + " at position " + std::to_string(k) +
                        " is outside the table of " + std::to_string(table.rows) + " rows");
    saved[k] = id;
    std::copy(table.data + id * d, table.data + (id + 1) * d, t.out_data(y) + k * d);
  }
  if (auto nd = t.record("gather_rows", y, {table}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& table = t.input(nd, 0);
        const index_t* ids = static_cast<const index_t*>(nd.aux);
        const_map<T> g(nd.grad, nd.rows, nd.cols);
        if (sparse_rows<T>* sp = t.leaf_sparse_rows(table)) {
          for (index_t k = 0; k < nd.rows; ++k) sp->add(ids[k], g.row(k));
        } else {
          auto gt = t.grad_buffer(table);
          for (index_t k = 0; k < nd.rows; ++k) gt.row(ids[k]) += g.row(k);
        }
      }))
    nd->aux = saved;
  return y;
}
template <class T>
var<T> gather_rows(tape<T>& t, const var<T>& table, std::initializer_list<index_t> ids) {
  return gather_rows(t, table, std::span<const index_t>(ids.begin(), ids.size()));
}

namespace detail {
inline void check_offsets(const char* op, std::span<const index_t> offsets, index_t rows) {
  if (offsets.size() < 1 || offsets.front() != 0 || offsets.back() != rows)
    throw shape_error(std::string(op) + ": offsets must start at 0 and end at the input's row count " +
                      std::to_string(rows));
  for (std::size_t s = 1; s < offsets.size(); ++s)
    if (offsets[s] < offsets[s - 1])
      throw value_error(std::string(op) + ": offsets must be non-decreasing (offset " + std::to_string(s) + " is " +
                        std::to_string(offsets[s]) + " after " + std::to_string(offsets[s - 1]) + ")");
}

template <class T, bool Mean>
var<T> segment_reduce(tape<T>& t, const var<T>& x, std::span<const index_t> offsets) {
  const char* op = Mean ? "segment_mean" : "segment_sum";
  check_offsets(op, offsets, x.rows);
  const index_t segments = static_cast<index_t>(offsets.size()) - 1;
  index_t* saved = t.template scratch<index_t>(offsets.size());
  std::copy(offsets.begin(), offsets.end(), saved);
  var<T> y = t.make(segments, x.cols);
  const_map<T> xv(x.data, x.rows, x.cols);
  auto yv = t.out(y);
  for (index_t s = 0; s < segments; ++s) {
    const index_t len = saved[s + 1] - saved[s];
    if (len == 0) {
      yv.row(s).setZero();
    } else {
      yv.row(s) = xv.middleRows(saved[s], len).colwise().sum();
      if constexpr (Mean) yv.row(s) /= T(len);
    }
  }
  if (auto nd = t.record(op, y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const index_t* off = static_cast<const index_t*>(nd.aux);
        const_map<T> g(nd.grad, nd.rows, nd.cols);
        auto gx = t.grad_buffer(x);
        for (index_t s = 0; s < nd.rows; ++s) {
          const index_t len = off[s + 1] - off[s];
          if (len == 0) continue;
          const T scale = Mean ? T(1) / T(len) : T(1);
          gx.middleRows(off[s], len).rowwise() += g.row(s) * scale;
        }
      }))
    nd->aux = saved;
  return y;
}
}  // namespace detail

/// Sum of the rows of each segment `[offsets[s], offsets[s+1])`.
template <class T>
var<T> segment_sum(tape<T>& t, const var<T>& x, std::span<const index_t> offsets) {
  return detail::segment_reduce<T, false>(t, x, offsets);
}

/// Mean of the rows of each segment; an empty segment gives a zero row.
template <class T>
var<T> segment_mean(tape<T>& t, const var<T>& x, std::span<const index_t> offsets) {
  return detail::segment_reduce<T, true>(t, x, offsets);
}

}  // namespace recblocks::ops
