// Snapshot tests: a clean restart that loads the snapshot answers every get exactly as a restart
// that scans the device; a snapshot that is corrupt (any block), stale (an earlier run's), made
// for a larger index, or left by a run that did not stop cleanly is never loaded, and the scan
// that replaces it answers the same.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/fault.h"
#include "storage/item.h"
#include "storage/slab_class.h"
#include "storage/slab_table.h"
#include "storage/snapshot.h"
#include "util/option.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr uint64_t kDevice = 24 << 20;
constexpr uint32_t kNow = 1000000;
constexpr int kKeys = 1500;

struct Answer {
  bool hit = false;
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;
  bool operator==(const Answer&) const = default;
};
using Answers = std::map<std::string, Answer>;

class SnapshotTest : public testing::EngineFixture {
 protected:
  SnapshotTest() : EngineFixture("snapshot", testing::TestBackend::kMemory) {}

  static EngineOptions Options(uint64_t index_bytes = 1 << 20) {
    EngineOptions o = DefaultOptions(8 * kSlab);
    o.max_index_memory = index_bytes;
    o.journal_size = 64 * kJournalBlockSize;
    o.journal_sync = JournalSync::kProcess;
    o.boot_id = 0x600d;
    o.snapshot_size = 1 << 20;
    return o;
  }
  void SetUp() override { OpenWith(kDevice, Options()); }

  static std::string Key(int i) { return "key" + std::to_string(i); }

  // Sets, overwrites, deletes, touches, a flush_all, stale marks and items about to expire,
  // over more data than the device holds (evictions, wrap-around, packed slabs).
  void Workload() {
    for (int i = 0; i < 300; ++i) Set("gone" + std::to_string(i), std::string(900, 'g'));
    engine_->FlushAll();
    for (int round = 0; round < 4; ++round) {
      for (int i = 0; i < kKeys; ++i) {
        const std::string k = Key(i);
        const size_t size = 50 + (i * 37 + round * 11) % 4000;
        const uint32_t exp = i % 13 == 0 ? kNow + 30 : 0;    // expires before the checks
        const std::string value = ValueFor(k, round, size);  // the request only views it
        StoreRequest put(k, util::HashKey(k), value);
        put.flags = static_cast<uint32_t>(i);
        put.exptime = exp;
        put.marks.stale = i % 17 == 0;
        ASSERT_EQ(StoreWaiting(put), StoreResult::kStored);
      }
      for (int i = round; i < kKeys; i += 9) engine_->Erase(Key(i), util::HashKey(Key(i)));
      for (int i = round + 4; i < kKeys; i += 23) Touch(Key(i));
      Pump();
    }
  }
  // A touch as the server does it: a read, then a new version with the same cas and a new exptime.
  void Touch(const std::string& k) {
    IndexEntry where;
    testing::Collector c;
    ItemView v;
    const LookupResult kind = engine_->Lookup(k, util::HashKey(k), v, &c, 1, &where, false).kind;
    if (kind == LookupResult::kMiss) return;
    std::string value;
    uint32_t flags = 0;
    uint64_t cas = 0;
    if (kind == LookupResult::kHit) {
      value.assign(v.value);
      flags = v.flags;
      cas = v.cas;
    } else {
      Pump();
      if (!c.results[1].hit) return;
      value = c.results[1].value;
      flags = c.results[1].flags;
      cas = c.results[1].cas;
    }
    StoreRequest put(k, util::HashKey(k), value);
    put.flags = flags;
    put.exptime = kNow + 100000;
    put.keep_cas = cas;
    put.Expect(where);
    StoreWaiting(put);
  }
  // A store that waits out memory backpressure, as a parked connection does.
  StoreResult StoreWaiting(const StoreRequest& put) {
    StoreResult r = StoreResult::kNoMemory;
    for (int i = 0; i < 1000 && r == StoreResult::kNoMemory; ++i) {
      r = engine_->Store(put).result;
      Pump();
    }
    return r;
  }

