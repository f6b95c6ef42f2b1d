#pragma once
// Shared helpers of the text/ tests: where the pretrained model and the fixtures are.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace text_test {

inline std::filesystem::path models_dir() {
  if (const char* m = std::getenv("RECBLOCKS_MODELS"); m && *m) return m;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache/recblocks/models";
}

/// The all-MiniLM-L6-v2 folder, or empty when it is not installed.
inline std::filesystem::path minilm_dir() {
  const auto d = models_dir() / "all-MiniLM-L6-v2";
  return std::filesystem::exists(d / "model.safetensors") && std::filesystem::exists(d / "vocab.txt") ? d : std::filesystem::path();
}

inline std::filesystem::path fixtures() { return std::filesystem::path(RECBLOCKS_SOURCE_DIR) / "tests/text/fixtures"; }

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline std::vector<std::int32_t> unpack_ids(const std::string& b64) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes;
  unsigned buf = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    buf = (buf << 6) | static_cast<unsigned>(chars.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<unsigned char>((buf >> bits) & 0xFF));
    }
  }
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) ids.push_back(bytes[i] | (bytes[i + 1] << 8));
  return ids;
}

}  // namespace text_test

#define TEXT_REQUIRE_MODEL(dir)                                                                                 \
  const auto dir = text_test::minilm_dir();                                                                      \
  if (dir.empty()) {                                                                                             \
    WARN("all-MiniLM-L6-v2 not installed under " << text_test::models_dir() << " (run tools/install_models.sh); skipped"); \
    return;                                                                                                      \
  }
