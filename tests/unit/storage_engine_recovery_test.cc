// Engine recovery tests against corruption: what the warm restart trusts must be verifiable. A
// journal entry in an in-place (process-mode) block is covered by no checksum, so its wseq is
// checked against the write-sequence ceiling the superblock reserved before it was handed out.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/journal.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr uint32_t kJournalBlocks = 64;
constexpr int kKeys = 200;

class EngineRecoveryTest : public testing::EngineFixture {
 protected:
  EngineRecoveryTest() : EngineFixture("recovery") {}

  EngineOptions Options() const {
    EngineOptions o = DefaultOptions(8 * kSlab);
    o.journal_size = uint64_t{kJournalBlocks} * kJournalBlockSize;
    o.journal_sync = JournalSync::kProcess;
    o.boot_id = 0x600d;
    return o;
  }
  void SetUp() override { OpenWith(16 << 20, Options()); }

  // Seals every memory slab and waits for the writes.
  void WriteOut() {
    for (int i = 0; i < 10 && engine_->ShutdownFlush(); ++i) Pump();
    Pump();
  }
  // SIGKILL (what only DRAM held is gone), then a warm restart.
  void CrashAndRecover() {
    Pump();
    std::string err;
    ASSERT_TRUE(Reopen(err, Options())) << err;
    Pump();
  }
  void SetAll(int version) {
    for (int i = 0; i < kKeys; ++i) {
      const std::string k = "k" + std::to_string(i);
      ASSERT_EQ(Set(k, ValueFor(k, version, 100)), StoreResult::kStored);
    }
  }
  // Every key is a miss or at `version`, and at least one is a hit.
  void ExpectNoneOlderThan(int version) {
    int hits = 0;
    for (int i = 0; i < kKeys; ++i) {
      const std::string k = "k" + std::to_string(i);
      testing::Result r = Get(k);
      if (!r.hit) continue;
      ++hits;
      EXPECT_EQ(r.value, ValueFor(k, version, 100)) << k << " came back older";
    }
    EXPECT_GT(hits, 0);
  }

  // With the engine stopped (its mapping gone), stores a garbage entry (hash, wseq) behind the
  // last entry of an open in-place block of the ring, as a corrupt device or a stray write could.
  void InjectInPlaceEntry(uint64_t hash, uint64_t wseq) {
    const uint64_t ring = device_->offset() + device_->block_size();
    util::AlignedBuffer block(kJournalBlockSize, kJournalBlockSize);
    for (uint32_t slot = 0; slot < kJournalBlocks; ++slot) {
      const uint64_t at = ring + uint64_t{slot} * kJournalBlockSize;
      ASSERT_EQ(aio_->ReadSync(block.data(), kJournalBlockSize, at),
                static_cast<int64_t>(kJournalBlockSize));
      JournalBlockHeader h;
      std::memcpy(&h, block.data(), sizeof(h));
      std::vector<JournalEntry> entries;
      uint64_t seq = 0;
      if (h.flags != kJournalInPlace || !DecodeJournalBlock(block.data(), h.epoch, seq, entries) ||
          entries.size() >= kJournalEntriesPerBlock) {
        continue;
      }
      StoreInPlaceEntry(block.data(), static_cast<uint32_t>(entries.size()), hash, wseq);
      ASSERT_EQ(aio_->WriteSync(block.data(), kJournalBlockSize, at),
                static_cast<int64_t>(kJournalBlockSize));
      return;
    }
    FAIL() << "no open in-place journal block found";
  }
};

