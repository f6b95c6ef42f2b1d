#pragma once
/// \file bf16_gemm.hpp
/// bfloat16 GEMM with FP32 accumulation on AVX512-BF16 (`vdpbf16ps`):
///
///     C = bf16(op(A)) * bf16(op(B)) (+ C when `accumulate`),   op(X) = X or X^T,
///
/// float operands in, float result out, every input rounded to bfloat16 (round-to-nearest-even, 8
/// bits of mantissa) and every product summed in float. Row-major memory, shapes `op(A)` `[m, k]`,
/// `op(B)` `[k, n]`, `C` `[m, n]`.
///
/// Layout. `B` is packed into **pair-interleaved panels** of `bf16_panels::nr` = 32 columns: for each
/// pair of rows `(2p, 2p+1)` and column `j` one 32-bit word `(B[2p][j], B[2p+1][j])`, 32 words per
/// pair, panel after panel (`k` padded to even and `n` to a multiple of 32 with zeros). `A` is packed
/// into the same 32-bit pairs `(A[i][2p], A[i][2p+1])`, row-major (`[m, k/2]`) when `A` is not
/// transposed, pair-major (`[k/2, m]`) when it is, whichever is a contiguous copy of the source.
/// One `vdpbf16ps` of a broadcast A pair against a B vector does 16 columns x 2 k-steps.
///
/// Micro-kernel: up to 12 rows x 32 columns (24 zmm accumulators, 2 B loads and 12 broadcasts per
/// pair of k-steps), k blocked by 512, A packed in blocks of 192 rows; one to three rows take a GEMV kernel that runs four panels at
/// once (8 independent accumulators) so batch-1 inference is not latency-bound.
///
/// CPU support is detected at run time (`bf16_gemm_available()`); the kernels are compiled with a
/// `target` attribute, so the library needs no `-m` flag and builds on any x86-64 (or non-x86)
/// compiler. Callers check availability and otherwise take the FP32 path (`gemm`): the fused linear
/// op does, and counts each fallback in `bf16_fallback_count()`. `RECBLOCKS_BF16=0` in the
/// environment, or `set_bf16_gemm_enabled(false)`, disables the kernel (tests use it to exercise
/// the fallback on a machine that has it).
///
/// Accuracy: each product has a relative error of at most about 2^-8 (both inputs rounded), the sum
/// is float. Note that `vdpbf16ps` treats bf16 denormals as zero.
/// Thread-safety: the packing buffers are per thread; `bf16_panels` is immutable after packing.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bf16.hpp"
#include "tensor.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RECBLOCKS_HAVE_BF16_KERNEL 1
#include <immintrin.h>
#define RECBLOCKS_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define RECBLOCKS_HAVE_BF16_KERNEL 0
#endif

