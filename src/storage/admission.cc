#include "storage/admission.h"

#include <bit>

namespace ssdcache::storage {

size_t Ghost::BytesFor(size_t budget) {
  const size_t buckets = budget / sizeof(Bucket);
  return buckets == 0 ? 0 : std::bit_floor(buckets) * sizeof(Bucket);
}

Ghost::Ghost(size_t bytes) {
  const size_t n = BytesFor(bytes) / sizeof(Bucket);
  if (n == 0) return;
  buckets_.resize(n);
  mask_ = n - 1;
}

void Ghost::Remember(uint64_t hash) {
  if (buckets_.empty()) return;
  Bucket& b = BucketOf(hash);
  const uint32_t fp = Fingerprint(hash);
  for (uint32_t& slot : b.fp) {
    if (slot == fp) return;
    if (slot == 0) {
      slot = fp;
      return;
    }
  }
  b.fp[next_++ % b.fp.size()] = fp;
}

bool Ghost::Recall(uint64_t hash) {
  if (buckets_.empty()) return false;
  Bucket& b = BucketOf(hash);
  const uint32_t fp = Fingerprint(hash);
  for (uint32_t& slot : b.fp) {
    if (slot == fp) {
      slot = 0;
      return true;
    }
  }
  return false;
}

std::optional<uint32_t> Admission::TakeOldest() {
  if (queue_.empty()) return std::nullopt;
  const uint32_t id = queue_.front();
  queue_.pop_front();
  return id;
}

std::deque<uint32_t> Admission::TakeQueue() {
  std::deque<uint32_t> all;
  all.swap(queue_);
  return all;
}

}  // namespace ssdcache::storage
