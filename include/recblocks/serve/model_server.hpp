#pragma once
/// \file model_server.hpp
/// The in-process serving block a latency-critical C++ service embeds: scoring requests from many
/// threads are gathered into micro-batches, scored by a pool of workers on their own inference
/// tapes, and answered one by one; the model is swapped atomically on reload. No network code: a
/// service puts its own transport in front (`examples/serve.cpp` puts HTTP).
///
///     auto server = serve::model_server<float>(serve::load_scoring_model<float>("ckpt/mmoe"),
///                                              {.max_batch_rows = 64, .max_wait = std::chrono::microseconds(500)});
///     serve::score_reply<float> r = server.score(rows);      // blocking; or submit(rows, callback)
///     if (r.status == serve::score_status::ok) use(r.probabilities, r.model_version);
///     server.reload("ckpt/mmoe");                             // validated off the request path, then swapped
///     server.shutdown();                                      // stop accepting, drain, join
///
/// **Micro-batching.** A worker takes the oldest waiting request, then waits until the queue holds
/// `max_batch_rows` rows or the oldest request has waited `max_wait`, and scores every request it
/// can fit in `max_batch_rows` rows as one batch (a request larger than that is scored alone).
/// `max_batch_rows = 1` or `max_wait = 0` turns the waiting off (every request scored as soon as a
/// worker is free, requests already queued still share a batch up to `max_batch_rows`).
///
/// **Bounded queue.** At most `queue_capacity_rows` rows wait; a request that would exceed it is
/// answered at once with `score_status::overloaded` (never queued: memory stays bounded), a request
/// of more than `max_request_rows` rows or one that fails `row_decoder::check` with
/// `score_status::invalid` and the reason. Requests are checked before they are queued, so a bad
/// request never reaches a batch shared with others; should a batch still throw in the model, each
/// of its requests is retried alone and only the failing ones are answered `failed`.
///
/// **Hot reload.** `reload(dir)` loads the checkpoint in the calling thread (off the request path),
/// requires the same feature schema as the model being served (queued requests were checked against
/// it), scores one all-unknown row as a smoke test (finite output), and only then swaps the model
/// under a mutex; a batch already taken finishes on the model it started with, and every reply names
/// the version (`scoring_model::version`) that scored it. A checkpoint that fails any check throws
/// (`io_error`, `parse_error`, `value_error`) and the old model keeps serving.
///
/// **Shutdown.** `shutdown()` (also the destructor) refuses new requests with
/// `score_status::shutting_down`, lets the workers score everything already queued, and joins them.
///
/// Memory: one inference tape (arena), one gathered batch and one output buffer per worker, reused
/// for every batch: no allocation on the scoring path after warm-up besides the reply's vector.
/// Thread-safety: every member may be called from any thread; callbacks run on a worker thread (or
/// inline in `submit` for a refused request) and must not call `shutdown`.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tape.hpp"
#include "../data/batch.hpp"
#include "row_decoder.hpp"
#include "scoring_model.hpp"
#include "server_stats.hpp"

namespace recblocks::serve {

/// Knobs of a `model_server` (see file docs).
struct model_server_options {
  index_t max_batch_rows = 64;                        ///< rows per model call (>= 1)
  std::chrono::microseconds max_wait{500};            ///< how long the oldest request may wait for company
  index_t queue_capacity_rows = 4096;                 ///< rows that may wait; beyond: overloaded
  index_t max_request_rows = 1024;                    ///< the largest single request (<= queue_capacity_rows)
  int workers = 1;                                    ///< scoring threads (>= 1)
};

/// What became of a request.
enum class score_status { ok, overloaded, invalid, shutting_down, failed };

/// "ok", "overloaded", "invalid", "shutting_down", "failed".
inline const char* to_string(score_status s) {
  switch (s) {
    case score_status::ok: return "ok";
    case score_status::overloaded: return "overloaded";
    case score_status::invalid: return "invalid";
    case score_status::shutting_down: return "shutting_down";
    case score_status::failed: return "failed";
  }
  return "?";
}

/// The answer to one request.
template <class T>
struct score_reply {
  score_status status = score_status::failed;
  std::vector<T> probabilities;  ///< one per row when `ok`
  std::string model_version;     ///< the weights that scored it (when `ok`)
  std::string message;           ///< why, when not `ok`
  index_t batch_rows = 0;        ///< rows of the micro-batch it was scored in (when `ok`)
};

template <class T>
class model_server {
 public:
  using model_ptr = std::shared_ptr<const scoring_model<T>>;
  using callback = std::function<void(score_reply<T>&&)>;
  using clock = std::chrono::steady_clock;

