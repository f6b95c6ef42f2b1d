#pragma once
// Small utilities shared by the examples (light: no model headers): the identity of a data file for
// on-disk caches, timing, the cache folder, and id parsing with errors that name file and line.
// examples/common.hpp includes it; the text/LLM examples that need nothing else include it alone.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <recblocks/core/error.hpp>
#include <recblocks/core/tensor.hpp>

namespace recblocks_examples {

using recblocks::index_t;

/// FNV-1a 64 of `n` bytes, continuing from `h` (start from `fnv1a_offset`): the key of on-disk caches.
constexpr std::uint64_t fnv1a_offset = 1469598103934665603ULL;
inline std::uint64_t fnv1a(std::uint64_t h, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

/// FNV-1a 64 of a file's bytes, read in 1 MiB blocks (an unreadable file hashes as empty).
inline std::uint64_t file_checksum(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> buf(1 << 20);
  std::uint64_t h = fnv1a_offset;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fnv1a(h, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return h;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The examples' cache folder: $RECBLOCKS_CACHE, else ~/.cache/recblocks.
inline std::filesystem::path home_cache() {
  if (const char* c = std::getenv("RECBLOCKS_CACHE"); c && *c) return c;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache/recblocks";
}

/// A whole non-negative integer of `text`, else `parse_error` naming `file`, `line` and `what`.
inline index_t parse_id(const std::string& text, const std::string& file, index_t line, const char* what) {
  std::size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 0)
    throw recblocks::parse_error(file + " line " + std::to_string(line) + ": " + what + " '" + text +
                                 "' is not a non-negative integer");
  return static_cast<index_t>(v);
}

}  // namespace recblocks_examples
