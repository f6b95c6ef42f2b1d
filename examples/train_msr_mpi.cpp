// Data-parallel training of a Scenario-Wise Rec model over MPI (issue 22; dist/, recblocks::mpi):
// every rank trains on its slice of each global batch, dense gradients are all-reduced, the tables of
// --shard fields are row-sharded across the ranks (all-to-all lookups, gradients to their owners).
// With --compare (default) rank 0 also trains the same model in one process and the run fails
// (exit 1) unless the test AUCs agree to 3 decimals. --out DIR writes a sharded checkpoint and
// checks that one process restores it to the same test AUC.
//
//   mpirun -np 2 train_msr_mpi [--model mmoe|star] [--data movielens|synthetic] [--data-dir DIR]
//          [--epochs E] [--batch-size B] [--lr X] [--shard f1,f2|none] [--scheme modulo|range]
//          [--batch-norm] [--no-compare] [--out DIR] [--timeout S] [--seed S] [--rows N] [--quiet]
//   mpirun -np N train_msr_mpi --measure [--model mmoe|star] [--batch-size B] [--steps K] [--shard ...]
//
// Batch norm (MMoE's experts and gates; STAR always has it) normalises with each rank's slice, as
// PyTorch DDP without SyncBatchNorm: off by default for MMoE here so n ranks equal one process.
// --measure prints one JSON line per run (rank 0): per-step compute, all-reduce, all-gather and
// all-to-all seconds (max over ranks) and bytes sent per rank, after 3 warm-up steps
// (docs/scaling.md). A comm_error or timeout_error ends the job (MPI_Abort, exit 3).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include <recblocks/dist.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/train.hpp>

#include "common.hpp"

using namespace recblocks;
using namespace recblocks_examples;
namespace fs = std::filesystem;

