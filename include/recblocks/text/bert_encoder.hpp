#pragma once
/// \file bert_encoder.hpp
/// BERT's encoder (Devlin et al. 2019), post-LN, as Hugging Face's `BertModel` without the pooler:
///
///     h_0 = LN(E_word[id] + E_pos[position] + E_type[type]),  dropout
///     per layer, over the tokens of each sequence (H heads of d_h = d / H, real tokens only):
///       a   = MultiHead(h W_q + b_q, h W_k + b_k, h W_v + b_v)     (softmax(Q K^T / sqrt d_h) V, attention dropout)
///       h   = LN_1(h + dropout(a W_o + b_o))
///       h   = LN_2(h + dropout(GELU(h W_1 + b_1) W_2 + b_2))         (exact erf GELU, width `intermediate`)
///
/// Variable-length batches are packed: the tokens of all sequences are stacked into one `[N, d]` matrix
/// (N = total real tokens) with `offsets` `[S + 1]` marking the sequences, so every projection is one
/// GEMM over real tokens only and attention (`ops::packed_attention`) runs within each sequence. No
/// padding is ever computed. Positions restart at 0 in every sequence.
///
/// Configuration from Hugging Face's `config.json` (`bert_config::from_json`): `hidden_act` must be
/// "gelu", `position_embedding_type` "absolute" (anything else is a `value_error` naming the field).
/// Weights from `model.safetensors` by the Hugging Face names (`embeddings.word_embeddings.weight`,
/// `encoder.layer.{i}.attention.self.query.weight`, ...; an optional "bert." prefix is accepted); every
/// tensor's presence, dtype (F32) and shape is checked, and the first missing or mis-shaped tensor is
/// named in an `io_error`. Linear weights are stored `[in, out]` (transposed from PyTorch's `[out, in]`).
///
/// bf16 inference (`enable_bf16_inference`, float models on CPUs with AVX512-BF16): the six
/// projections of every layer (`W_q, W_k, W_v, W_o, W_1, W_2`) run on packed bf16 weight copies with
/// FP32 accumulation (`gemm_bf16_packed`: the activations are rounded to bf16 on the way in);
/// attention products, softmax, GELU, residuals and layer norms stay FP32. Training never uses them.
///
/// Shapes: ids, type ids `[N]`, offsets `[S + 1]` from 0 to N, each sequence at most
/// `max_positions` long -> `[N, hidden]`. Thread-safety: `const` forward; one tape per thread;
/// `enable_bf16_inference` / `disable_bf16_inference` are not concurrent with forward calls.
/// Dropout is active on training tapes (`t.training()`).

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/bf16_gemm.hpp"
#include "../core/ops/dropout.hpp"
#include "../core/ops/elementwise.hpp"
#include "../core/ops/gather.hpp"
#include "../core/ops/linear_gelu.hpp"
#include "../core/ops/masked_attention.hpp"
#include "../core/ops/matmul.hpp"
#include "../core/ops/normalization.hpp"
#include "../io/safetensors.hpp"
#include "../nn/module.hpp"

namespace recblocks::nn {

struct bert_config {
  index_t vocab_size = 30522;
  index_t hidden = 384;
  index_t layers = 6;
  index_t heads = 12;
  index_t intermediate = 1536;
  index_t max_positions = 512;
  index_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout = 0.1;
  double attention_dropout = 0.1;

  /// Reads Hugging Face's BERT `config.json` fields; `source` names the file in errors.
  static bert_config from_json(const nlohmann::json& j, const std::string& source = "config.json");
  static bert_config from_file(const std::filesystem::path& path);
  void validate(const std::string& source) const;
};

template <class T>
class bert_encoder {
 public:
  using scalar_type = T;

  /// Random initialisation as BERT: N(0, 0.02) weights and embeddings, zero biases, unit layer norms.
  bert_encoder(const bert_config& cfg, rng& gen) : bert_encoder(cfg, &gen) {}

  /// `config.json` + `model.safetensors` of a Hugging Face model folder (float models; the constraint
  /// also keeps it out of the explicit double instantiation).
  static bert_encoder load(const std::filesystem::path& model_dir)
    requires std::is_same_v<T, float>;
  /// Copies every tensor from `st` (see file docs for names and checks).
  void load_weights(const io::safetensors& st, const std::string& source = "safetensors");

