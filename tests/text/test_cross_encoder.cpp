// The cross-encoder reranker (text/cross_encoder.hpp): the pretrained all-MiniLM-L6-v2 with a fixed
// head against transformers' BertForSequenceClassification on the fixture pairs, a tiny random
// cross-encoder's gradient check, the inference path, truncation and bad input.
#include <catch2/catch.hpp>

#include <iostream>

#include <recblocks/core/ops.hpp>
#include <recblocks/loss/softmax_cross_entropy.hpp>
#include <recblocks/text/cross_encoder.hpp>

#include "../core/gradcheck_helpers.hpp"
#include "text_helpers.hpp"

using namespace recblocks;

namespace {
nn::bert_config tiny_ce_config() {
  nn::bert_config c;
  c.vocab_size = 16;
  c.hidden = 8;
  c.layers = 2;
  c.heads = 2;
  c.intermediate = 12;
  c.max_positions = 16;
  c.type_vocab_size = 2;
  c.layer_norm_eps = 1e-12;
  return c;
}
text::wordpiece_tokenizer tiny_vocab() {
  return text::wordpiece_tokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cell", "cells", "gene", "protein", "rna", "binds",
                                    "the", "a", "##s", ".", "dna"});
}
}  // namespace

TEST_CASE("cross_encoder: tiny random cross-encoder gradient check (group softmax over 3 pairs, with dropout)", "[text][cross_encoder][gradcheck]") {
  for (bool dropout : {false, true}) {
    auto cfg = tiny_ce_config();
    cfg.hidden_dropout = dropout ? 0.1 : 0.0;
    cfg.attention_dropout = dropout ? 0.1 : 0.0;
    rng gen(3);
    text::cross_encoder_options opt;
    opt.max_length = 9;  // the second pair is truncated
    text::cross_encoder<double> ce(tiny_vocab(), nn::bert_encoder<double>(cfg, gen), opt);
    const std::vector<std::string> docs{"the protein binds rna .", "a gene binds the dna of cells cells cells", "cell"};
    const auto batch = ce.pairs("gene protein", docs);
    REQUIRE(batch.size() == 3);
    CHECK(batch.offsets[2] - batch.offsets[1] == 9);
    auto loss = [&](tape<double>& t) {
      const var<double> s = ce.forward(t, batch);  // [3, 1]
      return loss::softmax_cross_entropy(t, ops::reshape(t, s, 1, 3), {0});
    };
    auto params = nn::parameters(ce);
    testing::gradcheck_options go;
    go.samples_per_param = 6;
    const auto res = testing::gradcheck<double>(loss, params, go);
    INFO((dropout ? "with dropout: " : "no dropout: ") << res.summary());
    CHECK(res.passed);
    CHECK(res.checked > 100);
  }
}

TEST_CASE("cross_encoder: members are named as BertForSequenceClassification; infer equals the recorded forward", "[text][cross_encoder]") {
  rng gen(4);
  text::cross_encoder<double> ce(tiny_vocab(), nn::bert_encoder<double>(tiny_ce_config(), gen));
  std::vector<std::string> names;
  nn::visit_parameters(ce, [&](const std::string& n, param<double>&) { names.push_back(n); });
  CHECK(names.front() == "bert.embeddings.word_embeddings.weight");
  CHECK(std::find(names.begin(), names.end(), "bert.pooler.dense.weight") != names.end());
  CHECK(names.back() == "classifier.bias");
  const std::vector<std::string> docs{"the protein binds rna .", "dna", "", "cells cells gene"};
  const auto batch = ce.pairs("gene", docs);
  tape<double> rec(tape_mode::train);
  rec.set_training(false);
  const var<double> a = ce.forward(rec, batch);
  CHECK(a.tracked());
  tape<double> inf(tape_mode::infer);
  const auto b = ce.score(inf, batch);
  REQUIRE(b.size() == 4);
  for (index_t i = 0; i < 4; ++i) CHECK(std::abs(a.value()(i, 0) - b[static_cast<std::size_t>(i)]) < 1e-12);
  // batch composition does not change a pair's score (packed, no padding); batch size 1 equals 32
  const auto one = ce.score("gene", std::span<const std::string>(docs.data() + 3, 1));
  CHECK(std::abs(one[0] - b[3]) < 1e-12);
  text::cross_encoder_options small;
  small.batch_size = 1;
  text::cross_encoder<double> ce1(tiny_vocab(), nn::bert_encoder<double>(tiny_ce_config(), gen), small);
  CHECK(ce1.score("gene", std::span<const std::string>()).empty());
}

