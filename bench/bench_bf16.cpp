// bf16 against FP32 (issue 26 part 1), one thread, in one run:
//
//   peak/fp32, peak/bf16      the machine's peaks measured here: 12 independent chains of 16-lane FMAs
//                             (2 x 16 FLOP each) / of vdpbf16ps (2 x 32 FLOP each), thread CPU time.
//   dense/<fp32|bf16>/<B>/<W> the fused linear op Y = relu(X W + b), X [B, W], W [W, W], on an
//                             inference tape (forward) and `dense_train/...` forward + backward
//                             (dW, db, dX) on a training tape; counters GFLOP/s and pct_peak (of the
//                             peak of the same precision measured in this run).
//   mmoe|star/infer/<fp32|bf16>/<B>   one inference call on B rows (B = 1, 128): FP32, or bf16 (MMoE:
//                             the packed bf16 weight copy, `enable_bf16_inference`; STAR composes its
//                             weights per call (shared x scenario), so its bf16 path is the tape's
//                             autocast, packing the composed weight every call).
//   mmoe|star/train/<fp32|bf16>/<B>   one training step (forward, BCE, backward, Adam) on B rows
//                             (512, 4096): FP32, or bf16 mixed precision (tape::set_compute(bf16):
//                             FP32 master weights and Adam state, bf16 GEMMs forward and backward).
//
// Models: registry defaults (models::mmoe / models::star from_config({})) on data::synthetic's schema
// (20,000 rows, 5 sparse fields + scenario, 16-d embeddings), as bench_models; `mmoe_wide` is MMoE
// with experts 256-128 and towers 64 (its defaults, 16 and 8, are below bf16_min_dim and stay FP32).
//
// Run: cmake --preset bench && cmake --build --preset bench --target bench_bf16 &&
//      OPENBLAS_NUM_THREADS=1 build/bench/bench/bench_bf16 --benchmark_repetitions=3 \
//        --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <ctime>
#include <string>

#include <recblocks/core.hpp>
#include <recblocks/data/batcher.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/loss.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/nn/linear.hpp>
#include <recblocks/optim.hpp>

using namespace recblocks;

namespace {

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

__attribute__((target("avx512f"))) double fp32_peak_once(long iters) {
  __m512 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(0.001f * float(k));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const double t0 = thread_seconds();
  for (long i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  const double t1 = thread_seconds();
  float sink = 0;
  for (int k = 0; k < 12; ++k) sink += _mm512_reduce_add_ps(acc[k]);
  benchmark::DoNotOptimize(sink);
  return 2.0 * 16 * 12.0 * double(iters) / (t1 - t0) / 1e9;
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) double bf16_peak_once(long iters) {
  __m512 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(0.001f * float(k));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7f), _mm512_set1_ps(1e-7f));
  const double t0 = thread_seconds();
  for (long i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  const double t1 = thread_seconds();
  float sink = 0;
  for (int k = 0; k < 12; ++k) sink += _mm512_reduce_add_ps(acc[k]);
  benchmark::DoNotOptimize(sink);
  return 2.0 * 32 * 12.0 * double(iters) / (t1 - t0) / 1e9;  // 16 lanes x 2 products, multiply + add
}

double peak(bool bf16) {
  static const double p32 = [] {
    double best = 0;
    for (int r = 0; r < 5; ++r) best = std::max(best, fp32_peak_once(20'000'000));
    return best;
  }();
  static const double p16 = [] {
    if (!bf16_gemm_cpu_supported()) return 0.0;
    double best = 0;
    for (int r = 0; r < 5; ++r) best = std::max(best, bf16_peak_once(20'000'000));
    return best;
  }();
  return bf16 ? p16 : p32;
}

void BM_peak(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0;
  double g = 0;
  for (auto _ : state) g = bf16 ? bf16_peak_once(2'000'000) : fp32_peak_once(2'000'000);
  state.counters["GFLOP/s"] = g;
  state.counters["peak_GFLOP/s"] = peak(bf16);
}

void set_flops(benchmark::State& state, double flops, bool bf16) {
  const double gflops = flops * double(state.iterations()) / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflops, benchmark::Counter::kIsRate);
  state.counters["pct_peak"] = benchmark::Counter(100.0 * gflops / peak(bf16), benchmark::Counter::kIsRate);
}

compute_type as_compute(bool bf16) { return bf16 ? compute_type::bf16 : compute_type::fp32; }

void BM_dense(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0;
  const index_t batch = state.range(1), width = state.range(2);
  rng gen(1);
  nn::linear<float> layer(width, width, gen);
  if (bf16) layer.enable_bf16_inference(1 << 30);  // the packed weight copy: inference
  matrix<float> x = matrix<float>::Random(batch, width);
  tape<float> t(tape_mode::infer);
  t.set_compute(as_compute(bf16));
  for (auto _ : state) {
    t.reset();
    var<float> y = layer(t, t.view(x.data(), batch, width), fused_activation::relu);
    benchmark::DoNotOptimize(y.data);
  }
  set_flops(state, 2.0 * double(batch) * double(width) * double(width), bf16);
}

