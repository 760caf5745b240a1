// MemoryBackend: the in-memory device image behind the IoBackend seam. Completions only from
// Reap()/Poll()/Drain(), exactly once, FIFO or a seeded permutation; the eventfd for the event
// loop; synchronous IO and shared mappings on the image; and what Crash() keeps of unflushed
// writes, writes in flight and mapped ranges.
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/memory_backend.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {
namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kImage = 64 * kBlock;

struct Recorder : IoHandler {
  void OnIoComplete(IoOp& op, int64_t result) override {
    order.push_back(op.user);
    results.push_back(result);
    if (on_complete) on_complete(op);
  }
  std::vector<uint64_t> order;
  std::vector<int64_t> results;
  std::function<void(IoOp&)> on_complete;
};

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

class MemoryBackendTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({}); }
  void Make(const MemoryBackendOptions& options) {
    image_ = std::make_shared<MemoryImage>(kImage);
    std::string error;
    io_ = MemoryBackend::Create(image_, options, error);
    ASSERT_NE(io_, nullptr) << error;
  }
  // One block op per entry of `ops`, at block `i`, filled with 'a' + i when writing.
  void Queue(std::vector<IoOp>& ops, util::AlignedBuffer& buf, bool write) {
    for (size_t i = 0; i < ops.size(); ++i) {
      ops[i].handler = &rec_;
      ops[i].buf = buf.data() + i * kBlock;
      ops[i].len = kBlock;
      ops[i].offset = i * kBlock;
      ops[i].user = i;
      if (write) {
        std::memset(ops[i].buf, 'a' + static_cast<int>(i), kBlock);
        io_->Write(ops[i]);
      } else {
        io_->Read(ops[i]);
      }
    }
  }
  char At(size_t offset) const { return image_->bytes[offset]; }

  std::shared_ptr<MemoryImage> image_;
  std::unique_ptr<MemoryBackend> io_;
  Recorder rec_;
};

TEST_F(MemoryBackendTest, CompletesFromReapOnlyInOrderAfterTheEventFdFires) {
  util::AlignedBuffer buf(8 * kBlock, kBlock);
  std::vector<IoOp> writes(8);
  Queue(writes, buf, /*write=*/true);
  EXPECT_EQ(io_->queued(), 8u);
  EXPECT_FALSE(Readable(io_->event_fd()));
  io_->Submit();
  EXPECT_TRUE(rec_.order.empty()) << "completed from inside Write()/Submit()";
  EXPECT_EQ(io_->in_flight(), 8u);
  EXPECT_EQ(io_->queued(), 0u);
  EXPECT_EQ(At(0), '\0') << "a write in flight is not in the image yet";
  ASSERT_TRUE(Readable(io_->event_fd()));
  io_->Reap();
  EXPECT_FALSE(Readable(io_->event_fd()));
  EXPECT_EQ(rec_.order, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  for (int64_t r : rec_.results) EXPECT_EQ(r, static_cast<int64_t>(kBlock));
  EXPECT_EQ(At(3 * kBlock), 'd');
  EXPECT_EQ(io_->in_flight(), 0u);

  util::AlignedBuffer back(8 * kBlock, kBlock);
  std::vector<IoOp> reads(8);
  rec_.order.clear();
  Queue(reads, back, /*write=*/false);
  io_->Poll();  // submits (shallow) and completes what is in flight
  ASSERT_EQ(rec_.order.size(), 8u);
  EXPECT_EQ(std::memcmp(back.data(), buf.data(), 8 * kBlock), 0);
  IoStats s = io_->stats();
  EXPECT_EQ(s.writes, 8u);
  EXPECT_EQ(s.reads, 8u);
  EXPECT_EQ(s.read_bytes, 8 * kBlock);
  EXPECT_EQ(s.errors, 0u);
}

TEST_F(MemoryBackendTest, AtMostMaxInFlightAndOpsQueuedByHandlersFollow) {
  MemoryBackendOptions o;
  o.max_in_flight = 3;
  Make(o);
  util::AlignedBuffer buf(10 * kBlock, kBlock);
  std::vector<IoOp> reads(10);
  std::vector<int> seen(10, 0);
  rec_.on_complete = [&](IoOp& op) {
    EXPECT_LE(io_->in_flight(), 3u);
    // The first op is read again once, from its own completion.
    if (++seen[op.user] == 1 && op.user == 0) io_->Read(op);
  };
  Queue(reads, buf, false);
  io_->Submit();
  EXPECT_EQ(io_->in_flight(), 3u);
  EXPECT_EQ(io_->queued(), 7u);
  io_->Drain();
  EXPECT_EQ(seen[0], 2);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << i;
  EXPECT_EQ(io_->in_flight() + io_->queued(), 0u);
  EXPECT_FALSE(Readable(io_->event_fd()));
}

TEST_F(MemoryBackendTest, ReorderingIsASeededPermutation) {
  auto run = [&](uint64_t seed) {
    Make({});
    if (seed != 0) io_->set_reorder(seed);
    rec_.order.clear();
    util::AlignedBuffer buf(16 * kBlock, kBlock);
    std::vector<IoOp> reads(16);
    Queue(reads, buf, false);
    io_->Submit();
    io_->Reap();
    return rec_.order;
  };
  std::vector<uint64_t> fifo = run(0);
  std::vector<uint64_t> a = run(42);
  EXPECT_EQ(a, run(42)) << "same seed, same order";
  EXPECT_NE(a, fifo);
  std::vector<uint64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, fifo) << "every op exactly once";
}

