#pragma once
/// \file loopback_server.hpp
/// Test helper: a tiny HTTP/1.1 server on 127.0.0.1 (ephemeral port) running in a thread, answering
/// requests from a script of responses, so the HTTP client is tested against real sockets without
/// leaving the machine. Every connection is served on its own thread and closed after one
/// response (`Connection: close`). Faults: a delay before answering, a truncated body (a
/// Content-Length larger than what is sent, then close), streamed chunks with delays (SSE), a stall
/// after the chunks, and dropping the connection without an answer.
///
/// Hostile answers (`namespace hostile` below, used by test_llm_hostile.cpp): a server that never
/// answers, an endless stream, a huge body, invalid UTF-8 in a stream, a close in the middle of the
/// body, and 429 forever with a huge Retry-After. Endless and huge answers are generated as they are
/// sent (the fixture itself uses constant memory) and stop when the client closes.
///
/// Thread safety: `push`, `requests`, `max_concurrent` may be called while the server runs.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace recblocks_test {

/// One scripted answer.
struct http_reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int delay_ms = 0;             ///< wait before answering
  bool truncate = false;        ///< announce body.size() + 100 bytes, send body, close
  bool drop = false;            ///< close without any answer
  std::vector<std::string> chunks;  ///< if set: a streamed 200 answer (no Content-Length), these bytes in order
  int chunk_delay_ms = 0;       ///< between chunks
  int stall_ms = 0;             ///< after the last chunk, before closing
  bool hang = false;            ///< read the request, never answer (until the client closes or the server stops)
  std::string endless;          ///< if set: a streamed 200 answer repeating these bytes until the client closes
  std::size_t huge_bytes = 0;   ///< if > 0: a 200 answer of this many bytes (Content-Length), filled with 'x'

  static http_reply json(std::string body, int status = 200) {
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", "application/json");
    return r;
  }
};

/// A request as received.
struct http_request_seen {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  ///< lowercase names
};

