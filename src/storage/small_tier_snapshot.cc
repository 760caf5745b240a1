// SmallTier's snapshot: the DRAM state a clean restart would otherwise rebuild by reading every
// set (the filters, the hit bits, the item count and its split by size, the largest wseq), saved
// as one checksummed image that the engine keeps inside its own snapshot (snapshot.h).
//
//   image:  | TierImageHeader (80 B) | filter words (u64 x ceil(sets x filter_bits / 64)) |
//           | hit bit words (u64 x ceil(sets x hit_bits / 64)) |
//           | items by size step (u64 x kSizeSteps, set_page.h) |
//
// The CRC32C covers the whole image with its crc field 0. The header records the geometry the
// image was made under and a print of the filters' probe function (the bits a few fixed hashes
// set), so that a build whose SetFilters probes other bits never loads filters it would read
// wrong (a false negative there would let an erase skip its tombstone).
#include <algorithm>
#include <cstring>

#include "storage/small_tier.h"
#include "util/hash.h"

namespace ssdcache::storage {

namespace {

constexpr uint32_t kTierImageMagic = 0x4E535453;  // "STSN"
// Bump when the image's layout or meaning changes: an older image is then refused (Rebuild).
// 2: the items by size step.
constexpr uint32_t kTierImageVersion = 2;
constexpr size_t kSizeStepBytes = kSizeSteps * sizeof(uint64_t);

struct TierImageHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t crc;  // CRC32C of the whole image with crc = 0
  uint32_t filter_bits;
  uint32_t filter_hashes;
  uint32_t hit_bits;
  uint32_t probe_print;  // ProbePrint(): which bits the filters' probes set
  uint32_t reserved;
  uint64_t bytes;  // the whole image
  uint64_t base;
  uint64_t sets;
  uint64_t epoch;
  uint64_t items;
  uint64_t max_wseq;
};
static_assert(sizeof(TierImageHeader) == 80, "TierImageHeader is part of the snapshot format");

// The CRC of the filter bits a few fixed key hashes set, one filter each: changes when
// SetFilters' probe function (or its parameters) does.
uint32_t ProbePrint(uint32_t bits, uint32_t hashes) {
  static constexpr uint64_t kProbes[] = {0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL, 1, 0};
  uint32_t crc = 0;
  for (const uint64_t h : kProbes) {
    SetFilters f(1, bits, hashes);
    f.Add(0, h);
    crc = util::Crc32c(f.words().data(), f.words().size_bytes(), crc);
  }
  return crc;
}

uint32_t ImageCrc(std::span<const char> image) {
  TierImageHeader h;
  std::memcpy(&h, image.data(), sizeof(h));
  h.crc = 0;
  uint32_t crc = util::Crc32c(&h, sizeof(h));
  // Crc32c takes at most 2 GiB at once; a tier of 1 TiB has a 6 GiB image.
  constexpr size_t kChunk = size_t{1} << 30;
  for (size_t at = sizeof(h); at < image.size(); at += kChunk) {
    crc = util::Crc32c(image.data() + at, std::min(kChunk, image.size() - at), crc);
  }
  return crc;
}

}  // namespace

// Part of the device layout: the engine's image region is sized by this at the default options,
// and the region places disk slab 0, so a change moves every formatted device's slabs (bump
// kFormatVersion with it; storage_small_tier_snapshot_test.cc pins the size in literals).
size_t SmallTier::SnapshotBytesFor(const SmallTierOptions& o) {
  // As the constructor sizes them: whole 64-bit words of sets x bits.
  const uint64_t filter_words = (o.sets * o.filter_bits + 63) / 64;
  const uint64_t hit_words = (o.sets * o.hit_bits + 63) / 64;
  return sizeof(TierImageHeader) + (filter_words + hit_words) * sizeof(uint64_t) + kSizeStepBytes;
}

size_t SmallTier::ArraysBytes() const {
  return sizeof(TierImageHeader) + filters_.words().size_bytes() + hits_.size() * sizeof(uint64_t) +
         set_by_step_.size() * sizeof(uint64_t);
}

