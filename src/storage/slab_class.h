// Slab classes: the fixed chunk sizes that items are rounded up to. An item of N bytes (header +
// key + value) lives in one chunk of the smallest class whose chunk size is >= N; a slab of class C
// is an array of (slab payload size / chunk size(C)) chunks, so a chunk index addresses an item.
//
// Invariants: at least one class; chunk sizes are multiples of 8, strictly increasing, the first
// >= the minimum item size and the last equal to the largest chunk (the slab payload size rounded
// down to 8), so every item up to max_item() has a class; at most kMaxClasses classes.
//
// ChunkLayout says where a class's chunks lie in a slab: a chunk no larger than the device block
// never straddles a block boundary, so a get of an item that fits in a block reads one block.
#pragma once

#include <algorithm>
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

  // The classes fitted to device blocks of `block` bytes: each chunk size up to the block becomes
  // the largest multiple of 8 that still puts as many chunks in a block (block / k for k chunks
  // per block), and equal sizes merge. Every item up to the block then finds a class whose chunks
  // fit in a block (the largest such is the block itself), and no device space is given to a
  // class that a larger chunk of the same count per block would not also use. Geometric classes
  // are fitted (Engine::Create); an explicit -z profile is kept as given.
  SlabClasses FitToBlocks(uint32_t block) const;

  size_t count() const { return sizes_.size(); }
  uint32_t chunk_size(size_t cls) const { return sizes_[cls]; }
  uint32_t max_item() const { return sizes_.back(); }
  // Smallest class whose chunks hold item_size bytes, or -1 when item_size > max_item().
  int ClassFor(uint32_t item_size) const;

 private:
  std::vector<uint32_t> sizes_;
};

// Where the chunks of one class lie in a slab (the same in a memory buffer and on the device: a
// slab's pieces start on block boundaries). The slab header comes first. Chunks no larger than a
// block are packed block by block (the first block after the header), each block's tail left
// unused, so none straddles a block boundary; larger chunks follow each other from the header on.
class ChunkLayout {
 public:
  ChunkLayout(uint32_t chunk_size, uint32_t slab_size, uint32_t block);

  uint32_t chunk_size() const { return chunk_size_; }
  uint32_t count() const { return count_; }  // chunks per slab
  // Byte offset of chunk `c` (< count()) from the start of the slab.
  uint64_t offset(uint32_t c) const {
    if (per_block_ == 0 || c < first_) return kSlabHeaderSize + uint64_t{c} * chunk_size_;
    const uint32_t rest = c - first_;
    return uint64_t{block_} * (1 + rest / per_block_) + uint64_t{rest % per_block_} * chunk_size_;
  }
  // Bytes from the start of the slab to the end of its first `used` chunks (the header alone
  // when none): what a partly filled slab's write must cover.
  uint64_t end(uint32_t used) const {
    return used == 0 ? kSlabHeaderSize : offset(used - 1) + chunk_size_;
  }
  // Bytes a slab of `used` chunks takes on the device (its piece): the whole slab when full,
  // else end(used) rounded up to the block, so the next piece of its disk slab starts on one.
  uint32_t piece_bytes(uint32_t used) const {
    if (used >= count_) return slab_size_;
    const uint64_t len = (end(used) + block_ - 1) / block_ * block_;
    return static_cast<uint32_t>(std::min<uint64_t>(len, slab_size_));
  }

 private:
  uint32_t chunk_size_;
  uint32_t slab_size_;
  uint32_t block_;
  uint32_t per_block_ = 0;  // chunks per block after the first (0: chunks larger than a block)
  uint32_t first_ = 0;      // chunks in the first block, behind the header
  uint32_t count_ = 0;
};

}  // namespace ssdcache::storage
