#pragma once
/// \file data_parallel_trainer.hpp
/// Data-parallel training of any `models::ctr_model` over MPI, with optional row-sharded tables.
///
/// Per global step (global batch of G rows, `options.train.batch_size` = G; every rank runs the
/// same step on its slice of B_r rows, `shard_batcher`):
///
///     lookup:    every sharded table fetches its batch rows from their owners   (all-to-all)
///     forward:   L_r = mean_{B_r} BCE(model(slice_r), y) (+ the model's auxiliary loss)
///     backward:  g_r = dL_r/dtheta, scaled by B_r / G, so sum_r g_r = d(mean_G BCE)/dtheta
///     dense:     every dense gradient, packed in buckets of `bucket_bytes`, summed  (all-reduce)
///     sparse:    replicated tables: every rank's (id, row) pairs, in rank order   (all-gather)
///                sharded tables: each (id, row) to its owner                        (all-to-all)
///     step:      Adam (the trainer's options) on the replicated parameters, the same on every
///                rank; each owner's lazy Adam on its shard rows, at the same global step count
///
/// A global batch of fewer than 2 rows is skipped (as `train::trainer`); a rank whose slice is
/// empty contributes zero gradients. With rank slices concatenated in rank order the gathered
/// sparse rows arrive in the single-process order, so 1 process and n ranks differ only by the
/// floating-point order of the dense sums and the B_r / G scaling (tests/mpi: parameters after
/// 100 steps within 1e-5 relative, equal AUC to 3 decimals).
/// A parameter that received a gradient on some rank is updated on every rank (a flag travels in
/// the bucket), one that none touched is skipped, as in one process.
///
/// Not overlapped: the tape's backward is one call, so the buckets are reduced after it, not while
/// it runs (PyTorch DDP overlaps through per-parameter hooks; see docs/scaling.md for the cost).
/// Batch norm uses each rank's slice statistics (PyTorch DDP without SyncBatchNorm): models with
/// batch norm are not equal to one process; the equality holds with batch norm off.
/// Running buffers are not synchronised (rank 0's are saved).
///
/// Validation (`evaluate`, `predict`): every eval batch is split over the ranks the same way and
/// the predictions are all-gathered, so every rank gets the full, ordered prediction vector.
/// Early stopping and `restore_best` follow `train::trainer` (the snapshot holds the local
/// parameters and the shard rows).
///
/// `trainer_options::check_finite` is not applied here (a non-finite loss still stops `fit`).
///
/// Requires: every rank constructs the same model (same seed) and calls every member in the same
/// order (they are collective). Errors: as `train::trainer`, plus `comm_error` / `timeout_error`
/// from the communicator; after those the job must end (`communicator::abort`).

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../core/ops/elementwise.hpp"
#include "../eval/scenario_report.hpp"
#include "../loss/bce_with_logits.hpp"
#include "../nn/module.hpp"
#include "../optim/adam.hpp"
#include "../train/trainer.hpp"
#include "communicator.hpp"
#include "shard_batcher.hpp"
#include "sharded_table.hpp"

namespace recblocks::dist {

struct data_parallel_options {
  train::trainer_options train = {};         ///< batch_size = the GLOBAL batch; the rest as train::trainer
  std::vector<std::string> sharded_fields = {};  ///< sparse features whose tables are row-sharded; others replicated
  shard_scheme scheme = shard_scheme::modulo;
  std::size_t bucket_bytes = std::size_t(25) << 20;  ///< all-reduce bucket (PyTorch DDP's 25 MB)
};

/// Time and volume of the training steps of one rank (communication from `communicator::stats`).
struct step_timing {
  index_t steps = 0;
  double compute_seconds = 0;   ///< forward + backward + optimizer
  double lookup_seconds = 0;    ///< sharded lookups (all-to-all) incl. packing
  double reduce_seconds = 0;    ///< dense all-reduce + sparse all-gather + gradient all-to-all incl. packing
};

template <class Model>
class data_parallel_trainer {
 public:
  using T = typename Model::scalar_type;

  data_parallel_trainer(Model& model, communicator& comm, data_parallel_options opt, train::callbacks cb = {})
      : model_(&model), comm_(&comm), opt_(std::move(opt)), cb_(std::move(cb)) {
    for (const auto& f : opt_.sharded_fields)
      sharded_.push_back(std::make_unique<sharded_table<T>>(model, model.get_schema(), f, opt_.scheme, comm.rank(), comm.size()));
    std::set<const param<T>*> staging;
    for (const auto& s : sharded_) staging.insert(&s->staging());
    std::vector<param<T>*> local, shards;
    for (auto* p : nn::parameters(model))
      if (!staging.count(p)) local.push_back(p);
    for (auto& s : sharded_) shards.push_back(&s->shard());
    if (opt_.bucket_bytes < sizeof(T)) throw value_error("dist::data_parallel_trainer: bucket_bytes must hold one value");
    const auto a = adam_options(opt_.train);
    adam_.emplace(local, a);
    if (!shards.empty()) shard_adam_.emplace(shards, a);
    params_ = local;
  }

