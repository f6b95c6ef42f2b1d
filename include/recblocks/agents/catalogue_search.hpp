#pragma once
/// \file catalogue_search.hpp
/// `catalogue_search`: text search over a catalogue — every item's text embedded once by a sentence
/// encoder (any callable from texts to vectors, e.g. `text::sentence_encoder::embed`), stored in an
/// HNSW index (cosine), queried with the embedded query:
///
///     hits(q, n) = the n items with the smallest 1 - cos(embed(q), embed(text_i))
///
/// `vectors()` keeps the item embeddings `[items, d]` (L2-normalised) for similarity-based reranking.
/// Needs hnswlib (target `recblocks::hnsw`).
///
/// Requires: at least one item; the embedder returns one non-zero vector of one length per text;
/// `1 <= n`; a query of at most `max_query_bytes` (longer ones are cut on a UTF-8 boundary).
/// Errors: `value_error` for an empty catalogue, wrong embedder output or a bad `n`.
/// Thread-safety: `search` is const and may run concurrently if the embedder may.

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../retrieval/hnsw_index.hpp"

namespace recblocks::agents {

/// Catalogue text search; see the file comment.
class catalogue_search {
 public:
  using embed_fn = std::function<std::vector<std::vector<float>>(std::span<const std::string>)>;

  catalogue_search(const std::vector<std::string>& item_texts, embed_fn embed, std::size_t max_query_bytes = 512)
      : embed_(std::move(embed)), max_query_bytes_(max_query_bytes),
        index_(retrieval::hnsw_options{.dim = 1}) {
    if (item_texts.empty()) throw value_error("[agents::catalogue_search] the catalogue is empty");
    if (!embed_) throw value_error("[agents::catalogue_search] an embedder is required");
    const auto v = embed_(std::span<const std::string>(item_texts));
    if (v.size() != item_texts.size())
      throw value_error("[agents::catalogue_search] the embedder returned " + std::to_string(v.size()) + " vectors for " +
                        std::to_string(item_texts.size()) + " texts");
    const auto d = static_cast<index_t>(v.front().size());
    if (d < 1) throw value_error("[agents::catalogue_search] the embedder returned empty vectors");
    vectors_.resize(static_cast<index_t>(v.size()), d);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (static_cast<index_t>(v[i].size()) != d)
        throw value_error("[agents::catalogue_search] vector " + std::to_string(i) + " has length " +
                          std::to_string(v[i].size()) + ", expected " + std::to_string(d));
      double n = 0;
      for (float x : v[i]) n += double(x) * x;
      n = std::sqrt(n);
      if (!(n > 0)) throw value_error("[agents::catalogue_search] item " + std::to_string(i) + " has a zero embedding");
      for (index_t j = 0; j < d; ++j) vectors_(static_cast<index_t>(i), j) = static_cast<float>(v[i][static_cast<std::size_t>(j)] / n);
    }
    index_ = retrieval::hnsw_index(retrieval::hnsw_options{.dim = d,
                                                           .metric = retrieval::hnsw_metric::cosine,
                                                           .ef_search = 128,
                                                           .capacity = vectors_.rows()});
    index_.add(vectors_, 0);
  }

  /// The best `n` items for `query` (ids, similarity = 1 - distance), best first.
  std::vector<std::pair<index_t, double>> search(std::string query, index_t n) const {
    if (n < 1) throw value_error("[agents::catalogue_search] n must be >= 1, got " + std::to_string(n));
    if (query.size() > max_query_bytes_) {
      std::size_t cut = max_query_bytes_;
      while (cut > 0 && (static_cast<unsigned char>(query[cut]) & 0xc0) == 0x80) --cut;
      query.resize(cut);
    }
    const std::string texts[1] = {query};
    const auto q = embed_(std::span<const std::string>(texts, 1));
    if (q.size() != 1 || static_cast<index_t>(q[0].size()) != vectors_.cols())
      throw value_error("[agents::catalogue_search] the embedder returned a query vector of the wrong shape");
    std::vector<std::pair<index_t, double>> out;
    for (const auto& h : index_.search(std::span<const float>(q[0]), std::min(n, index_.size())))
      out.push_back({h.id, 1.0 - static_cast<double>(h.distance)});
    return out;
  }

  /// L2-normalised item embeddings `[items, d]`.
  const matrix<float>& vectors() const noexcept { return vectors_; }
  index_t size() const noexcept { return vectors_.rows(); }

 private:
  embed_fn embed_;
  std::size_t max_query_bytes_;
  matrix<float> vectors_;
  retrieval::hnsw_index index_;
};

}  // namespace recblocks::agents
