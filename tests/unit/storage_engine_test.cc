// Engine tests on a real O_DIRECT file with libaio: memory slabs, flushes, device reads, FIFO
// eviction, overwrite semantics, expiry, optimistic stores, corruption and memory backpressure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;
using testing::Result;

class EngineTest : public testing::EngineFixture {
 protected:
  EngineTest() : EngineFixture("engine") {}
  void SetUp() override { Open(16 << 20, 4 * kSlab); }

  // A clean shutdown (what SIGTERM does), then a new engine on the same device file.
  bool Restart(std::string& err, uint32_t min_item = 56, bool format = false) {
    for (int i = 0; i < 100; ++i) {
      bool more = engine_->ShutdownFlush();
      Pump();
      if (!more) break;
    }
    EngineOptions o = DefaultOptions(4 * kSlab);
    o.min_item_size = min_item;
    return Reopen(err, o, format);
  }

  // The last access a lookup of `key` reports (0: a miss), from DRAM or from the device.
  uint32_t LastAccess(const std::string& key, bool bump) {
    struct Waiter : LookupWaiter {
      void OnLookupDone(uint64_t, const ItemView* item, const IndexEntry&) override {
        ++calls;
        last_access = item != nullptr ? item->last_access : 0;
      }
      int calls = 0;
      uint32_t last_access = 0;
    } waiter;
    ItemView v;
    switch (engine_->Lookup(key, util::HashKey(key), v, &waiter, 1, nullptr, bump).kind) {
      case LookupResult::kHit:
        return v.last_access;
      case LookupResult::kMiss:
        return 0;
      case LookupResult::kPending:
        Pump();
        EXPECT_EQ(waiter.calls, 1);
        return waiter.last_access;
    }
    return 0;
  }
};

TEST_F(EngineTest, StoreAndLookupInMemory) {
  ASSERT_EQ(Set("alpha", "one"), StoreResult::kStored);
  Result r = Get("alpha");
  EXPECT_TRUE(r.hit);
  EXPECT_EQ(r.value, "one");
  EXPECT_EQ(r.flags, 7u);
  EXPECT_FALSE(Get("beta").hit);
  EXPECT_EQ(engine_->gauges().curr_items, 1u);
  ASSERT_EQ(Set("alpha", "two"), StoreResult::kStored);
  EXPECT_EQ(Get("alpha").value, "two");
  EXPECT_EQ(engine_->gauges().curr_items, 1u);
}

TEST_F(EngineTest, CasUniquesGrow) {
  const uint64_t a = engine_->Store(StoreRequest("k", util::HashKey("k"), "v")).cas;
  const uint64_t b = engine_->Store(StoreRequest("k", util::HashKey("k"), "w")).cas;
  EXPECT_LT(a, b);
  EXPECT_EQ(Get("k").cas, b);
}

TEST_F(EngineTest, ItemsWrittenToDeviceAreReadBackVerified) {
  // 4 memory slabs of 64 KiB: 200 values of 1 KiB force several slab writes.
  for (int i = 0; i < 200; ++i) {
    std::string k = "key" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 1, 1000)), StoreResult::kStored);
  }
  Pump();
  EXPECT_GT(engine_->stats().slab_writes, 0u);
  // Recently written slabs are still served from DRAM.
  uint64_t reads = engine_->stats().reads_device;
  EXPECT_EQ(Get("key199").value, ValueFor("key199", 1, 1000));
  EXPECT_EQ(engine_->stats().reads_device, reads);
  EvictFromMemory();
  for (int i = 0; i < 200; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    ASSERT_TRUE(r.hit) << k;
    EXPECT_EQ(r.value, ValueFor(k, 1, 1000));
  }
  EXPECT_GT(engine_->stats().reads_device, 0u);
  EXPECT_EQ(engine_->stats().checksum_errors, 0u);
}

