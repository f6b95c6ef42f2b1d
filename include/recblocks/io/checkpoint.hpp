#pragma once
/// \file checkpoint.hpp
/// Model checkpoints: a directory with two files.
///
///     <dir>/model.json            what the model is: format and library version, model name and
///                                 config, scalar type, feature schema, encoders (opaque JSON),
///                                 seed, endianness, free metadata, the weights file's size and
///                                 FNV-1a 64 checksum, and the tensor manifest (name, dtype, shape,
///                                 kind = parameter | buffer) in visiting order
///     <dir>/weights.safetensors   every parameter and buffer by dotted name (`io::safetensors`)
///
/// Writing (`save`) is atomic per file (temporary file, fsync, rename): the weights first, then
/// `model.json`; the checksum ties the pair, so a reader racing a writer, or a directory whose files
/// come from different saves, is refused instead of silently mixed.
///
/// Reading (`open`) treats both files as hostile: `model.json` is capped at 64 MB and must parse
/// and carry every field with the right type and `format_version` <= 1; `weights.safetensors` passes
/// the safetensors checks (see safetensors.hpp), its size and checksum must match, and its entries
/// must be exactly the manifest's (names, dtypes, shapes). `restore(model)` then checks that the
/// model's parameters and buffers are exactly the manifest's (same names, shapes, and dtype =
/// the model's scalar type), reads every tensor into temporaries, and only then swaps them in: a
/// failed load leaves the model untouched (never half-loaded). A round trip is bit-exact.
/// Every failure is an `io_error` (truncated, tampered or mismatched file) or `parse_error`
/// (malformed JSON) naming the file and the field or tensor.
///
///     io::checkpoint::save(dir, model, {.seed = 2022});
///     auto m2 = io::checkpoint::load<models::mmoe<float>>(dir);    // config + weights
///     io::checkpoint::open(dir).restore(existing_model);            // weights into a built model
///
/// Any module is checkpointable from its member list alone (`nn/module.hpp`): a model without
/// `name`, `config()` and `get_schema()` is saved as model "module" with a null config and an empty
/// schema, and `restore` fills it back (`load`/`make` need `from_config`).
///
/// Thread-safety: `save` reads the model (do not train concurrently); distinct checkpoints may be
/// written concurrently. Complexity: O(model bytes).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <type_traits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../core/param.hpp"
#include "../core/rng.hpp"
#include "../data/schema.hpp"
#include "../nn/module.hpp"
#include "../version.hpp"
#include "detail/atomic_file.hpp"
#include "safetensors.hpp"

namespace recblocks::io {

/// What `save` records besides the model.
struct checkpoint_options {
  std::uint64_t seed = 0;              ///< the run's seed (reproducibility record)
  nlohmann::json encoders = nullptr;   ///< opaque JSON of the data encoders, e.g. label encoders' vocabularies
  nlohmann::json metadata = nlohmann::json::object();  ///< free-form (metrics, command line, ...)
};

class checkpoint {
 public:
  static constexpr int format_version = 1;
  static constexpr const char* model_file = "model.json";
  static constexpr const char* weights_file = "weights.safetensors";
  static constexpr std::uint64_t max_model_json_bytes = 64ull << 20;

  /// Writes `model` to directory `dir` (created if needed; existing files replaced atomically).
  template <class Model>
  static void save(const std::filesystem::path& dir, const Model& model, const checkpoint_options& opt = {});

  /// Reads and validates a checkpoint directory (see file docs).
  static checkpoint open(const std::filesystem::path& dir);

  /// Builds a `Model` from the stored schema and config, then restores its weights. `io_error` when
  /// the checkpoint holds another model (`model.name` != `Model::name`) or scalar type.
  template <class Model>
  static Model load(const std::filesystem::path& dir) { return open(dir).make<Model>(); }

  /// See `load`.
  template <class Model>
  Model make() const;
  /// Copies the stored weights into `model`, all or nothing (see file docs).
  template <class Model>
  void restore(Model& model) const;

  const nlohmann::json& manifest() const { return manifest_; }
  std::string model_name() const { return manifest_["model"]["name"].get<std::string>(); }
  const nlohmann::json& config() const { return manifest_["model"]["config"]; }
  const data::schema& get_schema() const { return schema_; }
  const nlohmann::json& encoders() const { return manifest_["encoders"]; }
  std::uint64_t seed() const { return manifest_["seed"].get<std::uint64_t>(); }
  const safetensors& weights() const { return weights_; }

  /// FNV-1a 64 of `bytes` (the weights checksum), as 16 hex digits.
  static std::string fnv1a64(std::string_view bytes);

 private:
  /// `(name, kind)` of every parameter and buffer of `model` (const or not), in member-list order,
  /// with a pointer to its value.
  template <class Model>
  static auto tensors(Model& model);
  /// The model's name for the manifest: `Model::name`, or "module" for a plain module.
  template <class Model>
  static std::string name_of();

