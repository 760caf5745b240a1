// The Admission part alone (admission.h): the ghost remembers and forgets keys by fingerprint,
// in a fixed power of two of buckets, and recalls only the last drops within a window; the
// probation queue hands out its slabs oldest first and
// never more than its share.
#include <gtest/gtest.h>

#include <cstdint>

#include "storage/admission.h"

namespace ssdcache::storage {
namespace {

uint64_t Hash(uint64_t i) { return (i + 1) * 0x9E3779B97F4A7C15ULL; }

TEST(Ghost, SizesToAPowerOfTwoOfBucketsWithinItsBudget) {
  EXPECT_EQ(Ghost::BytesFor(0), 0u);
  EXPECT_EQ(Ghost::BytesFor(63), 0u);
  EXPECT_EQ(Ghost::BytesFor(64), 64u);
  EXPECT_EQ(Ghost::BytesFor(1000), 512u);
  EXPECT_EQ(Ghost(4u << 20).bytes(), 4u << 20);
}

TEST(Ghost, RecallsWhatItRememberedOnce) {
  Ghost g(64 * 1024);
  for (uint64_t i = 0; i < 100; ++i) g.Remember(Hash(i));
  for (uint64_t i = 0; i < 100; ++i) EXPECT_TRUE(g.Recall(Hash(i), 1000)) << i;
  for (uint64_t i = 0; i < 100; ++i) EXPECT_FALSE(g.Recall(Hash(i), 1000)) << "forgotten: " << i;
  EXPECT_FALSE(g.Recall(Hash(1000), 1000));
}

TEST(Ghost, RecallsOnlyTheLastDropsOfItsWindow) {
  Ghost g(64 * 1024);
  for (uint64_t i = 0; i < 100; ++i) g.Remember(Hash(i));
  // The last 10 drops are 90..99.
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(g.Recall(Hash(i), 10), i >= 90) << i;
}

TEST(Ghost, AFullBucketGivesUpItsOldestSlotsNeverGrows) {
  Ghost g(64);  // one bucket of 8 slots
  for (uint64_t i = 0; i < 64; ++i) g.Remember(Hash(i));
  for (uint64_t i = 0; i < 64; ++i) EXPECT_EQ(g.Recall(Hash(i), 1000), i >= 56) << i;
  EXPECT_EQ(g.bytes(), 64u);
}

TEST(Ghost, WithoutBytesRemembersNothing) {
  Ghost g(0);
  g.Remember(Hash(1));
  EXPECT_FALSE(g.Recall(Hash(1), 1000));
}

TEST(Admission, QueuesOldestFirstWithinItsShare) {
  Admission a(2, 64);
  EXPECT_TRUE(a.enabled());
  EXPECT_TRUE(a.HasRoom());
  a.Opened();
  a.Queue(7);
  a.Opened();
  a.Queue(9);
  EXPECT_FALSE(a.HasRoom());
  EXPECT_EQ(a.TakeOldest(), 7u);
  a.Closed();
  EXPECT_TRUE(a.HasRoom());
  EXPECT_EQ(a.slabs(), 1u);
  const auto rest = a.TakeQueue();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest.front(), 9u);
  EXPECT_FALSE(a.TakeOldest());
}

TEST(Admission, AStopTurnsItOff) {
  Admission a(3, 64);
  a.Stop();
  EXPECT_FALSE(a.enabled());
  EXPECT_FALSE(a.HasRoom());
  EXPECT_FALSE(Admission(0, 64).enabled());
}

}  // namespace
}  // namespace ssdcache::storage
