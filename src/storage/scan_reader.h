// ScanReader: the warm-restart scan's device reads (recovery.h). It reads a list of device ranges,
// given up front, through the IoBackend's asynchronous path with up to `depth` reads in flight,
// each into one of a fixed pool of aligned buffers, and hands them back strictly in list order, so
// that the scan parses one range while the device reads the next ones. Works over any backend:
// libaio (an O_DIRECT file), the in-memory image and the fault decorator, whose completions may
// come in any order.
//
//   ranges: r0 r1 r2 r3 r4 r5 ...          Next() -> r0 (buffer b0, parsed by the caller)
//   in flight:  r1 r2 r3 r4  (<= depth)    Next() -> r1: b0 is free again and r5 goes out in it
//
// Invariants:
//  - At most depth() reads are outstanding at once (queued or submitted), ReadNow()'s included;
//    there are depth() + 1 buffers, so depth() reads stay out while the caller parses one. A
//    buffer belongs to one read at a time, or to the range Next() last returned, whose bytes stay
//    valid until the following Next() (ReadNow() does not touch them).
//  - Next() returns every range once, in list order, with the read's result: the byte count or a
//    -errno, as the backend reported it. A failed or short read is not retried here: the caller
//    reads the range synchronously (IoBackend::ReadSync) as the scan always did, so a device that
//    fails a read fails the restart with the same error, and an injected or transient fault costs
//    one synchronous read.
//  - No allocation per read: the buffers and the ops are made at construction. The buffers are
//    slices of one huge-page-backed mapping (util::HugeBuffer): in 4 KiB pages a 1 MiB read is 256
//    segments, more than a virtio disk takes in one request (254), so it went out as two, and
//    pinning its pages cost the kernel one page each.
//  - Nothing is left in flight when the reader goes: the destructor waits for its reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "storage/io_backend.h"
#include "util/huge_buffer.h"

namespace ssdcache::storage {

class ScanReader final : private IoHandler {
 public:
  struct Range {
    uint64_t offset = 0;
    uint32_t len = 0;  // at most the reader's buffer size, a multiple of the alignment
  };
  // What Next() returned: the range, its bytes (valid while ok()) and the read's result.
  struct Chunk {
    const char* data = nullptr;
    uint64_t offset = 0;
    uint32_t len = 0;
    int64_t result = 0;  // bytes read or -errno
    bool ok() const { return result == static_cast<int64_t>(len); }
    // True when [offset, offset + len) of the device lies inside this chunk and was read.
    bool Covers(uint64_t at, uint64_t n) const {
      return ok() && at >= offset && at + n <= offset + len;
    }
  };
  struct Stats {
    uint64_t reads = 0;          // reads issued (ReadNow included)
    uint64_t bytes = 0;          // bytes asked for
    uint64_t failed = 0;         // reads that came back failed or short
    size_t max_in_flight = 0;    // the most reads outstanding at once
    double blocked_seconds = 0;  // waiting on the eventfd for a read (the scan was IO-bound)
    double idle_seconds = 0;     // in the idle work instead of waiting
  };

  // `depth` reads of up to `buffer_size` bytes each, aligned to `align` (the device's block).
  ScanReader(IoBackend& io, size_t depth, size_t buffer_size, uint32_t align);
  ~ScanReader();
  ScanReader(const ScanReader&) = delete;
  ScanReader& operator=(const ScanReader&) = delete;

  // Starts reading `ranges` (kept by the caller until the last Next()); ranges still unread from
  // an earlier Start() are dropped (waited for first).
  void Start(std::span<const Range> ranges);
  // The next range in list order, waiting for its read; false when every range was returned.
  bool Next(Chunk& out);
  // Reads [offset, offset + len) into `buf` through the asynchronous path while the listed reads
  // stay in flight, and waits for it. Returns the byte count or -errno, as ReadSync would.
  int64_t ReadNow(char* buf, size_t len, uint64_t offset);

  // Work to do instead of sleeping while no read has completed yet: a bounded step that returns
  // true, or false when there is none left (then the reader sleeps as before).
  void set_idle(std::function<bool()> idle) { idle_ = std::move(idle); }

  size_t depth() const { return depth_; }
  size_t buffer_size() const { return buffer_size_; }
  size_t in_flight() const { return outstanding_; }
  const Stats& stats() const { return stats_; }

 private:
  struct Slot {
    IoOp op;
    char* buf = nullptr;  // a slice of buffers_ (null: no memory)
    bool busy = false;    // a read is out, or its bytes are being parsed
    bool done = false;    // its read completed
    int64_t result = 0;
    size_t range = 0;  // index into ranges_
  };

  void OnIoComplete(IoOp& op, int64_t result) override;
  // Issues reads of the next ranges while a buffer is free.
  void Fill();
  void Issue(IoOp& op, void* buf, size_t len, uint64_t offset, uint64_t user);
  // Submits, then runs the completions there are, sleeping on the backend's eventfd if none.
  void WaitOnce();
  void Release(Slot& s) { s.busy = s.done = false; }

  IoBackend& io_;
  size_t depth_;
  size_t buffer_size_;
  util::HugeBuffer buffers_;  // the slots' buffers, depth_ + 1 of buffer_size_ (rounded up)
  std::vector<Slot> slots_;   // depth_ + 1, fixed: IoOps must not move while out; range i in i % n
  std::span<const Range> ranges_;
  size_t next_issue_ = 0;   // first range not issued yet
  size_t next_return_ = 0;  // first range not returned yet
  size_t returned_slot_ = SIZE_MAX;
  IoOp now_op_;  // ReadNow's
  bool now_done_ = false;
  int64_t now_result_ = 0;
  std::function<bool()> idle_;
  size_t outstanding_ = 0;
  uint64_t completions_ = 0;
  Stats stats_;
};

}  // namespace ssdcache::storage