  /// Packed forward (see file docs): `[N, hidden]` hidden states of the real tokens.
  var<T> operator()(tape<T>& t, std::span<const std::int32_t> ids, std::span<const std::int32_t> type_ids,
                    std::span<const index_t> offsets) const;

  /// The inference path (taken by `operator()` on a tape that neither records nor trains): the same
  /// arithmetic without tape nodes, on six reused `[N, *]` work buffers from the tape's arena (about
  /// 15 KB per token for MiniLM, against ~130 KB when every op output is kept), every product a BLAS
  /// GEMM, residual add fused into the layer norm. Allocation-free after warm-up.
  var<T> infer(tape<T>& t, const index_t* word_ids, const index_t* pos_ids, const index_t* type_ids, index_t n,
               std::span<const index_t> offsets) const;

  /// Packed bf16 copies of every layer's six projection weights for `infer` (see the file
  /// comment): about 2x the FP32 GEMM rate where the CPU has AVX512-BF16; hidden states move by
  /// bf16 rounding of the GEMM inputs (relative ~1e-3 per product). Without the kernel nothing is
  /// kept and inference stays FP32. The copies are taken now: call again after further training.
  void enable_bf16_inference()
    requires std::is_same_v<T, float>;
  void disable_bf16_inference() { packed_.clear(); }
  /// Whether `infer` runs its projections on the bf16 copies.
  bool bf16_inference() const { return !packed_.empty() && bf16_gemm_available(); }

  const bert_config& config() const { return cfg_; }
  param<T>& word_embeddings() { return word_; }

  /// The member list (see nn/module.hpp), named as Hugging Face names the tensors.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("embeddings.word_embeddings.weight", self.word_);
    v("embeddings.position_embeddings.weight", self.position_);
    v("embeddings.token_type_embeddings.weight", self.type_);
    v("embeddings.LayerNorm.weight", self.emb_ln_g_);
    v("embeddings.LayerNorm.bias", self.emb_ln_b_);
    for (std::size_t l = 0; l < self.layers_.size(); ++l) {
      auto& L = self.layers_[l];
      const std::string p = "encoder.layer." + std::to_string(l);
      v(p + ".attention.self.query.weight", L.wq);
      v(p + ".attention.self.query.bias", L.bq);
      v(p + ".attention.self.key.weight", L.wk);
      v(p + ".attention.self.key.bias", L.bk);
      v(p + ".attention.self.value.weight", L.wv);
      v(p + ".attention.self.value.bias", L.bv);
      v(p + ".attention.output.dense.weight", L.wo);
      v(p + ".attention.output.dense.bias", L.bo);
      v(p + ".attention.output.LayerNorm.weight", L.ln1_g);
      v(p + ".attention.output.LayerNorm.bias", L.ln1_b);
      v(p + ".intermediate.dense.weight", L.w1);
      v(p + ".intermediate.dense.bias", L.b1);
      v(p + ".output.dense.weight", L.w2);
      v(p + ".output.dense.bias", L.b2);
      v(p + ".output.LayerNorm.weight", L.ln2_g);
      v(p + ".output.LayerNorm.bias", L.ln2_b);
    }
  }

 private:
  struct layer {
    param<T> wq, bq, wk, bk, wv, bv, wo, bo, ln1_g, ln1_b, w1, b1, w2, b2, ln2_g, ln2_b;
  };
  struct packed_layer {  // bf16 inference copies of a layer's projection weights
    bf16_panels wq, wk, wv, wo, w1, w2;
  };

  bert_encoder(const bert_config& cfg, rng* gen);  // gen null: zeros (weights loaded next)

