// WordPiece tokenizer: token ids identical to Hugging Face's on the fixture strings, pairs, batches,
// truncation, invalid UTF-8 and a tiny vocabulary with known answers.
#include <catch2/catch.hpp>

#include <recblocks/text/wordpiece_tokenizer.hpp>

#include "text_helpers.hpp"

using namespace recblocks;
using text::wordpiece_tokenizer;

namespace {
wordpiece_tokenizer tiny() {
  return wordpiece_tokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", ",", "world",
                              "!", "a", "##a", "cafe", "中", "##b"});
}
}  // namespace

TEST_CASE("wordpiece: greedy longest match, punctuation, accents, CJK on a tiny vocabulary", "[text][wordpiece]") {
  const auto tok = tiny();
  CHECK(tok.tokenize("unaffable") == std::vector<std::string>{"un", "##aff", "##able"});
  CHECK(tok.tokenize("Hello, WORLD!") == std::vector<std::string>{"hello", ",", "world", "!"});
  CHECK(tok.tokenize("Café") == std::vector<std::string>{"cafe"});
  CHECK(tok.tokenize("中中") == std::vector<std::string>{"中", "中"});
  CHECK(tok.tokenize("aaa") == std::vector<std::string>{"a", "##a", "##a"});
  CHECK(tok.tokenize("ab") == std::vector<std::string>{"a", "##b"});
  CHECK(tok.tokenize("abx") == std::vector<std::string>{"[UNK]"});  // one piece missing: the whole word is [UNK]
  CHECK(tok.tokenize("xyz") == std::vector<std::string>{"[UNK]"});
  CHECK(tok.tokenize(std::string(101, 'a')) == std::vector<std::string>{"[UNK]"});
  CHECK(tok.tokenize(std::string(100, 'a')).size() == 100);
  CHECK(tok.tokenize("").empty());
  CHECK(tok.tokenize(" \t\n\x01 ").empty());
  CHECK(tok.tokenize("a[SEP]a") == std::vector<std::string>{"a", "[SEP]", "a"});
  auto e = tok.encode("hello", "world");
  CHECK(e.ids == std::vector<std::int32_t>{2, 8, 3, 10, 3});
  CHECK(e.type_ids == std::vector<std::int32_t>{0, 0, 0, 1, 1});
}

TEST_CASE("wordpiece: invalid UTF-8 is an error naming the byte offset, or replaced", "[text][wordpiece]") {
  const auto tok = tiny();
  const std::string bad = std::string("hello ") + char(0xC3) + "(" + " world";
  try {
    (void)tok.tokenize(bad);
    FAIL("no error");
  } catch (const value_error& e) {
    CHECK(std::string(e.what()).find("byte offset 6") != std::string::npos);
  }
  for (std::string s : {std::string("\xC0\xAF"), std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"), std::string("\xE2\x82")})
    CHECK_THROWS_AS(tok.tokenize(s), value_error);
  text::wordpiece_options opt;
  opt.invalid = text::invalid_utf8::replace;
  wordpiece_tokenizer lenient({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "("}, opt);
  CHECK(lenient.tokenize(bad) == std::vector<std::string>{"hello", "(", "world"});
}

TEST_CASE("wordpiece: truncation, overflow errors and padded batches", "[text][wordpiece]") {
  const auto tok = tiny();
  auto e = tok.encode("a a a a a", 4);
  CHECK(e.ids == std::vector<std::int32_t>{2, 12, 12, 3});
  CHECK_THROWS_AS(tok.encode("a a a a a", 4, text::overflow::error), value_error);
  CHECK_THROWS_AS(tok.encode("a", 1), value_error);
  auto p = tok.encode("a a a a", "a a", 6);  // longest first: 4+2 -> 2+1
  CHECK(p.ids == std::vector<std::int32_t>{2, 12, 12, 3, 12, 3});
  std::vector<std::string> texts{"hello", "a a a", ""};
  auto b = tok.encode_batch(texts);
  CHECK(b.batch == 3);
  CHECK(b.length == 5);
  CHECK(b.lengths == std::vector<index_t>{3, 5, 2});
  CHECK(b.ids == std::vector<std::int32_t>{2, 8, 3, 0, 0, 2, 12, 12, 12, 3, 2, 3, 0, 0, 0});
  CHECK(b.mask == std::vector<std::int32_t>{1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0});
  auto empty = tok.encode_batch(std::span<const std::string>());
  CHECK(empty.batch == 0);
  CHECK(empty.ids.empty());
}

TEST_CASE("wordpiece: bad vocabularies", "[text][wordpiece]") {
  CHECK_THROWS_AS(wordpiece_tokenizer({}), value_error);
  CHECK_THROWS_AS(wordpiece_tokenizer({"[PAD]", "[CLS]", "[SEP]"}), value_error);  // no [UNK]
  CHECK_THROWS_AS(wordpiece_tokenizer::from_vocab_file("/nonexistent/vocab.txt"), io_error);
}

TEST_CASE("wordpiece: ids identical to Hugging Face tokenizers on the fixture strings", "[text][wordpiece][fixture]") {
  TEXT_REQUIRE_MODEL(dir);
  const auto tok = wordpiece_tokenizer::from_model_dir(dir);
  REQUIRE(tok.vocab_size() == 30522);
  const auto rows = text_test::read_jsonl(text_test::fixtures() / "wordpiece_ids.jsonl");
  REQUIRE(rows.size() >= 2000);
  std::size_t mismatches = 0;
  for (const auto& r : rows) {
    const std::string t = r["t"];
    const auto expected = text_test::unpack_ids(r["ids"]);
    const auto got = tok.encode(t).ids;
    if (got != expected) {
      if (++mismatches <= 10) {
        std::string g, x;
        for (auto i : got) g += std::to_string(i) + " ";
        for (auto i : expected) x += std::to_string(i) + " ";
        UNSCOPED_INFO("text: " << nlohmann::json(t).dump() << "\n  got      " << g << "\n  expected " << x);
      }
    }
  }
  CHECK(mismatches == 0);
  const auto pairs = text_test::read_jsonl(text_test::fixtures() / "pair_ids.jsonl");
  REQUIRE(pairs.size() >= 50);
  std::size_t pair_mismatches = 0;
  for (const auto& r : pairs) {
    const auto e = tok.encode(r["a"].get<std::string>(), r["b"].get<std::string>(), 64);
    if (e.ids != text_test::unpack_ids(r["ids"]) || e.type_ids != text_test::unpack_ids(r["types"])) {
      ++pair_mismatches;
      std::string g;
      for (auto i : e.ids) g += std::to_string(i) + " ";
      UNSCOPED_INFO("pair: " << r.dump() << "\n  got " << g);
    }
  }
  CHECK(pair_mismatches == 0);
}
