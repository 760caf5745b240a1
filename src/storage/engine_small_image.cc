// Engine, part nine: the small-object tier's image (small_tier_snapshot.cc), so that a clean
// restart loads the tier's filters instead of reading every set. It has a region of its own,
// behind the tier's sets:
//
//   slice:  | superblock | journal | snapshot region | small sets | small image | disk slabs
//   image region:  | SmallImageHeader (4 KiB block) | the tier's image (SaveSnapshot) |
//
// Invariants:
//  - Loaded only when the superblock says the last run stopped cleanly and the header names this
//    start's epoch and write-sequence ceiling (its id, as the snapshot's, snapshot.h): every run
//    raises the ceiling before it serves, so the image of an earlier stop never matches after a
//    run that wrote sets and crashed. The tier verifies the image itself (CRC, geometry).
//  - Written at a clean stop only once the tier settled (SaveSnapshot refuses otherwise: a log
//    record, a move or a void set), image first, then its header, then a flush, all before the
//    superblock marks the stop clean: a crash in between leaves clean = 0.
//  - A settled tier's sets hold no record a journal entry supersedes (the stop's forced flush
//    wrote every tombstone), so loading needs no supersede test; flush_all's floor is applied
//    after the load, as after Rebuild.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <string>

#include "storage/engine.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage {

namespace {

constexpr uint32_t kSmallImageMagic = 0x474D4953;  // "SIMG"
constexpr uint32_t kSmallImageVersion = 1;

struct SmallImageHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t crc;  // CRC32C of this header with crc = 0
  uint32_t reserved;
  uint64_t epoch;
  uint64_t id;     // the write-sequence ceiling the stop recorded (SnapHeader's id)
  uint64_t bytes;  // of the image after the header block
};
static_assert(sizeof(SmallImageHeader) == 40, "SmallImageHeader is part of the on-device format");

uint32_t HeaderCrc(SmallImageHeader h) {
  h.crc = 0;
  return util::Crc32c(&h, sizeof(h));
}

uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

}  // namespace

SmallTierOptions Engine::SmallOptions(const EngineOptions& options, uint64_t base, uint64_t epoch) {
  SmallTierOptions o;
  o.base = base;
  o.sets = options.small_sets;
  o.epoch = epoch;
  return o;
}

uint64_t Engine::SmallImageBytes(const EngineOptions& options) {
  if (options.small_sets == 0) return 0;
  return kSetBytes + RoundUp(SmallTier::SnapshotBytesFor(SmallOptions(options, 0, 0)), kSetBytes);
}

void Engine::SaveSmallImage() {
  if (small_ == nullptr) return;
  const auto start = std::chrono::steady_clock::now();
  const uint64_t bytes = small_->SnapshotBytes();
  util::AlignedBuffer buf(kSetBytes + RoundUp(bytes, kSetBytes), kSetBytes);
  std::memset(buf.data(), 0, buf.size());
  if (buf.size() > SmallImageBytes(options_) ||
      !small_->SaveSnapshot(std::span<char>(buf.data() + kSetBytes, bytes))) {
    spdlog::warn(
        "clean stop: no small-object tier image (it is not settled): the next start "
        "reads every set");
    return;
  }
  SmallImageHeader h{.magic = kSmallImageMagic,
                     .version = kSmallImageVersion,
                     .crc = 0,
                     .reserved = 0,
                     .epoch = durable_.epoch(),
                     .id = durable_.wseq_ceiling(),
                     .bytes = bytes};
  h.crc = HeaderCrc(h);
  std::memcpy(buf.data(), &h, sizeof(h));
  const uint64_t at = SmallImageOffset();
  // The image first, its header last: a torn write leaves a header that names no image.
  const size_t body = buf.size() - kSetBytes;
  const bool ok =
      aio_.WriteSync(buf.data() + kSetBytes, body, at + kSetBytes) == static_cast<int64_t>(body) &&
      aio_.Flush() == 0 &&
      aio_.WriteSync(buf.data(), kSetBytes, at) == static_cast<int64_t>(kSetBytes) &&
      aio_.Flush() == 0;
  if (!ok) {
    spdlog::warn(
        "clean stop: writing the small-object tier's image failed: the next start reads "
        "every set");
    return;
  }
  spdlog::info("clean stop: small-object tier image of {} sets ({} KiB) written in {:.3f} s",
               options_.small_sets, bytes >> 10,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

bool Engine::LoadSmallImage(SmallTierRebuild& out, std::string& why) {
  if (!durable_.last_run_clean()) {
    why = "the last run did not stop cleanly";
    return false;
  }
  const uint64_t at = SmallImageOffset();
  util::AlignedBuffer head(kSetBytes, kSetBytes);
  if (aio_.ReadSync(head.data(), kSetBytes, at) != static_cast<int64_t>(kSetBytes)) {
    why = "its header could not be read";
    return false;
  }
  SmallImageHeader h;
  std::memcpy(&h, head.data(), sizeof(h));
  if (h.magic != kSmallImageMagic || h.version != kSmallImageVersion || HeaderCrc(h) != h.crc) {
    why = "no valid image header";
    return false;
  }
  // The ceiling this start found (nothing took a write sequence yet) is the stop's id.
  if (h.epoch != durable_.epoch() || h.id != durable_.next_wseq()) {
    why = "the image is stale (another run's)";
    return false;
  }
  if (h.bytes != small_->SnapshotBytes() ||
      kSetBytes + RoundUp(h.bytes, kSetBytes) > SmallImageBytes(options_)) {
    why = "the image was made for another geometry";
    return false;
  }
  const size_t len = RoundUp(h.bytes, kSetBytes);
  util::AlignedBuffer image(len, kSetBytes);
  if (aio_.ReadSync(image.data(), len, at + kSetBytes) != static_cast<int64_t>(len)) {
    why = "the image could not be read";
    return false;
  }
  out = small_->LoadSnapshot(std::span<const char>(image.data(), h.bytes));
  if (!out.ok) {
    why = out.error;
    return false;
  }
  return true;
}

}  // namespace ssdcache::storage
