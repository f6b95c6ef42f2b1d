#pragma once
/// \file reduce.hpp
/// Reductions over rows or columns of a `[R, C]` value.
///
///     column_sums / column_means / column_max: reduce over rows    -> [1, C]
///     row_sums    / row_means    / row_max:    reduce over columns -> [R, 1]
///     sum_all / mean_all:                                          -> [1, 1]
/// The max ops send the gradient to the first maximal element.

#include <string>

#include "../tape.hpp"

namespace recblocks::ops {

template <class T>
var<T> column_sums(tape<T>& t, const var<T>& x) {
  var<T> y = t.make(1, x.cols);
  t.out(y) = const_map<T>(x.data, x.rows, x.cols).colwise().sum();
  t.record("column_sums", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, const_map<T>(nd.grad, 1, nd.cols).replicate(x.rows, 1));
  });
  return y;
}

template <class T>
var<T> column_means(tape<T>& t, const var<T>& x) {
  if (x.rows == 0) throw shape_error("column_means: empty input " + shape_string(x.rows, x.cols));
  var<T> y = t.make(1, x.cols);
  t.out(y) = const_map<T>(x.data, x.rows, x.cols).colwise().mean();
  t.record("column_means", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, (const_map<T>(nd.grad, 1, nd.cols) / T(x.rows)).replicate(x.rows, 1));
  });
  return y;
}

template <class T>
var<T> row_sums(tape<T>& t, const var<T>& x) {
  var<T> y = t.make(x.rows, 1);
  t.out(y) = const_map<T>(x.data, x.rows, x.cols).rowwise().sum();
  t.record("row_sums", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, const_map<T>(nd.grad, nd.rows, 1).replicate(1, x.cols));
  });
  return y;
}

template <class T>
var<T> row_means(tape<T>& t, const var<T>& x) {
  if (x.cols == 0) throw shape_error("row_means: empty input " + shape_string(x.rows, x.cols));
  var<T> y = t.make(x.rows, 1);
  t.out(y) = const_map<T>(x.data, x.rows, x.cols).rowwise().mean();
  t.record("row_means", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, (const_map<T>(nd.grad, nd.rows, 1) / T(x.cols)).replicate(1, x.cols));
  });
  return y;
}

template <class T>
var<T> sum_all(tape<T>& t, const var<T>& x) {
  var<T> y = t.make(1, 1);
  t.out_data(y)[0] = const_map<T>(x.data, x.rows, x.cols).sum();
  t.record("sum_all", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, matrix<T>::Constant(x.rows, x.cols, nd.grad[0]));
  });
  return y;
}

template <class T>
var<T> mean_all(tape<T>& t, const var<T>& x) {
  if (x.size() == 0) throw shape_error("mean_all: empty input");
  var<T> y = t.make(1, 1);
  t.out_data(y)[0] = const_map<T>(x.data, x.rows, x.cols).mean();
  t.record("mean_all", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
    const var<T>& x = t.input(nd, 0);
    t.accumulate(x, matrix<T>::Constant(x.rows, x.cols, nd.grad[0] / T(x.size())));
  });
  return y;
}

/// Maximum of each column -> `[1, C]`.
template <class T>
var<T> column_max(tape<T>& t, const var<T>& x) {
  if (x.rows == 0) throw shape_error("column_max: empty input " + shape_string(x.rows, x.cols));
  var<T> y = t.make(1, x.cols);
  index_t* arg = t.template scratch<index_t>(static_cast<std::size_t>(x.cols));
  const_map<T> xv(x.data, x.rows, x.cols);
  for (index_t j = 0; j < x.cols; ++j) {
    Eigen::Index r;
    t.out_data(y)[j] = xv.col(j).maxCoeff(&r);
    arg[j] = r;
  }
  if (auto nd = t.record("column_max", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const index_t* arg = static_cast<const index_t*>(nd.aux);
        auto gx = t.grad_buffer(x);
        for (index_t j = 0; j < nd.cols; ++j) gx(arg[j], j) += nd.grad[j];
      }))
    nd->aux = arg;
  return y;
}

/// Maximum of each row -> `[R, 1]`.
template <class T>
var<T> row_max(tape<T>& t, const var<T>& x) {
  if (x.cols == 0) throw shape_error("row_max: empty input " + shape_string(x.rows, x.cols));
  var<T> y = t.make(x.rows, 1);
  index_t* arg = t.template scratch<index_t>(static_cast<std::size_t>(x.rows));
  const_map<T> xv(x.data, x.rows, x.cols);
  for (index_t i = 0; i < x.rows; ++i) {
    Eigen::Index c;
    t.out_data(y)[i] = xv.row(i).maxCoeff(&c);
    arg[i] = c;
  }
  if (auto nd = t.record("row_max", y, {x}, +[](tape<T>& t, const tape_node<T>& nd) {
        const var<T>& x = t.input(nd, 0);
        const index_t* arg = static_cast<const index_t*>(nd.aux);
        auto gx = t.grad_buffer(x);
        for (index_t i = 0; i < nd.rows; ++i) gx(i, arg[i]) += nd.grad[i];
      }))
    nd->aux = arg;
  return y;
}

}  // namespace recblocks::ops
