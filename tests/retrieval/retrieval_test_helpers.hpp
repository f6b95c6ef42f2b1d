#pragma once
// Helpers shared by the retrieval tests (the area's files also compile together as one unity
// translation unit, so each helper is defined once, here).
#include <filesystem>
#include <random>
#include <string>

namespace recblocks_test {

/// A path `name` under the system temp dir, unique per process, so concurrent test runs (two build
/// trees, ctest -j) never share a file.
inline std::string temp_file(const std::string& name) {
  static const std::string tag = std::to_string(std::random_device{}());
  return (std::filesystem::temp_directory_path() / ("recblocks_test_" + tag + "_" + name)).string();
}

}  // namespace recblocks_test
