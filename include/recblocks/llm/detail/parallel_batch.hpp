#pragma once
/// \file detail/parallel_batch.hpp
/// Internal: answers a span of requests on up to `workers` threads, in request order. After a
/// failure no new request starts; the failure with the lowest index is rethrown once all threads
/// have finished.

#include <algorithm>
#include <atomic>
#include <exception>
#include <span>
#include <thread>
#include <vector>

#include "../chat_request.hpp"
#include "../chat_response.hpp"

namespace recblocks::llm::detail {

template <class F>
std::vector<chat_response> parallel_batch(std::span<const chat_request> rs, std::size_t workers, F&& call) {
  std::vector<chat_response> out(rs.size());
  std::vector<std::exception_ptr> errors(rs.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (std::size_t i = next++; i < rs.size() && !failed.load(); i = next++) {
      try {
        out[i] = call(rs[i]);
      } catch (...) {
        errors[i] = std::current_exception();
        failed = true;
      }
    }
  };
  const std::size_t n = std::min(rs.size(), std::max<std::size_t>(workers, 1));
  if (n <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(n);
    for (std::size_t w = 0; w < n; ++w) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace recblocks::llm::detail
