// RAII owner of a large anonymous buffer backed by transparent huge pages where the kernel can
// (MADV_HUGEPAGE), used for the memory slabs.
//
// Why: a slab is written with one O_DIRECT write, and the block layer needs one segment per
// physically contiguous run of pages. In 4 KiB pages a 1 MiB slab is 256 segments, more than a
// virtio disk takes in one request (max_segments 254 here), so every slab write was split in two
// and never merged with its neighbours; inside a 2 MiB huge page it is one segment.
//
// Invariants: data() is aligned to kHugePage and holds size() bytes, zeroed and resident (touched
// at construction, so the DRAM is committed at start-up as -m promises); empty() on failure.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace ssdcache::util {

class HugeBuffer {
 public:
  static constexpr size_t kHugePage = 2 * 1024 * 1024;

  HugeBuffer() = default;
  explicit HugeBuffer(size_t size) {
    if (size == 0) return;
    // Over-allocate by one huge page, then trim, so the data starts on a huge-page boundary.
    const size_t rounded = (size + kHugePage - 1) / kHugePage * kHugePage;
    const size_t mapped = rounded + kHugePage;
    void* mem = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return;
    const uintptr_t base = reinterpret_cast<uintptr_t>(mem);
    const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) munmap(mem, aligned - base);
    const uintptr_t end = base + mapped;
    if (end > aligned + rounded)
      munmap(reinterpret_cast<void*>(aligned + rounded), end - aligned - rounded);
    data_ = reinterpret_cast<char*>(aligned);
    mapped_ = rounded;
    size_ = size;
    madvise(data_, mapped_, MADV_HUGEPAGE);  // best effort: 4 KiB pages still work
    std::memset(data_, 0, mapped_);
  }
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;
  HugeBuffer(HugeBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        mapped_(std::exchange(o.mapped_, 0)) {}
  HugeBuffer& operator=(HugeBuffer&& o) noexcept {
    if (this != &o) {
      Release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
  }
  ~HugeBuffer() { Release(); }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }

 private:
  void Release() {
    if (data_ != nullptr) munmap(data_, mapped_);
    data_ = nullptr;
  }
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
};

}  // namespace ssdcache::util
