#pragma once
/// \file retry_policy.hpp
/// `retry_policy`: when and how long to wait before retrying a failed LLM call.
///
/// A failure is retried when it is `llm_error::retryable()` (connection errors, timeouts unless
/// `retry_timeouts` is false, HTTP 408, 429 and 5xx except 501/505; a 500 only when `retry_http_500`
/// is set, because llama.cpp answers requests it can never serve with 500, while hosted APIs' 500s
/// are often transient), fewer than `max_attempts` calls were made, and
/// the server's Retry-After (if any) is at most `max_retry_after` (a longer one gives up at once
/// rather than block for minutes). The wait before attempt k+1 is
///
///     backoff_k = min(max_delay, base_delay * 2^(k-1)) * (1 - jitter * U),  U ~ uniform[0, 1)
///     wait      = max(backoff_k, retry_after)
///
/// `run(f)` calls `f(attempt)` (attempt = 1, 2, ...) under that policy and, when it gives up,
/// rethrows the last `llm_error` with `attempts()` set to the number of calls made.
///
/// Thread safety: a plain value; `run` and `delay` are const and reentrant (the jitter source is
/// thread-local).

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "llm_error.hpp"

namespace recblocks::llm {

/// Retry rules (see the file comment). Defaults suit hosted APIs; tests shrink the delays.
struct retry_policy {
  int max_attempts = 4;
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{20000};
  double jitter = 0.5;  ///< in [0, 1]: 0 = fixed exponential delays
  std::chrono::milliseconds max_retry_after{60000};
  bool retry_timeouts = true;
  bool retry_http_500 = false;  ///< retry HTTP 500 (true for hosted APIs whose 500s are transient)

  /// No retries at all.
  static retry_policy none() {
    retry_policy p;
    p.max_attempts = 1;
    return p;
  }

  /// Whether a failure of call number `attempt` should be retried.
  bool should_retry(const llm_error& e, int attempt) const noexcept;

  /// The wait before the call after call number `attempt` (retry_after_ms < 0: none given).
  std::chrono::milliseconds delay(int attempt, long retry_after_ms) const;

  /// Calls `f(attempt)` until it returns or the policy gives up (see the file comment).
  template <class F>
  auto run(F&& f) const -> decltype(f(1));
};

// ---- implementation ----------------------------------------------------------------------------

inline bool retry_policy::should_retry(const llm_error& e, int attempt) const noexcept {
  if (attempt >= max_attempts || !e.retryable()) return false;
  if (e.kind() == llm_error_kind::timeout && !retry_timeouts) return false;
  if (e.kind() == llm_error_kind::http_status && e.status() == 500 && !retry_http_500) return false;
  if (e.retry_after_ms() >= 0 && std::chrono::milliseconds(e.retry_after_ms()) > max_retry_after) return false;
  return true;
}

inline std::chrono::milliseconds retry_policy::delay(int attempt, long retry_after_ms) const {
  thread_local std::minstd_rand gen{std::random_device{}()};
  const int shift = std::clamp(attempt - 1, 0, 30);
  const double base = static_cast<double>(base_delay.count()) * static_cast<double>(1LL << shift);
  const double capped = std::min(base, static_cast<double>(max_delay.count()));
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(gen);
  const double j = std::clamp(jitter, 0.0, 1.0);
  auto wait = static_cast<long>(capped * (1.0 - j * u));
  if (retry_after_ms >= 0) wait = std::max(wait, retry_after_ms);
  return std::chrono::milliseconds(wait);
}

template <class F>
auto retry_policy::run(F&& f) const -> decltype(f(1)) {
  for (int attempt = 1;; ++attempt) {
    try {
      return f(attempt);
    } catch (const llm_error& e) {
      if (!should_retry(e, attempt)) throw e.with_attempts(attempt);
      std::this_thread::sleep_for(delay(attempt, e.retry_after_ms()));
    }
  }
}

}  // namespace recblocks::llm
