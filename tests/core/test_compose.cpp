// Composed models: the end-to-end gradient check, training progress, and thread-safe inference.
#include <catch2/catch.hpp>
#include <recblocks/recblocks.hpp>
#include <thread>

using namespace recblocks;

namespace {

/// A toy CTR model: two embedded sparse fields + a dense field -> MLP (batch norm, dropout) -> logit.
template <class T>
struct toy_ctr {
  using scalar_type = T;
  nn::embedding<T> users, items;
  nn::mlp<T> tower;

  explicit toy_ctr(rng& gen)
      : users(20, 4, gen, nn::init::normal(0, 0.5)),
        items(30, 4, gen, nn::init::normal(0, 0.5)),
        tower({.input_dim = 9, .hidden = {8, 6}, .act = activation::relu, .batch_norm = true, .dropout = 0.2,
               .output_layer = true},
              gen) {}

  var<T> operator()(tape<T>& t, std::span<const index_t> user_ids, std::span<const index_t> item_ids,
                    const matrix<T>& dense) const {
    var<T> x = ops::concat_cols(t, {users(t, user_ids), items(t, item_ids), t.view(dense.data(), dense.rows(), dense.cols())});
    return tower(t, x);
  }

  /// The member list: checkpoints, optimizers and parameter counts follow from it.
  template <class Self, class V>
  static void visit(Self& s, V& v) {
    v("users", s.users);
    v("items", s.items);
    v("tower", s.tower);
  }
};

struct toy_batch {
  std::vector<index_t> users, items;
  matrix<double> dense, labels;
};

toy_batch make_batch(rng& gen, index_t n) {
  toy_batch b;
  b.dense.resize(n, 1);
  b.labels.resize(n, 1);
  for (index_t i = 0; i < n; ++i) {
    b.users.push_back(gen.integer(0, 19));
    b.items.push_back(gen.integer(0, 29));
    b.dense(i, 0) = gen.uniform(-1, 1);
    b.labels(i, 0) = ((b.users.back() + b.items.back()) % 3 == 0) ? 1.0 : 0.0;
  }
  return b;
}

}  // namespace

TEST_CASE("a composed model (embeddings, MLP with batch norm and dropout, BCE) passes the gradient check", "[compose][gradcheck]") {
  rng gen(21);
  toy_ctr<double> model(gen);
  toy_batch b = make_batch(gen, 12);
  auto loss = [&](tape<double>& t) {
    return loss::bce_with_logits(t, model(t, b.users, b.items, b.dense), t.view(b.labels.data(), 12, 1));
  };
  testing::gradcheck_options opt;
  opt.samples_per_param = 10;
  auto res = testing::gradcheck<double>(loss, nn::parameters(model), opt);
  INFO(res.summary());
  CHECK(res.passed);
  CHECK(res.checked > 80);
}

TEST_CASE("training a composed model lowers the loss", "[compose]") {
  rng gen(3);
  toy_ctr<double> model(gen);
  optim::adam<double> opt(nn::parameters(model), {.learning_rate = 0.02});
  toy_batch b = make_batch(gen, 256);
  double first = 0, last = 0;
  tape<double> t;
  for (int step = 0; step < 150; ++step) {
    t.reset();
    auto l = loss::bce_with_logits(t, model(t, b.users, b.items, b.dense), t.view(b.labels.data(), 256, 1));
    if (step == 0) first = l.item();
    last = l.item();
    t.backward(l);
    opt.step();
  }
  CHECK(last < 0.5 * first);
}

TEST_CASE("inference is const and gives bit-identical results from two threads", "[compose][threads]") {
  rng gen(8);
  toy_ctr<float> model(gen);
  {  // a few training steps so batch-norm statistics are non-trivial
    optim::adam<float> opt(nn::parameters(model));
    toy_batch b = make_batch(gen, 64);
    matrix<float> dense = b.dense.cast<float>(), labels = b.labels.cast<float>();
    for (int s = 0; s < 5; ++s) {
      tape<float> t;
      auto l = loss::bce_with_logits(t, model(t, b.users, b.items, dense), t.view(labels.data(), 64, 1));
      t.backward(l);
      opt.step();
    }
  }
  const toy_ctr<float>& served = model;
  std::vector<toy_batch> requests;
  for (int r = 0; r < 16; ++r) requests.push_back(make_batch(gen, 1 + r % 5));
  std::vector<matrix<float>> dense;
  for (auto& r : requests) dense.push_back(r.dense.cast<float>());
  auto serve_all = [&](std::vector<matrix<float>>& out, int repeats) {
    tape<float> t(tape_mode::infer);
    out.assign(requests.size(), matrix<float>());
    for (int rep = 0; rep < repeats; ++rep)
      for (std::size_t r = 0; r < requests.size(); ++r) {
        t.reset();
        var<float> y = served(t, requests[r].users, requests[r].items, dense[r]);
        CHECK(t.node_count() == 0);
        matrix<float> v = y.value();
        if (rep == 0) out[r] = v;
        else if (!(out[r] == v)) out[r](0, 0) = std::numeric_limits<float>::quiet_NaN();  // mark a mismatch
      }
  };
  std::vector<matrix<float>> reference, a, b;
  serve_all(reference, 1);
  std::thread t1([&] { serve_all(a, 200); });
  std::thread t2([&] { serve_all(b, 200); });
  t1.join();
  t2.join();
  for (std::size_t r = 0; r < requests.size(); ++r) {
    CHECK(a[r] == reference[r]);
    CHECK(b[r] == reference[r]);
  }
}

