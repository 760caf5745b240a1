// The engine with its small-object tier (--small-max; engine_small.cc): small items go to the
// tier, larger ones to slabs, a key has one live version across both, and neither a clean restart
// nor a crash brings back a version older than the last one acknowledged.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/fault.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr uint32_t kSmallMax = testing::kSmallTierMax;

class EngineSmallTest : public testing::EngineFixture {
 protected:
  EngineSmallTest() : EngineFixture("small") {}

  static EngineOptions Options() { return TierEngineOptions(); }
  void SetUp() override { OpenWith(16 << 20, Options()); }

  // SIGKILL: what only DRAM held (memory slabs, the tier's log) is gone; the journal stays.
  void Crash() {
    Pump();
    std::string err;
    ASSERT_TRUE(Reopen(err, Options())) << err;
    Pump();
  }
  void Clean() {
    std::string err;
    ASSERT_TRUE(CleanRestart(err, Options())) << err;
    Pump();
  }
  EraseOutcome Delete(const std::string& key) {
    EraseOutcome out = engine_->Erase(key, util::HashKey(key));
    Pump();
    return out;
  }
  static std::string Small(const std::string& key, int version) {
    return ValueFor(key, version, 50);
  }
  static std::string Large(const std::string& key, int version) {
    return ValueFor(key, version, 1000);
  }
  uint64_t TierLogItems() const { return engine_->small_tier()->stats().log_items; }
  std::string err_;

  // A lookup's location (a tier version, for a read-modify-write), waiting out a set read.
  IndexEntry Where(const std::string& key) {
    struct Waiter : LookupWaiter {
      void OnLookupDone(uint64_t, const ItemView*, const IndexEntry& at) override {
        where = at;
        done = true;
      }
      IndexEntry where;
      bool done = false;
    } w;
    ItemView v;
    IndexEntry at;
    if (engine_->Lookup(key, util::HashKey(key), v, &w, 1, &at).kind != LookupResult::kPending) {
      return at;
    }
    Pump();
    EXPECT_TRUE(w.done);
    return w.where;
  }
  // A store that applies only if the key is still at `at`.
  StoreResult StoreIf(const std::string& key, const std::string& value, const IndexEntry& at) {
    StoreRequest put(key, util::HashKey(key), value);
    put.Expect(at);
    const StoreResult r = engine_->Store(put).result;
    Pump();
    return r;
  }
};

TEST_F(EngineSmallTest, ReadModifyWriteSeesEveryChangeOfTheTiersVersion) {
  ASSERT_EQ(Set("k", Small("k", 1)), StoreResult::kStored);
  IndexEntry at = Where("k");
  ASSERT_TRUE(at.small);
  ASSERT_EQ(Set("k", Small("k", 2)), StoreResult::kStored);  // another client
  EXPECT_EQ(StoreIf("k", Small("k", 3), at), StoreResult::kConflict);
  at = Where("k");
  EXPECT_EQ(StoreIf("k", Small("k", 3), at), StoreResult::kStored);
  EXPECT_EQ(Get("k").value, Small("k", 3));
  // The version read is in a set (after a restart); a change goes through the log.
  Clean();
  at = Where("k");
  ASSERT_TRUE(at.small);
  ASSERT_EQ(Set("k", Small("k", 4)), StoreResult::kStored);
  EXPECT_EQ(StoreIf("k", Large("k", 5), at), StoreResult::kConflict) << "to a slab, too";
  at = Where("k");
  EXPECT_EQ(StoreIf("k", Large("k", 5), at), StoreResult::kStored);
  EXPECT_EQ(Get("k").value, Large("k", 5));
  // Read from a slab, changed in the tier meanwhile: the index no longer holds what was read.
  at = Where("k");
  ASSERT_FALSE(at.small);
  ASSERT_EQ(Set("k", Small("k", 6)), StoreResult::kStored);
  EXPECT_EQ(StoreIf("k", Small("k", 7), at), StoreResult::kConflict);
  // An absent key (add): absent as of the lookup, stored by someone else since.
  at = Where("new");
  ASSERT_EQ(Set("new", Small("new", 1)), StoreResult::kStored);
  EXPECT_EQ(StoreIf("new", Small("new", 2), at), StoreResult::kConflict);
  // A delete of a version read before a change leaves the newer one.
  at = Where("new");
  ASSERT_EQ(Set("new", Small("new", 3)), StoreResult::kStored);
  EXPECT_FALSE(engine_->Erase("new", util::HashKey("new"), &at).erased);
  EXPECT_EQ(Get("new").value, Small("new", 3));
  at = Where("new");
  EXPECT_TRUE(engine_->Erase("new", util::HashKey("new"), &at).erased);
  EXPECT_FALSE(Get("new").hit);
}

