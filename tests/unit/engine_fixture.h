// Shared fixture of the engine unit tests: a Device over an in-memory image (MemoryBackend), or
// with SSDCACHE_TEST_BACKEND=file (or a fixture that asks for it) a real O_DIRECT device file in a
// fresh directory under $TMPDIR (or /var/tmp, never tmpfs: O_DIRECT needs a real filesystem) with
// libaio; either wrapped in a FaultBackend the tests may arm. An Engine on it, plus the synchronous
// helpers the tests drive it with (Pump waits on the backend's eventfd like the event loop does,
// Get pumps until a pending lookup answers, RawRead/RawWrite reach the device behind the engine).
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "storage/engine.h"
#include "storage/fault_backend.h"
#include "storage/libaio_backend.h"
#include "storage/memory_backend.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage::testing {

inline constexpr uint32_t kSlab = 64 * 1024;
inline constexpr uint32_t kSmallTierMax = 200;  // TierEngineOptions()'s small_max

inline std::string TempDir(const char* name) {
  const char* base = std::getenv("TMPDIR");
  std::string dir =
      std::string(base && *base ? base : "/var/tmp") + "/ssdcache-" + name + "-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return "";
  return dir;
}

struct Result {
  bool done = false;
  int calls = 0;  // answers received: exactly one per lookup
  bool hit = false;
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;
};

class Collector : public LookupWaiter {
 public:
  void OnLookupDone(uint64_t token, const ItemView* item, const IndexEntry&) override {
    Result& r = results[token];
    r.done = true;
    ++r.calls;
    r.hit = item != nullptr;
    if (item) {
      r.value.assign(item->value);
      r.flags = item->flags;
      r.cas = item->cas;
    }
  }
  std::map<uint64_t, Result> results;
};

// A device of `size` bytes in memory (a MemoryBackend image, no file), for the tests of one
// engine part.
inline std::unique_ptr<Device> MemoryDevice(uint64_t size, std::string& error) {
  DeviceOptions d;
  d.file_size = size;
  std::unique_ptr<IoBackend> io =
      MemoryBackend::Create(std::make_shared<MemoryImage>(size), {}, error);
  if (!io) return nullptr;
  return Device::OpenImage(d, std::move(io), error);
}

enum class TestBackend : uint8_t { kMemory, kFile };

// kMemory unless SSDCACHE_TEST_BACKEND=file, which runs every engine test on a real file.
inline TestBackend DefaultTestBackend() {
  const char* b = std::getenv("SSDCACHE_TEST_BACKEND");
  return b != nullptr && std::string(b) == "file" ? TestBackend::kFile : TestBackend::kMemory;
}

class EngineFixture : public ::testing::Test {
 protected:
  explicit EngineFixture(const char* name, TestBackend backend = DefaultTestBackend())
      : name_(name), backend_(backend) {}

