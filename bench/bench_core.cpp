// Engine benchmarks: dense-layer GFLOP/s against the machine's FP32 peak measured in the same run,
// and the tape's fixed cost per recorded op at small shapes.
//
// Run: cmake --preset bench && cmake --build --preset bench --target bench_core &&
//      OPENBLAS_NUM_THREADS=1 build/bench/bench/bench_core
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <ctime>

#include <recblocks/recblocks.hpp>

using namespace recblocks;

namespace {

/// CPU time of the calling thread: the peak and the layers (Google Benchmark's default CPU-time
/// rates) are then measured on the same clock, robust to other load on the machine.
double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// ---- FP32 peak: 12 independent FMA chains kept in registers ---------------------------------------
double measure_peak_gflops() {
#if defined(__AVX512F__)
  using vec = __m512;
  constexpr int lanes = 16;
  auto fma = [](vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); };
  auto set1 = [](float v) { return _mm512_set1_ps(v); };
  auto hsum = [](vec v) { return _mm512_reduce_add_ps(v); };
#elif defined(__AVX2__) && defined(__FMA__)
  using vec = __m256;
  constexpr int lanes = 8;
  auto fma = [](vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); };
  auto set1 = [](float v) { return _mm256_set1_ps(v); };
  auto hsum = [](vec v) {
    alignas(32) float f[8];
    _mm256_store_ps(f, v);
    float s = 0;
    for (float x : f) s += x;
    return s;
  };
#else
  return 0.0;  // no SIMD FMA: peak not measurable here
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  const long iters = 20'000'000;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    vec acc[12];
    for (int k = 0; k < 12; ++k) acc[k] = set1(0.001f * float(k));
    const vec a = set1(0.999999f), b = set1(1e-7f);
    const double t0 = thread_seconds();
    for (long i = 0; i < iters; ++i)
      for (int k = 0; k < 12; ++k) acc[k] = fma(acc[k], a, b);
    const double t1 = thread_seconds();
    float sink = 0;
    for (int k = 0; k < 12; ++k) sink += hsum(acc[k]);
    benchmark::DoNotOptimize(sink);
    const double secs = t1 - t0;
    best = std::max(best, 2.0 * lanes * 12.0 * double(iters) / secs / 1e9);
  }
  return best;
#endif
}

double peak() {
  static const double p = measure_peak_gflops();
  return p;
}

void set_flops(benchmark::State& state, double flops_per_iter) {
  const double gflops = flops_per_iter * double(state.iterations()) / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflops, benchmark::Counter::kIsRate);
  state.counters["peak_GFLOP/s"] = peak();
}

// ---- dense layers on CTR shapes ------------------------------------------------------------
void BM_linear_forward(benchmark::State& state) {
  const index_t batch = state.range(0), width = state.range(1);
  rng gen(1);
  nn::linear<float> layer(width, width, gen);
  matrix<float> x = matrix<float>::Random(batch, width);
  tape<float> t(tape_mode::infer);
  for (auto _ : state) {
    t.reset();
    var<float> y = layer(t, t.view(x.data(), batch, width), fused_activation::relu);
    benchmark::DoNotOptimize(y.data);
  }
  set_flops(state, 2.0 * double(batch) * double(width) * double(width));
}

void BM_linear_forward_backward(benchmark::State& state) {
  const index_t batch = state.range(0), width = state.range(1);
  rng gen(1);
  nn::linear<float> layer(width, width, gen);
  param<float> x("x", matrix<float>::Random(batch, width));  // input gradient too, as inside a network
  matrix<float> seed = matrix<float>::Random(batch, width);
  tape<float> t;
  for (auto _ : state) {
    t.reset();
    var<float> y = layer(t, t.leaf(x), fused_activation::relu);
    t.backward(y, seed);
    x.zero_grad();
    layer.weight().zero_grad();
    layer.bias().zero_grad();
  }
  set_flops(state, 6.0 * double(batch) * double(width) * double(width));
}

void BM_mlp_forward_backward(benchmark::State& state) {
  const index_t batch = state.range(0);
  rng gen(1);
  nn::mlp<float> net({.input_dim = 128, .hidden = {256, 128, 64}, .output_layer = true}, gen);
  matrix<float> x = matrix<float>::Random(batch, 128);
  tape<float> t;
  auto params = nn::parameters(net);
  for (auto _ : state) {
    t.reset();
    var<float> y = net(t, t.view(x.data(), batch, 128));
    t.backward(ops::sum_all(t, y));
    for (auto* p : params) p->zero_grad();
  }
  // forward 2*B*(128*256 + 256*128 + 128*64 + 64); backward twice that (no input gradient)
  const double fwd = 2.0 * double(batch) * (128.0 * 256 + 256.0 * 128 + 128.0 * 64 + 64);
  set_flops(state, 3.0 * fwd);
}

void ctr_shapes(benchmark::internal::Benchmark* b) {
  for (int batch : {256, 1024, 4096})
    for (int width : {64, 128, 256, 512}) b->Args({batch, width});
}

// ---- fixed cost per op: a chain of 64 adds on [1, 16] ----------------------------------------
constexpr int chain = 64;

void BM_op_raw_eigen(benchmark::State& state) {
  matrix<float> a = matrix<float>::Random(1, 16), b = matrix<float>::Random(1, 16);
  std::vector<matrix<float>> out(chain + 1, matrix<float>(1, 16));
  out[0] = a;
  for (auto _ : state) {
    for (int i = 0; i < chain; ++i) out[i + 1].noalias() = out[i] + b;
    benchmark::DoNotOptimize(out[chain].data());
  }
  state.counters["ns/op"] = benchmark::Counter(double(chain), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_op_tape(benchmark::State& state) {
  const bool record = state.range(0) != 0;
  const bool backward = state.range(1) != 0;
  param<float> a("a", matrix<float>::Random(1, 16));
  matrix<float> b = matrix<float>::Random(1, 16);
  tape<float> t(record ? tape_mode::train : tape_mode::infer);
  for (auto _ : state) {
    t.reset();
    var<float> h = t.leaf(a);
    const var<float> bv = t.view(b.data(), 1, 16);
    for (int i = 0; i < chain; ++i) h = ops::add(t, h, bv);
    if (backward) {
      t.backward(h, b);
      a.zero_grad();
    }
    benchmark::DoNotOptimize(h.data);
  }
  state.counters["ns/op"] = benchmark::Counter(double(chain), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK(BM_linear_forward)->Apply(ctr_shapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_linear_forward_backward)->Apply(ctr_shapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_mlp_forward_backward)->Arg(512)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_op_raw_eigen);
BENCHMARK(BM_op_tape)->Args({0, 0})->Args({1, 0})->Args({1, 1})->ArgNames({"record", "backward"});

BENCHMARK_MAIN();
