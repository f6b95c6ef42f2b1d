#pragma once
/// \file cross_encoder.hpp
/// A BERT cross-encoder reranker, as Hugging Face's `BertForSequenceClassification` with one label
/// (what sentence-transformers' `CrossEncoder` and FlagEmbedding's reranker run):
///
///     tokens = [CLS] query [SEP] document [SEP]       type ids 0 ... 0 | 1 ... 1, longest-first truncation
///     H      = BERT(tokens)                             [L, d]
///     p      = tanh(H_[CLS] W_p + b_p)                  the pooler               [d]
///     s      = dropout(p) w_c + b_c                     the scoring head          (one score per pair)
///
/// `load(dir)` reads the BERT weights (`config.json`, `model.safetensors`), the pooler
/// (`pooler.dense.*`, random N(0, 0.02) when the file has none) and the head (`classifier.*`, a
/// trained cross-encoder's, else from scratch: w_c ~ N(0, 0.02), b_c = 0, seeded). `load_head` reads
/// the pooler and head tensors of any safetensors file (e.g. a fine-tuned head).
///
/// Batching: a batch of pairs is packed (real tokens only, `nn::bert_encoder`), so pairs of
/// different lengths cost only their own tokens. `score` runs on an inference tape (nothing
/// recorded, the allocation-free BERT path) in batches of `batch_size` pairs; `forward` runs on a
/// caller's tape and records when it does (fine-tuning: backward reaches the head, the pooler and
/// every BERT parameter; dropout on training tapes).
///
/// Pre-tokenised input: `pair(query_ids, doc_ids)` builds the pair from WordPiece ids without
/// special tokens (tokenise each document once, pair it with many queries); truncation is longest
/// first exactly as `wordpiece_tokenizer::encode(a, b, max_length)`. An empty document gives
/// `[CLS] query [SEP]`, as Hugging Face's tokenizers do for an empty second text.
///
/// Shapes: `forward` -> `[pairs, 1]`; `score(query, docs)` -> one score per document.
/// Errors: `io_error` for missing or corrupt files or a head tensor of the wrong shape; a pair over
/// `max_length` tokens is truncated (default) or a `value_error` with `overflow::error`; invalid UTF-8
/// as the tokenizer. Empty document lists give empty results.
/// Thread-safety: const members; one tape per thread.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/ops/dropout.hpp"
#include "../core/ops/gather.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/rng.hpp"
#include "../io/safetensors.hpp"
#include "bert_encoder.hpp"
#include "wordpiece_tokenizer.hpp"

namespace recblocks::text {

struct cross_encoder_options {
  index_t max_length = 0;    ///< tokens per pair, special tokens included; 0: the model's max positions (512, FlagEmbedding's max_len)
  index_t batch_size = 32;   ///< pairs per forward in `score`
  overflow on_long = overflow::truncate;
  invalid_utf8 invalid = invalid_utf8::error;
  std::uint64_t head_seed = 42;  ///< seeds the head (and pooler) initialised from scratch
};

template <class T = float>
class cross_encoder {
 public:
  using scalar_type = T;

  /// Packed pairs: ids, type ids, offsets `[pairs + 1]`.
  struct packed {
    std::vector<std::int32_t> ids, type_ids;
    std::vector<index_t> offsets{0};
    index_t size() const { return static_cast<index_t>(offsets.size()) - 1; }
  };

  /// A random pooler and head (N(0, 0.02), zero biases) from `opt.head_seed` over a given BERT.
  cross_encoder(wordpiece_tokenizer tok, nn::bert_encoder<T> bert, cross_encoder_options opt = {});

  /// A Hugging Face BERT folder (vocab.txt, tokenizer_config.json, config.json, model.safetensors);
  /// pooler and head taken from the weights file when present (see the file comment).
  static cross_encoder load(const std::filesystem::path& dir, cross_encoder_options opt = {});
  /// Reads `pooler.dense.{weight,bias}` and `classifier.{weight,bias}` (optional `bert.` prefix on the
  /// pooler) when present; returns how many of the two blocks were found. Shapes are checked.
  int load_head(const io::safetensors& st, const std::string& source = "safetensors");

