#pragma once
// What the libtorch peers of bench/compare_libtorch share (C++17, libtorch): the batch tensors, the
// timed inference and training loops (the same call counts as the recblocks side, bench/timing.hpp),
// Scenario-Wise Rec's MLP block (torch-rechub `MLP`: Linear -> BatchNorm1d -> activation per layer,
// optional Linear(., 1) output) and the loader that copies a recblocks model's parameters and
// batch-norm statistics into a libtorch model for the equivalence check.
#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "../bench_spec.hpp"
#include "../timing.hpp"
#include "peers.hpp"

namespace torch_peers {
using bench_spec::batch;

/// A batch as tensors: ids [fields, B] (long), scenario [B] (long), labels [B, 1] (float).
struct batch_tensors {
  torch::Tensor ids, scenario, labels;
  explicit batch_tensors(const batch& b)
      : ids(torch::from_blob(const_cast<std::int64_t*>(b.ids.data()), {bench_spec::fields, b.size}, torch::kLong).clone()),
        scenario(torch::from_blob(const_cast<std::int64_t*>(b.scenario.data()), {b.size}, torch::kLong).clone()),
        labels(torch::from_blob(const_cast<float*>(b.labels.data()), {b.size, 1}, torch::kFloat).clone()) {}
};

inline std::vector<batch_tensors> batch_pool(int batch_size, std::uint64_t seed, int count) {
  std::vector<batch_tensors> out;
  for (int i = 0; i < count; ++i) out.emplace_back(bench_spec::make_batch(batch_size, seed + std::uint64_t(i)));
  return out;
}

/// A fresh `Model` (module holder) initialised from torch seed 1, with libtorch pinned to `threads`.
template <class Model>
Model seeded_model(int threads) {
  torch::manual_seed(1);
  at::set_num_threads(threads);
  return Model();
}

/// Median seconds per inference call of a fresh `Model`: eval mode, InferenceMode, sigmoid of the
/// logits. `Model` is a module holder with `forward(ids, scenario)` -> logits [B, 1].
template <class Model>
double infer_seconds(int batch_size, int threads) {
  Model model = seeded_model<Model>(threads);
  model->eval();
  const auto batches = batch_pool(batch_size, bench_spec::infer_seed, bench_spec::infer_pool);
  c10::InferenceMode guard;
  std::size_t k = 0;
  volatile float sink = 0;
  return bench_timing::infer_seconds([&] {
    const auto& b = batches[k++ % batches.size()];
    auto y = torch::sigmoid(model->forward(b.ids, b.scenario));
    sink = sink + y.template data_ptr<float>()[0];
  }, batch_size, threads == 1);
}

/// Median seconds per training step of a fresh `Model`: forward, BCE with logits, backward, Adam(1e-3)
/// (dense: C++ torch has no SparseAdam).
template <class Model>
double train_seconds(int batch_size, int threads) {
  Model model = seeded_model<Model>(threads);
  model->train();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  const auto batches = batch_pool(batch_size, bench_spec::train_seed, bench_spec::train_pool);
  std::size_t k = 0;
  return bench_timing::train_seconds([&] {
    const auto& b = batches[k++ % batches.size()];
    opt.zero_grad();
    auto loss = torch::binary_cross_entropy_with_logits(model->forward(b.ids, b.scenario), b.labels);
    loss.backward();
    opt.step();
  }, batch_size, threads == 1);
}

/// torch-rechub's MLP (as Scenario-Wise Rec uses it): per hidden layer Linear -> BatchNorm1d ->
/// activation (ReLU, or LeakyReLU with recblocks' slope 0.01), then optionally Linear(., 1).
struct MLPImpl : torch::nn::Module {
  std::vector<torch::nn::Linear> layers;
  std::vector<torch::nn::BatchNorm1d> norms;
  torch::nn::Linear output{nullptr};
  bool leaky;
  MLPImpl(std::int64_t in, const std::vector<std::int64_t>& hidden, bool leaky_relu, bool output_layer) : leaky(leaky_relu) {
    for (std::size_t l = 0; l < hidden.size(); ++l) {
      layers.push_back(register_module("linear" + std::to_string(l), torch::nn::Linear(in, hidden[l])));
      norms.push_back(register_module("bn" + std::to_string(l), torch::nn::BatchNorm1d(hidden[l])));
      in = hidden[l];
    }
    if (output_layer) output = register_module("output", torch::nn::Linear(in, 1));
  }
  torch::Tensor forward(torch::Tensor h) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
      h = norms[l]->forward(layers[l]->forward(h));
      h = leaky ? torch::leaky_relu(h, 0.01) : torch::relu(h);
    }
    return output ? output->forward(h) : h;
  }
};
TORCH_MODULE(MLP);