namespace recblocks {

namespace detail {
inline bool bf16_cpu_detect() {
#if RECBLOCKS_HAVE_BF16_KERNEL
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16")))
    return false;
  const char* env = std::getenv("RECBLOCKS_BF16");
  return !(env && std::strcmp(env, "0") == 0);
#else
  return false;
#endif
}
inline std::atomic<bool>& bf16_enabled_flag() {
  static std::atomic<bool> on{bf16_cpu_detect()};
  return on;
}
inline std::atomic<long long>& bf16_fallback_counter() {
  static std::atomic<long long> n{0};
  return n;
}
}  // namespace detail

/// Whether this CPU runs `vdpbf16ps` (AVX512-BF16 with OS support for the zmm state) and the kernel
/// is not disabled (`RECBLOCKS_BF16=0`, `set_bf16_gemm_enabled(false)`).
inline bool bf16_gemm_available() { return detail::bf16_enabled_flag().load(std::memory_order_relaxed); }

/// Whether the CPU supports the kernel at all (independent of the switch).
inline bool bf16_gemm_cpu_supported() {
  static const bool s = [] {
#if RECBLOCKS_HAVE_BF16_KERNEL
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
  }();
  return s;
}

/// Turns the kernel on (only where the CPU supports it) or off, process-wide; returns the new state.
inline bool set_bf16_gemm_enabled(bool on) {
  const bool v = on && bf16_gemm_cpu_supported();
  detail::bf16_enabled_flag().store(v);
  return v;
}

/// How many bf16 products were asked for and computed in FP32 instead (kernel unavailable).
inline long long bf16_fallback_count() { return detail::bf16_fallback_counter().load(std::memory_order_relaxed); }
inline void count_bf16_fallback() { detail::bf16_fallback_counter().fetch_add(1, std::memory_order_relaxed); }

/// Smallest inner (`k`) and output (`n`) dimension for which the library's ops use the kernel:
/// below it a 32-column panel is mostly padding (or a pair loop too short) and converting the
/// operands costs more than `vdpbf16ps` saves, so such products stay FP32 (measured in
/// bench/bench_bf16: MMoE's 16- and 8-wide default layers ran slower in bf16).
inline constexpr index_t bf16_min_dim = 32;
inline bool bf16_worthwhile(index_t k, index_t n) { return k >= bf16_min_dim && n >= bf16_min_dim; }

/// Whether an inference call of `rows` rows runs on a layer's packed bf16 copy of a `[k, n]` weight:
/// at most `max_rows` rows (the copy's serving range) or bf16 asked for (tape or layer compute type),
/// the kernel available, and above 3 rows only for products worth it (`bf16_worthwhile`). The one rule
/// of `nn::linear` and `nn::star_linear`.
inline bool use_packed_bf16(index_t rows, index_t max_rows, bool bf16_asked, index_t k, index_t n) {
  return (rows <= max_rows || bf16_asked) && bf16_gemm_available() && (rows <= 3 || bf16_worthwhile(k, n));
}

/// A `[k, n]` matrix packed as bf16 pair-interleaved panels of 32 columns (see the file comment):
/// word `(q * kp + p) * 32 + j` holds rows `2p, 2p+1` of column `32 q + j`.
struct bf16_panels {
  static constexpr index_t nr = 32;
  index_t k = 0, n = 0, kp = 0, panels = 0;
  std::vector<std::uint32_t> words;

  bool empty() const { return words.empty(); }
  /// The bf16 value of entry `(r, c)` as float (tests).
  float at(index_t r, index_t c) const {
    const std::uint32_t w = words[std::size_t(((c / nr) * kp + r / 2) * nr + c % nr)];
    return from_bf16(std::uint16_t((r % 2) ? (w >> 16) : (w & 0xffffu)));
  }
};

namespace detail {

inline std::uint32_t bf16_pair(float lo, float hi) { return std::uint32_t(to_bf16(lo)) | (std::uint32_t(to_bf16(hi)) << 16); }

/// Resizes `out` and packs `op(B)` (`[k, n]`, source row stride `ldb`, transposed when `tb`).
inline void pack_b_portable(const float* b, index_t ldb, bool tb, index_t k, index_t n, bf16_panels& out) {
  for (index_t q = 0; q < out.panels; ++q)
    for (index_t p = 0; p < out.kp; ++p) {
      std::uint32_t* dst = out.words.data() + (q * out.kp + p) * bf16_panels::nr;
      for (index_t j = 0; j < bf16_panels::nr; ++j) {
        const index_t c = q * bf16_panels::nr + j, r0 = 2 * p, r1 = 2 * p + 1;
        float lo = 0.f, hi = 0.f;
        if (c < n) {
          lo = tb ? b[c * ldb + r0] : b[r0 * ldb + c];
          if (r1 < k) hi = tb ? b[c * ldb + r1] : b[r1 * ldb + c];
        }
        dst[j] = bf16_pair(lo, hi);
      }
    }
}

#if RECBLOCKS_HAVE_BF16_KERNEL
/// 32 floats (lo[0..16), hi[0..16)) -> 16 words (lo[i], hi[i]) in bf16.
RECBLOCKS_BF16_TARGET inline __m512i interleave_pairs(__m512 lo, __m512 hi) {
  const __m512i packed = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // words 0..15 = lo, 16..31 = hi
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                       5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, packed);
}

/// Packs `B` (not transposed): rows `2p, 2p+1` interleaved, 16 columns per vector.
RECBLOCKS_BF16_TARGET inline void pack_b_rows(const float* b, index_t ldb, index_t k, index_t n, bf16_panels& out) {
  const index_t kp = out.kp;
  for (index_t p = 0; p < kp; ++p) {
    const float* r0 = b + 2 * p * ldb;
    const float* r1 = (2 * p + 1 < k) ? r0 + ldb : nullptr;
    for (index_t c = 0; c < out.panels * bf16_panels::nr; c += 16) {
      std::uint32_t* dst = out.words.data() + ((c / bf16_panels::nr) * kp + p) * bf16_panels::nr + c % bf16_panels::nr;
      const index_t left = n - c;
      if (left <= 0) {
        _mm512_storeu_si512(dst, _mm512_setzero_si512());
        continue;
      }
      const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
      const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + c);
      const __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + c) : _mm512_setzero_ps();
      _mm512_storeu_si512(dst, interleave_pairs(lo, hi));
    }
  }
}

