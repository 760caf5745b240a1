#include "storage/set_page.h"

#include <cstddef>
#include <cstring>

#include "util/hash.h"

namespace ssdcache::storage {

SetPageWriter::SetPageWriter(char* page, uint64_t set, uint64_t epoch)
    : page_(page), set_(set), epoch_(epoch) {
  std::memset(page_, 0, kSetBytes);
}

bool SetPageWriter::Add(const SetRecord& r) {
  if (r.key.empty() || r.key.size() > 255 || r.value.size() > 65535) return false;
  const uint32_t bytes = SetRecordBytes(r.key.size(), r.value.size());
  if (bytes > free_bytes()) return false;
  char* at = page_ + sizeof(SetHeader) + used_;
  SetRecordHeader h{};
  h.nkey = static_cast<uint8_t>(r.key.size());
  h.marks = r.marks;
  h.nvalue = static_cast<uint16_t>(r.value.size());
  h.flags = r.flags;
  h.exptime = r.exptime;
  h.stored_at = r.stored_at;
  h.cas = r.cas;
  h.wseq = r.wseq;
  std::memcpy(at, &h, sizeof(h));
  std::memcpy(at + sizeof(h), r.key.data(), r.key.size());
  std::memcpy(at + sizeof(h) + r.key.size(), r.value.data(), r.value.size());
  used_ += bytes;
  ++count_;
  return true;
}

void SetPageWriter::Seal(uint64_t wseq) {
  SetHeader h{};
  h.magic = kSetMagic;
  h.version = kSetVersion;
  h.count = count_;
  h.used = used_;
  h.set = set_;
  h.epoch = epoch_;
  h.wseq = wseq;
  std::memcpy(page_, &h, sizeof(h));
  // The CRC covers the header with crc = 0, then the records.
  uint32_t crc = util::Crc32c(page_, sizeof(SetHeader));
  crc = util::Crc32c(page_ + sizeof(SetHeader), used_, crc);
  std::memcpy(page_ + offsetof(SetHeader, crc), &crc, sizeof(crc));
}

namespace {

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

SetCheck ReadSetPage(const char* page, uint64_t set, uint64_t epoch, std::vector<SetRecord>& out,
                     uint64_t* set_wseq) {
  SetHeader h;
  std::memcpy(&h, page, sizeof(h));
  if (h.magic == 0 && AllZero(page, kSetBytes)) return SetCheck::kBlank;
  if (h.magic != kSetMagic || h.version != kSetVersion || h.set != set || h.epoch != epoch ||
      h.used > kSetBytes - sizeof(SetHeader)) {
    return SetCheck::kCorrupt;
  }
  SetHeader zeroed = h;
  zeroed.crc = 0;
  uint32_t crc = util::Crc32c(&zeroed, sizeof(zeroed));
  crc = util::Crc32c(page + sizeof(SetHeader), h.used, crc);
  if (crc != h.crc) return SetCheck::kCorrupt;
  const size_t first = out.size();
  const char* at = page + sizeof(SetHeader);
  const char* end = at + h.used;
  for (uint16_t i = 0; i < h.count; ++i) {
    SetRecordHeader r;
    if (end - at < static_cast<std::ptrdiff_t>(sizeof(r))) break;
    std::memcpy(&r, at, sizeof(r));
    const uint32_t bytes = SetRecordBytes(r.nkey, r.nvalue);
    if (r.nkey == 0 || end - at < static_cast<std::ptrdiff_t>(bytes)) break;
    SetRecord rec;
    rec.key = std::string_view(at + sizeof(r), r.nkey);
    rec.value = std::string_view(at + sizeof(r) + r.nkey, r.nvalue);
    rec.flags = r.flags;
    rec.exptime = r.exptime;
    rec.stored_at = r.stored_at;
    rec.cas = r.cas;
    rec.wseq = r.wseq;
    rec.marks = r.marks;
    out.push_back(rec);
    at += bytes;
  }
  // A CRC that matches over records that do not add up is a writer's defect: refuse it whole.
  if (out.size() - first != h.count || at != end) {
    out.resize(first);
    return SetCheck::kCorrupt;
  }
  if (set_wseq != nullptr) *set_wseq = h.wseq;
  return SetCheck::kOk;
}

}  // namespace ssdcache::storage
