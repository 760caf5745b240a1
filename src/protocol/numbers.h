// Decimal numbers as the protocol reads them, shared by the classic (parser.cc) and meta
// (meta_parser.cc) parsers. Two readings exist on purpose:
//  - Strict*: ssdcache's own rule for the classic commands: decimal digits only (a leading '-'
//    where the field is signed), in range.
//  - Memcached*: what memcached's safe_strto* accept (strtoull/strtol: leading C whitespace, a
//    sign, at least one digit, then the end of the token or a whitespace byte). The classic parser
//    needs it to swallow a data block memcached would read even when it refuses the line; the meta
//    parser reads every number this way, as memcached does.
// Either way an exptime is then cut to a signed 32-bit value (CutToInt32), as memcached keeps it in
// an int32_t: an exptime beyond 32 bits is never an error, only one beyond 64 bits is.
// Pure functions: no state, no allocation.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace ssdcache::protocol {

inline bool StrictUnsigned(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

inline bool StrictSigned(std::string_view s, int64_t& out) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  constexpr auto kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t magnitude = 0;
  if (!StrictUnsigned(s, negative ? kMaxPositive + 1 : kMaxPositive, magnitude)) return false;
  out = static_cast<int64_t>(negative ? 0 - magnitude : magnitude);
  return true;
}

// A long as memcached keeps it in an int32_t (safe_strtol's result: exptimes, data lengths): the
// low 32 bits, signed, so 4294967295 is -1 and -4294967295 is 1.
inline int64_t CutToInt32(int64_t v) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v)));
}

// An exptime (set, touch, gat, flush_all's delay) by ssdcache's digits-only rule, any 64-bit value
// taken and then cut to 32 bits as memcached does.
inline bool StrictExptime(std::string_view s, int64_t& out) {
  int64_t v = 0;
  if (!StrictSigned(s, v)) return false;
  out = CutToInt32(v);
  return true;
}

inline bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// A number as strtoull/strtol scan it, before any range rule.
struct CNumber {
  bool ok = false;  // at least one digit, then the end or a whitespace byte
  bool negative = false;
  bool overflow = false;  // the magnitude does not fit 64 bits
  uint64_t magnitude = 0;
};

inline CNumber ScanCNumber(std::string_view s) {
  CNumber n;
  size_t i = 0;
  while (i < s.size() && IsCSpace(s[i])) ++i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    n.negative = s[i] == '-';
    ++i;
  }
  const size_t digits = i;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    const auto d = static_cast<uint64_t>(s[i] - '0');
    if (n.magnitude > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      n.overflow = true;
    } else if (!n.overflow) {
      n.magnitude = n.magnitude * 10 + d;
    }
  }
  // memcached ignores whatever follows that whitespace byte.
  n.ok = i > digits && (i == s.size() || IsCSpace(s[i]));
  return n;
}

// safe_strtoull (LP64): a value that looks negative as a signed 64-bit number is refused when the
// text holds a '-' anywhere (its strchr): "-1" is refused, "-18446744073709551615" is 1.
inline std::optional<uint64_t> MemcachedUnsigned(std::string_view s) {
  const CNumber n = ScanCNumber(s);
  if (!n.ok || n.overflow) return std::nullopt;
  const uint64_t v = n.negative ? 0 - n.magnitude : n.magnitude;
  if (static_cast<int64_t>(v) < 0 && s.find('-') != std::string_view::npos) return std::nullopt;
  return v;
}

// A stored value as incr/decr and ma read it: memcached runs safe_strtoull on the item's data as a
// C string (followed by "\r\n" in memory), so C whitespace and a sign may lead, whitespace and then
// anything may follow the digits, and a NUL byte ends the text (" 5", "+5", "5 abc", "5\0x" are 5).
// memcached's scan runs past the data when it is all whitespace, and its '-' check past the digits
// of a number >= 2^63 (memory it does not own); here the value's end is the end: the former is not
// a number, the latter looks at the value only.
inline std::optional<uint64_t> MemcachedStoredNumber(std::string_view value) {
  return MemcachedUnsigned(value.substr(0, value.find('\0')));
}

// safe_strtol (LP64): any value that fits a long.
inline std::optional<int64_t> MemcachedSigned(std::string_view s) {
  const CNumber n = ScanCNumber(s);
  constexpr auto kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!n.ok || n.overflow) return std::nullopt;
  if (n.magnitude > (n.negative ? kMaxPositive + 1 : kMaxPositive)) return std::nullopt;
  return static_cast<int64_t>(n.negative ? 0 - n.magnitude : n.magnitude);
}

// safe_strtoul into a uint32_t, as the meta commands' F: read as an unsigned long, cut to 32 bits.
inline std::optional<uint32_t> MemcachedUnsigned32(std::string_view s) {
  const std::optional<uint64_t> v = MemcachedUnsigned(s);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

// safe_strtol into an int32_t, as the meta commands' T N R and ms's datalen: any long, cut to 32
// bits.
inline std::optional<int64_t> MemcachedSigned32(std::string_view s) {
  const std::optional<int64_t> v = MemcachedSigned(s);
  if (!v) return std::nullopt;
  return CutToInt32(*v);
}

}  // namespace ssdcache::protocol
