// Options described once (issue 10, part 1): to_json / from_json generated from one table per
// options struct, unknown keys rejected on every load path, reference spellings as JSON aliases.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/models/registry.hpp>

using namespace recblocks;

namespace {
data::schema opt_schema() {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 7});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 2});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}
}  // namespace

TEST_CASE("every model's options round-trip and reject unknown keys", "[options]") {
  const data::schema s = opt_schema();
  for (const auto& name : models::registry::names()) {
    INFO(name);
    rng gen(1);
    models::registry::visit<float>(name, s, nlohmann::json::object(), gen, [&](auto& m) {
      using O = typename std::remove_reference_t<decltype(m)>::options_type;
      const nlohmann::json j = m.config();
      CHECK(O::from_json(j).to_json() == j);
      nlohmann::json bad = j;
      bad["no_such_option"] = 1;
      CHECK_THROWS_WITH(O::from_json(bad), Catch::Contains("unknown config key \"no_such_option\""));
      nlohmann::json bad_nested = j;
      bad_nested["embedding"]["dimension"] = 8;  // misspelt "dim" inside the nested options
      CHECK_THROWS_AS(O::from_json(bad_nested), parse_error);
      return 0;
    });
    rng g2(1);
    CHECK_THROWS_AS(models::registry::visit<float>(name, s, {{"typo_key", 3}}, g2, [](auto&) { return 0; }), parse_error);
  }
}

TEST_CASE("one C++ spelling per concept, the reference spellings as JSON aliases", "[options]") {
  CHECK(models::mmoe_options::from_json({{"n_expert", 3}}).experts == 3);
  CHECK(models::mmoe_options::from_json({{"experts", 3}}).experts == 3);
  CHECK(models::m2m_options::from_json({{"num_experts", 5}}).experts == 5);
  CHECK(models::m3oe_options::from_json({{"expert_num", 6}}).experts == 6);
  const auto ple = models::ple_options::from_json({{"n_level", 2}, {"n_expert_specific", 3}, {"n_expert_shared", 4}});
  CHECK(ple.levels == 2);
  CHECK(ple.specific_experts == 3);
  CHECK(ple.shared_experts == 4);
  CHECK(models::adasparse_options::from_json({{"mlp_dims", {8, 4}}}).fcn_dims == std::vector<index_t>{8, 4});
  // to_json writes the one spelling
  CHECK(models::mmoe_options{}.to_json().contains("experts"));
  CHECK_FALSE(models::mmoe_options{}.to_json().contains("n_expert"));
  // a name given twice is ambiguous
  CHECK_THROWS_WITH(models::mmoe_options::from_json({{"n_expert", 3}, {"experts", 4}}), Catch::Contains("name the same option"));
  // wrong types name the key
  CHECK_THROWS_WITH(models::mmoe_options::from_json({{"experts", "three"}}), Catch::Contains("\"experts\""));
  CHECK_THROWS_AS(models::mmoe_options::from_json({{"activation", "nonsense"}}), parse_error);
  CHECK_THROWS_AS(models::mmoe_options::from_json(nlohmann::json::array()), parse_error);
}

TEST_CASE("checkpoint loading rejects an unknown config key", "[options][checkpoint]") {
  const data::schema s = opt_schema();
  rng gen(4);
  models::mmoe<float> m(s, {}, gen);
  const auto dir = std::filesystem::temp_directory_path() / "recblocks_options_ckpt";
  std::filesystem::remove_all(dir);
  io::checkpoint::save(dir, m);
  CHECK_NOTHROW(io::checkpoint::load<models::mmoe<float>>(dir));
  nlohmann::json mj;
  {
    std::ifstream in(dir / "model.json");
    in >> mj;
  }
  mj["model"]["config"]["n_experts"] = 2;  // a plausible misspelling: refused, not ignored
  {
    std::ofstream out(dir / "model.json");
    out << mj.dump(2);
  }
  CHECK_THROWS_WITH(io::checkpoint::load<models::mmoe<float>>(dir), Catch::Contains("n_experts"));
  std::filesystem::remove_all(dir);
}
