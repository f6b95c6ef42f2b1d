#pragma once
/// \file prompt_template.hpp
/// `prompt_template`: a prompt with named, typed slots, and a rough token count for budgeting.
///
/// Slots are written `{{name}}` or `{{name:type}}` (spaces inside the braces are allowed). Types:
///
/// | type       | accepts (JSON value)           | renders as                                  |
/// |------------|--------------------------------|---------------------------------------------|
/// | `string`   | string (the default type)      | the string                                  |
/// | `int`      | integer                        | decimal                                     |
/// | `number`   | any number                     | shortest decimal (JSON dump)                 |
/// | `bool`     | boolean                        | `true` / `false`                            |
/// | `list`     | array of scalars               | one `- item` line per element               |
/// | `numbered` | array of scalars               | one `1. item` line per element              |
/// | `json`     | anything                       | compact JSON dump                           |
///
/// The template is parsed once; a malformed slot (unclosed `{{`, empty name, unknown type, one name
/// with two types) throws `recblocks::value_error` naming it. `render(values)` takes a JSON object
/// of slot values and throws `value_error` on a missing slot, an unknown (extra) slot or a value of
/// the wrong type, naming the slot.
///
/// Token budgeting: `estimate_tokens(text)` = max(ceil(bytes / 4), ceil(words * 4 / 3)), the usual
/// ~4 characters or ~0.75 words per token of English BPE vocabularies. It is a budget, not a count:
/// expect +-30% on English prose and an undercount on code or non-Latin scripts. For a request,
/// each message adds 4 tokens of framing.
///
/// Thread safety: immutable after construction; `render` is const and reentrant.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "chat_request.hpp"

namespace recblocks::llm {

/// A parsed template with typed `{{slots}}`.
class prompt_template {
 public:
  enum class slot_type { string, integer, number, boolean, list, numbered, json };

  /// One declared slot.
  struct slot {
    std::string name;
    slot_type type = slot_type::string;
  };

  explicit prompt_template(std::string text);

  /// The text with every slot replaced; `values` is a JSON object {slot name: value}.
  std::string render(const nlohmann::json& values) const;

  /// The distinct slots in order of first appearance.
  const std::vector<slot>& slots() const noexcept { return slots_; }
  const std::string& text() const noexcept { return text_; }

 private:
  struct piece {
    std::string literal;  ///< text before the slot
    int slot = -1;        ///< index into slots_, -1 for the trailing literal
  };
  static slot_type parse_type(std::string_view t, std::string_view name);
  static std::string render_value(const slot& s, const nlohmann::json& v);

  std::string text_;
  std::vector<slot> slots_;
  std::vector<piece> pieces_;
};

/// Rough token count of `text` (see the file comment).
std::size_t estimate_tokens(std::string_view text);

/// Rough token count of a request's messages (4 tokens of framing per message).
std::size_t estimate_tokens(const chat_request& r);

// ---- implementation ----------------------------------------------------------------------------

namespace detail {
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace detail

inline prompt_template::prompt_template(std::string text) : text_(std::move(text)) {
  std::string_view t = text_;
  std::size_t pos = 0;
  std::string literal;
  while (pos < t.size()) {
    const auto open = t.find("{{", pos);
    if (open == std::string_view::npos) break;
    const auto close = t.find("}}", open + 2);
    if (close == std::string_view::npos)
      throw value_error("[llm::prompt_template] unclosed \"{{\" at offset " + std::to_string(open));
    literal.append(t.substr(pos, open - pos));
    auto inner = detail::trim(t.substr(open + 2, close - open - 2));
    std::string_view name = inner;
    std::string_view type_name;
    if (auto colon = inner.find(':'); colon != std::string_view::npos) {
      name = detail::trim(inner.substr(0, colon));
      type_name = detail::trim(inner.substr(colon + 1));
    }
    if (name.empty())
      throw value_error("[llm::prompt_template] empty slot name at offset " + std::to_string(open));
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
        throw value_error("[llm::prompt_template] bad slot name \"" + std::string(name) +
                          "\" (letters, digits, _ . - only)");
    const slot_type type = type_name.empty() ? slot_type::string : parse_type(type_name, name);
    int index = -1;
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].name == name) index = static_cast<int>(i);
    if (index < 0) {
      slots_.push_back({std::string(name), type});
      index = static_cast<int>(slots_.size()) - 1;
    } else if (!type_name.empty() && slots_[index].type != type) {
      throw value_error("[llm::prompt_template] slot \"" + std::string(name) + "\" is declared with two types");
    }
    pieces_.push_back({std::move(literal), index});
    literal.clear();
    pos = close + 2;
  }
  literal.append(t.substr(std::min(pos, t.size())));
  pieces_.push_back({std::move(literal), -1});
}

