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
// content is lost: counted, and its items (the filter's estimate) leave the count. The reads are
// held and failed one by one (no fault injector changes while an op is out).
TEST_F(SmallTierTest, AMoveReadErrorIsRetriedAndALostSetIsCounted) {
  Open({}, Wrap::kHolding);
  Put(KeyIn(11, 0), "x", 1);
  Put(KeyIn(11, 1), "y", 2);
  FlushAll();
  // A transient error: the retry reads the set, nothing is lost.
  holding_->hold = true;
  Put(KeyIn(11, 2), "z", 3);
  tier_->Flush();
  ASSERT_TRUE(holding_->holds_read());
  holding_->hold = false;
  holding_->Release(/*fail=*/true);
  aio_->Drain();
  SmallTierStats s = tier_->stats();
  EXPECT_EQ(s.read_errors, 1u);
  EXPECT_EQ(s.set_losses, 0u);
  EXPECT_EQ(s.items, 3u);
  EXPECT_EQ(Get(KeyIn(11, 0)), "x");
  // A persistent one: the set is written with the log's record alone.
  holding_->hold = true;
  Put(KeyIn(11, 3), "w", 4);
  tier_->Flush();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(holding_->holds_read()) << i;
    holding_->Release(/*fail=*/true);  // the retry is held again
  }
  holding_->hold = false;
  EXPECT_FALSE(holding_->holds_read());
  FlushAll();
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

// Each void set keeps the floor of what its failed writes dropped (a rewrite with no records that
// fails again keeps it): once one void set is rewritten, the floor rises to the other's.
TEST_F(SmallTierTest, EachVoidSetKeepsItsOwnFloorUntilItsRewriteSucceeds) {
  SmallTierOptions o;
  o.max_moves = 1;
  Open(o, Wrap::kHolding);
  // Every write of a Flush() fails (void sets' rewrites included).
  const auto flush_failing = [&] {
    holding_->hold_writes = true;
    tier_->Flush();
    for (int i = 0; i < 10; ++i) {
      aio_->Drain();
      if (!holding_->holds_write()) break;
      holding_->ReleaseWrite(/*fail=*/true);
    }
    holding_->hold_writes = false;
  };
  Put(KeyIn(3, 0), "v", 100);
  flush_failing();
  EXPECT_EQ(tier_->UnsettledFloor(), 100u);
  Put(KeyIn(4, 0), "v", 1000);
  flush_failing();
  EXPECT_EQ(tier_->stats().write_errors, 3u);  // set 3 twice, set 4 once
  EXPECT_EQ(tier_->UnsettledFloor(), 100u);
  // Set 3 is rewritten, set 4 fails again.
  holding_->hold_writes = true;
  tier_->RetryVoidSets();
  for (int i = 0; i < 10 && holding_->holds_write(); ++i) {
    holding_->ReleaseWrite(/*fail=*/holding_->held_write_set() != 3);
    aio_->Drain();
  }
  holding_->hold_writes = false;
  EXPECT_EQ(tier_->stats().write_errors, 4u);
  EXPECT_EQ(tier_->UnsettledFloor(), 1000u);
  FlushAll();
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
}

// A void set that gets no new records is rewritten while the tier runs, with no Flush(): one per
// kVoidRetryMoves moves of other sets, so its floor stops holding the journal back.
TEST_F(SmallTierTest, AQuietVoidSetIsRewrittenWhileRunning) {
  SmallTierOptions o;
  o.log_bytes = 64 << 10;
  Open(o, Wrap::kHolding);
  const std::string k = KeyIn(12, 0);
  Put(k, "v1", 1);
  Put(KeyIn(12, 1), "other", 2);
  FlushAll();
  Put(k, "v2", 3);
  holding_->hold_writes = true;
  tier_->Flush();
  aio_->Drain();
  ASSERT_TRUE(holding_->holds_write());
  holding_->hold_writes = false;
  holding_->ReleaseWrite(/*fail=*/true);  // set 12 is void, v1 still on the device
  aio_->Drain();
  ASSERT_EQ(tier_->UnsettledFloor(), 3u);
  ASSERT_EQ(KeysOnDevice(12).size(), 2u);
  // Other sets' records, moved out by the log's pressure alone.
  const std::string value(100, 'v');
  uint64_t wseq = 10;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = "run" + std::to_string(i);
    if (util::HashKey(key) % options_.sets == 12) continue;
    if (Put(key, value, ++wseq).status == SmallTierStatus::kNoRoom) {
      aio_->Drain();  // the moves in flight complete: room again
      ASSERT_EQ(Put(key, value, ++wseq).status, SmallTierStatus::kOk) << i;
    }
    aio_->Poll();
  }
  aio_->Drain();
  EXPECT_GE(tier_->stats().set_writes, 1u + SmallTier::kVoidRetryMoves + 1);
  EXPECT_GT(tier_->UnsettledFloor(), 10u);
  EXPECT_TRUE(KeysOnDevice(12).empty());  // rewritten without v1
  EXPECT_EQ(tier_->stats().write_errors, 1u);
}

