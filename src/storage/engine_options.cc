#include "storage/engine_options.h"

#include "storage/index.h"

namespace ssdcache::storage {

namespace {

constexpr uint64_t RoundUp8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

static_assert(kMinItemSize >= kItemHeaderSize + 2);
// The index addresses a chunk with kChunkBits bits, so no slab may hold more chunks than that; the
// -I and -n bounds alone guarantee it, which is why no run-time check is needed.
static_assert(kMaxSlabSize / RoundUp8(kMinItemSize) < (1ULL << Index::kChunkBits));

}  // namespace

std::string CheckEngineOptions(const EngineOptions& o) {
  using util::FormatSize;
  using util::kMiB;
  const std::string slab = FormatSize(o.slab_size);
  if (o.max_memory < kMinSlabsInMemory * o.slab_size) {
    return "--max-memory: " + std::to_string(o.max_memory / kMiB) + " MiB holds fewer than " +
           std::to_string(kMinSlabsInMemory) + " slabs of " + slab + " (-I); use at least " +
           std::to_string((kMinSlabsInMemory * o.slab_size + kMiB - 1) / kMiB) + " MiB";
  }
  if (o.min_item_size > o.slab_size / 2) {
    return "--min-item-size: " + std::to_string(o.min_item_size) +
           " is more than half the slab size " + slab + " (-I)";
  }
  const uint32_t largest = SlabClasses::MaxChunk(o.slab_size);
  if (!o.slab_profile.empty()) {
    if (o.slab_profile.front() < o.min_item_size) {
      return "--slab-profile: first size " + std::to_string(o.slab_profile.front()) +
             " is below the minimum item size " + std::to_string(o.min_item_size) + " (-n)";
    }
    if (RoundUp8(o.slab_profile.back()) > largest) {
      return "--slab-profile: size " + std::to_string(o.slab_profile.back()) +
             " does not fit in a slab of " + slab + " (-I), whose largest chunk is " +
             std::to_string(largest) + " bytes";
    }
    return "";
  }
  std::string error;
  if (!SlabClasses::Geometric(o.min_item_size, o.factor, largest, error)) {
    return "--factor: " + util::Factor{kMaxFactor}.Show(o.factor) + " gives more than " +
           std::to_string(SlabClasses::kMaxClasses) + " slab classes from " +
           std::to_string(o.min_item_size) + " bytes (-n) to " + slab +
           " (-I); use a larger factor or -n";
  }
  return "";
}

}  // namespace ssdcache::storage
