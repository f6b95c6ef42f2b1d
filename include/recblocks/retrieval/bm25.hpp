#pragma once
/// \file bm25.hpp
/// Okapi BM25 over an inverted index (Lucene's variant, as `bm25s` `method="lucene"` and Anserini):
///
///     idf(t)     = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
///     score(q,d) = sum_{t in q} idf(t) * tf(t,d) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
///
/// N documents, df(t) documents containing t, tf(t,d) occurrences of t in d, |d| tokens of d, avgdl
/// the mean |d|. A query term repeated in the query counts once per occurrence (as Lucene's boolean
/// query and `rank_bm25`). Lucene's constant factor (k1 + 1) is left out (rankings are the same).
///
/// Defaults k1 = 0.9, b = 0.4: Anserini's defaults, used by Pyserini's BEIR "BM25 flat" baselines
/// (SciFact NDCG@10 0.679 there, with Lucene's English analyzer). The original BEIR paper ran
/// Elasticsearch's defaults (k1 = 1.2, b = 0.75); pass those in `bm25_options` to match it.
///
/// Tokenizer: any callable `std::vector<std::string>(std::string_view)`; the default
/// `bm25::simple_tokenize` lower-cases ASCII letters and splits on every byte that is not an ASCII
/// letter or digit and not >= 0x80 (so UTF-8 sequences stay inside words). No stemming, no stop words.
/// A WordPiece tokenizer can be passed instead (`[&](auto s) { return wp.tokenize(s); }`).
///
/// `search(query, k)` returns the top min(k, N) documents by score, ties broken by smaller index; a
/// document without any query term scores 0 and is ranked after all positive scores (so a query
/// without a known term returns the first k documents with score 0). Errors: `value_error` for k1 < 0,
/// b outside [0, 1], k < 0, a query before `build`; `state_error` for `build` on an empty corpus.
/// Complexity: build O(total tokens), a query O(N + sum of its terms' posting lengths + N log k).
/// Thread-safety: `scores`/`search` are const and safe to call concurrently after `build`.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// BM25 parameters (see the file comment).
struct bm25_options {
  double k1 = 0.9;
  double b = 0.4;
};

/// One BM25 hit.
struct bm25_hit {
  index_t id;
  double score;
};

/// An inverted-index Okapi BM25 retriever (see the file comment).
class bm25 {
 public:
  using tokenizer_fn = std::function<std::vector<std::string>(std::string_view)>;

  explicit bm25(bm25_options options = {}, tokenizer_fn tokenizer = &bm25::simple_tokenize)
      : options_(options), tokenizer_(std::move(tokenizer)) {
    if (!(options_.k1 >= 0.0)) throw value_error("bm25: option k1 = " + std::to_string(options_.k1) + " must be >= 0");
    if (!(options_.b >= 0.0 && options_.b <= 1.0))
      throw value_error("bm25: option b = " + std::to_string(options_.b) + " must be in [0, 1]");
    if (!tokenizer_) throw value_error("bm25: tokenizer is empty");
  }

