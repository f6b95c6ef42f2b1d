// Main of test_mpi (run under mpirun): MPI_Init, then Catch2 on every rank. Modes that end the job
// on purpose (the failure tests) run before Catch2 and print what the ctest test matches.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <recblocks/dist/communicator.hpp>


namespace {

// A rank that hangs: rank 1 sleeps through the collective; the others must throw timeout_error
// within the timeout (seconds in argv) and end the job.
int hang_mode(double timeout) {
  recblocks::dist::communicator comm(MPI_COMM_WORLD, {.timeout_seconds = timeout});
  std::vector<float> g(1000, 1.0f);
  if (comm.rank() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(120));  // hung: never joins
    return 0;
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    comm.allreduce_sum(std::span<float>(g), "dense gradient all-reduce");
  } catch (const recblocks::dist::timeout_error& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("rank %d: timeout_error after %.2f s (limit %.1f s): %s\n", comm.rank(), s, timeout, e.what());
    std::fflush(stdout);
    comm.abort(3);
  }
  std::printf("rank %d: the collective completed although rank 1 hangs\n", comm.rank());
  return 1;
}

// A rank that dies: rank 1 exits without MPI_Finalize in the middle of training; mpirun must end
// the job (non-zero exit) instead of leaving rank 0 blocked.
int die_mode(double timeout) {
  recblocks::dist::communicator comm(MPI_COMM_WORLD, {.timeout_seconds = timeout});
  std::vector<float> g(1000, 1.0f);
  comm.allreduce_sum(std::span<float>(g), "warm-up");
  if (comm.rank() == 1) std::_Exit(7);
  try {
    for (int k = 0; k < 1000; ++k) comm.allreduce_sum(std::span<float>(g), "dense gradient all-reduce");
  } catch (const recblocks::dist::comm_error& e) {
    std::printf("rank %d: %s\n", comm.rank(), e.what());
    std::fflush(stdout);
    comm.abort(3);
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 0;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--hang" || mode == "--die") {
    const double timeout = argc > 2 ? std::atof(argv[2]) : 3.0;
    rc = mode == "--hang" ? hang_mode(timeout) : die_mode(timeout);
  } else {
    // every rank runs every test (the collectives need all of them) and reports its own failures
    Catch::Session session;
    rc = session.run(argc, argv);
    // a failure on any rank fails the run on rank 0
    int mine = rc, worst = 0;
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    rc = worst;
  }
  MPI_Finalize();
  return rc;
}
