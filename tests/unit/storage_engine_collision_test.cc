// Engine tests of index tag collisions: two keys whose hashes share the 16-bit tag and the bucket
// hold one index entry between them. An insert must tell an overwrite from a collision (by the key
// in DRAM, by a read on the device), and the loss of the other key's entry is an eviction that is
// counted (tag_collisions, evictions), never a silent one; an erase without a checked location
// never drops the other key's entry.
#include <gtest/gtest.h>

#include <string>
#include <unordered_map>
#include <utility>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;
using testing::Result;

constexpr uint64_t kMemory = 4 * kSlab;

class EngineCollisionTest : public testing::EngineFixture {
 protected:
  EngineCollisionTest() : EngineFixture("collision") {}
  void SetUp() override {
    Open(16 << 20, kMemory);
    std::tie(a_, b_) = CollidingKeys();
    ASSERT_FALSE(a_.empty());
  }

  bool Erase(const std::string& key) { return engine_->Erase(key, util::HashKey(key)).erased; }
  // Writes every memory slab out, then enough more that what was stored is read from the device.
  void OntoTheDevice() {
    for (int i = 0; i < 100 && engine_->ShutdownFlush(); ++i) Pump();
    Pump();
    EvictFromMemory();
  }
  bool Restart(std::string& err) { return CleanRestart(err, DefaultOptions(kMemory)); }

  std::string a_, b_;
};

TEST_F(EngineCollisionTest, InDramTheOtherKeysLossIsCountedAtOnce) {
  ASSERT_EQ(Set(a_, "value-a"), StoreResult::kStored);
  ASSERT_EQ(Set(b_, "value-b"), StoreResult::kStored);
  EXPECT_EQ(Get(b_).value, "value-b");
  EXPECT_FALSE(Get(a_).hit);
  EXPECT_EQ(engine_->stats().tag_collisions, 1u);
  EXPECT_EQ(engine_->stats().evictions, 1u);
  EXPECT_EQ(engine_->gauges().curr_items, 1u);
  EXPECT_EQ(engine_->stats().replace_checks, 0u) << "the key in DRAM decides, no read";
}

TEST_F(EngineCollisionTest, OnTheDeviceAReadTellsACollision) {
  ASSERT_EQ(Set(a_, "value-a"), StoreResult::kStored);
  OntoTheDevice();
  const uint64_t evictions = engine_->stats().evictions;
  ASSERT_EQ(Set(b_, "value-b"), StoreResult::kStored);
  Pump();
  EXPECT_EQ(engine_->stats().replace_checks, 1u);
  EXPECT_EQ(engine_->stats().tag_collisions, 1u);
  EXPECT_EQ(engine_->stats().evictions, evictions + 1);
  EXPECT_EQ(Get(b_).value, "value-b");
  EXPECT_FALSE(Get(a_).hit);
}

TEST_F(EngineCollisionTest, AnOverwriteOnTheDeviceIsNoCollision) {
  ASSERT_EQ(Set(a_, "value-a1"), StoreResult::kStored);
  OntoTheDevice();
  const uint64_t evictions = engine_->stats().evictions;
  ASSERT_EQ(Set(a_, "value-a2"), StoreResult::kStored);
  Pump();
  EXPECT_EQ(engine_->stats().replace_checks, 1u);
  EXPECT_EQ(engine_->stats().tag_collisions, 0u);
  EXPECT_EQ(engine_->stats().evictions, evictions);
  EXPECT_EQ(Get(a_).value, "value-a2");
}

TEST_F(EngineCollisionTest, AnEraseWithoutLocationKeepsTheOtherKeysEntry) {
  ASSERT_EQ(Set(a_, "value-a"), StoreResult::kStored);
  EXPECT_FALSE(Erase(b_)) << "b has no entry: the one there is a's";
  EXPECT_EQ(Get(a_).value, "value-a");
  EXPECT_EQ(engine_->stats().tag_collisions, 0u);
  // On the device the erase cannot tell at once: the entry goes, and the read counts the loss.
  OntoTheDevice();
  const uint64_t evictions = engine_->stats().evictions;
  Erase(b_);
  Pump();
  EXPECT_EQ(engine_->stats().tag_collisions, 1u);
  EXPECT_EQ(engine_->stats().evictions, evictions + 1);
}

