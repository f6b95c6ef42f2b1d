#pragma once
/// \file wordpiece_tokenizer.hpp
/// BERT's WordPiece tokenizer (uncased), token for token the one of Hugging Face `tokenizers`
/// (`BertNormalizer` + `BertPreTokenizer` + `WordPiece` + the `[CLS] A [SEP] (B [SEP])` template):
///
///  1. special tokens written literally in the text (`[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`, `[UNK]`) are
///     kept whole, as Hugging Face does with its added tokens (`split_special_tokens = false`);
///  2. cleaning: U+0000, U+FFFD and control, format and private-use characters (categories Cc, Cf, Co,
///     except tab, newline, carriage return) are removed (unassigned ones, Cn, are kept, as Hugging Face); white space (White_Space property) becomes ' ';
///  3. CJK ideographs are surrounded by spaces;
///  4. accents stripped (canonical decomposition NFD, then non-spacing marks Mn removed) and lower-cased
///     (both on for uncased models);
///  5. split on white space, and every punctuation character (ASCII punctuation or Unicode P*) is a word;
///  6. each word is split greedily into the longest vocabulary pieces, continuation pieces prefixed
///     with `##`; a word longer than `max_chars_per_word` (100) characters, or one that cannot be
///     split, becomes `[UNK]`.
///
/// Unicode categories and decompositions come from utf8proc (Debian `libutf8proc-dev`, target
/// `recblocks::text`). Invalid UTF-8 is a `value_error` naming the byte offset, or each invalid byte
/// is replaced by U+FFFD (which cleaning then removes) when `options.invalid = invalid_utf8::replace`.
///
/// Sequences: `encode(a)` gives `[CLS] a [SEP]`, `encode(a, b)` gives `[CLS] a [SEP] b [SEP]` with token
/// type ids 0 for the first part and 1 for the second. With `max_length` the pieces are truncated
/// (longest first for pairs, with Hugging Face's split of the room) or, when
/// `overflow::error` is asked, a `value_error` is thrown. `encode_batch` pads to the longest sequence and
/// returns the attention mask.
///
/// Complexity O(characters * longest piece). Thread-safety: const members may run concurrently.

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::text {

/// What to do with bytes that are not valid UTF-8.
enum class invalid_utf8 { error, replace };
/// What to do with a text longer than the allowed maximum.
enum class overflow { truncate, error };

struct wordpiece_options {
  bool lowercase = true;
  bool strip_accents = true;  ///< Hugging Face's `strip_accents = None` means "as lowercase"
  bool clean_text = true;
  bool chinese_chars = true;
  bool split_special_tokens = false;  ///< true: "[SEP]" in the text is ordinary text
  index_t max_chars_per_word = 100;
  std::string unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", mask = "[MASK]";
  std::string continuation = "##";
  invalid_utf8 invalid = invalid_utf8::error;
};

/// One sequence: ids with `[CLS]`/`[SEP]` and token type ids (0 first text, 1 second text).
struct encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;
  index_t size() const { return static_cast<index_t>(ids.size()); }
};

/// A padded batch `[batch, length]`, row-major: ids (`[PAD]` beyond each row's length), token types,
/// attention mask (1 real token, 0 padding) and the real lengths.
struct batch_encoding {
  index_t batch = 0;
  index_t length = 0;
  std::vector<std::int32_t> ids, type_ids, mask;
  std::vector<index_t> lengths;
};

class wordpiece_tokenizer {
 public:
  /// From a vocabulary, one token a line (the line number is the id).
  explicit wordpiece_tokenizer(std::vector<std::string> vocab, wordpiece_options opt = {});

  /// Reads `vocab.txt` (one token a line). `io_error` when unreadable or empty.
  static wordpiece_tokenizer from_vocab_file(const std::filesystem::path& path, wordpiece_options opt = {});
  /// Reads a Hugging Face model folder: `vocab.txt` and, if present, `tokenizer_config.json`
  /// (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`, special token names).
  static wordpiece_tokenizer from_model_dir(const std::filesystem::path& dir, wordpiece_options opt = {});

  /// WordPiece ids of `text`, without special tokens and without truncation.
  std::vector<std::int32_t> tokenize_ids(std::string_view text) const;
  /// The pieces as strings (`"un", "##aff", "##able"`).
  std::vector<std::string> tokenize(std::string_view text) const;

