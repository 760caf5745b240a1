// Engine tests of reinsertion at eviction (--reinsert, engine_reinsert.cc): an item read since it
// was placed survives the eviction of its slab as the same version (cas, flags, exptime, stale
// mark); an unread one is dropped and counted; a delete or overwrite that comes while the
// victim's read is in flight wins; and a copy never outlives a later delete or overwrite across
// clean and crash restarts.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr uint64_t kMemory = 4 * kSlab;
constexpr uint64_t kDevice = 16 * kSlab;
constexpr uint32_t kNow = 1000000;

// What a lookup found, with the fields a copy must keep.
struct Found {
  bool hit = false;
  std::string value;
  uint32_t flags = 0;
  uint32_t exptime = 0;
  uint64_t cas = 0;
  bool stale = false;
};

class Waiter : public LookupWaiter {
 public:
  void OnLookupDone(uint64_t, const ItemView* item, const IndexEntry&) override {
    done = true;
    if (item == nullptr) return;
    found = {true, std::string(item->value), item->flags, item->exptime, item->cas, item->stale};
  }
  bool done = false;
  Found found;
};

class EngineReinsertTest : public testing::EngineFixture {
 protected:
  EngineReinsertTest() : EngineFixture("reinsert") {}

  void OpenReinsert(uint64_t journal) {
    options_.reinsert = true;
    options_.reinsert_share = 100;
    options_.journal_size = journal;
    options_.boot_id = 42;  // the same boot after a crash: a process-mode journal is trusted
    // The journal's room comes on top, so that the slabs the tests count on stay.
    OpenWith(kDevice + (journal + kSlab - 1) / kSlab * kSlab, options_);
  }

  Found Read(const std::string& key, bool bump = true) {
    Waiter w;
    ItemView v;
    switch (engine_->Lookup(key, util::HashKey(key), v, &w, 1, nullptr, bump).kind) {
      case LookupResult::kHit:
        return {true, std::string(v.value), v.flags, v.exptime, v.cas, v.stale};
      case LookupResult::kMiss:
        return {};
      case LookupResult::kPending:
        Pump();
        EXPECT_TRUE(w.done);
        return w.found;
    }
    return {};
  }

  // "hot" (flags 7, an exptime, marked stale) and "cold" side by side in one slab of the
  // 2000-byte class, then pushed out of DRAM onto the device.
  void StoreHotAndCold() {
    const std::string value = ValueFor("hot", 1, 2000);
    StoreRequest hot("hot", util::HashKey("hot"), value);
    hot.flags = 7;
    hot.exptime = kNow + 100000;
    hot.marks.stale = true;
    ASSERT_EQ(engine_->Store(hot).result, StoreResult::kStored);
    ASSERT_EQ(Set("cold", ValueFor("cold", 1, 2000)), StoreResult::kStored);
    PushOutOfMemory();
  }

  // Writes as many slabs as -m holds and one more, so that what was stored before is read from
  // the device (the device, 16 slabs, is too small for EvictFromMemory()).
  void PushOutOfMemory() {
    for (int i = 0; i < 5 * static_cast<int>(kSlab / 2048); ++i) {
      ASSERT_EQ(Set("push" + std::to_string(fill_++), std::string(2000, 'p')),
                StoreResult::kStored);
    }
    Pump();
  }

  std::optional<IndexEntry> Where(const std::string& key) {
    return engine_->Locate(util::HashKey(key));
  }

  // Writes 2000-byte values until `until` says stop, at most 8 device cycles. After each store
  // the IO runs one round (submit, reap) at a time and `until` looks after each, so it sees a
  // read that was started and has not landed yet.
  template <typename F>
  bool FillUntil(F until) {
    const int limit = 8 * static_cast<int>(kDevice / 2048);
    for (int i = 0; i < limit; ++i) {
      StoreOutcome r{StoreResult::kNoMemory};
      while (r.result == StoreResult::kNoMemory) {
        r = StoreOnce("fill" + std::to_string(fill_++), std::string(2000, 'f'));
        if (until()) return true;
        for (int round = 0; round < 100 && (aio_->in_flight() > 0 || aio_->queued() > 0); ++round) {
          aio_->Submit();
          pollfd p{aio_->event_fd(), POLLIN, 0};
          ::poll(&p, 1, 100);
          aio_->Reap();
          if (until()) return true;
        }
      }
      EXPECT_EQ(r.result, StoreResult::kStored);
    }
    const EngineStats& st = engine_->stats();
    ADD_FAILURE() << "fill: reads " << st.reinsert_reads << " copied " << st.reinserted_items
                  << " late " << st.reinsert_late << " slab_evictions " << st.slab_evictions;
    return false;
  }

  bool Cycle(int slabs) {
    int n = 0;
    return FillUntil([&] { return ++n >= slabs * static_cast<int>(kSlab / 2048); });
  }

  EngineOptions options_ = DefaultOptions(kMemory);
  int fill_ = 0;
};

