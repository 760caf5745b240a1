// The small-object tier's failures and races (small_tier.h): corrupt sets and IO errors are
// misses, a failed write never brings an old version back, and a version carried by a set move
// in flight counts as on the device.
#include <gtest/gtest.h>

#include "small_tier_fixture.h"

namespace ssdcache::storage {
namespace {

TEST_F(SmallTierTest, ACorruptSetReadsAsAMissAndIsCounted) {
  Open({});
  Put(KeyIn(10, 0), "x", 1);
  Put(KeyIn(10, 1), "y", 2);
  FlushAll();
  image_->bytes[kBase + 10 * kSetBytes + 100] ^= 0x20;
  SmallTierLookup kind;
  EXPECT_EQ(Get(KeyIn(10, 0), &kind), std::nullopt);
  EXPECT_EQ(kind, SmallTierLookup::kReading);
  EXPECT_EQ(tier_->stats().corrupt_sets, 1u);
  EXPECT_EQ(tier_->stats().false_positive_reads, 0u);
}

TEST_F(SmallTierTest, AReadErrorIsAMiss) {
  Open({}, Wrap::kFaults);
  Put(KeyIn(11, 0), "x", 1);
  Put(KeyIn(11, 1), "y", 2);
  FlushAll();
  InjectAll("read_eio=1");
  EXPECT_EQ(Get(KeyIn(11, 0)), std::nullopt);
  EXPECT_EQ(tier_->stats().read_errors, 1u);
  faults_->set_injector(nullptr);
  EXPECT_EQ(Get(KeyIn(11, 0)), "x");
}

TEST_F(SmallTierTest, AFailedWriteDropsItsRecordsAndNeverServesAnOldVersion) {
  Open({}, Wrap::kFaults);
  const std::string k = KeyIn(12, 0);
  Put(k, "v1", 1);
  Put(KeyIn(12, 1), "other", 2);
  FlushAll();
  InjectAll("write_eio=1");
  EXPECT_TRUE(Put(k, "v2", 3).journal);
  FlushAll();
  faults_->set_injector(nullptr);
  SmallTierStats s = tier_->stats();
  EXPECT_EQ(s.write_errors, 1u);
  EXPECT_EQ(s.write_drops, 2u);  // v2 from the log and `other` from the set
  EXPECT_EQ(s.items, 0u);
  SmallTierLookup kind;
  EXPECT_EQ(Get(k, &kind), std::nullopt);  // the set is void: neither v1 nor v2, and no IO
  EXPECT_EQ(kind, SmallTierLookup::kMiss);
  EXPECT_LE(tier_->UnsettledFloor(), 3u);  // v2's journal entry must outlive the void set
  // A later insert to the void set must be journaled too (v1 may still be on the device).
  EXPECT_TRUE(Put(KeyIn(12, 2), "new", 4).journal);
  FlushAll();  // rewrites the void set without reading it
  EXPECT_EQ(Get(k), std::nullopt);
  EXPECT_EQ(Get(KeyIn(12, 2)), "new");
  EXPECT_EQ(KeysOnDevice(12), std::vector<std::string>{KeyIn(12, 2)});
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
}

// A version a set move carries once its read completed is on its way to the device even after a
// newer version replaced it in the log: a delete then needs a tombstone and a journal entry, and a
// later put a journal entry (a crash loses the log, not the set write).
TEST_F(SmallTierTest, AVersionInAMoveInFlightCountsAsOnTheDevice) {
  Open({}, Wrap::kHolding);
  const std::string k = KeyIn(6, 0);  // set 6 was never written: its filter rules k out
  EXPECT_FALSE(Put(k, "v1", 1).journal);
  holding_->hold_writes = true;
  tier_->Flush();
  aio_->Drain();  // the move's read completes, v1 is merged, its write is held
  ASSERT_TRUE(holding_->holds_write());
  EXPECT_TRUE(Put(k, "v2", 2).journal);  // v1 is moving
  EXPECT_TRUE(Put(k, "v3", 3).journal);  // v2 is not, but v1 still is: a crash brings v1 back
  EXPECT_TRUE(Del(k, 4).journal);
  holding_->hold_writes = false;
  holding_->ReleaseWrite();
  aio_->Drain();
  EXPECT_EQ(KeysOnDevice(6), std::vector<std::string>{k});  // v1 landed
  EXPECT_EQ(Get(k), std::nullopt);                          // the tombstone hides it
  FlushAll();
  EXPECT_EQ(Get(k), std::nullopt);
  EXPECT_TRUE(KeysOnDevice(6).empty());
}

// A clean stop (Flush(true), then wait until idle) rewrites every void set, also those that found
// every move slot busy when it was asked: a restart without the journal finds no older version.
TEST_F(SmallTierTest, ACleanStopRewritesEveryVoidSet) {
  SmallTierOptions o;
  o.max_moves = 1;
  Open(o, Wrap::kFaults);
  for (const uint64_t set : {12, 13}) {
    Put(KeyIn(set, 0), "v1", set * 10);
    Put(KeyIn(set, 1), "other", set * 10 + 1);
  }
  FlushAll();
  InjectAll("write_eio=1");
  for (const uint64_t set : {12, 13}) Put(KeyIn(set, 0), "v2", set * 10 + 2);
  FlushAll();
  faults_->set_injector(nullptr);
  ASSERT_EQ(tier_->stats().write_errors, 2u);  // both sets are void, v1 still on the device
  tier_->Flush(true);                          // one void set takes the only slot, the other waits
  for (int i = 0; i < 100 && !tier_->idle(); ++i) aio_->Poll();
  ASSERT_TRUE(tier_->idle());
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);  // the journal may go
  EXPECT_EQ(tier_->stats().set_writes, 4u);
  Open(options_);
  ASSERT_TRUE(tier_->Rebuild(nullptr).ok);
  for (const uint64_t set : {12, 13}) {
    EXPECT_EQ(Get(KeyIn(set, 0)), std::nullopt) << set;
    EXPECT_TRUE(KeysOnDevice(set).empty()) << set;
  }
}

// A move whose read of its set fails tries again; after 3 failures (or a corrupt set) the set's
// content is lost: counted, and its items (the filter's estimate) leave the count.
TEST_F(SmallTierTest, AMoveReadErrorIsRetriedAndALostSetIsCounted) {
  Open({}, Wrap::kFaults);
  Put(KeyIn(11, 0), "x", 1);
  Put(KeyIn(11, 1), "y", 2);
  FlushAll();
  // A transient error: the retry reads the set, nothing is lost.
  InjectAll("read_eio=1");
  Put(KeyIn(11, 2), "z", 3);
  tier_->Flush();
  for (int i = 0; i < 100 && tier_->stats().read_errors == 0; ++i) aio_->Poll();
  faults_->set_injector(nullptr);
  aio_->Drain();
  SmallTierStats s = tier_->stats();
  EXPECT_EQ(s.read_errors, 1u);
  EXPECT_EQ(s.set_losses, 0u);
  EXPECT_EQ(s.items, 3u);
  EXPECT_EQ(Get(KeyIn(11, 0)), "x");
  // A persistent one: the set is written with the log's record alone.
  InjectAll("read_eio=1");
  Put(KeyIn(11, 3), "w", 4);
  FlushAll();
  faults_->set_injector(nullptr);
  s = tier_->stats();
  EXPECT_EQ(s.read_errors, 4u);
  EXPECT_EQ(s.set_losses, 1u);
  EXPECT_EQ(s.items, 1u);
  EXPECT_EQ(KeysOnDevice(11), std::vector<std::string>{KeyIn(11, 3)});
  // A corrupt set is lost too.
  image_->bytes[kBase + 11 * kSetBytes + 60] ^= 0x20;
  Put(KeyIn(11, 4), "v", 5);
  FlushAll();
  s = tier_->stats();
  EXPECT_EQ(s.corrupt_sets, 1u);
  EXPECT_EQ(s.set_losses, 2u);
  EXPECT_EQ(s.items, 1u);
  EXPECT_EQ(Get(KeyIn(11, 4)), "v");
}

}  // namespace
}  // namespace ssdcache::storage
