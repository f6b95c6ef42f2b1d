// k-means: recblocks::quant::kmeans vs faiss::Clustering (faiss 1.7.3), one process, one thread each.
//
// Data: n x 64 float (default n = 1,000,000), a mixture of 1024 Gaussian blobs (sigma 0.1) around
// uniform [0,1) centres. Both cluster into 256 centroids with 10 iterations on ALL points (faiss's
// max_points_per_centroid is raised so it does not subsample). Both inertias are evaluated the same
// way: sum over all points of the squared distance to the nearest final centroid (double).
//
// Usage: OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 compare_faiss [n] [repetitions]
// Prints: time of each (median of the repetitions), both inertias, and "speedup kmeans <faiss/ours>".
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "recblocks/quant/kmeans.hpp"

#if defined(RECBLOCKS_USE_CBLAS)
extern "C" void openblas_set_num_threads(int);
#endif

using recblocks::index_t;
using recblocks::matrix;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double nearest_inertia(const matrix<float>& x, const matrix<float>& c) {
  std::vector<index_t> lab(static_cast<std::size_t>(x.rows()));
  std::vector<float> dist(static_cast<std::size_t>(x.rows()));
  recblocks::quant::detail::nearest_centroid<float>(x, c, lab.data(), dist.data());
  double s = 0.0;  // exact recomputation in double of the chosen centroid's distance
  for (index_t i = 0; i < x.rows(); ++i) s += (x.row(i).cast<double>() - c.row(lab[i]).cast<double>()).squaredNorm();
  return s;
}

// CPU time of the process (both parties are pinned to one thread): robust against other processes
double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const index_t n = argc > 1 ? std::atoll(argv[1]) : 1000000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  const index_t d = 64, k = 256, blobs = 1024;
  const int iters = 10;
  omp_set_num_threads(1);
#if defined(RECBLOCKS_USE_CBLAS)
  openblas_set_num_threads(1);
#endif
  const char* obt = std::getenv("OPENBLAS_NUM_THREADS");
  std::printf("n=%lld d=%lld k=%lld iterations=%d reps=%d OPENBLAS_NUM_THREADS=%s omp_max_threads=%d cblas=%d\n",
              static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(k), iters, reps,
              obt ? obt : "(unset)", omp_get_max_threads(),
#if defined(RECBLOCKS_USE_CBLAS)
              1
#else
              0
#endif
  );

  std::mt19937_64 gen(1234);
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  std::normal_distribution<float> noise(0.f, 0.1f);
  matrix<float> centres(blobs, d);
  for (index_t i = 0; i < blobs; ++i)
    for (index_t j = 0; j < d; ++j) centres(i, j) = uni(gen);
  matrix<float> x(n, d);
  std::uniform_int_distribution<index_t> pick(0, blobs - 1);
  for (index_t i = 0; i < n; ++i) {
    const index_t b = pick(gen);
    for (index_t j = 0; j < d; ++j) x(i, j) = centres(b, j) + noise(gen);
  }

  std::vector<double> t_ours, t_faiss, c_ours, c_faiss;
  double in_ours = 0, in_faiss = 0, obj_faiss = 0, in_ours_own = 0;
  for (int r = 0; r < reps; ++r) {
    {
      recblocks::quant::kmeans<float> km({.clusters = k, .iterations = iters, .seed = 100u + r});
      auto t0 = std::chrono::steady_clock::now();
      const double c0 = cpu_now();
      km.fit(x);
      t_ours.push_back(seconds_since(t0));
      c_ours.push_back(cpu_now() - c0);
      in_ours = nearest_inertia(x, km.centroids());
      in_ours_own = km.inertia();
    }
    {
      faiss::ClusteringParameters cp;
      cp.niter = iters;
      cp.seed = 100 + r;
      cp.verbose = false;
      cp.max_points_per_centroid = 1 << 30;  // all points, no silent subsampling
      faiss::Clustering clus(static_cast<int>(d), static_cast<std::size_t>(k), cp);
      faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(d));
      auto t0 = std::chrono::steady_clock::now();
      const double c0 = cpu_now();
      clus.train(static_cast<faiss::Index::idx_t>(n), x.data(), index);
      t_faiss.push_back(seconds_since(t0));
      c_faiss.push_back(cpu_now() - c0);
      matrix<float> c = Eigen::Map<const matrix<float>>(clus.centroids.data(), k, d);
      in_faiss = nearest_inertia(x, c);
      obj_faiss = clus.iteration_stats.back().obj;
    }
    std::printf("rep %d: ours %.3f s wall / %.3f s cpu (inertia %.6g), faiss %.3f s wall / %.3f s cpu (inertia %.6g)\n",
                r, t_ours.back(), c_ours.back(), in_ours, t_faiss.back(), c_faiss.back(), in_faiss);
    std::fflush(stdout);
  }
  const double mo = median(t_ours), mf = median(t_faiss);
  const double co = median(c_ours), cf = median(c_faiss);
  std::printf("time ours %.3f s, faiss %.3f s wall; ours %.3f s, faiss %.3f s cpu (medians of %d)\n", mo, mf, co, cf,
              reps);
  std::printf("speedup kmeans (cpu time) %.3f\n", cf / co);
  std::printf("inertia ours %.6g (own report %.6g), faiss %.6g (faiss's last-iteration obj %.6g), last rep\n",
              in_ours, in_ours_own, in_faiss, obj_faiss);
  std::printf("speedup kmeans %.3f\n", mf / mo);
  return 0;
}
