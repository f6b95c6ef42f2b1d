// The masked attention op, GELU linear and pooling ops (gradient checks in double with padding), a
// tiny random BERT end to end, the pretrained all-MiniLM-L6-v2 against sentence-transformers'
// embeddings, and bad input.
#include <catch2/catch.hpp>

#include <recblocks/core/ops.hpp>
#include <recblocks/io/npy.hpp>
#include <recblocks/llm/client.hpp>
#include <recblocks/nn/bert_encoder.hpp>
#include <recblocks/text/sentence_encoder.hpp>

#include "../core/gradcheck_helpers.hpp"
#include "text_helpers.hpp"

using namespace recblocks;
using rbt::check_op;
using rbt::leaves;

TEST_CASE("masked_attention: gradient check in double with padding present", "[text][attention][gradcheck]") {
  const std::vector<index_t> lengths{3, 5, 1, 0};  // T = 5: padding in three of four sequences
  check_op("masked_attention", {{20, 6, -1.5, 1.5}, {20, 6, -1.5, 1.5}, {20, 6}}, [&](tape<double>& t, const leaves& x) {
    return ops::masked_attention(t, x[0], x[1], x[2], 5, lengths, 2);
  });
  check_op("masked_attention_shared_qkv", {{20, 4, -1.5, 1.5}},
           [&](tape<double>& t, const leaves& x) { return ops::masked_attention(t, x[0], x[0], x[0], 5, lengths, 1); });
  const std::vector<index_t> offsets{0, 4, 4, 5, 11};
  check_op("packed_attention", {{11, 6, -1.5, 1.5}, {11, 6, -1.5, 1.5}, {11, 6}}, [&](tape<double>& t, const leaves& x) {
    return ops::packed_attention(t, x[0], x[1], x[2], offsets, 3);
  });
  testing::gradcheck_options opt;  // attention dropout: the check re-seeds the tape, so masks repeat
  check_op("packed_attention_dropout", {{11, 6, -1.5, 1.5}, {11, 6, -1.5, 1.5}, {11, 6}},
           [&](tape<double>& t, const leaves& x) { return ops::packed_attention(t, x[0], x[1], x[2], offsets, 3, 0.3); }, opt);
}

TEST_CASE("masked_attention: padded rows are 0, real rows equal packed and token_attention", "[text][attention]") {
  rng gen(3);
  matrix<double> q(12, 4), k(12, 4), v(12, 4);
  gen.fill_uniform(q, -1, 1);
  gen.fill_uniform(k, -1, 1);
  gen.fill_uniform(v, -1, 1);
  tape<double> t(tape_mode::infer);
  auto Q = t.view(q.data(), 12, 4), K = t.view(k.data(), 12, 4), V = t.view(v.data(), 12, 4);
  const std::vector<index_t> full{4, 4, 4};
  const matrix<double> a = ops::masked_attention(t, Q, K, V, 4, full, 2).value();
  const matrix<double> b = ops::token_attention(t, Q, K, V, 4, 2).value();
  CHECK((a - b).cwiseAbs().maxCoeff() < 1e-12);
  const std::vector<index_t> lengths{2, 4, 3};
  const matrix<double> m = ops::masked_attention(t, Q, K, V, 4, lengths, 2).value();
  CHECK(m.row(2).isZero());
  CHECK(m.row(3).isZero());
  CHECK(m.row(11).isZero());
  // sequence 0 alone, as packed rows 0..1
  const std::vector<index_t> off{0, 2};
  const matrix<double> p = ops::packed_attention(t, t.view(q.data(), 2, 4), t.view(k.data(), 2, 4), t.view(v.data(), 2, 4), off, 2).value();
  CHECK((p - m.topRows(2)).cwiseAbs().maxCoeff() < 1e-12);
  CHECK_THROWS_AS(ops::masked_attention(t, Q, K, V, 4, std::vector<index_t>{5, 1, 1}, 2), shape_error);
  CHECK_THROWS_AS(ops::masked_attention(t, Q, K, V, 4, full, 3), shape_error);
  CHECK_THROWS_AS(ops::packed_attention(t, Q, K, V, std::vector<index_t>{0, 5}, 2), shape_error);
  CHECK_THROWS_AS(ops::packed_attention(t, Q, K, V, std::vector<index_t>{0, 12}, 2, 1.0), value_error);
}

