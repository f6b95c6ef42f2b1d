#pragma once
/// \file throttled_client.hpp
/// `throttled_client<Inner>`: a rate limit and a concurrency cap around any `llm_client`, and a
/// concurrent `chat_batch` for clients that have none. Each `chat` takes a token from the bucket
/// (`requests_per_second`, `burst`; 0 = unlimited) and a slot (`max_concurrency`) before calling
/// the inner client. `chat_batch` answers up to `max_concurrency` requests at once on worker
/// threads, in request order; after a failure no new request starts and the first failure (by
/// index) is rethrown. (The HTTP client has all of this built in.)
///
/// Requires: `Inner::chat` safe to call from several threads when `max_concurrency > 1`.
/// `Inner` is owned or borrowed (lvalue reference via the deduction guide).
/// Thread safety: as the inner client; the limiter is thread-safe.

#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "client.hpp"
#include "detail/parallel_batch.hpp"
#include "rate_limiter.hpp"

namespace recblocks::llm {

/// Options of `throttled_client`.
struct throttle_options {
  double requests_per_second = 0.0;  ///< 0: unlimited
  double burst = 1.0;
  int max_concurrency = 1;  ///< >= 1
};

/// Rate limit + concurrency cap layer (see the file comment).
template <class Inner>
class throttled_client {
 public:
  using inner_type = std::remove_cvref_t<Inner>;
  static_assert(llm_client<inner_type>, "throttled_client: Inner must model llm_client");

  template <class C>
  explicit throttled_client(C&& inner, throttle_options options = {});

  chat_response chat(const chat_request& r);
  std::vector<chat_response> chat_batch(std::span<const chat_request> rs);

  inner_type& inner() noexcept { return inner_; }
  const rate_limiter& limiter() const noexcept { return *limiter_; }

 private:
  Inner inner_;
  throttle_options options_;
  std::unique_ptr<rate_limiter> limiter_;
};

template <class C>
throttled_client(C&&, throttle_options = {}) -> throttled_client<C>;

// ---- implementation ----------------------------------------------------------------------------

template <class Inner>
template <class C>
throttled_client<Inner>::throttled_client(C&& inner, throttle_options options)
    : inner_(std::forward<C>(inner)), options_(options) {
  if (options_.max_concurrency < 1)
    throw value_error("[llm::throttled_client] max_concurrency must be >= 1, got " +
                      std::to_string(options_.max_concurrency));
  limiter_ = std::make_unique<rate_limiter>(options_.requests_per_second, options_.burst, options_.max_concurrency);
}

template <class Inner>
chat_response throttled_client<Inner>::chat(const chat_request& r) {
  auto permit = limiter_->acquire();
  return inner_.chat(r);
}

template <class Inner>
std::vector<chat_response> throttled_client<Inner>::chat_batch(std::span<const chat_request> rs) {
  return detail::parallel_batch(rs, static_cast<std::size_t>(options_.max_concurrency),
                                [this](const chat_request& r) { return chat(r); });
}

}  // namespace recblocks::llm
