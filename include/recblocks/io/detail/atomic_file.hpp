#pragma once
/// \file atomic_file.hpp
/// Whole-file reads with a size cap, and atomic writes: the bytes go to a temporary file in the
/// target's directory, are flushed to disk (fsync on POSIX) and renamed over the target, so a
/// reader sees either the old or the new file, never a partial one. Errors are `io_error`s naming
/// the path; a failed write removes its temporary file.
///
/// Fault injection (tests only): when `fault_hook` is set it is called with the name of every
/// write/rename boundary (`"<file>: temporary created"`, `"<file>: temporary written"`,
/// `"<file>: renamed"`, and the checkpoint's own points), so a test can kill the process exactly there.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "../../core/error.hpp"

namespace recblocks::io::detail {

/// Called at every write/rename boundary when set (see file docs); never set outside tests.
inline void (*fault_hook)(const char* point) = nullptr;

/// Reports boundary `point` of file `name` to `fault_hook`.
inline void fault_point(const std::string& name, const char* point) {
  if (fault_hook) fault_hook((name + ": " + point).c_str());
}

/// Makes the directory entry of a rename durable (fsync of the directory on POSIX; best effort).
inline void sync_directory(const std::filesystem::path& dir) {
#if defined(__unix__) || defined(__APPLE__)
  const std::string d = dir.empty() ? std::string(".") : dir.string();
  if (std::FILE* f = std::fopen(d.c_str(), "r")) {
    (void)::fsync(::fileno(f));
    std::fclose(f);
  }
#else
  (void)dir;
#endif
}

/// Whether `name` is a temporary file name of `write_file_atomically` (`<target>.tmp-<pid>-<n>`).
inline bool is_temporary_name(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

/// The whole file; `io_error` if it cannot be opened or read, or is larger than `max_bytes`.
inline std::string read_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw io_error("io: cannot read '" + path.string() + "': " + ec.message());
  if (size > max_bytes)
    throw io_error("io: '" + path.string() + "' has " + std::to_string(size) + " bytes, more than the " +
                   std::to_string(max_bytes) + " allowed");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw io_error("io: cannot open '" + path.string() + "'");
  std::string out(static_cast<std::size_t>(size), '\0');
  const std::size_t got = size ? std::fread(out.data(), 1, out.size(), f) : 0;
  const bool more = std::fgetc(f) != EOF;
  std::fclose(f);
  if (got != out.size() || more) throw io_error("io: '" + path.string() + "' changed size while being read");
  return out;
}

/// Writes `bytes` to `path` atomically (see file docs).
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  static std::atomic<std::uint64_t> counter{0};
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(
#if defined(__unix__) || defined(__APPLE__)
                       static_cast<std::uint64_t>(::getpid())
#else
                       std::uint64_t{0}
#endif
                       ) + "-" + std::to_string(counter.fetch_add(1));
  const std::string name = path.filename().string();
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw io_error("io: cannot create '" + tmp.string() + "'");
  fault_point(name, "temporary created");
  const std::size_t half = bytes.size() / 2;
  bool ok = half == 0 || std::fwrite(bytes.data(), 1, half, f) == half;
  ok = ok && std::fflush(f) == 0;
  if (ok) fault_point(name, "temporary half written");
  ok = ok && (bytes.size() == half || std::fwrite(bytes.data() + half, 1, bytes.size() - half, f) == bytes.size() - half);
  ok = std::fflush(f) == 0 && ok;
#if defined(__unix__) || defined(__APPLE__)
  ok = ::fsync(::fileno(f)) == 0 && ok;
#endif
  ok = std::fclose(f) == 0 && ok;
  if (ok) fault_point(name, "temporary written");
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    throw io_error("io: cannot write '" + path.string() + "'" + (ok ? ": rename failed" : ": write failed (disk full?)"));
  }
  fault_point(name, "renamed");
}

}  // namespace recblocks::io::detail
