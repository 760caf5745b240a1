// The two readings of decimal numbers shared by the classic and meta parsers (protocol/numbers.h):
// ssdcache's strict one and memcached's safe_strto* one.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "protocol/numbers.h"

namespace ssdcache::protocol {
namespace {

TEST(StrictNumbers, DigitsOnlyInRange) {
  uint64_t u = 7;
  EXPECT_TRUE(StrictUnsigned("0", 10, u));
  EXPECT_EQ(u, 0u);
  EXPECT_TRUE(StrictUnsigned("18446744073709551615", std::numeric_limits<uint64_t>::max(), u));
  EXPECT_EQ(u, std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(StrictUnsigned("18446744073709551616", std::numeric_limits<uint64_t>::max(), u));
  EXPECT_FALSE(StrictUnsigned("11", 10, u));
  EXPECT_FALSE(StrictUnsigned("", 10, u));
  EXPECT_FALSE(StrictUnsigned("+1", 10, u));
  EXPECT_FALSE(StrictUnsigned(" 1", 10, u));
  EXPECT_FALSE(StrictUnsigned("1 ", 10, u));

  int64_t s = 0;
  EXPECT_TRUE(StrictSigned("-9223372036854775808", s));
  EXPECT_EQ(s, std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(StrictSigned("9223372036854775807", s));
  EXPECT_EQ(s, std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(StrictSigned("9223372036854775808", s));
  EXPECT_FALSE(StrictSigned("-", s));
  EXPECT_FALSE(StrictSigned("--1", s));
}

TEST(MemcachedNumbers, StrtoullRules) {
  EXPECT_EQ(MemcachedUnsigned("42"), 42u);
  EXPECT_EQ(MemcachedUnsigned(" \t+42"), 42u);
  EXPECT_EQ(MemcachedUnsigned("42\tjunk"), 42u);  // whatever follows whitespace is ignored
  EXPECT_FALSE(MemcachedUnsigned("42x"));
  EXPECT_FALSE(MemcachedUnsigned(""));
  EXPECT_FALSE(MemcachedUnsigned("+"));
  EXPECT_FALSE(MemcachedUnsigned("18446744073709551616"));  // overflow
  EXPECT_FALSE(MemcachedUnsigned("-1"));                    // looks negative as a signed value
  EXPECT_EQ(MemcachedUnsigned("-18446744073709551615"), 1u);
  EXPECT_EQ(MemcachedUnsigned32("4294967297"), 1u);  // cut to 32 bits
  // strchr(str, '-') looks at the whole token once the value is negative as a signed number.
  EXPECT_FALSE(MemcachedUnsigned("18446744073709551615\t-"));
  EXPECT_EQ(MemcachedUnsigned("18446744073709551615\tx"), 18446744073709551615u);
  EXPECT_EQ(MemcachedUnsigned("5\t-"), 5u);
}

// incr/decr on a stored value, as observed on memcached 1.6.18 (set, then incr by 1).
TEST(MemcachedNumbers, StoredValueAsIncrReadsIt) {
  using namespace std::string_literals;
  for (const std::string& five :
       {" 5"s, "  5"s, "\t5"s, "\n5"s, "\v5"s, "\f5"s, "\r5"s, "+5"s, "5 "s, "5\t"s, "5\r"s, "5\n"s,
        "5 abc"s, "5\tx"s, " +5 "s, "5\0zz"s, std::string(100, '0') + "5",
        std::string(1000, ' ') + "5"}) {
    EXPECT_EQ(MemcachedStoredNumber(five), 5u) << five;
  }
  EXPECT_EQ(MemcachedStoredNumber("-0"), 0u);
  EXPECT_EQ(MemcachedStoredNumber("-18446744073709551615"), 1u);
  EXPECT_EQ(MemcachedStoredNumber("-9223372036854775809"), 9223372036854775807u);
  EXPECT_EQ(MemcachedStoredNumber("18446744073709551615"), 18446744073709551615u);
  for (const std::string& bad :
       {""s, " "s, "\0"s, "\05"s, "-5"s, "-1 "s, "+ 5"s, "- 5"s, "5x"s, "0x10"s, "1e3"s,
        "-9223372036854775808"s, "-18446744073709551616"s, "18446744073709551616"s,
        "18446744073709551615 -"s, "9223372036854775808 -x"s}) {
    EXPECT_FALSE(MemcachedStoredNumber(bad)) << bad;
  }
}

TEST(MemcachedNumbers, StrtolRules) {
  EXPECT_EQ(MemcachedSigned("-5"), -5);
  EXPECT_EQ(MemcachedSigned("9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(MemcachedSigned("-9223372036854775808"), std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(MemcachedSigned("9223372036854775808"));
  EXPECT_FALSE(MemcachedSigned("1.5"));
  EXPECT_EQ(MemcachedSigned32("4294967295"), -1);  // a long cut to an int
  EXPECT_EQ(MemcachedSigned32("2147483648"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(MemcachedSigned32("-3"), -3);
}

}  // namespace
}  // namespace ssdcache::protocol