/// Packs `A` (not transposed) `[m, k]` into row-major words `[m, kp]`: a row's consecutive floats
/// are already its pairs.
RECBLOCKS_BF16_TARGET inline void pack_a_rows(const float* a, index_t lda, index_t m, index_t k, std::uint32_t* out) {
  const index_t kp = (k + 1) / 2;
  for (index_t i = 0; i < m; ++i) {
    const float* src = a + i * lda;
    std::uint32_t* dst = out + i * kp;
    index_t c = 0;
    for (; c + 32 <= k; c += 32)
      _mm512_storeu_si512(dst + c / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + c + 16), _mm512_loadu_ps(src + c)));
    if (c < k) {
      const index_t left = k - c;
      const __mmask16 m0 = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
      const __mmask16 m1 = left > 16 ? __mmask16((left >= 32 ? 0xffffu : ((1u << (left - 16)) - 1u))) : __mmask16(0);
      const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, src + c + 16), _mm512_maskz_loadu_ps(m0, src + c));
      const index_t words = (left + 1) / 2;
      _mm512_mask_storeu_epi32(dst + c / 2, __mmask16((words >= 16 ? 0xffffu : ((1u << words) - 1u))), v);
    }
  }
}

/// Packs `A^T` where the source `S` is `[k, m]` row-major (`op(A) = S^T`) into pair-major words
/// `[kp, m]`: word `(p, i) = (S[2p][i], S[2p+1][i])`.
RECBLOCKS_BF16_TARGET inline void pack_a_cols(const float* s, index_t lds, index_t m, index_t k, std::uint32_t* out) {
  const index_t kp = (k + 1) / 2;
  for (index_t p = 0; p < kp; ++p) {
    const float* r0 = s + 2 * p * lds;
    const float* r1 = (2 * p + 1 < k) ? r0 + lds : nullptr;
    std::uint32_t* dst = out + p * m;
    for (index_t i = 0; i < m; i += 16) {
      const index_t left = m - i;
      const __mmask16 mk = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
      const __m512 lo = _mm512_maskz_loadu_ps(mk, r0 + i);
      const __m512 hi = r1 ? _mm512_maskz_loadu_ps(mk, r1 + i) : _mm512_setzero_ps();
      _mm512_mask_storeu_epi32(dst + i, mk, interleave_pairs(lo, hi));
    }
  }
}

