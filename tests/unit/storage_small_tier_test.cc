// The small-object tier alone (small_tier.h, small_log.h) over an in-memory device: log hits
// without IO, one set write for many records, newest version wins across the log and the set,
// erase and expiry hide records, eviction and threshold admission are counted, filters spare IO,
// and a rebuild after a restart (with the journal's supersede test) finds what it must and no more.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "small_tier_fixture.h"

namespace ssdcache::storage {
namespace {

TEST_F(SmallTierTest, ALogHitNeedsNoIo) {
  Open({});
  EXPECT_FALSE(Put("alpha", "one", 1).journal);
  SmallTierLookup kind;
  EXPECT_EQ(Get("alpha", &kind), "one");
  EXPECT_EQ(kind, SmallTierLookup::kHit);
  EXPECT_EQ(io().reads + io().writes, 0u);
  EXPECT_EQ(tier_->stats().log_hits, 1u);
  EXPECT_EQ(tier_->stats().log_items, 1u);
}

TEST_F(SmallTierTest, BadKeysAndTooLargeItemsAreRefusedApart) {
  Open({});
  EXPECT_EQ(Put("", "x", 1).status, SmallTierStatus::kBadKey);
  EXPECT_EQ(Del("", 2).status, SmallTierStatus::kBadKey);
  EXPECT_EQ(Put(std::string(256, 'k'), "x", 3).status, SmallTierStatus::kBadKey);
  EXPECT_EQ(Del(std::string(256, 'k'), 4).status, SmallTierStatus::kBadKey);
  EXPECT_EQ(Put("big", std::string(kSetMaxPayload, 'v'), 5).status, SmallTierStatus::kTooLarge);
  EXPECT_EQ(Put("fits", std::string(kSetMaxPayload - 4, 'v'), 6).status, SmallTierStatus::kOk);
  EXPECT_EQ(tier_->stats().log_items, 1u);
}

TEST_F(SmallTierTest, AFlushMergesManyRecordsIntoOneSetWrite) {
  Open({});
  for (int i = 0; i < 10; ++i) Put(KeyIn(3, i), "v" + std::to_string(i), i + 1);
  FlushAll();
  EXPECT_EQ(io().writes, 1u);
  EXPECT_EQ(io().reads, 1u);  // the set, read once to merge
  EXPECT_EQ(KeysOnDevice(3).size(), 10u);
  const SmallTierStats s = tier_->stats();
  EXPECT_EQ(s.set_writes, 1u);
  EXPECT_EQ(s.items, 10u);
  EXPECT_EQ(s.log_items, 0u);
  EXPECT_GT(s.write_amplification, 1.0);
  for (int i = 0; i < 10; ++i) {
    SmallTierLookup kind;
    EXPECT_EQ(Get(KeyIn(3, i), &kind), "v" + std::to_string(i));
    EXPECT_EQ(kind, SmallTierLookup::kReading);
  }
  EXPECT_EQ(tier_->stats().set_hits, 10u);
  // A flush moves what the log held when it was asked, not what arrives meanwhile (b waits for
  // a's move of their set; c arrives after the second flush, while b waits).
  Put(KeyIn(4, 0), "a", 20);
  tier_->Flush();
  Put(KeyIn(4, 1), "b", 21);
  tier_->Flush();
  Put(KeyIn(5, 0), "c", 22);
  aio_->Drain();
  EXPECT_EQ(tier_->stats().log_items, 1u);
  EXPECT_EQ(tier_->stats().set_writes, 3u);
}

TEST_F(SmallTierTest, TheNewestVersionWinsAcrossTheLogAndTheSet) {
  Open({});
  const std::string k = KeyIn(1, 0);
  Put(k, "v1", 10);
  Put(KeyIn(1, 1), "other", 11);
  FlushAll();
  // v2 in the log hides v1 in the set; an older version arriving late changes nothing.
  EXPECT_TRUE(Put(k, "v2", 12).journal);  // v1 is on the device
  EXPECT_FALSE(Put(k, "v0", 9).journal);
  EXPECT_EQ(Get(k), "v2");
  FlushAll();
  EXPECT_EQ(Get(k), "v2");
  EXPECT_EQ(KeysOnDevice(1).size(), 2u);  // one version of k in the set
  // A set record newer than a log record wins the merge (wseq, not arrival, decides).
  Open({});
  ASSERT_TRUE(tier_->Rebuild(nullptr).ok);
  Put(k, "v3", 5);
  FlushAll();
  EXPECT_EQ(Get(k), "v2");
  EXPECT_EQ(KeysOnDevice(1).size(), 2u);
}

TEST_F(SmallTierTest, EraseHidesASetRecordBeforeAndAfterAFlush) {
  Open({});
  const std::string k = KeyIn(2, 0);
  Put(k, "v1", 1);
  Put(KeyIn(2, 1), "keep", 2);
  FlushAll();
  const SmallTierWrite w = Del(k, 3);
  EXPECT_TRUE(w.journal);  // the set holds an older version: a crash must not bring it back
  SmallTierLookup kind;
  EXPECT_EQ(Get(k, &kind), std::nullopt);
  EXPECT_EQ(kind, SmallTierLookup::kMiss);  // the tombstone in the log: no IO
  FlushAll();
  EXPECT_EQ(Get(k, &kind), std::nullopt);
  EXPECT_EQ(KeysOnDevice(2), std::vector<std::string>{KeyIn(2, 1)});
  EXPECT_EQ(Get(KeyIn(2, 1)), "keep");
  // A key the filter rules out needs no tombstone and no journal entry.
  Put(KeyIn(5, 0), "x", 4);
  EXPECT_FALSE(Del(KeyIn(5, 0), 5).journal);
  EXPECT_EQ(tier_->stats().log_items, 0u);
}

TEST_F(SmallTierTest, ASetThatOverflowsEvictsAndCounts) {
  SmallTierOptions o;
  o.hit_bits = 0;  // FIFO
  Open(o);
  const std::string value(100, 'v');
  for (int i = 0; i < 40; ++i) Put(KeyIn(0, i), value, i + 1);
  FlushAll();
  const size_t held = KeysOnDevice(0).size();
  EXPECT_GE(held, 25u);
  EXPECT_LT(held, 40u);
  EXPECT_EQ(tier_->stats().evictions, 40 - held);
  EXPECT_EQ(tier_->stats().items, held);
  EXPECT_EQ(Get(KeyIn(0, 0)), std::nullopt);  // FIFO: the oldest went
  EXPECT_EQ(Get(KeyIn(0, 39)), value);
}

TEST_F(SmallTierTest, SecondChanceKeepsARecordReadSinceItsSetWasWritten) {
  Open({});
  const std::string value(100, 'v');
  for (int i = 0; i < 20; ++i) Put(KeyIn(0, i), value, i + 1);
  FlushAll();
  EXPECT_EQ(Get(KeyIn(0, 0)), value);  // sets its hit bit
  for (int i = 20; i < 40; ++i) Put(KeyIn(0, i), value, i + 1);
  FlushAll();
  EXPECT_EQ(Get(KeyIn(0, 0)), value);
  EXPECT_EQ(Get(KeyIn(0, 1)), std::nullopt);
  EXPECT_GT(tier_->stats().evictions, 0u);
}

TEST_F(SmallTierTest, ThresholdAdmissionDropsLoneNewRecordsAndCounts) {
  SmallTierOptions o;
  o.admit_threshold = 2;
  Open(o);
  Put(KeyIn(4, 0), "lone", 1);
  Put(KeyIn(6, 0), "pair", 2);
  Put(KeyIn(6, 1), "pair", 3);
  FlushAll();
  EXPECT_EQ(tier_->stats().admission_drops, 1u);
  EXPECT_EQ(tier_->stats().evictions, 1u);
  EXPECT_EQ(io().writes, 1u);  // set 6 only
  EXPECT_EQ(Get(KeyIn(4, 0)), std::nullopt);
  EXPECT_EQ(Get(KeyIn(6, 1)), "pair");
  // A lone update of a key the set may hold is written anyway: dropping it would uncover v1.
  Put(KeyIn(6, 0), "v2", 4);
  FlushAll();
  EXPECT_EQ(tier_->stats().admission_drops, 1u);
  EXPECT_EQ(Get(KeyIn(6, 0)), "v2");
  // A forced flush (a clean stop) drops nothing.
  Put(KeyIn(4, 1), "lone", 5);
  FlushAll(true);
  EXPECT_EQ(Get(KeyIn(4, 1)), "lone");
}

TEST_F(SmallTierTest, AFilterMissDoesNoIo) {
  Open({});
  Put(KeyIn(7, 0), "x", 1);
  Put(KeyIn(7, 1), "y", 2);
  FlushAll();
  const IoStats before = io();
  int misses = 0;
  for (int i = 0; i < 50; ++i) {
    SmallTierLookup kind;
    EXPECT_EQ(Get(KeyIn(8, i), &kind), std::nullopt);  // set 8 was never written
    misses += kind == SmallTierLookup::kMiss;
  }
  EXPECT_EQ(misses, 50);
  EXPECT_EQ(io().reads, before.reads);
  EXPECT_EQ(tier_->stats().filter_misses, 50u);
}

TEST_F(SmallTierTest, AFalsePositiveReadIsCounted) {
  SmallTierOptions o;
  o.filter_bits = 8;  // 20 keys in 8 bits: nearly every probe says maybe
  o.filter_hashes = 1;
  Open(o);
  for (int i = 0; i < 20; ++i) Put(KeyIn(9, i), "x", i + 1);
  FlushAll();
  int reads = 0;
  for (int i = 100; i < 110; ++i) {
    SmallTierLookup kind;
    EXPECT_EQ(Get(KeyIn(9, i), &kind), std::nullopt);
    reads += kind == SmallTierLookup::kReading;
  }
  EXPECT_GT(reads, 0);
  EXPECT_EQ(tier_->stats().false_positive_reads, static_cast<uint64_t>(reads));
  EXPECT_EQ(tier_->stats().set_reads, static_cast<uint64_t>(reads));
}

TEST_F(SmallTierTest, ARebuildAfterARestartFindsEveryFlushedItem) {
  Open({});
  int n = 0;
  for (uint64_t set = 0; set < 16; ++set) {
    for (int i = 0; i < 3; ++i, ++n) Put(KeyIn(set, i), "v" + std::to_string(n), n + 1);
  }
  Put("lost", "in the log only", ++n);
  tier_->Flush(true);
  aio_->Drain();
  Put("never", "flushed", ++n);
  Open(options_);  // a restart: a new tier over the same image
  const SmallTierRebuild r = tier_->Rebuild(nullptr);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.items, 49u);
  EXPECT_EQ(r.max_wseq, 49u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(tier_->stats().items, 49u);
  n = 0;
  for (uint64_t set = 0; set < 16; ++set) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(Get(KeyIn(set, i)), "v" + std::to_string(n++));
  }
  EXPECT_EQ(Get("lost"), "in the log only");
  EXPECT_EQ(Get("never"), std::nullopt);
  // Blank and corrupt sets read as empty, counted.
  const size_t in5 = KeysOnDevice(5).size();
  image_->bytes[kBase + 5 * kSetBytes + 60] ^= 1;
  Open(options_);
  const SmallTierRebuild again = tier_->Rebuild(nullptr);
  EXPECT_EQ(again.corrupt, 1u);
  EXPECT_EQ(again.items, 49u - in5);
  EXPECT_EQ(Get(KeyIn(5, 0)), std::nullopt);
}

struct JournalSays : SupersedeTest {
  bool Superseded(uint64_t hash, uint64_t wseq) const override {
    return hash == key_hash && wseq < below;
  }
  uint64_t key_hash = 0;
  uint64_t below = 0;
};

TEST_F(SmallTierTest, ARebuildDropsWhatTheJournalSupersedesAndRewritesTheSet) {
  Open({});
  const std::string k = KeyIn(13, 0);
  Put(k, "v1", 1);
  Put(KeyIn(13, 1), "other", 2);
  FlushAll();
  const SmallTierWrite w = Put(k, "v2", 3);
  ASSERT_TRUE(w.journal);  // the engine journals (hash(k), 3) before the reply
  Open(options_);          // a crash: the log (v2) is lost
  JournalSays test;
  test.key_hash = util::HashKey(k);
  test.below = 3;
  const SmallTierRebuild r = tier_->Rebuild(&test);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.superseded, 1u);
  EXPECT_EQ(r.rewritten, 1u);
  EXPECT_EQ(Get(k), std::nullopt);
  // The set on the device no longer holds v1: a later restart without the entry is safe too.
  EXPECT_EQ(KeysOnDevice(13), std::vector<std::string>{KeyIn(13, 1)});
  Open(options_);
  tier_->Rebuild(nullptr);
  EXPECT_EQ(Get(k), std::nullopt);
  EXPECT_EQ(Get(KeyIn(13, 1)), "other");
}

