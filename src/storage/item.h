// The item record as it is laid out inside a slab chunk, in DRAM (memory slab) and on the device
// alike, and the header of a slab. Formats are host-endian (x86-64 little-endian); a change to
// either struct must bump kFormatVersion.
//
//   slab (slab_size bytes):  | SlabHeader (64 B) | chunk 0 | chunk 1 | ... | chunk n-1 | slack |
//   chunk (chunk_size of its class):  | ItemHeader (48 B) | key (nkey) | value (nvalue) | unused |
//
// Invariants:
//  - crc is the CRC32C of everything after the crc field through the end of the value, so a torn
//    or corrupt record (or a chunk of a reused slab) never passes VerifyItem().
//  - slab_seq is the low 32 bits of the sequence number of the slab the record was written into;
//    a read of a slab that was evicted and rewritten meanwhile fails that check.
//  - The value is stored without memcached's trailing "\r\n".
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace ssdcache::storage {

inline constexpr uint16_t kItemMagic = 0x5343;      // "SC"
inline constexpr uint32_t kSlabMagic = 0x53534C42;  // "SSLB"
// 2: ItemHeader grew stored_at and marks (meta protocol: l and stale items).
// 3: the superblock records the crash journal's size, and a journal region follows it.
// 4: the superblock records the boot, the journal sync mode and whether the last run shut down
//    cleanly (--journal-sync process); journal blocks may be in-place blocks (journal.h).
// 5: slab headers carry the seal sequence (eviction order) and the superblock the eviction
//    frontier (slabs sealed before it are evicted) and the write-sequence ceiling.
// 6: chunks no larger than a device block never straddle a block boundary (ChunkLayout), and
//    geometric classes are fitted to the block (SlabClasses::FitToBlocks); the superblock records
//    the block size the layout was made for.
// 7: a snapshot region follows the journal (snapshot.h) and the superblock records its size: a
//    clean stop writes the index and slab table there, and a clean restart loads them.
// 8: the small-object tier's sets (small_tier.h) follow the snapshot region, and the superblock
//    records how many.
inline constexpr uint16_t kFormatVersion = 8;

inline constexpr uint8_t kKindItem = 1;
inline constexpr uint8_t kKindTombstone = 2;  // a delete, so that it survives a restart

// ItemHeader::marks bits.
inline constexpr uint8_t kMarkStale = 1;  // meta md/ms I: served with X until replaced
// A copy made when its slab was evicted (reinsertion): the same version (wseq, cas) as the record
// it copies, which may still be found on the device until the eviction frontier past it is
// durable. So superseding it is journaled even while it is in an open memory slab (no format
// change: readers that do not know the bit ignore it).
inline constexpr uint8_t kMarkReinserted = 2;
// The meta protocol's per-version state, kept in the record by the small-object tier only (it has
// no per-item DRAM entry; the slab tier keeps them in the index entry): read since written (mg h)
// and a win token handed out (mg W/Z). SmallTier reports the token bit only for sets written in
// this run (docs/design.md "Meta protocol state").
inline constexpr uint8_t kMarkFetched = 4;
inline constexpr uint8_t kMarkTokenSent = 8;

struct ItemHeader {
  uint32_t crc;
  uint16_t magic;
  uint8_t kind;  // kKindItem or kKindTombstone (no value)
  uint8_t nkey;
  uint32_t slab_seq;
  uint32_t exptime;  // absolute unix seconds; 0 = never
  uint32_t flags;
  uint32_t nvalue;
  uint64_t cas;
  // Write sequence, unique and growing across restarts: the newest record of a key wins when
  // the index is rebuilt, whatever the order its slabs were opened in (touch keeps the cas but
  // writes a new wseq).
  uint64_t wseq;
  // Unix seconds of this write: what mg's l reports for a key the access table no longer holds.
  uint32_t stored_at;
  uint8_t marks;  // kMarkStale, kMarkReinserted
  uint8_t reserved[3];
};
static_assert(sizeof(ItemHeader) == 48, "ItemHeader is part of the on-device format");

struct SlabHeader {
  uint32_t magic;
  uint16_t version;
  uint8_t slab_class;
  uint8_t reserved0;
  uint64_t seq;  // full sequence number of the slab
  uint32_t chunk_size;
  uint32_t chunks_used;  // chunks written (items and superseded versions alike)
  uint32_t crc;          // CRC32C of this header with crc = 0
  uint32_t reserved1;
  uint64_t device_epoch;  // the superblock's epoch: slabs of an earlier format are ignored
  uint64_t fill_id;       // seq of the first slab written into this disk slab since it was
                          // (re)used; slabs packed behind it carry the same, so stale pieces of
                          // an earlier use of the disk slab are never taken for current ones
  // Seal sequence: the order in which slabs were sealed (their records became final). Slabs are
  // evicted in this order, and a restart ignores slabs sealed before the superblock's frontier.
  uint64_t seal;
  uint8_t reserved[8];
};
static_assert(sizeof(SlabHeader) == 64, "SlabHeader is part of the on-device format");

// How journal entries are made durable (--journal-sync); recorded in the superblock.
//  - kDevice: each block is written to the device (O_DIRECT aio) before the replies it holds go
//    out: survives a power loss if the device keeps what it reported written.
//  - kProcess: entries are stored into a shared mapping of the ring, i.e. the page cache: they
//    survive the death of the process (SIGKILL), not of the kernel (power loss, panic).
enum class JournalSync : uint8_t { kDevice = 0, kProcess = 1 };

// The superblock: the first block of the device slice. It says which geometry the slabs were
// written with, so a restart with other flags refuses instead of misreading them, and how the
// last run ended, so that a process-mode journal that may have lost entries (the machine went down
// before the page cache was written back) is never trusted.
inline constexpr uint32_t kSuperMagic = 0x53534342;  // "SSCB"
struct Superblock {
  uint32_t magic;
  uint16_t version;
  uint16_t chunk_block;  // the device block size the chunk layout was made for (ChunkLayout)
  uint64_t device_size;  // bytes of the slice
  uint32_t slab_size;
  uint32_t classes;      // number of slab classes
  uint32_t classes_crc;  // CRC32C of the chunk size table
  uint32_t instance;     // -s I/N
  uint32_t instances;
  uint32_t journal_blocks;  // 4 KiB blocks of the journal ring after this block (--journal-size)
  uint64_t epoch;           // random, new at every format
  uint64_t flush_seq;       // flush_all: items of slabs with seq < flush_seq are gone
  uint64_t boot_id;         // hash of the kernel's boot id when the last run started (0: unknown)
  uint32_t journal_sync;    // JournalSync of the last run (kDevice also when it had no journal)
  uint32_t clean;           // 1: the last run shut down cleanly (slabs written, journal synced)
  // Eviction frontier: every slab whose seal is below it was evicted (its records are void even
  // where its disk slab still holds them). Written before a disk slab it freed is reused.
  uint64_t evicted_below;
  // No write sequence (cas) at or above it was handed out: a journal entry above it is corrupt,
  // and the next run starts its sequence here. Raised before the running sequence reaches it.
  uint64_t wseq_ceiling;
  uint32_t crc;  // CRC32C of this struct with crc = 0
  // 4 KiB blocks of the snapshot region after the journal (--snapshot-size; 0: none).
  uint32_t snapshot_blocks;
  // 4 KiB sets of the small-object tier after the snapshot region (--small-share; 0: none).
  uint64_t small_sets;
  // flush_all in the small-object tier: its records with a smaller wseq are gone.
  uint64_t small_flush_wseq;
};
static_assert(sizeof(Superblock) == 112, "Superblock is part of the on-device format");

inline constexpr uint32_t kItemHeaderSize = sizeof(ItemHeader);
inline constexpr uint32_t kSlabHeaderSize = sizeof(SlabHeader);

inline uint32_t ItemSize(size_t nkey, size_t nvalue) {
  return static_cast<uint32_t>(kItemHeaderSize + nkey + nvalue);
}

// A decoded view of a record; the views point into the chunk bytes.
struct ItemView {
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  uint32_t exptime = 0;
  uint64_t cas = 0;
  uint64_t wseq = 0;
  uint32_t stored_at = 0;
  // Filled by Engine lookups only: the last access before this one (the access table's time, else
  // stored_at), unix seconds.
  uint32_t last_access = 0;
  bool tombstone = false;
  bool stale = false;
  bool reinserted = false;  // kMarkReinserted
};

// Writes header, key and value into `chunk` (which must hold ItemSize bytes) and seals the CRC.
// The value may be given in two parts (append/prepend write old and new data without a copy).
void WriteItem(char* chunk, std::string_view key, std::string_view value_a,
               std::string_view value_b, uint32_t flags, uint32_t exptime, uint64_t cas,
               uint32_t slab_seq, uint64_t wseq, uint8_t kind = kKindItem, uint32_t stored_at = 0,
               uint8_t marks = 0);

// Decodes the record at `chunk` (at most `avail` bytes readable). Returns false unless the magic,
// the lengths (within avail), the slab sequence and the CRC all check out.
bool VerifyItem(const char* chunk, size_t avail, uint32_t slab_seq, ItemView& out);

// Decodes without the CRC check: for records in DRAM, which no device touched.
bool DecodeItemTrusted(const char* chunk, ItemView& out);

}  // namespace ssdcache::storage