  Answers Collect() {
    Answers out;
    for (int i = 0; i < kKeys; ++i) {
      testing::Result r = Get(Key(i));
      out[Key(i)] = Answer{r.hit, r.value, r.flags, r.cas};
    }
    for (int i = 0; i < 300; ++i) EXPECT_FALSE(Get("gone" + std::to_string(i)).hit);
    return out;
  }
  // The first key whose answers differ (the maps are too large to print).
  static void ExpectSame(const Answers& got, const Answers& want, const std::string& what = "") {
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [key, a] : want) {
      const Answer& b = got.at(key);
      if (a == b) continue;
      ADD_FAILURE() << what << ": " << key << " was " << (a.hit ? a.value.substr(0, 20) : "a miss")
                    << " (cas " << a.cas << "), now " << (b.hit ? b.value.substr(0, 20) : "a miss")
                    << " (cas " << b.cas << ")";
      return;
    }
  }
  // A clean stop, 60 s later (the 30 s items expired); returns the device as it left it.
  std::vector<char> Stop() {
    engine_->set_now(kNow + 60);
    for (int i = 0; i < 100 && engine_->ShutdownFlush(); ++i) Pump();
    Pump();
    std::string err;
    EXPECT_TRUE(engine_->FinishShutdown(err)) << err;
    engine_.reset();
    return image_->bytes;
  }
  // A clean stop, then a start on the same device.
  void Restart(const EngineOptions& o) { StartOn(Stop(), o); }
  // A start on `image` (a copy of the device), without a stop.
  void StartOn(const std::vector<char>& image, const EngineOptions& o) {
    engine_.reset();
    image_->bytes = image;
    std::string err;
    engine_ = Engine::Create(o, *device_, *aio_, err);
    ASSERT_TRUE(engine_) << err;
    engine_->set_now(kNow + 60);
    ASSERT_TRUE(engine_->Recover(false, err)) << err;
  }
  // A new run as the server starts one: the Device opened again (`format`: --format), then an
  // engine with `o` on it.
  bool NewRun(const EngineOptions& o, bool format, std::string& err) {
    engine_.reset();
    device_.reset();
    OpenImage(err, format);
    if (!device_) return false;
    aio_ = &device_->io();
    engine_ = Engine::Create(o, *device_, *aio_, err);
    if (!engine_) return false;
    engine_->set_now(kNow + 60);
    return engine_->Recover(format, err);
  }
  static EngineOptions Auto(uint64_t index_bytes = 1 << 20) {
    EngineOptions o = Options(index_bytes);
    o.snapshot_size = util::BlocksOrAuto::kAuto;
    return o;
  }
  uint64_t RegionBytes() { return uint64_t{ReadSuperblock().snapshot_blocks} * 4096; }
  uint64_t Region() const { return device_->offset() + 4096 + Options().journal_size; }
  Superblock ReadSuperblock() {
    Superblock sb;
    std::memcpy(&sb, RawRead(device_->offset(), 4096).data(), sizeof(sb));
    return sb;
  }
  bool Loaded() const { return engine_->recovery().snapshot; }
};

TEST_F(SnapshotTest, ACleanRestartLoadsItAndAnswersAsTheScan) {
  Workload();
  engine_->set_now(kNow + 60);
  const Answers before = Collect();
  const std::vector<char> stopped = Stop();
  StartOn(stopped, Options());
  ASSERT_TRUE(Loaded());
  ExpectSame(Collect(), before, "snapshot");
  const uint64_t items = engine_->gauges().curr_items;
  EXPECT_GT(items, 0u);
  // The same device without the snapshot: the scan answers the same.
  std::vector<char> scan = stopped;
  std::memset(scan.data() + Region(), 0, 4096);
  StartOn(scan, Options());
  ASSERT_FALSE(Loaded());
  ExpectSame(Collect(), before, "scan");
  EXPECT_EQ(engine_->gauges().curr_items, items);
}

