#pragma once
/// \file recorded_client.hpp
/// `recorded_client`: recorded LLM answers as shipped data. A prompt set is run once against a
/// live server and its answers are stored in one small compressed file next to the code that uses
/// them; everyone else replays that file offline, reproducibly, with no server.
///
/// The file (`*.jsonl.gz`, or `*.jsonl` uncompressed) holds JSON lines: first a header
///
///     {"format": "recblocks.llm.records", "version": 1, "model": "gemma-3-270m-q4_k_m",
///      "model_sha256": "a5fd...", "prompt_version": "llm_chat/2", "recorded_at": "2026-12-06T00:10:00Z",
///      "server": "llama.cpp llama-server (llama-cpp-python 0.3.36)", "records": 3}
///
/// then one `{"key", "request", "response"}` per answer (`key`: `to_hex(request_hash(request))`),
/// in the order they were asked. gzip needs zlib (target `recblocks::llm_records`, which defines
/// `RECBLOCKS_HAVE_ZLIB`); without it only uncompressed files are read or written.
///
/// Modes (`record_mode`):
/// - `replay` (the default): the file must exist. Its header must name the expected model and
///   prompt version (`record_meta`; an empty expected model accepts any), else the constructor
///   throws `llm_error(config)` saying what was recorded and what was asked, unless
///   `recorded_options::allow_other_model` / `allow_other_prompt_version`. `chat(r)` answers from
///   the file; a request that is not there throws `llm_error(replay_miss)` naming its key, the start
///   of its last message, the file and how to re-record. The stored request is compared in full, so
///   a hash collision is a miss.
/// - `live`: every `chat(r)` goes to the live client (any `llm_client`, usually `http_client`);
///   each answer is kept, and `save()` writes the file (atomically: a temporary file renamed over
///   it; missing parent directories are created) with `expected` as the header and `recorded_at` set to now (UTC). A live book starts
///   empty, so the file holds exactly the prompt set of the last recording.
///
/// `record_meta::from_env(prompt_version)` fills the model from `RECBLOCKS_LLM_MODEL`, its checksum
/// from `RECBLOCKS_LLM_MODEL_SHA256` and the server from `RECBLOCKS_LLM_SERVER_VERSION` (all set by
/// `tools/llm_server.sh env`).
///
/// Thread safety: `chat` may be called concurrently (a mutex guards the book); `save` too.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "any_client.hpp"
#include "chat_request.hpp"
#include "chat_response.hpp"
#include "llm_error.hpp"
#include "request_hash.hpp"

#if defined(RECBLOCKS_HAVE_ZLIB)
#include <zlib.h>
#endif

namespace recblocks::llm {

/// What a record file was made with (its header; see the file comment).
struct record_meta {
  std::string model;           ///< model name (e.g. the GGUF file's stem)
  std::string model_sha256;    ///< checksum of the weights file ("" when unknown)
  std::string prompt_version;  ///< the caller's version of its prompt set, e.g. "llm_chat/2"
  std::string recorded_at;     ///< ISO 8601 UTC, set by `save`
  std::string server;          ///< server name and version

  /// model, model_sha256 and server from RECBLOCKS_LLM_MODEL, RECBLOCKS_LLM_MODEL_SHA256 and
  /// RECBLOCKS_LLM_SERVER_VERSION; `prompt_version` as given.
  static record_meta from_env(std::string prompt_version);
};

/// Replay a record file, or ask a live client and record.
enum class record_mode { replay, live };

/// Options of `recorded_client`.
struct recorded_options {
  record_mode mode = record_mode::replay;
  bool allow_other_model = false;           ///< replay a file recorded with another model
  bool allow_other_prompt_version = false;  ///< replay a file recorded for another prompt version
};

/// Recorded answers as data (see the file comment).
class recorded_client {
 public:
  /// Replay: loads `file` and checks its header against `expected`. Live: asks `live` (required)
  /// and records into a new book whose header is `expected`.
  recorded_client(std::filesystem::path file, record_meta expected, recorded_options options = {},
                  any_client live = {});

  chat_response chat(const chat_request& r);

  /// Writes the book to the file (live mode; in replay mode it rewrites the same content).
  /// Throws `io_error` when the file cannot be written.
  void save();

  /// The header of the book (replay: as read; live: `expected`, `recorded_at` set by `save`).
  const record_meta& meta() const noexcept { return meta_; }
  record_mode mode() const noexcept { return options_.mode; }
  std::size_t size() const;
  long hits() const noexcept { return hits_.load(); }
  long recorded() const noexcept { return recorded_.load(); }
  const std::filesystem::path& file() const noexcept { return file_; }

