// The small-object tier's unit on the device (issue 14: SmallTier, small_tier.h, reads and writes
// sets through it; the engine does not use the tier yet, see docs/design.md "Small-object
// tier"). A set is one 4 KiB block that a key's hash picks; it holds that set's small items with
// their full keys, and is written and read whole.
//
//   set (4096 B):  | SetHeader (40 B) | record 0 | record 1 | ... | zeros |
//   record:        | SetRecordHeader (32 B) | key (nkey) | value (nvalue) |
//
// Invariants:
//  - crc is the CRC32C of the header (crc = 0) and of the `used` bytes of records behind it; a
//    torn or corrupt set, one of another set index, or one written before the device was
//    formatted again (another epoch) never passes ReadSetPage().
//  - A block that was never written (all zeros) reads as a blank set: empty, not corrupt.
//  - Records never cross the end of the set; count and used agree with the records.
//  - Host-endian (x86-64 little-endian), as the slab tier's formats (item.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ssdcache::storage {

inline constexpr uint32_t kSetBytes = 4096;
inline constexpr uint32_t kSetMagic = 0x54455353;  // "SSET"
inline constexpr uint16_t kSetVersion = 1;

struct SetHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t count;  // records
  uint32_t used;   // bytes of records after the header
  uint32_t crc;
  uint64_t set;    // this set's index in the tier
  uint64_t epoch;  // the device epoch (superblock) it was written under
  uint64_t wseq;   // the write sequence of this set write (the newest of its records or later)
};
static_assert(sizeof(SetHeader) == 40, "SetHeader is part of the on-device format");

struct SetRecordHeader {
  uint8_t nkey;
  uint8_t marks;  // kMarkStale, kMarkFetched, kMarkTokenSent (item.h)
  uint16_t nvalue;
  uint32_t flags;
  uint32_t exptime;    // absolute unix seconds; 0 = never
  uint32_t stored_at;  // unix seconds of the write (mg's l fallback)
  uint64_t cas;
  uint64_t wseq;  // the version: the largest wins between the log and the set
};
static_assert(sizeof(SetRecordHeader) == 32, "SetRecordHeader is part of the on-device format");

// One record, as written or as read (the views point into the page).
struct SetRecord {
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  uint32_t exptime = 0;
  uint32_t stored_at = 0;
  uint64_t cas = 0;
  uint64_t wseq = 0;
  uint8_t marks = 0;
};

// Bytes a record of this key and value takes in a set.
constexpr uint32_t SetRecordBytes(size_t nkey, size_t nvalue) {
  return static_cast<uint32_t>(sizeof(SetRecordHeader) + nkey + nvalue);
}
// The largest key + value a set can hold (one record alone).
inline constexpr uint32_t kSetMaxPayload = kSetBytes - sizeof(SetHeader) - sizeof(SetRecordHeader);
// Item sizes counted in 8-byte steps of key + value (step s: s * 8 - 7 .. s * 8 bytes), for the
// per-class item counts: a slab class boundary never falls inside a step, since chunk sizes and
// the item header are multiples of 8 (slab_class.h).
inline constexpr size_t SizeStep(size_t payload) { return (payload + 7) / 8; }
inline constexpr size_t kSizeSteps = SizeStep(kSetMaxPayload) + 1;

// Fills a set image: records are added in order, then Seal() writes the header and CRC.
class SetPageWriter {
 public:
  // `page` holds kSetBytes; it is zeroed here.
  SetPageWriter(char* page, uint64_t set, uint64_t epoch);

  // Appends `r`; false (nothing written) when it does not fit in what is left, or its key is
  // empty or longer than 255 bytes, or its value longer than 65535.
  bool Add(const SetRecord& r);
  uint32_t free_bytes() const { return kSetBytes - sizeof(SetHeader) - used_; }
  uint16_t count() const { return count_; }
  // Writes the header (with `wseq`, this write's sequence) and the CRC.
  void Seal(uint64_t wseq);

 private:
  char* page_;
  uint64_t set_;
  uint64_t epoch_;
  uint32_t used_ = 0;
  uint16_t count_ = 0;
};

enum class SetCheck : uint8_t {
  kOk,       // verified: `out` holds its records
  kBlank,    // never written (all zeros): empty
  kCorrupt,  // bad magic, version, bounds or CRC, another set index or epoch: treat as empty
};

// Verifies the set image `page` (kSetBytes) as set `set` of `epoch` and appends its records to
// `out` (views into `page`). `out` is untouched unless kOk. `set_wseq` (optional) receives the
// header's wseq (kOk only).
SetCheck ReadSetPage(const char* page, uint64_t set, uint64_t epoch, std::vector<SetRecord>& out,
                     uint64_t* set_wseq = nullptr);

}  // namespace ssdcache::storage
