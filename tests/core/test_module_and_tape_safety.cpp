// One member list per module (visit), checkpoints of a plain module, and the tape's refusals of
// stale, foreign or moved values (issue 10, parts 1 and 2).
#include <catch2/catch.hpp>
#include <filesystem>
#include <recblocks/io/checkpoint.hpp>
#include <recblocks/recblocks.hpp>
#include <type_traits>

using namespace recblocks;

namespace {

/// The README's model, verbatim in shape: three members and nothing else.
struct readme_model {
  using scalar_type = float;
  nn::embedding<float> users, items;
  nn::mlp<float> head;
  explicit readme_model(rng& gen)
      : users(50, 4, gen), items(60, 4, gen),
        head({.input_dim = 8, .hidden = {6}, .batch_norm = true, .output_layer = true}, gen) {}
  var<float> operator()(tape<float>& t, std::span<const index_t> u, std::span<const index_t> i) const {
    return head(t, ops::concat_cols(t, {users(t, u), items(t, i)}));
  }
  template <class Self, class V>
  static void visit(Self& s, V& v) {
    v("users", s.users);
    v("items", s.items);
    v("head", s.head);
  }
};

std::filesystem::path fresh_dir(const char* name) {
  auto d = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(d);
  return d;
}

}  // namespace

TEST_CASE("a user model is checkpointable with its member list alone", "[module][checkpoint]") {
  rng g1(1), g2(2);
  readme_model a(g1), b(g2);
  // move the batch-norm running statistics away from their initial values so buffers matter
  {
    tape<float> t;
    const std::vector<index_t> u{1, 2, 3, 4}, i{5, 6, 7, 8};
    t.backward(ops::sum_all(t, a(t, u, i)));
  }
  const auto dir = fresh_dir("recblocks_readme_model_ckpt");
  io::checkpoint::save(dir, a);  // const access: no const_cast anywhere
  io::checkpoint ck = io::checkpoint::open(dir);
  CHECK(ck.model_name() == "module");
  ck.restore(b);
  const auto pa = nn::named_parameters(std::as_const(a)), pb = nn::named_parameters(std::as_const(b));
  REQUIRE(pa.size() == pb.size());
  for (std::size_t k = 0; k < pa.size(); ++k) {
    CHECK(pa[k].first == pb[k].first);
    CHECK(pa[k].second->value() == pb[k].second->value());
  }
  const auto ba = nn::named_buffers(a), bb = nn::named_buffers(b);
  REQUIRE(ba.size() == 2);
  CHECK(ba[0].first == "head.0.bn.running_mean");
  CHECK(*ba[0].second == *bb[0].second);
  CHECK(*ba[1].second == *bb[1].second);
  tape<float> ta(tape_mode::infer), tb(tape_mode::infer);
  const std::vector<index_t> u{0, 9, 49}, i{3, 2, 59};
  CHECK(matrix<float>(a(ta, u, i).value()) == matrix<float>(b(tb, u, i).value()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("one visit serves parameters, buffers and counts, const and mutable alike", "[module]") {
  rng gen(3);
  nn::sequential<nn::linear<double>, nn::batch_norm<double>, nn::activation_layer<double>, nn::linear<double>> net(
      nn::linear<double>(4, 3, gen), nn::batch_norm<double>(3), nn::activation_layer<double>(activation::relu),
      nn::linear<double>(3, 1, gen));
  const auto& cnet = net;
  std::vector<std::string> names;
  nn::visit_parameters(cnet, [&](const std::string& n, const param<double>&) { names.push_back(n); });
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.gamma", "1.beta", "3.weight", "3.bias"});
  std::vector<std::string> buffers;
  nn::visit_buffers(net, [&](const std::string& n, matrix<double>&) { buffers.push_back(n); });
  CHECK(buffers == std::vector<std::string>{"1.running_mean", "1.running_var"});  // sequential forwards buffers
  CHECK(nn::parameter_count(cnet) == 4 * 3 + 3 + 3 + 3 + 3 + 1);
  static_assert(std::is_same_v<decltype(nn::parameters(cnet)), std::vector<const param<double>*>>);
  static_assert(std::is_same_v<decltype(nn::parameters(net)), std::vector<param<double>*>>);
}

TEST_CASE("var::value() is read-only; ops fill outputs through tape::out", "[tape][safety]") {
  static_assert(std::is_same_v<decltype(std::declval<var<float>>().value()), const_map<float>>);
  static_assert(std::is_same_v<decltype(std::declval<var<float>>().data), const float*>);
  param<float> w("w", matrix<float>::Ones(2, 2));
  tape<float> t;
  var<float> lw = t.leaf(w);
  CHECK_THROWS_AS(t.out(lw), state_error);                 // a parameter is nobody's output
  var<float> y = ops::relu(t, lw);
  CHECK_THROWS_AS(t.out(y), state_error);                  // recorded already
  matrix<float> host = matrix<float>::Zero(2, 2);
  CHECK_THROWS_AS(t.out(t.view(host.data(), 2, 2)), state_error);  // caller memory
  var<float> fresh = t.make(2, 2);
  t.out(fresh).setConstant(3.0f);
  CHECK(fresh.value()(1, 1) == 3.0f);
}

TEST_CASE("a var kept across reset() or used on another tape is refused", "[tape][safety]") {
  param<double> w("w", matrix<double>::Constant(2, 3, 0.5));
  tape<double> t;
  var<double> h = ops::tanh(t, t.leaf(w));
  var<double> c = t.constant(matrix<double>::Ones(2, 3));
  t.reset();
  CHECK_THROWS_AS(ops::add(t, h, t.leaf(w)), state_error);  // tracked value of the previous step
  CHECK_THROWS_AS(ops::mul(t, c, t.leaf(w)), state_error);  // arena constant of the previous step
  CHECK_THROWS_AS(t.backward(ops::sum_all(t, h)), state_error);

  tape<double> other;
  var<double> foreign = ops::tanh(other, other.leaf(w));
  CHECK_THROWS_AS(ops::add(t, foreign, t.leaf(w)), state_error);
  CHECK_THROWS_AS(t.grad(foreign), state_error);

  tape<double> infer(tape_mode::infer);
  var<double> z = ops::tanh(infer, infer.leaf(w));
  infer.reset();
  CHECK_THROWS_AS(ops::relu(infer, z), state_error);  // inference tapes check too

  // parameter values and caller views are not arena memory: valid on any tape, any step
  matrix<double> host = matrix<double>::Ones(2, 3);
  var<double> view = t.view(host.data(), 2, 3);
  t.reset();
  CHECK_NOTHROW(ops::add(t, view, t.leaf(w)));
}

TEST_CASE("a parameter moved mid-step leaves no dangling leaf", "[tape][safety]") {
  std::vector<param<double>> ps;
  ps.emplace_back("a", matrix<double>::Constant(1, 2, 2.0));
  tape<double> t;
  var<double> loss = ops::sum_all(t, ops::mul(t, t.leaf(ps[0]), t.leaf(ps[0])));
  const double* before = ps[0].value().data();
  for (int k = 0; k < 64; ++k) ps.emplace_back("x", 1, 1);  // reallocates: ps[0] is moved
  REQUIRE(ps[0].value().data() == before);                  // the value buffer moved along
  t.backward(loss);
  CHECK(ps[0].has_dense_grad());
  CHECK(ps[0].grad()(0, 0) == Approx(4.0));  // d/da sum(a * a) = 2a
}

TEST_CASE("record returns a handle that later records cannot invalidate", "[tape][safety]") {
  param<double> w("w", matrix<double>::Constant(1, 1, 1.0));
  tape<double> t;
  var<double> x = t.leaf(w);
  var<double> y = t.make(1, 1);
  t.out(y)(0, 0) = 2.0;
  auto nd = t.record("scale", y, {x}, +[](tape<double>& t, const tape_node<double>& n) {
    t.accumulate(t.input(n, 0), (n.grad_map().array() * n.s0).matrix());
  });
  REQUIRE(nd);
  var<double> h = y;
  for (int k = 0; k < 1000; ++k) h = ops::add(t, h, x);  // grows the node list many times over
  nd->s0 = 2.0;                                          // still the "scale" node
  CHECK(std::string(nd->op) == "scale");
  t.backward(ops::sum_all(t, h));
  CHECK(w.grad()(0, 0) == Approx(1000.0 + 2.0));
}

TEST_CASE("step_scope resets the serving tape: a loop of calls does not grow the arena", "[tape][safety][serving]") {
  rng gen(9);
  nn::mlp<float> net({.input_dim = 64, .hidden = {256, 256}, .output_layer = true}, gen);
  matrix<float> x = matrix<float>::Ones(256, 64);
  tape<float> serving(tape_mode::infer);
  for (int k = 0; k < 3; ++k) {
    step_scope<float> step(serving);
    (void)net(serving, serving.view(x.data(), 256, 64));
  }
  const std::size_t warm = serving.arena_bytes();
  for (int k = 0; k < 50; ++k) {
    step_scope<float> step(serving);
    var<float> y = net(serving, serving.view(x.data(), 256, 64));
    CHECK(y.rows == 256);
  }
  CHECK(serving.arena_bytes() == warm);
  tape<float> leaky(tape_mode::infer);  // the same loop without a reset keeps every step's values
  for (int k = 0; k < 50; ++k) (void)net(leaky, leaky.view(x.data(), 256, 64));
  CHECK(leaky.arena_bytes() > 10 * warm);
}

TEST_CASE("a negative parameter or layer size is an error, not Eigen's assertion", "[param][safety]") {
  CHECK_THROWS_AS(param<float>("w", -1, 3), shape_error);
  CHECK_THROWS_WITH(param<float>("w", 2, -76), Catch::Contains("param 'w': negative shape [2, -76]"));
  CHECK(param<float>("empty", 0, 3).value().size() == 0);
  rng g(1);
  CHECK_THROWS_WITH(nn::linear<float>(3, -76, g), Catch::Contains("linear: in and out must be positive, got [3, -76]"));
  CHECK_THROWS_AS(nn::linear<float>(-3, 4, g), value_error);
  CHECK_THROWS_AS(nn::linear<float>(3, 0, g), value_error);
}
