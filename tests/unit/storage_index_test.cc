#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <unordered_map>
#include <vector>

#include "storage/index.h"

namespace ssdcache::storage {
namespace {

using Result = Index::InsertResult;

// Every slab is live unless marked dead.
class TestLiveness final : public SlabLiveness {
 public:
  bool IsSlabLive(uint32_t slab) const override { return slab >= dead_.size() || !dead_[slab]; }
  void Kill(uint32_t slab) {
    if (slab >= dead_.size()) dead_.resize(slab + 1, false);
    dead_[slab] = true;
  }

 private:
  std::vector<bool> dead_;
};

uint64_t MakeHash(uint16_t tag, uint64_t bucket) { return (uint64_t{tag} << 48) | bucket; }

TEST(IndexTest, BucketCountIsLargestPowerOfTwoThatFits) {
  TestLiveness live;
  struct Case {
    size_t max_bytes;
    size_t buckets;
  };
  for (const Case& c :
       {Case{0, 1}, Case{63, 1}, Case{64, 1}, Case{127, 1}, Case{128, 2}, Case{65536, 1024},
        Case{100000, 1024}, Case{131071, 1024}, Case{131072, 2048}}) {
    Index index(c.max_bytes, &live);
    EXPECT_EQ(index.num_buckets(), c.buckets) << c.max_bytes;
    EXPECT_EQ(index.bytes(), c.buckets * 64) << c.max_bytes;
    EXPECT_EQ(index.capacity(), c.buckets * 6) << c.max_bytes;
    EXPECT_EQ(index.size(), 0u);
  }
}

TEST(IndexTest, InsertFindReplaceErase) {
  TestLiveness live;
  Index index(64 << 10, &live);
  const uint64_t a = 0x1234'5678'9ABC'DEF0ULL;
  const uint64_t b = 0xFEDC'BA98'7654'3210ULL;
  EXPECT_EQ(index.Find(a), std::nullopt);

  auto out = index.Upsert(a, IndexEntry{7, 11, 300});
  EXPECT_EQ(out.result, Result::kInserted);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Find(a), (IndexEntry{7, 11, 300}));
  EXPECT_EQ(index.Find(b), std::nullopt);

  out = index.Upsert(b, IndexEntry{8, 12, 0});
  EXPECT_EQ(out.result, Result::kInserted);
  EXPECT_EQ(index.size(), 2u);

  out = index.Upsert(a, IndexEntry{9, 13, 5});
  EXPECT_EQ(out.result, Result::kReplaced);
  EXPECT_EQ(out.old, (IndexEntry{7, 11, 300}));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Find(a), (IndexEntry{9, 13, 5}));
  EXPECT_EQ(index.Find(b), (IndexEntry{8, 12, 0}));

  EXPECT_TRUE(index.Erase(a));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Find(a), std::nullopt);
  EXPECT_FALSE(index.Erase(a));
  EXPECT_EQ(index.Find(b), (IndexEntry{8, 12, 0}));

  index.Clear();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Find(b), std::nullopt);
  EXPECT_EQ(index.evictions(), 0u);
}

