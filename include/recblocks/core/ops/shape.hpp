#pragma once
/// \file shape.hpp
/// Concatenation, slicing and splitting along rows or columns, and stop-gradient.
///
///     concat_cols([B, c1], [B, c2], ...) -> [B, c1 + c2 + ...]      concat_rows: along rows
///     slice_cols(x, start, n) -> [R, n]                             slice_rows(x, start, n) -> [n, C] (no copy)
///     split_cols(x, {n1, n2, ...}) / split_rows                     stop_gradient(x): same value, no gradient
///     reshape(x, rows, cols): the same memory as [rows, cols] (no copy)

#include <span>
#include <string>
#include <vector>

#include "../tape.hpp"

namespace recblocks::ops {

/// Concatenates values with equal row counts side by side.
template <class T>
var<T> concat_cols(tape<T>& t, std::span<const var<T>> parts) {
  if (parts.empty()) throw shape_error("concat_cols: no inputs");
  index_t cols = 0;
  for (const auto& p : parts) {
    if (p.rows != parts[0].rows)
      throw shape_error("concat_cols: row counts differ: " + shape_string(parts[0].rows, parts[0].cols) + " vs " +
                        shape_string(p.rows, p.cols));
    cols += p.cols;
  }
  var<T> y = t.make(parts[0].rows, cols);
  auto yv = t.out(y);
  index_t off = 0;
  for (const auto& p : parts) {
    yv.middleCols(off, p.cols) = const_map<T>(p.data, p.rows, p.cols);
    off += p.cols;
  }
  t.record_range("concat_cols", y, parts.data(), parts.size(), +[](tape<T>& t, const tape_node<T>& nd) {
    const_map<T> g(nd.grad, nd.rows, nd.cols);
    index_t off = 0;
    for (int k = 0; k < nd.inputs_count; ++k) {
      const var<T>& p = t.input(nd, k);
      if (t.wants_grad(p)) t.accumulate(p, g.middleCols(off, p.cols));
      off += p.cols;
    }
  });
  return y;
}
template <class T>
var<T> concat_cols(tape<T>& t, std::initializer_list<var<T>> parts) {
  return concat_cols(t, std::span<const var<T>>(parts.begin(), parts.size()));
}

/// Stacks values with equal column counts on top of each other.
template <class T>
var<T> concat_rows(tape<T>& t, std::span<const var<T>> parts) {
  if (parts.empty()) throw shape_error("concat_rows: no inputs");
  index_t rows = 0;
  for (const auto& p : parts) {
    if (p.cols != parts[0].cols)
      throw shape_error("concat_rows: column counts differ: " + shape_string(parts[0].rows, parts[0].cols) + " vs " +
                        shape_string(p.rows, p.cols));
    rows += p.rows;
  }
  var<T> y = t.make(rows, parts[0].cols);
  index_t off = 0;
  for (const auto& p : parts) {
    std::copy(p.data, p.data + p.size(), t.out_data(y) + off * y.cols);
    off += p.rows;
  }
  t.record_range("concat_rows", y, parts.data(), parts.size(), +[](tape<T>& t, const tape_node<T>& nd) {
    index_t off = 0;
    for (int k = 0; k < nd.inputs_count; ++k) {
      const var<T>& p = t.input(nd, k);
      if (t.wants_grad(p)) t.accumulate(p, const_map<T>(nd.grad + off * nd.cols, p.rows, p.cols));
      off += p.rows;
    }
  });
  return y;
}
template <class T>
var<T> concat_rows(tape<T>& t, std::initializer_list<var<T>> parts) {
  return concat_rows(t, std::span<const var<T>>(parts.begin(), parts.size()));
}

/// Columns `[start, start + n)` of `x` (a copy).
template <class T>
var<T> slice_cols(tape<T>& t, const var<T>& x, index_t start, index_t n) {
  if (start < 0 || n < 0 || start + n > x.cols)
    throw shape_error("slice_cols: columns [" + std::to_string(start) + ", " + std::to_string(start + n) +
                      ") out of range for " + shape_string(x.rows, x.cols));
  var<T> y = t.make(x.rows, n);
  t.out(y) = const_map<T>(x.data, x.rows, x.cols).middleCols(start, n);
  if (auto nd = t.record("slice_cols", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        t.grad_buffer(x).middleCols(nd.i0, nd.cols) += const_map<T>(nd.grad, nd.rows, nd.cols);
      }))
    nd->i0 = start;
  return y;
}