// A set write that fails during a clean stop (Flush(true)) is written again before the tier is
// idle: the restart, with no journal, finds no older version.
TEST_F(SmallTierTest, ASetWriteThatFailsDuringACleanStopIsWrittenAgain) {
  Open({}, Wrap::kHolding);
  const std::string k = KeyIn(12, 0);
  Put(k, "v1", 1);
  Put(KeyIn(12, 1), "other", 2);
  FlushAll();
  EXPECT_TRUE(Put(k, "v2", 3).journal);
  holding_->hold_writes = true;
  tier_->Flush(true);
  aio_->Drain();
  ASSERT_TRUE(holding_->holds_write());
  holding_->hold_writes = false;
  holding_->ReleaseWrite(/*fail=*/true);  // the device keeps v1
  aio_->Drain();
  EXPECT_TRUE(tier_->idle());
  EXPECT_EQ(tier_->stats().write_errors, 1u);
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);  // the journal may go
  EXPECT_TRUE(KeysOnDevice(12).empty());           // v2 and `other` were dropped with the failure
  Open(options_);
  ASSERT_TRUE(tier_->Rebuild(nullptr).ok);
  EXPECT_EQ(Get(k), std::nullopt);
}

// ... but a device that keeps failing does not keep the stop busy: after kForcedWrites writes the
// set stays void, and its floor keeps the journal entries.
TEST_F(SmallTierTest, ACleanStopGivesAFailingSetABoundedNumberOfWrites) {
  Open({}, Wrap::kFaults);
  const std::string k = KeyIn(12, 0);
  Put(k, "v1", 1);
  FlushAll();
  Put(k, "v2", 2);
  InjectAll("write_eio=1");
  tier_->Flush(true);
  aio_->Drain();
  faults_->set_injector(nullptr);
  EXPECT_TRUE(tier_->idle());
  EXPECT_EQ(tier_->stats().write_errors, SmallTier::kForcedWrites);
  EXPECT_EQ(tier_->UnsettledFloor(), 2u);
  FlushAll(true);
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
}

// With the log full of records pinned by moves in flight, an Insert is refused and drops the key's
// log version when nothing older can be on the device (a store elsewhere leaves nothing behind);
// an Erase that needs a tombstone is refused with nothing changed, and succeeds once IO completed.
TEST_F(SmallTierTest, ARefusalForAFullLogLeavesNoOlderVersionBehind) {
  SmallTierOptions o;
  o.log_bytes = 64 << 10;
  o.sets = 64;
  o.max_moves = 8;  // fewer than the 16 sets whose moves fill the slots below
  Open(o);
  uint64_t wseq = 0;
  for (uint64_t set = 0; set < 16; ++set) {
    for (int i = 0; i < 8; ++i) Put(KeyIn(set, i), "v", ++wseq);  // on the device
  }
  FlushAll();
  // Records of sets 0-15 (their moves take every slot and, with no IO completing, stay in
  // flight), then x alone in set 40, then more until the ring is full.
  const std::string value(100, 'v');
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(Put(KeyIn(i % 16, 100 + i), value, ++wseq).status, SmallTierStatus::kOk);
  const std::string x = KeyIn(40, 0);
  ASSERT_FALSE(Put(x, "x1", ++wseq).journal);
  bool full = false;
  for (int i = 0; i < 1000 && !full; ++i) {
    full = Put(KeyIn(i % 16, 200 + i), value, ++wseq).status == SmallTierStatus::kNoRoom;
  }
  ASSERT_TRUE(full);
  EXPECT_EQ(Put(x, std::string(300, 'w'), ++wseq).status, SmallTierStatus::kNoRoom);
  Answer a;
  EXPECT_EQ(tier_->Lookup(x, util::HashKey(x), &a, 1).kind, SmallTierLookup::kMiss);  // not x1
  const SmallTierWrite gone = Del(x, ++wseq);  // what a store elsewhere does: nothing left here
  EXPECT_EQ(gone.status, SmallTierStatus::kOk);
  EXPECT_FALSE(gone.journal);
  // Deletes of keys on the device need tombstones, until the ring's reserve for them is used up.
  std::string refused;
  for (int i = 0; i < 128 && refused.empty(); ++i) {
    const std::string key = KeyIn(i % 16, i / 16);
    const uint64_t before = tier_->stats().log_items;
    const SmallTierWrite w = Del(key, ++wseq);
    if (w.status == SmallTierStatus::kOk) {
      EXPECT_TRUE(w.journal) << key;
      continue;
    }
    EXPECT_EQ(w.status, SmallTierStatus::kNoRoom);
    EXPECT_FALSE(w.journal);
    EXPECT_EQ(tier_->stats().log_items, before);  // nothing changed
    refused = key;
  }
  ASSERT_FALSE(refused.empty());
  aio_->Drain();  // the moves complete: room again
  const SmallTierWrite w = Del(refused, ++wseq);
  EXPECT_EQ(w.status, SmallTierStatus::kOk);
  EXPECT_TRUE(w.journal);
  EXPECT_EQ(Get(refused), std::nullopt);
  EXPECT_EQ(Get(x), std::nullopt);
}

}  // namespace
}  // namespace ssdcache::storage
