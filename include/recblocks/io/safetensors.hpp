#pragma once
/// \file safetensors.hpp
/// Reader and writer of the safetensors format (Hugging Face), used for checkpoint weights:
///
///     [8 bytes: little-endian u64 N][N bytes: UTF-8 JSON header][data bytes]
///     header = {"<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...,
///               "__metadata__": {"key": "value", ...}}            offsets relative to the data start
///
/// Tensors are row-major and little-endian. Written headers are padded with spaces to a multiple of
/// 8 bytes so tensors are aligned when the file is mapped; tensors are laid out in name order.
///
/// Files are treated as hostile. `from_bytes` / `load` throw `io_error` (naming the file and the
/// tensor) when: the file is shorter than 8 bytes; N exceeds 100 MB or the file; the header is not
/// valid UTF-8 JSON, nests deeper than the format allows, repeats a key, or is not an object of
/// tensor entries; an entry lacks `dtype`/`shape`/`data_offsets` or has a wrong type, an unknown
/// dtype, a negative or overflowing shape; `end - begin != dtype size * prod(shape)`; a range lies
/// outside the data; ranges overlap or leave holes (the data must be exactly covered, as the
/// reference implementation demands); `__metadata__` is not a string-to-string object.
///
/// Dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL are accepted on read (raw bytes
/// available through `bytes()`); `get<T>` converts nothing and reads F64 (`double`), F32 (`float`),
/// I64 (`int64_t`), I32 (`int32_t`), checking the dtype (`io_error` on a mismatch).
/// Complexity: O(file size). Thread-safety: const members may run concurrently.
///
///     io::safetensors st;
///     st.add("tower.weight", w);                 // matrix<float> -> F32 [r, c]
///     st.save("weights.safetensors");            // temporary file + rename
///     auto back = io::safetensors::load("weights.safetensors").get<float>("tower.weight");

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/atomic_file.hpp"

namespace recblocks::io {

class safetensors {
 public:
  /// The most header bytes a file may declare (the reference implementation's cap).
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  /// One tensor entry of the header.
  struct tensor_info {
    std::string dtype;               ///< "F32", "F64", "I64", ...
    std::vector<index_t> shape;      ///< row-major dimensions
    std::uint64_t begin = 0, end = 0;  ///< byte range within the data section
  };

  safetensors() = default;

  /// Parses and validates a whole file image; `source` names it in errors.
  static safetensors from_bytes(std::string bytes, const std::string& source = "safetensors");
  /// Reads and validates a file.
  static safetensors load(const std::filesystem::path& path);

  /// Adds a `[rows, cols]` tensor of dtype F64/F32/I64/I32 (by `T`, given explicitly: `add<float>(name, m)`);
  /// `value_error` on a duplicate or empty name or a name starting with "__".
  template <class T>
  void add(const std::string& name, const Eigen::Ref<const matrix<T>>& m);
  /// A `__metadata__` entry.
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  /// The file image (header padded to 8 bytes, tensors in name order).
  std::string to_bytes() const;
  /// Writes the file image atomically (temporary file in the same directory, fsync, rename).
  void save(const std::filesystem::path& path) const;

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  /// Tensor names in ascending order.
  std::vector<std::string> names() const;
  /// The header entry of `name`; `io_error` if absent.
  const tensor_info& info(const std::string& name) const;
  /// Raw little-endian bytes of `name`.
  std::string_view bytes(const std::string& name) const;
  /// A rank-2 tensor as a matrix (rank 1 `[n]` gives `[1, n]`, rank 0 gives `[1, 1]`); `io_error` for a
  /// dtype other than T's or a higher rank.
  template <class T>
  matrix<T> get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// "F64", "F32", "I64", "I32" for the supported element types.
  template <class T>
  static const char* dtype_of();
  /// Bytes per element of a dtype; 0 for an unknown one.
  static std::size_t dtype_size(const std::string& dtype);

 private:
  std::string source_ = "safetensors";
  std::map<std::string, tensor_info> tensors_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, std::string> data_;  // name -> raw bytes
};

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

namespace detail {
/// Copies `n` elements of `size` bytes, swapping their byte order on a big-endian host.
inline void copy_little_endian(char* dst, const char* src, std::size_t n, std::size_t size) {
  std::memcpy(dst, src, n * size);
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t i = 0; i < n; ++i) std::reverse(dst + i * size, dst + (i + 1) * size);
}
}  // namespace detail

