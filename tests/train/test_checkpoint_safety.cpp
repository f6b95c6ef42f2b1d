// io::checkpoint under hostile conditions: a save killed at every write/rename boundary and at random
// instants never loses both the old and the new checkpoint; leftovers of killed saves are ignored and
// cleaned; an edited model.json cannot make the loader allocate what the weights do not hold, and its
// config is checked key by key (issue 25, items 1, 5 and 13).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <recblocks/data/batcher.hpp>
#include <recblocks/data/synthetic.hpp>
#include <recblocks/io.hpp>
#include <recblocks/models.hpp>
#include <recblocks/models/registry.hpp>

#include "checkpoint_test_helpers.hpp"

using namespace recblocks;
namespace fs = std::filesystem;
using recblocks_test::slurp;
using recblocks_test::spit;
using recblocks_test::temp_dir;

namespace {

using model_type = models::shared_bottom<float>;

data::schema small_schema(index_t vocabulary = 50) {
  data::schema s;
  s.add({.name = "u", .kind = data::feature_kind::sparse, .vocabulary = vocabulary});
  s.add({.name = "i", .kind = data::feature_kind::sparse, .vocabulary = 40});
  s.add({.name = "x", .kind = data::feature_kind::dense});
  s.add({.name = "s", .kind = data::feature_kind::scenario, .scenarios = 2});
  s.add({.name = "y", .kind = data::feature_kind::label});
  return s;
}

model_type small_model(std::uint64_t seed) {
  models::shared_bottom_options o;
  o.embedding.dim = 4;
  o.bottom_dims = {8};
  o.tower_dims = {4};
  rng g(seed);
  return model_type(small_schema(), o, g);
}

bool same_weights(const model_type& a, const model_type& b) {
  auto x = nn::named_parameters(const_cast<model_type&>(a)), y = nn::named_parameters(const_cast<model_type&>(b));
  if (x.size() != y.size()) return false;
  for (std::size_t k = 0; k < x.size(); ++k)
    if (x[k].first != y[k].first || x[k].second->value() != y[k].second->value()) return false;
  return true;
}

/// 'A' or 'B' when the directory loads as that model, 'X' when it does not load (a lost checkpoint).
char which(const fs::path& dir, const model_type& a, const model_type& b, std::string* why = nullptr) {
  try {
    const model_type m = io::checkpoint::load<model_type>(dir);
    return same_weights(m, a) ? 'A' : same_weights(m, b) ? 'B' : 'X';
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return 'X';
  }
}

// Fault injection in the child: kill the process at the k-th boundary.
int kill_at = -1;
int boundaries_seen = 0;
void kill_at_boundary(const char*) {
  if (boundaries_seen++ == kill_at) ::kill(::getpid(), SIGKILL);
}

std::size_t files_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

}  // namespace