  /// WordPiece ids of a text without special tokens (to pair many times with `pair`).
  std::vector<std::int32_t> token_ids(std::string_view text) const { return tok_.tokenize_ids(text); }
  /// Appends `[CLS] q [SEP] d [SEP]` (truncated longest first to `max_length`) to `batch`; returns
  /// whether it was truncated.
  bool pair(packed& batch, std::span<const std::int32_t> query_ids, std::span<const std::int32_t> doc_ids) const;
  /// Tokenises and packs `(query, docs[i])` for every document; `truncated` (optional) counts the
  /// pairs cut to `max_length`.
  packed pairs(std::string_view query, std::span<const std::string> docs, index_t* truncated = nullptr) const;

  /// Scores `[pairs, 1]` of a packed batch on `t` (records when `t` does).
  var<T> forward(tape<T>& t, const packed& batch) const;
  /// One score per document for `query` (inference tape; batches of `batch_size`).
  std::vector<T> score(std::string_view query, std::span<const std::string> docs) const;
  std::vector<T> score(tape<T>& t, std::string_view query, std::span<const std::string> docs) const;
  /// Scores of a packed batch on an inference tape `t` (reset first), in batches of `batch_size`.
  std::vector<T> score(tape<T>& t, const packed& batch) const;

  const wordpiece_tokenizer& tokenizer() const { return tok_; }
  const nn::bert_encoder<T>& bert() const { return bert_; }
  /// The encoder, e.g. for `bert().enable_bf16_inference()` (bf16 projections in `score`).
  nn::bert_encoder<T>& bert() { return bert_; }
  const cross_encoder_options& options() const { return opt_; }
  index_t max_length() const { return opt_.max_length; }

  /// The member list (see nn/module.hpp), named as Hugging Face names `BertForSequenceClassification`.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("bert", self.bert_);
    v("bert.pooler.dense.weight", self.pool_w_);
    v("bert.pooler.dense.bias", self.pool_b_);
    v("classifier.weight", self.head_w_);
    v("classifier.bias", self.head_b_);
  }