template <class T>
const char* safetensors::dtype_of() {
  if constexpr (std::is_same_v<T, double>) return "F64";
  else if constexpr (std::is_same_v<T, float>) return "F32";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "I64";
  else if constexpr (std::is_same_v<T, std::int32_t>) return "I32";
  else static_assert(sizeof(T) == 0, "safetensors: element type must be double, float, int64_t or int32_t");
}

inline std::size_t safetensors::dtype_size(const std::string& d) {
  static const std::map<std::string, std::size_t> sizes{{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                        {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

template <class T>
void safetensors::add(const std::string& name, const Eigen::Ref<const matrix<T>>& m) {
  if (name.empty() || name.rfind("__", 0) == 0)
    throw value_error("io::safetensors::add: invalid tensor name '" + name + "' (empty or starting with \"__\")");
  if (tensors_.count(name)) throw value_error("io::safetensors::add: tensor '" + name + "' added twice");
  tensor_info ti;
  ti.dtype = dtype_of<T>();
  ti.shape = {m.rows(), m.cols()};
  std::string raw(static_cast<std::size_t>(m.size()) * sizeof(T), '\0');
  for (index_t r = 0; r < m.rows(); ++r)
    detail::copy_little_endian(raw.data() + static_cast<std::size_t>(r * m.cols()) * sizeof(T),
                               reinterpret_cast<const char*>(m.row(r).data()), static_cast<std::size_t>(m.cols()), sizeof(T));
  tensors_.emplace(name, ti);
  data_.emplace(name, std::move(raw));
}

inline std::string safetensors::to_bytes() const {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, ti] : tensors_) {
    const std::uint64_t n = data_.at(name).size();
    header[name] = {{"dtype", ti.dtype}, {"shape", ti.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  std::uint64_t n = text.size();
  detail::copy_little_endian(out.data(), reinterpret_cast<const char*>(&n), 1, 8);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& [name, raw] : data_) out += raw;
  return out;
}

inline void safetensors::save(const std::filesystem::path& path) const { detail::write_file_atomically(path, to_bytes()); }

inline safetensors safetensors::load(const std::filesystem::path& path) {
  return from_bytes(detail::read_file(path, std::numeric_limits<std::uint64_t>::max()), path.string());
}

inline safetensors safetensors::from_bytes(std::string bytes, const std::string& source) {
  auto fail = [&](const std::string& why) -> void { throw io_error("io::safetensors: " + source + ": " + why); };
  if (bytes.size() < 8) fail("truncated file (" + std::to_string(bytes.size()) + " bytes, the header length alone needs 8)");
  std::uint64_t n = 0;
  detail::copy_little_endian(reinterpret_cast<char*>(&n), bytes.data(), 1, 8);
  if (n > max_header_bytes) fail("header length " + std::to_string(n) + " exceeds the 100 MB cap");
  if (n > bytes.size() - 8)
    fail("header length " + std::to_string(n) + " exceeds the file (" + std::to_string(bytes.size()) + " bytes): truncated");
  const std::string_view text(bytes.data() + 8, n);
  const std::uint64_t data_size = bytes.size() - 8 - n;

  // Parse with a callback that rejects deep nesting and repeated top-level keys before they cost anything.
  std::set<std::string> keys;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.begin(), text.end(),
                                   [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
                                     if (depth > 3) throw io_error("header nests deeper than the format allows");
                                     if (ev == nlohmann::json::parse_event_t::key && depth == 1 &&
                                         !keys.insert(parsed.get<std::string>()).second)
                                       throw io_error("header repeats the key '" + parsed.get<std::string>() + "'");
                                     return true;
                                   });
  } catch (const io_error& e) {
    fail(e.what());
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("malformed JSON header: ") + e.what());
  }
  if (!header.is_object()) fail("the header is not a JSON object");

  safetensors st;
  st.source_ = source;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  std::vector<const std::string*> range_names;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) fail("__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value of '" + m.key() + "' is not a string");
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (name.empty()) fail("empty tensor name");
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail(where + "expected {\"dtype\", \"shape\", \"data_offsets\"}");
    const auto& dt = e["dtype"];
    const auto& shape = e["shape"];
    const auto& off = e["data_offsets"];
    if (!dt.is_string() || dtype_size(dt.get<std::string>()) == 0) fail(where + "unknown or invalid dtype " + dt.dump());
    if (!shape.is_array()) fail(where + "shape is not an array");
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(where + "data_offsets must be [begin, end] of non-negative integers");
    tensor_info ti;
    ti.dtype = dt.get<std::string>();
    std::uint64_t count = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) fail(where + "shape entries must be non-negative integers, got " + shape.dump());
      const std::uint64_t v = d.get<std::uint64_t>();
      if (v > std::uint64_t(std::numeric_limits<index_t>::max()) || __builtin_mul_overflow(count, v, &count))
        fail(where + "shape " + shape.dump() + " overflows");
      ti.shape.push_back(static_cast<index_t>(v));
    }
    std::uint64_t nbytes = 0;
    if (__builtin_mul_overflow(count, std::uint64_t(dtype_size(ti.dtype)), &nbytes)) fail(where + "byte size overflows");
    ti.begin = off[0].get<std::uint64_t>();
    ti.end = off[1].get<std::uint64_t>();
    if (ti.end < ti.begin || ti.end - ti.begin != nbytes)
      fail(where + "data_offsets [" + std::to_string(ti.begin) + ", " + std::to_string(ti.end) + ") do not hold " +
           ti.dtype + " " + shape.dump() + " (" + std::to_string(nbytes) + " bytes)");
    if (ti.end > data_size)
      fail(where + "data_offsets end " + std::to_string(ti.end) + " lies beyond the data (" + std::to_string(data_size) +
           " bytes): truncated or tampered");
    auto [pos, inserted] = st.tensors_.emplace(name, ti);
    ranges.emplace_back(ti.begin, ti.end);
    range_names.push_back(&pos->first);
  }
  // The ranges must tile [0, data_size) exactly: no overlap, no hole, no trailing bytes.
  std::vector<std::size_t> idx(ranges.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
  std::uint64_t expected = 0;
  for (std::size_t i : idx) {
    if (ranges[i].first < expected) fail("tensor '" + *range_names[i] + "' overlaps another tensor's bytes");
    if (ranges[i].first > expected) fail("unused bytes before tensor '" + *range_names[i] + "'");
    expected = ranges[i].second;
  }
  if (expected != data_size)
    fail("the data section has " + std::to_string(data_size) + " bytes but the tensors cover " + std::to_string(expected));
  const char* data = bytes.data() + 8 + n;
  for (const auto& [name, ti] : st.tensors_) st.data_.emplace(name, std::string(data + ti.begin, ti.end - ti.begin));
  return st;
}