  bert_config cfg_;
  param<T> word_, position_, type_, emb_ln_g_, emb_ln_b_;
  std::vector<layer> layers_;
  std::vector<packed_layer> packed_;  // empty unless enable_bf16_inference
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline void bert_config::validate(const std::string& source) const {
  auto positive = [&](const char* field, index_t v) {
    if (v < 1) throw value_error("nn::bert_config: " + source + ": " + field + " must be >= 1, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden);
  positive("num_hidden_layers", layers);
  positive("num_attention_heads", heads);
  positive("intermediate_size", intermediate);
  positive("max_position_embeddings", max_positions);
  positive("type_vocab_size", type_vocab_size);
  if (hidden % heads != 0)
    throw value_error("nn::bert_config: " + source + ": hidden_size " + std::to_string(hidden) + " is not a multiple of num_attention_heads " +
                      std::to_string(heads));
  if (!(layer_norm_eps > 0)) throw value_error("nn::bert_config: " + source + ": layer_norm_eps must be > 0");
  for (auto [field, p] : {std::pair{"hidden_dropout_prob", hidden_dropout}, std::pair{"attention_probs_dropout_prob", attention_dropout}})
    if (!(p >= 0 && p < 1)) throw value_error("nn::bert_config: " + source + ": " + field + " must lie in [0, 1), got " + std::to_string(p));
}

inline bert_config bert_config::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw value_error("nn::bert_config: " + source + " is not a JSON object");
  bert_config c;
  try {
    if (j.contains("model_type") && j["model_type"] != "bert")
      throw value_error("nn::bert_config: " + source + ": model_type '" + j["model_type"].dump() + "' is not supported (only \"bert\")");
    if (j.contains("hidden_act") && j["hidden_act"] != "gelu")
      throw value_error("nn::bert_config: " + source + ": hidden_act " + j["hidden_act"].dump() + " is not supported (only \"gelu\", exact erf)");
    if (j.contains("position_embedding_type") && j["position_embedding_type"] != "absolute")
      throw value_error("nn::bert_config: " + source + ": position_embedding_type " + j["position_embedding_type"].dump() +
                        " is not supported (only \"absolute\")");
    if (j.contains("is_decoder") && j["is_decoder"] == true)
      throw value_error("nn::bert_config: " + source + ": is_decoder true is not supported");
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key)) field = j.at(key).get<std::decay_t<decltype(field)>>();
    };
    get("vocab_size", c.vocab_size);
    get("hidden_size", c.hidden);
    get("num_hidden_layers", c.layers);
    get("num_attention_heads", c.heads);
    get("intermediate_size", c.intermediate);
    get("max_position_embeddings", c.max_positions);
    get("type_vocab_size", c.type_vocab_size);
    get("layer_norm_eps", c.layer_norm_eps);
    get("hidden_dropout_prob", c.hidden_dropout);
    get("attention_probs_dropout_prob", c.attention_dropout);
  } catch (const nlohmann::json::exception& e) {
    throw value_error("nn::bert_config: " + source + ": " + e.what());
  }
  c.validate(source);
  return c;
}

inline bert_config bert_config::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("nn::bert_config: cannot read '" + path.string() + "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw io_error("nn::bert_config: '" + path.string() + "' is not valid JSON: " + e.what());
  }
  return from_json(j, path.string());
}

template <class T>
bert_encoder<T>::bert_encoder(const bert_config& cfg, rng* gen) : cfg_(cfg) {
  cfg_.validate("bert_encoder");
  const index_t d = cfg.hidden, I = cfg.intermediate;
  auto normal = [&](const char* name, index_t r, index_t c) {
    param<T> p(name, r, c);
    if (gen) gen->fill_normal(p.value(), 0.0, 0.02);
    return p;
  };
  auto zeros = [&](const char* name, index_t c) { return param<T>(name, 1, c); };
  auto ones = [&](const char* name, index_t c) { return param<T>(name, matrix<T>::Ones(1, c)); };
  word_ = normal("word_embeddings", cfg.vocab_size, d);
  word_.set_sparse_grad(true);
  position_ = normal("position_embeddings", cfg.max_positions, d);
  type_ = normal("token_type_embeddings", cfg.type_vocab_size, d);
  emb_ln_g_ = ones("LayerNorm.weight", d);
  emb_ln_b_ = zeros("LayerNorm.bias", d);
  for (index_t l = 0; l < cfg.layers; ++l)
    layers_.push_back(layer{normal("query.weight", d, d), zeros("query.bias", d), normal("key.weight", d, d), zeros("key.bias", d),
                            normal("value.weight", d, d), zeros("value.bias", d), normal("dense.weight", d, d), zeros("dense.bias", d),
                            ones("LayerNorm.weight", d), zeros("LayerNorm.bias", d), normal("intermediate.weight", d, I),
                            zeros("intermediate.bias", I), normal("output.weight", I, d), zeros("output.bias", d),
                            ones("LayerNorm.weight", d), zeros("LayerNorm.bias", d)});
}

