#pragma once
/// \file csv_reader.hpp
/// An RFC 4180 CSV reader with typed cell access and exact error positions.
///
/// Format accepted:
/// - records end with LF, CRLF or end of input; blank lines (no characters at all) are skipped;
/// - fields are separated by `delimiter` (',' by default; '\t' for TSV, '|' for MovieLens `u.user`);
/// - a field that starts with `quote` ('"') is quoted: it may hold delimiters, CR/LF and doubled
///   quotes (`""` = one `"`); after the closing quote only a delimiter or the end of the record may
///   follow. A quote inside an unquoted field is an ordinary character. `quote = '\0'` turns quoting
///   off (files such as MovieLens `u.item` where quotes never delimit);
/// - a UTF-8 byte-order mark at the very start is stripped; every cell must be valid UTF-8 (no
///   overlong forms, surrogates or code points above U+10FFFF) unless `validate_utf8 = false`, so that
///   values can go into JSON (encoders, schemas). Latin-1 files: convert with `latin1_to_utf8` first;
/// - with `header = true` the first record names the columns; every record must have as many
///   fields as the first one.
///
/// Errors (`parse_error`, message `"<file>:<line>:<column>: <what>"`, line = 1-based physical line,
/// column = 1-based field number): empty input, wrong field count (column = first missing or extra
/// field), an unterminated quote (line and field where it opened), a character after a closing
/// quote, invalid UTF-8 (the field holding the first bad byte). With `on_error::skip` the malformed records are dropped instead and counted
/// (`skipped()`, first messages in `skipped_messages()`); an empty input always throws.
/// Typed accessors (`number`, `integer`, `binary`) throw `parse_error` naming file, line and column
/// (number and name) and the offending text.
///
/// Storage: all unescaped cell bytes in one buffer plus one offset per cell, so a file costs about
/// its own size plus 8 bytes per cell. Complexity: O(bytes) to parse, O(1) per cell.
/// Thread-safety: a parsed reader is immutable; const members may run concurrently.

#include <charconv>
#include <cstdio>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace recblocks::data {

/// What to do with a malformed record.
enum class on_error { raise, skip };

/// Options of `csv_reader`.
struct csv_options {
  char delimiter = ',';
  char quote = '"';                  ///< '\0': no quoting
  bool header = true;                ///< the first record holds the column names
  on_error errors = on_error::raise;
  std::size_t max_messages = 16;     ///< skipped-record messages kept (the count is always exact)
  bool validate_utf8 = true;         ///< reject cells that are not valid UTF-8
};

/// Offset of the first byte of `s` that is not part of a valid UTF-8 sequence, or `npos`.
inline std::size_t utf8_invalid_offset(std::string_view s);

class csv_reader {
 public:
  /// Parses `text`; `name` is used in error messages (a file name).
  csv_reader(std::string_view text, csv_options options = {}, std::string name = "<string>");

  /// Reads and parses a file; `io_error` if it cannot be opened.
  static csv_reader from_file(const std::string& path, csv_options options = {});

  const std::string& name() const { return name_; }
  /// Column names (empty without a header).
  const std::vector<std::string>& header() const { return header_; }
  index_t rows() const { return rows_; }
  index_t columns() const { return columns_; }

  /// Index of column `name`; `value_error` naming it (and the file) if absent.
  index_t column(std::string_view name) const;
  /// True when the header has a column `name`.
  bool has_column(std::string_view name) const;

  /// Raw (unescaped) cell text.
  std::string_view cell(index_t row, index_t col) const;
  /// 1-based source line where record `row` starts.
  index_t line(index_t row) const { return lines_[static_cast<std::size_t>(row)]; }

  /// Cell as a finite double (surrounding spaces allowed). `parse_error` if empty ("missing value"),
  /// not a number, or not finite.
  double number(index_t row, index_t col) const;
  /// Cell as a 64-bit integer (surrounding spaces allowed). `parse_error` otherwise.
  index_t integer(index_t row, index_t col) const;
  /// Cell as a binary label: "0" or "1" (also "0.0"/"1.0"); `parse_error` for anything else.
  double binary(index_t row, index_t col) const;

  /// "<file>:<line>:<column> ('<name>')" for messages about cell (row, col).
  std::string where(index_t row, index_t col) const;

  /// Malformed records dropped with `on_error::skip`.
  index_t skipped() const { return skipped_; }
  const std::vector<std::string>& skipped_messages() const { return skipped_messages_; }

 private:
  void parse(std::string_view text);
  [[noreturn]] void fail(index_t line, index_t col, const std::string& what) const;
  std::string_view trimmed(index_t row, index_t col) const;