  /// Starts `options.workers` scoring threads on `model`. `value_error` for a null model or bad options.
  explicit model_server(model_ptr model, model_server_options options = {});
  ~model_server() { shutdown(); }
  model_server(const model_server&) = delete;
  model_server& operator=(const model_server&) = delete;

  /// Queues `rows` for scoring; `done` is called exactly once with the reply (see file docs).
  void submit(data::batch<T> rows, callback done);

  /// `submit` and wait for the reply.
  score_reply<T> score(data::batch<T> rows);

  /// Loads checkpoint `dir` and swaps it in (see file docs); returns the new version.
  std::string reload(const std::filesystem::path& dir);

  /// Validates `next` (same schema, finite smoke-test score) and swaps it in; returns its version.
  std::string swap_model(model_ptr next);

  /// The model now being served.
  model_ptr current_model() const {
    std::lock_guard lk(model_mutex_);
    return model_;
  }

  const server_stats& stats() const { return stats_; }
  const model_server_options& options() const { return options_; }
  /// The checks every request passes before it is queued.
  const row_decoder<T>& validator() const { return validator_; }

  /// Stops accepting, scores what is queued, joins the workers. Idempotent.
  void shutdown();

 private:
  struct pending {
    data::batch<T> rows;
    callback done;
    clock::time_point enqueued;
  };
  struct worker_state {
    tape<T> t{tape_mode::infer};
    data::batch<T> gathered;
    std::vector<T> out;
    std::vector<pending> taken;
  };

  void run_worker();
  void score_taken(worker_state& w);
  /// Scores `b` on `m`; false (and `error` set) when the model threw.
  bool score_batch(worker_state& w, const scoring_model<T>& m, const data::batch<T>& b, std::string& error);
  void reply(pending& p, score_reply<T>&& r);
  static void gather(const std::vector<pending>& taken, data::batch<T>& out);

