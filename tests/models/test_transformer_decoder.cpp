// nn::transformer_decoder (nn.Transformer's decoder), transformer_encoder's final norm, and M2M's reference
// mode built on them (issue 24: step-by-step parity with Scenario-Wise Rec's M2M, tools/parity/).
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <recblocks/data/dataset.hpp>
#include <recblocks/loss/bce_with_logits.hpp>
#include <recblocks/models/m2m.hpp>
#include <recblocks/nn/transformer_decoder.hpp>
#include <recblocks/nn/transformer_encoder.hpp>
#include <recblocks/testing/gradcheck.hpp>

using namespace recblocks;
using D = double;

namespace {

using mat = matrix<D>;

/// The named parameters of `m` as plain matrices.
template <class M>
std::map<std::string, mat> weights(M& m) {
  std::map<std::string, mat> out;
  for (auto& [name, p] : nn::named_parameters(m)) out[name] = p->value();
  return out;
}

mat affine(const mat& x, const std::map<std::string, mat>& w, const std::string& p) {
  return (x * w.at(p + ".weight")).rowwise() + w.at(p + ".bias").row(0);
}

mat layer_norm(const mat& x, const std::map<std::string, mat>& w, const std::string& p) {
  mat y(x.rows(), x.cols());
  for (index_t r = 0; r < x.rows(); ++r) {
    const D mean = x.row(r).mean();
    const D var = (x.row(r).array() - mean).square().mean();
    y.row(r) = ((x.row(r).array() - mean) / std::sqrt(var + 1e-5)).matrix();
  }
  return (y.array().rowwise() * w.at(p + ".gamma").row(0).array()).rowwise() + w.at(p + ".beta").row(0).array();
}

/// Multi-head attention written out with loops: q from `x`, k and v from `m`.
mat attention(const mat& x, const mat& m, const std::map<std::string, mat>& w, const std::string& p, index_t heads) {
  const mat q = affine(x, w, p + ".q"), k = affine(m, w, p + ".k"), v = affine(m, w, p + ".v");
  const index_t d = q.cols(), dh = d / heads;
  mat out = mat::Zero(x.rows(), d);
  for (index_t h = 0; h < heads; ++h)
    for (index_t i = 0; i < x.rows(); ++i) {
      std::vector<D> s(static_cast<std::size_t>(m.rows()));
      D top = -1e300, z = 0;
      for (index_t j = 0; j < m.rows(); ++j) {
        D dot = 0;
        for (index_t c = 0; c < dh; ++c) dot += q(i, h * dh + c) * k(j, h * dh + c);
        s[static_cast<std::size_t>(j)] = dot / std::sqrt(D(dh));
        top = std::max(top, s[static_cast<std::size_t>(j)]);
      }
      for (auto& e : s) z += (e = std::exp(e - top));
      for (index_t j = 0; j < m.rows(); ++j)
        for (index_t c = 0; c < dh; ++c) out(i, h * dh + c) += s[static_cast<std::size_t>(j)] / z * v(j, h * dh + c);
    }
  return affine(out, w, p + ".o");
}

mat random(index_t r, index_t c, std::uint64_t seed) {
  mat m(r, c);
  rng g(seed);
  g.fill_uniform(m, -1.0, 1.0);
  return m;
}

/// Gradient check of sum(f(t) ⊙ P) over `params`.
template <class F>
void gradcheck_projection(F&& f, const std::vector<param<D>*>& params) {
  mat projection;
  auto loss = [&](tape<D>& t) {
    var<D> y = f(t);
    if (projection.rows() != y.rows || projection.cols() != y.cols) projection = random(y.rows, y.cols, 99);
    return ops::sum_all(t, ops::mul(t, y, t.view(projection.data(), y.rows, y.cols)));
  };
  testing::gradcheck_options opt;
  opt.samples_per_param = 6;
  opt.abs_tolerance = 1e-7;
  const auto res = testing::gradcheck<D>(loss, params, opt);
  INFO(res.summary());
  CHECK(res.passed);
  CHECK(res.checked > 10);
}

}  // namespace

TEST_CASE("transformer_decoder: self- and cross-attention, three norms, final norm; gradients", "[msr][blocks][m2m][decoder]") {
  rng gen(5);
  const index_t d = 4, H = 2, L = 5, M = 3;
  nn::transformer_decoder<D> dec({.d_model = d, .heads = H, .ff_dim = 3, .layers = 2}, gen);
  // move the layer norms off (1, 0) so a wrong gamma / beta wiring shows
  rng pg(6);
  for (auto& [name, p] : nn::named_parameters(dec))
    if (name.find("ln") != std::string::npos || name.starts_with("norm")) pg.fill_uniform(p->value(), 0.5, 1.5);
  const auto names = nn::named_parameters(dec);
  CHECK(names.size() == 2 * (8 * 2 + 3 * 2 + 2 * 2) + 2);  // per layer: 8 attention linears, 3 norms, 2 ff; final norm
  param<D> x("x", random(L, d, 7)), m("memory", random(M, d, 8));
  tape<D> t(tape_mode::infer);
  const mat y = dec.sequence(t, t.leaf(x), t.leaf(m)).value();

  const auto w = weights(dec);
  mat h = x.value();
  for (int l = 0; l < 2; ++l) {
    const std::string p = std::to_string(l) + ".";
    h = layer_norm(h + attention(h, h, w, p + "self", H), w, p + "ln1");
    h = layer_norm(h + attention(h, m.value(), w, p + "cross", H), w, p + "ln2");
    h = layer_norm(h + affine(affine(h, w, p + "ff1").cwiseMax(0.0), w, p + "ff2"), w, p + "ln3");
  }
  h = layer_norm(h, w, "norm");
  CHECK(y.isApprox(h, 1e-12));

  CHECK_THROWS_AS(dec.sequence(t, t.leaf(x), t.view(m.value().data(), 1, 3)), shape_error);
  CHECK_THROWS_AS(nn::transformer_decoder<D>({.d_model = 5, .heads = 2}, gen), value_error);

  auto params = nn::parameters(dec);
  params.push_back(&x);
  params.push_back(&m);
  gradcheck_projection([&](tape<D>& tt) { return dec.sequence(tt, tt.leaf(x), tt.leaf(m)); }, params);
}

