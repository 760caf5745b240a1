// A test decorator base: every IoBackend call goes to `inner`, so that a test backend overrides
// only the calls it changes (a held read, a failing synchronous read). `inner` must outlive it.
#pragma once

#include "storage/io_backend.h"

namespace ssdcache::storage {

class ForwardingBackend : public IoBackend {
 public:
  explicit ForwardingBackend(IoBackend& inner) : inner_(inner) {}

  int event_fd() const override { return inner_.event_fd(); }
  void Read(IoOp& op) override { inner_.Read(op); }
  void Write(IoOp& op) override { inner_.Write(op); }
  void Submit() override { inner_.Submit(); }
  void Reap() override { inner_.Reap(); }
  void Poll() override { inner_.Poll(); }
  void Drain() override { inner_.Drain(); }
  size_t in_flight() const override { return inner_.in_flight(); }
  size_t queued() const override { return inner_.queued(); }
  IoStats stats() const override { return inner_.stats(); }
  int64_t ReadSync(void* buf, size_t len, uint64_t offset) override {
    return inner_.ReadSync(buf, len, offset);
  }
  int64_t WriteSync(const void* buf, size_t len, uint64_t offset) override {
    return inner_.WriteSync(buf, len, offset);
  }
  int Flush() override { return inner_.Flush(); }
  IoMapping MapShared(uint64_t offset, size_t len, bool populate, int& err) override {
    return inner_.MapShared(offset, len, populate, err);
  }

 protected:
  int SyncMapping(char* data, size_t len) override { return SyncMappingOf(inner_, data, len); }
  void Unmap(char* data, size_t len) override { UnmapOf(inner_, data, len); }

 private:
  IoBackend& inner_;
};

}  // namespace ssdcache::storage