TEST_F(EngineTest, FillDeviceSeveralTimesNeverReturnsWrongValue) {
  std::mt19937 rng(42);
  std::map<std::string, int> version;
  const uint64_t device = device_->size();
  uint64_t written = 0;
  int round = 0;
  while (written < 4 * device) {
    std::string k = "k" + std::to_string(rng() % 3000);
    size_t size = 50 + rng() % 3000;
    int v = ++version[k];
    ASSERT_EQ(Set(k, ValueFor(k, v, size)), StoreResult::kStored);
    written += size;
    if (++round % 500 == 0) Pump();
  }
  Pump();
  EXPECT_GT(engine_->stats().slab_evictions, 0u);
  EXPECT_GT(engine_->stats().evictions, 0u);
  int hits = 0;
  for (auto& [k, v] : version) {
    Result r = Get(k);
    if (!r.hit) continue;
    ++hits;
    // Only the last version may come back, whatever its size was.
    ASSERT_EQ(r.value.substr(0, k.size() + 1 + std::to_string(v).size() + 1),
              k + "#" + std::to_string(v) + ":")
        << "stale or foreign value for " << k;
  }
  EXPECT_GT(hits, 0);
  EXPECT_EQ(engine_->stats().checksum_errors, 0u);
}

TEST_F(EngineTest, OverwrittenKeySurvivesEvictionOfItsOldSlab) {
  // fatcache's bug: evicting an old slab dropped the index entry of a key rewritten later.
  ASSERT_EQ(Set("victim", ValueFor("victim", 1, 2000)), StoreResult::kStored);
  // Push the first version out to the device.
  for (int i = 0; i < 100; ++i) Set("fill" + std::to_string(i), ValueFor("f", i, 2000));
  Pump();
  ASSERT_EQ(Set("victim", ValueFor("victim", 2, 2000)), StoreResult::kStored);
  // Write just enough to evict the oldest disk slabs but not the newest.
  uint64_t evicted_before = engine_->stats().slab_evictions;
  int i = 0;
  while (engine_->stats().slab_evictions < evicted_before + 3) {
    Set("more" + std::to_string(i), ValueFor("m", i, 2000));
    if (++i % 50 == 0) Pump();
  }
  Pump();
  Result r = Get("victim");
  ASSERT_TRUE(r.hit);
  EXPECT_EQ(r.value, ValueFor("victim", 2, 2000));
}

TEST_F(EngineTest, ExpiredItemsAreMisses) {
  uint32_t now = engine_->now();
  ASSERT_EQ(Set("soon", "x", now + 10), StoreResult::kStored);
  EXPECT_TRUE(Get("soon").hit);
  engine_->set_now(now + 10);
  EXPECT_FALSE(Get("soon").hit);
  // Long expired on the device: answered without a read.
  ASSERT_EQ(Set("old", ValueFor("old", 1, 2000), now + 20), StoreResult::kStored);
  for (int i = 0; i < 100; ++i) Set("fill" + std::to_string(i), ValueFor("f", i, 2000));
  Pump();
  uint64_t before = engine_->stats().reads_device;
  EXPECT_TRUE(Get("old").hit);
  EXPECT_EQ(engine_->stats().reads_device, before + 1);  // it is on the device
  engine_->set_now(now + 1000);
  uint64_t reads = engine_->stats().reads_device;
  EXPECT_FALSE(Get("old").hit);
  EXPECT_EQ(engine_->stats().reads_device, reads);
}

// A lookup without bump (memcached's DONT_UPDATE: mg u, me) reports the last access and records
// none, and leaves the fetched bit clear, in DRAM and from the device.
TEST_F(EngineTest, LookupWithoutBumpLeavesLastAccessAndFetchedBit) {
  const uint32_t t0 = engine_->now();
  for (const std::string key : {"dram", "device"}) {
    engine_->set_now(t0);
    ASSERT_EQ(Set(key, ValueFor(key, 1, 2000)), StoreResult::kStored);
    const uint64_t hash = util::HashKey(key);
    if (key == "device") EvictFromMemory();
    const uint64_t reads = engine_->stats().reads_device;
    engine_->set_now(t0 + 10);
    EXPECT_EQ(LastAccess(key, false), t0) << key;
    engine_->set_now(t0 + 20);
    EXPECT_EQ(LastAccess(key, false), t0) << key;
    EXPECT_FALSE(engine_->Locate(hash)->fetched) << key;
    EXPECT_EQ(LastAccess(key, true), t0) << key;
    EXPECT_TRUE(engine_->Locate(hash)->fetched) << key;
    engine_->set_now(t0 + 30);
    EXPECT_EQ(LastAccess(key, false), t0 + 20) << key;
    EXPECT_EQ(engine_->stats().reads_device - reads, key == "device" ? 4u : 0u);
  }
}

