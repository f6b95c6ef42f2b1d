// serve/: scoring_model, row_decoder, model_server (micro-batching, bounded queue, hot reload,
// shutdown) and server_stats.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "serve_fixture.hpp"

using namespace recblocks;
using serve_test::fixture;
namespace fs = std::filesystem;

namespace {

/// A model that blocks every batch until `open()` (to fill the queue deterministically), or throws
/// for rows whose first sparse id is `poison`, or answers NaN.
class test_model final : public serve::scoring_model<float> {
 public:
  enum class mode { gate, poison, nan };
  test_model(const data::schema& s, mode m, index_t poison = -1)
      : serve::scoring_model<float>("test", "test-1", s), mode_(m), poison_(poison) {}
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int entered() const { return entered_.load(); }

 protected:
  void logits(tape<float>&, const data::batch<float>& b, std::span<float> out) const override {
    ++entered_;
    if (mode_ == mode::gate) {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return open_; });
    }
    for (index_t i = 0; i < b.size; ++i) {
      if (mode_ == mode::poison && b.sparse(0, i) == poison_) throw value_error("poisoned row");
      out[static_cast<std::size_t>(i)] = mode_ == mode::nan ? std::nanf("") : float(b.sparse(0, i)) * 0.01f;
    }
  }

 private:
  mode mode_;
  index_t poison_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool open_ = false;
  mutable std::atomic<int> entered_{0};
};

bool exactly(const std::vector<float>& a, const std::vector<float>& b) { return a == b; }

/// Largest |a_i - b_i|; +inf for different sizes. No Catch2 assertion inside: it runs on client
/// threads, and Catch2 v2's assertion macros are not thread-safe.
float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<float>::infinity();
  float d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

}  // namespace

TEST_CASE("serve: a checkpoint loads as a scoring_model that scores as the model does", "[serve]") {
  fixture f;
  const auto m = serve::load_scoring_model<float>(f.dir_a);
  CHECK(m->name() == std::string("mmoe"));
  CHECK(m->version() == io::checkpoint::open(f.dir_a).manifest()["weights"]["fnv1a64"].get<std::string>());
  CHECK(m->schema() == f.syn.data().get_schema());
  const auto direct = io::checkpoint::load<models::mmoe<float>>(f.dir_a);
  tape<float> t(tape_mode::infer);
  const auto& b = f.requests[5];
  const matrix<float> z = direct(t, b).value();
  t.reset();
  std::vector<float> p(static_cast<std::size_t>(b.size));
  m->probabilities(t, b, p);
  for (index_t i = 0; i < b.size; ++i) CHECK(p[static_cast<std::size_t>(i)] == 1.0f / (1.0f + std::exp(-z(i, 0))));
  std::vector<float> wrong(3);
  t.reset();
  CHECK_THROWS_AS(m->probabilities(t, b, wrong), shape_error);
  CHECK_THROWS_AS(serve::load_scoring_model<float>(f.root / "missing"), io_error);
}

