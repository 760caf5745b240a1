#include "storage/memory_backend.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "util/histogram.h"

namespace ssdcache::storage {
namespace {

// As LibaioBackend: Poll() submits at once while fewer ops than this are in flight.
constexpr size_t kEagerSubmitBelow = 16;
constexpr size_t kTearBlock = 4096;

}  // namespace

std::unique_ptr<MemoryBackend> MemoryBackend::Create(std::shared_ptr<MemoryImage> image,
                                                     const MemoryBackendOptions& options,
                                                     std::string& error) {
  if (image == nullptr || options.max_in_flight == 0) {
    error = "memory backend: needs an image and max_in_flight of at least 1";
    return nullptr;
  }
  std::unique_ptr<MemoryBackend> m(new MemoryBackend());
  m->event_fd_.Reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!m->event_fd_.valid()) {
    error = std::string("memory backend: eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  m->image_ = std::move(image);
  m->options_ = options;
  m->in_flight_.reserve(options.max_in_flight);
  m->completing_.reserve(options.max_in_flight);
  return m;
}

MemoryBackend::~MemoryBackend() = default;

void MemoryBackend::set_reorder(uint64_t seed) {
  reorder_seed_ = seed;
  reorder_rng_.seed(seed);
}

bool MemoryBackend::InRange(uint64_t offset, size_t len) const {
  return offset <= size() && len <= size() - offset;
}

void MemoryBackend::Store(const void* buf, size_t len, uint64_t offset) {
  char* at = image_->bytes.data() + offset;
  if (options_.track_unflushed) undo_.push_back({offset, std::vector<char>(at, at + len)});
  std::memcpy(at, buf, len);
}

void MemoryBackend::Signal() {
  uint64_t one = 1;
  ssize_t ignored = ::write(event_fd_.get(), &one, sizeof(one));
  (void)ignored;  // EAGAIN only if the counter is saturated, in which case it is readable anyway
}

void MemoryBackend::Read(IoOp& op) {
  op.write = false;
  op.next = nullptr;
  (queue_tail_ != nullptr ? queue_tail_->next : queue_head_) = &op;
  queue_tail_ = &op;
  ++queued_;
}

void MemoryBackend::Write(IoOp& op) {
  Read(op);
  op.write = true;
}

void MemoryBackend::Submit() {
  if (queue_head_ == nullptr || in_flight_.size() >= options_.max_in_flight) return;
  const uint64_t now = util::NowNs();
  while (queue_head_ != nullptr && in_flight_.size() < options_.max_in_flight) {
    IoOp* op = queue_head_;
    queue_head_ = op->next;
    op->submitted_ns = now;
    in_flight_.push_back(op);
    --queued_;
  }
  if (queue_head_ == nullptr) queue_tail_ = nullptr;
  ++stats_.submit_calls;
  Signal();
}

void MemoryBackend::Complete(IoOp& op) {
  int64_t result = static_cast<int64_t>(op.len);
  if (!InRange(op.offset, op.len)) {
    result = -EINVAL;
  } else if (op.write) {
    Store(op.buf, op.len, op.offset);
  } else {
    std::memcpy(op.buf, image_->bytes.data() + op.offset, op.len);
  }
  stats_.Count(op, result);
  // Last use of op: the handler may requeue or free it.
  op.handler->OnIoComplete(op, result);
}

size_t MemoryBackend::CompleteInFlight() {
  // Detached first: handlers may queue and submit more, which completes on a later call.
  completing_.swap(in_flight_);
  if (reorder_seed_ != 0) std::shuffle(completing_.begin(), completing_.end(), reorder_rng_);
  const size_t n = completing_.size();
  for (IoOp* op : completing_) Complete(*op);
  completing_.clear();
  return n;
}

void MemoryBackend::Reap() {
  uint64_t count = 0;
  ssize_t ignored = ::read(event_fd_.get(), &count, sizeof(count));
  (void)ignored;
  CompleteInFlight();
  Submit();
}

void MemoryBackend::Poll() {
  if (in_flight_.size() < kEagerSubmitBelow) Submit();
  if (CompleteInFlight() > 0) Submit();
}

void MemoryBackend::Drain() {
  while (!in_flight_.empty() || queue_head_ != nullptr) {
    Submit();
    CompleteInFlight();
  }
  uint64_t count = 0;
  ssize_t ignored = ::read(event_fd_.get(), &count, sizeof(count));
  (void)ignored;
}

int64_t MemoryBackend::ReadSync(void* buf, size_t len, uint64_t offset) {
  if (offset > size()) return -EINVAL;
  const size_t n = std::min<uint64_t>(len, size() - offset);
  std::memcpy(buf, image_->bytes.data() + offset, n);
  return static_cast<int64_t>(n);
}

int64_t MemoryBackend::WriteSync(const void* buf, size_t len, uint64_t offset) {
  if (!InRange(offset, len)) return -EFBIG;
  Store(buf, len, offset);
  return static_cast<int64_t>(len);
}

int MemoryBackend::Flush() {
  undo_.clear();
  return 0;
}

IoMapping MemoryBackend::MapShared(uint64_t offset, size_t len, bool /*populate*/, int& err) {
  if (len == 0 || !InRange(offset, len)) {
    err = EINVAL;
    return {};
  }
  err = 0;
  char* at = image_->bytes.data() + offset;
  mapped_.push_back({offset, std::vector<char>(at, at + len)});
  return IoMapping(this, at, len);
}

int MemoryBackend::SyncMapping(char* data, size_t len) {
  const uint64_t offset = static_cast<uint64_t>(data - image_->bytes.data());
  for (Mapped& m : mapped_) {
    if (m.offset == offset && m.synced.size() == len) std::memcpy(m.synced.data(), data, len);
  }
  return 0;
}

void MemoryBackend::Unmap(char* data, size_t len) {
  const uint64_t offset = static_cast<uint64_t>(data - image_->bytes.data());
  auto it = std::find_if(mapped_.begin(), mapped_.end(), [&](const Mapped& m) {
    return m.offset == offset && m.synced.size() == len;
  });
  if (it != mapped_.end()) mapped_.erase(it);
}

void MemoryBackend::Crash(const CrashOptions& options) {
  std::mt19937_64 rng(options.seed);
  if (options.tear_in_flight) {
    for (IoOp* op : in_flight_) {
      if (!op->write || !InRange(op->offset, op->len)) continue;
      // 0 blocks: not at all; all blocks: whole; in between: torn.
      const size_t blocks = (op->len + kTearBlock - 1) / kTearBlock;
      const size_t keep = std::min(op->len, static_cast<size_t>(rng() % (blocks + 1)) * kTearBlock);
      if (keep > 0) Store(op->buf, keep, op->offset);
    }
  }
  in_flight_.clear();
  queue_head_ = queue_tail_ = nullptr;
  queued_ = 0;
  if (options.lose_unflushed && !undo_.empty()) {
    // The newest writes are lost, as many as drawn: undone newest first, so each restores exactly
    // what the image held before it.
    size_t lose = static_cast<size_t>(rng() % (undo_.size() + 1));
    for (; lose > 0; --lose) {
      const Undo& u = undo_.back();
      std::memcpy(image_->bytes.data() + u.offset, u.old.data(), u.old.size());
      undo_.pop_back();
    }
  }
  if (options.lose_mappings) {
    for (const Mapped& m : mapped_) {
      std::memcpy(image_->bytes.data() + m.offset, m.synced.data(), m.synced.size());
    }
  }
}

}  // namespace ssdcache::storage
