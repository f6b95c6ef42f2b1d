// libFuzzer target: arbitrary bytes as a checkpoint's weights file or model.json.
//
// The first input byte picks the mode, the rest is the file:
//   0: the bytes are parsed as a safetensors image (io::safetensors::from_bytes), then written as
//      weights.safetensors (the legacy name) next to a valid model.json whose file name, size and
//      checksum are updated to match,
//      so the manifest check and the all-or-nothing restore see the fuzzed tensors;
//   1: the bytes replace the weights file model.json names (the stored checksum stays: must be refused);
//   2: the bytes replace model.json (valid weights).
// The loader must either succeed or throw a recblocks::error; anything else (another exception, a
// crash, a sanitizer report) is a bug. Built by fuzz/run.sh with -fsanitize=fuzzer,address,undefined.
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
  std::string model_json, weights, weights_name;
  fixture() {
    dir = fs::temp_directory_path() / ("recblocks_fuzz_checkpoint_" + std::to_string(::getpid()));
    data::schema s;
    s.add({.name = "u", .kind = data::feature_kind::sparse, .vocabulary = 3});
    s.add({.name = "x", .kind = data::feature_kind::dense});
    s.add({.name = "s", .kind = data::feature_kind::scenario, .scenarios = 2});
    s.add({.name = "y", .kind = data::feature_kind::label});
    models::shared_bottom_options o;
    o.embedding.dim = 2;
    o.bottom_dims = {2};
    o.tower_dims = {};
    rng g(1);
    model_type m(s, o, g);
    io::checkpoint::save(dir, m);
    model_json = read(dir / "model.json");
    weights_name = io::checkpoint::open(dir).weights_path().filename().string();
    weights = read(dir / weights_name);
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void write(const char* name, const std::string& bytes) const {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fixture fx;
  if (size < 1) return 0;
  const int mode = data[0] % 3;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (mode == 0) {
      (void)io::safetensors::from_bytes(bytes, "fuzz");
      auto m = nlohmann::json::parse(fx.model_json);
      m["weights"]["file"] = "weights.safetensors";
      m["weights"]["bytes"] = bytes.size();
      m["weights"]["fnv1a64"] = io::checkpoint::fnv1a64(bytes);
      fx.write("model.json", m.dump());
      fx.write("weights.safetensors", bytes);
    } else if (mode == 1) {
      fx.write("model.json", fx.model_json);
      fx.write(fx.weights_name.c_str(), bytes);
    } else {
      fx.write("model.json", bytes);
      fx.write(fx.weights_name.c_str(), fx.weights);
    }
    model_type loaded = io::checkpoint::load<model_type>(fx.dir);
    (void)nn::parameter_count(loaded);
  } catch (const recblocks::error&) {
  }
  return 0;
}
