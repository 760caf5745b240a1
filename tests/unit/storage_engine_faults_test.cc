// The engine under injected IO faults (a FaultBackend around the fixture's backend): failed or
// short reads are misses counted in read_errors and the items stay; failed slab writes drop exactly
// their items (counted as evictions) and close their disk slab, which is reused like any other;
// the engine keeps storing and serving even when every write fails; a piece written behind a
// failed one is still found by a restart; no wrong value ever comes back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/fault_backend.h"
#include "storage/item.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::Collector;
using testing::kSlab;
using testing::Result;

class EngineFaultsTest : public testing::EngineFixture {
 protected:
  EngineFaultsTest() : EngineFixture("faults") {}
  void SetUp() override { ::alarm(300); }
  void TearDown() override {
    EngineFixture::TearDown();
    ::alarm(0);
  }

  // Replaces the fault spec ("" = none); IO is drained first, as set_fault_injector requires.
  void Faults(const std::string& spec) {
    Pump();
    if (spec.empty()) {
      faults_->set_injector(nullptr);
      return;
    }
    std::string error;
    auto f = FaultInjector::Create(spec, error);
    ASSERT_NE(f, nullptr) << error;
    faults_->set_injector(std::move(f));
  }

  // Every disk slab is free or in use: failed writes never retire one.
  void ExpectNoDiskSlabLost() const {
    EXPECT_EQ(uint64_t{engine_->disk_slabs_used()} + engine_->disk_slabs_free(),
              engine_->disk_slabs_total());
  }
  // Seals every memory slab and waits for the writes.
  void WriteOut() {
    for (int i = 0; i < 10 && engine_->ShutdownFlush(); ++i) Pump();
    Pump();
  }

  // The bytes of disk slab `d` as the device holds them.
  std::string DiskSlabBytes(uint32_t d) { return RawRead(uint64_t{d + 1} * kSlab, kSlab); }

  // Fails the test unless `r` is a miss or exactly the value `key` was last given.
  static void ExpectMissOrExact(const Result& r, const std::string& key, int version, size_t size) {
    if (!r.hit) return;
    ASSERT_EQ(r.value, ValueFor(key, version, size)) << "wrong value for " << key;
  }
};

TEST_F(EngineFaultsTest, FailedAndShortReadsAreCountedMissesAndTheItemsStay) {
  Open(16 << 20, 4 * kSlab);
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 1, 1000)), StoreResult::kStored);
  }
  Faults("read_eio=0.3,read_short=0.2,seed=7");
  const EngineStats before = engine_->stats();
  int hits = 0, misses = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, 1, 1000));
    ++(r.hit ? hits : misses);
  }
  const EngineStats& after = engine_->stats();
  // Nothing was evicted, so every miss is a failed device read, and each one was counted.
  EXPECT_GT(misses, 0);
  EXPECT_GT(hits, 0);
  EXPECT_EQ(after.read_errors - before.read_errors, static_cast<uint64_t>(misses));
  EXPECT_EQ(after.checksum_errors, 0u);
  EXPECT_GT(after.reads_device - before.reads_device, static_cast<uint64_t>(misses));
  // A failed read says nothing about the item: it is still there once the device behaves.
  EXPECT_EQ(engine_->gauges().curr_items, static_cast<uint64_t>(kKeys));
  Faults("");
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    ASSERT_TRUE(r.hit) << k;
    EXPECT_EQ(r.value, ValueFor(k, 1, 1000));
  }
}

TEST_F(EngineFaultsTest, WithEveryReadFailingMemoryItemsStillHit) {
  Open(16 << 20, 4 * kSlab);
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 1, 1000)), StoreResult::kStored);
  }
  Faults("read_eio=1");
  const EngineStats before = engine_->stats();
  int hits = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, 1, 1000));
    if (r.hit) ++hits;
  }
  const EngineStats& after = engine_->stats();
  // Hits are exactly the lookups served from DRAM; every device read failed and was counted.
  EXPECT_EQ(after.reads_memory - before.reads_memory, static_cast<uint64_t>(hits));
  EXPECT_GT(after.reads_device - before.reads_device, 0u);
  EXPECT_EQ(after.read_errors - before.read_errors, after.reads_device - before.reads_device);
  EXPECT_EQ(static_cast<uint64_t>(kKeys - hits), after.read_errors - before.read_errors);
  // The engine still stores and serves new items.
  ASSERT_EQ(Set("fresh", "value"), StoreResult::kStored);
  Result r = Get("fresh");
  EXPECT_TRUE(r.hit);
  EXPECT_EQ(r.value, "value");
}

