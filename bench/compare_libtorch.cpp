// MMoE, STAR and M2M in recblocks and in libtorch's C++ API, measured in one process, one line per case:
//
//     speedup <case> <libtorch time / recblocks time>
//
// cases: infer_b1 infer_b128 train_b512 train_b4096, each at _t1 and _t2; MMoE's cases carry no prefix
// (infer_b1_t1, ...: the figures of docs/performance.md), STAR's, M2M's and M-scan's are star_...,
// m2m_... and mscan_... (M-scan: the same 8 fields plus three behaviour sequences of 20 slots per row,
// bench_spec::make_mscan_batch; its training step is the dual loss BCE(fused) + BCE(bias branch))
// An optional argument keeps only the cases whose name contains it (e.g. star, m2m_train, _t1).
//
// Both sides run the same model on the same input (bench/bench_spec.hpp): recblocks the library's
// models::mmoe (no batch norm, as the spec), models::star and models::m2m (default options: the
// reference hyperparameters); libtorch the same functions written as Scenario-Wise Rec writes them
// (bench/peers/torch_*.cpp: every scenario's layers on every row, torch::where selects), eval mode and
// c10::InferenceMode for inference. recblocks' multi-scenario models sort the batch by scenario inside the
// timed step and run each scenario's layers on its rows only. Training: BCE with logits, Adam(1e-3);
// libtorch's embedding gradients are dense (C++ torch has no SparseAdam), recblocks' row-sparse (lazy Adam).
//
// Equivalence: before STAR's and M2M's cases, a recblocks model trained for a few steps (so that every
// weight and batch-norm statistic has moved off its initial value) is copied into the libtorch model,
// parameters and running statistics by name (nn::named_parameters, nn::visit_buffers), and the inference
// logits on a batch of 64 are compared: `equivalence <model> max_abs_logit_diff <x>`; the program exits
// with status 1 when x > 1e-4.
//
// Timing (bench/timing.hpp, same call counts on both sides): single-thread cases time each call by the
// calling thread's CPU time (robust to other load on a shared machine; both sides run entirely on the
// calling thread), two-thread cases by wall time; median per call. Threads are pinned on both sides:
// at::set_num_threads and openblas_set_num_threads (Debian's libtorch runs its GEMMs in the same
// OpenBLAS, which ignores at::set_num_threads).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <recblocks/models/m2m.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/mscan.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/recblocks.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_spec.hpp"
#include "peers/peers.hpp"
#include "timing.hpp"

extern "C" void openblas_set_num_threads(int);

namespace {
using namespace recblocks;
using namespace bench_spec;

using rb_mmoe = models::mmoe<float>;
using rb_star = models::star<float>;
using rb_m2m = models::m2m<float>;
using rb_mscan = models::mscan<float>;

/// The input of `Model`: M-scan's batches carry the behaviour sequences.
template <class Model>
constexpr bool with_sequences = std::is_same_v<Model, rb_mscan>;

data::schema make_schema(bool sequences = false) {
  data::schema s;
  for (int f = 0; f < fields; ++f) s.add({.name = "f" + std::to_string(f), .kind = data::feature_kind::sparse, .vocabulary = vocabulary});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = scenarios});
  s.add({.name = "label", .kind = data::feature_kind::label});
  if (sequences) {
    s.add({.name = "seq_current", .kind = data::feature_kind::sequence, .vocabulary = vocabulary, .max_length = mscan::length});
    for (int k = 0; k + 1 < mscan::sequences; ++k)
      s.add({.name = "seq_other_" + std::to_string(k), .kind = data::feature_kind::sequence, .vocabulary = vocabulary,
             .max_length = mscan::length});
  }
  return s;
}

data::batch<float> to_batch(const batch& b) {
  data::batch<float> out;
  out.size = b.size;
  out.sparse = const_map<index_t>(b.ids.data(), fields, b.size);
  out.dense.resize(b.size, 0);
  out.scenario.assign(b.scenario.begin(), b.scenario.end());
  out.labels = const_map<float>(b.labels.data(), b.size, 1);
  const std::size_t n = std::size_t(b.size), L = mscan::length;
  if (!b.seq.empty())
    for (std::size_t k = 0; k < std::size_t(mscan::sequences); ++k) {
      xt::xtensor<index_t, 2> ids = xt::zeros<index_t>({n, L});
      std::copy_n(b.seq.begin() + std::ptrdiff_t(k * n * L), n * L, ids.data());
      out.sequences.push_back(std::move(ids));
    }
  return out;
}