TEST_CASE("checkpoint: a save killed at every write/rename boundary leaves the old or the new checkpoint",
          "[io][checkpoint][hostile]") {
  const model_type a = small_model(1), b = small_model(2);
  REQUIRE_FALSE(same_weights(a, b));
  temp_dir dir("kill_boundary");
  std::string outcomes;
  int k = 0;
  for (;; ++k) {
    REQUIRE(k < 100);
    fs::remove_all(dir.path);
    io::checkpoint::save(dir.path, a);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      kill_at = k;
      io::detail::fault_hook = &kill_at_boundary;
      try {
        io::checkpoint::save(dir.path, b);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    std::string why;
    const char got = which(dir.path, a, b, &why);
    INFO("killed at boundary " << k << ": " << why);
    CHECK(got != 'X');
    outcomes += got;
    if (WIFEXITED(status)) {
      REQUIRE(WEXITSTATUS(status) == 0);
      CHECK(got == 'B');
      break;  // the save ran past every boundary
    }
    REQUIRE(WIFSIGNALED(status));
    // leftovers of the killed save are ignored by readers and removed by the next save
    io::checkpoint::save(dir.path, b);
    CHECK(files_in(dir.path) == 2);
    CHECK(which(dir.path, a, b) == 'B');
  }
  INFO("outcomes per boundary: " << outcomes);
  CHECK(k >= 9);  // weights: created, half, written, renamed; model.json: the same; removal; complete
  CHECK(outcomes.front() == 'A');
  CHECK(outcomes.back() == 'B');
  CHECK(outcomes.find("AB") != std::string::npos);
  CHECK(outcomes.find("BA") == std::string::npos);  // once committed, never rolled back
}

TEST_CASE("checkpoint: 200 saves killed at random instants never lose both checkpoints", "[io][checkpoint][hostile]") {
  const model_type a = small_model(1), b = small_model(2);
  temp_dir dir("kill_random");
  io::checkpoint::save(dir.path, a);
  // the time of one save on this machine scales the random delays
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) io::checkpoint::save(dir.path, i % 2 ? a : b);
  const double save_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 10;
  std::mt19937_64 gen(25);
  std::uniform_real_distribution<double> delay(0.0, 4.0 * save_us + 2000.0);  // + fork and start-up
  int lost = 0, as = 0, bs = 0;
  for (int run = 0; run < 200; ++run) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int i = 0;; ++i) {
        try {
          io::checkpoint::save(dir.path, i % 2 ? a : b);
        } catch (...) {
          ::_exit(3);
        }
      }
    }
    ::usleep(static_cast<useconds_t>(delay(gen)));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    std::string why;
    const char got = which(dir.path, a, b, &why);
    INFO("run " << run << ": " << why);
    CHECK(got != 'X');
    lost += got == 'X';
    as += got == 'A';
    bs += got == 'B';
  }
  INFO("one save " << save_us << " us; outcomes A " << as << ", B " << bs << ", lost " << lost);
  CHECK(lost == 0);
  CHECK(as + bs == 200);
  // leftover temporary files never disturb a later save
  io::checkpoint::save(dir.path, b);
  CHECK(files_in(dir.path) == 2);
  CHECK(which(dir.path, a, b) == 'B');
}

TEST_CASE("checkpoint: checkpoints with the earlier weights.safetensors name still load", "[io][checkpoint]") {
  const model_type a = small_model(1), b = small_model(2);
  temp_dir dir("legacy");
  io::checkpoint::save(dir.path, a);
  const fs::path w = io::checkpoint::open(dir.path).weights_path();
  auto m = nlohmann::json::parse(slurp(dir.path / "model.json"));
  m["weights"]["file"] = "weights.safetensors";
  fs::rename(w, dir.path / "weights.safetensors");
  spit(dir.path / "model.json", m.dump());
  CHECK(which(dir.path, a, b) == 'A');
  // a name that is neither the legacy one nor the checksum's is refused (no path games)
  m["weights"]["file"] = "../elsewhere.safetensors";
  spit(dir.path / "model.json", m.dump());
  CHECK_THROWS_WITH(io::checkpoint::open(dir.path), Catch::Contains("\"file\""));
  // saving over a legacy checkpoint removes the legacy weights file once the new one is committed
  io::checkpoint::save(dir.path, b);
  CHECK_FALSE(fs::exists(dir.path / "weights.safetensors"));
  CHECK(files_in(dir.path) == 2);
  CHECK(which(dir.path, a, b) == 'B');
}

TEST_CASE("checkpoint: sizes in model.json are checked against the weights before anything is allocated",
          "[io][checkpoint][hostile]") {
  const model_type a = small_model(1);
  temp_dir dir("sizes");
  io::checkpoint::save(dir.path, a);
  const std::string json = slurp(dir.path / "model.json");
  auto edited = [&](auto&& f) {
    auto m = nlohmann::json::parse(json);
    f(m);
    spit(dir.path / "model.json", m.dump());
  };
  auto refused = [&](const std::string& why) {
    INFO(why);
    try {
      (void)io::checkpoint::load<model_type>(dir.path);
      FAIL("loaded");
    } catch (const io_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(why));
    } catch (const std::exception& e) {  // std::bad_alloc, another error type: a bug
      FAIL(std::string("not an io_error: ") + e.what());
    }
  };
  // the vocabulary of issue 25: 30,000,000 rows in a checkpoint of a few KB
  edited([](auto& m) { m["schema"]["features"][0]["vocabulary"] = 30'000'000; });
  refused("vocabulary 30000000");
  edited([](auto& m) { m["schema"]["features"][0]["vocabulary"] = 1ll << 40; });
  refused("vocabulary 1099511627776");
  edited([](auto& m) { m["schema"]["features"][3]["scenarios"] = 1ll << 40; });
  refused("scenarios");
  edited([](auto& m) { m["model"]["config"]["embedding"]["dim"] = 1ll << 40; });
  refused("embedding dim");
  edited([](auto& m) { m["model"]["config"]["bottom_dims"] = {1ll << 40}; });
  refused("config.bottom_dims[0]");
  edited([](auto& m) { m["model"]["config"]["tower_dims"] = {4, 1ll << 33}; });
  refused("config.tower_dims[1]");
  // negative and zero widths (found by fuzz_model_json: a negative width reached Eigen's size assertion)
  edited([](auto& m) { m["model"]["config"]["bottom_dims"] = {-76}; });
  refused("linear: in and out must be positive");
  edited([](auto& m) { m["model"]["config"]["tower_dims"] = {0}; });
  refused("linear: in and out must be positive");
  // silent acceptance (item 13): unknown keys and non-integers where integers belong
  edited([](auto& m) { m["model"]["config"]["embedding"]["dim"] = 16.5; });
  refused("expected an integer, got 16.5");
  edited([](auto& m) { m["model"]["config"]["bottom_dim"] = {8}; });
  refused("unknown config key \"bottom_dim\"");
  edited([](auto& m) { m["model"]["config"]["embedding"]["dimension"] = 4; });
  refused("unknown config key \"dimension\"");
  edited([](auto& m) { m["model"]["config"]["bottom_dims"] = {8.5}; });
  refused("expected integers");
  // the untouched file still loads
  spit(dir.path / "model.json", json);
  CHECK(same_weights(io::checkpoint::load<model_type>(dir.path), a));
}