  std::filesystem::path dir_;
  nlohmann::json manifest_;
  data::schema schema_;
  safetensors weights_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

namespace detail {
/// A model's options as JSON (`config()`), or null for a plain module.
template <class Model>
nlohmann::json model_config(const Model& m) {
  if constexpr (requires { m.config(); })
    return m.config();
  else
    return nullptr;
}
/// The schema a model was built for, or an empty one for a plain module.
template <class Model>
data::schema model_schema(const Model& m) {
  if constexpr (requires { m.get_schema(); })
    return m.get_schema();
  else
    return data::schema{};
}
}  // namespace detail

inline std::string checkpoint::fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

template <class Model>
auto checkpoint::tensors(Model& model) {
  using T = typename std::remove_const_t<Model>::scalar_type;
  using M = std::conditional_t<std::is_const_v<Model>, const matrix<T>, matrix<T>>;
  std::vector<std::pair<std::pair<std::string, const char*>, M*>> out;
  nn::visit_members(
      model, [&](const std::string& name, auto& p) { out.push_back({{name, "parameter"}, &p.value()}); },
      [&](const std::string& name, auto& m) { out.push_back({{name, "buffer"}, &m}); });
  std::map<std::string, int> seen;
  for (const auto& t : out)
    if (seen[t.first.first]++)
      throw value_error("io::checkpoint: model '" + name_of<std::remove_const_t<Model>>() + "' has two tensors named '" +
                        t.first.first + "'");
  return out;
}

template <class Model>
std::string checkpoint::name_of() {
  if constexpr (requires { Model::name; })
    return Model::name;
  else
    return "module";
}

template <class Model>
void checkpoint::save(const std::filesystem::path& dir, const Model& model, const checkpoint_options& opt) {
  using T = typename Model::scalar_type;
  auto list = tensors(model);
  safetensors st;
  nlohmann::json manifest_tensors = nlohmann::json::array();
  for (const auto& [id, value] : list) {
    st.add<T>(id.first, *value);
    manifest_tensors.push_back({{"name", id.first}, {"kind", id.second}, {"dtype", safetensors::dtype_of<T>()},
                                {"shape", {value->rows(), value->cols()}}});
  }
  st.set_metadata("format", "recblocks.checkpoint");
  const std::string bytes = st.to_bytes();
  nlohmann::json m{
      {"format", "recblocks.checkpoint"},
      {"format_version", format_version},
      {"library_version", std::to_string(RECBLOCKS_VERSION_MAJOR) + "." + std::to_string(RECBLOCKS_VERSION_MINOR) + "." +
                              std::to_string(RECBLOCKS_VERSION_PATCH)},
      {"model", {{"name", name_of<Model>()}, {"config", detail::model_config(model)}}},
      {"scalar_type", safetensors::dtype_of<T>()},
      {"schema", detail::model_schema(model).to_json()},
      {"encoders", opt.encoders},
      {"seed", opt.seed},
      {"endianness", "little"},
      {"metadata", opt.metadata},
      {"weights", {{"file", weights_file}, {"bytes", bytes.size()}, {"fnv1a64", fnv1a64(bytes)}}},
      {"tensors", std::move(manifest_tensors)}};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw io_error("io::checkpoint::save: cannot create directory '" + dir.string() + "': " + ec.message());
  detail::write_file_atomically(dir / weights_file, bytes);
  detail::write_file_atomically(dir / model_file, m.dump(2) + "\n");
}

inline checkpoint checkpoint::open(const std::filesystem::path& dir) {
  const std::string mpath = (dir / model_file).string();
  auto fail = [&](const std::string& why) -> void { throw io_error("io::checkpoint: " + mpath + ": " + why); };
  checkpoint ck;
  ck.dir_ = dir;
  const std::string text = detail::read_file(dir / model_file, max_model_json_bytes);
  try {
    ck.manifest_ = nlohmann::json::parse(text, nullptr, true, false);
  } catch (const nlohmann::json::exception& e) {
    throw parse_error("io::checkpoint: " + mpath + ": malformed JSON: " + e.what());
  }
  const nlohmann::json& m = ck.manifest_;
  if (!m.is_object()) fail("not a JSON object");
  auto require = [&](const char* key, bool (nlohmann::json::*is)() const noexcept, const char* what) {
    if (!m.contains(key) || !(m[key].*is)()) fail(std::string("missing or invalid \"") + key + "\" (expected " + what + ")");
  };
  require("format", &nlohmann::json::is_string, "a string");
  if (m["format"] != "recblocks.checkpoint") fail("\"format\" is not \"recblocks.checkpoint\"");
  require("format_version", &nlohmann::json::is_number_integer, "an integer");
  if (m["format_version"].get<std::int64_t>() < 1 || m["format_version"].get<std::int64_t>() > format_version)
    fail("format_version " + m["format_version"].dump() + " is not supported (this library reads 1.." +
         std::to_string(format_version) + "; written by a newer recblocks?)");
  require("library_version", &nlohmann::json::is_string, "a string");
  require("model", &nlohmann::json::is_object, "an object");
  if (!m["model"].contains("name") || !m["model"]["name"].is_string() || !m["model"].contains("config"))
    fail("\"model\" needs \"name\" (string) and \"config\"");
  require("scalar_type", &nlohmann::json::is_string, "a string");
  require("schema", &nlohmann::json::is_object, "an object");
  require("seed", &nlohmann::json::is_number_unsigned, "a non-negative integer");
  require("endianness", &nlohmann::json::is_string, "a string");
  if (m["endianness"] != "little") fail("endianness " + m["endianness"].dump() + " is not supported");
  require("weights", &nlohmann::json::is_object, "an object");
  require("tensors", &nlohmann::json::is_array, "an array");
  if (!m.contains("encoders")) fail("missing \"encoders\"");
  const auto& w = m["weights"];
  if (!w.contains("file") || w["file"] != weights_file || !w.contains("bytes") || !w["bytes"].is_number_unsigned() ||
      !w.contains("fnv1a64") || !w["fnv1a64"].is_string())
    fail("\"weights\" must be {\"file\": \"weights.safetensors\", \"bytes\": n, \"fnv1a64\": hex}");
  try {
    ck.schema_ = data::schema::from_json(m["schema"]);
  } catch (const error& e) {
    fail(std::string("invalid schema: ") + e.what());
  }

  const std::filesystem::path wpath = dir / weights_file;
  const std::string bytes = detail::read_file(wpath, w["bytes"].get<std::uint64_t>());
  if (bytes.size() != w["bytes"].get<std::uint64_t>())
    throw io_error("io::checkpoint: " + wpath.string() + " has " + std::to_string(bytes.size()) + " bytes, model.json records " +
                   w["bytes"].dump() + " (truncated, or the files come from different saves)");
  if (fnv1a64(bytes) != w["fnv1a64"].get<std::string>())
    throw io_error("io::checkpoint: " + wpath.string() + " does not match the checksum in model.json (corrupted or tampered)");
  ck.weights_ = safetensors::from_bytes(bytes, wpath.string());

  std::map<std::string, int> listed;
  for (const auto& t : m["tensors"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("dtype") || !t.contains("shape") ||
        !t["shape"].is_array())
      fail("every \"tensors\" entry needs \"name\", \"dtype\" and \"shape\"");
    const std::string name = t["name"].get<std::string>();
    if (listed[name]++) fail("tensor '" + name + "' is listed twice");
    if (!ck.weights_.contains(name)) fail("tensor '" + name + "' is missing from " + std::string(weights_file));
    const auto& info = ck.weights_.info(name);
    if (t["dtype"] != info.dtype || t["shape"] != nlohmann::json(info.shape))
      fail("tensor '" + name + "': manifest says " + t["dtype"].dump() + " " + t["shape"].dump() + ", the weights file " +
           info.dtype + " " + nlohmann::json(info.shape).dump());
  }
  for (const auto& name : ck.weights_.names())
    if (!listed.count(name)) fail("the weights file holds tensor '" + name + "' that the manifest does not list");
  return ck;
}

template <class Model>
void checkpoint::restore(Model& model) const {
  using T = typename Model::scalar_type;
  auto fail = [&](const std::string& why) -> void {
    throw io_error("io::checkpoint::restore: " + dir_.string() + ": " + why);
  };
  if (model_name() != name_of<Model>())
    fail("the checkpoint holds model '" + model_name() + "', not '" + name_of<Model>() + "'");
  if (manifest_["scalar_type"] != safetensors::dtype_of<T>())
    fail("the checkpoint's scalar type is " + manifest_["scalar_type"].dump() + ", the model's " + safetensors::dtype_of<T>());
  auto list = tensors(model);
  const auto names = weights_.names();
  std::vector<matrix<T>> loaded;
  loaded.reserve(list.size());
  for (const auto& [id, value] : list) {
    if (!weights_.contains(id.first)) fail("the model's " + std::string(id.second) + " '" + id.first + "' is not in the checkpoint");
    matrix<T> v = weights_.get<T>(id.first);
    const auto& shape = weights_.info(id.first).shape;
    if (shape.size() != 2 || v.rows() != value->rows() || v.cols() != value->cols())
      fail("tensor '" + id.first + "' is " + nlohmann::json(shape).dump() + " in the checkpoint but " +
           shape_string(value->rows(), value->cols()) + " in the model (different config?)");
    loaded.push_back(std::move(v));
  }
  if (names.size() != list.size()) {
    for (const auto& n : names) {
      bool found = false;
      for (const auto& [id, value] : list) found = found || id.first == n;
      if (!found) fail("the checkpoint's tensor '" + n + "' does not exist in model '" + name_of<Model>() + "'");
    }
  }
  for (std::size_t k = 0; k < list.size(); ++k) list[k].second->swap(loaded[k]);  // commit: no throw from here
}

template <class Model>
Model checkpoint::make() const {
  if (model_name() != Model::name)
    throw io_error("io::checkpoint: " + dir_.string() + " holds model '" + model_name() + "', not '" + Model::name + "'");
  rng gen(seed());
  std::optional<Model> model;
  try {
    model.emplace(Model::from_config(schema_, config(), gen));
  } catch (const io_error&) {
    throw;
  } catch (const error& e) {
    throw io_error("io::checkpoint: " + dir_.string() + ": invalid model config: " + e.what());
  }
  restore(*model);
  return std::move(*model);
}

}  // namespace recblocks::io
