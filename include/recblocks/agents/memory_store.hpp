#pragma once
/// \file memory_store.hpp
/// `memory_store`: an agent's long-term memory — per user, persisted atomically, recalled by
/// embedding similarity and recency, bounded in size, deletable on request.
///
/// Each entry is a text of a kind ("preference", "session", "summary", ...) with its embedding and
/// a logical time (the caller's clock: turns, sessions or seconds). Recall ranks a user's entries by
///
///     score(e) = cos(embed(query), e.embedding) + recency_weight * 0.5^((now - e.time) / half_life)
///
/// and returns the best `k`. When a user holds more than `max_entries`, the `summarise_batch`
/// oldest entries are replaced by one "summary" entry made by the summariser (a callable — e.g. an
/// LLM prompt; the default joins the texts, cut to `summary_bytes`), or simply dropped
/// (`summarise = false`): counted in `stats()` either way.
///
/// Persistence: one file per user, `<dir>/<fnv64(user) hex>.json`, holding
/// `{"format": "recblocks.agents.memory", "version": 1, "user", "next_id", "entries", "checksum"}`
/// where `checksum` is the FNV-1a 64 of the compact dump of `entries`. Every change writes a
/// temporary file in the same folder, fsyncs it, renames it over the old file and fsyncs the folder,
/// so a crash (kill -9, power loss) leaves the old or the new file, never a mix. On `open(user)`, a
/// file that is truncated, not JSON, of another format or version, of another user or with a wrong
/// checksum is **refused**: the user starts with an empty memory, the refused file is kept aside as
/// `<file>.refused` (never silently overwritten) and the returned `memory_load` says why
/// (`stats().refused` counts it). `forget(user)` deletes the user's entries and file.
///
/// Requires: `max_entries >= 2`, `2 <= summarise_batch < max_entries` (1 allowed when evicting), `half_life > 0`, an embedder
/// returning vectors of one length. Errors: `io_error` when a file cannot be written,
/// `value_error` for bad options or an embedding of another length.
/// Thread-safety: none (one store per agent process); files of one folder must not be shared by two
/// live stores.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/hash.hpp"

namespace recblocks::agents {

/// One remembered text.
struct memory_entry {
  std::int64_t id = 0;
  std::string kind;               ///< "preference", "session", "summary", ...
  std::string text;
  std::vector<float> embedding;
  std::int64_t time = 0;          ///< the caller's logical time
};

/// A recalled entry with its score (see the file comment).
struct recalled_memory {
  memory_entry entry;
  double score = 0.0;
};

/// How `open` found a user's file.
struct memory_load {
  enum class status { empty, loaded, refused } state = status::empty;
  std::size_t entries = 0;
  std::string reason;             ///< for `refused`: what was wrong with the file
};

/// Options of `memory_store`.
struct memory_options {
  std::size_t max_entries = 32;       ///< per user; over it, the oldest are summarised or evicted
  std::size_t summarise_batch = 8;    ///< entries folded into one summary at a time
  bool summarise = true;              ///< false: evict the oldest instead
  std::size_t summary_bytes = 600;    ///< the default summariser's length cap
  double recency_weight = 0.2;        ///< weight of the recency term
  double half_life = 8.0;             ///< time units after which recency halves
};

/// Per-user long-term memory; see the file comment.
class memory_store {
 public:
  using embed_fn = std::function<std::vector<float>(const std::string&)>;
  using summarise_fn = std::function<std::string(const std::vector<memory_entry>&)>;

  /// Counters.
  struct counters {
    long written = 0, refused = 0, summarised = 0, evicted = 0, forgotten = 0;
  };

  memory_store(std::filesystem::path dir, embed_fn embed, memory_options options = {}, summarise_fn summariser = {})
      : dir_(std::move(dir)), embed_(std::move(embed)), options_(options), summarise_(std::move(summariser)) {
    if (options_.max_entries < 2) throw value_error("[agents::memory_store] max_entries must be >= 2");
    if (options_.summarise_batch < (options_.summarise ? 2u : 1u) || options_.summarise_batch >= options_.max_entries)
      throw value_error("[agents::memory_store] summarise_batch must be in [2 (1 when evicting), max_entries), got " +
                        std::to_string(options_.summarise_batch));
    if (!(options_.half_life > 0.0)) throw value_error("[agents::memory_store] half_life must be > 0");
    if (!embed_) throw value_error("[agents::memory_store] an embedder is required");
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (!std::filesystem::is_directory(dir_))
      throw io_error("[agents::memory_store] cannot create the folder " + dir_.string());
  }