template <class T>
bert_encoder<T> bert_encoder<T>::load(const std::filesystem::path& dir)
  requires std::is_same_v<T, float>
{
  const bert_config cfg = bert_config::from_file(dir / "config.json");
  const auto st_path = dir / "model.safetensors";
  if (!std::filesystem::exists(st_path)) throw io_error("nn::bert_encoder: no weights file '" + st_path.string() + "'");
  const io::safetensors st = io::safetensors::load(st_path);
  bert_encoder enc(cfg, nullptr);  // shapes only: every tensor is overwritten below
  enc.load_weights(st, st_path.string());
  return enc;
}

template <class T>
void bert_encoder<T>::load_weights(const io::safetensors& st, const std::string& source) {
  // Hugging Face checkpoints name tensors with or without the "bert." prefix of BertFor* heads.
  const std::string prefix = st.contains("embeddings.word_embeddings.weight") ? ""
                             : st.contains("bert.embeddings.word_embeddings.weight") ? "bert."
                                                                                      : "";
  nn::visit_parameters(
      *this, [&](const std::string& name, param<T>& p) {
        const std::string full = prefix + name;
        if (!st.contains(full)) throw io_error("nn::bert_encoder: " + source + ": missing tensor '" + full + "'");
        const auto& info = st.info(full);
        if (info.dtype != "F32")
          throw io_error("nn::bert_encoder: " + source + ": tensor '" + full + "' is " + info.dtype + ", expected F32");
        // PyTorch stores linear weights [out, in]; ours are [in, out]. Vectors are [n] -> [1, n].
        const bool is_linear = name.find("embeddings") == std::string::npos && name.find("LayerNorm") == std::string::npos &&
                               name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
        std::vector<index_t> want;
        if (p.rows() == 1 && name.find("_embeddings") == std::string::npos) want = {p.cols()};
        else if (is_linear) want = {p.cols(), p.rows()};
        else want = {p.rows(), p.cols()};
        const bool vector_as_row = want.size() == 1 && info.shape == std::vector<index_t>{1, want[0]};  // [1, n] also accepted
        if (info.shape != want && !vector_as_row) {
          auto str = [](const std::vector<index_t>& s) {
            std::string o = "[";
            for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
            return o + "]";
          };
          throw io_error("nn::bert_encoder: " + source + ": tensor '" + full + "' has shape " + str(info.shape) + ", expected " + str(want));
        }
        const matrix<float> m = st.get<float>(full);
        if (is_linear) p.value() = m.transpose().template cast<T>();
        else p.value() = Eigen::Map<const matrix<float>>(m.data(), p.rows(), p.cols()).template cast<T>();
        if (!p.value().allFinite()) throw io_error("nn::bert_encoder: " + source + ": tensor '" + full + "' holds NaN or Inf");
      });
  if constexpr (std::is_same_v<T, float>)
    if (!packed_.empty()) enable_bf16_inference();  // the bf16 copies follow the new weights
}

