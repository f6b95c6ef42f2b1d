#pragma once
/// \file sentence_encoder.hpp
/// A sentence-transformers model in-process: WordPiece tokenizer + BERT encoder + pooling + optional
/// L2 normalisation, read from the model folder (e.g. all-MiniLM-L6-v2):
///
///     tokens  = [CLS] wordpiece(text) [SEP], truncated to max_length (sentence_bert_config.json)
///     H       = BERT(tokens)                                   [L, d]
///     e       = mean_i H_i  |  H_[CLS]  |  max_i H_i            (1_Pooling/config.json)
///     e       = e / max(||e||, 1e-12)                           (when modules.json lists Normalize)
///
/// `encode` sorts the texts by token count and runs batches of `batch_size` packed sequences (no
/// padding computed), on an inference tape (nothing recorded); results come back in input order.
/// With `threads > 1`, `encode(texts)` spreads the batches over that many threads, each with its own
/// tape (link OpenBLAS single-threaded then: OPENBLAS_NUM_THREADS=1). `forward` runs the same on a caller's tape for fine-tuning (the returned `[S, d]` embeddings are
/// tracked; backward reaches every BERT parameter). `embed` satisfies `llm::embedding_client`, so the
/// encoder drops in wherever an embedding server is accepted.
///
/// Errors: `io_error` for missing or corrupt model files, `value_error` for an unsupported config
/// (pooling mode, tokenizer class, BERT fields), a text over `max_length` tokens when
/// `overflow::error` is asked, invalid UTF-8 (unless replacement is asked). An empty batch gives an
/// empty result. Thread-safety: `encode(tape&, ...)` and `forward` are const and may run concurrently
/// with one tape per thread; the convenience `encode(texts)` makes its own tape.

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../core/ops/gather.hpp"
#include "../core/ops/row_pooling.hpp"
#include "bert_encoder.hpp"
#include "wordpiece_tokenizer.hpp"

namespace recblocks::text {

enum class pooling { mean, cls, max };

struct sentence_encoder_options {
  index_t max_length = 0;    ///< 0: from sentence_bert_config.json (else the model's max positions)
  index_t batch_size = 32;   ///< texts per forward in `encode`
  index_t threads = 1;       ///< `encode(texts)`: batches spread over this many threads, one tape each
  overflow on_long = overflow::truncate;
  invalid_utf8 invalid = invalid_utf8::error;
};

template <class T = float>
class sentence_encoder {
 public:
  using scalar_type = T;

  sentence_encoder(wordpiece_tokenizer tok, nn::bert_encoder<T> bert, pooling pool, bool normalize, sentence_encoder_options opt = {});

  /// Reads a sentence-transformers folder: vocab.txt, tokenizer_config.json, config.json,
  /// model.safetensors, 1_Pooling/config.json (default mean), modules.json (Normalize),
  /// sentence_bert_config.json (max_seq_length).
  static sentence_encoder load(const std::filesystem::path& dir, sentence_encoder_options opt = {});

  /// Embeddings `[texts.size(), d]` in input order (inference, batches sorted by length).
  matrix<T> encode(std::span<const std::string> texts) const;
  matrix<T> encode(tape<T>& t, std::span<const std::string> texts) const;
  /// `llm::embedding_client`: one vector per text.
  std::vector<std::vector<float>> embed(std::span<const std::string> texts) const;
  /// Checked options.
  const sentence_encoder_options& options() const { return opt_; }
  void set_threads(index_t threads) { opt_.threads = std::max<index_t>(threads, 1); }

  /// Tokenises `texts` (truncated as configured) into packed ids, type ids and offsets.
  struct packed {
    std::vector<std::int32_t> ids, type_ids;
    std::vector<index_t> offsets{0};
  };
  packed tokenize(std::span<const std::string> texts) const;
  /// Pooled (and normalised) embeddings `[S, d]` of a packed batch on `t` (records when `t` does).
  var<T> forward(tape<T>& t, const packed& batch) const;
  var<T> forward(tape<T>& t, std::span<const std::string> texts) const { return forward(t, tokenize(texts)); }

  const wordpiece_tokenizer& tokenizer() const { return tok_; }
  nn::bert_encoder<T>& bert() { return bert_; }
  const nn::bert_encoder<T>& bert() const { return bert_; }
  index_t dim() const { return bert_.config().hidden; }
  index_t max_length() const { return max_length_; }
  pooling pooling_mode() const { return pool_; }
  bool normalizes() const { return normalize_; }

  /// The member list (see nn/module.hpp): the encoder's parameters, unprefixed.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("", self.bert_);
  }

 private:
  matrix<T> encode_impl(tape<T>* caller, std::span<const std::string> texts) const;

