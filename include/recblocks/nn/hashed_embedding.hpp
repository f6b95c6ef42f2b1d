#pragma once
/// \file hashed_embedding.hpp
/// The hashing trick for huge or open vocabularies: a raw 64-bit key (a user id, a hashed string) is
/// mapped to one of `buckets` rows by `bucket(k) = splitmix64(k ^ salt) mod buckets`. Unseen keys
/// never fail; distinct keys may share a row (collision rate ~ n / buckets). Memory is fixed at
/// `buckets x dim` whatever the vocabulary.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "embedding.hpp"

namespace recblocks::nn {

/// 64-bit mix (SplitMix64 finaliser): a fast, well-distributed hash of integer keys.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a hash of a string key, for hashing categorical text values.
inline std::uint64_t hash_string(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

template <class T>
class hashed_embedding {
 public:
  using scalar_type = T;

  hashed_embedding(index_t buckets, index_t dim, rng& gen, std::uint64_t salt = 0,
                   init how = init::normal(0.0, 1e-4))
      : table_(buckets, dim, gen, how), salt_(salt) {}

  /// The row a key maps to.
  index_t bucket(std::uint64_t key) const {
    return static_cast<index_t>(mix64(key ^ salt_) % static_cast<std::uint64_t>(table_.vocabulary()));
  }

  /// Rows for raw keys -> `[keys.size(), dim]`.
  var<T> operator()(tape<T>& t, std::span<const std::uint64_t> keys) const {
    index_t* rows = t.template scratch<index_t>(keys.size());
    for (std::size_t k = 0; k < keys.size(); ++k) rows[k] = bucket(keys[k]);
    return table_(t, std::span<const index_t>(rows, keys.size()));
  }

  index_t buckets() const { return table_.vocabulary(); }
  index_t dim() const { return table_.dim(); }
  embedding<T>& table() { return table_; }

  /// The member list (see nn/module.hpp): parameters, buffers and sub-modules, each named once.
  template <class Self, class V>
  static void visit(Self& self, V& v) {
    v("", self.table_);
  }

 private:
  embedding<T> table_;
  std::uint64_t salt_;
};

}  // namespace recblocks::nn
