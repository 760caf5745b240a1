// Item record format: round trips, and every kind of damage is refused by VerifyItem.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/item.h"

namespace ssdcache::storage {
namespace {

std::vector<char> Make(std::string_view key, std::string_view a, std::string_view b,
                       uint32_t seq = 77) {
  std::vector<char> chunk(ItemSize(key.size(), a.size() + b.size()) + 16, '\0');
  WriteItem(chunk.data(), key, a, b, 0xDEADBEEF, 123456, 99, seq, 1234);
  return chunk;
}

TEST(ItemFormat, HeaderSizesAreFixed) {
  EXPECT_EQ(sizeof(ItemHeader), 48u);
  EXPECT_EQ(sizeof(SlabHeader), 64u);
  EXPECT_EQ(ItemSize(3, 5), 56u);
}

TEST(ItemFormat, RoundTripWithTwoValueParts) {
  auto chunk = Make("key", "hello ", "world");
  ItemView v;
  ASSERT_TRUE(VerifyItem(chunk.data(), chunk.size(), 77, v));
  EXPECT_EQ(v.key, "key");
  EXPECT_EQ(v.value, "hello world");
  EXPECT_EQ(v.flags, 0xDEADBEEFu);
  EXPECT_EQ(v.exptime, 123456u);
  EXPECT_EQ(v.cas, 99u);
  ItemView t;
  ASSERT_TRUE(DecodeItemTrusted(chunk.data(), t));
  EXPECT_EQ(t.value, "hello world");
}

TEST(ItemFormat, StoreTimeAndStaleMarkRoundTrip) {
  std::vector<char> chunk(ItemSize(3, 1), '\0');
  WriteItem(chunk.data(), "key", "v", {}, 0, 0, 5, 77, 6, kKindItem, 1'700'000'000, kMarkStale);
  ItemView v;
  ASSERT_TRUE(VerifyItem(chunk.data(), chunk.size(), 77, v));
  EXPECT_EQ(v.stored_at, 1'700'000'000u);
  EXPECT_EQ(v.last_access, 1'700'000'000u);
  EXPECT_TRUE(v.stale);
  EXPECT_FALSE(v.tombstone);
  auto plain = Make("key", "v", "");
  ASSERT_TRUE(VerifyItem(plain.data(), plain.size(), 77, v));
  EXPECT_FALSE(v.stale);
  EXPECT_EQ(v.stored_at, 0u);
}

TEST(ItemFormat, EmptyValue) {
  auto chunk = Make("k", "", "");
  ItemView v;
  ASSERT_TRUE(VerifyItem(chunk.data(), chunk.size(), 77, v));
  EXPECT_EQ(v.value, "");
}

TEST(ItemFormat, WrongSlabSequenceIsRefused) {
  auto chunk = Make("key", "value", "");
  ItemView v;
  EXPECT_FALSE(VerifyItem(chunk.data(), chunk.size(), 78, v));
}

TEST(ItemFormat, EveryFlippedByteIsDetected) {
  auto good = Make("some-key", "some value bytes", "");
  size_t len = ItemSize(8, 16);
  for (size_t i = 0; i < len; ++i) {
    auto bad = good;
    bad[i] ^= 0x01;
    ItemView v;
    EXPECT_FALSE(VerifyItem(bad.data(), bad.size(), 77, v)) << "byte " << i;
  }
}

TEST(ItemFormat, TruncatedRecordIsRefused) {
  auto chunk = Make("key", std::string(100, 'x'), "");
  ItemView v;
  EXPECT_FALSE(VerifyItem(chunk.data(), ItemSize(3, 100) - 1, 77, v));
  EXPECT_FALSE(VerifyItem(chunk.data(), 10, 77, v));
  EXPECT_TRUE(VerifyItem(chunk.data(), ItemSize(3, 100), 77, v));
}

TEST(ItemFormat, ZeroedChunkIsRefused) {
  std::vector<char> zero(256, '\0');
  ItemView v;
  EXPECT_FALSE(VerifyItem(zero.data(), zero.size(), 0, v));
  EXPECT_FALSE(DecodeItemTrusted(zero.data(), v));
}

}  // namespace
}  // namespace ssdcache::storage