  wordpiece_tokenizer tok_;
  nn::bert_encoder<T> bert_;
  pooling pool_;
  bool normalize_;
  sentence_encoder_options opt_;
  index_t max_length_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

template <class T>
sentence_encoder<T>::sentence_encoder(wordpiece_tokenizer tok, nn::bert_encoder<T> bert, pooling pool, bool normalize,
                                      sentence_encoder_options opt)
    : tok_(std::move(tok)), bert_(std::move(bert)), pool_(pool), normalize_(normalize), opt_(opt) {
  if (opt_.batch_size < 1) throw value_error("text::sentence_encoder: batch_size must be >= 1, got " + std::to_string(opt_.batch_size));
  if (opt_.max_length < 0) throw value_error("text::sentence_encoder: max_length must be >= 0, got " + std::to_string(opt_.max_length));
  max_length_ = opt_.max_length > 0 ? opt_.max_length : bert_.config().max_positions;
  if (max_length_ > bert_.config().max_positions)
    throw value_error("text::sentence_encoder: max_length " + std::to_string(max_length_) + " exceeds the model's max_position_embeddings " +
                      std::to_string(bert_.config().max_positions));
  if (max_length_ < 2) throw value_error("text::sentence_encoder: max_length must leave room for [CLS] and [SEP]");
  if (tok_.vocab_size() > bert_.config().vocab_size)
    throw value_error("text::sentence_encoder: the vocabulary has " + std::to_string(tok_.vocab_size()) + " tokens but the model only " +
                      std::to_string(bert_.config().vocab_size) + " embeddings");
}

namespace detail {
inline nlohmann::json read_json_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw io_error("text::sentence_encoder: cannot read '" + p.string() + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw io_error("text::sentence_encoder: '" + p.string() + "' is not valid JSON: " + e.what());
  }
}
}  // namespace detail

template <class T>
sentence_encoder<T> sentence_encoder<T>::load(const std::filesystem::path& dir, sentence_encoder_options opt) {
  if (!std::filesystem::is_directory(dir)) throw io_error("text::sentence_encoder: model folder '" + dir.string() + "' does not exist");
  wordpiece_options wo;
  wo.invalid = opt.invalid;
  auto tok = wordpiece_tokenizer::from_model_dir(dir, wo);
  auto bert = nn::bert_encoder<T>::load(dir);
  pooling pool = pooling::mean;
  if (std::filesystem::exists(dir / "1_Pooling/config.json")) {
    const auto j = detail::read_json_file(dir / "1_Pooling/config.json");
    auto on = [&](const char* key) { return j.contains(key) && j[key].is_boolean() && j[key].get<bool>(); };
    const int modes = int(on("pooling_mode_mean_tokens")) + int(on("pooling_mode_cls_token")) + int(on("pooling_mode_max_tokens"));
    if (on("pooling_mode_mean_sqrt_len_tokens") || on("pooling_mode_weightedmean_tokens") || on("pooling_mode_lasttoken") || modes != 1)
      throw value_error("text::sentence_encoder: '" + (dir / "1_Pooling/config.json").string() +
                        "' asks for a pooling other than exactly one of mean, cls, max");
    pool = on("pooling_mode_cls_token") ? pooling::cls : on("pooling_mode_max_tokens") ? pooling::max : pooling::mean;
    if (j.contains("word_embedding_dimension") && j["word_embedding_dimension"] != bert.config().hidden)
      throw value_error("text::sentence_encoder: pooling dimension " + j["word_embedding_dimension"].dump() + " differs from hidden_size " +
                        std::to_string(bert.config().hidden));
  }
  bool normalize = false;
  if (std::filesystem::exists(dir / "modules.json")) {
    const auto j = detail::read_json_file(dir / "modules.json");
    if (!j.is_array()) throw io_error("text::sentence_encoder: '" + (dir / "modules.json").string() + "' is not a list");
    for (const auto& m : j) {
      const std::string type = m.is_object() && m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
      if (type == "sentence_transformers.models.Normalize") normalize = true;
      else if (type != "sentence_transformers.models.Transformer" && type != "sentence_transformers.models.Pooling")
        throw value_error("text::sentence_encoder: module '" + type + "' in modules.json is not supported");
    }
  }
  if (opt.max_length == 0 && std::filesystem::exists(dir / "sentence_bert_config.json")) {
    const auto j = detail::read_json_file(dir / "sentence_bert_config.json");
    if (j.contains("max_seq_length") && j["max_seq_length"].is_number_integer()) opt.max_length = j["max_seq_length"].get<index_t>();
  }
  return sentence_encoder(std::move(tok), std::move(bert), pool, normalize, opt);
}

