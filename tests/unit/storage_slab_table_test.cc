// Slab table tests: logical ids are reused only after two sweep passes, partly filled slabs are
// packed into one disk slab until it is full or holds its piece budget, every close reaches the
// eviction policy once, and a disk slab is closed by a failed write and freed once its slabs
// were evicted and the frontier past them is durable.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <vector>

#include "storage/slab_table.h"

namespace ssdcache::storage {
namespace {

constexpr uint32_t kSlab = 64 * 1024;

// Records the disk slabs that closed, as lists of their slab ids.
class ClosedLog final : public EvictionPolicy {
 public:
  void Track(const SlabRef&) override {}
  void DiskClosed(std::span<const uint32_t> ids) override {
    closed.emplace_back(ids.begin(), ids.end());
  }
  std::optional<SlabRef> Candidate() const override { return std::nullopt; }
  uint64_t Evicted() override { return 0; }
  uint64_t Skip() override { return 0; }
  void Reset(uint64_t) override {}
  std::vector<std::vector<uint32_t>> closed;
};

class SlabTableTest : public ::testing::Test {
 protected:
  SlabTableTest() : table_(4, 2, kSlab, log_) {}

  // Allocates a logical slab and places `len` bytes of it, as the engine does.
  uint32_t Place(uint32_t len, uint32_t& disk) {
    uint32_t id = 0;
    EXPECT_TRUE(table_.TakeId(0, id));
    if (table_.Packs(len)) {
      disk = static_cast<uint32_t>(table_.packing());
    } else {
      EXPECT_TRUE(table_.TakeDisk(disk));
      const int64_t previous = table_.StartFill(disk, table_[id].seq, len);
      if (previous >= 0) table_.Close(static_cast<uint32_t>(previous));
    }
    table_[id].disk_off = table_.AddPiece(disk, id, len);
    return id;
  }

