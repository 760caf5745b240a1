#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/device.h"
#include "storage/libaio_backend.h"
#include "util/aligned_buffer.h"
#include "util/unique_fd.h"

namespace ssdcache::storage {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kFileSize = 4 * kMiB;
constexpr int kTimeoutMs = 10000;
// A length io_submit refuses at once (negative as a ssize_t): -EINVAL from Submit(), not from the
// device.
constexpr size_t kRefusedLen = size_t{1} << 63;

bool IsTmpfs(const std::string& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

std::string MakeTempDir() {
  const char* env = std::getenv("TMPDIR");
  std::string base = (env != nullptr && *env != '\0' && !IsTmpfs(env)) ? env : "/var/tmp";
  std::string templ = base + "/ssdcache-aio-test-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return buf.data();
}

// The byte stored at absolute file offset `off`; every 4 KiB block differs from its neighbours.
char PatternByte(uint64_t off) {
  return static_cast<char>((off * 131 + off / 4096 * 7 + 1) & 0xff);
}

void FillPattern(char* buf, size_t len, uint64_t file_offset) {
  for (size_t i = 0; i < len; ++i) buf[i] = PatternByte(file_offset + i);
}

bool MatchesPattern(const char* buf, size_t len, uint64_t file_offset) {
  for (size_t i = 0; i < len; ++i) {
    if (buf[i] != PatternByte(file_offset + i)) return false;
  }
  return true;
}

// Records every completion; `on_complete` lets a test react from inside the callback.
struct Recorder : IoHandler {
  struct Done {
    IoOp* op;
    int64_t result;
  };
  void OnIoComplete(IoOp& op, int64_t result) override {
    done.push_back({&op, result});
    if (on_complete) on_complete(op, result);
  }
  std::vector<Done> done;
  std::function<void(IoOp&, int64_t)> on_complete;
};

class AioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A hang in Drain() or a lost completion must fail the run, not stall it.
    ::alarm(120);
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty()) << std::strerror(errno);
    DeviceOptions o;
    o.path = dir_ + "/cache";
    o.file_size = kFileSize;
    std::string error;
    dev_ = Device::Open(
        o,
        [this](int fd, std::string& err) -> std::unique_ptr<IoBackend> {
          auto aio = LibaioBackend::Create(fd, 64, err);
          aio_ = aio.get();
          return aio;
        },
        error);
    ASSERT_NE(dev_, nullptr) << error;
    ASSERT_NE(aio_, nullptr);
  }
  void TearDown() override {
    aio_ = nullptr;
    dev_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    ::alarm(0);
  }

  // What the event loop does: sleep on the eventfd, then Reap(). False on timeout.
  static bool WaitUntil(IoBackend& aio, const std::function<bool()>& done,
                        int timeout_ms = kTimeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    aio.Submit();
    while (!done()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return false;
      struct pollfd pfd = {aio.event_fd(), POLLIN, 0};
      int n = ::poll(&pfd, 1, static_cast<int>(left));
      if (n < 0 && errno != EINTR) return false;
      if (n > 0) aio.Reap();
    }
    return true;
  }

  // Fills the whole file with the pattern through AIO, so reads can be checked.
  void WritePattern() {
    util::AlignedBuffer buf(kFileSize, 4096);
    ASSERT_FALSE(buf.empty());
    FillPattern(buf.data(), kFileSize, 0);
    Recorder rec;
    std::vector<IoOp> ops(4);
    for (size_t i = 0; i < ops.size(); ++i) {
      ops[i].handler = &rec;
      ops[i].buf = buf.data() + i * kMiB;
      ops[i].len = kMiB;
      ops[i].offset = i * kMiB;
      aio_->Write(ops[i]);
    }
    ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == ops.size(); }));
    for (const auto& d : rec.done) ASSERT_EQ(d.result, static_cast<int64_t>(kMiB));
  }

  // Queues one 4 KiB read per op at random block offsets, into consecutive blocks of `buf`.
  void QueueRandomReads(IoBackend& aio, std::vector<IoOp>& ops, util::AlignedBuffer& buf,
                        IoHandler& handler, uint32_t seed) {
    std::mt19937 rng(seed);
    for (size_t i = 0; i < ops.size(); ++i) {
      ops[i].handler = &handler;
      ops[i].buf = buf.data() + i * 4096;
      ops[i].len = 4096;
      ops[i].offset = rng() % (kFileSize / 4096) * 4096;
      ops[i].user = i;
      aio.Read(ops[i]);
    }
  }

  static bool Readable(int fd, int timeout_ms) {
    struct pollfd pfd = {fd, POLLIN, 0};
    return ::poll(&pfd, 1, timeout_ms) == 1;
  }

  std::string dir_;
  std::unique_ptr<Device> dev_;
  LibaioBackend* aio_ = nullptr;  // the device's backend
};

