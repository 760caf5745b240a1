// KeyScan tests over a device in memory: a scan lists every live key once, from memory slabs
// and from the device, with its record's fields; never an older version, a deleted or an
// expired key, also while the cache changes under it (then it still ends); keeps its reads in
// flight bounded; offers a refused record again; and a scan closed with reads in flight is freed
// once they complete.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/key_scan.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

struct Listed {
  ScanRecord rec;
  std::string key;
  int times = 0;
};

class Sink final : public ScanSink, public ScanListener {
 public:
  bool Take(const ScanRecord& r) override {
    if (room == 0) return false;
    --room;
    if (check) check(r);
    Listed& l = listed[std::string(r.key)];
    l.rec = r;
    l.key = std::string(r.key);
    l.rec.key = l.key;
    ++l.times;
    order.emplace_back(r.key);
    return true;
  }
  void OnScanReady() override { ++ready; }

  std::function<void(const ScanRecord&)> check;  // called on every record taken

  size_t room = SIZE_MAX;
  std::map<std::string, Listed> listed;
  std::vector<std::string> order;
  int ready = 0;
};

class KeyScanTest : public testing::EngineFixture {
 protected:
  KeyScanTest() : EngineFixture("key-scan", testing::TestBackend::kMemory) {}
  void SetUp() override { Open(16 << 20, 4 * kSlab); }

  // Pumps `scan` to its end as a connection would; checks the reads in flight stay bounded.
  void Finish(KeyScan* scan, Sink& sink, int max_steps = 100000) {
    for (int i = 0; i < max_steps; ++i) {
      const KeyScan::Step step = scan->Pump(sink);
      EXPECT_LE(aio_->in_flight() + aio_->queued(), KeyScan::kMaxReads);
      if (step == KeyScan::Step::kDone) return;
      if (step == KeyScan::Step::kWaiting) Pump();
      sink.room = SIZE_MAX;
    }
    ADD_FAILURE() << "the scan did not end";
  }

  std::map<std::string, Listed> ScanAll(std::vector<bool> classes = {}) {
    Pump();  // every IO in flight below is the scan's
    Sink sink;
    KeyScan* scan = engine_->OpenScan(std::move(classes), &sink);
    EXPECT_NE(scan, nullptr);
    if (scan == nullptr) return {};
    Finish(scan, sink);
    engine_->CloseScan(scan);
    EXPECT_EQ(engine_->scans_open(), 0u);
    return sink.listed;
  }

  std::set<std::string> Keys(const std::map<std::string, Listed>& listed) {
    std::set<std::string> keys;
    for (const auto& [k, l] : listed) {
      EXPECT_EQ(l.times, 1) << k;
      keys.insert(k);
    }
    return keys;
  }
};

TEST_F(KeyScanTest, ListsEveryKeyInMemoryAndOnTheDeviceOnce) {
  std::set<std::string> want;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "key:" + std::to_string(i);
    ASSERT_EQ(Set(key, ValueFor(key, 1, 200)), StoreResult::kStored);
    want.insert(key);
  }
  Pump();
  ASSERT_GT(engine_->stats().slab_writes, 4u);  // most slabs are on the device only
  const uint64_t reads_before = aio_->stats().reads;
  const auto listed = ScanAll();
  EXPECT_EQ(Keys(listed), want);
  EXPECT_GT(aio_->stats().reads, reads_before);
  // The record's fields, as metadump shows them.
  const Listed& one = listed.at("key:7");
  const testing::Result got = Get("key:7");
  EXPECT_EQ(one.rec.cas, got.cas);
  EXPECT_EQ(one.rec.nvalue, 200u);
  EXPECT_EQ(one.rec.size, ItemSize(5, 200));
  EXPECT_EQ(one.rec.exptime, 0u);
  EXPECT_EQ(one.rec.last_access, engine_->now());
  EXPECT_FALSE(one.rec.fetched);
  EXPECT_EQ(engine_->classes().chunk_size(one.rec.cls) >= one.rec.size, true);
  // The get above set the fetched bit.
  EXPECT_TRUE(ScanAll().at("key:7").rec.fetched);
}

TEST_F(KeyScanTest, NeverListsOldVersionsDeletedOrExpiredKeys) {
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_EQ(Set(key, ValueFor(key, 1, 300), i % 10 == 0 ? engine_->now() + 100 : 0),
              StoreResult::kStored);
  }
  EvictFromMemory();  // the first versions are on the device only
  std::set<std::string> want;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (i % 10 == 0) continue;  // expires below
    if (i % 3 == 0) {
      ASSERT_TRUE(engine_->Erase(key, util::HashKey(key)).erased);
      continue;
    }
    if (i % 3 == 1) {
      ASSERT_EQ(Set(key, ValueFor(key, 2, 100)), StoreResult::kStored);
    }
    want.insert(key);
  }
  engine_->set_now(engine_->now() + 200);
  std::set<std::string> got;
  for (const std::string& k : Keys(ScanAll())) {
    if (k.starts_with("k")) got.insert(k);
  }
  EXPECT_EQ(got, want);
  // The overwritten keys are listed with their new version.
  const auto listed = ScanAll();
  EXPECT_EQ(listed.at("k1").rec.nvalue, 100u);
  EXPECT_EQ(listed.at("k2").rec.nvalue, 300u);
}

TEST_F(KeyScanTest, ListsOnlyTheAskedClasses) {
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(Set("small" + std::to_string(i), "v"), StoreResult::kStored);
    ASSERT_EQ(Set("large" + std::to_string(i), std::string(3000, 'x')), StoreResult::kStored);
  }
  Pump();
  const int large = engine_->classes().ClassFor(ItemSize(8, 3000));
  std::vector<bool> only(engine_->classes().count(), false);
  only[large] = true;
  const auto listed = ScanAll(only);
  EXPECT_EQ(listed.size(), 300u);
  for (const auto& [k, l] : listed) {
    EXPECT_TRUE(k.starts_with("large")) << k;
    EXPECT_EQ(l.rec.cls, large);
  }
}