TEST_CASE("serve: row_decoder decodes rows by name and names the row and feature of every error", "[serve]") {
  data::schema s;
  s.add({"user_id", data::feature_kind::sparse, 10})
      .add({"price", data::feature_kind::dense})
      .add({"history", data::feature_kind::sequence, 20, 3})
      .add({"domain", data::feature_kind::scenario, 0, 0, 2})
      .add({"click", data::feature_kind::label});
  serve::row_decoder<float> dec(s, 4);
  data::batch<float> b;
  dec.decode(nlohmann::json::parse(R"({"rows": [{"user_id": 3, "price": 0.5, "history": [4, 5], "domain": 1, "click": 1},
                                               {"user_id": 0, "price": -2, "history": [], "domain": 0}]})"),
             b);
  REQUIRE(b.size == 2);
  CHECK(b.sparse(0, 0) == 3);
  CHECK(b.sparse(0, 1) == 0);
  CHECK(b.dense(0, 0) == 0.5f);
  CHECK(b.dense(1, 0) == -2.0f);
  CHECK(b.scenario == std::vector<index_t>{1, 0});
  CHECK(b.sequences[0](0, 0) == 4);
  CHECK(b.sequences[0](0, 1) == 5);
  CHECK(b.sequences[0](0, 2) == 0);
  CHECK(b.sequences[0](1, 0) == 0);
  CHECK(b.labels.cols() == 0);
  CHECK_NOTHROW(dec.check(b));

  const auto error_of = [&](const char* text) -> std::string {
    try {
      dec.decode(nlohmann::json::parse(text), b);
    } catch (const value_error& e) {
      return e.what();
    }
    return "no error";
  };
  const char* good_tail = R"("price": 1, "history": [1], "domain": 0)";
  CHECK_THAT(error_of((std::string(R"([{"user_id": 10, )") + good_tail + "}]").c_str()),
             Catch::Contains("row 0: feature 'user_id': id 10 outside [0, 10)"));
  CHECK_THAT(error_of((std::string(R"([{"user_id": -1, )") + good_tail + "}]").c_str()), Catch::Contains("outside [0, 10)"));
  CHECK_THAT(error_of((std::string(R"([{"user_id": 1.5, )") + good_tail + "}]").c_str()),
             Catch::Contains("expected an integer id, got 1.5"));
  CHECK_THAT(error_of((std::string(R"([{"user_id": "7", )") + good_tail + "}]").c_str()), Catch::Contains("got \"7\""));
  CHECK_THAT(error_of((std::string(R"([{"user_id": 18446744073709551615, )") + good_tail + "}]").c_str()),
             Catch::Contains("outside [0, 10)"));
  CHECK_THAT(error_of(R"([{"user_id": 1, "history": [1], "domain": 0}])"), Catch::Contains("feature 'price': missing"));
  CHECK_THAT(error_of(R"([{"user_id": 1, "price": "x", "history": [1], "domain": 0}])"),
             Catch::Contains("feature 'price': expected a number"));
  CHECK_THAT(error_of(R"([{"user_id": 1, "price": 1, "history": [1, 2, 3, 4], "domain": 0}])"),
             Catch::Contains("4 ids exceed max_length 3"));
  CHECK_THAT(error_of(R"([{"user_id": 1, "price": 1, "history": [1, 20], "domain": 0}])"),
             Catch::Contains("sequence id 20 outside [0, 20)"));
  CHECK_THAT(error_of(R"([{"user_id": 1, "price": 1, "history": [1], "domain": 2}])"),
             Catch::Contains("scenario 2 outside [0, 2)"));
  CHECK_THAT(error_of(R"([{"user_id": 1, "price": 1, "history": [1], "domain": 0, "colour": 3}])"),
             Catch::Contains("row 0: feature 'colour': not in the model's schema"));
  CHECK_THAT(error_of(R"({"rows": []})"), Catch::Contains("\"rows\" is empty"));
  CHECK_THAT(error_of(R"({"rows": 3})"), Catch::Contains("must be an array"));
  CHECK_THAT(error_of(R"({"row": []})"), Catch::Contains("got the keys row"));
  CHECK_THAT(error_of(R"([1])"), Catch::Contains("row 0 is not an object"));
  CHECK_THAT(error_of(R"([{}, {}, {}, {}, {}])"), Catch::Contains("5 rows exceed the limit of 4"));

  // check(): batches built in C++
  data::batch<float> c = b;
  dec.decode(nlohmann::json::parse(R"([{"user_id": 3, "price": 0.5, "history": [4], "domain": 1}])"), c);
  c.dense(0, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(dec.check(c), Catch::Contains("feature 'price': not finite"));
  c.dense(0, 0) = 1;
  c.sparse(0, 0) = 11;
  CHECK_THROWS_WITH(dec.check(c), Catch::Contains("id 11 outside"));
  c.sparse(0, 0) = 1;
  c.scenario.clear();
  CHECK_THROWS_AS(dec.check(c), shape_error);
}

