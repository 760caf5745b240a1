// The small-object tier's set codec and filters alone (set_page.h, set_filter.h): a set round-
// trips its records, refuses what does not fit, reads as blank when never written and as corrupt
// when torn, flipped, of another set or of another epoch; the filters never miss a key they hold
// and their false positives stay near the theory at about 5 bits per key.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "storage/set_filter.h"
#include "storage/set_page.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

SetRecord Rec(const std::string& key, const std::string& value, uint64_t wseq) {
  SetRecord r;
  r.key = key;
  r.value = value;
  r.flags = 7;
  r.exptime = 1234;
  r.stored_at = 1000;
  r.cas = wseq + 100;
  r.wseq = wseq;
  r.marks = 1;
  return r;
}

class SetPageTest : public ::testing::Test {
 protected:
  // Keys k0.. with 100-byte values until the set is full; returns how many fit.
  int Fill(SetPageWriter& w) {
    int n = 0;
    while (true) {
      keys_.push_back("k" + std::to_string(n));
      values_.push_back(std::string(100, static_cast<char>('a' + n % 26)));
      if (!w.Add(Rec(keys_.back(), values_.back(), n + 1))) break;
      ++n;
    }
    return n;
  }
  util::AlignedBuffer page_{kSetBytes, 4096};
  std::vector<std::string> keys_, values_;
};

