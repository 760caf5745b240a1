// Engine, part five: admission (the queue and the ghost are the Admission part, admission.h). A
// key's first write goes to a probation slab: a memory slab outside the seal order, never written
// as such while the server runs. When probation is at its share of the buffers, its oldest full
// slab is screened: records read since stored are copied into ordinary slabs (the same version:
// wseq, cas, flags, exptime, store time, stale mark), the others dropped and counted as evictions
// (docs/design.md, "Admission").
//
// Why a drop needs no tombstone and no journal entry: a store goes to probation only when
// OlderRecordMayLinger() is false, i.e. when Store would journal nothing, so no journal entry
// names a probation record and no older record of its key can come back once it is gone; a drop
// leaves the device as if the store had never happened after the key's last delete or eviction.
#include <algorithm>
#include <optional>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

size_t Engine::GhostBudget(const EngineOptions& options) {
  // Not under -M, where a drop from probation (an eviction) is not allowed.
  return options.admission && !options.disable_evictions ? Ghost::BytesFor(options.max_memory / 16)
                                                         : 0;
}

uint64_t Engine::BufferCount(const EngineOptions& options) {
  return (options.max_memory - GhostBudget(options)) / options.slab_size;
}

size_t Engine::ProbationSlabs(const EngineOptions& options) {
  // A quarter of the buffers; not under -M (no ghost then), and not with too few buffers to leave
  // the ordinary slabs two.
  const uint64_t buffers = BufferCount(options);
  return GhostBudget(options) > 0 && buffers >= 3 ? std::max<uint64_t>(1, buffers / 4) : 0;
}

bool Engine::ForProbation(uint64_t hash) {
  if (index_->Find(hash)) return false;  // written again
  // Remembered among as many of the last drops as the device holds items at their present mean
  // size (S3-FIFO's ghost is as large as its main queue).
  const uint64_t mean = gauges_.curr_items == 0 ? 1 : gauges_.bytes / gauges_.curr_items + 1;
  if (admit_.Recall(hash, uint64_t{table_.disk_count()} * slab_size_ / mean)) {
    ++stats_.admit_ghost_hits;
    return false;
  }
  return !OlderRecordMayLinger(hash);
}

int64_t Engine::OpenProbationFor(uint8_t cls) {
  const int64_t open = open_probation_[cls];
  if (open >= 0) return open;  // a full one was queued at once (SlabFilled)
  if (!admit_.HasRoom()) {
    const std::optional<uint32_t> oldest = admit_.TakeOldest();
    // Every probation slab is open, in other classes: this store goes to an ordinary slab.
    if (!oldest) return -1;
    Screen(*oldest);
  }
  if (!HasBuffer()) return -1;
  uint32_t id;
  if (!AllocateSlabId(id)) return -1;
  StartSlab(id, cls, /*probation=*/true);
  open_probation_[cls] = id;
  admit_.Opened();
  return id;
}

void Engine::SlabFilled(uint32_t id) {
  SlabInfo& s = table_[id];
  if (!s.probation) {
    // Left open when a compaction at the end of the turn would reclaim room; a store that needs
    // a chunk before then seals it (OpenSlabFor).
    if (!WorthCompacting(s)) Seal(id);
    return;
  }
  open_probation_[s.cls] = -1;
  admit_.Queue(id);
}

void Engine::Screen(uint32_t id) {
  SlabInfo& p = table_[id];
  for (uint32_t c = 0; c < p.used; ++c) {
    ItemView v;
    // Superseded records were voided (Supersede); probation holds no tombstone.
    if (!DecodeItemTrusted(ChunkInMemory(p, c), v) || v.tombstone) continue;
    const uint64_t hash = util::HashKey(v.key);
    const std::optional<IndexEntry> cur = index_->FindAt(hash, id, c);
    if (!cur) continue;
    if (v.exptime != 0 && v.exptime <= now_) {
      DropEntry(*cur);
      index_->EraseIf(hash, id, c);
      continue;
    }
    if (cur->hit && CopyRecord(hash, *cur, v, 0)) {
      ++stats_.admit_promoted;
      continue;
    }
    // Never read there (or no memory slab took the copy): dropped, and the key remembered, so
    // that its next write goes to the device directly.
    DropEntry(*cur);
    index_->EraseIf(hash, id, c);
    ++stats_.evictions;
    ++class_counters_[p.cls].evicted;
    ++stats_.admit_dropped;
    admit_.Remember(hash);
  }
  p.probation = false;
  buffers_.Free(p.mem);
  KillSlab(p, /*evicted=*/true);  // nothing live is left: counts nothing
  admit_.Closed();
}

void Engine::SealProbation() {
  admit_.Stop();
  for (const uint32_t id : admit_.TakeQueue()) {
    table_[id].probation = false;
    admit_.Closed();
    Seal(id);
  }
  for (int64_t& id : open_probation_) {
    if (id < 0) continue;
    SlabInfo& s = table_[id];
    s.probation = false;
    admit_.Closed();
    const uint32_t sealed = static_cast<uint32_t>(id);
    id = -1;
    if (s.used > 0) {
      Seal(sealed);
    } else {
      buffers_.Free(s.mem);
      KillSlab(s, /*evicted=*/false);
    }
  }
}

void Engine::DiscardProbation() {
  std::deque<uint32_t> all = admit_.TakeQueue();
  for (int64_t& id : open_probation_) {
    if (id >= 0) all.push_back(static_cast<uint32_t>(id));
    id = -1;
  }
  for (const uint32_t id : all) {
    SlabInfo& s = table_[id];
    s.probation = false;
    buffers_.Free(s.mem);
    KillSlab(s, /*evicted=*/false);
    admit_.Closed();
  }
}

}  // namespace ssdcache::storage
