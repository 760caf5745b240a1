#include "sim_value.h"

#include <cstring>

#include "util/hash.h"

namespace ssdcache::sim {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

template <typename T>
void Put(std::string& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof(v));
}
template <typename T>
T Get(std::string_view in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof(v));
  return v;
}

uint32_t Checksum(std::string_view value) {
  // The CRC field (bytes 24..27) counts as zero.
  const uint32_t zero = 0;
  uint32_t crc = util::Crc32c(value.data(), 24);
  crc = util::Crc32c(&zero, sizeof(zero), crc);
  return util::Crc32c(value.data() + kValueHeaderSize, value.size() - kValueHeaderSize, crc);
}

}  // namespace

void EncodeValue(const ValueId& id, size_t size, std::string& out) {
  if (size < kValueHeaderSize) size = kValueHeaderSize;
  out.resize(size);
  Put<uint32_t>(out, 0, kValueMagic);
  Put<uint32_t>(out, 4, id.key);
  Put<uint64_t>(out, 8, id.version);
  Put<uint32_t>(out, 16, id.exptime);
  Put<uint32_t>(out, 20, static_cast<uint32_t>(size));
  Put<uint32_t>(out, 24, 0);
  uint64_t state = Mix((uint64_t{id.key} << 40) ^ id.version);
  for (size_t at = kValueHeaderSize; at < size; at += 8) {
    state = Mix(state);
    std::memcpy(out.data() + at, &state, std::min<size_t>(8, size - at));
  }
  Put<uint32_t>(out, 24, Checksum(out));
}

bool DecodeValue(std::string_view value, ValueId& id, std::string& why) {
  if (value.size() < kValueHeaderSize) {
    why = "value of " + std::to_string(value.size()) + " bytes is shorter than its header";
    return false;
  }
  if (Get<uint32_t>(value, 0) != kValueMagic) {
    why = "value has no magic";
    return false;
  }
  if (Get<uint32_t>(value, 20) != value.size()) {
    why = "value says " + std::to_string(Get<uint32_t>(value, 20)) + " bytes, has " +
          std::to_string(value.size());
    return false;
  }
  if (Get<uint32_t>(value, 24) != Checksum(value)) {
    why = "value checksum mismatch";
    return false;
  }
  id.key = Get<uint32_t>(value, 4);
  id.version = Get<uint64_t>(value, 8);
  id.exptime = Get<uint32_t>(value, 16);
  return true;
}

uint32_t FlagsFor(const ValueId& id) {
  return static_cast<uint32_t>(Mix(id.version ^ (uint64_t{id.key} << 32)));
}

}  // namespace ssdcache::sim
