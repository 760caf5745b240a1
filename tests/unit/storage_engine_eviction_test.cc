// Engine tests of the eviction order: a record is never evicted before an older record of its key,
// so no restart brings an old value (or a deleted key) back, even when partly filled slabs are
// packed into a disk slab that stays open while later full slabs pass it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;
using testing::Result;

constexpr uint64_t kMemory = 4 * kSlab;

class EngineEvictionTest : public testing::EngineFixture {
 protected:
  EngineEvictionTest() : EngineFixture("eviction") {}
  void SetUp() override { Open(16 * kSlab, kMemory); }

  bool Restart(std::string& err) { return CleanRestart(err, options_); }

  // Reopens the engine formatted, with the given eviction order.
  void UseOrder(EvictionOrder order) {
    options_.eviction_order = order;
    std::string err;
    ASSERT_TRUE(Reopen(err, options_, /*format=*/true)) << err;
  }

  // Stores version 1 of "key" into a packed slab whose disk slab stays open and version 2 into a
  // later full slab, cycles the device twice, restarts and returns what "key" reads.
  Result EvictTheNewerVersionFirstIfAllowed() {
    PackIntoOpenDiskSlab("key", ValueFor("key", 1, 100));
    // The newer version, in a full slab of another class written after the packed one.
    EXPECT_EQ(Set("key", ValueFor("key", 2, 2000)), StoreResult::kStored);
    WriteFullSlabs("fill", 1);
    // Cycle the device about twice: the full slab holding version 2 is evicted.
    const uint64_t evicted_before = engine_->stats().slab_evictions;
    WriteFullSlabs("more", 2 * static_cast<int>(engine_->disk_slabs_total()));
    EXPECT_GT(engine_->stats().slab_evictions, evicted_before + engine_->disk_slabs_total());
    Result running = Get("key");
    EXPECT_TRUE(!running.hit || running.value == ValueFor("key", 2, 2000));
    std::string err;
    EXPECT_TRUE(Restart(err)) << err;
    return Get("key");
  }

  EngineOptions options_ = DefaultOptions(kMemory);

  // Puts `key` into a partly filled slab that is packed into a disk slab which stays open: the
  // key's class and three others each hold one open memory slab (every buffer), so the next
  // store of a fifth class seals the fullest open slab early, the key's (the first one found).
  void PackIntoOpenDiskSlab(const std::string& key, const std::string& value) {
    ASSERT_EQ(Set(key, value), StoreResult::kStored);
    ASSERT_EQ(Set("open-b", std::string(300, 'b')), StoreResult::kStored);
    ASSERT_EQ(Set("open-c", std::string(1000, 'c')), StoreResult::kStored);
    ASSERT_EQ(Set("open-d", std::string(3000, 'd')), StoreResult::kStored);
    ASSERT_EQ(Set("open-e", std::string(6000, 'e')), StoreResult::kStored);
    Pump();
  }

  // Writes `slabs` slabs' worth of 2000-byte values: full slabs of one class, each in a disk
  // slab of its own, so they overtake the open packing disk slab.
  void WriteFullSlabs(const std::string& prefix, int slabs) {
    const int per_slab = kSlab / 2100 + 1;
    for (int i = 0; i < slabs * per_slab; ++i) {
      ASSERT_EQ(Set(prefix + std::to_string(i), ValueFor(prefix, i, 2000)), StoreResult::kStored);
      if (i % 16 == 0) Pump();
    }
    Pump();
  }
};

TEST_F(EngineEvictionTest, NewerVersionIsNotEvictedBeforeAnOlderOne) {
  Result r = EvictTheNewerVersionFirstIfAllowed();
  EXPECT_TRUE(!r.hit || r.value == ValueFor("key", 2, 2000))
      << "version 1 came back after the restart";
}

// The old order (disk slabs in the order they closed), kept for tests only: the test above must
// catch it, or it would not guard against the defect it names.
TEST_F(EngineEvictionTest, TheOldOrderBringsVersionOneBack) {
  UseOrder(EvictionOrder::kDiskCloseForTests);
  Result r = EvictTheNewerVersionFirstIfAllowed();
  EXPECT_TRUE(r.hit && r.value == ValueFor("key", 1, 100))
      << "the disk-close order no longer reproduces the resurrection defect";
}

