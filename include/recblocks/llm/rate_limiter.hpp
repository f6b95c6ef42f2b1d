#pragma once
/// \file rate_limiter.hpp
/// `rate_limiter`: a token bucket (at most `rate` calls per second on average, bursts of up to
/// `burst`) and a concurrency cap (at most `max_concurrency` calls in flight). `acquire()` waits for
/// a token and a slot and returns a `permit` that frees the slot when destroyed. A rate of 0 means
/// unlimited; a cap of 0 means uncapped.
///
/// The bucket reserves tokens in arrival order: a caller that finds the bucket empty takes a token
/// "on credit" and sleeps until it would have been refilled, so waiting callers are served FIFO
/// without holding the lock while they sleep.
///
/// Thread safety: all members may be called concurrently.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "../core/error.hpp"

namespace recblocks::llm {

/// Token bucket plus concurrency cap (see the file comment).
class rate_limiter {
 public:
  /// A held concurrency slot; released on destruction.
  class permit {
   public:
    permit() = default;
    explicit permit(rate_limiter* owner) : owner_(owner) {}
    permit(permit&& o) noexcept : owner_(o.owner_) { o.owner_ = nullptr; }
    permit& operator=(permit&& o) noexcept;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { release(); }
    void release() noexcept;

   private:
    rate_limiter* owner_ = nullptr;
  };

  /// `rate` calls per second (0: unlimited), bursts of `burst` (>= 1), `max_concurrency` in flight (0: no cap).
  explicit rate_limiter(double rate = 0.0, double burst = 1.0, int max_concurrency = 0);

  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  /// Waits for a token, then for a slot.
  [[nodiscard]] permit acquire();
  /// Waits for a token only.
  void acquire_token();

  int in_flight() const;
  /// The most calls in flight at once so far.
  int peak_in_flight() const;
  double rate() const noexcept { return rate_; }
  int max_concurrency() const noexcept { return max_concurrency_; }

 private:
  void release_slot() noexcept;

  double rate_, burst_;
  int max_concurrency_;
  mutable std::mutex mutex_;
  std::condition_variable slot_free_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
  int in_flight_ = 0;
  int peak_ = 0;
};

// ---- implementation ----------------------------------------------------------------------------

inline rate_limiter::rate_limiter(double rate, double burst, int max_concurrency)
    : rate_(rate), burst_(burst), max_concurrency_(max_concurrency), tokens_(burst),
      last_(std::chrono::steady_clock::now()) {
  if (!(rate >= 0.0)) throw value_error("[llm::rate_limiter] rate must be >= 0, got " + std::to_string(rate));
  if (!(burst >= 1.0)) throw value_error("[llm::rate_limiter] burst must be >= 1, got " + std::to_string(burst));
  if (max_concurrency < 0)
    throw value_error("[llm::rate_limiter] max_concurrency must be >= 0, got " + std::to_string(max_concurrency));
}

inline void rate_limiter::acquire_token() {
  if (rate_ <= 0.0) return;
  std::chrono::duration<double> wait{0.0};
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    tokens_ -= 1.0;
    if (tokens_ < 0.0) wait = std::chrono::duration<double>(-tokens_ / rate_);
  }
  if (wait.count() > 0.0) std::this_thread::sleep_for(wait);
}

inline rate_limiter::permit rate_limiter::acquire() {
  acquire_token();
  std::unique_lock lock(mutex_);
  if (max_concurrency_ > 0) slot_free_.wait(lock, [&] { return in_flight_ < max_concurrency_; });
  ++in_flight_;
  peak_ = std::max(peak_, in_flight_);
  return permit(this);
}

inline void rate_limiter::release_slot() noexcept {
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
  }
  slot_free_.notify_one();
}

inline int rate_limiter::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

inline int rate_limiter::peak_in_flight() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

inline rate_limiter::permit& rate_limiter::permit::operator=(permit&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = o.owner_;
    o.owner_ = nullptr;
  }
  return *this;
}

inline void rate_limiter::permit::release() noexcept {
  if (owner_) owner_->release_slot();
  owner_ = nullptr;
}

}  // namespace recblocks::llm
