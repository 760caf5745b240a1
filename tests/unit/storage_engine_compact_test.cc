// Engine tests of memory slab compaction (--compact, engine_compact.cc): the room of records
// superseded while their slab is open is reused before the slab is written, so overwrites of hot
// keys cost fewer device writes; moved records keep their version, marks and index bits, are
// served and come back after a restart, leave no copy behind, and a failed journal commit still
// undoes one; a slab left empty is recycled; nothing moves while a key listing is open.
#include <gtest/gtest.h>

#include <string>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/fault.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr uint64_t kMemory = 16 * kSlab;
constexpr uint64_t kDevice = 64 * kSlab;
constexpr size_t kValue = 2000;

class EngineCompactTest : public testing::EngineFixture {
 protected:
  EngineCompactTest() : EngineFixture("compact") {}

  void OpenCompact(bool compact, uint64_t journal = 0) {
    TearDown();  // a second engine in one test: the first one goes first
    options_.compact = compact;
    options_.reinsert = false;
    options_.journal_size = journal;
    options_.boot_id = 42;
    OpenWith(kDevice + (journal + kSlab - 1) / kSlab * kSlab, options_);
  }

  // A loop turn: the requests, then what the server does before it sleeps.
  void EndTurn() {
    engine_->CompactOpenSlabs();
    engine_->CommitJournal();
    Pump();
  }

  // `distinct` new keys, each followed by `hot` overwrites of one hot key and the end of a turn
  // (a server's turn carries a few stores of a slab's worth).
  void HotAndCold(int distinct, int hot) {
    for (int i = 0; i < distinct; ++i) {
      const std::string key = "cold" + std::to_string(i);
      ASSERT_EQ(Set(key, ValueFor(key, 1, kValue)), StoreResult::kStored);
      for (int h = 0; h < hot; ++h) {
        ASSERT_EQ(Set("hot", ValueFor("hot", ++hot_version_, kValue)), StoreResult::kStored);
      }
      EndTurn();
    }
  }

  // New keys until the open slab of kValue's class is full (and sealed: nothing in it was
  // voided): the next store starts a slab at chunk 0.
  void FillOpenSlab() {
    const int cls = engine_->classes().ClassFor(ItemSize(4, kValue));
    for (int i = 0; i < 100 && engine_->class_stats()[cls].open_chunks_free != 0; ++i) {
      ASSERT_EQ(Set("pad" + std::to_string(pad_++), std::string(kValue, 'p')),
                StoreResult::kStored);
    }
    ASSERT_EQ(engine_->class_stats()[cls].open_chunks_free, 0u);
  }

  // A device-mode journal, "d" on the device (so its next version is journaled, uncommitted
  // until its block is written), and a fresh open slab for kValue's class.
  void DOnTheDeviceAndAFreshSlab() {
    options_.journal_sync = JournalSync::kDevice;
    OpenCompact(true, 16 * 4096);
    ASSERT_EQ(Set("d", ValueFor("d", 1, kValue)), StoreResult::kStored);
    EvictFromMemory();
    EndTurn();
    FillOpenSlab();
  }

  void ExpectAllServed(int distinct) {
    for (int i = 0; i < distinct; ++i) {
      const std::string key = "cold" + std::to_string(i);
      const testing::Result r = Get(key);
      ASSERT_TRUE(r.hit) << key;
      EXPECT_EQ(r.value, ValueFor(key, 1, kValue)) << key;
    }
    const testing::Result hot = Get("hot");
    ASSERT_TRUE(hot.hit);
    EXPECT_EQ(hot.value, ValueFor("hot", hot_version_, kValue));
  }

  EngineOptions options_ = DefaultOptions(kMemory);
  int hot_version_ = 0;
  int pad_ = 0;
};

TEST_F(EngineCompactTest, OverwrittenRecordsCostNoDeviceWrites) {
  // 200 keys of ~2 KiB and 600 overwrites of a hot one: without compaction every overwrite's dead
  // predecessor is written too (~25 slabs); with it only the live records are (~7).
  OpenCompact(false);
  HotAndCold(200, 3);
  const uint64_t without = engine_->stats().slab_writes;
  EXPECT_EQ(engine_->stats().compactions, 0u);

  OpenCompact(true);
  hot_version_ = 0;
  HotAndCold(200, 3);
  ExpectAllServed(200);
  const EngineStats& st = engine_->stats();
  EXPECT_GT(st.compactions, 0u);
  EXPECT_GT(st.compacted_bytes, 400 * uint64_t{kValue});
  EXPECT_LT(st.slab_writes * 2, without) << "compaction should at least halve the slab writes";
  EXPECT_EQ(engine_->gauges().curr_items, 201u);
}

