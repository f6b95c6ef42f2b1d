// io::safetensors (format, hostile files), io::checkpoint (bit-exact round trip, all-or-nothing
// load, tampering), io::npy.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/io.hpp>
#include <recblocks/models.hpp>

#include "checkpoint_test_helpers.hpp"

using namespace recblocks;
namespace fs = std::filesystem;
using recblocks_test::slurp;
using recblocks_test::spit;
using recblocks_test::temp_dir;

namespace {

/// A safetensors file image from a header text and `data` bytes.
std::string image(const std::string& header, std::size_t data_bytes) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\x01');
}

data::synthetic small_data() {
  data::synthetic_config c;
  c.rows = 600;
  c.users = 50;
  c.items = 40;
  return data::synthetic(c);
}

matrix<float> logits_of(const models::mmoe<float>& m, const data::dataset& d) {
  data::batch<float> b;
  std::vector<index_t> rows(static_cast<std::size_t>(d.rows()));
  for (index_t i = 0; i < d.rows(); ++i) rows[static_cast<std::size_t>(i)] = i;
  d.gather(std::span<const index_t>(rows), b);
  tape<float> t(tape_mode::infer);
  return m(t, b).value();
}

}  // namespace

TEST_CASE("safetensors: round trip, layout, dtypes, metadata", "[io][safetensors]") {
  matrix<float> f(2, 3);
  f << 1, -2, 3.5f, 1e-30f, 0, -0.0f;
  matrix<double> d = matrix<double>::Random(3, 1);
  matrix<std::int64_t> i64(1, 2);
  i64 << -5, std::int64_t(1) << 40;
  matrix<std::int32_t> i32(2, 2);
  i32 << 1, 2, 3, -4;
  io::safetensors st;
  st.add<float>("b.f", f);
  st.add<double>("a.d", d);
  st.add<std::int64_t>("c.i64", i64);
  st.add<std::int32_t>("d.i32", i32);
  st.set_metadata("k", "v");
  CHECK_THROWS_AS(st.add<float>("b.f", f), value_error);
  CHECK_THROWS_AS(st.add<float>("__metadata__", f), value_error);
  const std::string bytes = st.to_bytes();
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK((8 + n) % 8 == 0);  // tensors aligned
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["a.d"]["dtype"] == "F64");
  CHECK(header["a.d"]["data_offsets"] == nlohmann::json::array({0, 24}));  // name order
  CHECK(header["b.f"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(header["__metadata__"]["k"] == "v");
  CHECK(bytes.size() == 8 + n + 24 + 24 + 16 + 16);
  float first;
  std::memcpy(&first, bytes.data() + 8 + n + 24, 4);
  CHECK(first == 1.0f);

  const auto back = io::safetensors::from_bytes(bytes);
  CHECK(back.names() == std::vector<std::string>{"a.d", "b.f", "c.i64", "d.i32"});
  CHECK(back.get<float>("b.f") == f);
  CHECK(back.get<double>("a.d") == d);
  CHECK(back.get<std::int64_t>("c.i64") == i64);
  CHECK(back.get<std::int32_t>("d.i32") == i32);
  CHECK(back.metadata().at("k") == "v");
  CHECK_THROWS_WITH(back.get<double>("b.f"), Catch::Contains("is F32, expected F64"));
  CHECK_THROWS_WITH(back.get<float>("zz"), Catch::Contains("no tensor 'zz'"));

  // a file written by hand per the spec (unpadded header, rank 1 and rank 0, an F16 entry)
  const std::string hand = image(R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("s":{"dtype":"F32","shape":[],"data_offsets":[8,12]},)"
                                 R"("h":{"dtype":"F16","shape":[1,1],"data_offsets":[12,14]}})", 14);
  const auto h = io::safetensors::from_bytes(hand);
  CHECK(h.get<float>("v").rows() == 1);
  CHECK(h.get<float>("v").cols() == 2);
  CHECK(h.get<float>("s").size() == 1);
  CHECK(h.bytes("h").size() == 2);

  temp_dir dir("st");
  st.save(dir.path / "w.safetensors");
  CHECK(io::safetensors::load(dir.path / "w.safetensors").get<float>("b.f") == f);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 1);  // no temporaries left
}