TEST_F(EngineFaultsTest, StalledReadsCompleteOnceWithTheRightValues) {
  Open(16 << 20, 4 * kSlab);
  constexpr int kKeys = 200;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 1, 1000)), StoreResult::kStored);
  }
  EvictFromMemory();
  Faults("stall=0.5,stall_ms=20,read_eio=0.1,seed=3");
  // All lookups in flight at once, as many connections would have them.
  Collector c;
  std::map<uint64_t, std::string> memory_hits;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    ItemView v;
    LookupResult lr = engine_->Lookup(k, util::HashKey(k), v, &c, static_cast<uint64_t>(i)).kind;
    if (lr == LookupResult::kHit) memory_hits[i] = std::string(v.value);
    ASSERT_NE(lr, LookupResult::kMiss) << k;
  }
  EXPECT_GT(engine_->reads_in_flight(), 0u);
  Pump();
  EXPECT_EQ(engine_->reads_in_flight(), 0u);
  EXPECT_GT(faults_->injector()->stats().stalled, 0u);
  int misses = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    if (memory_hits.count(i)) {
      EXPECT_EQ(memory_hits[i], ValueFor(k, 1, 1000));
      EXPECT_EQ(c.results.count(i), 0u);
      continue;
    }
    ASSERT_EQ(c.results[i].calls, 1) << k;
    Result& r = c.results[i];
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, 1, 1000));
    if (!r.hit) ++misses;
  }
  EXPECT_EQ(engine_->stats().read_errors, static_cast<uint64_t>(misses));
}

TEST_F(EngineFaultsTest, FailedSlabWritesDropTheirItemsCountedAndTheirDiskSlabsComeBack) {
  Open(16 << 20, 4 * kSlab);
  Faults("write_eio=1");
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 1, 1000)), StoreResult::kStored);
  }
  Pump();
  const EngineStats st = engine_->stats();
  EXPECT_EQ(st.slab_writes, 0u);
  ASSERT_GT(st.write_errors, 0u);
  ExpectNoDiskSlabLost();
  EXPECT_EQ(engine_->disk_slabs_used(), 0u);
  // What is left is what the open memory slabs hold, and curr_items says exactly that; every
  // item lost with a failed write is an eviction.
  int hits = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, 1, 1000));
    if (r.hit) ++hits;
  }
  EXPECT_GT(hits, 0);
  EXPECT_LT(hits, kKeys);
  EXPECT_EQ(engine_->gauges().curr_items, static_cast<uint64_t>(hits));
  EXPECT_EQ(engine_->stats().evictions, static_cast<uint64_t>(kKeys - hits));
  EXPECT_EQ(engine_->stats().reads_device, 0u);  // no index entry points at a dropped slab

  // Without faults the engine fills the whole device several times over, the disk slabs the
  // failed writes went to included.
  Faults("");
  const uint64_t device = device_->size();
  std::map<std::string, int> version;
  std::mt19937 rng(11);
  uint64_t written = 0;
  while (written < 3 * device) {
    std::string k = "k" + std::to_string(rng() % 2000);
    int v = ++version[k];
    ASSERT_EQ(Set(k, ValueFor(k, v, 1000)), StoreResult::kStored);
    written += 1000;
  }
  Pump();
  EXPECT_GT(engine_->stats().slab_evictions, 0u);
  EXPECT_EQ(engine_->stats().write_errors, st.write_errors);
  ExpectNoDiskSlabLost();
  int later_hits = 0;
  for (const auto& [k, v] : version) {
    Result r = Get(k);
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, v, 1000));
    if (r.hit) ++later_hits;
  }
  EXPECT_GT(later_hits, 0);
  int first_hits = 0;  // first-phase items that were in DRAM, flushed fine since
  for (int i = 0; i < kKeys; ++i) {
    std::string k = "key" + std::to_string(i);
    Result r = Get(k);
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, 1, 1000));
    if (r.hit) ++first_hits;
  }
  EXPECT_EQ(engine_->gauges().curr_items, static_cast<uint64_t>(later_hits + first_hits));
}

