#include "storage/item.h"

#include "util/hash.h"

namespace ssdcache::storage {

namespace {
constexpr size_t kCrcOffset = sizeof(uint32_t);
}

void WriteItem(char* chunk, std::string_view key, std::string_view value_a,
               std::string_view value_b, uint32_t flags, uint32_t exptime, uint64_t cas,
               uint32_t slab_seq, uint64_t wseq, uint8_t kind, uint32_t stored_at, uint8_t marks) {
  ItemHeader h{};
  h.magic = kItemMagic;
  h.kind = kind;
  h.nkey = static_cast<uint8_t>(key.size());
  h.slab_seq = slab_seq;
  h.exptime = exptime;
  h.flags = flags;
  h.nvalue = static_cast<uint32_t>(value_a.size() + value_b.size());
  h.cas = cas;
  h.wseq = wseq;
  h.stored_at = stored_at;
  h.marks = marks;
  char* p = chunk + kItemHeaderSize;
  std::memcpy(p, key.data(), key.size());
  p += key.size();
  if (!value_a.empty()) std::memcpy(p, value_a.data(), value_a.size());
  p += value_a.size();
  if (!value_b.empty()) std::memcpy(p, value_b.data(), value_b.size());
  std::memcpy(chunk, &h, sizeof(h));
  h.crc = util::Crc32c(chunk + kCrcOffset, kItemHeaderSize - kCrcOffset + key.size() + h.nvalue);
  std::memcpy(chunk, &h.crc, sizeof(h.crc));
}

bool DecodeItemTrusted(const char* chunk, ItemView& out) {
  ItemHeader h;
  std::memcpy(&h, chunk, sizeof(h));
  if (h.magic != kItemMagic || (h.kind != kKindItem && h.kind != kKindTombstone)) return false;
  const char* p = chunk + kItemHeaderSize;
  out.key = std::string_view(p, h.nkey);
  out.value = std::string_view(p + h.nkey, h.nvalue);
  out.flags = h.flags;
  out.exptime = h.exptime;
  out.cas = h.cas;
  out.wseq = h.wseq;
  out.stored_at = h.stored_at;
  out.last_access = h.stored_at;
  out.tombstone = h.kind == kKindTombstone;
  out.stale = (h.marks & kMarkStale) != 0;
  out.reinserted = (h.marks & kMarkReinserted) != 0;
  return true;
}

bool VerifyItem(const char* chunk, size_t avail, uint32_t slab_seq, ItemView& out) {
  if (avail < kItemHeaderSize) return false;
  ItemHeader h;
  std::memcpy(&h, chunk, sizeof(h));
  if (h.magic != kItemMagic || h.slab_seq != slab_seq) return false;
  uint64_t total = uint64_t{kItemHeaderSize} + h.nkey + h.nvalue;
  if (total > avail) return false;
  uint32_t crc = util::Crc32c(chunk + kCrcOffset, total - kCrcOffset);
  if (crc != h.crc) return false;
  return DecodeItemTrusted(chunk, out);
}

}  // namespace ssdcache::storage
