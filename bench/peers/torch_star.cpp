// libtorch side of bench/compare_libtorch, STAR (compiled as C++17, its own translation unit).
//
// Written the way Scenario-Wise Rec's star.py writes it: every scenario's star-topology network
// (shared weight ⊙ scenario weight, shared bias + scenario bias, a BatchNorm1d per scenario and layer)
// runs on every row of the batch, and torch::where picks each row's scenario logit; the auxiliary
// MLP runs on the embedding; logit = scenario logit + aux logit. It computes the function of
// recblocks' models::star with default options (the paper's fixed version), not star.py's:
// * the 1-unit output layer is a plain linear logit (star.py applies BN + ReLU to it);
// * the partitioned norm normalises once with a BatchNorm1d(affine = false, eps 1e-6) — batch
//   statistics in training, running statistics in eval, as nn::partitioned_norm — then applies
//   each scenario's (gamma ⊙ gamma_d, beta + beta_d); star.py recomputes batch statistics inside
//   the scenario loop and in eval too.
// In training the scenario batch norms see the whole batch here (star.py's cost), the scenario's
// rows in recblocks (which runs each scenario's layers on its rows only); at inference (running
// statistics) both compute the same logits, which compare_libtorch checks.
#include <torch/torch.h>

#include <vector>

#include "torch_common.hpp"

namespace {
using namespace bench_spec;

struct TorchSTARImpl : torch::nn::Module {
  std::vector<std::int64_t> widths;  // input, fcn..., 1
  std::vector<torch::nn::Embedding> tables;
  torch::nn::BatchNorm1d pn{nullptr};
  torch::Tensor pn_gamma, pn_beta, pn_gamma_d, pn_beta_d;   // [D], [D], [N, D], [N, D]
  std::vector<torch::Tensor> w, b;                          // shared, per layer: [in, out], [out]
  std::vector<std::vector<torch::Tensor>> w_d, b_d;         // [scenario][layer]
  std::vector<std::vector<torch::nn::BatchNorm1d>> bn_d;    // [scenario][hidden layer]
  torch_peers::MLP aux{nullptr};

  TorchSTARImpl() {
    widths.push_back(input);
    for (auto d : star::fcn_dims) widths.push_back(d);
    widths.push_back(1);
    const std::size_t L = widths.size() - 1;
    for (int f = 0; f < fields; ++f) tables.push_back(register_module("emb" + std::to_string(f), torch::nn::Embedding(vocabulary, dim)));
    pn = register_module("pn", torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(input).affine(false).eps(1e-6)));
    pn_gamma = register_parameter("pn_gamma", torch::ones({input}));
    pn_beta = register_parameter("pn_beta", torch::zeros({input}));
    pn_gamma_d = register_parameter("pn_gamma_d", torch::ones({scenarios, input}));
    pn_beta_d = register_parameter("pn_beta_d", torch::zeros({scenarios, input}));
    auto weight = [&](const std::string& name, std::size_t i) {
      return register_parameter(name, torch::nn::init::kaiming_uniform_(torch::empty({widths[i], widths[i + 1]})));
    };
    auto bias = [&](const std::string& name, std::size_t i) { return register_parameter(name, torch::rand({widths[i + 1]})); };
    for (std::size_t i = 0; i < L; ++i) {
      w.push_back(weight("w" + std::to_string(i), i));
      b.push_back(bias("b" + std::to_string(i), i));
    }
    w_d.resize(scenarios);
    b_d.resize(scenarios);
    bn_d.resize(scenarios);
    for (int d = 0; d < scenarios; ++d)
      for (std::size_t i = 0; i < L; ++i) {
        const std::string s = std::to_string(d) + "_" + std::to_string(i);
        w_d[d].push_back(weight("w_d" + s, i));
        b_d[d].push_back(bias("b_d" + s, i));
        if (i + 1 < L) bn_d[d].push_back(register_module("bn_d" + s, torch::nn::BatchNorm1d(widths[i + 1])));
      }
    aux = register_module("aux", torch_peers::MLP(input, star::aux_dims, false, true));
  }

  torch::Tensor forward(const torch::Tensor& ids /*[fields, B]*/, const torch::Tensor& scenario /*[B]*/) {
    std::vector<torch::Tensor> parts;
    for (int f = 0; f < fields; ++f) parts.push_back(tables[f]->forward(ids[f]));
    const auto emb = torch::cat(parts, 1);  // [B, D]
    const auto aux_out = aux->forward(emb);
    const auto xhat = pn->forward(emb);
    const std::size_t L = w.size();
    torch::Tensor out = torch::zeros({emb.size(0), 1});
    for (int d = 0; d < scenarios; ++d) {
      auto h = (pn_gamma * pn_gamma_d[d]) * xhat + (pn_beta + pn_beta_d[d]);
      for (std::size_t i = 0; i < L; ++i) {
        h = torch::addmm(b[i] + b_d[d][i], h, w[i] * w_d[d][i]);
        if (i + 1 < L) h = torch::relu(bn_d[d][i]->forward(h));
      }
      out = torch::where((scenario == d).unsqueeze(1), h, out);
    }
    return out + aux_out;
  }

  /// recblocks' models::star names (star.hpp, nn::star_linear, nn::partitioned_norm, nn::mlp).
  void map(torch_peers::state_loader& s) {
    for (int f = 0; f < fields; ++f) s.add("embedding.f" + std::to_string(f) + ".table", tables[f]->weight);
    s.add("norm.gamma_shared", pn_gamma);
    s.add("norm.beta_shared", pn_beta);
    s.add("norm.gamma_scenario", pn_gamma_d);
    s.add("norm.beta_scenario", pn_beta_d);
    s.add("norm.running_mean", pn->running_mean);
    s.add("norm.running_var", pn->running_var);
    const std::size_t L = w.size(), hidden = L - 1;
    for (std::size_t i = 0; i < L; ++i) {
      const std::string p = "fcn." + std::to_string(i) + ".";
      s.add(p + "weight_shared", w[i]);
      s.add(p + "bias_shared", b[i]);
      for (int d = 0; d < scenarios; ++d) {
        s.add(p + "scenario." + std::to_string(d) + ".weight", w_d[d][i]);
        s.add(p + "scenario." + std::to_string(d) + ".bias", b_d[d][i]);
      }
    }
    for (int d = 0; d < scenarios; ++d)
      for (std::size_t i = 0; i < hidden; ++i) s.batch_norm("bn." + std::to_string(d * hidden + i), bn_d[d][i]);
    s.mlp("aux", aux);
  }
};
TORCH_MODULE(TorchSTAR);
}  // namespace

double peers::torch_star_infer_seconds(int batch_size, int threads) {
  return torch_peers::infer_seconds<TorchSTAR>(batch_size, threads);
}

double peers::torch_star_train_seconds(int batch_size, int threads) {
  return torch_peers::train_seconds<TorchSTAR>(batch_size, threads);
}

std::vector<float> peers::torch_star_logits(const state& s, const bench_spec::batch& b) {
  return torch_peers::logits_after_load<TorchSTAR>(s, b);
}