TEST_CASE("transformer_encoder: final_norm is one more layer norm on the output of both layouts", "[msr][blocks][m2m][decoder]") {
  rng g1(11), g2(11);
  nn::transformer_encoder<D> plain({.d_model = 4, .heads = 2, .ff_dim = 3, .layers = 1}, g1);
  nn::transformer_encoder<D> normed({.d_model = 4, .heads = 2, .ff_dim = 3, .layers = 1, .final_norm = true}, g2);
  auto w = weights(normed);
  REQUIRE(w.count("norm.gamma") == 1);
  CHECK(weights(plain).count("norm.gamma") == 0);
  for (auto& [name, p] : nn::named_parameters(normed))
    if (name.starts_with("norm.")) rng(3).fill_uniform(p->value(), 0.5, 1.5);
  w = weights(normed);
  param<D> x("x", random(6, 4, 12));
  tape<D> t(tape_mode::infer);
  CHECK(normed.sequence(t, t.leaf(x)).value().isApprox(layer_norm(plain.sequence(t, t.leaf(x)).value(), w, "norm"), 1e-12));
  const mat tokens = random(2, 3 * 4, 13);  // 2 samples of 3 tokens
  const mat enc = normed.encode(t, t.view(tokens.data(), 2, 12), 3).value();
  const mat ref = plain.encode(t, t.view(tokens.data(), 2, 12), 3).value();
  for (index_t b = 0; b < 2; ++b)
    for (index_t i = 0; i < 3; ++i)
      CHECK(enc.block(b, i * 4, 1, 4).isApprox(layer_norm(ref.block(b, i * 4, 1, 4), w, "norm"), 1e-12));
  auto params = nn::parameters(normed);
  params.push_back(&x);
  gradcheck_projection([&](tape<D>& tt) { return normed.sequence(tt, tt.leaf(x)); }, params);
}

TEST_CASE("m2m reference mode: nn.Transformer's encoder + decoder, LeakyReLU 0.1; gradients", "[msr][models][m2m][reference]") {
  data::schema s;
  s.add({.name = "user", .kind = data::feature_kind::sparse, .vocabulary = 7});
  s.add({.name = "item", .kind = data::feature_kind::sparse, .vocabulary = 5});
  s.add({.name = "scenario", .kind = data::feature_kind::scenario, .scenarios = 3});
  s.add({.name = "click", .kind = data::feature_kind::label});
  data::dataset ds(s);
  rng g(21);
  for (index_t i = 0; i < 10; ++i) {
    const std::array<index_t, 2> sp{g.integer(0, 6), g.integer(0, 4)};
    const std::array<double, 1> lab{double(g.bernoulli(0.4))};
    ds.append(sp, std::span<const double>(), i % 3, lab);
  }
  data::batch<D> b;
  std::vector<index_t> rows{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  ds.gather(std::span<const index_t>(rows), b);

  models::m2m_options o;
  o.embedding.dim = 4;
  o.embedding.init_stddev = 0.5;  // the default N(0, 1e-4) tables sit where layer and batch norms make the loss sharply curved
  o.experts = 2;
  o.expert_output = 3;
  o.scenario_dim = 3;
  o.encoder_layers = 1;
  o.decoder_layers = 1;
  o.heads = 2;
  o.feedforward = 3;
  o.tower_dims = {3};
  rng g1(4), g2(4);
  models::m2m<D> paper(s, o, g1);
  o.reference_behaviour = true;
  models::m2m<D> ref(s, o, g2);
  std::map<std::string, index_t> count;
  for (auto& [name, p] : nn::named_parameters(ref)) ++count[name.substr(0, name.find('.'))];
  CHECK(count["decoder"] == 8 * 2 + 3 * 2 + 2 * 2 + 2);
  CHECK(weights(ref).count("encoder.norm.gamma") == 1);
  CHECK(weights(paper).count("encoder.norm.gamma") == 0);
  CHECK(count.count("decoder") == 1);
  for (auto& [name, p] : nn::named_parameters(paper)) CHECK(!name.starts_with("decoder."));
  // the resolved options carry the decoder depth; the JSON round trip keeps it
  CHECK(models::m2m_options::from_json(o.to_json()).decoder_layers == 1);

  const auto bce = [&](tape<D>& t) { return loss::bce_with_logits(t, ref(t, b), t.view(b.labels.data(), b.size, 1)); };
  testing::gradcheck_options opt;
  opt.samples_per_param = 3;
  opt.abs_tolerance = 1e-8;
  const auto res = testing::gradcheck<D>(bce, nn::parameters(ref), opt);
  INFO(res.summary());
  CHECK(res.passed);
  CHECK(res.checked >= 20);
}
