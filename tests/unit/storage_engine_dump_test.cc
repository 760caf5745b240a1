// The engine's key listings (Engine::OpenScan, key_scan.h) with the small-object tier: after the
// slabs, the tier's items are listed once each, in the class their size would take, from its log
// and from its sets, never a deleted or older version; and a listing closed while the tier's reads
// are in flight is freed once they complete, calling nobody.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/key_scan.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

struct Listed {
  std::string key;
  ScanRecord rec;
  int times = 0;
};

class Sink final : public ScanSink, public ScanListener {
 public:
  bool Take(const ScanRecord& r) override {
    Listed& l = listed[std::string(r.key)];
    l.key = std::string(r.key);
    l.rec = r;
    l.rec.key = l.key;
    ++l.times;
    return true;
  }
  void OnScanReady() override { ++ready; }

  std::map<std::string, Listed> listed;
  int ready = 0;
};

class EngineDumpTest : public testing::EngineFixture {
 protected:
  EngineDumpTest() : EngineFixture("dump") {}

  static EngineOptions Options() { return TierEngineOptions(); }
  void SetUp() override { OpenWith(16 << 20, Options()); }
  void Clean() {
    std::string err;
    ASSERT_TRUE(CleanRestart(err, Options())) << err;
    Pump();
  }

  std::map<std::string, Listed> ScanAll(std::vector<bool> classes = {}) {
    Pump();
    Sink sink;
    KeyScan* scan = engine_->OpenScan(std::move(classes), &sink);
    EXPECT_NE(scan, nullptr);
    if (scan == nullptr) return {};
    bool done = false;
    for (int i = 0; i < 100000 && !done; ++i) {
      const KeyScan::Step step = scan->Pump(sink);
      done = step == KeyScan::Step::kDone;
      if (step == KeyScan::Step::kWaiting) Pump();
    }
    EXPECT_TRUE(done) << "the scan did not end";
    engine_->CloseScan(scan);
    EXPECT_EQ(engine_->scans_open(), 0u);
    return sink.listed;
  }
  // (A tier item's delete answers erased false: whether the tier held it is not known here.)
  void Delete(const std::string& key) {
    engine_->Erase(key, util::HashKey(key));
    Pump();
  }
  uint8_t ClassOf(const std::string& key, size_t nvalue) const {
    return static_cast<uint8_t>(engine_->classes().ClassFor(ItemSize(key.size(), nvalue)));
  }
  static std::string Small(int version) {
    return std::string(50, static_cast<char>('a' + version));
  }
  static std::string Large() { return std::string(1000, 'L'); }
};

TEST_F(EngineDumpTest, ListsTheTiersItemsFromItsSetsAndLogInTheirClasses) {
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(Set("s" + std::to_string(i), Small(0)), StoreResult::kStored);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(Set("L" + std::to_string(i), Large()), StoreResult::kStored);
  Delete("s5");                                         // in the log
  ASSERT_EQ(Set("s7", Large()), StoreResult::kStored);  // moved to a slab
  ASSERT_NO_FATAL_FAILURE(Clean());                     // the tier's items in its sets
  ASSERT_EQ(engine_->small_tier()->stats().log_items, 0u);
  ASSERT_EQ(Set("s8", Small(1)), StoreResult::kStored);  // newer in the log than its set
  Delete("s9");                                          // a tombstone over its set's
  ASSERT_EQ(Set("new", Small(2), 4000000000u), StoreResult::kStored);  // in the log alone
  ASSERT_TRUE(Get("new").hit);  // fetched: the mark in its log record
  ASSERT_TRUE(Get("s3").hit);   // fetched: read from its set (a settled copy in the log)
  const std::map<std::string, Listed> all = ScanAll();
  EXPECT_EQ(all.size(), 200u - 2 + 20 + 1);
  for (const auto& [key, l] : all) EXPECT_EQ(l.times, 1) << key;
  EXPECT_FALSE(all.contains("s5"));
  EXPECT_FALSE(all.contains("s9"));
  const Listed& s0 = all.at("s0");
  EXPECT_EQ(s0.rec.nvalue, 50u);
  EXPECT_EQ(s0.rec.size, ItemSize(2, 50));
  EXPECT_EQ(s0.rec.cls, ClassOf("s0", 50));
  EXPECT_EQ(s0.rec.exptime, 0u);
  EXPECT_EQ(all.at("s7").rec.nvalue, 1000u);
  EXPECT_EQ(all.at("s8").rec.cas, Get("s8").cas);
  EXPECT_EQ(all.at("new").rec.exptime, 4000000000u);
  EXPECT_TRUE(all.at("new").rec.fetched);
  EXPECT_TRUE(all.at("s3").rec.fetched);
  EXPECT_FALSE(s0.rec.fetched);
  // By class: the tier's items are in their size's class, the slabs' in theirs.
  std::vector<bool> small_class(engine_->classes().count(), false);
  small_class[ClassOf("s0", 50)] = true;
  const std::map<std::string, Listed> some = ScanAll(small_class);
  EXPECT_TRUE(some.contains("s100"));
  EXPECT_FALSE(some.contains("L1"));
  EXPECT_FALSE(some.contains("s7"));
  // A class too large for the tier's records: its sets are not even read.
  std::vector<bool> last_class(engine_->classes().count(), false);
  last_class.back() = true;
  const uint64_t reads = aio_->stats().reads;
  EXPECT_TRUE(ScanAll(last_class).empty());
  EXPECT_EQ(aio_->stats().reads, reads);
}

