// libtorch side of bench/compare_libtorch, M-scan (compiled as C++17, its own translation unit).
//
// No reference code of M-scan exists (papers.md section 9); this is the function of recblocks'
// models::mscan with default options written the way a PyTorch user writes a CTR sequence model:
// * embeddings: the 8 field tables and a scenario table, concatenated ([B, 144]); a separate item table
//   for the target item (field 0) and the behaviour sequences;
// * torch::nn::GRU (batch_first) over the whole padded current-scenario sequence [B, 20, 16]; the last
//   real state gathered at length - 1 (zeros for an empty sequence); padded steps are masked below, so
//   their states never reach the output;
// * target attention: scores bmm(H, (t W)) / sqrt(16), masked_fill(-1e9) on the padding, softmax, times
//   the mask (an empty sequence gives zeros);
// * co-attention with each other scenario's sequence: A = (H W) O^T / sqrt(16) with a 2-D mask, softmax
//   over columns (H attends to O) and over rows (O attends to H), both pooled and averaged over the
//   real positions, then averaged over the two other scenarios;
// * the interest MLP [128, 64] (Linear -> BatchNorm1d -> ReLU, Linear(., 1)) on [e, t, r, h_L, a, b];
//   the scenario-only logit from a [3, 1] table;
// * training: BCE(y_m + y_s, y) + 1.0 * BCE(y_s, y) (the dual loss); inference: the TIE score
//   s = sigmoid(y_m + y_s) - sigmoid(y_s), returned as logit((s + 1) / 2), clamped to [1e-7, 1 - 1e-7].
// compare_libtorch checks that both sides give the same inference logits.
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "torch_common.hpp"

namespace {
using namespace bench_spec;
using namespace bench_spec::mscan;

/// An M-scan batch as tensors: ids [fields, B], scenario [B], labels [B, 1], seq [S, B, L], seq_len [S, B].
struct mscan_tensors {
  torch::Tensor ids, scenario, labels, seq, seq_len;
  explicit mscan_tensors(const batch& b) {
    const torch_peers::batch_tensors t(b);
    ids = t.ids;
    scenario = t.scenario;
    labels = t.labels;
    seq = torch::from_blob(const_cast<std::int64_t*>(b.seq.data()), {sequences, b.size, length}, torch::kLong).clone();
    seq_len = torch::from_blob(const_cast<std::int64_t*>(b.seq_len.data()), {sequences, b.size}, torch::kLong).clone();
  }
};

struct TorchMScanImpl : torch::nn::Module {
  std::vector<torch::nn::Embedding> tables;  // fields, then the scenario
  torch::nn::Embedding item{nullptr}, bias{nullptr};
  torch::nn::GRU gru{nullptr};
  torch::Tensor att_w, co_w;  // [item_dim, hidden], [hidden, item_dim]
  torch_peers::MLP mlp{nullptr};

