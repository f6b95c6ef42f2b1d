#pragma once
/// \file scoring_model.hpp
/// A trained CTR model behind one virtual call per batch, so a server can hold "the current model"
/// without knowing its type and swap it for a model of another type on reload.
///
///     auto m = serve::load_scoring_model<float>("ckpt/mmoe");   // any registry model's checkpoint
///     tape<float> t(tape_mode::infer);
///     std::vector<float> p(b.size);
///     m->probabilities(t, b, p);                                 // sigmoid(logit) per row
///
/// `model_scorer<Model>` wraps any `models::ctr_model` (the registry's or a user's own); the forward
/// runs on the caller's tape, so one `scoring_model` serves many threads, one tape each (the model
/// contract: an inference tape touches no state).
///
/// `load_scoring_model` opens a checkpoint (`io::checkpoint::open`: every file check), builds the
/// model it names through `models::registry` from the stored schema and config, restores the
/// weights, and labels the result with `version` = the weights' FNV-1a 64 checksum (16 hex digits),
/// which names the exact weights an answer came from. Errors: `io_error`/`parse_error` from the
/// checkpoint, `value_error` for a model name the registry does not know.
///
/// Shapes: `probabilities(t, b, out)` needs `out.size() == b.size`; `shape_error` otherwise.

#include <cmath>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tape.hpp"
#include "../data/batch.hpp"
#include "../data/schema.hpp"
#include "../io/checkpoint.hpp"
#include "../models/model_concept.hpp"
#include "../models/registry.hpp"

namespace recblocks::serve {

/// A model that scores batches (see file docs).
template <class T>
class scoring_model {
 public:
  scoring_model(std::string name, std::string version, data::schema schema)
      : name_(std::move(name)), version_(std::move(version)), schema_(std::move(schema)) {}
  virtual ~scoring_model() = default;
  scoring_model(const scoring_model&) = delete;
  scoring_model& operator=(const scoring_model&) = delete;

  /// Click probabilities `sigmoid(logit)` of the `b.size` rows into `out`, computed on tape `t`
  /// (reset by the caller). Throws what the model's forward throws for a malformed batch.
  void probabilities(tape<T>& t, const data::batch<T>& b, std::span<T> out) const {
    if (static_cast<index_t>(out.size()) != b.size)
      throw shape_error("serve::scoring_model::probabilities: output has " + std::to_string(out.size()) +
                        " slots for a batch of " + std::to_string(b.size) + " rows");
    logits(t, b, out);
    for (T& v : out) v = T(1) / (T(1) + std::exp(-v));
  }

  const std::string& name() const { return name_; }
  /// Identity of the weights (the checkpoint's weights checksum, or what the constructor was given).
  const std::string& version() const { return version_; }
  const data::schema& schema() const { return schema_; }

 protected:
  /// The `b.size` logits into `out` (sized by the caller).
  virtual void logits(tape<T>& t, const data::batch<T>& b, std::span<T> out) const = 0;

 private:
  std::string name_, version_;
  data::schema schema_;
};

/// `scoring_model` over a concrete model type.
template <models::ctr_model Model>
class model_scorer final : public scoring_model<typename Model::scalar_type> {
 public:
  using T = typename Model::scalar_type;
  model_scorer(Model model, std::string version)
      : scoring_model<T>(Model::name, std::move(version), model.get_schema()), model_(std::move(model)) {}

  const Model& model() const { return model_; }

 protected:
  void logits(tape<T>& t, const data::batch<T>& b, std::span<T> out) const override {
    const var<T> z = model_(t, b);
    const auto v = z.value();
    if (v.rows() != b.size || v.cols() != 1)
      throw shape_error("serve::model_scorer: model '" + std::string(Model::name) + "' returned [" +
                        std::to_string(v.rows()) + ", " + std::to_string(v.cols()) + "] logits for " +
                        std::to_string(b.size) + " rows");
    for (index_t i = 0; i < b.size; ++i) out[static_cast<std::size_t>(i)] = v(i, 0);
  }

 private:
  Model model_;
};

/// Loads any registry model's checkpoint as a `scoring_model` (see file docs).
template <class T>
std::shared_ptr<const scoring_model<T>> load_scoring_model(const std::filesystem::path& dir) {
  const io::checkpoint ck = io::checkpoint::open(dir);
  const std::string version = ck.manifest()["weights"]["fnv1a64"].template get<std::string>();
  rng gen(ck.seed());
  return models::registry::visit<T>(
      ck.model_name(), ck.get_schema(), ck.config(), gen,
      [&](auto& model) -> std::shared_ptr<const scoring_model<T>> {
        using Model = std::remove_cvref_t<decltype(model)>;
        ck.restore(model);
        return std::make_shared<const model_scorer<Model>>(std::move(model), version);
      });
}

}  // namespace recblocks::serve
