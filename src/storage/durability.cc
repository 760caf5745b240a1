#include "storage/durability.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "util/hash.h"

namespace ssdcache::storage {

namespace {
constexpr uint32_t kSuperRetriesAtOnce = 8;
}  // namespace

Durability::Durability(Device& device, IoBackend& aio, IoHandler& handler,
                       const Superblock& geometry)
    : device_(device),
      aio_(aio),
      handler_(handler),
      geometry_(geometry),
      super_buf_(device.block_size(), device.block_size()) {}

void Durability::Fill(Superblock& sb) const {
  sb = geometry_;
  sb.journal_blocks = journal_ ? journal_->blocks() : 0;
  sb.epoch = epoch_;
  sb.flush_seq = flush_seq_;
  sb.small_flush_wseq = small_flush_wseq_;
  sb.journal_sync = static_cast<uint32_t>(journal_ ? journal_->sync() : JournalSync::kDevice);
  sb.clean = clean_ ? 1 : 0;
  sb.evicted_below = evicted_below_;
  sb.wseq_ceiling = wseq_ceiling_;
  sb.crc = 0;
  sb.crc = util::Crc32c(&sb, sizeof(sb));
}

uint64_t Durability::TakeWseq() {
  if (next_cas_ + kWseqWindow / 2 >= wseq_ceiling_) {
    wseq_ceiling_ = next_cas_ + kWseqWindow;
    WriteSuperblock();
  }
  if (next_cas_ >= durable_wseq_ceiling_) {
    // The raise has not completed in half a window (2^31 writes): a failing device. Waiting
    // for it in the loop is the only sound choice, and it is the last resort.
    std::string error;
    if (!WriteSuperblockNow(error)) spdlog::error("raising the write sequence ceiling: {}", error);
  }
  return next_cas_++;
}

void Durability::WriteSuperblock() {
  if (super_in_flight_ || super_retry_) {
    super_dirty_ = true;  // rewritten when the write in flight completes
    return;
  }
  super_dirty_ = false;
  std::memset(super_buf_.data(), 0, super_buf_.size());
  Superblock sb;
  Fill(sb);
  std::memcpy(super_buf_.data(), &sb, sizeof(sb));
  super_op_ = IoOp{};
  super_op_.handler = &handler_;
  super_op_.buf = super_buf_.data();
  super_op_.len = device_.block_size();
  super_op_.offset = device_.offset();
  super_op_.write = true;
  super_in_flight_ = true;
  super_evicted_below_ = sb.evicted_below;
  super_wseq_ceiling_ = sb.wseq_ceiling;
  aio_.Write(super_op_);
}

bool Durability::SuperblockWritten(int64_t result) {
  super_in_flight_ = false;
  if (result != static_cast<int64_t>(super_op_.len)) {
    // Written again at once, but after a few failures in a row only from Retry(), once a
    // second: no tight loop of failing writes on a dead device.
    if (++super_failures_ < kSuperRetriesAtOnce) {
      spdlog::error("superblock write failed ({}); writing it again", result);
      WriteSuperblock();
    } else {
      spdlog::error("superblock write failed ({}); trying again in a second", result);
      super_retry_ = true;
    }
    return false;
  }
  super_failures_ = 0;
  durable_evicted_below_ = std::max(durable_evicted_below_, super_evicted_below_);
  durable_wseq_ceiling_ = std::max(durable_wseq_ceiling_, super_wseq_ceiling_);
  if (super_dirty_) WriteSuperblock();
  return true;
}

bool Durability::WriteSuperblockNow(std::string& error) {
  const uint32_t bs = device_.block_size();
  Superblock sb;
  Fill(sb);
  // Its own buffer: an asynchronous write may still be reading super_buf_. That write, older,
  // may land after this one: it is then written again with the newest state.
  util::AlignedBuffer buf(bs, bs);
  std::memset(buf.data(), 0, bs);
  std::memcpy(buf.data(), &sb, sizeof(sb));
  if (super_in_flight_) super_dirty_ = true;
  // Flushed to stable storage: "this run is not clean" must be durable before any entry that only
  // the page cache holds is relied on, and "clean" only after the journal mapping was synced.
  int64_t n = aio_.WriteSync(buf.data(), bs, device_.offset());
  int err = n < 0 ? static_cast<int>(-n) : n != static_cast<int64_t>(bs) ? EIO : aio_.Flush();
  if (err != 0) {
    error = "device " + device_.path() + ": cannot write the superblock: " + std::strerror(err);
    return false;
  }
  // An asynchronous write in flight holds older values and may land after this one: what is
  // durable is known only once its rewrite (super_dirty_) completes.
  if (!super_in_flight_) {
    durable_evicted_below_ = std::max(durable_evicted_below_, sb.evicted_below);
    durable_wseq_ceiling_ = std::max(durable_wseq_ceiling_, sb.wseq_ceiling);
  }
  return true;
}

void Durability::Retry() {
  if (!super_retry_) return;
  super_retry_ = false;
  WriteSuperblock();
}

bool Durability::Format(const char* why, std::string& error) {
  // A new epoch: records of any earlier format on this device are never taken for ours.
  std::random_device rd;
  epoch_ = (uint64_t{rd()} << 32 | rd()) | 1;
  flush_seq_ = 0;
  small_flush_wseq_ = 0;
  wseq_ceiling_ = next_cas_ + kWseqWindow;
  if (!WriteSuperblockNow(error)) return false;
  if (journal_) journal_->Reset(epoch_);
  spdlog::info("device {}: {} (epoch {:016x})", device_.path(), why, epoch_);
  return true;
}

void Durability::Restore(const Superblock& found) {
  epoch_ = found.epoch;
  flush_seq_ = found.flush_seq;
  small_flush_wseq_ = found.small_flush_wseq;
  last_run_clean_ = found.clean != 0;
  evicted_below_ = durable_evicted_below_ = std::max<uint64_t>(found.evicted_below, 1);
  // No earlier run handed out a wseq at or above its ceiling: this run starts there (whatever
  // the journal says: an entry above it is corrupt) and reserves the next window before serving.
  next_cas_ = std::max<uint64_t>(found.wseq_ceiling, 1);
  wseq_ceiling_ = next_cas_ + kWseqWindow;
}

bool Durability::RaiseWseqAbove(uint64_t max_wseq, std::string& error) {
  if (max_wseq < next_cas_) return true;
  next_cas_ = max_wseq + 1;
  wseq_ceiling_ = next_cas_ + kWseqWindow;
  return WriteSuperblockNow(error);
}

bool Durability::FinishShutdown(std::string& error) {
  if (super_in_flight_) {
    error = "superblock write still in flight";
    return false;
  }
  if (journal_) {
    if (int err = journal_->Sync(); err != 0) {
      error = "device " + device_.path() + ": msync of the journal failed: " + std::strerror(err);
      return false;
    }
  }
  clean_ = true;
  return WriteSuperblockNow(error);
}

std::deque<Durability::Held>::iterator Durability::FindHeld(uint64_t ticket) {
  return std::lower_bound(held_.begin(), held_.end(), ticket,
                          [](const Held& h, uint64_t t) { return h.ticket < t; });
}

void Durability::AwaitCommit(uint64_t ticket, CommitWaiter* waiter, uint64_t token) {
  auto it = FindHeld(ticket);
  if (it != held_.end() && it->ticket == ticket && !it->done) {
    it->waiter = waiter;
    it->token = token;
    return;
  }
  // Already completed and dropped from held_. Device-mode blocks complete at a later turn than
  // the one that took the ticket, but a process-mode entry that waited for ring room is committed
  // synchronously from Commit(), and always successfully, so "not held" means ok there.
  waiter->OnCommitDone(token, ticket, it == held_.end() || it->ticket != ticket || it->ok);
}

bool Durability::BeginCheckpoint(uint64_t slab_seq, uint64_t block, size_t writes) {
  cp_slab_seq_ = slab_seq;
  cp_block_ = block;
  cp_writes_ = writes;
  cp_active_ = true;
  return cp_writes_ == 0 && CheckpointWriteDone(0);
}

bool Durability::CheckpointWriteDone(uint64_t slab_seq) {
  if (!cp_active_ || slab_seq >= cp_slab_seq_) return false;
  if (cp_writes_ > 0) --cp_writes_;
  if (cp_writes_ > 0) return false;
  cp_active_ = false;
  if (journal_ != nullptr) journal_->Reclaim(cp_block_);
  return true;
}

}  // namespace ssdcache::storage
