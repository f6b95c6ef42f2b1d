#pragma once
// Shared by the bf16 tests (tests/core/test_bf16_gemm.cpp, tests/models/test_star_folded.cpp): the
// kernel switch restored at scope exit, and the skip of kernel-only tests on a CPU without AVX512-BF16.
#include <catch2/catch.hpp>

#include <recblocks/core/bf16_gemm.hpp>

namespace rbt {

using namespace recblocks;

/// Sets the AVX512-BF16 kernel switch (`set_bf16_gemm_enabled`) and restores it at scope exit.
struct bf16_switch {
  bool saved = bf16_gemm_available();
  explicit bf16_switch(bool on) { set_bf16_gemm_enabled(on); }
  ~bf16_switch() { set_bf16_gemm_enabled(saved); }
};

/// True where the CPU has AVX512-BF16; otherwise warns that the kernel tests are skipped (the FP32
/// fallback checks run everywhere) and returns false.
inline bool kernel_or_skip() {
  if (bf16_gemm_cpu_supported()) return true;
  WARN("this CPU has no AVX512-BF16: the bf16 kernel tests are skipped (the FP32 fallback checks still run)");
  return false;
}

}  // namespace rbt