TEST_F(EngineCompactTest, MovedRecordsKeepTheirVersionAndBits) {
  OpenCompact(true);
  ASSERT_EQ(Set("hot", ValueFor("hot", 0, kValue)), StoreResult::kStored);
  const StoreOutcome a = Store("a", ValueFor("a", 1, kValue), /*exptime=*/2000000);
  ASSERT_EQ(a.result, StoreResult::kStored);
  ASSERT_TRUE(Get("a").hit);  // sets the fetched and hit bits
  IndexEntry before = *engine_->Locate(util::HashKey("a"));
  ASSERT_TRUE(engine_->MarkTokenSent(util::HashKey("a"), before, ItemView{}));
  // Overwrites of "hot" void its chunk below "a" and more above it: worth a pass.
  for (int v = 1; v <= 8; ++v) {
    ASSERT_EQ(Set("hot", ValueFor("hot", v, kValue)), StoreResult::kStored);
  }
  EndTurn();
  ASSERT_GT(engine_->stats().compactions, 0u);
  const IndexEntry after = *engine_->Locate(util::HashKey("a"));
  EXPECT_EQ(after.slab, before.slab);
  EXPECT_LT(after.chunk, before.chunk) << "moved down over the voided chunk";
  EXPECT_TRUE(after.fetched);
  EXPECT_TRUE(after.hit);
  EXPECT_TRUE(after.token_sent);
  EXPECT_EQ(after.expiry, before.expiry);
  const testing::Result r = Get("a");
  ASSERT_TRUE(r.hit);
  EXPECT_EQ(r.value, ValueFor("a", 1, kValue));
  EXPECT_EQ(r.cas, a.cas);
  EXPECT_EQ(r.flags, 7u);
  // And so after a clean restart, from the device.
  std::string err;
  ASSERT_TRUE(CleanRestart(err, options_)) << err;
  const testing::Result back = Get("a");
  ASSERT_TRUE(back.hit);
  EXPECT_EQ(back.value, ValueFor("a", 1, kValue));
  EXPECT_EQ(back.cas, a.cas);
  EXPECT_EQ(Get("hot").value, ValueFor("hot", 8, kValue));
}

TEST_F(EngineCompactTest, AMovedRecordWhoseJournalCommitFailsIsStillUndone) {
  DOnTheDeviceAndAFreshSlab();
  // Dead room below "d" (eight overwritten versions of "hot").
  for (int v = 0; v <= 8; ++v) {
    ASSERT_EQ(Set("hot", ValueFor("hot", v, kValue)), StoreResult::kStored);
  }
  const StoreOutcome d = Store("d", ValueFor("d", 2, kValue));
  ASSERT_NE(d.ticket, 0u) << "journaled, not committed yet";
  ASSERT_EQ(engine_->Locate(util::HashKey("d"))->chunk, 9u);
  engine_->CompactOpenSlabs();
  ASSERT_EQ(engine_->Locate(util::HashKey("d"))->chunk, 1u) << "moved over the dead room";
  // Its journal block fails: the change is undone where the record is now, so the version the
  // client was told SERVER_ERROR for is never served.
  std::string error;
  faults_->set_injector(FaultInjector::Create("journal_eio=1", error));
  ASSERT_EQ(error, "");
  engine_->CommitJournal();
  Pump();
  faults_->set_injector(nullptr);
  EXPECT_GE(engine_->stats().journal_undone, 1u);
  const testing::Result got = Get("d");
  EXPECT_FALSE(got.hit && got.value == ValueFor("d", 2, kValue)) << "an undone change is served";
  EXPECT_EQ(Get("hot").value, ValueFor("hot", 8, kValue));
}

TEST_F(EngineCompactTest, ASlabLeftEmptyIsFreed) {
  // A few chunks per slab: "big" twice, and its delete voids both; the slab is not full.
  OpenCompact(true);
  constexpr size_t kBig = 20000;
  const int cls = engine_->classes().ClassFor(ItemSize(3, kBig));
  ASSERT_EQ((kSlab - sizeof(SlabHeader)) / engine_->classes().chunk_size(cls), 3u);
  ASSERT_EQ(Set("big", ValueFor("big", 1, kBig)), StoreResult::kStored);
  ASSERT_EQ(Set("big", ValueFor("big", 2, kBig)), StoreResult::kStored);
  ASSERT_TRUE(engine_->Erase("big", util::HashKey("big")).erased);
  const uint32_t free_before = engine_->memory_slabs_free();
  engine_->CompactOpenSlabs();
  EXPECT_EQ(engine_->stats().compactions, 1u);
  EXPECT_EQ(engine_->memory_slabs_free(), free_before + 1) << "an empty open slab is recycled";
  EXPECT_EQ(engine_->class_stats()[cls].open_chunks_free, 0u) << "no open slab of its class";
  EXPECT_FALSE(Get("big").hit);
  ASSERT_EQ(Set("big", ValueFor("big", 3, kBig)), StoreResult::kStored);
  EXPECT_EQ(Get("big").value, ValueFor("big", 3, kBig));
}