class loopback_server {
 public:
  loopback_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("loopback_server: socket failed");
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 64) != 0) {
      ::close(fd_);
      throw std::runtime_error("loopback_server: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~loopback_server() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> handlers;
    {
      std::lock_guard lock(mutex_);
      handlers.swap(handlers_);
    }
    for (auto& t : handlers) t.join();
    ::close(fd_);
  }

  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void push(http_reply r) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(r));
  }
  /// Used when the script is empty (default: 500 "script exhausted").
  void set_fallback(http_reply r) {
    std::lock_guard lock(mutex_);
    fallback_ = std::move(r);
  }
  std::vector<http_request_seen> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int max_concurrent() const { return max_concurrent_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::lock_guard lock(mutex_);
      handlers_.emplace_back([this, c] { serve(c); });
    }
  }

  static bool send_all(int c, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const auto n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  void sleep_ms(int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  static const char* reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 400: return "Bad Request";
      case 401: return "Unauthorized";
      case 404: return "Not Found";
      case 408: return "Request Timeout";
      case 429: return "Too Many Requests";
      case 500: return "Internal Server Error";
      case 501: return "Not Implemented";
      case 503: return "Service Unavailable";
      default: return "Status";
    }
  }

  bool read_request(int c, http_request_seen& req) {
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string buf;
    char tmp[4096];
    std::size_t header_end = std::string::npos;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      const auto n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    const std::string head = buf.substr(0, header_end);
    std::size_t line_end = head.find("\r\n");
    const std::string first = head.substr(0, line_end);
    const auto sp1 = first.find(' '), sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    req.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      const std::string line = head.substr(pos, e - pos);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        req.headers[name] = value;
      }
      pos = e + 2;
    }
    std::size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) length = std::stoul(it->second);
    if (auto it = req.headers.find("expect"); it != req.headers.end() && it->second == "100-continue")
      send_all(c, "HTTP/1.1 100 Continue\r\n\r\n");
    req.body = buf.substr(header_end + 4);
    while (req.body.size() < length) {
      const auto n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      req.body.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
  }

  void serve(int c) {
    http_request_seen req;
    if (!read_request(c, req)) {
      ::close(c);
      return;
    }
    http_reply r;
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(req);
      if (script_.empty()) {
        r = fallback_;
      } else {
        r = std::move(script_.front());
        script_.pop_front();
      }
    }
    const int now = ++in_flight_;
    int prev = max_concurrent_.load();
    while (prev < now && !max_concurrent_.compare_exchange_weak(prev, now)) {
    }
    sleep_ms(r.delay_ms);
    if (r.hang) {  // hold the connection open without a byte until the client gives up
      char tmp[256];
      while (!stop_) {
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0 && ::recv(c, tmp, sizeof tmp, MSG_DONTWAIT) == 0) break;  // client closed
      }
    }
    --in_flight_;  // before answering, so a client's next request cannot overlap this count
    if (r.hang) {
    } else if (!r.endless.empty()) {
      bool ok = send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
      while (ok && !stop_) ok = send_all(c, r.endless);
    } else if (r.huge_bytes > 0) {
      bool ok = send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                            "Content-Length: " + std::to_string(r.huge_bytes) + "\r\n\r\n");
      const std::string block(64 * 1024, 'x');
      for (std::size_t sent = 0; ok && !stop_ && sent < r.huge_bytes; sent += block.size())
        ok = send_all(c, block.substr(0, std::min(block.size(), r.huge_bytes - sent)));
    } else if (!r.drop) {
      std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
      for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
      head += "Connection: close\r\n";
      if (!r.chunks.empty()) {
        head += "Content-Type: text/event-stream\r\n\r\n";
        bool ok = send_all(c, head);
        for (std::size_t i = 0; ok && i < r.chunks.size(); ++i) {
          if (i > 0) sleep_ms(r.chunk_delay_ms);
          ok = send_all(c, r.chunks[i]);
        }
        sleep_ms(r.stall_ms);
      } else {
        const std::size_t announced = r.body.size() + (r.truncate ? 100 : 0);
        head += "Content-Length: " + std::to_string(announced) + "\r\n\r\n";
        send_all(c, head + r.body);
      }
    }
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> handlers_;
  std::deque<http_reply> script_;
  http_reply fallback_ = http_reply::json(R"({"error":{"message":"script exhausted","type":"test"}})", 500);
  std::vector<http_request_seen> seen_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_concurrent_{0};
};

/// Hostile answers for the fixture (see the file comment).
namespace hostile {
/// Accepts the request and never sends a byte.
inline http_reply never_answers() {
  http_reply r;
  r.hang = true;
  return r;
}
/// A 200 event stream of `data:` chunks that never ends (no [DONE], no finish_reason).
inline http_reply endless_stream() {
  http_reply r;
  r.endless = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"spam spam spam spam\"}}]}\n\n";
  return r;
}
/// A 200 answer with a body of `bytes` bytes.
inline http_reply huge_body(std::size_t bytes) {
  http_reply r;
  r.huge_bytes = bytes;
  return r;
}
/// A stream whose second chunk carries bytes that are not UTF-8 (a lone 0xff and a cut sequence).
inline http_reply invalid_utf8_stream() {
  http_reply r;
  r.chunks = {"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok \"}}]}\n\n",
              std::string("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\xfe\xe2\x82\"}}]}\n\n"),
              "data: [DONE]\n\n"};
  return r;
}
/// Announces a complete chat answer, sends half of it, closes.
inline http_reply mid_body_close(std::string body) {
  http_reply r = http_reply::json(body.substr(0, body.size() / 2));
  r.truncate = true;
  return r;
}
/// 429 with `Retry-After: <retry_after>` (use it as the fallback: 429 forever).
inline http_reply rate_limited(std::string retry_after) {
  http_reply r = http_reply::json(R"({"error":{"message":"rate limited","type":"rate_limit"}})", 429);
  r.headers.emplace_back("Retry-After", std::move(retry_after));
  return r;
}
}  // namespace hostile

}  // namespace recblocks_test