// The meta protocol's marks of a tier item live in its record (no per-item DRAM): the first
// fetch sets "fetched" (in place in the log, or by a copy of the set's version appended to the
// log), a win token sets "token sent"; fetched survives a restart, the token does not (as in the
// slab tier), and a marks copy is the same version: a crash loses at most the marks.
TEST_F(EngineSmallTest, MetaMarksLiveInTheTiersRecord) {
  struct Read {
    bool hit = false;
    std::string key, value;
    ItemView item;  // key and value: see view()
    IndexEntry where;
    ItemView view() const {
      ItemView v = item;
      v.key = key;
      v.value = value;
      return v;
    }
  };
  auto read = [this](const std::string& key, bool bump) {
    struct Waiter : LookupWaiter {
      void OnLookupDone(uint64_t, const ItemView* v, const IndexEntry& at) override {
        if (v != nullptr) {
          out.hit = true;
          out.item = *v;
          out.value.assign(v->value);
        }
        out.where = at;
      }
      Read out;
    } w;
    ItemView v;
    if (engine_->Lookup(key, util::HashKey(key), v, &w, 1, &w.out.where, bump).kind ==
        LookupResult::kHit) {
      w.out.hit = true;
      w.out.item = v;
      w.out.value.assign(v.value);
    }
    Pump();
    Read r = w.out;
    r.key = key;
    return r;
  };
  // In the log: marked in place.
  ASSERT_EQ(Set("a", Small("a", 1)), StoreResult::kStored);
  EXPECT_FALSE(read("a", false).where.fetched) << "me and mg u mark nothing";
  EXPECT_FALSE(read("a", true).where.fetched) << "as it was before this read";
  Read a = read("a", true);
  EXPECT_TRUE(a.where.fetched);
  EXPECT_FALSE(a.where.token_sent);
  EXPECT_TRUE(engine_->MarkTokenSent(util::HashKey("a"), a.where, a.view()));
  EXPECT_TRUE(read("a", false).where.token_sent);
  EXPECT_EQ(engine_->small_tier()->stats().mark_writes, 0u);
  // In a set (after a clean restart): fetched survives, the token does not.
  ASSERT_EQ(Set("b", Small("b", 1)), StoreResult::kStored);
  Clean();
  a = read("a", false);
  EXPECT_TRUE(a.where.fetched);
  EXPECT_FALSE(a.where.token_sent) << "a win token does not survive a restart";
  EXPECT_FALSE(read("b", false).where.fetched);
  EXPECT_FALSE(read("b", false).where.fetched) << "me and mg u mark nothing";
  Read b = read("b", true);
  ASSERT_TRUE(b.hit);
  EXPECT_FALSE(b.where.fetched) << "as it was before this read";
  b = read("b", true);
  EXPECT_TRUE(b.where.fetched) << "the slot's hit bit";
  EXPECT_EQ(b.value, Small("b", 1));
  EXPECT_EQ(engine_->small_tier()->stats().mark_writes, 0u) << "no copy for a fetch";
  // The version read before a token is handed out still stores (the copy is the same version).
  EXPECT_TRUE(engine_->MarkTokenSent(util::HashKey("b"), b.where, b.view()));
  EXPECT_EQ(engine_->small_tier()->stats().mark_writes, 1u) << "a copy for the token";
  EXPECT_TRUE(read("b", false).where.token_sent);
  EXPECT_TRUE(read("b", false).where.fetched) << "the copy keeps the hit bit's mark";
  EXPECT_EQ(StoreIf("b", Small("b", 2), b.where), StoreResult::kStored);
  // A set rewrite folds the hit bit into the record: fetched survives it and a restart.
  ASSERT_EQ(Set("d", Small("d", 1)), StoreResult::kStored);
  Clean();
  read("d", true);
  const SmallTier& tier = *engine_->small_tier();
  std::string e;  // a key of d's set: its store rewrites that set
  for (int i = 0; e.empty(); ++i) {
    const std::string k = "e" + std::to_string(i);
    if (tier.SetOf(util::HashKey(k)) == tier.SetOf(util::HashKey("d"))) e = k;
  }
  ASSERT_EQ(Set(e, Small(e, 1)), StoreResult::kStored);
  Clean();  // the stop's flush rewrites the set (its hit bits cleared, its image saved after)
  EXPECT_TRUE(read("d", false).where.fetched) << "folded into the record by the rewrite";
  // A marks copy of a set's version journals nothing, and a crash loses only the marks.
  ASSERT_EQ(Set("c", Small("c", 1)), StoreResult::kStored);
  Clean();
  EXPECT_FALSE(read("c", true).where.fetched);
  EXPECT_TRUE(read("c", true).where.fetched);
  EXPECT_EQ(engine_->small_tier()->UnsettledFloor(), UINT64_MAX) << "nothing to journal";
  Crash();
  const Read c = read("c", true);
  EXPECT_TRUE(c.hit);
  EXPECT_EQ(c.value, Small("c", 1));
  EXPECT_EQ(Get("b").value, Small("b", 2));
}

