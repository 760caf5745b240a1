// The IO seam: every access to the device goes through an IoBackend, so that the engine runs the
// same code over libaio on an O_DIRECT file (libaio_backend.h), over an in-memory image for tests
// and simulation (memory_backend.h), and under injected faults (fault_backend.h, a decorator).
// A backend is bound to one device (file, block device or image) for its lifetime; offsets are
// byte offsets in it.
//
// Asynchronous IO (the data path):
//  - Read()/Write() only queue the IoOp; Submit() issues what was queued, Poll() submits early
//    while the device is short of work and runs completions found without a syscall, Reap()
//    (called when event_fd() is readable) runs every completion there is, Drain() blocks until
//    nothing is outstanding (shutdown).
//  - Every queued IoOp completes exactly once, through op.handler, from Reap(), Poll() or Drain()
//    (never from inside Read()/Write()/Submit()), with the byte count or a negative errno. A short
//    transfer is reported as is (the caller decides it is an error).
//  - The IoOp memory belongs to the caller and must stay valid until its completion ran; a backend
//    keeps no other per-op state, so queueing an op never allocates.
//  - in_flight() == 0 && queued() == 0 means no completion is outstanding.
//
// Synchronous IO (start-up, recovery, the superblock at format and shutdown; never per request):
// ReadSync/WriteSync block until the whole range moved (or end of device, or an error), Flush()
// makes completed writes durable (fdatasync), MapShared() maps a range of the device shared (the
// process-mode journal's ring: stores land in the page cache, which outlives the process).
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace ssdcache::storage {

struct IoOp;

class IoHandler {
 public:
  // `result`: bytes transferred (>= 0) or -errno.
  virtual void OnIoComplete(IoOp& op, int64_t result) = 0;

 protected:
  ~IoHandler() = default;
};

struct IoOp {
  IoHandler* handler = nullptr;
  void* buf = nullptr;
  size_t len = 0;
  uint64_t offset = 0;
  bool write = false;         // set by Read()/Write()
  uint64_t user = 0;          // free for the caller (e.g. a slab id)
  bool journal = false;       // a crash journal write: fault injection uses journal_eio for it
  uint64_t submitted_ns = 0;  // set by the backend when the device accepted it (util::NowNs)

  // Private to the backends: the link of their intrusive queues, an errno to deliver, and the
  // caller's handler while a decorator (FaultBackend) stands in for it.
  IoOp* next = nullptr;
  int32_t error = 0;
  IoHandler* outer_handler = nullptr;
};

struct IoStats {
  uint64_t reads = 0;   // completed read ops
  uint64_t writes = 0;  // completed write ops
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t errors = 0;        // ops completed with a negative result or short transfer
  uint64_t submit_calls = 0;  // io_submit calls (or what a backend counts as one)

  // Counts the completion of `op` with `result` (bytes or -errno).
  void Count(const IoOp& op, int64_t result) {
    if (op.write) {
      ++writes;
      if (result > 0) write_bytes += static_cast<uint64_t>(result);
    } else {
      ++reads;
      if (result > 0) read_bytes += static_cast<uint64_t>(result);
    }
    if (result < 0 || static_cast<uint64_t>(result) != op.len) ++errors;
  }
};

class IoBackend;

// RAII owner of a shared mapping of the device (IoBackend::MapShared). Invariant: data() is either
// null (empty, size() 0) or the start of a mapping of size() bytes that this object alone unmaps,
// through the backend that made it (which must outlive it).
class IoMapping {
 public:
  IoMapping() = default;
  IoMapping(IoBackend* owner, char* data, size_t size) : owner_(owner), data_(data), size_(size) {}
  IoMapping(const IoMapping&) = delete;
  IoMapping& operator=(const IoMapping&) = delete;
  IoMapping(IoMapping&& o) noexcept
      : owner_(std::exchange(o.owner_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  IoMapping& operator=(IoMapping&& o) noexcept {
    if (this != &o) {
      Reset();
      owner_ = std::exchange(o.owner_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~IoMapping() { Reset(); }

  char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }

  // Pins the pages in RAM, so that touching them never waits for a read from the device. Returns
  // the errno (0 on success); failing (RLIMIT_MEMLOCK) is harmless.
  int Lock() const;
  // Writes the stores made through the mapping back to the device and waits (msync MS_SYNC).
  // Returns the errno (0: ok).
  int Sync() const;

 private:
  void Reset();

  IoBackend* owner_ = nullptr;
  char* data_ = nullptr;
  size_t size_ = 0;
};

class IoBackend {
 public:
  virtual ~IoBackend() = default;
  IoBackend() = default;
  IoBackend(const IoBackend&) = delete;
  IoBackend& operator=(const IoBackend&) = delete;

  // Readable when Reap() has work (the event loop polls it with epoll).
  virtual int event_fd() const = 0;

  virtual void Read(IoOp& op) = 0;  // queues; sets op.write = false
  virtual void Write(IoOp& op) = 0;
  // Issues queued ops while fewer than the backend's limit are in flight.
  virtual void Submit() = 0;
  // Consumes the eventfd's signal, runs every completion there is without blocking, then submits
  // ops that were waiting for a slot.
  virtual void Reap() = 0;
  // Submits while the device is short of work and runs completions found without a syscall. Cheap
  // enough to call after every connection's work.
  virtual void Poll() = 0;
  // Blocks until every submitted and queued op has completed (shutdown, tests).
  virtual void Drain() = 0;

  // Submitted ops not yet completed.
  virtual size_t in_flight() const = 0;
  // Ops not submitted yet, or refused and waiting for Reap() to deliver the error.
  virtual size_t queued() const = 0;
  virtual IoStats stats() const = 0;

  // Bytes read (fewer than `len` only at the end of the device) or -errno.
  virtual int64_t ReadSync(void* buf, size_t len, uint64_t offset) = 0;
  // Bytes written or -errno.
  virtual int64_t WriteSync(const void* buf, size_t len, uint64_t offset) = 0;
  // Makes every completed write durable. Returns the errno (0: ok).
  virtual int Flush() = 0;
  // Maps [offset, offset + len) read-write and shared; `offset` is a multiple of the page size.
  // `populate` pre-faults the pages. On failure the result is empty and `err` the errno.
  virtual IoMapping MapShared(uint64_t offset, size_t len, bool populate, int& err) = 0;

 protected:
  friend class IoMapping;
  virtual int SyncMapping(char* data, size_t len) = 0;
  virtual void Unmap(char* data, size_t len) = 0;

  // Forwards to another backend's protected hooks (for decorators).
  static int SyncMappingOf(IoBackend& b, char* data, size_t len) {
    return b.SyncMapping(data, len);
  }
  static void UnmapOf(IoBackend& b, char* data, size_t len) { b.Unmap(data, len); }
};

inline int IoMapping::Lock() const { return ::mlock(data_, size_) == 0 ? 0 : errno; }

inline int IoMapping::Sync() const {
  return data_ == nullptr ? 0 : owner_->SyncMapping(data_, size_);
}

inline void IoMapping::Reset() {
  if (data_ != nullptr) owner_->Unmap(data_, size_);
  owner_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace ssdcache::storage