TEST_F(SmallTierTest, ExpiredItemsMiss) {
  Open({});
  Put(KeyIn(14, 0), "short", 1, 1005);
  Put(KeyIn(14, 1), "long", 2, 5000);
  Put(KeyIn(14, 2), "gone", 3, 1001);
  EXPECT_EQ(Get(KeyIn(14, 0)), "short");
  tier_->set_now(1002);
  EXPECT_EQ(Get(KeyIn(14, 2)), std::nullopt);  // in the log
  FlushAll();
  EXPECT_EQ(KeysOnDevice(14).size(), 2u);  // the expired one was not written
  tier_->set_now(1010);
  EXPECT_EQ(Get(KeyIn(14, 0)), std::nullopt);  // in the set
  EXPECT_EQ(Get(KeyIn(14, 1)), "long");
  EXPECT_EQ(tier_->stats().false_positive_reads, 0u);
}

// `items` counts what the sets hold: after a restart that found an expired record (left in its
// set, out of its filter) and a later move of that set, it still does.
TEST_F(SmallTierTest, ItemsCountWhatTheSetsHoldAfterARestartWithExpiredRecords) {
  Open({});
  Put(KeyIn(14, 0), "short", 1, 1005);
  Put(KeyIn(14, 1), "long", 2);
  Put(KeyIn(3, 0), "elsewhere", 3);
  FlushAll();
  const auto held = [&] {
    uint64_t n = 0;
    for (uint64_t set = 0; set < options_.sets; ++set) n += KeysOnDevice(set).size();
    return n;
  };
  Open(options_);
  tier_->set_now(1010);
  const SmallTierRebuild r = tier_->Rebuild(nullptr);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.expired, 1u);
  EXPECT_EQ(r.items, 3u);
  EXPECT_EQ(tier_->stats().items, held());
  Put(KeyIn(14, 2), "new", 4);
  FlushAll();
  EXPECT_EQ(held(), 3u);  // the expired record went with the rewrite
  EXPECT_EQ(tier_->stats().items, held());
}

