#pragma once
/// \file rationale_scorer.hpp
/// RADIO's rationale-based document scores (papers.md §4, `dataset_generation.py --method reason`):
///
///     rationale_text = question + ". " + answer + ". " + rationale
///     s_reason(d)    = <emb(rationale_text), emb(d)>          (dot product of dense embeddings)
///
/// with any `llm::embedding_client` (e.g. `text::sentence_encoder`, or an embedding server; the
/// reference code uses BAAI/bge-m3). `rationale_scores(emb, text, ids, docs)` embeds the text and the
/// documents in one call; the overload on precomputed vectors takes the text's embedding and one
/// document embedding per row (a corpus embedded once). Result: one `scored_doc` per id, in input
/// order. Errors: ids and documents of different counts, or embeddings of different widths:
/// `shape_error`. Thread-safety: as the embedding client.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../llm/client.hpp"
#include "score_fusion.hpp"

namespace recblocks::rerank {

/// `question + ". " + answer + ". " + rationale`, as the reference code.
inline std::string rationale_text(std::string_view question, std::string_view answer, std::string_view rationale) {
  std::string s(question);
  s += ". ";
  s += answer;
  s += ". ";
  s += rationale;
  return s;
}

/// Dot products of `text_embedding` with each row of `doc_embeddings` (`[ids.size(), d]`).
inline std::vector<scored_doc> rationale_scores(std::span<const float> text_embedding, std::span<const index_t> ids,
                                                const matrix<float>& doc_embeddings) {
  if (doc_embeddings.rows() != static_cast<index_t>(ids.size()))
    throw shape_error("rerank::rationale_scores: " + std::to_string(ids.size()) + " ids but " + std::to_string(doc_embeddings.rows()) +
                      " document embeddings");
  if (!ids.empty() && doc_embeddings.cols() != static_cast<index_t>(text_embedding.size()))
    throw shape_error("rerank::rationale_scores: text embedding of width " + std::to_string(text_embedding.size()) +
                      " but document embeddings of width " + std::to_string(doc_embeddings.cols()));
  std::vector<scored_doc> out(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    double s = 0;
    for (std::size_t j = 0; j < text_embedding.size(); ++j) s += double(text_embedding[j]) * double(doc_embeddings(static_cast<index_t>(i), static_cast<index_t>(j)));
    out[i] = {ids[i], s};
  }
  return out;
}

/// Embeds `text` and `docs` with `emb` and scores each document (see the file comment).
template <llm::embedding_client E>
std::vector<scored_doc> rationale_scores(E& emb, std::string_view text, std::span<const index_t> ids, std::span<const std::string> docs) {
  if (ids.size() != docs.size())
    throw shape_error("rerank::rationale_scores: " + std::to_string(ids.size()) + " ids but " + std::to_string(docs.size()) + " documents");
  std::vector<std::string> all;
  all.reserve(docs.size() + 1);
  all.emplace_back(text);
  all.insert(all.end(), docs.begin(), docs.end());
  const std::vector<std::vector<float>> e = emb.embed(std::span<const std::string>(all));
  if (e.size() != all.size())
    throw shape_error("rerank::rationale_scores: the embedding client returned " + std::to_string(e.size()) + " vectors for " +
                      std::to_string(all.size()) + " texts");
  const auto d = static_cast<index_t>(e[0].size());
  matrix<float> m(static_cast<index_t>(docs.size()), d);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (static_cast<index_t>(e[i + 1].size()) != d)
      throw shape_error("rerank::rationale_scores: embedding " + std::to_string(i + 1) + " has width " + std::to_string(e[i + 1].size()) +
                        ", expected " + std::to_string(d));
    for (index_t j = 0; j < d; ++j) m(static_cast<index_t>(i), j) = e[i + 1][static_cast<std::size_t>(j)];
  }
  return rationale_scores(std::span<const float>(e[0]), ids, m);
}

}  // namespace recblocks::rerank
