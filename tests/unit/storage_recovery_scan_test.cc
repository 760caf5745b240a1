// The warm restart's scan IO (recovery.h, scan_reader.h): it reads through the backend's
// asynchronous path in large reads; reads that fail or come back short there are read again
// synchronously, so a restart under injected read faults rebuilds exactly what one without them
// does; a read the device also fails synchronously fails the restart with the error it always
// gave.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "forwarding_backend.h"
#include "storage/engine.h"
#include "storage/fault_backend.h"

namespace ssdcache::storage {
namespace {

using testing::kSlab;

constexpr int kKeys = 3000;
constexpr uint64_t kDevice = 48 * kSlab;

// Forwards to another backend, but ReadSync fails from `fail_from` on: a device that fails a read
// whichever way it is asked.
class FailingSyncReads final : public ForwardingBackend {
 public:
  FailingSyncReads(IoBackend& inner, uint64_t fail_from)
      : ForwardingBackend(inner), fail_from_(fail_from) {}
  int64_t ReadSync(void* buf, size_t len, uint64_t offset) override {
    return offset + len > fail_from_ ? -EIO : ForwardingBackend::ReadSync(buf, len, offset);
  }

 private:
  uint64_t fail_from_;
};

class RecoveryScanTest : public testing::EngineFixture {
 protected:
  RecoveryScanTest() : EngineFixture("scan") {}
  void SetUp() override { ::alarm(120); }
  void TearDown() override {
    EngineFixture::TearDown();
    ::alarm(0);
  }
  // Fills most of the device with items of mixed classes, then stops cleanly.
  void FillAndStop() {
    Open(kDevice, 6 * kSlab);
    for (int i = 0; i < kKeys; ++i) {
      const std::string key = "k" + std::to_string(i);
      ASSERT_EQ(Set(key, std::string(300 + i % 7 * 250, static_cast<char>('a' + i % 26))),
                StoreResult::kStored);
    }
    std::string err;
    ASSERT_TRUE(CleanRestart(err, DefaultOptions(6 * kSlab))) << err;
  }
  void Faults(const std::string& spec) {
    std::string error;
    auto f = spec.empty() ? nullptr : FaultInjector::Create(spec, error);
    ASSERT_TRUE(spec.empty() || f != nullptr) << error;
    faults_->set_injector(std::move(f));
  }
  static void ExpectSameScan(const RecoveryStats& a, const RecoveryStats& b) {
    EXPECT_EQ(a.slabs, b.slabs);
    EXPECT_EQ(a.items, b.items);
    EXPECT_EQ(a.tombstones, b.tombstones);
    EXPECT_EQ(a.skipped, b.skipped);
    EXPECT_EQ(a.bytes_scanned, b.bytes_scanned);
    EXPECT_EQ(a.pieces_past_gap, b.pieces_past_gap);
    EXPECT_EQ(a.tag_collisions, b.tag_collisions);
    EXPECT_EQ(a.index_full, b.index_full);
  }
};

TEST_F(RecoveryScanTest, TheScanReadsThroughTheAsyncPathInLargeReads) {
  ASSERT_NO_FATAL_FAILURE(FillAndStop());
  const IoStats before = aio_->stats();
  std::string err;
  ASSERT_TRUE(Reopen(err, DefaultOptions(6 * kSlab))) << err;
  const IoStats after = aio_->stats();
  const RecoveryStats& r = engine_->recovery();
  ASSERT_GT(r.slabs, 20u);
  // The scan's bytes came through Read()/Reap(): pass 1's header blocks (one read per disk slab,
  // and the rest of one in one read where pieces are packed) and pass 2's pieces, adjacent ones
  // coalesced (fewer reads than pieces).
  EXPECT_GE(after.read_bytes - before.read_bytes, r.bytes_scanned * 9 / 10);
  EXPECT_LT(after.reads - before.reads, engine_->disk_slabs_total() + r.slabs / 2);
  EXPECT_EQ(after.errors, before.errors);
}

TEST_F(RecoveryScanTest, InjectedReadFaultsRebuildTheSameIndex) {
  ASSERT_NO_FATAL_FAILURE(FillAndStop());
  const RecoveryStats clean = engine_->recovery();
  Faults("read_eio=0.3,read_short=0.2,seed=11");
  std::string err;
  ASSERT_TRUE(Reopen(err, DefaultOptions(6 * kSlab))) << err;
  const FaultStats f = faults_->injector()->stats();
  EXPECT_GT(f.eio + f.short_ops, 5u) << "the scan's reads met no fault";
  ExpectSameScan(engine_->recovery(), clean);
  Faults("");
  for (int i = 0; i < kKeys; i += 7) {
    const std::string key = "k" + std::to_string(i);
    const testing::Result got = Get(key);
    ASSERT_TRUE(got.hit) << key;
    EXPECT_EQ(got.value, std::string(300 + i % 7 * 250, static_cast<char>('a' + i % 26)));
  }
}

TEST_F(RecoveryScanTest, AReadTheDeviceAlsoFailsSynchronouslyFailsTheRestartAsBefore) {
  ASSERT_NO_FATAL_FAILURE(FillAndStop());
  Faults("read_eio=1");
  // Past the superblock and the first disk slabs: the scan itself meets the failure.
  FailingSyncReads failing(*aio_, 8 * kSlab);
  engine_.reset();
  std::string err;
  engine_ = Engine::Create(DefaultOptions(6 * kSlab), *device_, failing, err);
  ASSERT_TRUE(engine_) << err;
  engine_->set_now(1000000);
  EXPECT_FALSE(engine_->Recover(false, err));
  EXPECT_NE(err.find(": read at "), std::string::npos) << err;
  EXPECT_NE(err.find("failed: Input/output error"), std::string::npos) << err;
  EXPECT_GT(faults_->injector()->stats().eio, 0u) << "the scan did not read asynchronously first";
  engine_.reset();
  Faults("");
}

}  // namespace
}  // namespace ssdcache::storage
