#pragma once
/// \file server_stats.hpp
/// The counters of a `serve::model_server`, readable at any time from any thread, and their
/// Prometheus text exposition.
///
/// Counters (monotonic): requests accepted, rows scored, batches scored, requests refused because the
/// queue was full (`overloaded`), refused as malformed (`invalid`), refused while shutting down, failed
/// in the model (`failed`), reloads done and refused. Gauges: rows and requests waiting in the queue.
/// Histograms (cumulative counts per upper bound, as Prometheus wants them):
///
///     batch size    buckets 1, 2, 4, ..., 2^15 rows (+Inf)
///     latency       enqueue -> reply, buckets 2^k microseconds for k = 4..24 (16 us .. 16.8 s, +Inf)
///
/// Everything is a relaxed atomic: a snapshot taken under load may be a few events inconsistent
/// between two counters (never torn within one). Thread-safety: all members may run concurrently.

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

namespace recblocks::serve {

/// A histogram over fixed power-of-two upper bounds: bucket i counts values <= 2^(first_exponent + i);
/// the last bucket is +Inf.
template <int FirstExponent, int Buckets>
class power_of_two_histogram {
 public:
  static constexpr int bucket_count = Buckets + 1;  ///< finite buckets + the +Inf bucket

  void add(std::uint64_t value) {
    int i = 0;
    while (i < Buckets && value > (std::uint64_t{1} << (FirstExponent + i))) ++i;
    counts_[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }
  /// Upper bound of finite bucket `i` (< Buckets).
  static std::uint64_t upper_bound(int i) { return std::uint64_t{1} << (FirstExponent + i); }
  /// Count of bucket `i` alone (not cumulative); i == Buckets is the +Inf bucket.
  std::uint64_t count_in(int i) const { return counts_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed); }
  std::uint64_t total() const {
    std::uint64_t s = 0;
    for (const auto& c : counts_) s += c.load(std::memory_order_relaxed);
    return s;
  }
  std::uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
  /// The smallest finite upper bound below which at least `q` of the values lie (q in (0, 1]), or
  /// the largest finite bound when the quantile falls into +Inf; 0 when empty.
  std::uint64_t quantile_bound(double q) const {
    const std::uint64_t n = total();
    if (n == 0) return 0;
    std::uint64_t seen = 0;
    for (int i = 0; i < Buckets; ++i) {
      seen += count_in(i);
      if (double(seen) >= q * double(n)) return upper_bound(i);
    }
    return upper_bound(Buckets - 1);
  }

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> counts_{};
  std::atomic<std::uint64_t> sum_{0};
};

/// The server's counters (see file docs).
struct server_stats {
  std::atomic<std::uint64_t> requests{0};        ///< accepted into the queue
  std::atomic<std::uint64_t> rows{0};            ///< rows scored
  std::atomic<std::uint64_t> batches{0};         ///< model calls
  std::atomic<std::uint64_t> overloaded{0};      ///< refused: queue full
  std::atomic<std::uint64_t> invalid{0};         ///< refused: malformed request
  std::atomic<std::uint64_t> shutting_down{0};   ///< refused: server stopping
  std::atomic<std::uint64_t> failed{0};          ///< requests whose batch threw in the model
  std::atomic<std::uint64_t> reloads{0};         ///< models swapped in
  std::atomic<std::uint64_t> reloads_refused{0}; ///< checkpoints refused (old model kept)
  std::atomic<std::int64_t> queued_rows{0};      ///< gauge
  std::atomic<std::int64_t> queued_requests{0};  ///< gauge
  power_of_two_histogram<0, 16> batch_rows;      ///< rows per model call
  power_of_two_histogram<4, 21> latency_us;      ///< enqueue -> reply, microseconds

  /// The Prometheus text format (version 0.0.4), metric names prefixed `recblocks_serve_`; `model`
  /// and `version` go into a `recblocks_serve_model_info` gauge's labels (quotes and backslashes escaped).
  std::string to_prometheus(const std::string& model, const std::string& version) const;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

namespace detail {
inline std::string prometheus_label(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

template <class H>
void prometheus_histogram(std::string& out, const char* name, const char* help, const H& h, double scale) {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  out += line;
  std::uint64_t cumulative = 0;
  for (int i = 0; i + 1 < H::bucket_count; ++i) {
    cumulative += h.count_in(i);
    std::snprintf(line, sizeof line, "%s_bucket{le=\"%.9g\"} %llu\n", name, double(H::upper_bound(i)) * scale,
                  static_cast<unsigned long long>(cumulative));
    out += line;
  }
  cumulative += h.count_in(H::bucket_count - 1);
  std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name,
                static_cast<unsigned long long>(cumulative), name, double(h.sum()) * scale, name,
                static_cast<unsigned long long>(cumulative));
  out += line;
}
}  // namespace detail

inline std::string server_stats::to_prometheus(const std::string& model, const std::string& version) const {
  std::string out;
  char line[256];
  const auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    std::snprintf(line, sizeof line, "# HELP recblocks_serve_%s %s\n# TYPE recblocks_serve_%s counter\nrecblocks_serve_%s %llu\n",
                  name, help, name, name, static_cast<unsigned long long>(v));
    out += line;
  };
  const auto gauge = [&](const char* name, const char* help, std::int64_t v) {
    std::snprintf(line, sizeof line, "# HELP recblocks_serve_%s %s\n# TYPE recblocks_serve_%s gauge\nrecblocks_serve_%s %lld\n",
                  name, help, name, name, static_cast<long long>(v));
    out += line;
  };
  const auto r = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  out += "# HELP recblocks_serve_model_info The model being served.\n# TYPE recblocks_serve_model_info gauge\n";
  out += "recblocks_serve_model_info{model=\"" + detail::prometheus_label(model) + "\",version=\"" +
         detail::prometheus_label(version) + "\"} 1\n";
  counter("requests_total", "Requests accepted into the queue.", r(requests));
  counter("rows_total", "Rows scored.", r(rows));
  counter("batches_total", "Model calls (micro-batches).", r(batches));
  counter("overloaded_total", "Requests refused because the queue was full.", r(overloaded));
  counter("invalid_total", "Requests refused as malformed.", r(invalid));
  counter("shutting_down_total", "Requests refused while shutting down.", r(shutting_down));
  counter("failed_total", "Requests whose batch failed in the model.", r(failed));
  counter("reloads_total", "Checkpoints swapped in.", r(reloads));
  counter("reloads_refused_total", "Checkpoints refused (the old model kept serving).", r(reloads_refused));
  gauge("queued_rows", "Rows waiting in the queue.", r(queued_rows));
  gauge("queued_requests", "Requests waiting in the queue.", r(queued_requests));
  detail::prometheus_histogram(out, "recblocks_serve_batch_rows", "Rows per model call.", batch_rows, 1.0);
  detail::prometheus_histogram(out, "recblocks_serve_latency_seconds", "Enqueue to reply.", latency_us, 1e-6);
  return out;
}

}  // namespace recblocks::serve