/// A bench_spec batch for `Model` (with M-scan's sequences where it needs them).
template <class Model>
batch make_input(int batch_size, std::uint64_t seed) {
  return with_sequences<Model> ? make_mscan_batch(batch_size, seed) : make_batch(batch_size, seed);
}

template <class Model>
std::vector<data::batch<float>> batch_pool(int batch_size, std::uint64_t seed, int count) {
  std::vector<data::batch<float>> out;
  for (int i = 0; i < count; ++i) out.push_back(to_batch(make_input<Model>(batch_size, seed + std::uint64_t(i))));
  return out;
}

void require(bool ok, const char* what) {
  if (!ok) throw std::logic_error(std::string("compare_libtorch: the model's defaults differ from bench_spec: ") + what);
}

template <class Model>
Model make_model(rng& gen);

/// models::mmoe configured to the spec: no batch norm (the spec has none), 4 experts [256, 128],
/// one gate and one [64] tower per scenario, sorted routing.
template <>
rb_mmoe make_model<rb_mmoe>(rng& gen) {
  models::mmoe_options opt;
  opt.experts = mmoe::experts;
  opt.expert_dims = {mmoe::expert_hidden, mmoe::expert_out};
  opt.tower_dims = {mmoe::tower_hidden};
  opt.batch_norm = false;
  opt.gate_batch_norm = false;
  return rb_mmoe(make_schema(), opt, gen);
}

/// models::star with default options; the libtorch side builds bench_spec::star's shapes.
template <>
rb_star make_model<rb_star>(rng& gen) {
  const models::star_options opt;
  require(std::equal(opt.fcn_dims.begin(), opt.fcn_dims.end(), star::fcn_dims.begin(), star::fcn_dims.end()), "star fcn_dims");
  require(std::equal(opt.aux_dims.begin(), opt.aux_dims.end(), star::aux_dims.begin(), star::aux_dims.end()), "star aux_dims");
  require(!opt.reference_behaviour && opt.embedding.dim == dim, "star output layer / embedding dim");
  return rb_star(make_schema(), opt, gen);
}

/// models::m2m with default options; the libtorch side builds bench_spec::m2m's shapes.
template <>
rb_m2m make_model<rb_m2m>(rng& gen) {
  const models::m2m_options opt;
  require(opt.experts == m2m::experts && opt.expert_output == m2m::expert_out && opt.scenario_dim == m2m::scenario_dim,
          "m2m experts");
  require(opt.encoder_layers == m2m::encoder_layers && opt.heads == m2m::heads && opt.feedforward == m2m::feedforward,
          "m2m encoder");
  require(std::equal(opt.tower_dims.begin(), opt.tower_dims.end(), m2m::tower_dims.begin(), m2m::tower_dims.end()), "m2m tower_dims");
  require(!opt.reference_behaviour && opt.embedding.dim == dim, "m2m backbone / embedding dim");
  return rb_m2m(make_schema(), opt, gen);
}

/// models::mscan with default options (item feature f0); the libtorch side builds bench_spec::mscan's shapes.
template <>
rb_mscan make_model<rb_mscan>(rng& gen) {
  models::mscan_options opt;
  opt.item_feature = "f" + std::to_string(mscan::item_field);
  require(opt.item_dim == mscan::item_dim && opt.hidden == mscan::hidden && opt.embedding.dim == dim, "mscan dims");
  require(std::equal(opt.mlp_dims.begin(), opt.mlp_dims.end(), mscan::mlp_dims.begin(), mscan::mlp_dims.end()) && opt.batch_norm &&
              opt.act == activation::relu && opt.dropout == 0,
          "mscan mlp");
  require(opt.cross == models::mscan_cross::co_attention && opt.history == models::mscan_history::per_scenario && opt.debias &&
              opt.head.fusion == nn::cf_fusion::additive && opt.head.c == 1 && opt.head.lambda == 1 &&
              opt.head.score == nn::cf_score::probability,
          "mscan structure / counterfactual head");
  return rb_mscan(make_schema(true), opt, gen);
}

