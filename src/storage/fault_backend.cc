#include "storage/fault_backend.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace ssdcache::storage {
namespace {

// Torn writes keep a prefix of whole blocks of this size (the O_DIRECT alignment of the device).
constexpr size_t kTearBlock = 4096;

}  // namespace

FaultBackend::FaultBackend(std::unique_ptr<IoBackend> inner) : inner_(std::move(inner)) {}

FaultBackend::~FaultBackend() = default;

std::unique_ptr<IoBackend> FaultBackend::Wrap(std::unique_ptr<IoBackend> inner,
                                              const FaultSpec& spec) {
  if (!spec.active()) return inner;
  auto faults = std::make_unique<FaultBackend>(std::move(inner));
  faults->set_injector(std::make_unique<FaultInjector>(spec));
  return faults;
}

void FaultBackend::set_injector(std::unique_ptr<FaultInjector> injector) {
  injector_ = std::move(injector);
  if (injector_ != nullptr) injector_->Attach(inner_->event_fd());
}

void FaultBackend::Intercept(IoOp& op) {
  op.outer_handler = op.handler;
  op.handler = this;
}

void FaultBackend::Read(IoOp& op) {
  if (injector_ != nullptr) Intercept(op);
  inner_->Read(op);
}

void FaultBackend::Write(IoOp& op) {
  if (injector_ != nullptr) Intercept(op);
  inner_->Write(op);
}

void FaultBackend::OnIoComplete(IoOp& op, int64_t result) {
  op.handler = op.outer_handler;
  op.outer_handler = nullptr;
  if (injector_ == nullptr) {  // removed while the op was out (set_injector says not to)
    Deliver(op, result);
    return;
  }
  FaultInjector::Decision d = injector_->Decide(op.write, op.len, result, op.journal);
  if (d.torn) Tear(op);
  // The inner backend counted `result`; the caller is told d.result.
  if (d.result != result) {
    if (result == static_cast<int64_t>(op.len)) ++injected_errors_;
    const uint64_t lost = static_cast<uint64_t>(std::max<int64_t>(result, 0)) -
                          static_cast<uint64_t>(std::max<int64_t>(d.result, 0));
    (op.write ? lost_write_bytes_ : lost_read_bytes_) += lost;
  }
  if (d.stall) {
    injector_->Hold(op, d.result);  // still in flight for the caller
    return;
  }
  Deliver(op, d.result);
}

void FaultBackend::Deliver(IoOp& op, int64_t result) {
  // Last use of op: the handler may requeue or free it.
  op.handler->OnIoComplete(op, result);
}

void FaultBackend::Tear(const IoOp& op) {
  // The device kept a prefix of whole blocks (maybe none) and the rest of the range holds neither
  // the old nor the new data. Written synchronously: this is a test path.
  const size_t keep = op.len / 2 / kTearBlock * kTearBlock;
  const size_t tail = op.len - keep;
  if (garbage_.size() < tail) {
    garbage_ = util::AlignedBuffer(tail, kTearBlock);
    for (size_t i = 0; i < garbage_.size(); ++i) {
      garbage_.data()[i] = static_cast<char>(0xA5 ^ (i * 131 >> 7));
    }
  }
  if (garbage_.size() >= tail) inner_->WriteSync(garbage_.data(), tail, op.offset + keep);
}

void FaultBackend::Reap() {
  // The inner backend consumes the eventfd's signal first: a held op falling due after that read
  // makes the waker signal again, so no wake-up is lost.
  inner_->Reap();
  DeliverHeld(/*all=*/false);
}

void FaultBackend::DeliverHeld(bool all) {
  if (injector_ == nullptr) return;
  IoOp* op = nullptr;
  int64_t result = 0;
  while (injector_->TakeHeld(all, op, result)) Deliver(*op, result);
  injector_->Rearm();
}

void FaultBackend::Drain() {
  // Shutdown does not wait out injected stalls: held ops are delivered at once. Their handlers may
  // queue more IO, and the inner drain may hold more ops, hence the loop.
  for (;;) {
    DeliverHeld(/*all=*/true);
    inner_->Drain();
    if (injector_ == nullptr || injector_->held() == 0) return;
  }
}

size_t FaultBackend::in_flight() const {
  return inner_->in_flight() + (injector_ != nullptr ? injector_->held() : 0);
}

IoStats FaultBackend::stats() const {
  IoStats s = inner_->stats();
  s.errors += injected_errors_;
  s.read_bytes -= lost_read_bytes_;
  s.write_bytes -= lost_write_bytes_;
  return s;
}

int64_t FaultBackend::WriteSync(const void* buf, size_t len, uint64_t offset) {
  if (!die_armed_) return inner_->WriteSync(buf, len, offset);
  if (die_after_ > 0) {
    --die_after_;
    return inner_->WriteSync(buf, len, offset);
  }
  constexpr size_t kLostHead = 512;
  if (!died_ && die_tear_ && len > kLostHead) {
    inner_->WriteSync(static_cast<const char*>(buf) + kLostHead, len - kLostHead,
                      offset + kLostHead);
  }
  died_ = true;
  return static_cast<int64_t>(len);
}

}  // namespace ssdcache::storage
