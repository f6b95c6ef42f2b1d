#pragma once
/// \file retrying_client.hpp
/// `retrying_client<Inner>`: retries any `llm_client` under a `retry_policy` (transient
/// `llm_error`s only: connection, timeout, 408, 429, 5xx; Retry-After honoured). The HTTP client
/// retries on its own; use this around user-written clients. Errors other than `llm_error`
/// propagate at once.
///
/// `Inner` is owned or borrowed (lvalue reference via the deduction guide).
/// Thread safety: as the inner client.

#include <type_traits>
#include <utility>

#include "client.hpp"
#include "retry_policy.hpp"

namespace recblocks::llm {

/// Retry layer over any `llm_client`.
template <class Inner>
class retrying_client {
 public:
  using inner_type = std::remove_cvref_t<Inner>;
  static_assert(llm_client<inner_type>, "retrying_client: Inner must model llm_client");

  template <class C>
  explicit retrying_client(C&& inner, retry_policy policy = {})
      : inner_(std::forward<C>(inner)), policy_(policy) {}

  chat_response chat(const chat_request& r) {
    return policy_.run([&](int) { return chat_response(inner_.chat(r)); });
  }

  inner_type& inner() noexcept { return inner_; }
  const retry_policy& policy() const noexcept { return policy_; }

 private:
  Inner inner_;
  retry_policy policy_;
};

template <class C>
retrying_client(C&&, retry_policy = {}) -> retrying_client<C>;

}  // namespace recblocks::llm
