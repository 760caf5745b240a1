// Unit tests of the Reinsertion part (reinsertion.h): the budget, the verdicts, and the
// bookkeeping of the one victim read.
#include <gtest/gtest.h>

#include "storage/reinsertion.h"

namespace ssdcache::storage {
namespace {

TEST(ReinsertionTest, OffWhenTheShareIsZero) {
  Reinsertion r(0, 1 << 20);
  EXPECT_FALSE(r.enabled());
  EXPECT_FALSE(r.Want(SlabRef{1, 5, 1}));
}

TEST(ReinsertionTest, OnlyItemsReadSincePlacedAreCopied) {
  Reinsertion r(100, 1 << 20);
  r.Earn(10000);
  EXPECT_EQ(r.Judge(false, 100), Reinsertion::Verdict::kCold);
  EXPECT_EQ(r.Judge(true, 100), Reinsertion::Verdict::kCopy);
}

TEST(ReinsertionTest, CopiesSpendAtMostTheShareOfStoredBytes) {
  Reinsertion r(20, 1 << 20);
  r.Earn(1000);  // 200 bytes of credit
  EXPECT_EQ(r.credit_bytes(), 200u);
  EXPECT_EQ(r.Judge(true, 150), Reinsertion::Verdict::kCopy);
  EXPECT_EQ(r.Judge(true, 100), Reinsertion::Verdict::kBudget);  // 50 left
  EXPECT_EQ(r.Judge(true, 50), Reinsertion::Verdict::kCopy);
  EXPECT_EQ(r.credit_bytes(), 0u);
  // Fractions are kept: 3% of 10 bytes, 34 times, is 10 bytes.
  Reinsertion f(3, 1 << 20);
  for (int i = 0; i < 34; ++i) f.Earn(10);
  EXPECT_EQ(f.credit_bytes(), 10u);
}

TEST(ReinsertionTest, TheCreditIsCapped) {
  Reinsertion r(100, 4096);
  r.Earn(1 << 20);
  EXPECT_EQ(r.credit_bytes(), 4096u);
  EXPECT_EQ(r.Judge(true, 4096), Reinsertion::Verdict::kCopy);
  EXPECT_EQ(r.Judge(true, 1), Reinsertion::Verdict::kBudget);
}

TEST(ReinsertionTest, OneReadAtATimeAndEachSlabOnce) {
  Reinsertion r(10, 1 << 20);
  const SlabRef a{3, 40, 7};
  const SlabRef b{4, 41, 8};
  ASSERT_TRUE(r.Want(a));
  r.Reading(a);
  EXPECT_TRUE(r.reading());
  EXPECT_FALSE(r.Want(b));  // one in flight
  EXPECT_TRUE(r.Landed(a.seq));
  EXPECT_FALSE(r.Want(a));  // read already
  EXPECT_TRUE(r.Want(b));
}

TEST(ReinsertionTest, AVictimEvictedBeforeItsReadLandedIsLate) {
  Reinsertion r(10, 1 << 20);
  const SlabRef a{3, 40, 7};
  EXPECT_FALSE(r.Late(a.seq));  // no read: not late, just not read
  r.Reading(a);
  EXPECT_FALSE(r.Late(39));  // another slab
  EXPECT_TRUE(r.Late(a.seq));
  EXPECT_FALSE(r.Landed(a.seq));  // nothing may be copied from it
  EXPECT_FALSE(r.reading());
}

TEST(ReinsertionTest, StoppedAtShutdown) {
  Reinsertion r(10, 1 << 20);
  r.Stop();
  EXPECT_FALSE(r.enabled());
  EXPECT_FALSE(r.Want(SlabRef{1, 5, 1}));
}

}  // namespace
}  // namespace ssdcache::storage
