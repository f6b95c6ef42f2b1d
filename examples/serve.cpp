// An HTTP/JSON scoring service for any checkpoint of the registry's models (serve::model_server
// behind cpp-httplib; endpoints in examples/http_scoring_service.hpp). Two lines from the README:
//
//   build/default/examples/train_msr --model mmoe --data movielens --out ckpt/mmoe
//   build/default/examples/serve --checkpoint ckpt/mmoe --port 8080
//   curl -s localhost:8080/score -d '{"rows": [{"user_id": 1, "item_id": 31, ...}]}'
//
//   serve --checkpoint DIR [--host 127.0.0.1] [--port 0] [--workers 1] [--max-batch-rows 64]
//         [--max-wait-us 500] [--queue-rows 4096] [--max-request-rows 1024] [--max-body-bytes 1048576]
//         [--io-threads 64] [--self-test]
//
// --port 0 picks a free port; the first line on stdout is "listening on http://HOST:PORT". SIGINT or
// SIGTERM stops it gracefully (stop accepting, drain the queue). --max-batch-rows 1 turns
// micro-batching off. --self-test starts on a free port, sends itself a row of the model's schema
// (all ids 0 = unknown), /health and /metrics, checks the answers and exits 0 (used by ctest).
#include <csignal>
#include <cstdio>
#include <thread>

#include "common.hpp"
#include "http_scoring_service.hpp"

using namespace recblocks;
using namespace recblocks_examples;

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

int self_test(http_scoring_service& service) {
  httplib::Client client("127.0.0.1", service.port());
  client.set_read_timeout(10, 0);
  nlohmann::json row;
  for (const auto& f : service.model_server().current_model()->schema().features()) {
    if (f.kind == data::feature_kind::sparse || f.kind == data::feature_kind::scenario) row[f.name] = 0;
    if (f.kind == data::feature_kind::dense) row[f.name] = 0.0;
    if (f.kind == data::feature_kind::sequence) row[f.name] = nlohmann::json::array();
  }
  const auto scored = client.Post("/score", nlohmann::json{{"rows", {row, row}}}.dump(), "application/json");
  const auto bad = client.Post("/score", "{\"rows\": [{\"no_such_feature\": 1}]}", "application/json");
  const auto health = client.Get("/health");
  const auto metrics = client.Get("/metrics");
  const bool ok = scored && scored->status == 200 && nlohmann::json::parse(scored->body)["probabilities"].size() == 2 &&
                  bad && bad->status == 400 && health && health->status == 200 && metrics && metrics->status == 200 &&
                  metrics->body.find("recblocks_serve_requests_total 1\n") != std::string::npos;
  std::printf("self-test: score %d, bad request %d, health %d, metrics %d: %s\n", scored ? scored->status : -1,
              bad ? bad->status : -1, health ? health->status : -1, metrics ? metrics->status : -1, ok ? "ok" : "FAILED");
  if (scored) std::printf("%s\n", scored->body.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  http_scoring_service::options o;
  std::string checkpoint;
  index_t max_wait_us = 500, max_body = index_t{1} << 20;
  bool test = false;
  command_line cl("serve",
                  "serve --checkpoint DIR [--host 127.0.0.1] [--port 0] [--workers 1] [--max-batch-rows 64]\n"
                  "             [--max-wait-us 500] [--queue-rows 4096] [--max-request-rows 1024] [--max-body-bytes 1048576]\n"
                  "             [--io-threads 64] [--self-test]");
  cl.option("--checkpoint", checkpoint);
  cl.option("--host", o.host);
  cl.option("--port", o.port);
  cl.option("--workers", o.server.workers);
  cl.option("--max-batch-rows", o.server.max_batch_rows);
  cl.option("--max-wait-us", max_wait_us);
  cl.option("--queue-rows", o.server.queue_capacity_rows);
  cl.option("--max-request-rows", o.server.max_request_rows);
  cl.option("--max-body-bytes", max_body);
  cl.option("--io-threads", o.io_threads);
  cl.flag("--self-test", test);
  cl.parse(argc, argv);
  if (checkpoint.empty()) cl.fail("--checkpoint DIR is required");
  if (max_wait_us < 0 || max_body < 1 || o.io_threads < 1 || o.port < 0 || o.port > 65535)
    cl.fail("--max-wait-us >= 0, --max-body-bytes >= 1, --io-threads >= 1, --port in [0, 65535]");
  o.checkpoint = checkpoint;
  o.server.max_wait = std::chrono::microseconds(max_wait_us);
  o.max_body_bytes = static_cast<std::size_t>(max_body);
  if (test) o.port = 0;
  try {
    http_scoring_service service(o);
    const auto m = service.model_server().current_model();
    std::printf("listening on http://%s:%d\nmodel %s, version %s, %d worker(s), micro-batches up to %lld rows / %lld us\n",
                o.host.c_str(), service.port(), m->name().c_str(), m->version().c_str(), o.server.workers,
                (long long)o.server.max_batch_rows, (long long)max_wait_us);
    std::fflush(stdout);
    service.start();
    if (test) {
      const int rc = self_test(service);
      service.stop();
      return rc;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    service.stop();
    const auto& st = service.model_server().stats();
    std::printf("stopped: %llu requests, %llu rows, %llu batches, %llu overloaded, %llu invalid\n",
                (unsigned long long)st.requests.load(), (unsigned long long)st.rows.load(),
                (unsigned long long)st.batches.load(), (unsigned long long)st.overloaded.load(),
                (unsigned long long)st.invalid.load());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve: %s\n", e.what());
    return 1;
  }
}
