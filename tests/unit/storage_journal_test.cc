// The crash journal: block encoding and validation, the ring (several blocks in flight, completing
// in any order, no slot reused before it is reclaimed or while written, wrap-around, reload, a
// hole in the ring), and the engine's use of it: an overwrite or
// delete of a device-resident key is journaled and survives a crash (a reopen without
// ShutdownFlush), a DRAM-only overwrite is not journaled, superseded DRAM records never reach the
// device, checkpoints free the ring, a failed journal write undoes the change, and a later
// block's replies are released before an earlier block completes.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/engine.h"
#include "storage/fault_backend.h"
#include "storage/journal.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr uint64_t kEpoch = 0x1234567890abcdefULL;

std::vector<JournalEntry> Entries(size_t n, uint64_t base) {
  std::vector<JournalEntry> out;
  for (size_t i = 0; i < n; ++i) out.push_back({base + i * 0x9E3779B97F4A7C15ULL, base + i});
  return out;
}

TEST(JournalBlockTest, EncodeDecodeRoundTrip) {
  util::AlignedBuffer block(kJournalBlockSize, 4096);
  for (size_t n : {size_t{0}, size_t{1}, size_t{kJournalEntriesPerBlock}}) {
    std::vector<JournalEntry> in = Entries(n, 77);
    EncodeJournalBlock(block.data(), kEpoch, 42, in);
    std::vector<JournalEntry> out;
    uint64_t seq = 0;
    ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out)) << n;
    EXPECT_EQ(seq, 42u);
    ASSERT_EQ(out.size(), n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(out[i].hash, in[i].hash);
      EXPECT_EQ(out[i].wseq, in[i].wseq);
    }
  }
  EXPECT_EQ(kJournalEntriesPerBlock, 254u);
}

TEST(JournalBlockTest, CorruptForeignOrBlankBlocksAreRejected) {
  util::AlignedBuffer block(kJournalBlockSize, 4096);
  std::vector<JournalEntry> in = Entries(10, 5);
  std::vector<JournalEntry> out;
  uint64_t seq = 0;
  // Any flipped byte, in the header, the entries or the zero tail, fails the CRC.
  for (size_t at : {size_t{0}, size_t{9}, size_t{24}, size_t{40}, size_t{100}, size_t{4095}}) {
    EncodeJournalBlock(block.data(), kEpoch, 3, in);
    block.data()[at] ^= 0x10;
    EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch, seq, out)) << "byte " << at;
  }
  EncodeJournalBlock(block.data(), kEpoch, 3, in);
  EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch + 1, seq, out)) << "another format";
  std::memset(block.data(), 0, kJournalBlockSize);
  EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch, seq, out)) << "never written";
  EXPECT_TRUE(out.empty());
}

// An in-place block (process mode) read back at any moment of its filling: the header's CRC covers
// the header only, and the entries end at the first zero wseq.
TEST(JournalBlockTest, InPlaceBlockHoldsTheEntriesUpToTheFirstZeroWseq) {
  util::AlignedBuffer block(kJournalBlockSize, 4096);
  std::memset(block.data(), 0xAB, kJournalBlockSize);  // whatever the slot held before
  OpenInPlaceBlock(block.data(), kEpoch, 9);
  std::vector<JournalEntry> out;
  uint64_t seq = 0;
  ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out)) << "an open, empty block";
  EXPECT_EQ(seq, 9u);
  EXPECT_TRUE(out.empty());
  std::vector<JournalEntry> in = Entries(kJournalEntriesPerBlock, 1);
  for (uint32_t i = 0; i < 3; ++i) StoreInPlaceEntry(block.data(), i, in[i].hash, in[i].wseq);
  ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].hash, in[2].hash);
  EXPECT_EQ(out[2].wseq, in[2].wseq);
  // Killed between the hash and the wseq store of entry 3: the block ends before it.
  std::memcpy(block.data() + sizeof(JournalBlockHeader) + 3 * sizeof(JournalEntry), &in[3].hash,
              sizeof(uint64_t));
  out.clear();
  ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out));
  EXPECT_EQ(out.size(), 3u) << "a torn entry (hash, no wseq) ends the block";
  for (uint32_t i = 3; i < kJournalEntriesPerBlock; ++i)
    StoreInPlaceEntry(block.data(), i, in[i].hash, in[i].wseq);
  out.clear();
  ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out));
  ASSERT_EQ(out.size(), size_t{kJournalEntriesPerBlock});
  EXPECT_EQ(out.back().wseq, in.back().wseq);
  // The header is checked: a flipped byte, another epoch, a count or unknown flags fail.
  for (size_t at : {size_t{0}, size_t{9}, size_t{17}, size_t{28}}) {
    block.data()[at] ^= 0x10;
    EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch, seq, out)) << "byte " << at;
    block.data()[at] ^= 0x10;
  }
  EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch + 1, seq, out));
  JournalBlockHeader h;
  std::memcpy(&h, block.data(), sizeof(h));
  for (auto [count, flags] : {std::pair<uint32_t, uint32_t>{1, kJournalInPlace}, {0, 3}}) {
    JournalBlockHeader bad = h;
    bad.count = count;
    bad.flags = flags;
    bad.crc = 0;
    bad.crc = util::Crc32c(&bad, sizeof(bad));
    std::memcpy(block.data(), &bad, sizeof(bad));
    EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch, seq, out)) << count << " " << flags;
  }
}

// A slot reused by a later lap: until the new header is written the slot reads as its old block
// (with a subset of its entries, all still true), then as the new block with only its own.
TEST(JournalBlockTest, AReusedInPlaceSlotNeverMixesLaps) {
  util::AlignedBuffer block(kJournalBlockSize, 4096);
  std::vector<JournalEntry> old_lap = Entries(10, 1000);
  OpenInPlaceBlock(block.data(), kEpoch, 3);
  for (uint32_t i = 0; i < 10; ++i)
    StoreInPlaceEntry(block.data(), i, old_lap[i].hash, old_lap[i].wseq);
  // Killed after OpenInPlaceBlock zeroed the first entries but before it wrote the header.
  std::memset(block.data() + sizeof(JournalBlockHeader), 0, 4 * sizeof(JournalEntry));
  std::vector<JournalEntry> out;
  uint64_t seq = 0;
  ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out));
  EXPECT_EQ(seq, 3u);
  EXPECT_TRUE(out.empty()) << "the old block, ending at its first zeroed entry";
  OpenInPlaceBlock(block.data(), kEpoch, 3 + 16);
  StoreInPlaceEntry(block.data(), 0, 77, 77);
  out.clear();
  ASSERT_TRUE(DecodeJournalBlock(block.data(), kEpoch, seq, out));
  EXPECT_EQ(seq, 19u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].wseq, 77u);
  // A device-mode block in the slot is invalid as soon as its entries are zeroed (its CRC covers
  // them): it was reclaimed, so losing it is fine.
  EncodeJournalBlock(block.data(), kEpoch, 4, old_lap);
  std::memset(block.data() + sizeof(JournalBlockHeader), 0, sizeof(JournalEntry));
  EXPECT_FALSE(DecodeJournalBlock(block.data(), kEpoch, seq, out));
}