TEST_F(EngineCompactTest, AMovedRecordLeavesNoCopyBehind) {
  // Found by CrashSafety.SigkillDuringWrites (device mode) in a first version, which kept records
  // with an uncommitted journal entry in place and the room below them as it was, the original of
  // a record moved down ("a") included. An overwrite of "a" voided only the copy the index
  // pointed at, the original reached the device, and a crash that lost the overwrite brought "a"
  // back.
  DOnTheDeviceAndAFreshSlab();
  if (memory_ == nullptr) GTEST_SKIP() << "needs the memory backend";
  // Chunks: hot v0-v3 (voided) 0-3, hot v4 4, a 5, d (journaled, not committed) 6.
  for (int v = 0; v <= 4; ++v) {
    ASSERT_EQ(Set("hot", ValueFor("hot", v, kValue)), StoreResult::kStored);
  }
  ASSERT_EQ(Set("a", ValueFor("a", 1, kValue)), StoreResult::kStored);
  ASSERT_NE(Store("d", ValueFor("d", 2, kValue)).ticket, 0u);
  ASSERT_EQ(engine_->Locate(util::HashKey("d"))->chunk, 6u);
  engine_->CompactOpenSlabs();
  ASSERT_EQ(engine_->Locate(util::HashKey("a"))->chunk, 1u) << "moved down";
  EndTurn();
  // "a" again, in another class: only DRAM has it, and the crash below loses it.
  ASSERT_EQ(Set("a", ValueFor("a", 2, 100)), StoreResult::kStored);
  // Write the slab that held "a" version 1 (fill it with other keys), then crash.
  for (int i = 0; i < 100 && engine_->Locate(util::HashKey("hot"))->slab ==
                                 engine_->Locate(util::HashKey("d"))->slab;
       ++i) {
    ASSERT_EQ(Set("more" + std::to_string(i), std::string(kValue, 'm')), StoreResult::kStored);
    ASSERT_EQ(Set("hot", ValueFor("hot", 5 + i, kValue)), StoreResult::kStored);
  }
  EndTurn();
  std::string err;
  ASSERT_TRUE(CrashAndReopen({}, err, options_)) << err;
  const testing::Result a = Get("a");
  EXPECT_FALSE(a.hit && a.value == ValueFor("a", 1, kValue))
      << "version 1 came back over the acknowledged version 2";
}

TEST_F(EngineCompactTest, NothingMovesWhileAKeyListingIsOpen) {
  OpenCompact(true);
  for (int v = 0; v <= 8; ++v) {
    ASSERT_EQ(Set("hot", ValueFor("hot", v, kValue)), StoreResult::kStored);
  }
  KeyScan* scan = engine_->OpenScan({}, nullptr);
  ASSERT_NE(scan, nullptr);
  engine_->CompactOpenSlabs();
  EXPECT_EQ(engine_->stats().compactions, 0u);
  engine_->CloseScan(scan);
  engine_->CompactOpenSlabs();
  EXPECT_EQ(engine_->stats().compactions, 1u);
  EXPECT_EQ(Get("hot").value, ValueFor("hot", 8, kValue));
}

TEST_F(EngineCompactTest, OffLeavesVoidedRecordsToBeWritten) {
  OpenCompact(false);
  for (int v = 0; v <= 8; ++v) {
    ASSERT_EQ(Set("hot", ValueFor("hot", v, kValue)), StoreResult::kStored);
  }
  const IndexEntry at = *engine_->Locate(util::HashKey("hot"));
  engine_->CompactOpenSlabs();
  EXPECT_EQ(engine_->stats().compactions, 0u);
  EXPECT_EQ(*engine_->Locate(util::HashKey("hot")), at);
}

TEST_F(EngineCompactTest, ADeleteSurvivesACrashAfterItsTombstoneMoved) {
  // No journal: the tombstone alone keeps the record on the device deleted.
  OpenCompact(true);
  if (memory_ == nullptr) GTEST_SKIP() << "needs the memory backend";
  ASSERT_EQ(Set("gone", ValueFor("gone", 1, kValue)), StoreResult::kStored);
  EvictFromMemory();
  EndTurn();
  // The tombstone goes to the smallest class; so do tiny values of "h", whose overwrites void
  // room below it and above it.
  ASSERT_EQ(Set("h", "v"), StoreResult::kStored);
  ASSERT_TRUE(engine_->Erase("gone", util::HashKey("gone")).erased);
  const int cls = engine_->classes().ClassFor(ItemSize(4, 0));
  ASSERT_EQ(engine_->classes().ClassFor(ItemSize(1, 1)), cls);
  const uint64_t chunks = kSlab / engine_->classes().chunk_size(cls);
  for (uint64_t v = 0; v < chunks / 4; ++v) ASSERT_EQ(Set("h", "w"), StoreResult::kStored);
  EndTurn();
  ASSERT_GT(engine_->stats().compactions, 0u);
  // Write the open slabs (one holds the moved tombstone) and crash.
  while (engine_->ShutdownFlush()) Pump();
  Pump();
  std::string err;
  ASSERT_TRUE(CrashAndReopen({}, err, options_)) << err;
  EXPECT_FALSE(Get("gone").hit) << "the delete came back undone";
  EXPECT_EQ(Get("h").value, "w");
}

}  // namespace
}  // namespace ssdcache::storage