template <class T>
typename sentence_encoder<T>::packed sentence_encoder<T>::tokenize(std::span<const std::string> texts) const {
  packed p;
  for (const auto& s : texts) {
    const encoding e = tok_.encode(s, max_length_, opt_.on_long);
    p.ids.insert(p.ids.end(), e.ids.begin(), e.ids.end());
    p.type_ids.insert(p.type_ids.end(), e.type_ids.begin(), e.type_ids.end());
    p.offsets.push_back(static_cast<index_t>(p.ids.size()));
  }
  return p;
}

template <class T>
var<T> sentence_encoder<T>::forward(tape<T>& t, const packed& batch) const {
  const std::span<const index_t> off(batch.offsets);
  var<T> h = bert_(t, batch.ids, batch.type_ids, off);
  var<T> e;
  switch (pool_) {
    case pooling::mean: e = ops::segment_mean(t, h, off); break;
    case pooling::max: e = ops::segment_max(t, h, off); break;
    case pooling::cls: e = ops::gather_rows(t, h, std::span<const index_t>(batch.offsets.data(), batch.offsets.size() - 1)); break;
  }
  return normalize_ ? ops::l2_normalize_rows(t, e) : e;
}

template <class T>
matrix<T> sentence_encoder<T>::encode(tape<T>& t, std::span<const std::string> texts) const {
  return encode_impl(&t, texts);
}

template <class T>
matrix<T> sentence_encoder<T>::encode(std::span<const std::string> texts) const {
  return encode_impl(nullptr, texts);
}

template <class T>
matrix<T> sentence_encoder<T>::encode_impl(tape<T>* caller, std::span<const std::string> texts) const {
  const auto n = static_cast<index_t>(texts.size());
  matrix<T> out(n, dim());
  if (n == 0) return out;
  std::vector<encoding> encs;
  encs.reserve(texts.size());
  for (const auto& s : texts) encs.push_back(tok_.encode(s, max_length_, opt_.on_long));
  // longest first, so that batches hold sequences of similar length and the costly ones start early
  std::vector<index_t> order(texts.size());
  std::iota(order.begin(), order.end(), index_t{0});
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return encs[a].size() > encs[b].size(); });
  const index_t batches = (n + opt_.batch_size - 1) / opt_.batch_size;
  std::atomic<index_t> next{0};
  auto work = [&](tape<T>& t) {
    no_grad<T> ng(t);
    packed p;
    for (index_t bi = next++; bi < batches; bi = next++) {
      const index_t b = bi * opt_.batch_size, end = std::min(n, b + opt_.batch_size);
      p.ids.clear();
      p.type_ids.clear();
      p.offsets.assign(1, 0);
      for (index_t k = b; k < end; ++k) {
        const auto& e = encs[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
        p.ids.insert(p.ids.end(), e.ids.begin(), e.ids.end());
        p.type_ids.insert(p.type_ids.end(), e.type_ids.begin(), e.type_ids.end());
        p.offsets.push_back(static_cast<index_t>(p.ids.size()));
      }
      t.reset();
      const var<T> e = forward(t, p);
      for (index_t k = b; k < end; ++k) out.row(order[static_cast<std::size_t>(k)]) = e.value().row(k - b);  // distinct rows per thread
    }
    t.reset();
  };
  const index_t threads = caller ? 1 : std::min(std::max<index_t>(opt_.threads, 1), batches);
  if (threads == 1) {
    if (caller) work(*caller);
    else {
      tape<T> t(tape_mode::infer);
      work(t);
    }
    return out;
  }
  std::exception_ptr failure;
  std::mutex m;
  std::vector<std::thread> pool;
  for (index_t k = 0; k < threads; ++k)
    pool.emplace_back([&] {
      try {
        tape<T> t(tape_mode::infer);
        work(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!failure) failure = std::current_exception();
        next = batches;
      }
    });
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
  return out;
}

template <class T>
std::vector<std::vector<float>> sentence_encoder<T>::embed(std::span<const std::string> texts) const {
  const matrix<T> m = encode(texts);
  std::vector<std::vector<float>> out(static_cast<std::size_t>(m.rows()));
  for (index_t i = 0; i < m.rows(); ++i) {
    out[static_cast<std::size_t>(i)].resize(static_cast<std::size_t>(m.cols()));
    for (index_t j = 0; j < m.cols(); ++j) out[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = static_cast<float>(m(i, j));
  }
  return out;
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md); it has the
// text classes only when built with recblocks::text, which defines RECBLOCKS_HAVE_TEXT.
#if defined(RECBLOCKS_EXTERN_TEMPLATES) && defined(RECBLOCKS_HAVE_TEXT)
extern template class sentence_encoder<float>;
#endif

}  // namespace recblocks::text
