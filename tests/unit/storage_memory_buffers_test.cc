// MemoryBuffers: free buffers go first, clean ones oldest first and with the seq of their slab.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>

#include "storage/memory_buffers.h"

namespace ssdcache::storage {
namespace {

constexpr uint32_t kSlab = 64 * 1024;

TEST(MemoryBuffersTest, EveryBufferIsFreeAtFirstAndTheyDoNotOverlap) {
  MemoryBuffers b(3, kSlab);
  ASSERT_TRUE(b.allocated());
  EXPECT_EQ(b.count(), 3u);
  EXPECT_EQ(b.available(), 3u);
  std::set<uint32_t> seen;
  for (int i = 0; i < 3; ++i) {
    const MemoryBuffers::Taken t = b.Take();
    EXPECT_EQ(t.cached_seq, 0u);  // a free buffer held no slab
    EXPECT_TRUE(seen.insert(t.mem).second);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data(t.mem)) % 4096, 0u);  // O_DIRECT aligned
  }
  EXPECT_FALSE(b.Available());
  EXPECT_EQ(b.data(1) - b.data(0), kSlab);
}

TEST(MemoryBuffersTest, FreeBuffersAreTakenBeforeCleanOnesAndCleanOnesOldestFirst) {
  MemoryBuffers b(3, kSlab);
  const uint32_t a = b.Take().mem, c = b.Take().mem, d = b.Take().mem;
  b.KeepClean(a, 11);  // written first
  b.KeepClean(c, 12);
  b.Free(d);  // a write that failed: nothing to keep
  EXPECT_EQ(b.available(), 3u);
  const MemoryBuffers::Taken first = b.Take();
  EXPECT_EQ(first.mem, d);  // the cached copies stay as long as a free buffer is left
  EXPECT_EQ(first.cached_seq, 0u);
  const MemoryBuffers::Taken second = b.Take();
  EXPECT_EQ(second.mem, a);
  EXPECT_EQ(second.cached_seq, 11u);  // the engine stops reading slab 11 from DRAM
  const MemoryBuffers::Taken third = b.Take();
  EXPECT_EQ(third.mem, c);
  EXPECT_EQ(third.cached_seq, 12u);
  EXPECT_FALSE(b.Available());
}

}  // namespace
}  // namespace ssdcache::storage
