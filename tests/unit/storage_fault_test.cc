// FaultInjector: spec parsing and its errors, reproducible decisions from a seed; FaultBackend
// around a real LibaioBackend on an O_DIRECT file (EIO, short transfers, stalls delivered exactly
// once and late, Drain() ending while ops are held) and around a MemoryBackend (torn writes).
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/device.h"
#include "storage/fault.h"
#include "storage/fault_backend.h"
#include "storage/libaio_backend.h"
#include "storage/memory_backend.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Spec parsing

FaultSpec MustParse(const std::string& text) {
  std::string error;
  std::optional<FaultSpec> spec = FaultSpec::Parse(text, error);
  EXPECT_TRUE(spec.has_value()) << text << ": " << error;
  return spec.value_or(FaultSpec{});
}

std::string ParseError(const std::string& text) {
  std::string error;
  std::optional<FaultSpec> spec = FaultSpec::Parse(text, error);
  EXPECT_FALSE(spec.has_value()) << "'" << text << "' was accepted";
  EXPECT_FALSE(error.empty()) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

TEST(FaultSpecTest, ParsesEveryKey) {
  FaultSpec s = MustParse(
      "read_eio=0.05,write_eio=0.02,read_short=0.01,write_short=0.03,stall_ms=50,stall=0.25,"
      "seed=42,after=100");
  EXPECT_DOUBLE_EQ(s.read_eio, 0.05);
  EXPECT_DOUBLE_EQ(s.write_eio, 0.02);
  EXPECT_DOUBLE_EQ(s.read_short, 0.01);
  EXPECT_DOUBLE_EQ(s.write_short, 0.03);
  EXPECT_DOUBLE_EQ(s.stall, 0.25);
  EXPECT_EQ(s.stall_ms, 50u);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.after, 100u);
  EXPECT_TRUE(s.active());
}

TEST(FaultSpecTest, DefaultsAndInactiveSpecs) {
  FaultSpec empty = MustParse("");
  EXPECT_FALSE(empty.active());
  EXPECT_EQ(empty.seed, 1u);
  EXPECT_EQ(empty.after, 0u);
  EXPECT_FALSE(MustParse("seed=7,after=3").active());
  EXPECT_FALSE(MustParse("read_eio=0,stall_ms=10").active());
  EXPECT_TRUE(MustParse("read_eio=1").active());
  EXPECT_TRUE(MustParse("write_short=1e-3").active());
  EXPECT_TRUE(MustParse("write_torn=0.5").active());
  // Exclusive outcomes may add up to exactly 1.
  EXPECT_TRUE(MustParse("read_eio=0.5,read_short=0.5").active());
}

TEST(FaultSpecTest, ToStringParsesBackToTheSameSpec) {
  FaultSpec s = MustParse(
      "read_eio=0.125,write_short=0.5,write_torn=0.25,stall=0.25,stall_ms=7,seed=9,after=3");
  FaultSpec back = MustParse(s.ToString());
  EXPECT_EQ(back.write_torn, s.write_torn);
  EXPECT_EQ(back.read_eio, s.read_eio);
  EXPECT_EQ(back.read_short, s.read_short);
  EXPECT_EQ(back.write_eio, s.write_eio);
  EXPECT_EQ(back.write_short, s.write_short);
  EXPECT_EQ(back.stall, s.stall);
  EXPECT_EQ(back.stall_ms, s.stall_ms);
  EXPECT_EQ(back.seed, s.seed);
  EXPECT_EQ(back.after, s.after);
}