  /// Lower-cased ASCII alphanumeric runs (bytes >= 0x80 kept inside words).
  static std::vector<std::string> simple_tokenize(std::string_view s) {
    std::vector<std::string> out;
    std::string cur;
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80) {
        cur.push_back(ch);
      } else if (c >= 'A' && c <= 'Z') {
        cur.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if (!cur.empty()) {
        out.push_back(std::move(cur));
        cur.clear();
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
  }

  /// Indexes `documents` (replacing any earlier index); document i gets id i.
  void build(const std::vector<std::string>& documents) {
    std::vector<std::vector<std::string>> toks;
    toks.reserve(documents.size());
    for (const auto& d : documents) toks.push_back(tokenizer_(d));
    build_tokens(toks);
  }

  /// Indexes already tokenized documents.
  void build_tokens(const std::vector<std::vector<std::string>>& documents) {
    if (documents.empty()) throw state_error("bm25::build: empty corpus");
    vocab_.clear();
    postings_.clear();
    lengths_.assign(documents.size(), 0);
    double total = 0;
    std::unordered_map<index_t, std::int32_t> tf;
    for (std::size_t d = 0; d < documents.size(); ++d) {
      tf.clear();
      for (const auto& w : documents[d]) {
        auto [it, fresh] = vocab_.emplace(w, static_cast<index_t>(postings_.size()));
        if (fresh) postings_.emplace_back();
        ++tf[it->second];
      }
      for (const auto& [t, c] : tf) postings_[static_cast<std::size_t>(t)].push_back({static_cast<index_t>(d), c});
      lengths_[d] = static_cast<std::int32_t>(documents[d].size());
      total += static_cast<double>(documents[d].size());
    }
    for (auto& p : postings_) std::sort(p.begin(), p.end(), [](const posting& a, const posting& b) { return a.doc < b.doc; });
    avgdl_ = total / static_cast<double>(documents.size());
    const double n = static_cast<double>(documents.size());
    idf_.resize(postings_.size());
    for (std::size_t t = 0; t < postings_.size(); ++t) {
      const double df = static_cast<double>(postings_[t].size());
      idf_[t] = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    }
    norm_.resize(documents.size());
    for (std::size_t d = 0; d < documents.size(); ++d)
      norm_[d] = options_.k1 * (1.0 - options_.b + (avgdl_ > 0 ? options_.b * lengths_[d] / avgdl_ : 0.0));
  }

  /// BM25 score of every document for `query` (length `documents()`).
  std::vector<double> scores(std::string_view query) const { return scores_tokens(tokenizer_(query)); }

  /// As `scores`, for an already tokenized query.
  std::vector<double> scores_tokens(const std::vector<std::string>& query) const {
    if (lengths_.empty()) throw value_error("bm25::scores: no index (call build first)");
    std::vector<double> s(lengths_.size(), 0.0);
    for (const auto& w : query) {
      auto it = vocab_.find(w);
      if (it == vocab_.end()) continue;
      const auto t = static_cast<std::size_t>(it->second);
      const double idf = idf_[t];
      for (const posting& p : postings_[t]) {
        const double f = p.tf;
        s[static_cast<std::size_t>(p.doc)] += idf * f / (f + norm_[static_cast<std::size_t>(p.doc)]);
      }
    }
    return s;
  }

  /// The top `k` documents for `query`, best first (ties: smaller id first).
  std::vector<bm25_hit> search(std::string_view query, index_t k) const { return top(scores(query), k); }
  std::vector<bm25_hit> search_tokens(const std::vector<std::string>& query, index_t k) const {
    return top(scores_tokens(query), k);
  }

  index_t documents() const { return static_cast<index_t>(lengths_.size()); }
  index_t terms() const { return static_cast<index_t>(postings_.size()); }
  double average_length() const { return avgdl_; }
  /// Document frequency of `term` (0 when unknown).
  index_t document_frequency(const std::string& term) const {
    auto it = vocab_.find(term);
    return it == vocab_.end() ? 0 : static_cast<index_t>(postings_[static_cast<std::size_t>(it->second)].size());
  }
  const bm25_options& options() const { return options_; }
  const tokenizer_fn& tokenizer() const { return tokenizer_; }

 private:
  struct posting {
    index_t doc;
    std::int32_t tf;
  };

  static std::vector<bm25_hit> top(const std::vector<double>& s, index_t k) {
    if (k < 0) throw value_error("bm25::search: k = " + std::to_string(k) + " must be >= 0");
    const std::size_t n = std::min(static_cast<std::size_t>(k), s.size());
    std::vector<index_t> ids(s.size());
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<index_t>(i);
    auto better = [&](index_t a, index_t b) {
      const double sa = s[static_cast<std::size_t>(a)], sb = s[static_cast<std::size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    };
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), better);
    std::vector<bm25_hit> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back({ids[i], s[static_cast<std::size_t>(ids[i])]});
    return out;
  }

  bm25_options options_;
  tokenizer_fn tokenizer_;
  std::unordered_map<std::string, index_t> vocab_;
  std::vector<std::vector<posting>> postings_;
  std::vector<double> idf_;
  std::vector<std::int32_t> lengths_;
  std::vector<double> norm_;
  double avgdl_ = 0.0;
};

}  // namespace recblocks::retrieval
