#include "storage/eviction_policy.h"

#include <algorithm>

namespace ssdcache::storage {

std::unique_ptr<EvictionPolicy> EvictionPolicy::Create(EvictionOrder order) {
  if (order == EvictionOrder::kDiskCloseForTests) return std::make_unique<DiskCloseOrderPolicy>();
  return std::make_unique<SealOrderPolicy>();
}

std::optional<SlabRef> SealOrderPolicy::Candidate() const {
  if (fifo_.empty()) return std::nullopt;
  return fifo_.front();
}

uint64_t SealOrderPolicy::Evicted() {
  const uint64_t frontier = fifo_.front().seal + 1;
  fifo_.pop_front();
  return frontier;
}

void DiskCloseOrderPolicy::Track(const SlabRef& slab) {
  sealed_[slab.id] = slab;
  seals_.insert(slab.seal);
  max_seal_ = std::max(max_seal_, slab.seal);
}

void DiskCloseOrderPolicy::DiskClosed(std::span<const uint32_t> ids) {
  for (uint32_t id : ids) {
    auto it = sealed_.find(id);
    if (it == sealed_.end()) continue;
    closed_.push_back(it->second);
    sealed_.erase(it);
  }
}

std::optional<SlabRef> DiskCloseOrderPolicy::Candidate() const {
  if (closed_.empty()) return std::nullopt;
  return closed_.front();
}

void DiskCloseOrderPolicy::Forget(const SlabRef& slab) {
  seals_.erase(slab.seal);
  // Every slab sealed below the lowest seal still tracked is gone.
  frontier_ = std::max(frontier_, seals_.empty() ? max_seal_ + 1 : *seals_.begin());
}

uint64_t DiskCloseOrderPolicy::Evicted() {
  Forget(closed_.front());
  closed_.pop_front();
  return frontier_;
}

uint64_t DiskCloseOrderPolicy::Skip() { return Evicted(); }

void DiskCloseOrderPolicy::Reset(uint64_t frontier) {
  sealed_.clear();
  closed_.clear();
  seals_.clear();
  frontier_ = frontier;
  max_seal_ = 0;
}

}  // namespace ssdcache::storage
