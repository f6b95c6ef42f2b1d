// libFuzzer target: hostile edits of a checkpoint's model.json (structure-aware).
//
// The first input byte picks one field of a valid model.json (schema sizes, config dims and lists,
// unknown keys, the weights record, the tensor manifest); the rest of the input, parsed as JSON (or
// taken as a string when it is not JSON), replaces that field. The edited checkpoint is loaded: the
// loader must either succeed or throw a recblocks::error, and must never allocate what the weights do
// not hold (libFuzzer's -rss_limit_mb turns a huge allocation into a crash; std::bad_alloc escaping is
// a crash too). Built by fuzz/run.sh with -fsanitize=fuzzer,address,undefined.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <recblocks/io.hpp>
#include <recblocks/models/shared_bottom.hpp>

using namespace recblocks;
namespace fs = std::filesystem;

namespace {

using model_type = models::shared_bottom<float>;

struct fixture {
  fs::path dir;
  nlohmann::json model_json;
  fixture() {
    dir = fs::temp_directory_path() / ("recblocks_fuzz_model_json_" + std::to_string(::getpid()));
    data::schema s;
    s.add({.name = "u", .kind = data::feature_kind::sparse, .vocabulary = 5});
    s.add({.name = "x", .kind = data::feature_kind::dense});
    s.add({.name = "s", .kind = data::feature_kind::scenario, .scenarios = 2});
    s.add({.name = "y", .kind = data::feature_kind::label});
    models::shared_bottom_options o;
    o.embedding.dim = 2;
    o.bottom_dims = {3};
    o.tower_dims = {2};
    rng g(1);
    io::checkpoint::save(dir, model_type(s, o, g));
    std::ifstream in(dir / "model.json");
    model_json = nlohmann::json::parse(in);
  }
};

const char* const paths[] = {
    "/schema/features/0/vocabulary", "/schema/features/2/scenarios", "/schema/features/0/kind", "/schema/features",
    "/model/config/embedding/dim",   "/model/config/embedding/fields", "/model/config/bottom_dims", "/model/config/tower_dims",
    "/model/config/embedding",       "/model/config/unknown_key",   "/model/config",             "/model/name",
    "/weights/bytes",                "/weights/file",               "/weights/fnv1a64",          "/tensors/0/shape",
    "/tensors/0/name",               "/tensors",                    "/format_version",           "/scalar_type",
    "/seed",                         "/encoders",                   "/model/config/dropout",     "/model/config/bottom_dims/0"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fixture fx;
  if (size < 1) return 0;
  const char* path = paths[data[0] % (sizeof(paths) / sizeof(paths[0]))];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;
  nlohmann::json m = fx.model_json;
  try {
    m[nlohmann::json::json_pointer(path)] = value;
  } catch (const nlohmann::json::exception&) {
    return 0;  // the path no longer exists in this shape
  }
  {
    std::ofstream out(fx.dir / "model.json", std::ios::binary | std::ios::trunc);
    out << m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // fuzzed strings need not be UTF-8
  }
  try {
    model_type loaded = io::checkpoint::load<model_type>(fx.dir);
    (void)nn::parameter_count(loaded);
  } catch (const recblocks::error&) {
  }
  return 0;
}
