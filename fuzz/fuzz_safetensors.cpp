// libFuzzer target: arbitrary bytes as a safetensors file (io::safetensors::from_bytes).
//
// The parser must either accept the image or throw a recblocks::error. An accepted image must be
// self-consistent: every listed tensor's bytes have the size its dtype and shape imply, typed reads
// of rank <= 2 succeed or throw a recblocks::error, and writing it back (to_bytes) gives an image
// that parses to the same tensors and bytes. Built by fuzz/run.sh with -fsanitize=fuzzer,address,undefined.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <recblocks/io/safetensors.hpp>

using namespace recblocks;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  io::safetensors st;
  try {
    st = io::safetensors::from_bytes(bytes, "fuzz");
  } catch (const recblocks::error&) {
    return 0;
  }
  io::safetensors copy;
  for (const auto& name : st.names()) {
    const auto& info = st.info(name);
    std::uint64_t n = io::safetensors::dtype_size(info.dtype);
    for (auto d : info.shape) n *= static_cast<std::uint64_t>(d);
    if (st.bytes(name).size() != n) std::abort();  // accepted, yet inconsistent
    try {
      if (info.dtype == "F32") copy.add<float>(name, st.get<float>(name));
      else if (info.dtype == "F64") copy.add<double>(name, st.get<double>(name));
      else if (info.dtype == "I64") (void)st.get<std::int64_t>(name);
      else if (info.dtype == "I32") (void)st.get<std::int32_t>(name);
      else (void)st.get<float>(name);  // wrong dtype: must throw
    } catch (const recblocks::error&) {
    }
  }
  // the typed tensors survive a write and a re-read bit for bit
  const io::safetensors back = io::safetensors::from_bytes(copy.to_bytes(), "fuzz round trip");
  for (const auto& name : back.names())
    if (back.bytes(name) != st.bytes(name)) std::abort();
  return 0;
}