// A store that passes a last access (mg T u) keeps it instead of counting as an access.
TEST_F(EngineTest, StoreCanKeepTheLastAccess) {
  const uint32_t t0 = engine_->now();
  ASSERT_EQ(Set("k", "v"), StoreResult::kStored);
  engine_->set_now(t0 + 50);
  ItemMarks marks;
  marks.last_access = t0;
  StoreRequest put("k", util::HashKey("k"), "v");
  put.marks = marks;
  ASSERT_EQ(engine_->Store(put).result, StoreResult::kStored);
  EXPECT_EQ(LastAccess("k", false), t0);
  ASSERT_EQ(engine_->Store(StoreRequest("k", util::HashKey("k"), "v")).result,
            StoreResult::kStored);
  EXPECT_EQ(LastAccess("k", false), t0 + 50);
}

TEST_F(EngineTest, OptimisticStoreDetectsConcurrentChange) {
  Set("k", "1");
  std::optional<IndexEntry> seen = engine_->Locate(util::HashKey("k"));
  ASSERT_TRUE(seen);
  Set("k", "2");  // another client wins the race
  StoreRequest put("k", util::HashKey("k"), "3");
  put.Expect(seen);
  EXPECT_EQ(engine_->Store(put).result, StoreResult::kConflict);
  EXPECT_EQ(Get("k").value, "2");
  StoreRequest absent("new", util::HashKey("new"), "n");
  absent.Expect(std::nullopt);
  EXPECT_EQ(engine_->Store(absent).result, StoreResult::kStored);
  EXPECT_EQ(engine_->Store(absent).result, StoreResult::kConflict);
}

TEST_F(EngineTest, EraseAndFlushAll) {
  Set("a", "1");
  Set("b", "2");
  EXPECT_TRUE(engine_->Erase("a", util::HashKey("a")).erased);
  EXPECT_FALSE(Get("a").hit);
  EXPECT_FALSE(engine_->Erase("a", util::HashKey("a")).erased);
  engine_->FlushAll();
  EXPECT_FALSE(Get("b").hit);
  EXPECT_EQ(engine_->gauges().curr_items, 0u);
}

TEST_F(EngineTest, TooLargeIsRefused) {
  std::string big(kSlab, 'x');
  EXPECT_EQ(engine_->Store(StoreRequest("big", util::HashKey("big"), big)).result,
            StoreResult::kTooLarge);
  std::string fits(engine_->max_item_size() - kItemHeaderSize - 3, 'y');
  EXPECT_EQ(Set("fit", fits), StoreResult::kStored);
  EXPECT_EQ(Get("fit").value, fits);
}

// The device may complete IOs in any order (libaio does): with the memory backend delivering each
// batch of completions in a seeded permutation, overwrites under memory pressure, device reads and
// a restart still give every key its newest value.
TEST_F(EngineTest, CompletionsInAnyOrderKeepEveryNewestValue) {
  if (memory_ == nullptr) GTEST_SKIP() << "needs the memory backend";
  for (uint64_t seed : {7u, 11u}) {
    memory_->set_reorder(seed);
    std::map<std::string, int> version;
    for (int i = 0; i < 600; ++i) {
      const std::string key = "r" + std::to_string(i * 7 % 150);
      ASSERT_EQ(Set(key, ValueFor(key, i, 1500)), StoreResult::kStored);
      version[key] = i;
      // Some reads go out while writes are in flight, so both kinds share batches.
      if (i % 5 == 0) {
        Result r = Get(key);
        ASSERT_TRUE(r.hit) << key;
        ASSERT_EQ(r.value, ValueFor(key, i, 1500)) << key;
      }
    }
    Pump();
    std::string err;
    for (int round = 0; round < 2; ++round) {
      for (const auto& [key, v] : version) {
        Result r = Get(key);
        ASSERT_TRUE(r.hit) << key << " seed " << seed;
        ASSERT_EQ(r.value, ValueFor(key, v, 1500)) << key << " seed " << seed;
      }
      ASSERT_TRUE(Restart(err)) << err;
    }
  }
  EXPECT_GT(engine_->stats().reads_device + engine_->recovery().items, 0u);
}

