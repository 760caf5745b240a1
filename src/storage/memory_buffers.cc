#include "storage/memory_buffers.h"

namespace ssdcache::storage {

MemoryBuffers::MemoryBuffers(size_t count, uint32_t slab_size)
    : slab_size_(slab_size), count_(count), memory_(count * slab_size) {
  if (memory_.empty()) return;
  free_.reserve(count);
  for (size_t i = count; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

MemoryBuffers::Taken MemoryBuffers::Take() {
  if (!free_.empty()) {
    const uint32_t mem = free_.back();
    free_.pop_back();
    return {mem, 0};
  }
  const auto [mem, seq] = clean_.front();
  clean_.pop_front();
  return {mem, seq};
}

}  // namespace ssdcache::storage