  ClosedLog log_;
  SlabTable table_;
};

TEST_F(SlabTableTest, IdsFollowTheSequenceAndWaitForTwoSweepPasses) {
  EXPECT_EQ(table_.size(), std::bit_ceil(2 * (4 * table_.max_pieces() + 2)));
  uint32_t id = 0;
  ASSERT_TRUE(table_.TakeId(0, id));
  EXPECT_EQ(table_[id].seq, 1u);
  EXPECT_EQ(id, table_.IdOf(1));
  EXPECT_EQ(table_.next_seq(), 2u);
  // Every id used once and died at sweep pass 5: none comes back before pass 7.
  for (size_t i = 1; i < table_.size(); ++i) ASSERT_TRUE(table_.TakeId(0, id));
  for (SlabInfo& s : table_) s.freed_pass = 5;
  EXPECT_FALSE(table_.TakeId(6, id));
  ASSERT_TRUE(table_.TakeId(7, id));
  EXPECT_EQ(table_[id].seq, table_.next_seq() - 1);
  EXPECT_TRUE(!table_.IsLive(id) && !table_.IsLive(static_cast<uint32_t>(table_.size())));
}

TEST_F(SlabTableTest, PartlyFilledSlabsArePackedUntilTheDiskSlabIsFull) {
  uint32_t d1 = 0, d2 = 0, d3 = 0, d4 = 0;
  const uint32_t a = Place(kSlab / 2, d1);
  const uint32_t b = Place(kSlab / 4, d2);
  EXPECT_EQ(d1, d2);
  EXPECT_EQ(table_[b].disk_off, kSlab / 2);
  EXPECT_TRUE(log_.closed.empty());
  const uint32_t full = Place(kSlab, d3);  // a full slab never joins the packing disk slab
  EXPECT_NE(d3, d1);
  ASSERT_EQ(log_.closed.size(), 1u);
  EXPECT_EQ(log_.closed[0], std::vector<uint32_t>{full});
  const uint32_t c = Place(kSlab / 4, d4);  // fills the packing disk slab exactly
  EXPECT_EQ(d4, d1);
  ASSERT_EQ(log_.closed.size(), 2u);
  EXPECT_EQ(log_.closed[1], (std::vector<uint32_t>{a, b, c}));
  EXPECT_EQ(table_.packing(), -1);
  EXPECT_EQ(table_.disks_in_use(), 2u);
}

TEST_F(SlabTableTest, ANewPackingDiskSlabClosesThePreviousOne) {
  uint32_t d1 = 0, d2 = 0;
  const uint32_t a = Place(kSlab - 4096, d1);
  Place(8192, d2);  // does not fit behind a: a new packing disk slab
  EXPECT_NE(d1, d2);
  EXPECT_EQ(table_.packing(), static_cast<int64_t>(d2));
  ASSERT_EQ(log_.closed.size(), 1u);
  EXPECT_EQ(log_.closed[0], std::vector<uint32_t>{a});
  EXPECT_FALSE(table_.Close(d1)) << "its write is still in flight";
  EXPECT_EQ(log_.closed.size(), 1u) << "closed twice";
}

TEST_F(SlabTableTest, AFailedWriteClosesTheDiskSlabWhichIsReusedLikeAnyOther) {
  uint32_t disk = 0;
  Place(kSlab / 2, disk);
  table_.Fail(disk);
  EXPECT_EQ(table_.packing(), -1) << "it takes no more pieces";
  EXPECT_EQ(log_.closed.size(), 1u);
  DiskSlab& d = table_.disk(disk);
  d.pending = 0;
  EXPECT_EQ(table_.Finish(disk, 1), SlabTable::Finished::kInUse) << "its slab counts as live";
  d.live_pieces = 0;  // the engine killed the slab whose write failed
  EXPECT_EQ(table_.Finish(disk, 9), SlabTable::Finished::kFreeing);
  EXPECT_FALSE(table_.Release(0)) << "nothing reached the device: no frontier to wait for";
  EXPECT_EQ(table_.disks_in_use(), 0u);
  EXPECT_EQ(table_.disks_free(), 4u) << "never retired: failed writes cannot use up the device";
}

TEST_F(SlabTableTest, AnEvictedDiskSlabIsReusedOnlyOnceTheFrontierIsDurable) {
  uint32_t disk = 0;
  Place(kSlab, disk);
  DiskSlab& d = table_.disk(disk);
  d.pending = 0;
  d.written = true;  // the engine marks it when the write completes
  EXPECT_EQ(table_.Finish(disk, 9), SlabTable::Finished::kInUse) << "its slab still lives";
  d.live_pieces = 0;
  EXPECT_EQ(table_.Finish(disk, 9), SlabTable::Finished::kFreeing);
  EXPECT_EQ(table_.disks_free(), 4u);
  EXPECT_TRUE(table_.Release(8)) << "freed before the frontier past its slab was durable";
  uint32_t taken[3];
  for (uint32_t& t : taken) ASSERT_TRUE(table_.TakeDisk(t));
  uint32_t more = 0;
  EXPECT_FALSE(table_.TakeDisk(more));
  EXPECT_FALSE(table_.Release(9));
  ASSERT_TRUE(table_.TakeDisk(more));
  EXPECT_EQ(more, disk);
}

TEST_F(SlabTableTest, RecoveredClosesTheDiskSlabsThatHoldSlabs) {
  table_.disk(2).pieces = {7, 9};
  table_.Recovered();
  EXPECT_EQ(table_.disks_in_use(), 1u);
  EXPECT_EQ(table_.disks_free(), 3u);
  EXPECT_TRUE(table_.disk(2).closed);
  ASSERT_EQ(log_.closed.size(), 1u);
  EXPECT_EQ(log_.closed[0], (std::vector<uint32_t>{7, 9}));
  uint32_t disk = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(table_.TakeDisk(disk));
    EXPECT_NE(disk, 2u);
  }
}

}  // namespace
}  // namespace ssdcache::storage