  /// `[CLS] text [SEP]`; `max_length` counts the special tokens (0: no limit).
  encoding encode(std::string_view text, index_t max_length = 0, overflow on_long = overflow::truncate) const;
  /// `[CLS] a [SEP] b [SEP]`, type ids 0 / 1, truncated longest first to `max_length` (0: no limit).
  encoding encode(std::string_view a, std::string_view b, index_t max_length = 0, overflow on_long = overflow::truncate) const;
  /// Encodes and pads `texts` (`[PAD]` id, type 0, mask 0). An empty batch gives `batch = 0`.
  batch_encoding encode_batch(std::span<const std::string> texts, index_t max_length = 0,
                              overflow on_long = overflow::truncate) const;

  index_t vocab_size() const { return static_cast<index_t>(vocab_.size()); }
  /// The id of `token`, or -1.
  std::int32_t token_to_id(std::string_view token) const {
    auto it = ids_.find(std::string(token));
    return it == ids_.end() ? -1 : it->second;
  }
  const std::string& id_to_token(std::int32_t id) const {
    if (id < 0 || id >= static_cast<std::int32_t>(vocab_.size()))
      throw value_error("text::wordpiece_tokenizer: id " + std::to_string(id) + " outside the vocabulary of " +
                        std::to_string(vocab_.size()));
    return vocab_[static_cast<std::size_t>(id)];
  }
  std::int32_t cls_id() const { return cls_; }
  std::int32_t sep_id() const { return sep_; }
  std::int32_t pad_id() const { return pad_; }
  std::int32_t unk_id() const { return unk_; }
  const wordpiece_options& options() const { return opt_; }

  /// Decodes UTF-8 into code points (strict: overlong forms, surrogates and values above U+10FFFF are
  /// invalid). Throws `value_error` naming the byte offset, or replaces each invalid byte by U+FFFD.
  static std::vector<char32_t> decode_utf8(std::string_view s, invalid_utf8 policy);

 private:
  void normalize_into(std::span<const char32_t> in, std::vector<char32_t>& out) const;
  void wordpiece(std::span<const char32_t> word, std::vector<std::int32_t>& out) const;
  void tokenize_segment(std::span<const char32_t> seg, std::vector<std::int32_t>& out) const;
  std::int32_t require(const std::string& token) const;

  static bool is_whitespace(char32_t c);
  static bool is_control(char32_t c);
  static bool is_punctuation(char32_t c);
  static bool is_cjk(char32_t c);
  static void append_utf8(std::string& s, char32_t c);

  wordpiece_options opt_;
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, std::int32_t> ids_;       // word-initial pieces
  std::unordered_map<std::string, std::int32_t> cont_ids_;  // continuation pieces, without the prefix
  std::size_t longest_piece_ = 0;                           // in bytes
  std::int32_t unk_ = -1, cls_ = -1, sep_ = -1, pad_ = -1;
  std::vector<std::pair<std::u32string, std::int32_t>> specials_;  // literal special tokens in text
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline wordpiece_tokenizer::wordpiece_tokenizer(std::vector<std::string> vocab, wordpiece_options opt)
    : opt_(std::move(opt)), vocab_(std::move(vocab)) {
  if (vocab_.empty()) throw value_error("text::wordpiece_tokenizer: empty vocabulary");
  if (opt_.max_chars_per_word < 1)
    throw value_error("text::wordpiece_tokenizer: max_chars_per_word must be >= 1, got " + std::to_string(opt_.max_chars_per_word));
  for (std::size_t i = 0; i < vocab_.size(); ++i) {
    const std::string& tok = vocab_[i];
    const auto id = static_cast<std::int32_t>(i);
    ids_.emplace(tok, id);  // the first occurrence wins, as in Hugging Face
    if (!opt_.continuation.empty() && tok.size() > opt_.continuation.size() && tok.rfind(opt_.continuation, 0) == 0)
      cont_ids_.emplace(tok.substr(opt_.continuation.size()), id);
    longest_piece_ = std::max(longest_piece_, tok.size());
  }
  unk_ = require(opt_.unk);
  cls_ = require(opt_.cls);
  sep_ = require(opt_.sep);
  pad_ = require(opt_.pad);
  if (!opt_.split_special_tokens)
    for (const std::string* s : {&opt_.unk, &opt_.cls, &opt_.sep, &opt_.pad, &opt_.mask}) {
      auto it = ids_.find(*s);
      if (it == ids_.end() || s->empty()) continue;
      const auto cps = decode_utf8(*s, invalid_utf8::error);
      specials_.emplace_back(std::u32string(cps.begin(), cps.end()), it->second);
    }
}

inline std::int32_t wordpiece_tokenizer::require(const std::string& token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) throw value_error("text::wordpiece_tokenizer: the vocabulary has no special token '" + token + "'");
  return it->second;
}

