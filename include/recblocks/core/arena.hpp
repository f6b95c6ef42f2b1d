#pragma once
/// \file arena.hpp
/// A bump allocator for the intermediate values and gradients of one training step or inference
/// call. `allocate` is a pointer bump; `reset()` rewinds. A step that overflowed into extra blocks
/// is merged on the next reset into one block sized to the high-water mark plus 25 %, so after
/// warm-up a step performs no heap allocation.

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

namespace recblocks {

class arena {
 public:
  static constexpr std::size_t alignment = 64;

  explicit arena(std::size_t initial_bytes = 1 << 16) { add_block(initial_bytes); }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  arena(arena&&) noexcept = default;
  arena& operator=(arena&&) noexcept = default;

  /// Returns `bytes` of uninitialised memory aligned to 64 bytes, valid until `reset()`.
  void* allocate(std::size_t bytes) {
    bytes = (bytes + alignment - 1) & ~(alignment - 1);
    block& b = blocks_.back();
    if (b.used + bytes <= b.size) [[likely]] {
      void* p = b.data.get() + b.used;
      b.used += bytes;
      in_use_ += bytes;
      return p;
    }
    add_block(std::max(bytes, b.size * 2));
    return allocate(bytes);
  }

  template <class U>
  U* allocate_array(std::size_t n) {
    return static_cast<U*>(allocate(n * sizeof(U)));
  }

  /// Frees everything allocated since the last reset (keeps the memory).
  void reset() {
    high_water_ = std::max(high_water_, in_use_);
    if (blocks_.size() > 1) {
      const std::size_t want = high_water_ + high_water_ / 4;
      blocks_.clear();
      add_block(want);
    }
    blocks_.back().used = 0;
    in_use_ = 0;
  }

  std::size_t bytes_in_use() const { return in_use_; }
  std::size_t capacity() const {
    std::size_t c = 0;
    for (auto& b : blocks_) c += b.size;
    return c;
  }

 private:
  struct aligned_free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  struct block {
    std::unique_ptr<std::byte, aligned_free> data;
    std::size_t size = 0;
    std::size_t used = 0;
  };
  void add_block(std::size_t bytes) {
    bytes = std::max<std::size_t>((bytes + alignment - 1) & ~(alignment - 1), alignment);
    auto* p = static_cast<std::byte*>(std::aligned_alloc(alignment, bytes));
    if (!p) throw std::bad_alloc();
    blocks_.push_back(block{std::unique_ptr<std::byte, aligned_free>(p), bytes, 0});
  }
  std::vector<block> blocks_;
  std::size_t in_use_ = 0;
  std::size_t high_water_ = 0;
};

}  // namespace recblocks