TEST_F(AioTest, CreateSetsUpNonblockingEventFd) {
  EXPECT_EQ(aio_->max_in_flight(), 64u);
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 0u);
  ASSERT_GE(aio_->event_fd(), 0);
  EXPECT_TRUE(::fcntl(aio_->event_fd(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(aio_->event_fd(), F_GETFD) & FD_CLOEXEC);
  // Reaping with nothing pending is harmless.
  aio_->Reap();
  aio_->Drain();
  EXPECT_EQ(aio_->stats().reads + aio_->stats().writes, 0u);
}

TEST_F(AioTest, CreateRefusesZeroDepth) {
  std::string error;
  EXPECT_EQ(LibaioBackend::Create(dev_->fd(), 0, error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST_F(AioTest, CreateOverSystemLimitIsExplained) {
  std::ifstream in("/proc/sys/fs/aio-max-nr");
  uint64_t max_nr = 0;
  if (!(in >> max_nr) || max_nr == 0 || max_nr > (1u << 22)) {
    GTEST_SKIP() << "fs.aio-max-nr unreadable or too large to exceed";
  }
  std::string error;
  EXPECT_EQ(LibaioBackend::Create(dev_->fd(), static_cast<unsigned>(max_nr + 1), error), nullptr);
  EXPECT_NE(error.find("aio-max-nr"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST_F(AioTest, WriteThenRandomReadsReturnTheBytes) {
  util::AlignedBuffer src(kMiB, 4096);
  const uint64_t base = 1 * kMiB;  // not at offset 0, so offsets are really used
  FillPattern(src.data(), kMiB, base);
  Recorder rec;
  IoOp w;
  w.handler = &rec;
  w.buf = src.data();
  w.len = kMiB;
  w.offset = base;
  w.user = 7;
  aio_->Write(w);
  EXPECT_EQ(aio_->queued(), 1u);
  aio_->Submit();
  EXPECT_TRUE(rec.done.empty()) << "completion delivered from Submit()";
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == 1; }));
  EXPECT_EQ(rec.done[0].op, &w);
  EXPECT_EQ(rec.done[0].result, static_cast<int64_t>(kMiB));
  EXPECT_EQ(w.user, 7u);

  constexpr int kReads = 64;
  std::vector<util::AlignedBuffer> bufs;
  std::vector<IoOp> ops(kReads);
  std::mt19937 rng(12345);
  rec.done.clear();
  for (int i = 0; i < kReads; ++i) {
    bufs.emplace_back(4096, 4096);
    ops[i].handler = &rec;
    ops[i].buf = bufs[i].data();
    ops[i].len = 4096;
    ops[i].offset = base + rng() % (kMiB / 4096) * 4096;
    ops[i].user = static_cast<uint64_t>(i);
    ASSERT_TRUE(dev_->CheckAligned(ops[i].buf, ops[i].len, ops[i].offset));
    aio_->Read(ops[i]);
  }
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == kReads; }));
  for (const auto& d : rec.done) {
    EXPECT_EQ(d.result, 4096);
    EXPECT_FALSE(d.op->write);
    EXPECT_TRUE(MatchesPattern(static_cast<char*>(d.op->buf), 4096, d.op->offset))
        << "read " << d.op->user << " at " << d.op->offset;
  }
  const IoStats s = aio_->stats();
  EXPECT_EQ(s.writes, 1u);
  EXPECT_EQ(s.write_bytes, kMiB);
  EXPECT_EQ(s.reads, static_cast<uint64_t>(kReads));
  EXPECT_EQ(s.read_bytes, kReads * 4096u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 0u);
}

TEST_F(AioTest, CompletionIsSignalledOnTheEventFdThroughEpoll) {
  WritePattern();
  ASSERT_FALSE(Readable(aio_->event_fd(), 0)) << "stale eventfd count after reaping";
  util::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  ASSERT_TRUE(ep.valid());
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = aio_->event_fd();
  ASSERT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, aio_->event_fd(), &ev), 0);

  util::AlignedBuffer buf(4096, 4096);
  Recorder rec;
  IoOp op;
  op.handler = &rec;
  op.buf = buf.data();
  op.len = 4096;
  op.offset = 3 * kMiB;
  aio_->Read(op);
  aio_->Submit();
  EXPECT_EQ(aio_->in_flight(), 1u);
  EXPECT_EQ(aio_->queued(), 0u);

  struct epoll_event out {};
  ASSERT_EQ(::epoll_wait(ep.get(), &out, 1, kTimeoutMs), 1) << "no eventfd wakeup";
  EXPECT_EQ(out.data.fd, aio_->event_fd());
  EXPECT_TRUE(rec.done.empty()) << "completed before Reap()";
  aio_->Reap();
  ASSERT_EQ(rec.done.size(), 1u);
  EXPECT_EQ(rec.done[0].result, 4096);
  EXPECT_TRUE(MatchesPattern(buf.data(), 4096, 3 * kMiB));
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(::epoll_wait(ep.get(), &out, 1, 0), 0) << "eventfd still readable after Reap()";
}

