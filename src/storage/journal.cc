#include "storage/journal.h"

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "util/hash.h"

namespace ssdcache::storage {

namespace {
// The ring is read back in pieces of this size at recovery.
constexpr size_t kLoadChunk = 1 << 20;
}  // namespace

void EncodeJournalBlock(char* block, uint64_t epoch, uint64_t seq,
                        std::span<const JournalEntry> entries) {
  std::memset(block, 0, kJournalBlockSize);
  JournalBlockHeader h{};
  h.magic = kJournalMagic;
  h.epoch = epoch;
  h.seq = seq;
  h.count = static_cast<uint32_t>(entries.size());
  std::memcpy(block, &h, sizeof(h));
  if (!entries.empty()) std::memcpy(block + sizeof(h), entries.data(), entries.size_bytes());
  h.crc = util::Crc32c(block, kJournalBlockSize);
  std::memcpy(block, &h, sizeof(h));
}

void OpenInPlaceBlock(char* block, uint64_t epoch, uint64_t seq) {
  // The entries first: until the new header is there, the slot still reads as its old block
  // (reclaimed, so any subset of its entries is fine) or as nothing.
  std::memset(block + sizeof(JournalBlockHeader), 0,
              kJournalBlockSize - sizeof(JournalBlockHeader));
  std::atomic_signal_fence(std::memory_order_seq_cst);
  JournalBlockHeader h{};
  h.magic = kJournalMagic;
  h.epoch = epoch;
  h.seq = seq;
  h.flags = kJournalInPlace;
  h.crc = util::Crc32c(&h, sizeof(h));
  std::memcpy(block, &h, sizeof(h));
  // The first entry's stores must not move above the header's.
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

void StoreInPlaceEntry(char* block, uint32_t i, uint64_t hash, uint64_t wseq) {
  char* at = block + sizeof(JournalBlockHeader) + size_t{i} * sizeof(JournalEntry);
  std::memcpy(at + offsetof(JournalEntry, hash), &hash, sizeof(hash));
  // The wseq makes the entry count: the hash must be there first. A single aligned 8-byte store,
  // so a kill leaves the old zero or the whole value, never a part.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(at + offsetof(JournalEntry, wseq)))
      .store(wseq, std::memory_order_release);
}

bool DecodeJournalBlock(const char* block, uint64_t epoch, uint64_t& seq,
                        std::vector<JournalEntry>& out) {
  JournalBlockHeader h;
  std::memcpy(&h, block, sizeof(h));
  if (h.magic != kJournalMagic || h.epoch != epoch || h.count > kJournalEntriesPerBlock ||
      h.seq == 0 || (h.flags != 0 && h.flags != kJournalInPlace)) {
    return false;
  }
  const bool in_place = h.flags == kJournalInPlace;
  if (in_place && h.count != 0) return false;
  // The CRC covers the header (in place) or the whole block with its crc field zero; check it
  // without copying the block.
  const uint32_t zero = 0;
  constexpr size_t kCrcAt = offsetof(JournalBlockHeader, crc);
  const size_t covered = in_place ? sizeof(JournalBlockHeader) : kJournalBlockSize;
  uint32_t crc = util::Crc32c(block, kCrcAt);
  crc = util::Crc32c(&zero, sizeof(zero), crc);
  crc = util::Crc32c(block + kCrcAt + sizeof(zero), covered - kCrcAt - sizeof(zero), crc);
  if (crc != h.crc) return false;
  seq = h.seq;
  uint32_t count = h.count;
  if (in_place) {
    // Entries were stored one by one, each completed by its wseq store: the first zero wseq is
    // where the writer was (or a torn entry whose reply was never sent).
    while (count < kJournalEntriesPerBlock) {
      uint64_t wseq;
      std::memcpy(
          &wseq,
          block + sizeof(h) + size_t{count} * sizeof(JournalEntry) + offsetof(JournalEntry, wseq),
          sizeof(wseq));
      if (wseq == 0) break;
      ++count;
    }
  }
  if (count == 0) return true;
  size_t at = out.size();
  out.resize(at + count);
  std::memcpy(out.data() + at, block + sizeof(h), count * sizeof(JournalEntry));
  return true;
}

std::unique_ptr<Journal> Journal::Create(Device& device, IoBackend& aio, uint64_t offset,
                                         uint32_t blocks, JournalSync sync,
                                         JournalListener* listener, std::string& error) {
  std::unique_ptr<Journal> j(new Journal(device, aio, offset, blocks, sync, listener));
  if (sync != JournalSync::kProcess) return j;
  const size_t len = size_t{blocks} * kJournalBlockSize;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page <= 0 || offset % static_cast<uint64_t>(page) != 0) {
    error = "--journal-sync process: the journal at byte " + std::to_string(offset) + " of " +
            device.path() + " is not aligned to the page size; use --journal-sync device";
    return nullptr;
  }
  // Pre-faulted, so that the loop never waits for a page of the ring to be read in.
  int err = 0;
  j->map_ = aio.MapShared(offset, len, /*populate=*/true, err);
  if (j->map_.empty()) {
    error = "--journal-sync process: cannot map the journal (" + std::to_string(len >> 10) +
            " KiB of " + device.path() + "): " + std::strerror(err) + "; use --journal-sync device";
    return nullptr;
  }
  if (int lock_err = j->map_.Lock(); lock_err != 0) {
    spdlog::debug("journal: mlock of {} KiB failed ({}); the ring stays pageable", len >> 10,
                  std::strerror(lock_err));
  }
  return j;
}

Journal::Journal(Device& device, IoBackend& aio, uint64_t offset, uint32_t blocks, JournalSync sync,
                 JournalListener* listener)
    : device_(device),
      aio_(aio),
      offset_(offset),
      blocks_(blocks),
      sync_(sync),
      listener_(listener),
      buf_(sync == JournalSync::kDevice ? size_t{kJournalMaxInFlight} * kJournalBlockSize : 0,
           std::max<uint32_t>(device.block_size(), kJournalBlockSize)) {
  pending_.reserve(kJournalEntriesPerBlock);
  // Room for every entry of the blocks in flight and a pending one at load <= 1/2.
  size_t slots = 1;
  while (slots < 2 * (kJournalMaxInFlight + 1) * kJournalEntriesPerBlock) slots <<= 1;
  uncommitted_.resize(slots);
  for (Flight& f : flights_) f.entries.reserve(kJournalEntriesPerBlock);
}

void Journal::Reset(uint64_t epoch) {
  epoch_ = epoch;
  next_seq_ = 1;
  reclaimed_before_ = 1;
  open_block_ = nullptr;
}

bool Journal::Load(uint64_t epoch, std::vector<JournalEntry>& entries, std::string& error) {
  epoch_ = epoch;
  open_block_ = nullptr;
  // Read through the O_DIRECT fd even in process mode: a direct read first writes back the dirty
  // page-cache pages of its range, so it sees every entry a killed process stored in the mapping.
  util::AlignedBuffer chunk(kLoadChunk, std::max<uint32_t>(device_.block_size(), 4096));
  const uint64_t total = uint64_t{blocks_} * kJournalBlockSize;
  uint64_t newest = 0;
  for (uint64_t pos = 0; pos < total; pos += kLoadChunk) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kLoadChunk, total - pos));
    const int64_t n = aio_.ReadSync(chunk.data(), len, offset_ + pos);
    if (n != static_cast<int64_t>(len)) {
      error = "device " + device_.path() + ": reading the journal at " +
              std::to_string(offset_ + pos + static_cast<uint64_t>(std::max<int64_t>(n, 0))) +
              " failed: " + (n < 0 ? std::strerror(static_cast<int>(-n)) : "end of device");
      return false;
    }
    // Every valid block counts, wherever it is: blocks were written several at a time, so a
    // crash can leave a torn or missing block before one that completed (and whose entries
    // were acknowledged).
    for (size_t b = 0; b < len; b += kJournalBlockSize) {
      uint64_t seq = 0;
      if (DecodeJournalBlock(chunk.data() + b, epoch, seq, entries)) newest = std::max(newest, seq);
    }
  }
  next_seq_ = newest + 1;
  // Every slot may hold entries still needed: none is free until the engine reclaims them.
  // Slots never written (a young ring) are free already.
  reclaimed_before_ = next_seq_ > blocks_ ? next_seq_ - blocks_ : 1;
  return true;
}