TEST_F(SmallTierTest, AReadInFlightAnswersANewerVersionThatArrivedMeanwhile) {
  Open({});
  const std::string k = KeyIn(15, 0);
  Put(k, "v1", 1);
  Put(KeyIn(15, 1), "other", 2);
  FlushAll();
  Answer a;
  ASSERT_EQ(tier_->Lookup(k, util::HashKey(k), &a, 1).kind, SmallTierLookup::kReading);
  Put(k, "v2", 3);
  aio_->Drain();
  ASSERT_EQ(a.calls, 1);
  EXPECT_EQ(a.value, "v2");
}

TEST_F(SmallTierTest, AReadThatSawTheSetBeforeARewriteReadsItAgain) {
  Open({}, Wrap::kHolding);
  const std::string k = KeyIn(15, 0);
  Put(k, "v1", 1);
  Put(KeyIn(15, 1), "other", 2);
  FlushAll();
  holding_->hold = true;
  Answer a;
  ASSERT_EQ(tier_->Lookup(k, util::HashKey(k), &a, 1).kind, SmallTierLookup::kReading);
  holding_->hold = false;
  // v2 is moved into the set and leaves the log while the read (of v1) is still out.
  Put(k, "v2", 3);
  tier_->Flush();
  aio_->Drain();
  EXPECT_FALSE(tier_->idle());
  holding_->Release();
  aio_->Drain();
  ASSERT_EQ(a.calls, 1);
  EXPECT_EQ(a.value, "v2");
  EXPECT_EQ(tier_->stats().set_reads, 2u);
}