inline prompt_template::slot_type prompt_template::parse_type(std::string_view t, std::string_view name) {
  if (t == "string" || t == "str") return slot_type::string;
  if (t == "int" || t == "integer") return slot_type::integer;
  if (t == "number" || t == "float") return slot_type::number;
  if (t == "bool" || t == "boolean") return slot_type::boolean;
  if (t == "list") return slot_type::list;
  if (t == "numbered") return slot_type::numbered;
  if (t == "json") return slot_type::json;
  throw value_error("[llm::prompt_template] slot \"" + std::string(name) + "\" has unknown type \"" + std::string(t) +
                    "\" (string|int|number|bool|list|numbered|json)");
}

inline std::string prompt_template::render_value(const slot& s, const nlohmann::json& v) {
  auto wrong = [&](const char* expected) {
    return value_error("[llm::prompt_template] slot \"" + s.name + "\" expects " + expected + ", got " +
                       v.type_name() + " " + v.dump());
  };
  auto scalar = [](const nlohmann::json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
  switch (s.type) {
    case slot_type::string:
      if (!v.is_string()) throw wrong("a string");
      return v.get<std::string>();
    case slot_type::integer:
      if (!v.is_number_integer()) throw wrong("an integer");
      return v.dump();
    case slot_type::number:
      if (!v.is_number()) throw wrong("a number");
      return v.dump();
    case slot_type::boolean:
      if (!v.is_boolean()) throw wrong("a boolean");
      return v.dump();
    case slot_type::list:
    case slot_type::numbered: {
      if (!v.is_array()) throw wrong("an array");
      std::string out;
      std::size_t i = 0;
      for (const auto& x : v) {
        if (x.is_structured()) throw wrong("an array of scalars");
        if (i > 0) out += '\n';
        out += s.type == slot_type::list ? std::string("- ") : std::to_string(i + 1) + ". ";
        out += scalar(x);
        ++i;
      }
      return out;
    }
    case slot_type::json: return v.dump();
  }
  return {};
}

inline std::string prompt_template::render(const nlohmann::json& values) const {
  if (!values.is_object())
    throw value_error(std::string("[llm::prompt_template] render expects a JSON object of slot values, got ") +
                      values.type_name());
  for (const auto& [k, v] : values.items()) {
    bool known = false;
    for (const auto& s : slots_) known = known || s.name == k;
    if (!known) throw value_error("[llm::prompt_template] unknown slot \"" + k + "\" (not in the template)");
  }
  std::vector<std::string> rendered;
  rendered.reserve(slots_.size());
  for (const auto& s : slots_) {
    auto it = values.find(s.name);
    if (it == values.end()) throw value_error("[llm::prompt_template] missing value for slot \"" + s.name + "\"");
    rendered.push_back(render_value(s, *it));
  }
  std::string out;
  for (const auto& p : pieces_) {
    out += p.literal;
    if (p.slot >= 0) out += rendered[static_cast<std::size_t>(p.slot)];
  }
  return out;
}

inline std::size_t estimate_tokens(std::string_view text) {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  const std::size_t by_chars = (text.size() + 3) / 4;
  const std::size_t by_words = (words * 4 + 2) / 3;
  return std::max(by_chars, by_words);
}

inline std::size_t estimate_tokens(const chat_request& r) {
  std::size_t n = 0;
  for (const auto& m : r.messages) n += 4 + estimate_tokens(m.content);
  return n;
}

}  // namespace recblocks::llm