TEST(FaultSpecTest, MalformedSpecsAreRefusedWithTheirReason) {
  EXPECT_NE(ParseError("read_eoi=0.1").find("read_eoi"), std::string::npos);
  EXPECT_NE(ParseError("read_eio").find("key=value"), std::string::npos);
  EXPECT_NE(ParseError("=0.1").find("key=value"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=0.1,,seed=1").find("key=value"), std::string::npos);
  EXPECT_NE(ParseError(",read_eio=0.1").find("key=value"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=0.1,").find("trailing"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=").find("read_eio"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=abc").find("probability"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=0.1x").find("probability"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=1.5").find("probability"), std::string::npos);
  EXPECT_NE(ParseError("write_eio=-0.1").find("probability"), std::string::npos);
  EXPECT_NE(ParseError("stall=nan,stall_ms=5").find("probability"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=inf").find("probability"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=0.1,read_eio=0.2").find("twice"), std::string::npos);
  EXPECT_NE(ParseError("read_eio=0.7,read_short=0.4").find("<= 1"), std::string::npos);
  EXPECT_NE(ParseError("write_eio=0.7,write_short=0.4").find("<= 1"), std::string::npos);
  EXPECT_NE(ParseError("write_eio=0.5,write_torn=0.6").find("<= 1"), std::string::npos);
  EXPECT_NE(ParseError("stall=0.1").find("stall_ms"), std::string::npos);
  EXPECT_NE(ParseError("stall_ms=-1").find("stall_ms"), std::string::npos);
  EXPECT_NE(ParseError("stall_ms=60001").find("stall_ms"), std::string::npos);
  EXPECT_NE(ParseError("stall_ms=1.5").find("stall_ms"), std::string::npos);
  EXPECT_NE(ParseError("seed=x").find("seed"), std::string::npos);
  EXPECT_NE(ParseError("after=-3").find("after"), std::string::npos);
  EXPECT_NE(ParseError(" read_eio=0.1").find("read_eio"), std::string::npos);
  std::string error;
  EXPECT_EQ(FaultInjector::Create("bogus=1", error), nullptr);
  EXPECT_NE(error.find("bogus"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Decisions

struct Outcome {
  int64_t result;
  bool stall;
  bool operator==(const Outcome&) const = default;
};

// The same sequence of ops (mixed directions and lengths) through an injector built from `spec`.
std::vector<Outcome> Decisions(const std::string& spec, int n) {
  std::string error;
  auto f = FaultInjector::Create(spec, error);
  EXPECT_NE(f, nullptr) << error;
  std::vector<Outcome> out;
  if (f == nullptr) return out;
  for (int i = 0; i < n; ++i) {
    bool write = i % 3 == 0;
    size_t len = 4096u << (i % 4);
    FaultInjector::Decision d = f->Decide(write, len, static_cast<int64_t>(len));
    out.push_back({d.result, d.stall});
  }
  return out;
}

TEST(FaultInjectorTest, SameSeedSameFaultsOtherSeedOtherFaults) {
  const std::string spec =
      "read_eio=0.1,read_short=0.1,write_eio=0.1,write_short=0.1,stall=0.1,stall_ms=5";
  std::vector<Outcome> a = Decisions(spec + ",seed=42", 3000);
  std::vector<Outcome> b = Decisions(spec + ",seed=42", 3000);
  std::vector<Outcome> c = Decisions(spec + ",seed=43", 3000);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(FaultInjectorTest, OutcomesFollowTheirProbabilities) {
  std::string error;
  auto f = FaultInjector::Create(
      "read_eio=0.2,read_short=0.1,write_eio=0.05,stall=0.3,stall_ms=5,seed=5", error);
  ASSERT_NE(f, nullptr) << error;
  constexpr int kOps = 20000;
  int read_eio = 0, read_short = 0, write_eio = 0, write_short = 0, stalls = 0;
  for (int i = 0; i < kOps; ++i) {
    bool write = i % 2 == 1;
    FaultInjector::Decision d = f->Decide(write, 8192, 8192);
    if (d.stall) ++stalls;
    if (d.result == -EIO) ++(write ? write_eio : read_eio);
    if (d.result >= 0 && d.result < 8192) {
      ++(write ? write_short : read_short);
      EXPECT_EQ(d.result % 512, 0);
    }
  }
  // Fixed seed: these counts never change from run to run; the bounds only document the rates.
  EXPECT_NEAR(read_eio, kOps / 2 * 0.2, kOps / 2 * 0.03);
  EXPECT_NEAR(read_short, kOps / 2 * 0.1, kOps / 2 * 0.03);
  EXPECT_NEAR(write_eio, kOps / 2 * 0.05, kOps / 2 * 0.03);
  EXPECT_EQ(write_short, 0);
  EXPECT_NEAR(stalls, kOps * 0.3, kOps * 0.03);
  EXPECT_EQ(f->stats().ops, static_cast<uint64_t>(kOps));
  EXPECT_EQ(f->stats().eio, static_cast<uint64_t>(read_eio + write_eio));
  EXPECT_EQ(f->stats().short_ops, static_cast<uint64_t>(read_short));
}

TEST(FaultInjectorTest, AfterLetsTheFirstOpsThrough) {
  std::string error;
  auto f = FaultInjector::Create("read_eio=1,write_eio=1,after=10", error);
  ASSERT_NE(f, nullptr) << error;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(f->Decide(i % 2 == 0, 4096, 4096).result, 4096) << i;
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f->Decide(i % 2 == 0, 4096, 4096).result, -EIO) << i;
}

TEST(FaultInjectorTest, RealErrorsAreNeverMaskedAndShortIsAlwaysShort) {
  std::string error;
  auto f = FaultInjector::Create("read_eio=1,write_short=1", error);
  ASSERT_NE(f, nullptr) << error;
  EXPECT_EQ(f->Decide(false, 4096, -ENOSPC).result, -ENOSPC);
  EXPECT_EQ(f->Decide(true, 4096, -EINVAL).result, -EINVAL);
  for (size_t len : {1u, 511u, 512u, 1024u, 4096u, 65536u, 1u << 20}) {
    int64_t r = f->Decide(true, len, static_cast<int64_t>(len)).result;
    EXPECT_GE(r, 0) << len;
    EXPECT_LT(r, static_cast<int64_t>(len)) << len;
  }
  // A transfer that the kernel already cut short stays at most that long.
  EXPECT_LE(f->Decide(true, 65536, 4096).result, 4096);
}

TEST(FaultInjectorTest, HeldOpsComeBackInOrderOnlyWhenDue) {
  std::string error;
  auto f = FaultInjector::Create("stall=1,stall_ms=40", error);
  ASSERT_NE(f, nullptr) << error;
  IoOp a, b;
  IoOp* op = nullptr;
  int64_t result = 0;
  auto start = Clock::now();
  f->Hold(a, 11);
  f->Hold(b, -EIO);
  EXPECT_EQ(f->held(), 2u);
  // Not attached to an eventfd: no waker thread; TakeHeld alone decides.
  while (!f->TakeHeld(false, op, result)) ::usleep(1000);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(40));
  EXPECT_EQ(op, &a);
  EXPECT_EQ(result, 11);
  ASSERT_TRUE(f->TakeHeld(true, op, result));
  EXPECT_EQ(op, &b);
  EXPECT_EQ(result, -EIO);
  EXPECT_FALSE(f->TakeHeld(true, op, result));
  EXPECT_EQ(f->stats().stalled, 2u);
  EXPECT_EQ(f->stats().delivered, 2u);
}

// ---------------------------------------------------------------------------------------------
// Around a real LibaioBackend

constexpr uint64_t kFileSize = 4 << 20;
constexpr uint64_t kBlock = 4096;
constexpr int kTimeoutMs = 10000;

bool IsTmpfs(const std::string& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

std::string MakeTempDir() {
  const char* env = std::getenv("TMPDIR");
  std::string base = (env != nullptr && *env != '\0' && !IsTmpfs(env)) ? env : "/var/tmp";
  std::string templ = base + "/ssdcache-fault-test-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return "";
  return templ;
}

char PatternByte(uint64_t off) {
  return static_cast<char>((off * 131 + off / 4096 * 7 + 1) & 0xff);
}

struct Recorder : IoHandler {
  void OnIoComplete(IoOp& op, int64_t result) override {
    ++count[&op];
    results[&op] = result;
    when[&op] = Clock::now();
    ++total;
    if (on_complete) on_complete(op, result);
  }
  std::map<IoOp*, int> count;
  std::map<IoOp*, int64_t> results;
  std::map<IoOp*, Clock::time_point> when;
  size_t total = 0;
  std::function<void(IoOp&, int64_t)> on_complete;
};

class FaultAioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::alarm(120);  // a lost completion or a Drain() that never ends fails the run
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty()) << std::strerror(errno);
    DeviceOptions o;
    o.path = dir_ + "/cache";
    o.file_size = kFileSize;
    std::string error;
    dev_ = Device::Open(
        o,
        [](int fd, std::string& e) {
          return std::unique_ptr<IoBackend>(LibaioBackend::Create(fd, 1, e));
        },
        error);
    ASSERT_NE(dev_, nullptr) << error;
    std::unique_ptr<IoBackend> libaio = LibaioBackend::Create(dev_->fd(), 16, error);
    ASSERT_NE(libaio, nullptr) << error;
    aio_ = std::make_unique<FaultBackend>(std::move(libaio));
    // The whole file holds a known pattern, written before any fault is installed.
    util::AlignedBuffer buf(kFileSize, kBlock);
    for (uint64_t i = 0; i < kFileSize; ++i) buf.data()[i] = PatternByte(i);
    Recorder rec;
    IoOp w;
    w.handler = &rec;
    w.buf = buf.data();
    w.len = kFileSize;
    w.offset = 0;
    aio_->Write(w);
    ASSERT_TRUE(WaitUntil([&] { return rec.total == 1; }));
    ASSERT_EQ(rec.results[&w], static_cast<int64_t>(kFileSize));
  }
  void TearDown() override {
    aio_.reset();
    dev_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    ::alarm(0);
  }

  void Install(const std::string& spec) {
    std::string error;
    auto f = FaultInjector::Create(spec, error);
    ASSERT_NE(f, nullptr) << error;
    aio_->set_injector(std::move(f));
  }

  // The event loop's way: sleep on the eventfd only, then Reap(). False on timeout.
  bool WaitUntil(const std::function<bool()>& done) {
    auto deadline = Clock::now() + std::chrono::milliseconds(kTimeoutMs);
    aio_->Submit();
    while (!done()) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{aio_->event_fd(), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno != EINTR) return false;
      if (n > 0) aio_->Reap();
    }
    return true;
  }

  // `n` block reads at distinct offsets into `bufs`, all queued.
  void QueueReads(std::vector<IoOp>& ops, std::vector<util::AlignedBuffer>& bufs, Recorder& rec,
                  size_t len = kBlock) {
    for (size_t i = 0; i < ops.size(); ++i) {
      bufs.emplace_back(len, kBlock);
      ops[i].handler = &rec;
      ops[i].buf = bufs.back().data();
      ops[i].len = len;
      ops[i].offset = (i * 7 % (kFileSize / len)) * len;
      aio_->Read(ops[i]);
    }
  }

  bool Matches(const IoOp& op) const {
    const char* b = static_cast<const char*>(op.buf);
    for (size_t i = 0; i < op.len; ++i) {
      if (b[i] != PatternByte(op.offset + i)) return false;
    }
    return true;
  }

  std::string dir_;
  std::unique_ptr<Device> dev_;
  std::unique_ptr<FaultBackend> aio_;  // around its own LibaioBackend on the device's fd
};

TEST_F(FaultAioTest, ReadEioFailsEveryReadAndNoWrite) {
  Install("read_eio=1");
  Recorder rec;
  std::vector<IoOp> reads(40);
  std::vector<util::AlignedBuffer> bufs;
  QueueReads(reads, bufs, rec);
  // Writes go through untouched.
  util::AlignedBuffer wbuf(kBlock, kBlock);
  for (uint64_t i = 0; i < kBlock; ++i) wbuf.data()[i] = PatternByte(kBlock + i);
  IoOp w;
  w.handler = &rec;
  w.buf = wbuf.data();
  w.len = kBlock;
  w.offset = kBlock;
  aio_->Write(w);
  ASSERT_TRUE(WaitUntil([&] { return rec.total == reads.size() + 1; }));
  for (IoOp& r : reads) {
    EXPECT_EQ(rec.count[&r], 1);
    EXPECT_EQ(rec.results[&r], -EIO);
  }
  EXPECT_EQ(rec.results[&w], static_cast<int64_t>(kBlock));
  EXPECT_EQ(aio_->stats().errors, reads.size());
  EXPECT_EQ(aio_->injector()->stats().eio, reads.size());
  EXPECT_EQ(aio_->in_flight(), 0u);
}

TEST_F(FaultAioTest, WriteShortMakesEveryWriteShortAndNoRead) {
  Install("write_short=1");
  Recorder rec;
  std::vector<util::AlignedBuffer> bufs;
  std::vector<IoOp> writes(8);
  for (size_t i = 0; i < writes.size(); ++i) {
    size_t len = kBlock << (i % 4);
    bufs.emplace_back(len, kBlock);
    for (size_t j = 0; j < len; ++j) bufs.back().data()[j] = PatternByte(i * 65536 + j);
    writes[i].handler = &rec;
    writes[i].buf = bufs.back().data();
    writes[i].len = len;
    writes[i].offset = i * 65536;
    aio_->Write(writes[i]);
  }
  std::vector<IoOp> reads(8);
  QueueReads(reads, bufs, rec);
  ASSERT_TRUE(WaitUntil([&] { return rec.total == writes.size() + reads.size(); }));
  for (IoOp& w : writes) {
    EXPECT_EQ(rec.count[&w], 1);
    EXPECT_GE(rec.results[&w], 0);
    EXPECT_LT(rec.results[&w], static_cast<int64_t>(w.len));
  }
  for (IoOp& r : reads) {
    EXPECT_EQ(rec.results[&r], static_cast<int64_t>(kBlock));
    EXPECT_TRUE(Matches(r));
  }
  EXPECT_EQ(aio_->stats().errors, writes.size());
}

TEST_F(FaultAioTest, StallsDelayButDeliverEveryOpExactlyOnce) {
  constexpr int kStallMs = 50;
  Install("stall=1,stall_ms=50");
  Recorder rec;
  std::vector<IoOp> reads(40);  // more than the 16 slots: held ops keep theirs until delivered
  std::vector<util::AlignedBuffer> bufs;
  auto start = Clock::now();
  QueueReads(reads, bufs, rec);
  aio_->Submit();
  // Only the eventfd wakes WaitUntil: the waker thread must signal when held ops are due.
  ASSERT_TRUE(WaitUntil([&] { return rec.total == reads.size(); }));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(kStallMs));
  for (IoOp& r : reads) {
    EXPECT_EQ(rec.count[&r], 1);
    EXPECT_EQ(rec.results[&r], static_cast<int64_t>(kBlock));
    EXPECT_TRUE(Matches(r));
    EXPECT_GE(rec.when[&r] - start, std::chrono::milliseconds(kStallMs));
  }
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 0u);
  EXPECT_EQ(aio_->injector()->stats().stalled, reads.size());
  EXPECT_EQ(aio_->injector()->stats().delivered, reads.size());
  // Nothing more comes later.
  aio_->Reap();
  EXPECT_EQ(rec.total, reads.size());
}

TEST_F(FaultAioTest, HeldOpsCountAsInFlightUntilDelivered) {
  Install("stall=1,stall_ms=200");
  Recorder rec;
  std::vector<IoOp> reads(1);
  std::vector<util::AlignedBuffer> bufs;
  QueueReads(reads, bufs, rec);
  aio_->Submit();
  // Reap as soon as the kernel is done: the op is held, not delivered.
  auto start = Clock::now();
  while (aio_->injector()->held() == 0 && Clock::now() - start < std::chrono::seconds(10)) {
    pollfd p{aio_->event_fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    aio_->Reap();
  }
  ASSERT_EQ(aio_->injector()->held(), 1u);
  EXPECT_EQ(rec.total, 0u);  // held for 200 ms
  EXPECT_EQ(aio_->in_flight(), 1u);
  ASSERT_TRUE(WaitUntil([&] { return rec.total == 1; }));
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->injector()->held(), 0u);
}

TEST_F(FaultAioTest, StalledFailuresKeepTheirError) {
  Install("stall=1,stall_ms=20,read_eio=1");
  Recorder rec;
  std::vector<IoOp> reads(10);
  std::vector<util::AlignedBuffer> bufs;
  QueueReads(reads, bufs, rec);
  ASSERT_TRUE(WaitUntil([&] { return rec.total == reads.size(); }));
  for (IoOp& r : reads) EXPECT_EQ(rec.results[&r], -EIO);
}

TEST_F(FaultAioTest, DrainEndsWithHeldOpsAndOpsQueuedByHandlers) {
  // Stalls of a minute: Drain() must not wait them out (alarm(120) catches a hang).
  Install("stall=1,stall_ms=60000");
  Recorder rec;
  std::vector<IoOp> reads(40);
  std::vector<util::AlignedBuffer> bufs;
  QueueReads(reads, bufs, rec);
  // Each of the first completions queues one more read from its handler.
  std::vector<IoOp> chained(10);
  size_t next = 0;
  rec.on_complete = [&](IoOp& op, int64_t) {
    bool is_chained = &op >= chained.data() && &op < chained.data() + chained.size();
    if (!is_chained && next < chained.size()) {
      IoOp& c = chained[next++];
      c.handler = &rec;
      c.buf = op.buf;
      c.len = op.len;
      c.offset = op.offset;
      aio_->Read(c);
    }
  };
  aio_->Submit();
  // Let the kernel finish some and the injector hold them.
  for (int i = 0; i < 100 && aio_->injector()->held() == 0; ++i) {
    pollfd p{aio_->event_fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    aio_->Reap();
  }
  EXPECT_GT(aio_->injector()->held(), 0u);
  EXPECT_EQ(rec.total, 0u);
  aio_->Drain();
  EXPECT_EQ(aio_->in_flight(), 0u);
  EXPECT_EQ(aio_->queued(), 0u);
  EXPECT_EQ(rec.total, reads.size() + chained.size());
  for (IoOp& r : reads) EXPECT_EQ(rec.count[&r], 1);
  for (IoOp& c : chained) EXPECT_EQ(rec.count[&c], 1);
  EXPECT_EQ(aio_->injector()->held(), 0u);
}

TEST_F(FaultAioTest, DestroyingTheBackendWithHeldOpsIsClean) {
  Install("stall=1,stall_ms=60000");
  Recorder rec;
  std::vector<IoOp> reads(4);
  std::vector<util::AlignedBuffer> bufs;
  QueueReads(reads, bufs, rec);
  aio_->Submit();
  for (int i = 0; i < 100 && aio_->injector()->held() < reads.size(); ++i) {
    pollfd p{aio_->event_fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
    aio_->Reap();
  }
  EXPECT_EQ(rec.total, 0u);
  aio_.reset();  // stops the waker thread; held ops are never delivered, like ops in the kernel
  EXPECT_EQ(rec.total, 0u);
}

TEST_F(FaultAioTest, AfterLetsTheFirstCompletionsThroughInARealBackend) {
  Install("read_eio=1,after=5");
  Recorder rec;
  std::vector<IoOp> reads(1);
  std::vector<util::AlignedBuffer> bufs;
  // One at a time, so the completion order is the submission order.
  std::vector<int64_t> results;
  for (int i = 0; i < 8; ++i) {
    reads.assign(1, IoOp{});
    bufs.clear();
    rec.total = 0;
    QueueReads(reads, bufs, rec);
    ASSERT_TRUE(WaitUntil([&] { return rec.total == 1; }));
    results.push_back(rec.results[&reads[0]]);
  }
  std::vector<int64_t> want(5, static_cast<int64_t>(kBlock));
  want.resize(8, -EIO);
  EXPECT_EQ(results, want);
}

TEST_F(FaultAioTest, WithoutAnInjectorOpsGoStraightThrough) {
  aio_->set_injector(nullptr);
  Recorder rec;
  std::vector<IoOp> reads(4);
  std::vector<util::AlignedBuffer> bufs;
  QueueReads(reads, bufs, rec);
  for (IoOp& r : reads) EXPECT_EQ(r.handler, &rec) << "the decorator stood in without faults";
  ASSERT_TRUE(WaitUntil([&] { return rec.total == reads.size(); }));
  for (IoOp& r : reads) EXPECT_TRUE(Matches(r));
}

// ---------------------------------------------------------------------------------------------
// Around a MemoryBackend

class FaultMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = std::make_shared<MemoryImage>(1 << 20);
    std::string error;
    auto memory = MemoryBackend::Create(image_, {}, error);
    ASSERT_NE(memory, nullptr) << error;
    io_ = std::make_unique<FaultBackend>(std::move(memory));
  }
  void Install(const std::string& spec) {
    std::string error;
    auto f = FaultInjector::Create(spec, error);
    ASSERT_NE(f, nullptr) << error;
    io_->set_injector(std::move(f));
  }
  std::string Image(uint64_t offset, size_t len) const {
    return std::string(image_->bytes.data() + offset, len);
  }

  std::shared_ptr<MemoryImage> image_;
  std::unique_ptr<FaultBackend> io_;
};

TEST_F(FaultMemoryTest, ATornWriteKeepsAPrefixLeavesGarbageAndFails) {
  Install("write_torn=1");
  std::memset(image_->bytes.data(), 'o', 32 * kBlock);  // the old contents
  util::AlignedBuffer buf(16 * kBlock, kBlock);
  std::memset(buf.data(), 'n', 16 * kBlock);
  Recorder rec;
  IoOp w;
  w.handler = &rec;
  w.buf = buf.data();
  w.len = 16 * kBlock;
  w.offset = 4 * kBlock;
  io_->Write(w);
  io_->Drain();
  ASSERT_EQ(rec.count[&w], 1);
  EXPECT_EQ(rec.results[&w], -EIO);
  EXPECT_EQ(w.handler, &rec);
  EXPECT_EQ(io_->injector()->stats().torn, 1u);
  EXPECT_EQ(io_->stats().errors, 1u);
  EXPECT_TRUE(Image(0, 4 * kBlock) == std::string(4 * kBlock, 'o')) << "outside the range";
  EXPECT_TRUE(Image(4 * kBlock, 8 * kBlock) == std::string(8 * kBlock, 'n')) << "the kept prefix";
  const std::string tail = Image(12 * kBlock, 8 * kBlock);
  EXPECT_NE(tail.find_first_not_of('n'), std::string::npos) << "the tail holds the new data";
  EXPECT_NE(tail.find_first_not_of('o'), std::string::npos) << "the tail holds the old data";
  EXPECT_TRUE(Image(20 * kBlock, kBlock) == std::string(kBlock, 'o')) << "outside the range";

  // Reads and journal writes are never torn.
  IoOp r;
  r.handler = &rec;
  r.buf = buf.data();
  r.len = kBlock;
  io_->Read(r);
  IoOp j;
  j.handler = &rec;
  j.buf = buf.data();
  j.len = kBlock;
  j.offset = 30 * kBlock;
  j.journal = true;
  io_->Write(j);
  io_->Drain();
  EXPECT_EQ(rec.results[&r], static_cast<int64_t>(kBlock));
  EXPECT_EQ(rec.results[&j], static_cast<int64_t>(kBlock));
  EXPECT_EQ(io_->injector()->stats().torn, 1u);
}

TEST_F(FaultMemoryTest, ShortCountsAreReportedInTheStats) {
  Install("read_short=1");
  util::AlignedBuffer buf(4 * kBlock, kBlock);
  Recorder rec;
  IoOp r;
  r.handler = &rec;
  r.buf = buf.data();
  r.len = 4 * kBlock;
  io_->Read(r);
  io_->Drain();
  ASSERT_EQ(rec.results[&r], static_cast<int64_t>(2 * kBlock));
  EXPECT_EQ(io_->stats().read_bytes, 2 * kBlock);
  EXPECT_EQ(io_->stats().errors, 1u);
}

}  // namespace
}  // namespace ssdcache::storage
