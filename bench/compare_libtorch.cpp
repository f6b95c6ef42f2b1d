// The same MMoE in recblocks and in libtorch's C++ API, measured in one process, one line per case:
//
//     speedup <case> <libtorch time / recblocks time>
//
// cases: infer_b1_t1 infer_b128_t1 train_b512_t1 train_b4096_t1 and the same with _t2.
// Threads are pinned on both sides: at::set_num_threads and openblas_set_num_threads (Debian's
// libtorch runs its GEMMs in the same OpenBLAS, which ignores at::set_num_threads).
// The libtorch model computes every gate and tower on every row and selects with torch::where, as
// Scenario-Wise Rec does; recblocks sorts the batch by scenario inside the timed step and runs each
// scenario's gate and tower on its rows only. Both optimise with Adam(1e-3); libtorch's embedding
// gradients are dense (C++ torch has no SparseAdam), recblocks' are row-sparse (lazy Adam).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <recblocks/recblocks.hpp>
#include <string>

#include "mmoe_bench_spec.hpp"

double torch_infer_seconds(int batch_size, int threads);
double torch_train_seconds(int batch_size, int threads);

extern "C" void openblas_set_num_threads(int);

namespace {
using namespace recblocks;
using namespace mmoe_spec;

struct rb_mmoe {
  using scalar_type = float;
  std::vector<nn::embedding<float>> tables;
  std::vector<nn::mlp<float>> expert_nets, towers;
  std::vector<nn::linear<float>> gates;

  explicit rb_mmoe(rng& gen) {
    for (int f = 0; f < fields; ++f) tables.emplace_back(vocabulary, dim, gen, nn::init::normal(0, 1));
    for (int k = 0; k < experts; ++k)
      expert_nets.emplace_back(nn::mlp_options{.input_dim = input, .hidden = {expert_hidden, expert_out}}, gen);
    for (int s = 0; s < scenarios; ++s) {
      gates.emplace_back(input, experts, gen);
      towers.emplace_back(nn::mlp_options{.input_dim = expert_out, .hidden = {tower_hidden}, .output_layer = true}, gen);
    }
  }

  /// Logits in scenario-sorted row order; `order` holds the original row of each sorted row and
  /// `bounds` the first sorted row of each scenario (size scenarios + 1).
  var<float> operator()(tape<float>& t, const std::int64_t* ids, int n, const std::vector<index_t>& order,
                        const std::vector<index_t>& bounds) const {
    std::vector<var<float>> parts;
    parts.reserve(fields);
    index_t* sorted_ids = t.scratch<index_t>(std::size_t(n));
    for (int f = 0; f < fields; ++f) {
      for (int i = 0; i < n; ++i) sorted_ids[i] = ids[std::size_t(f) * n + std::size_t(order[i])];
      parts.push_back(tables[f](t, std::span<const index_t>(sorted_ids, std::size_t(n))));
    }
    var<float> x = ops::concat_cols<float>(t, parts);
    std::array<var<float>, experts> e;
    for (int k = 0; k < experts; ++k) e[k] = expert_nets[k](t, x);
    std::vector<var<float>> outs;
    for (int s = 0; s < scenarios; ++s) {
      const index_t lo = bounds[s], rows = bounds[s + 1] - bounds[s];
      if (rows == 0) continue;
      var<float> xs = ops::slice_rows(t, x, lo, rows);
      std::array<var<float>, experts> es;
      for (int k = 0; k < experts; ++k) es[k] = ops::slice_rows(t, e[k], lo, rows);
      var<float> g = ops::softmax(t, gates[s](t, xs));
      outs.push_back(towers[s](t, ops::mixture<float>(t, g, es)));
    }
    return outs.size() == 1 ? outs[0] : ops::concat_rows<float>(t, outs);
  }