// Engine fixtures with fault injection for journal writes.
class JournalFixture : public testing::EngineFixture {
 protected:
  JournalFixture() : EngineFixture("journal") {}
  void Faults(const std::string& spec) {
    std::string error;
    auto f = spec.empty() ? nullptr : FaultInjector::Create(spec, error);
    ASSERT_TRUE(spec.empty() || f != nullptr) << error;
    faults_->set_injector(std::move(f));
  }
  // A fault spec under which the first journal write is held back (stall_ms) and the second is
  // not: decisions depend only on the seed and the sequence of completions, so probing a copy
  // finds one. It makes a later block complete before an earlier one, deterministically.
  static std::string StallFirstJournalWriteOnly() {
    for (uint64_t seed = 1; seed < 1000; ++seed) {
      std::string spec = "stall=0.5,stall_ms=1000,seed=" + std::to_string(seed);
      std::string error;
      auto probe = FaultInjector::Create(spec, error);
      if (probe == nullptr) return "";
      bool first = probe->Decide(true, kJournalBlockSize, kJournalBlockSize, true).stall;
      bool second = probe->Decide(true, kJournalBlockSize, kJournalBlockSize, true).stall;
      if (first && !second) return spec;
    }
    return "";
  }
  // Submits and reaps (waiting on the eventfd) until `done` holds, at most ~10 s.
  template <typename Pred>
  void ReapUntil(Pred done) {
    for (int i = 0; i < 100 && !done(); ++i) {
      aio_->Submit();
      pollfd p{aio_->event_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      aio_->Reap();
    }
    ASSERT_TRUE(done());
  }
  uint64_t StalledOps() const { return faults_->injector()->stats().stalled; }
  // Overwrites one block of the device with zeros (a torn or never completed write).
  void ZeroBlock(uint64_t offset) {
    util::AlignedBuffer zeros(kJournalBlockSize, 4096);
    std::memset(zeros.data(), 0, kJournalBlockSize);
    ASSERT_EQ(aio_->WriteSync(zeros.data(), kJournalBlockSize, offset),
              static_cast<int64_t>(kJournalBlockSize));
  }
};

class RecordingListener : public JournalListener {
 public:
  struct Call {
    uint64_t first;
    uint64_t last;
    bool ok;
    bool operator==(const Call&) const = default;
  };
  void OnJournalCommitted(uint64_t first_ticket, uint64_t last_ticket, bool ok) override {
    calls.push_back({first_ticket, last_ticket, ok});
  }
  std::vector<Call> calls;
};

class JournalRingTest : public JournalFixture {
 protected:
  static constexpr uint32_t kBlocks = 16;
  // Far behind anything the (idle) engine of the fixture writes.
  uint64_t RingOffset() const { return device_->offset() + (4 << 20); }
  void SetUp() override {
    Open(8 << 20, 4 * kSlab);
    std::string err;
    journal_ = Journal::Create(*device_, *aio_, RingOffset(), kBlocks, sync_, &listener_, err);
    ASSERT_TRUE(journal_) << err;
    journal_->Reset(kEpoch);
  }
  void TearDown() override {
    journal_.reset();
    JournalFixture::TearDown();
  }
  // Appends `n` entries, commits them as one block and waits for it.
  void CommitBlock(size_t n, uint64_t base) {
    for (const JournalEntry& e : Entries(n, base)) journal_->Append(e.hash, e.wseq);
    journal_->Commit();
    Pump();
  }
  // `full`: the ring was written all round, so every slot is in use until reclaimed.
  std::vector<JournalEntry> Reload(uint64_t& next_block, bool full = true) {
    std::string err;
    std::unique_ptr<Journal> again = Journal::Create(*device_, *aio_, RingOffset(), kBlocks,
                                                     JournalSync::kDevice, &listener_, err);
    EXPECT_TRUE(again) << err;
    if (!again) return {};
    std::vector<JournalEntry> out;
    EXPECT_TRUE(again->Load(kEpoch, out, err)) << err;
    next_block = again->next_block();
    if (full) {
      EXPECT_FALSE(again->HasRoom()) << "a reloaded ring is all in use until reclaimed";
    }
    return out;
  }

