#include <gtest/gtest.h>

#include <string>

#include "sizes.h"

namespace ssdcache::bench {
namespace {

TEST(BenchSizes, Fixed) {
  SizeSpec spec;
  std::string error;
  ASSERT_TRUE(ParseSizes("d100", &spec, &error)) << error;
  EXPECT_EQ(spec.kind, SizeSpec::Kind::kFixed);
  EXPECT_EQ(spec.min, 100u);
  EXPECT_EQ(spec.max, 100u);
  Rng rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(spec.Sample(rng), 100u);
  EXPECT_EQ(spec.ToString(), "d100");
}

TEST(BenchSizes, Uniform) {
  SizeSpec spec;
  std::string error;
  ASSERT_TRUE(ParseSizes("u100,4000", &spec, &error)) << error;
  EXPECT_EQ(spec.kind, SizeSpec::Kind::kUniform);
  EXPECT_EQ(spec.min, 100u);
  EXPECT_EQ(spec.max, 4000u);
  EXPECT_EQ(spec.ToString(), "u100,4000");
  Rng rng(1);
  uint32_t lo = UINT32_MAX, hi = 0;
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const uint32_t s = spec.Sample(rng);
    ASSERT_GE(s, 100u);
    ASSERT_LE(s, 4000u);
    lo = std::min(lo, s);
    hi = std::max(hi, s);
    sum += s;
  }
  EXPECT_EQ(lo, 100u);  // both ends are reachable
  EXPECT_EQ(hi, 4000u);
  EXPECT_NEAR(sum / n, 2050.0, 15.0);
}

TEST(BenchSizes, Bounds) {
  SizeSpec spec;
  std::string error;
  EXPECT_TRUE(ParseSizes("d1", &spec, &error));
  EXPECT_TRUE(ParseSizes("d1048576", &spec, &error));
  EXPECT_TRUE(ParseSizes("u7,7", &spec, &error));
  EXPECT_EQ(spec.Sample(*std::make_unique<Rng>(2)), 7u);
}

TEST(BenchSizes, Errors) {
  for (const char* bad : {"",     "d",     "u",     "100",      "d0",       "d-5",
                          "d+5",  "dabc",  "d100x", "d 100",    "d1048577", "d99999999999999999999",
                          "u100", "u100,", "u,100", "u5,4",     "u0,10",    "u1,2,3",
                          "x100", "D100",  "e100",  "u100;4000"}) {
    SizeSpec spec;
    std::string error;
    EXPECT_FALSE(ParseSizes(bad, &spec, &error)) << "'" << bad << "'";
    EXPECT_FALSE(error.empty()) << bad;
  }
  SizeSpec spec;
  std::string error;
  EXPECT_FALSE(ParseSizes("u5,4", &spec, &error));
  EXPECT_NE(error.find("min above max"), std::string::npos) << error;
}

}  // namespace
}  // namespace ssdcache::bench