TEST_F(SetPageTest, RoundTripsEveryRecordAndRefusesWhatDoesNotFit) {
  SetPageWriter w(page_.data(), 17, 99);
  const int n = Fill(w);
  // Records of 32 + key + value bytes after a 40-byte header: k0..k9 take 134, the rest 135.
  EXPECT_EQ(n, 10 + static_cast<int>((kSetBytes - 40 - 10 * 134) / 135));
  EXPECT_EQ(w.free_bytes(), kSetBytes - 40 - 10 * 134 - (n - 10) * 135u);
  w.Seal(500);
  std::vector<SetRecord> out;
  ASSERT_EQ(ReadSetPage(page_.data(), 17, 99, out), SetCheck::kOk);
  ASSERT_EQ(out.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(out[i].key, keys_[i]);
    EXPECT_EQ(out[i].value, values_[i]);
    EXPECT_EQ(out[i].flags, 7u);
    EXPECT_EQ(out[i].exptime, 1234u);
    EXPECT_EQ(out[i].stored_at, 1000u);
    EXPECT_EQ(out[i].wseq, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(out[i].cas, static_cast<uint64_t>(i + 101));
    EXPECT_EQ(out[i].marks, 1);
  }
}

TEST_F(SetPageTest, RefusesKeysAndValuesOutOfBounds) {
  SetPageWriter w(page_.data(), 0, 1);
  EXPECT_FALSE(w.Add(Rec("", "v", 1)));
  EXPECT_FALSE(w.Add(Rec(std::string(256, 'k'), "v", 1)));
  EXPECT_FALSE(w.Add(Rec("k", std::string(kSetMaxPayload, 'v'), 1)));
  EXPECT_TRUE(w.Add(Rec("k", std::string(kSetMaxPayload - 1, 'v'), 1)));
  EXPECT_EQ(w.free_bytes(), 0u);
}

TEST_F(SetPageTest, ANeverWrittenSetIsBlank) {
  std::memset(page_.data(), 0, kSetBytes);
  std::vector<SetRecord> out;
  EXPECT_EQ(ReadSetPage(page_.data(), 3, 1, out), SetCheck::kBlank);
  EXPECT_TRUE(out.empty());
}

TEST_F(SetPageTest, AnEmptySealedSetReadsAsEmpty) {
  SetPageWriter w(page_.data(), 3, 1);
  w.Seal(1);
  std::vector<SetRecord> out;
  EXPECT_EQ(ReadSetPage(page_.data(), 3, 1, out), SetCheck::kOk);
  EXPECT_TRUE(out.empty());
}

TEST_F(SetPageTest, EveryFlippedByteOfHeaderOrRecordsIsCaught) {
  SetPageWriter w(page_.data(), 5, 7);
  ASSERT_TRUE(w.Add(Rec("alpha", "one", 1)));
  ASSERT_TRUE(w.Add(Rec("beta", "two", 2)));
  w.Seal(3);
  const uint32_t used = 40 + SetRecordBytes(5, 3) + SetRecordBytes(4, 3);
  for (uint32_t i = 0; i < used; ++i) {
    page_.data()[i] ^= 0x10;
    std::vector<SetRecord> out;
    EXPECT_EQ(ReadSetPage(page_.data(), 5, 7, out), SetCheck::kCorrupt) << "byte " << i;
    EXPECT_TRUE(out.empty());
    page_.data()[i] ^= 0x10;
  }
  std::vector<SetRecord> out;
  EXPECT_EQ(ReadSetPage(page_.data(), 5, 7, out), SetCheck::kOk);
}

TEST_F(SetPageTest, AnotherSetOrEpochIsNotThisSet) {
  SetPageWriter w(page_.data(), 5, 7);
  ASSERT_TRUE(w.Add(Rec("alpha", "one", 1)));
  w.Seal(3);
  std::vector<SetRecord> out;
  EXPECT_EQ(ReadSetPage(page_.data(), 6, 7, out), SetCheck::kCorrupt) << "another set index";
  EXPECT_EQ(ReadSetPage(page_.data(), 5, 8, out), SetCheck::kCorrupt) << "formatted since";
  EXPECT_TRUE(out.empty());
}

TEST(SetFilters, NeverMissAKeyTheSetHolds) {
  SetFilters f(64, 160, 3);
  std::vector<uint64_t> hashes;
  for (int i = 0; i < 30; ++i) hashes.push_back(util::HashKey("key" + std::to_string(i)));
  f.Rebuild(9, hashes);
  for (const uint64_t h : hashes) EXPECT_TRUE(f.MayContain(9, h));
  // Other sets are untouched; a rebuild without a key drops it.
  for (const uint64_t h : hashes) EXPECT_FALSE(f.MayContain(8, h) && f.MayContain(10, h));
  f.Rebuild(9, std::span<const uint64_t>(hashes).subspan(15));
  for (size_t i = 15; i < hashes.size(); ++i) EXPECT_TRUE(f.MayContain(9, hashes[i]));
  EXPECT_EQ(f.bytes(), 64u * 160 / 8);
}

TEST(SetFilters, FalsePositivesNearTheTheoryAtFiveBitsPerKey) {
  // 1024 sets of 32 keys, 160 bits (5 per key), 3 probes: theory 0.092.
  constexpr uint64_t kSets = 1024;
  SetFilters f(kSets, 160, 3);
  for (uint64_t s = 0; s < kSets; ++s) {
    std::vector<uint64_t> hashes;
    for (int i = 0; i < 32; ++i) {
      hashes.push_back(util::HashKey("in:" + std::to_string(s) + ":" + std::to_string(i)));
    }
    f.Rebuild(s, hashes);
  }
  uint64_t positives = 0, probes = 0;
  for (uint64_t s = 0; s < kSets; ++s) {
    for (int i = 0; i < 64; ++i, ++probes) {
      positives +=
          f.MayContain(s, util::HashKey("out:" + std::to_string(s) + ":" + std::to_string(i))) ? 1
                                                                                               : 0;
    }
  }
  const double theory = SetFilters::ExpectedFalsePositives(160, 32, 3);
  EXPECT_NEAR(theory, 0.092, 0.005);
  EXPECT_LT(static_cast<double>(positives) / probes, theory * 1.25);
  EXPECT_GT(static_cast<double>(positives) / probes, theory * 0.75);
  // The key count estimated from the bits set is close on average (what a lost set takes away).
  uint64_t estimated = 0;
  for (uint64_t s = 0; s < kSets; ++s) estimated += f.EstimateKeys(s);
  EXPECT_NEAR(static_cast<double>(estimated) / kSets, 32.0, 1.0);
  f.Clear(3);
  EXPECT_EQ(f.EstimateKeys(3), 0u);
}

}  // namespace
}  // namespace ssdcache::storage
