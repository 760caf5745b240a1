// The memory slabs' buffers (-m/--max-memory), one slab each, in huge pages (block aligned, as
// O_DIRECT writes need). A buffer holds an open slab, a slab being written, a copy of a slab
// already on the device (a clean buffer), or nothing (a free one). Clean buffers keep serving
// their slab's reads from DRAM until a new slab needs the buffer, so -m is both the write buffer
// and a read cache of the most recently written slabs.
//
// Invariants:
//  - A buffer is on at most one list, free or clean; Take() hands out a free buffer before a
//    clean one, and clean ones oldest first, so cached copies live as long as they can.
//  - A clean buffer names its slab by seq, never by logical id: when that slab died meanwhile,
//    the copy is stale and the buffer is just a free one (the engine checks the seq it gets back).
//  - Which slab a buffer holds is the slab table's business (SlabInfo::mem, SlabInfo::cached);
//    this class only keeps the lists, so it cannot disagree with the table about a slab.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "util/huge_buffer.h"

namespace ssdcache::storage {

class MemoryBuffers {
 public:
  // `count` buffers of `slab_size` bytes, all free; allocated() false when the memory could not
  // be had.
  MemoryBuffers(size_t count, uint32_t slab_size);

  bool allocated() const { return count_ == 0 || !memory_.empty(); }
  size_t count() const { return count_; }
  char* data(uint32_t mem) { return memory_.data() + uint64_t{mem} * slab_size_; }
  const char* data(uint32_t mem) const { return memory_.data() + uint64_t{mem} * slab_size_; }

  // Buffers a new slab can take: the free ones and the clean ones.
  size_t available() const { return free_.size() + clean_.size(); }
  bool Available() const { return available() > 0; }

  struct Taken {
    uint32_t mem = 0;
    uint64_t cached_seq = 0;  // the slab whose copy the buffer held (0: it was free)
  };
  // A buffer for a new slab (Available() must be true).
  Taken Take();
  // The buffer holds nothing worth keeping (a slab recycled unwritten, or whose write failed).
  void Free(uint32_t mem) { free_.push_back(mem); }
  // The buffer's slab `seq` is on the device now: the buffer keeps its copy until taken.
  void KeepClean(uint32_t mem, uint64_t seq) { clean_.emplace_back(mem, seq); }

 private:
  uint32_t slab_size_;
  size_t count_;
  util::HugeBuffer memory_;
  std::vector<uint32_t> free_;                       // taken from the back
  std::deque<std::pair<uint32_t, uint64_t>> clean_;  // (buffer, slab seq), oldest first
};

}  // namespace ssdcache::storage
