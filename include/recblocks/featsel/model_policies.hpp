#pragma once
/// \file model_policies.hpp
/// The ranking policies that train a model of the registry (`models::registry` name + options JSON)
/// with `train::trainer`, all satisfying `featsel::ranking_policy`:
///
/// - `permutation_importance_policy<T>`: train on `train` (early stopping on `valid`), then for each
///   field shuffle its column over the validation rows (`repeats` times, seeded) and score
///       importance_f = AUC(valid) − mean_rep AUC(valid with field f shuffled)
///   (a sensitivity baseline, SFS/SHARK-like in spirit).
/// - `learnable_gate_policy<T>`: train the model with a `learnable_gate` attached (`gated_model`)
///   and rank by the learned gate logits.
/// - `bridge_policy<T>`: AltFS's stage 2: train the model with a `rank_guided_mask` over the K given
///   rankings (LLM rankings in the paper) and rank by h*; `last_weights()` holds softmax(w/τ),
///   `last_seconds()` the training time of the stage (its overhead).
///
/// Every policy builds a fresh model from `seed` for each `rank` call. The trained model is thrown
/// away: AltFS retrains from scratch on the top-d fields (`select_fields`).
/// Errors: those of the registry, trainer, and gates; `value_error` for repeats < 1.
/// Thread-safety: one policy per thread.

#include <chrono>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../data/batch.hpp"
#include "../data/dataset.hpp"
#include "../eval/auc.hpp"
#include "../models/registry.hpp"
#include "../train/trainer.hpp"
#include "feature_ranking.hpp"
#include "gated_model.hpp"
#include "learnable_gate.hpp"
#include "rank_guided_mask.hpp"

namespace recblocks::featsel {

/// Which model the policy trains, and how.
struct model_spec {
  std::string name = "shared_bottom";          ///< a registry name
  nlohmann::json options = nlohmann::json::object();
  train::trainer_options trainer;               ///< epochs, batch size, seed, ...
  std::uint64_t seed = 2022;                    ///< model initialisation
};

namespace detail {
/// Validation AUC of `model` on the rows of `b` (one inference pass).
template <class Model, class T>
double batch_auc(const Model& model, const data::batch<T>& b, index_t label) {
  tape<T> t(tape_mode::infer);
  const var<T> logits = model(t, b);
  std::vector<double> y(static_cast<std::size_t>(b.size)), s(static_cast<std::size_t>(b.size));
  for (index_t i = 0; i < b.size; ++i) {
    y[static_cast<std::size_t>(i)] = double(b.labels(i, label));
    s[static_cast<std::size_t>(i)] = double(logits.value()(i, 0));
  }
  return eval::auc(y, s);
}
}  // namespace detail

template <class T>
class permutation_importance_policy {
 public:
  explicit permutation_importance_policy(model_spec spec, index_t repeats = 1, std::uint64_t seed = 7)
      : spec_(std::move(spec)), repeats_(repeats), seed_(seed) {
    if (repeats_ < 1) throw value_error("featsel::permutation_importance_policy: repeats = " + std::to_string(repeats_) + " must be >= 1");
  }

  feature_ranking rank(const data::dataset& train, const data::dataset& valid);

 private:
  model_spec spec_;
  index_t repeats_;
  std::uint64_t seed_;
};

template <class T>
class learnable_gate_policy {
 public:
  explicit learnable_gate_policy(model_spec spec, learnable_gate_options options = {}) : spec_(std::move(spec)), options_(options) {}

  feature_ranking rank(const data::dataset& train, const data::dataset& valid);

 private:
  model_spec spec_;
  learnable_gate_options options_;
};

template <class T>
class bridge_policy {
 public:
  bridge_policy(std::vector<feature_ranking> rankings, model_spec spec, rank_guided_mask_options options = {})
      : rankings_(std::move(rankings)), spec_(std::move(spec)), options_(options) {}

  feature_ranking rank(const data::dataset& train, const data::dataset& valid);

  const std::vector<double>& last_weights() const { return weights_; }
  double last_seconds() const { return seconds_; }

