// Step-by-step parity with the Scenario-Wise Rec PyTorch reference, the recblocks side: for each chosen
// model (reference variant, routing auto = the reference's whole-batch statistics), writes
//
//   <out>/<model>/model.json, weights.safetensors   the initial weights (io::checkpoint), by dotted name
//   <out>/<model>/sparse.npy  [steps * B, F] f8     the batches, in order (ids, schema order)
//   <out>/<model>/dense.npy   [steps * B, J] f8
//   <out>/<model>/scenario.npy [steps * B, 1] f8
//   <out>/<model>/label.npy   [steps * B, 1] f8
//   <out>/<model>/logits.npy  [steps, B] f8         training-tape logits of every step, before its update
//   <out>/<model>/loss.npy    [steps, 1] f8         BCE-with-logits loss of every step
//   <out>/meta.json                                 schema sizes, steps, batch, lr, models
//
// after training `steps` Adam steps (PyTorch semantics, dense updates of whole embedding tables, no
// weight decay) in double precision, dropout off. tools/parity/msr_parity.py (run in a torch virtual environment)
// rebuilds each model in PyTorch from the reference code's structure, loads these weights, replays the
// batches and compares logits and losses step by step.
//
//   msr_parity_export --out DIR [--models a,b] [--steps 50] [--batch 64] [--lr 1e-2] [--rows 6000]
//
// The data is the synthetic generator's (data/synthetic.hpp) with a small configuration.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <recblocks/io/checkpoint.hpp>
#include <recblocks/io/npy.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/train.hpp>

#include "../../examples/common.hpp"

using namespace recblocks;
namespace fs = std::filesystem;

namespace {

struct args {
  std::string out;
  std::vector<std::string> models;
  index_t steps = 50, batch = 64, rows = 6000;
  double lr = 1e-2;
};

/// The options of the check: the reference variant, dropout off (the frameworks draw different masks;
/// AdaSparse's MovieLens default is 0.2).
nlohmann::json parity_options(const std::string& name) {
  nlohmann::json o{{"variant", "reference"}};
  const nlohmann::json full = models::registry::resolved_options(name, o);
  if (full.contains("dropout") && full.at("dropout").get<double>() != 0.0) o["dropout"] = 0.0;
  return o;
}

/// The batch size of model `name`: M2M's reference attends across the samples of a batch (a
/// [B, B] attention per head), kept small.
index_t batch_for(const std::string& name, index_t b) { return name == "m2m" ? std::min<index_t>(b, 16) : b; }

void export_model(const args& a, const std::string& name, const data::dataset& d) {
  using T = double;
  const fs::path dir = fs::path(a.out) / name;
  fs::create_directories(dir);
  const index_t B = batch_for(name, a.batch);
  rng init(2024);
  models::registry::visit<T>(name, d.get_schema(), parity_options(name), init, [&](auto& model) {
    io::checkpoint::save(dir, model);
    optim::adam<T> adam(nn::parameters(model), {.learning_rate = a.lr, .weight_decay = 0.0, .lazy_sparse = false});
    data::batcher<T> batches(d, B, false, 0, true);
    data::batch<T> b;
    tape<T> t(tape_mode::train, 7);
    const index_t F = d.get_schema().sparse_count(), J = d.get_schema().dense_count();
    matrix<T> sparse(a.steps * B, F), dense(a.steps * B, std::max<index_t>(J, 1)), scen(a.steps * B, 1), lab(a.steps * B, 1);
    matrix<T> logits(a.steps, B), loss(a.steps, 1);
    dense.setZero();
    for (index_t s = 0; s < a.steps; ++s) {
      if (!batches.next(b)) throw value_error("msr_parity_export: --rows too small for --steps x --batch");
      for (index_t r = 0; r < B; ++r) {
        for (index_t f = 0; f < F; ++f) sparse(s * B + r, f) = T(b.sparse(f, r));
        for (index_t j = 0; j < J; ++j) dense(s * B + r, j) = b.dense(r, j);
        scen(s * B + r, 0) = T(b.scenario[static_cast<std::size_t>(r)]);
        lab(s * B + r, 0) = b.labels(r, 0);
      }
      t.reset();
      const var<T> z = model(t, b);
      const var<T> y = t.view(b.labels.data(), b.size, 1);
      const var<T> l = loss::bce_with_logits(t, z, y);
      for (index_t r = 0; r < B; ++r) logits(s, r) = z.value()(r, 0);
      loss(s, 0) = l.item();
      t.backward(l);
      adam.step();
      if constexpr (requires { model.on_training_step(); }) model.on_training_step();
    }
    io::npy::save(dir / "sparse.npy", sparse);
    io::npy::save(dir / "dense.npy", dense);
    io::npy::save(dir / "scenario.npy", scen);
    io::npy::save(dir / "label.npy", lab);
    io::npy::save(dir / "logits.npy", logits);
    io::npy::save(dir / "loss.npy", loss);
    std::printf("%s: %lld steps of %lld rows, final loss %.6f\n", name.c_str(), (long long)a.steps, (long long)B, loss(a.steps - 1, 0));
  });
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  recblocks_examples::command_line cl("msr_parity_export",
                                      "msr_parity_export --out DIR [--models a,b] [--steps 50] [--batch 64] [--lr 1e-2] [--rows 6000]");
  cl.option("--out", a.out);
  cl.option("--steps", a.steps);
  cl.option("--batch", a.batch);
  cl.option("--rows", a.rows);
  cl.option("--lr", a.lr);
  cl.option("--models", [&](const std::string& v) {
    std::stringstream ss(v);
    for (std::string m; std::getline(ss, m, ',');)
      if (!m.empty()) a.models.push_back(models::registry::canonical(m));
  });
  cl.parse(argc, argv);
  if (a.out.empty()) cl.fail("--out is required");
  if (a.models.empty()) a.models = models::registry::names();
  try {
    data::synthetic_config c;
    c.rows = a.rows;
    c.users = 300;
    c.items = 200;
    const data::synthetic gen(c);
    const data::dataset& d = gen.data();
    fs::create_directories(a.out);
    nlohmann::json meta;
    meta["steps"] = a.steps;
    meta["lr"] = a.lr;
    meta["models"] = a.models;
    const data::schema& s = d.get_schema();
    for (const auto* f : s.of_kind(data::feature_kind::sparse)) meta["sparse"].push_back({{"name", f->name}, {"vocabulary", f->vocabulary}});
    for (const auto* f : s.of_kind(data::feature_kind::dense)) meta["dense"].push_back(f->name);
    meta["scenario_feature"] = s.of_kind(data::feature_kind::scenario).front()->name;
    meta["scenarios"] = s.scenario_count();
    for (const auto& m : a.models) {
      meta["batch"][m] = batch_for(m, a.batch);
      meta["options"][m] = models::registry::resolved_options(m, parity_options(m));
      export_model(a, m, d);
    }
    std::ofstream(fs::path(a.out) / "meta.json") << meta.dump(2) << '\n';
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "msr_parity_export: %s\n", e.what());
    return 1;
  }
}