TEST_F(EngineReinsertTest, AFetchedItemSurvivesEvictionAsTheSameVersion) {
  OpenReinsert(0);
  StoreHotAndCold();
  const Found before = Read("hot");
  ASSERT_TRUE(before.hit);
  const IndexEntry first = *Where("hot");
  // Until the slab that held both is evicted: "cold" goes with it.
  ASSERT_TRUE(FillUntil([&] { return !Where("cold"); }));
  Pump();
  const std::optional<IndexEntry> now = Where("hot");
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->slab, first.slab);
  const Found after = Read("hot");
  ASSERT_TRUE(after.hit);
  EXPECT_EQ(after.value, ValueFor("hot", 1, 2000));
  EXPECT_EQ(after.cas, before.cas);
  EXPECT_EQ(after.flags, 7u);
  EXPECT_EQ(after.exptime, kNow + 100000);
  EXPECT_TRUE(after.stale);
  EXPECT_EQ(engine_->stats().reinserted_items, 1u);
  EXPECT_EQ(engine_->stats().reinserted_bytes, 4096u);  // its chunk: 2,051 bytes need 4 KiB
  EXPECT_GT(engine_->stats().evictions, 0u);
}

TEST_F(EngineReinsertTest, AnUnreadItemIsEvictedAndCounted) {
  OpenReinsert(0);
  StoreHotAndCold();
  ASSERT_TRUE(FillUntil([&] { return !Where("cold"); }));
  EXPECT_FALSE(Where("hot").has_value());
  EXPECT_FALSE(Read("hot").hit);
  EXPECT_EQ(engine_->stats().reinserted_items, 0u);
  EXPECT_GE(engine_->stats().evictions, 2u);
  // Nothing was read, so no slab was read back before its eviction.
  EXPECT_EQ(engine_->stats().reinsert_reads, 0u);
}

TEST_F(EngineReinsertTest, TheBudgetBoundsTheCopies) {
  options_.reinsert_share = 1;  // 1% of 2 KiB stores: one copy per ~100 stores
  options_.reinsert = true;
  OpenWith(kDevice, options_);
  for (int i = 0; i < 40; ++i) Set("k" + std::to_string(i), std::string(2000, 'k'));
  PushOutOfMemory();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(Read("k" + std::to_string(i)).hit);
  ASSERT_TRUE(Cycle(2 * static_cast<int>(kDevice / kSlab)));
  const EngineStats& s = engine_->stats();
  EXPECT_GT(s.reinsert_skipped_budget, 0u);
  EXPECT_LE(s.reinserted_bytes, s.total_items * 2048 / 100 + kSlab);
}

// A delete (or an overwrite) while the victim's read is in flight wins over the copy.
class EngineReinsertRaceTest : public EngineReinsertTest,
                               public ::testing::WithParamInterface<bool> {};

TEST_P(EngineReinsertRaceTest, AChangeDuringTheVictimReadWins) {
  const bool overwrite = GetParam();
  OpenReinsert(0);
  // "hot" in the second slab written, whose read starts when the first slab is evicted (inside
  // a store).
  for (int i = 0; i < static_cast<int>(kSlab / 2048); ++i) {
    Set("first" + std::to_string(i), std::string(2000, '1'));
  }
  StoreHotAndCold();
  ASSERT_TRUE(Read("hot").hit);
  const uint32_t slab = Where("hot")->slab;
  ASSERT_TRUE(FillUntil([&] { return engine_->reinsert_victim() == slab; }));
  if (overwrite) {
    ASSERT_EQ(Set("hot", ValueFor("hot", 2, 100)), StoreResult::kStored);
    // Read, so that the new version's entry is "hit" too: only its location tells the versions
    // apart when the read lands.
    ASSERT_TRUE(Read("hot").hit);
  } else {
    ASSERT_TRUE(engine_->Erase("hot", util::HashKey("hot")).erased);
  }
  Pump();
  ASSERT_TRUE(FillUntil([&] { return !Where("cold"); }));
  EXPECT_EQ(engine_->stats().reinserted_items, 0u);
  const Found now = Read("hot");
  EXPECT_EQ(now.hit, overwrite);
  if (overwrite) {
    EXPECT_EQ(now.value, ValueFor("hot", 2, 100));
  }
}

INSTANTIATE_TEST_SUITE_P(DeleteOrOverwrite, EngineReinsertRaceTest, ::testing::Bool());

// Reinsert "hot", delete it while the copy is still in an open memory slab (no device write of
// it), then restart: the original, in the evicted slab, must not come back.
class EngineReinsertRestartTest : public EngineReinsertTest,
                                  public ::testing::WithParamInterface<int> {};

TEST_P(EngineReinsertRestartTest, ADeletedCopyStaysDeleted) {
  const int mode = GetParam();  // 0 clean restart, 1 crash (device journal), 2 crash (process)
  options_.journal_sync = mode == 2 ? JournalSync::kProcess : JournalSync::kDevice;
  OpenReinsert(64 * 4096);
  StoreHotAndCold();
  ASSERT_TRUE(Read("hot").hit);
  const uint32_t original = Where("hot")->slab;
  ASSERT_TRUE(FillUntil([&] { return Where("hot") && Where("hot")->slab != original; }));
  ASSERT_EQ(engine_->stats().reinserted_items, 1u);
  EraseOutcome gone = engine_->Erase("hot", util::HashKey("hot"));
  ASSERT_TRUE(gone.erased);
  engine_->CommitJournal();
  Pump();
  std::string err;
  if (mode == 0) {
    ASSERT_TRUE(CleanRestart(err, options_)) << err;
  } else {
    CrashOptions crash;
    crash.seed = 7;
    ASSERT_TRUE(CrashAndReopen(crash, err, options_)) << err;
  }
  EXPECT_FALSE(Read("hot").hit);
}

INSTANTIATE_TEST_SUITE_P(CleanOrCrash, EngineReinsertRestartTest, ::testing::Values(0, 1, 2));

}  // namespace
}  // namespace ssdcache::storage