TEST(IndexTest, PopulateAndPrefetchLeaveTheEntriesAsTheyWere) {
  // The warm-restart scan backs the index with pages in steps while its reads are out, with
  // entries already in it, and prefetches buckets ahead of its lookups.
  TestLiveness live;
  Index index(8 << 20, &live);
  std::mt19937_64 rng(3);
  std::vector<uint64_t> keys(5000);
  for (uint32_t i = 0; i < keys.size(); ++i) {
    keys[i] = rng();
    index.Prefetch(keys[i]);
    ASSERT_EQ(index.Upsert(keys[i], IndexEntry{i + 1, i, 0}).result, Result::kInserted);
  }
  size_t at = 0, steps = 0;
  while (at < index.bytes()) {
    const size_t next = index.Populate(at, 3 << 20);  // not a page multiple at the end
    ASSERT_GT(next, at);
    at = next;
    ++steps;
  }
  EXPECT_EQ(at, index.bytes());
  EXPECT_EQ(steps, 3u);
  EXPECT_EQ(index.Populate(at, 1), index.bytes());  // done
  for (uint32_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(index.Find(keys[i]), (IndexEntry{i + 1, i, 0}));
  EXPECT_EQ(index.size(), keys.size());
}

TEST(IndexTest, FieldExtremesRoundTrip) {
  TestLiveness live;
  Index index(4096, &live);
  const IndexEntry max{(1u << 24) - 1, (1u << 20) - 1, 0xFFFF};
  const uint64_t h = ~uint64_t{0};
  EXPECT_EQ(index.Upsert(h, max).result, Result::kInserted);
  EXPECT_EQ(index.Find(h), max);
  const uint64_t z = 0;
  EXPECT_EQ(index.Upsert(z, IndexEntry{0, 0, 0}).result, Result::kInserted);
  EXPECT_EQ(index.Find(z), (IndexEntry{0, 0, 0}));
  EXPECT_EQ(index.Find(h), max);
  EXPECT_EQ(index.size(), 2u);
}

TEST(IndexTest, FlagBitsBelongToOneVersion) {
  TestLiveness live;
  Index index(64 * 16, &live);
  const uint64_t h = MakeHash(7, 3);
  index.Upsert(h, IndexEntry{5, 9, 0});
  // Marks for another location change nothing.
  index.MarkFetched(h, 5, 8);
  index.MarkTokenSent(h, 6, 9);
  EXPECT_EQ(*index.Find(h), (IndexEntry{5, 9, 0, false, false}));
  // A read sets fetched and hit (reinsertion's "read since placed here") together.
  index.MarkFetched(h, 5, 9);
  EXPECT_EQ(*index.Find(h), (IndexEntry{5, 9, 0, true, false, true}));
  index.MarkTokenSent(h, 5, 9);
  EXPECT_EQ(*index.Find(h), (IndexEntry{5, 9, 0, true, true, true}));
  // A new version gets the flags the writer gives it.
  index.Upsert(h, IndexEntry{5, 10, 0});
  EXPECT_EQ(*index.Find(h), (IndexEntry{5, 10, 0, false, false}));
  IndexEntry keep{5, 11, 0};
  keep.token_sent = true;
  keep.fetched = true;
  index.Upsert(h, keep);
  EXPECT_EQ(*index.Find(h), (IndexEntry{5, 11, 0, true, true}));
}

TEST(IndexTest, EraseIfOnlyMatchingLocation) {
  TestLiveness live;
  Index index(64 << 10, &live);
  const uint64_t h = 0xABCD'0000'0000'0042ULL;
  index.Upsert(h, IndexEntry{3, 4, 1});
  EXPECT_FALSE(index.EraseIf(h, 3, 5));
  EXPECT_FALSE(index.EraseIf(h, 2, 4));
  EXPECT_EQ(index.Find(h), (IndexEntry{3, 4, 1}));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_TRUE(index.EraseIf(h, 3, 4));
  EXPECT_EQ(index.Find(h), std::nullopt);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_FALSE(index.EraseIf(h, 3, 4));
}

// A key is its tag plus its bucket pair: the entry is reachable from exactly the hashes with
// that tag whose low bits name one of its two buckets, and the bits in between are ignored.
TEST(IndexTest, KeyIsTagAndBucketPair) {
  TestLiveness live;
  Index index(64 << 10, &live);  // 1024 buckets
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    const uint16_t tag = static_cast<uint16_t>(rng());
    const uint64_t b1 = rng() & 1023;
    index.Clear();
    const IndexEntry e{1, static_cast<uint32_t>(round), 0};
    ASSERT_EQ(index.Upsert(MakeHash(tag, b1), e).result, Result::kInserted);
    std::vector<uint64_t> found;
    for (uint64_t b = 0; b < 1024; ++b) {
      if (index.Find(MakeHash(tag, b)).has_value()) found.push_back(b);
    }
    ASSERT_GE(found.size(), 1u);
    ASSERT_LE(found.size(), 2u);
    EXPECT_TRUE(found[0] == b1 || found.back() == b1);
    const uint64_t b2 = found[0] == b1 ? found.back() : found[0];
    // Bits between the bucket bits and the tag do not matter.
    EXPECT_EQ(index.Find(MakeHash(tag, b1) | (rng() & 0x0000'FFFF'FFFF'FC00ULL)), e);
    // Another tag in the same buckets is another key.
    EXPECT_EQ(index.Find(MakeHash(static_cast<uint16_t>(tag + 1), b1)), std::nullopt);
    // Upserting through the alternate bucket replaces the same entry instead of adding one.
    const auto out = index.Upsert(MakeHash(tag, b2), IndexEntry{2, 2, 2});
    EXPECT_EQ(out.result, Result::kReplaced);
    EXPECT_EQ(out.old, e);
    EXPECT_EQ(index.size(), 1u);
    EXPECT_EQ(index.Find(MakeHash(tag, b1)), (IndexEntry{2, 2, 2}));
    EXPECT_TRUE(index.Erase(MakeHash(tag, b2)));
    EXPECT_EQ(index.size(), 0u);
  }
}

TEST(IndexTest, DeadSlabEntriesAreInvisibleAndReused) {
  TestLiveness live;
  Index index(64 << 10, &live);
  const uint64_t h = 0x5555'0000'0000'0010ULL;
  index.Upsert(h, IndexEntry{5, 1, 0});
  live.Kill(5);
  EXPECT_EQ(index.Find(h), std::nullopt);
  EXPECT_EQ(index.size(), 1u);  // still occupies its slot until reclaimed
  // The dead match is reused: an insert, not a replacement, and no second slot.
  auto out = index.Upsert(h, IndexEntry{6, 2, 0});
  EXPECT_EQ(out.result, Result::kInserted);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Find(h), (IndexEntry{6, 2, 0}));

  // Erase of a dead entry reports nothing erased but frees the slot.
  live.Kill(6);
  EXPECT_FALSE(index.Erase(h));
  EXPECT_EQ(index.size(), 0u);

  index.Upsert(h, IndexEntry{7, 3, 0});
  live.Kill(7);
  EXPECT_FALSE(index.EraseIf(h, 7, 3));
  EXPECT_EQ(index.size(), 0u);
}

TEST(IndexTest, FullBucketReclaimsDeadBeforeEvicting) {
  TestLiveness live;
  Index index(64, &live);  // one bucket: both choices are bucket 0
  ASSERT_EQ(index.num_buckets(), 1u);
  for (uint16_t t = 1; t <= 6; ++t) {
    ASSERT_EQ(index.Upsert(MakeHash(t, 0), IndexEntry{t <= 3 ? 1u : 2u, t, 0}).result,
              Result::kInserted);
  }
  EXPECT_EQ(index.size(), 6u);
  live.Kill(1);
  // All three dead entries are reclaimed, one slot is reused.
  EXPECT_EQ(index.Upsert(MakeHash(7, 0), IndexEntry{3, 7, 0}).result, Result::kInserted);
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.evictions(), 0u);
  for (uint16_t t = 4; t <= 7; ++t) {
    EXPECT_EQ(index.Find(MakeHash(t, 0)), (IndexEntry{t <= 6 ? 2u : 3u, t, 0})) << t;
  }
}

TEST(IndexTest, WithoutEvictionAFullBucketPairStoresNothing) {
  // What the warm-restart rebuild uses: a full index must not drop a key's newest record.
  TestLiveness live;
  Index index(64, &live);
  for (uint16_t t = 1; t <= 6; ++t) {
    ASSERT_EQ(index.Upsert(MakeHash(t, 0), IndexEntry{1, t, 0}).result, Result::kInserted);
  }
  const auto out = index.Upsert(MakeHash(100, 0), IndexEntry{1, 100, 0}, /*may_evict=*/false);
  EXPECT_EQ(out.result, Result::kFull);
  EXPECT_EQ(index.evictions(), 0u);
  EXPECT_EQ(index.size(), 6u);
  EXPECT_EQ(index.Find(MakeHash(100, 0)), std::nullopt);
  for (uint16_t t = 1; t <= 6; ++t) {
    EXPECT_EQ(index.Find(MakeHash(t, 0)), (IndexEntry{1, t, 0})) << t;
  }
  // A present key is still replaced in place.
  EXPECT_EQ(index.Upsert(MakeHash(3, 0), IndexEntry{2, 3, 0}, false).result, Result::kReplaced);
  EXPECT_EQ(index.Find(MakeHash(3, 0)), (IndexEntry{2, 3, 0}));
}

TEST(IndexTest, EvictsOnlyWhenFullOfLiveEntries) {
  TestLiveness live;
  Index index(64, &live);
  for (uint16_t t = 1; t <= 6; ++t) {
    ASSERT_EQ(index.Upsert(MakeHash(t, 0), IndexEntry{1, t, 0}).result, Result::kInserted);
  }
  const auto out = index.Upsert(MakeHash(100, 0), IndexEntry{1, 100, 0});
  ASSERT_EQ(out.result, Result::kEvicted);
  EXPECT_EQ(index.evictions(), 1u);
  EXPECT_EQ(index.size(), 6u);
  ASSERT_GE(out.old.chunk, 1u);
  ASSERT_LE(out.old.chunk, 6u);
  EXPECT_EQ(out.old.slab, 1u);
  EXPECT_EQ(index.Find(MakeHash(static_cast<uint16_t>(out.old.chunk), 0)), std::nullopt);
  EXPECT_EQ(index.Find(MakeHash(100, 0)), (IndexEntry{1, 100, 0}));
  for (uint16_t t = 1; t <= 6; ++t) {
    if (t == out.old.chunk) continue;
    EXPECT_EQ(index.Find(MakeHash(t, 0)), (IndexEntry{1, t, 0})) << t;
  }
  // Replacing a present key never evicts.
  EXPECT_EQ(index.Upsert(MakeHash(100, 0), IndexEntry{1, 101, 0}).result, Result::kReplaced);
  EXPECT_EQ(index.evictions(), 1u);
}

TEST(IndexTest, SweepFreesExactlyTheDeadOnes) {
  TestLiveness live;
  Index index(16 << 10, &live);  // 256 buckets, 1536 slots
  std::mt19937_64 rng(99);
  std::unordered_map<uint64_t, IndexEntry> model;
  size_t in_dead_slabs = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    const uint64_t h = rng();
    if (index.Find(h).has_value()) continue;
    const IndexEntry e{i % 10, i, 0};
    ASSERT_EQ(index.Upsert(h, e).result, Result::kInserted);
    model[h] = e;
    if (e.slab == 3 || e.slab == 8) ++in_dead_slabs;
  }
  ASSERT_EQ(index.size(), model.size());
  live.Kill(3);
  live.Kill(8);
  EXPECT_EQ(index.size(), model.size());  // nothing freed until swept

  // Two partial sweeps that wrap cover every bucket exactly once.
  const size_t first = index.Sweep(100);
  const size_t second = index.Sweep(156);
  EXPECT_EQ(first + second, in_dead_slabs);
  EXPECT_EQ(index.size(), model.size() - in_dead_slabs);
  EXPECT_EQ(index.Sweep(256), 0u);
  EXPECT_EQ(index.Sweep(100000), 0u);
  for (const auto& [h, e] : model) {
    if (e.slab == 3 || e.slab == 8) {
      EXPECT_EQ(index.Find(h), std::nullopt);
    } else {
      EXPECT_EQ(index.Find(h), e);
    }
  }
}

