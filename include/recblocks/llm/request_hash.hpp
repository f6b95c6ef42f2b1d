#pragma once
/// \file request_hash.hpp
/// Stable keys for caching and replay: `canonical_request(r, scope)` is the compact dump of
/// `{"request": to_json(r), "scope": scope}` (nlohmann sorts object keys, so equal requests give
/// equal bytes whatever order their `extra` keys were set in), and `request_hash` is its 64-bit
/// FNV-1a. The `scope` separates requests sent to different models or servers (e.g. the model name).
/// The hash is stable across runs, platforms and builds (it depends only on the bytes).
///
/// Thread safety: pure functions.

#include <cstdint>
#include <string>
#include <string_view>

#include "chat_request.hpp"

namespace recblocks::llm {

/// 64-bit FNV-1a of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
constexpr std::uint64_t fnv1a64(std::string_view bytes) noexcept;

/// The canonical bytes of a request in a scope (see the file comment).
std::string canonical_request(const chat_request& r, std::string_view scope = {});

/// FNV-1a of `canonical_request(r, scope)`.
std::uint64_t request_hash(const chat_request& r, std::string_view scope = {});

/// 16 lowercase hex digits.
std::string to_hex(std::uint64_t h);

// ---- implementation ----------------------------------------------------------------------------

constexpr std::uint64_t fnv1a64(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

inline std::string canonical_request(const chat_request& r, std::string_view scope) {
  nlohmann::json j{{"request", r}, {"scope", std::string(scope)}};
  return j.dump();
}

inline std::uint64_t request_hash(const chat_request& r, std::string_view scope) {
  return fnv1a64(canonical_request(r, scope));
}

inline std::string to_hex(std::uint64_t h) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) s[static_cast<std::size_t>(i)] = digits[h & 0xf];
  return s;
}

}  // namespace recblocks::llm