  JournalSync sync_ = JournalSync::kDevice;
  RecordingListener listener_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalRingTest, OneTurnsEntriesGoOutAsOneBlockWhileEarlierBlocksAreInFlight) {
  uint64_t t1 = journal_->Append(11, 1);
  uint64_t t2 = journal_->Append(22, 2);
  EXPECT_EQ(t1, 1u);
  EXPECT_EQ(t2, 2u);
  EXPECT_TRUE(journal_->Uncommitted(11));
  EXPECT_FALSE(journal_->Uncommitted(33));
  journal_->Commit();
  EXPECT_TRUE(journal_->Uncommitted(22)) << "in flight is not committed";
  uint64_t t3 = journal_->Append(33, 3);
  journal_->Commit();  // goes out at once, beside the first block
  EXPECT_EQ(journal_->in_flight(), 2u);
  Pump();
  ASSERT_EQ(listener_.calls.size(), 2u);
  // Two blocks: tickets 1-2 and 3, each reported once (here the kernel kept their order).
  std::map<uint64_t, RecordingListener::Call> by_first;
  for (const auto& c : listener_.calls) by_first[c.first] = c;
  EXPECT_EQ(by_first[t1], (RecordingListener::Call{t1, t2, true}));
  EXPECT_EQ(by_first[t3], (RecordingListener::Call{t3, t3, true}));
  EXPECT_FALSE(journal_->Uncommitted(11));
  EXPECT_FALSE(journal_->Uncommitted(33));
  EXPECT_EQ(journal_->stats().writes, 2u);
  EXPECT_EQ(journal_->stats().entries, 3u);
  EXPECT_EQ(journal_->stats().in_flight_max, 2u);
  EXPECT_TRUE(journal_->idle());
}

TEST_F(JournalRingTest, UncommittedTracksManyAndCollidingHashes) {
  // Hashes that all share one home slot of the count table (long probe runs, shifted on every
  // removal), hash 0, and a key journaled twice: each stays uncommitted until its last entry is
  // written.
  std::vector<uint64_t> hashes{0};
  for (uint64_t k = 1; k <= 3 * kJournalEntriesPerBlock; ++k) hashes.push_back(k << 13);
  for (uint64_t h : hashes) journal_->Append(h, 1);
  journal_->Append(hashes[5], 2);
  for (uint64_t h : hashes) ASSERT_TRUE(journal_->Uncommitted(h)) << h;
  EXPECT_FALSE(journal_->Uncommitted(7));
  for (int i = 0; i < 10 && !journal_->idle(); ++i) {
    journal_->Commit();
    Pump();
  }
  ASSERT_TRUE(journal_->idle());
  for (uint64_t h : hashes) EXPECT_FALSE(journal_->Uncommitted(h)) << h;
  // More distinct keys than the table starts with: it grows.
  for (uint64_t k = 1; k <= 6000; ++k) journal_->Append(k * 0x9E3779B97F4A7C15ULL, k);
  for (uint64_t k = 1; k <= 6000; ++k)
    ASSERT_TRUE(journal_->Uncommitted(k * 0x9E3779B97F4A7C15ULL));
  EXPECT_FALSE(journal_->Uncommitted(hashes[5]));
}

TEST_F(JournalRingTest, AtMostMaxInFlightBlocksAreWrittenAtOnce) {
  for (uint32_t b = 0; b < kJournalMaxInFlight + 2; ++b) {
    journal_->Append(100 + b, 100 + b);
    journal_->Commit();  // one block per turn, never pumped
  }
  EXPECT_EQ(journal_->in_flight(), kJournalMaxInFlight);
  EXPECT_EQ(journal_->next_block(), 1u + kJournalMaxInFlight);
  EXPECT_TRUE(journal_->Uncommitted(100 + kJournalMaxInFlight + 1)) << "waits for a flight slot";
  Pump();
  EXPECT_EQ(listener_.calls.size(), kJournalMaxInFlight);
  journal_->Commit();
  Pump();
  ASSERT_EQ(listener_.calls.size(), kJournalMaxInFlight + 1);
  EXPECT_EQ(listener_.calls.back(),
            (RecordingListener::Call{kJournalMaxInFlight + 1, kJournalMaxInFlight + 2, true}))
      << "both waiting entries share the next block";
  EXPECT_TRUE(journal_->idle());
}

TEST_F(JournalRingTest, ALaterBlockCompletesBeforeAnEarlierOne) {
  std::string spec = StallFirstJournalWriteOnly();
  ASSERT_FALSE(spec.empty());
  Faults(spec);
  uint64_t t1 = journal_->Append(1, 1);
  journal_->Commit();
  ReapUntil([&] { return StalledOps() == 1; });  // block 1 is written but held back
  uint64_t t2 = journal_->Append(2, 2);
  journal_->Commit();
  ReapUntil([&] { return !listener_.calls.empty(); });
  ASSERT_EQ(listener_.calls.size(), 1u);
  EXPECT_EQ(listener_.calls[0], (RecordingListener::Call{t2, t2, true}))
      << "block 2's tickets complete without waiting for block 1";
  EXPECT_TRUE(journal_->Uncommitted(1));
  EXPECT_FALSE(journal_->Uncommitted(2));
  // Block 1 is still being written: its slot is not reclaimable yet.
  journal_->Reclaim(journal_->next_block());
  EXPECT_EQ(journal_->reclaimed_before(), 1u);
  Pump();
  ASSERT_EQ(listener_.calls.size(), 2u);
  EXPECT_EQ(listener_.calls[1], (RecordingListener::Call{t1, t1, true}));
  EXPECT_EQ(journal_->reclaimed_before(), 3u);
  EXPECT_TRUE(journal_->idle());
  Faults("");
}

TEST_F(JournalRingTest, AHoleInTheRingDoesNotHideTheBlocksAfterIt) {
  CommitBlock(2, 1000);
  CommitBlock(2, 2000);
  CommitBlock(2, 3000);
  CommitBlock(2, 4000);
  // Block 2 torn by a crash while blocks 3 and 4, written at the same time, completed.
  ZeroBlock(RingOffset() + 2 * kJournalBlockSize);
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next, /*full=*/false);
  EXPECT_EQ(next, 5u) << "writing continues after the newest block, not after the hole";
  std::map<uint64_t, int> blocks_seen;
  for (const JournalEntry& e : back) ++blocks_seen[e.wseq / 1000];
  EXPECT_EQ(blocks_seen, (std::map<uint64_t, int>{{1, 2}, {3, 2}, {4, 2}}));
}

TEST_F(JournalRingTest, ASlotIsNotReusedBeforeItIsReclaimed) {
  for (uint32_t b = 0; b < kBlocks; ++b) CommitBlock(3, 1000 * (b + 1));
  EXPECT_EQ(journal_->used_blocks(), kBlocks);
  EXPECT_FALSE(journal_->HasRoom());
  journal_->Append(7, 7);
  journal_->Commit();
  Pump();
  EXPECT_EQ(listener_.calls.size(), kBlocks) << "the ring is full: the entry waits";
  EXPECT_EQ(journal_->stats().full_waits, 1u);
  EXPECT_TRUE(journal_->Uncommitted(7));
  // Reclaiming the oldest 4 blocks makes room; the waiting entry goes out into slot 1's place.
  journal_->Reclaim(5);
  journal_->Commit();
  Pump();
  ASSERT_EQ(listener_.calls.size(), kBlocks + 1);
  EXPECT_TRUE(listener_.calls.back().ok);
  EXPECT_FALSE(journal_->Uncommitted(7));
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next);
  EXPECT_EQ(next, kBlocks + 2);
  // Block 1 was overwritten by block 17; the other 15 blocks are still there.
  EXPECT_EQ(back.size(), 15u * 3 + 1);
}

TEST_F(JournalRingTest, WrapsAroundAndReloadsTheNewestLap) {
  for (uint32_t b = 0; b < 3 * kBlocks + 5; ++b) {
    journal_->Reclaim(journal_->next_block());  // every older entry is covered
    CommitBlock(2, 100000 * (b + 1));
  }
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next);
  EXPECT_EQ(next, 3 * kBlocks + 6);
  ASSERT_EQ(back.size(), size_t{kBlocks} * 2);
  std::map<uint64_t, int> blocks_seen;
  for (const JournalEntry& e : back) ++blocks_seen[e.wseq / 100000];
  // The last kBlocks blocks written are the ones found.
  EXPECT_EQ(blocks_seen.begin()->first, 3u * kBlocks + 5 - kBlocks + 1);
  EXPECT_EQ(blocks_seen.rbegin()->first, 3u * kBlocks + 5);
}

