#pragma once
/// \file knowledge_cache.hpp
/// `io::knowledge_cache`: fixed vectors computed once from a frozen LLM (LLM4MSR's scenario- and
/// user-level knowledge, any per-key side embedding), keyed by a string (`"user:42"`,
/// `"scenario:0"`), stored on disk with the identity of what produced them, and refused when that
/// identity is not the one the caller expects.
///
/// Identity (`knowledge_identity`): `model` (the LLM, e.g. "gemma-3-270m-q4_k_m"), `source` (how a
/// vector was taken: "hidden_state" = the server's last hidden state, last-token pooling;
/// "answer_encoder" = a sentence encoder over the generated answer), `prompt_version`, `data_hash`
/// (a hash of the data the prompts were built from, e.g. the training split) and `dim`. Two caches
/// are interchangeable iff their identities are equal (`fingerprint()` is a short hash of it).
///
/// File format (little-endian): the line `recblocks-knowledge 1\n`, one line of JSON (identity,
/// `keys` in payload order, `storage` "f32" | "bf16", `payload_bytes`, `payload_fnv1a64`), then the
/// payload: `keys.size() * dim` values row-major. `bf16` halves the size (8 significant bits; enough
/// for a knowledge vector, which the meta network compresses anyway).
///
/// Writes are atomic: a temporary file in the same directory, flushed and closed, then renamed over
/// the target; a reader sees the old or the new cache, never a mix. Reads treat the file as hostile:
/// magic, JSON, sizes and checksum are checked (`io_error` / `parse_error` naming the file and field).
///
/// Bad input: `put` of a vector of the wrong dimension throws `shape_error`, with a NaN or infinity
/// throws `value_error` (key named); `load(path, expected)` throws `io_error` naming both identities
/// when they differ. A key without a vector is a cold start: `table(keys)` fills its row with the
/// documented fallback (the mean of the stored vectors; zeros when the cache is empty) and counts it.
///
/// Thread-safety: a const cache may be read from many threads. Complexity: O(keys * dim).

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <unistd.h>
#include <vector>

#include "../core/bf16.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::io {

/// What produced a knowledge cache (see file docs).
struct knowledge_identity {
  std::string model;
  std::string source;
  std::string prompt_version;
  std::string data_hash;
  index_t dim = 0;

  bool operator==(const knowledge_identity&) const = default;
  nlohmann::json to_json() const {
    return {{"model", model}, {"source", source}, {"prompt_version", prompt_version}, {"data_hash", data_hash}, {"dim", dim}};
  }
  static knowledge_identity from_json(const nlohmann::json& j) {
    knowledge_identity id;
    try {
      id.model = j.at("model").get<std::string>();
      id.source = j.at("source").get<std::string>();
      id.prompt_version = j.at("prompt_version").get<std::string>();
      id.data_hash = j.at("data_hash").get<std::string>();
      id.dim = j.at("dim").get<index_t>();
    } catch (const nlohmann::json::exception& e) {
      throw parse_error(std::string("io::knowledge_identity: ") + e.what());
    }
    return id;
  }
  std::string to_string() const { return to_json().dump(); }
  /// 16 hex digits (FNV-1a 64 of the JSON): what a checkpoint stores next to the full identity.
  std::string fingerprint() const;
};

/// The rows of `table(keys)` and what was missing.
template <class T>
struct knowledge_table {
  matrix<T> values;                  ///< `[keys.size(), dim]`
  index_t missing = 0;               ///< rows filled with the fallback (cold starts)
  std::vector<std::string> missing_keys;  ///< the first 20 of them
};

class knowledge_cache {
 public:
  static constexpr const char* magic = "recblocks-knowledge 1";

  knowledge_cache() = default;
  explicit knowledge_cache(knowledge_identity id) : id_(std::move(id)) {
    if (id_.dim < 1) throw value_error("io::knowledge_cache: dim must be >= 1, got " + std::to_string(id_.dim));
  }

  const knowledge_identity& identity() const { return id_; }
  index_t dim() const { return id_.dim; }
  std::size_t size() const { return index_.size(); }
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  const std::vector<std::string>& keys() const { return keys_; }

  /// Stores (or replaces) the vector of `key`. `shape_error` for a wrong length, `value_error` for a
  /// non-finite value (the key and position named).
  void put(const std::string& key, std::span<const float> v);
  /// The vector of `key`; `value_error` if absent.
  std::span<const float> get(const std::string& key) const;