TEST_F(EngineCollisionTest, ARestartKeepsTheNewerKeyAndCountsTheOther) {
  ASSERT_EQ(Set(a_, "value-a"), StoreResult::kStored);
  OntoTheDevice();
  ASSERT_EQ(Set(b_, "value-b"), StoreResult::kStored);  // a's record stays on the device
  std::string err;
  ASSERT_TRUE(Restart(err)) << err;
  EXPECT_EQ(Get(b_).value, "value-b");
  EXPECT_FALSE(Get(a_).hit);
  EXPECT_EQ(engine_->stats().tag_collisions, 1u);
}

class EngineCollisionJournalTest : public EngineCollisionTest {
 protected:
  static constexpr uint32_t kJournalBlocks = 16;
  static EngineOptions Options() {
    EngineOptions o = DefaultOptions(kMemory);
    o.journal_size = kJournalBlocks * kJournalBlockSize;
    o.journal_sync = JournalSync::kProcess;
    o.boot_id = 0x600d;
    return o;
  }
  void SetUp() override {
    OpenWith(16 << 20, Options());
    std::tie(a_, b_) = CollidingKeys();
    ASSERT_FALSE(a_.empty());
  }
};

TEST_F(EngineCollisionJournalTest, WhileACheckIsPendingTheLosingKeysNewVersionIsJournaled) {
  ASSERT_EQ(Set(a_, "a1"), StoreResult::kStored);
  OntoTheDevice();
  // b takes a's entry while a's record is on the device: a read will tell, but not yet.
  ASSERT_EQ(Set(b_, "b1"), StoreResult::kStored);
  // a again: it meets b's entry in DRAM (a collision, b's loss is counted). a's old record is on
  // the device with no entry, so this version must be journaled before it is acknowledged.
  const uint64_t entries = engine_->journal()->stats().entries;
  ASSERT_EQ(Set(a_, "a2"), StoreResult::kStored);
  EXPECT_GT(engine_->journal()->stats().entries, entries);
  // SIGKILL: a2 was only in DRAM. a1 must not come back.
  Pump();
  std::string err;
  ASSERT_TRUE(Reopen(err, Options())) << err;
  Result r = Get(a_);
  EXPECT_TRUE(!r.hit || r.value == "a2") << "a1 came back";
}

// The loser of a collision in DRAM is voided there; if that record had superseded an older one
// on the device (through a journal entry that a checkpoint frees later), a tombstone must keep the
// older one superseded, or it comes back after a crash once the ring has lapped.
TEST_F(EngineCollisionJournalTest, AVoidedLosersOlderRecordStaysSuperseded) {
  ASSERT_EQ(Set(b_, "b1"), StoreResult::kStored);
  OntoTheDevice();
  ASSERT_EQ(Set(b_, "b2"), StoreResult::kStored);  // journaled: b1 is on the device
  ASSERT_EQ(Set(a_, "a1"), StoreResult::kStored);  // meets b2 in DRAM: b2 is voided, counted
  ASSERT_EQ(engine_->stats().tag_collisions, 1u);
  ASSERT_FALSE(Get(b_).hit);
  // Journaled overwrites of device-resident keys until the ring has lapped a few times.
  const uint64_t lap = uint64_t{kJournalBlocks} * kJournalEntriesPerBlock;
  for (int i = 0; engine_->journal()->stats().entries < 4 * lap && i < 200000; ++i) {
    const std::string k = "k" + std::to_string(i % 2000);
    ASSERT_EQ(Set(k, ValueFor(k, i, 100)), StoreResult::kStored);
    if (i % 16 == 0) {
      engine_->CommitJournal();
      Pump();
    }
  }
  engine_->CommitJournal();
  Pump();
  ASSERT_GE(engine_->journal()->stats().entries, 4 * lap);
  ASSERT_GT(engine_->stats().journal_checkpoints, 2u);
  ASSERT_EQ(Set(a_, "a2"), StoreResult::kStored);  // a1 is on the device: journaled
  engine_->CommitJournal();
  Pump();
  std::string err;
  ASSERT_TRUE(Reopen(err, Options())) << err;  // SIGKILL
  Result rb = Get(b_);
  EXPECT_FALSE(rb.hit && rb.value == "b1") << "b1 came back, older than the acknowledged b2";
  Result ra = Get(a_);
  EXPECT_TRUE(!ra.hit || ra.value == "a2");
}

}  // namespace
}  // namespace ssdcache::storage