  void TearDown() override {
    engine_.reset();
    device_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The options every test engine starts from; tests adjust them before Open().
  static EngineOptions DefaultOptions(uint64_t memory) {
    EngineOptions o;
    o.slab_size = kSlab;
    o.max_memory = memory;
    o.max_index_memory = 1 << 20;
    o.journal_size = 0;  // tests that want the journal ask for it
    // Restarts scan, and disk slab 0 follows the superblock's slab; tests of the snapshot (and
    // the simulator) ask for one.
    o.snapshot_size = 0;
    o.journal_sync = JournalSync::kDevice;
    return o;
  }

  // An engine with the small-object tier: items of key + value <= kSmallTierMax go to it (the
  // tier needs the journal, in process mode), 8 slabs of memory.
  static EngineOptions TierEngineOptions() {
    EngineOptions o = DefaultOptions(8 * kSlab);
    o.journal_size = 64 * kJournalBlockSize;
    o.journal_sync = JournalSync::kProcess;
    o.boot_id = 0x600d;
    o.small_max = kSmallTierMax;
    o.small_share = 25;
    return o;
  }

  void Open(uint64_t device_size, uint64_t memory) {
    OpenWith(device_size, DefaultOptions(memory));
  }

  void OpenWith(uint64_t device_size, const EngineOptions& o) {
    DeviceOptions d;
    d.file_size = device_size;
    std::string err;
    if (backend_ == TestBackend::kMemory) {
      image_ = std::make_shared<MemoryImage>(device_size);
      OpenImage(err);
    } else {
      dir_ = TempDir(name_);
      ASSERT_FALSE(dir_.empty());
      d.path = dir_ + "/dev.dat";
      device_ = Device::Open(
          d,
          [this](int fd, std::string& error) -> std::unique_ptr<IoBackend> {
            std::unique_ptr<IoBackend> aio = LibaioBackend::Create(fd, 32, error);
            if (!aio) return nullptr;
            auto faults = std::make_unique<FaultBackend>(std::move(aio));
            faults_ = faults.get();
            return faults;
          },
          err);
    }
    ASSERT_TRUE(device_) << err;
    aio_ = &device_->io();
    engine_ = Engine::Create(o, *device_, *aio_, err);
    ASSERT_TRUE(engine_) << err;
    engine_->set_now(1000000);
    ASSERT_TRUE(engine_->Recover(false, err)) << err;
  }

  // kMemory: a Device over image_ through a new MemoryBackend (wrapped in faults_); `format`:
  // the Device is opened for --format.
  void OpenImage(std::string& err, bool format = false) {
    DeviceOptions d;
    d.file_size = image_->bytes.size();
    d.format = format;
    std::unique_ptr<MemoryBackend> memory = MemoryBackend::Create(image_, {}, err);
    ASSERT_TRUE(memory) << err;
    memory_ = memory.get();
    auto faults = std::make_unique<FaultBackend>(std::move(memory));
    faults_ = faults.get();
    device_ = Device::OpenImage(d, std::move(faults), err);
  }

  // kMemory: the process dies at this point (the backend's Crash() decides what the image keeps),
  // then a new backend, device and engine start over the image, as after a restart.
  bool CrashAndReopen(const CrashOptions& crash, std::string& err, const EngineOptions& o) {
    const uint32_t now = engine_ ? engine_->now() : 1000000;
    memory_->Crash(crash);
    engine_.reset();
    device_.reset();
    OpenImage(err);
    if (!device_) return false;
    aio_ = &device_->io();
    engine_ = Engine::Create(o, *device_, *aio_, err);
    if (!engine_) return false;
    engine_->set_now(now);
    return engine_->Recover(false, err);
  }

  // A new engine on the same device file, as after a restart; what only DRAM held is gone unless
  // the caller flushed it first.
  bool Reopen(std::string& err, const EngineOptions& o, bool format = false) {
    const uint32_t now = engine_ ? engine_->now() : 1000000;
    engine_.reset();
    engine_ = Engine::Create(o, *device_, *aio_, err);
    if (!engine_) return false;
    engine_->set_now(now);
    return engine_->Recover(format, err);
  }

  // A clean shutdown (what SIGTERM does: every memory slab written, the superblock marked clean),
  // then a new engine on the same device file.
  bool CleanRestart(std::string& err, const EngineOptions& o) {
    for (int i = 0; i < 100 && engine_->ShutdownFlush(); ++i) Pump();
    Pump();
    if (!engine_->FinishShutdown(err)) return false;
    return Reopen(err, o);
  }

  // The device's bytes at [offset, offset + len), read behind the engine's back (offset and len
  // multiples of 4096, as O_DIRECT wants).
  std::string RawRead(uint64_t offset, size_t len) {
    util::AlignedBuffer buf(len, 4096);
    EXPECT_EQ(aio_->ReadSync(buf.data(), len, offset), static_cast<int64_t>(len));
    return std::string(buf.data(), len);
  }
  // Overwrites the device's bytes at `offset` behind the engine's back (aligned as RawRead).
  void RawWrite(uint64_t offset, std::string_view bytes) {
    util::AlignedBuffer buf(bytes.size(), 4096);
    std::memcpy(buf.data(), bytes.data(), bytes.size());
    ASSERT_EQ(aio_->WriteSync(buf.data(), bytes.size(), offset),
              static_cast<int64_t>(bytes.size()));
    ASSERT_EQ(aio_->Flush(), 0);
  }

  // Waits on the eventfd like the event loop, then reaps, until no IO is left (bounded).
  void Pump() {
    for (int i = 0; i < 10000 && (aio_->in_flight() > 0 || aio_->queued() > 0); ++i) {
      aio_->Submit();
      pollfd p{aio_->event_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      if (engine_) {
        engine_->ReapIo();  // the engine's work after IO (the small-object tier's) runs too
      } else {
        aio_->Reap();
      }
    }
    ASSERT_EQ(aio_->in_flight(), 0u);
    ASSERT_EQ(aio_->queued(), 0u);
  }

  // One store as a connection does it. kNoMemory is only allowed while a slab write is in flight:
  // its completion is what wakes a parked connection, so without one the client would hang.
  StoreOutcome StoreOnce(const std::string& key, const std::string& value, uint32_t exptime = 0) {
    StoreRequest put(key, util::HashKey(key), value);
    put.flags = 7;
    put.exptime = exptime;
    StoreOutcome r = engine_->Store(put);
    if (r.result == StoreResult::kNoMemory) {
      EXPECT_GT(engine_->memory_slabs_flushing(), 0u)
          << "kNoMemory with no slab write in flight: nothing would ever wake the client";
    }
    return r;
  }

  // A store that waits out memory backpressure by pumping IO, as a parked connection would.
  StoreOutcome Store(const std::string& key, const std::string& value, uint32_t exptime = 0) {
    StoreOutcome r{StoreResult::kNoMemory};
    for (int i = 0; i < 1000 && r.result == StoreResult::kNoMemory; ++i) {
      r = StoreOnce(key, value, exptime);
      if (r.result == StoreResult::kNoMemory) Pump();
    }
    return r;
  }
  StoreResult Set(const std::string& key, const std::string& value, uint32_t exptime = 0) {
    return Store(key, value, exptime).result;
  }

  // Looks up synchronously from the test's point of view: pumps IO until the answer is there.
  Result Get(const std::string& key) {
    Collector c;
    ItemView v;
    Result r;
    switch (engine_->Lookup(key, util::HashKey(key), v, &c, 1).kind) {
      case LookupResult::kHit:
        r.done = r.hit = true;
        r.calls = 1;
        r.value.assign(v.value);
        r.flags = v.flags;
        r.cas = v.cas;
        return r;
      case LookupResult::kMiss:
        r.done = true;
        r.calls = 1;
        return r;
      case LookupResult::kPending:
        Pump();
        EXPECT_EQ(c.results[1].calls, 1);
        return c.results[1];
    }
    return r;
  }

  // Two real keys with the same tag and first bucket in this engine's index (a birthday search
  // over 30 bits of hash: tens of thousands of candidates).
  std::pair<std::string, std::string> CollidingKeys() const {
    const uint64_t mask = engine_->index().num_buckets() - 1;
    std::unordered_map<uint64_t, std::string> seen;
    for (int i = 0; i < 4'000'000; ++i) {
      std::string key = "c" + std::to_string(i);
      const uint64_t h = util::HashKey(key);
      const uint64_t slot = (h & mask) << 16 | (h >> 48);
      auto [it, fresh] = seen.emplace(slot, key);
      if (!fresh) return {it->second, key};
    }
    return {};
  }

  // Memory slabs keep serving the slabs they wrote until new slabs need them: write 1 MiB more
  // so that everything stored before is read from the device.
  void EvictFromMemory() {
    for (int i = 0; i < 500; ++i) Set("evict#" + std::to_string(i), std::string(2000, 'e'));
    Pump();
  }

  // A value that names its key and version, so a wrong or stale value never passes for another.
  static std::string ValueFor(const std::string& key, int version, size_t size) {
    std::string v = key + "#" + std::to_string(version) + ":";
    while (v.size() < size) v.push_back(static_cast<char>('a' + (v.size() * 7 + version) % 26));
    v.resize(size);
    return v;
  }

  const char* name_;
  TestBackend backend_;
  std::string dir_;
  std::shared_ptr<MemoryImage> image_;  // kMemory: the device's bytes
  std::unique_ptr<Device> device_;
  IoBackend* aio_ = nullptr;         // the device's backend (faults_, wrapping the real one)
  FaultBackend* faults_ = nullptr;   // owned by the device
  MemoryBackend* memory_ = nullptr;  // kMemory: the backend faults_ wraps
  std::unique_ptr<Engine> engine_;
};

}  // namespace ssdcache::storage::testing