  /// One row per key (a key without a vector gets the fallback, counted; see file docs).
  template <class T>
  knowledge_table<T> table(std::span<const std::string> keys) const;

  /// Atomic write (see file docs); `io_error` on failure.
  void save(const std::filesystem::path& path, bool bf16 = true) const;
  /// Reads and checks a cache file (any identity).
  static knowledge_cache load(const std::filesystem::path& path);
  /// Reads and refuses (`io_error`, both identities named) a cache whose identity is not `expected`.
  static knowledge_cache load(const std::filesystem::path& path, const knowledge_identity& expected);

 private:
  static std::uint64_t fnv(const char* p, std::size_t n, std::uint64_t h = 14695981039346656037ull) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
    return h;
  }
  static std::string hex(std::uint64_t h) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
  friend struct knowledge_identity;

  knowledge_identity id_;
  std::vector<std::string> keys_;
  std::map<std::string, std::size_t> index_;
  std::vector<float> data_;
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline std::string knowledge_identity::fingerprint() const {
  const std::string s = to_json().dump();
  return knowledge_cache::hex(knowledge_cache::fnv(s.data(), s.size()));
}

inline void knowledge_cache::put(const std::string& key, std::span<const float> v) {
  if (id_.dim < 1) throw state_error("io::knowledge_cache::put: the cache has no identity (default-constructed)");
  if (static_cast<index_t>(v.size()) != id_.dim)
    throw shape_error("io::knowledge_cache::put: key '" + key + "' has a vector of " + std::to_string(v.size()) +
                      " values, the cache's dim is " + std::to_string(id_.dim));
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw value_error("io::knowledge_cache::put: key '" + key + "' has a non-finite value at position " + std::to_string(i));
  auto it = index_.find(key);
  if (it == index_.end()) {
    index_.emplace(key, keys_.size());
    keys_.push_back(key);
    data_.insert(data_.end(), v.begin(), v.end());
  } else {
    std::copy(v.begin(), v.end(), data_.begin() + static_cast<std::ptrdiff_t>(it->second * v.size()));
  }
}

inline std::span<const float> knowledge_cache::get(const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end()) throw value_error("io::knowledge_cache::get: no vector for key '" + key + "'");
  const auto d = static_cast<std::size_t>(id_.dim);
  return {data_.data() + it->second * d, d};
}

template <class T>
knowledge_table<T> knowledge_cache::table(std::span<const std::string> keys) const {
  const index_t d = id_.dim;
  knowledge_table<T> out;
  out.values.setZero(static_cast<index_t>(keys.size()), d);
  Eigen::Matrix<T, 1, Eigen::Dynamic> mean = Eigen::Matrix<T, 1, Eigen::Dynamic>::Zero(d);
  for (std::size_t k = 0; k < keys_.size(); ++k)
    for (index_t j = 0; j < d; ++j) mean(j) += static_cast<T>(data_[k * static_cast<std::size_t>(d) + static_cast<std::size_t>(j)]);
  if (!keys_.empty()) mean /= static_cast<T>(keys_.size());
  for (std::size_t r = 0; r < keys.size(); ++r) {
    auto it = index_.find(keys[r]);
    if (it == index_.end()) {
      out.values.row(static_cast<index_t>(r)) = mean;
      ++out.missing;
      if (out.missing_keys.size() < 20) out.missing_keys.push_back(keys[r]);
      continue;
    }
    for (index_t j = 0; j < d; ++j)
      out.values(static_cast<index_t>(r), j) = static_cast<T>(data_[it->second * static_cast<std::size_t>(d) + static_cast<std::size_t>(j)]);
  }
  return out;
}