TEST_F(AioTest, SubmitBatchesIntoOneCall) {
  util::AlignedBuffer buf(20 * 4096, 4096);
  Recorder rec;
  std::vector<IoOp> ops(20);
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].handler = &rec;
    ops[i].buf = buf.data() + i * 4096;
    ops[i].len = 4096;
    ops[i].offset = i * 4096;
    aio_->Read(ops[i]);
  }
  EXPECT_EQ(aio_->stats().submit_calls, 0u) << "Read() must only queue";
  aio_->Submit();
  EXPECT_EQ(aio_->stats().submit_calls, 1u);
  EXPECT_EQ(aio_->in_flight(), 20u);
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == ops.size(); }));
}

TEST_F(AioTest, ManyMoreOpsThanSlotsAllCompleteExactlyOnce) {
  WritePattern();
  std::string error;
  auto aio = LibaioBackend::Create(dev_->fd(), 8, error);
  ASSERT_NE(aio, nullptr) << error;

  constexpr size_t kOps = 1000;
  util::AlignedBuffer buf(kOps * 4096, 4096);
  ASSERT_FALSE(buf.empty());
  std::vector<IoOp> ops(kOps);
  std::vector<int> completions(kOps, 0);
  size_t max_seen_in_flight = 0;
  Recorder rec;
  rec.on_complete = [&](IoOp& op, int64_t) {
    ++completions[op.user];
    max_seen_in_flight = std::max(max_seen_in_flight, aio->in_flight());
  };
  QueueRandomReads(*aio, ops, buf, rec, 99);
  EXPECT_EQ(aio->queued(), kOps);
  aio->Submit();
  EXPECT_EQ(aio->in_flight(), 8u);
  EXPECT_EQ(aio->queued(), kOps - 8);
  ASSERT_TRUE(WaitUntil(*aio, [&] {
    EXPECT_LE(aio->in_flight(), 8u);
    return rec.done.size() >= kOps && aio->in_flight() == 0 && aio->queued() == 0;
  }));
  EXPECT_EQ(rec.done.size(), kOps);
  EXPECT_LE(max_seen_in_flight, 8u);
  for (size_t i = 0; i < kOps; ++i) {
    EXPECT_EQ(completions[i], 1) << "op " << i;
    EXPECT_TRUE(MatchesPattern(buf.data() + i * 4096, 4096, ops[i].offset)) << "op " << i;
  }
  for (const auto& d : rec.done) EXPECT_EQ(d.result, 4096);
  EXPECT_EQ(aio->stats().reads, kOps);
  EXPECT_EQ(aio->stats().errors, 0u);
}