size_t Journal::SlotOf(uint64_t hash) const {
  // Key hashes are already well mixed (XXH3); fold the high bits in anyway, since the table's
  // size is a power of two.
  const size_t mask = uncommitted_.size() - 1;
  size_t i = static_cast<size_t>(hash ^ (hash >> 32)) & mask;
  while (uncommitted_[i].hash != 0 && uncommitted_[i].hash != hash) i = (i + 1) & mask;
  return i;
}

void Journal::GrowUncommitted() {
  std::vector<CountSlot> old(uncommitted_.size() * 2);
  old.swap(uncommitted_);
  for (const CountSlot& c : old) {
    if (c.hash != 0) uncommitted_[SlotOf(c.hash)] = c;
  }
}

void Journal::Track(uint64_t hash) {
  if (hash == 0) {
    ++uncommitted_zero_;
    return;
  }
  if (2 * (uncommitted_keys_ + 1) > uncommitted_.size()) GrowUncommitted();
  CountSlot& c = uncommitted_[SlotOf(hash)];
  if (c.hash == 0) {
    c.hash = hash;
    ++uncommitted_keys_;
  }
  ++c.count;
}

void Journal::Untrack(uint64_t hash) {
  if (hash == 0) {
    if (uncommitted_zero_ > 0) --uncommitted_zero_;
    return;
  }
  const size_t mask = uncommitted_.size() - 1;
  size_t i = SlotOf(hash);
  if (uncommitted_[i].hash == 0 || --uncommitted_[i].count > 0) return;
  // Backward-shift deletion: pull every later entry of the probe run whose home slot does not lie
  // in (i, j] into the hole, so lookups never stop at a hole before their entry.
  --uncommitted_keys_;
  size_t j = i;
  while (true) {
    uncommitted_[i] = CountSlot{};
    while (true) {
      j = (j + 1) & mask;
      if (uncommitted_[j].hash == 0) return;
      const uint64_t h = uncommitted_[j].hash;
      const size_t home = static_cast<size_t>(h ^ (h >> 32)) & mask;
      const bool home_in_hole_to_j = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!home_in_hole_to_j) break;
    }
    uncommitted_[i] = uncommitted_[j];
    i = j;
  }
}

