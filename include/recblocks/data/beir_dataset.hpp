#pragma once
/// \file beir_dataset.hpp
/// A BEIR-layout retrieval dataset (SciFact, FiQA, ...): corpus, queries, relevance judgements, and
/// a fixed-seed train/dev split of the judged queries.
///
/// Files (read from `dir`):
/// - `corpus.jsonl`, or when it is absent `corpus.part*.jsonl` read in name order (the shared SciFact
///   copy is split in three): one `{"_id": str, "title": str, "text": str, ...}` per line (other keys
///   ignored; a missing `title` is empty);
/// - `queries.jsonl`: one `{"_id": str, "text": str}` per line;
/// - `qrels/<split>.tsv`: header `query-id \t corpus-id \t score`, then one judgement per line. Rows
///   with `score <= 0` are read and dropped (not relevant, BEIR's convention).
///
/// Ids are strings in the files and dense indices here: document `d` is `corpus()[d]`, query `q` is
/// `queries()[q]`, both in file order. `relevant(q)` lists the relevant documents of query `q` (empty
/// for a query without a positive judgement: such a query is in no split).
///
/// Split (`split(dev_fraction, seed)`): the judged queries (those with at least one relevant
/// document), in order of first appearance in the qrels file, are shuffled by Fisher-Yates driven
/// by the raw 64-bit outputs of `recblocks::rng(seed)` (`j = engine() % (i + 1)`, i from n-1 down to 1,
/// so the result does not depend on the standard library); the first `round(dev_fraction * n)`
/// become dev, the rest train, each then sorted by query index. Defaults: 20 % dev, seed 13. On the
/// shared SciFact `qrels/train.tsv` (809 judged queries, 919 pairs) that is 162 dev / 647 train.
///
/// Errors: `io_error` for a missing or unreadable file; `parse_error` naming file, line and field for
/// a line that is not a JSON object, a missing or non-string `_id`/`text`, a duplicate id, a qrels row
/// without three tab-separated fields or with a non-integer score; `value_error` for a qrels row whose
/// query or document id is not in the queries or corpus, and for `dev_fraction` outside [0, 1].
/// Complexity: O(total bytes). Thread-safety: immutable after `load`.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace recblocks::data {

/// One corpus document of a BEIR dataset.
struct beir_document {
  std::string id;
  std::string title;
  std::string text;
};

/// One query of a BEIR dataset.
struct beir_query {
  std::string id;
  std::string text;
};

/// A fixed split of the judged queries (query indices, ascending).
struct beir_split {
  std::vector<index_t> train;
  std::vector<index_t> dev;
};

/// A BEIR-layout dataset (see the file comment).
class beir_dataset {
 public:
  /// Reads corpus, queries and `qrels/<qrels_split>.tsv` from `dir`.
  static beir_dataset load(const std::filesystem::path& dir, const std::string& qrels_split = "train");

  const std::vector<beir_document>& corpus() const { return corpus_; }
  const std::vector<beir_query>& queries() const { return queries_; }
  index_t documents() const { return static_cast<index_t>(corpus_.size()); }

  /// The index of document `id`, or -1.
  index_t find_document(std::string_view id) const {
    auto it = doc_index_.find(std::string(id));
    return it == doc_index_.end() ? -1 : it->second;
  }
  /// The index of query `id`, or -1.
  index_t find_query(std::string_view id) const {
    auto it = query_index_.find(std::string(id));
    return it == query_index_.end() ? -1 : it->second;
  }
  /// Relevant documents of query `q` (ascending; empty when the query has none).
  const std::vector<index_t>& relevant(index_t q) const {
    if (q < 0 || q >= static_cast<index_t>(queries_.size()))
      throw value_error("beir_dataset::relevant: query index " + std::to_string(q) + " outside [0, " +
                        std::to_string(queries_.size()) + ")");
    return relevant_[static_cast<std::size_t>(q)];
  }
  /// Judged queries (at least one relevant document) in order of first appearance in the qrels.
  const std::vector<index_t>& judged_queries() const { return judged_; }
  /// Number of (query, relevant document) pairs kept.
  index_t judgements() const { return pairs_; }

  /// `title + " " + text` (or the text alone when the title is empty): what a retriever indexes.
  std::string document_text(index_t d) const {
    const beir_document& doc = corpus_.at(static_cast<std::size_t>(d));
    return doc.title.empty() ? doc.text : doc.title + " " + doc.text;
  }

  /// The fixed-seed train/dev split of the judged queries (see the file comment).
  beir_split split(double dev_fraction = 0.2, std::uint64_t seed = 13) const;

 private:
  static void read_jsonl(const std::filesystem::path& file, const char* text_key, bool with_title,
                         std::vector<beir_document>& out);

  std::vector<beir_document> corpus_;
  std::vector<beir_query> queries_;
  std::unordered_map<std::string, index_t> doc_index_, query_index_;
  std::vector<std::vector<index_t>> relevant_;
  std::vector<index_t> judged_;
  index_t pairs_ = 0;
};

// ---------------------------------------------------------------------------------------------
// implementation

