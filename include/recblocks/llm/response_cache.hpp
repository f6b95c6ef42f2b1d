#pragma once
/// \file response_cache.hpp
/// `response_cache`: chat responses keyed by the canonical request (`request_hash.hpp`), in a
/// directory or in memory.
///
/// On disk: one file per entry, `<dir>/<16 hex digits of request_hash>.json`, holding
/// `{"key", "scope", "request", "response"}` as pretty JSON (diffable, so a recording can be
/// committed next to an example). A write goes to a uniquely named temporary file in the same
/// directory and is renamed over the entry, so a reader sees the old entry or the new one, never a
/// half-written file; concurrent readers and writers (threads or processes) are safe. A lookup
/// compares the stored request with the asked one, so a hash collision is a miss, not a wrong
/// answer. An unreadable or corrupt entry is a miss (counted in `stats().corrupt`) and is replaced
/// by the next `put`.
///
/// In memory (`response_cache::in_memory()`): the same semantics in a map.
///
/// Thread safety: every member function may be called concurrently.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "chat_response.hpp"
#include "request_hash.hpp"

namespace recblocks::llm {

/// A request-keyed store of chat responses (see the file comment).
class response_cache {
 public:
  /// Counters since construction.
  struct stats_t {
    long hits = 0, misses = 0, puts = 0, corrupt = 0;
  };

  /// A file-backed cache in `dir` (created if missing; throws `recblocks::io_error` if it cannot be).
  explicit response_cache(std::filesystem::path dir);

  /// A cache that lives in memory only.
  static response_cache in_memory();

  response_cache(const response_cache&) = delete;
  response_cache& operator=(const response_cache&) = delete;
  response_cache(response_cache&& o) noexcept;

  /// The stored response for `r` in `scope`, or nullopt.
  std::optional<chat_response> get(const chat_request& r, std::string_view scope = {}) const;

  /// Stores (or replaces) the response for `r` in `scope`. Throws `io_error` when the file cannot be
  /// written (the entry is then left as it was).
  void put(const chat_request& r, const chat_response& resp, std::string_view scope = {});

  /// Number of entries.
  std::size_t size() const;

  /// The entry file of a request (file-backed caches only; empty path in memory).
  std::filesystem::path path_for(const chat_request& r, std::string_view scope = {}) const;

  const std::filesystem::path& directory() const noexcept { return dir_; }
  bool is_in_memory() const noexcept { return dir_.empty(); }
  stats_t stats() const noexcept;

 private:
  response_cache() = default;
  static nlohmann::json entry(const chat_request& r, const chat_response& resp, std::string_view scope);

  std::filesystem::path dir_;
  mutable std::mutex mutex_;                    // guards memory_
  std::map<std::uint64_t, std::string> memory_;  // key -> entry dump
  mutable std::atomic<long> hits_{0}, misses_{0}, puts_{0}, corrupt_{0};
  std::atomic<std::uint64_t> tmp_counter_{0};
  std::uint64_t tmp_salt_ = 0;
};

// ---- implementation ----------------------------------------------------------------------------

inline response_cache::response_cache(std::filesystem::path dir) : dir_(std::move(dir)) {
  if (dir_.empty()) throw value_error("[llm::response_cache] empty directory (use response_cache::in_memory())");
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_))
    throw io_error("[llm::response_cache] cannot create directory " + dir_.string() + ": " + ec.message());
  tmp_salt_ = std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32);
}

inline response_cache response_cache::in_memory() { return response_cache(); }

inline response_cache::response_cache(response_cache&& o) noexcept
    : dir_(std::move(o.dir_)),
      memory_(std::move(o.memory_)),
      hits_(o.hits_.load()),
      misses_(o.misses_.load()),
      puts_(o.puts_.load()),
      corrupt_(o.corrupt_.load()),
      tmp_counter_(o.tmp_counter_.load()),
      tmp_salt_(o.tmp_salt_) {}

inline nlohmann::json response_cache::entry(const chat_request& r, const chat_response& resp, std::string_view scope) {
  return nlohmann::json{{"key", to_hex(request_hash(r, scope))},
                        {"scope", std::string(scope)},
                        {"request", r},
                        {"response", resp}};
}

inline std::filesystem::path response_cache::path_for(const chat_request& r, std::string_view scope) const {
  if (dir_.empty()) return {};
  return dir_ / (to_hex(request_hash(r, scope)) + ".json");
}

inline std::optional<chat_response> response_cache::get(const chat_request& r, std::string_view scope) const {
  std::string text;
  if (dir_.empty()) {
    std::lock_guard lock(mutex_);
    auto it = memory_.find(request_hash(r, scope));
    if (it != memory_.end()) text = it->second;
  } else {
    std::ifstream in(path_for(r, scope), std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
  }
  if (text.empty()) {
    ++misses_;
    return std::nullopt;
  }
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.at("scope").get<std::string>() != scope || j.at("request").get<chat_request>() != r) {
      ++misses_;  // a hash collision
      return std::nullopt;
    }
    auto resp = j.at("response").get<chat_response>();
    ++hits_;
    return resp;
  } catch (const std::exception&) {
    ++corrupt_;
    ++misses_;
    return std::nullopt;
  }
}

inline void response_cache::put(const chat_request& r, const chat_response& resp, std::string_view scope) {
  const auto j = entry(r, resp, scope);
  if (dir_.empty()) {
    std::lock_guard lock(mutex_);
    memory_[request_hash(r, scope)] = j.dump();
    ++puts_;
    return;
  }
  const auto target = path_for(r, scope);
  auto tmp = target;
  tmp += ".tmp." + to_hex(tmp_salt_ ^ (++tmp_counter_ * 0x9e3779b97f4a7c15ULL));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump(2) << '\n';
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw io_error("[llm::response_cache] cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw io_error("[llm::response_cache] cannot rename into " + target.string() + ": " + ec.message());
  }
  ++puts_;
}

inline std::size_t response_cache::size() const {
  if (dir_.empty()) {
    std::lock_guard lock(mutex_);
    return memory_.size();
  }
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_))
    if (e.path().extension() == ".json") ++n;
  return n;
}

inline response_cache::stats_t response_cache::stats() const noexcept {
  return {hits_.load(), misses_.load(), puts_.load(), corrupt_.load()};
}

}  // namespace recblocks::llm