TEST_CASE("cross_encoder: pair truncation is longest first as the tokenizer; overflow::error throws", "[text][cross_encoder]") {
  rng gen(5);
  const auto tok = tiny_vocab();
  for (index_t max_len : {3, 4, 7, 9, 12}) {
    text::cross_encoder_options opt;
    opt.max_length = max_len;
    text::cross_encoder<double> ce(tok, nn::bert_encoder<double>(tiny_ce_config(), gen), opt);
    for (auto [q, d] : {std::pair{"gene gene gene gene gene gene", "dna"}, std::pair{"dna", "cell cell cell cell cell cell cell"},
                        std::pair{"gene gene gene gene", "dna dna dna dna dna"}, std::pair{"a", "the"}}) {
      index_t cut = 0;
      const std::vector<std::string> docs{d};
      const auto p = ce.pairs(q, docs, &cut);
      const auto e = tok.encode(q, d, max_len);  // (no empty document here: see the fixture case)
      CHECK(p.ids == e.ids);
      CHECK(p.type_ids == e.type_ids);
      CHECK(cut == (tok.encode(q, d).size() > max_len ? 1 : 0));
    }
  }
  text::cross_encoder_options strict;
  strict.max_length = 5;
  strict.on_long = text::overflow::error;
  text::cross_encoder<double> ce(tok, nn::bert_encoder<double>(tiny_ce_config(), gen), strict);
  const std::vector<std::string> docs{"cell cell cell"};
  CHECK_THROWS_AS(ce.pairs("gene", docs), value_error);
  text::cross_encoder_options bad;
  bad.max_length = 2;
  CHECK_THROWS_AS(text::cross_encoder<double>(tok, nn::bert_encoder<double>(tiny_ce_config(), gen), bad), value_error);
  bad.max_length = 17;  // over max_position_embeddings 16
  CHECK_THROWS_AS(text::cross_encoder<double>(tok, nn::bert_encoder<double>(tiny_ce_config(), gen), bad), value_error);
  bad.max_length = 8;
  bad.batch_size = 0;
  CHECK_THROWS_AS(text::cross_encoder<double>(tok, nn::bert_encoder<double>(tiny_ce_config(), gen), bad), value_error);
}

TEST_CASE("cross_encoder: head tensors of the wrong shape are named", "[text][cross_encoder]") {
  rng gen(6);
  text::cross_encoder<float> ce(tiny_vocab(), nn::bert_encoder<float>(tiny_ce_config(), gen));
  io::safetensors st;
  st.add<float>("classifier.weight", matrix<float>::Zero(2, 8));
  st.add<float>("classifier.bias", matrix<float>::Zero(1, 1));
  try {
    ce.load_head(st, "head.safetensors");
    FAIL("no error");
  } catch (const io_error& e) {
    CHECK(std::string(e.what()).find("'classifier.weight' has shape [2, 8], expected [1, 8]") != std::string::npos);
  }
  io::safetensors none;
  none.add<float>("other", matrix<float>::Zero(1, 1));
  CHECK(ce.load_head(none) == 0);
}

