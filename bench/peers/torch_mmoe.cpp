// libtorch side of bench/compare_libtorch, MMoE (compiled as C++17, its own translation unit).
// The model as Scenario-Wise Rec writes it: every gate and tower on every row, then torch::where
// selects each row's scenario output. Shapes: bench/bench_spec.hpp (bench_spec::mmoe).
#include <torch/torch.h>

#include <vector>

#include "torch_common.hpp"

namespace {
using namespace bench_spec;
using namespace bench_spec::mmoe;

struct TorchMMoEImpl : torch::nn::Module {
  std::vector<torch::nn::Embedding> tables;
  std::vector<torch::nn::Sequential> expert_nets, towers;
  std::vector<torch::nn::Linear> gates;
  TorchMMoEImpl() {
    for (int f = 0; f < fields; ++f) tables.push_back(register_module("emb" + std::to_string(f), torch::nn::Embedding(vocabulary, dim)));
    for (int k = 0; k < experts; ++k)
      expert_nets.push_back(register_module("expert" + std::to_string(k),
          torch::nn::Sequential(torch::nn::Linear(input, expert_hidden), torch::nn::ReLU(),
                                torch::nn::Linear(expert_hidden, expert_out), torch::nn::ReLU())));
    for (int s = 0; s < scenarios; ++s) {
      gates.push_back(register_module("gate" + std::to_string(s), torch::nn::Linear(input, experts)));
      towers.push_back(register_module("tower" + std::to_string(s),
          torch::nn::Sequential(torch::nn::Linear(expert_out, tower_hidden), torch::nn::ReLU(), torch::nn::Linear(tower_hidden, 1))));
    }
  }
  torch::Tensor forward(const torch::Tensor& ids /*[fields, B]*/, const torch::Tensor& scenario /*[B]*/) {
    std::vector<torch::Tensor> parts;
    for (int f = 0; f < fields; ++f) parts.push_back(tables[f]->forward(ids[f]));
    auto x = torch::cat(parts, 1);
    std::vector<torch::Tensor> e;
    for (auto& net : expert_nets) e.push_back(net->forward(x));
    auto E = torch::stack(e, 1);  // [B, K, D]
    torch::Tensor out = torch::zeros({x.size(0), 1});
    for (int s = 0; s < scenarios; ++s) {
      auto g = torch::softmax(gates[s]->forward(x), 1).unsqueeze(2);  // [B, K, 1]
      auto h = (E * g).sum(1);
      auto y = towers[s]->forward(h);
      out = torch::where((scenario == s).unsqueeze(1), y, out);
    }
    return out;
  }
};
TORCH_MODULE(TorchMMoE);
}  // namespace

double peers::torch_mmoe_infer_seconds(int batch_size, int threads) {
  return torch_peers::infer_seconds<TorchMMoE>(batch_size, threads);
}

double peers::torch_mmoe_train_seconds(int batch_size, int threads) {
  return torch_peers::train_seconds<TorchMMoE>(batch_size, threads);
}
