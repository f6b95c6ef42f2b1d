#pragma once
/// \file llm_error.hpp
/// `recblocks::llm::llm_error`: every failure of a remote (or scripted) model surfaces as this one
/// type. It carries what a caller needs to decide and to debug:
///
/// - `kind()`:     what went wrong (connection, timeout, HTTP status, bad body, invalid output, ...);
/// - `status()`:   the HTTP status of the last attempt, 0 when there was no HTTP answer;
/// - `attempts()`: how many attempts were made (retries included) before giving up;
/// - `body()`:     the raw body of the last answer (for `invalid_output`: the model's last raw text);
/// - `retry_after_ms()`: the server's Retry-After hint in milliseconds, -1 when absent.
///
/// `retryable()` says whether the failure is transient by the rules of the retry layer: connection
/// errors, timeouts, HTTP 408, 429 and 5xx. Everything else (400, 401, 404, a non-JSON body, ...) is not.
///
/// Thread safety: an immutable value; copy freely.

#include <string>

#include "../core/error.hpp"

namespace recblocks::llm {

/// What failed. `connection`: refused, reset, truncated body; `timeout`: connect/total/idle timeout;
/// `http_status`: a non-2xx answer; `bad_response`: empty, non-JSON or missing fields;
/// `invalid_output`: the model's text did not parse or validate after the re-asks;
/// `replay_miss`: a strict replay client had no recording; `scripted`: an injected fault;
/// `config`: the client is not configured (no URL, bad option).
enum class llm_error_kind { connection, timeout, http_status, bad_response, invalid_output, replay_miss, scripted, config };

/// Name of an error kind ("connection", "timeout", ...).
constexpr const char* to_string(llm_error_kind k) noexcept {
  switch (k) {
    case llm_error_kind::connection: return "connection";
    case llm_error_kind::timeout: return "timeout";
    case llm_error_kind::http_status: return "http_status";
    case llm_error_kind::bad_response: return "bad_response";
    case llm_error_kind::invalid_output: return "invalid_output";
    case llm_error_kind::replay_miss: return "replay_miss";
    case llm_error_kind::scripted: return "scripted";
    case llm_error_kind::config: return "config";
  }
  return "unknown";
}

/// A failed LLM call. See the file comment for the fields.
class llm_error : public recblocks::error {
 public:
  llm_error(llm_error_kind kind, const std::string& message, int status = 0, int attempts = 1, std::string body = {},
            long retry_after_ms = -1);

  llm_error_kind kind() const noexcept { return kind_; }
  int status() const noexcept { return status_; }
  int attempts() const noexcept { return attempts_; }
  const std::string& body() const noexcept { return body_; }
  long retry_after_ms() const noexcept { return retry_after_ms_; }

  /// Transient: connection, timeout, or HTTP 408 / 429 / 5xx.
  bool retryable() const noexcept;

  /// The same error with the attempt count replaced (used by retry layers when they give up).
  llm_error with_attempts(int attempts) const;

 private:
  static std::string format(llm_error_kind kind, const std::string& message, int status, int attempts,
                            const std::string& body);

  llm_error_kind kind_;
  int status_;
  int attempts_;
  std::string body_;
  long retry_after_ms_;
  std::string message_;
};

// ---- implementation ----------------------------------------------------------------------------

inline llm_error::llm_error(llm_error_kind kind, const std::string& message, int status, int attempts,
                            std::string body, long retry_after_ms)
    : recblocks::error(format(kind, message, status, attempts, body)),
      kind_(kind),
      status_(status),
      attempts_(attempts),
      body_(std::move(body)),
      retry_after_ms_(retry_after_ms),
      message_(message) {}

inline bool llm_error::retryable() const noexcept {
  switch (kind_) {
    case llm_error_kind::connection:
    case llm_error_kind::timeout: return true;
    case llm_error_kind::http_status: return status_ == 408 || status_ == 429 || (status_ >= 500 && status_ <= 599);
    default: return false;
  }
}

inline llm_error llm_error::with_attempts(int attempts) const {
  return llm_error(kind_, message_, status_, attempts, body_, retry_after_ms_);
}

inline std::string llm_error::format(llm_error_kind kind, const std::string& message, int status, int attempts,
                                     const std::string& body) {
  std::string s = "[llm] ";
  s += to_string(kind);
  s += ": ";
  s += message;
  if (status != 0) s += " (HTTP " + std::to_string(status) + ")";
  s += " after " + std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts");
  if (!body.empty()) {
    constexpr std::size_t max_shown = 300;
    s += "; body: ";
    s += body.size() > max_shown ? body.substr(0, max_shown) + "..." : body;
  }
  return s;
}

}  // namespace recblocks::llm