TEST_F(JournalRingTest, AFailedWriteIsReportedAndTheNextBlockStillGoesOut) {
  Faults("journal_eio=1");
  uint64_t t = journal_->Append(1, 1);
  journal_->Commit();
  Pump();
  ASSERT_EQ(listener_.calls.size(), 1u);
  EXPECT_EQ(listener_.calls[0], (RecordingListener::Call{t, t, false}));
  EXPECT_EQ(journal_->stats().errors, 1u);
  Faults("");
  t = journal_->Append(2, 2);
  journal_->Commit();
  Pump();
  ASSERT_EQ(listener_.calls.size(), 2u);
  EXPECT_EQ(listener_.calls[1], (RecordingListener::Call{t, t, true}));
}

// Process mode: entries are stored into the mapped ring and committed at once.
class JournalProcessTest : public JournalRingTest {
 protected:
  JournalProcessTest() { sync_ = JournalSync::kProcess; }
  // Fills every slot of the ring with in-place entries (no ticket), returning the last wseq used.
  uint64_t FillRing(uint64_t base) {
    uint64_t wseq = base;
    for (uint64_t i = 0; i < uint64_t{kBlocks} * kJournalEntriesPerBlock; ++i, ++wseq) {
      EXPECT_EQ(journal_->Append(wseq * 0x9E3779B97F4A7C15ULL, wseq), 0u);
    }
    return wseq;
  }
};

TEST_F(JournalProcessTest, AnEntryIsCommittedWhenStoredAndSurvivesTheProcess) {
  EXPECT_EQ(journal_->Append(11, 1), 0u) << "no ticket: nothing waits";
  EXPECT_EQ(journal_->Append(22, 2), 0u);
  EXPECT_FALSE(journal_->Uncommitted(11));
  EXPECT_TRUE(journal_->idle());
  EXPECT_EQ(journal_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 0u) << "no device write";
  EXPECT_EQ(journal_->next_block(), 2u) << "block 1 is open";
  EXPECT_EQ(journal_->used_blocks(), 1u);
  journal_->Commit();
  EXPECT_TRUE(listener_.calls.empty());
  EXPECT_EQ(journal_->stats().writes, 1u);
  EXPECT_EQ(journal_->stats().entries, 2u);
  EXPECT_EQ(journal_->stats().in_flight_max, 0u);
  // What a restarted process reads: the mapping is gone (a kill would not msync it), the page
  // cache is not, and Load's direct read sees it.
  journal_.reset();
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next, /*full=*/false);
  EXPECT_EQ(next, 2u);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].hash, 22u);
  EXPECT_EQ(back[1].wseq, 2u);
}

TEST_F(JournalProcessTest, AFullBlockOpensTheNextAndCutBlockClosesTheOpenOne) {
  for (uint32_t i = 1; i <= kJournalEntriesPerBlock; ++i) journal_->Append(i, i);
  EXPECT_EQ(journal_->next_block(), 2u);
  journal_->Append(1000, 1000);
  EXPECT_EQ(journal_->next_block(), 3u) << "block 1 was full";
  EXPECT_EQ(journal_->stats().writes, 2u);
  // A checkpoint: block 2 is closed, so the next entry lands in a block >= the one it notes.
  const uint64_t cut = journal_->CutBlock();
  EXPECT_EQ(cut, 3u);
  journal_->Append(1001, 1001);
  EXPECT_EQ(journal_->next_block(), 4u);
  journal_->Append(1002, 1002);
  EXPECT_EQ(journal_->next_block(), 4u) << "block 3 stays open";
  journal_->Reclaim(cut);
  EXPECT_EQ(journal_->used_blocks(), 1u);
  journal_.reset();
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next, /*full=*/false);
  EXPECT_EQ(next, 4u);
  EXPECT_EQ(back.size(), kJournalEntriesPerBlock + 3u);
}

TEST_F(JournalProcessTest, WithoutRoomEntriesQueueWithTicketsUntilCommitFindsASlot) {
  const uint64_t wseq = FillRing(1);
  EXPECT_FALSE(journal_->HasRoom());
  const uint64_t t1 = journal_->Append(0xAAAA, wseq);
  const uint64_t t2 = journal_->Append(0xBBBB, wseq + 1);
  EXPECT_EQ(t1, 1u) << "the ring is full: the entry waits, with a ticket";
  EXPECT_EQ(t2, 2u);
  EXPECT_TRUE(journal_->Uncommitted(0xAAAA));
  EXPECT_FALSE(journal_->idle());
  journal_->Commit();
  EXPECT_TRUE(listener_.calls.empty());
  EXPECT_EQ(journal_->stats().full_waits, 1u);
  journal_->Reclaim(3);  // a checkpoint freed blocks 1 and 2
  // Room now, but behind queued entries a new one queues too (tickets stay in order).
  EXPECT_EQ(journal_->Append(0xCCCC, wseq + 2), 3u);
  journal_->Commit();
  ASSERT_EQ(listener_.calls.size(), 1u) << "reported synchronously, from Commit()";
  EXPECT_EQ(listener_.calls[0], (RecordingListener::Call{1, 3, true}));
  EXPECT_FALSE(journal_->Uncommitted(0xAAAA));
  EXPECT_FALSE(journal_->Uncommitted(0xCCCC));
  EXPECT_TRUE(journal_->idle());
  EXPECT_EQ(journal_->Append(0xDDDD, wseq + 3), 0u) << "block 17 has room: stored at once";
  EXPECT_EQ(journal_->next_block(), kBlocks + 2u);
  journal_.reset();
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next);
  EXPECT_EQ(next, kBlocks + 2u);
  // Block 1 was overwritten by block 17 (4 entries); the other 15 blocks are still there.
  EXPECT_EQ(back.size(), 15u * kJournalEntriesPerBlock + 4);
}