TEST_F(EngineTest, CorruptRecordOnDeviceIsAMiss) {
  Set("c", ValueFor("c", 1, 2000));
  for (int i = 0; i < 100; ++i) Set("fill" + std::to_string(i), ValueFor("f", i, 2000));
  Pump();
  EvictFromMemory();
  uint64_t device_reads = engine_->stats().reads_device;
  // Overwrite the whole data area of the device (not the memory slabs) with garbage.
  for (uint64_t off = kSlab; off < device_->size(); off += kSlab) {
    RawWrite(off, std::string(kSlab, '\x5a'));
  }
  Result r = Get("c");
  EXPECT_EQ(engine_->stats().reads_device, device_reads + 1);  // it was on the device
  EXPECT_FALSE(r.hit);
  EXPECT_EQ(engine_->stats().checksum_errors, 1u);
}

TEST_F(EngineTest, StoresWaitForMemoryWhileSlabsFlush) {
  // Without reaping completions, memory slabs run out: the engine says so instead of blocking.
  StoreResult last = StoreResult::kStored;
  int stored = 0;
  for (int i = 0; i < 1000 && last == StoreResult::kStored; ++i) {
    const std::string key = "w" + std::to_string(i);
    const std::string value = ValueFor("w", i, 4000);
    last = engine_->Store(StoreRequest(key, util::HashKey(key), value)).result;
    if (last == StoreResult::kStored) ++stored;
  }
  EXPECT_EQ(last, StoreResult::kNoMemory);
  EXPECT_GT(stored, 0);
  Pump();
  EXPECT_EQ(Set("after", "ok"), StoreResult::kStored);
  for (int i = 0; i < stored; ++i) {
    std::string k = "w" + std::to_string(i);
    Result r = Get(k);
    ASSERT_TRUE(r.hit) << k;
    EXPECT_EQ(r.value, ValueFor("w", i, 4000));
  }
}

TEST_F(EngineTest, WarmRestartKeepsItemsAndDeletes) {
  std::map<std::string, std::string> want;
  for (int i = 0; i < 300; ++i) {
    std::string k = "key" + std::to_string(i);
    want[k] = ValueFor(k, 1, 100 + (i * 37) % 3000);
    ASSERT_EQ(Set(k, want[k]), StoreResult::kStored);
  }
  for (int i = 0; i < 300; i += 3) {  // overwrite a third
    std::string k = "key" + std::to_string(i);
    want[k] = ValueFor(k, 2, 500);
    ASSERT_EQ(Set(k, want[k]), StoreResult::kStored);
  }
  for (int i = 1; i < 300; i += 10) {  // delete some
    std::string k = "key" + std::to_string(i);
    ASSERT_TRUE(engine_->Erase(k, util::HashKey(k)).erased);
    want.erase(k);
  }
  ASSERT_EQ(Set("sooner", "x", engine_->now() + 5), StoreResult::kStored);
  uint64_t cas_before = engine_->next_cas();
  std::string err;
  engine_->set_now(engine_->now() + 10);  // "sooner" expires while the server is down
  ASSERT_TRUE(Restart(err)) << err;
  EXPECT_EQ(engine_->gauges().curr_items, want.size());
  EXPECT_EQ(engine_->recovery().items, want.size());
  EXPECT_GT(engine_->recovery().tombstones, 0u);
  for (int i = 0; i < 300; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    if (want.count(k)) {
      ASSERT_TRUE(r.hit) << k;
      EXPECT_EQ(r.value, want[k]) << k;
    } else {
      EXPECT_FALSE(r.hit) << k << " was deleted";
    }
  }
  EXPECT_FALSE(Get("sooner").hit);
  EXPECT_GE(engine_->next_cas(), cas_before);
  // New writes after the restart are served and survive another restart.
  ASSERT_EQ(Set("later", "v"), StoreResult::kStored);
  ASSERT_TRUE(Restart(err)) << err;
  EXPECT_EQ(Get("later").value, "v");
  EXPECT_EQ(Get("key0").value, want["key0"]);
}

