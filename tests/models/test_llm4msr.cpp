// LLM4MSR (issue 14): the knowledge cache (identity, atomic file, bad input, cold starts) and the
// llm4msr<Backbone> wrapper over several backbones (gradient check in double, bad input, checkpoints
// carrying the knowledge and its identity, moves keeping the hook valid).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <recblocks/data/dataset.hpp>
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/io/knowledge_cache.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/llm4msr.hpp>
#include <recblocks/models/mmoe.hpp>
#include <recblocks/models/ple.hpp>
#include <recblocks/models/registry.hpp>
#include <recblocks/models/shared_bottom.hpp>
#include <recblocks/models/star.hpp>
#include <recblocks/models/epnet.hpp>
#include <recblocks/testing/gradcheck.hpp>

#include "model_test_helpers.hpp"

using namespace recblocks;
namespace fs = std::filesystem;
using recblocks_test::bce;

namespace {

using D = double;

data::schema k_schema() {
  data::schema s;
  s.add({.name = "user_id", .kind = data::feature_kind::sparse, .vocabulary = 7});
  s.add({.name = "age", .kind = data::feature_kind::dense});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 3});
  s.add({.name = "click", .kind = data::feature_kind::label});
  return s;
}

template <class T>
data::batch<T> k_batch(index_t n, std::uint64_t seed) {
  data::dataset ds(k_schema());
  rng g(seed);
  for (index_t i = 0; i < n; ++i) {
    const std::array<index_t, 2> sp{g.integer(0, 6), g.integer(0, 4)};
    const std::array<double, 1> de{g.uniform(-1, 1)};
    const std::array<double, 1> lab{double(g.bernoulli(0.4))};
    ds.append(sp, de, (i * 7 + i / 3) % 3, lab);
  }
  data::batch<T> b;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  ds.gather(std::span<const index_t>(rows), b);
  return b;
}

template <class M>
typename M::options_type tiny() {
  typename M::options_type o;
  o.backbone.embedding.dim = 3;
  o.backbone.embedding.init_stddev = 0.7;
  using B = typename M::backbone_type::options_type;
  if constexpr (std::is_same_v<B, models::shared_bottom_options>) {
    o.backbone.bottom_dims = {4};
    o.backbone.tower_dims = {3};
  } else if constexpr (std::is_same_v<B, models::mmoe_options>) {
    o.backbone.expert_dims = {4};
    o.backbone.tower_dims = {3};
  } else if constexpr (std::is_same_v<B, models::ple_options>) {
    o.backbone.levels = 2;
    o.backbone.expert_dims = {4};
    o.backbone.tower_dims = {3};
  } else if constexpr (std::is_same_v<B, models::star_options>) {
    o.backbone.fcn_dims = {4, 3};
    o.backbone.aux_dims = {3};
  } else if constexpr (std::is_same_v<B, models::epnet_options>) {
    o.backbone.fcn_dims = {4, 3};
  }
  o.meta.user_dim = 5;
  o.meta.scenario_dim = 4;
  o.meta.condition_dim = 3;
  o.meta.rank = 2;
  return o;
}

