// The small-object tier's versions (InsertIf, EraseIf, Peek) and flush_all (FlushBelow), over an
// in-memory device (small_tier.h, "Versions" and "flush_all"): a stale version conflicts, a
// fresh one never does, rewrites of sets outside the key's group change nothing, and a flush
// hides every older record at once, with no IO, through moves and restarts.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "small_tier_fixture.h"
#include "storage/item.h"

namespace ssdcache::storage {
namespace {

class SmallTierVersionsTest : public SmallTierTest {
 protected:
  // The version a lookup answers, driving its read to completion.
  SmallTierVersion Seen(const std::string& key) {
    Answer a;
    a.tier = tier_.get();
    const SmallTierLookupResult r = tier_->Lookup(key, util::HashKey(key), &a, 1);
    if (r.kind != SmallTierLookup::kReading) return r.version;
    aio_->Drain();
    EXPECT_EQ(a.calls, 1);
    return a.version;
  }
  SmallTierStatus PutIf(const std::string& key, const std::string& value, uint64_t wseq,
                        const SmallTierVersion& seen) {
    SetRecord r;
    r.key = key;
    r.value = value;
    r.wseq = wseq;
    return tier_->InsertIf(r, util::HashKey(key), seen).status;
  }
  SmallTierStatus DelIf(const std::string& key, uint64_t wseq, const SmallTierVersion& seen) {
    return tier_->EraseIf(key, util::HashKey(key), wseq, seen).status;
  }
};

TEST_F(SmallTierVersionsTest, ALogVersionConflictsOnceTheKeyChanged) {
  Open({});
  const std::string k = KeyIn(3, 0);
  Put(k, "v1", 1);
  const SmallTierVersion v1 = Seen(k);
  EXPECT_TRUE(v1.in_log);
  EXPECT_TRUE(v1.present);
  EXPECT_EQ(v1.wseq, 1u);
  const std::optional<SmallTierVersion> peek = tier_->Peek(k, util::HashKey(k));
  ASSERT_TRUE(peek.has_value());
  EXPECT_EQ(peek->wseq, 1u);
  EXPECT_EQ(PutIf(k, "v2", 2, v1), SmallTierStatus::kOk);
  // v1 is stale now: neither a store nor a delete goes through, and nothing changes.
  EXPECT_EQ(PutIf(k, "v3", 3, v1), SmallTierStatus::kConflict);
  EXPECT_EQ(DelIf(k, 4, v1), SmallTierStatus::kConflict);
  EXPECT_EQ(Get(k), "v2");
  EXPECT_EQ(DelIf(k, 5, Seen(k)), SmallTierStatus::kOk);
  EXPECT_EQ(Get(k), std::nullopt);
  // The tombstone's version: an add on the absent key goes through once, not twice.
  const SmallTierVersion gone = Seen(k);
  EXPECT_FALSE(gone.present);
  EXPECT_EQ(PutIf(k, "added", 6, gone), SmallTierStatus::kOk);
  EXPECT_EQ(PutIf(k, "added again", 7, gone), SmallTierStatus::kConflict);
  EXPECT_EQ(Get(k), "added");
}

TEST_F(SmallTierVersionsTest, ALogVersionDeletedWithoutATombstoneConflicts) {
  Open({});
  const std::string k = KeyIn(4, 0);
  Put(k, "v1", 1);
  const SmallTierVersion v1 = Seen(k);
  // The set cannot hold k: the delete only forgets the log's version, leaving no record.
  EXPECT_FALSE(Del(k, 2).journal);
  EXPECT_EQ(tier_->stats().log_items, 0u);
  EXPECT_EQ(PutIf(k, "v1+1", 3, v1), SmallTierStatus::kConflict);
  EXPECT_EQ(Get(k), std::nullopt);
}

TEST_F(SmallTierVersionsTest, ASetVersionHoldsUntilASetOfItsGroupIsRewritten) {
  SmallTierOptions o;
  o.sets = 32;  // 2 groups: even sets and odd sets
  Open(o);
  const std::string k = KeyIn(6, 0);
  Put(k, "v1", 1);
  FlushAll();
  const SmallTierVersion v1 = Seen(k);
  EXPECT_FALSE(v1.in_log);
  EXPECT_TRUE(v1.present);
  EXPECT_EQ(v1.wseq, 1u);
  EXPECT_EQ(tier_->Peek(k, util::HashKey(k)), std::nullopt);  // only a read can tell
  // Rewrites of sets of the other group (odd) do not touch the version: no livelock.
  uint64_t wseq = 1;
  for (int i = 0; i < 5; ++i) {
    Put(KeyIn(7 + 2 * i, 0), "other", ++wseq);
    FlushAll();
  }
  EXPECT_EQ(PutIf(k, "v2", ++wseq, v1), SmallTierStatus::kOk);
  FlushAll();  // v2 moves into set 6
  EXPECT_EQ(PutIf(k, "v3", ++wseq, v1), SmallTierStatus::kConflict);
  const SmallTierVersion v2 = Seen(k);
  EXPECT_EQ(v2.wseq, 7u);
  // A rewrite of set 8 (same group) may have changed k as far as the tier can tell.
  Put(KeyIn(8, 0), "other", ++wseq);
  FlushAll();
  EXPECT_EQ(PutIf(k, "v3", ++wseq, v2), SmallTierStatus::kConflict);
  EXPECT_EQ(Get(k), "v2");
}

TEST_F(SmallTierVersionsTest, AnAbsentVersionConflictsWithAStoreEvenOnceMovedOut) {
  Open({});
  const std::string k = KeyIn(9, 0);
  const SmallTierVersion absent = Seen(k);  // a filter miss
  EXPECT_FALSE(absent.present);
  EXPECT_FALSE(absent.in_log);
  const std::optional<SmallTierVersion> peek = tier_->Peek(k, util::HashKey(k));
  ASSERT_TRUE(peek.has_value());
  EXPECT_FALSE(peek->present);
  Put(k, "theirs", 1);
  EXPECT_EQ(PutIf(k, "mine", 2, absent), SmallTierStatus::kConflict);
  FlushAll();  // their version leaves the log for the set
  EXPECT_EQ(PutIf(k, "mine", 3, absent), SmallTierStatus::kConflict);
  EXPECT_EQ(Get(k), "theirs");
}

// A version is as of the answer, not of the lookup: a read that other sets' rewrites (of its
// group: all 16 sets are one) passed while it was out still answers a fresh version.
TEST_F(SmallTierVersionsTest, ARewriteWhileTheReadIsOutLeavesItsAnswerFresh) {
  Open({}, Wrap::kHolding);
  const std::string k = KeyIn(2, 0);
  Put(k, "v1", 1);
  FlushAll();
  holding_->hold = true;
  Answer a;
  a.tier = tier_.get();
  ASSERT_EQ(tier_->Lookup(k, util::HashKey(k), &a, 1).kind, SmallTierLookup::kReading);
  holding_->hold = false;
  Put(KeyIn(5, 0), "other", 2);
  tier_->Flush();
  aio_->Drain();
  EXPECT_EQ(tier_->stats().set_writes, 2u);
  holding_->Release();
  ASSERT_EQ(a.calls, 1);
  EXPECT_EQ(a.value, "v1");
  EXPECT_EQ(PutIf(k, "v2", 3, a.version), SmallTierStatus::kOk);
  EXPECT_EQ(Get(k), "v2");
}

// A move that loses its set (corrupt) changes every key in it before its write completes.
TEST_F(SmallTierVersionsTest, ALostSetChangesItsKeysAtOnce) {
  Open({}, Wrap::kHolding);
  const std::string k = KeyIn(10, 0);
  Put(k, "v1", 1);
  FlushAll();
  const SmallTierVersion v1 = Seen(k);
  image_->bytes[kBase + 10 * kSetBytes + 60] ^= 0x20;  // in its record
  holding_->hold_writes = true;
  Put(KeyIn(10, 1), "other", 2);
  tier_->Flush();
  aio_->Drain();
  ASSERT_TRUE(holding_->holds_write());
  EXPECT_EQ(tier_->stats().set_losses, 1u);
  EXPECT_EQ(PutIf(k, "v2", 3, v1), SmallTierStatus::kConflict);
  holding_->hold_writes = false;
  holding_->ReleaseWrite();
  aio_->Drain();
}

TEST_F(SmallTierVersionsTest, FlushBelowHidesEveryOlderRecordAtOnceWithNoIo) {
  Open({});
  const std::string a = KeyIn(1, 0);
  const std::string b = KeyIn(1, 1);
  const std::string c = KeyIn(1, 2);
  Put(a, "a", 1);
  Put(b, "b", 2);
  FlushAll();
  Put(c, "c", 3);
  Del(b, 4);  // a tombstone in the log
  const SmallTierVersion va = Seen(a);
  const IoStats before = io();
  tier_->FlushBelow(5);
  EXPECT_EQ(io().reads, before.reads);
  EXPECT_EQ(io().writes, before.writes);
  EXPECT_EQ(tier_->stats().flush_drops, 2u);  // c and b's tombstone
  EXPECT_EQ(tier_->stats().log_items, 0u);
  SmallTierLookup kind;
  for (const std::string& k : {a, b, c}) {
    EXPECT_EQ(Get(k, &kind), std::nullopt) << k;
    EXPECT_EQ(kind, SmallTierLookup::kMiss) << k;  // every filter says no
  }
  EXPECT_EQ(io().reads, before.reads);
  EXPECT_EQ(PutIf(a, "a2", 6, va), SmallTierStatus::kConflict);
  // Below the floor: dropped as it arrives. At or above: kept, and the set's next rewrite drops
  // the flushed records.
  EXPECT_EQ(Put(c, "late", 4).status, SmallTierStatus::kOk);
  EXPECT_EQ(Get(c), std::nullopt);
  Put(c, "new", 7);
  FlushAll();
  EXPECT_EQ(Get(c), "new");
  EXPECT_EQ(KeysOnDevice(1), std::vector<std::string>{c});
  EXPECT_EQ(tier_->stats().flush_drops, 4u);  // and a and b from the set
  tier_->FlushBelow(3);                       // never lowers the floor
  EXPECT_EQ(Get(a), std::nullopt);
  EXPECT_EQ(Put(KeyIn(2, 0), "below", 4).status, SmallTierStatus::kOk);
  EXPECT_EQ(Get(KeyIn(2, 0)), std::nullopt);
}

// What a failed write dropped below the floor no longer holds the journal back.
TEST_F(SmallTierVersionsTest, FlushBelowRaisesAVoidSetsFloor) {
  Open({}, Wrap::kFaults);
  Put(KeyIn(3, 0), "v", 2);
  InjectAll("write_eio=1");
  tier_->Flush();
  aio_->Drain();
  faults_->set_injector(nullptr);
  EXPECT_EQ(tier_->stats().write_errors, 1u);
  EXPECT_EQ(tier_->UnsettledFloor(), 2u);
  tier_->FlushBelow(5);
  EXPECT_EQ(tier_->UnsettledFloor(), 5u);
  FlushAll();  // the void set is rewritten
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
}

// A floor below records already on the device (e.g. set after Rebuild()) keeps them, and a
// restart that sets the floor before Rebuild() leaves the older records out of the filters.
TEST_F(SmallTierVersionsTest, AFloorBelowTheNewestRecordsKeepsThemAcrossRestarts) {
  Open({});
  const std::string a = KeyIn(1, 0);
  const std::string b = KeyIn(1, 1);
  Put(a, "a", 1);
  Put(b, "b", 2);
  FlushAll();
  Open(options_);
  ASSERT_TRUE(tier_->Rebuild(nullptr).ok);
  tier_->FlushBelow(2);
  EXPECT_EQ(Get(a), std::nullopt);
  EXPECT_EQ(Get(b), "b");
  // A delete below the floor has nothing left to hide: no tombstone, no journal entry.
  EXPECT_FALSE(Del(a, 1).journal);
  EXPECT_EQ(tier_->stats().log_items, 0u);
  Open(options_);
  tier_->FlushBelow(2);
  const SmallTierRebuild r = tier_->Rebuild(nullptr);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.flushed, 1u);
  EXPECT_EQ(r.max_wseq, 2u);
  EXPECT_EQ(Get(a), std::nullopt);
  EXPECT_EQ(Get(b), "b");
}

// Remark(): meta marks kept in the record. A set's version is copied into the log (the same wseq,
// settled: nothing to journal), a log version changed in place; a stale version changes nothing;
// token bits of sets an earlier run wrote are dropped, fetched bits kept.
TEST_F(SmallTierVersionsTest, RemarkKeepsMarksInTheSameVersion) {
  struct Marks : SmallTierWaiter {
    void OnSmallLookupDone(uint64_t, const SetRecord* item) override {
      marks = item != nullptr ? item->marks : 0xff;
      version = tier->answer_version();
    }
    const SmallTier* tier = nullptr;
    uint8_t marks = 0;
    SmallTierVersion version;
  };
  auto marks_of = [this](const std::string& key, SmallTierVersion* version = nullptr) {
    Marks m;
    m.tier = tier_.get();
    const SmallTierLookupResult r = tier_->Lookup(key, util::HashKey(key), &m, 1);
    if (r.kind == SmallTierLookup::kHit) {
      m.marks = r.item.marks;
      m.version = r.version;
    }
    aio_->Drain();
    if (version != nullptr) *version = m.version;
    return m.marks;
  };
  Open({});
  const std::string k = KeyIn(2, 0);
  SetRecord r;
  r.key = k;
  r.value = "v1";
  r.wseq = r.cas = 5;
  ASSERT_EQ(tier_->Insert(r, util::HashKey(k)).status, SmallTierStatus::kOk);
  FlushAll();
  SmallTierVersion seen;
  EXPECT_EQ(marks_of(k, &seen), 0);
  EXPECT_FALSE(seen.in_log);
  ASSERT_EQ(tier_->Remark(r, util::HashKey(k), kMarkFetched, seen).status, SmallTierStatus::kOk);
  EXPECT_TRUE(seen.in_log);
  EXPECT_EQ(seen.wseq, 5u);
  EXPECT_EQ(tier_->stats().mark_writes, 1u);
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX) << "the set holds this version";
  EXPECT_EQ(marks_of(k), kMarkFetched);
  // In the log now: in place, no copy; the version stays fresh.
  ASSERT_EQ(tier_->Remark(r, util::HashKey(k), kMarkTokenSent, seen).status, SmallTierStatus::kOk);
  EXPECT_EQ(tier_->stats().mark_writes, 1u);
  EXPECT_EQ(marks_of(k), kMarkFetched | kMarkTokenSent);
  FlushAll();
  EXPECT_EQ(marks_of(k), kMarkFetched | kMarkTokenSent);
  // A stale version: nothing changes.
  Put(k, "v2", 6);
  r.marks = 0;
  EXPECT_EQ(tier_->Remark(r, util::HashKey(k), kMarkFetched, seen).status,
            SmallTierStatus::kConflict);
  EXPECT_EQ(Get(k), "v2");
  EXPECT_EQ(marks_of(k), 0);
  // A restart: the token of a set written by the earlier run is dropped, fetched kept.
  r.value = "v3";
  r.wseq = r.cas = 7;
  r.marks = kMarkFetched | kMarkTokenSent;
  ASSERT_EQ(tier_->Insert(r, util::HashKey(k)).status, SmallTierStatus::kOk);
  FlushAll();
  Open(options_);
  ASSERT_TRUE(tier_->Rebuild(nullptr).ok);
  tier_->set_marks_floor(8);
  EXPECT_EQ(marks_of(k), kMarkFetched);
  // ... also once its set is rewritten in this run (sealed at the floor or above).
  Put(KeyIn(2, 1), "other", 9);
  FlushAll();
  EXPECT_EQ(marks_of(k), kMarkFetched);
  ASSERT_EQ(marks_of(k, &seen), kMarkFetched);
  r.marks = kMarkFetched;
  ASSERT_EQ(tier_->Remark(r, util::HashKey(k), kMarkTokenSent, seen).status, SmallTierStatus::kOk);
  FlushAll();
  EXPECT_EQ(marks_of(k), kMarkFetched | kMarkTokenSent);
}

