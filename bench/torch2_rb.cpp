// The recblocks side of bench/torch2_peers.py (PyTorch 2.x eager and torch.compile peers of MMoE, STAR and
// M2M). No libtorch here: the Python script builds the PyTorch models, this program builds the recblocks
// models of bench/compare_libtorch (bench/bench_spec.hpp: the same input, the same options) and
//
//   torch2_rb export DIR      writes, for mmoe, star and m2m, a model trained 20 steps at batch 256 (Adam
//                             1e-2, so every weight and batch-norm statistic has moved off its initial
//                             value): DIR/<model>.safetensors (every parameter and buffer by its recblocks
//                             name, F32, recblocks' layout: a linear weight is [in, out]) and the inference
//                             logits on a batch of 64 (bench_spec::make_batch(64, 900)): DIR/<model>_logits.npy
//   torch2_rb time [FILTER]   prints `rb <case> <seconds>` for each case (one thread): <model>_infer_b1,
//                             _infer_b128, _train_b512, _train_b4096, and star_sorted_train_b512 / _b4096
//                             (STAR with `routing = sorted`: each scenario's layers, batch norms included,
//                             on its own rows, the function of the routed PyTorch peer in training);
//                             each case again with the suffix `_bf16`: bf16 GEMMs with FP32 accumulation
//                             (`tape::set_compute(bf16)`: mixed precision in training, FP32 master weights
//                             and Adam state; in inference also the packed bf16 weight copies where a
//                             model has them, `enable_bf16_inference`); where the CPU lacks AVX512-BF16
//                             these run FP32 and the program says so on stderr
//
// Timing as compare_libtorch (bench/timing.hpp: same call counts, median per call, thread CPU time).
// Inference: sigmoid of the logits on an inference tape of a `const` model; training: forward, BCE with
// logits, backward, Adam(1e-3) (row-sparse lazy Adam on the embedding tables, recblocks' default).
#include <cstdio>
#include <filesystem>
#include <recblocks/io/npy.hpp>
#include <recblocks/io/safetensors.hpp>
#include <recblocks/models/m2m.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/recblocks.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_spec.hpp"
#include "timing.hpp"

#if __has_include(<cblas.h>)
extern "C" void openblas_set_num_threads(int);
#define RECBLOCKS_TORCH2_OPENBLAS 1
#endif

namespace {
using namespace recblocks;
using namespace bench_spec;
namespace fs = std::filesystem;

using rb_mmoe = models::mmoe<float>;
using rb_star = models::star<float>;
using rb_m2m = models::m2m<float>;

data::schema make_schema() {
  data::schema s;
  for (int f = 0; f < fields; ++f) s.add({.name = "f" + std::to_string(f), .kind = data::feature_kind::sparse, .vocabulary = vocabulary});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = scenarios});
  s.add({.name = "label", .kind = data::feature_kind::label});
  return s;
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

std::vector<data::batch<float>> batch_pool(int batch_size, std::uint64_t seed, int count) {
  std::vector<data::batch<float>> out;
  for (int i = 0; i < count; ++i) out.push_back(to_batch(make_batch(batch_size, seed + std::uint64_t(i))));
  return out;
}

// The models of bench/compare_libtorch (same options: see make_model there).
rb_mmoe make_mmoe(rng& gen) {
  models::mmoe_options opt;
  opt.experts = mmoe::experts;
  opt.expert_dims = {mmoe::expert_hidden, mmoe::expert_out};
  opt.tower_dims = {mmoe::tower_hidden};
  opt.batch_norm = false;
  opt.gate_batch_norm = false;
  return rb_mmoe(make_schema(), opt, gen);
}
rb_star make_star(rng& gen, bool sorted = false) {
  models::star_options opt;
  if (sorted) opt.routing = nn::routing_mode::sorted;
  return rb_star(make_schema(), opt, gen);
}
rb_m2m make_m2m(rng& gen) { return rb_m2m(make_schema(), models::m2m_options{}, gen); }

void train_step(auto& model, auto& opt, tape<float>& t, const data::batch<float>& b) {
  t.reset();
  var<float> logits = model(t, b);
  const var<float> labels = t.view(b.labels.data(), b.size, 1);
  t.backward(loss::bce_with_logits(t, logits, labels));
  opt.step();
}

compute_type as_compute(bool bf16) { return bf16 ? compute_type::bf16 : compute_type::fp32; }