/// Packs `B^T` where the source `S` is `[n, k]` row-major (`op(B) = S^T`, a weight used transposed):
/// each source row is one panel column whose consecutive floats are its pairs.
RECBLOCKS_BF16_TARGET inline void pack_b_cols(const float* s, index_t lds, index_t k, index_t n, bf16_panels& out) {
  const index_t kp = out.kp;
  std::vector<std::uint32_t>& w = out.words;
  thread_local std::vector<std::uint32_t> row;
  if (row.size() < std::size_t(kp + 16)) row.resize(std::size_t(kp + 16));
  std::memset(w.data(), 0, w.size() * sizeof(std::uint32_t));
  for (index_t c = 0; c < n; ++c) {
    pack_a_rows(s + c * lds, lds, 1, k, row.data());
    std::uint32_t* dst = w.data() + (c / bf16_panels::nr) * kp * bf16_panels::nr + c % bf16_panels::nr;
    for (index_t p = 0; p < kp; ++p) dst[p * bf16_panels::nr] = row[std::size_t(p)];
  }
}

/// `rows x 32` block of C (`rows` = MR): C[r][0..32) (+)= sum_p A(r, p) . B(p, 0..32).
/// A word `(r, p)` is at `a[r * ars + p * aps]`; `b` points at the panel's pair `p0`.
template <int MR>
RECBLOCKS_BF16_TARGET inline void bf16_micro(const std::uint32_t* a, index_t ars, index_t aps, const std::uint32_t* b,
                                              index_t pairs, float* c, index_t ldc, __mmask16 m0, __mmask16 m1, bool load_c) {
  __m512 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) {
    acc0[r] = load_c ? _mm512_maskz_loadu_ps(m0, c + r * ldc) : _mm512_setzero_ps();
    acc1[r] = load_c ? _mm512_maskz_loadu_ps(m1, c + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (index_t p = 0; p < pairs; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + p * 32);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + p * 32 + 16);
    const std::uint32_t* ap = a + p * aps;
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(int(ap[r * ars]));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);
  }
}

/// One row of C over every panel, four panels at a time: y[0..n) (+)= sum_p a[p] . B(p, :).
RECBLOCKS_BF16_TARGET inline void bf16_gemv(const std::uint32_t* a, index_t aps, const bf16_panels& b, float* y, bool load_c) {
  const index_t kp = b.kp, n = b.n;
  const std::uint32_t* w = b.words.data();
  auto mask = [n](index_t c) -> __mmask16 {
    const index_t left = n - c;
    return left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u);
  };
  index_t q = 0;
  for (; q + 4 <= b.panels; q += 4) {
    __m512 acc[8];
    for (int v = 0; v < 8; ++v) {
      const index_t c = q * 32 + v * 16;
      acc[v] = load_c ? _mm512_maskz_loadu_ps(mask(c), y + c) : _mm512_setzero_ps();
    }
    const std::uint32_t* p0 = w + q * kp * 32;
    const index_t stride = kp * 32;
    for (index_t p = 0; p < kp; ++p) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(int(a[p * aps]));
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s) {
        const std::uint32_t* bp = p0 + s * stride + p * 32;
        acc[2 * s] = _mm512_dpbf16_ps(acc[2 * s], av, (__m512bh)_mm512_loadu_si512(bp));
        acc[2 * s + 1] = _mm512_dpbf16_ps(acc[2 * s + 1], av, (__m512bh)_mm512_loadu_si512(bp + 16));
      }
    }
    for (int v = 0; v < 8; ++v) {
      const index_t c = q * 32 + v * 16;
      _mm512_mask_storeu_ps(y + c, mask(c), acc[v]);
    }
  }
  for (; q < b.panels; ++q) {
    // one panel: split the pairs in two halves for 4 independent chains
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    const std::uint32_t* p0 = w + q * kp * 32;
    const index_t half = kp / 2;
    for (index_t p = 0; p < half; ++p) {
      const __m512bh a0 = (__m512bh)_mm512_set1_epi32(int(a[p * aps]));
      const __m512bh a1 = (__m512bh)_mm512_set1_epi32(int(a[(p + half) * aps]));
      acc[0] = _mm512_dpbf16_ps(acc[0], a0, (__m512bh)_mm512_loadu_si512(p0 + p * 32));
      acc[1] = _mm512_dpbf16_ps(acc[1], a0, (__m512bh)_mm512_loadu_si512(p0 + p * 32 + 16));
      acc[2] = _mm512_dpbf16_ps(acc[2], a1, (__m512bh)_mm512_loadu_si512(p0 + (p + half) * 32));
      acc[3] = _mm512_dpbf16_ps(acc[3], a1, (__m512bh)_mm512_loadu_si512(p0 + (p + half) * 32 + 16));
    }
    for (index_t p = 2 * half; p < kp; ++p) {
      const __m512bh a0 = (__m512bh)_mm512_set1_epi32(int(a[p * aps]));
      acc[0] = _mm512_dpbf16_ps(acc[0], a0, (__m512bh)_mm512_loadu_si512(p0 + p * 32));
      acc[1] = _mm512_dpbf16_ps(acc[1], a0, (__m512bh)_mm512_loadu_si512(p0 + p * 32 + 16));
    }
    const index_t c = q * 32;
    __m512 r0 = _mm512_add_ps(acc[0], acc[2]), r1 = _mm512_add_ps(acc[1], acc[3]);
    if (load_c) {
      r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(mask(c), y + c));
      r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(mask(c + 16), y + c + 16));
    }
    _mm512_mask_storeu_ps(y + c, mask(c), r0);
    _mm512_mask_storeu_ps(y + c + 16, mask(c + 16), r1);
  }
}

