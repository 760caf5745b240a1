// Engine tests of admission (--admit, engine_admit.cc): a key's first write waits in a probation
// slab; screened unread, it is dropped (counted in evictions, the ghost remembers its key, and its
// next write goes to an ordinary slab); read there, it reaches the device as the same version; a
// write again goes to an ordinary slab at once; a clean stop writes what probation holds, and
// flush_all discards it; a store the journal must cover never waits in probation.
#include <gtest/gtest.h>

#include <string>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

// 16 slabs of -m: the ghost takes one (-m/16), probation a quarter of the other 15 (3 slabs).
constexpr uint64_t kMemory = 16 * kSlab;
constexpr uint64_t kDevice = 64 * kSlab;
constexpr uint32_t kNow = 1000000;

class EngineAdmitTest : public testing::EngineFixture {
 protected:
  EngineAdmitTest() : EngineFixture("admit") {}

  void OpenAdmit(uint64_t journal = 0) {
    options_.admission = true;
    options_.reinsert = false;  // only admission moves items here
    options_.journal_size = journal;
    options_.boot_id = 42;
    OpenWith(kDevice + (journal + kSlab - 1) / kSlab * kSlab, options_);
  }

  // First writes of new keys, never read, until probation screened `drops` more of them.
  void FillProbation(uint64_t drops = 1) {
    const uint64_t until = engine_->stats().admit_dropped + drops;
    for (int i = 0; i < 10000 && engine_->stats().admit_dropped < until; ++i) {
      ASSERT_EQ(Set("fill" + std::to_string(fill_++), std::string(2000, 'f')),
                StoreResult::kStored);
    }
    ASSERT_GE(engine_->stats().admit_dropped, until);
    Pump();
  }

  // Enough first writes that every probation slab there was is screened.
  void ScreenEverything() { FillProbation(4 * kSlab / 2000); }

  // Ordinary slabs (each key written twice: the second write goes to one at once) for more than
  // -m holds, so that what ordinary slabs held before is written and then read from the device.
  void PushToDevice() {
    for (int i = 0; i < 600; ++i) {
      const std::string key = "push" + std::to_string(push_++);
      ASSERT_EQ(Set(key, std::string(2000, 'p')), StoreResult::kStored);
      ASSERT_EQ(Set(key, std::string(2000, 'q')), StoreResult::kStored);
    }
    Pump();
  }

  EngineOptions options_ = DefaultOptions(kMemory);
  int fill_ = 0;
  int push_ = 0;
};

TEST_F(EngineAdmitTest, ProbationTakesAQuarterOfTheBuffersAndTheGhostASixteenthOfM) {
  OpenAdmit();
  EXPECT_EQ(engine_->ghost_bytes(), kMemory / 16);
  EXPECT_EQ(engine_->memory_slabs_total(), 15u);
  ASSERT_EQ(Set("k", "v"), StoreResult::kStored);
  EXPECT_EQ(engine_->stats().admit_probation, 1u);
  EXPECT_EQ(engine_->probation_slabs(), 1u);
}

TEST_F(EngineAdmitTest, AFirstWriteNeverReadIsDroppedCountedAndRemembered) {
  OpenAdmit();
  ASSERT_EQ(Set("cold", ValueFor("cold", 1, 2000)), StoreResult::kStored);
  ASSERT_TRUE(Get("cold").hit) << "probation serves reads";
  // That read counted: store it again, unread from now on.
  ASSERT_EQ(Set("once", ValueFor("once", 1, 2000)), StoreResult::kStored);
  FillProbation();
  EXPECT_FALSE(Get("once").hit);
  const EngineStats& st = engine_->stats();
  EXPECT_GE(st.admit_dropped, 1u);
  EXPECT_EQ(st.evictions, st.admit_dropped) << "every drop is an eviction";
  EXPECT_EQ(engine_->gauges().curr_items + st.admit_dropped, st.admit_probation)
      << "items = stored - dropped";
  // The ghost remembers it: the next write goes to an ordinary slab, which reaches the device.
  const uint64_t probation = st.admit_probation;
  ASSERT_EQ(Set("once", ValueFor("once", 2, 2000)), StoreResult::kStored);
  EXPECT_EQ(st.admit_ghost_hits, 1u);
  EXPECT_EQ(st.admit_probation, probation);
  ScreenEverything();
  const testing::Result again = Get("once");
  ASSERT_TRUE(again.hit);
  EXPECT_EQ(again.value, ValueFor("once", 2, 2000));
}

TEST_F(EngineAdmitTest, WithoutAdmissionUnreadFirstWritesReachTheDevice) {
  options_.reinsert = false;
  OpenWith(kDevice, options_);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(Set("fill" + std::to_string(i), std::string(2000, 'f')), StoreResult::kStored);
  }
  Pump();
  EXPECT_GT(engine_->stats().slab_writes, 0u);
  EXPECT_EQ(engine_->stats().admit_probation, 0u);
  EXPECT_EQ(engine_->stats().evictions, 0u);
}

