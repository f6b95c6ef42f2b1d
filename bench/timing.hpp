#pragma once
// Timing helpers shared by both sides of bench/compare_libtorch (C++17-compatible: the libtorch
// side is compiled as C++17).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

namespace bench_timing {

/// Seconds of the calling thread's CPU time (single-thread cases: robust to other load on the
/// machine) or of wall time (multi-thread cases).
inline double now_seconds(bool thread_cpu) {
  if (thread_cpu) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Median seconds per call of `f` after `warmup` calls, over at least `min_calls` calls and
/// `min_seconds` of wall time.
template <class F>
double median_seconds(F&& f, int warmup, int min_calls, double min_seconds, bool thread_cpu) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  const double start = now_seconds(false);
  while (int(t.size()) < min_calls || now_seconds(false) - start < min_seconds) {
    const double a = now_seconds(thread_cpu);
    f();
    t.push_back(now_seconds(thread_cpu) - a);
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

/// The call counts of the comparison, the same on both sides: one inference call (`f` runs a batch
/// of `batch_size` rows) and one training step.
template <class F>
double infer_seconds(F&& f, int batch_size, bool thread_cpu) {
  return median_seconds(f, 200, batch_size <= 1 ? 2000 : 300, 1.0, thread_cpu);
}
template <class F>
double train_seconds(F&& f, int batch_size, bool thread_cpu) {
  return median_seconds(f, 5, batch_size >= 4096 ? 20 : 60, 2.0, thread_cpu);
}

}  // namespace bench_timing
