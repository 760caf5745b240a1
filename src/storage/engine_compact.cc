// Engine, part six: compaction of open memory slabs (--compact). A record superseded while its
// slab is still open is voided in the buffer (Supersede, MarkUnindexed): its chunk is dead room
// that would still be written to the device. Under a skewed write load that is much of a slab
// (zipf 0.99 over 131k keys: a quarter of a 228-chunk slab of 4 KiB items), and it costs device
// writes and device room, so fewer live items fit on the device. Once per loop turn, an open
// slab with enough voided chunks is compacted: its records slide down over the dead chunks, the
// index entries follow them, and the slab takes new records in the room freed.
//
// Why once per loop turn, never inside a store: a Lookup's view into a memory slab lives until
// the caller's next call into the engine (a gat passes the old value to the Store that supersedes
// it), and moving records under it would serve another key's bytes. Between turns no caller
// holds one. A slab that fills with enough dead room is left open for this (SlabFilled); a store
// that needs a chunk before the turn ends seals it as usual (OpenSlabFor).
//
// What stays where it is: every slab while a key listing is open (KeyScan walks a memory slab
// chunk by chunk across turns; a record moved below its cursor would be missed). A record whose
// key has a journal entry not yet committed moves, and the ticket that would undo it follows it
// (Durability::Moved): pinning it instead trapped the room below it, turn after turn, under a
// steady journaled load. Records keep their order, slab, seq and wseq, so nothing a restart, the
// seal order or the journal relies on changes: only dead chunks are dropped before they reach the
// device. A slab left empty goes back to the free buffers: an empty open slab would be skipped
// by a checkpoint's seal (it counts the writes of the slabs it sealed by seq) and then written
// with a seq below the checkpoint's, completing a write the checkpoint never counted.
#include <cstring>
#include <string>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

bool Engine::WorthCompacting(const SlabInfo& s) const {
  // At least an eighth of the slab reclaimed per pass: a pass moves at most every chunk once, so
  // each chunk reclaimed costs at most eight moves (a 4 KiB memcpy each, far less than writing
  // the chunk to the device).
  return options_.compact && !s.probation && s.state == SlabState::kMemory && s.voided > 0 &&
         uint64_t{s.voided} * 8 >= layouts_[s.cls].count();
}

void Engine::CompactOpenSlabs() {
  if (!options_.compact || scans_open() > 0) return;
  bool freed = false;
  for (const int64_t id : open_) {
    if (id >= 0 && WorthCompacting(table_[id])) freed |= CompactSlab(static_cast<uint32_t>(id));
  }
  // After the loop: a store the listener lets run may open a slab of any class.
  if (freed && memory_listener_) memory_listener_();
}

bool Engine::CompactSlab(uint32_t id) {
  SlabInfo& s = table_[id];
  const uint32_t chunk_size = classes_.chunk_size(s.cls);
  uint32_t to = 0;
  for (uint32_t c = 0; c < s.used; ++c) {
    char* at = ChunkInMemory(s, c);
    ItemView v;
    if (!DecodeItemTrusted(at, v)) continue;  // voided: its room is reclaimed
    if (to == c) {                            // nothing below it to fill yet
      ++to;
      continue;
    }
    // Tombstones, and records no entry points at (expired, dropped by the sweeper), move too
    // but keep no entry: they are still what a restart would find.
    if (!v.tombstone) {
      const uint64_t hash = util::HashKey(v.key);
      if (index_->FindAt(hash, id, c)) {
        index_->Move(hash, id, c, to);
        if (journal_ != nullptr && journal_->Uncommitted(hash)) durable_.Moved(hash, id, c, to);
      }
    }
    std::memmove(ChunkInMemory(s, to), at, chunk_size);
    ++to;
  }
  // The originals of the records moved lie at `to` and above, past `used`: nothing reads there
  // (restart, key listings, reinsertion and failed writes all stop at `used`), and new records
  // overwrite them.
  stats_.compacted_bytes += uint64_t{s.used - to} * chunk_size;
  ++stats_.compactions;
  s.used = to;
  s.voided = 0;
  if (to != 0) return false;
  open_[s.cls] = -1;
  buffers_.Free(s.mem);
  KillSlab(s, /*evicted=*/false);
  return true;
}

std::string Engine::AuditOpenSlabs() const {
  for (const int64_t id : open_) {
    if (id < 0) continue;
    const SlabInfo& s = table_[id];
    for (uint32_t c = 0; c < s.used; ++c) {
      ItemView v;
      if (!DecodeItemTrusted(buffers_.data(s.mem) + layouts_[s.cls].offset(c), v) || v.tombstone ||
          (v.exptime != 0 && v.exptime <= now_)) {
        continue;
      }
      const std::optional<IndexEntry> cur = index_->Find(util::HashKey(v.key));
      if (cur && !cur->At(static_cast<uint32_t>(id), c)) {
        return "slab " + std::to_string(id) + " chunk " + std::to_string(c) +
               " holds a record of " + std::string(v.key) +
               " the index does not point at (it points at " + std::to_string(cur->slab) + "/" +
               std::to_string(cur->chunk) + ")";
      }
    }
  }
  return "";
}

}  // namespace ssdcache::storage