TEST_CASE("sequential composes layers at compile time", "[compose][nn]") {
  rng gen(4);
  nn::sequential<nn::linear<double>, nn::activation_layer<double>, nn::linear<double>> net(
      nn::linear<double>(3, 5, gen), nn::activation_layer<double>(activation::tanh), nn::linear<double>(5, 1, gen));
  auto named = nn::named_parameters(net);
  REQUIRE(named.size() == 4);
  CHECK(named[0].first == "0.weight");
  CHECK(named[3].first == "2.bias");
  CHECK(nn::parameter_count(net) == 3 * 5 + 5 + 5 + 1);
  matrix<double> x = matrix<double>::Random(4, 3);
  auto res = testing::gradcheck<double>([&](tape<double>& t) { return ops::sum_all(t, net(t, t.constant(x))); },
                                        nn::parameters(net));
  CHECK(res.passed);
}

TEST_CASE("hashed and bag embeddings", "[nn][embedding]") {
  rng gen(5);
  nn::hashed_embedding<double> h(64, 4, gen, 17);
  const std::vector<std::uint64_t> keys = {12345678901ULL, 42, 12345678901ULL};
  tape<double> t;
  auto y = h(t, keys);
  CHECK(y.rows == 3);
  CHECK(y.value().row(0) == y.value().row(2));
  CHECK(h.bucket(42) < 64);
  nn::embedding_bag<double> bag(10, 3, gen, nn::bag_pooling::mean);
  const std::vector<index_t> ids = {1, 2, 3}, offsets = {0, 2, 2, 3};
  auto pooled = bag(t, ids, offsets);
  REQUIRE(pooled.rows == 3);
  CHECK(pooled.value().row(0).isApprox((bag.table().table().value().row(1) + bag.table().table().value().row(2)) / 2));
  CHECK(pooled.value().row(1).isZero());
  const std::vector<index_t> bad_offsets = {0, 4};
  CHECK_THROWS_AS(bag(t, ids, bad_offsets), shape_error);
  CHECK_THROWS_AS(nn::embedding<double>(0, 3, gen), value_error);
}

TEST_CASE("MLP configuration errors and names", "[nn][mlp]") {
  rng gen(6);
  CHECK_THROWS_AS(nn::mlp<double>({.input_dim = 0, .hidden = {4}}, gen), value_error);
  CHECK_THROWS_AS(nn::mlp<double>({.input_dim = 3, .hidden = {4}, .dropout = 1.5}, gen), value_error);
  nn::mlp<double> m({.input_dim = 3, .hidden = {4, 2}, .batch_norm = true, .output_layer = true}, gen);
  auto named = nn::named_parameters(m, "tower");
  CHECK(named.front().first == "tower.0.linear.weight");
  CHECK(named.back().first == "tower.output.bias");
  tape<double> t;
  CHECK_THROWS_AS(m(t, t.constant(matrix<double>::Ones(2, 5))), shape_error);
  CHECK(activation_from_string("gelu") == activation::gelu);
  CHECK_THROWS_AS(activation_from_string("softsign"), value_error);
}

TEST_CASE("bf16 inference weights stay close to float and never train", "[nn][bf16]") {
  CHECK(from_bf16(to_bf16(1.0f)) == 1.0f);
  CHECK(from_bf16(to_bf16(-2.5f)) == -2.5f);
  CHECK(std::abs(from_bf16(to_bf16(0.1f)) - 0.1f) < 0.1f * 0.004f);
  CHECK(std::isnan(from_bf16(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  rng gen(9);
  nn::mlp<float> net({.input_dim = 40, .hidden = {300, 20}, .output_layer = true}, gen);  // 300: both kernel paths
  matrix<float> x = matrix<float>::Random(1, 40);
  tape<float> inf(tape_mode::infer);
  const float exact = net(inf, inf.view(x.data(), 1, 40)).item();
  net.enable_bf16_inference();
  inf.reset();
  const float approx = net(inf, inf.view(x.data(), 1, 40)).item();
  CHECK(approx != exact);
  CHECK(std::abs(approx - exact) < 2e-2f * (1 + std::abs(exact)));
  // the bf16 kernel against the same product in float on the rounded weights
  nn::linear<float> lin(40, 300, gen);
  bf16_matrix w(lin.weight().value());
  matrix<float> ref = x * w.to_float() + lin.bias().value();
  matrix<float> y(1, 300);
  gemv_bf16(x.data(), w, lin.bias().value().data(), y.data());
  CHECK((y - ref).cwiseAbs().maxCoeff() < 1e-4f);
  // training tapes ignore the copy
  tape<float> train;
  auto ytrain = net(train, train.view(x.data(), 1, 40));
  CHECK(ytrain.item() == Approx(exact).epsilon(1e-6));
  CHECK_THROWS_AS(ops::linear_bf16(train, train.leaf(lin.weight()), w, var<float>{}), state_error);
}
