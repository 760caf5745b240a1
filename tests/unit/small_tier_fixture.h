// The small-object tier's test fixture (storage_small_tier_test.cc,
// storage_small_tier_faults_test.cc, storage_small_tier_versions_test.cc): a tier over an in-memory
// device, optionally behind a fault injector or a backend that holds one read or one write back,
// with helpers to put, delete and look up keys of a chosen set.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "forwarding_backend.h"
#include "storage/fault.h"
#include "storage/fault_backend.h"
#include "storage/memory_backend.h"
#include "storage/small_tier.h"
#include "util/hash.h"

namespace ssdcache::storage {

inline constexpr uint64_t kBase = 8192;

struct Answer : SmallTierWaiter {
  void OnSmallLookupDone(uint64_t token, const SetRecord* item) override {
    ++calls;
    if (tier != nullptr) version = tier->answer_version();
    last_token = token;
    hit = item != nullptr;
    if (hit) {
      value = std::string(item->value);
      wseq = item->wseq;
    }
  }
  int calls = 0;
  uint64_t last_token = 0;
  bool hit = false;
  std::string value;
  uint64_t wseq = 0;
  const SmallTier* tier = nullptr;  // set: `version` is the answer's
  SmallTierVersion version;
};

// A read held back while `hold` is set is answered later, by Release(), with the bytes the device
// held when it was queued: a read that completes after writes queued and completed behind it (a
// real device may do that; the memory backend completes in order). A write held back while
// `hold_writes` is set is queued on the device only by ReleaseWrite(): a set move in flight.
// Either may instead fail (-EIO, the device untouched): a one-shot IO error. The op's handler may
// queue the next op (held again while `hold`/`hold_writes` is set) from the call.
class HoldingBackend final : public ForwardingBackend {
 public:
  explicit HoldingBackend(std::unique_ptr<MemoryBackend> inner)
      : ForwardingBackend(*inner), mem_(std::move(inner)) {}
  bool hold = false;
  bool hold_writes = false;
  void Release(bool fail = false) {
    IoOp* op = held_;
    held_ = nullptr;
    if (!fail) std::memcpy(op->buf, snapshot_.data(), op->len);
    op->handler->OnIoComplete(*op, fail ? -EIO : static_cast<int64_t>(op->len));
  }
  void ReleaseWrite(bool fail = false) {
    IoOp* op = held_write_;
    held_write_ = nullptr;
    if (fail) return op->handler->OnIoComplete(*op, -EIO);
    mem_->Write(*op);
  }
  bool holds_read() const { return held_ != nullptr; }
  bool holds_write() const { return held_write_ != nullptr; }
  // The set the held write is for (the tier's base is kBase).
  uint64_t held_write_set() const { return (held_write_->offset - kBase) / kSetBytes; }
  void Read(IoOp& op) override {
    if (!hold) return mem_->Read(op);
    op.write = false;
    held_ = &op;
    const char* at = mem_->image()->bytes.data() + op.offset;
    snapshot_.assign(at, at + op.len);
  }
  void Write(IoOp& op) override {
    if (!hold_writes) return mem_->Write(op);
    op.write = true;
    held_write_ = &op;
  }

 private:
  std::unique_ptr<MemoryBackend> mem_;
  IoOp* held_ = nullptr;
  IoOp* held_write_ = nullptr;
  std::vector<char> snapshot_;
};

class SmallTierTest : public ::testing::Test {
 protected:
  enum class Wrap { kNone, kFaults, kHolding };
  void Open(SmallTierOptions o, Wrap wrap = Wrap::kNone) {
    o.base = kBase;
    o.epoch = 77;
    if (o.sets == 0) o.sets = 16;
    options_ = o;
    if (image_ == nullptr) image_ = std::make_shared<MemoryImage>(kBase + o.sets * kSetBytes);
    tier_.reset();
    std::string error;
    auto mem = MemoryBackend::Create(image_, MemoryBackendOptions{}, error);
    ASSERT_NE(mem, nullptr) << error;
    mem_ = mem.get();
    faults_ = nullptr;
    holding_ = nullptr;
    if (wrap == Wrap::kFaults) {
      auto fb = std::make_unique<FaultBackend>(std::move(mem));
      faults_ = fb.get();
      aio_ = std::move(fb);
    } else if (wrap == Wrap::kHolding) {
      auto hb = std::make_unique<HoldingBackend>(std::move(mem));
      holding_ = hb.get();
      aio_ = std::move(hb);
    } else {
      aio_ = std::move(mem);
    }
    ASSERT_TRUE(o.Validate(error)) << error;
    tier_ = std::make_unique<SmallTier>(*aio_, o);
    tier_->set_now(1000);
  }
  // A key whose set is `set` (the n-th such key).
  std::string KeyIn(uint64_t set, int n) const {
    for (int i = 0;; ++i) {
      std::string k =
          "key" + std::to_string(set) + "_" + std::to_string(n) + "_" + std::to_string(i);
      if (util::HashKey(k) % options_.sets == set) return k;
    }
  }
  SmallTierWrite Put(const std::string& key, const std::string& value, uint64_t wseq,
                     uint32_t exptime = 0) {
    SetRecord r;
    r.key = key;
    r.value = value;
    r.wseq = wseq;
    r.cas = wseq;
    r.exptime = exptime;
    return tier_->Insert(r, util::HashKey(key));
  }
  SmallTierWrite Del(const std::string& key, uint64_t wseq) {
    return tier_->Erase(key, util::HashKey(key), wseq);
  }
  // The value a lookup finds, driving its read to completion; `kind` says how it was answered.
  std::optional<std::string> Get(const std::string& key, SmallTierLookup* kind = nullptr) {
    Answer a;
    const SmallTierLookupResult r = tier_->Lookup(key, util::HashKey(key), &a, 5);
    if (kind != nullptr) *kind = r.kind;
    if (r.kind == SmallTierLookup::kHit) return std::string(r.item.value);
    if (r.kind == SmallTierLookup::kMiss) return std::nullopt;
    aio_->Drain();
    EXPECT_EQ(a.calls, 1);
    EXPECT_EQ(a.last_token, 5u);
    if (!a.hit) return std::nullopt;
    return a.value;
  }
  void FlushAll(bool force = false) {
    tier_->Flush(force);
    aio_->Drain();
    EXPECT_TRUE(tier_->idle());
  }
  void InjectAll(const char* spec) {
    std::string error;
    faults_->set_injector(FaultInjector::Create(spec, error));
    ASSERT_TRUE(error.empty()) << error;
  }
  // The keys set `set` holds on the device.
  std::vector<std::string> KeysOnDevice(uint64_t set) const {
    std::vector<SetRecord> recs;
    ReadSetPage(image_->bytes.data() + kBase + set * kSetBytes, set, 77, recs);
    std::vector<std::string> keys;
    for (const SetRecord& r : recs) keys.emplace_back(r.key);
    return keys;
  }
  IoStats io() const { return aio_->stats(); }

  SmallTierOptions options_;
  std::shared_ptr<MemoryImage> image_;
  MemoryBackend* mem_ = nullptr;
  FaultBackend* faults_ = nullptr;
  HoldingBackend* holding_ = nullptr;
  std::unique_ptr<IoBackend> aio_;
  std::unique_ptr<SmallTier> tier_;
};

}  // namespace ssdcache::storage
