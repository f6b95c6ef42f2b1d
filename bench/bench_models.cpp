// Per-model cost of the twelve Scenario-Wise Rec models (models::registry), each with the reference
// MovieLens hyperparameters (papers.md 2.4) on the schema of the project's synthetic data
// (data::synthetic defaults: 5 sparse fields + the scenario, 16-d embeddings, 2 dense features,
// 3 scenarios):
//
//   train/<model>/<B>   one full training step on a batch of B rows: forward on a training tape,
//                       BCE-with-logits, backward, Adam(lr 1e-3, wd 1e-5) with lazy sparse rows,
//                       then the model's on_training_step() (AdaSparse's alpha annealing) —
//                       what train::trainer does per batch. Counter `samples/s` = B / step time.
//   infer/<model>/1     one batch-1 request on an inference tape (the serving path): the time
//                       column is the latency per request.
//   train|infer/llm4msr_<backbone>   LLM4MSR (issue 14) over shared_bottom, mmoe, ple and star: the same
//                       steps with both meta levels and random 640-d knowledge vectors (the online
//                       cost does not depend on the vectors' values), user_field = the first sparse field.
//
// Batches cycle through 16 pre-gathered batches of real synthetic rows (scenario mix 0.5/0.3/0.2),
// so routing and sparse updates see realistic ids. Times are CPU time of the benchmark thread.
//
// The sequence models (models::registry::sequence_names(): M-scan and its DIN-style baseline) run on
// data::synthetic_sequences with its defaults (800 users x 60 interactions, 600 items, 3 item-side
// scenarios; user_id and item_id fields + the scenario, 16-d; per-scenario click histories of L = 20
// and the whole history of L_all = 50), registry defaults; M-scan's training step adds its dual-loss
// term (model.auxiliary_loss), as train::trainer does.
//
// Run: cmake --preset bench && cmake --build --preset bench --target bench_models &&
//      OPENBLAS_NUM_THREADS=1 build/bench/bench/bench_models [--benchmark_filter=train/]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include <recblocks/data/batcher.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/data/synthetic_sequences.hpp>
#include <recblocks/loss.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/optim.hpp>

using namespace recblocks;

namespace {

const data::synthetic& synthetic_data() {
  static const data::synthetic gen{data::synthetic_config{.rows = 20000}};
  return gen;
}

const data::synthetic_sequences& sequence_data() {
  static const data::synthetic_sequences gen{};
  return gen;
}

bool is_sequence_model(const std::string& name) {
  const auto& n = models::registry::sequence_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

const data::dataset& dataset_for(const std::string& name) {
  return is_sequence_model(name) ? sequence_data().all() : synthetic_data().data();
}

/// 16 consecutive batches of `size` rows in shuffled order.
std::vector<data::batch<float>> make_batches(index_t size, const std::string& name) {
  data::batcher<float> it(dataset_for(name), size, true, 7);
  std::vector<data::batch<float>> out(16);
  for (auto& b : out)
    if (!it.next(b)) it.reset(), it.next(b);
  return out;
}

/// registry::visit, or for an `llm4msr_<backbone>` name registry::visit_llm4msr with random knowledge.
template <class F>
void visit_model(const std::string& name, rng& gen, F&& f) {
  const data::schema& s = synthetic_data().data().get_schema();
  if (name.rfind("llm4msr_", 0) != 0)
    return models::registry::visit<float>(name, dataset_for(name).get_schema(), nlohmann::json::object(), gen, f);
  const auto* user = s.of_kind(data::feature_kind::sparse).front();
  const nlohmann::json o = {{"meta", {{"user_field", user->name}}}};
  models::registry::visit_llm4msr<float>(name, s, o, gen, [&](auto& model) {
    matrix<float> u(user->vocabulary, 640), sc(s.scenario_count(), 640);
    gen.fill_normal(u, 0.0, 0.04);
    gen.fill_normal(sc, 0.0, 0.04);
    model.attach(u, sc);
    f(model);
  });
}

void train_step(benchmark::State& state, const std::string& name) {
  const auto size = static_cast<index_t>(state.range(0));
  const auto batches = make_batches(size, name);
  std::vector<matrix<float>> labels(batches.size());  // the first label column (the sequence data has two)
  for (std::size_t i = 0; i < batches.size(); ++i) labels[i] = batches[i].labels.col(0);
  rng gen(1);
  visit_model(name, gen, [&](auto& model) {
    optim::adam<float> adam(nn::parameters(model), {.learning_rate = 1e-3, .weight_decay = 1e-5});
    tape<float> t;
    std::size_t k = 0;
    for (auto _ : state) {
      const std::size_t i = k++ % batches.size();
      const data::batch<float>& b = batches[i];
      t.reset();
      const var<float> logits = model(t, b);
      const var<float> y = t.view(labels[i].data(), b.size, 1);
      var<float> l = loss::bce_with_logits(t, logits, y);
      if constexpr (requires { model.auxiliary_loss(t, b, y); }) l = ops::add(t, l, model.auxiliary_loss(t, b, y));
      t.backward(l);
      adam.step();
      if constexpr (requires { model.on_training_step(); }) model.on_training_step();
    }
    state.counters["samples/s"] = benchmark::Counter(double(size), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["params"] = double(nn::parameter_count(model));
  });
}

void infer_one(benchmark::State& state, const std::string& name) {
  const auto batches = make_batches(1, name);
  rng gen(1);
  visit_model(name, gen, [&](auto& model) {
    const auto& served = model;
    tape<float> t(tape_mode::infer);
    std::size_t k = 0;
    for (auto _ : state) {
      t.reset();
      const var<float> logit = served(t, batches[k++ % batches.size()]);
      benchmark::DoNotOptimize(logit.value().data());
    }
  });
}

const bool registered = [] {
  std::vector<std::string> names = models::registry::names();
  for (const auto& n : models::registry::sequence_names()) names.push_back(n);
  for (const char* b : {"shared_bottom", "mmoe", "ple", "star"}) names.push_back(std::string("llm4msr_") + b);
  for (const std::string& name : names) {
    benchmark::RegisterBenchmark(("train/" + name).c_str(), train_step, name)->Arg(512)->Arg(4096)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("infer/" + name).c_str(), infer_one, name)->Arg(1)->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
