#pragma once
/// \file caching_client.hpp
/// `caching_client<Inner>`: serves a request from a `response_cache` when it has been answered
/// before, and otherwise asks `Inner` and stores the answer. A call that throws stores nothing.
///
/// Caching is meaningful for deterministic requests (`temperature = 0` and a `seed`); the cache does
/// not check that. Put it outside `structured_client` to cache only validated answers.
/// `chat_batch` looks every request up first and sends only the misses to `llm::chat_batch(inner)`.
///
/// `Inner` is owned (moved in) or borrowed (lvalue reference, chosen by the deduction guide); the
/// cache is borrowed and must outlive the client. Thread safety: as the inner client; the cache is
/// safe for concurrent use, and two threads missing on the same request may both ask the inner
/// client (the later answer wins).

#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "client.hpp"
#include "response_cache.hpp"

namespace recblocks::llm {

/// Read-through cache over any `llm_client` (see the file comment).
template <class Inner>
class caching_client {
 public:
  using inner_type = std::remove_cvref_t<Inner>;
  static_assert(llm_client<inner_type>, "caching_client: Inner must model llm_client");

  /// `scope` separates models/servers sharing one cache (e.g. the model name).
  template <class C>
  caching_client(C&& inner, response_cache& cache, std::string scope = {});

  chat_response chat(const chat_request& r);
  std::vector<chat_response> chat_batch(std::span<const chat_request> rs);

  inner_type& inner() noexcept { return inner_; }
  response_cache& cache() noexcept { return *cache_; }

 private:
  Inner inner_;
  response_cache* cache_;
  std::string scope_;
};

template <class C>
caching_client(C&&, response_cache&, std::string = {}) -> caching_client<C>;

// ---- implementation ----------------------------------------------------------------------------

template <class Inner>
template <class C>
caching_client<Inner>::caching_client(C&& inner, response_cache& cache, std::string scope)
    : inner_(std::forward<C>(inner)), cache_(&cache), scope_(std::move(scope)) {}

template <class Inner>
chat_response caching_client<Inner>::chat(const chat_request& r) {
  if (auto hit = cache_->get(r, scope_)) return std::move(*hit);
  chat_response resp = inner_.chat(r);
  cache_->put(r, resp, scope_);
  return resp;
}

template <class Inner>
std::vector<chat_response> caching_client<Inner>::chat_batch(std::span<const chat_request> rs) {
  std::vector<chat_response> out(rs.size());
  std::vector<chat_request> misses;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (auto hit = cache_->get(rs[i], scope_)) {
      out[i] = std::move(*hit);
    } else {
      misses.push_back(rs[i]);
      where.push_back(i);
    }
  }
  if (!misses.empty()) {
    auto answers = llm::chat_batch(inner_, std::span<const chat_request>(misses));
    for (std::size_t k = 0; k < misses.size(); ++k) {
      cache_->put(misses[k], answers[k], scope_);
      out[where[k]] = std::move(answers[k]);
    }
  }
  return out;
}

}  // namespace recblocks::llm
