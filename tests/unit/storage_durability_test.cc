// Durability tests on a device in memory: the frontier and the write sequence ceiling count as
// durable only once a superblock write holding them completed, a change during a write is written
// again, failed writes are retried (a few at once, then from Retry()), journal tickets complete
// in any order with undo for failed ones, and a checkpoint completes with its last older write.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "storage/durability.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

// Routes superblock completions as the engine does, optionally failing them.
class Router final : public IoHandler {
 public:
  void OnIoComplete(IoOp& op, int64_t result) override {
    ASSERT_TRUE(durable->IsSuperblockOp(op));
    ++writes;
    ok = durable->SuperblockWritten(fail ? -EIO : result);
  }
  Durability* durable = nullptr;
  bool fail = false;
  bool ok = false;
  int writes = 0;
};

class Waiter final : public CommitWaiter {
 public:
  void OnCommitDone(uint64_t token, uint64_t, bool ok) override { done[token] = ok; }
  std::map<uint64_t, bool> done;
};

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    device_ = testing::MemoryDevice(1 << 20, err);
    ASSERT_TRUE(device_) << err;
    io_ = &device_->io();
    Superblock geometry{};
    geometry.magic = kSuperMagic;
    geometry.version = kFormatVersion;
    geometry.device_size = device_->size();
    durable_ = std::make_unique<Durability>(*device_, *io_, router_, geometry);
    router_.durable = durable_.get();
    ASSERT_TRUE(durable_->Format("formatted for a test", err)) << err;
  }
  void TearDown() override { durable_.reset(); }

  // Runs the superblock writes, and the rewrites their completions start.
  void Pump() {
    for (int i = 0; i < 100 && (io_->in_flight() > 0 || io_->queued() > 0); ++i) io_->Drain();
  }

  // The superblock on the device.
  Superblock OnDevice() {
    util::AlignedBuffer buf(device_->block_size(), device_->block_size());
    EXPECT_EQ(io_->ReadSync(buf.data(), device_->block_size(), device_->offset()),
              static_cast<int64_t>(device_->block_size()));
    Superblock sb;
    std::memcpy(&sb, buf.data(), sizeof(sb));
    return sb;
  }

  std::unique_ptr<Device> device_;
  IoBackend* io_ = nullptr;
  Router router_;
  std::unique_ptr<Durability> durable_;
};

TEST_F(DurabilityTest, TheFrontierIsDurableOnlyOnceItsWriteCompleted) {
  durable_->set_frontier(5);
  durable_->WriteSuperblock();
  EXPECT_EQ(durable_->durable_frontier(), 1u);
  durable_->set_frontier(9);  // during the write: written again when it completes
  durable_->WriteSuperblock();
  EXPECT_TRUE(durable_->superblock_dirty());
  Pump();
  EXPECT_EQ(router_.writes, 2);
  EXPECT_EQ(durable_->durable_frontier(), 9u);
  EXPECT_EQ(OnDevice().evicted_below, 9u);
  EXPECT_FALSE(durable_->superblock_dirty());
}

TEST_F(DurabilityTest, FailedWritesAreRetriedAtOnceThenFromRetry) {
  router_.fail = true;
  durable_->set_frontier(7);
  durable_->WriteSuperblock();
  Pump();
  EXPECT_EQ(router_.writes, 8) << "retried at once a bounded number of times";
  EXPECT_FALSE(durable_->superblock_in_flight());
  EXPECT_EQ(durable_->durable_frontier(), 1u);
  durable_->WriteSuperblock();  // waits for Retry()
  EXPECT_FALSE(durable_->superblock_in_flight());
  router_.fail = false;
  durable_->Retry();
  Pump();
  EXPECT_TRUE(router_.ok);
  EXPECT_EQ(durable_->durable_frontier(), 7u);
}

TEST_F(DurabilityTest, WriteSequencesStartAtTheCeilingAndStayAboveRecords) {
  Superblock found = OnDevice();
  found.wseq_ceiling = 1000;
  found.evicted_below = 4;
  durable_->Restore(found);
  EXPECT_EQ(durable_->frontier(), 4u);
  EXPECT_EQ(durable_->durable_frontier(), 4u);
  std::string err;
  ASSERT_TRUE(durable_->WriteSuperblockNow(err)) << err;
  EXPECT_EQ(durable_->TakeWseq(), 1000u);
  EXPECT_EQ(durable_->TakeWseq(), 1001u);
  ASSERT_TRUE(durable_->RaiseWseqAbove(5000, err)) << err;
  EXPECT_EQ(durable_->next_wseq(), 5001u);
  EXPECT_EQ(OnDevice().wseq_ceiling, 5001u + Durability::kWseqWindow);
  ASSERT_TRUE(durable_->RaiseWseqAbove(10, err)) << err;
  EXPECT_EQ(durable_->next_wseq(), 5001u) << "the sequence went down";
}

TEST_F(DurabilityTest, TicketsCompleteInAnyOrderAndFailedChangesAreUndone) {
  Waiter w;
  durable_->Hold(1, 0x11, IndexEntry{3, 4, 0});
  durable_->Hold(2, 0x22, std::nullopt);
  durable_->AwaitCommit(1, &w, 101);
  durable_->AwaitCommit(2, &w, 102);
  std::vector<uint64_t> undone;
  auto undo = [&](uint64_t hash, const IndexEntry& where) {
    EXPECT_EQ(where.slab, 3u);
    undone.push_back(hash);
  };
  durable_->Committed(2, 2, true, undo);
  EXPECT_EQ(w.done.count(101), 0u);
  EXPECT_TRUE(w.done.at(102));
  durable_->Committed(1, 1, false, undo);
  EXPECT_FALSE(w.done.at(101));
  EXPECT_EQ(undone, std::vector<uint64_t>{0x11});
  durable_->AwaitCommit(2, &w, 103);  // completed and dropped: answered at once
  EXPECT_TRUE(w.done.at(103));
}

TEST_F(DurabilityTest, ACheckpointCompletesWithItsLastOlderWrite) {
  EXPECT_FALSE(durable_->BeginCheckpoint(10, 0, 2));
  EXPECT_TRUE(durable_->checkpoint_active());
  EXPECT_FALSE(durable_->CheckpointWriteDone(12)) << "a slab younger than the checkpoint";
  EXPECT_FALSE(durable_->CheckpointWriteDone(5));
  EXPECT_TRUE(durable_->CheckpointWriteDone(6));
  EXPECT_FALSE(durable_->checkpoint_active());
  EXPECT_TRUE(durable_->BeginCheckpoint(11, 0, 0)) << "nothing to wait for";
}

TEST_F(DurabilityTest, FinishShutdownMarksTheSuperblockClean) {
  EXPECT_EQ(OnDevice().clean, 0u);
  std::string err;
  ASSERT_TRUE(durable_->FinishShutdown(err)) << err;
  EXPECT_EQ(OnDevice().clean, 1u);
  Superblock sb = OnDevice();
  const uint32_t crc = sb.crc;
  sb.crc = 0;
  EXPECT_EQ(util::Crc32c(&sb, sizeof(sb)), crc);
}

}  // namespace
}  // namespace ssdcache::storage
