#include "storage/scan_reader.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace ssdcache::storage {

ScanReader::ScanReader(IoBackend& io, size_t depth, size_t buffer_size, uint32_t align)
    : io_(io), depth_(std::max<size_t>(depth, 1)), buffer_size_(buffer_size), slots_(depth_ + 1) {
  // One mapping for all: huge-page aligned, so each buffer is `align`-aligned when its stride is.
  const size_t stride = (buffer_size + align - 1) / align * align;
  buffers_ = util::HugeBuffer(stride * slots_.size());
  if (buffers_.empty()) return;  // every read then fails with -ENOMEM: read synchronously
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].buf = buffers_.data() + i * stride;
}

ScanReader::~ScanReader() {
  // The ops and buffers are ours: nothing may complete into them once we are gone.
  while (outstanding_ > 0) WaitOnce();
}

void ScanReader::Start(std::span<const Range> ranges) {
  while (outstanding_ > 0) WaitOnce();
  for (Slot& s : slots_) Release(s);
  returned_slot_ = SIZE_MAX;
  ranges_ = ranges;
  next_issue_ = next_return_ = 0;
  Fill();
}

bool ScanReader::Next(Chunk& out) {
  if (returned_slot_ != SIZE_MAX) Release(slots_[returned_slot_]);
  returned_slot_ = SIZE_MAX;
  if (next_return_ >= ranges_.size()) return false;
  Fill();  // into the buffer just released
  const size_t at = next_return_ % slots_.size();
  Slot& s = slots_[at];
  while (!s.done) WaitOnce();
  const Range& r = ranges_[next_return_++];
  out = Chunk{.data = s.buf, .offset = r.offset, .len = r.len, .result = s.result};
  returned_slot_ = at;
  return true;
}

int64_t ScanReader::ReadNow(char* buf, size_t len, uint64_t offset) {
  while (outstanding_ >= depth_) WaitOnce();
  now_done_ = false;
  Issue(now_op_, buf, len, offset, SIZE_MAX);
  io_.Submit();
  while (!now_done_) WaitOnce();
  return now_result_;
}

void ScanReader::Fill() {
  while (next_issue_ < ranges_.size() && outstanding_ < depth_) {
    const size_t at = next_issue_ % slots_.size();
    Slot& s = slots_[at];
    if (s.busy) break;  // still holds an earlier range: the caller has not got that far
    const Range& r = ranges_[next_issue_++];
    s.busy = true;
    s.done = false;
    if (s.buf == nullptr || r.len > buffer_size_) {
      s.done = true;  // no memory, or a caller's bug: the caller reads it synchronously
      s.result = -ENOMEM;
      continue;
    }
    Issue(s.op, s.buf, r.len, r.offset, at);
  }
  io_.Submit();
}

void ScanReader::Issue(IoOp& op, void* buf, size_t len, uint64_t offset, uint64_t user) {
  op = IoOp{};
  op.handler = this;
  op.buf = buf;
  op.len = len;
  op.offset = offset;
  op.user = user;
  io_.Read(op);
  ++outstanding_;
  ++stats_.reads;
  stats_.bytes += len;
  stats_.max_in_flight = std::max(stats_.max_in_flight, outstanding_);
}

void ScanReader::OnIoComplete(IoOp& op, int64_t result) {
  --outstanding_;
  ++completions_;
  if (result != static_cast<int64_t>(op.len)) ++stats_.failed;
  if (&op == &now_op_) {
    now_done_ = true;
    now_result_ = result;
    return;
  }
  Slot& s = slots_[op.user];
  s.done = true;
  s.result = result;
}

void ScanReader::WaitOnce() {
  // As the event loop does: submit, collect what is there without a syscall, else sleep on the
  // backend's eventfd (a held op of the fault decorator signals it when due) and reap.
  const uint64_t before = completions_;
  io_.Submit();
  io_.Poll();
  if (completions_ != before) return;
  const auto start = std::chrono::steady_clock::now();
  if (idle_ && idle_()) {
    stats_.idle_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return;  // the caller looks again
  }
  pollfd p{io_.event_fd(), POLLIN, 0};
  ::poll(&p, 1, 100);
  stats_.blocked_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  io_.Reap();
}

}  // namespace ssdcache::storage
