#pragma once
/// \file replay_client.hpp
/// `replay_client`: an `llm_client` that answers from a recording (a `response_cache` written by
/// `recording_client` or `caching_client`) and never touches the network.
///
/// - `replay_mode::strict`: a request with no recording throws `llm_error(replay_miss)` naming the
///   request hash, the recording directory and the start of the last message, so a test or an
///   example fails clearly when its prompts change.
/// - `replay_mode::fallback`: a miss is sent to the fallback client (an `any_client`) and its answer
///   returned (not recorded; wrap the fallback in `recording_client` for that).
///
/// Thread safety: `chat` may be called concurrently (the cache is thread-safe, counters are atomic).

#include <atomic>
#include <string>
#include <utility>

#include "any_client.hpp"
#include "client.hpp"
#include "response_cache.hpp"

namespace recblocks::llm {

/// What a replay client does on a miss.
enum class replay_mode { strict, fallback };

/// Serves recorded responses (see the file comment).
class replay_client {
 public:
  /// Strict replay of `recording` in `scope`.
  explicit replay_client(const response_cache& recording, std::string scope = {});

  /// Replay with a fallback client for misses.
  replay_client(const response_cache& recording, any_client fallback, std::string scope = {});

  chat_response chat(const chat_request& r);

  replay_mode mode() const noexcept { return fallback_ ? replay_mode::fallback : replay_mode::strict; }
  long hits() const noexcept { return hits_.load(); }
  long misses() const noexcept { return misses_.load(); }

 private:
  const response_cache* recording_;
  any_client fallback_;
  std::string scope_;
  std::atomic<long> hits_{0}, misses_{0};
};

// ---- implementation ----------------------------------------------------------------------------

inline replay_client::replay_client(const response_cache& recording, std::string scope)
    : recording_(&recording), scope_(std::move(scope)) {}

inline replay_client::replay_client(const response_cache& recording, any_client fallback, std::string scope)
    : recording_(&recording), fallback_(std::move(fallback)), scope_(std::move(scope)) {
  if (!fallback_) throw value_error("[llm::replay_client] the fallback client is empty");
}

inline chat_response replay_client::chat(const chat_request& r) {
  if (auto hit = recording_->get(r, scope_)) {
    ++hits_;
    return std::move(*hit);
  }
  ++misses_;
  if (fallback_) return fallback_.chat(r);
  std::string last = r.messages.empty() ? std::string() : r.messages.back().content;
  if (last.size() > 120) last = last.substr(0, 120) + "...";
  const std::string where =
      recording_->is_in_memory() ? std::string("an in-memory recording") : recording_->directory().string();
  throw llm_error(llm_error_kind::replay_miss,
                  "replay_client (strict): no recording of request " + to_hex(request_hash(r, scope_)) + " in " +
                      where + " (scope \"" + scope_ + "\"); last message: \"" + last +
                      "\". Re-record with recording_client against a live server.",
                  0, 0);
}

}  // namespace recblocks::llm