TEST_F(JournalProcessTest, LoadReadsInPlaceAndDeviceModeBlocksAlike) {
  // A device-mode run wrote blocks 1 and 2; this run continues after them in place.
  {
    std::string err;
    std::unique_ptr<Journal> dev = Journal::Create(*device_, *aio_, RingOffset(), kBlocks,
                                                   JournalSync::kDevice, &listener_, err);
    ASSERT_TRUE(dev) << err;
    dev->Reset(kEpoch);
    for (uint64_t b = 1; b <= 2; ++b) {
      dev->Append(b, b);
      dev->Append(b + 100, b + 100);
      dev->Commit();
      Pump();
    }
  }
  std::vector<JournalEntry> loaded;
  std::string err;
  ASSERT_TRUE(journal_->Load(kEpoch, loaded, err)) << err;
  EXPECT_EQ(loaded.size(), 4u);
  EXPECT_EQ(journal_->next_block(), 3u);
  EXPECT_EQ(journal_->Append(7, 7), 0u);
  EXPECT_EQ(journal_->next_block(), 4u);
  journal_.reset();
  uint64_t next = 0;
  std::vector<JournalEntry> back = Reload(next, /*full=*/false);
  EXPECT_EQ(next, 4u);
  std::map<uint64_t, uint64_t> wseqs;
  for (const JournalEntry& e : back) wseqs[e.hash] = e.wseq;
  EXPECT_EQ(wseqs, (std::map<uint64_t, uint64_t>{{1, 1}, {2, 2}, {7, 7}, {101, 101}, {102, 102}}));
}

// The engine with a journal of `journal_blocks` blocks (0: none), on a 16 MiB file; device mode
// unless a test says otherwise.
class EngineJournalTest : public JournalFixture {
 protected:
  EngineOptions Options(uint32_t journal_blocks) const {
    EngineOptions o = DefaultOptions(8 * kSlab);
    o.journal_size = uint64_t{journal_blocks} * kJournalBlockSize;
    o.journal_sync = sync_;
    o.boot_id = boot_id_;
    return o;
  }
  void SetUp() override { OpenWith(16 << 20, Options(64)); }
  // A new engine with another journal size on a wiped device.
  void Reformat(uint32_t journal_blocks) {
    std::string err;
    ASSERT_TRUE(Reopen(err, Options(journal_blocks), /*format=*/true)) << err;
  }
  // One loop turn's worth: journal commit, then IO until idle.
  void Turn() {
    engine_->CommitJournal();
    Pump();
    engine_->CommitJournal();  // a block that waited for the one in flight
    Pump();
  }
  // Seals every memory slab and waits for the writes: what is stored so far is on the device.
  void WriteOut() {
    for (int i = 0; i < 10 && engine_->ShutdownFlush(); ++i) Pump();
    Pump();
  }
  // SIGKILL: whatever is only in DRAM is gone; IO that completed stays. Then a warm restart.
  void CrashAndRecover(uint32_t journal_blocks = 64) {
    Pump();
    std::string err;
    ASSERT_TRUE(Reopen(err, Options(journal_blocks))) << err;
    Pump();
  }
  StoreResult Set(const std::string& key, const std::string& value, uint64_t* ticket = nullptr) {
    const StoreOutcome r = EngineFixture::Store(key, value);
    if (ticket != nullptr) *ticket = r.ticket;
    return r.result;
  }
  std::optional<std::string> Value(const std::string& key) {
    testing::Result r = Get(key);
    if (!r.hit) return std::nullopt;
    return r.value;
  }

  struct Acks : CommitWaiter {
    void OnCommitDone(uint64_t token, uint64_t, bool ok) override { done[token] = ok; }
    std::map<uint64_t, bool> done;
  };

  // The reply of a request that superseded a device-resident record: held for its ticket in
  // device mode, sent at once in process mode (no ticket).
  void ExpectCommitted(uint64_t ticket, const char* what) {
    if (sync_ == JournalSync::kProcess) {
      EXPECT_EQ(ticket, 0u) << what << ": committed when stored, nothing to wait for";
      return;
    }
    ASSERT_NE(ticket, 0u) << what;
    Acks acks;
    engine_->AwaitCommit(ticket, &acks, 1);
    EXPECT_TRUE(acks.done.empty()) << what << ": acknowledged only once the block is written";
    Turn();
    ASSERT_EQ(acks.done.size(), 1u) << what;
    EXPECT_TRUE(acks.done[1]) << what;
  }

  // Keys k0..k<keys-1> are each a miss or `value`, never an older version.
  void ExpectMissOr(int keys, const std::string& value) {
    for (int i = 0; i < keys; ++i) {
      std::optional<std::string> v = Value("k" + std::to_string(i));
      EXPECT_TRUE(!v || *v == value) << "k" << i << " came back as " << *v;
    }
  }

  JournalSync sync_ = JournalSync::kDevice;
  uint64_t boot_id_ = 0x600d;
};