  TorchMScanImpl() {
    for (int f = 0; f < fields; ++f) tables.push_back(register_module("emb" + std::to_string(f), torch::nn::Embedding(vocabulary, dim)));
    tables.push_back(register_module("emb_scenario", torch::nn::Embedding(scenarios, dim)));
    item = register_module("item", torch::nn::Embedding(vocabulary, item_dim));
    bias = register_module("bias", torch::nn::Embedding(scenarios, 1));
    gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(item_dim, hidden).batch_first(true)));
    att_w = register_parameter("att_w", torch::nn::init::xavier_uniform_(torch::empty({item_dim, hidden})));
    co_w = register_parameter("co_w", torch::nn::init::xavier_uniform_(torch::empty({hidden, item_dim})));
    mlp = register_module("mlp", torch_peers::MLP(mlp_input, mlp_dims, false, true));
  }

  /// Mean over the real positions (mask [B, L]) of x [B, L, D]; zeros when there is none.
  static torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& len) {
    return (x * mask.unsqueeze(2)).sum(1) / len.clamp_min(1).unsqueeze(1).to(torch::kFloat);
  }

  /// {y_m, y_s}, each [B, 1].
  std::pair<torch::Tensor, torch::Tensor> branches(const mscan_tensors& b) {
    const std::int64_t B = b.scenario.size(0);
    std::vector<torch::Tensor> parts;
    for (int f = 0; f < fields; ++f) parts.push_back(tables[f]->forward(b.ids[f]));
    parts.push_back(tables.back()->forward(b.scenario));
    const auto t = item->forward(b.ids[item_field]);  // [B, d]
    parts.push_back(t);
    const auto positions = torch::arange(length, torch::kLong).unsqueeze(0);  // [1, L]
    const auto len0 = b.seq_len[0];
    const auto mask0 = (positions < len0.unsqueeze(1)).to(torch::kFloat);  // [B, L]
    const auto H = std::get<0>(gru->forward(item->forward(b.seq[0])));     // [B, L, h]
    const auto last_index = (len0 - 1).clamp_min(0).view({B, 1, 1}).expand({B, 1, hidden});
    const auto h_last = H.gather(1, last_index).squeeze(1) * (len0 > 0).to(torch::kFloat).unsqueeze(1);
    // target attention over the current scenario's states
    auto s = torch::bmm(H, torch::matmul(t, att_w).unsqueeze(2)).squeeze(2) / std::sqrt(double(hidden));
    const auto a = torch::softmax(s.masked_fill(mask0 == 0, -1e9), 1) * mask0;
    parts.push_back(torch::bmm(a.unsqueeze(1), H).squeeze(1));
    parts.push_back(h_last);
    // co-attention with each other scenario's sequence
    const auto HW = torch::matmul(H, co_w);  // [B, L, d]
    torch::Tensor sum_a, sum_b;
    for (int k = 1; k < sequences; ++k) {
      const auto O = item->forward(b.seq[k]);  // [B, L, d]
      const auto lenk = b.seq_len[k];
      const auto maskk = (positions < lenk.unsqueeze(1)).to(torch::kFloat);
      const auto mask2 = mask0.unsqueeze(2) * maskk.unsqueeze(1);  // [B, L_a, L_b]
      const auto A = (torch::bmm(HW, O.transpose(1, 2)) / std::sqrt(double(item_dim))).masked_fill(mask2 == 0, -1e9);
      const auto rows = torch::softmax(A, 2) * mask2;  // H attends to O
      const auto cols = torch::softmax(A, 1) * mask2;  // O attends to H
      const auto a_k = masked_mean(torch::bmm(rows, O), mask0, len0);                   // [B, d]
      const auto b_k = masked_mean(torch::bmm(cols.transpose(1, 2), H), maskk, lenk);   // [B, h]
      sum_a = k == 1 ? a_k : sum_a + a_k;
      sum_b = k == 1 ? b_k : sum_b + b_k;
    }
    parts.push_back(sum_a / double(sequences - 1));
    parts.push_back(sum_b / double(sequences - 1));
    return {mlp->forward(torch::cat(parts, 1)), bias->forward(b.scenario)};
  }

  /// The TIE score as a logit (inference).
  torch::Tensor infer(const mscan_tensors& b) {
    const auto [y_m, y_s] = branches(b);
    const auto score = torch::sigmoid(y_m + y_s) - torch::sigmoid(y_s);
    const auto p = ((score + 1) / 2).clamp(1e-7, 1 - 1e-7);
    return torch::log(p) - torch::log(1 - p);
  }

  /// The dual loss (training).
  torch::Tensor loss(const mscan_tensors& b) {
    const auto [y_m, y_s] = branches(b);
    return torch::binary_cross_entropy_with_logits(y_m + y_s, b.labels) + torch::binary_cross_entropy_with_logits(y_s, b.labels);
  }

  /// recblocks' models::mscan names (mscan.hpp, feature_embedding, nn::gru, nn::target_attention,
  /// nn::co_attention, nn::mlp, nn::embedding).
  void map(torch_peers::state_loader& s) {
    for (int f = 0; f < fields; ++f) s.add("embedding.f" + std::to_string(f) + ".table", tables[f]->weight);
    s.add("embedding.scenario.table", tables.back()->weight);
    s.add("item.table", item->weight);
    s.add("bias.table", bias->weight);
    s.add("gru.w_x", gru->named_parameters()["weight_ih_l0"], true);
    s.add("gru.b_x", gru->named_parameters()["bias_ih_l0"]);
    s.add("gru.w_h", gru->named_parameters()["weight_hh_l0"], true);
    s.add("gru.b_h", gru->named_parameters()["bias_hh_l0"]);
    s.add("attention.weight", att_w);
    s.add("co_attention.weight", co_w);
    s.mlp("mlp", mlp);
  }
};
TORCH_MODULE(TorchMScan);

std::vector<mscan_tensors> pool(int batch_size, std::uint64_t seed, int count) {
  std::vector<mscan_tensors> out;
  for (int i = 0; i < count; ++i) out.emplace_back(make_mscan_batch(batch_size, seed + std::uint64_t(i)));
  return out;
}
}  // namespace

double peers::torch_mscan_infer_seconds(int batch_size, int threads) {
  TorchMScan model = torch_peers::seeded_model<TorchMScan>(threads);
  model->eval();
  const auto batches = pool(batch_size, infer_seed, infer_pool);
  c10::InferenceMode guard;
  std::size_t k = 0;
  volatile float sink = 0;
  return bench_timing::infer_seconds([&] {
    auto y = torch::sigmoid(model->infer(batches[k++ % batches.size()]));
    sink = sink + y.data_ptr<float>()[0];
  }, batch_size, threads == 1);
}

double peers::torch_mscan_train_seconds(int batch_size, int threads) {
  TorchMScan model = torch_peers::seeded_model<TorchMScan>(threads);
  model->train();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  const auto batches = pool(batch_size, train_seed, train_pool);
  std::size_t k = 0;
  return bench_timing::train_seconds([&] {
    opt.zero_grad();
    model->loss(batches[k++ % batches.size()]).backward();
    opt.step();
  }, batch_size, threads == 1);
}

std::vector<float> peers::torch_mscan_logits(const state& s, const bench_spec::batch& b) {
  TorchMScan model;
  torch_peers::state_loader loader;
  model->map(loader);
  loader.load(s, *model);
  model->eval();
  c10::InferenceMode guard;
  torch::Tensor y = model->infer(mscan_tensors(b)).reshape({-1}).contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}
