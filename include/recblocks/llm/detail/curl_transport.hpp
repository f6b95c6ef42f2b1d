#pragma once
/// \file detail/curl_transport.hpp
/// Internal: one HTTP POST over libcurl, used only by `http_client.hpp`. No curl type leaves this
/// file's functions. Handles are per thread (one easy + one multi handle, reused for keep-alive);
/// `curl_global_init` runs once. The transfer is driven by `curl_multi_poll` in 20 ms steps so the
/// idle timeout is checked precisely. Transport failures throw `llm_error` (connection / timeout /
/// config); HTTP statuses are returned, not thrown. Exceptions thrown by the body sink are
/// captured inside the C callbacks and rethrown after the transfer.
///
/// Hostile servers: only `http` and `https` URLs are fetched (curl's protocol allow-list, so a
/// `file://` or `gopher://` URL is refused as `llm_error(config)`, and redirects are not followed);
/// a response whose bytes exceed `max_bytes` is aborted while it arrives, as
/// `llm_error(bad_response)` carrying only the first 300 bytes.

#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "../llm_error.hpp"

namespace recblocks::llm::detail {

struct http_timeouts {
  long connect_ms = 10000;
  long total_ms = 120000;
  long idle_ms = 0;  ///< 0: none; else abort when no byte arrives for this long
  std::size_t max_bytes = 0;  ///< 0: unlimited; else abort a response (headers + body) larger than this
};

struct http_result {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  ///< lowercase names
};

/// Receives body bytes of a 2xx answer as they arrive.
using body_sink = std::function<void(std::string_view)>;

http_result curl_post(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                      const http_timeouts& timeouts, const body_sink& sink);

// ---- implementation ----------------------------------------------------------------------------

inline void curl_global_once() {
  static std::once_flag flag;
  std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct curl_handles {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_handles() {
    curl_global_once();
    easy = curl_easy_init();
    multi = curl_multi_init();
  }
  ~curl_handles() {
    if (easy) curl_easy_cleanup(easy);
    if (multi) curl_multi_cleanup(multi);
  }
  curl_handles(const curl_handles&) = delete;
  curl_handles& operator=(const curl_handles&) = delete;
};

struct curl_transfer {
  CURL* easy = nullptr;
  http_result result;
  const body_sink* sink = nullptr;
  std::exception_ptr error;
  std::chrono::steady_clock::time_point last_activity;
  std::size_t max_bytes = 0;
  std::size_t received = 0;  // header and body bytes
  std::string url;

  // Counts `len` more bytes; false (and `error` set) once the response exceeds `max_bytes`.
  bool within_limit(std::size_t len) {
    received += len;
    if (max_bytes == 0 || received <= max_bytes) return true;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    error = std::make_exception_ptr(llm_error(
        llm_error_kind::bad_response,
        "response from " + url + " exceeds max_response_bytes = " + std::to_string(max_bytes) +
            " (aborted after " + std::to_string(received) + " bytes)",
        static_cast<int>(code), 1, result.body.substr(0, 300)));
    return false;
  }

  static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* self_) {
    auto* self = static_cast<curl_transfer*>(self_);
    const std::size_t len = size * n;
    self->last_activity = std::chrono::steady_clock::now();
    if (!self->within_limit(len)) return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    try {
      self->result.body.append(data, len);
      long code = 0;
      curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &code);
      if (self->sink && *self->sink && code >= 200 && code < 300) (*self->sink)(std::string_view(data, len));
    } catch (...) {
      self->error = std::current_exception();
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return len;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self_) {
    auto* self = static_cast<curl_transfer*>(self_);
    const std::size_t len = size * n;
    self->last_activity = std::chrono::steady_clock::now();
    if (!self->within_limit(len)) return 0;  // endless headers
    std::string_view line(data, len);
    if (line.rfind("HTTP/", 0) == 0) {  // a new status line (e.g. after 100 Continue)
      self->result.headers.clear();
      return len;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    self->result.headers[name] = std::string(value);
    return len;
  }
};

inline http_result curl_post(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                             const http_timeouts& timeouts, const body_sink& sink) {
  thread_local curl_handles handles;
  if (!handles.easy || !handles.multi) throw llm_error(llm_error_kind::config, "cannot initialise libcurl", 0, 1);
  CURL* h = handles.easy;
  curl_easy_reset(h);
  curl_transfer t;
  t.easy = h;
  t.sink = &sink;
  t.max_bytes = timeouts.max_bytes;
  t.url = url;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* list = nullptr;
  for (const auto& hd : headers) list = curl_slist_append(list, hd.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &curl_transfer::on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &curl_transfer::on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeouts.connect_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeouts.total_ms);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string form
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif

  t.last_activity = std::chrono::steady_clock::now();
  CURLM* m = handles.multi;
  curl_multi_add_handle(m, h);
  bool idle_expired = false;
  CURLcode code = CURLE_OK;
  bool finished = false;
  while (!finished) {
    int running = 0;
    const CURLMcode mc = curl_multi_perform(m, &running);
    if (mc != CURLM_OK) {
      code = CURLE_FAILED_INIT;
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
        code = msg->data.result;
        finished = true;
      }
    }
    if (finished) break;
    if (timeouts.idle_ms > 0 &&
        std::chrono::steady_clock::now() - t.last_activity > std::chrono::milliseconds(timeouts.idle_ms)) {
      idle_expired = true;
      break;
    }
    curl_multi_poll(m, nullptr, 0, 20, nullptr);
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(m, h);
  curl_slist_free_all(list);
  t.result.status = static_cast<int>(status);

  if (t.error) std::rethrow_exception(t.error);
  if (idle_expired)
    throw llm_error(llm_error_kind::timeout,
                    "idle timeout: no data from " + url + " for " + std::to_string(timeouts.idle_ms) + " ms",
                    t.result.status, 1, t.result.body);
  if (code == CURLE_OK) return std::move(t.result);
  std::string what = std::string(curl_easy_strerror(code)) + (errbuf[0] ? std::string(": ") + errbuf : "");
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      throw llm_error(llm_error_kind::timeout, "POST " + url + ": " + what, t.result.status, 1, t.result.body);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_FAILED_INIT:
      throw llm_error(llm_error_kind::config, "POST " + url + ": " + what, 0, 1);
    default:  // refused, reset, truncated (CURLE_PARTIAL_FILE), nothing received, TLS, DNS, ...
      throw llm_error(llm_error_kind::connection, "POST " + url + ": " + what, t.result.status, 1, t.result.body);
  }
}

}  // namespace recblocks::llm::detail