  /// Trains on `train` (each rank reads its slices), early-stopping on `validation` (collective).
  train::fit_result fit(const data::dataset& train, const data::dataset* validation = nullptr);
  train::fit_result fit(const data::dataset& train, const data::dataset& validation) { return fit(train, &validation); }

  /// One global step on this rank's slice `local` of a global batch of `global_rows` rows; returns
  /// the global mean loss (collective). `local` is modified (sharded ids are rewritten).
  double step(data::batch<T>& local, index_t global_rows);

  /// Probabilities of every row of `d` in row order, on every rank (collective).
  std::vector<T> predict(const data::dataset& d);
  eval::scenario_report evaluate(const data::dataset& d) {
    const std::vector<T> p = predict(d);
    return eval::scenario_report(d.label_column(opt_.train.label), p, d.scenario_column(), d.get_schema().scenario_count());
  }

  /// Called after the gradients are reduced and before the optimizer step (tests read them).
  void set_before_update(std::function<void()> f) { before_update_ = std::move(f); }

  const std::vector<std::unique_ptr<sharded_table<T>>>& sharded_tables() const { return sharded_; }
  /// The replicated parameters (the model's, less the sharded tables' staging tables).
  const std::vector<param<T>*>& replicated_parameters() const { return params_; }
  optim::adam<T>& optimizer() { return *adam_; }
  const data_parallel_options& options() const { return opt_; }
  communicator& comm() { return *comm_; }
  Model& model() { return *model_; }
  const step_timing& timing() const { return timing_; }
  void reset_timing() { timing_ = {}; }
  /// Global steps taken (also the optimizer's step count).
  index_t steps() const { return index_t(adam_->steps()); }

 private:
  using clock = std::chrono::steady_clock;
  static double since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }
  static optim::adam_options adam_options(const train::trainer_options& o) {
    if (o.epochs < 0 || o.batch_size < 1 || o.eval_batch_size < 0 || o.patience < 0 || !(o.learning_rate > 0) ||
        !std::isfinite(o.learning_rate) || !(o.weight_decay >= 0) || o.threads < 0 || o.label < 0)
      throw value_error("dist::data_parallel_trainer: invalid training options (see train::trainer_options)");
    optim::adam_options a;
    a.learning_rate = o.learning_rate;
    a.weight_decay = o.weight_decay;
    a.lazy_sparse = o.lazy_sparse_adam;
    return a;
  }
  void reduce(T scale, double& loss);
  std::vector<matrix<T>> take() const {
    std::vector<matrix<T>> s;
    nn::visit_members(*model_, [&](const std::string&, const param<T>& p) { s.push_back(p.value()); },
                      [&](const std::string&, const matrix<T>& m) { s.push_back(m); });
    for (const auto& t : sharded_) s.push_back(t->shard().value());
    return s;
  }
  void put(const std::vector<matrix<T>>& s) {
    std::size_t k = 0;
    nn::visit_members(*model_, [&](const std::string&, param<T>& p) { p.value() = s[k++]; },
                      [&](const std::string&, matrix<T>& m) { m = s[k++]; });
    for (auto& t : sharded_) t->shard().value() = s[k++];
  }

