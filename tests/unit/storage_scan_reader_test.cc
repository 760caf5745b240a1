// ScanReader: the warm-restart scan's reads. Ranges come back in list order with the right bytes
// whatever order the backend completes them in; no more than depth() reads are ever outstanding
// and the window is used; the buffers are a fixed pool, reused, with no allocation per read; a
// failed or short read is reported as such (the scan then reads synchronously); ReadNow reads
// while the listed reads stay out.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "storage/fault_backend.h"
#include "storage/memory_backend.h"
#include "storage/scan_reader.h"
#include "util/aligned_buffer.h"
#include "util/huge_buffer.h"

namespace ssdcache::storage {
namespace {

constexpr uint32_t kBlock = 4096;
constexpr size_t kImage = 512 * kBlock;

class ScanReaderTest : public ::testing::Test {
 protected:
  // An image whose every 8-byte word holds its own offset, behind a fault decorator over a memory
  // backend that completes each batch in a seeded permutation.
  void SetUp() override {
    auto image = std::make_shared<MemoryImage>(kImage);
    for (uint64_t at = 0; at < kImage; at += 8) std::memcpy(&image->bytes[at], &at, 8);
    std::string error;
    MemoryBackendOptions m;
    m.max_in_flight = 64;
    auto memory = MemoryBackend::Create(image, m, error);
    ASSERT_NE(memory, nullptr) << error;
    memory->set_reorder(7);
    memory_ = memory.get();
    faults_ = std::make_unique<FaultBackend>(std::move(memory));
  }
  void Faults(const std::string& spec) {
    std::string error;
    auto f = FaultInjector::Create(spec, error);
    ASSERT_NE(f, nullptr) << error;
    faults_->set_injector(std::move(f));
  }
  // True when `data` holds the image's bytes at [offset, offset + len).
  static bool Holds(const char* data, uint64_t offset, uint32_t len) {
    for (uint64_t at = 0; at < len; at += 8) {
      uint64_t word;
      std::memcpy(&word, data + at, 8);
      if (word != offset + at) return false;
    }
    return true;
  }
  // Ranges in no particular device order, of 1 to 8 blocks.
  static std::vector<ScanReader::Range> Ranges(size_t n) {
    std::vector<ScanReader::Range> r;
    for (size_t i = 0; i < n; ++i) {
      r.push_back(
          {.offset = (i * 37 % 500) * kBlock, .len = static_cast<uint32_t>(1 + i % 8) * kBlock});
    }
    for (auto& x : r) x.len = std::min<uint64_t>(x.len, kImage - x.offset);
    return r;
  }

  // Reads `ranges` to the end: each comes back once, in list order, read in full.
  static void ExpectInOrder(ScanReader& reader, const std::vector<ScanReader::Range>& ranges) {
    reader.Start(ranges);
    ScanReader::Chunk c;
    size_t i = 0;
    while (reader.Next(c)) {
      ASSERT_LT(i, ranges.size());
      EXPECT_EQ(c.offset, ranges[i].offset);
      EXPECT_EQ(c.len, ranges[i].len);
      ASSERT_TRUE(c.ok()) << c.result;
      EXPECT_TRUE(Holds(c.data, c.offset, c.len)) << "range " << i;
      ++i;
    }
    EXPECT_EQ(i, ranges.size());
  }