TEST_F(EngineSmallTest, FlushAllReachesTheTierAndStaysInForce) {
  for (int i = 0; i < 50; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(Set(k, Small(k, 1)), StoreResult::kStored);
  }
  Clean();  // in sets
  for (int i = 50; i < 60; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(Set(k, Small(k, 1)), StoreResult::kStored);  // in the log
  }
  engine_->FlushAll();
  Pump();
  ASSERT_EQ(Set("after", Small("after", 1)), StoreResult::kStored);
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(Get("k" + std::to_string(i)).hit) << i;
  Clean();
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(Get("k" + std::to_string(i)).hit) << i;
  EXPECT_EQ(Get("after").value, Small("after", 1));
  Crash();
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(Get("k" + std::to_string(i)).hit) << i;
}

TEST_F(EngineSmallTest, SmallItemsGoToTheTierAndLargeOnesToSlabs) {
  ASSERT_NE(engine_->small_tier(), nullptr);
  EXPECT_EQ(engine_->small_tier()->options().sets, (16u << 20) / 100 * 25 / kSetBytes);
  ASSERT_EQ(Set("s", Small("s", 1)), StoreResult::kStored);
  EXPECT_EQ(TierLogItems(), 1u);
  EXPECT_EQ(engine_->gauges().curr_items, 0u) << "no slab holds it";
  ASSERT_EQ(Set("l", Large("l", 1)), StoreResult::kStored);
  EXPECT_EQ(engine_->gauges().curr_items, 1u);
  EXPECT_EQ(TierLogItems(), 1u);
  EXPECT_EQ(Get("s").value, Small("s", 1));
  EXPECT_EQ(Get("l").value, Large("l", 1));
  EXPECT_FALSE(Get("none").hit);
  // The boundary: key + value of exactly --small-max bytes is small, one more is not.
  ASSERT_EQ(Set("b", std::string(kSmallMax - 1, 'x')), StoreResult::kStored);
  ASSERT_EQ(Set("c", std::string(kSmallMax, 'x')), StoreResult::kStored);
  EXPECT_EQ(TierLogItems(), 2u);
  EXPECT_EQ(engine_->gauges().curr_items, 2u);
}

TEST_F(EngineSmallTest, AfterACleanRestartItemsAreReadFromTheirSets) {
  for (int i = 0; i < 100; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(Set(k, Small(k, 1)), StoreResult::kStored);
  }
  Clean();
  EXPECT_EQ(TierLogItems(), 0u);
  const uint64_t reads = engine_->stats().reads_device;
  for (int i = 0; i < 100; ++i) {
    const std::string k = "k" + std::to_string(i);
    EXPECT_EQ(Get(k).value, Small(k, 1)) << k;
  }
  EXPECT_GE(engine_->stats().reads_device, reads + 100) << "each read its set";
  EXPECT_FALSE(Get("k100").hit);
}

