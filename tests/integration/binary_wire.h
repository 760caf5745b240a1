// Request bytes of memcached's binary protocol, for the tests that speak it (unit and
// integration): built here independently of the server's own composer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ssdcache::testing_binary {

// `v` as `bytes` big-endian bytes.
inline std::string Be(uint64_t v, int bytes) {
  std::string s;
  for (int i = bytes - 1; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

// The big-endian number in `s` (a header field of a response).
inline uint64_t Load(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

// A request: magic 0x80, the header, then extras, key and value.
inline std::string Req(uint8_t op, std::string_view extras = {}, std::string_view key = {},
                       std::string_view value = {}, uint32_t opaque = 0xa1b2c3d4,
                       uint64_t cas = 0) {
  std::string s;
  s.push_back(static_cast<char>(0x80));
  s.push_back(static_cast<char>(op));
  s += Be(key.size(), 2);
  s.push_back(static_cast<char>(extras.size()));
  s += std::string(3, '\0');
  s += Be(extras.size() + key.size() + value.size(), 4);
  s += Be(opaque, 4);
  s += Be(cas, 8);
  s += extras;
  s += key;
  s += value;
  return s;
}

}  // namespace ssdcache::testing_binary
