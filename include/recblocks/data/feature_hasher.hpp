#pragma once
/// \file feature_hasher.hpp
/// The hashing trick for categorical values with unbounded vocabularies: no fitting, no state.
///
///     id(value) = 1 + mix64(hash_string(value) ^ salt) mod (buckets - 1)      (value != "")
///     id("")    = 0                                                          (missing / unknown)
///
/// so ids lie in [0, buckets) and id 0 keeps its meaning "unknown" (as for `label_encoder`). The
/// hash functions are `hash_string` (FNV-1a) and `mix64` (splitmix64 finaliser) of `core/hash.hpp`, the
/// same ones `nn::hashed_embedding` uses. Distinct values collide with probability ~1/(buckets-1).
/// Requires buckets >= 2 (`value_error`). Thread-safety: immutable.

#include <cstdint>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../core/hash.hpp"

namespace recblocks::data {

class feature_hasher {
 public:
  explicit feature_hasher(index_t buckets, std::uint64_t salt = 0) : buckets_(buckets), salt_(salt) {
    if (buckets < 2) throw value_error("data::feature_hasher: buckets must be >= 2, got " + std::to_string(buckets));
  }

  index_t operator()(std::string_view value) const {
    if (value.empty()) return 0;
    return 1 + static_cast<index_t>(mix64(hash_string(value) ^ salt_) % static_cast<std::uint64_t>(buckets_ - 1));
  }

  /// The vocabulary of the hashed feature (= buckets).
  index_t vocabulary() const { return buckets_; }
  std::uint64_t salt() const { return salt_; }

 private:
  index_t buckets_;
  std::uint64_t salt_;
};

}  // namespace recblocks::data