// A key that moves between the tiers keeps one version: the newest, in either tier, whatever
// the other one still holds on the device.
TEST_F(EngineSmallTest, AKeyMovingBetweenTiersKeepsItsNewestVersion) {
  ASSERT_EQ(Set("k", Small("k", 1)), StoreResult::kStored);
  ASSERT_EQ(Set("k", Large("k", 2)), StoreResult::kStored);
  EXPECT_EQ(Get("k").value, Large("k", 2));
  ASSERT_EQ(Set("k", Small("k", 3)), StoreResult::kStored);
  EXPECT_EQ(Get("k").value, Small("k", 3));
  EXPECT_EQ(engine_->gauges().curr_items, 0u) << "the slab version was retired";
  Clean();
  EXPECT_EQ(Get("k").value, Small("k", 3));
  ASSERT_EQ(Set("k", Large("k", 4)), StoreResult::kStored);
  Clean();
  EXPECT_EQ(Get("k").value, Large("k", 4)) << "the set's older version stays hidden";
  ASSERT_EQ(Set("k", Small("k", 5)), StoreResult::kStored);
  Clean();
  EXPECT_EQ(Get("k").value, Small("k", 5)) << "the slab's older version stays retired";
}

// The crash cases the journal covers: the newer version died with DRAM (a memory slab, the tier's
// log), the older one is on the device in the other tier. It must not come back.
TEST_F(EngineSmallTest, ACrashNeverBringsBackTheOtherTiersOlderVersion) {
  ASSERT_EQ(Set("a", Small("a", 1)), StoreResult::kStored);
  ASSERT_EQ(Set("b", Large("b", 1)), StoreResult::kStored);
  Clean();                                                   // a in its set, b in a disk slab
  ASSERT_EQ(Set("a", Large("a", 2)), StoreResult::kStored);  // in a memory slab only
  ASSERT_EQ(Set("b", Small("b", 2)), StoreResult::kStored);  // in the tier's log only
  Crash();
  const testing::Result a = Get("a");
  const testing::Result b = Get("b");
  EXPECT_TRUE(!a.hit || a.value == Large("a", 2)) << "a came back older: " << a.value;
  EXPECT_TRUE(!b.hit || b.value == Small("b", 2)) << "b came back older: " << b.value;
}

TEST_F(EngineSmallTest, DeletesHideTheTiersVersionAcrossRestartsAndCrashes) {
  ASSERT_EQ(Set("a", Small("a", 1)), StoreResult::kStored);
  ASSERT_EQ(Set("b", Small("b", 1)), StoreResult::kStored);
  Clean();
  Delete("a");
  EXPECT_FALSE(Get("a").hit);
  Crash();
  EXPECT_FALSE(Get("a").hit) << "the delete's journal entry hides the set's version";
  EXPECT_EQ(Get("b").value, Small("b", 1));
  Delete("b");
  Clean();
  EXPECT_FALSE(Get("b").hit);
  EXPECT_FALSE(Get("a").hit);
}

