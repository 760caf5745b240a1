// Key hashing and checksums: thin wrappers over Debian's libxxhash (XXH3, 64-bit) and ISA-L's
// hardware CRC32C, so the rest of the tree never includes those C headers directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ssdcache::util {

// 64-bit hash of a key; the index derives bucket and tag from it, so it must be well mixed.
uint64_t HashKey(std::string_view key);

// CRC32C (Castagnoli) of `len` bytes, continuing from `crc` (0 to start).
uint32_t Crc32c(const void* data, size_t len, uint32_t crc = 0);

}  // namespace ssdcache::util