TEST_F(EngineEvictionTest, DeletedKeyDoesNotReturnAfterItsTombstoneIsEvicted) {
  PackIntoOpenDiskSlab("gone", ValueFor("gone", 1, 100));
  ASSERT_TRUE(engine_->Erase("gone", util::HashKey("gone")).erased);
  // Fill the tombstone's slab (the smallest class) so that it is written full, in a disk slab
  // of its own, after the packed slab that holds the deleted version.
  for (int i = 0; i < static_cast<int>(kSlab / 56) + 1; ++i) {
    const std::string k = "t" + std::to_string(i);
    ASSERT_EQ(Set(k, "x"), StoreResult::kStored);
  }
  WriteFullSlabs("fill", 1);
  WriteFullSlabs("more", 2 * static_cast<int>(engine_->disk_slabs_total()));
  EXPECT_FALSE(Get("gone").hit);

  std::string err;
  ASSERT_TRUE(Restart(err)) << err;
  EXPECT_FALSE(Get("gone").hit) << "a deleted key came back after the restart";
}

// An index eviction drops a key whose newest version is still in an open memory slab: that record
// is voided (it must not reach the device without an entry), so a tombstone must take over its
// job of superseding the key's older record on the device, or a restart brings that back.
TEST_F(EngineEvictionTest, AnIndexEvictionOfAVersionInDramKeepsTheOlderOneSuperseded) {
  EngineOptions o = DefaultOptions(kMemory);
  o.max_index_memory = 64;  // one bucket of six entries
  std::string err;
  ASSERT_TRUE(Reopen(err, o, /*format=*/true)) << err;
  ASSERT_EQ(Set("x", ValueFor("x", 1, 100)), StoreResult::kStored);
  for (int i = 0; i < 100 && engine_->ShutdownFlush(); ++i) Pump();
  Pump();
  ASSERT_EQ(Set("x", ValueFor("x", 2, 100)), StoreResult::kStored);  // version 1 on the device
  for (int i = 0; i < 200 && Get("x").hit; ++i) {
    const std::string k = "other" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 0, 100)), StoreResult::kStored);
  }
  ASSERT_FALSE(Get("x").hit) << "the index never evicted x";
  ASSERT_GT(engine_->stats().index_evictions, 0u);
  ASSERT_TRUE(CleanRestart(err, o)) << err;
  Result r = Get("x");
  EXPECT_FALSE(r.hit && r.value == ValueFor("x", 1, 100)) << "version 1 came back";
}

// -M (disable_evictions): once every disk slab holds live items, a store that would need another
// is refused (kOutOfMemory) instead of evicting; every acknowledged item stays. Slabs whose items
// are all deleted are still reclaimed, so stores go on after deletes.
TEST_F(EngineEvictionTest, DisableEvictionsRefusesRatherThanDropLiveItems) {
  options_.disable_evictions = true;
  std::string err;
  ASSERT_TRUE(Reopen(err, options_, /*format=*/true)) << err;
  std::vector<std::string> stored;
  bool refused = false;
  const int limit = 3 * static_cast<int>(engine_->disk_slabs_total() * (kSlab / 2000 + 1));
  for (int i = 0; i < limit && !refused; ++i) {
    const std::string k = "m" + std::to_string(i);
    const StoreResult r = Set(k, ValueFor(k, 0, 2000));
    if (r == StoreResult::kOutOfMemory) {
      refused = true;
    } else {
      ASSERT_EQ(r, StoreResult::kStored) << k;
      stored.push_back(k);
    }
    if (i % 16 == 0) Pump();
  }
  ASSERT_TRUE(refused) << stored.size() << " stores without a refusal";
  Pump();
  EXPECT_EQ(engine_->stats().slab_evictions, 0u);
  EXPECT_EQ(engine_->stats().evictions, 0u);
  for (const std::string& k : stored) {
    Result r = Get(k);
    ASSERT_TRUE(r.hit && r.value == ValueFor(k, 0, 2000)) << k << " lost";
  }
  for (const std::string& k : stored) engine_->Erase(k, util::HashKey(k));
  Pump();
  EXPECT_EQ(Set("after", ValueFor("after", 0, 2000)), StoreResult::kStored);
}

}  // namespace
}  // namespace ssdcache::storage