TEST_F(EngineFaultsTest, FailedWriteOfAPartlyFilledSlabClosesItsDiskSlabForReuse) {
  Open(16 << 20, 4 * kSlab);
  Faults("write_eio=1");
  ASSERT_EQ(Set("a", ValueFor("a", 1, 100)), StoreResult::kStored);
  ASSERT_EQ(Set("b", ValueFor("b", 1, 100)), StoreResult::kStored);
  // Seals the one open slab early: it is written short into a disk slab that would stay open for
  // more partly filled slabs, and is the only write into it.
  EXPECT_FALSE(engine_->ShutdownFlush());
  Pump();
  EXPECT_EQ(engine_->stats().write_errors, 1u);
  EXPECT_EQ(engine_->gauges().curr_items, 0u);
  EXPECT_EQ(engine_->stats().evictions, 2u);
  EXPECT_FALSE(Get("a").hit);
  EXPECT_EQ(engine_->disk_slabs_used(), 0u) << "closed and freed: it held nothing else";
  ExpectNoDiskSlabLost();
  // The next partly filled slab is written fine.
  Faults("");
  ASSERT_EQ(Set("c", ValueFor("c", 1, 100)), StoreResult::kStored);
  EXPECT_FALSE(engine_->ShutdownFlush());
  Pump();
  EXPECT_EQ(engine_->stats().slab_writes, 1u);
  EXPECT_EQ(engine_->disk_slabs_used(), 1u);
  // (Written fine: its buffer still serves it; push it out to read it from the device.)
  EvictFromMemory();
  Result r = Get("c");
  EXPECT_TRUE(r.hit);
  EXPECT_EQ(r.value, ValueFor("c", 1, 100));
  EXPECT_GT(engine_->stats().reads_device, 0u);
}

TEST_F(EngineFaultsTest, APieceWrittenBehindAFailedOneIsFoundByARestart) {
  Open(16 << 20, 4 * kSlab);
  // Three partly filled slabs packed into one disk slab: k's first version, another key, k's
  // second version.
  ASSERT_EQ(Set("k", ValueFor("k", 1, 1000)), StoreResult::kStored);
  WriteOut();
  ASSERT_EQ(Set("other", ValueFor("other", 1, 1000)), StoreResult::kStored);
  WriteOut();
  ASSERT_EQ(Set("k", ValueFor("k", 2, 1000)), StoreResult::kStored);
  WriteOut();
  std::string err;
  ASSERT_TRUE(engine_->FinishShutdown(err)) << err;
  std::vector<uint64_t> pieces;  // device offsets of the pieces' headers
  for (uint32_t d = 0; d < engine_->disk_slabs_total() && pieces.empty(); ++d) {
    const std::string bytes = DiskSlabBytes(d);
    for (uint32_t off = 0; off + 4096 <= kSlab;) {
      SlabHeader h;
      std::memcpy(&h, bytes.data() + off, sizeof(h));
      if (h.magic != kSlabMagic) break;
      pieces.push_back(uint64_t{d + 1} * kSlab + off);
      const ChunkLayout layout(h.chunk_size, kSlab, 4096);
      off += layout.piece_bytes(h.chunks_used);
    }
  }
  ASSERT_EQ(pieces.size(), 3u);
  // The middle write failed without landing: its header block holds garbage, so the chain of
  // headers breaks there. k's newer version is behind it; a restart that stopped at the break
  // would serve the older one.
  RawWrite(pieces[1], std::string(4096, '\xa5'));
  ASSERT_TRUE(Reopen(err, DefaultOptions(4 * kSlab))) << err;
  EXPECT_EQ(engine_->recovery().pieces_past_gap, 1u);
  Result k = Get("k");
  ASSERT_TRUE(k.hit);
  EXPECT_EQ(k.value, ValueFor("k", 2, 1000));
  EXPECT_FALSE(Get("other").hit);
}