TEST_F(EngineTest, FlushAllSurvivesRestart) {
  for (int i = 0; i < 100; ++i) Set("a" + std::to_string(i), ValueFor("a", i, 2000));
  Pump();
  engine_->FlushAll();
  Set("after", "1");
  std::string err;
  ASSERT_TRUE(Restart(err)) << err;
  EXPECT_FALSE(Get("a5").hit);
  EXPECT_EQ(Get("after").value, "1");
  EXPECT_EQ(engine_->gauges().curr_items, 1u);
}

TEST_F(EngineTest, RestartWithOtherGeometryIsRefusedUnlessFormatted) {
  Set("k", "v");
  std::string err;
  EXPECT_FALSE(Restart(err, /*min_item=*/96));
  EXPECT_NE(err.find("slab class table"), std::string::npos) << err;
  EXPECT_NE(err.find("--format"), std::string::npos) << err;
  err.clear();
  ASSERT_TRUE(Restart(err, 96, /*format=*/true)) << err;
  EXPECT_FALSE(Get("k").hit);
  EXPECT_EQ(engine_->gauges().curr_items, 0u);
  // And the old records never come back, even with the old flags.
  ASSERT_TRUE(Restart(err, 96)) << err;
  EXPECT_FALSE(Get("k").hit);
}

TEST_F(EngineTest, GarbageDeviceIsRefused) {
  std::string err;
  engine_.reset();
  RawWrite(0, std::string(4096, 'j'));
  EXPECT_FALSE(Reopen(err, DefaultOptions(4 * kSlab)));
  EXPECT_NE(err.find("no valid ssdcache superblock"), std::string::npos) << err;
}

TEST_F(EngineTest, TornRecordsAreSkippedAtRestart) {
  for (int i = 0; i < 60; ++i) Set("t" + std::to_string(i), ValueFor("t", i, 2000));
  std::string err;
  for (int i = 0; i < 10 && engine_->ShutdownFlush(); ++i) Pump();
  Pump();
  // Damage the second half of the first disk slab (as a torn write would).
  RawWrite(kSlab + kSlab / 2, std::string(kSlab / 2, '\x11'));
  ASSERT_TRUE(Restart(err)) << err;
  EXPECT_GT(engine_->recovery().skipped, 0u);
  int hits = 0;
  for (int i = 0; i < 60; ++i) {
    Result r = Get("t" + std::to_string(i));
    if (!r.hit) continue;
    ++hits;
    EXPECT_EQ(r.value, ValueFor("t", i, 2000));
  }
  EXPECT_GT(hits, 0);
  EXPECT_LT(hits, 60);
}

// A get of an item that fits in a device block reads that one block (the SSD-host scale issue:
// chunks straddled block boundaries, and a 4,000-byte value read 8,566 bytes on average).
TEST_F(EngineTest, AnItemThatFitsInABlockIsReadWithOneBlock) {
  std::vector<std::pair<std::string, std::string>> items;
  for (const uint32_t size :
       {100u, 700u, 1500u, 2100u, 3000u, 4000u, 4096u - kItemHeaderSize - 8}) {
    for (int i = 0; i < 12; ++i) {  // several per slab, so that chunks fall at many offsets
      const std::string key = "b" + std::to_string(size) + "_" + std::to_string(i);
      items.emplace_back(key, ValueFor(key, i, size));
      ASSERT_EQ(Set(items.back().first, items.back().second), StoreResult::kStored);
    }
  }
  std::string err;
  ASSERT_TRUE(CleanRestart(err, DefaultOptions(4 * kSlab))) << err;  // every get reads the device
  for (const auto& [key, value] : items) {
    testing::Collector c;
    ItemView v;
    const LookupOutcome o = engine_->Lookup(key, util::HashKey(key), v, &c, 1);
    ASSERT_EQ(o.kind, LookupResult::kPending) << key;
    EXPECT_EQ(o.read_bytes, 4096u) << key << " (" << value.size() << " bytes)";
    Pump();
    ASSERT_TRUE(c.results[1].hit) << key;
    EXPECT_EQ(c.results[1].value, value);
  }
}

}  // namespace
}  // namespace ssdcache::storage