// Inserts distinct random keys into a 64 KiB index well past its capacity: every key not reported
// evicted must still be found with its exact entry.
TEST(IndexTest, FillToHighLoad) {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    TestLiveness live;
    Index index(64 << 10, &live);
    std::mt19937_64 rng(seed);
    std::unordered_map<uint64_t, IndexEntry> present;
    std::unordered_map<uint64_t, uint64_t> by_location;  // slab << 20 | chunk -> hash
    size_t size_at_first_eviction = 0;
    uint64_t evicted = 0;
    for (uint32_t i = 0; i < 2 * index.capacity(); ++i) {
      const uint64_t h = rng();
      // Same tag and bucket pair as a present key: the index cannot tell them apart by design.
      if (index.Find(h).has_value()) continue;
      const IndexEntry e{1 + (i >> 10), i & 1023, static_cast<uint16_t>(i)};
      const auto out = index.Upsert(h, e);
      ASSERT_NE(out.result, Result::kReplaced);
      if (out.result == Result::kEvicted) {
        if (evicted == 0) size_at_first_eviction = index.size();
        ++evicted;
        const auto loc = by_location.find((uint64_t{out.old.slab} << 20) | out.old.chunk);
        ASSERT_NE(loc, by_location.end());
        ASSERT_EQ(present.at(loc->second), out.old);
        present.erase(loc->second);
        by_location.erase(loc);
      }
      present[h] = e;
      by_location[(uint64_t{e.slab} << 20) | e.chunk] = h;
    }
    ASSERT_GT(evicted, 0u);
    EXPECT_EQ(index.evictions(), evicted);
    EXPECT_EQ(index.size(), present.size());
    for (const auto& [h, e] : present) ASSERT_EQ(index.Find(h), e);

    const double load = static_cast<double>(size_at_first_eviction) / index.capacity();
    const double bytes_per_item = static_cast<double>(index.bytes()) / size_at_first_eviction;
    std::printf(
        "[   INFO   ] seed %llu: load before first eviction %.4f (%zu/%zu), %.2f bytes/item\n",
        static_cast<unsigned long long>(seed), load, size_at_first_eviction, index.capacity(),
        bytes_per_item);
    EXPECT_GT(load, 0.90);
    EXPECT_LE(bytes_per_item, 12.0);
  }
}

