#pragma once
// The input and the models of bench/compare_libtorch, shared by the recblocks side and the libtorch
// side (C++17-compatible: the libtorch side is compiled as C++17).
//
// Input (every model): 8 sparse fields with 10k-row tables of 16 dims, 3 scenarios (scenario = first
// id mod 3), 30 % positive labels, BCE with logits, Adam(lr 1e-3).
// MMoE (issue spec): 4 experts 128->256->128 (ReLU), 3 softmax gates over the experts, 3 scenario towers
// 128->64->1, each sample scored by its own scenario's tower.
// STAR and M2M: the library's default options (Scenario-Wise Rec's reference hyperparameters), restated
// here for the libtorch side; the recblocks side checks its models' options against them.
// M-scan: the library's default options (item and GRU dims 16, co-attention, additive counterfactual
// head with c = 1 and lambda = 1, MLP [128, 64] with batch norm) on the same 8 fields + 3 behaviour
// sequences per row (make_mscan_batch): field 0 is the target item; the current scenario's sequence
// and the two other scenarios' sequences hold L = 20 slots, each with a length uniform in [0, 20]
// and ids uniform in [1, 10000), left-aligned and 0-padded.
#include <cstdint>
#include <vector>

namespace bench_spec {
constexpr int fields = 8, vocabulary = 10000, dim = 16, input = fields * dim;
constexpr int scenarios = 3;

namespace mmoe {
constexpr int experts = 4, expert_hidden = 256, expert_out = 128, tower_hidden = 64;
}
namespace star {
// fcn [128, 64, 32] + a 1-unit output layer (plain linear logit), aux MLP [32] + Linear(., 1)
inline const std::vector<std::int64_t> fcn_dims{128, 64, 32}, aux_dims{32};
}
namespace m2m {
// the scenario embedded as a 9th token; encoder over the 9 tokens of each sample
constexpr int tokens = fields + 1, experts = 4, expert_out = 16, scenario_dim = 16;
constexpr int encoder_layers = 2, heads = 4, feedforward = 16;
inline const std::vector<std::int64_t> tower_dims{64, 32};
}
namespace mscan {
constexpr int item_field = 0, length = 20, sequences = scenarios;  // current + (scenarios - 1) others
constexpr int item_dim = 16, hidden = 16;
inline const std::vector<std::int64_t> mlp_dims{128, 64};
constexpr int mlp_input = (fields + 1) * dim + item_dim + 2 * hidden + item_dim + hidden;  // [e, t, r, h_L, a, b]
}

/// A batch: ids field-major ([fields][B]), scenario per row, labels per row.
struct batch {
  int size = 0;
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> scenario;
  std::vector<float> labels;
  // M-scan only (make_mscan_batch): ids [sequences][B][length], lengths [sequences][B]
  std::vector<std::int64_t> seq, seq_len;
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

/// make_batch plus M-scan's behaviour sequences (see the file comment).
inline batch make_mscan_batch(int size, std::uint64_t seed) {
  batch b = make_batch(size, seed);
  std::uint64_t s = seed * 0xbf58476d1ce4e5b9ULL + 7;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  const std::size_t n = std::size_t(size);
  b.seq.assign(std::size_t(mscan::sequences) * n * mscan::length, 0);
  b.seq_len.resize(std::size_t(mscan::sequences) * n);
  for (std::size_t k = 0; k < std::size_t(mscan::sequences); ++k)
    for (std::size_t r = 0; r < n; ++r) {
      const auto len = std::int64_t(next() % (mscan::length + 1));
      b.seq_len[k * n + r] = len;
      for (std::int64_t p = 0; p < len; ++p) b.seq[(k * n + r) * mscan::length + std::size_t(p)] = 1 + std::int64_t(next() % (vocabulary - 1));
    }
  return b;
}

/// Seeds of the batch pools: inference cycles through 16 batches, training through 8.
constexpr std::uint64_t infer_seed = 100, train_seed = 200;
constexpr int infer_pool = 16, train_pool = 8;
}  // namespace bench_spec