// The tests that hold in both journal modes.
class EngineJournalModesTest : public EngineJournalTest,
                               public ::testing::WithParamInterface<JournalSync> {
 protected:
  EngineJournalModesTest() { sync_ = GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Sync, EngineJournalModesTest,
                         ::testing::Values(JournalSync::kDevice, JournalSync::kProcess),
                         [](const ::testing::TestParamInfo<JournalSync>& info) {
                           return info.param == JournalSync::kDevice ? "Device" : "Process";
                         });

class EngineProcessJournalTest : public EngineJournalTest {
 protected:
  EngineProcessJournalTest() { sync_ = JournalSync::kProcess; }
};

TEST_F(EngineJournalTest, DramOnlyOverwriteIsNotJournaledAndItsOldRecordIsVoided) {
  uint64_t ticket = 1;
  ASSERT_EQ(Set("k", "v1", &ticket), StoreResult::kStored);
  EXPECT_EQ(ticket, 0u);
  ASSERT_EQ(Set("k", "v2", &ticket), StoreResult::kStored);
  EXPECT_EQ(ticket, 0u) << "the previous version was only in DRAM";
  EXPECT_EQ(engine_->journal()->stats().entries, 0u);
  EXPECT_EQ(engine_->stats().records_voided, 1u);
  EXPECT_EQ(Value("k"), "v2");
}

TEST_P(EngineJournalModesTest,
       OverwriteOfADeviceResidentKeyIsJournaledAndTheOldVersionIsAMissAfterACrash) {
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  WriteOut();
  uint64_t ticket = 0;
  ASSERT_EQ(Set("k", "v2", &ticket), StoreResult::kStored);
  ExpectCommitted(ticket, "overwrite");
  EXPECT_EQ(engine_->journal()->stats().entries, 1u);
  EXPECT_EQ(engine_->journal()->stats().writes, 1u);
  EXPECT_EQ(engine_->stats().journal_waits, sync_ == JournalSync::kDevice ? 1u : 0u);
  EXPECT_EQ(Value("k"), "v2");
  CrashAndRecover();  // v2 was only in DRAM
  EXPECT_EQ(Value("k"), std::nullopt) << "v1 must not come back after v2 was acknowledged";
  EXPECT_EQ(engine_->recovery().superseded, 1u);
  EXPECT_EQ(engine_->recovery().journal_tombstones, 1u);
  // The tombstone written at recovery keeps it so after the journal is reused and another crash.
  ASSERT_EQ(Set("other", "x"), StoreResult::kStored);
  Turn();
  CrashAndRecover();
  EXPECT_EQ(Value("k"), std::nullopt);
}

TEST_F(EngineJournalTest, WithoutAJournalTheOldVersionComesBack) {
  // The control for the test above: the same crash without a journal resurrects v1.
  Reformat(0);
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  WriteOut();
  uint64_t ticket = 1;
  ASSERT_EQ(Set("k", "v2", &ticket), StoreResult::kStored);
  EXPECT_EQ(ticket, 0u);
  CrashAndRecover(0);
  EXPECT_EQ(Value("k"), "v1");
}

TEST_P(EngineJournalModesTest, ADeleteOfADeviceResidentKeySurvivesACrash) {
  ASSERT_EQ(Set("gone", "v1"), StoreResult::kStored);
  ASSERT_EQ(Set("kept", "v1"), StoreResult::kStored);
  WriteOut();
  const EraseOutcome erased = engine_->Erase("gone", util::HashKey("gone"));
  ASSERT_TRUE(erased.erased);
  ExpectCommitted(erased.ticket, "delete");
  CrashAndRecover();
  EXPECT_EQ(Value("gone"), std::nullopt);
  EXPECT_EQ(Value("kept"), "v1");
  EXPECT_EQ(engine_->recovery().journal_tombstones, 1u) << "the tombstone died with DRAM";
  // Once that tombstone is on the device, later restarts need none although the entry is still
  // readable in the ring.
  WriteOut();
  CrashAndRecover();
  EXPECT_EQ(Value("gone"), std::nullopt);
  EXPECT_EQ(engine_->recovery().superseded, 1u);
  EXPECT_EQ(engine_->recovery().journal_tombstones, 0u);
}

TEST_F(EngineJournalTest, ANewVersionWaitsForAnUncommittedEntryOfItsKey) {
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  WriteOut();
  uint64_t t2 = 0, t3 = 0;
  ASSERT_EQ(Set("k", "v2", &t2), StoreResult::kStored);
  ASSERT_NE(t2, 0u);
  // v2 is in DRAM, but its entry is not on the device yet: v3 must not be acknowledged first.
  ASSERT_EQ(Set("k", "v3", &t3), StoreResult::kStored);
  EXPECT_GT(t3, t2);
  const EraseOutcome erased = engine_->Erase("k", util::HashKey("k"));
  ASSERT_TRUE(erased.erased);
  EXPECT_GT(erased.ticket, t3);
  Turn();
  ASSERT_EQ(Set("k", "v4", &t3), StoreResult::kStored);
  EXPECT_EQ(t3, 0u) << "committed now; the previous version is in DRAM";
}

TEST_F(EngineJournalTest, ASupersededMemoryRecordNeverReachesTheDevice) {
  // v1 (small) and v2 (large, another class) are both in memory slabs; v1's slab is then filled
  // up by other keys and written while v2 stays in DRAM. After a crash k must be a miss, not v1.
  // Same class (64-byte chunks) for v1 and the fill items: 49 to 64 bytes with the header.
  ASSERT_EQ(Set("k", "v1--------"), StoreResult::kStored);
  ASSERT_EQ(Set("k", std::string(5000, 'b')), StoreResult::kStored);
  char key[16];
  for (int i = 0; i < 1100; ++i) {
    std::snprintf(key, sizeof(key), "fill%04d", i);
    ASSERT_EQ(Set(key, "f"), StoreResult::kStored);
  }
  Pump();
  EXPECT_EQ(engine_->stats().slab_writes, 1u);
  CrashAndRecover();
  EXPECT_EQ(Value("fill0000"), "f") << "the slab holding v1 was written";
  EXPECT_EQ(Value("k"), std::nullopt);
}

TEST_F(EngineJournalTest, CheckpointsFreeTheRingAndNoCommitIsLost) {
  Reformat(16);  // the smallest ring: checkpoints every few blocks
  constexpr int kKeys = 200;
  for (int i = 0; i < kKeys; ++i)
    ASSERT_EQ(Set("k" + std::to_string(i), "v1"), StoreResult::kStored);
  WriteOut();
  Acks acks;
  for (int i = 0; i < kKeys; ++i) {
    uint64_t ticket = 0;
    ASSERT_EQ(Set("k" + std::to_string(i), "v2", &ticket), StoreResult::kStored);
    ASSERT_NE(ticket, 0u) << i;
    engine_->AwaitCommit(ticket, &acks, i);
    Turn();  // one block per overwrite: the ring wraps many times
    ASSERT_TRUE(acks.done.count(i)) << "commit " << i << " waits forever";
  }
  EXPECT_GE(engine_->stats().journal_checkpoints, 10u);
  EXPECT_LE(engine_->journal()->used_blocks(), 16u);
  CrashAndRecover(16);
  ExpectMissOr(kKeys, "v2");
}

TEST_F(EngineJournalTest, AFailedJournalWriteUndoesTheChangeAndIsReported) {
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  ASSERT_EQ(Set("d", "v1"), StoreResult::kStored);
  WriteOut();
  Faults("journal_eio=1");
  uint64_t ticket = 0;
  ASSERT_EQ(Set("k", "v2", &ticket), StoreResult::kStored);
  Acks acks;
  engine_->AwaitCommit(ticket, &acks, 1);
  const EraseOutcome erased = engine_->Erase("d", util::HashKey("d"));
  ASSERT_TRUE(erased.erased);
  engine_->AwaitCommit(erased.ticket, &acks, 2);
  Turn();
  ASSERT_EQ(acks.done.size(), 2u);
  EXPECT_FALSE(acks.done[1]);
  EXPECT_FALSE(acks.done[2]);
  EXPECT_EQ(Value("k"), std::nullopt) << "never acknowledged, so never served";
  EXPECT_EQ(Value("d"), std::nullopt);
  EXPECT_EQ(engine_->stats().journal_undone, 1u);
  EXPECT_EQ(engine_->journal()->stats().errors, 1u);
  Faults("");
  // It keeps working.
  ASSERT_EQ(Set("k", "v3"), StoreResult::kStored);
  Turn();
  EXPECT_EQ(Value("k"), "v3");
}

TEST_F(EngineJournalTest, AFailedCommitOfAVersionAlreadyOutOfDramIsTombstoned) {
  Reformat(16);  // the smallest ring, so that checkpoints soon free every entry
  constexpr int kWrap = 40;
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  for (int i = 0; i < kWrap; ++i)
    ASSERT_EQ(Set("w" + std::to_string(i), "1"), StoreResult::kStored);
  WriteOut();
  uint64_t ticket = 0;
  ASSERT_EQ(Set("k", "v2", &ticket), StoreResult::kStored);  // journaled: v1 is on the device
  ASSERT_NE(ticket, 0u);
  // v2's slab is written and its buffer reused before its journal block goes out.
  WriteOut();
  EvictFromMemory();
  Faults("journal_eio=1");
  Acks acks;
  engine_->AwaitCommit(ticket, &acks, 1);
  Turn();
  ASSERT_EQ(acks.done.count(1), 1u);
  EXPECT_FALSE(acks.done[1]);
  Faults("");
  EXPECT_EQ(Value("k"), std::nullopt) << "never acknowledged, so never served";
  // Many journaled overwrites: checkpoints free the ring, so no journal entry keeps v2 void by
  // the restart. Only a tombstone does, and only the record holds the key it needs: the engine
  // read it back.
  for (int i = 0; i < kWrap; ++i) {
    ASSERT_EQ(Set("w" + std::to_string(i), "2"), StoreResult::kStored);
    Turn();
  }
  EXPECT_GE(engine_->stats().journal_checkpoints, 3u);
  std::string err;
  ASSERT_TRUE(CleanRestart(err, Options(16))) << err;
  EXPECT_EQ(Value("k"), std::nullopt);
}

TEST_F(EngineJournalTest, ALaterBlocksRepliesDoNotWaitForAnEarlierBlock) {
  ASSERT_EQ(Set("a", "v1"), StoreResult::kStored);
  ASSERT_EQ(Set("b", "v1"), StoreResult::kStored);
  WriteOut();
  std::string spec = StallFirstJournalWriteOnly();
  ASSERT_FALSE(spec.empty());
  Faults(spec);
  Acks acks;
  uint64_t ta = 0, tb = 0;
  ASSERT_EQ(Set("a", "v2", &ta), StoreResult::kStored);
  engine_->AwaitCommit(ta, &acks, 1);
  engine_->CommitJournal();  // turn 1: block 1, held back
  ReapUntil([&] { return StalledOps() == 1; });
  ASSERT_EQ(Set("b", "v2", &tb), StoreResult::kStored);
  engine_->AwaitCommit(tb, &acks, 2);
  engine_->CommitJournal();  // turn 2: block 2, goes out while block 1 is in flight
  ReapUntil([&] { return acks.done.count(2) == 1; });
  EXPECT_TRUE(acks.done[2]);
  EXPECT_EQ(acks.done.count(1), 0u) << "a's entry is not on the device yet";
  Pump();
  ASSERT_EQ(acks.done.size(), 2u);
  EXPECT_TRUE(acks.done[1]);
  Faults("");
  EXPECT_EQ(Value("a"), "v2");
  EXPECT_EQ(Value("b"), "v2");
}

TEST_F(EngineJournalTest, AfterACrashABlockBehindAHoleStillSupersedes) {
  ASSERT_EQ(Set("a", "v1"), StoreResult::kStored);
  ASSERT_EQ(Set("b", "v1"), StoreResult::kStored);
  WriteOut();
  ASSERT_EQ(Set("a", "v2"), StoreResult::kStored);
  Turn();  // block 1: a
  ASSERT_EQ(Set("b", "v2"), StoreResult::kStored);
  Turn();  // block 2: b
  ASSERT_EQ(engine_->journal()->next_block(), 3u);
  // The crash tore block 1 (its reply was never sent); block 2 completed and b's was.
  ZeroBlock(device_->offset() + device_->block_size() + 1 * kJournalBlockSize);
  CrashAndRecover();
  EXPECT_EQ(Value("b"), std::nullopt) << "b's acknowledged v2 superseded v1 despite the hole";
  EXPECT_EQ(Value("a"), "v1") << "a's v2 was never acknowledged: its old version may return";
}

TEST_F(EngineJournalTest, AnItemLostToAFailedSlabWriteKeepsItsOlderVersionSuperseded) {
  Reformat(16);  // the smallest ring, so that the entry that superseded v1 is soon overwritten
  constexpr int kWrap = 40;
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  for (int i = 0; i < kWrap; ++i)
    ASSERT_EQ(Set("w" + std::to_string(i), "1"), StoreResult::kStored);
  WriteOut();
  ASSERT_EQ(Set("k", "v2"), StoreResult::kStored);  // journaled: v1 is on the device
  Turn();
  // v2's slab write fails: v2 is lost (a miss), v1 is still on the device.
  Faults("write_eio=1");
  engine_->ShutdownFlush();
  Pump();
  Faults("");
  ASSERT_EQ(engine_->stats().write_errors, 1u);
  EXPECT_EQ(Value("k"), std::nullopt);
  // Store the w keys again (whatever the failed write's disk slab held), on the device, so that
  // overwriting them is journaled.
  for (int i = 0; i < kWrap; ++i)
    ASSERT_EQ(Set("w" + std::to_string(i), "1"), StoreResult::kStored);
  WriteOut();
  // Many journaled overwrites: checkpoints free the ring and the block holding v2's entry is
  // overwritten. Only what the failure handling journaled and wrote keeps v1 superseded.
  for (int i = 0; i < kWrap; ++i) {
    ASSERT_EQ(Set("w" + std::to_string(i), "2"), StoreResult::kStored);
    Turn();
  }
  EXPECT_GE(engine_->stats().journal_checkpoints, 3u);
  ASSERT_EQ(Set("k", "v3"), StoreResult::kStored);  // acknowledged, only in DRAM
  CrashAndRecover(16);
  std::optional<std::string> v = Value("k");
  EXPECT_TRUE(!v || *v == "v3") << "k came back as " << *v;
}

TEST_P(EngineJournalModesTest, AKeyTheIndexDroppedIsJournaledWhenSetAgain) {
  // A one-bucket index (6 entries): new keys evict device-resident entries, whose records stay on
  // the device unindexed. Setting such a key again must be journaled, or its old record would
  // come back after a crash over the newer, DRAM-only version.
  EngineOptions small = Options(64);
  small.max_index_memory = 64;
  std::string err;
  ASSERT_TRUE(Reopen(err, small, /*format=*/true)) << err;
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Set("old" + std::to_string(i), "v1"), StoreResult::kStored);
  WriteOut();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Set("new" + std::to_string(i), "n"), StoreResult::kStored);
  ASSERT_GT(engine_->stats().index_evictions, 0u);
  std::string dropped;
  for (int i = 0; i < 6 && dropped.empty(); ++i) {
    if (!Value("old" + std::to_string(i))) dropped = "old" + std::to_string(i);
  }
  ASSERT_FALSE(dropped.empty());
  uint64_t ticket = 0;
  const uint64_t entries = engine_->journal()->stats().entries;
  ASSERT_EQ(Set(dropped, "v2", &ticket), StoreResult::kStored);
  EXPECT_EQ(engine_->journal()->stats().entries, entries + 1)
      << "the dropped key's older record is still on the device";
  ExpectCommitted(ticket, "set of a dropped key");
  // Restart with an index large enough for every record, so only the journal can hide v1.
  Pump();
  ASSERT_TRUE(Reopen(err, Options(64))) << err;
  Pump();
  EXPECT_EQ(Value(dropped), std::nullopt) << "v1 came back after v2 was acknowledged";
  // The other old keys were last set to v1, on the device: they come back, dropped or not.
  for (int i = 0; i < 6; ++i) {
    std::string k = "old" + std::to_string(i);
    if (k != dropped) {
      EXPECT_EQ(Value(k), "v1") << k;
    }
  }
}