TEST_F(EngineRecoveryTest, AGarbageJournalEntryDoesNotRewindTheWriteSequence) {
  SetAll(1);
  WriteOut();
  SetAll(2);  // supersedes version 1 on the device: journaled in place
  WriteOut();
  const uint64_t cas_before = engine_->next_cas();
  Pump();
  engine_.reset();
  InjectInPlaceEntry(0x1234, std::numeric_limits<uint64_t>::max());
  std::string err;
  ASSERT_TRUE(Reopen(err, Options())) << err;
  EXPECT_EQ(engine_->recovery().journal_rejected, 1u);
  EXPECT_GT(engine_->next_cas(), cas_before) << "the write sequence went back";
  ExpectNoneOlderThan(2);
  // New versions must win over the old ones at every later restart.
  SetAll(3);
  WriteOut();
  CrashAndRecover();
  ExpectNoneOlderThan(3);
  SetAll(4);
  WriteOut();
  CrashAndRecover();
  ExpectNoneOlderThan(4);
}

TEST_F(EngineRecoveryTest, EntriesBelowTheCeilingStillSupersede) {
  SetAll(1);
  WriteOut();
  SetAll(2);  // only in DRAM, journaled
  CrashAndRecover();
  EXPECT_EQ(engine_->recovery().journal_rejected, 0u);
  EXPECT_GE(engine_->recovery().superseded, uint64_t{kKeys});
  for (int i = 0; i < kKeys; ++i) EXPECT_FALSE(Get("k" + std::to_string(i)).hit);
}

TEST_F(EngineRecoveryTest, OnlyTheJournaledKeysAreSuperseded) {
  // The scan looks every record's key up in the journal (a filter, then a directory of the
  // sorted entries): a key with an entry loses its older records, a key without one keeps them.
  SetAll(1);
  WriteOut();
  for (int i = 0; i < kKeys; i += 2) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(Set(k, ValueFor(k, 2, 100)), StoreResult::kStored);  // only in DRAM, journaled
  }
  CrashAndRecover();
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = "k" + std::to_string(i);
    testing::Result r = Get(k);
    EXPECT_EQ(r.hit, i % 2 == 1) << k;
    if (r.hit) {
      EXPECT_EQ(r.value, ValueFor(k, 1, 100)) << k;
    }
  }
}

// Crashes through the memory backend (what a simulator will do): the process-mode journal lives in
// the page cache, which a process crash keeps; a power cut loses it, and the boot id is what
// stops the engine from trusting a journal that lost entries.
TEST_F(EngineRecoveryTest, ABackendCrashKeepsTheJournalMappingAndAPowerCutLosesIt) {
  if (memory_ == nullptr) GTEST_SKIP() << "needs the memory backend";
  SetAll(1);
  WriteOut();
  SetAll(2);  // only in DRAM, journaled in the mapping
  std::string err;
  ASSERT_TRUE(CrashAndReopen({}, err, Options())) << err;
  EXPECT_GE(engine_->recovery().superseded, uint64_t{kKeys});
  for (int i = 0; i < kKeys; ++i) EXPECT_FALSE(Get("k" + std::to_string(i)).hit);

  // The same again, but the page cache is lost and the engine (wrongly) believes it is the same
  // boot: version 1 comes back. The hook is what lets a simulator find such a defect.
  SetAll(3);
  WriteOut();
  SetAll(4);
  CrashOptions cut;
  cut.lose_mappings = true;
  ASSERT_TRUE(CrashAndReopen(cut, err, Options())) << err;
  int old = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = "k" + std::to_string(i);
    testing::Result r = Get(k);
    old += r.hit && r.value == ValueFor(k, 3, 100) ? 1 : 0;
  }
  EXPECT_GT(old, 0);

  // With the boot id of the new boot, the unclean process-mode run is not trusted: empty.
  SetAll(5);
  WriteOut();
  SetAll(6);
  EngineOptions rebooted = Options();
  rebooted.boot_id = 0xb007;
  ASSERT_TRUE(CrashAndReopen(cut, err, rebooted)) << err;
  for (int i = 0; i < kKeys; ++i) EXPECT_FALSE(Get("k" + std::to_string(i)).hit);
}

}  // namespace
}  // namespace ssdcache::storage