TEST_F(AioTest, PollSubmitsEveryQueuedReadAndCollectsCompletionsWithoutTheEventFd) {
  WritePattern();
  std::string error;
  // The server's default depth: every outstanding get can be at the device at once.
  auto aio = LibaioBackend::Create(dev_->fd(), 1024, error);
  ASSERT_NE(aio, nullptr) << error;
  constexpr size_t kOps = 512;
  util::AlignedBuffer buf(kOps * 4096, 4096);
  ASSERT_FALSE(buf.empty());
  std::vector<IoOp> ops(kOps);
  Recorder rec;
  QueueRandomReads(*aio, ops, buf, rec, 7);
  aio->Poll();
  // Submitted, or already completed and delivered by the same Poll(): none is left queued.
  EXPECT_EQ(aio->queued(), 0u);
  EXPECT_EQ(aio->in_flight() + rec.done.size(), kOps);
  // The loop also polls after each connection's work, never reading the eventfd there: polling
  // alone must deliver every completion.
  while (rec.done.size() < kOps) {
    ASSERT_TRUE(Readable(aio->event_fd(), kTimeoutMs)) << "a completion was never signalled";
    aio->Poll();
  }
  EXPECT_EQ(aio->in_flight(), 0u);
  for (size_t i = 0; i < kOps; ++i) {
    EXPECT_TRUE(MatchesPattern(buf.data() + i * 4096, 4096, ops[i].offset)) << "op " << i;
  }
  for (const auto& d : rec.done) EXPECT_EQ(d.result, 4096);
  // The eventfd stays signalled; the Reap() it causes finds nothing left and delivers nothing.
  aio->Reap();
  EXPECT_EQ(rec.done.size(), kOps);
}

TEST_F(AioTest, HandlerReusesItsOpFromTheCallback) {
  WritePattern();
  util::AlignedBuffer buf(4096, 4096);
  constexpr int kChain = 50;
  int remaining = kChain;
  int bad = 0;
  IoOp op;
  Recorder rec;
  rec.on_complete = [&](IoOp& o, int64_t result) {
    if (result != 4096 || !MatchesPattern(static_cast<char*>(o.buf), 4096, o.offset)) ++bad;
    if (--remaining > 0) {
      o.offset = (o.offset + 5 * 4096) % kFileSize;
      aio_->Read(o);  // same IoOp, queued from inside its own completion
    }
  };
  op.handler = &rec;
  op.buf = buf.data();
  op.len = 4096;
  op.offset = 0;
  aio_->Read(op);
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return remaining == 0; }));
  EXPECT_EQ(rec.done.size(), static_cast<size_t>(kChain));
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 0u);
}

TEST_F(AioTest, HandlerQueuesOtherOpsAndSubmitsFromTheCallback) {
  WritePattern();
  util::AlignedBuffer buf(4 * 4096, 4096);
  std::vector<IoOp> ops(4);
  Recorder rec;
  rec.on_complete = [&](IoOp& o, int64_t) {
    if (o.user + 1 < ops.size()) {
      IoOp& next = ops[o.user + 1];
      aio_->Read(next);
      aio_->Submit();  // allowed from a callback too
    }
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].handler = &rec;
    ops[i].buf = buf.data() + i * 4096;
    ops[i].len = 4096;
    ops[i].offset = (i + 10) * 4096;
    ops[i].user = i;
  }
  aio_->Read(ops[0]);
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == ops.size(); }));
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(rec.done[i].op, &ops[i]);
    EXPECT_EQ(rec.done[i].result, 4096);
    EXPECT_TRUE(MatchesPattern(buf.data() + i * 4096, 4096, ops[i].offset));
  }
}