// Random stores of sizes on both sides of the limit, deletes, clean restarts and crashes over a
// few keys, against a model: a hit is always the last version acknowledged; a clean restart keeps
// every one; a crash may lose what only DRAM held, never bring back an older version.
TEST_F(EngineSmallTest, RandomStepsAgainstAModel) {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    std::mt19937 rng(seed);
    std::map<std::string, std::string> model;
    for (int i = 0; i < 24; ++i) Delete("k" + std::to_string(i));  // the last seed's keys
    for (int step = 0; step < 1500; ++step) {
      const std::string k = "k" + std::to_string(rng() % 24);
      const uint32_t op = rng() % 100;
      if (op < 45) {
        const std::string v = ValueFor(k, step, rng() % 2 ? 20 + rng() % 150 : 190 + rng() % 400);
        ASSERT_EQ(Set(k, v), StoreResult::kStored);
        model[k] = v;
      } else if (op < 60) {
        Delete(k);
        model.erase(k);
      } else if (op < 97) {
        const testing::Result r = Get(k);
        const auto it = model.find(k);
        ASSERT_EQ(r.hit, it != model.end()) << "seed " << seed << " step " << step << " " << k;
        if (r.hit) {
          ASSERT_EQ(r.value, it->second) << "seed " << seed << " step " << step;
        }
      } else if (op < 99) {
        Clean();
      } else {
        Crash();
        for (auto it = model.begin(); it != model.end();) {
          const testing::Result r = Get(it->first);
          if (!r.hit) {
            it = model.erase(it);
            continue;
          }
          ASSERT_EQ(r.value, it->second) << "seed " << seed << " step " << step << " older value";
          ++it;
        }
        // A key the model says is gone must stay gone.
        for (int i = 0; i < 24; ++i) {
          const std::string key = "k" + std::to_string(i);
          if (!model.contains(key)) {
            ASSERT_FALSE(Get(key).hit) << "seed " << seed << " " << key;
          }
        }
      }
    }
    Clean();
    for (const auto& [key, value] : model) ASSERT_EQ(Get(key).value, value) << key;
  }
}

// A clean stop saves the tier's filters; the next start loads them and reads no set. Shown by a
// set zeroed behind the engine's back while it was down: the loaded filter still says "maybe"
// for its key, so a lookup reads the (now blank) set; a rebuild would have read the blank set
// at the start, and its filter would say "no".
TEST_F(EngineSmallTest, ACleanRestartLoadsTheTiersImageInsteadOfReadingTheSets) {
  ASSERT_EQ(Set("k", Small("k", 1)), StoreResult::kStored);
  ASSERT_EQ(Set("other", Small("other", 1)), StoreResult::kStored);
  std::string err;
  for (int i = 0; i < 100 && engine_->ShutdownFlush(); ++i) Pump();
  Pump();
  ASSERT_TRUE(engine_->FinishShutdown(err)) << err;
  const SmallTierOptions& o = engine_->small_tier()->options();
  const uint64_t set = util::HashKey("k") % o.sets;
  ASSERT_NE(set, util::HashKey("other") % o.sets);
  RawWrite(o.base + set * kSetBytes, std::string(kSetBytes, '\0'));
  ASSERT_TRUE(Reopen(err, Options())) << err;
  EXPECT_FALSE(Get("k").hit);
  EXPECT_EQ(engine_->small_tier()->stats().set_reads, 1u) << "the loaded filter said maybe";
  EXPECT_EQ(Get("other").value, Small("other", 1));
}

// The image binds to the stop that wrote it: a run that started from it, wrote sets and crashed
// leaves it stale, and the next start reads the sets (the image would miss what that run wrote).
TEST_F(EngineSmallTest, AnImageIsNeverLoadedAfterTheRunThatFollowedItCrashed) {
  ASSERT_EQ(Set("old", Small("old", 1)), StoreResult::kStored);
  Clean();  // image saved, then loaded
  for (int i = 0; i < 50; ++i) {
    const std::string k = "new" + std::to_string(i);
    ASSERT_EQ(Set(k, Small(k, 1)), StoreResult::kStored);
  }
  for (int i = 0; i < 100 && engine_->ShutdownFlush(); ++i) Pump();  // sets written, not clean
  Pump();
  Crash();
  for (int i = 0; i < 50; ++i) {
    const std::string k = "new" + std::to_string(i);
    EXPECT_EQ(Get(k).value, Small(k, 1)) << k;
  }
  EXPECT_EQ(Get("old").value, Small("old", 1));
}