  /// Reads a record file: its header and records (key -> (request, response)), in file order.
  static std::pair<record_meta, std::vector<std::pair<chat_request, chat_response>>> read(
      const std::filesystem::path& file);

 private:
  static std::string read_bytes(const std::filesystem::path& file);
  static void write_bytes(const std::filesystem::path& file, const std::string& bytes);
  static bool is_gz(const std::filesystem::path& file);

  std::filesystem::path file_;
  record_meta meta_;
  recorded_options options_;
  any_client live_;
  mutable std::mutex mutex_;
  std::vector<std::pair<chat_request, chat_response>> records_;  // file order
  std::multimap<std::uint64_t, std::size_t> index_;               // hash -> position
  std::atomic<long> hits_{0}, recorded_{0};
};

// ---- implementation ----------------------------------------------------------------------------

inline record_meta record_meta::from_env(std::string prompt_version) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  record_meta m;
  m.model = env("RECBLOCKS_LLM_MODEL");
  m.model_sha256 = env("RECBLOCKS_LLM_MODEL_SHA256");
  m.server = env("RECBLOCKS_LLM_SERVER_VERSION");
  m.prompt_version = std::move(prompt_version);
  return m;
}

inline bool recorded_client::is_gz(const std::filesystem::path& file) { return file.extension() == ".gz"; }

