#include "storage/slab_table.h"

#include <algorithm>
#include <bit>

#include "storage/index.h"

namespace ssdcache::storage {

// The slab table is twice the logical slabs that can be alive at once and must fit the index's
// slab id bits; very large devices pack fewer partial slabs per disk slab to stay within them.
size_t SlabTable::PiecesFor(uint64_t disk_slabs, uint64_t mem_slabs) {
  for (size_t k = kMaxPiecesPerDiskSlab; k >= 1; k /= 2) {
    if (std::bit_ceil(2 * (disk_slabs * k + mem_slabs)) <= (1ULL << Index::kSlabBits)) return k;
  }
  return 0;
}

SlabTable::SlabTable(size_t disk_count, size_t mem_count, uint32_t slab_size,
                     EvictionPolicy& policy)
    : policy_(policy), slab_size_(slab_size), disks_(disk_count) {
  for (size_t i = disk_count; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  // Twice the slabs that can be alive at once, so that an id is reused only every ~half lap and
  // the sweeper has that many allocations to pass over the whole index.
  max_pieces_ = std::max<size_t>(1, PiecesFor(disk_count, mem_count));
  const size_t table_size = std::bit_ceil(2 * (disk_count * max_pieces_ + mem_count));
  slabs_.resize(table_size);
  mask_ = static_cast<uint32_t>(table_size - 1);
}

bool SlabTable::TakeId(uint64_t sweep_passes, uint32_t& id) {
  for (size_t i = 0; i < slabs_.size(); ++i, ++next_seq_) {
    const uint32_t candidate = IdOf(next_seq_);
    SlabInfo& s = slabs_[candidate];
    if (s.state == SlabState::kFree && (s.seq == 0 || sweep_passes >= s.freed_pass + 2)) {
      id = candidate;
      s.seq = next_seq_++;
      return true;
    }
  }
  return false;
}

bool SlabTable::Packs(uint32_t len) const {
  return len < slab_size_ && packing_ >= 0 && disks_[packing_].fill + len <= slab_size_ &&
         disks_[packing_].pieces.size() < max_pieces_;
}

bool SlabTable::TakeDisk(uint32_t& disk) {
  if (free_.empty()) return false;
  disk = free_.back();
  free_.pop_back();
  DiskSlab& d = disks_[disk];
  d.pieces.clear();
  d.fill = 0;
  d.pending = 0;
  d.live_pieces = 0;
  d.closed = false;
  d.written = false;
  ++in_use_;
  return true;
}

int64_t SlabTable::StartFill(uint32_t disk, uint64_t first_seq, uint32_t len) {
  disks_[disk].fill_id = first_seq;
  if (len >= slab_size_) return -1;
  // A partly filled slab: later partial slabs are packed behind it in the same disk slab.
  const int64_t previous = packing_;
  packing_ = disk;
  return previous;
}

uint32_t SlabTable::AddPiece(uint32_t disk, uint32_t id, uint32_t len) {
  DiskSlab& d = disks_[disk];
  const uint32_t off = d.fill;
  d.fill += len;
  d.pieces.push_back(id);
  ++d.pending;
  ++d.live_pieces;
  if (d.fill == slab_size_ || d.pieces.size() == max_pieces_) {
    if (packing_ == static_cast<int64_t>(disk)) packing_ = -1;
    MarkClosed(d);
  }
  return off;
}

void SlabTable::MarkClosed(DiskSlab& d) {
  if (d.closed) return;
  d.closed = true;
  policy_.DiskClosed(d.pieces);
}

bool SlabTable::Close(uint32_t disk) {
  DiskSlab& d = disks_[disk];
  MarkClosed(d);
  if (packing_ == static_cast<int64_t>(disk)) packing_ = -1;
  return d.pending == 0;
}

void SlabTable::Fail(uint32_t disk) {
  DiskSlab& d = disks_[disk];
  MarkClosed(d);
  if (packing_ == static_cast<int64_t>(disk)) packing_ = -1;
}

SlabTable::Finished SlabTable::Finish(uint32_t disk, uint64_t frontier) {
  DiskSlab& d = disks_[disk];
  if (d.live_pieces > 0) return Finished::kInUse;
  // Every slab in it was evicted. Its old records may be the only newer versions of records
  // that linger in other disk slabs, so it is rewritten only once the superblock says that
  // everything sealed before its slabs is void. (A slab whose write failed died without an
  // eviction: the items it lost were tombstoned and journaled again, see Engine::OnIoComplete,
  // so its region needs no frontier of its own.)
  d.pieces.clear();
  // Only what reached the device needs the frontier. Every write into it failed: the items they
  // lost were tombstoned and journaled again, and holding the disk slab for a frontier that a
  // failing device may never make durable would leave no disk slab to write to.
  d.free_after = d.written ? frontier : 0;
  --in_use_;
  freeing_.push_back(disk);
  return Finished::kFreeing;
}

bool SlabTable::Release(uint64_t durable_frontier) {
  while (!freeing_.empty() && disks_[freeing_.front()].free_after <= durable_frontier) {
    free_.push_back(freeing_.front());
    freeing_.pop_front();
  }
  return !freeing_.empty();
}

void SlabTable::EnterRecovered(uint32_t id, const SlabInfo& s) {
  slabs_[id] = s;
  DiskSlab& d = disk(s.disk);
  if (d.pieces.empty()) d.fill_id = s.seq;
  d.pieces.push_back(id);
  ++d.live_pieces;
  d.fill = std::max(d.fill, s.disk_off + s.disk_len);
}

void SlabTable::Recovered() {
  // The durable frontier already voids whatever evicted slabs the free ones still hold.
  free_.clear();
  in_use_ = 0;
  for (uint32_t d = static_cast<uint32_t>(disks_.size()); d-- > 0;) {
    if (disks_[d].pieces.empty()) {
      free_.push_back(d);
    } else {
      ++in_use_;
      disks_[d].written = true;  // what a restart found is on the device
      MarkClosed(disks_[d]);
    }
  }
}

}  // namespace ssdcache::storage
