// Data-parallel and row-sharded training over MPI (issue 22), run under `mpirun -np 2` and `-np 3`:
// n ranks equal one process (batches, gradients, parameters after 100 steps, validation AUC), and
// sharded tables equal replicated ones.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <recblocks/data/batcher.hpp>
#include <recblocks/dist/data_parallel_trainer.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/train/trainer.hpp>

#include "mpi_fixtures.hpp"

using namespace recblocks;
using namespace recblocks_mpi_tests;

namespace {

train::trainer_options hundred_steps() {
  train::trainer_options o;
  o.epochs = 10;  // 10 x 10 global batches of 256
  o.batch_size = 256;
  o.patience = 0;
  o.restore_best = false;
  o.learning_rate = 1e-2;  // larger than the default so 100 steps move the weights visibly
  return o;
}

double max_abs_diff(const matrix<float>& a, const matrix<float>& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return a.size() ? double((a - b).cwiseAbs().maxCoeff()) : 0.0;
}

/// The full table of a sharded field, reassembled on every rank from the shards (collective).
matrix<float> gather_table(dist::communicator& comm, const dist::sharded_table<float>& s) {
  const auto& m = s.owners();
  const matrix<float>& mine = s.shard().value();
  const auto all = comm.allgatherv(std::span<const float>(mine.data(), std::size_t(mine.size())), "test gather table");
  matrix<float> full(m.vocabulary, s.dim());
  for (int r = 0; r < comm.size(); ++r)
    for (index_t k = 0; k < m.owned_rows(r); ++k)
      for (index_t j = 0; j < s.dim(); ++j) full(m.global(r, k), j) = all[r][std::size_t(k * s.dim() + j)];
  return full;
}

}  // namespace

TEST_CASE("shard_batcher: the rank slices of every global batch are the single-process batch", "[mpi][batches]") {
  dist::communicator comm;
  const auto& train = splits().parts[0];
  for (const index_t global : {256, 1000, 7}) {
    data::batcher<float> whole(train, global, true, 2022);
    dist::shard_batcher<float> mine(train, global, true, 2022, comm.rank(), comm.size());
    data::batch<float> g, b;
    std::vector<std::int64_t> seen;
    for (int epoch = 0; epoch < 2; ++epoch) {
      if (epoch) {
        whole.reset();
        mine.reset();
      }
      index_t rows = 0, batches = 0;
      while (whole.next(g)) {
        REQUIRE(mine.next(b, rows));
        REQUIRE(rows == g.size);
        const index_t lo = mine.slice_begin(g.size, comm.rank());
        REQUIRE(b.size == mine.slice_begin(g.size, comm.rank() + 1) - lo);
        for (index_t i = 0; i < b.size; ++i) {
          for (index_t f = 0; f < g.sparse.rows(); ++f) REQUIRE(b.sparse(f, i) == g.sparse(f, lo + i));
          REQUIRE(b.labels(i, 0) == g.labels(i + lo, 0));
        }
        ++batches;
      }
      REQUIRE_FALSE(mine.next(b, rows));
      REQUIRE(batches == mine.batches_per_epoch());
    }
    // every row exactly once per epoch across ranks: the slice sizes sum to the dataset
    std::int64_t mine_rows = 0;
    dist::shard_batcher<float> again(train, global, true, 2022, comm.rank(), comm.size());
    index_t rows = 0;
    while (again.next(b, rows)) mine_rows += b.size;
    std::vector<std::int64_t> v{mine_rows};
    comm.allreduce_sum(std::span<std::int64_t>(v), "test rows");
    REQUIRE(v[0] == train.rows());
  }
  CHECK_THROWS_AS(dist::shard_batcher<float>(train, 0, true, 1, 0, 1), value_error);
  CHECK_THROWS_AS(dist::shard_batcher<float>(train, 8, true, 1, 2, 2), value_error);
}

TEST_CASE("data parallel: the reduced gradients of step 1 equal one process's", "[mpi][gradients]") {
  dist::communicator comm;
  const auto& train = splits().parts[0];
  for (const bool sharded : {false, true}) {
    auto single = make_model();
    auto model = make_model();
    // one process: the first global batch, one forward/backward
    data::batcher<float> whole(train, 256, true, 2022);
    data::batch<float> g;
    REQUIRE(whole.next(g));
    {
      tape<float> t(tape_mode::train, 2022);
      const var<float> loss = loss::bce_with_logits(t, single(t, g), t.view(g.labels.data(), g.size, 1));
      t.backward(loss);
    }
    dist::data_parallel_options o{.train = hundred_steps()};
    if (sharded) o.sharded_fields = {"user_id", "item_id"};
    dist::data_parallel_trainer<models::mmoe<float>> dp(model, comm, o);
    std::map<std::string, matrix<float>> reduced;
    dp.set_before_update([&] {
      for (auto& [name, p] : nn::named_parameters(model))
        if (p->has_dense_grad() || !p->sparse().empty()) reduced[name] = p->dense_grad();
      for (const auto& s : dp.sharded_tables()) {
        // the owners' shard gradients, reassembled into the full table's gradient
        const auto& m = s->owners();
        matrix<float> mine = s->shard().dense_grad();
        const auto all = comm.allgatherv(std::span<const float>(mine.data(), std::size_t(mine.size())), "test grads");
        matrix<float> full = matrix<float>::Zero(m.vocabulary, s->dim());
        for (int r = 0; r < comm.size(); ++r)
          for (index_t k = 0; k < m.owned_rows(r); ++k)
            for (index_t j = 0; j < s->dim(); ++j) full(m.global(r, k), j) = all[r][std::size_t(k * s->dim() + j)];
        reduced[s->parameter_name()] = full;
      }
    });
    dist::shard_batcher<float> mine(train, 256, true, 2022, comm.rank(), comm.size());
    data::batch<float> b;
    index_t rows = 0;
    REQUIRE(mine.next(b, rows));
    dp.step(b, rows);
    std::size_t compared = 0;
    double worst = 0;
    for (auto& [name, p] : nn::named_parameters(single)) {
      if (!p->has_dense_grad() && p->sparse().empty()) continue;
      INFO(name << (sharded ? " (sharded)" : " (replicated)"));
      REQUIRE(reduced.count(name));
      const matrix<float> want = p->dense_grad();
      const double scale = std::max(1e-6, double(want.cwiseAbs().maxCoeff()));
      const double d = max_abs_diff(reduced[name], want) / scale;
      worst = std::max(worst, d);
      CHECK(d < 1e-5);
      ++compared;
    }
    CHECK(compared == reduced.size());
    CHECK(compared > 10);
    WARN("worst relative gradient difference " << worst);
  }
}

