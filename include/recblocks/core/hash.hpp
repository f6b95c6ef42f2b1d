#pragma once
/// \file hash.hpp
/// The two hashes of the hashing trick, shared by `nn::hashed_embedding` (ids -> rows) and
/// `data::feature_hasher` (string values -> ids):
///
///     mix64(x)        SplitMix64 finaliser: a fast, well-distributed mix of a 64-bit integer key
///     hash_string(s)  FNV-1a 64 of the bytes of `s`
///
/// Both are pure functions (thread-safe, no allocation); their values are part of the checkpoint
/// contract (a hashed feature's ids must not change between versions).

#include <cstdint>
#include <string_view>

namespace recblocks {

/// 64-bit mix (SplitMix64 finaliser).
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a 64 hash of a string key.
inline std::uint64_t hash_string(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace recblocks
