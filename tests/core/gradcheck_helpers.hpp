#pragma once
// Helpers for checking one op: random inputs as parameters, a fixed random projection of the output
// to a scalar (so every output element gets a distinct upstream gradient), and a report line.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <recblocks/core.hpp>
#include <recblocks/loss.hpp>
#include <recblocks/testing/gradcheck.hpp>
#include <string>
#include <vector>

namespace rbt {

using namespace recblocks;
using leaves = std::vector<var<double>>;

struct input_spec {
  index_t rows, cols;
  double lo = -1.0, hi = 1.0;
};

/// Gradient-checks `f` w.r.t. inputs built from `specs`; returns the result and prints a report
/// line when RECBLOCKS_GRADCHECK_REPORT is set.
inline testing::gradcheck_result check_op(const std::string& name, const std::vector<input_spec>& specs,
                                          const std::function<var<double>(tape<double>&, const leaves&)>& f,
                                          testing::gradcheck_options opt = {}) {
  rng gen(std::hash<std::string>{}(name));
  std::vector<param<double>> params;
  params.reserve(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    params.emplace_back(name + ".in" + std::to_string(i), specs[i].rows, specs[i].cols);
    gen.fill_uniform(params.back().value(), specs[i].lo, specs[i].hi);
  }
  matrix<double> projection;
  auto loss = [&](tape<double>& t) {
    leaves in;
    for (auto& p : params) in.push_back(t.leaf(p));
    var<double> y = f(t, in);
    if (projection.rows() != y.rows || projection.cols() != y.cols) {
      projection.resize(y.rows, y.cols);
      rng pg(99);
      pg.fill_uniform(projection, -1.0, 1.0);
    }
    return ops::sum_all(t, ops::mul(t, y, t.view(projection.data(), y.rows, y.cols)));
  };
  std::vector<param<double>*> ptrs;
  for (auto& p : params) ptrs.push_back(&p);
  opt.samples_per_param = std::max(opt.samples_per_param, 12);
  auto res = testing::gradcheck<double>(loss, ptrs, opt);
  if (std::getenv("RECBLOCKS_GRADCHECK_REPORT"))
    std::cout << "GRADCHECK " << name << " max_rel_error " << res.max_rel_error << " max_abs_error " << res.max_abs_error
              << " coords " << res.checked << "\n";
  INFO(name << ": " << res.summary());
  CHECK(res.passed);
  return res;
}

}  // namespace rbt
