#pragma once
/// \file reconstruction.hpp
/// Mean squared reconstruction error shared by the quantizers:
///
///     err = (1 / n) sum_i || x_i - x_hat_i ||^2     (accumulated in double)

#include <Eigen/Core>

#include "../../core/tensor.hpp"

namespace recblocks::quant::detail {

template <class T>
double mean_squared_error(const Eigen::Ref<const matrix<T>>& data, const matrix<T>& reconstruction) {
  if (data.rows() == 0) return 0.0;
  double s = 0.0;
  for (index_t i = 0; i < data.rows(); ++i)
    s += (data.row(i).template cast<double>() - reconstruction.row(i).template cast<double>()).squaredNorm();
  return s / static_cast<double>(data.rows());
}

}  // namespace recblocks::quant::detail
