#pragma once
/// \file json_extract.hpp
/// `extract_json`: finds the JSON value in a model's answer. Models wrap JSON in ```json fences or
/// put prose before and after it; this returns the first balanced JSON object or array that parses
/// (strings and escapes are honoured when matching brackets), or the whole text when it is a bare
/// JSON scalar. Returns `std::nullopt` when there is none.
///
/// Thread safety: a pure function.

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace recblocks::llm {

/// The first JSON value in `text` (see the file comment), or nullopt.
std::optional<nlohmann::json> extract_json(std::string_view text);

// ---- implementation ----------------------------------------------------------------------------

namespace detail {

/// End (one past) of the balanced value starting at `text[start]` ('{' or '['), or npos.
inline std::size_t balanced_end(std::string_view text, std::size_t start) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
      if (depth < 0) return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

}  // namespace detail

inline std::optional<nlohmann::json> extract_json(std::string_view text) {
  // The whole text first (a bare scalar such as `42` or `"yes"`, or clean JSON).
  auto whole = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!whole.is_discarded()) return whole;
  // Prefer the body of a ```json fence when there is one.
  if (auto f = text.find("```"); f != std::string_view::npos) {
    auto body_start = text.find('\n', f);
    auto close = body_start == std::string_view::npos ? body_start : text.find("```", body_start);
    if (close != std::string_view::npos) {
      auto body = text.substr(body_start + 1, close - body_start - 1);
      auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
      if (!j.is_discarded()) return j;
    }
  }
  // Then the first balanced object or array that parses.
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{' && text[i] != '[') continue;
    const auto end = detail::balanced_end(text, i);
    if (end == std::string_view::npos) continue;
    auto candidate = text.substr(i, end - i);
    auto j = nlohmann::json::parse(candidate.begin(), candidate.end(), nullptr, false);
    if (!j.is_discarded()) return j;
  }
  return std::nullopt;
}

}  // namespace recblocks::llm