TEST_F(EngineDumpTest, AListingClosedWithTheTiersReadsInFlightCallsNobody) {
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(Set("s" + std::to_string(i), Small(0)), StoreResult::kStored);
  ASSERT_NO_FATAL_FAILURE(Clean());  // every item in a set: the walk reads them
  Pump();
  Sink sink;
  KeyScan* scan = engine_->OpenScan({}, &sink);
  ASSERT_NE(scan, nullptr);
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting; ++i) {
    // No slab holds an item: the first wait is for the tier's set reads.
    waiting = scan->Pump(sink) == KeyScan::Step::kWaiting && aio_->queued() > 0;
  }
  ASSERT_TRUE(waiting) << "the walk of the tier read nothing";
  const int ready = sink.ready;
  engine_->CloseScan(scan);
  EXPECT_EQ(engine_->scans_open(), 0u);
  Pump();  // the reads complete into the closed scan (its cursor), which calls nobody
  EXPECT_EQ(sink.ready, ready);
  EXPECT_EQ(ScanAll().size(), 300u);
}

// stats items / slabs / sizes and curr_items: the tier's items in the class their size takes, in
// its log ("hot") and then in its sets; exact but for a key its log and its set both hold.
TEST_F(EngineDumpTest, TheTiersItemsCountInTheClassTheirSizeTakes) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(Set("s" + std::to_string(i), Small(0)), StoreResult::kStored);
  }
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(Set("L" + std::to_string(i), Large()), StoreResult::kStored);
  Delete("s1");
  const uint8_t cls = ClassOf("s0", 50);
  const uint8_t cls2 = ClassOf("s2", 150);
  ASSERT_NE(cls, cls2);
  std::vector<uint64_t> sets, log;
  engine_->SmallClassItems(sets, log);
  ASSERT_EQ(log.size(), engine_->classes().count());
  EXPECT_EQ(log[cls], 99u);
  EXPECT_EQ(sets[cls], 0u);
  EXPECT_EQ(engine_->curr_items(), 109u);
  ASSERT_NO_FATAL_FAILURE(Clean());
  engine_->SmallClassItems(sets, log);
  EXPECT_EQ(sets[cls], 99u);
  EXPECT_EQ(log[cls], 0u);
  EXPECT_EQ(engine_->curr_items(), 109u);
  // A read keeps its fetched mark in its slot's hit bit: nothing enters the log.
  ASSERT_TRUE(Get("s0").hit);
  EXPECT_EQ(engine_->small_tier()->stats().log_items, 0u);
  EXPECT_EQ(engine_->curr_items(), 109u);
  // A key its set and its log both hold counts twice until its set's next write.
  ASSERT_EQ(Set("s2", std::string(150, 'x')), StoreResult::kStored);
  engine_->SmallClassItems(sets, log);
  EXPECT_EQ(log[cls2], 1u);
  EXPECT_EQ(engine_->curr_items(), 110u);
  ASSERT_NO_FATAL_FAILURE(Clean());
  engine_->SmallClassItems(sets, log);
  EXPECT_EQ(sets[cls], 98u);
  EXPECT_EQ(sets[cls2], 1u);
  EXPECT_EQ(engine_->curr_items(), 109u);
}

}  // namespace
}  // namespace ssdcache::storage