TEST_CASE("cross_encoder: all-MiniLM-L6-v2 with a fixed head equals transformers on the fixture pairs", "[text][cross_encoder][fixture]") {
  TEXT_REQUIRE_MODEL(dir);
  const auto rows = text_test::read_jsonl(text_test::fixtures() / "cross_encoder_pairs.jsonl");
  REQUIRE(rows.size() == 24);
  const auto head = io::safetensors::load(text_test::fixtures() / "cross_encoder_head.safetensors");
  double worst = 0;
  int truncated = 0;
  for (index_t max_len : {512, 64}) {
    text::cross_encoder_options opt;
    opt.max_length = max_len;
    opt.batch_size = 5;  // batches mix lengths
    auto ce = text::cross_encoder<float>::load(dir, opt);
    CHECK(ce.load_head(head) == 1);  // the classifier (the pooler comes from model.safetensors)
    text::cross_encoder<float>::packed all;
    std::vector<double> expected;
    for (const auto& r : rows) {
      if (r["max_length"] != max_len) continue;
      truncated += ce.pair(all, ce.token_ids(r["q"].get<std::string>()), ce.token_ids(r["d"].get<std::string>()));
      const auto want = text_test::unpack_ids(r["ids"].get<std::string>());
      const auto k = all.size() - 1;
      const std::vector<std::int32_t> got(all.ids.begin() + all.offsets[k], all.ids.end());
      CHECK(got == want);
      expected.push_back(r["score"].get<double>());
    }
    tape<float> t(tape_mode::infer);
    const auto s = ce.score(t, all);
    REQUIRE(s.size() == expected.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      worst = std::max(worst, std::abs(double(s[i]) - expected[i]));
    }
  }
  INFO("max abs score difference " << worst);
  CHECK(worst < 2e-4);
  CHECK(truncated >= 10);
}

// bf16 inference (bert_encoder::enable_bf16_inference): the six projections of every layer on packed
// bf16 weights with FP32 accumulation. Against transformers' FP32 scores on the fixture pairs the
// scores move by bf16 rounding only; measured here (AMD EPYC, AVX512-BF16): max |diff| 0.0044 on scores
// of magnitude up to 1.09 (bound 0.05), and every ordering of two scores more than 0.1 apart is kept.
// Disabling restores the FP32 scores exactly.
TEST_CASE("cross_encoder: bf16 inference stays within the bf16 tolerance of transformers' scores", "[text][cross_encoder][fixture][bf16]") {
  TEXT_REQUIRE_MODEL(dir);
  if (!bf16_gemm_available()) {
    WARN("this CPU has no AVX512-BF16: bf16 inference keeps no copies and runs FP32");
    return;
  }
  const auto rows = text_test::read_jsonl(text_test::fixtures() / "cross_encoder_pairs.jsonl");
  const auto head = io::safetensors::load(text_test::fixtures() / "cross_encoder_head.safetensors");
  auto ce = text::cross_encoder<float>::load(dir, {.max_length = 512, .batch_size = 5});
  REQUIRE(ce.load_head(head) == 1);
  text::cross_encoder<float>::packed all;
  std::vector<double> expected;
  for (const auto& r : rows) {
    if (r["max_length"] != 512) continue;
    ce.pair(all, ce.token_ids(r["q"].get<std::string>()), ce.token_ids(r["d"].get<std::string>()));
    expected.push_back(r["score"].get<double>());
  }
  tape<float> t(tape_mode::infer);
  const auto fp32 = ce.score(t, all);
  ce.bert().enable_bf16_inference();
  REQUIRE(ce.bert().bf16_inference());
  const auto bf16 = ce.score(t, all);
  double worst = 0, largest = 0;
  for (std::size_t i = 0; i < bf16.size(); ++i) {
    worst = std::max(worst, std::abs(double(bf16[i]) - expected[i]));
    largest = std::max(largest, std::abs(expected[i]));
  }
  std::cout << "cross-encoder bf16 inference: max |score - transformers| = " << worst << " (max |score| " << largest << ")\n";
  CHECK(worst < 5e-2);
  CHECK(worst > 1e-5);  // the bf16 path did run
  for (std::size_t i = 0; i < bf16.size(); ++i)
    for (std::size_t j = 0; j < bf16.size(); ++j)
      if (expected[i] > expected[j] + 0.1) CHECK(bf16[i] > bf16[j]);  // clear orderings kept
  ce.bert().disable_bf16_inference();
  CHECK(ce.score(t, all) == fp32);
}
