#include "value.h"

#include <algorithm>
#include <cstring>

#include "rng.h"
#include "util/hash.h"

namespace ssdcache::bench {

namespace {

template <typename T>
T Load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
void Store(char* p, T v) {
  std::memcpy(p, &v, sizeof(v));
}

}  // namespace

std::string_view VerifyResultName(VerifyResult result) {
  switch (result) {
    case VerifyResult::kOk:
      return "ok";
    case VerifyResult::kTooShort:
      return "shorter than the value header";
    case VerifyResult::kBadMagic:
      return "bad magic (not a value written by ssdcache-bench, or damaged)";
    case VerifyResult::kWrongKey:
      return "value of another key";
    case VerifyResult::kBadLength:
      return "length differs from the length written";
    case VerifyResult::kBadChecksum:
      return "checksum mismatch";
  }
  return "unknown";
}

Filler::Filler(size_t max_size, uint64_t seed)
    : bytes_(std::make_unique<char[]>(max_size + kSlack)), size_(max_size + kSlack) {
  Rng rng(seed);
  for (size_t i = 0; i < size_; i += 8) {
    const uint64_t word = rng.Next();
    std::memcpy(bytes_.get() + i, &word, std::min<size_t>(8, size_ - i));
  }
}

void EncodeValue(char* out, size_t len, uint64_t key_id, uint32_t version, const Filler& filler) {
  Store<uint32_t>(out, kValueMagic);
  Store<uint64_t>(out + 8, key_id);
  Store<uint32_t>(out + 16, version);
  Store<uint32_t>(out + 20, static_cast<uint32_t>(len));
  const size_t offset = (key_id * 131 + version) % Filler::kSlack;
  std::memcpy(out + kValueHeaderSize, filler.data() + offset, len - kValueHeaderSize);
  Store<uint32_t>(out + 4, util::Crc32c(out + kValueCrcStart, len - kValueCrcStart));
}

VerifyResult CheckValue(const unsigned char* head, size_t head_len, size_t len, uint32_t tail_crc,
                        uint64_t expected_key_id) {
  if (len < kValueHeaderSize || head_len < kValueHeaderSize) return VerifyResult::kTooShort;
  if (Load<uint32_t>(head) != kValueMagic) return VerifyResult::kBadMagic;
  // The checksum first: a damaged header must not be reported as another key's value.
  if (Load<uint32_t>(head + 4) != tail_crc) return VerifyResult::kBadChecksum;
  if (Load<uint64_t>(head + 8) != expected_key_id) return VerifyResult::kWrongKey;
  if (Load<uint32_t>(head + 20) != len) return VerifyResult::kBadLength;
  return VerifyResult::kOk;
}

VerifyResult VerifyValue(const char* value, size_t len, uint64_t expected_key_id) {
  if (len < kValueHeaderSize) return VerifyResult::kTooShort;
  const uint32_t crc = util::Crc32c(value + kValueCrcStart, len - kValueCrcStart);
  return CheckValue(reinterpret_cast<const unsigned char*>(value), kValueHeaderSize, len, crc,
                    expected_key_id);
}

uint32_t ValueVersion(const unsigned char* head) { return Load<uint32_t>(head + 16); }

}  // namespace ssdcache::bench