// The file offset is misaligned rather than the buffer: since Linux 6.0 a buffer only needs the
// disk's DMA alignment (often 512 bytes), but an offset off the logical block is always refused.
// The range must hold data: reads of unwritten extents are zero-filled without an alignment check.
TEST_F(AioTest, MisalignedRequestCompletesWithEinval) {
  WritePattern();
  util::AlignedBuffer buf(8192, 4096);
  Recorder rec;
  IoOp op;
  op.handler = &rec;
  op.buf = buf.data();
  op.len = 4096;
  op.offset = 100;
  aio_->Read(op);
  aio_->Submit();
  EXPECT_TRUE(rec.done.empty());
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == 1; }));
  EXPECT_EQ(rec.done[0].op, &op);
  EXPECT_EQ(rec.done[0].result, -EINVAL);
  EXPECT_EQ(aio_->stats().errors, 1u);
  EXPECT_EQ(aio_->stats().reads, 1u);
  EXPECT_EQ(aio_->stats().read_bytes, 0u);
}

TEST_F(AioTest, SubmitErrorIsDeliveredFromReapViaTheEventFd) {
  util::AlignedBuffer buf(4096, 4096);
  Recorder rec;
  IoOp op;
  op.handler = &rec;
  op.buf = buf.data();
  op.len = 4096;
  op.offset = 0;
  op.len = kRefusedLen;
  aio_->Write(op);  // io_submit refuses it synchronously
  aio_->Submit();
  EXPECT_TRUE(rec.done.empty()) << "completion delivered from Submit()";
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 1u) << "the failed op is still owed a completion";
  ASSERT_TRUE(Readable(aio_->event_fd(), kTimeoutMs)) << "the event loop would never Reap()";
  aio_->Reap();
  ASSERT_EQ(rec.done.size(), 1u);
  EXPECT_EQ(rec.done[0].op, &op);
  EXPECT_EQ(rec.done[0].result, -EINVAL);
  EXPECT_EQ(aio_->queued(), 0u);
  EXPECT_EQ(aio_->stats().writes, 1u);
  EXPECT_EQ(aio_->stats().errors, 1u);
}

TEST_F(AioTest, PartialSubmitKeepsGoing) {
  WritePattern();
  util::AlignedBuffer buf(5 * 4096, 4096);
  Recorder rec;
  std::vector<IoOp> ops(5);
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].handler = &rec;
    ops[i].buf = buf.data() + i * 4096;
    ops[i].len = 4096;
    ops[i].offset = i * 4096;
    ops[i].user = i;
    // Ops 1 and 3 stop the batch in the middle.
    if (i % 2 == 1) ops[i].len = kRefusedLen;
    aio_->Read(ops[i]);
  }
  aio_->Submit();
  EXPECT_TRUE(rec.done.empty());
  EXPECT_EQ(aio_->in_flight() + aio_->queued(), ops.size());
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == ops.size(); }));
  std::vector<int> seen(ops.size(), 0);
  for (const auto& d : rec.done) {
    ++seen[d.op->user];
    if (d.op->user % 2 == 1) {
      EXPECT_EQ(d.result, -EINVAL) << "op " << d.op->user;
    } else {
      EXPECT_EQ(d.result, 4096) << "op " << d.op->user;
      EXPECT_TRUE(MatchesPattern(static_cast<char*>(d.op->buf), 4096, d.op->offset));
    }
  }
  for (int n : seen) EXPECT_EQ(n, 1);
  EXPECT_EQ(aio_->stats().errors, 2u);
}

TEST_F(AioTest, ShortReadIsReportedAsIs) {
  util::AlignedBuffer buf(8192, 4096);
  Recorder rec;
  IoOp op;
  op.handler = &rec;
  op.buf = buf.data();
  op.len = 8192;
  op.offset = kFileSize - 4096;  // the file ends half way through
  aio_->Read(op);
  ASSERT_TRUE(WaitUntil(*aio_, [&] { return rec.done.size() == 1; }));
  EXPECT_EQ(rec.done[0].result, 4096);
  EXPECT_EQ(aio_->stats().errors, 1u) << "a short transfer counts as an error";
  EXPECT_EQ(aio_->stats().read_bytes, 4096u);
}