TEST_F(KeyScanTest, ARefusedRecordIsOfferedAgain) {
  for (int i = 0; i < 1500; ++i)
    ASSERT_EQ(Set("r" + std::to_string(i), "value"), StoreResult::kStored);
  Pump();
  Sink sink;
  KeyScan* scan = engine_->OpenScan({}, &sink);
  ASSERT_NE(scan, nullptr);
  for (int i = 0; i < 100000; ++i) {
    sink.room = 7;  // a connection whose output fills after 7 lines
    const KeyScan::Step step = scan->Pump(sink);
    if (step == KeyScan::Step::kDone) break;
    if (step == KeyScan::Step::kWaiting) Pump();
  }
  engine_->CloseScan(scan);
  EXPECT_EQ(sink.listed.size(), 1500u);
  EXPECT_EQ(sink.order.size(), 1500u);  // none twice
}

// Random sets (of every size, some with a TTL), deletes, flush_all and time passing between the
// scan's steps, on a device small enough that slabs are evicted all along: every record listed
// is its key's current version (the model's cas), unexpired; no deleted key; and the scan ends.
TEST_F(KeyScanTest, ListsOnlyCurrentVersionsAndEndsWhileTheCacheChanges) {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE(seed);
    engine_.reset();
    device_.reset();
    Open(2 << 20, 4 * kSlab);  // 31 disk slabs
    std::mt19937 rng(seed);
    std::map<std::string, std::pair<uint64_t, uint32_t>> model;  // key -> cas, exptime
    auto key_of = [&](uint32_t i) { return "m" + std::to_string(i); };
    auto mutate = [&](int n) {
      for (int j = 0; j < n; ++j) {
        const std::string key = key_of(rng() % 3000);
        const uint32_t op = rng() % 100;
        if (op < 70) {
          const uint32_t ttl = rng() % 4 == 0 ? engine_->now() + 1 + rng() % 5 : 0;
          const StoreOutcome out = Store(key, std::string(20 + rng() % 3000, 'v'), ttl);
          ASSERT_EQ(out.result, StoreResult::kStored);
          model[key] = {out.cas, ttl};
        } else if (op < 95) {
          engine_->Erase(key, util::HashKey(key));
          model.erase(key);
        } else if (op < 99) {
          engine_->set_now(engine_->now() + 1);
        } else if (rng() % 20 == 0) {
          engine_->FlushAll();
          model.clear();
        }
      }
    };
    mutate(3000);
    Pump();
    Sink sink;
    uint64_t listed = 0;
    sink.check = [&](const ScanRecord& r) {
      ++listed;
      const auto it = model.find(std::string(r.key));
      ASSERT_NE(it, model.end()) << r.key << " is not stored";
      EXPECT_EQ(r.cas, it->second.first) << r.key << ": not its current version";
      EXPECT_EQ(r.exptime, it->second.second) << r.key;
      EXPECT_TRUE(r.exptime == 0 || r.exptime > engine_->now()) << r.key << " expired";
    };
    KeyScan* scan = engine_->OpenScan({}, &sink);
    ASSERT_NE(scan, nullptr);
    int step = 0;
    for (; step < 100000; ++step) {
      sink.room = 1 + rng() % 100;
      const KeyScan::Step s = scan->Pump(sink);
      if (s == KeyScan::Step::kDone || HasFatalFailure()) break;
      ASSERT_NO_FATAL_FAILURE(mutate(static_cast<int>(rng() % 40)));
      if (s == KeyScan::Step::kWaiting || rng() % 2 == 0) Pump();
    }
    EXPECT_LT(step, 100000) << "the scan did not end";
    engine_->CloseScan(scan);
    EXPECT_GT(listed, 0u);
    EXPECT_GT(engine_->stats().slab_evictions, 0u);
  }
}

TEST_F(KeyScanTest, AScanClosedWithReadsInFlightIsFreedWhenTheyComplete) {
  for (int i = 0; i < 2000; ++i)
    ASSERT_EQ(Set("f" + std::to_string(i), std::string(200, 'f')), StoreResult::kStored);
  Pump();
  Sink sink;
  KeyScan* scan = engine_->OpenScan({}, &sink);
  ASSERT_NE(scan, nullptr);
  KeyScan::Step step = KeyScan::Step::kMore;
  while (step == KeyScan::Step::kMore) step = scan->Pump(sink);
  ASSERT_EQ(step, KeyScan::Step::kWaiting);
  ASSERT_GT(aio_->queued() + aio_->in_flight(), 0u);
  engine_->CloseScan(scan);  // the owner goes away mid-scan
  EXPECT_EQ(engine_->scans_open(), 0u);
  const int ready = sink.ready;
  Pump();
  EXPECT_EQ(sink.ready, ready);  // nobody is called once closed
  // Everything went back: a new scan lists every key.
  EXPECT_EQ(ScanAll().size(), 2000u);
}

TEST_F(KeyScanTest, AtMostMaxScansAreOpen) {
  Sink sink;
  std::vector<KeyScan*> scans;
  for (size_t i = 0; i < Engine::kMaxScans; ++i) {
    scans.push_back(engine_->OpenScan({}, &sink));
    ASSERT_NE(scans.back(), nullptr);
  }
  EXPECT_EQ(engine_->OpenScan({}, &sink), nullptr);
  engine_->CloseScan(scans.back());
  EXPECT_NE(engine_->OpenScan({}, &sink), nullptr);
}

}  // namespace
}  // namespace ssdcache::storage