/// Median seconds per inference call (sigmoid of the logits) of a `const` model.
template <class Model>
double rb_infer_seconds(const Model& served, int batch_size, int threads) {
  const auto batches = batch_pool<Model>(batch_size, infer_seed, infer_pool);
  tape<float> t(tape_mode::infer);
  matrix<float> out(batch_size, 1);
  std::size_t k = 0;
  return bench_timing::infer_seconds([&] {
    t.reset();
    var<float> y = served(t, batches[k++ % batches.size()]);
    out = y.value().array().logistic().matrix();
  }, batch_size, threads == 1);
}

/// One training step as train::trainer takes it (M-scan: plus its auxiliary dual-loss term).
void train_step(auto& model, auto& opt, tape<float>& t, const data::batch<float>& b) {
  t.reset();
  var<float> logits = model(t, b);
  const var<float> labels = t.view(b.labels.data(), b.size, 1);
  var<float> l = loss::bce_with_logits(t, logits, labels);
  if constexpr (requires { model.auxiliary_loss(t, b, labels); }) l = ops::add(t, l, model.auxiliary_loss(t, b, labels));
  t.backward(l);
  opt.step();
}

/// Median seconds per training step: forward, BCE with logits (+ M-scan's auxiliary term), backward, Adam(1e-3).
template <class Model>
double rb_train_seconds(int batch_size, int threads) {
  rng gen(1);
  Model model = make_model<Model>(gen);
  optim::adam<float> opt(nn::parameters(model), {.learning_rate = 1e-3});
  const auto batches = batch_pool<Model>(batch_size, train_seed, train_pool);
  tape<float> t;
  std::size_t k = 0;
  return bench_timing::train_seconds([&] { train_step(model, opt, t, batches[k++ % batches.size()]); }, batch_size, threads == 1);
}

template <class Model>
double rb_infer_seconds(int batch_size, int threads) {
  rng gen(1);
  const Model model = make_model<Model>(gen);
  return rb_infer_seconds(model, batch_size, threads);
}

/// MMoE's inference-only bf16 weight copy (every dense layer: experts, gates and towers).
double rb_mmoe_bf16_infer_seconds(int batch_size, int threads) {
  rng gen(1);
  rb_mmoe model = make_model<rb_mmoe>(gen);
  model.enable_bf16_inference();
  return rb_infer_seconds(model, batch_size, threads);
}

