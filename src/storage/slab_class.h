// Slab classes: the fixed chunk sizes that items are rounded up to. An item of N bytes (header +
// key + value) lives in one chunk of the smallest class whose chunk size is >= N; a slab of class C
// is an array of (slab payload size / chunk size(C)) chunks, so a chunk index addresses an item.
//
// Invariants: at least one class; chunk sizes are multiples of 8, strictly increasing, the first
// >= the minimum item size and the last equal to the largest chunk (the slab payload size rounded
// down to 8), so every item up to max_item() has a class; at most kMaxClasses classes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/item.h"

namespace ssdcache::storage {

class SlabClasses {
 public:
  static constexpr size_t kMaxClasses = 200;

  // The largest chunk (max_chunk) a slab of slab_size bytes holds: what its header leaves, in 8s.
  static constexpr uint32_t MaxChunk(uint32_t slab_size) {
    return (slab_size - kSlabHeaderSize) & ~uint32_t{7};
  }

  // Geometric classes: min_item rounded up to 8, each next size = previous * factor rounded up to
  // 8 (at least +8), up to max_chunk, whose class is always present. factor must be > 1.0.
  static std::optional<SlabClasses> Geometric(uint32_t min_item, double factor, uint32_t max_chunk,
                                              std::string& error);
  // Explicit sizes (the -z profile), each rounded up to 8, must be strictly increasing and <=
  // max_chunk; max_chunk is appended as the last class if the profile stops short of it.
  static std::optional<SlabClasses> FromProfile(const std::vector<uint32_t>& sizes,
                                                uint32_t max_chunk, std::string& error);

  size_t count() const { return sizes_.size(); }
  uint32_t chunk_size(size_t cls) const { return sizes_[cls]; }
  uint32_t max_item() const { return sizes_.back(); }
  // Smallest class whose chunks hold item_size bytes, or -1 when item_size > max_item().
  int ClassFor(uint32_t item_size) const;

 private:
  std::vector<uint32_t> sizes_;
};

}  // namespace ssdcache::storage
