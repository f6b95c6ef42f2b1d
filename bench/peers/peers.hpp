#pragma once
// The interface between the two sides of bench/compare_libtorch: the libtorch peers (one C++17
// translation unit per model, bench/peers/torch_*.cpp) export these functions; compare_libtorch.cpp
// (C++20, recblocks) calls them. Neither side sees the other's headers.
#include <cstdint>
#include <string>
#include <vector>

#include "../bench_spec.hpp"

namespace peers {

/// One parameter or buffer of a recblocks model, named as `nn::named_parameters` / `nn::named_buffers`
/// name it; `data` is row-major with `shape` (recblocks' layout: a linear weight is [in, out]).
struct tensor_ref {
  std::string name;
  std::vector<std::int64_t> shape;
  const float* data = nullptr;
};
using state = std::vector<tensor_ref>;

/// Median seconds per inference call (sigmoid of the logits) / per training step (forward, BCE with
/// logits, backward, Adam) of the libtorch model, on `threads` threads (1: thread CPU time, else wall).
double torch_mmoe_infer_seconds(int batch_size, int threads);
double torch_mmoe_train_seconds(int batch_size, int threads);
double torch_star_infer_seconds(int batch_size, int threads);
double torch_star_train_seconds(int batch_size, int threads);
double torch_m2m_infer_seconds(int batch_size, int threads);
double torch_m2m_train_seconds(int batch_size, int threads);
double torch_mscan_infer_seconds(int batch_size, int threads);  // batches of make_mscan_batch; training: dual loss
double torch_mscan_train_seconds(int batch_size, int threads);

/// Inference logits [B] of the libtorch model after loading `s` (every parameter and buffer of the
/// recblocks model; throws std::runtime_error when a name is missing or left over, or a shape differs).
std::vector<float> torch_star_logits(const state& s, const bench_spec::batch& b);
std::vector<float> torch_m2m_logits(const state& s, const bench_spec::batch& b);
std::vector<float> torch_mscan_logits(const state& s, const bench_spec::batch& b);  // b from make_mscan_batch

}  // namespace peers