TEST_F(EngineFaultsTest, RandomWriteAndReadFaultsNeverYieldAWrongValue) {
  Open(16 << 20, 32 * kSlab);
  Faults(
      "write_eio=0.01,write_short=0.005,read_eio=0.05,read_short=0.02,stall=0.05,stall_ms=5,"
      "seed=42");
  std::mt19937 rng(42);
  std::map<std::string, std::pair<int, size_t>> last;  // version, size
  const uint64_t device = device_->size();
  uint64_t written = 0;
  int round = 0;
  while (written < 3 * device) {
    std::string k = "k" + std::to_string(rng() % 3000);
    size_t size = 50 + rng() % 3000;
    auto& [v, sz] = last[k];
    ++v;
    sz = size;
    ASSERT_EQ(Set(k, ValueFor(k, v, size)), StoreResult::kStored);
    written += size;
    if (++round % 300 == 0) {
      // Read some keys back in the middle of the load.
      for (int j = 0; j < 20; ++j) {
        std::string q = "k" + std::to_string(rng() % 3000);
        auto it = last.find(q);
        Result r = Get(q);
        if (it == last.end()) {
          EXPECT_FALSE(r.hit) << q;
          continue;
        }
        ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, q, it->second.first, it->second.second));
      }
    }
  }
  Pump();
  const EngineStats& st = engine_->stats();
  EXPECT_GT(st.write_errors, 0u);
  EXPECT_GT(st.slab_writes, 0u);
  EXPECT_GT(st.read_errors, 0u);
  EXPECT_EQ(st.checksum_errors, 0u);
  ExpectNoDiskSlabLost();
  // Every live index entry is an item that can be read (once the device behaves).
  Faults("");
  uint64_t hits = 0;
  for (const auto& [k, vs] : last) {
    Result r = Get(k);
    ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(r, k, vs.first, vs.second));
    if (r.hit) ++hits;
  }
  EXPECT_GT(hits, 0u);
  EXPECT_EQ(engine_->gauges().curr_items, hits);
}

TEST_F(EngineFaultsTest, WithEveryWriteFailingTheEngineStillStoresAndServes) {
  // 2 MiB: 31 disk slabs, 4 memory slabs.
  Open(2 << 20, 4 * kSlab);
  Faults("write_eio=1");
  const uint32_t total = engine_->disk_slabs_total();
  int i = 0;
  while (engine_->stats().write_errors < 2 * total && i < 100000) {
    std::string k = "fill" + std::to_string(i++);
    ASSERT_EQ(Set(k, ValueFor(k, 1, 2000)), StoreResult::kStored);
  }
  Pump();
  ExpectNoDiskSlabLost();
  // Every write fails, yet stores never stall (a store that finds every buffer busy is woken by
  // the failed write that frees one), in more classes at once than there are memory slabs, and
  // what is in DRAM is served.
  int hits = 0;
  for (int round = 0; round < 20; ++round) {
    for (int cls = 0; cls < 8; ++cls) {
      std::string k = "c" + std::to_string(cls) + "r" + std::to_string(round);
      size_t size = 60u << cls;
      StoreResult r = Store(k, ValueFor(k, round, size)).result;
      ASSERT_EQ(r, StoreResult::kStored) << k;
      Result got = Get(k);
      ASSERT_NO_FATAL_FAILURE(ExpectMissOrExact(got, k, round, size));
      if (got.hit) ++hits;
    }
  }
  EXPECT_GT(hits, 20 * 8 / 2);
  Pump();
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(engine_->stats().slab_writes, 0u);
}

TEST_F(EngineFaultsTest, TombstonesOfAFailedSlabWriteAreWrittenAgain) {
  ASSERT_NO_FATAL_FAILURE(Open(16 << 20, 4 * kSlab));
  const std::string big(2000, 'v');
  ASSERT_EQ(Set("victim", big), StoreResult::kStored);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(Set("fill" + std::to_string(i), big), StoreResult::kStored);
  Pump();
  ASSERT_TRUE(engine_->Erase("victim", util::HashKey("victim")).erased);  // a tombstone in DRAM
  // Its slab's write fails: the delete must not depend on that write having reached the device.
  ASSERT_NO_FATAL_FAILURE(Faults("write_eio=1"));
  for (int i = 0; i < 10 && engine_->ShutdownFlush(); ++i) Pump();
  Pump();
  EXPECT_GT(engine_->stats().write_errors, 0u);
  ASSERT_NO_FATAL_FAILURE(Faults(""));
  for (int i = 0; i < 10 && engine_->ShutdownFlush(); ++i) Pump();
  Pump();
  // A warm restart sees the tombstone written again (the one whose write "failed" may be there
  // too, unless its disk slab was written over since).
  std::string err;
  ASSERT_TRUE(Reopen(err, DefaultOptions(4 * kSlab))) << err;
  EXPECT_GE(engine_->recovery().tombstones, 1u);
  EXPECT_FALSE(Get("victim").hit);
  EXPECT_TRUE(Get("fill7").hit);
}

}  // namespace
}  // namespace ssdcache::storage