/// Where each recblocks parameter / buffer goes in a libtorch model: name -> tensor (or a view of
/// one), `transpose` for recblocks' [in, out] weights stored as torch's [out, in].
class state_loader {
 public:
  void add(const std::string& name, torch::Tensor dst, bool transpose = false) {
    if (!targets_.emplace(name, target{dst, transpose}).second) throw std::logic_error("state_loader: " + name + " mapped twice");
  }
  void linear(const std::string& prefix, torch::nn::Linear& l) {
    add(prefix + ".weight", l->weight, true);
    add(prefix + ".bias", l->bias);
  }
  void batch_norm(const std::string& prefix, torch::nn::BatchNorm1d& bn) {
    add(prefix + ".gamma", bn->weight);
    add(prefix + ".beta", bn->bias);
    add(prefix + ".running_mean", bn->running_mean);
    add(prefix + ".running_var", bn->running_var);
  }
  /// recblocks' `nn::mlp` names: `<l>.linear.*`, `<l>.bn.*`, `output.*`.
  void mlp(const std::string& prefix, MLP& m) {
    for (std::size_t l = 0; l < m->layers.size(); ++l) {
      linear(prefix + "." + std::to_string(l) + ".linear", m->layers[l]);
      batch_norm(prefix + "." + std::to_string(l) + ".bn", m->norms[l]);
    }
    if (m->output) linear(prefix + ".output", m->output);
  }

  /// Copies every entry of `s` into its target. Throws when a name has no target, a shape differs,
  /// or a float parameter / buffer of `model` is left uncovered (counted in scalars).
  void load(const peers::state& s, torch::nn::Module& model) {
    torch::NoGradGuard no_grad;
    std::map<std::string, bool> used;
    std::int64_t copied = 0;
    for (const auto& ref : s) {
      auto it = targets_.find(ref.name);
      if (it == targets_.end()) throw std::runtime_error("state_loader: no libtorch target for " + ref.name);
      torch::Tensor src = torch::from_blob(const_cast<float*>(ref.data), ref.shape, torch::kFloat);
      if (it->second.transpose) src = src.t();
      torch::Tensor& dst = it->second.dst;
      const bool same = src.sizes() == dst.sizes();
      const bool vector = dst.dim() == 1 && src.dim() == 2 && src.size(0) == 1 && src.size(1) == dst.size(0);  // [1, n] -> [n]
      if (!same && !vector)
        throw std::runtime_error("state_loader: " + ref.name + " is " + to_string(src.sizes()) + ", libtorch has " + to_string(dst.sizes()));
      dst.copy_(src.reshape(dst.sizes()));
      used[ref.name] = true;
      copied += dst.numel();
    }
    for (const auto& [name, t] : targets_)
      if (!used.count(name)) throw std::runtime_error("state_loader: recblocks has no " + name);
    std::int64_t total = 0;
    for (const auto& p : model.parameters()) total += p.numel();
    for (const auto& b : model.buffers())
      if (b.scalar_type() == torch::kFloat) total += b.numel();
    if (total != copied)
      throw std::runtime_error("state_loader: copied " + std::to_string(copied) + " scalars, the libtorch model has " + std::to_string(total));
  }

 private:
  static std::string to_string(c10::IntArrayRef s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }
  struct target {
    torch::Tensor dst;
    bool transpose;
  };
  std::map<std::string, target> targets_;
};

/// Loads `s` into a fresh `Model` (through its `map(state_loader&)`, which names every tensor) and
/// returns its inference logits on `b`, eval mode.
template <class Model>
std::vector<float> logits_after_load(const peers::state& s, const batch& b) {
  Model model;
  state_loader loader;
  model->map(loader);
  loader.load(s, *model);
  model->eval();
  c10::InferenceMode guard;
  const batch_tensors t(b);
  torch::Tensor y = model->forward(t.ids, t.scenario).reshape({-1}).contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

}  // namespace torch_peers