inline std::string recorded_client::read_bytes(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    throw llm_error(llm_error_kind::config,
                    "recorded_client: no record file " + file.string() +
                        " (record it with a live server: tools/llm_server.sh start, then --live)",
                    0, 0);
  if (is_gz(file)) {
#if defined(RECBLOCKS_HAVE_ZLIB)
    gzFile in = gzopen(file.c_str(), "rb");
    if (!in) throw io_error("[llm::recorded_client] cannot open " + file.string());
    std::string out;
    char buf[1 << 15];
    int n = 0;
    while ((n = gzread(in, buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      if (out.size() > (std::size_t{256} << 20)) {
        gzclose(in);
        throw io_error("[llm::recorded_client] " + file.string() + " decompresses to more than 256 MiB");
      }
    }
    int err = 0;
    const char* msg = gzerror(in, &err);
    const std::string what = msg ? msg : "";
    gzclose(in);
    if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
      throw io_error("[llm::recorded_client] " + file.string() + " is not a valid gzip file: " + what);
    return out;
#else
    throw llm_error(llm_error_kind::config,
                    "recorded_client: " + file.string() + " is gzip-compressed but recblocks was built without zlib "
                    "(link recblocks::llm_records)", 0, 0);
#endif
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io_error("[llm::recorded_client] cannot open " + file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void recorded_client::write_bytes(const std::filesystem::path& file, const std::string& bytes) {
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);  // a failure shows up as the write error below
  }
  auto tmp = file;
  tmp += ".tmp." + to_hex(std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32));
  bool ok = false;
  if (is_gz(file)) {
#if defined(RECBLOCKS_HAVE_ZLIB)
    gzFile out = gzopen(tmp.c_str(), "wb9");
    if (out) {
      ok = bytes.empty() || gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                                static_cast<int>(bytes.size());
      ok = (gzclose(out) == Z_OK) && ok;
    }
#else
    throw llm_error(llm_error_kind::config,
                    "recorded_client: cannot write " + file.string() + ": built without zlib (link recblocks::llm_records)",
                    0, 0);
#endif
  } else {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.flush();
    ok = static_cast<bool>(out);
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, file, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    throw io_error("[llm::recorded_client] cannot write " + file.string());
  }
}

inline std::pair<record_meta, std::vector<std::pair<chat_request, chat_response>>> recorded_client::read(
    const std::filesystem::path& file) {
  const std::string text = read_bytes(file);
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  record_meta meta;
  std::vector<std::pair<chat_request, chat_response>> records;
  auto bad = [&](const std::string& what) {
    throw llm_error(llm_error_kind::config,
                    "recorded_client: " + file.string() + " line " + std::to_string(line_no) + ": " + what, 0, 0);
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
    try {
      if (line_no == 1) {
        if (j.value("format", "") != "recblocks.llm.records") bad("not a recblocks.llm.records header");
        if (j.value("version", 0) != 1) bad("unsupported version " + j.value("version", nlohmann::json()).dump());
        meta.model = j.value("model", "");
        meta.model_sha256 = j.value("model_sha256", "");
        meta.prompt_version = j.value("prompt_version", "");
        meta.recorded_at = j.value("recorded_at", "");
        meta.server = j.value("server", "");
        continue;
      }
      records.emplace_back(j.at("request").get<chat_request>(), j.at("response").get<chat_response>());
    } catch (const llm_error&) {
      throw;
    } catch (const std::exception& e) {
      bad(std::string("malformed record: ") + e.what());
    }
  }
  if (line_no == 0) bad("empty file");
  return {std::move(meta), std::move(records)};
}

inline recorded_client::recorded_client(std::filesystem::path file, record_meta expected, recorded_options options,
                                        any_client live)
    : file_(std::move(file)), meta_(std::move(expected)), options_(options), live_(std::move(live)) {
  if (options_.mode == record_mode::live) {
    if (!live_)
      throw llm_error(llm_error_kind::config, "recorded_client: live mode needs a live client (none given)", 0, 0);
    return;
  }
  auto [meta, records] = read(file_);
  auto describe = [](const record_meta& m) {
    return "model \"" + m.model + "\"" + (m.model_sha256.empty() ? "" : " (sha256 " + m.model_sha256.substr(0, 12) + ")") +
           ", prompt version \"" + m.prompt_version + "\"";
  };
  const bool model_ok = meta_.model.empty() || meta.model == meta_.model ||
                        (!meta_.model_sha256.empty() && meta.model_sha256 == meta_.model_sha256);
  const bool prompt_ok = meta.prompt_version == meta_.prompt_version;
  if ((!model_ok && !options_.allow_other_model) || (!prompt_ok && !options_.allow_other_prompt_version))
    throw llm_error(llm_error_kind::config,
                    "recorded_client: " + file_.string() + " was recorded with " + describe(meta) + " on " +
                        meta.recorded_at + "; asked for " + describe(meta_) +
                        ". Re-record with a live server (--live), or allow it explicitly "
                        "(recorded_options::allow_other_model / allow_other_prompt_version)",
                    0, 0);
  meta_ = std::move(meta);
  records_ = std::move(records);
  for (std::size_t i = 0; i < records_.size(); ++i) index_.emplace(request_hash(records_[i].first), i);
}

inline std::size_t recorded_client::size() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

inline chat_response recorded_client::chat(const chat_request& r) {
  const std::uint64_t key = request_hash(r);
  if (options_.mode == record_mode::live) {
    chat_response resp = live_.chat(r);
    std::lock_guard lock(mutex_);
    auto range = index_.equal_range(key);
    for (auto it = range.first; it != range.second; ++it)
      if (records_[it->second].first == r) {
        records_[it->second].second = resp;
        ++recorded_;
        return resp;
      }
    index_.emplace(key, records_.size());
    records_.emplace_back(r, resp);
    ++recorded_;
    return resp;
  }
  {
    std::lock_guard lock(mutex_);
    auto range = index_.equal_range(key);
    for (auto it = range.first; it != range.second; ++it)
      if (records_[it->second].first == r) {
        ++hits_;
        return records_[it->second].second;
      }
  }
  std::string last = r.messages.empty() ? std::string() : r.messages.back().content;
  if (last.size() > 100) last = last.substr(0, 100) + "...";
  throw llm_error(llm_error_kind::replay_miss,
                  "recorded_client: no recorded answer for request " + to_hex(key) + " (last message: \"" +
                      printable(last, 120) + "\") in " + file_.string() + " (model \"" + meta_.model +
                      "\", prompt version \"" + meta_.prompt_version + "\", recorded " + meta_.recorded_at +
                      "). The prompts changed: re-record with a live server (tools/llm_server.sh start; --live)",
                  0, 0);
}

inline void recorded_client::save() {
  std::lock_guard lock(mutex_);
  if (options_.mode == record_mode::live) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    meta_.recorded_at = buf;
  }
  std::string out = nlohmann::json{{"format", "recblocks.llm.records"},
                                   {"version", 1},
                                   {"model", meta_.model},
                                   {"model_sha256", meta_.model_sha256},
                                   {"prompt_version", meta_.prompt_version},
                                   {"recorded_at", meta_.recorded_at},
                                   {"server", meta_.server},
                                   {"records", records_.size()}}
                        .dump() +
                    "\n";
  for (const auto& [req, resp] : records_)
    out += nlohmann::json{{"key", to_hex(request_hash(req))}, {"request", req}, {"response", resp}}.dump() + "\n";
  write_bytes(file_, out);
}

}  // namespace recblocks::llm