bool SmallTier::SaveSnapshot(std::span<char> out) const {
  // The sets must hold everything: no log record, no void set (content unknown), no IO.
  if (!idle() || log_.live_records() != 0 || !void_list_.empty()) return false;
  const size_t bytes = SnapshotBytes();
  if (out.size() < bytes || bytes != ArraysBytes()) return false;
  TierImageHeader h{};
  h.magic = kTierImageMagic;
  h.version = kTierImageVersion;
  h.filter_bits = options_.filter_bits;
  h.filter_hashes = options_.filter_hashes;
  h.hit_bits = options_.hit_bits;
  h.probe_print = ProbePrint(options_.filter_bits, options_.filter_hashes);
  h.bytes = bytes;
  h.base = options_.base;
  h.sets = options_.sets;
  h.epoch = options_.epoch;
  h.items = items_;
  h.max_wseq = newest_wseq_;  // the log's and, after a Rebuild() or load, the sets'
  char* at = out.data();
  std::memcpy(at, &h, sizeof(h));
  at += sizeof(h);
  std::memcpy(at, filters_.words().data(), filters_.words().size_bytes());
  at += filters_.words().size_bytes();
  std::memcpy(at, hits_.data(), hits_.size() * sizeof(uint64_t));
  at += hits_.size() * sizeof(uint64_t);
  std::memcpy(at, set_by_step_.data(), set_by_step_.size() * sizeof(uint64_t));
  h.crc = ImageCrc(out.first(bytes));
  std::memcpy(out.data(), &h, sizeof(h));
  return true;
}

SmallTierRebuild SmallTier::LoadSnapshot(std::span<const char> image) {
  SmallTierRebuild out;
  out.ok = false;
  TierImageHeader h{};
  const size_t bytes = SnapshotBytes();
  if (image.size() >= sizeof(h)) std::memcpy(&h, image.data(), sizeof(h));
  if (!idle() || log_.live_records() != 0 || newest_wseq_ != 0 || !void_list_.empty()) {
    out.error = "small tier snapshot: the tier is not new";
  } else if (image.size() < sizeof(h) || h.magic != kTierImageMagic) {
    out.error = "small tier snapshot: no image";
  } else if (h.version != kTierImageVersion) {
    out.error = "small tier snapshot: format version " + std::to_string(h.version) +
                ", this build reads " + std::to_string(kTierImageVersion);
  } else if (h.bytes != bytes || image.size() < bytes || bytes != ArraysBytes()) {
    out.error = "small tier snapshot: " + std::to_string(h.bytes) + " bytes, expected " +
                std::to_string(bytes) + " (" + std::to_string(image.size()) + " given)";
  } else if (ImageCrc(image.first(bytes)) != h.crc) {
    out.error = "small tier snapshot: CRC mismatch";
  } else if (h.base != options_.base || h.sets != options_.sets || h.epoch != options_.epoch) {
    out.error = "small tier snapshot: made for " + std::to_string(h.sets) + " sets at " +
                std::to_string(h.base) + " under epoch " + std::to_string(h.epoch);
  } else if (h.filter_bits != options_.filter_bits || h.filter_hashes != options_.filter_hashes ||
             h.hit_bits != options_.hit_bits) {
    out.error = "small tier snapshot: made with " + std::to_string(h.filter_bits) +
                " filter bits, " + std::to_string(h.filter_hashes) + " hashes, " +
                std::to_string(h.hit_bits) + " hit bits";
  } else if (h.probe_print != ProbePrint(options_.filter_bits, options_.filter_hashes)) {
    out.error = "small tier snapshot: made with another filter probe function";
  } else {
    out.ok = true;
  }
  if (!out.ok) return out;
  const char* at = image.data() + sizeof(h);
  std::memcpy(filters_.words().data(), at, filters_.words().size_bytes());
  at += filters_.words().size_bytes();
  std::memcpy(hits_.data(), at, hits_.size() * sizeof(uint64_t));
  at += hits_.size() * sizeof(uint64_t);
  std::memcpy(set_by_step_.data(), at, set_by_step_.size() * sizeof(uint64_t));
  std::fill(void_.begin(), void_.end(), 0);
  items_ = h.items;
  // As after Rebuild(): what the tier compares new wseqs with (flush_all clears every filter
  // when its floor is above them all) knows the sets' records.
  newest_wseq_ = std::max(newest_wseq_, h.max_wseq);
  out.items = h.items;
  out.max_wseq = h.max_wseq;
  return out;
}

}  // namespace ssdcache::storage