TEST_F(EngineJournalTest, AnotherJournalSizeIsRefusedUnlessFormatted) {
  WriteOut();
  std::string err;
  EXPECT_FALSE(Reopen(err, Options(32)));
  EXPECT_NE(err.find("--journal-size"), std::string::npos) << err;
  EXPECT_TRUE(Reopen(err, Options(32), /*format=*/true)) << err;
}

TEST_F(EngineProcessJournalTest, AFullRingQueuesEntriesAndTheirRepliesWaitForACheckpoint) {
  Reformat(16);  // 16 blocks of 254 entries: fewer than the overwrites of one turn below
  constexpr int kKeys = 5000;
  for (int i = 0; i < kKeys; ++i)
    ASSERT_EQ(Set("k" + std::to_string(i), "v1"), StoreResult::kStored);
  WriteOut();
  // One turn of overwrites: no CommitJournal() in between, so no checkpoint frees the ring.
  Acks acks;
  uint64_t held = 0, last_ticket = 0;
  for (int i = 0; i < kKeys; ++i) {
    uint64_t ticket = 0;
    ASSERT_EQ(Set("k" + std::to_string(i), "v2", &ticket), StoreResult::kStored);
    if (ticket == 0) {
      ASSERT_EQ(held, 0u) << "k" << i << ": stored in place behind a queued entry";
      continue;
    }
    ++held;
    last_ticket = ticket;
    if (i + 1 < kKeys) engine_->AwaitCommit(ticket, &acks, i);
  }
  ASSERT_GT(held, 0u) << "the ring never filled";
  EXPECT_EQ(engine_->journal()->stats().entries, uint64_t{kKeys});
  EXPECT_FALSE(engine_->journal()->idle());
  // The next turns: a checkpoint writes the memory slabs, frees the ring, and Commit() stores the
  // queued entries and reports them at once.
  for (int turn = 0; turn < 20 && acks.done.size() + 1 < held; ++turn) Turn();
  ASSERT_EQ(acks.done.size() + 1, held);
  for (const auto& [token, ok] : acks.done) EXPECT_TRUE(ok) << token;
  EXPECT_GE(engine_->stats().journal_checkpoints, 1u);
  EXPECT_GE(engine_->journal()->stats().full_waits, 1u);
  EXPECT_TRUE(engine_->journal()->idle());
  // A ticket that completed before anyone awaited it answers at once.
  engine_->AwaitCommit(last_ticket, &acks, kKeys);
  EXPECT_TRUE(acks.done.count(kKeys) == 1 && acks.done[kKeys]);
  CrashAndRecover(16);
  ExpectMissOr(kKeys, "v2");
}