template <int MR>
RECBLOCKS_BF16_TARGET void bf16_block(const std::uint32_t* a, index_t ars, index_t aps, const bf16_panels& b, index_t p0,
                                      index_t pairs, index_t m0, float* c, index_t ldc, bool load_c) {
  for (index_t q = 0; q < b.panels; ++q) {
    const index_t col = q * 32, left = b.n - col;
    const __mmask16 k0 = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
    const __mmask16 k1 = left >= 32 ? __mmask16(0xffff) : left <= 16 ? __mmask16(0) : __mmask16((1u << (left - 16)) - 1u);
    bf16_micro<MR>(a + m0 * ars + p0 * aps, ars, aps, b.words.data() + (q * b.kp + p0) * 32, pairs, c + m0 * ldc + col,
                   ldc, k0, k1, load_c);
  }
}

/// C (+)= A_packed x B over all panels; A word `(i, p)` at `a[i * ars + p * aps]`.
RECBLOCKS_BF16_TARGET inline void bf16_kernel(const std::uint32_t* a, index_t ars, index_t aps, index_t m, const bf16_panels& b,
                                               float* c, index_t ldc, bool accumulate) {
  if (m <= 3) {
    for (index_t i = 0; i < m; ++i) bf16_gemv(a + i * ars, aps, b, c + i * ldc, accumulate);
    return;
  }
  constexpr index_t kc = 256;  // pairs per k block (512 k-steps)
  constexpr index_t mc = 96;   // rows per A block
  for (index_t p0 = 0; p0 < b.kp; p0 += kc) {
    const index_t pairs = std::min(kc, b.kp - p0);
    const bool load_c = accumulate || p0 > 0;
    for (index_t i0 = 0; i0 < m; i0 += mc) {
      const index_t i1 = std::min(m, i0 + mc);
      index_t i = i0;
      for (; i + 12 <= i1; i += 12) bf16_block<12>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c);
      switch (i1 - i) {
        case 0: break;
        case 1: bf16_block<1>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 2: bf16_block<2>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 3: bf16_block<3>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 4: bf16_block<4>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 5: bf16_block<5>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 6: bf16_block<6>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 7: bf16_block<7>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 8: bf16_block<8>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 9: bf16_block<9>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        case 10: bf16_block<10>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
        default: bf16_block<11>(a, ars, aps, b, p0, pairs, i, c, ldc, load_c); break;
      }
    }
  }
}
#endif  // RECBLOCKS_HAVE_BF16_KERNEL

