#pragma once
// Shared data and models of the MPI tests: a small synthetic multi-scenario set and MMoE without
// batch norm (batch norm uses per-rank statistics, so only a model without it can equal one process).
#include <recblocks/data/synthetic.hpp>
#include <recblocks/models/mmoe.hpp>

namespace recblocks_mpi_tests {

using namespace recblocks;

/// 3,200 rows: train 2,560 = 10 global batches of 256, so 10 epochs = 100 steps.
inline const data::synthetic::split_result& splits() {
  static const data::synthetic::split_result s = [] {
    data::synthetic_config c;
    c.rows = 3200;
    c.users = 300;
    c.items = 200;
    return data::synthetic(c).split({0.8, 0.1, 0.1}, 7);
  }();
  return s;
}

inline models::mmoe_options mmoe_without_bn() {
  models::mmoe_options o;
  o.batch_norm = false;
  o.gate_batch_norm = false;
  return o;
}

inline models::mmoe<float> make_model() {
  rng gen(2022);
  return models::mmoe<float>(splits().parts[0].get_schema(), mmoe_without_bn(), gen);
}

}  // namespace recblocks_mpi_tests