template <class T>
var<T> bert_encoder<T>::operator()(tape<T>& t, std::span<const std::int32_t> ids, std::span<const std::int32_t> type_ids,
                                   std::span<const index_t> offsets) const {
  const auto N = static_cast<index_t>(ids.size());
  if (type_ids.size() != ids.size())
    throw shape_error("nn::bert_encoder: " + std::to_string(ids.size()) + " ids but " + std::to_string(type_ids.size()) + " type ids");
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != N)
    throw shape_error("nn::bert_encoder: offsets must run from 0 to the token count " + std::to_string(N));
  index_t* word_ids = t.template scratch<index_t>(static_cast<std::size_t>(3 * N));
  index_t* pos_ids = word_ids + N;
  index_t* typ_ids = pos_ids + N;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) {
    const index_t b = offsets[s], e = offsets[s + 1];
    if (e < b) throw shape_error("nn::bert_encoder: offsets must be non-decreasing (offset " + std::to_string(s + 1) + ")");
    if (e - b > cfg_.max_positions)
      throw value_error("nn::bert_encoder: sequence " + std::to_string(s) + " has " + std::to_string(e - b) +
                        " tokens, more than max_position_embeddings " + std::to_string(cfg_.max_positions));
    for (index_t r = b; r < e; ++r) pos_ids[r] = r - b;
  }
  for (index_t r = 0; r < N; ++r) {
    const auto id = ids[static_cast<std::size_t>(r)], ty = type_ids[static_cast<std::size_t>(r)];
    if (id < 0 || id >= cfg_.vocab_size)
      throw value_error("nn::bert_encoder: token id " + std::to_string(id) + " at position " + std::to_string(r) + " is outside the vocabulary of " +
                        std::to_string(cfg_.vocab_size));
    if (ty < 0 || ty >= cfg_.type_vocab_size)
      throw value_error("nn::bert_encoder: token type " + std::to_string(ty) + " at position " + std::to_string(r) + " is outside [0, " +
                        std::to_string(cfg_.type_vocab_size) + ")");
    word_ids[r] = id;
    typ_ids[r] = ty;
  }
  if (!t.recording() && !t.training()) return infer(t, word_ids, pos_ids, typ_ids, N, offsets);
  const T eps = T(cfg_.layer_norm_eps), p_hidden = T(cfg_.hidden_dropout), p_attn = T(cfg_.attention_dropout);
  const std::span<const index_t> w(word_ids, static_cast<std::size_t>(N)), pp(pos_ids, static_cast<std::size_t>(N)),
      ty(typ_ids, static_cast<std::size_t>(N));
  var<T> e = ops::add(t, ops::add(t, ops::gather_rows(t, t.leaf(word_), w), ops::gather_rows(t, t.leaf(position_), pp)),
                      ops::gather_rows(t, t.leaf(type_), ty));
  var<T> h = ops::dropout(t, ops::layer_norm(t, e, t.leaf(emb_ln_g_), t.leaf(emb_ln_b_), eps), p_hidden);
  for (const auto& L : layers_) {
    const var<T> q = ops::linear(t, h, t.leaf(L.wq), t.leaf(L.bq));
    const var<T> k = ops::linear(t, h, t.leaf(L.wk), t.leaf(L.bk));
    const var<T> v = ops::linear(t, h, t.leaf(L.wv), t.leaf(L.bv));
    const var<T> a = ops::packed_attention(t, q, k, v, offsets, cfg_.heads, p_attn);
    const var<T> o = ops::dropout(t, ops::linear(t, a, t.leaf(L.wo), t.leaf(L.bo)), p_hidden);
    h = ops::layer_norm(t, ops::add(t, h, o), t.leaf(L.ln1_g), t.leaf(L.ln1_b), eps);
    const var<T> f = ops::linear_gelu(t, h, t.leaf(L.w1), t.leaf(L.b1));
    const var<T> f2 = ops::dropout(t, ops::linear(t, f, t.leaf(L.w2), t.leaf(L.b2)), p_hidden);
    h = ops::layer_norm(t, ops::add(t, h, f2), t.leaf(L.ln2_g), t.leaf(L.ln2_b), eps);
  }
  return h;
}

