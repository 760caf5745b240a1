// The small-object tier's key dumps (small_tier_cursor.h) over an in-memory device: the cursor
// lists each live key once with its newest metadata, sets in order, hiding tombstones, expired
// and superseded records; a set rewritten while its read was in flight is read again, so that
// neither a key deleted before the walk nor an older version is listed; a set read torn by a
// write in flight waits for it; a cursor closed with a read in flight stays quiet.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "small_tier_fixture.h"
#include "storage/item.h"
#include "storage/small_tier_cursor.h"

namespace ssdcache::storage {
namespace {

struct Ready : SmallTierCursorListener {
  void OnSmallCursorReady() override { ++calls; }
  int calls = 0;
};

class SmallTierCursorTest : public SmallTierTest {
 protected:
  // Walks the cursor to its end in batches of `batch`, completing reads as it waits.
  std::vector<SmallTierListed> Walk(SmallTierCursor& c, size_t batch = 3) {
    std::vector<SmallTierListed> out;
    for (int i = 0; i < 10000; ++i) {
      const size_t before = out.size();
      const SmallTierCursor::Step step = c.Next(out, batch);
      EXPECT_LE(out.size() - before, batch);
      if (step == SmallTierCursor::Step::kDone) return out;
      if (step == SmallTierCursor::Step::kWaiting) aio_->Drain();
    }
    ADD_FAILURE() << "the walk did not end";
    return out;
  }
  static std::map<std::string, SmallTierListed> ByKey(const std::vector<SmallTierListed>& v) {
    std::map<std::string, SmallTierListed> m;
    for (const SmallTierListed& l : v) EXPECT_TRUE(m.emplace(l.key, l).second) << l.key;
    return m;
  }
  SmallTierWrite PutFlags(const std::string& key, const std::string& value, uint64_t wseq,
                          uint32_t flags) {
    const SetRecord r{key, value, flags, 0, 900, wseq, wseq};
    return tier_->Insert(r, util::HashKey(key));
  }
};

TEST_F(SmallTierCursorTest, ListsEachLiveKeyOnceWithItsNewestVersion) {
  Open({});
  // Sets 2, 5 and 9 on the device; then the log changes them.
  for (const uint64_t set : {2, 5, 9}) {
    for (int i = 0; i < 4; ++i) PutFlags(KeyIn(set, i), "old", set * 10 + i, 1);
  }
  Put(KeyIn(9, 4), "soon gone", 95, 1001);
  FlushAll(true);
  EXPECT_EQ(Get(KeyIn(5, 0)), "old");            // its hit bit
  PutFlags(KeyIn(2, 0), "newer value", 200, 7);  // a newer version in the log
  Del(KeyIn(2, 1), 201);                         // a tombstone hides the set's
  Put(KeyIn(5, 1), "expired", 202, 999);         // an expired newer version hides the set's too
  PutFlags(KeyIn(12, 0), "log only", 203, 3);
  Put(KeyIn(12, 1), "log expired", 204, 500);
  Del(KeyIn(12, 2), 205);       // never stored: no tombstone
  Put(KeyIn(9, 3), "late", 1);  // older than the set's version: the merge keeps the set's
  tier_->set_now(1002);         // KeyIn(9, 4) expires in its set
  const uint64_t reads = io().reads;
  Ready ready;
  SmallTierCursor c(*tier_, &ready);
  const std::vector<SmallTierListed> out = Walk(c);
  const auto keys = ByKey(out);
  EXPECT_EQ(keys.size(), 11u);
  for (const uint64_t set : {2, 5, 9}) {
    for (int i = 0; i < 4; ++i) {
      const std::string k = KeyIn(set, i);
      if ((set == 2 || set == 5) && i == 1) {
        EXPECT_EQ(keys.count(k), 0u) << k;
        continue;
      }
      ASSERT_EQ(keys.count(k), 1u) << k;
      const SmallTierListed& l = keys.at(k);
      if (set == 2 && i == 0) {
        EXPECT_EQ(l.nvalue, 11u);
        EXPECT_EQ(l.flags, 7u);
        EXPECT_EQ(l.cas, 200u);
        EXPECT_TRUE(l.in_log);
      } else {
        EXPECT_EQ(l.nvalue, 3u);
        EXPECT_EQ(l.flags, 1u);
        EXPECT_EQ(l.cas, set * 10 + i);
        EXPECT_EQ(l.stored_at, 900u);
        EXPECT_FALSE(l.in_log);
        EXPECT_EQ(l.fetched, set == 5 && i == 0) << k;
      }
    }
  }
  EXPECT_EQ(keys.count(KeyIn(9, 4)), 0u);
  ASSERT_EQ(keys.count(KeyIn(12, 0)), 1u);
  EXPECT_EQ(keys.at(KeyIn(12, 0)).flags, 3u);
  // Sets in order; only the three sets with keys on the device were read.
  for (size_t i = 1; i < out.size(); ++i) {
    EXPECT_LE(tier_->SetOf(util::HashKey(out[i - 1].key)), tier_->SetOf(util::HashKey(out[i].key)));
  }
  EXPECT_EQ(c.sets_read(), 3u);
  EXPECT_EQ(io().reads - reads, 3u);
  EXPECT_GT(ready.calls, 0);
  EXPECT_TRUE(c.idle());
  std::vector<SmallTierListed> more;
  EXPECT_EQ(c.Next(more, 10), SmallTierCursor::Step::kDone);
  EXPECT_TRUE(more.empty());
}

// A record's marks (meta state kept in the record) are listed, from its set and from the log.
TEST_F(SmallTierCursorTest, ListsEachRecordsMarks) {
  Open({});
  const std::string in_set = KeyIn(2, 0), in_log = KeyIn(3, 0), plain = KeyIn(3, 1);
  tier_->Insert(SetRecord{in_set, "v", 0, 0, 900, 1, 1, kMarkStale}, util::HashKey(in_set));
  FlushAll(true);
  tier_->Insert(SetRecord{in_log, "v", 0, 0, 900, 2, 2, kMarkStale}, util::HashKey(in_log));
  PutFlags(plain, "v", 3, 0);
  SmallTierCursor c(*tier_, nullptr);
  const auto keys = ByKey(Walk(c));
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys.at(in_set).marks, kMarkStale);
  EXPECT_EQ(keys.at(in_log).marks, kMarkStale);
  EXPECT_EQ(keys.at(plain).marks, 0);
}

// flush_all: a record below the floor is gone for the cursor as for lookups, though its set
// still holds it until its next rewrite.
TEST_F(SmallTierCursorTest, NothingBelowTheFlushFloorIsListed) {
  Open({});
  PutFlags(KeyIn(2, 0), "v", 1, 0);
  PutFlags(KeyIn(2, 1), "v", 2, 0);
  PutFlags(KeyIn(2, 2), "v", 5, 0);
  FlushAll(true);
  tier_->FlushBelow(3);
  ASSERT_EQ(KeysOnDevice(2).size(), 3u);
  SmallTierCursor c(*tier_, nullptr);
  const auto keys = ByKey(Walk(c));
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys.count(KeyIn(2, 2)), 1u);
}