inline void beir_dataset::read_jsonl(const std::filesystem::path& file, const char* text_key, bool with_title,
                                     std::vector<beir_document>& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io_error("beir_dataset: cannot open " + file.string());
  std::string line;
  std::size_t lineno = 0;
  const std::string where = file.filename().string();
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string at = where + ":" + std::to_string(lineno);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw parse_error(at + ": not a JSON object");
    auto field = [&](const char* key, bool required) -> std::string {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) {
        if (required) throw parse_error(at + ": missing field \"" + key + "\"");
        return {};
      }
      if (!it->is_string()) throw parse_error(at + ": field \"" + key + "\" is not a string");
      return it->get<std::string>();
    };
    beir_document d;
    d.id = field("_id", true);
    if (d.id.empty()) throw parse_error(at + ": field \"_id\" is empty");
    if (with_title) d.title = field("title", false);
    d.text = field(text_key, true);
    out.push_back(std::move(d));
  }
  if (in.bad()) throw io_error("beir_dataset: read error in " + file.string());
}

inline beir_dataset beir_dataset::load(const std::filesystem::path& dir, const std::string& qrels_split) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw io_error("beir_dataset: no directory " + dir.string());
  beir_dataset ds;
  // corpus
  std::vector<fs::path> corpus_files;
  if (fs::exists(dir / "corpus.jsonl")) {
    corpus_files.push_back(dir / "corpus.jsonl");
  } else {
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("corpus.part", 0) == 0 && name.size() > 6 && name.substr(name.size() - 6) == ".jsonl")
        corpus_files.push_back(e.path());
    }
    std::sort(corpus_files.begin(), corpus_files.end());
  }
  if (corpus_files.empty()) throw io_error("beir_dataset: no corpus.jsonl or corpus.part*.jsonl in " + dir.string());
  for (const auto& f : corpus_files) {
    const std::size_t before = ds.corpus_.size();
    read_jsonl(f, "text", true, ds.corpus_);
    for (std::size_t i = before; i < ds.corpus_.size(); ++i)
      if (!ds.doc_index_.emplace(ds.corpus_[i].id, static_cast<index_t>(i)).second)
        throw parse_error(f.filename().string() + ": duplicate document id \"" + ds.corpus_[i].id + "\"");
  }
  // queries
  std::vector<beir_document> q;
  read_jsonl(dir / "queries.jsonl", "text", false, q);
  for (auto& x : q) {
    if (!ds.query_index_.emplace(x.id, static_cast<index_t>(ds.queries_.size())).second)
      throw parse_error("queries.jsonl: duplicate query id \"" + x.id + "\"");
    ds.queries_.push_back(beir_query{std::move(x.id), std::move(x.text)});
  }
  ds.relevant_.assign(ds.queries_.size(), {});
  // qrels
  const fs::path qfile = dir / "qrels" / (qrels_split + ".tsv");
  std::ifstream in(qfile, std::ios::binary);
  if (!in) throw io_error("beir_dataset: cannot open " + qfile.string());
  const std::string where = "qrels/" + qrels_split + ".tsv";
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t p; (p = line.find('\t', start)) != std::string::npos; start = p + 1) f.push_back(line.substr(start, p - start));
    f.push_back(line.substr(start));
    const std::string at = where + ":" + std::to_string(lineno);
    if (f.size() != 3) throw parse_error(at + ": expected 3 tab-separated fields (query-id, corpus-id, score), got " + std::to_string(f.size()));
    if (lineno == 1 && f[0] == "query-id") continue;  // header
    long long score = 0;
    try {
      std::size_t used = 0;
      score = std::stoll(f[2], &used);
      if (used != f[2].size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw parse_error(at + ": field score is not an integer: \"" + f[2] + "\"");
    }
    const index_t qi = ds.find_query(f[0]);
    if (qi < 0) throw value_error(at + ": query-id \"" + f[0] + "\" is not in queries.jsonl");
    const index_t di = ds.find_document(f[1]);
    if (di < 0) throw value_error(at + ": corpus-id \"" + f[1] + "\" is not in the corpus");
    if (score <= 0) continue;
    auto& rel = ds.relevant_[static_cast<std::size_t>(qi)];
    if (rel.empty()) ds.judged_.push_back(qi);
    if (std::find(rel.begin(), rel.end(), di) == rel.end()) {
      rel.push_back(di);
      ++ds.pairs_;
    }
  }
  for (auto& rel : ds.relevant_) std::sort(rel.begin(), rel.end());
  return ds;
}

inline beir_split beir_dataset::split(double dev_fraction, std::uint64_t seed) const {
  if (!(dev_fraction >= 0.0 && dev_fraction <= 1.0))
    throw value_error("beir_dataset::split: dev_fraction " + std::to_string(dev_fraction) + " outside [0, 1]");
  std::vector<index_t> order = judged_;
  rng g(seed);
  for (std::size_t i = order.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(g.engine()() % static_cast<std::uint64_t>(i));
    std::swap(order[i - 1], order[j]);
  }
  const std::size_t n_dev = static_cast<std::size_t>(std::llround(dev_fraction * static_cast<double>(order.size())));
  beir_split s;
  s.dev.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_dev));
  s.train.assign(order.begin() + static_cast<std::ptrdiff_t>(n_dev), order.end());
  std::sort(s.dev.begin(), s.dev.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

}  // namespace recblocks::data
