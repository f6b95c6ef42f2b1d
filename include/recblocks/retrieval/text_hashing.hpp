#pragma once
/// \file text_hashing.hpp
/// Hashed n-gram text vectors (the "hashing trick"; Weinberger et al. 2009) for item titles and other
/// short texts, so a tree or an index can be built from text with no trained model.
///
/// The text is lower-cased (ASCII), HTML entities `&amp; &quot; &#39; &lt; &gt;` are decoded, and
/// split into words of ASCII letters and digits. Features: every word, every word bigram, and every
/// character n-gram of `"<word>"` for n in `[char_min, char_max]` (the `<`, `>` mark the word edges).
/// Each feature f adds `weight_f * sign(f)` to coordinate `h(f) mod dim`, with `h` 64-bit FNV-1a
/// (seeded) and `sign` from another hash bit (signed hashing keeps collisions unbiased); word and
/// bigram features weigh `word_weight`, character n-grams 1. The vector is L2-normalised (all zeros
/// for a text without any word).
///
/// Requires: `dim >= 1`, `1 <= char_min <= char_max` (or `char_max = 0` to disable character n-grams).
/// Errors: `value_error` for bad options. Thread-safety: `const` methods.
/// Complexity: O(bytes * (char_max - char_min + 1) + dim) per text.

#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::retrieval {

/// Options of `text_hashing`.
struct text_hashing_options {
  index_t dim = 256;          ///< output dimension
  int char_min = 3;           ///< shortest character n-gram
  int char_max = 4;           ///< longest character n-gram (0: none)
  double word_weight = 2.0;   ///< weight of word unigram and bigram features
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;  ///< hash seed
};

/// Hashed word + character n-gram vectorizer (see the file comment).
class text_hashing {
 public:
  explicit text_hashing(text_hashing_options options = {});

  const text_hashing_options& options() const { return options_; }

  /// Lower-cased ASCII words of `text` after entity decoding.
  static std::vector<std::string> words(std::string_view text);

  /// The L2-normalised feature vector `[dim]` of `text`.
  template <class T>
  col_vector<T> embed(std::string_view text) const;

  /// One row per text: `[texts.size(), dim]`.
  template <class T>
  matrix<T> embed_all(const std::vector<std::string>& texts) const;

 private:
  std::uint64_t hash(std::string_view s, std::uint64_t salt) const;
  text_hashing_options options_;
};

// ---- implementation ------------------------------------------------------------------------------

inline text_hashing::text_hashing(text_hashing_options options) : options_(options) {
  if (options_.dim < 1) throw value_error("retrieval::text_hashing: dim = " + std::to_string(options_.dim) + " must be >= 1");
  if (options_.char_max != 0 && (options_.char_min < 1 || options_.char_max < options_.char_min))
    throw value_error("retrieval::text_hashing: character n-gram range [" + std::to_string(options_.char_min) + ", " +
                      std::to_string(options_.char_max) + "] is invalid");
}

inline std::vector<std::string> text_hashing::words(std::string_view text) {
  std::string t;
  t.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '&') {
      static const std::pair<std::string_view, char> entities[] = {
          {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&lt;", '<'}, {"&gt;", '>'}};
      bool decoded = false;
      for (const auto& [e, c] : entities)
        if (text.substr(i, e.size()) == e) {
          t.push_back(c);
          i += e.size() - 1;
          decoded = true;
          break;
        }
      if (decoded) continue;
    }
    t.push_back(text[i]);
  }
  std::vector<std::string> out;
  std::string cur;
  for (char ch : t) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 128 && std::isalnum(u)) {
      cur.push_back(static_cast<char>(std::tolower(u)));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

inline std::uint64_t text_hashing::hash(std::string_view s, std::uint64_t salt) const {
  std::uint64_t h = 1469598103934665603ULL ^ options_.seed ^ (salt * 0x100000001b3ULL);
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;  // final avalanche (murmur3 fmix64)
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

template <class T>
col_vector<T> text_hashing::embed(std::string_view text) const {
  Eigen::VectorXd v = Eigen::VectorXd::Zero(options_.dim);
  const auto add = [&](std::string_view f, std::uint64_t salt, double w) {
    const std::uint64_t h = hash(f, salt);
    v(static_cast<index_t>(h % static_cast<std::uint64_t>(options_.dim))) += (h >> 63) ? w : -w;
  };
  const auto ws = words(text);
  for (std::size_t i = 0; i < ws.size(); ++i) {
    add(ws[i], 1, options_.word_weight);
    if (i + 1 < ws.size()) add(ws[i] + ' ' + ws[i + 1], 2, options_.word_weight);
    if (options_.char_max > 0) {
      const std::string b = '<' + ws[i] + '>';
      for (int n = options_.char_min; n <= options_.char_max; ++n)
        for (std::size_t s = 0; s + static_cast<std::size_t>(n) <= b.size(); ++s)
          add(std::string_view(b).substr(s, static_cast<std::size_t>(n)), 3, 1.0);
    }
  }
  const double norm = v.norm();
  if (norm > 0.0) v /= norm;
  return v.cast<T>();
}

template <class T>
matrix<T> text_hashing::embed_all(const std::vector<std::string>& texts) const {
  matrix<T> out(static_cast<index_t>(texts.size()), options_.dim);
  for (std::size_t i = 0; i < texts.size(); ++i) out.row(static_cast<index_t>(i)) = embed<T>(texts[i]).transpose();
  return out;
}

}  // namespace recblocks::retrieval