  /// The file of `user`.
  std::filesystem::path file_of(const std::string& user) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx.json", static_cast<unsigned long long>(hash_string(user)));
    return dir_ / buf;
  }

  /// Loads `user`'s memory (once; later calls return the cached state). See the file comment.
  memory_load open(const std::string& user) {
    if (auto it = loads_.find(user); it != loads_.end()) return it->second;
    memory_load out;
    auto& entries = users_[user];
    entries.clear();
    const auto path = file_of(user);
    if (std::filesystem::exists(path)) {
      std::string reason = read_file(path, user, entries, next_id_[user]);
      if (reason.empty()) {
        out.state = memory_load::status::loaded;
        out.entries = entries.size();
      } else {
        entries.clear();
        next_id_[user] = 0;
        out.state = memory_load::status::refused;
        out.reason = reason;
        ++stats_.refused;
        std::error_code ec;
        std::filesystem::rename(path, path.string() + ".refused", ec);
      }
    }
    loads_[user] = out;
    return out;
  }

  /// Adds an entry for `user` (embedding `text`), enforces the bound, persists. Returns its id.
  std::int64_t remember(const std::string& user, std::string kind, std::string text, std::int64_t time) {
    open(user);
    auto& entries = users_[user];
    memory_entry e{next_id_[user]++, std::move(kind), std::move(text), {}, time};
    e.embedding = checked_embedding(e.text);
    entries.push_back(std::move(e));
    if (entries.size() > options_.max_entries) shrink(user, entries);
    persist(user);
    return entries.back().id;
  }

  /// The best `k` entries of `user` for `query` at time `now`, best first (ties: newer first).
  std::vector<recalled_memory> recall(const std::string& user, const std::string& query, std::size_t k, std::int64_t now) {
    open(user);
    const auto& entries = users_[user];
    std::vector<recalled_memory> out;
    if (entries.empty() || k == 0) return out;
    const std::vector<float> q = checked_embedding(query);
    for (const auto& e : entries) {
      const double age = std::max<double>(0.0, static_cast<double>(now - e.time));
      out.push_back({e, cosine(q, e.embedding) + options_.recency_weight * std::pow(0.5, age / options_.half_life)});
    }
    std::stable_sort(out.begin(), out.end(), [](const recalled_memory& a, const recalled_memory& b) {
      return a.score > b.score || (a.score == b.score && a.entry.time > b.entry.time);
    });
    if (out.size() > k) out.resize(k);
    return out;
  }

  /// Deletes every entry of `user` and the file (and a kept-aside `.refused` file).
  void forget(const std::string& user) {
    users_.erase(user);
    next_id_.erase(user);
    loads_[user] = memory_load{};
    std::error_code ec;
    std::filesystem::remove(file_of(user), ec);
    std::filesystem::remove(file_of(user).string() + ".refused", ec);
    ++stats_.forgotten;
  }

  /// The entries of `user` (oldest first).
  const std::vector<memory_entry>& entries(const std::string& user) {
    open(user);
    return users_[user];
  }

  const counters& stats() const noexcept { return stats_; }
  const memory_options& options() const noexcept { return options_; }

 private:
  std::vector<float> checked_embedding(const std::string& text) {
    std::vector<float> v = embed_(text);
    if (v.empty()) throw value_error("[agents::memory_store] the embedder returned an empty vector");
    if (dim_ == 0) dim_ = v.size();
    if (v.size() != dim_)
      throw value_error("[agents::memory_store] embedding of length " + std::to_string(v.size()) + ", expected " +
                        std::to_string(dim_));
    return v;
  }