TEST_F(EngineProcessJournalTest, AfterACrashOnAnotherBootTheDeviceStartsEmpty) {
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  ASSERT_EQ(Set("kept", "v1"), StoreResult::kStored);
  WriteOut();
  ASSERT_EQ(Set("k", "v2"), StoreResult::kStored);  // its entry is only in the page cache
  CrashAndRecover();                                // the same boot: warm, the entry holds
  EXPECT_EQ(Value("kept"), "v1");
  EXPECT_EQ(Value("k"), std::nullopt);
  ASSERT_EQ(Set("k", "v3"), StoreResult::kStored);
  // The machine went down before the page cache was written back: the entry may be gone, so no
  // record is trusted, not even those no entry concerns.
  boot_id_ = 0xb007;
  CrashAndRecover();
  EXPECT_EQ(Value("kept"), std::nullopt);
  EXPECT_EQ(Value("k"), std::nullopt);
  EXPECT_EQ(engine_->gauges().curr_items, 0u);
  // It serves, and a clean shutdown (slabs written, journal synced) is trusted across a reboot.
  ASSERT_EQ(Set("k", "v4"), StoreResult::kStored);
  WriteOut();
  std::string err;
  ASSERT_TRUE(engine_->FinishShutdown(err)) << err;
  boot_id_ = 0xb008;
  CrashAndRecover();
  EXPECT_EQ(Value("k"), "v4");
  // Unknown boot ids (0) count as another boot.
  boot_id_ = 0;
  CrashAndRecover();
  EXPECT_EQ(Value("k"), std::nullopt);
}

TEST_F(EngineJournalTest, DeviceModeTrustsItsJournalAcrossABoot) {
  ASSERT_EQ(Set("k", "v1"), StoreResult::kStored);
  ASSERT_EQ(Set("kept", "v1"), StoreResult::kStored);
  WriteOut();
  uint64_t ticket = 0;
  ASSERT_EQ(Set("k", "v2", &ticket), StoreResult::kStored);
  ExpectCommitted(ticket, "overwrite");
  boot_id_ = 0xb007;
  CrashAndRecover();
  EXPECT_EQ(Value("kept"), "v1");
  EXPECT_EQ(Value("k"), std::nullopt);
}

}  // namespace
}  // namespace ssdcache::storage