inline wordpiece_tokenizer wordpiece_tokenizer::from_vocab_file(const std::filesystem::path& path, wordpiece_options opt) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("text::wordpiece_tokenizer: cannot read vocabulary '" + path.string() + "'");
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
  }
  if (vocab.empty()) throw io_error("text::wordpiece_tokenizer: vocabulary '" + path.string() + "' is empty");
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    try {
      (void)decode_utf8(vocab[i], invalid_utf8::error);
    } catch (const value_error&) {
      throw io_error("text::wordpiece_tokenizer: vocabulary '" + path.string() + "' line " + std::to_string(i + 1) +
                     " is not valid UTF-8");
    }
  }
  return wordpiece_tokenizer(std::move(vocab), std::move(opt));
}

inline wordpiece_tokenizer wordpiece_tokenizer::from_model_dir(const std::filesystem::path& dir, wordpiece_options opt) {
  const auto cfg_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(cfg_path)) {
    std::ifstream in(cfg_path, std::ios::binary);
    nlohmann::json cfg;
    try {
      cfg = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw io_error("text::wordpiece_tokenizer: '" + cfg_path.string() + "' is not valid JSON: " + e.what());
    }
    try {
      if (cfg.contains("tokenizer_class") && cfg["tokenizer_class"].is_string()) {
        const std::string cls = cfg["tokenizer_class"];
        if (cls != "BertTokenizer" && cls != "BertTokenizerFast")
          throw value_error("text::wordpiece_tokenizer: '" + cfg_path.string() + "' asks for tokenizer_class '" + cls +
                            "'; only BertTokenizer (WordPiece) is supported");
      }
      if (cfg.contains("do_lower_case") && cfg["do_lower_case"].is_boolean()) opt.lowercase = cfg["do_lower_case"];
      opt.strip_accents = opt.lowercase;
      if (cfg.contains("strip_accents") && cfg["strip_accents"].is_boolean()) opt.strip_accents = cfg["strip_accents"];
      if (cfg.contains("tokenize_chinese_chars") && cfg["tokenize_chinese_chars"].is_boolean())
        opt.chinese_chars = cfg["tokenize_chinese_chars"];
      auto name = [&](const char* key, std::string& field) {
        if (cfg.contains(key) && cfg[key].is_string()) field = cfg[key];
      };
      name("unk_token", opt.unk);
      name("cls_token", opt.cls);
      name("sep_token", opt.sep);
      name("pad_token", opt.pad);
      name("mask_token", opt.mask);
    } catch (const nlohmann::json::exception& e) {
      throw io_error("text::wordpiece_tokenizer: '" + cfg_path.string() + "': " + e.what());
    }
  }
  return from_vocab_file(dir / "vocab.txt", std::move(opt));
}

inline std::vector<char32_t> wordpiece_tokenizer::decode_utf8(std::string_view s, invalid_utf8 policy) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto bad = [&](std::size_t at) {
    if (policy == invalid_utf8::error)
      throw value_error("text::wordpiece_tokenizer: invalid UTF-8 at byte offset " + std::to_string(at) + " (byte 0x" +
                        [&] {
                          const char* hex = "0123456789abcdef";
                          return std::string{hex[p[at] >> 4], hex[p[at] & 15]};
                        }() + ")");
    out.push_back(0xFFFD);
    ++i;
  };
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else {
      bad(i);
      continue;
    }
    if (i + static_cast<std::size_t>(len) > n) {
      bad(i);
      continue;
    }
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = p[i + static_cast<std::size_t>(k)];
      if ((cc & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      bad(i);
      continue;
    }
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

inline void wordpiece_tokenizer::append_utf8(std::string& s, char32_t c) {
  if (c < 0x80) s.push_back(static_cast<char>(c));
  else if (c < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (c >> 6)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (c >> 12)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (c >> 18)));
    s.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

inline bool wordpiece_tokenizer::is_whitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85 || c == 0x2028 || c == 0x2029)
    return true;
  return c > 0x7F && utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ZS;
}

inline bool wordpiece_tokenizer::is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS: return true;  // unassigned characters (Cn) are kept, as Hugging Face
    default: return false;
  }
}

inline bool wordpiece_tokenizer::is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  if (c < 0x80) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

inline bool wordpiece_tokenizer::is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