TEST_CASE("linear_gelu, segment_max, l2_normalize_rows: gradient checks; float GELU matches erf", "[text][gradcheck]") {
  check_op("linear_gelu", {{5, 4, -2, 2}, {4, 6}, {1, 6}},
           [](tape<double>& t, const leaves& x) { return ops::linear_gelu(t, x[0], x[1], x[2]); });
  const std::vector<index_t> off{0, 3, 3, 7};
  check_op("segment_max", {{7, 5}}, [&](tape<double>& t, const leaves& x) { return ops::segment_max(t, x[0], off); });
  check_op("l2_normalize_rows", {{4, 5}}, [](tape<double>& t, const leaves& x) { return ops::l2_normalize_rows(t, x[0]); });
  std::vector<float> xs, ys(2001);
  for (int i = 0; i <= 2000; ++i) xs.push_back(-6.0f + 0.006f * float(i));
  ops::detail::erf_n(xs.data(), ys.data(), 2001);
  double worst = 0;
  for (int i = 0; i <= 2000; ++i) worst = std::max(worst, std::abs(double(ys[i]) - std::erf(double(xs[i]))));
  CHECK(worst < 5e-7);
}

namespace {
nn::bert_config tiny_config() {
  nn::bert_config c;
  c.vocab_size = 40;
  c.hidden = 16;
  c.layers = 2;
  c.heads = 2;
  c.intermediate = 24;
  c.max_positions = 12;
  c.type_vocab_size = 2;
  c.layer_norm_eps = 1e-12;
  return c;
}
}  // namespace

