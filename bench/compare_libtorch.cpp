// The same MMoE in recblocks and in libtorch's C++ API, measured in one process, one line per case:
//
//     speedup <case> <libtorch time / recblocks time>
//
// cases: infer_b1_t1 infer_b128_t1 train_b512_t1 train_b4096_t1 and the same with _t2.
// Single-thread cases time each call by the calling thread's CPU time (robust to other load on a
// shared machine; both sides run entirely on the calling thread), two-thread cases by wall time.
// Threads are pinned on both sides: at::set_num_threads and openblas_set_num_threads (Debian's
// libtorch runs its GEMMs in the same OpenBLAS, which ignores at::set_num_threads).
// The libtorch model computes every gate and tower on every row and selects with torch::where, as
// Scenario-Wise Rec does; recblocks runs the library's models::mmoe, which sorts the batch by
// scenario inside the timed step and runs each scenario's gate and tower on its rows only. Both optimise with Adam(1e-3); libtorch's embedding
// gradients are dense (C++ torch has no SparseAdam), recblocks' are row-sparse (lazy Adam).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/recblocks.hpp>
#include <string>

#include "mmoe_bench_spec.hpp"
#include "timing.hpp"

double torch_infer_seconds(int batch_size, int threads);
double torch_train_seconds(int batch_size, int threads);

extern "C" void openblas_set_num_threads(int);

namespace {
using namespace recblocks;
using namespace mmoe_spec;

/// The library's multi-scenario MMoE (models::mmoe) configured to the spec: no batch norm (the
/// spec has none), 4 experts [256, 128], one gate and one [64] tower per scenario, sorted routing.
using rb_mmoe = models::mmoe<float>;

data::schema make_schema() {
  data::schema s;
  for (int f = 0; f < fields; ++f) s.add({.name = "f" + std::to_string(f), .kind = data::feature_kind::sparse, .vocabulary = vocabulary});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = scenarios});
  s.add({.name = "label", .kind = data::feature_kind::label});
  return s;
}

rb_mmoe make_model(rng& gen) {
  models::mmoe_options opt;
  opt.n_expert = experts;
  opt.expert_dims = {expert_hidden, expert_out};
  opt.tower_dims = {tower_hidden};
  opt.batch_norm = false;
  opt.gate_batch_norm = false;
  return rb_mmoe(make_schema(), opt, gen);
}

data::batch<float> to_batch(const batch& b) {
  data::batch<float> out;
  out.size = b.size;
  out.sparse = const_map<index_t>(b.ids.data(), fields, b.size);
  out.dense.resize(b.size, 0);
  out.scenario.assign(b.scenario.begin(), b.scenario.end());
  out.labels = const_map<float>(b.labels.data(), b.size, 1);
  return out;
}

void enable_bf16(rb_mmoe& m) {
  // every dense layer of the model: experts, gates and towers
  m.enable_bf16_inference();
}

using bench_timing::median_seconds;

double rb_infer_seconds(int batch_size, int threads, bool bf16 = false) {
  rng gen(1);
  rb_mmoe model = make_model(gen);
  if (bf16) enable_bf16(model);
  const rb_mmoe& served = model;
  std::vector<data::batch<float>> batches;
  for (int i = 0; i < 16; ++i) batches.push_back(to_batch(make_batch(batch_size, 100 + i)));
  tape<float> t(tape_mode::infer);
  matrix<float> out(batch_size, 1);
  std::size_t k = 0;
  return median_seconds([&] {
    t.reset();
    var<float> y = served(t, batches[k++ % 16]);
    out = y.value().array().logistic().matrix();
  }, 200, batch_size <= 1 ? 2000 : 300, 1.0, threads == 1);
}

/// Largest |p_bf16 - p_float| of the output probability over 256 batch-1 requests.
double bf16_max_output_difference() {
  rng gen(1), gen2(1);
  rb_mmoe model = make_model(gen), model_bf16 = make_model(gen2);
  enable_bf16(model_bf16);
  tape<float> t(tape_mode::infer);
  double worst = 0;
  for (int i = 0; i < 256; ++i) {
    const data::batch<float> b = to_batch(make_batch(1, 1000 + i));
    t.reset();
    const float a = model(t, b).item();
    t.reset();
    const float c = model_bf16(t, b).item();
    worst = std::max(worst, double(std::abs(1 / (1 + std::exp(-a)) - 1 / (1 + std::exp(-c)))));
  }
  return worst;
}

double rb_train_seconds(int batch_size, int threads) {
  rng gen(1);
  rb_mmoe model = make_model(gen);
  optim::adam<float> opt(nn::parameters(model), {.learning_rate = 1e-3});
  std::vector<data::batch<float>> batches;
  for (int i = 0; i < 8; ++i) batches.push_back(to_batch(make_batch(batch_size, 200 + i)));
  tape<float> t;
  std::size_t k = 0;
  return median_seconds([&] {
    const data::batch<float>& b = batches[k++ % 8];
    t.reset();
    var<float> logits = model(t, b);
    t.backward(loss::bce_with_logits(t, logits, t.view(b.labels.data(), b.size, 1)));
    opt.step();
  }, 5, batch_size >= 4096 ? 20 : 60, 2.0, threads == 1);
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
    const double ours = c.train ? rb_train_seconds(c.batch, c.threads) : rb_infer_seconds(c.batch, c.threads);
    std::printf("%-16s libtorch %10.1f us  recblocks %10.1f us\n", c.name.c_str(), theirs * 1e6, ours * 1e6);
    std::printf("speedup %s %.2f\n", c.name.c_str(), theirs / ours);
    if (!c.train && c.batch == 1) {  // the inference-only bf16 weight copy
      const double ours_bf16 = rb_infer_seconds(c.batch, c.threads, true);
      std::printf("%-16s recblocks bf16 weights %10.1f us\n", c.name.c_str(), ours_bf16 * 1e6);
      std::printf("speedup %s_bf16 %.2f\n", c.name.c_str(), theirs / ours_bf16);
      std::printf("bf16 max output probability difference %.2e\n", bf16_max_output_difference());
    }
    std::fflush(stdout);
  }
}