  csv_options options_;
  std::string name_;
  std::vector<std::string> header_;
  index_t rows_ = 0;
  index_t columns_ = 0;
  std::string buffer_;               // unescaped cell bytes
  std::vector<std::size_t> offsets_; // cell i = buffer_[offsets_[i], offsets_[i+1])
  std::vector<index_t> lines_;       // per row
  index_t skipped_ = 0;
  std::vector<std::string> skipped_messages_;
};

/// Converts Latin-1 (ISO 8859-1) bytes to UTF-8 (each byte >= 0x80 becomes two bytes).
inline std::string latin1_to_utf8(std::string_view s);

/// Reads a whole file into a string; `io_error` naming it if it cannot be read.
inline std::string read_file(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("data::read_file: cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw io_error("data::read_file: error reading '" + path + "'");
  return ss.str();
}

inline std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

inline std::size_t utf8_invalid_offset(std::string_view s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = b[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;       // no overlongs
      if (c == 0xED) hi = 0x9F;       // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;       // no overlongs
      if (c == 0xF4) hi = 0x8F;       // <= U+10FFFF
    } else {
      return i;
    }
    if (i + len > n || b[i + 1] < lo || b[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k)
      if (b[i + k] < 0x80 || b[i + k] > 0xBF) return i;
    i += len;
  }
  return std::string_view::npos;
}

inline csv_reader::csv_reader(std::string_view text, csv_options options, std::string name)
    : options_(options), name_(std::move(name)) {
  if (options_.delimiter == '\n' || options_.delimiter == '\r' ||
      (options_.quote != '\0' && options_.quote == options_.delimiter))
    throw value_error("data::csv_reader: invalid delimiter/quote combination");
  parse(text);
}

inline csv_reader csv_reader::from_file(const std::string& path, csv_options options) {
  return csv_reader(read_file(path), options, path);
}

inline void csv_reader::fail(index_t line, index_t col, const std::string& what) const {
  throw parse_error(name_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + what);
}

inline void csv_reader::parse(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    text.remove_prefix(3);
  buffer_.reserve(text.size());
  const char delim = options_.delimiter, quote = options_.quote;
  const std::size_t n = text.size();
  std::size_t pos = 0;
  index_t line = 1;
  bool first = true;  // the first (header or data) record fixes the column count
  std::vector<std::string_view> fields;

  // One record per iteration. The record's cells are appended to buffer_/offsets_ tentatively and
  // rolled back when it is malformed and skipped.
  while (pos < n) {
    // blank line
    if (text[pos] == '\n' || (text[pos] == '\r' && pos + 1 < n && text[pos + 1] == '\n')) {
      pos += text[pos] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    const index_t record_line = line;
    const std::size_t buffer_mark = buffer_.size(), offsets_mark = offsets_.size();
    index_t field_count = 0;
    std::string error;
    index_t error_line = line, error_col = 0;
    bool end_of_record = false;
    while (!end_of_record) {
      ++field_count;
      offsets_.push_back(buffer_.size());
      if (quote != '\0' && pos < n && text[pos] == quote) {
        const index_t open_line = line;
        ++pos;
        bool closed = false;
        while (pos < n) {
          const char c = text[pos];
          if (c == quote) {
            if (pos + 1 < n && text[pos + 1] == quote) {
              buffer_.push_back(quote);
              pos += 2;
              continue;
            }
            ++pos;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          buffer_.push_back(c);
          ++pos;
        }
        if (!closed) {
          error = "unterminated quoted field";
          error_line = open_line;
          error_col = field_count;
          pos = n;
          break;
        }
        if (pos < n && text[pos] != delim && text[pos] != '\n' && !(text[pos] == '\r' && (pos + 1 == n || text[pos + 1] == '\n'))) {
          error = std::string("unexpected character '") + text[pos] + "' after a closing quote";
          error_line = line;
          error_col = field_count;
          // resynchronise at the end of this physical line
          while (pos < n && text[pos] != '\n') ++pos;
          break;
        }
      } else {
        while (pos < n && text[pos] != delim && text[pos] != '\n' && !(text[pos] == '\r' && (pos + 1 == n || text[pos + 1] == '\n')))
          buffer_.push_back(text[pos++]);
      }
      if (pos >= n) {
        end_of_record = true;
      } else if (text[pos] == delim) {
        ++pos;
        if (pos == n) {  // trailing delimiter at end of input: one more empty field
          ++field_count;
          offsets_.push_back(buffer_.size());
          end_of_record = true;
        }
      } else {  // '\n' or "\r\n" or final '\r'
        pos += text[pos] == '\r' ? (pos + 1 < n ? 2 : 1) : 1;
        ++line;
        end_of_record = true;
      }
    }
    if (error.empty() && error_col == 0 && !first && field_count != columns_) {
      error = "expected " + std::to_string(columns_) + " fields, found " + std::to_string(field_count);
      error_line = record_line;
      error_col = std::min(field_count, columns_) + 1;
    }
    if (error.empty() && options_.validate_utf8)
      for (index_t f = 0; f < field_count; ++f) {
        const std::size_t begin = offsets_[offsets_mark + static_cast<std::size_t>(f)];
        const std::size_t end = f + 1 < field_count ? offsets_[offsets_mark + static_cast<std::size_t>(f) + 1] : buffer_.size();
        const std::size_t bad = utf8_invalid_offset(std::string_view(buffer_).substr(begin, end - begin));
        if (bad != std::string_view::npos) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(buffer_[begin + bad])));
          error = std::string("invalid UTF-8 byte ") + hex + " at byte " + std::to_string(bad + 1) + " of the field";
          error_line = record_line;
          error_col = f + 1;
          break;
        }
      }
    if (!error.empty() && error_col == 0) error_col = field_count;
    if (!error.empty()) {
      if (pos < n && text[pos] == '\n') {  // consume the rest of a resynchronised line
        ++pos;
        ++line;
      }
      buffer_.resize(buffer_mark);
      offsets_.resize(offsets_mark);
      const std::string msg = name_ + ":" + std::to_string(error_line) + ":" + std::to_string(error_col) + ": " + error;
      if (options_.errors == on_error::raise || first) throw parse_error(msg);
      ++skipped_;
      if (skipped_messages_.size() < options_.max_messages) skipped_messages_.push_back(msg);
      continue;
    }
    if (first) {
      columns_ = field_count;
      first = false;
      if (options_.header) {
        for (index_t c = 0; c < field_count; ++c)
          header_.emplace_back(buffer_.data() + offsets_[offsets_mark + static_cast<std::size_t>(c)],
                               (c + 1 < field_count ? offsets_[offsets_mark + static_cast<std::size_t>(c) + 1] : buffer_.size()) -
                                   offsets_[offsets_mark + static_cast<std::size_t>(c)]);
        buffer_.resize(buffer_mark);
        offsets_.resize(offsets_mark);
        continue;
      }
    }
    lines_.push_back(record_line);
    ++rows_;
  }
  if (first) fail(1, 1, "empty input (no header and no records)");
  offsets_.push_back(buffer_.size());
}

