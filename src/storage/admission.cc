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
  const uint32_t now = ++drops_;
  // Its own slot if still there, else an empty one, else the oldest.
  size_t pick = 0;
  for (size_t i = 0; i < b.fp.size(); ++i) {
    if (b.fp[i] == fp) {
      pick = i;
      break;
    }
    if (b.fp[pick] != 0 && (b.fp[i] == 0 || now - b.at[i] > now - b.at[pick])) pick = i;
  }
  b.fp[pick] = fp;
  b.at[pick] = now;
}

bool Ghost::Recall(uint64_t hash, uint64_t window) {
  if (buckets_.empty()) return false;
  Bucket& b = BucketOf(hash);
  const uint32_t fp = Fingerprint(hash);
  for (size_t i = 0; i < b.fp.size(); ++i) {
    if (b.fp[i] != fp) continue;
    b.fp[i] = 0;
    return drops_ - b.at[i] < window;
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