  template <class V>
  void visit_parameters(V&& v, const std::string& p) {
    for (int f = 0; f < fields; ++f) tables[f].visit_parameters(v, nn::join_name(p, "emb" + std::to_string(f)));
    for (int k = 0; k < experts; ++k) expert_nets[k].visit_parameters(v, nn::join_name(p, "expert" + std::to_string(k)));
    for (int s = 0; s < scenarios; ++s) {
      gates[s].visit_parameters(v, nn::join_name(p, "gate" + std::to_string(s)));
      towers[s].visit_parameters(v, nn::join_name(p, "tower" + std::to_string(s)));
    }
  }
};

/// Counting sort of rows by scenario.
void route(const batch& b, std::vector<index_t>& order, std::vector<index_t>& bounds) {
  bounds.assign(scenarios + 1, 0);
  for (int i = 0; i < b.size; ++i) ++bounds[std::size_t(b.scenario[i]) + 1];
  for (int s = 0; s < scenarios; ++s) bounds[s + 1] += bounds[s];
  std::vector<index_t> next(bounds.begin(), bounds.end() - 1);
  order.resize(std::size_t(b.size));
  for (int i = 0; i < b.size; ++i) order[std::size_t(next[std::size_t(b.scenario[i])]++)] = i;
}

template <class F>
double median_seconds(F&& f, int warmup, int min_calls, double min_seconds) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  const auto start = std::chrono::steady_clock::now();
  while (int(t.size()) < min_calls || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < min_seconds) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

double rb_infer_seconds(int batch_size, bool bf16 = false) {
  rng gen(1);
  rb_mmoe model(gen);
  if (bf16) {
    for (auto& e : model.expert_nets) e.enable_bf16_inference();
    for (auto& g : model.gates) g.enable_bf16_inference();
    for (auto& tw : model.towers) tw.enable_bf16_inference();
  }
  const rb_mmoe& served = model;
  std::vector<batch> batches;
  for (int i = 0; i < 16; ++i) batches.push_back(make_batch(batch_size, 100 + i));
  tape<float> t(tape_mode::infer);
  std::vector<index_t> order, bounds;
  matrix<float> out(batch_size, 1);
  std::size_t k = 0;
  return median_seconds([&] {
    const batch& b = batches[k++ % 16];
    t.reset();
    route(b, order, bounds);
    var<float> y = served(t, b.ids.data(), b.size, order, bounds);
    for (int i = 0; i < b.size; ++i) out(order[i], 0) = 1.f / (1.f + std::exp(-y.data[i]));  // original order
  }, 200, batch_size <= 1 ? 2000 : 300, 1.0);
}

/// Largest |p_bf16 - p_float| of the output probability over 256 batch-1 requests.
double bf16_max_output_difference() {
  rng gen(1);
  rb_mmoe model(gen), model_bf16 = model;
  for (auto& e : model_bf16.expert_nets) e.enable_bf16_inference();
  for (auto& g : model_bf16.gates) g.enable_bf16_inference();
  for (auto& tw : model_bf16.towers) tw.enable_bf16_inference();
  tape<float> t(tape_mode::infer);
  std::vector<index_t> order, bounds;
  double worst = 0;
  for (int i = 0; i < 256; ++i) {
    const batch b = make_batch(1, 1000 + i);
    route(b, order, bounds);
    t.reset();
    const float a = model(t, b.ids.data(), 1, order, bounds).item();
    t.reset();
    const float c = model_bf16(t, b.ids.data(), 1, order, bounds).item();
    worst = std::max(worst, double(std::abs(1 / (1 + std::exp(-a)) - 1 / (1 + std::exp(-c)))));
  }
  return worst;
}

double rb_train_seconds(int batch_size) {
  rng gen(1);
  rb_mmoe model(gen);
  optim::adam<float> opt(nn::parameters(model), {.learning_rate = 1e-3});
  std::vector<batch> batches;
  for (int i = 0; i < 8; ++i) batches.push_back(make_batch(batch_size, 200 + i));
  tape<float> t;
  std::vector<index_t> order, bounds;
  matrix<float> labels(batch_size, 1);
  std::size_t k = 0;
  return median_seconds([&] {
    const batch& b = batches[k++ % 8];
    t.reset();
    route(b, order, bounds);
    for (int i = 0; i < b.size; ++i) labels(i, 0) = b.labels[std::size_t(order[i])];
    var<float> logits = model(t, b.ids.data(), b.size, order, bounds);
    t.backward(loss::bce_with_logits(t, logits, t.view(labels.data(), b.size, 1)));
    opt.step();
  }, 5, batch_size >= 4096 ? 20 : 60, 2.0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string only = argc > 1 ? argv[1] : "";
  struct bench_case {
    std::string name;
    bool train;
    int batch, threads;
  };
  std::vector<bench_case> cases;
  for (int threads : {1, 2})
    for (auto [train, b] : std::vector<std::pair<bool, int>>{{false, 1}, {false, 128}, {true, 512}, {true, 4096}})
      cases.push_back({std::string(train ? "train" : "infer") + "_b" + std::to_string(b) + "_t" + std::to_string(threads), train, b, threads});
  for (const auto& c : cases) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    openblas_set_num_threads(c.threads);
    Eigen::setNbThreads(c.threads);
    const double theirs = c.train ? torch_train_seconds(c.batch, c.threads) : torch_infer_seconds(c.batch, c.threads);
    openblas_set_num_threads(c.threads);
    const double ours = c.train ? rb_train_seconds(c.batch) : rb_infer_seconds(c.batch);
    std::printf("%-16s libtorch %10.1f us  recblocks %10.1f us\n", c.name.c_str(), theirs * 1e6, ours * 1e6);
    std::printf("speedup %s %.2f\n", c.name.c_str(), theirs / ours);
    if (!c.train && c.batch == 1) {  // the inference-only bf16 weight copy
      const double ours_bf16 = rb_infer_seconds(c.batch, true);
      std::printf("%-16s recblocks bf16 weights %10.1f us\n", c.name.c_str(), ours_bf16 * 1e6);
      std::printf("speedup %s_bf16 %.2f\n", c.name.c_str(), theirs / ours_bf16);
      std::printf("bf16 max output probability difference %.2e\n", bf16_max_output_difference());
    }
    std::fflush(stdout);
  }
}