// A win token is a test-and-set: a second Remark of the bit on the same version answers
// `unchanged` (the engine then hands out no second W). A copy made of a settled copy that a
// move carries is settled too: checkpoints need not wait for it.
TEST_F(SmallTierVersionsTest, ATokenIsTakenOnceAndACopyOfASettledCopyStaysSettled) {
  Open({}, Wrap::kHolding);
  const std::string k = KeyIn(3, 0);
  const uint64_t hash = util::HashKey(k);
  SetRecord r;
  r.key = k;
  r.value = "v1";
  r.wseq = r.cas = 5;
  ASSERT_EQ(tier_->Insert(r, hash).status, SmallTierStatus::kOk);
  FlushAll();
  const SmallTierStats stored = tier_->stats();
  EXPECT_EQ(stored.stored_bytes, k.size() + 2);
  ASSERT_FALSE(tier_->Peek(k, hash).has_value()) << "in its set: only a read can tell";
  SmallTierVersion v;
  {
    Answer a;
    a.tier = tier_.get();
    ASSERT_EQ(tier_->Lookup(k, hash, &a, 1).kind, SmallTierLookup::kReading);
    aio_->Drain();
    ASSERT_TRUE(a.hit);
    v = a.version;
  }
  ASSERT_EQ(tier_->Remark(r, hash, kMarkFetched, v).status, SmallTierStatus::kOk);
  ASSERT_EQ(tier_->UnsettledFloor(), UINT64_MAX) << "a settled copy of the set's version";
  // The copy moves with its set (its write held back), and the token goes into a copy of it.
  holding_->hold_writes = true;
  tier_->Flush();
  aio_->Drain();
  ASSERT_TRUE(holding_->holds_write());
  r.marks = kMarkFetched;
  const SmallTierVersion seen = v;  // another reader's answer, before the token is taken
  const SmallTierWrite first = tier_->Remark(r, hash, kMarkTokenSent, v);
  ASSERT_EQ(first.status, SmallTierStatus::kOk);
  EXPECT_FALSE(first.unchanged);
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX) << "a copy of a settled copy is settled";
  // The other reader, whose answer came before the token was taken: no second token (the copy
  // is the same version, so its version is not stale: the bit decides).
  SmallTierVersion again = v;
  const SmallTierWrite second = tier_->Remark(r, hash, kMarkTokenSent, again);
  EXPECT_EQ(second.status, SmallTierStatus::kOk);
  EXPECT_TRUE(second.unchanged);
  SmallTierVersion old = seen;  // the answer before the token's copy: the same version still
  EXPECT_TRUE(tier_->Remark(r, hash, kMarkTokenSent, old).unchanged);
  holding_->hold_writes = false;
  holding_->ReleaseWrite();
  aio_->Drain();
  FlushAll();
  EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
  // The copies were set rewrites for marks, not stores: write amplification's denominator
  // stays.
  EXPECT_GT(tier_->stats().set_writes, stored.set_writes);
  EXPECT_EQ(tier_->stats().stored_bytes, stored.stored_bytes);
}

}  // namespace
}  // namespace ssdcache::storage