inline std::vector<std::uint32_t>& bf16_a_scratch(std::size_t n) {
  thread_local std::vector<std::uint32_t> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

}  // namespace detail

/// Packs `op(B)` (`[k, n]`, row stride `ldb` of the stored matrix, transposed when `tb`) into `out`
/// (its buffer is reused when large enough). Uses the vector packer when the kernel is available.
inline void pack_bf16_panels(const float* b, index_t ldb, bool tb, index_t k, index_t n, bf16_panels& out) {
  out.k = k;
  out.n = n;
  out.kp = (k + 1) / 2;
  out.panels = (n + bf16_panels::nr - 1) / bf16_panels::nr;
  out.words.resize(std::size_t(out.panels * out.kp * bf16_panels::nr));
#if RECBLOCKS_HAVE_BF16_KERNEL
  if (bf16_gemm_available()) {
    if (tb) detail::pack_b_cols(b, ldb, k, n, out);
    else detail::pack_b_rows(b, ldb, k, n, out);
    return;
  }
#endif
  detail::pack_b_portable(b, ldb, tb, k, n, out);
}

/// A packed copy of a float `[k, n]` matrix (e.g. a layer's weight `[in, out]`).
template <class Derived>
bf16_panels make_bf16_panels(const Eigen::MatrixBase<Derived>& m) {
  matrix<float> rowmajor = m.template cast<float>();
  bf16_panels out;
  pack_bf16_panels(rowmajor.data(), rowmajor.cols(), false, rowmajor.rows(), rowmajor.cols(), out);
  return out;
}

/// `C[m, n] (+)= bf16(op(A)) * B` with `B` already packed (`[k, n]`). `A` is stored with row stride
/// `lda` (`op(A) = A^T` when `ta`). Requires `bf16_gemm_available()`.
inline void gemm_bf16_packed(const float* a, index_t lda, bool ta, index_t m, const bf16_panels& b, float* c, index_t ldc,
                             bool accumulate = false) {
#if RECBLOCKS_HAVE_BF16_KERNEL
  const index_t k = b.k, kp = b.kp;
  if (m == 0 || b.n == 0) return;
  // A is packed one block of rows at a time, right before its products, so the packed block is
  // still in L1/L2 when the micro-kernel reads it (same summation order as one big block).
  constexpr index_t mb = 192;
  auto& buf = detail::bf16_a_scratch(std::size_t(std::min(m, mb) * kp + 16));
  for (index_t i0 = 0; i0 < m; i0 += mb) {
    const index_t rows = std::min(mb, m - i0);
    if (!ta) {
      detail::pack_a_rows(a + i0 * lda, lda, rows, k, buf.data());
      detail::bf16_kernel(buf.data(), kp, 1, rows, b, c + i0 * ldc, ldc, accumulate);
    } else {
      detail::pack_a_cols(a + i0, lda, rows, k, buf.data());
      detail::bf16_kernel(buf.data(), 1, rows, rows, b, c + i0 * ldc, ldc, accumulate);
    }
  }
#else
  (void)a, (void)lda, (void)ta, (void)m, (void)b, (void)c, (void)ldc, (void)accumulate;
#endif
}

/// `C = bf16(op(A)) bf16(op(B))` (`+=` when `accumulate`), the bf16 counterpart of `gemm`: `A`, `B`
/// and `C` as Eigen row-major maps, shapes checked by the caller. Requires `bf16_gemm_available()`.
inline void gemm_bf16(const const_map<float>& a, bool ta, const const_map<float>& b, bool tb, mutable_map<float> c,
                      bool accumulate = false) {
  const index_t m = c.rows(), n = c.cols(), k = ta ? a.rows() : a.cols();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) c.setZero();
    return;
  }
  thread_local bf16_panels packed;
  pack_bf16_panels(b.data(), b.cols(), tb, k, n, packed);
  gemm_bf16_packed(a.data(), a.cols(), ta, m, packed, c.data(), n, accumulate);
}

}  // namespace recblocks
