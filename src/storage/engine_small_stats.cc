// Engine, the small-object tier's counts (engine_small.cc is its glue): read errors, evictions
// and curr_items over both tiers, and the tier's items per slab class for `stats items` / `stats
// slabs` / `stats sizes`. The tier keeps no per-item DRAM, so it counts its items by size in 8-byte
// steps (set_page.h SizeStep), which map onto slab classes exactly: chunk sizes and the item header
// are multiples of 8, so every size of a step takes the same class.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "storage/engine.h"

namespace ssdcache::storage {

static_assert(kItemHeaderSize % 8 == 0, "a size step of key + value maps onto one slab class");

uint64_t Engine::read_errors() const {
  if (small_ == nullptr) return stats_.read_errors;
  return stats_.read_errors + small_->stats().read_errors - small_at_reset_.read_errors;
}

uint64_t Engine::evictions() const {
  if (small_ == nullptr) return stats_.evictions;
  return stats_.evictions + small_->stats().evictions - small_at_reset_.evictions;
}

uint64_t Engine::curr_items() const {
  if (small_ == nullptr) return gauges_.curr_items;
  // The log's items but tombstones and settled copies of a set's record (meta marks).
  const std::vector<uint64_t>& log = small_->log_items_by_size();
  uint64_t in_log = 0;
  for (const uint64_t n : log) in_log += n;
  return gauges_.curr_items + small_->stats().items + in_log;
}

void Engine::SmallClassItems(std::vector<uint64_t>& in_sets, std::vector<uint64_t>& in_log) const {
  in_sets.assign(classes_.count(), 0);
  in_log.assign(classes_.count(), 0);
  if (small_ == nullptr) return;
  const std::vector<uint64_t>& sets = small_->set_items_by_size();
  const std::vector<uint64_t>& log = small_->log_items_by_size();
  for (size_t step = 1; step < kSizeSteps; ++step) {
    if (sets[step] == 0 && log[step] == 0) continue;
    const int cls = classes_.ClassFor(ItemSize(0, step * 8));
    if (cls < 0) continue;  // larger than every class: --small-max is far below
    in_sets[static_cast<size_t>(cls)] += sets[step];
    in_log[static_cast<size_t>(cls)] += log[step];
  }
}

}  // namespace ssdcache::storage