inline std::vector<std::string> safetensors::names() const {
  std::vector<std::string> out;
  for (const auto& [name, ti] : tensors_) out.push_back(name);
  return out;
}

inline const safetensors::tensor_info& safetensors::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw io_error("io::safetensors: " + source_ + ": no tensor '" + name + "'");
  return it->second;
}

inline std::string_view safetensors::bytes(const std::string& name) const {
  info(name);
  return data_.at(name);
}

template <class T>
matrix<T> safetensors::get(const std::string& name) const {
  const tensor_info& ti = info(name);
  if (ti.dtype != dtype_of<T>())
    throw io_error("io::safetensors: " + source_ + ": tensor '" + name + "' is " + ti.dtype + ", expected " + dtype_of<T>());
  if (ti.shape.size() > 2)
    throw io_error("io::safetensors: " + source_ + ": tensor '" + name + "' has rank " + std::to_string(ti.shape.size()) +
                   ", expected at most 2");
  const index_t rows = ti.shape.size() == 2 ? ti.shape[0] : 1;
  const index_t cols = ti.shape.empty() ? 1 : ti.shape.back();
  matrix<T> m(rows, cols);
  const std::string& raw = data_.at(name);
  if (m.size() > 0) detail::copy_little_endian(reinterpret_cast<char*>(m.data()), raw.data(), static_cast<std::size_t>(m.size()), sizeof(T));
  return m;
}

}  // namespace recblocks::io
