#pragma once
/// \file atomic_file.hpp
/// Whole-file reads with a size cap, and atomic writes: the bytes go to a temporary file in the
/// target's directory, are flushed to disk (fsync on POSIX) and renamed over the target, so a
/// reader sees either the old or the new file, never a partial one. Errors are `io_error`s naming
/// the path; a failed write removes its temporary file.

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
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw io_error("io: cannot create '" + tmp.string() + "'");
  bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fflush(f) == 0 && ok;
#if defined(__unix__) || defined(__APPLE__)
  ok = ::fsync(::fileno(f)) == 0 && ok;
#endif
  ok = std::fclose(f) == 0 && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    throw io_error("io: cannot write '" + path.string() + "'" + (ok ? ": rename failed" : ": write failed (disk full?)"));
  }
}

}  // namespace recblocks::io::detail