 private:
  wordpiece_tokenizer tok_;
  nn::bert_encoder<T> bert_;
  cross_encoder_options opt_;
  param<T> pool_w_, pool_b_, head_w_, head_b_;  // [d, d], [1, d], [d, 1], [1, 1]
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
cross_encoder<T>::cross_encoder(wordpiece_tokenizer tok, nn::bert_encoder<T> bert, cross_encoder_options opt)
    : tok_(std::move(tok)), bert_(std::move(bert)), opt_(opt) {
  const index_t d = bert_.config().hidden;
  if (opt_.max_length == 0) opt_.max_length = bert_.config().max_positions;
  if (opt_.batch_size < 1) throw value_error("text::cross_encoder: batch_size must be >= 1, got " + std::to_string(opt_.batch_size));
  if (opt_.max_length < 3) throw value_error("text::cross_encoder: max_length " + std::to_string(opt_.max_length) + " leaves no room for [CLS] and two [SEP]");
  if (opt_.max_length > bert_.config().max_positions)
    throw value_error("text::cross_encoder: max_length " + std::to_string(opt_.max_length) + " exceeds the model's max_position_embeddings " +
                      std::to_string(bert_.config().max_positions));
  if (bert_.config().type_vocab_size < 2) throw value_error("text::cross_encoder: the model has no second token type (type_vocab_size < 2)");
  if (tok_.vocab_size() > bert_.config().vocab_size)
    throw value_error("text::cross_encoder: the vocabulary has " + std::to_string(tok_.vocab_size()) + " tokens but the model only " +
                      std::to_string(bert_.config().vocab_size) + " embeddings");
  rng gen(opt_.head_seed);
  pool_w_ = param<T>("pooler.dense.weight", d, d);
  gen.fill_normal(pool_w_.value(), 0.0, 0.02);
  pool_b_ = param<T>("pooler.dense.bias", 1, d);
  head_w_ = param<T>("classifier.weight", d, 1);
  gen.fill_normal(head_w_.value(), 0.0, 0.02);
  head_b_ = param<T>("classifier.bias", 1, 1);
}

template <class T>
cross_encoder<T> cross_encoder<T>::load(const std::filesystem::path& dir, cross_encoder_options opt) {
  if (!std::filesystem::is_directory(dir)) throw io_error("text::cross_encoder: model folder '" + dir.string() + "' does not exist");
  wordpiece_options wo;
  wo.invalid = opt.invalid;
  auto tok = wordpiece_tokenizer::from_model_dir(dir, wo);
  auto bert = nn::bert_encoder<T>::load(dir);
  cross_encoder ce(std::move(tok), std::move(bert), opt);
  ce.load_head(io::safetensors::load(dir / "model.safetensors"), (dir / "model.safetensors").string());
  return ce;
}

template <class T>
int cross_encoder<T>::load_head(const io::safetensors& st, const std::string& source) {
  const index_t d = bert_.config().hidden;
  auto read = [&](const std::string& name, param<T>& p, std::vector<index_t> want, bool transpose) {
    const auto& info = st.info(name);
    if (info.dtype != "F32") throw io_error("text::cross_encoder: " + source + ": tensor '" + name + "' is " + info.dtype + ", expected F32");
    const bool vector_as_row = want.size() == 1 && info.shape == std::vector<index_t>{1, want[0]};  // [1, n] also accepted
    if (info.shape != want && !vector_as_row) {
      std::string got = "[";
      for (std::size_t i = 0; i < info.shape.size(); ++i) got += (i ? ", " : "") + std::to_string(info.shape[i]);
      std::string exp = "[";
      for (std::size_t i = 0; i < want.size(); ++i) exp += (i ? ", " : "") + std::to_string(want[i]);
      throw io_error("text::cross_encoder: " + source + ": tensor '" + name + "' has shape " + got + "], expected " + exp + "]");
    }
    const matrix<float> m = st.get<float>(name);
    if (transpose) p.value() = m.transpose().template cast<T>();  // PyTorch [out, in] -> [in, out]
    else p.value() = Eigen::Map<const matrix<float>>(m.data(), p.rows(), p.cols()).template cast<T>();
    if (!p.value().allFinite()) throw io_error("text::cross_encoder: " + source + ": tensor '" + name + "' holds NaN or Inf");
  };
  int found = 0;
  for (const std::string prefix : {"", "bert."})
    if (st.contains(prefix + "pooler.dense.weight")) {
      read(prefix + "pooler.dense.weight", pool_w_, {d, d}, true);
      read(prefix + "pooler.dense.bias", pool_b_, {d}, false);
      ++found;
      break;
    }
  if (st.contains("classifier.weight")) {
    read("classifier.weight", head_w_, {1, d}, true);
    read("classifier.bias", head_b_, {1}, false);
    ++found;
  }
  return found;
}

template <class T>
bool cross_encoder<T>::pair(packed& batch, std::span<const std::int32_t> a, std::span<const std::int32_t> b) const {
  if (b.empty()) {  // Hugging Face drops an empty second text: [CLS] q [SEP]
    const auto room = static_cast<std::size_t>(opt_.max_length - 2);
    if (a.size() > room && opt_.on_long == overflow::error)
      throw value_error("text::cross_encoder: pair of " + std::to_string(a.size() + 2) + " tokens exceeds max_length " +
                        std::to_string(opt_.max_length));
    const std::size_t na = std::min(a.size(), room);
    batch.ids.push_back(tok_.cls_id());
    batch.ids.insert(batch.ids.end(), a.begin(), a.begin() + static_cast<std::ptrdiff_t>(na));
    batch.ids.push_back(tok_.sep_id());
    batch.type_ids.resize(batch.ids.size(), 0);
    batch.offsets.push_back(static_cast<index_t>(batch.ids.size()));
    return na < a.size();
  }
  const auto room = static_cast<std::size_t>(opt_.max_length - 3);
  std::size_t na = a.size(), nb = b.size();
  const bool cut = na + nb > room;
  if (cut) {
    if (opt_.on_long == overflow::error)
      throw value_error("text::cross_encoder: pair of " + std::to_string(na + nb + 3) + " tokens exceeds max_length " +
                        std::to_string(opt_.max_length));
    // longest first, as wordpiece_tokenizer::encode(a, b, max_length) and Hugging Face
    std::size_t n1 = na, n2 = nb;
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    n2 = n1 > room ? n1 : std::max(n1, room - n1);
    if (n1 + n2 > room) {
      n1 = room / 2;
      n2 = n1 + room % 2;
    }
    if (swap) std::swap(n1, n2);
    na = std::min(na, n1);
    nb = std::min(nb, n2);
  }
  batch.ids.push_back(tok_.cls_id());
  batch.ids.insert(batch.ids.end(), a.begin(), a.begin() + static_cast<std::ptrdiff_t>(na));
  batch.ids.push_back(tok_.sep_id());
  batch.type_ids.resize(batch.ids.size(), 0);
  batch.ids.insert(batch.ids.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(nb));
  batch.ids.push_back(tok_.sep_id());
  batch.type_ids.resize(batch.ids.size(), 1);
  batch.offsets.push_back(static_cast<index_t>(batch.ids.size()));
  return cut;
}

template <class T>
typename cross_encoder<T>::packed cross_encoder<T>::pairs(std::string_view query, std::span<const std::string> docs, index_t* truncated) const {
  packed p;
  const auto q = tok_.tokenize_ids(query);
  for (const auto& d : docs)
    if (pair(p, q, tok_.tokenize_ids(d)) && truncated) ++*truncated;
  return p;
}

template <class T>
var<T> cross_encoder<T>::forward(tape<T>& t, const packed& batch) const {
  const std::span<const index_t> off(batch.offsets);
  if (batch.offsets.empty() || batch.offsets.front() != 0)
    throw shape_error("text::cross_encoder: packed offsets must start at 0");
  const var<T> h = bert_(t, batch.ids, batch.type_ids, off);
  // [CLS] rows: the first token of every pair
  const var<T> cls = ops::gather_rows(t, h, std::span<const index_t>(batch.offsets.data(), batch.offsets.size() - 1));
  const var<T> p = ops::linear(t, cls, t.leaf(pool_w_), t.leaf(pool_b_), fused_activation::tanh);
  return ops::linear(t, ops::dropout(t, p, T(bert_.config().hidden_dropout)), t.leaf(head_w_), t.leaf(head_b_));
}

template <class T>
std::vector<T> cross_encoder<T>::score(tape<T>& t, const packed& batch) const {
  std::vector<T> out;
  const index_t n = batch.size();
  out.reserve(static_cast<std::size_t>(std::max<index_t>(n, 0)));
  no_grad<T> ng(t);
  packed part;
  for (index_t b = 0; b < n; b += opt_.batch_size) {
    const index_t e = std::min(n, b + opt_.batch_size);
    const index_t t0 = batch.offsets[static_cast<std::size_t>(b)], t1 = batch.offsets[static_cast<std::size_t>(e)];
    part.ids.assign(batch.ids.begin() + t0, batch.ids.begin() + t1);
    part.type_ids.assign(batch.type_ids.begin() + t0, batch.type_ids.begin() + t1);
    part.offsets.resize(static_cast<std::size_t>(e - b + 1));
    for (index_t k = b; k <= e; ++k) part.offsets[static_cast<std::size_t>(k - b)] = batch.offsets[static_cast<std::size_t>(k)] - t0;
    t.reset();
    const var<T> s = forward(t, part);
    for (index_t k = 0; k < e - b; ++k) out.push_back(s.value()(k, 0));
  }
  t.reset();
  return out;
}

template <class T>
std::vector<T> cross_encoder<T>::score(tape<T>& t, std::string_view query, std::span<const std::string> docs) const {
  return score(t, pairs(query, docs));
}

template <class T>
std::vector<T> cross_encoder<T>::score(std::string_view query, std::span<const std::string> docs) const {
  tape<T> t(tape_mode::infer);
  return score(t, query, docs);
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md); it has the
// text classes only when built with recblocks::text, which defines RECBLOCKS_HAVE_TEXT.
#if defined(RECBLOCKS_EXTERN_TEMPLATES) && defined(RECBLOCKS_HAVE_TEXT)
extern template class cross_encoder<float>;
#endif

}  // namespace recblocks::text
