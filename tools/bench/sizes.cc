#include "sizes.h"

#include <fmt/format.h>

#include <charconv>

namespace ssdcache::bench {

namespace {

bool ParseSize(std::string_view text, uint32_t* out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (value < 1 || value > SizeSpec::kMaxSize) return false;
  *out = static_cast<uint32_t>(value);
  return true;
}

}  // namespace

std::string SizeSpec::ToString() const {
  return kind == Kind::kFixed ? fmt::format("d{}", min) : fmt::format("u{},{}", min, max);
}

bool ParseSizes(std::string_view text, SizeSpec* out, std::string* error) {
  const auto bad = [&](std::string_view why) {
    *error = fmt::format("expected d<size> or u<min>,<max> with sizes in 1..{}{}, got '{}'",
                         SizeSpec::kMaxSize, why, text);
    return false;
  };
  if (text.size() < 2) return bad("");
  const std::string_view rest = text.substr(1);
  SizeSpec spec;
  if (text[0] == 'd') {
    if (!ParseSize(rest, &spec.min)) return bad("");
    spec.kind = SizeSpec::Kind::kFixed;
    spec.max = spec.min;
  } else if (text[0] == 'u') {
    const size_t comma = rest.find(',');
    if (comma == std::string_view::npos) return bad("");
    if (!ParseSize(rest.substr(0, comma), &spec.min) ||
        !ParseSize(rest.substr(comma + 1), &spec.max))
      return bad("");
    if (spec.min > spec.max) return bad(" (min above max)");
    spec.kind = SizeSpec::Kind::kUniform;
  } else {
    return bad("");
  }
  *out = spec;
  return true;
}

}  // namespace ssdcache::bench