bool Journal::InPlaceSlot() {
  if (open_block_ != nullptr && open_count_ < kJournalEntriesPerBlock) return true;
  open_block_ = nullptr;
  if (!HasRoom()) return false;
  const uint64_t seq = next_seq_++;
  open_block_ = map_.data() + (seq % blocks_) * kJournalBlockSize;
  open_count_ = 0;
  OpenInPlaceBlock(open_block_, epoch_, seq);
  ++stats_.writes;
  return true;
}

uint64_t Journal::Append(uint64_t hash, uint64_t wseq) {
  assert(wseq != 0);  // a zero wseq ends an in-place block
  ++stats_.entries;
  // Behind queued entries it queues too, so that tickets stay in append order.
  if (sync_ == JournalSync::kProcess && pending_.empty() && InPlaceSlot()) {
    StoreInPlaceEntry(open_block_, open_count_++, hash, wseq);
    return 0;
  }
  pending_.push_back({hash, wseq});
  Track(hash);
  return ++appended_;
}

bool Journal::Uncommitted(uint64_t hash) const {
  if (hash == 0) return uncommitted_zero_ > 0;
  return uncommitted_[SlotOf(hash)].hash == hash;
}

uint64_t Journal::reclaimed_before() const {
  uint64_t before = reclaimed_before_;
  if (in_flight_ > 0) {
    for (const Flight& f : flights_) {
      if (f.busy) before = std::min(before, f.seq);
    }
  }
  return before;
}