TEST_F(MemoryBackendTest, OutOfRangeIoFails) {
  util::AlignedBuffer buf(2 * kBlock, kBlock);
  IoOp op;
  op.handler = &rec_;
  op.buf = buf.data();
  op.len = 2 * kBlock;
  op.offset = kImage - kBlock;
  io_->Read(op);
  io_->Drain();
  ASSERT_EQ(rec_.results.size(), 1u);
  EXPECT_EQ(rec_.results[0], -EINVAL);
  EXPECT_EQ(io_->stats().errors, 1u);
  // Synchronous reads come back short at the end, writes past it fail.
  EXPECT_EQ(io_->ReadSync(buf.data(), 2 * kBlock, kImage - kBlock), static_cast<int64_t>(kBlock));
  EXPECT_LT(io_->WriteSync(buf.data(), 2 * kBlock, kImage - kBlock), 0);
}

TEST_F(MemoryBackendTest, SyncIoAndMappingsActOnTheImage) {
  util::AlignedBuffer buf(kBlock, kBlock);
  std::memset(buf.data(), 's', kBlock);
  ASSERT_EQ(io_->WriteSync(buf.data(), kBlock, 5 * kBlock), static_cast<int64_t>(kBlock));
  EXPECT_EQ(At(5 * kBlock), 's');
  int err = -1;
  IoMapping map = io_->MapShared(4 * kBlock, 2 * kBlock, true, err);
  ASSERT_FALSE(map.empty());
  EXPECT_EQ(err, 0);
  EXPECT_EQ(map.data()[kBlock], 's');
  map.data()[0] = 'm';
  EXPECT_EQ(At(4 * kBlock), 'm') << "a store through the mapping is visible at once";
  EXPECT_EQ(io_->ReadSync(buf.data(), kBlock, 4 * kBlock), static_cast<int64_t>(kBlock));
  EXPECT_EQ(buf.data()[0], 'm');
  EXPECT_TRUE(io_->MapShared(kImage - kBlock, 2 * kBlock, false, err).empty());
  EXPECT_EQ(err, EINVAL);
}

TEST_F(MemoryBackendTest, ACrashKeepsOrLosesWhatMappingsStoredSinceTheirSync) {
  int err = 0;
  IoMapping map = io_->MapShared(0, kBlock, false, err);
  ASSERT_FALSE(map.empty());
  map.data()[0] = 'x';
  ASSERT_EQ(map.Sync(), 0);
  map.data()[0] = 'y';
  map.data()[1] = 'y';
  // A process crash: the page cache keeps the stores.
  io_->Crash({});
  EXPECT_EQ(At(0), 'y');
  // A power cut: what was not synced is lost.
  CrashOptions cut;
  cut.lose_mappings = true;
  io_->Crash(cut);
  EXPECT_EQ(At(0), 'x');
  EXPECT_EQ(At(1), '\0');
}

TEST_F(MemoryBackendTest, ACrashLosesOnlyTheNewestUnflushedWrites) {
  MemoryBackendOptions o;
  o.track_unflushed = true;
  Make(o);
  util::AlignedBuffer buf(kBlock, kBlock);
  auto write = [&](char c) {
    std::memset(buf.data(), c, kBlock);
    ASSERT_EQ(io_->WriteSync(buf.data(), kBlock, 0), static_cast<int64_t>(kBlock));
  };
  write('1');
  ASSERT_EQ(io_->Flush(), 0);
  EXPECT_EQ(io_->unflushed_writes(), 0u);
  // Over seeds the crash keeps a prefix of the unflushed writes: never an older value after a
  // newer one was lost, never the flushed value lost.
  std::vector<int> kept(4, 0);
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Make(o);
    write('1');
    ASSERT_EQ(io_->Flush(), 0);
    write('2');
    write('3');
    write('4');
    EXPECT_EQ(io_->unflushed_writes(), 3u);
    CrashOptions c;
    c.seed = seed;
    c.lose_unflushed = true;
    io_->Crash(c);
    ASSERT_GE(At(0), '1');
    ASSERT_LE(At(0), '4');
    ++kept[At(0) - '1'];
  }
  for (int n : kept) EXPECT_GT(n, 0) << "every prefix, from none to all, is possible";
}

TEST_F(MemoryBackendTest, ACrashDropsQueuedOpsAndMayTearWritesInFlight) {
  std::vector<int> outcomes(3, 0);  // none, torn, whole
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Make({});
    util::AlignedBuffer buf(8 * kBlock, kBlock);
    std::memset(buf.data(), 'w', 8 * kBlock);
    IoOp in_flight;
    in_flight.handler = &rec_;
    in_flight.buf = buf.data();
    in_flight.len = 4 * kBlock;
    io_->Write(in_flight);
    io_->Submit();
    IoOp queued = in_flight;
    queued.offset = 8 * kBlock;
    io_->Write(queued);
    CrashOptions c;
    c.seed = seed;
    c.tear_in_flight = true;
    io_->Crash(c);
    EXPECT_TRUE(rec_.order.empty()) << "a crashed op completed";
    EXPECT_EQ(io_->in_flight() + io_->queued(), 0u);
    EXPECT_EQ(At(8 * kBlock), '\0') << "a queued write landed";
    size_t landed = 0;
    while (landed < 4 && At(landed * kBlock) == 'w') ++landed;
    for (size_t b = landed; b < 4; ++b) EXPECT_EQ(At(b * kBlock), '\0') << "not a prefix";
    ++outcomes[landed == 0 ? 0 : landed == 4 ? 2 : 1];
  }
  for (int n : outcomes) EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace ssdcache::storage
