// RAII owner of a block-aligned heap buffer, as O_DIRECT IO requires. Invariant: data() is aligned
// to the alignment given at construction and holds size() bytes (zeroed at allocation).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ssdcache::util {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(size_t size, size_t alignment) : size_(size) {
    if (size == 0) return;
    size_t rounded = (size + alignment - 1) / alignment * alignment;
    data_ = static_cast<char*>(std::aligned_alloc(alignment, rounded));
    if (data_ != nullptr)
      std::memset(data_, 0, rounded);
    else
      size_ = 0;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { std::free(data_); }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ssdcache::util
