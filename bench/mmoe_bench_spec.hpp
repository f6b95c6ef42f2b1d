#pragma once
// The MMoE of the libtorch comparison (issue spec): 8 sparse features with 10k-row tables of 16 dims,
// 4 experts 128->256->128 (ReLU), 3 softmax gates over the experts, 3 scenario towers 128->64->1,
// each sample scored by its own scenario's tower, BCE with logits, Adam(lr 1e-3).
// Shared by the recblocks side and the libtorch side of bench/compare_libtorch.
#include <cstdint>
#include <vector>

namespace mmoe_spec {
constexpr int fields = 8, vocabulary = 10000, dim = 16, input = fields * dim;
constexpr int experts = 4, expert_hidden = 256, expert_out = 128;
constexpr int scenarios = 3, tower_hidden = 64;

/// A batch: ids field-major ([fields][B]), scenario per row, labels per row.
struct batch {
  int size = 0;
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> scenario;
  std::vector<float> labels;
};

inline batch make_batch(int size, std::uint64_t seed) {
  batch b;
  b.size = size;
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  b.ids.resize(std::size_t(fields) * size);
  for (auto& id : b.ids) id = std::int64_t(next() % vocabulary);
  b.scenario.resize(size);
  b.labels.resize(size);
  for (int i = 0; i < size; ++i) {
    b.scenario[i] = std::int64_t(b.ids[i] % scenarios);
    b.labels[i] = (next() % 10) < 3 ? 1.f : 0.f;
  }
  return b;
}
}  // namespace mmoe_spec