TEST_F(SmallTierTest, AFullLogMovesOutOnItsOwnAndRefusesOnlyWhilePinned) {
  SmallTierOptions o;
  o.log_bytes = 64 << 10;
  o.sets = 64;
  Open(o);
  const std::string value(100, 'v');
  // New keys, then overwrites of a few hot ones (the ring fills with dead versions behind a live
  // old record): a refusal only lasts until the moves in flight complete.
  uint64_t wseq = 0;
  int refused = 0;
  for (int i = 0; i < 6000; ++i) {
    const std::string k = "auto" + std::to_string(i < 3000 ? i : i % 40);
    if (Put(k, value, ++wseq).status == SmallTierStatus::kNoRoom) {
      ++refused;
      aio_->Drain();
      ASSERT_EQ(Put(k, value, ++wseq).status, SmallTierStatus::kOk) << i;
    }
    aio_->Poll();
  }
  aio_->Drain();
  const SmallTierStats s = tier_->stats();
  EXPECT_GT(s.set_writes, 0u);
  EXPECT_LE(s.log_bytes, 64u << 10);
  EXPECT_EQ(s.no_room, static_cast<uint64_t>(refused));
  EXPECT_EQ(Get("auto2999"), value);
  EXPECT_EQ(Get("auto39"), value);
}

