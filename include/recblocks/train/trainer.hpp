#pragma once
/// \file trainer.hpp
/// Training loop of the Scenario-Wise Rec pipeline (`trainers/ctr_trainer.py`) for any
/// `models::ctr_model`:
///
///     for epoch e = 0 .. epochs-1:
///       lr_e = lr * gamma^floor(e / step_size)                     (optional step decay; off by default)
///       for each shuffled mini-batch b (batcher seeded with seed + e):
///         L = mean_b BCE(sigmoid(model(b)), y_b)                   (loss::bce_with_logits)
///             + model.auxiliary_loss(t, b, y)                      (only models that have one: M-scan)
///         backward; Adam step (lr_e, weight decay as L2 in the gradient, PyTorch semantics)
///       validation: overall + per-scenario AUC / log loss (eval::scenario_report)
///       early stopping on the overall validation AUC: stop after `patience` epochs without improvement
///     restore the weights (parameters and batch-norm statistics) of the best epoch
///
/// Defaults are the reference's: Adam lr 1e-3, weight decay 1e-5, batch 4096, seed 2022. The
/// reference passes `scheduler_params` but never a scheduler, so its learning rate is constant;
/// `schedule.step_size = 0` (the default) reproduces that. Differences from the reference: the
/// best weights are restored also when the epoch budget ends (the reference restores them only when
/// early stopping fires); sparse embedding rows get lazy Adam updates (`lazy_sparse_adam`, set false
/// for PyTorch's dense Adam); a training batch of a single row is skipped (batch norm cannot train
/// on it; PyTorch raises), and a configuration in which every batch would be skipped (`batch_size`
/// 1, or fewer than 2 training rows) is refused.
///
/// Divergence: the options must be finite (`learning_rate` > 0, `weight_decay` >= 0, `gamma` > 0);
/// a non-finite training loss stops `fit` with a `value_error` naming the epoch, batch and global
/// step (after restoring the best epoch's weights when `restore_best` and a best epoch exist), so a
/// diverged run never ends in a silently broken model.
///
/// Finite inputs: `check_finite` (off by default) makes `fit`, `predict` and `evaluate` refuse a
/// dataset with a NaN or infinite dense feature (`value_error` naming the feature and row) and
/// `predict` refuse a non-finite logit (naming the row).
/// The reference's fixed-budget run (no early stop, the last epoch's
/// weights kept) is `patience = 0, restore_best = false`.
/// Timing: every epoch reports its training time (`epoch_info::train_seconds`) separately from its
/// validation time (`validation_seconds`); `fit_result` sums both (`train_seconds_per_epoch()`).
///
/// Reproducibility: the batch order (batcher, `seed + epoch`), dropout masks (the tape's generator,
/// `seed`) and the optimizer are deterministic, so the same model initialisation, data and options
/// give a bit-identical loss curve on the same build and thread count.
/// Threads: `threads > 0` pins Eigen's thread count (`Eigen::setNbThreads`, a process-wide
/// setting) at the start of `fit`/`evaluate`; 0 leaves it unchanged.
/// The library never prints: progress goes to `callbacks` (`on_step` after every optimizer step,
/// `on_epoch_end` after each validation).
///
/// Requires: `Model` satisfies `models::ctr_model`; the datasets use the model's schema and have a
/// label column `label`, labels in {0, 1}. Errors: `value_error` for bad options, errors of the
/// model / loss / eval on bad data. Thread-safety: one trainer per model; `evaluate`/`predict` use
/// inference tapes only.

#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/activation.hpp"
#include "../core/ops/elementwise.hpp"
#include "../data/batcher.hpp"
#include "../data/dataset.hpp"
#include "../eval/scenario_report.hpp"
#include "../loss/bce_with_logits.hpp"
#include "../nn/module.hpp"
#include "../optim/adam.hpp"

