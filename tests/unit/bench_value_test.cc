#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "util/hash.h"
#include "value.h"

namespace ssdcache::bench {
namespace {

std::vector<char> Encode(size_t len, uint64_t key_id, uint32_t version, const Filler& filler) {
  std::vector<char> value(len);
  EncodeValue(value.data(), len, key_id, version, filler);
  return value;
}

TEST(BenchValue, RoundTrip) {
  Filler filler(4096, 1);
  for (size_t len : {kValueHeaderSize, kValueHeaderSize + 1, size_t{100}, size_t{4096}}) {
    const auto value = Encode(len, 12345, 7, filler);
    EXPECT_EQ(VerifyValue(value.data(), len, 12345), VerifyResult::kOk) << len;
    EXPECT_EQ(ValueVersion(reinterpret_cast<const unsigned char*>(value.data())), 7u);
  }
}

TEST(BenchValue, EveryCorruptedByteFails) {
  Filler filler(300, 2);
  const size_t len = 300;
  const auto good = Encode(len, 99, 3, filler);
  for (size_t i = 0; i < len; ++i) {
    for (unsigned char flip : {0x01, 0x80, 0xff}) {
      auto bad = good;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      EXPECT_NE(VerifyValue(bad.data(), len, 99), VerifyResult::kOk)
          << "byte " << i << " flip " << int{flip};
    }
  }
}

TEST(BenchValue, AnotherKeysValueIsWrongKey) {
  Filler filler(100, 3);
  const auto value = Encode(100, 5, 1, filler);
  EXPECT_EQ(VerifyValue(value.data(), 100, 6), VerifyResult::kWrongKey);
}

TEST(BenchValue, TruncatedOrExtendedValueFails) {
  Filler filler(200, 4);
  auto value = Encode(200, 5, 1, filler);
  EXPECT_NE(VerifyValue(value.data(), 199, 5), VerifyResult::kOk);
  value.push_back('x');
  EXPECT_NE(VerifyValue(value.data(), 201, 5), VerifyResult::kOk);
  EXPECT_EQ(VerifyValue(value.data(), 10, 5), VerifyResult::kTooShort);
}

TEST(BenchValue, ForeignValueIsBadMagic) {
  std::vector<char> value(100, 'a');
  EXPECT_EQ(VerifyValue(value.data(), value.size(), 0), VerifyResult::kBadMagic);
}

TEST(BenchValue, HeaderWithRecomputedChecksumButLengthChangedIsBadLength) {
  // A value cut short whose checksum was recomputed (as a buggy server that stored a prefix
  // and re-checksummed could not, but a test can) still fails on the length.
  Filler filler(200, 5);
  auto value = Encode(200, 8, 2, filler);
  const size_t cut = 150;
  const uint32_t crc = util::Crc32c(value.data() + kValueCrcStart, cut - kValueCrcStart);
  std::memcpy(value.data() + 4, &crc, sizeof(crc));
  EXPECT_EQ(VerifyValue(value.data(), cut, 8), VerifyResult::kBadLength);
}

TEST(BenchValue, ValuesDifferAcrossKeysAndVersions) {
  Filler filler(64, 6);
  const auto a = Encode(64, 1, 1, filler);
  const auto b = Encode(64, 2, 1, filler);
  const auto c = Encode(64, 1, 2, filler);
  EXPECT_NE(std::memcmp(a.data() + kValueHeaderSize, b.data() + kValueHeaderSize, 40), 0);
  EXPECT_NE(std::memcmp(a.data() + kValueHeaderSize, c.data() + kValueHeaderSize, 40), 0);
}

TEST(BenchValue, StreamingChecksumMatchesCheckValue) {
  // The reply parser checksums in pieces; CRC32C must chain across them.
  Filler filler(1000, 7);
  const auto value = Encode(1000, 77, 9, filler);
  uint32_t crc = 0;
  for (size_t pos = kValueCrcStart; pos < value.size(); pos += 37) {
    crc = util::Crc32c(value.data() + pos, std::min<size_t>(37, value.size() - pos), crc);
  }
  EXPECT_EQ(CheckValue(reinterpret_cast<const unsigned char*>(value.data()), kValueHeaderSize,
                       value.size(), crc, 77),
            VerifyResult::kOk);
}

}  // namespace
}  // namespace ssdcache::bench