  MemoryBackend* memory_ = nullptr;
  std::unique_ptr<FaultBackend> faults_;
};

TEST_F(ScanReaderTest, RangesComeBackInListOrderWithTheirBytes) {
  const auto ranges = Ranges(200);
  ScanReader reader(*faults_, 8, 8 * kBlock, kBlock);
  ExpectInOrder(reader, ranges);
  EXPECT_EQ(reader.stats().reads, ranges.size());
  EXPECT_EQ(reader.stats().failed, 0u);
}

TEST_F(ScanReaderTest, NeverMoreThanDepthReadsOutAndTheWindowIsUsed) {
  const auto ranges = Ranges(100);
  for (size_t depth : {1u, 4u, 16u}) {
    ScanReader reader(*faults_, depth, 8 * kBlock, kBlock);
    reader.Start(ranges);
    ScanReader::Chunk c;
    while (reader.Next(c)) {
      // While the caller parses one range, the others are still being read.
      EXPECT_LE(reader.in_flight(), depth);
      EXPECT_LE(faults_->in_flight() + faults_->queued(), depth);
    }
    EXPECT_EQ(reader.stats().max_in_flight, depth);
    EXPECT_EQ(faults_->in_flight() + faults_->queued(), 0u);
  }
}

TEST_F(ScanReaderTest, BuffersAreAFixedPoolReusedWithoutAllocation) {
  const auto ranges = Ranges(300);
  ScanReader reader(*faults_, 4, 8 * kBlock, kBlock);
  std::vector<const char*> seen;
  seen.reserve(ranges.size());
  ScanReader::Chunk c;
  reader.Start(ranges);
  const uint64_t before = g_allocations.load();
  while (reader.Next(c)) seen.push_back(c.data);
  EXPECT_EQ(g_allocations.load(), before) << "allocated per read";
  ASSERT_EQ(seen.size(), ranges.size());
  const std::set<const char*> buffers(seen.begin(), seen.end());
  EXPECT_EQ(buffers.size(), 5u);  // depth + 1: one parsed while depth are read
  for (const char* b : buffers) EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % kBlock, 0u);
}

TEST_F(ScanReaderTest, BuffersAreSlicesOfOneHugePageMapping) {
  // A 1 MiB read in 4 KiB pages is 256 segments, more than a virtio disk takes in one request.
  ScanReader reader(*faults_, 3, 256 * kBlock, kBlock);
  const auto ranges = Ranges(8);
  reader.Start(ranges);
  std::set<const char*> buffers;
  ScanReader::Chunk c;
  while (reader.Next(c)) buffers.insert(c.data);
  ASSERT_EQ(buffers.size(), 4u);
  const auto first = reinterpret_cast<uintptr_t>(*buffers.begin());
  EXPECT_EQ(first % util::HugeBuffer::kHugePage, 0u);
  size_t i = 0;
  for (const char* b : buffers)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b), first + i++ * 256 * kBlock);
}

TEST_F(ScanReaderTest, IdleWorkRunsInsteadOfWaitingAndChangesNoRange) {
  Faults("stall=0.5,stall_ms=2,seed=9");
  const auto ranges = Ranges(40);
  ScanReader reader(*faults_, 4, 8 * kBlock, kBlock);
  int steps = 0;
  reader.set_idle([&] { return ++steps <= 50; });  // then nothing left: the reader sleeps
  ExpectInOrder(reader, ranges);
  EXPECT_GT(steps, 50);
  EXPECT_GT(reader.stats().idle_seconds, 0.0);
}

TEST_F(ScanReaderTest, FailedAndShortReadsAreReportedNotHidden) {
  const auto ranges = Ranges(40);
  Faults("read_eio=1");
  {
    ScanReader reader(*faults_, 8, 8 * kBlock, kBlock);
    reader.Start(ranges);
    ScanReader::Chunk c;
    while (reader.Next(c)) {
      EXPECT_EQ(c.result, -EIO);
      EXPECT_FALSE(c.ok());
      EXPECT_FALSE(c.Covers(c.offset, kBlock));
    }
    EXPECT_EQ(reader.stats().failed, ranges.size());
  }
  Faults("read_short=1");
  ScanReader reader(*faults_, 8, 8 * kBlock, kBlock);
  reader.Start(ranges);
  ScanReader::Chunk c;
  while (reader.Next(c)) {
    EXPECT_GE(c.result, 0);
    EXPECT_LT(c.result, static_cast<int64_t>(c.len));
    EXPECT_FALSE(c.ok());
  }
}

TEST_F(ScanReaderTest, StalledReadsStillComeBackInOrder) {
  Faults("stall=0.3,stall_ms=2,seed=5");
  const auto ranges = Ranges(60);
  ScanReader reader(*faults_, 8, 8 * kBlock, kBlock);
  ExpectInOrder(reader, ranges);
  EXPECT_GT(faults_->injector()->stats().stalled, 0u);
}

TEST_F(ScanReaderTest, ReadNowReadsWhileTheListedReadsStayOut) {
  const auto ranges = Ranges(50);
  ScanReader reader(*faults_, 4, 8 * kBlock, kBlock);
  util::AlignedBuffer mine(16 * kBlock, kBlock);
  reader.Start(ranges);
  ScanReader::Chunk c;
  size_t i = 0;
  while (reader.Next(c)) {
    const uint64_t at = (i * 13 % 400) * kBlock;
    ASSERT_EQ(reader.ReadNow(mine.data(), 16 * kBlock, at), 16 * int64_t{kBlock});
    EXPECT_TRUE(Holds(mine.data(), at, 16 * kBlock));
    // The range returned last is untouched by it.
    EXPECT_TRUE(Holds(c.data, ranges[i].offset, ranges[i].len));
    EXPECT_LE(reader.stats().max_in_flight, 4u);
    ++i;
  }
  EXPECT_EQ(i, ranges.size());
  // Beyond the end of the device: the backend's error, as ReadSync's would be a short count.
  EXPECT_LT(reader.ReadNow(mine.data(), 2 * kBlock, kImage - kBlock), 2 * int64_t{kBlock});
}

}  // namespace
}  // namespace ssdcache::storage