  Model* model_;
  communicator* comm_;
  data_parallel_options opt_;
  train::callbacks cb_;
  std::vector<std::unique_ptr<sharded_table<T>>> sharded_;
  std::vector<param<T>*> params_;
  std::optional<optim::adam<T>> adam_, shard_adam_;
  std::function<void()> before_update_;
  step_timing timing_;
  std::vector<T> bucket_;
  matrix<T> label_column_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class Model>
void data_parallel_trainer<Model>::reduce(T scale, double& loss) {
  // dense gradients (and one "written" flag per parameter, and the loss) in buckets, in parameter order
  const std::size_t cap = std::max<std::size_t>(1, opt_.bucket_bytes / sizeof(T));
  std::size_t first = 0;  // first parameter of the current bucket
  std::vector<param<T>*> dense;
  for (auto* p : params_)
    if (p->trainable() && !p->sparse_grad()) dense.push_back(p);
  auto flush = [&](std::size_t end, bool with_loss) {
    // layout: [flags of params first..end) [values...] [loss]
    bucket_.clear();
    for (std::size_t i = first; i < end; ++i) bucket_.push_back(dense[i]->has_dense_grad() ? T(1) : T(0));
    for (std::size_t i = first; i < end; ++i) {
      param<T>& p = *dense[i];
      const std::size_t off = bucket_.size();
      bucket_.resize(off + static_cast<std::size_t>(p.size()));
      if (p.has_dense_grad()) {
        const T* g = p.grad().data();
        for (index_t j = 0; j < p.size(); ++j) bucket_[off + std::size_t(j)] = g[j] * scale;
      } else {
        std::fill(bucket_.begin() + std::ptrdiff_t(off), bucket_.end(), T(0));
      }
    }
    if (with_loss) bucket_.push_back(T(loss));
    comm_->allreduce_sum(std::span<T>(bucket_), "dense gradient all-reduce");
    std::size_t off = end - first;
    for (std::size_t i = first; i < end; ++i) {
      param<T>& p = *dense[i];
      const bool any = bucket_[i - first] > T(0);
      if (any) p.set_dense_grad(const_map<T>(bucket_.data() + off, p.rows(), p.cols()));
      else p.zero_grad();
      off += static_cast<std::size_t>(p.size());
    }
    if (with_loss) loss = double(bucket_.back());
    first = end;
  };
  std::size_t used = 0;
  for (std::size_t i = 0; i < dense.size(); ++i) {
    const std::size_t need = static_cast<std::size_t>(dense[i]->size()) + 1;
    if (used > 0 && used + need > cap) {
      flush(i, false);
      used = 0;
    }
    used += need;
  }
  flush(dense.size(), true);
  // replicated row-sparse tables: all-gather (id, row) pairs in rank order
  for (auto* p : params_) {
    if (!p->trainable() || !p->sparse_grad()) continue;
    if (p->has_dense_grad())
      throw state_error("dist::data_parallel_trainer: table '" + p->name() + "' received a dense gradient; the "
                        "distributed step supports row-sparse gradients for embedding tables only");
    sparse_rows<T>& sp = p->sparse();
    std::vector<std::int64_t> ids(sp.ids.begin(), sp.ids.end());
    std::vector<T> rows(sp.rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) rows[k] = sp.rows[k] * scale;
    const auto all_ids = comm_->allgatherv(std::span<const std::int64_t>(ids), "sparse gradient ids all-gather");
    const auto all_rows = comm_->allgatherv(std::span<const T>(rows), "sparse gradient rows all-gather");
    sp.clear();
    for (std::size_t r = 0; r < all_ids.size(); ++r)
      for (std::size_t k = 0; k < all_ids[r].size(); ++k)
        sp.add(index_t(all_ids[r][k]), const_map<T>(all_rows[r].data() + k * std::size_t(p->cols()), 1, p->cols()));
  }
  for (auto& s : sharded_) s->push_gradients(*comm_, scale);
}

template <class Model>
double data_parallel_trainer<Model>::step(data::batch<T>& local, index_t global_rows) {
  auto t0 = clock::now();
  for (auto& s : sharded_) s->lookup(*comm_, local);
  timing_.lookup_seconds += since(t0);
  t0 = clock::now();
  double loss = 0;
  const T scale = T(double(local.size) / double(global_rows));
  std::optional<tape<T>> t;
  if (local.size > 0) {
    // dropout masks: a per-rank, per-step stream (equal to one process only without dropout)
    t.emplace(tape_mode::train, opt_.train.seed + std::uint64_t(comm_->rank()) * 1000003u + std::uint64_t(steps()));
    const var<T> logits = (*model_)(*t, local);
    var<T> labels;
    if (local.labels.cols() == 1) {
      labels = t->view(local.labels.data(), local.size, 1);
    } else {
      label_column_ = local.labels.col(opt_.train.label);
      labels = t->view(label_column_.data(), local.size, 1);
    }
    var<T> l = loss::bce_with_logits(*t, logits, labels);
    if constexpr (requires { model_->auxiliary_loss(*t, local, labels); })
      l = ops::add(*t, l, model_->auxiliary_loss(*t, local, labels));
    t->backward(l);
    loss = double(l.item()) * double(scale);
  }
  const double compute = since(t0);
  t0 = clock::now();
  reduce(scale, loss);
  timing_.reduce_seconds += since(t0);
  if (!std::isfinite(loss))
    throw value_error("dist::data_parallel_trainer: the training loss is " + std::to_string(loss) + " at step " +
                      std::to_string(steps() + 1) + ": training diverged");
  if (before_update_) before_update_();
  t0 = clock::now();
  adam_->step();
  if (shard_adam_) shard_adam_->step();
  if constexpr (requires { model_->on_training_step(); }) model_->on_training_step();
  timing_.compute_seconds += compute + since(t0);
  ++timing_.steps;
  return loss;
}

template <class Model>
train::fit_result data_parallel_trainer<Model>::fit(const data::dataset& train, const data::dataset* validation) {
  if (opt_.train.threads > 0) Eigen::setNbThreads(opt_.train.threads);
  if (opt_.train.epochs > 0 && (opt_.train.batch_size < 2 || train.rows() < 2))
    throw value_error("dist::data_parallel_trainer::fit: batch_size " + std::to_string(opt_.train.batch_size) + " with " +
                      std::to_string(train.rows()) + " rows would skip every batch");
  const auto start = clock::now();
  shard_batcher<T> batches(train, opt_.train.batch_size, true, opt_.train.seed, comm_->rank(), comm_->size());
  data::batch<T> b;
  train::fit_result result;
  std::optional<std::vector<matrix<T>>> best;
  index_t bad = 0;
  for (index_t epoch = 0; epoch < opt_.train.epochs; ++epoch) {
    if (epoch > 0) batches.reset();
    double lr = opt_.train.learning_rate;
    if (opt_.train.schedule.step_size > 0) lr *= std::pow(opt_.train.schedule.gamma, double(epoch / opt_.train.schedule.step_size));
    adam_->set_learning_rate(T(lr));
    if (shard_adam_) shard_adam_->set_learning_rate(T(lr));
    const double epoch_start = since(start);
    double loss_sum = 0;
    index_t batch_no = 0, counted = 0, global_rows = 0;
    while (batches.next(b, global_rows)) {
      ++batch_no;
      if (global_rows < 2) continue;
      const double loss = step(b, global_rows);
      ++result.steps;
      ++counted;
      loss_sum += loss;
      if (cb_.on_step)
        cb_.on_step({epoch, result.steps, batch_no, batches.batches_per_epoch(), b.size, loss, lr, since(start)});
    }
    train::epoch_info info;
    info.epoch = epoch;
    info.train_loss = counted ? loss_sum / double(counted) : std::numeric_limits<double>::quiet_NaN();
    info.learning_rate = lr;
    info.train_seconds = since(start) - epoch_start;
    result.train_seconds += info.train_seconds;
    bool stop = false;
    if (validation) {
      const double v0 = since(start);
      info.validation.emplace(evaluate(*validation));
      info.validation_seconds = since(start) - v0;
      result.validation_seconds += info.validation_seconds;
      const double auc = info.validation->overall().auc;
      info.improved = !std::isnan(auc) && (std::isnan(result.best_auc) || auc > result.best_auc);
      if (info.improved) {
        result.best_auc = auc;
        result.best_epoch = epoch;
        bad = 0;
        if (opt_.train.restore_best) best = take();
      } else {
        ++bad;
        stop = opt_.train.patience > 0 && bad >= opt_.train.patience;
      }
    }
    info.best_epoch = result.best_epoch;
    info.best_auc = result.best_auc;
    info.seconds = since(start);
    result.history.push_back(info);
    if (cb_.on_epoch_end) cb_.on_epoch_end(result.history.back());
    if (stop) {
      result.stopped_early = epoch + 1 < opt_.train.epochs;
      break;
    }
  }
  if (best) put(*best);
  return result;
}

template <class Model>
std::vector<typename Model::scalar_type> data_parallel_trainer<Model>::predict(const data::dataset& d) {
  const index_t bs = opt_.train.eval_batch_size > 0 ? opt_.train.eval_batch_size : opt_.train.batch_size;
  shard_batcher<T> batches(d, bs, false, 0, comm_->rank(), comm_->size());
  data::batch<T> b;
  index_t global_rows = 0;
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(d.rows()));
  std::vector<T> mine;
  while (batches.next(b, global_rows)) {
    for (auto& s : sharded_) s->lookup(*comm_, b);
    mine.clear();
    if (b.size > 0) {
      tape<T> t(tape_mode::infer);
      const var<T> logits = (*model_)(t, b);
      for (index_t i = 0; i < logits.rows; ++i) mine.push_back(T(1) / (T(1) + std::exp(-logits.data[i])));
    }
    for (const auto& part : comm_->allgatherv(std::span<const T>(mine), "prediction all-gather"))
      out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace recblocks::dist