inline void wordpiece_tokenizer::normalize_into(std::span<const char32_t> in, std::vector<char32_t>& out) const {
  out.clear();
  out.reserve(in.size() + 8);
  utf8proc_int32_t buf[32];
  std::size_t run_begin = 0;  // start of the current run of combining marks (canonical ordering)
  for (char32_t c : in) {
    if (opt_.clean_text) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) c = ' ';
    }
    if (opt_.chinese_chars && is_cjk(c)) {
      out.push_back(' ');
      out.push_back(c);
      out.push_back(' ');
      run_begin = out.size();
      continue;
    }
    auto push = [&](char32_t x) {
      if (opt_.lowercase) {
        if (x == 0x130 && !opt_.strip_accents) {  // the one full lower-case mapping of two characters
          out.push_back('i');
          x = 0x307;
        } else {
          x = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(x)));
        }
      }
      // canonical ordering of combining marks (NFD): a stable insertion by combining class
      const int cc = utf8proc_get_property(static_cast<utf8proc_int32_t>(x))->combining_class;
      if (cc == 0) {
        out.push_back(x);
        run_begin = out.size();
        return;
      }
      std::size_t pos = out.size();
      while (pos > run_begin && utf8proc_get_property(static_cast<utf8proc_int32_t>(out[pos - 1]))->combining_class > cc) --pos;
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(pos), x);
    };
    if (opt_.strip_accents && c >= 0x80) {
      int last = 0;
      const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32, UTF8PROC_DECOMPOSE, &last);
      if (n < 0 || n > 32) {
        push(c);
        continue;
      }
      for (utf8proc_ssize_t k = 0; k < n; ++k) {
        const char32_t x = static_cast<char32_t>(buf[k]);
        if (utf8proc_category(buf[k]) == UTF8PROC_CATEGORY_MN) continue;
        push(x);
      }
    } else {
      push(c);
    }
  }
}

