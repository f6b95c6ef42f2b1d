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
/// errors, timeouts, HTTP 408, 429, 500 and 5xx other than 501 (Not Implemented) and 505 (HTTP
/// Version Not Supported), which can never succeed. Everything else (400, 401, 404, a non-JSON body,
/// a too-large answer, ...) is not. llama.cpp answers requests it cannot serve (a schema it cannot
/// turn into a grammar, an unsupported parameter) with 500: `retry_policy::retry_http_500` (default
/// false) decides whether a 500 is retried.
///
/// The message (`what()`) shows at most 300 bytes of the body, with bytes that are not valid UTF-8
/// and control characters written as `\xNN`, so a hostile or binary answer cannot corrupt a log.
///
/// Thread safety: an immutable value; copy freely.

#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace recblocks::llm {

/// What failed. `connection`: refused, reset, truncated body; `timeout`: connect/total/idle timeout;
/// `http_status`: a non-2xx answer; `bad_response`: empty, non-JSON or missing fields;
/// `invalid_output`: the model's text did not parse or validate after the re-asks;
/// `replay_miss`: a strict replay client had no recording; `scripted`: an injected fault;
/// `config`: the client is not configured (no URL, bad option).
enum class llm_error_kind { connection, timeout, http_status, bad_response, invalid_output, replay_miss, scripted, config };

/// `bytes` with every byte that is not part of a valid UTF-8 sequence, and every ASCII control
/// character except tab and newline, written as `\xNN`; at most `max_bytes` input bytes are shown
/// ("..." marks a cut).
std::string printable(std::string_view bytes, std::size_t max_bytes = 300);

/// Offset of the first byte of `bytes` that is not valid UTF-8 (overlong forms, surrogates and
/// code points above U+10FFFF are invalid), or `std::string_view::npos` when all of it is valid.
std::size_t first_invalid_utf8(std::string_view bytes) noexcept;

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
    case llm_error_kind::http_status:
      return status_ == 408 || status_ == 429 || (status_ >= 500 && status_ <= 599 && status_ != 501 && status_ != 505);
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
    s += "; body: ";
    s += printable(body, 300);
  }
  return s;
}

inline std::size_t first_invalid_utf8(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned cp = 0;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return i;
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

inline std::string printable(std::string_view bytes, std::size_t max_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  const bool cut = bytes.size() > max_bytes;
  if (cut) bytes = bytes.substr(0, max_bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  while (!bytes.empty()) {
    const std::size_t bad = first_invalid_utf8(bytes);
    const std::string_view good = bytes.substr(0, bad == std::string_view::npos ? bytes.size() : bad);
    for (char ch : good) {
      const auto u = static_cast<unsigned char>(ch);
      if ((u < 0x20 && ch != '\n' && ch != '\t') || u == 0x7f) {
        out += "\\x";
        out += hex[u >> 4];
        out += hex[u & 0xf];
      } else {
        out += ch;
      }
    }
    if (bad == std::string_view::npos) break;
    const auto u = static_cast<unsigned char>(bytes[bad]);
    out += "\\x";
    out += hex[u >> 4];
    out += hex[u & 0xf];
    bytes.remove_prefix(bad + 1);
  }
  if (cut) out += "...";
  return out;
}

}  // namespace recblocks::llm
