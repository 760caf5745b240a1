// Asynchronous disk IO through libaio. Owns the io_context and an eventfd on which the kernel
// signals completions (io_set_eventfd), so the event loop learns of them through epoll like any
// other readiness.
//
// Invariants:
//  - At most `max_in_flight` IOs are inside the kernel at once; further requests wait in a FIFO
//    queue inside this object (intrusive, no allocation) and are submitted as slots free up.
//  - Requests are batched: Read()/Write() only queue; Submit() issues everything it can with as
//    few io_submit calls as possible. While fewer than 16 ops are in flight the server submits as
//    soon as a connection has parsed its batch of requests (Poll()), so the device works on the
//    first reads of a turn while the loop parses the next connections' requests; deeper, and
//    always before the loop sleeps, it submits everything queued in one batch.
//  - Completions are collected whenever the eventfd fires (Reap()) and also by Poll(), which
//    costs no syscall when nothing has completed (libaio reads the ring's head and tail in user
//    space for a zero timeout): a read that completes while the loop is busy is answered in the
//    same turn instead of after the next epoll_wait.
//  - io_submit's partial submission and EAGAIN are handled (the rest stays queued); any other
//    submit error completes that op with the negative errno, never silently drops it.
//  - Every queued IoOp completes exactly once, through its handler, from Reap() (never from
//    inside Read()/Write()/Submit()), with the byte count or a negative errno. A short transfer is
//    reported as is (the caller decides it is an error).
//  - The IoOp memory belongs to the caller and must stay valid until its completion ran.
//  - An optional FaultInjector (tests; see fault.h) may replace a kernel result by -EIO or a short
//    count, or hold a completed op back for a while; a held op still counts in in_flight() and is
//    delivered exactly once, from a later Reap() (or from Drain(), which does not wait for stalls).
#pragma once

#include <libaio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "util/unique_fd.h"

namespace ssdcache::storage {

struct IoOp;
class FaultInjector;

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
  bool write = false;
  uint64_t user = 0;          // free for the caller (e.g. a slab id)
  bool journal = false;       // a crash journal write: fault injection uses journal_eio for it
  uint64_t submitted_ns = 0;  // set by AioContext when io_submit accepted it (util::NowNs)
  // Private to AioContext.
  struct iocb cb {};
  IoOp* next = nullptr;
};

struct AioStats {
  uint64_t reads = 0;   // completed read ops
  uint64_t writes = 0;  // completed write ops
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t errors = 0;        // ops completed with a negative result or short transfer
  uint64_t submit_calls = 0;  // io_submit calls
};

class AioContext {
 public:
  static std::unique_ptr<AioContext> Create(unsigned max_in_flight, std::string& error);
  ~AioContext();
  AioContext(const AioContext&) = delete;
  AioContext& operator=(const AioContext&) = delete;

  int event_fd() const { return event_fd_.get(); }

  void Read(int fd, IoOp& op);  // fills op.cb from fd/buf/len/offset; queues
  void Write(int fd, IoOp& op);

  // Issues queued ops while fewer than max_in_flight are in the kernel.
  void Submit();
  // Drains the eventfd, collects every finished event without blocking, runs the handlers, then
  // calls Submit() for ops that were waiting for a slot.
  void Reap();
  // Submits the queue while the device is short of work (fewer than 16 ops in flight), then runs
  // the handlers of whatever has completed, without reading the eventfd (it stays signalled; the
  // Reap() it causes later finds little or nothing). Cheap enough to call after every connection's
  // work: no syscall when nothing is queued and nothing has completed.
  void Poll();
  // Blocks until every submitted and queued op has completed (used at shutdown only).
  void Drain();

  // Installs (or with nullptr removes) fault injection for the ops completed from now on. Call it
  // while no op is outstanding, before the loop starts.
  void set_fault_injector(std::unique_ptr<FaultInjector> injector);
  const FaultInjector* fault_injector() const { return fault_.get(); }

  // Submitted ops not yet completed: in the kernel, or held back by the fault injector.
  size_t in_flight() const { return in_flight_; }
  // Ops not in the kernel: waiting for a slot, or refused by io_submit and waiting for Reap() to
  // deliver the error. in_flight() == 0 && queued() == 0 means no completion is outstanding.
  size_t queued() const { return queued_; }
  unsigned max_in_flight() const { return max_in_flight_; }
  const AioStats& stats() const { return stats_; }

 private:
  AioContext() = default;
  void Enqueue(IoOp& op);
  void Fail(IoOp& op, int error);
  void CompleteFailed();
  void CompleteEvents(const struct io_event* events, int n);
  void Finish(IoOp& op, int64_t result);
  void DeliverHeld(bool all);
  size_t CollectEvents();  // returns how many completions it delivered

  io_context_t ctx_ = nullptr;
  util::UniqueFd event_fd_;
  // Declared after event_fd_ so that it (and its waker thread) goes first at destruction.
  std::unique_ptr<FaultInjector> fault_;
  unsigned max_in_flight_ = 0;
  size_t in_flight_ = 0;
  size_t queued_ = 0;
  IoOp* queue_head_ = nullptr;
  IoOp* queue_tail_ = nullptr;
  // Ops io_submit refused, linked through IoOp::next; completed by the next Reap()/Drain().
  IoOp* failed_head_ = nullptr;
  IoOp* failed_tail_ = nullptr;
  AioStats stats_;
};

}  // namespace ssdcache::storage
