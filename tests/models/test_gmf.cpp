// GMF (the LLM4Rerank candidate generator): forward formula, scores, gradient check, training lowers
// the loss and ranks held-out items of a planted block structure high, bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include <recblocks/core/ops/reduce.hpp>
#include <recblocks/models/gmf.hpp>
#include <recblocks/optim/adam.hpp>
#include <recblocks/testing/gradcheck.hpp>

using namespace recblocks;

TEST_CASE("gmf: logits are h^T (p_u * q_i) and scores() agrees with the tape forward", "[models][gmf]") {
  rng gen(3);
  models::gmf<double> m({.users = 4, .items = 6, .dim = 3, .init_std = 0.5}, gen);
  auto named = nn::named_parameters(m);
  REQUIRE(named.size() == 3);
  CHECK(named[0].first == "user.table");
  CHECK(named[2].first == "h");
  named[2].second->value() << 0.5, -1.0, 2.0;
  const std::vector<index_t> us = {1, 3, 0}, is = {5, 0, 2};
  tape<double> t(tape_mode::infer);
  const var<double> y = m(t, us, is);
  REQUIRE(y.rows == 3);
  REQUIRE(y.cols == 1);
  const auto& p = named[0].second->value();
  const auto& q = named[1].second->value();
  const auto& h = named[2].second->value();
  for (int b = 0; b < 3; ++b) {
    double want = 0;
    for (int d = 0; d < 3; ++d) want += h(d, 0) * p(us[b], d) * q(is[b], d);
    CHECK(y.value()(b, 0) == Approx(want).epsilon(1e-12));
  }
  const col_vector<double> s = m.scores(1);
  REQUIRE(s.size() == 6);
  CHECK(s(5) == Approx(y.value()(0, 0)).epsilon(1e-12));
}

TEST_CASE("gmf: gradient check over P, Q and h", "[models][gmf][gradcheck]") {
  rng gen(5);
  models::gmf<double> m({.users = 5, .items = 7, .dim = 4, .init_std = 0.7}, gen);
  const std::vector<index_t> us = {0, 2, 2, 4, 1}, is = {6, 1, 3, 0, 1};
  std::vector<double> labels = {1, 0, 1, 0, 1};
  auto loss = [&](tape<double>& t) {
    return loss::bce_with_logits(t, m(t, us, is), t.view(labels.data(), 5, 1));
  };
  testing::gradcheck_options opt;
  opt.samples_per_param = 12;
  const auto res = testing::gradcheck<double>(loss, nn::parameters(m), opt);
  INFO(res.summary());
  CHECK(res.passed);
  CHECK(res.checked >= 20);
}

TEST_CASE("gmf: BCE training with sampled negatives ranks a planted block's held-out items first",
          "[models][gmf][train]") {
  // Two user groups, each likes one half of the items; one liked item per user is held out.
  const index_t users = 40, items = 40;
  std::vector<std::pair<index_t, index_t>> train;
  std::vector<std::vector<index_t>> seen(users);
  std::vector<index_t> held(users);
  for (index_t u = 0; u < users; ++u) {
    const index_t lo = u % 2 == 0 ? 0 : items / 2;
    held[u] = lo + (u * 7) % (items / 2);
    for (index_t i = lo; i < lo + items / 2; ++i) {
      seen[u].push_back(i);
      if (i != held[u]) train.push_back({u, i});
    }
  }
  rng gen(11);
  models::gmf<float> m({.users = users, .items = items, .dim = 8, .init_std = 0.1}, gen);
  optim::adam<float> opt(nn::parameters(m), {.learning_rate = 0.02});
  const double first = m.train_epoch(train, seen, opt, gen, {.negatives = 2, .batch_size = 64});
  double last = first;
  for (int e = 0; e < 30; ++e) last = m.train_epoch(train, seen, opt, gen, {.negatives = 2, .batch_size = 64});
  CHECK(last < 0.5 * first);
  // hit rate @10 of the held-out item among items the user has not trained on
  index_t hits = 0;
  for (index_t u = 0; u < users; ++u) {
    const col_vector<float> s = m.scores(u);
    index_t better = 0;
    for (index_t i = 0; i < items; ++i)
      if (i != held[u] && !(std::binary_search(seen[u].begin(), seen[u].end(), i)) && s(i) > s(held[u])) ++better;
    if (better < 10) ++hits;
  }
  CHECK(hits >= 38);
}

TEST_CASE("gmf: bad input names the block and the value", "[models][gmf][errors]") {
  rng gen(1);
  CHECK_THROWS_WITH((models::gmf<float>({.users = 0, .items = 3}, gen)), Catch::Contains("users = 0"));
  CHECK_THROWS_WITH((models::gmf<float>({.users = 2, .items = 3, .dim = 0}, gen)), Catch::Contains("dim = 0"));
  models::gmf<float> m({.users = 2, .items = 3, .dim = 2}, gen);
  CHECK_THROWS_WITH(m.scores(2), Catch::Contains("user = 2"));
  tape<float> t;
  const std::vector<index_t> a = {0, 1}, b = {0};
  CHECK_THROWS_AS(m(t, a, b), shape_error);
  optim::adam<float> opt(nn::parameters(m));
  std::vector<std::vector<index_t>> seen = {{0, 1, 2}, {}};
  CHECK_THROWS_WITH(m.train_epoch({{0, 1}}, seen, opt, gen), Catch::Contains("seen every item"));
  seen[0] = {1};
  CHECK_THROWS_WITH(m.train_epoch({{0, 7}}, seen, opt, gen), Catch::Contains("(0, 7)"));
  CHECK_THROWS_WITH(m.train_epoch({{0, 1}}, seen, opt, gen, {.negatives = 0}), Catch::Contains("negatives = 0"));
}
