// Sharded checkpoints (issue 22): written by n ranks, committed atomically, restored on n ranks with
// another sharding, on one process without MPI, and (through $RECBLOCKS_MPI_CHECKPOINT_DIR, set by
// ctest) the checkpoint of the 2-rank run restored on 3 ranks.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <recblocks/dist/data_parallel_trainer.hpp>
#include <recblocks/dist/sharded_checkpoint.hpp>
#include <recblocks/train/trainer.hpp>

#include "mpi_fixtures.hpp"

using namespace recblocks;
using namespace recblocks_mpi_tests;
namespace fs = std::filesystem;

namespace {

train::trainer_options twenty_steps() {
  train::trainer_options o;
  o.epochs = 2;
  o.batch_size = 256;
  o.patience = 0;
  o.restore_best = false;
  o.learning_rate = 1e-2;
  return o;
}

fs::path base_dir() {
  if (const char* e = std::getenv("RECBLOCKS_MPI_CHECKPOINT_DIR")) return e;
  return fs::temp_directory_path() / "recblocks_mpi_checkpoint_test";
}

std::vector<float> plain_predictions(models::mmoe<float>& m) {
  train::trainer<models::mmoe<float>> tr(m, twenty_steps());
  return tr.predict(splits().parts[1]);
}

void check_same(const std::vector<float>& a, const std::vector<float>& b, double tol) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  CHECK(worst <= tol);
}

}  // namespace

TEST_CASE("sharded checkpoint: save on n ranks, restore resharded, on one process, after a crash", "[mpi][checkpoint]") {
  dist::communicator comm;
  const auto& train = splits().parts[0];
  const auto& valid = splits().parts[1];
  const fs::path dir = base_dir() / ("np" + std::to_string(comm.size()));
  if (comm.rank() == 0) fs::remove_all(dir);
  comm.barrier("test clean");

  auto model = make_model();
  dist::data_parallel_trainer<models::mmoe<float>> tr(model, comm, {.train = twenty_steps(), .sharded_fields = {"user_id", "item_id"}});
  tr.fit(train);
  const std::vector<float> want = tr.predict(valid);
  const std::vector<float> first(want.begin(), want.begin() + 50);
  const fs::path folder = dist::sharded_checkpoint::save(dir, tr, {{"predictions", first}});
  REQUIRE(fs::exists(folder / "manifest.json"));
  REQUIRE(dist::sharded_checkpoint::latest(dir) == folder);
  const auto man = dist::sharded_checkpoint::manifest(dir);
  CHECK(man["ranks"] == comm.size());
  CHECK(man["step"] == 20);
  CHECK(man["files"].size() == std::size_t(comm.size()) + 1);

  SECTION("restored on the same ranks with another sharding (range instead of modulo, one more table)") {
    auto other = make_model();
    dist::data_parallel_trainer<models::mmoe<float>> tr2(
        other, comm, {.train = twenty_steps(), .sharded_fields = {"item_id", "context"}, .scheme = dist::shard_scheme::range});
    dist::sharded_checkpoint::restore(dir, tr2);
    check_same(tr2.predict(valid), want, 0.0);  // bit for bit
  }
  SECTION("restored on one process into a plain model, no MPI") {
    auto plain = make_model();
    dist::sharded_checkpoint::restore_model(dir, plain);
    check_same(plain_predictions(plain), want, 1e-6);
  }
  SECTION("a crash mid-save leaves the previous checkpoint loadable; tampering is detected") {
    if (comm.rank() == 0) {
      // a save killed before its commit: a partial folder with a torn file, LATEST unchanged
      fs::create_directories(dir / "step-00000099.partial");
      std::ofstream(dir / "step-00000099.partial" / "rank-0.safetensors") << "torn";
      // a tampered copy of the committed checkpoint
      fs::copy(dir, dir.string() + "_tampered", fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      const fs::path f = fs::path(dir.string() + "_tampered") / folder.filename() / "rank-0.safetensors";
      std::fstream s(f, std::ios::in | std::ios::out | std::ios::binary);
      s.seekp(-3, std::ios::end);
      s.put('\x7f');
    }
    comm.barrier("test crash setup");
    auto plain = make_model();
    dist::sharded_checkpoint::restore_model(dir, plain);
    check_same(plain_predictions(plain), want, 1e-6);
    auto broken = make_model();
    CHECK_THROWS_AS(dist::sharded_checkpoint::restore_model(dir.string() + "_tampered", broken), io_error);
    // the next save commits and removes the partial folder
    dist::sharded_checkpoint::save(dir, tr, {{"predictions", first}});
    comm.barrier("test after save");
    CHECK_FALSE(fs::exists(dir / "step-00000099.partial"));
    CHECK(fs::exists(dist::sharded_checkpoint::latest(dir) / "manifest.json"));
  }
  comm.barrier("test end");

  // N -> M: the 2-rank run's checkpoint restored here (ctest runs np2 before np3 in one folder)
  const fs::path from2 = base_dir() / "np2";
  if (comm.size() != 2 && fs::exists(from2 / "LATEST")) {
    const auto m2 = dist::sharded_checkpoint::manifest(from2);
    REQUIRE(m2["ranks"] == 2);
    auto other = make_model();
    dist::data_parallel_trainer<models::mmoe<float>> tr3(other, comm, {.train = twenty_steps(), .sharded_fields = {"user_id"}});
    dist::sharded_checkpoint::restore(from2, tr3);
    const auto got = tr3.predict(valid);
    const auto stored = m2["metadata"]["predictions"].get<std::vector<float>>();
    check_same(std::vector<float>(got.begin(), got.begin() + 50), stored, 0.0);
    WARN("restored the 2-rank checkpoint on " << comm.size() << " ranks: the first 50 predictions equal bit for bit");
  }
}