 private:
  std::vector<feature_ranking> rankings_;
  model_spec spec_;
  rank_guided_mask_options options_;
  std::vector<double> weights_;
  double seconds_ = 0;
};


// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
feature_ranking permutation_importance_policy<T>::rank(const data::dataset& train, const data::dataset& valid) {
  const data::schema& s = train.get_schema();
  const auto fields = selectable_fields(s);
  if (valid.rows() < 2) throw value_error("featsel::permutation_importance_policy: the validation set needs at least 2 rows");
  std::vector<double> imp(fields.size(), 0.0);
  rng gen(spec_.seed);
  models::registry::visit<T>(spec_.name, s, spec_.options, gen, [&](auto& model) {
    train::trainer tr(model, spec_.trainer);
    tr.fit(train, valid);
    std::vector<index_t> rows(static_cast<std::size_t>(valid.rows()));
    std::iota(rows.begin(), rows.end(), index_t{0});
    data::batch<T> b, shuffled;
    valid.gather(std::span<const index_t>(rows), b);
    const double base = detail::batch_auc(model, b, spec_.trainer.label);
    rng perm(seed_);
    for (std::size_t f = 0; f < fields.size(); ++f) {
      const bool sparse = s.at(fields[f]).kind == data::feature_kind::sparse;
      const index_t col = s.index_of(fields[f]);
      double sum = 0;
      for (index_t rep = 0; rep < repeats_; ++rep) {
        shuffled = b;
        std::vector<index_t> p = rows;
        std::shuffle(p.begin(), p.end(), perm.engine());
        for (index_t i = 0; i < b.size; ++i) {
          if (sparse) shuffled.sparse(col, i) = b.sparse(col, p[static_cast<std::size_t>(i)]);
          else shuffled.dense(i, col) = b.dense(p[static_cast<std::size_t>(i)], col);
        }
        sum += detail::batch_auc(model, shuffled, spec_.trainer.label);
      }
      imp[f] = base - sum / double(repeats_);
    }
  });
  std::vector<std::size_t> idx(fields.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return imp[a] > imp[b]; });
  feature_ranking r;
  r.policy = "permutation_importance";
  for (std::size_t i : idx) r.order.push_back(fields[i]), r.scores.push_back(imp[i]);
  return r;
}

template <class T>
feature_ranking learnable_gate_policy<T>::rank(const data::dataset& train, const data::dataset& valid) {
  const data::schema& s = train.get_schema();
  learnable_gate<T> gate(s, options_);
  rng gen(spec_.seed);
  models::registry::visit<T>(spec_.name, s, spec_.options, gen, [&](auto& model) {
    gated_model gm(model, gate);
    train::trainer(gm, spec_.trainer).fit(train, valid);
  });
  return gate.ranking();
}

template <class T>
feature_ranking bridge_policy<T>::rank(const data::dataset& train, const data::dataset& valid) {
  const data::schema& s = train.get_schema();
  rank_guided_mask<T> mask(s, rankings_, options_);
  rng gen(spec_.seed);
  const auto t0 = std::chrono::steady_clock::now();
  models::registry::visit<T>(spec_.name, s, spec_.options, gen, [&](auto& model) {
    gated_model gm(model, mask);
    train::trainer(gm, spec_.trainer).fit(train, valid);
  });
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  weights_ = mask.weights();
  return mask.ranking();
}

}  // namespace recblocks::featsel

// The float trainers the policies instantiate, one per registry model wrapped in `gated_model` with
// gate type GATE, written as `PREFIX class train::trainer<...>;` inside namespace recblocks: the one
// list behind the `extern template` declarations below and the explicit instantiations in
// src/instantiations/featsel_{learnable_gate,bridge}.cpp, so the two cannot drift apart.
#define RECBLOCKS_FEATSEL_GATED_TRAINERS(PREFIX, GATE) \
  PREFIX class train::trainer<featsel::gated_model<models::adaptdhm<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::adasparse<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::dcn<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::epnet<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::hamur<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::m2m<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::m3oe<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::mmoe<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::mscan<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::ple<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::ppnet<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::sarnet<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::shared_bottom<float>, GATE>>; \
  PREFIX class train::trainer<featsel::gated_model<models::star<float>, GATE>>;

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md): the three
// policies on float and the trainers they instantiate, one per registry model and gate (declared here
// rather than in train/detail/extern_trainers.hpp, so a TU that trains without feature selection does
// not parse the gate headers).
#if defined(RECBLOCKS_EXTERN_TEMPLATES)
namespace recblocks::featsel {
extern template class permutation_importance_policy<float>;
extern template class learnable_gate_policy<float>;
extern template class bridge_policy<float>;
}  // namespace recblocks::featsel

namespace recblocks {
RECBLOCKS_FEATSEL_GATED_TRAINERS(extern template, featsel::learnable_gate<float>)
RECBLOCKS_FEATSEL_GATED_TRAINERS(extern template, featsel::rank_guided_mask<float>)
}  // namespace recblocks
#endif