// How often a new key meets another key's entry with its tag in its bucket pair (the engine then
// counts a tag collision), at the loads docs/benchmarks.md reports: filled with random hashes to
// each load, then 1,000,000 new keys probed. In theory about (slots in a pair x load) / 2^16 of new
// keys, i.e. 12 x load / 65,536 (a key is found in only one bucket of a pair shared with it).
TEST(IndexTest, TagCollisionRateByLoad) {
  for (const double load : {0.5, 0.9, 0.95}) {
    TestLiveness live;
    Index index(4 << 20, &live);
    std::mt19937_64 rng(11);
    const size_t target = static_cast<size_t>(load * static_cast<double>(index.capacity()));
    for (uint32_t i = 0; index.size() < target; ++i) {
      const uint64_t h = rng();
      if (index.Find(h).has_value()) continue;
      ASSERT_EQ(index.Upsert(h, IndexEntry{1 + (i >> 16), i & 0xFFFF, 0}).result,
                Result::kInserted);
    }
    constexpr int kProbes = 1'000'000;
    int collisions = 0;
    for (int i = 0; i < kProbes; ++i) collisions += index.Find(rng()).has_value() ? 1 : 0;
    const double rate = static_cast<double>(collisions) / kProbes;
    const double theory = 12.0 * load / 65536.0;
    std::printf(
        "[   INFO   ] load %.2f: %d of %d new keys collide (%.2e; 12 x load / 2^16 = %.2e)\n", load,
        collisions, kProbes, rate, theory);
    EXPECT_LT(rate, 3 * theory + 5.0 / kProbes);
  }
}

