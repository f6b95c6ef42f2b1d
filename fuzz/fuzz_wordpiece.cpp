// libFuzzer target: the WordPiece tokenizer (text/wordpiece_tokenizer.hpp) on arbitrary bytes.
// fuzz-libs: -lutf8proc
//
// The first input byte picks the options (invalid UTF-8: error or replace; lower-casing and accent
// stripping; CJK spacing; special tokens split or kept; a max_length of 0, 2..33); the rest is the text,
// cut at the first 0xFF 0xFE pair into a text pair. The vocabulary is built in (ASCII characters, a few
// words and continuation pieces, accented and CJK characters), so the target needs no model files.
// Invariants checked (abort on violation): every id lies in the vocabulary, [CLS] starts and [SEP] ends
// every encoding, type ids are 0 then 1, max_length is respected, the replace policy never throws, and
// only recblocks::value_error escapes (invalid UTF-8 under the error policy).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <recblocks/text/wordpiece_tokenizer.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {
std::vector<std::string> vocabulary() {
  std::vector<std::string> v{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int c = 33; c < 127; ++c) {
    v.push_back(std::string(1, char(c)));
    v.push_back("##" + std::string(1, char(c)));
  }
  for (const char* w : {"the", "un", "##aff", "##able", "hello", "world", "café", "naïve", "中", "文", "##ing", "##s", "straße", "ß", "ﬁ"})
    v.push_back(w);
  return v;
}

const recblocks::text::wordpiece_tokenizer& tokenizer(unsigned mode) {
  static std::vector<recblocks::text::wordpiece_tokenizer> all = [] {
    std::vector<recblocks::text::wordpiece_tokenizer> out;
    for (unsigned m = 0; m < 32; ++m) {
      recblocks::text::wordpiece_options o;
      o.invalid = (m & 1) ? recblocks::text::invalid_utf8::replace : recblocks::text::invalid_utf8::error;
      o.lowercase = (m & 2) == 0;
      o.strip_accents = (m & 4) == 0;
      o.chinese_chars = (m & 8) == 0;
      o.split_special_tokens = (m & 16) != 0;
      out.emplace_back(vocabulary(), o);
    }
    return out;
  }();
  return all[mode & 31];
}

void check(bool ok) {
  if (!ok) std::abort();
}

void check_encoding(const recblocks::text::encoding& e, const recblocks::text::wordpiece_tokenizer& tok, std::int64_t max_length, bool pair) {
  check(e.ids.size() == e.type_ids.size());
  check(e.ids.size() >= (pair ? 3u : 2u));
  check(e.ids.front() == tok.cls_id() && e.ids.back() == tok.sep_id());
  if (max_length > 0) check(static_cast<std::int64_t>(e.ids.size()) <= max_length);
  bool second = false;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    check(e.ids[i] >= 0 && e.ids[i] < tok.vocab_size());
    if (e.type_ids[i] == 1) second = true;
    check(e.type_ids[i] == (second ? 1 : 0));
  }
  check(second == pair);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  using namespace recblocks;
  if (size < 2) return 0;
  const unsigned mode = bytes[0];
  const std::int64_t max_length = bytes[1] & 32 ? 0 : 2 + (bytes[1] & 31);
  const std::string_view all(reinterpret_cast<const char*>(bytes + 2), size - 2);
  const auto& tok = tokenizer(mode);
  const bool replace = tok.options().invalid == text::invalid_utf8::replace;
  const auto cut = all.find("\xFF\xFE");
  try {
    const auto pieces = tok.tokenize_ids(all);
    for (auto id : pieces) check(id >= 0 && id < tok.vocab_size());
    if (cut == std::string_view::npos) {
      check_encoding(tok.encode(all, max_length), tok, max_length, false);
    } else if (max_length == 0 || max_length >= 3) {
      check_encoding(tok.encode(all.substr(0, cut), all.substr(cut + 2), max_length), tok, max_length, true);
    }
    try {
      (void)tok.encode(all, max_length, text::overflow::error);
    } catch (const value_error&) {
      check(max_length > 0);
    }
  } catch (const value_error&) {
    check(!replace);  // only invalid UTF-8 may throw, and only under the error policy
  }
  return 0;
}