template <class Model>
double infer_seconds(const Model& served, int batch_size, bool bf16) {
  const auto batches = batch_pool(batch_size, infer_seed, infer_pool);
  tape<float> t(tape_mode::infer);
  t.set_compute(as_compute(bf16));
  matrix<float> out(batch_size, 1);
  std::size_t k = 0;
  return bench_timing::infer_seconds([&] {
    t.reset();
    var<float> y = served(t, batches[k++ % batches.size()]);
    out = y.value().array().logistic().matrix();
  }, batch_size, true);
}

template <class Model>
double train_seconds(Model model, int batch_size, bool bf16) {
  optim::adam<float> opt(nn::parameters(model), {.learning_rate = 1e-3});
  const auto batches = batch_pool(batch_size, train_seed, train_pool);
  tape<float> t;
  t.set_compute(as_compute(bf16));
  std::size_t k = 0;
  return bench_timing::train_seconds([&] { train_step(model, opt, t, batches[k++ % batches.size()]); }, batch_size, true);
}

template <class Model>
void export_model(Model model, const fs::path& dir, const std::string& name) {
  {
    optim::adam<float> opt(nn::parameters(model), {.learning_rate = 1e-2});
    tape<float> t;
    for (const auto& b : batch_pool(256, 500, 20)) train_step(model, opt, t, b);
  }
  io::safetensors st;
  for (auto& [n, p] : nn::named_parameters(model)) st.add<float>(n, p->value());
  nn::visit_buffers(model, [&](const std::string& n, matrix<float>& m) { st.add<float>(n, m); });
  st.save(dir / (name + ".safetensors"));
  tape<float> t(tape_mode::infer);
  const matrix<float> logits = model(t, to_batch(make_batch(64, 900))).value();
  io::npy::save(dir / (name + "_logits.npy"), logits);
  std::printf("exported %s\n", name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
#ifdef RECBLOCKS_TORCH2_OPENBLAS
    openblas_set_num_threads(1);
#endif
    Eigen::setNbThreads(1);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "export" && argc == 3) {
      const fs::path dir = argv[2];
      fs::create_directories(dir);
      rng g1(7), g2(7), g3(7);
      export_model(make_mmoe(g1), dir, "mmoe");
      export_model(make_star(g2), dir, "star");
      export_model(make_m2m(g3), dir, "m2m");
      return 0;
    }
    if (mode == "time") {
      const std::string only = argc > 2 ? argv[2] : "";
      auto run = [&](const std::string& name, auto&& f) {
        if (!only.empty() && name.find(only) == std::string::npos) return;
        std::printf("rb %s %.9f\n", name.c_str(), f());
        std::fflush(stdout);
      };
      if (!bf16_gemm_available())
        std::fprintf(stderr, "torch2_rb: this CPU has no AVX512-BF16: the _bf16 cases run the FP32 kernels\n");
      for (const bool bf16 : {false, true}) {
        const std::string suffix = bf16 ? "_bf16" : "";
        for (const std::string m : {"mmoe", "star", "m2m"}) {
          auto with = [&](auto&& make) {
            for (int b : {1, 128}) {
              run(m + "_infer_b" + std::to_string(b) + suffix, [&] {
                rng gen(1);
                auto model = make(gen);
                if constexpr (requires { model.enable_bf16_inference(index_t(1)); })
                  if (bf16) model.enable_bf16_inference(1 << 30);
                return infer_seconds(std::as_const(model), b, bf16);
              });
            }
            for (int b : {512, 4096}) {
              run(m + "_train_b" + std::to_string(b) + suffix, [&] {
                rng gen(1);
                return train_seconds(make(gen), b, bf16);
              });
            }
          };
          if (m == "mmoe") with([](rng& g) { return make_mmoe(g); });
          if (m == "star") with([](rng& g) { return make_star(g); });
          if (m == "m2m") with([](rng& g) { return make_m2m(g); });
        }
        for (int b : {512, 4096})
          run("star_sorted_train_b" + std::to_string(b) + suffix, [&] {
            rng gen(1);
            return train_seconds(make_star(gen, true), b, bf16);
          });
      }
      return 0;
    }
    std::fprintf(stderr, "usage: torch2_rb export DIR | torch2_rb time [FILTER]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torch2_rb: %s\n", e.what());
    return 1;
  }
}