TEST_F(EngineAdmitTest, AnItemReadInProbationReachesTheDeviceAsTheSameVersion) {
  OpenAdmit();
  const std::string value = ValueFor("hot", 1, 2000);
  StoreRequest hot("hot", util::HashKey("hot"), value);
  hot.flags = 7;
  hot.exptime = kNow + 100000;
  hot.marks.stale = true;
  const StoreOutcome stored = engine_->Store(hot);
  ASSERT_EQ(stored.result, StoreResult::kStored);
  ASSERT_TRUE(Get("hot").hit);
  ScreenEverything();
  EXPECT_GE(engine_->stats().admit_promoted, 1u);
  const uint64_t writes = engine_->stats().slab_writes;
  PushToDevice();
  EXPECT_GT(engine_->stats().slab_writes, writes);
  std::string err;
  ASSERT_TRUE(CleanRestart(err, options_)) << err;
  const testing::Result after = Get("hot");
  ASSERT_TRUE(after.hit);
  EXPECT_EQ(after.value, value);
  EXPECT_EQ(after.flags, 7u);
  EXPECT_EQ(after.cas, stored.cas);
}

TEST_F(EngineAdmitTest, AWriteAgainGoesToAnOrdinarySlabAndTheProbationVersionIsVoided) {
  OpenAdmit();
  ASSERT_EQ(Set("k", ValueFor("k", 1, 2000)), StoreResult::kStored);
  ASSERT_EQ(Set("k", ValueFor("k", 2, 2000)), StoreResult::kStored);
  EXPECT_EQ(engine_->stats().admit_probation, 1u);
  ScreenEverything();
  std::string err;
  ASSERT_TRUE(CleanRestart(err, options_)) << err;
  const testing::Result got = Get("k");
  ASSERT_TRUE(got.hit);
  EXPECT_EQ(got.value, ValueFor("k", 2, 2000));
}

TEST_F(EngineAdmitTest, ACleanStopWritesWhatProbationHolds) {
  OpenAdmit();
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(Set("p" + std::to_string(i), ValueFor("p", i, 2000)), StoreResult::kStored);
  }
  EXPECT_EQ(engine_->stats().slab_writes, 0u) << "probation is not written while running";
  EXPECT_EQ(engine_->stats().admit_dropped, 0u);
  std::string err;
  ASSERT_TRUE(CleanRestart(err, options_)) << err;
  for (int i = 0; i < 40; ++i) {
    const testing::Result got = Get("p" + std::to_string(i));
    ASSERT_TRUE(got.hit) << i;
    EXPECT_EQ(got.value, ValueFor("p", i, 2000));
  }
}

TEST_F(EngineAdmitTest, ADeletedProbationItemStaysDeletedAfterARestart) {
  OpenAdmit();
  ASSERT_EQ(Set("gone", ValueFor("gone", 1, 2000)), StoreResult::kStored);
  ASSERT_TRUE(engine_->Erase("gone", util::HashKey("gone")).erased);
  std::string err;
  ASSERT_TRUE(CleanRestart(err, options_)) << err;
  EXPECT_FALSE(Get("gone").hit);
}

TEST_F(EngineAdmitTest, FlushAllDiscardsProbation) {
  OpenAdmit();
  ASSERT_EQ(Set("a", ValueFor("a", 1, 2000)), StoreResult::kStored);
  engine_->FlushAll();
  EXPECT_EQ(engine_->probation_slabs(), 0u);
  EXPECT_FALSE(Get("a").hit);
  ASSERT_EQ(Set("b", ValueFor("b", 1, 2000)), StoreResult::kStored);
  std::string err;
  ASSERT_TRUE(CleanRestart(err, options_)) << err;
  EXPECT_FALSE(Get("a").hit);
  EXPECT_TRUE(Get("b").hit);
}

TEST_F(EngineAdmitTest, AStoreTheJournalMustCoverNeverWaitsInProbation) {
  OpenAdmit(64 * 4096);
  // "k" reaches the device (read in probation, promoted, pushed out of DRAM).
  ASSERT_EQ(Set("k", ValueFor("k", 1, 2000)), StoreResult::kStored);
  ASSERT_TRUE(Get("k").hit);
  ScreenEverything();
  PushToDevice();
  // Its delete is journaled and not committed yet: the next version must be journaled too, which
  // probation, whose drops leave no trace, cannot honour.
  ASSERT_TRUE(engine_->Erase("k", util::HashKey("k")).erased);
  const uint64_t probation = engine_->stats().admit_probation;
  ASSERT_EQ(Set("k", ValueFor("k", 2, 2000)), StoreResult::kStored);
  EXPECT_EQ(engine_->stats().admit_probation, probation);
  engine_->CommitJournal();
  Pump();
  ScreenEverything();
  const testing::Result got = Get("k");
  ASSERT_TRUE(got.hit);
  EXPECT_EQ(got.value, ValueFor("k", 2, 2000));
}

TEST_F(EngineAdmitTest, NotUnderDisabledEvictions) {
  options_.disable_evictions = true;
  OpenAdmit();
  EXPECT_EQ(engine_->ghost_bytes(), 0u);
  EXPECT_EQ(engine_->memory_slabs_total(), 16u);
  ASSERT_EQ(Set("k", "v"), StoreResult::kStored);
  EXPECT_EQ(engine_->stats().admit_probation, 0u);
}

}  // namespace
}  // namespace ssdcache::storage