TEST_CASE("safetensors: hostile files are refused with a clear error", "[io][safetensors]") {
  io::safetensors st;
  st.add<float>("w", matrix<float>::Ones(2, 2));
  st.add<float>("x", matrix<float>::Ones(1, 3));
  const std::string good = st.to_bytes();
  for (std::size_t len = 0; len < good.size(); ++len)  // every truncation
    CHECK_THROWS_AS(io::safetensors::from_bytes(good.substr(0, len)), io_error);
  CHECK_THROWS_WITH(io::safetensors::from_bytes(good + "x"), Catch::Contains("cover"));

  auto refused = [](const std::string& bytes, const std::string& why) {
    INFO(why);
    CHECK_THROWS_WITH(io::safetensors::from_bytes(bytes), Catch::Contains(why));
  };
  std::string big(8, '\0');
  std::uint64_t huge = 100'000'001;
  std::memcpy(big.data(), &huge, 8);
  refused(big, "100 MB cap");
  huge = 64;
  std::memcpy(big.data(), &huge, 8);
  refused(big + "{}", "exceeds the file");
  refused(image("{\"w\":", 0), "malformed JSON");
  refused(image("[1,2]", 0), "not a JSON object");
  refused(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
          "repeats the key 'w'");
  refused(image(R"({"w":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", 4), "nests deeper");
  refused(image(R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4), "unknown or invalid dtype");
  refused(image(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative integers");
  refused(image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4), "overflows");
  refused(image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "do not hold F32 [2]");
  refused(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), "do not hold");
  refused(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 4), "beyond the data");
  refused(image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
          "overlaps");
  refused(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "unused bytes");
  refused(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}})", 8), "data_offsets must be");
  refused(image(R"({"w":{"dtype":"F32","shape":[1]}})", 0), "expected {");
  refused(image(R"({"__metadata__":{"a":1}})", 0), "not a string");
}

TEST_CASE("checkpoint: bit-exact round trip of an MMoE, manifest contents, atomic files", "[io][checkpoint]") {
  const auto gen = small_data();
  const auto& d = gen.data();
  rng g(7);
  models::mmoe_options o;
  o.embedding.init_stddev = 0.1;
  models::mmoe<float> model(d.get_schema(), o, g);
  rng noise(3);
  nn::visit_buffers(model, [&](const std::string&, matrix<float>& m) { noise.fill_uniform(m, 0.5, 1.5); });

  temp_dir dir("ck");
  io::checkpoint::save(dir.path, model, {.seed = 2022, .encoders = {{"user_id", {"a", "b"}}}, .metadata = {{"note", "x"}}});
  CHECK(fs::exists(dir.path / "model.json"));
  CHECK(fs::exists(io::checkpoint::open(dir.path).weights_path()));
  CHECK(io::checkpoint::open(dir.path).weights_path().filename().string().rfind("weights-", 0) == 0);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 2);
  const auto m = nlohmann::json::parse(slurp(dir.path / "model.json"));
  CHECK(m["format_version"] == 1);
  CHECK(m["model"]["name"] == "mmoe");
  CHECK(m["scalar_type"] == "F32");
  CHECK(m["seed"] == 2022);
  CHECK(m["endianness"] == "little");
  CHECK(m["encoders"]["user_id"][1] == "b");
  CHECK(data::schema::from_json(m["schema"]) == d.get_schema());
  CHECK(m["tensors"].size() == nn::named_parameters(model).size() + 2 * (3 + 3 + 3));  // BN: 3 experts, 3 gates, 3 towers

  auto loaded = io::checkpoint::load<models::mmoe<float>>(dir.path);
  auto a = nn::named_parameters(model), b = nn::named_parameters(loaded);
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].first == b[k].first);
    CHECK(a[k].second->value() == b[k].second->value());
  }
  CHECK(logits_of(model, d) == logits_of(loaded, d));
  CHECK(io::checkpoint::open(dir.path).seed() == 2022);

  // wrong model type / scalar type
  CHECK_THROWS_WITH(io::checkpoint::load<models::shared_bottom<float>>(dir.path), Catch::Contains("holds model 'mmoe'"));
  CHECK_THROWS_WITH(io::checkpoint::load<models::mmoe<double>>(dir.path), Catch::Contains("scalar type"));

  // all or nothing: a model of another shape is refused and left untouched
  models::mmoe_options o2 = o;
  o2.expert_dims = {12};
  rng g2(1);
  models::mmoe<float> other(d.get_schema(), o2, g2);
  const matrix<float> before = nn::named_parameters(other).front().second->value();
  CHECK_THROWS_WITH(io::checkpoint::open(dir.path).restore(other), Catch::Contains("different config"));
  CHECK(nn::named_parameters(other).front().second->value() == before);

  // save again over the same directory (atomic replacement) and reload
  io::checkpoint::save(dir.path, loaded, {.seed = 5});
  CHECK(io::checkpoint::open(dir.path).seed() == 5);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 2);
}