  static double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return 0.0;
    double d = 0, na = 0, nb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      d += double(a[i]) * b[i];
      na += double(a[i]) * a[i];
      nb += double(b[i]) * b[i];
    }
    return na > 0 && nb > 0 ? d / std::sqrt(na * nb) : 0.0;
  }

  void shrink(const std::string& user, std::vector<memory_entry>& entries) {
    while (entries.size() > options_.max_entries) {
      const std::size_t n = std::min(options_.summarise_batch, entries.size() - 1);
      std::vector<memory_entry> old(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(n));
      entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(n));
      if (!options_.summarise) {
        stats_.evicted += static_cast<long>(n);
        continue;
      }
      std::string text = summarise_ ? summarise_(old) : default_summary(old);
      memory_entry s{next_id_[user]++, "summary", std::move(text), {}, old.back().time};
      s.embedding = checked_embedding(s.text);
      entries.insert(entries.begin(), std::move(s));
      stats_.summarised += static_cast<long>(n);
    }
  }

  std::string default_summary(const std::vector<memory_entry>& old) const {
    std::string s = "Earlier:";
    for (const auto& e : old) s += " " + e.text + (e.text.empty() || e.text.back() == '.' ? "" : ".");
    if (s.size() > options_.summary_bytes) {
      std::size_t cut = options_.summary_bytes;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;  // UTF-8 boundary
      s = s.substr(0, cut) + "...";
    }
    return s;
  }

  static nlohmann::json to_json_entries(const std::vector<memory_entry>& entries) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : entries)
      a.push_back({{"id", e.id}, {"kind", e.kind}, {"text", e.text}, {"embedding", e.embedding}, {"time", e.time}});
    return a;
  }

  static std::string checksum(const nlohmann::json& entries) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash_string(entries.dump())));
    return buf;
  }

  /// "" when `path` was read into `entries`, else why it was refused.
  static std::string read_file(const std::filesystem::path& path, const std::string& user,
                               std::vector<memory_entry>& entries, std::int64_t& next_id) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot open " + path.string();
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return "not a JSON object (truncated or corrupt)";
    if (j.value("format", std::string()) != "recblocks.agents.memory") return "not a recblocks memory file";
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != 1)
      return "format version " + (j.contains("version") ? j["version"].dump() : std::string("(none)")) +
             ", this build reads version 1";
    if (j.value("user", std::string()) != user) return "the file belongs to another user";
    if (!j.contains("entries") || !j["entries"].is_array()) return "no entries list";
    if (j.value("checksum", std::string()) != checksum(j["entries"])) return "checksum mismatch";
    try {
      for (const auto& e : j["entries"])
        entries.push_back({e.at("id").get<std::int64_t>(), e.at("kind").get<std::string>(), e.at("text").get<std::string>(),
                           e.at("embedding").get<std::vector<float>>(), e.at("time").get<std::int64_t>()});
      next_id = j.at("next_id").get<std::int64_t>();
    } catch (const std::exception& ex) {
      entries.clear();
      return std::string("malformed entry: ") + ex.what();
    }
    return "";
  }

  void persist(const std::string& user) {
    const auto path = file_of(user);
    const nlohmann::json entries = to_json_entries(users_[user]);
    const nlohmann::json doc = {{"format", "recblocks.agents.memory"}, {"version", 1}, {"user", user},
                                {"next_id", next_id_[user]}, {"entries", entries}, {"checksum", checksum(entries)}};
    const std::string bytes = doc.dump();
    const std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw io_error("[agents::memory_store] cannot write " + tmp);
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w <= 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw io_error("[agents::memory_store] short write to " + tmp);
      }
      done += static_cast<std::size_t>(w);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      throw io_error("[agents::memory_store] cannot replace " + path.string());
    }
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    ++stats_.written;
  }

  std::filesystem::path dir_;
  embed_fn embed_;
  memory_options options_;
  summarise_fn summarise_;
  std::size_t dim_ = 0;
  std::map<std::string, std::vector<memory_entry>> users_;
  std::map<std::string, std::int64_t> next_id_;
  std::map<std::string, memory_load> loads_;
  counters stats_;
};

}  // namespace recblocks::agents
