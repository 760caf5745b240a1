// Value-size distributions in mcperf's notation: "d100" (always 100 bytes) or "u100,4000"
// (uniform in [100, 4000]).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rng.h"

namespace ssdcache::bench {

struct SizeSpec {
  // memcached's default item limit; larger values could never be stored by a default server.
  static constexpr uint32_t kMaxSize = 1024 * 1024;

  enum class Kind { kFixed, kUniform };
  Kind kind = Kind::kFixed;
  uint32_t min = 100;
  uint32_t max = 100;

  uint32_t Sample(Rng& rng) const {
    return kind == Kind::kFixed ? min : min + static_cast<uint32_t>(rng.Below(max - min + 1));
  }
  std::string ToString() const;
};

// Sizes are 1..SizeSpec::kMaxSize bytes; returns false with a reason in *error.
bool ParseSizes(std::string_view text, SizeSpec* out, std::string* error);

}  // namespace ssdcache::bench