TEST_F(AioTest, DrainCompletesEverythingQueuedAndInFlight) {
  WritePattern();
  std::string error;
  auto aio = LibaioBackend::Create(dev_->fd(), 4, error);
  ASSERT_NE(aio, nullptr) << error;
  constexpr size_t kOps = 100;
  util::AlignedBuffer buf(kOps * 4096, 4096);
  std::vector<IoOp> ops(kOps);
  std::vector<int> completions(kOps, 0);
  Recorder rec;
  rec.on_complete = [&](IoOp& op, int64_t) { ++completions[op.user]; };
  for (size_t i = 0; i < kOps; ++i) {
    ops[i].handler = &rec;
    ops[i].buf = buf.data() + i * 4096;
    ops[i].len = 4096;
    ops[i].offset = i * 4096;
    ops[i].user = i;
    if (i == 50) ops[i].len = kRefusedLen;
    aio->Read(ops[i]);
  }
  aio->Submit();
  aio->Drain();
  EXPECT_EQ(aio->in_flight(), 0u);
  EXPECT_EQ(aio->queued(), 0u);
  ASSERT_EQ(rec.done.size(), kOps);
  for (size_t i = 0; i < kOps; ++i) EXPECT_EQ(completions[i], 1) << "op " << i;
  for (const auto& d : rec.done) {
    if (d.op->user == 50) {
      EXPECT_EQ(d.result, -EINVAL);
    } else {
      EXPECT_EQ(d.result, 4096);
      EXPECT_TRUE(MatchesPattern(static_cast<char*>(d.op->buf), 4096, d.op->offset));
    }
  }
  EXPECT_FALSE(Readable(aio->event_fd(), 0)) << "Drain() left a count for a spurious Reap()";
}

TEST_F(AioTest, DrainFollowsOpsQueuedByHandlers) {
  util::AlignedBuffer buf(4096, 4096);
  int remaining = 20;
  IoOp op;
  Recorder rec;
  rec.on_complete = [&](IoOp& o, int64_t) {
    if (--remaining > 0) aio_->Write(o);
  };
  op.handler = &rec;
  op.buf = buf.data();
  op.len = 4096;
  op.offset = 8192;
  aio_->Write(op);
  aio_->Drain();  // without a Submit() first: Drain() must submit by itself
  EXPECT_EQ(remaining, 0);
  EXPECT_EQ(aio_->stats().writes, 20u);
  EXPECT_EQ(aio_->stats().write_bytes, 20 * 4096u);
}

TEST_F(AioTest, SyncIoAndTheSharedMappingReachTheFile) {
  WritePattern();
  util::AlignedBuffer block(8192, 4096);
  std::memset(block.data(), 'w', 4096);
  ASSERT_EQ(aio_->WriteSync(block.data(), 4096, 2 * kMiB), 4096);
  EXPECT_EQ(aio_->Flush(), 0);
  std::memset(block.data(), 0, 4096);
  ASSERT_EQ(aio_->ReadSync(block.data(), 4096, 2 * kMiB), 4096);
  EXPECT_EQ(std::string(block.data(), 4096), std::string(4096, 'w'));
  // Past the end of the file a read comes back short, as pread does.
  EXPECT_EQ(aio_->ReadSync(block.data(), 8192, kFileSize - 4096), 4096);
  EXPECT_TRUE(MatchesPattern(block.data(), 4096, kFileSize - 4096));

  int err = -1;
  {
    IoMapping map = aio_->MapShared(kMiB, 4096, /*populate=*/true, err);
    ASSERT_FALSE(map.empty()) << std::strerror(err);
    EXPECT_EQ(err, 0);
    EXPECT_TRUE(MatchesPattern(map.data(), 4096, kMiB));
    std::memset(map.data(), 'm', 4096);
    EXPECT_EQ(map.Sync(), 0);
  }
  // A direct read sees what was stored through the mapping.
  ASSERT_EQ(aio_->ReadSync(block.data(), 4096, kMiB), 4096);
  EXPECT_EQ(std::string(block.data(), 4096), std::string(4096, 'm'));
  EXPECT_EQ(aio_->stats().reads + aio_->stats().writes, 4u) << "sync IO is not counted as aio";
}

}  // namespace
}  // namespace ssdcache::storage