namespace detail {

/// `h_i = LN(h_i + r_i) * gamma + beta` for every row, in place (`r` may be null: no residual).
template <class T>
void add_layer_norm_rows(T* h, const T* r, index_t n, index_t d, const T* gamma, const T* beta, T eps) {
  for (index_t i = 0; i < n; ++i) {
    T* x = h + i * d;
    if (r) {
      const T* y = r + i * d;
      for (index_t j = 0; j < d; ++j) x[j] += y[j];
    }
    T mean = T(0);
    for (index_t j = 0; j < d; ++j) mean += x[j];
    mean /= T(d);
    T var = T(0);
    for (index_t j = 0; j < d; ++j) var += (x[j] - mean) * (x[j] - mean);
    const T inv = T(1) / std::sqrt(var / T(d) + eps);
    for (index_t j = 0; j < d; ++j) x[j] = (x[j] - mean) * inv * gamma[j] + beta[j];
  }
}

/// `y = x W + b` for few rows (`n` <= `small_rows`), without packing the weights: for each tile of 64
/// output columns, blocks of 4 rows accumulate over the inner dimension in registers while the tile of
/// W (in x 64) stays in L2 after the first block. BLAS GEMMs pack W on every call, which costs as
/// much as the arithmetic at batch-1 sizes (measured: 39 % of a 19-token forward).
template <class T>
void dense_few_rows(const T* x, index_t ldx, index_t n, const T* w, index_t in, index_t out, const T* b, T* y, index_t ldy) {
  constexpr index_t tile = 64, rb = 4;
  index_t j0 = 0;
  for (; j0 + tile <= out; j0 += tile) {
    index_t i0 = 0;
    for (; i0 + rb <= n; i0 += rb) {
      alignas(64) T acc[rb][tile];
      for (index_t r = 0; r < rb; ++r)
        for (index_t c = 0; c < tile; ++c) acc[r][c] = b[j0 + c];
      for (index_t k = 0; k < in; ++k) {
        const T* wk = w + k * out + j0;
        const T x0 = x[(i0 + 0) * ldx + k], x1 = x[(i0 + 1) * ldx + k], x2 = x[(i0 + 2) * ldx + k], x3 = x[(i0 + 3) * ldx + k];
        for (index_t c = 0; c < tile; ++c) {
          const T wv = wk[c];
          acc[0][c] += x0 * wv;
          acc[1][c] += x1 * wv;
          acc[2][c] += x2 * wv;
          acc[3][c] += x3 * wv;
        }
      }
      for (index_t r = 0; r < rb; ++r) std::copy(acc[r], acc[r] + tile, y + (i0 + r) * ldy + j0);
    }
    for (; i0 < n; ++i0) {
      alignas(64) T acc[tile];
      for (index_t c = 0; c < tile; ++c) acc[c] = b[j0 + c];
      for (index_t k = 0; k < in; ++k) {
        const T* wk = w + k * out + j0;
        const T xv = x[i0 * ldx + k];
        for (index_t c = 0; c < tile; ++c) acc[c] += xv * wk[c];
      }
      std::copy(acc, acc + tile, y + i0 * ldy + j0);
    }
  }
  for (index_t i = 0; i < n; ++i)  // the last columns (out not a multiple of 64)
    for (index_t j = j0; j < out; ++j) {
      T acc = b[j];
      for (index_t k = 0; k < in; ++k) acc += x[i * ldx + k] * w[k * out + j];
      y[i * ldy + j] = acc;
    }
}

/// Rows up to which `dense` uses `dense_few_rows` rather than BLAS.
inline constexpr index_t small_rows = 48;

/// `y = x W + b` for `x` `[n, in]` (row stride `ldx`) into `y` (row stride `ldy`).
template <class T>
void dense(const T* x, index_t ldx, index_t n, const matrix<T>& w, const matrix<T>& b, T* y, index_t ldy) {
  const index_t out = w.cols();
  if (n <= small_rows) return dense_few_rows(x, ldx, n, w.data(), w.rows(), out, b.data(), y, ldy);
  for (index_t i = 0; i < n; ++i) std::copy(b.data(), b.data() + out, y + i * ldy);
  ops::detail::strided_gemm<T>(false, false, n, out, w.rows(), T(1), x, ldx, w.data(), out, T(1), y, ldy);
}

/// `y = bf16(x) W + b` on a packed bf16 `W` (FP32 accumulation), same layout as `dense`.
inline void dense_bf16(const float* x, index_t ldx, index_t n, const bf16_panels& w, const matrix<float>& b, float* y, index_t ldy) {
  for (index_t i = 0; i < n; ++i) std::copy(b.data(), b.data() + w.n, y + i * ldy);
  gemm_bf16_packed(x, ldx, false, n, w, y, ldy, true);
}

}  // namespace detail

template <class T>
void bert_encoder<T>::enable_bf16_inference()
  requires std::is_same_v<T, float>
{
  packed_.clear();
  if (!bf16_gemm_available()) return;
  for (const auto& L : layers_)
    packed_.push_back({make_bf16_panels(L.wq.value()), make_bf16_panels(L.wk.value()), make_bf16_panels(L.wv.value()),
                       make_bf16_panels(L.wo.value()), make_bf16_panels(L.w1.value()), make_bf16_panels(L.w2.value())});
}

