#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "key_dist.h"

namespace ssdcache::bench {
namespace {

// Zipf probability of rank 1: 1 / sum_{k=1..n} k^-alpha, summed exactly over the first million
// ranks and by the midpoint integral beyond (relative error far below the test's tolerance).
double ExactP1(uint64_t n, double alpha) {
  const uint64_t exact = std::min<uint64_t>(n, 1'000'000);
  double sum = 0;
  for (uint64_t k = exact; k >= 1; --k) sum += std::pow(static_cast<double>(k), -alpha);
  if (n > exact) {
    const auto integral = [alpha](double x) {
      return alpha == 1.0 ? std::log(x) : std::pow(x, 1.0 - alpha) / (1.0 - alpha);
    };
    sum += integral(static_cast<double>(n) + 0.5) - integral(static_cast<double>(exact) + 0.5);
  }
  return 1.0 / sum;
}

struct ZipfCase {
  uint64_t n;
  double alpha;
  int samples;
};

// Without these, test names would print the struct's raw bytes, padding included.
void PrintTo(const ZipfCase& c, std::ostream* os) {
  *os << "n=" << c.n << " alpha=" << c.alpha << " samples=" << c.samples;
}

std::string ZipfCaseName(const ::testing::TestParamInfo<ZipfCase>& info) {
  std::string alpha = std::to_string(info.param.alpha);
  std::replace(alpha.begin(), alpha.end(), '.', '_');
  return "n" + std::to_string(info.param.n) + "_alpha" + alpha;
}

class BenchZipf : public ::testing::TestWithParam<ZipfCase> {};

TEST_P(BenchZipf, RankOneOverRankTwoIsTwoToTheAlpha) {
  const auto [n, alpha, samples] = GetParam();
  ZipfSampler zipf(n, alpha);
  Rng rng(42);
  std::vector<uint64_t> counts(11, 0);
  for (int i = 0; i < samples; ++i) {
    const uint64_t k = zipf.Sample(rng);
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, n);
    if (k <= 10) ++counts[k];
  }
  // Tolerances are five standard deviations of the sampling noise (at least 2%), so the test is
  // deterministic for its seed yet would catch a skew of a few percent.
  const double p1 = ExactP1(n, alpha);
  const double e1 = samples * p1;
  const auto tolerance = [e1, alpha](double rank) {
    return std::max(0.02, 5 * std::sqrt(1 / e1 + std::pow(rank, alpha) / e1));
  };
  ASSERT_GT(counts[3], 1000u);
  const double ratio = static_cast<double>(counts[1]) / static_cast<double>(counts[2]);
  EXPECT_NEAR(ratio / std::pow(2.0, alpha), 1.0, tolerance(2)) << "ratio " << ratio;
  const double ratio13 = static_cast<double>(counts[1]) / static_cast<double>(counts[3]);
  EXPECT_NEAR(ratio13 / std::pow(3.0, alpha), 1.0, tolerance(3)) << "ratio " << ratio13;
  // The absolute frequency of rank 1 matches the normalised distribution.
  EXPECT_NEAR(counts[1] / e1, 1.0, std::max(0.02, 5 / std::sqrt(e1)));
  // Frequencies fall with rank.
  for (int k = 1; k < 10; ++k) EXPECT_GT(counts[k], counts[k + 1]) << k;
}

INSTANTIATE_TEST_SUITE_P(Exponents, BenchZipf,
                         ::testing::Values(ZipfCase{1'000'000, 1.0, 2'000'000},
                                           ZipfCase{1'000'000, 0.99, 2'000'000},
                                           ZipfCase{10'000, 0.5, 10'000'000},
                                           ZipfCase{10'000, 1.5, 1'000'000},
                                           ZipfCase{50'000'000, 1.2, 1'000'000}),
                         ZipfCaseName);

TEST(BenchZipfEdges, TinyKeySpaces) {
  Rng rng(1);
  ZipfSampler one(1, 1.0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(one.Sample(rng), 1u);
  ZipfSampler two(2, 1.0);
  uint64_t ones = 0;
  for (int i = 0; i < 300000; ++i) {
    const uint64_t k = two.Sample(rng);
    ASSERT_TRUE(k == 1 || k == 2);
    ones += k == 1;
  }
  EXPECT_NEAR(static_cast<double>(ones) / 300000, 2.0 / 3.0, 0.005);
}

TEST(BenchZipfEdges, HugeKeySpaceStaysInRange) {
  Rng rng(5);
  const uint64_t n = 1'000'000'000'000ULL;
  ZipfSampler zipf(n, 0.8);
  uint64_t beyond_million = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t k = zipf.Sample(rng);
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, n);
    beyond_million += k > 1'000'000;
  }
  EXPECT_GT(beyond_million, 0u);  // the tail is reachable
}

TEST(BenchKeyChooser, IdsWithinRange) {
  Rng rng(9);
  for (const KeyDistSpec& spec : {KeyDistSpec{}, KeyDistSpec{KeyDistSpec::Kind::kZipf, 0.9}}) {
    KeyChooser chooser(1000, spec);
    std::vector<uint64_t> counts(1000, 0);
    for (int i = 0; i < 200000; ++i) {
      const uint64_t id = chooser.Next(rng);
      ASSERT_LT(id, 1000u);
      ++counts[id];
    }
    for (uint64_t c : counts) EXPECT_GT(c, 0u);
  }
}

TEST(BenchKeyChooser, UniformIsFlat) {
  Rng rng(11);
  KeyChooser chooser(10, KeyDistSpec{});
  std::vector<uint64_t> counts(10, 0);
  for (int i = 0; i < 1'000'000; ++i) ++counts[chooser.Next(rng)];
  for (uint64_t c : counts) EXPECT_NEAR(static_cast<double>(c), 100000.0, 1500.0);
}

TEST(BenchKeyDistParse, Accepts) {
  KeyDistSpec spec;
  std::string error;
  ASSERT_TRUE(ParseKeyDist("uniform", &spec, &error));
  EXPECT_EQ(spec.kind, KeyDistSpec::Kind::kUniform);
  ASSERT_TRUE(ParseKeyDist("zipf:0.99", &spec, &error));
  EXPECT_EQ(spec.kind, KeyDistSpec::Kind::kZipf);
  EXPECT_DOUBLE_EQ(spec.alpha, 0.99);
  EXPECT_EQ(spec.ToString(), "zipf:0.99");
}

TEST(BenchKeyDistParse, Rejects) {
  for (const char* bad : {"", "zipf", "zipf:", "zipf:0", "zipf:-1", "zipf:abc", "zipf:1x",
                          "zipf:11", "zipf:nan", "zipf:inf", "normal", "Uniform"}) {
    KeyDistSpec spec;
    std::string error;
    EXPECT_FALSE(ParseKeyDist(bad, &spec, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace ssdcache::bench