// Random operations against a model, with slab kills and sweeps; every tag is held by at most one
// model key at a time, so distinct model keys are distinct index keys.
TEST(IndexTest, RandomizedAgainstModel) {
  TestLiveness live;
  Index index(64 << 10, &live);
  std::mt19937_64 rng(20240601);
  std::unordered_map<uint64_t, IndexEntry> model;
  std::unordered_map<uint64_t, uint64_t> by_location;  // slab << 20 | chunk -> hash
  std::vector<uint64_t> keys;                          // present keys, for random picks
  std::unordered_map<uint64_t, size_t> key_pos;
  std::vector<uint64_t> holder(1 << 16, 0);  // last key per tag (present or gone); 0 = none
  uint32_t open_slab = 1;
  uint32_t next_chunk = 0;
  std::vector<bool> slab_dead(2, false);
  uint64_t evictions = 0;

  auto loc_of = [](const IndexEntry& e) { return (uint64_t{e.slab} << 20) | e.chunk; };
  auto new_entry = [&] {
    IndexEntry e{open_slab, next_chunk++, static_cast<uint16_t>(rng())};
    if (next_chunk == 64) {
      ++open_slab;
      slab_dead.push_back(false);
      next_chunk = 0;
    }
    return e;
  };
  auto add = [&](uint64_t h, const IndexEntry& e) {
    model[h] = e;
    by_location[loc_of(e)] = h;
    key_pos[h] = keys.size();
    keys.push_back(h);
  };
  auto remove = [&](uint64_t h) {
    by_location.erase(loc_of(model.at(h)));
    model.erase(h);
    const size_t pos = key_pos.at(h);
    key_pos[keys.back()] = pos;
    keys[pos] = keys.back();
    keys.pop_back();
    key_pos.erase(h);
  };
  auto fresh_hash = [&] {
    for (;;) {
      const uint64_t h = rng();
      const uint64_t prev = holder[h >> 48];
      if (h != 0 && (prev == 0 || !model.contains(prev))) return h;
    }
  };
  auto check_key = [&](uint64_t h) {
    const auto it = model.find(h);
    if (it == model.end()) {
      ASSERT_EQ(index.Find(h), std::nullopt) << std::hex << h;
    } else {
      ASSERT_EQ(index.Find(h), it->second) << std::hex << h;
    }
  };
  auto check_all = [&] {
    for (uint64_t h : holder) {
      if (h != 0) check_key(h);
    }
  };

  size_t max_size = 0;
  for (int op = 0; op < 200000; ++op) {
    const unsigned dice = static_cast<unsigned>(rng() % 100);
    uint64_t touched = 0;
    if (dice < 45 || keys.empty()) {  // insert a new key
      const uint64_t h = fresh_hash();
      const IndexEntry e = new_entry();
      const auto out = index.Upsert(h, e);
      ASSERT_NE(out.result, Result::kReplaced);
      if (out.result == Result::kEvicted) {
        ++evictions;
        const auto loc = by_location.find(loc_of(out.old));
        ASSERT_NE(loc, by_location.end());
        ASSERT_NE(loc->second, h);
        ASSERT_EQ(model.at(loc->second), out.old);
        const uint64_t victim = loc->second;
        remove(victim);
        check_key(victim);
      }
      holder[h >> 48] = h;
      add(h, e);
      touched = h;
    } else if (dice < 60) {  // replace
      const uint64_t h = keys[rng() % keys.size()];
      const IndexEntry e = new_entry();
      const auto out = index.Upsert(h, e);
      ASSERT_EQ(out.result, Result::kReplaced);
      ASSERT_EQ(out.old, model.at(h));
      remove(h);
      add(h, e);
      touched = h;
    } else if (dice < 70) {  // erase
      const uint64_t h = keys[rng() % keys.size()];
      ASSERT_TRUE(index.Erase(h));
      remove(h);
      touched = h;
    } else if (dice < 80) {  // erase-if, half of them with a stale location
      const uint64_t h = keys[rng() % keys.size()];
      const IndexEntry e = model.at(h);
      if (rng() & 1) {
        ASSERT_FALSE(index.EraseIf(h, e.slab, e.chunk + 1));
      } else {
        ASSERT_TRUE(index.EraseIf(h, e.slab, e.chunk));
        remove(h);
      }
      touched = h;
    } else if (dice < 82) {  // kill a slab: its keys vanish
      const uint32_t slab = 1 + static_cast<uint32_t>(rng() % open_slab);
      if (!slab_dead[slab]) {
        slab_dead[slab] = true;
        live.Kill(slab);
        std::vector<uint64_t> doomed;
        for (const auto& [h, e] : model) {
          if (e.slab == slab) doomed.push_back(h);
        }
        for (uint64_t h : doomed) remove(h);
        if (slab == open_slab) {  // never write into a dead slab
          ++open_slab;
          slab_dead.push_back(false);
          next_chunk = 0;
        }
      }
    } else if (dice < 92) {
      index.Sweep(rng() % 300);
    } else if (dice < 96) {  // misses
      const uint64_t h = fresh_hash();
      ASSERT_FALSE(index.Erase(h));
      ASSERT_EQ(index.Find(h), std::nullopt);
    } else {
      const uint64_t h = keys[rng() % keys.size()];
      touched = h;
    }
    if (touched != 0) check_key(touched);
    ASSERT_GE(index.size(), model.size());
    ASSERT_LE(index.size(), index.capacity());
    max_size = std::max(max_size, model.size());
    if (op % 2000 == 0) check_all();
    if (op % 5000 == 0) {
      index.Sweep(index.num_buckets());
      ASSERT_EQ(index.size(), model.size()) << "op " << op;
    }
  }
  check_all();
  index.Sweep(index.num_buckets());
  EXPECT_EQ(index.size(), model.size());
  EXPECT_EQ(index.evictions(), evictions);
  EXPECT_GT(evictions, 0u);  // the run did reach the eviction path
  std::printf("[   INFO   ] model run: %llu evictions, peak %zu keys of %zu slots\n",
              static_cast<unsigned long long>(evictions), max_size, index.capacity());
}

