// The production IoBackend: asynchronous IO through libaio on the device's O_DIRECT descriptor
// (borrowed from the Device, which outlives it). Owns the io_context, a fixed pool of
// max_in_flight iocbs and an eventfd on which the kernel signals completions (io_set_eventfd), so
// the event loop learns of them through epoll like any other readiness.
//
// Invariants:
//  - At most `max_in_flight` IOs are inside the kernel at once, each in its own iocb of the pool
//    (prepared at submit, released at completion); further requests wait in a FIFO queue of IoOps
//    (intrusive, no allocation) and are submitted as iocbs free up.
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
//  - Every queued IoOp completes exactly once, through its handler, from Reap()/Poll()/Drain()
//    (never from inside Read()/Write()/Submit()), with the byte count or a negative errno.
#pragma once

#include <libaio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/io_backend.h"
#include "util/unique_fd.h"

namespace ssdcache::storage {

class LibaioBackend final : public IoBackend {
 public:
  // `fd` is the device's O_DIRECT descriptor; it must stay open while the backend exists.
  static std::unique_ptr<LibaioBackend> Create(int fd, unsigned max_in_flight, std::string& error);
  ~LibaioBackend() override;

  int event_fd() const override { return event_fd_.get(); }
  void Read(IoOp& op) override;
  void Write(IoOp& op) override;
  void Submit() override;
  void Reap() override;
  void Poll() override;
  void Drain() override;
  size_t in_flight() const override { return in_flight_; }
  size_t queued() const override { return queued_; }
  IoStats stats() const override { return stats_; }
  unsigned max_in_flight() const { return max_in_flight_; }

  int64_t ReadSync(void* buf, size_t len, uint64_t offset) override;
  int64_t WriteSync(const void* buf, size_t len, uint64_t offset) override;
  int Flush() override;
  IoMapping MapShared(uint64_t offset, size_t len, bool populate, int& err) override;

 protected:
  int SyncMapping(char* data, size_t len) override;
  void Unmap(char* data, size_t len) override;

 private:
  LibaioBackend() = default;
  void Enqueue(IoOp& op);
  void Fail(IoOp& op, int error);
  void CompleteFailed();
  void CompleteEvents(const struct io_event* events, int n);
  void Finish(IoOp& op, int64_t result);
  size_t CollectEvents();  // returns how many completions it delivered

  int fd_ = -1;
  io_context_t ctx_ = nullptr;
  util::UniqueFd event_fd_;
  unsigned max_in_flight_ = 0;
  size_t in_flight_ = 0;
  size_t queued_ = 0;
  // The iocb pool and the indexes of its free iocbs (a stack); sized once at Create.
  std::vector<struct iocb> iocbs_;
  std::vector<uint32_t> free_iocbs_;
  IoOp* queue_head_ = nullptr;
  IoOp* queue_tail_ = nullptr;
  // Ops io_submit refused, linked through IoOp::next; completed by the next Reap()/Drain().
  IoOp* failed_head_ = nullptr;
  IoOp* failed_tail_ = nullptr;
  IoStats stats_;
};

}  // namespace ssdcache::storage