/// Largest |p_bf16 - p_float| of MMoE's output probability over 256 batch-1 requests.
double bf16_max_output_difference() {
  rng gen(1), gen2(1);
  rb_mmoe model = make_model<rb_mmoe>(gen), model_bf16 = make_model<rb_mmoe>(gen2);
  model_bf16.enable_bf16_inference();
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

struct equivalence_result {
  double max_abs_diff = 0, max_abs_logit = 0, logit_spread = 0;  // spread: max - min of recblocks' logits
};

/// Largest |logit_recblocks - logit_libtorch| on a batch of 64 after copying a trained recblocks model's
/// parameters and buffers into the libtorch model (`torch_logits`).
template <class Model>
equivalence_result max_abs_logit_difference(std::vector<float> (*torch_logits)(const peers::state&, const batch&)) {
  rng gen(7);
  Model model = make_model<Model>(gen);
  {  // move every weight, batch-norm affine and running statistic off its initial value
    optim::adam<float> opt(nn::parameters(model), {.learning_rate = 1e-2});
    tape<float> t;
    for (const auto& b : batch_pool<Model>(256, 500, 20)) train_step(model, opt, t, b);
  }
  peers::state s;
  for (auto& [name, p] : nn::named_parameters(model)) s.push_back({name, {p->rows(), p->cols()}, p->value().data()});
  nn::visit_buffers(model, [&](const std::string& name, matrix<float>& m) { s.push_back({name, {m.rows(), m.cols()}, m.data()}); });
  const batch b = make_input<Model>(64, 900);
  tape<float> t(tape_mode::infer);
  const var<float> ours = model(t, to_batch(b));
  const std::vector<float> theirs = torch_logits(s, b);
  if (theirs.size() != std::size_t(b.size)) throw std::runtime_error("compare_libtorch: libtorch returned the wrong number of logits");
  equivalence_result r;
  const auto logits = ours.value().col(0);
  for (int i = 0; i < b.size; ++i) {
    r.max_abs_diff = std::max(r.max_abs_diff, double(std::abs(logits(i) - theirs[std::size_t(i)])));
    r.max_abs_logit = std::max(r.max_abs_logit, double(std::abs(logits(i))));
  }
  r.logit_spread = double(logits.maxCoeff() - logits.minCoeff());
  return r;
}

struct model_cases {
  std::string prefix;  // "" for MMoE (the historic case names), "star_", "m2m_", "mscan_"
  double (*torch_infer)(int, int);
  double (*torch_train)(int, int);
  double (*rb_infer)(int, int);
  double (*rb_train)(int, int);
  equivalence_result (*equivalence)();  // nullptr: no check (MMoE)
};

}  // namespace

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  const std::vector<model_cases> models = {
      {"", peers::torch_mmoe_infer_seconds, peers::torch_mmoe_train_seconds, rb_infer_seconds<rb_mmoe>,
       rb_train_seconds<rb_mmoe>, nullptr},
      {"star_", peers::torch_star_infer_seconds, peers::torch_star_train_seconds, rb_infer_seconds<rb_star>,
       rb_train_seconds<rb_star>, [] { return max_abs_logit_difference<rb_star>(peers::torch_star_logits); }},
      {"m2m_", peers::torch_m2m_infer_seconds, peers::torch_m2m_train_seconds, rb_infer_seconds<rb_m2m>,
       rb_train_seconds<rb_m2m>, [] { return max_abs_logit_difference<rb_m2m>(peers::torch_m2m_logits); }},
      {"mscan_", peers::torch_mscan_infer_seconds, peers::torch_mscan_train_seconds, rb_infer_seconds<rb_mscan>,
       rb_train_seconds<rb_mscan>, [] { return max_abs_logit_difference<rb_mscan>(peers::torch_mscan_logits); }},
  };
  constexpr double tolerance = 1e-4;
  int status = 0;
  for (const auto& m : models) {
    struct bench_case {
      std::string name;
      bool train;
      int batch, threads;
    };
    std::vector<bench_case> cases;
    for (int threads : {1, 2})
      for (auto [train, b] : std::vector<std::pair<bool, int>>{{false, 1}, {false, 128}, {true, 512}, {true, 4096}}) {
        const std::string name = m.prefix + (train ? "train" : "infer") + "_b" + std::to_string(b) + "_t" + std::to_string(threads);
        if (only.empty() || name.find(only) != std::string::npos) cases.push_back({name, train, b, threads});
      }
    if (cases.empty()) continue;
    if (m.equivalence) {
      openblas_set_num_threads(1);
      const equivalence_result e = m.equivalence();
      const std::string model = m.prefix.substr(0, m.prefix.size() - 1);
      const bool ok = e.max_abs_diff <= tolerance;
      std::printf("equivalence %s max_abs_logit_diff %.3e  (batch of 64: max |logit| %.3f, max - min %.3f)%s\n", model.c_str(),
                  e.max_abs_diff, e.max_abs_logit, e.logit_spread, ok ? "" : "  FAILED: > 1e-4");
      std::fflush(stdout);
      if (!ok) status = 1;
    }
    for (const auto& c : cases) {
      openblas_set_num_threads(c.threads);
      Eigen::setNbThreads(c.threads);
      const double theirs = c.train ? m.torch_train(c.batch, c.threads) : m.torch_infer(c.batch, c.threads);
      openblas_set_num_threads(c.threads);
      const double ours = c.train ? m.rb_train(c.batch, c.threads) : m.rb_infer(c.batch, c.threads);
      std::printf("%-20s libtorch %10.1f us  recblocks %10.1f us\n", c.name.c_str(), theirs * 1e6, ours * 1e6);
      std::printf("speedup %s %.2f\n", c.name.c_str(), theirs / ours);
      if (m.prefix.empty() && !c.train && c.batch == 1) {  // MMoE's inference-only bf16 weight copy
        const double ours_bf16 = rb_mmoe_bf16_infer_seconds(c.batch, c.threads);
        std::printf("%-20s recblocks bf16 weights %10.1f us\n", c.name.c_str(), ours_bf16 * 1e6);
        std::printf("speedup %s_bf16 %.2f\n", c.name.c_str(), theirs / ours_bf16);
        std::printf("bf16 max output probability difference %.2e\n", bf16_max_output_difference());
      }
      std::fflush(stdout);
    }
  }
  return status;
}
