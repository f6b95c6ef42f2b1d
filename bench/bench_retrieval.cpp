// hnsw_index (recblocks wrapper) vs raw hnswlib 0.6.2 on the SAME graph, one process, one thread.
//
// Data: n x 64 float (default 100,000), "lowrank" (x = A z + 0.05 noise, z ~ N(0, I_12), A 64x12
// Gaussian; like learned embeddings) or "uniform" [0,1)^64. M = 16, ef_construction = 200, L2.
// The wrapper builds the index; its saved hnswlib payload is loaded into a raw
// hnswlib::HierarchicalNSW, so both search the identical graph and get identical recall. For each ef:
// recall@10 against exact search (retrieval::topk), and queries per second of one search per query
// (raw: setEf + searchKnn; wrapper: search(query, 10, ef) on the index loaded from the saved file),
// alternating passes (and which side goes first), median of passes.
// QPS is computed from the thread's CPU time (wall-clock QPS is printed too), so other processes on
// a shared machine do not bias the ratio.
//
// Usage: bench_retrieval [n] [lowrank|uniform] [queries] [passes]
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "recblocks/retrieval/hnsw_index.hpp"
#include "recblocks/retrieval/topk.hpp"

using recblocks::index_t;
using recblocks::matrix;
namespace rr = recblocks::retrieval;

namespace {
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
// CPU time of this thread: robust against other processes sharing the cores
double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
matrix<float> make(index_t n, index_t d, bool uniform, std::mt19937_64& gen, const matrix<float>& a) {
  matrix<float> x(n, d);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> ud(0.f, 1.f);
  Eigen::VectorXf z(a.cols());
  for (index_t i = 0; i < n; ++i) {
    if (uniform) {
      for (index_t j = 0; j < d; ++j) x(i, j) = ud(gen);
    } else {
      for (index_t j = 0; j < z.size(); ++j) z[j] = nd(gen);
      x.row(i) = (a * z).transpose();
      for (index_t j = 0; j < d; ++j) x(i, j) += 0.05f * nd(gen);
    }
  }
  return x;
}
}  // namespace

int main(int argc, char** argv) {
  const index_t n = argc > 1 ? std::atoll(argv[1]) : 100000;
  const bool uniform = argc > 2 && std::string(argv[2]) == "uniform";
  const index_t nq = argc > 3 ? std::atoll(argv[3]) : 2000;
  const int passes = argc > 4 ? std::atoi(argv[4]) : 3;
  const index_t d = 64, k = 10;
  std::mt19937_64 gen(7);
  matrix<float> a(d, 12);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (index_t i = 0; i < a.size(); ++i) a.data()[i] = nd(gen);
  const matrix<float> x = make(n, d, uniform, gen, a), q = make(nq, d, uniform, gen, a);
  std::printf("data %s n=%lld d=64 queries=%lld passes=%d M=16 efC=200 (one thread)\n", uniform ? "uniform" : "lowrank",
              static_cast<long long>(n), static_cast<long long>(nq), passes);

  auto t0 = std::chrono::steady_clock::now();
  rr::hnsw_index idx({.dim = d, .m = 16, .ef_construction = 200, .capacity = n});
  idx.add(x);
  std::printf("build (wrapper add) %.2f s wall\n", since(t0));
  std::fflush(stdout);

  // the identical graph in raw hnswlib
  const std::string path = (std::filesystem::temp_directory_path() / "recblocks_bench_hnsw.bin").string();
  const std::string raw_path = path + ".raw";
  idx.save(path);
  {
    std::ifstream in(path, std::ios::binary);
    std::ofstream out(raw_path, std::ios::binary);
    in.seekg(72);
    out << in.rdbuf();
  }
  hnswlib::L2Space space(static_cast<std::size_t>(d));
  hnswlib::HierarchicalNSW<float> raw(&space, raw_path, false, static_cast<std::size_t>(n));
  // the wrapper searches the loaded copy too, so both graphs have the same memory layout
  // (an index built by incremental adds has its link lists scattered over the heap)
  t0 = std::chrono::steady_clock::now();
  const auto loaded = rr::hnsw_index::load(path);
  std::printf("wrapper load (validated) %.3f s wall\n", since(t0));
  std::filesystem::remove(path);
  std::filesystem::remove(raw_path);

  t0 = std::chrono::steady_clock::now();
  const auto truth = rr::topk<float>(x, rr::topk_metric::l2).search(q, k);
  std::printf("exact top-10 (topk, GEMM) %.2f s = %.0f QPS\n", since(t0), nq / since(t0));

  std::printf("%6s %10s %12s %12s %8s %14s %14s\n", "ef", "recall@10", "raw QPS", "wrapper QPS", "ratio",
              "raw wall QPS", "wrap wall QPS");
  for (index_t ef : {16, 32, 64, 128, 256}) {
    std::vector<double> q_raw, q_ours, w_raw, w_ours;
    double rec_raw = 0, rec_ours = 0;
    volatile std::size_t sink = 0;
    for (int p = 0; p < passes; ++p) {
      auto run_wrapper = [&] {
        auto t = std::chrono::steady_clock::now();
        const double c0 = cpu_now();
        double hits = 0;
        for (index_t i = 0; i < nq; ++i) {
          const auto res = loaded.search(std::span<const float>(q.row(i).data(), static_cast<std::size_t>(d)), k, ef);
          sink = sink + res.size();
          if (p == 0)
            for (const auto& h : res)
              for (index_t j = 0; j < k; ++j) hits += truth.ids(i, j) == h.id;
        }
        q_ours.push_back(nq / (cpu_now() - c0));
        w_ours.push_back(nq / since(t));
        if (p == 0) rec_ours = hits / static_cast<double>(nq * k);
      };
      if (p % 2 == 1) run_wrapper();  // alternate which side runs first
      raw.setEf(static_cast<std::size_t>(ef));
      auto t = std::chrono::steady_clock::now();
      double c0 = cpu_now();
      double hits = 0;
      for (index_t i = 0; i < nq; ++i) {
        auto res = raw.searchKnn(q.row(i).data(), static_cast<std::size_t>(k));
        sink = sink + res.size();
        if (p == 0)
          while (!res.empty()) {
            const auto id = static_cast<index_t>(res.top().second);
            for (index_t j = 0; j < k; ++j) hits += truth.ids(i, j) == id;
            res.pop();
          }
      }
      q_raw.push_back(nq / (cpu_now() - c0));
      w_raw.push_back(nq / since(t));
      if (p == 0) rec_raw = hits / static_cast<double>(nq * k);
      if (p % 2 == 0) run_wrapper();
    }
    std::printf("%6lld %10.4f %12.0f %12.0f %8.3f %14.0f %14.0f%s\n", static_cast<long long>(ef), rec_ours,
                median(q_raw), median(q_ours), median(q_ours) / median(q_raw), median(w_raw), median(w_ours),
                rec_raw == rec_ours ? "" : "  (recall differs!)");
    std::fflush(stdout);
  }
  return 0;
}
