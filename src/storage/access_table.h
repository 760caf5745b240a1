// A bounded record of recent accesses, key hash -> last access time, for the meta protocol's `l`
// (seconds since the last access) and `me`'s la. A time in every index entry would cost 4 bytes
// per item, and the index is budgeted at <= 12 bytes per item; instead this fixed table remembers,
// per slot, the most recent access of the keys that map to it (direct-mapped by hash, the newest
// access wins the slot). A key whose slot another key took since is "not in the table": callers
// fall back to the item's store time (ItemHeader::stored_at), which is never later than the last
// access, so `l` is then an upper bound (the seconds since the last write).
//
//   slot (8 B):  | tag = hash >> 32 (u32) | time (unix seconds, u32; 0 = empty) |
//
// Memory: kEntries slots (128 KiB) mapped once at construction and backed by the kernel only as
// slots are first written. Two keys with the same slot and the same 32-bit tag (about 2^-32 per
// lookup) share a time; nothing else depends on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ssdcache::storage {

class AccessTable {
 public:
  static constexpr size_t kEntries = size_t{1} << 14;

  AccessTable();
  ~AccessTable();
  AccessTable(const AccessTable&) = delete;
  AccessTable& operator=(const AccessTable&) = delete;

  // Records an access of `hash` at `now` (evicting whatever the slot held).
  void Touch(uint64_t hash, uint32_t now) {
    slots_[SlotOf(hash)] = uint64_t{Tag(hash)} << 32 | now;
  }
  // Records an access of `hash` at `now` and returns the one before (0 when the table did not
  // hold it): a hit needs both, and this computes the slot once.
  uint32_t Exchange(uint64_t hash, uint32_t now) {
    uint64_t& slot = slots_[SlotOf(hash)];
    const uint64_t before = slot;
    slot = uint64_t{Tag(hash)} << 32 | now;
    return static_cast<uint32_t>(before >> 32) == Tag(hash) ? static_cast<uint32_t>(before) : 0;
  }
  // Every slot, for a snapshot; Load() puts them back (a table of another size is ignored).
  std::span<const uint64_t> slots() const { return {slots_, kEntries}; }
  void Load(std::span<const uint64_t> slots);
  // The last access recorded for `hash`, or 0 when the table does not hold it.
  uint32_t Get(uint64_t hash) const {
    const uint64_t slot = slots_[SlotOf(hash)];
    return static_cast<uint32_t>(slot >> 32) == Tag(hash) ? static_cast<uint32_t>(slot) : 0;
  }

 private:
  // The index takes a key's bucket from the low hash bits and its tag from the top 16; the slot
  // here comes from bits 16.. and the tag from the top 32, so keys that share an index bucket do
  // not crowd one slot.
  static size_t SlotOf(uint64_t hash) { return (hash >> 16) & (kEntries - 1); }
  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

  uint64_t* slots_ = nullptr;
};

}  // namespace ssdcache::storage