  model_server_options options_;
  row_decoder<T> validator_;
  mutable std::mutex model_mutex_;
  model_ptr model_;
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<pending> queue_;
  index_t queued_rows_ = 0;
  bool accepting_ = true;
  std::mutex shutdown_mutex_;
  std::vector<std::thread> workers_;
  server_stats stats_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
model_server<T>::model_server(model_ptr model, model_server_options options)
    : options_(options),
      validator_(model ? model->schema() : data::schema{}, std::max<index_t>(options.max_request_rows, 1)),
      model_(std::move(model)) {
  const auto bad = [](const std::string& w) { throw value_error("serve::model_server: " + w); };
  if (!model_) bad("null model");
  if (options_.max_batch_rows < 1) bad("max_batch_rows must be >= 1, got " + std::to_string(options_.max_batch_rows));
  if (options_.max_wait.count() < 0) bad("max_wait must be >= 0");
  if (options_.max_request_rows < 1) bad("max_request_rows must be >= 1");
  if (options_.queue_capacity_rows < options_.max_request_rows)
    bad("queue_capacity_rows (" + std::to_string(options_.queue_capacity_rows) + ") must be >= max_request_rows (" +
        std::to_string(options_.max_request_rows) + ")");
  if (options_.workers < 1) bad("workers must be >= 1, got " + std::to_string(options_.workers));
  workers_.reserve(static_cast<std::size_t>(options_.workers));
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { run_worker(); });
}

template <class T>
void model_server<T>::submit(data::batch<T> rows, callback done) {
  const auto refuse = [&](score_status s, std::string why) {
    score_reply<T> r;
    r.status = s;
    r.message = std::move(why);
    done(std::move(r));
  };
  try {
    validator_.check(rows);
  } catch (const recblocks::error& e) {
    stats_.invalid.fetch_add(1, std::memory_order_relaxed);
    return refuse(score_status::invalid, e.what());
  }
  const index_t n = rows.size;
  {
    std::unique_lock lk(queue_mutex_);
    if (!accepting_) {
      lk.unlock();
      stats_.shutting_down.fetch_add(1, std::memory_order_relaxed);
      return refuse(score_status::shutting_down, "serve::model_server: shutting down");
    }
    if (queued_rows_ + n > options_.queue_capacity_rows) {
      lk.unlock();
      stats_.overloaded.fetch_add(1, std::memory_order_relaxed);
      return refuse(score_status::overloaded, "serve::model_server: queue full (" +
                                                  std::to_string(options_.queue_capacity_rows) + " rows)");
    }
    queue_.push_back({std::move(rows), std::move(done), clock::now()});
    queued_rows_ += n;
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    stats_.queued_rows.store(queued_rows_, std::memory_order_relaxed);
    stats_.queued_requests.store(static_cast<std::int64_t>(queue_.size()), std::memory_order_relaxed);
  }
  queue_cv_.notify_all();
}

template <class T>
score_reply<T> model_server<T>::score(data::batch<T> rows) {
  std::promise<score_reply<T>> promise;
  auto future = promise.get_future();
  submit(std::move(rows), [&promise](score_reply<T>&& r) { promise.set_value(std::move(r)); });
  return future.get();
}

template <class T>
std::string model_server<T>::reload(const std::filesystem::path& dir) {
  model_ptr next;
  try {
    next = load_scoring_model<T>(dir);
  } catch (...) {
    stats_.reloads_refused.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  return swap_model(std::move(next));
}

template <class T>
std::string model_server<T>::swap_model(model_ptr next) {
  try {
    if (!next) throw value_error("serve::model_server::swap_model: null model");
    const model_ptr now = current_model();
    if (!(next->schema() == now->schema()))
      throw value_error("serve::model_server: the new model's feature schema differs from the served one (" +
                        next->schema().to_json().dump() + " vs " + now->schema().to_json().dump() + ")");
    // Smoke test: one row of unknown ids, zero dense values, scenario 0.
    const data::schema& s = next->schema();
    data::batch<T> probe;
    probe.size = 1;
    probe.sparse = matrix<index_t>::Zero(s.sparse_count(), 1);
    probe.dense = matrix<T>::Zero(1, s.dense_count());
    probe.labels.resize(1, 0);
    if (s.scenario_count() > 0) probe.scenario.assign(1, 0);
    for (const data::feature_spec* f : s.of_kind(data::feature_kind::sequence)) {
      probe.sequences.emplace_back(std::array<std::size_t, 2>{1, static_cast<std::size_t>(f->max_length)});
      probe.sequences.back().fill(0);
    }
    tape<T> t(tape_mode::infer);
    T p = 0;
    next->probabilities(t, probe, std::span<T>(&p, 1));
    if (!std::isfinite(static_cast<double>(p)))
      throw value_error("serve::model_server: the new model scores a probe row as " + std::to_string(p));
  } catch (...) {
    stats_.reloads_refused.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  std::string version = next->version();
  {
    std::lock_guard lk(model_mutex_);
    model_ = std::move(next);
  }
  stats_.reloads.fetch_add(1, std::memory_order_relaxed);
  return version;
}

template <class T>
void model_server<T>::shutdown() {
  std::lock_guard guard(shutdown_mutex_);
  {
    std::lock_guard lk(queue_mutex_);
    accepting_ = false;
  }
  queue_cv_.notify_all();
  for (std::thread& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
}

template <class T>
void model_server<T>::run_worker() {
  worker_state w;
  std::unique_lock lk(queue_mutex_);
  for (;;) {
    queue_cv_.wait(lk, [&] { return !queue_.empty() || !accepting_; });
    if (queue_.empty()) return;  // stopping and drained
    if (options_.max_batch_rows > 1 && options_.max_wait.count() > 0 && accepting_) {
      const auto deadline = queue_.front().enqueued + options_.max_wait;
      queue_cv_.wait_until(lk, deadline,
                           [&] { return queue_.empty() || queued_rows_ >= options_.max_batch_rows || !accepting_; });
      if (queue_.empty()) continue;  // another worker took them
    }
    index_t rows = 0;
    while (!queue_.empty() && (w.taken.empty() || rows + queue_.front().rows.size <= options_.max_batch_rows)) {
      rows += queue_.front().rows.size;
      w.taken.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_rows_ -= rows;
    stats_.queued_rows.store(queued_rows_, std::memory_order_relaxed);
    stats_.queued_requests.store(static_cast<std::int64_t>(queue_.size()), std::memory_order_relaxed);
    lk.unlock();
    score_taken(w);
    w.taken.clear();
    lk.lock();
  }
}

template <class T>
bool model_server<T>::score_batch(worker_state& w, const scoring_model<T>& m, const data::batch<T>& b, std::string& error) {
  try {
    w.t.reset();
    w.out.resize(static_cast<std::size_t>(b.size));
    m.probabilities(w.t, b, std::span<T>(w.out));
    stats_.batches.fetch_add(1, std::memory_order_relaxed);
    stats_.batch_rows.add(static_cast<std::uint64_t>(b.size));
    stats_.rows.fetch_add(static_cast<std::uint64_t>(b.size), std::memory_order_relaxed);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

template <class T>
void model_server<T>::score_taken(worker_state& w) {
  const model_ptr m = current_model();  // this batch finishes on this model whatever reloads meanwhile
  const auto answer_ok = [&](pending& p, std::size_t offset, index_t batch_rows) {
    score_reply<T> r;
    r.status = score_status::ok;
    r.probabilities.assign(w.out.begin() + static_cast<std::ptrdiff_t>(offset),
                           w.out.begin() + static_cast<std::ptrdiff_t>(offset + static_cast<std::size_t>(p.rows.size)));
    r.model_version = m->version();
    r.batch_rows = batch_rows;
    reply(p, std::move(r));
  };
  std::string error;
  if (w.taken.size() == 1) {
    pending& p = w.taken.front();
    if (score_batch(w, *m, p.rows, error)) return answer_ok(p, 0, p.rows.size);
  } else {
    gather(w.taken, w.gathered);
    if (score_batch(w, *m, w.gathered, error)) {
      std::size_t offset = 0;
      for (pending& p : w.taken) {
        answer_ok(p, offset, w.gathered.size);
        offset += static_cast<std::size_t>(p.rows.size);
      }
      return;
    }
  }
  // The batch threw: retry each request alone so that only the failing ones fail.
  for (pending& p : w.taken) {
    if (w.taken.size() > 1 && score_batch(w, *m, p.rows, error)) {
      answer_ok(p, 0, p.rows.size);
      continue;
    }
    stats_.failed.fetch_add(1, std::memory_order_relaxed);
    score_reply<T> r;
    r.status = score_status::failed;
    r.message = "serve::model_server: the model failed: " + error;
    reply(p, std::move(r));
  }
}

template <class T>
void model_server<T>::reply(pending& p, score_reply<T>&& r) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - p.enqueued).count();
  stats_.latency_us.add(static_cast<std::uint64_t>(std::max<std::int64_t>(us, 0)));
  p.done(std::move(r));
}

template <class T>
void model_server<T>::gather(const std::vector<pending>& taken, data::batch<T>& out) {
  const data::batch<T>& first = taken.front().rows;
  index_t n = 0;
  for (const pending& p : taken) n += p.rows.size;
  out.size = n;
  out.sparse.resize(first.sparse.rows(), n);
  out.dense.resize(n, first.dense.cols());
  out.labels.resize(n, 0);
  out.scenario.resize(first.scenario.empty() ? 0 : static_cast<std::size_t>(n));
  out.sequences.resize(first.sequences.size());
  for (std::size_t k = 0; k < first.sequences.size(); ++k) {
    const std::size_t L = first.sequences[k].shape()[1];
    if (out.sequences[k].shape()[0] != static_cast<std::size_t>(n) || out.sequences[k].shape()[1] != L)
      out.sequences[k].resize({static_cast<std::size_t>(n), L});
  }
  index_t at = 0;
  for (const pending& p : taken) {
    const data::batch<T>& b = p.rows;
    out.sparse.middleCols(at, b.size) = b.sparse;
    out.dense.middleRows(at, b.size) = b.dense;
    std::copy(b.scenario.begin(), b.scenario.end(), out.scenario.begin() + at);
    for (std::size_t k = 0; k < b.sequences.size(); ++k) {
      const std::size_t L = b.sequences[k].shape()[1];
      std::copy(b.sequences[k].data(), b.sequences[k].data() + static_cast<std::size_t>(b.size) * L,
                out.sequences[k].data() + static_cast<std::size_t>(at) * L);
    }
    at += b.size;
  }
}

}  // namespace recblocks::serve
