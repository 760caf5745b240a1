// Read path tests on a device in memory: a read verifies the record (complete, magic, slab
// sequence, CRC, full key), ops and buffers are recycled by size class, a read longer than two
// slabs gets no buffer, and a lookup's latency is recorded.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "engine_fixture.h"
#include "storage/read_path.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {
namespace {

constexpr uint32_t kSlab = 64 * 1024;
constexpr uint32_t kSkip = 100;     // the record's offset inside the read
constexpr uint32_t kSeq = 77;       // its slab's sequence
constexpr uint64_t kAt = 8 * 4096;  // where the read starts, from the slice's start

class Completions final : public IoHandler {
 public:
  void OnIoComplete(IoOp& op, int64_t result) override {
    last = reinterpret_cast<ReadOp*>(op.user);
    last_result = result;
    ++calls;
  }
  ReadOp* last = nullptr;
  int64_t last_result = 0;
  int calls = 0;
};

class ReadPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    device_ = testing::MemoryDevice(1 << 20, err);
    ASSERT_TRUE(device_) << err;
    io_ = &device_->io();
    reads_ = std::make_unique<ReadPath>(*device_, *io_, done_, kSlab);
    // One record "key" = "value", kSkip bytes into an 8 KiB block-aligned region.
    util::AlignedBuffer buf(8192, device_->block_size());
    std::memset(buf.data(), 0, buf.size());
    WriteItem(buf.data() + kSkip, "key", "value", {}, 3, 0, 5, kSeq, 5);
    ASSERT_EQ(io_->WriteSync(buf.data(), buf.size(), device_->offset() + kAt), 8192);
  }

  // Reads the record as `key` of a slab of sequence `seq`, waits for it and verifies it.
  ReadPath::Outcome ReadAs(std::string_view key, uint32_t seq, ItemView& v) {
    ReadOp* r = reads_->Start(device_->offset() + kAt, device_->offset() + kAt + 8192, kSkip, seq,
                              IndexEntry{}, key, 1);
    EXPECT_NE(r, nullptr);
    if (r == nullptr) return ReadPath::Outcome::kIoError;
    const int before = done_.calls;
    io_->Drain();
    EXPECT_EQ(done_.calls, before + 1);
    EXPECT_EQ(done_.last, r);
    const ReadPath::Outcome out = ReadPath::Verify(*r, done_.last_result, v);
    last_buf_ = r->buf;
    reads_->Put(r);
    return out;
  }

  std::unique_ptr<Device> device_;
  IoBackend* io_ = nullptr;
  Completions done_;
  std::unique_ptr<ReadPath> reads_;
  const char* last_buf_ = nullptr;
};

TEST_F(ReadPathTest, AVerifiedRecordOfTheKeyIsAHit) {
  ItemView v;
  ASSERT_EQ(ReadAs("key", kSeq, v), ReadPath::Outcome::kHit);
  EXPECT_EQ(v.flags, 3u);
}

TEST_F(ReadPathTest, AnotherSlabSequenceIsCorruptAndAnotherKeyIsTold) {
  ItemView v;
  EXPECT_EQ(ReadAs("key", kSeq + 1, v), ReadPath::Outcome::kCorrupt);
  EXPECT_EQ(ReadAs("kez", kSeq, v), ReadPath::Outcome::kOtherKey);
  EXPECT_EQ(v.key, "key");
}

TEST_F(ReadPathTest, AFailedOrShortReadIsAnIoError) {
  ReadOp r;
  r.io.len = 8192;
  ItemView v;
  EXPECT_EQ(ReadPath::Verify(r, -EIO, v), ReadPath::Outcome::kIoError);
  EXPECT_EQ(ReadPath::Verify(r, 4096, v), ReadPath::Outcome::kIoError);
}

TEST_F(ReadPathTest, BuffersAreRecycledBySizeClass) {
  ItemView v;
  ASSERT_EQ(ReadAs("key", kSeq, v), ReadPath::Outcome::kHit);
  const char* first = last_buf_;
  ASSERT_EQ(ReadAs("key", kSeq, v), ReadPath::Outcome::kHit);
  EXPECT_EQ(last_buf_, first) << "a read of the same size class allocated a new buffer";
  // Held by a read in flight: the next read of that class gets another buffer.
  ReadOp* held = reads_->Start(0, 8192, 0, 0, IndexEntry{}, "x", 1);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->buf, first);
  ReadOp* other = reads_->Start(0, 8192, 0, 0, IndexEntry{}, "y", 1);
  ASSERT_NE(other, nullptr);
  EXPECT_NE(other->buf, first);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(other->buf) % device_->block_size(), 0u);
  io_->Drain();
  reads_->Put(held);
  reads_->Put(other);
}

TEST_F(ReadPathTest, AReadLongerThanTwoSlabsGetsNoBuffer) {
  EXPECT_EQ(reads_->Start(0, 4 * uint64_t{kSlab}, 0, 0, IndexEntry{}, "x", 1), nullptr);
}

TEST_F(ReadPathTest, LatencyIsRecordedPerLookup) {
  ReadOp r;
  r.start_ns = util::NowNs();
  reads_->RecordLatency(r);
  EXPECT_EQ(reads_->queue_latency().count(), 1u);
  EXPECT_EQ(reads_->latency().count(), 1u);
  reads_->ResetLatency();
  EXPECT_EQ(reads_->latency().count(), 0u);
}

}  // namespace
}  // namespace ssdcache::storage