TEST_F(SnapshotTest, ALoadedStartIsUncleanUntilItStopsAndItsCrashScans) {
  Workload();
  Restart(Options());
  ASSERT_TRUE(Loaded());
  // The start rewrote the superblock (clean = 0) before serving.
  const Superblock sb = ReadSuperblock();
  EXPECT_EQ(sb.clean, 0u);
  EXPECT_EQ(sb.version, kFormatVersion);
  // More writes over what the snapshot holds, then SIGKILL: the next start scans, and no key
  // comes back older than what was acknowledged after the load.
  for (int i = 0; i < kKeys; i += 2) {
    ASSERT_EQ(Set(Key(i), ValueFor(Key(i), 9, 300)), StoreResult::kStored);
  }
  for (int i = 1; i < kKeys; i += 6) engine_->Erase(Key(i), util::HashKey(Key(i)));
  Pump();
  std::string err;
  ASSERT_TRUE(CrashAndReopen({}, err, Options())) << err;
  EXPECT_FALSE(Loaded());
  int hits = 0;
  for (int i = 0; i < kKeys; ++i) {
    const testing::Result r = Get(Key(i));
    hits += r.hit ? 1 : 0;
    if (i % 2 == 0 && r.hit) {
      EXPECT_EQ(r.value, ValueFor(Key(i), 9, 300)) << Key(i);
    }
    if (i % 6 == 1) {
      EXPECT_FALSE(r.hit) << Key(i) << " was deleted";
    }
  }
  EXPECT_GT(hits, 0);
}

TEST_F(SnapshotTest, ACorruptBlockFallsBackToTheScan) {
  Workload();
  const std::vector<char> stopped = Stop();
  StartOn(stopped, Options());
  ASSERT_TRUE(Loaded());
  const Answers loaded = Collect();
  // The header, then every page the snapshot uses (the access table fills the last ones).
  const uint64_t region = Region();
  uint32_t pages = 0;
  std::memcpy(&pages, stopped.data() + region + 12, sizeof(pages));
  ASSERT_GT(pages, 1u);
  for (uint32_t block = 0; block <= pages; ++block) {
    std::vector<char> bad = stopped;
    const uint64_t at =
        region + (block == 0 ? 40 : 4096 + uint64_t{block - 1} * Snapshot::kPageBytes + 5000);
    bad[at] ^= 0x10;
    StartOn(bad, Options());
    EXPECT_FALSE(Loaded()) << "block " << block;
    ExpectSame(Collect(), loaded, "block " + std::to_string(block));
  }
}

TEST_F(SnapshotTest, AStaleSnapshotIsNotLoaded) {
  Workload();
  const std::vector<char> first = Stop();
  const std::vector<char> old_region(first.begin() + Region(),
                                     first.begin() + Region() + (1 << 20));
  StartOn(first, Options());
  ASSERT_TRUE(Loaded());
  for (int i = 0; i < kKeys; i += 3) {
    ASSERT_EQ(Set(Key(i), ValueFor(Key(i), 7, 200)), StoreResult::kStored);
  }
  std::vector<char> second = Stop();
  StartOn(second, Options());
  ASSERT_TRUE(Loaded());
  const Answers newer = Collect();
  // The earlier run's snapshot back in the region, under the later run's clean superblock.
  std::copy(old_region.begin(), old_region.end(), second.begin() + Region());
  StartOn(second, Options());
  EXPECT_FALSE(Loaded());
  ExpectSame(Collect(), newer, "stale");
  for (int i = 0; i < kKeys; i += 3) {
    const testing::Result r = Get(Key(i));
    if (r.hit) {
      EXPECT_EQ(r.value, ValueFor(Key(i), 7, 200));
    }
  }
}

TEST_F(SnapshotTest, AnUncleanStopIgnoresAMatchingSnapshot) {
  Workload();
  std::vector<char> image = Stop();
  StartOn(image, Options());
  ASSERT_TRUE(Loaded());
  const Answers loaded = Collect();
  // The superblock of the clean stop with clean = 0: as if that run had crashed after writing
  // its snapshot (which matches everything else).
  Superblock sb;
  std::memcpy(&sb, image.data() + device_->offset(), sizeof(sb));
  ASSERT_EQ(sb.clean, 1u);
  sb.clean = 0;
  sb.crc = 0;
  sb.crc = util::Crc32c(&sb, sizeof(sb));
  std::memcpy(image.data() + device_->offset(), &sb, sizeof(sb));
  StartOn(image, Options());
  EXPECT_FALSE(Loaded());
  ExpectSame(Collect(), loaded, "unclean");
}