namespace recblocks::train {

/// Multiply the learning rate by `gamma` every `step_size` epochs (`step_size = 0`: constant).
struct step_decay {
  index_t step_size = 0;
  double gamma = 1.0;
};

struct trainer_options {
  index_t epochs = 1;
  index_t batch_size = 4096;
  index_t eval_batch_size = 0;   ///< 0 = batch_size
  double learning_rate = 1e-3;
  double weight_decay = 1e-5;
  index_t patience = 4;          ///< early stopping after this many epochs without a better validation AUC; 0 = never
  bool restore_best = true;      ///< end with the best validation epoch's weights
  step_decay schedule;
  std::uint64_t seed = 2022;     ///< batch order and dropout
  int threads = 1;               ///< Eigen threads; 0 = leave unchanged
  index_t label = 0;             ///< label column to train on
  bool lazy_sparse_adam = true;  ///< Adam updates only the embedding rows a batch touched
  bool check_finite = false;     ///< refuse NaN/inf dense features and logits (see file docs)
  /// Mixed precision (issue 26): `bf16` runs every dense layer's GEMMs left at `automatic` in bf16
  /// with FP32 accumulation, in training and in prediction (`tape::set_compute`); master weights,
  /// gradients and optimizer state stay `T`. Needs AVX512-BF16, else FP32 (`bf16_fallback_count`).
  compute_type compute = compute_type::fp32;
};

/// Reported after every optimizer step.
struct step_info {
  index_t epoch = 0;
  index_t step = 0;              ///< global step, from 1
  index_t batch = 0;             ///< within the epoch, from 1
  index_t batches = 0;           ///< per epoch
  index_t rows = 0;              ///< rows in this batch
  double loss = 0;
  double learning_rate = 0;
  double seconds = 0;            ///< since fit started
};

/// Reported after each epoch.
struct epoch_info {
  index_t epoch = 0;
  double train_loss = 0;         ///< mean of the epoch's step losses
  double learning_rate = 0;
  std::optional<eval::scenario_report> validation;  ///< absent without a validation set
  bool improved = false;         ///< the validation AUC beat the best so far
  index_t best_epoch = -1;
  double best_auc = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;            ///< since fit started
  double train_seconds = 0;      ///< this epoch's training steps (batching, forward, backward, optimizer)
  double validation_seconds = 0; ///< this epoch's validation (0 without a validation set)
};

struct callbacks {
  std::function<void(const step_info&)> on_step = {};
  std::function<void(const epoch_info&)> on_epoch_end = {};
};

struct fit_result {
  std::vector<epoch_info> history;
  index_t best_epoch = -1;       ///< -1 without validation
  double best_auc = std::numeric_limits<double>::quiet_NaN();
  bool stopped_early = false;
  index_t steps = 0;
  double train_seconds = 0;       ///< sum of the epochs' train_seconds
  double validation_seconds = 0;  ///< sum of the epochs' validation_seconds
  double snapshot_seconds = 0;    ///< copying the best epoch's weights (restore_best)

  /// Mean training time per epoch, validation excluded (NaN without epochs).
  double train_seconds_per_epoch() const {
    return history.empty() ? std::numeric_limits<double>::quiet_NaN() : train_seconds / double(history.size());
  }
};

template <class Model>
class trainer {
 public:
  using scalar_type = typename Model::scalar_type;
  using T = scalar_type;

  trainer(Model& model, trainer_options opt = {}, callbacks cb = {});

  /// Trains on `train`, early-stopping on `validation` when given (see file docs).
  fit_result fit(const data::dataset& train, const data::dataset* validation = nullptr);
  fit_result fit(const data::dataset& train, const data::dataset& validation) { return fit(train, &validation); }

  /// Click probabilities `sigmoid(model(x))` of every row of `d`, in row order (inference tapes).
  std::vector<T> predict(const data::dataset& d) const;
  /// Overall and per-scenario AUC / log loss of the model on `d`.
  eval::scenario_report evaluate(const data::dataset& d) const;

  optim::adam<T>& optimizer() { return adam_; }
  const trainer_options& options() const { return opt_; }

 private:
  struct snapshot {
    std::vector<matrix<T>> values;
  };
  std::vector<matrix<T>*> state_tensors() const;
  snapshot take() const;
  void put(const snapshot& s) const;
  void pin_threads() const;
  void check_finite_inputs(const data::dataset& d, const char* what) const;
  static optim::adam_options adam_options(const trainer_options& o);

