// Eviction policy tests: the seal order evicts in seal order whatever disk slabs close when, and
// its frontier follows the evictions; the test-only disk-close order evicts a full slab sealed
// after a packed slab whose disk slab is still open, and keeps its frontier below that slab.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "storage/eviction_policy.h"

namespace ssdcache::storage {
namespace {

// Two slabs as the resurrection defect needs them: `packed` sealed first, partly filled, its
// disk slab still open; `full` sealed later, in a disk slab of its own that closed at once.
constexpr SlabRef kPacked{3, 103, 10};
constexpr SlabRef kFull{4, 104, 11};
constexpr std::array<uint32_t, 1> kFullDisk{kFull.id};
constexpr std::array<uint32_t, 1> kPackedDisk{kPacked.id};

void TrackBoth(EvictionPolicy& p) {
  p.Track(kPacked);
  p.Track(kFull);
  p.DiskClosed(kFullDisk);
}

TEST(SealOrderPolicyTest, EvictsInSealOrderWhateverClosedFirst) {
  SealOrderPolicy p;
  EXPECT_FALSE(p.Candidate().has_value());
  TrackBoth(p);
  ASSERT_TRUE(p.Candidate().has_value());
  EXPECT_EQ(p.Candidate()->seq, kPacked.seq) << "the full slab overtook the packed one";
  EXPECT_EQ(p.Evicted(), kPacked.seal + 1);
  EXPECT_EQ(p.Candidate()->seq, kFull.seq);
  EXPECT_EQ(p.Evicted(), kFull.seal + 1);
  EXPECT_FALSE(p.Candidate().has_value());
}

TEST(SealOrderPolicyTest, SkipMovesTheFrontierPastTheDeadSlab) {
  SealOrderPolicy p;
  TrackBoth(p);
  // The packed slab died with a failed write: the frontier passes it as an eviction would, or
  // the disk slabs waiting for that frontier would never be reused.
  EXPECT_EQ(p.Skip(), kPacked.seal + 1);
  EXPECT_EQ(p.Candidate()->seq, kFull.seq);
  EXPECT_EQ(p.Evicted(), kFull.seal + 1);
}

TEST(SealOrderPolicyTest, ResetForgetsEverything) {
  SealOrderPolicy p;
  TrackBoth(p);
  p.Reset(5);
  EXPECT_FALSE(p.Candidate().has_value());
}

TEST(DiskCloseOrderPolicyTest, EvictsTheLaterFullSlabFirst) {
  DiskCloseOrderPolicy p;
  TrackBoth(p);
  ASSERT_TRUE(p.Candidate().has_value());
  EXPECT_EQ(p.Candidate()->seq, kFull.seq) << "the old order must reproduce the defect";
  // The packed slab still lives, so the frontier stays at or below its seal: a restart finds it.
  EXPECT_LE(p.Evicted(), kPacked.seal);
  EXPECT_FALSE(p.Candidate().has_value()) << "the packed slab's disk slab is still open";
  p.DiskClosed(kPackedDisk);
  EXPECT_EQ(p.Candidate()->seq, kPacked.seq);
  EXPECT_EQ(p.Evicted(), kFull.seal + 1) << "everything tracked is gone";
}

TEST(DiskCloseOrderPolicyTest, FrontierStartsAtTheRecoveredOneAndNeverFalls) {
  DiskCloseOrderPolicy p;
  p.Reset(20);
  TrackBoth(p);  // seals below the recovered frontier (not what a restart tracks, but bounded)
  EXPECT_EQ(p.Evicted(), 20u);
}

TEST(DiskCloseOrderPolicyTest, SkipMovesTheFrontierPastADeadSlab) {
  DiskCloseOrderPolicy p;
  p.Track(kPacked);
  p.Track(kFull);
  p.DiskClosed(kPackedDisk);
  // The packed slab died: nothing below the full slab lives.
  EXPECT_EQ(p.Skip(), kFull.seal);
  p.DiskClosed(kFullDisk);
  EXPECT_EQ(p.Evicted(), kFull.seal + 1);
}

TEST(EvictionPolicyTest, CreateMakesTheOrderAsked) {
  for (EvictionOrder order : {EvictionOrder::kSeal, EvictionOrder::kDiskCloseForTests}) {
    auto p = EvictionPolicy::Create(order);
    TrackBoth(*p);
    EXPECT_EQ(p->Candidate()->seq, order == EvictionOrder::kSeal ? kPacked.seq : kFull.seq);
  }
}

}  // namespace
}  // namespace ssdcache::storage
