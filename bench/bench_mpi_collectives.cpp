// The collectives of dist/communicator on this machine (issue 22, docs/scaling.md): per message
// size, the median time of all-reduce (float sum) and all-to-all (equal blocks) over `reps` calls,
// one JSON line per size on rank 0; tools/scaling_fit.py fits alpha (latency) and beta (bandwidth).
//
//   mpirun -np 2 bench_mpi_collectives [reps]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <recblocks/dist/communicator.hpp>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  {
    recblocks::dist::communicator comm(MPI_COMM_WORLD, {.timeout_seconds = 120});
    const int reps = argc > 1 ? std::atoi(argv[1]) : 9;
    const int n = comm.size();
    for (std::size_t bytes : {std::size_t(4) << 10, std::size_t(64) << 10, std::size_t(1) << 20, std::size_t(4) << 20,
                              std::size_t(16) << 20, std::size_t(64) << 20}) {
      std::vector<float> buf(bytes / sizeof(float), 1.0f);
      std::vector<std::vector<float>> blocks(static_cast<std::size_t>(n), std::vector<float>(bytes / sizeof(float) / std::size_t(n), 1.0f));
      std::vector<double> ar, a2a;
      for (int r = 0; r < reps; ++r) {
        comm.barrier("bench sync");
        auto t0 = std::chrono::steady_clock::now();
        comm.allreduce_sum(std::span<float>(buf), "bench all-reduce");
        ar.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        comm.barrier("bench sync");
        t0 = std::chrono::steady_clock::now();
        (void)comm.alltoallv(blocks, "bench all-to-all");
        a2a.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(ar.begin(), ar.end());
      std::sort(a2a.begin(), a2a.end());
      if (comm.rank() == 0)
        std::printf("{\"ranks\": %d, \"bytes\": %zu, \"allreduce_median_s\": %.6g, \"allreduce_min_s\": %.6g, "
                    "\"alltoall_median_s\": %.6g, \"alltoall_min_s\": %.6g}\n",
                    n, bytes, ar[ar.size() / 2], ar.front(), a2a[a2a.size() / 2], a2a.front());
    }
  }
  MPI_Finalize();
  return 0;
}
