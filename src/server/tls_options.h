// The kinds (util/option.h) of memcached's TLS settings whose `stats settings` value is not what
// the user types: -o ssl_verify_mode=2 shows as OpenSSL's flags (3), ssl_min_version=2 as tlsv1.2,
// as memcached 1.6.18 prints them. Kept free of OpenSSL headers; server/tls.cc checks the flags.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/option.h"

namespace ssdcache::server {

// SSL_VERIFY_PEER (1), | SSL_VERIFY_FAIL_IF_NO_PEER_CERT (2), | SSL_VERIFY_CLIENT_ONCE (4).
inline constexpr std::array<uint32_t, 4> kTlsVerifyFlags = {0, 1, 1 | 2, 1 | 2 | 4};
inline constexpr std::array<std::string_view, 4> kTlsVersionNames = {"tlsv1.0", "tlsv1.1",
                                                                     "tlsv1.2", "tlsv1.3"};

// memcached's ssl_verify_mode: 0 none, 1 request, 2 require, 3 require once.
struct TlsVerifyMode {
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint32_t& out, std::string& why) const {
    return util::Integer{0, 3}.Parse(text, out, why);
  }
  std::string Show(uint32_t v) const { return std::to_string(v); }
  std::string Stat(uint32_t v) const { return std::to_string(kTlsVerifyFlags[v & 3]); }
  std::string Bounds() const { return "0..3"; }
};

// memcached's ssl_min_version: 0..3 for TLS 1.0..1.3 (the names tlsv1.2 ... are accepted too).
struct TlsMinVersion {
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint32_t& out, std::string& why) const {
    for (uint32_t i = 0; i < kTlsVersionNames.size(); ++i) {
      if (text == kTlsVersionNames[i]) {
        out = i;
        return true;
      }
    }
    return util::Integer{0, 3}.Parse(text, out, why);
  }
  std::string Show(uint32_t v) const { return std::to_string(v); }
  std::string Stat(uint32_t v) const { return std::string(kTlsVersionNames[v & 3]); }
  std::string Bounds() const { return "0..3 (TLS 1.0..1.3)"; }
};

}  // namespace ssdcache::server