void BM_dense_train(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0;
  const index_t batch = state.range(1), width = state.range(2);
  rng gen(1);
  nn::linear<float> layer(width, width, gen);
  param<float> x("x", matrix<float>::Random(batch, width));
  matrix<float> seed = matrix<float>::Random(batch, width);
  tape<float> t;
  t.set_compute(as_compute(bf16));
  for (auto _ : state) {
    t.reset();
    var<float> y = layer(t, t.leaf(x), fused_activation::relu);
    t.backward(y, seed);
    x.zero_grad();
    layer.weight().zero_grad();
    layer.bias().zero_grad();
  }
  set_flops(state, 6.0 * double(batch) * double(width) * double(width), bf16);
}

void dense_shapes(benchmark::internal::Benchmark* b) {
  for (int bf16 : {0, 1})
    for (int batch : {1, 128, 1024, 4096})
      for (int width : {128, 256, 512}) b->Args({bf16, batch, width});
  b->ArgNames({"bf16", "B", "W"});
}
void dense_train_shapes(benchmark::internal::Benchmark* b) {
  for (int bf16 : {0, 1})
    for (int batch : {512, 4096})
      for (int width : {256, 512}) b->Args({bf16, batch, width});
  b->ArgNames({"bf16", "B", "W"});
}

// ---- models -----------------------------------------------------------------------------------
const data::synthetic& synthetic_data() {
  static const data::synthetic gen{data::synthetic_config{.rows = 20000}};
  return gen;
}

std::vector<data::batch<float>> make_batches(index_t size) {
  data::batcher<float> it(synthetic_data().data(), size, true, 7);
  std::vector<data::batch<float>> out(8);
  for (auto& b : out)
    if (!it.next(b)) it.reset(), it.next(b);
  return out;
}

/// MMoE with wider layers than its defaults (experts 256-128, towers 64): where dense GEMMs dominate.
nlohmann::json config_for(const std::string& name) {
  if (name == "mmoe_wide") return {{"expert_dims", {256, 128}}, {"tower_dims", {64}}};
  return nlohmann::json::object();
}

template <class Model>
void model_infer(benchmark::State& state, bool bf16, const std::string& name) {
  const auto size = static_cast<index_t>(state.range(0));
  const auto batches = make_batches(size);
  rng gen(1);
  Model model = Model::from_config(synthetic_data().data().get_schema(), config_for(name), gen);
  if constexpr (requires { model.enable_bf16_inference(index_t(1)); })
    if (bf16) model.enable_bf16_inference(1 << 30);
  tape<float> t(tape_mode::infer);
  t.set_compute(as_compute(bf16));
  std::size_t k = 0;
  for (auto _ : state) {
    t.reset();
    const var<float> logit = model(t, batches[k++ % batches.size()]);
    benchmark::DoNotOptimize(logit.value().data());
  }
  state.counters["samples/s"] = benchmark::Counter(double(size), benchmark::Counter::kIsIterationInvariantRate);
}

template <class Model>
void model_train(benchmark::State& state, bool bf16, const std::string& name) {
  const auto size = static_cast<index_t>(state.range(0));
  const auto batches = make_batches(size);
  std::vector<matrix<float>> labels(batches.size());
  for (std::size_t i = 0; i < batches.size(); ++i) labels[i] = batches[i].labels.col(0);
  rng gen(1);
  Model model = Model::from_config(synthetic_data().data().get_schema(), config_for(name), gen);
  optim::adam<float> adam(nn::parameters(model), {.learning_rate = 1e-3, .weight_decay = 1e-5});
  tape<float> t;
  t.set_compute(as_compute(bf16));
  std::size_t k = 0;
  for (auto _ : state) {
    const std::size_t i = k++ % batches.size();
    t.reset();
    const var<float> logits = model(t, batches[i]);
    var<float> l = loss::bce_with_logits(t, logits, t.view(labels[i].data(), batches[i].size, 1));
    t.backward(l);
    adam.step();
  }
  state.counters["samples/s"] = benchmark::Counter(double(size), benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  for (const std::string name : {"mmoe", "star", "mmoe_wide"})
    for (int bf16 : {0, 1}) {
      const std::string p = bf16 ? "bf16" : "fp32";
      if (name == "star") {
        benchmark::RegisterBenchmark((name + "/infer/" + p).c_str(), model_infer<models::star<float>>, bf16 != 0, name)->Arg(1)->Arg(128)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark((name + "/train/" + p).c_str(), model_train<models::star<float>>, bf16 != 0, name)->Arg(512)->Arg(4096)->Unit(benchmark::kMillisecond);
      } else {
        benchmark::RegisterBenchmark((name + "/infer/" + p).c_str(), model_infer<models::mmoe<float>>, bf16 != 0, name)->Arg(1)->Arg(128)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark((name + "/train/" + p).c_str(), model_train<models::mmoe<float>>, bf16 != 0, name)->Arg(512)->Arg(4096)->Unit(benchmark::kMillisecond);
      }
    }
  return true;
}();

}  // namespace

BENCHMARK(BM_peak)->Arg(0)->Arg(1)->ArgName("bf16")->Iterations(3);
BENCHMARK(BM_dense)->Apply(dense_shapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_dense_train)->Apply(dense_train_shapes)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("bf16_kernel", bf16_gemm_available() ? "AVX512-BF16 (vdpbf16ps)" : "unavailable: bf16 rows run FP32");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