// --- Coarse expiry ---

TEST(CoarseExpiryTest, ExactCodes) {
  EXPECT_EQ(Index::CoarseExpiry(0, 1000), 0);
  // 6400 s is unit 100: code 101; expired once now reaches unit 101 (6464 s).
  EXPECT_EQ(Index::CoarseExpiry(6400, 1000), 101);
  EXPECT_EQ(Index::CoarseExpiry(6463, 1000), 101);
  EXPECT_FALSE(Index::DefinitelyExpired(101, 6400));
  EXPECT_FALSE(Index::DefinitelyExpired(101, 6463));
  EXPECT_TRUE(Index::DefinitelyExpired(101, 6464));
  EXPECT_FALSE(Index::DefinitelyExpired(0, 6464));
  EXPECT_FALSE(Index::DefinitelyExpired(0, 0));
  // Horizon: less than 2^20 s ahead is encoded, 2^20 s or more is unknown.
  const uint32_t now = 1'700'000'000;
  EXPECT_NE(Index::CoarseExpiry(now + (1u << 20) - 1, now), 0);
  EXPECT_EQ(Index::CoarseExpiry(now + (1u << 20), now), 0);
  EXPECT_EQ(Index::CoarseExpiry(UINT32_MAX, now), 0);
  // Unit 0xFFFF would encode as 0 ("unknown"): it becomes one unit later instead.
  const uint32_t e = 0xFFFFu * 64;
  EXPECT_EQ(Index::CoarseExpiry(e, e - 10), 1);
  EXPECT_FALSE(Index::DefinitelyExpired(1, e + 64));
  EXPECT_TRUE(Index::DefinitelyExpired(1, e + 128));
  // Already expired, even long ago: reads as expired now.
  EXPECT_TRUE(Index::DefinitelyExpired(Index::CoarseExpiry(5, now), now));
  EXPECT_TRUE(Index::DefinitelyExpired(Index::CoarseExpiry(now - 100, now), now));
  EXPECT_TRUE(Index::DefinitelyExpired(Index::CoarseExpiry(now - 1000000, now), now + 1000000));
}