// A key in the tier whose tag another key's slab entry shares: the lookup meets that entry first
// (in DRAM, on the device, expired, or unreadable) and must still find the key in the tier, and
// a read-modify-write of it must go through.
TEST_F(EngineSmallTest, AKeyBehindAnotherKeysEntryIsFoundInTheTier) {
  const auto [a, b] = CollidingKeys();
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(Set(a, Small(a, 1)), StoreResult::kStored);
  ASSERT_EQ(Set(b, Large(b, 1)), StoreResult::kStored);  // b's entry, a's tag
  EXPECT_EQ(Get(a).value, Small(a, 1)) << "behind an entry in DRAM";
  IndexEntry at = Where(a);
  ASSERT_TRUE(at.small);
  EXPECT_EQ(StoreIf(a, Small(a, 2), at), StoreResult::kStored) << "no conflict with b's entry";
  EXPECT_EQ(Get(b).value, Large(b, 1));
  EvictFromMemory();  // b's record is read from the device now
  EXPECT_EQ(Get(a).value, Small(a, 2)) << "behind an entry on the device";
  faults_->set_injector(FaultInjector::Create("read_eio=1", err_));
  EXPECT_EQ(Get(a).hit, true) << "behind an entry whose read failed";
  faults_->set_injector(nullptr);
  // b expires: its entry is dropped unread, and a is still found.
  const std::string value = Large(b, 2);  // the request views it
  StoreRequest put(b, util::HashKey(b), value);
  put.exptime = engine_->now() + 1;
  ASSERT_EQ(engine_->Store(put).result, StoreResult::kStored);
  engine_->set_now(engine_->now() + 200);
  EXPECT_EQ(Get(a).value, Small(a, 2)) << "behind an expired entry";
}

// read_errors() counts both tiers' failed reads (a failed set read is a miss like a failed slab
// read), and ResetStats clears the tier's share too, though the tier's own counters run on.
TEST_F(EngineSmallTest, ReadErrorsCountTheTiersFailedSetReads) {
  ASSERT_EQ(Set("k", Small("k", 1)), StoreResult::kStored);
  Clean();  // k is in its set now, not in the log
  faults_->set_injector(FaultInjector::Create("read_eio=1", err_));
  EXPECT_FALSE(Get("k").hit);
  faults_->set_injector(nullptr);
  const uint64_t tier = engine_->small_tier()->stats().read_errors;
  EXPECT_GE(tier, 1u);
  EXPECT_EQ(engine_->stats().read_errors, 0u) << "no slab read failed";
  EXPECT_EQ(engine_->read_errors(), tier);
  engine_->ResetStats();
  EXPECT_EQ(engine_->read_errors(), 0u);
  EXPECT_EQ(engine_->small_tier()->stats().read_errors, tier);
  EXPECT_EQ(Get("k").value, Small("k", 1)) << "a failed read loses nothing";
}

// A win token is handed out once for a tier item even when two readers' answers predate it: two
// reads of a set item complete, the second reader takes the token (a marks copy in the log), and
// the first, resumed later with its older answer, gets none.
TEST_F(EngineSmallTest, TwoReadersOfATierItemGetOneWinToken) {
  ASSERT_EQ(Set("s", Small("s", 1)), StoreResult::kStored);
  Clean();  // s is in its set
  struct Waiter : LookupWaiter {
    void OnLookupDone(uint64_t, const ItemView* v, const IndexEntry& at) override {
      hit = v != nullptr;
      if (hit) {
        item = *v;
        value.assign(v->value);
        item.value = value;
        key.assign(v->key);
        item.key = key;
      }
      where = at;
      done = true;
    }
    bool hit = false, done = false;
    ItemView item;
    std::string key, value;
    IndexEntry where;
  } a, b;
  const uint64_t hash = util::HashKey("s");
  ItemView v;
  ASSERT_EQ(engine_->Lookup("s", hash, v, &a, 1, &a.where, /*bump=*/true).kind,
            LookupResult::kPending);
  Pump();
  ASSERT_TRUE(a.done && a.hit);
  EXPECT_FALSE(a.where.token_sent);
  // B reads too, and wins first.
  ASSERT_EQ(engine_->Lookup("s", hash, v, &b, 2, &b.where, true).kind, LookupResult::kPending);
  Pump();
  ASSERT_TRUE(b.done && b.hit);
  EXPECT_FALSE(b.where.token_sent);
  EXPECT_TRUE(engine_->MarkTokenSent(hash, b.where, b.item));
  EXPECT_FALSE(engine_->MarkTokenSent(hash, a.where, a.item)) << "A's answer predates B's win";
  EXPECT_TRUE(Where("s").token_sent);
}

}  // namespace
}  // namespace ssdcache::storage
