// The HTTP scoring service of examples/serve.cpp, started in-process on port 0: good and bad
// requests, overload, reload (good and corrupt), metrics, stop.
#include <catch2/catch.hpp>

#ifdef RECBLOCKS_HAVE_HTTPLIB
#include <fstream>

#include "../../examples/http_scoring_service.hpp"
#include "serve_fixture.hpp"

using namespace recblocks;
using serve_test::fixture;
namespace fs = std::filesystem;

namespace {

nlohmann::json row_json(const data::schema& s, const data::batch<float>& b, index_t r) {
  nlohmann::json row;
  index_t sparse_i = 0, dense_i = 0;
  for (const auto& f : s.features()) {
    if (f.kind == data::feature_kind::sparse) row[f.name] = b.sparse(sparse_i++, r);
    if (f.kind == data::feature_kind::dense) row[f.name] = b.dense(r, dense_i++);
    if (f.kind == data::feature_kind::scenario) row[f.name] = b.scenario[static_cast<std::size_t>(r)];
  }
  return row;
}

}  // namespace

TEST_CASE("serve: the HTTP service answers, refuses bad input with 400, reloads, reports metrics", "[serve][http]") {
  fixture f;
  const fs::path live = f.root / "live";
  fs::copy(f.dir_a, live);
  recblocks_examples::http_scoring_service::options o;
  o.checkpoint = live;
  o.max_body_bytes = 64 * 1024;
  o.io_threads = 4;
  o.server.max_request_rows = 16;
  o.server.queue_capacity_rows = 64;
  recblocks_examples::http_scoring_service service(o);
  REQUIRE(service.port() > 0);
  service.start();
  httplib::Client client("127.0.0.1", service.port());
  client.set_read_timeout(10, 0);

  const auto& s = f.syn.data().get_schema();
  const auto a = serve::load_scoring_model<float>(f.dir_a);
  const auto expected = fixture::reference(*a, f.requests);
  const auto post = [&](const std::string& path, const std::string& body) {
    auto r = client.Post(path.c_str(), body, "application/json");
    REQUIRE(r);
    return *r;
  };

  // good requests: the same probabilities as the block, the version named
  for (std::size_t i = 0; i < 5; ++i) {
    nlohmann::json req;
    for (index_t r = 0; r < f.requests[i].size; ++r) req["rows"].push_back(row_json(s, f.requests[i], r));
    const auto res = post("/score", req.dump());
    REQUIRE(res.status == 200);
    const auto body = nlohmann::json::parse(res.body);
    CHECK(body["model_version"] == a->version());
    const auto p = body["probabilities"].get<std::vector<float>>();
    CHECK(p == expected[i]);
  }

  // bad requests: 400 with the reason, nothing crashes
  const auto error_of = [&](const std::string& body, int status = 400) {
    const auto res = post("/score", body);
    CHECK(res.status == status);
    return nlohmann::json::parse(res.body).value("error", std::string());
  };
  nlohmann::json good = row_json(s, f.requests[0], 0);
  CHECK_THAT(error_of("{\"rows\": [1, 2"), Catch::Contains("malformed JSON"));
  CHECK_THAT(error_of("not json"), Catch::Contains("malformed JSON"));
  nlohmann::json unknown = good;
  unknown["colour"] = 1;
  CHECK_THAT(error_of(nlohmann::json{{"rows", {unknown}}}.dump()), Catch::Contains("feature 'colour': not in the model's schema"));
  nlohmann::json out_of_range = good;
  out_of_range["user_id"] = 1000000;
  CHECK_THAT(error_of(nlohmann::json{{"rows", {out_of_range}}}.dump()), Catch::Contains("feature 'user_id': id 1000000 outside"));
  nlohmann::json wrong_type = good;
  wrong_type["user_id"] = "abc";
  CHECK_THAT(error_of(nlohmann::json{{"rows", {wrong_type}}}.dump()), Catch::Contains("expected an integer id"));
  nlohmann::json missing = good;
  missing.erase("item_id");
  CHECK_THAT(error_of(nlohmann::json{{"rows", {missing}}}.dump()), Catch::Contains("feature 'item_id': missing"));
  nlohmann::json many;
  for (int i = 0; i < 17; ++i) many["rows"].push_back(good);
  CHECK_THAT(error_of(many.dump()), Catch::Contains("17 rows exceed the limit of 16"));
  CHECK_THAT(error_of(std::string(70 * 1024, ' '), 413), Catch::Contains("exceeds the size limit"));
  CHECK(client.Get("/nope")->status == 404);

  // health and metrics
  const auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(nlohmann::json::parse(health->body)["version"] == a->version());
  const auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("recblocks_serve_requests_total 5\n"));
  CHECK_THAT(metrics->get_header_value("Content-Type"), Catch::Contains("text/plain"));

  // reload: new weights saved into the served folder -> 200 and the new version answers
  fs::remove_all(live);
  fs::copy(f.dir_b, live);
  auto res = post("/reload", "");
  REQUIRE(res.status == 200);
  const auto b = serve::load_scoring_model<float>(f.dir_b);
  CHECK(nlohmann::json::parse(res.body)["version"] == b->version());
  nlohmann::json req{{"rows", {good}}};
  CHECK(nlohmann::json::parse(post("/score", req.dump()).body)["model_version"] == b->version());
  // a corrupt checkpoint: 409, the old model keeps serving
  std::ofstream(live / "model.json") << "{ truncated";
  res = post("/reload", "");
  CHECK(res.status == 409);
  CHECK_THAT(nlohmann::json::parse(res.body)["error"].get<std::string>(), Catch::Contains("old model keeps serving"));
  CHECK(nlohmann::json::parse(post("/score", req.dump()).body)["model_version"] == b->version());

  service.stop();
  CHECK_FALSE(client.Get("/health"));  // stopped: no answer
}

TEST_CASE("serve: the HTTP service answers 503 when the queue is full", "[serve][http]") {
  fixture f;
  recblocks_examples::http_scoring_service::options o;
  o.checkpoint = f.dir_a;
  o.io_threads = 16;
  o.server.max_request_rows = 4;
  o.server.queue_capacity_rows = 4;
  o.server.max_batch_rows = 4;
  o.server.max_wait = std::chrono::milliseconds(200);  // requests wait long: the queue fills
  recblocks_examples::http_scoring_service service(o);
  service.start();
  const auto& s = f.syn.data().get_schema();
  nlohmann::json req;
  for (int i = 0; i < 3; ++i) req["rows"].push_back(row_json(s, f.requests[0], 0));
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 6; ++c)
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", service.port());
      const auto r = client.Post("/score", req.dump(), "application/json");
      if (r && r->status == 200) ++ok;
      else if (r && r->status == 503 && r->get_header_value("Retry-After") == "1") ++unavailable;
      else ++other;
    });
  for (auto& t : threads) t.join();
  CHECK(other == 0);
  CHECK(ok >= 1);
  CHECK(unavailable >= 1);
  CHECK(ok + unavailable == 6);
  service.stop();
}

#else
TEST_CASE("serve: HTTP service tests need cpp-httplib", "[serve][http]") {
  WARN("cpp-httplib not found at configure time (apt-get install libcpp-httplib-dev): HTTP service tests skipped");
}
#endif
