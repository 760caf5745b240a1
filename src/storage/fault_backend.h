// A decorator that injects IO faults into any IoBackend, for tests: the production backends carry
// no fault code. It owns the backend it wraps and, while it has one, a FaultInjector (fault.h)
// that decides each completion's fate: -EIO, a short count, a torn write (the tail of the range
// overwritten with garbage, then -EIO) or a stall (the op is held back and delivered later).
//
// Invariants:
//  - Without an injector every call goes straight to the inner backend, completions included.
//  - With one, each op's handler is replaced by this object while the op is in the inner backend
//    (the caller's is kept in IoOp::outer_handler and put back before delivery), so every op still
//    completes exactly once, from Reap()/Poll()/Drain(), with the result the injector chose.
//  - A held op counts in in_flight() until it is delivered, from a Reap() once it is due (the
//    injector's waker signals the inner eventfd) or from Drain(), which does not wait for stalls.
//  - stats() are the inner backend's, corrected so that injected errors count as errors and
//    injected short counts as the bytes reported.
//  - Synchronous IO and mappings pass through untouched, unless DieAfterSyncWrites() was called:
//    then the process "dies" at a synchronous write (a crash inside a clean stop's snapshot).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/fault.h"
#include "storage/io_backend.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {

class FaultBackend final : public IoBackend, private IoHandler {
 public:
  explicit FaultBackend(std::unique_ptr<IoBackend> inner);
  ~FaultBackend() override;

  // Wraps `inner` when `spec` injects something, else returns `inner` itself.
  static std::unique_ptr<IoBackend> Wrap(std::unique_ptr<IoBackend> inner, const FaultSpec& spec);

  // Installs (or with nullptr removes) the injector for the ops queued from now on. Call it while
  // no op is outstanding.
  void set_injector(std::unique_ptr<FaultInjector> injector);
  const FaultInjector* injector() const { return injector_.get(); }
  IoBackend& inner() { return *inner_; }

  int event_fd() const override { return inner_->event_fd(); }
  void Read(IoOp& op) override;
  void Write(IoOp& op) override;
  void Submit() override { inner_->Submit(); }
  void Reap() override;
  void Poll() override { inner_->Poll(); }
  void Drain() override;
  size_t in_flight() const override;
  size_t queued() const override { return inner_->queued(); }
  IoStats stats() const override;

  int64_t ReadSync(void* buf, size_t len, uint64_t offset) override {
    return inner_->ReadSync(buf, len, offset);
  }
  int64_t WriteSync(const void* buf, size_t len, uint64_t offset) override;
  int Flush() override { return died_ ? 0 : inner_->Flush(); }

  // The process dies after `writes` more synchronous writes: the next one loses its first 512
  // bytes when `tear` (the rest lands) or all of them, and no later synchronous write reaches
  // the device (each reports success: a dead process learns nothing). For simulated crashes at
  // every step of a clean stop; the caller then crashes the backend and starts over.
  void DieAfterSyncWrites(uint64_t writes, bool tear) {
    die_armed_ = true;
    die_after_ = writes;
    die_tear_ = tear;
  }
  bool died() const { return died_; }
  // Disarms DieAfterSyncWrites() when the process outlived it.
  void StayAlive() { die_armed_ = false; }
  IoMapping MapShared(uint64_t offset, size_t len, bool populate, int& err) override {
    return inner_->MapShared(offset, len, populate, err);
  }

 protected:
  // Mappings belong to the inner backend (it made them), so these are never called.
  int SyncMapping(char* data, size_t len) override { return SyncMappingOf(*inner_, data, len); }
  void Unmap(char* data, size_t len) override { UnmapOf(*inner_, data, len); }

 private:
  void Intercept(IoOp& op);
  void OnIoComplete(IoOp& op, int64_t result) override;
  void Deliver(IoOp& op, int64_t result);
  void Tear(const IoOp& op);
  void DeliverHeld(bool all);

  std::unique_ptr<IoBackend> inner_;
  // Declared after inner_ so that it (and its waker thread) goes first at destruction, before the
  // inner eventfd is closed.
  std::unique_ptr<FaultInjector> injector_;
  util::AlignedBuffer garbage_;  // what a torn write leaves in the tail of its range
  // Corrections of the inner stats for what the injector changed.
  uint64_t injected_errors_ = 0;
  uint64_t lost_read_bytes_ = 0;
  uint64_t lost_write_bytes_ = 0;
  bool die_armed_ = false;
  bool die_tear_ = false;
  bool died_ = false;
  uint64_t die_after_ = 0;
};

}  // namespace ssdcache::storage