/// Rows `[start, start + n)` of `x`: a view of the same memory (no copy).
template <class T>
var<T> slice_rows(tape<T>& t, const var<T>& x, index_t start, index_t n) {
  if (start < 0 || n < 0 || start + n > x.rows)
    throw shape_error("slice_rows: rows [" + std::to_string(start) + ", " + std::to_string(start + n) +
                      ") out of range for " + shape_string(x.rows, x.cols));
  var<T> y{x.data + start * x.cols, n, x.cols, -1, x.epoch};
  if (auto nd = t.record("slice_rows", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        t.grad_buffer(x).middleRows(nd.i0, nd.rows) += const_map<T>(nd.grad, nd.rows, nd.cols);
      }))
    nd->i0 = start;
  return y;
}

/// The same row-major memory read as `[rows, cols]` (a view, no copy; `rows * cols` must equal
/// `x.rows * x.cols`). E.g. `[B, T * d]` (T tokens of width d per sample) as `[B * T, d]`.
template <class T>
var<T> reshape(tape<T>& t, const var<T>& x, index_t rows, index_t cols) {
  if (rows < 0 || cols < 0 || rows * cols != x.rows * x.cols)
    throw shape_error("reshape: " + shape_string(x.rows, x.cols) + " cannot be read as " + shape_string(rows, cols));
  var<T> y{x.data, rows, cols, -1, x.epoch};
  t.record("reshape", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, const_map<T>(nd.grad, x.rows, x.cols));
  });
  return y;
}

/// Splits `x` into consecutive column blocks of the given widths (they must sum to `x.cols`).
template <class T>
std::vector<var<T>> split_cols(tape<T>& t, const var<T>& x, std::span<const index_t> widths) {
  index_t total = 0;
  for (index_t w : widths) total += w;
  if (total != x.cols)
    throw shape_error("split_cols: widths sum to " + std::to_string(total) + " but input is " + shape_string(x.rows, x.cols));
  std::vector<var<T>> out;
  index_t off = 0;
  for (index_t w : widths) {
    out.push_back(slice_cols(t, x, off, w));
    off += w;
  }
  return out;
}

/// Splits `x` into consecutive row blocks of the given heights (views, no copy).
template <class T>
std::vector<var<T>> split_rows(tape<T>& t, const var<T>& x, std::span<const index_t> heights) {
  index_t total = 0;
  for (index_t h : heights) total += h;
  if (total != x.rows)
    throw shape_error("split_rows: heights sum to " + std::to_string(total) + " but input is " + shape_string(x.rows, x.cols));
  std::vector<var<T>> out;
  index_t off = 0;
  for (index_t h : heights) {
    out.push_back(slice_rows(t, x, off, h));
    off += h;
  }
  return out;
}

template <class T>
std::vector<var<T>> split_cols(tape<T>& t, const var<T>& x, std::initializer_list<index_t> widths) {
  return split_cols(t, x, std::span<const index_t>(widths.begin(), widths.size()));
}
template <class T>
std::vector<var<T>> split_rows(tape<T>& t, const var<T>& x, std::initializer_list<index_t> heights) {
  return split_rows(t, x, std::span<const index_t>(heights.begin(), heights.size()));
}

/// The same value with no gradient flowing back (a constant from here on).
template <class T>
var<T> stop_gradient(tape<T>&, const var<T>& x) {
  return var<T>{x.data, x.rows, x.cols, -1, x.epoch};
}

}  // namespace recblocks::ops