TEST_F(SnapshotTest, ASmallerIndexLoadsItAndALargerOneScans) {
  Workload();
  const std::vector<char> stopped = Stop();
  StartOn(stopped, Options());
  ASSERT_TRUE(Loaded());
  const Answers loaded = Collect();
  StartOn(stopped, Options(512 << 10));
  EXPECT_TRUE(Loaded());
  ExpectSame(Collect(), loaded, "-i 512K");
  StartOn(stopped, Options(2 << 20));
  EXPECT_FALSE(Loaded());
  ExpectSame(Collect(), loaded, "-i 2M");
}

// A slab write that fails in the stop's last round puts its tombstones back. The stop must write
// no snapshot then: a load would drop the scan's orphans (the keys those tombstones cover), and
// the first checkpoint after it would free their journal entries. The next start scans.
TEST_F(SnapshotTest, TombstonesLeftByAFailedLastWriteLeaveTheNextStartToTheScan) {
  const std::string big(2000, 'v');
  ASSERT_EQ(Set("victim", big), StoreResult::kStored);
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(Set("fill" + std::to_string(i), big), StoreResult::kStored);
  Pump();
  ASSERT_TRUE(engine_->Erase("victim", util::HashKey("victim")).erased);
  std::string err;
  std::unique_ptr<FaultInjector> eio = FaultInjector::Create("write_eio=1", err);
  ASSERT_NE(eio, nullptr) << err;
  faults_->set_injector(std::move(eio));
  for (int i = 0; i < 3 && engine_->ShutdownFlush(); ++i) Pump();
  Pump();
  faults_->set_injector(nullptr);
  EXPECT_GT(engine_->stats().write_errors, 0u);
  ASSERT_TRUE(engine_->FinishShutdown(err)) << err;
  ASSERT_TRUE(Reopen(err, Options())) << err;
  EXPECT_FALSE(Loaded());
  EXPECT_FALSE(Get("victim").hit);
}

TEST_F(SnapshotTest, ARegionTooSmallLeavesTheNextStartToTheScan) {
  EngineOptions o = Options();
  o.snapshot_size = 260 << 10;  // the access table alone takes three pages
  engine_.reset();
  image_->bytes.assign(image_->bytes.size(), 0);
  std::string err;
  ASSERT_TRUE(Reopen(err, o)) << err;
  for (int i = 0; i < 12000; ++i) Set("s" + std::to_string(i), "v");
  Pump();
  StartOn(Stop(), o);
  EXPECT_FALSE(Loaded());
  for (int i = 0; i < 12000; i += 97) EXPECT_TRUE(Get("s" + std::to_string(i)).hit) << i;
}

// --snapshot-size auto on a device of small items: room for a snapshot of the full index (1/128
// of the slice, as auto was, held ~10,000 entries here), and a clean restart loads it.
TEST_F(SnapshotTest, AutoHoldsAFullIndexOfSmallItems) {
  // No journal: a nearly full index evicts entries, and a new key's entry is journaled then.
  EngineOptions o = Auto();
  o.journal_size = 0;
  std::string err;
  ASSERT_TRUE(NewRun(o, /*format=*/true, err)) << err;
  const size_t slots = engine_->index().capacity();
  EXPECT_GE(RegionBytes(), Snapshot::BytesFor(0, slots));
  // 56-byte chunks up to 85% of the index's slots (a full index evicts entries).
  const int n = static_cast<int>(slots * 85 / 100);
  for (int i = 0; i < n; ++i) ASSERT_EQ(Set("s" + std::to_string(i), "v"), StoreResult::kStored);
  Pump();
  const uint64_t items = engine_->gauges().curr_items;
  ASSERT_GT(items, slots * 8 / 10);
  Stop();
  ASSERT_TRUE(NewRun(o, false, err)) << err;
  ASSERT_TRUE(Loaded()) << engine_->stats().index_evictions;
  EXPECT_EQ(engine_->gauges().curr_items, items);
  for (int i = 0; i < n; i += 101) EXPECT_EQ(Get("s" + std::to_string(i)).value, "v") << i;
}