template <class T>
var<T> bert_encoder<T>::infer(tape<T>& t, const index_t* word_ids, const index_t* pos_ids, const index_t* type_ids, index_t n,
                              std::span<const index_t> offsets) const {
  const index_t d = cfg_.hidden, I = cfg_.intermediate, H = cfg_.heads, dh = d / H;
  const T eps = T(cfg_.layer_norm_eps), scale = T(1) / std::sqrt(T(dh));
  var<T> out = t.make(n, d);
  T* h = t.out_data(out);
  T* qkv = t.template scratch<T>(static_cast<std::size_t>(n * 3 * d));  // [n, 3d]: q | k | v
  T* a = t.template scratch<T>(static_cast<std::size_t>(n * d));        // attention output, then residual branch
  T* f = t.template scratch<T>(static_cast<std::size_t>(n * I));        // feed-forward hidden
  index_t max_len = 0;
  for (std::size_t s = 0; s + 1 < offsets.size(); ++s) max_len = std::max(max_len, offsets[s + 1] - offsets[s]);
  T* p = t.template scratch<T>(static_cast<std::size_t>(std::max<index_t>(max_len * max_len, 1)));
  T* erf_row = t.template scratch<T>(static_cast<std::size_t>(2 * I));
  // embeddings
  const matrix<T>&W = word_.value(), &P = position_.value(), &Y = type_.value();
  for (index_t r = 0; r < n; ++r) {
    const T *w = W.data() + word_ids[r] * d, *pp = P.data() + pos_ids[r] * d, *y = Y.data() + type_ids[r] * d;
    T* x = h + r * d;
    for (index_t j = 0; j < d; ++j) x[j] = w[j] + pp[j] + y[j];
  }
  detail::add_layer_norm_rows<T>(h, nullptr, n, d, emb_ln_g_.value().data(), emb_ln_b_.value().data(), eps);
  const T r2 = T(0.70710678118654752440);
  const bool bf16 = bf16_inference();
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const layer& L = layers_[l];
    // y = x W + b: on the layer's packed bf16 copy when enabled, else FP32
    auto dense = [&](const T* x, index_t ldx, const param<T>& w, bf16_panels packed_layer::*pw, const param<T>& b, T* y, index_t ldy) {
      if constexpr (std::is_same_v<T, float>)
        if (bf16) return detail::dense_bf16(x, ldx, n, packed_[l].*pw, b.value(), y, ldy);
      detail::dense<T>(x, ldx, n, w.value(), b.value(), y, ldy);
    };
    dense(h, d, L.wq, &packed_layer::wq, L.bq, qkv, 3 * d);
    dense(h, d, L.wk, &packed_layer::wk, L.bk, qkv + d, 3 * d);
    dense(h, d, L.wv, &packed_layer::wv, L.bv, qkv + 2 * d, 3 * d);
    for (std::size_t s = 0; s + 1 < offsets.size(); ++s) {
      const index_t row0 = offsets[s], len = offsets[s + 1] - offsets[s];
      if (len == 0) continue;
      for (index_t hh = 0; hh < H; ++hh) {
        const T* q = qkv + row0 * 3 * d + hh * dh;
        ops::detail::strided_gemm<T>(false, true, len, len, dh, scale, q, 3 * d, q + d, 3 * d, T(0), p, len);
        ops::detail::softmax_rows_inplace(p, len);
        ops::detail::strided_gemm<T>(false, false, len, dh, len, T(1), p, len, q + 2 * d, 3 * d, T(0), a + row0 * d + hh * dh, d);
      }
    }
    // o = a W_o + b_o into the q block of qkv (free now), then h = LN(h + o)
    dense(a, d, L.wo, &packed_layer::wo, L.bo, qkv, d);
    detail::add_layer_norm_rows<T>(h, qkv, n, d, L.ln1_g.value().data(), L.ln1_b.value().data(), eps);
    dense(h, d, L.w1, &packed_layer::w1, L.b1, f, I);
    for (index_t i = 0; i < n; ++i) {
      T* fi = f + i * I;
      for (index_t j = 0; j < I; ++j) erf_row[j] = fi[j] * r2;
      ops::detail::erf_n(erf_row, erf_row + I, I);
      for (index_t j = 0; j < I; ++j) fi[j] = T(0.5) * fi[j] * (T(1) + erf_row[I + j]);
    }
    dense(f, I, L.w2, &packed_layer::w2, L.b2, a, d);
    detail::add_layer_norm_rows<T>(h, a, n, d, L.ln2_g.value().data(), L.ln2_b.value().data(), eps);
  }
  return out;
}

// Compiled once in the optional recblocks::instantiations library (src/instantiations/), which
// defines RECBLOCKS_EXTERN_TEMPLATES for the targets that link it (docs/performance.md); it has the
// text classes only when built with recblocks::text, which defines RECBLOCKS_HAVE_TEXT.
#if defined(RECBLOCKS_EXTERN_TEMPLATES) && defined(RECBLOCKS_HAVE_TEXT)
extern template class bert_encoder<float>;
extern template class bert_encoder<double>;
#endif

}  // namespace recblocks::nn