inline void knowledge_cache::save(const std::filesystem::path& path, bool bf16) const {
  std::string payload;
  if (bf16) {
    payload.resize(data_.size() * 2);
    for (std::size_t i = 0; i < data_.size(); ++i) {
      const std::uint16_t h = to_bf16(data_[i]);
      payload[2 * i] = static_cast<char>(h & 0xff);
      payload[2 * i + 1] = static_cast<char>(h >> 8);
    }
  } else {
    payload.resize(data_.size() * 4);
    for (std::size_t i = 0; i < data_.size(); ++i) {
      const auto u = std::bit_cast<std::uint32_t>(data_[i]);
      for (int b = 0; b < 4; ++b) payload[4 * i + static_cast<std::size_t>(b)] = static_cast<char>((u >> (8 * b)) & 0xff);
    }
  }
  nlohmann::json head = {{"identity", id_.to_json()}, {"keys", keys_}, {"storage", bf16 ? "bf16" : "f32"},
                         {"payload_bytes", payload.size()}, {"payload_fnv1a64", hex(fnv(payload.data(), payload.size()))}};
  const std::string where = "io::knowledge_cache::save: " + path.string() + ": ";
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw io_error(where + "cannot open " + tmp.string() + " for writing");
    f << magic << '\n' << head.dump() << '\n';
    f.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    f.flush();
    if (!f) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw io_error(where + "write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw io_error(where + "rename failed: " + ec.message());
  }
}

inline knowledge_cache knowledge_cache::load(const std::filesystem::path& path) {
  const std::string where = "io::knowledge_cache::load: " + path.string() + ": ";
  std::ifstream f(path, std::ios::binary);
  if (!f) throw io_error(where + "cannot open");
  std::string line;
  if (!std::getline(f, line) || line != magic) throw io_error(where + "not a knowledge cache (bad first line)");
  if (!std::getline(f, line) || line.size() > (64u << 20)) throw io_error(where + "missing or oversized header");
  nlohmann::json head;
  try {
    head = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(where + "header: " + e.what());
  }
  knowledge_cache c;
  std::string storage;
  std::size_t bytes = 0;
  std::string sum;
  std::vector<std::string> keys;
  try {
    c.id_ = knowledge_identity::from_json(head.at("identity"));
    keys = head.at("keys").get<std::vector<std::string>>();
    storage = head.at("storage").get<std::string>();
    bytes = head.at("payload_bytes").get<std::size_t>();
    sum = head.at("payload_fnv1a64").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw parse_error(where + "header: " + e.what());
  }
  if (c.id_.dim < 1) throw io_error(where + "identity.dim must be >= 1");
  const std::size_t width = storage == "bf16" ? 2 : storage == "f32" ? 4 : 0;
  if (width == 0) throw io_error(where + "storage must be f32 or bf16, got '" + storage + "'");
  const std::size_t n = keys.size() * static_cast<std::size_t>(c.id_.dim);
  if (bytes != n * width) throw io_error(where + "payload_bytes " + std::to_string(bytes) + " does not fit keys x dim");
  std::string payload(bytes, '\0');
  f.read(payload.data(), static_cast<std::streamsize>(bytes));
  if (static_cast<std::size_t>(f.gcount()) != bytes) throw io_error(where + "truncated payload");
  if (f.peek() != std::char_traits<char>::eof()) throw io_error(where + "trailing bytes after the payload");
  if (hex(fnv(payload.data(), payload.size())) != sum) throw io_error(where + "payload checksum mismatch");
  c.data_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (width == 2) {
      c.data_[i] = from_bf16(static_cast<std::uint16_t>(static_cast<unsigned char>(payload[2 * i]) |
                                                        (static_cast<unsigned char>(payload[2 * i + 1]) << 8)));
    } else {
      std::uint32_t u = 0;
      for (int b = 0; b < 4; ++b) u |= static_cast<std::uint32_t>(static_cast<unsigned char>(payload[4 * i + static_cast<std::size_t>(b)])) << (8 * b);
      c.data_[i] = std::bit_cast<float>(u);
    }
    if (!std::isfinite(c.data_[i])) throw io_error(where + "non-finite value in the vector of '" + keys[i / static_cast<std::size_t>(c.id_.dim)] + "'");
  }
  for (std::size_t k = 0; k < keys.size(); ++k)
    if (!c.index_.emplace(keys[k], k).second) throw io_error(where + "key '" + keys[k] + "' is listed twice");
  c.keys_ = std::move(keys);
  return c;
}

inline knowledge_cache knowledge_cache::load(const std::filesystem::path& path, const knowledge_identity& expected) {
  knowledge_cache c = load(path);
  if (!(c.identity() == expected))
    throw io_error("io::knowledge_cache::load: " + path.string() + " was computed as " + c.identity().to_string() +
                   " but " + expected.to_string() + " is expected (another model, source, prompt version or data: recompute it)");
  return c;
}

}  // namespace recblocks::io