  Model* model_;
  trainer_options opt_;
  callbacks cb_;
  optim::adam<T> adam_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class Model>
optim::adam_options trainer<Model>::adam_options(const trainer_options& o) {
  if (o.epochs < 0 || o.batch_size < 1 || o.eval_batch_size < 0 || o.patience < 0 || o.schedule.step_size < 0 ||
      !(o.schedule.gamma > 0) || !std::isfinite(o.schedule.gamma) || o.threads < 0 || o.label < 0)
    throw value_error("train::trainer: invalid options (need epochs >= 0, batch_size >= 1, eval_batch_size >= 0, "
                      "patience >= 0, schedule.step_size >= 0, finite schedule.gamma > 0, threads >= 0, label >= 0)");
  if (!std::isfinite(o.learning_rate) || !(o.learning_rate > 0))
    throw value_error("train::trainer: learning_rate must be finite and > 0, got " + std::to_string(o.learning_rate));
  if (!std::isfinite(o.weight_decay) || o.weight_decay < 0)
    throw value_error("train::trainer: weight_decay must be finite and >= 0, got " + std::to_string(o.weight_decay));
  optim::adam_options a;
  a.learning_rate = o.learning_rate;
  a.weight_decay = o.weight_decay;
  a.lazy_sparse = o.lazy_sparse_adam;
  return a;
}

template <class Model>
trainer<Model>::trainer(Model& model, trainer_options opt, callbacks cb)
    : model_(&model), opt_(opt), cb_(std::move(cb)), adam_(nn::parameters(model), adam_options(opt)) {}

template <class Model>
void trainer<Model>::pin_threads() const {
  if (opt_.threads > 0) Eigen::setNbThreads(opt_.threads);
}

template <class Model>
std::vector<matrix<typename Model::scalar_type>*> trainer<Model>::state_tensors() const {
  std::vector<matrix<T>*> out;
  nn::visit_members(*model_, [&](const std::string&, param<T>& p) { out.push_back(&p.value()); },
                   [&](const std::string&, matrix<T>& m) { out.push_back(&m); });
  return out;
}

template <class Model>
typename trainer<Model>::snapshot trainer<Model>::take() const {
  snapshot s;
  for (auto* m : state_tensors()) s.values.push_back(*m);
  return s;
}

template <class Model>
void trainer<Model>::put(const snapshot& s) const {
  auto tensors = state_tensors();
  for (std::size_t k = 0; k < tensors.size(); ++k) *tensors[k] = s.values[k];
}

template <class Model>
fit_result trainer<Model>::fit(const data::dataset& train, const data::dataset* validation) {
  pin_threads();
  if (train.get_schema().label_count() <= opt_.label)
    throw value_error("train::trainer::fit: the training data has no label column " + std::to_string(opt_.label));
  if (opt_.epochs > 0 && (opt_.batch_size < 2 || train.rows() < 2))
    throw value_error("train::trainer::fit: batch_size " + std::to_string(opt_.batch_size) + " with " +
                      std::to_string(train.rows()) + " training rows would skip every batch (a batch needs >= 2 rows "
                      "for batch norm): nothing would be trained");
  if (opt_.check_finite) {
    check_finite_inputs(train, "training");
    if (validation) check_finite_inputs(*validation, "validation");
  }
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  data::batcher<T> batches(train, opt_.batch_size, true, opt_.seed);
  data::batch<T> b;
  tape<T> t(tape_mode::train, opt_.seed);
  t.set_compute(opt_.compute);
  matrix<T> label_column;
  fit_result result;
  std::optional<snapshot> best;
  index_t bad_epochs = 0;
  for (index_t epoch = 0; epoch < opt_.epochs; ++epoch) {
    if (epoch > 0) batches.reset();
    double lr = opt_.learning_rate;
    if (opt_.schedule.step_size > 0) lr *= std::pow(opt_.schedule.gamma, double(epoch / opt_.schedule.step_size));
    adam_.set_learning_rate(T(lr));
    const double epoch_start = elapsed();
    double loss_sum = 0;
    index_t batch_no = 0, counted = 0;
    while (batches.next(b)) {
      ++batch_no;
      if (b.size < 2) continue;  // batch norm cannot train on one row (see file docs)
      t.reset();
      const var<T> logits = (*model_)(t, b);
      var<T> labels;
      if (b.labels.cols() == 1) {
        labels = t.view(b.labels.data(), b.size, 1);
      } else {
        label_column = b.labels.col(opt_.label);
        labels = t.view(label_column.data(), b.size, 1);
      }
      var<T> loss = loss::bce_with_logits(t, logits, labels);
      // a model with a multi-part objective (M-scan's dual loss) adds its extra term here
      if constexpr (requires { model_->auxiliary_loss(t, b, labels); })
        loss = ops::add(t, loss, model_->auxiliary_loss(t, b, labels));
      if (!std::isfinite(double(loss.item()))) {
        if (best) put(*best);
        throw value_error("train::trainer::fit: the training loss is " + std::to_string(double(loss.item())) + " at epoch " +
                          std::to_string(epoch + 1) + ", batch " + std::to_string(batch_no) + " (step " +
                          std::to_string(result.steps + 1) + "): training diverged (learning rate " + std::to_string(lr) +
                          (best ? "); the best epoch's weights were restored" : "); the model holds the last finite step's weights"));
      }
      t.backward(loss);
      adam_.step();
      // state annealed once per optimizer step (AdaSparse's pruner alpha), never by evaluation
      if constexpr (requires { model_->on_training_step(); }) model_->on_training_step();
      ++result.steps;
      ++counted;
      loss_sum += double(loss.item());
      if (cb_.on_step)
        cb_.on_step({epoch, result.steps, batch_no, batches.batches_per_epoch(), b.size, double(loss.item()), lr, elapsed()});
    }
    epoch_info info;
    info.epoch = epoch;
    info.train_loss = counted ? loss_sum / double(counted) : std::numeric_limits<double>::quiet_NaN();
    info.learning_rate = lr;
    info.train_seconds = elapsed() - epoch_start;
    result.train_seconds += info.train_seconds;
    bool stop = false;
    if (validation) {
      const double validation_start = elapsed();
      info.validation.emplace(evaluate(*validation));
      info.validation_seconds = elapsed() - validation_start;
      result.validation_seconds += info.validation_seconds;
      const double auc = info.validation->overall().auc;
      info.improved = !std::isnan(auc) && (std::isnan(result.best_auc) || auc > result.best_auc);
      if (info.improved) {
        result.best_auc = auc;
        result.best_epoch = epoch;
        bad_epochs = 0;
        if (opt_.restore_best) {
          const double snapshot_start = elapsed();
          best = take();
          result.snapshot_seconds += elapsed() - snapshot_start;
        }
      } else {
        ++bad_epochs;
        stop = opt_.patience > 0 && bad_epochs >= opt_.patience;
      }
    }
    info.best_epoch = result.best_epoch;
    info.best_auc = result.best_auc;
    info.seconds = elapsed();
    result.history.push_back(info);
    if (cb_.on_epoch_end) cb_.on_epoch_end(result.history.back());
    if (stop) {
      result.stopped_early = epoch + 1 < opt_.epochs;
      break;
    }
  }
  if (best) put(*best);
  return result;
}

template <class Model>
void trainer<Model>::check_finite_inputs(const data::dataset& d, const char* what) const {
  const auto& features = d.get_schema().features();
  index_t column = 0;
  for (const auto& f : features) {
    if (f.kind != data::feature_kind::dense) continue;
    const auto values = d.dense_column(column);
    for (index_t r = 0; r < static_cast<index_t>(values.size()); ++r)
      if (!std::isfinite(double(values[static_cast<std::size_t>(r)])))
        throw value_error(std::string("train::trainer: the ") + what + " data's dense feature '" + f.name + "' is " +
                          std::to_string(double(values[static_cast<std::size_t>(r)])) + " at row " + std::to_string(r));
    ++column;
  }
}

template <class Model>
std::vector<typename Model::scalar_type> trainer<Model>::predict(const data::dataset& d) const {
  pin_threads();
  if (opt_.check_finite) check_finite_inputs(d, "prediction");
  const index_t bs = opt_.eval_batch_size > 0 ? opt_.eval_batch_size : opt_.batch_size;
  data::batcher<T> batches(d, bs, false, 0);
  data::batch<T> b;
  tape<T> t(tape_mode::infer);
  t.set_compute(opt_.compute);
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(d.rows()));
  while (batches.next(b)) {
    step_scope<T> step(t);  // one inference step per batch, reset when done
    const var<T> logits = (*model_)(t, b);
    for (index_t i = 0; i < logits.rows; ++i) {
      if (opt_.check_finite && !std::isfinite(double(logits.data[i])))
        throw value_error("train::trainer::predict: the model's logit of row " + std::to_string(out.size()) + " is " +
                          std::to_string(double(logits.data[i])));
      out.push_back(T(1) / (T(1) + std::exp(-logits.data[i])));
    }
  }
  return out;
}

template <class Model>
eval::scenario_report trainer<Model>::evaluate(const data::dataset& d) const {
  const std::vector<T> p = predict(d);
  return eval::scenario_report(d.label_column(opt_.label), p, d.scenario_column(), d.get_schema().scenario_count());
}

}  // namespace recblocks::train

#if defined(RECBLOCKS_EXTERN_TEMPLATES)
#include "detail/extern_trainers.hpp"
#endif