TEST_CASE("data parallel: 100 steps on n ranks equal 100 steps of one process; sharded equals replicated",
          "[mpi][equality]") {
  dist::communicator comm;
  const auto& train = splits().parts[0];
  const auto& valid = splits().parts[1];
  auto single = make_model();
  train::trainer<models::mmoe<float>> one(single, hundred_steps());
  const auto r1 = one.fit(train);
  REQUIRE(r1.steps == 100);
  const double auc1 = one.evaluate(valid).overall().auc;

  auto replicated = make_model();
  dist::data_parallel_trainer<models::mmoe<float>> rep(replicated, comm, {.train = hundred_steps()});
  const auto r2 = rep.fit(train);
  REQUIRE(r2.steps == 100);
  const double auc2 = rep.evaluate(valid).overall().auc;

  for (const auto scheme : {dist::shard_scheme::modulo, dist::shard_scheme::range}) {
    auto sharded = make_model();
    dist::data_parallel_trainer<models::mmoe<float>> sh(
        sharded, comm, {.train = hundred_steps(), .sharded_fields = {"user_id", "item_id", "context"}, .scheme = scheme});
    const auto r3 = sh.fit(train);
    REQUIRE(r3.steps == 100);
    const double auc3 = sh.evaluate(valid).overall().auc;
    // the losses agree step by step (mean over the epoch)
    for (std::size_t e = 0; e < r1.history.size(); ++e) {
      CHECK(std::abs(r2.history[e].train_loss - r1.history[e].train_loss) < 1e-5);
      CHECK(std::abs(r3.history[e].train_loss - r2.history[e].train_loss) < 1e-5);
    }
    double worst_single = 0, worst_sharded = 0;
    auto sharded_params = nn::named_parameters(sharded);
    auto replicated_params = nn::named_parameters(replicated);
    auto single_params = nn::named_parameters(single);
    for (std::size_t k = 0; k < single_params.size(); ++k) {
      const std::string& name = single_params[k].first;
      INFO(name);
      const matrix<float>& want = single_params[k].second->value();
      const double d = max_abs_diff(replicated_params[k].second->value(), want);
      worst_single = std::max(worst_single, d);
      CHECK(d < 1e-4);
      bool is_sharded = false;
      for (const auto& s : sh.sharded_tables())
        if (s->parameter_name() == name) {
          is_sharded = true;
          const double ds = max_abs_diff(gather_table(comm, *s), replicated_params[k].second->value());
          worst_sharded = std::max(worst_sharded, ds);
          CHECK(ds < 1e-5);
          CHECK(s->staging().rows() <= 256);  // the rank holds only a batch's rows, never the table
        }
      if (!is_sharded) {
        const double ds = max_abs_diff(sharded_params[k].second->value(), replicated_params[k].second->value());
        worst_sharded = std::max(worst_sharded, ds);
        CHECK(ds < 1e-5);
      }
    }
    WARN("ranks " << comm.size() << ", scheme " << dist::to_string(scheme) << ": max |theta_n - theta_1| = "
                           << worst_single << ", max |sharded - replicated| = " << worst_sharded << ", AUC 1 process "
                           << auc1 << ", replicated " << auc2 << ", sharded " << auc3);
    CHECK(std::round(auc1 * 1000) == std::round(auc2 * 1000));
    CHECK(std::round(auc3 * 1000) == std::round(auc2 * 1000));
    CHECK(std::abs(auc1 - auc2) < 1e-4);
    CHECK(std::abs(auc3 - auc2) < 1e-4);
  }
  // all ranks hold the same replicated parameters (same all-reduced steps)
  for (auto& [name, p] : nn::named_parameters(replicated)) {
    matrix<float> v = p->value();
    matrix<float> mean = v;
    comm.allreduce_sum(std::span<float>(mean.data(), std::size_t(mean.size())), "test mean");
    mean /= float(comm.size());
    CHECK(max_abs_diff(v, mean) < 1e-6);
  }
}

TEST_CASE("data parallel: bad configurations are refused", "[mpi][errors]") {
  dist::communicator comm;
  auto model = make_model();
  CHECK_THROWS_AS(dist::data_parallel_trainer<models::mmoe<float>>(model, comm, {.sharded_fields = {"no_such_field"}}),
                  value_error);
  CHECK_THROWS_AS(dist::data_parallel_trainer<models::mmoe<float>>(model, comm, {.sharded_fields = {"user_activity"}}),
                  value_error);  // a dense feature
  CHECK_THROWS_AS(dist::communicator(MPI_COMM_WORLD, {.timeout_seconds = 0}), value_error);
}
