#pragma once
// An HTTP/JSON scoring service on `serve::model_server` with cpp-httplib (Debian's
// libcpp-httplib-dev). Used by examples/serve.cpp (the process) and tests/serve (in-process).
//
//   POST /score    {"rows": [{feature: value, ...}, ...]}  -> 200 {"model_version": v, "probabilities": [...],
//                                                                   "batch_rows": n}
//                  400 malformed JSON / unknown or missing feature / id out of range / wrong type,
//                  413 body over the limit, 503 overloaded or shutting down (Retry-After: 1),
//                  500 the model failed (should not happen: requests are checked first)
//   POST /reload   reloads the checkpoint directory the service was started with (a trainer saves
//                  the new weights there, crash-safely, then calls this); 200 {"version": v}, or 409
//                  {"error": why} when the checkpoint is refused (the old model keeps serving)
//   GET  /health   200 {"status": "ok", "model": name, "version": v}
//   GET  /metrics  Prometheus text (serve::server_stats)
//
// Every error body is {"error": message}. The reload path is fixed at start: a client cannot make
// the service read another folder. Binds 127.0.0.1 by default; port 0 picks a free port.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>
#include <recblocks/serve.hpp>

// After Eigen (recblocks/serve.hpp): httplib includes <resolv.h>, whose `#define _res` would rename a
// parameter of Eigen's product kernels in any header parsed after it.
#include <httplib.h>
#include <sys/socket.h>

namespace recblocks_examples {

class http_scoring_service {
 public:
  struct options {
    std::filesystem::path checkpoint;            ///< the folder served and reloaded
    std::string host = "127.0.0.1";
    int port = 0;                                ///< 0: any free port (see `port()`)
    std::size_t max_body_bytes = 1 << 20;        ///< larger bodies: 413
    int io_threads = 64;                         ///< connection threads (each holds one keep-alive connection)
    recblocks::serve::model_server_options server;
  };

  explicit http_scoring_service(options o)
      : options_(std::move(o)),
        server_(recblocks::serve::load_scoring_model<float>(options_.checkpoint), options_.server) {
    const int io = options_.io_threads;
    http_.new_task_queue = [io] { return new httplib::ThreadPool(static_cast<std::size_t>(io)); };
    http_.set_tcp_nodelay(true);  // one request, one response: never wait for a delayed ACK (Nagle)
    http_.set_payload_max_length(options_.max_body_bytes);
    http_.set_keep_alive_max_count(1000000);
    http_.set_keep_alive_timeout(10);
    http_.Post("/score", [this](const httplib::Request& rq, httplib::Response& rs) { score(rq, rs); });
    http_.Post("/reload", [this](const httplib::Request&, httplib::Response& rs) { reload(rs); });
    http_.Get("/health", [this](const httplib::Request&, httplib::Response& rs) {
      const auto m = server_.current_model();
      json(rs, 200, {{"status", "ok"}, {"model", m->name()}, {"version", m->version()}});
    });
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& rs) {
      const auto m = server_.current_model();
      rs.set_content(server_.stats().to_prometheus(m->name(), m->version()), "text/plain; version=0.0.4");
    });
    http_.set_error_handler([](const httplib::Request&, httplib::Response& rs) {
      if (rs.body.empty()) {
        const std::string why = rs.status == 413 ? "request body exceeds the size limit"
                                : rs.status == 404 ? "no such endpoint"
                                                   : "HTTP " + std::to_string(rs.status);
        rs.set_content(nlohmann::json{{"error", why}}.dump(), "application/json");
      }
    });
    // Debian's cpp-httplib listens with a backlog of 5: 64 clients connecting at once overflow it
    // and wait 1-3 s for SYN retransmits. Keep the listening socket (its options are set here, as
    // httplib's defaults would: SO_REUSEADDR) and raise the backlog after bind (Linux allows a
    // second listen() on a listening socket).
    http_.set_socket_options([this](int sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_socket_ = sock;
    });
    port_ = options_.port == 0 ? http_.bind_to_any_port(options_.host) : (http_.bind_to_port(options_.host, options_.port) ? options_.port : -1);
    if (port_ < 0) throw std::runtime_error("cannot bind " + options_.host + ":" + std::to_string(options_.port));
    if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
  }
  ~http_scoring_service() { stop(); }
  http_scoring_service(const http_scoring_service&) = delete;
  http_scoring_service& operator=(const http_scoring_service&) = delete;

  int port() const { return port_; }
  /// Serves until `stop()` (blocks).
  void run() { http_.listen_after_bind(); }
  /// Serves on a background thread.
  void start() {
    thread_ = std::thread([this] { run(); });
    while (!http_.is_running() && !stopped_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  /// Stops accepting connections, drains the scoring queue, joins. Idempotent.
  void stop() {
    if (stopped_.exchange(true)) return;
    http_.stop();
    if (thread_.joinable()) thread_.join();
    server_.shutdown();
  }

  recblocks::serve::model_server<float>& model_server() { return server_; }

 private:
  static void json(httplib::Response& rs, int status, const nlohmann::json& body) {
    rs.status = status;
    rs.set_content(body.dump(), "application/json");
  }

  void score(const httplib::Request& rq, httplib::Response& rs) {
    nlohmann::json body;
    try {
      body = nlohmann::json::parse(rq.body);
    } catch (const nlohmann::json::exception& e) {
      return json(rs, 400, {{"error", std::string("malformed JSON: ") + e.what()}});
    }
    recblocks::data::batch<float> rows;
    try {
      server_.validator().decode(body, rows);  // the server's own checks (same schema, same row limit)
    } catch (const recblocks::error& e) {
      return json(rs, 400, {{"error", e.what()}});
    }
    auto r = server_.score(std::move(rows));
    using recblocks::serve::score_status;
    switch (r.status) {
      case score_status::ok:
        return json(rs, 200, {{"model_version", r.model_version}, {"probabilities", r.probabilities}, {"batch_rows", r.batch_rows}});
      case score_status::invalid: return json(rs, 400, {{"error", r.message}});
      case score_status::overloaded:
      case score_status::shutting_down:
        rs.set_header("Retry-After", "1");
        return json(rs, 503, {{"error", r.message}});
      case score_status::failed: return json(rs, 500, {{"error", r.message}});
    }
  }

  void reload(httplib::Response& rs) {
    try {
      const std::string v = server_.reload(options_.checkpoint);
      json(rs, 200, {{"version", v}});
    } catch (const std::exception& e) {
      json(rs, 409, {{"error", std::string("checkpoint refused, the old model keeps serving: ") + e.what()}});
    }
  }

  options options_;
  recblocks::serve::model_server<float> server_;
  httplib::Server http_;
  int port_ = -1;
  int listen_socket_ = -1;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace recblocks_examples