// Never a false "expired": for every encoding time t0 and any later check time t (and even checks
// up to 2^20 - 64 s before t0), DefinitelyExpired(CoarseExpiry(e, t0), t) implies t >= e.
TEST(CoarseExpiryTest, NeverReportsExpiredEarly) {
  std::mt19937_64 rng(31337);
  uint64_t positives = 0;
  auto check = [&](uint32_t e, uint32_t t0, uint32_t t) {
    const uint16_t code = Index::CoarseExpiry(e, t0);
    if (Index::DefinitelyExpired(code, t)) {
      ++positives;
      ASSERT_GE(t, e) << "e=" << e << " t0=" << t0 << " t=" << t << " code=" << code;
    }
  };
  const int64_t kBack = (int64_t{1} << 20) - 64;
  auto random_t = [&](uint32_t t0) -> uint32_t {
    int64_t t;
    switch (rng() % 4) {
      case 0:  // near t0, either side
        t = int64_t{t0} + static_cast<int64_t>(rng() % (2 * kBack)) - kBack;
        break;
      case 1:  // far future, across many code wraps
        t = int64_t{t0} + static_cast<int64_t>(rng() % (int64_t{1} << 32));
        break;
      case 2:  // around the unit boundaries of e's neighbourhood
        t = int64_t{t0} + static_cast<int64_t>(rng() % (int64_t{1} << 22));
        break;
      default:
        t = int64_t{t0} - static_cast<int64_t>(rng() % kBack);
        break;
    }
    return static_cast<uint32_t>(
        std::clamp<int64_t>(t, std::max<int64_t>(0, t0 - kBack), UINT32_MAX));
  };
  auto random_e = [&](uint32_t t0) -> uint32_t {
    int64_t e;
    switch (rng() % 4) {
      case 0:
        e = static_cast<uint32_t>(rng());
        break;
      case 1:  // inside the horizon
        e = int64_t{t0} + static_cast<int64_t>(rng() % (int64_t{1} << 20));
        break;
      case 2:  // around the horizon
        e = int64_t{t0} + (int64_t{1} << 20) + static_cast<int64_t>(rng() % 256) - 128;
        break;
      default:  // in the past
        e = int64_t{t0} - static_cast<int64_t>(rng() % (int64_t{1} << 24));
        break;
    }
    return static_cast<uint32_t>(std::clamp<int64_t>(e, 0, UINT32_MAX));
  };
  for (int i = 0; i < 2000000; ++i) {
    const uint32_t t0 = static_cast<uint32_t>(rng());
    const uint32_t e = random_e(t0);
    check(e, t0, random_t(t0));
    if (HasFatalFailure()) return;
  }
  // Wrap boundaries of the 16-bit unit counter: e, t0 and t right around multiples of 2^22 s.
  for (int64_t wrap = 0; wrap < 1024; ++wrap) {
    const int64_t base = wrap << 22;
    for (int i = 0; i < 100; ++i) {
      const int64_t t0 = base + static_cast<int64_t>(rng() % 512) - 256;
      const int64_t e = t0 + static_cast<int64_t>(rng() % 1024) - 512;
      if (t0 < 0 || t0 > UINT32_MAX || e < 0 || e > UINT32_MAX) continue;
      for (int64_t t = t0 - 512; t < t0 + 2048; t += 61) {
        if (t < 0 || t > UINT32_MAX) continue;
        check(static_cast<uint32_t>(e), static_cast<uint32_t>(t0), static_cast<uint32_t>(t));
      }
      if (HasFatalFailure()) return;
    }
  }
  EXPECT_GT(positives, 1000000u);  // the property was exercised, not vacuously true
}

// And it does say "expired" soon after the fact: from 128 s after max(exptime, encoding time),
// for the next 2^20 s at least.
TEST(CoarseExpiryTest, ReportsExpiredWithin128Seconds) {
  std::mt19937_64 rng(4242);
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t t0 = static_cast<uint32_t>(rng() % (uint64_t{UINT32_MAX} - (1u << 22)));
    uint32_t e;
    if (rng() & 1) {
      e = t0 + static_cast<uint32_t>(rng() % (1u << 20));
    } else {
      e = t0 - static_cast<uint32_t>(rng() % std::min<uint64_t>(t0 + 1, 1u << 24));
    }
    if (e == 0) continue;
    const uint32_t from = std::max(e, t0);
    const uint32_t t = from + 128 + static_cast<uint32_t>(rng() % (1u << 20));
    const uint16_t code = Index::CoarseExpiry(e, t0);
    ASSERT_TRUE(Index::DefinitelyExpired(code, t)) << "e=" << e << " t0=" << t0 << " t=" << t;
  }
}

}  // namespace
}  // namespace ssdcache::storage