TEST_CASE("checkpoint: all twelve models round-trip under the size and config checks", "[io][checkpoint]") {
  const data::schema s = small_schema();
  temp_dir dir("twelve");
  for (const auto& name : models::registry::names()) {
    INFO(name);
    rng g(3);
    models::registry::visit<float>(name, s, models::registry::preset_options(name, models::preset::kuairand), g, [&](auto& m) {
      using M = std::remove_reference_t<decltype(m)>;
      io::checkpoint::save(dir.path, m);
      M back = io::checkpoint::load<M>(dir.path);
      CHECK(nn::parameter_count(back) == nn::parameter_count(m));
      return 0;
    });
  }
}

TEST_CASE("checkpoint: every integer of every model's config set to -1 or 0 is refused or gives a working model",
          "[io][checkpoint][hostile]") {
  // Generalises what fuzz_model_json found on shared_bottom (a negative width reached Eigen's size
  // assertion): each of the twelve models, each integer anywhere in its stored config, -1 and 0. The
  // loader must throw a recblocks::error, or load a model that runs a training step and an inference
  // pass without crashing (a crash here fails the whole test binary, under ASan too).
  data::synthetic_config cfg;
  cfg.rows = 64;
  cfg.users = 20;
  cfg.items = 30;
  const data::synthetic syn(cfg);
  const data::dataset& d = syn.data();
  data::batch<float> b;
  data::batcher<float>(d, 32, false, 0).next(b);
  temp_dir dir("hostile_configs");
  for (const auto& name : models::registry::names()) {
    rng g(5);
    models::registry::visit<float>(name, d.get_schema(), models::registry::preset_options(name, models::preset::kuairand), g,
                                   [&](auto& m) {
      using M = std::remove_reference_t<decltype(m)>;
      io::checkpoint::save(dir.path, m);
      const auto original = nlohmann::json::parse(slurp(dir.path / "model.json"));
      const nlohmann::json flat = original["model"]["config"].flatten();
      int refused = 0, loaded = 0;
      for (auto it = flat.begin(); it != flat.end(); ++it) {
        if (!it.value().is_number_integer()) continue;
        for (const int value : {-1, 0}) {
          INFO(name << " config" << it.key() << " = " << value);
          auto edited = original;
          edited["model"]["config"][nlohmann::json::json_pointer(it.key())] = value;
          spit(dir.path / "model.json", edited.dump());
          try {
            M back = io::checkpoint::load<M>(dir.path);
            tape<float> t;
            t.backward(loss::bce_with_logits(t, back(t, b), t.view(b.labels.data(), b.size, 1)));
            tape<float> ti(tape_mode::infer);
            const var<float> z = back(ti, b);
            CHECK(z.rows == b.size);
            ++loaded;
          } catch (const recblocks::error&) {
            ++refused;
          }
        }
      }
      INFO(name << ": " << refused << " edits refused, " << loaded << " loaded");
      CHECK(refused > 0);  // at least the widths and the embedding dim must be refused at -1
      return 0;
    });
  }
}