// When the index has more slots than the slice has chunks (-i 4M, 200-byte chunks on 24 MiB),
// the chunks bound the region, not the index.
TEST_F(SnapshotTest, AutoIsBoundedByTheChunksTheSliceHolds) {
  EngineOptions o = Auto(4 << 20);
  o.min_item_size = 200;
  std::string err;
  ASSERT_TRUE(NewRun(o, /*format=*/true, err)) << err;
  const uint64_t slabs = kDevice / kSlab;
  const uint64_t chunks = slabs * ChunkLayout(200, kSlab, 4096).count();
  ASSERT_LT(chunks, engine_->index().capacity());
  EXPECT_EQ(RegionBytes(), Snapshot::BytesFor(slabs * SlabTable::kMaxPiecesPerDiskSlab, chunks));
  EXPECT_LT(RegionBytes(), kDevice / Snapshot::kAutoShare);
}

// A device formatted with another size (SetUp's 1 MiB, as an older build's auto gave) keeps it
// under auto, and the restart loads the snapshot; an explicit other size is refused like any
// change of the geometry, and --format gives the device auto's size.
TEST_F(SnapshotTest, AFormattedDeviceKeepsItsSizeUnderAuto) {
  Workload();
  engine_->set_now(kNow + 60);
  const Answers before = Collect();
  Stop();
  std::string err;
  ASSERT_TRUE(NewRun(Auto(), false, err)) << err;
  ASSERT_TRUE(device_->superblock());
  EXPECT_EQ(RegionBytes(), 1u << 20);
  ASSERT_TRUE(Loaded());
  ExpectSame(Collect(), before, "auto");
  Stop();
  EngineOptions other = Options();
  other.snapshot_size = 2 << 20;
  EXPECT_FALSE(NewRun(other, false, err));
  EXPECT_NE(err.find("formatted with --snapshot-size 1024K (which auto keeps)"), std::string::npos)
      << err;
  ASSERT_TRUE(NewRun(Auto(), /*format=*/true, err)) << err;
  EXPECT_FALSE(device_->superblock());
  EXPECT_GE(RegionBytes(), Snapshot::BytesFor(0, engine_->index().capacity()));
  EXPECT_NE(RegionBytes(), 1u << 20);
}

TEST(SnapshotRegion, AutoHoldsTheLargestSnapshotWithinAnEighthOfTheSlice) {
  EXPECT_EQ(Snapshot::RegionBytes(0, 4096), 0u);
  EXPECT_EQ(Snapshot::RegionBytes(1 << 20, 4096), 1u << 20);
  // A header block, then 64 KiB pages of 65,504 payload bytes: 48 per slab record, 12 per entry
  // and the 128 KiB access table.
  EXPECT_EQ(Snapshot::BytesFor(0, 0), 4096 + 3 * Snapshot::kPageBytes);
  EXPECT_EQ(Snapshot::BytesFor(65536, 6291456), 4096 + 1203 * Snapshot::kPageBytes);
  // 4 GiB of 1 MiB slabs and -i 64M (6,291,456 slots): the whole index.
  Snapshot::Bounds b{
      .slice = 4ULL << 30, .block = 4096, .slabs = 65536, .entries = 6291456, .room = 4ULL << 30};
  EXPECT_EQ(Snapshot::AutoBytes(b), 4096 + 1203 * Snapshot::kPageBytes);
  // -i 1G on 1 GiB: an eighth of the slice, in whole pages.
  b = {.slice = 1ULL << 30, .block = 4096, .slabs = 16384, .entries = 19136512, .room = 1ULL << 30};
  EXPECT_EQ(Snapshot::AutoBytes(b), 4096 + 2047 * Snapshot::kPageBytes);
  // What the slice can spare besides the disk slabs the engine needs, but never below the least.
  b.room = 10 << 20;
  EXPECT_EQ(Snapshot::AutoBytes(b), 4096 + 159 * Snapshot::kPageBytes);
  b.room = 0;
  EXPECT_EQ(Snapshot::AutoBytes(b), kMinSnapshotSize);
  b.block = 3000;
  EXPECT_EQ(Snapshot::AutoBytes(b), 0u);
}

}  // namespace
}  // namespace ssdcache::storage
