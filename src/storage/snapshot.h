// Snapshot: what a clean stop leaves for the next start, so that a clean restart costs O(index)
// instead of a scan of the whole device. Owns the snapshot's on-device format, its writing (from
// the parts the engine lends at the end of a clean stop) and its loading (into the parts Recovery
// is lent). It owns no state between the two: the region belongs to it, the rest to the engine.
//
// The region lies between the journal and disk slab 0 (its size is --snapshot-size, recorded in
// the superblock):
//
//   slice:  | superblock | journal ring | snapshot region ........................ | disk slabs
//   region: | header (4 KiB) | page 0 (64 KiB) | page 1 | ... | page n-1 | unused          |
//   page:   | magic u32 | crc u32 | page u32 | bytes u32 | snapshot id u64 | 0 u64 | payload |
//   payload (the pages' payloads end to end):
//           | slab records (SnapSlab) in seal order | entry records (SnapEntry), grouped by slab
//           in the same order | access table slots (u64) |
//
// An entry is (bucket, tag, coarse expiry, chunk, fetched), not the index's in-DRAM slot: the
// index keeps only a 16-bit tag of the key hash, and the bucket an entry sat in gives the low
// hash bits. So the same -i places every entry back in its bucket, a smaller -i puts it in the
// bucket pair the key's hash picks there (the low bits of a bucket index are the smaller index's
// bucket), and a larger one cannot be placed: the start then scans.
//
// Invariants:
//  - A snapshot is loaded only when the superblock says the last run stopped cleanly and the
//    snapshot's header matches the superblock's epoch, write-sequence ceiling, flush_all
//    sequence and eviction frontier and the engine's geometry, and every block's CRC verifies.
//    Every run raises the ceiling before it serves, so a snapshot of an earlier run never
//    matches a later superblock: a run that loaded it and then crashed leaves clean = 0 and a
//    higher ceiling, and its next start scans.
//  - Pages carry the snapshot id (the ceiling) inside their CRC: a page of an earlier snapshot
//    left in the region never passes for one of this snapshot.
//  - Load() checks the whole snapshot before it touches a part: when it returns nullopt (with
//    the reason) the parts are as it found them and the caller scans.
//  - The header is written last, after every page, and the superblock (clean = 1) only after
//    the region was flushed: a crash at any step leaves clean = 0 or a header that does not match.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "storage/access_table.h"
#include "storage/device.h"
#include "storage/durability.h"
#include "storage/index.h"
#include "storage/io_backend.h"
#include "storage/recovery.h"
#include "storage/slab_table.h"

namespace ssdcache::storage {

// What the engine lends at the end of a clean stop (every memory slab written, the device idle).
struct SnapshotSource {
  Device& device;
  IoBackend& io;    // WriteSync and Flush only
  uint64_t offset;  // the region
  uint64_t bytes;
  const Index& index;
  const SlabTable& table;
  const AccessTable& access;
  const Durability& durable;  // the superblock the stop is about to write
  uint32_t slab_size;
  uint32_t classes;
  uint64_t next_seal;
};

struct SnapshotWritten {
  bool ok = false;
  std::string why;  // when not ok: why the next start will scan
  uint64_t bytes = 0;
  uint64_t slabs = 0;
  uint64_t entries = 0;
  double seconds = 0;
};

struct SnapshotLoaded {
  uint64_t bytes = 0;  // read from the region
  uint64_t slabs = 0;
  uint64_t items = 0;
  uint64_t expired = 0;         // entries dropped: certainly expired
  uint64_t index_full = 0;      // entries left unindexed (a smaller -i): their slabs are marked
  uint64_t tag_collisions = 0;  // entries dropped for another key's (a smaller -i): the same
  uint64_t next_seal = 1;
  double write_seconds = 0;  // what writing it took at the last stop
};

class Snapshot {
 public:
  static constexpr uint32_t kHeaderBytes = 4096;
  static constexpr uint32_t kPageBytes = 64 * 1024;

  // --snapshot-size auto on a new device takes at most 1/kAutoShare of the slice. The region is
  // cache capacity given up for a faster restart: a snapshot takes 12 bytes per item, 12/chunk
  // of the device, so an eighth holds one for every chunk of a device full of 96-byte chunks
  // (items of 48 bytes of key and value: the small items of scenario 7 average 137-byte chunks,
  // 8.8%). Smaller chunks, with an index that holds them all, would take more than an eighth of
  // the cache from a server for a scan spared only at its restarts: --snapshot-size says so.
  static constexpr uint64_t kAutoShare = 8;

  // What the largest snapshot of an engine takes, the ceiling auto sizes its region by.
  struct Bounds {
    uint64_t slice = 0;    // bytes of the slice
    uint32_t block = 0;    // device block
    uint64_t slabs = 0;    // slab records: the slab table's pieces on disk slabs
    uint64_t entries = 0;  // index entries: min(index slots, chunks the slice holds)
    uint64_t room = 0;     // bytes the slice can spare besides the slabs the engine needs
  };

  // The region's size for an explicit --snapshot-size `option` (0: none) with `block`-byte
  // blocks; 0 when the blocks do not divide the header.
  static uint64_t RegionBytes(uint64_t option, uint32_t block);
  // What a snapshot of `slabs` slab records and `entries` entries takes: header, whole pages.
  static uint64_t BytesFor(uint64_t slabs, uint64_t entries);
  // --snapshot-size auto on a new (or reformatted) device: BytesFor(b.slabs, b.entries), but at
  // most 1/kAutoShare of the slice and b.room (the snapshot of a full index may then not fit),
  // at least kMinSnapshotSize; a formatted device keeps the size it records (Engine::Create).
  static uint64_t AutoBytes(const Bounds& b);

  // Writes the snapshot and flushes the region, synchronously. Not ok (with the reason) when the
  // state cannot be captured (a memory slab still holds records) or does not fit the region, or
  // a write failed: the caller still marks the stop clean, and the next start scans.
  static SnapshotWritten Write(const SnapshotSource& src);

  // Loads the snapshot of the region parts.snapshot_* into the parts (see the invariants).
  // Call after the superblock was restored and rewritten for this run and the journal loaded.
  static std::optional<SnapshotLoaded> Load(const RecoveryParts& parts, std::string& why);
};

}  // namespace ssdcache::storage
