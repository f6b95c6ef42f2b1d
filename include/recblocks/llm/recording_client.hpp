#pragma once
/// \file recording_client.hpp
/// `recording_client<Inner>`: asks `Inner` every time and records each successful answer into a
/// `response_cache` (replacing an older recording of the same request). Pair it with
/// `replay_client` on the same directory and scope to rerun offline and reproducibly.
/// A call that throws records nothing.
///
/// `Inner` is owned or borrowed (lvalue reference via the deduction guide); the cache is borrowed.
/// Thread safety: as the inner client (the cache is safe for concurrent use).

#include <atomic>
#include <string>
#include <type_traits>
#include <utility>

#include "client.hpp"
#include "response_cache.hpp"

namespace recblocks::llm {

/// Write-through recorder over any `llm_client`.
template <class Inner>
class recording_client {
 public:
  using inner_type = std::remove_cvref_t<Inner>;
  static_assert(llm_client<inner_type>, "recording_client: Inner must model llm_client");

  template <class C>
  recording_client(C&& inner, response_cache& recording, std::string scope = {});

  chat_response chat(const chat_request& r);

  /// Number of answers recorded by this client.
  long recorded() const noexcept { return recorded_.load(); }
  inner_type& inner() noexcept { return inner_; }

 private:
  Inner inner_;
  response_cache* recording_;
  std::string scope_;
  std::atomic<long> recorded_{0};
};

template <class C>
recording_client(C&&, response_cache&, std::string = {}) -> recording_client<C>;

// ---- implementation ----------------------------------------------------------------------------

template <class Inner>
template <class C>
recording_client<Inner>::recording_client(C&& inner, response_cache& recording, std::string scope)
    : inner_(std::forward<C>(inner)), recording_(&recording), scope_(std::move(scope)) {}

template <class Inner>
chat_response recording_client<Inner>::chat(const chat_request& r) {
  chat_response resp = inner_.chat(r);
  recording_->put(r, resp, scope_);
  ++recorded_;
  return resp;
}

}  // namespace recblocks::llm