template <class T>
std::pair<matrix<T>, matrix<T>> knowledge(std::uint64_t seed, index_t users = 7, index_t du = 5, index_t ds = 4) {
  rng g(seed);
  matrix<T> u(users, du), s(3, ds);
  for (index_t i = 0; i < u.size(); ++i) u.data()[i] = static_cast<T>(g.uniform(-1, 1));
  for (index_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<T>(g.uniform(-1, 1));
  return {u, s};
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("recblocks_llm4msr_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

io::knowledge_identity ident(std::string version = "v1") {
  return {.model = "gemma-3-270m-q4_k_m", .source = "hidden_state", .prompt_version = std::move(version), .data_hash = "abc", .dim = 4};
}

}  // namespace

static_assert(models::ctr_model<models::llm4msr<models::star<float>>>);
static_assert(models::ctr_model<models::llm4msr<models::mmoe<double>>>);

TEST_CASE("knowledge_cache: put, table with counted cold starts, atomic file round trip", "[llm4msr][knowledge]") {
  io::knowledge_cache c(ident());
  const std::vector<float> a{1, 2, 3, 4}, b{3, 2, 1, 0};
  c.put("user:1", a);
  c.put("user:2", b);
  CHECK(c.size() == 2);
  CHECK(c.get("user:2")[0] == 3.0f);
  const std::vector<std::string> keys{"user:2", "user:9", "user:1"};
  auto tab = c.table<double>(keys);
  CHECK(tab.missing == 1);
  REQUIRE(tab.missing_keys == std::vector<std::string>{"user:9"});
  CHECK(tab.values(1, 0) == Approx(2.0));  // fallback = mean of the stored vectors
  CHECK(tab.values(1, 3) == Approx(2.0));
  CHECK(tab.values(2, 1) == 2.0);

  const fs::path dir = temp_dir("cache");
  for (bool bf16 : {false, true}) {
    c.save(dir / "k.bin", bf16);
    const auto back = io::knowledge_cache::load(dir / "k.bin", ident());
    CHECK(back.identity() == ident());
    CHECK(back.keys() == c.keys());
    CHECK(back.get("user:1")[3] == 4.0f);  // small integers are exact in bf16 too
  }
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no temporary left
  fs::remove_all(dir);
}

TEST_CASE("knowledge_cache: bad input is refused with clear errors", "[llm4msr][knowledge][errors]") {
  io::knowledge_cache c(ident());
  const std::vector<float> short_v{1, 2, 3};
  CHECK_THROWS_AS(c.put("user:1", short_v), shape_error);
  const std::vector<float> nan_v{1, std::numeric_limits<float>::quiet_NaN(), 3, 4};
  CHECK_THROWS_WITH(c.put("user:3", nan_v), Catch::Contains("user:3") && Catch::Contains("non-finite"));
  CHECK_THROWS_AS(c.get("user:1"), value_error);
  CHECK_THROWS_AS(io::knowledge_cache(io::knowledge_identity{}), value_error);

  const std::vector<float> a{1, 2, 3, 4};
  c.put("user:1", a);
  const fs::path dir = temp_dir("bad");
  c.save(dir / "k.bin");
  // another prompt version / model: refused, both identities named
  CHECK_THROWS_WITH(io::knowledge_cache::load(dir / "k.bin", ident("v2")), Catch::Contains("\"v1\"") && Catch::Contains("\"v2\""));
  auto other = ident();
  other.model = "another-llm";
  CHECK_THROWS_AS(io::knowledge_cache::load(dir / "k.bin", other), io_error);
  // tampered payload, truncated file, not a cache
  std::string bytes;
  {
    std::ifstream f(dir / "k.bin", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto write = [&](const std::string& s) {
    std::ofstream f(dir / "x.bin", std::ios::binary | std::ios::trunc);
    f << s;
  };
  std::string tampered = bytes;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x5a);
  write(tampered);
  CHECK_THROWS_WITH(io::knowledge_cache::load(dir / "x.bin"), Catch::Contains("checksum"));
  write(bytes.substr(0, bytes.size() - 3));
  CHECK_THROWS_WITH(io::knowledge_cache::load(dir / "x.bin"), Catch::Contains("truncated"));
  write("hello\n");
  CHECK_THROWS_AS(io::knowledge_cache::load(dir / "x.bin"), io_error);
  CHECK_THROWS_AS(io::knowledge_cache::load(dir / "missing.bin"), io_error);
  fs::remove_all(dir);
}

#define RECBLOCKS_LLM4MSR_BACKBONES(T) \
  models::llm4msr<models::shared_bottom<T>>, models::llm4msr<models::mmoe<T>>, models::llm4msr<models::ple<T>>, \
      models::llm4msr<models::star<T>>, models::llm4msr<models::epnet<T>>

TEMPLATE_TEST_CASE("llm4msr: end-to-end gradient check over five backbones", "[llm4msr][models][gradcheck]",
                   RECBLOCKS_LLM4MSR_BACKBONES(D)) {
  rng g(5);
  TestType m(k_schema(), tiny<TestType>(), g);
  auto [u, s] = knowledge<D>(3);
  m.attach(u, s, "test");
  const auto b = k_batch<D>(16, 9);
  // EPNet's gate input is a deliberate stop-gradient on the embedding (see test_msr_models.cpp)
  const bool detached_embedding = std::is_same_v<TestType, models::llm4msr<models::epnet<D>>>;
  std::vector<param<D>*> checked;
  for (auto& [name, p] : nn::named_parameters(m))
    if (!(detached_embedding && (name.starts_with("backbone.embedding.") || name.starts_with("user_")))) checked.push_back(p);
  testing::gradcheck_options opt;
  opt.samples_per_param = 3;
  opt.abs_tolerance = 1e-8;
  const auto res = testing::gradcheck<D>([&](tape<D>& t) { return bce(t, m, b); }, checked, opt);
  INFO(res.summary());
  CHECK(res.passed);
  CHECK(res.checked >= 20);
  // the meta networks receive gradients; the knowledge tables are buffers (fixed inputs)
  nn::zero_grad(m);
  tape<D> t;
  t.backward(bce(t, m, b));
  for (auto& [name, p] : nn::named_parameters(m)) {
    INFO(name);
    CHECK(p->dense_grad().cwiseAbs().maxCoeff() > 0.0);
  }
  bool has_knowledge_buffer = false;
  for (auto& [name, buf] : nn::named_buffers(m)) has_knowledge_buffer = has_knowledge_buffer || name == "knowledge_users";
  CHECK(has_knowledge_buffer);
}

TEST_CASE("llm4msr: the knowledge changes the prediction; ablation switches; user-level only", "[llm4msr][models]") {
  using M = models::llm4msr<models::star<D>>;
  auto o = tiny<M>();
  for (int level = 0; level < 3; ++level) {
    o.meta.user_level = level != 2;
    o.meta.scenario_level = level != 1;
    rng g(5);
    M m(k_schema(), o, g);
    auto [u, s] = knowledge<D>(3);
    m.attach(u, s);
    const auto b = k_batch<D>(12, 4);
    tape<D> t(tape_mode::infer);
    const matrix<D> z1 = m(t, b).value();
    t.reset();
    auto [u2, s2] = knowledge<D>(8);
    m.attach(u2, s2);
    const matrix<D> z2 = m(t, b).value();
    INFO("level " << level);
    CHECK((z1 - z2).cwiseAbs().maxCoeff() > 1e-9);
    bool has_user = false, has_scen = false;
    for (auto& [name, p] : nn::named_parameters(m)) {
      has_user = has_user || name.starts_with("user_meta");
      has_scen = has_scen || name.starts_with("scenario_meta");
    }
    CHECK(has_user == o.meta.user_level);
    CHECK(has_scen == o.meta.scenario_level);
  }
}

TEST_CASE("llm4msr: bad input and missing knowledge", "[llm4msr][models][errors]") {
  using M = models::llm4msr<models::mmoe<float>>;
  auto o = tiny<M>();
  rng g(1);
  M m(k_schema(), o, g);
  const auto b = k_batch<float>(8, 2);
  tape<float> t;
  CHECK_THROWS_AS(m(t, b), state_error);  // nothing attached
  auto [u, s] = knowledge<float>(3);
  CHECK_THROWS_AS(m.attach(knowledge<float>(3, 7, 6).first, s), shape_error);   // wrong user dimension
  CHECK_THROWS_AS(m.attach(u, knowledge<float>(3, 7, 5, 2).second), shape_error);  // wrong scenario dimension
  CHECK_THROWS_AS(m.attach(knowledge<float>(3, 6).first, s), shape_error);        // fewer users than the vocabulary
  matrix<float> bad = u;
  bad(2, 1) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(m.attach(bad, s), Catch::Contains("non-finite"));
  m.attach(u, s, "{\"model\":\"a\"}");
  CHECK_THROWS_WITH(m.attach(u, s, "{\"model\":\"b\"}"), Catch::Contains("\"a\"") && Catch::Contains("\"b\""));
  t.reset();
  CHECK(m(t, b).rows == 8);
  auto bad_b = b;
  bad_b.scenario[3] = 5;
  t.reset();
  CHECK_THROWS_AS(m(t, bad_b), value_error);
  // construction
  auto o2 = o;
  o2.meta.user_field = "item_typo";
  CHECK_THROWS_WITH(M(k_schema(), o2, g), Catch::Contains("item_typo"));
  o2 = o;
  o2.meta.rank = 0;
  CHECK_THROWS_AS(M(k_schema(), o2, g), value_error);
  CHECK_THROWS_AS(M::options_type::from_json(nlohmann::json{{"meta", {{"rnak", 3}}}}), parse_error);
}

TEST_CASE("llm4msr: checkpoints carry the vectors and the cache identity; moves keep the hook", "[llm4msr][models][io]") {
  using M = models::llm4msr<models::ple<float>>;
  rng g(2);
  M m(k_schema(), tiny<M>(), g);
  auto [u, s] = knowledge<float>(3);
  const std::string id = ident().to_string();
  m.attach(u, s, id);
  const auto b = k_batch<float>(10, 6);
  tape<float> t(tape_mode::infer);
  const matrix<float> z = m(t, b).value();
  t.reset();
  M moved = std::move(m);  // the hook lives on the heap: still valid
  CHECK((moved(t, b).value() - z).cwiseAbs().maxCoeff() == 0.0f);
  const fs::path dir = temp_dir("ckpt");
  io::checkpoint::save(dir, moved);
  M back = io::checkpoint::load<M>(dir);
  CHECK(back.attached());
  CHECK(back.options().meta.knowledge == id);
  CHECK(back.config()["meta"]["knowledge"] == id);
  t.reset();
  CHECK((back(t, b).value() - z).cwiseAbs().maxCoeff() == 0.0f);
  CHECK_THROWS_AS(back.attach(u, s, ident("v2").to_string()), value_error);  // another cache: refused
  fs::remove_all(dir);
}

TEST_CASE("llm4msr: registry names", "[llm4msr][models][registry]") {
  CHECK(models::registry::llm4msr_names().size() >= 4);
  CHECK(models::registry::canonical_llm4msr("LLM4MSR_STAR") == "llm4msr_star");
  CHECK_THROWS_AS(models::registry::canonical_llm4msr("llm4msr_nope"), value_error);
  rng g(3);
  nlohmann::json o = {{"backbone", {{"fcn_dims", {4}}, {"aux_dims", {3}}}},
                      {"meta", {{"user_dim", 5}, {"scenario_dim", 4}, {"condition_dim", 3}, {"rank", 2}}}};
  const std::string got = models::registry::visit_llm4msr<float>("llm4msr_star", k_schema(), o, g, [&](auto& m) {
    auto [u, s] = knowledge<float>(3);
    m.attach(u, s);
    tape<float> t(tape_mode::infer);
    CHECK(m(t, k_batch<float>(6, 1)).rows == 6);
    return std::string(std::remove_reference_t<decltype(m)>::backbone_type::name);
  });
  CHECK(got == "star");
}
