#pragma once
/// \file hnswlib_include.hpp
/// Internal: includes Debian's hnswlib 0.6.2 inside an unnamed namespace.
///
/// hnswlib 0.6.2's `hnswlib.h` defines the non-inline functions `cpuid`, `xgetbv`, `AVXCapable` and
/// `AVX512Capable` in the header, so two translation units of one program that include it fail to
/// link ("multiple definition"). Wrapped here, every such entity has internal linkage; names resolve
/// as `hnswlib::...` from anywhere in the translation unit. Every standard header hnswlib uses is
/// included first, at global scope, so its include guards keep it out of the unnamed namespace.
/// If a translation unit already included `<hnswlib/hnswlib.h>` itself, `#pragma once` skips the
/// wrapped include and the global `hnswlib::` is used instead.

#include <algorithm>
#include <assert.h>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#include <x86intrin.h>
#endif

// hnswlib 0.6.2's SSE prefetches in searchBaseLayer/searchBaseLayerST read one link past the end of
// a full link list (`*(datal + j + 1)`), 4 bytes beyond a malloc'd block: harmless on real
// allocators but reported by AddressSanitizer. Sanitizer builds compile hnswlib without its manual
// vectorization, which removes those reads.
#if (defined(__SANITIZE_ADDRESS__) || defined(RECBLOCKS_HNSWLIB_NO_SIMD)) && !defined(NO_MANUAL_VECTORIZATION)
#define NO_MANUAL_VECTORIZATION
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-function"
namespace {
#include <hnswlib/hnswlib.h>
}  // namespace
#pragma GCC diagnostic pop