TEST_CASE("serve: many client threads get exactly the single-thread scores", "[serve][concurrency]") {
  fixture f;
  const auto model = serve::load_scoring_model<float>(f.dir_a);
  const auto expected = fixture::reference(*model, f.requests);
  for (const index_t max_batch : {index_t{1}, index_t{64}}) {
    DYNAMIC_SECTION("max_batch_rows " << max_batch) {
      serve::model_server<float> server(model, {.max_batch_rows = max_batch, .max_wait = std::chrono::microseconds(2000), .workers = 2});
      constexpr int clients = 8;
      std::atomic<int> mismatches{0}, not_ok{0};
      std::atomic<float> worst{0};
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
          for (std::size_t i = static_cast<std::size_t>(c); i < f.requests.size(); i += clients) {
            const auto r = server.score(f.requests[i]);
            if (r.status != serve::score_status::ok) {
              ++not_ok;
              continue;
            }
            if (!exactly(r.probabilities, expected[i])) ++mismatches;
            float d = max_abs_diff(r.probabilities, expected[i]), w = worst.load();
            while (d > w && !worst.compare_exchange_weak(w, d)) {}
          }
        });
      for (auto& t : threads) t.join();
      CHECK(not_ok == 0);
      // Rows are scored independently (inference batch norm, row-wise ops), but a GEMM over a
      // different number of rows may sum in another order: exact with max_batch_rows = 1,
      // within float rounding when requests share batches.
      if (max_batch == 1) CHECK(mismatches == 0);
      CHECK(worst.load() <= 1e-6f);
      const auto& st = server.stats();
      CHECK(st.requests == f.requests.size());
      CHECK(st.rows == static_cast<std::uint64_t>(f.syn.data().rows()));
      CHECK(st.batch_rows.total() == st.batches);
      CHECK(st.latency_us.total() == f.requests.size());
      if (max_batch == 1) CHECK(st.batches == f.requests.size());
      else CHECK(st.batches < f.requests.size());  // 8 clients, 2 ms wait: requests shared batches
    }
  }
}

