#pragma once
/// \file scripted_client.hpp
/// `scripted_client`: a deterministic `llm_client` (and `embedding_client`) for tests and offline
/// examples. Calls consume a script of steps in order:
///
/// - `then_answer(text)`: answer `text` (finish reason "stop");
/// - `then_call(fn)`: answer `fn(request)` (an answer function);
/// - `then_fail(error)`: throw that `llm_error` (fault injection);
/// - `then_garbage()`: answer text that holds no JSON at all;
/// - `then_delay(d)`: sleep `d` before the next step runs.
///
/// When the script is exhausted, the `otherwise(fn)` function answers; without one the call throws
/// `llm_error(scripted, "script exhausted")`. Answers carry `usage` estimated by `estimate_tokens`
/// and `model = "scripted"`. Every request is recorded (`requests()`).
///
/// `embed(texts)` returns deterministic unit vectors of `embedding_dim()` floats derived from a hash
/// of each text (equal texts give equal vectors on every platform).
///
/// Copies share one script and one log (the state lives behind a `shared_ptr`).
/// Thread safety: all members may be called concurrently; steps are consumed one at a time under a
/// mutex (the delay is slept outside it).

#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "client.hpp"
#include "prompt_template.hpp"
#include "request_hash.hpp"

namespace recblocks::llm {

/// A scripted client (see the file comment).
class scripted_client {
 public:
  using answer_fn = std::function<chat_response(const chat_request&)>;

  scripted_client();
  /// Answers these texts in order.
  explicit scripted_client(std::vector<std::string> answers);

  scripted_client& then_answer(std::string text, std::string finish_reason = "stop");
  scripted_client& then_call(answer_fn fn);
  scripted_client& then_fail(llm_error error);
  scripted_client& then_garbage();
  scripted_client& then_delay(std::chrono::milliseconds d);
  /// Answers every call after the script is exhausted.
  scripted_client& otherwise(answer_fn fn);
  /// Dimension of `embed` vectors (default 8).
  scripted_client& with_embedding_dim(int dim);

  chat_response chat(const chat_request& r);
  std::vector<std::vector<float>> embed(std::span<const std::string> texts) const;

  /// Every request received so far, in order.
  std::vector<chat_request> requests() const;
  /// Number of `chat` calls so far.
  std::size_t calls() const;
  /// Steps not yet consumed.
  std::size_t remaining() const;
  int embedding_dim() const;

  /// A response with `text` and usage estimated from the request and the text.
  static chat_response make_response(const chat_request& r, std::string text, std::string finish_reason = "stop");

 private:
  struct step {
    std::chrono::milliseconds delay{0};
    answer_fn fn;                      // answer (set unless `error`)
    std::optional<llm_error> error;    // fault to throw
  };
  struct state {
    mutable std::mutex mutex;
    std::deque<step> steps;
    std::chrono::milliseconds pending_delay{0};
    answer_fn otherwise;
    std::vector<chat_request> log;
    int embedding_dim = 8;
  };
  void push(step s);

  std::shared_ptr<state> state_;
};

// ---- implementation ----------------------------------------------------------------------------

inline scripted_client::scripted_client() : state_(std::make_shared<state>()) {}

inline scripted_client::scripted_client(std::vector<std::string> answers) : scripted_client() {
  for (auto& a : answers) then_answer(std::move(a));
}

inline chat_response scripted_client::make_response(const chat_request& r, std::string text,
                                                    std::string finish_reason) {
  chat_response resp;
  resp.usage.prompt_tokens = static_cast<long>(estimate_tokens(r));
  resp.usage.completion_tokens = static_cast<long>(estimate_tokens(text));
  resp.usage.total_tokens = resp.usage.prompt_tokens + resp.usage.completion_tokens;
  resp.text = std::move(text);
  resp.finish_reason = std::move(finish_reason);
  resp.model = "scripted";
  return resp;
}

inline void scripted_client::push(step s) {
  std::lock_guard lock(state_->mutex);
  s.delay = state_->pending_delay;
  state_->pending_delay = std::chrono::milliseconds(0);
  state_->steps.push_back(std::move(s));
}

inline scripted_client& scripted_client::then_answer(std::string text, std::string finish_reason) {
  push({{}, [text = std::move(text), finish_reason = std::move(finish_reason)](const chat_request& r) {
          return make_response(r, text, finish_reason);
        }, std::nullopt});
  return *this;
}

inline scripted_client& scripted_client::then_call(answer_fn fn) {
  if (!fn) throw value_error("[llm::scripted_client] then_call: empty function");
  push({{}, std::move(fn), std::nullopt});
  return *this;
}

inline scripted_client& scripted_client::then_fail(llm_error error) {
  push({{}, {}, std::move(error)});
  return *this;
}

inline scripted_client& scripted_client::then_garbage() {
  push({{}, [](const chat_request& r) { return make_response(r, "Sure! Here you go: <<<%%% no structure ~~~", "stop"); },
        std::nullopt});
  return *this;
}

inline scripted_client& scripted_client::then_delay(std::chrono::milliseconds d) {
  std::lock_guard lock(state_->mutex);
  state_->pending_delay += d;
  return *this;
}

inline scripted_client& scripted_client::otherwise(answer_fn fn) {
  std::lock_guard lock(state_->mutex);
  state_->otherwise = std::move(fn);
  return *this;
}

inline scripted_client& scripted_client::with_embedding_dim(int dim) {
  if (dim < 1) throw value_error("[llm::scripted_client] embedding dim must be >= 1, got " + std::to_string(dim));
  std::lock_guard lock(state_->mutex);
  state_->embedding_dim = dim;
  return *this;
}

inline chat_response scripted_client::chat(const chat_request& r) {
  step s;
  answer_fn fallback;
  bool have_step = false;
  {
    std::lock_guard lock(state_->mutex);
    state_->log.push_back(r);
    if (!state_->steps.empty()) {
      s = std::move(state_->steps.front());
      state_->steps.pop_front();
      have_step = true;
    } else {
      fallback = state_->otherwise;
    }
  }
  if (!have_step) {
    if (fallback) return fallback(r);
    throw llm_error(llm_error_kind::scripted, "scripted_client: script exhausted", 0, 1);
  }
  if (s.delay.count() > 0) std::this_thread::sleep_for(s.delay);
  if (s.error) throw *s.error;
  return s.fn(r);
}

inline std::vector<std::vector<float>> scripted_client::embed(std::span<const std::string> texts) const {
  const int dim = embedding_dim();
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) {
    std::uint64_t x = fnv1a64(t);
    std::vector<float> v(static_cast<std::size_t>(dim));
    double norm = 0.0;
    for (auto& e : v) {
      x += 0x9e3779b97f4a7c15ULL;  // splitmix64
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      e = static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
      norm += static_cast<double>(e) * e;
    }
    norm = std::sqrt(norm);
    for (auto& e : v) e = static_cast<float>(e / (norm > 0 ? norm : 1.0));
    out.push_back(std::move(v));
  }
  return out;
}

inline std::vector<chat_request> scripted_client::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->log;
}

inline std::size_t scripted_client::calls() const {
  std::lock_guard lock(state_->mutex);
  return state_->log.size();
}

inline std::size_t scripted_client::remaining() const {
  std::lock_guard lock(state_->mutex);
  return state_->steps.size();
}

inline int scripted_client::embedding_dim() const {
  std::lock_guard lock(state_->mutex);
  return state_->embedding_dim;
}

}  // namespace recblocks::llm
