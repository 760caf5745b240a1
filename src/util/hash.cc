#include "util/hash.h"

#include <isa-l/crc.h>
#include <xxhash.h>

namespace ssdcache::util {

uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

uint32_t Crc32c(const void* data, size_t len, uint32_t crc) {
  // ISA-L takes an int length; items are bounded by the slab size, far below 2 GiB.
  return crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)), static_cast<int>(len),
                     crc);
}

}  // namespace ssdcache::util