TEST_F(SmallTierTest, DramIsCountedByteByByteAndStaysUnderAByteAnItem) {
  SmallTierOptions o;
  o.sets = 1 << 14;
  Open(o);
  const SmallTierDram d = tier_->Dram();
  EXPECT_EQ(d.filters, (1u << 14) * 160 / 8);
  EXPECT_EQ(d.hit_bits, (1u << 14) * 32 / 8);
  EXPECT_EQ(d.void_bits, (1u << 14) / 8);
  EXPECT_EQ(d.log, 4u << 20);
  EXPECT_EQ(d.log_index, (4u << 20) / 256 * 4);
  EXPECT_EQ(d.rewrite_gens, (1u << 14) / 16 * 2);
  EXPECT_EQ(d.total(), d.filters + d.hit_bits + d.void_bits + d.log + d.log_index + d.io +
                           d.rewrite_gens + d.size_counts);
  // 100-byte items with 10-byte keys: 142 bytes each, 28 per set; at 90% full, 25 per set.
  const uint32_t per_set = (kSetBytes - sizeof(SetHeader)) / SetRecordBytes(10, 100);
  EXPECT_EQ(per_set, 28u);
  const double per_item =
      static_cast<double>(d.filters + d.hit_bits + d.void_bits + d.rewrite_gens) /
      (static_cast<double>(o.sets) * per_set * 0.9);
  EXPECT_LT(per_item, 0.97);  // the header's figure: 194 bits per set, 0.96 B per item
}

// Once warm, a set move (read, merge, write) and a lookup's set read allocate nothing.
TEST_F(SmallTierTest, AWarmMoveAndLookupReadAllocateNothing) {
  Open({});
  std::vector<std::string> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(KeyIn(3, i));
  uint64_t wseq = 0;
  const auto round = [&] {
    for (const std::string& k : keys) Put(k, "v", ++wseq);
    tier_->Flush();
    aio_->Drain();
    for (const std::string& k : keys) {
      Answer a;
      tier_->Lookup(k, util::HashKey(k), &a, 1);
      aio_->Drain();
      EXPECT_TRUE(a.hit);
    }
  };
  round();
  round();
  const uint64_t before = g_allocations.load();
  round();
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

// Not run by default (a measurement, ~10 s): the threshold admission trade-off. A zipf(0.9)
// get-then-set-on-miss workload over 100k keys of 100-byte values in front of 2048 sets (57k
// items fit), for log sizes of ~0.2 to ~12 records per set and thresholds 1-4: misses, bytes
// written per byte stored, admission drops. Run with --gtest_also_run_disabled_tests.
TEST_F(SmallTierTest, DISABLED_MeasureAdmissionThreshold) {
  constexpr int kKeys = 100000;
  constexpr int kRequests = 400000;
  std::vector<double> cdf(kKeys);
  double sum = 0;
  for (int i = 0; i < kKeys; ++i) cdf[i] = sum += 1.0 / std::pow(i + 1, 0.9);
  for (double& c : cdf) c /= sum;
  const std::string value(100, 'v');
  for (const size_t log_kib : {64, 256, 1024, 4096}) {
    for (const uint32_t threshold : {1u, 2u, 3u, 4u}) {
      SmallTierOptions o;
      o.sets = 2048;
      o.log_bytes = log_kib << 10;
      o.admit_threshold = threshold;
      image_.reset();
      Open(o);
      uint64_t seed = 12345, misses = 0, wseq = 0;
      for (int i = 0; i < kRequests; ++i) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        const double u = static_cast<double>(seed >> 11) / static_cast<double>(1ULL << 53);
        const int id = static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
        const std::string key = "key:" + std::to_string(id);
        if (i >= kRequests / 2 && Get(key).has_value()) continue;
        if (i >= kRequests / 2) ++misses;
        if (Put(key, value, ++wseq).status == SmallTierStatus::kNoRoom) {
          aio_->Drain();
          Put(key, value, wseq);
        }
        aio_->Poll();
      }
      aio_->Drain();
      const SmallTierStats s = tier_->stats();
      std::printf("log %4zu KiB (%5.2f rec/set) N=%u: miss %.3f  wa %.1f  drops %lu  writes %lu\n",
                  log_kib, (log_kib << 10) / 170.0 / o.sets, threshold,
                  static_cast<double>(misses) / (kRequests / 2), s.write_amplification,
                  static_cast<unsigned long>(s.admission_drops),
                  static_cast<unsigned long>(s.set_writes));
    }
  }
}

}  // namespace
}  // namespace ssdcache::storage