inline void wordpiece_tokenizer::wordpiece(std::span<const char32_t> word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (static_cast<index_t>(word.size()) > opt_.max_chars_per_word) {
    out.push_back(unk_);
    return;
  }
  // byte offsets of every character boundary, then greedy longest match over UTF-8 substrings
  std::string bytes;
  std::vector<std::size_t> bound{0};
  for (char32_t c : word) {
    append_utf8(bytes, c);
    bound.push_back(bytes.size());
  }
  const std::size_t mark = out.size();
  std::size_t start = 0;  // in characters
  const std::size_t n = word.size();
  while (start < n) {
    std::size_t end = n;
    std::int32_t found = -1;
    while (end > start) {
      const std::size_t len = bound[end] - bound[start];
      if (len <= longest_piece_) {
        const std::string piece = bytes.substr(bound[start], len);
        const auto& table = start == 0 ? ids_ : cont_ids_;
        auto it = table.find(piece);
        if (it != table.end()) {
          found = it->second;
          break;
        }
      }
      --end;
    }
    if (found < 0) {
      out.resize(mark);
      out.push_back(unk_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

inline void wordpiece_tokenizer::tokenize_segment(std::span<const char32_t> seg, std::vector<std::int32_t>& out) const {
  thread_local std::vector<char32_t> norm;
  normalize_into(seg, norm);
  std::size_t i = 0;
  const std::size_t n = norm.size();
  while (i < n) {
    if (is_whitespace(norm[i])) {
      ++i;
      continue;
    }
    if (is_punctuation(norm[i])) {
      wordpiece(std::span<const char32_t>(norm.data() + i, 1), out);
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && !is_whitespace(norm[j]) && !is_punctuation(norm[j])) ++j;
    wordpiece(std::span<const char32_t>(norm.data() + i, j - i), out);
    i = j;
  }
}

inline std::vector<std::int32_t> wordpiece_tokenizer::tokenize_ids(std::string_view text) const {
  const std::vector<char32_t> cps = decode_utf8(text, opt_.invalid);
  std::vector<std::int32_t> out;
  std::size_t begin = 0, i = 0;
  while (i < cps.size()) {
    std::int32_t special = -1;
    std::size_t special_len = 0;
    if (cps[i] == '[')
      for (const auto& [s, id] : specials_)
        if (cps.size() - i >= s.size() && std::equal(s.begin(), s.end(), cps.begin() + static_cast<std::ptrdiff_t>(i))) {
          special = id;
          special_len = s.size();
          break;
        }
    if (special < 0) {
      ++i;
      continue;
    }
    tokenize_segment(std::span<const char32_t>(cps.data() + begin, i - begin), out);
    out.push_back(special);
    i += special_len;
    begin = i;
  }
  tokenize_segment(std::span<const char32_t>(cps.data() + begin, cps.size() - begin), out);
  return out;
}

inline std::vector<std::string> wordpiece_tokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (std::int32_t id : tokenize_ids(text)) out.push_back(vocab_[static_cast<std::size_t>(id)]);
  return out;
}

inline encoding wordpiece_tokenizer::encode(std::string_view text, index_t max_length, overflow on_long) const {
  std::vector<std::int32_t> a = tokenize_ids(text);
  if (max_length < 0) throw value_error("text::wordpiece_tokenizer::encode: max_length must be >= 0, got " + std::to_string(max_length));
  if (max_length > 0) {
    if (max_length < 2) throw value_error("text::wordpiece_tokenizer::encode: max_length " + std::to_string(max_length) + " leaves no room for [CLS] and [SEP]");
    const auto room = static_cast<std::size_t>(max_length - 2);
    if (a.size() > room) {
      if (on_long == overflow::error)
        throw value_error("text::wordpiece_tokenizer::encode: text of " + std::to_string(a.size() + 2) +
                          " tokens exceeds max_length " + std::to_string(max_length));
      a.resize(room);
    }
  }
  encoding e;
  e.ids.reserve(a.size() + 2);
  e.ids.push_back(cls_);
  e.ids.insert(e.ids.end(), a.begin(), a.end());
  e.ids.push_back(sep_);
  e.type_ids.assign(e.ids.size(), 0);
  return e;
}

inline encoding wordpiece_tokenizer::encode(std::string_view ta, std::string_view tb, index_t max_length, overflow on_long) const {
  std::vector<std::int32_t> a = tokenize_ids(ta), b = tokenize_ids(tb);
  if (max_length < 0) throw value_error("text::wordpiece_tokenizer::encode: max_length must be >= 0, got " + std::to_string(max_length));
  if (max_length > 0) {
    if (max_length < 3) throw value_error("text::wordpiece_tokenizer::encode: max_length " + std::to_string(max_length) + " leaves no room for [CLS] and two [SEP]");
    const auto room = static_cast<std::size_t>(max_length - 3);
    if (a.size() + b.size() > room) {
      if (on_long == overflow::error)
        throw value_error("text::wordpiece_tokenizer::encode: pair of " + std::to_string(a.size() + b.size() + 3) +
                          " tokens exceeds max_length " + std::to_string(max_length));
      // longest first, as Hugging Face: the shorter part keeps min(its length, room / 2) or more when
      // the longer one leaves room; when both exceed half, the longer gets the odd token
      std::size_t n1 = a.size(), n2 = b.size();
      const bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      n2 = n1 > room ? n1 : std::max(n1, room - n1);
      if (n1 + n2 > room) {
        n1 = room / 2;
        n2 = n1 + room % 2;
      }
      if (swap) std::swap(n1, n2);
      a.resize(std::min(a.size(), n1));
      b.resize(std::min(b.size(), n2));
    }
  }
  encoding e;
  e.ids.push_back(cls_);
  e.ids.insert(e.ids.end(), a.begin(), a.end());
  e.ids.push_back(sep_);
  e.type_ids.assign(e.ids.size(), 0);
  e.ids.insert(e.ids.end(), b.begin(), b.end());
  e.ids.push_back(sep_);
  e.type_ids.resize(e.ids.size(), 1);
  return e;
}

inline batch_encoding wordpiece_tokenizer::encode_batch(std::span<const std::string> texts, index_t max_length, overflow on_long) const {
  batch_encoding out;
  out.batch = static_cast<index_t>(texts.size());
  std::vector<encoding> encs;
  encs.reserve(texts.size());
  for (const auto& t : texts) {
    encs.push_back(encode(t, max_length, on_long));
    out.length = std::max(out.length, encs.back().size());
  }
  const auto total = static_cast<std::size_t>(out.batch * out.length);
  out.ids.assign(total, pad_);
  out.type_ids.assign(total, 0);
  out.mask.assign(total, 0);
  for (std::size_t b = 0; b < encs.size(); ++b) {
    const auto& e = encs[b];
    const auto off = b * static_cast<std::size_t>(out.length);
    std::copy(e.ids.begin(), e.ids.end(), out.ids.begin() + static_cast<std::ptrdiff_t>(off));
    std::copy(e.type_ids.begin(), e.type_ids.end(), out.type_ids.begin() + static_cast<std::ptrdiff_t>(off));
    std::fill_n(out.mask.begin() + static_cast<std::ptrdiff_t>(off), e.ids.size(), 1);
    out.lengths.push_back(e.size());
  }
  return out;
}

}  // namespace recblocks::text