TEST_CASE("bert_encoder: tiny random BERT (2 layers, width 16) gradient check end to end, mixed lengths", "[text][bert][gradcheck]") {
  for (bool dropout : {false, true}) {
    auto cfg = tiny_config();
    cfg.hidden_dropout = dropout ? 0.1 : 0.0;
    cfg.attention_dropout = dropout ? 0.1 : 0.0;
    rng gen(11);
    nn::bert_encoder<double> bert(cfg, gen);
    const std::vector<std::int32_t> ids{1, 5, 7, 2, 1, 9, 2, 1, 3, 4, 8, 30, 2}, types{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    const std::vector<index_t> offsets{0, 4, 7, 13};
    matrix<double> proj(3, 16);
    rng pg(5);
    pg.fill_uniform(proj, -1, 1);
    auto loss = [&](tape<double>& t) {
      var<double> h = bert(t, ids, types, offsets);
      var<double> e = ops::l2_normalize_rows(t, ops::segment_mean(t, h, offsets));
      return ops::sum_all(t, ops::mul(t, e, t.view(proj.data(), 3, 16)));
    };
    auto params = nn::parameters(bert);
    testing::gradcheck_options opt;
    opt.samples_per_param = 6;
    const auto res = testing::gradcheck<double>(loss, params, opt);
    INFO((dropout ? "with dropout: " : "no dropout: ") << res.summary());
    CHECK(res.passed);
    CHECK(res.checked > 100);
  }
}

TEST_CASE("bert_encoder: the inference path equals the recorded forward", "[text][bert]") {
  auto cfg = tiny_config();
  rng gen(12);
  nn::bert_encoder<double> bert(cfg, gen);
  const std::vector<std::int32_t> ids{1, 5, 7, 2, 1, 9, 2, 1, 3, 4, 8, 30, 2}, types{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
  const std::vector<index_t> offsets{0, 4, 4, 7, 13};
  tape<double> rec(tape_mode::train);
  rec.set_training(false);
  const var<double> a = bert(rec, ids, types, offsets);
  CHECK(a.tracked());
  tape<double> inf(tape_mode::infer);
  const var<double> b = bert(inf, ids, types, offsets);
  CHECK_FALSE(b.tracked());
  CHECK((a.value() - b.value()).cwiseAbs().maxCoeff() < 1e-12);
  // a warm infer tape allocates no new arena blocks for the same batch
  inf.reset();
  (void)bert(inf, ids, types, offsets);
  const auto bytes = inf.arena_bytes();
  for (int r = 0; r < 3; ++r) {
    inf.reset();
    (void)bert(inf, ids, types, offsets);
  }
  CHECK(inf.arena_bytes() == bytes);
}

TEST_CASE("bert_encoder: config and weight errors name the field or tensor", "[text][bert]") {
  nlohmann::json j = {{"model_type", "bert"}, {"hidden_size", 16}, {"num_attention_heads", 2}, {"num_hidden_layers", 1},
                      {"intermediate_size", 8}, {"vocab_size", 10}, {"max_position_embeddings", 8}, {"hidden_act", "gelu"}};
  CHECK(nn::bert_config::from_json(j).hidden == 16);
  auto bad = j;
  bad["position_embedding_type"] = "relative_key";
  CHECK_THROWS_WITH(nn::bert_config::from_json(bad), Catch::Contains("position_embedding_type"));
  bad = j;
  bad["hidden_act"] = "relu";
  CHECK_THROWS_WITH(nn::bert_config::from_json(bad), Catch::Contains("hidden_act"));
  bad = j;
  bad["num_attention_heads"] = 3;
  CHECK_THROWS_AS(nn::bert_config::from_json(bad), value_error);
  bad = j;
  bad["hidden_size"] = "big";
  CHECK_THROWS_AS(nn::bert_config::from_json(bad), value_error);
  CHECK_THROWS_AS(nn::bert_config::from_file("/nonexistent/config.json"), io_error);

  rng gen(1);
  auto cfg = nn::bert_config::from_json(j);
  nn::bert_encoder<float> bert(cfg, gen);
  io::safetensors st;
  bert.visit_parameters([&](const std::string& name, param<float>& p) {
    const bool lin = name.find("embeddings") == std::string::npos && name.find("LayerNorm") == std::string::npos &&
                     name.substr(name.size() - 7) == ".weight";
    st.add<float>(name, lin ? matrix<float>(p.value().transpose()) : p.value());
  }, "");
  // a round trip through Hugging Face's layout ([out, in] linear weights; vectors written [1, n])
  rng gen2(2);
  nn::bert_encoder<float> other(cfg, gen2);
  other.load_weights(st);
  tape<float> t0(tape_mode::infer);
  const std::vector<std::int32_t> i3{1, 2, 3}, t3{0, 0, 1};
  const std::vector<index_t> o3{0, 3};
  const matrix<float> h1 = bert(t0, i3, t3, o3).value(), h2 = other(t0, i3, t3, o3).value();
  CHECK((h1 - h2).cwiseAbs().maxCoeff() == 0.0f);
  io::safetensors bad_vec;
  for (const auto& name : st.names()) bad_vec.add<float>(name, name == "encoder.layer.0.output.dense.bias" ? matrix<float>::Zero(1, 15) : st.get<float>(name));
  CHECK_THROWS_WITH(bert.load_weights(bad_vec), Catch::Contains("'encoder.layer.0.output.dense.bias' has shape [1, 15], expected [16]"));
  io::safetensors missing;
  CHECK_THROWS_WITH(bert.load_weights(missing), Catch::Contains("missing tensor 'embeddings.word_embeddings.weight'"));
  io::safetensors wrong_dtype;
  wrong_dtype.add<double>("embeddings.word_embeddings.weight", matrix<double>::Zero(10, 16));
  CHECK_THROWS_WITH(bert.load_weights(wrong_dtype), Catch::Contains("is F64, expected F32"));
  io::safetensors wrong_shape;
  wrong_shape.add<float>("embeddings.word_embeddings.weight", matrix<float>::Zero(11, 16));
  CHECK_THROWS_WITH(bert.load_weights(wrong_shape), Catch::Contains("'embeddings.word_embeddings.weight' has shape [11, 16], expected [10, 16]"));

  tape<float> t(tape_mode::infer);
  const std::vector<std::int32_t> ids{1, 2, 3}, types{0, 0, 0};
  CHECK_THROWS_AS(bert(t, ids, types, std::vector<index_t>{0, 2}), shape_error);
  CHECK_THROWS_AS(bert(t, std::vector<std::int32_t>{1, 99, 3}, types, std::vector<index_t>{0, 3}), value_error);
  CHECK_THROWS_AS(bert(t, ids, std::vector<std::int32_t>{0, 2, 0}, std::vector<index_t>{0, 3}), value_error);
  const std::vector<std::int32_t> long_ids(9, 1), long_types(9, 0);
  CHECK_THROWS_WITH(bert(t, long_ids, long_types, std::vector<index_t>{0, 9}), Catch::Contains("max_position_embeddings"));
  CHECK(bert(t, std::vector<std::int32_t>{}, std::vector<std::int32_t>{}, std::vector<index_t>{0}).rows == 0);
}

static_assert(llm::embedding_client<text::sentence_encoder<float>>);

TEST_CASE("sentence_encoder: all-MiniLM-L6-v2 equals sentence-transformers on the fixture texts", "[text][bert][fixture]") {
  TEXT_REQUIRE_MODEL(dir);
  const auto enc = text::sentence_encoder<float>::load(dir);
  CHECK(enc.dim() == 384);
  CHECK(enc.max_length() == 256);
  CHECK(enc.normalizes());
  CHECK(enc.pooling_mode() == text::pooling::mean);
  std::vector<std::string> texts;
  for (const auto& r : text_test::read_jsonl(text_test::fixtures() / "embedding_texts.jsonl")) texts.push_back(r["t"]);
  const matrix<float> expected = io::npy::load<float>(text_test::fixtures() / "embeddings.npy");
  REQUIRE(texts.size() >= 200);
  REQUIRE(expected.rows() == static_cast<index_t>(texts.size()));
  const matrix<float> got = enc.encode(texts);
  double worst_cos = 1, worst_abs = 0;
  for (index_t i = 0; i < got.rows(); ++i) {
    const double cos = double(got.row(i).dot(expected.row(i))) / (double(got.row(i).norm()) * double(expected.row(i).norm()));
    worst_cos = std::min(worst_cos, cos);
    worst_abs = std::max(worst_abs, double((got.row(i) - expected.row(i)).cwiseAbs().maxCoeff()));
  }
  INFO("min cosine " << worst_cos << ", max abs difference " << worst_abs);
  CHECK(worst_cos >= 0.99999);
  CHECK(worst_abs <= 1e-4);
  // batch composition does not change results (packed: no padding), and embed() agrees
  const matrix<float> one = enc.encode(std::span<const std::string>(texts.data() + 7, 1));
  CHECK((one.row(0) - got.row(7)).cwiseAbs().maxCoeff() < 1e-5f);
  const auto v = enc.embed(std::span<const std::string>(texts.data(), 2));
  CHECK(v.size() == 2);
  CHECK(std::abs(v[1][5] - got(1, 5)) < 1e-5f);
  CHECK(enc.encode(std::span<const std::string>()).rows() == 0);
}

TEST_CASE("sentence_encoder: bad model folders and bad input", "[text][bert]") {
  CHECK_THROWS_AS(text::sentence_encoder<float>::load("/nonexistent/model"), io_error);
  TEXT_REQUIRE_MODEL(dir);
  const auto tmp = std::filesystem::temp_directory_path() / ("recblocks_text_" + std::to_string(::getpid()));
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp / "1_Pooling");
  for (const char* f : {"vocab.txt", "tokenizer_config.json", "config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"})
    std::filesystem::copy_file(dir / f, tmp / f);
  CHECK_THROWS_WITH(text::sentence_encoder<float>::load(tmp), Catch::Contains("model.safetensors"));
  {  // a truncated weights file
    std::ifstream in(dir / "model.safetensors", std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), 4096);
    std::ofstream(tmp / "model.safetensors", std::ios::binary) << head;
  }
  CHECK_THROWS_AS(text::sentence_encoder<float>::load(tmp), io_error);
  std::filesystem::remove(tmp / "model.safetensors");
  std::filesystem::create_symlink(dir / "model.safetensors", tmp / "model.safetensors");
  std::ofstream(tmp / "config.json") << R"({"model_type": "bert", "hidden_size": 384, "num_attention_heads": 12, "position_embedding_type": "rotary"})";
  CHECK_THROWS_WITH(text::sentence_encoder<float>::load(tmp), Catch::Contains("position_embedding_type"));
  std::filesystem::copy_file(dir / "config.json", tmp / "config.json", std::filesystem::copy_options::overwrite_existing);
  std::ofstream(tmp / "1_Pooling/config.json") << R"({"pooling_mode_mean_sqrt_len_tokens": true})";
  CHECK_THROWS_WITH(text::sentence_encoder<float>::load(tmp), Catch::Contains("pooling"));
  std::ofstream(tmp / "1_Pooling/config.json") << R"({"pooling_mode_cls_token": true})";
  text::sentence_encoder_options opt;
  opt.on_long = text::overflow::error;
  const auto cls = text::sentence_encoder<float>::load(tmp, opt);
  CHECK(cls.pooling_mode() == text::pooling::cls);
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "word ";
  CHECK_THROWS_WITH(cls.encode(std::vector<std::string>{long_text}), Catch::Contains("exceeds max_length 256"));
  CHECK_THROWS_WITH(cls.encode(std::vector<std::string>{std::string("bad \xff byte")}), Catch::Contains("byte offset 4"));
  std::filesystem::remove_all(tmp);
}
