// The access table behind the meta protocol's l: it remembers the newest access per slot and
// answers 0 (unknown) for a key whose slot another key took.
#include <gtest/gtest.h>

#include <cstdint>

#include "storage/access_table.h"

namespace ssdcache::storage {
namespace {

// Hashes that land in one slot (bits 16..29) with different tags (the top 32 bits).
uint64_t SameSlot(uint32_t tag, uint64_t slot_bits = 0x1234) {
  return uint64_t{tag} << 32 | slot_bits << 16 | 0xBEEF;
}

TEST(AccessTable, RemembersTheNewestAccessPerSlot) {
  AccessTable table;
  const uint64_t a = SameSlot(1), b = SameSlot(2), other = SameSlot(1, 0x99);
  EXPECT_EQ(table.Get(a), 0u);
  table.Touch(a, 100);
  EXPECT_EQ(table.Get(a), 100u);
  table.Touch(a, 105);
  EXPECT_EQ(table.Get(a), 105u);
  EXPECT_EQ(table.Get(b), 0u);  // same slot, other tag: not in the table
  table.Touch(other, 107);      // another slot leaves a alone
  EXPECT_EQ(table.Get(a), 105u);
  table.Touch(b, 110);  // b takes the slot: a is forgotten
  EXPECT_EQ(table.Get(b), 110u);
  EXPECT_EQ(table.Get(a), 0u);
  EXPECT_EQ(table.Get(other), 107u);
}

TEST(AccessTable, ExchangeReturnsThePreviousAccessAndRecordsTheNewOne) {
  AccessTable table;
  const uint64_t a = SameSlot(1), b = SameSlot(2);
  EXPECT_EQ(table.Exchange(a, 100), 0u);  // not held before
  EXPECT_EQ(table.Exchange(a, 104), 100u);
  EXPECT_EQ(table.Get(a), 104u);
  EXPECT_EQ(table.Exchange(b, 110), 0u);  // the slot held a, not b
  EXPECT_EQ(table.Get(a), 0u);
  EXPECT_EQ(table.Get(b), 110u);
}

}  // namespace
}  // namespace ssdcache::storage
