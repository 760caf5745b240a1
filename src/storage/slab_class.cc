#include "storage/slab_class.h"

#include <algorithm>

namespace ssdcache::storage {

namespace {

constexpr uint64_t RoundUp8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// The largest chunk a slab can hold; a max_chunk below 8 leaves no usable chunk at all.
bool LargestChunk(uint32_t max_chunk, uint32_t& last, std::string& error) {
  last = max_chunk & ~uint32_t{7};
  if (last == 0) {
    error = "-I/--slab-size leaves no room for a chunk (largest chunk " +
            std::to_string(max_chunk) + " bytes)";
    return false;
  }
  return true;
}

}  // namespace

std::optional<SlabClasses> SlabClasses::Geometric(uint32_t min_item, double factor,
                                                  uint32_t max_chunk, std::string& error) {
  // Written so that NaN is rejected too.
  if (!(factor > 1.0)) {
    error = "-f/--factor must be > 1.0 (got " + std::to_string(factor) + ")";
    return std::nullopt;
  }
  uint32_t last = 0;
  if (!LargestChunk(max_chunk, last, error)) return std::nullopt;
  if (min_item == 0) {
    error = "-n/--min-item-size must be > 0";
    return std::nullopt;
  }
  if (RoundUp8(min_item) > last) {
    error = "-n/--min-item-size " + std::to_string(min_item) + " exceeds the largest chunk size " +
            std::to_string(last);
    return std::nullopt;
  }
  SlabClasses classes;
  uint64_t size = RoundUp8(min_item);
  while (size < last) {
    if (classes.sizes_.size() + 1 >= kMaxClasses) {  // +1: the largest chunk still to come
      error = "-f/--factor " + std::to_string(factor) + " with -n/--min-item-size " +
              std::to_string(min_item) + " gives more than " + std::to_string(kMaxClasses) +
              " slab classes";
      return std::nullopt;
    }
    classes.sizes_.push_back(static_cast<uint32_t>(size));
    // Truncating the product (as memcached does) keeps 80 * 1.1 = 88.00000000000001 at 88; a
    // huge factor is compared as a double first so the integer conversion cannot overflow.
    const double grown = static_cast<double>(size) * factor;
    if (grown >= last) break;
    size = std::max(RoundUp8(static_cast<uint64_t>(grown)), size + 8);
  }
  classes.sizes_.push_back(last);
  return classes;
}

std::optional<SlabClasses> SlabClasses::FromProfile(const std::vector<uint32_t>& sizes,
                                                    uint32_t max_chunk, std::string& error) {
  uint32_t last = 0;
  if (!LargestChunk(max_chunk, last, error)) return std::nullopt;
  if (sizes.empty()) {
    error = "-z/--slab-profile must list at least one size";
    return std::nullopt;
  }
  SlabClasses classes;
  for (uint32_t s : sizes) {
    const uint64_t rounded = RoundUp8(s);
    if (rounded == 0) {
      error = "-z/--slab-profile sizes must be > 0";
      return std::nullopt;
    }
    if (rounded > last) {
      error = "-z/--slab-profile size " + std::to_string(s) + " exceeds the largest chunk size " +
              std::to_string(last);
      return std::nullopt;
    }
    if (!classes.sizes_.empty() && rounded <= classes.sizes_.back()) {
      error = "-z/--slab-profile sizes must be strictly increasing (after rounding up to 8): " +
              std::to_string(s) + " follows " + std::to_string(classes.sizes_.back());
      return std::nullopt;
    }
    classes.sizes_.push_back(static_cast<uint32_t>(rounded));
  }
  if (classes.sizes_.back() != last) classes.sizes_.push_back(last);
  if (classes.sizes_.size() > kMaxClasses) {
    error = "-z/--slab-profile gives " + std::to_string(classes.sizes_.size()) +
            " slab classes (with the largest chunk); at most " + std::to_string(kMaxClasses);
    return std::nullopt;
  }
  return classes;
}

SlabClasses SlabClasses::FitToBlocks(uint32_t block) const {
  SlabClasses fitted;
  for (uint32_t size : sizes_) {
    if (size <= block)
      size = block / (block / size) & ~uint32_t{7};  // still >= size (a multiple of 8)
    if (fitted.sizes_.empty() || size > fitted.sizes_.back()) fitted.sizes_.push_back(size);
  }
  return fitted;
}

ChunkLayout::ChunkLayout(uint32_t chunk_size, uint32_t slab_size, uint32_t block)
    : chunk_size_(chunk_size), slab_size_(slab_size), block_(block) {
  if (chunk_size > block || block <= kSlabHeaderSize || slab_size % block != 0) {
    count_ = (slab_size - kSlabHeaderSize) / chunk_size;
    return;
  }
  per_block_ = block / chunk_size;
  first_ = (block - kSlabHeaderSize) / chunk_size;
  count_ = first_ + (slab_size / block - 1) * per_block_;
}

int SlabClasses::ClassFor(uint32_t item_size) const {
  const auto it = std::lower_bound(sizes_.begin(), sizes_.end(), item_size);
  if (it == sizes_.end()) return -1;
  return static_cast<int>(it - sizes_.begin());
}

}  // namespace ssdcache::storage