// The cursor's read of set 6 is held with the set's old content while the tier deletes one key
// (before the walk) and replaces another (during it), and a move writes both out to the set: the
// held read then answers the old content, which the log no longer corrects.
TEST_F(SmallTierCursorTest, ASetRewrittenDuringItsReadIsReadAgain) {
  Open({}, Wrap::kHolding);
  const std::string gone = KeyIn(6, 0), changed = KeyIn(6, 1), kept = KeyIn(6, 2);
  PutFlags(gone, "v", 1, 1);
  PutFlags(changed, "v", 2, 1);
  PutFlags(kept, "v", 3, 1);
  FlushAll(true);
  Del(gone, 4);  // before the walk: a tombstone in the log
  SmallTierCursor c(*tier_, nullptr);
  holding_->hold = true;
  std::vector<SmallTierListed> out;
  ASSERT_EQ(c.Next(out, 100), SmallTierCursor::Step::kWaiting);
  ASSERT_TRUE(holding_->holds_read());
  holding_->hold = false;
  PutFlags(changed, "a longer value", 5, 2);  // during the walk
  FlushAll(true);  // set 6 rewritten: the tombstone and the new version leave the log
  ASSERT_EQ(KeysOnDevice(6).size(), 2u);
  holding_->Release();  // the old content
  const auto keys = ByKey(Walk(c));
  EXPECT_EQ(c.sets_read(), 2u);
  EXPECT_EQ(keys.count(gone), 0u);
  ASSERT_EQ(keys.count(changed), 1u);
  EXPECT_EQ(keys.at(changed).cas, 5u);
  EXPECT_EQ(keys.at(changed).flags, 2u);
  EXPECT_EQ(keys.at(changed).nvalue, 14u);
  EXPECT_EQ(keys.count(kept), 1u);
}