inline bool csv_reader::has_column(std::string_view name) const {
  for (const auto& h : header_)
    if (h == name) return true;
  return false;
}

inline index_t csv_reader::column(std::string_view name) const {
  for (std::size_t c = 0; c < header_.size(); ++c)
    if (header_[c] == name) return static_cast<index_t>(c);
  throw value_error("data::csv_reader: " + name_ + " has no column '" + std::string(name) + "'" +
                    (header_.empty() ? " (read without a header)" : ""));
}

inline std::string_view csv_reader::cell(index_t row, index_t col) const {
  if (row < 0 || row >= rows_ || col < 0 || col >= columns_)
    throw shape_error("data::csv_reader::cell: (" + std::to_string(row) + ", " + std::to_string(col) + ") outside " +
                      shape_string(rows_, columns_) + " of " + name_);
  const std::size_t i = static_cast<std::size_t>(row * columns_ + col);
  return std::string_view(buffer_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
}

inline std::string csv_reader::where(index_t row, index_t col) const {
  std::string s = name_ + ":" + std::to_string(line(row)) + ":" + std::to_string(col + 1);
  if (static_cast<std::size_t>(col) < header_.size()) s += " ('" + header_[static_cast<std::size_t>(col)] + "')";
  return s;
}

inline std::string_view csv_reader::trimmed(index_t row, index_t col) const {
  std::string_view s = cell(row, col);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  if (s.empty()) throw parse_error(where(row, col) + ": missing value");
  return s;
}

inline double csv_reader::number(index_t row, index_t col) const {
  std::string_view s = trimmed(row, col);
  if (s.front() == '+') s.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
    throw parse_error(where(row, col) + ": expected a finite number, got '" + std::string(cell(row, col)) + "'");
  return v;
}

inline index_t csv_reader::integer(index_t row, index_t col) const {
  std::string_view s = trimmed(row, col);
  if (s.front() == '+') s.remove_prefix(1);
  index_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    throw parse_error(where(row, col) + ": expected an integer, got '" + std::string(cell(row, col)) + "'");
  return v;
}

inline double csv_reader::binary(index_t row, index_t col) const {
  const std::string_view s = trimmed(row, col);
  if (s == "0" || s == "0.0") return 0.0;
  if (s == "1" || s == "1.0") return 1.0;
  throw parse_error(where(row, col) + ": expected a binary label 0 or 1, got '" + std::string(cell(row, col)) + "'");
}

}  // namespace recblocks::data