TEST_CASE("checkpoint: truncated, tampered or mismatched files are refused", "[io][checkpoint]") {
  const auto gen = small_data();
  rng g(7);
  models::shared_bottom<double> model(gen.data().get_schema(), {}, g);
  temp_dir dir("tamper");
  io::checkpoint::save(dir.path, model);
  const fs::path wpath = io::checkpoint::open(dir.path).weights_path();
  const std::string weights = slurp(wpath);
  const std::string json = slurp(dir.path / "model.json");
  auto restore_files = [&] {
    spit(wpath, weights);
    spit(dir.path / "model.json", json);
  };
  auto refused = [&](const std::string& why) {
    INFO(why);
    CHECK_THROWS_WITH(io::checkpoint::load<models::shared_bottom<double>>(dir.path), Catch::Contains(why));
    restore_files();
  };
  spit(wpath, weights.substr(0, weights.size() - 9));
  refused("truncated");
  std::string flipped = weights;
  flipped[flipped.size() - 3] ^= 0x10;
  spit(wpath, flipped);
  refused("checksum");
  spit(dir.path / "model.json", json.substr(0, json.size() / 2));
  refused("malformed JSON");
  auto edit = [&](auto&& f, const std::string& why) {
    auto m = nlohmann::json::parse(json);
    f(m);
    spit(dir.path / "model.json", m.dump());
    refused(why);
  };
  edit([](auto& m) { m.erase("tensors"); }, "\"tensors\"");
  edit([](auto& m) { m["format_version"] = 7; }, "newer recblocks");
  edit([](auto& m) { m["endianness"] = "big"; }, "endianness");
  edit([](auto& m) { m["tensors"][0]["shape"] = {1, 1}; }, "manifest says");
  edit([](auto& m) { m["tensors"].erase(0); }, "does not list");
  edit([](auto& m) { m["model"]["config"]["bottom_dims"] = {64}; }, "different config");
  edit([](auto& m) { m["model"]["config"]["bottom_dims"] = "wide"; }, "invalid model config");
  edit([](auto& m) { m["schema"]["features"][0]["vocabulary"] = 3; }, "different config");
  edit([](auto& m) { m["weights"]["bytes"] = 12; }, "bytes");
  fs::remove(wpath);
  refused("cannot read");
}

TEST_CASE("npy: matrix export and import", "[io][npy]") {
  temp_dir dir("npy");
  matrix<double> m(2, 3);
  m << 1, 2, 3, 4, 5, 6.5;
  io::npy::save(dir.path / "m.npy", m);
  CHECK(io::npy::load<double>(dir.path / "m.npy") == m);
  const std::string bytes = slurp(dir.path / "m.npy");
  CHECK(bytes.substr(1, 5) == "NUMPY");
  CHECK(bytes.find("'descr': '<f8'") != std::string::npos);
  CHECK(bytes.find("'shape': (2, 3)") != std::string::npos);
  CHECK_THROWS_WITH(io::npy::load<float>(dir.path / "m.npy"), Catch::Contains("m.npy"));
  xt::xarray<float> v = {1.f, 2.f, 3.f};
  spit(dir.path / "v.npy", xt::dump_npy(v));
  const matrix<float> col = io::npy::load<float>(dir.path / "v.npy");
  CHECK(col.rows() == 3);
  CHECK(col.cols() == 1);
  CHECK(col(2, 0) == 3.f);
  spit(dir.path / "bad.npy", "not numpy");
  CHECK_THROWS_AS(io::npy::load<float>(dir.path / "bad.npy"), io_error);
}