TEST_CASE("serve: the queue is bounded and refuses with overloaded, never grows", "[serve][queue]") {
  fixture f;
  const auto& s = f.syn.data().get_schema();
  auto gate = std::make_shared<test_model>(s, test_model::mode::gate);
  serve::model_server<float> server(gate, {.max_batch_rows = 4, .max_wait = std::chrono::microseconds(0),
                                           .queue_capacity_rows = 8, .max_request_rows = 4, .workers = 1});
  std::vector<std::future<serve::score_reply<float>>> accepted;
  std::vector<std::promise<serve::score_reply<float>>> promises(32);
  std::atomic<int> overloaded{0};
  int submitted = 0;
  // the worker takes the first request and blocks in the model; then 8 rows fill the queue
  for (auto& p : promises) {
    accepted.push_back(p.get_future());
    server.submit(f.requests[0], [&p, &overloaded](serve::score_reply<float>&& r) {
      if (r.status == serve::score_status::overloaded) ++overloaded;
      p.set_value(std::move(r));
    });
    ++submitted;
    if (submitted == 1)
      while (gate->entered() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(server.stats().queued_rows.load() == 8);
  CHECK(overloaded == 32 - 1 - 8);
  CHECK(server.stats().overloaded == static_cast<std::uint64_t>(overloaded.load()));
  // a request larger than max_request_rows is invalid, not overloaded
  data::batch<float> big;
  std::vector<index_t> five{0, 1, 2, 3, 4};
  f.syn.data().gather(std::span<const index_t>(five), big);
  gate->open();
  int ok = 0;
  for (auto& fut : accepted) ok += fut.get().status == serve::score_status::ok;
  CHECK(ok == 9);
  const auto r = server.score(big);
  CHECK(r.status == serve::score_status::invalid);
  CHECK_THAT(r.message, Catch::Contains("5 rows exceed the limit of 4"));
  CHECK(server.stats().queued_rows.load() == 0);
}

TEST_CASE("serve: a bad request is refused before it can share a batch; a failing row fails alone", "[serve]") {
  fixture f;
  const auto& s = f.syn.data().get_schema();
  data::batch<float> bad = f.requests[1];
  bad.sparse(0, 0) = 1 << 30;
  auto m = serve::load_scoring_model<float>(f.dir_a);
  serve::model_server<float> server(m);
  const auto r = server.score(bad);
  CHECK(r.status == serve::score_status::invalid);
  CHECK_THAT(r.message, Catch::Contains("outside"));
  CHECK(server.stats().invalid == 1);

  // a model that throws on rows whose first id is `poison`: batch-mates are retried alone
  const index_t poison = f.requests[3].sparse(0, 0);
  auto poisoned = std::make_shared<test_model>(s, test_model::mode::poison, poison);
  serve::model_server<float> p(poisoned, {.max_batch_rows = 64, .max_wait = std::chrono::microseconds(20000)});
  std::vector<std::future<serve::score_reply<float>>> futures;
  std::vector<std::promise<serve::score_reply<float>>> promises(6);
  for (std::size_t i = 0; i < promises.size(); ++i) {
    futures.push_back(promises[i].get_future());
    p.submit(f.requests[i], [&promises, i](serve::score_reply<float>&& r) { promises[i].set_value(std::move(r)); });
  }
  for (std::size_t i = 0; i < futures.size(); ++i) {
    bool has_poison = false;
    for (index_t k = 0; k < f.requests[i].size; ++k) has_poison |= f.requests[i].sparse(0, k) == poison;
    const auto reply = futures[i].get();
    CHECK(reply.status == (has_poison ? serve::score_status::failed : serve::score_status::ok));
    if (has_poison) CHECK_THAT(reply.message, Catch::Contains("poisoned row"));
  }
}

TEST_CASE("serve: hot reload under load: refused checkpoints keep the old model, no wrong answer", "[serve][reload]") {
  fixture f;
  const auto a = serve::load_scoring_model<float>(f.dir_a), b = serve::load_scoring_model<float>(f.dir_b);
  REQUIRE(a->version() != b->version());
  const auto expect_a = fixture::reference(*a, f.requests), expect_b = fixture::reference(*b, f.requests);
  REQUIRE(max_abs_diff(expect_a[0], expect_b[0]) > 1e-4f);  // a wrong version is detectable

  // the served folder: starts as a copy of a
  const fs::path live = f.root / "live";
  fs::copy(f.dir_a, live);
  serve::model_server<float> server(serve::load_scoring_model<float>(live),
                                    {.max_batch_rows = 32, .max_wait = std::chrono::microseconds(300), .workers = 2});
  std::atomic<bool> stop{false};
  std::atomic<int> answers{0}, wrong{0}, failed{0}, unknown_version{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (std::size_t i = static_cast<std::size_t>(c); !stop; i = (i + 4) % f.requests.size()) {
        const auto r = server.score(f.requests[i]);
        if (r.status != serve::score_status::ok) {
          ++failed;
          continue;
        }
        ++answers;
        const auto* expected = r.model_version == a->version() ? &expect_a[i] : r.model_version == b->version() ? &expect_b[i] : nullptr;
        if (!expected) ++unknown_version;
        else if (max_abs_diff(r.probabilities, *expected) > 1e-6f) ++wrong;
      }
    });
  int refused = 0, swapped = 0;
  for (int k = 0; k < 20; ++k) {
    const bool corrupt = k % 2 == 1;
    const fs::path source = (k / 2) % 2 == 0 ? f.dir_b : f.dir_a;
    // the trainer's side: save the next weights into the served folder (crash-safe), or corrupt it
    fs::remove_all(live);
    fs::copy(source, live);
    if (corrupt) {
      const fs::path w = io::checkpoint::open(live).weights_path();
      std::fstream file(w, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(-4, std::ios::end);
      file.write("\x7f\x7f\x7f\x7f", 4);
    }
    try {
      const std::string v = server.reload(live);
      ++swapped;
      CHECK(v == serve::load_scoring_model<float>(source)->version());
    } catch (const io_error& e) {
      ++refused;
      CHECK_THAT(e.what(), Catch::Contains("checksum"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(swapped == 10);
  CHECK(refused == 10);
  CHECK(server.stats().reloads == 10);
  CHECK(server.stats().reloads_refused == 10);
  CHECK(answers > 0);
  CHECK(failed == 0);
  CHECK(wrong == 0);
  CHECK(unknown_version == 0);

  // a model of another schema, or one that answers NaN, is refused; the old one keeps serving
  const std::string before = server.current_model()->version();
  data::schema other;
  other.add({"user_id", data::feature_kind::sparse, 5});
  CHECK_THROWS_WITH(server.swap_model(std::make_shared<test_model>(other, test_model::mode::nan)),
                    Catch::Contains("feature schema differs"));
  CHECK_THROWS_WITH(server.swap_model(std::make_shared<test_model>(f.syn.data().get_schema(), test_model::mode::nan)),
                    Catch::Contains("probe row"));
  CHECK(server.current_model()->version() == before);
  CHECK(server.score(f.requests[0]).status == serve::score_status::ok);
}

TEST_CASE("serve: shutdown drains what is queued, refuses what comes after", "[serve][shutdown]") {
  fixture f;
  auto gate = std::make_shared<test_model>(f.syn.data().get_schema(), test_model::mode::gate);
  auto server = std::make_unique<serve::model_server<float>>(gate, serve::model_server_options{.max_batch_rows = 2, .max_wait = std::chrono::microseconds(0)});
  std::vector<std::promise<serve::score_reply<float>>> promises(6);
  std::vector<std::future<serve::score_reply<float>>> futures;
  for (std::size_t i = 0; i < promises.size(); ++i) {
    futures.push_back(promises[i].get_future());
    server->submit(f.requests[0], [&promises, i](serve::score_reply<float>&& r) { promises[i].set_value(std::move(r)); });
  }
  std::thread stopper([&] { server->shutdown(); });
  // the stopper waits for the worker, which waits in the gate; requests after shutdown began are
  // refused (submit, not score: a blocking score would wait for the gated worker)
  std::atomic<bool> refused{false};
  std::atomic<int> late_ok{0}, late_accepted{0};
  while (!refused) {
    server->submit(f.requests[0], [&](serve::score_reply<float>&& r) {
      if (r.status == serve::score_status::shutting_down) refused = true;
      else if (r.status == serve::score_status::ok) ++late_ok;
    });
    if (!refused) ++late_accepted;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  gate->open();
  stopper.join();
  for (auto& fut : futures) CHECK(fut.get().status == serve::score_status::ok);
  CHECK(late_ok == late_accepted);  // everything accepted before the refusal was scored (drained)
  CHECK(server->stats().shutting_down >= 1);
  server->shutdown();  // idempotent
  server.reset();      // the destructor after shutdown
}

TEST_CASE("serve: options are checked; counters read as Prometheus text", "[serve]") {
  fixture f;
  const auto m = serve::load_scoring_model<float>(f.dir_a);
  CHECK_THROWS_AS(serve::model_server<float>(nullptr), value_error);
  CHECK_THROWS_WITH(serve::model_server<float>(m, {.max_batch_rows = 0}), Catch::Contains("max_batch_rows"));
  CHECK_THROWS_WITH(serve::model_server<float>(m, {.queue_capacity_rows = 10, .max_request_rows = 20}),
                    Catch::Contains("queue_capacity_rows"));
  CHECK_THROWS_WITH(serve::model_server<float>(m, {.workers = 0}), Catch::Contains("workers"));
  serve::model_server<float> server(m, {.max_batch_rows = 1});
  for (int i = 0; i < 3; ++i) REQUIRE(server.score(f.requests[static_cast<std::size_t>(i)]).status == serve::score_status::ok);
  const std::string text = server.stats().to_prometheus("mm\"oe", m->version());
  CHECK_THAT(text, Catch::Contains("recblocks_serve_model_info{model=\"mm\\\"oe\",version=\"" + m->version() + "\"} 1"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_requests_total 3\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_batches_total 3\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_rows_total 6\n"));  // requests of 1, 2, 3 rows
  CHECK_THAT(text, Catch::Contains("recblocks_serve_batch_rows_bucket{le=\"1\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_batch_rows_bucket{le=\"2\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_batch_rows_bucket{le=\"4\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_batch_rows_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_batch_rows_sum 6\n"));
  CHECK_THAT(text, Catch::Contains("recblocks_serve_latency_seconds_count 3\n"));
  serve::power_of_two_histogram<0, 4> h;
  for (std::uint64_t v : {1, 2, 2, 3, 9, 100}) h.add(v);
  CHECK(h.count_in(0) == 1);  // <= 1
  CHECK(h.count_in(1) == 2);  // <= 2
  CHECK(h.count_in(2) == 1);  // <= 4
  CHECK(h.count_in(3) == 0);  // <= 8
  CHECK(h.count_in(4) == 2);  // +Inf
  CHECK(h.quantile_bound(0.5) == 2);
  CHECK(h.quantile_bound(1.0) == 8);
}
