// libtorch side of bench/compare_libtorch (compiled as C++17, its own translation unit).
// The model as Scenario-Wise Rec writes it: every gate and tower on every row, then torch::where
// selects each row's scenario output.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

#include "../mmoe_bench_spec.hpp"
#include "../timing.hpp"

namespace {
using namespace mmoe_spec;

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

using bench_timing::median_seconds;

torch::Tensor ids_tensor(const batch& b) {
  return torch::from_blob(const_cast<std::int64_t*>(b.ids.data()), {fields, b.size}, torch::kLong).clone();
}
}  // namespace

double torch_infer_seconds(int batch_size, int threads) {
  torch::manual_seed(1);
  at::set_num_threads(threads);
  TorchMMoE model;
  model->eval();
  std::vector<batch> batches;
  for (int i = 0; i < 16; ++i) batches.push_back(make_batch(batch_size, 100 + i));
  std::vector<torch::Tensor> ids, sc;
  for (auto& b : batches) {
    ids.push_back(ids_tensor(b));
    sc.push_back(torch::from_blob(b.scenario.data(), {b.size}, torch::kLong).clone());
  }
  c10::InferenceMode guard;
  std::size_t k = 0;
  volatile float sink = 0;
  return median_seconds([&] {
    auto y = torch::sigmoid(model->forward(ids[k % 16], sc[k % 16]));
    sink = sink + y.data_ptr<float>()[0];
    ++k;
  }, 200, batch_size <= 1 ? 2000 : 300, 1.0, threads == 1);
}

double torch_train_seconds(int batch_size, int threads) {
  torch::manual_seed(1);
  at::set_num_threads(threads);
  TorchMMoE model;
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  std::vector<batch> batches;
  for (int i = 0; i < 8; ++i) batches.push_back(make_batch(batch_size, 200 + i));
  std::vector<torch::Tensor> ids, sc, lab;
  for (auto& b : batches) {
    ids.push_back(ids_tensor(b));
    sc.push_back(torch::from_blob(b.scenario.data(), {b.size}, torch::kLong).clone());
    lab.push_back(torch::from_blob(b.labels.data(), {b.size, 1}, torch::kFloat).clone());
  }
  std::size_t k = 0;
  return median_seconds([&] {
    opt.zero_grad();
    auto logits = model->forward(ids[k % 8], sc[k % 8]);
    auto loss = torch::binary_cross_entropy_with_logits(logits, lab[k % 8]);
    loss.backward();
    opt.step();
    ++k;
  }, 5, batch_size >= 4096 ? 20 : 60, 2.0, threads == 1);
}