namespace {

struct args : training_args {
  std::string model = "mmoe", shard = "user_id,movie_id", scheme = "modulo", out;
  std::uint64_t seed = 2022;
  bool batch_norm = false, no_compare = false, measure = false;
  double timeout = 120;
  index_t steps = 20;
  args() {
    data = "movielens";
    epochs = 2;
    batch_size = 4096;
  }
};

args parse(int argc, char** argv) {
  args a;
  command_line cl("train_msr_mpi",
                  "mpirun -np N train_msr_mpi [--model mmoe|star] [--data movielens|synthetic] [--data-dir DIR] [--epochs E]\n"
                  "       [--batch-size B] [--lr X] [--shard f1,f2|none] [--scheme modulo|range] [--batch-norm] [--no-compare]\n"
                  "       [--out DIR] [--timeout S] [--seed S] [--rows N] [--quiet] | --measure [--steps K]");
  a.add_to(cl);
  cl.option("--model", a.model);
  cl.option("--shard", a.shard);
  cl.option("--scheme", a.scheme);
  cl.option("--out", a.out);
  cl.option("--seed", a.seed);
  cl.option("--timeout", a.timeout);
  cl.option("--steps", a.steps);
  cl.flag("--batch-norm", a.batch_norm);
  cl.flag("--no-compare", a.no_compare);
  cl.flag("--measure", a.measure);
  cl.parse(argc, argv);
  return a;
}

train::trainer_options trainer_options(const args& a) {
  train::trainer_options o;
  o.epochs = a.epochs;
  o.batch_size = a.batch_size;
  o.learning_rate = a.lr;
  o.weight_decay = a.weight_decay;
  o.patience = 0;  // a fixed budget: the last epoch's weights, so both runs take the same steps
  o.restore_best = false;
  o.seed = a.seed;
  o.threads = a.threads;
  return o;
}

std::vector<std::string> shard_fields(const args& a) {
  if (a.shard == "none" || a.shard.empty()) return {};
  return split_list(a.shard);
}

double max_over_ranks(dist::communicator& comm, double x) {
  std::vector<double> v{x};
  const auto got = comm.allgatherv(std::span<const double>(v), "timing");
  double m = 0;
  for (const auto& g : got) m = std::max(m, g[0]);
  return m;
}

template <class Model>
int measure(const args& a, dist::communicator& comm, Model& model, const data::dataset& train) {
  dist::data_parallel_options o{.train = trainer_options(a), .sharded_fields = shard_fields(a)};
  o.scheme = a.scheme == "range" ? dist::shard_scheme::range : dist::shard_scheme::modulo;
  dist::data_parallel_trainer<Model> tr(model, comm, o);
  dist::shard_batcher<float> batches(train, a.batch_size, true, a.seed, comm.rank(), comm.size());
  data::batch<float> b;
  index_t rows = 0;
  auto next = [&] {
    if (!batches.next(b, rows)) {
      batches.reset();
      batches.next(b, rows);
    }
  };
  for (int k = 0; k < 3; ++k) {  // warm-up: tape arenas, optimizer state
    next();
    tr.step(b, rows);
  }
  comm.barrier("measure start");
  comm.reset_stats();
  tr.reset_timing();
  const auto t0 = std::chrono::steady_clock::now();
  for (index_t k = 0; k < a.steps; ++k) {
    next();
    tr.step(b, rows);
  }
  comm.barrier("measure end");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const dist::comm_stats s = comm.stats();  // a copy: max_over_ranks below communicates too
  const dist::step_timing t = tr.timing();
  const double n = double(a.steps);
  index_t dense_params = 0;
  for (auto* p : tr.replicated_parameters()) dense_params += p->sparse_grad() ? 0 : p->size();
  const nlohmann::json j = {
      {"model", a.model},
      {"ranks", comm.size()},
      {"global_batch", a.batch_size},
      {"sharded", shard_fields(a)},
      {"steps", a.steps},
      {"dense_parameters", dense_params},
      {"step_seconds", max_over_ranks(comm, wall) / n},
      {"compute_seconds", max_over_ranks(comm, t.compute_seconds) / n},
      {"allreduce_seconds", max_over_ranks(comm, s.allreduce_seconds) / n},
      {"allgather_seconds", max_over_ranks(comm, s.allgather_seconds) / n},
      {"alltoall_seconds", max_over_ranks(comm, s.alltoall_seconds) / n},
      {"bytes_sent_per_rank", double(s.bytes_sent) / n},
      {"allreduce_calls", double(s.allreduce_calls) / n},
      {"alltoall_calls", double(s.alltoall_calls) / n},
      {"allgather_calls", double(s.allgather_calls) / n}};
  if (comm.rank() == 0) std::printf("%s\n", j.dump().c_str());
  return 0;
}

template <class Model>
int run(const args& a, dist::communicator& comm, const loaded_data& d, const std::function<Model()>& make) {
  const auto& [train, valid, test] = d.parts;
  if (a.measure) {
    Model m = make();
    return measure(a, comm, m, train);
  }
  Model model = make();
  dist::data_parallel_options o{.train = trainer_options(a), .sharded_fields = shard_fields(a)};
  o.scheme = a.scheme == "range" ? dist::shard_scheme::range : dist::shard_scheme::modulo;
  train::callbacks cb;
  if (!a.quiet && comm.rank() == 0)
    cb.on_epoch_end = [](const train::epoch_info& e) {
      std::fprintf(stderr, "epoch %lld: train loss %.5f, validation AUC %.5f (%.1f s)\n", static_cast<long long>(e.epoch + 1),
                   e.train_loss, e.validation ? e.validation->overall().auc : 0.0, e.train_seconds);
    };
  dist::data_parallel_trainer<Model> tr(model, comm, o, cb);
  const auto t0 = std::chrono::steady_clock::now();
  const auto fit = tr.fit(train, valid);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto report = tr.evaluate(test);
  const double auc = report.overall().auc;
  int rc = 0;
  if (comm.rank() == 0) {
    std::printf("model %s, %d ranks, global batch %lld, %lld steps, sharded tables [%s] (%s), batch norm %s\n", a.model.c_str(),
                comm.size(), static_cast<long long>(a.batch_size), static_cast<long long>(fit.steps),
                a.shard.c_str(), a.scheme.c_str(), a.batch_norm ? "on" : "off");
    std::printf("distributed: test AUC %.5f, log loss %.5f, training %.1f s\n", auc, report.overall().log_loss, seconds);
  }
  if (!a.no_compare) {
    double auc1 = 0;
    if (comm.rank() == 0) {
      Model single = make();
      train::trainer<Model> one(single, trainer_options(a));
      const auto t1 = std::chrono::steady_clock::now();
      one.fit(train, valid);
      const double s1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      auc1 = one.evaluate(test).overall().auc;
      const bool same = std::lround(auc1 * 1000) == std::lround(auc * 1000);
      std::printf("one process: test AUC %.5f, training %.1f s; |difference| %.2g: %s to 3 decimals\n", auc1, s1,
                  std::abs(auc1 - auc), same ? "equal" : "NOT equal");
      rc = same ? 0 : 1;
    }
  }
  if (!a.out.empty()) {
    const fs::path folder = dist::sharded_checkpoint::save(a.out, tr, {{"test_auc", auc}, {"model", a.model}});
    if (comm.rank() == 0) {
      Model plain = make();
      dist::sharded_checkpoint::restore_model(a.out, plain);
      train::trainer<Model> one(plain, trainer_options(a));
      const double back = one.evaluate(test).overall().auc;
      std::printf("checkpoint %s: restored in one process, test AUC %.5f (%s)\n", folder.c_str(), back,
                  std::abs(back - auc) < 1e-6 ? "same" : "DIFFERENT");
      if (std::abs(back - auc) >= 1e-6) rc = 1;
    }
  }
  std::vector<int> worst{rc};
  comm.allreduce_sum(std::span<int>(worst), "exit code");
  return worst[0] ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const args a = parse(argc, argv);
  dist::communicator comm(MPI_COMM_WORLD, {.timeout_seconds = a.timeout});
  int rc = 0;
  try {
    const auto d = load_data(a, a.seed);
    if (!d) {
      MPI_Finalize();
      return skip_exit_code;
    }
    const data::schema& s = d->parts[0].get_schema();
    if (a.model == "mmoe") {
      models::mmoe_options o;
      o.batch_norm = a.batch_norm;
      o.gate_batch_norm = a.batch_norm;
      rc = run<models::mmoe<float>>(a, comm, *d, [&] {
        rng gen(a.seed);
        return models::mmoe<float>(s, o, gen);
      });
    } else if (a.model == "star") {
      rc = run<models::star<float>>(a, comm, *d, [&] {
        rng gen(a.seed);
        return models::star<float>(s, {}, gen);
      });
    } else {
      throw value_error("train_msr_mpi: --model must be mmoe or star, got '" + a.model + "'");
    }
  } catch (const dist::comm_error& e) {
    std::fprintf(stderr, "train_msr_mpi: rank %d: %s\n", comm.rank(), e.what());
    comm.abort(3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_msr_mpi: rank %d: %s\n", comm.rank(), e.what());
    comm.abort(1);  // the other ranks would wait in the next collective
  }
  MPI_Finalize();
  return rc;
}