// A read that completes while a move of its set is writing may find a torn set: it waits for the
// write to complete instead of listing the set as empty.
TEST_F(SmallTierCursorTest, ASetTornByAWriteInFlightWaitsForIt) {
  Open({}, Wrap::kHolding);
  PutFlags(KeyIn(8, 0), "v", 1, 1);
  PutFlags(KeyIn(8, 1), "v", 2, 1);
  FlushAll(true);
  PutFlags(KeyIn(8, 2), "v", 3, 1);
  holding_->hold_writes = true;
  tier_->Flush(true);
  aio_->Drain();  // the move's read completed, its write is held
  ASSERT_TRUE(holding_->holds_write());
  SmallTierCursor c(*tier_, nullptr);
  image_->bytes[kBase + 8 * kSetBytes + 100] ^= 1;  // what a read racing the write may see
  holding_->hold = true;
  std::vector<SmallTierListed> out;
  ASSERT_EQ(c.Next(out, 100), SmallTierCursor::Step::kWaiting);
  holding_->hold = false;
  image_->bytes[kBase + 8 * kSetBytes + 100] ^= 1;
  holding_->Release();
  EXPECT_EQ(c.Next(out, 100), SmallTierCursor::Step::kWaiting);  // waits for the write
  holding_->hold_writes = false;
  holding_->ReleaseWrite();
  const auto keys = ByKey(Walk(c));
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(c.corrupt_sets(), 0u);
  EXPECT_EQ(c.sets_read(), 2u);
}

TEST_F(SmallTierCursorTest, ACursorClosedWithAReadInFlightStaysQuiet) {
  Open({}, Wrap::kHolding);
  PutFlags(KeyIn(3, 0), "v", 1, 1);
  FlushAll(true);
  Ready ready;
  auto c = std::make_unique<SmallTierCursor>(*tier_, &ready);
  holding_->hold = true;
  std::vector<SmallTierListed> out;
  ASSERT_EQ(c->Next(out, 100), SmallTierCursor::Step::kWaiting);
  holding_->hold = false;
  c->Close();
  EXPECT_FALSE(c->idle());
  holding_->Release();
  EXPECT_TRUE(c->idle());
  EXPECT_EQ(ready.calls, 0);
  EXPECT_EQ(c->Next(out, 100), SmallTierCursor::Step::kDone);
  EXPECT_TRUE(out.empty());
  c.reset();
  // The tier no longer tells it of set writes.
  PutFlags(KeyIn(3, 1), "v", 2, 1);
  FlushAll(true);
  EXPECT_EQ(Get(KeyIn(3, 1)), "v");
}

// Walks amid seeded random puts, deletes, flushes, completions in a seeded order and (odd seeds)
// failed reads and writes: a listed
// record is never older than the version acknowledged for its key when the walk started (a
// deleted key's floor is above its delete), and no key is listed twice in one walk.
TEST_F(SmallTierCursorTest, AWalkAmidRandomChangesNeverListsAnOlderVersion) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SmallTierOptions o;
    o.log_bytes = 64 << 10;
    o.max_moves = 1 + seed % 4;
    o.hit_bits = seed % 2 == 0 ? 32 : 0;
    o.sets = 64;
    image_.reset();
    Open(o, seed % 2 == 1 ? Wrap::kFaults : Wrap::kNone);
    mem_->set_reorder(seed);
    // Failed writes leave void sets (never read), failed reads are retried or skip the set.
    if (faults_ != nullptr)
      InjectAll(("write_eio=0.03,read_eio=0.03,seed=" + std::to_string(seed)).c_str());
    std::mt19937_64 rng(seed);
    auto uniform = [&rng](uint64_t n) {
      return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
    };
    std::map<std::string, uint64_t> floor;  // the oldest wseq a listing of the key may carry
    uint64_t wseq = 0;
    size_t listed = 0;  // over the walks: they do list
    for (int walk = 0; walk < 6; ++walk) {
      const std::map<std::string, uint64_t> at_start = floor;
      std::set<std::string> seen;
      SmallTierCursor c(*tier_, nullptr);
      std::vector<SmallTierListed> out;
      for (int step = 0; step < 20000; ++step) {
        const std::string key = "k" + std::to_string(uniform(400));
        const uint64_t op = uniform(100);
        if (op < 40) {
          if (Put(key, std::string(uniform(200), 'v'), ++wseq).status == SmallTierStatus::kOk)
            floor[key] = wseq;
        } else if (op < 55) {
          if (Del(key, ++wseq).status == SmallTierStatus::kOk) floor[key] = wseq + 1;
        } else if (op < 58) {
          tier_->Flush(uniform(2) == 0);
        } else if (op < 96 || step < 1000) {
          aio_->Poll();
        } else {
          out.clear();
          const SmallTierCursor::Step s = c.Next(out, 1 + uniform(4));
          listed += out.size();
          for (const SmallTierListed& l : out) {
            EXPECT_TRUE(seen.insert(l.key).second) << l.key;
            const auto f = at_start.find(l.key);
            EXPECT_GE(l.wseq, f == at_start.end() ? 0 : f->second) << l.key;
          }
          if (s == SmallTierCursor::Step::kDone) break;
        }
      }
      EXPECT_EQ(c.Next(out, 1000000), SmallTierCursor::Step::kDone) << "the walk did not end";
      c.Close();
      aio_->Drain();
    }
    EXPECT_GT(listed, 500u);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace ssdcache::storage