void Journal::Reclaim(uint64_t before) {
  reclaimed_before_ = std::max(reclaimed_before_, std::min(before, next_seq_));
}

uint64_t Journal::CutBlock() {
  open_block_ = nullptr;
  return next_seq_;
}

int Journal::Sync() const { return map_.empty() ? 0 : map_.Sync(); }

void Journal::Commit() {
  if (sync_ == JournalSync::kProcess) {
    CommitInPlace();
  } else {
    CommitToDevice();
  }
}

void Journal::CommitInPlace() {
  while (!pending_.empty()) {
    if (!InPlaceSlot()) {
      if (!waited_) ++stats_.full_waits;
      waited_ = true;
      return;
    }
    waited_ = false;
    const size_t n = std::min<size_t>(pending_.size(), kJournalEntriesPerBlock - open_count_);
    for (size_t i = 0; i < n; ++i) {
      StoreInPlaceEntry(open_block_, open_count_++, pending_[i].hash, pending_[i].wseq);
      Untrack(pending_[i].hash);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    const uint64_t first = pending_first_;
    pending_first_ += n;
    // Committed the moment they were stored. The state is consistent before the listener runs:
    // what it appends goes in place behind them or queues.
    listener_->OnJournalCommitted(first, first + n - 1, true);
  }
}

void Journal::CommitToDevice() {
  while (!pending_.empty()) {
    Flight& f = flights_[next_seq_ % kJournalMaxInFlight];
    // Its slot is busy with the block kJournalMaxInFlight before: it goes out at a later turn.
    if (f.busy) return;
    if (!HasRoom()) {
      if (!waited_) ++stats_.full_waits;
      waited_ = true;
      return;
    }
    waited_ = false;
    size_t n = std::min<size_t>(pending_.size(), kJournalEntriesPerBlock);
    f.entries.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    f.first_ticket = pending_first_;
    pending_first_ += n;
    f.seq = next_seq_++;
    f.busy = true;
    const size_t slot = static_cast<size_t>(&f - flights_.data());
    char* buf = buf_.data() + slot * kJournalBlockSize;
    EncodeJournalBlock(buf, epoch_, f.seq, f.entries);
    f.op = IoOp{};
    f.op.handler = this;
    f.op.buf = buf;
    f.op.len = kJournalBlockSize;
    f.op.offset = offset_ + (f.seq % blocks_) * kJournalBlockSize;
    f.op.write = true;
    f.op.journal = true;
    f.op.user = slot;
    ++in_flight_;
    stats_.in_flight_max = std::max<uint64_t>(stats_.in_flight_max, in_flight_);
    aio_.Write(f.op);
  }
}

void Journal::OnIoComplete(IoOp& op, int64_t result) {
  Flight& f = flights_[op.user];
  bool ok = result == static_cast<int64_t>(op.len);
  if (ok) {
    ++stats_.writes;
  } else {
    ++stats_.errors;
  }
  // The slot and the entries' uncommitted marks are released before the listener runs: it may
  // append (undoing a failed change writes a tombstone) and that must see this block as done.
  for (const JournalEntry& e : f.entries) Untrack(e.hash);
  const uint64_t first = f.first_ticket;
  const uint64_t last = first + f.entries.size() - 1;
  f.entries.clear();
  f.busy = false;
  --in_flight_;
  listener_->OnJournalCommitted(first, last, ok);
}

}  // namespace ssdcache::storage
