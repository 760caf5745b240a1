#include "util/option.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace ssdcache::util {

namespace {
constexpr uint64_t RoundUp8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }
}  // namespace

std::optional<uint64_t> ParseUnsigned(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> ParseSize(std::string_view s, uint64_t plain_unit) {
  uint64_t unit = plain_unit;
  if (!s.empty()) {
    constexpr std::string_view kSuffixes = "KMGT";
    const char upper = (s.back() >= 'a' && s.back() <= 'z') ? s.back() - 'a' + 'A' : s.back();
    if (const size_t pos = kSuffixes.find(upper); pos != std::string_view::npos) {
      unit = kKiB << (10 * pos);
      s.remove_suffix(1);
    }
  }
  auto v = ParseUnsigned(s);
  if (!v || *v > std::numeric_limits<uint64_t>::max() / unit) return std::nullopt;
  return *v * unit;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::pair<uint64_t, char> kUnits[] = {
      {kTiB, 'T'}, {kGiB, 'G'}, {kMiB, 'M'}, {kKiB, 'K'}};
  for (const auto& [unit, suffix] : kUnits) {
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

bool Mebibytes::Parse(std::string_view text, uint64_t& out, std::string& why) const {
  const auto v = ParseUnsigned(text);
  if (!v || *v < lo || *v > hi) {
    why = "invalid value '" + std::string(text) + "' (expected a whole number of MiB from " +
          std::to_string(lo) + " to " + std::to_string(hi) + ")";
    return false;
  }
  out = *v * kMiB;
  return true;
}

bool Size::Parse(std::string_view text, uint64_t& out, std::string& why) const {
  const auto v = ParseSize(text);
  if (!v) {
    why = "invalid size '" + std::string(text) +
          "' (expected a number with an optional K, M, G or T suffix)";
    return false;
  }
  if (*v < lo || *v > hi) {
    why = "size '" + std::string(text) + "' is out of range (expected " + FormatSize(lo) + " to " +
          FormatSize(hi) + ")";
    return false;
  }
  out = *v;
  return true;
}

bool PowerOfTwo::Parse(std::string_view text, uint32_t& out, std::string& why) const {
  const auto v = ParseSize(text, kMiB);
  if (!v) {
    why = "invalid size '" + std::string(text) +
          "' (expected MiB as a plain number, or a size with a K or M suffix)";
    return false;
  }
  if (*v < lo || *v > hi || !std::has_single_bit(*v)) {
    why.assign(1, '\'').append(text).append("' (").append(FormatSize(*v));
    why += ") is not a power of two from " + FormatSize(lo) + " to " + FormatSize(hi);
    return false;
  }
  out = static_cast<uint32_t>(*v);
  return true;
}

bool BlocksOrOff::Parse(std::string_view text, uint64_t& out, std::string& why) const {
  const auto v = ParseSize(text);
  if (!v || (*v != 0 && (*v < lo || *v > hi || *v % block != 0))) {
    why = "invalid size '" + std::string(text) + "' (expected " + Bounds() + ")";
    return false;
  }
  out = *v;
  return true;
}

bool BlocksOrAuto::Parse(std::string_view text, uint64_t& out, std::string& why) const {
  if (text == "auto") {
    out = kAuto;
    return true;
  }
  if (!BlocksOrOff{block, lo, hi}.Parse(text, out, why)) {
    why = "invalid size '" + std::string(text) + "' (expected " + Bounds() + ")";
    return false;
  }
  return true;
}

bool Factor::Parse(std::string_view text, double& out, std::string& why) const {
  double f = 0;
  // from_chars is locale-independent; a leading sign or blank is refused like for integers.
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), f);
  const bool parsed =
      !text.empty() && text[0] != '-' && ec == std::errc() && ptr == text.data() + text.size();
  if (!parsed || !std::isfinite(f) || f <= 1.0 || f > hi) {
    why = "invalid value '" + std::string(text) + "' (expected a number " + Bounds() + ")";
    return false;
  }
  out = f;
  return true;
}

std::string Factor::Show(double v) const {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("?");
}

std::string Factor::Stat(double v) const {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

bool Text::Parse(std::string_view text, std::string& out, std::string& why) const {
  if (text.empty()) {
    why = "must not be empty";
    return false;
  }
  out = text;
  return true;
}

bool ParseListenAddress(std::string_view text, ListenAddress& out, std::string& why) {
  if (text.starts_with("notls:")) {
    if (!ParseListenAddress(text.substr(6), out, why)) return false;
    out.notls = true;
    return true;
  }
  out.notls = false;
  const std::string s(text);
  std::string_view host = text, port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = "invalid address '" + s + "' (no closing ']')";
      return false;
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      why = "invalid address '" + s + "' (expected [IPv6] or [IPv6]:PORT)";
      return false;
    }
    if (!rest.empty()) port = rest.substr(1);
    if (!rest.empty() && port.empty()) port = "?";
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    // host:port; two or more colons is a bare IPv6 address, which takes no port.
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) port = "?";
  }
  const bool bad_char = std::any_of(host.begin(), host.end(), [](char c) {
    return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
             c == ':' || c == '%');
  });
  if (host.empty() || bad_char) {
    why = "invalid address '" + s + "' (expected an IPv4 or IPv6 address or a host name)";
    return false;
  }
  out.host = std::string(host);
  out.port = -1;
  if (!port.empty()) {
    const auto p = ParseUnsigned(port);
    if (!p || *p > 65535) {
      why = "invalid port in '" + s + "' (expected 0..65535)";
      return false;
    }
    out.port = static_cast<int>(*p);
  }
  return true;
}

std::string FormatListenAddress(const ListenAddress& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  std::string s = a.notls ? "notls:" : "";
  if (v6 && a.port >= 0) s.push_back('[');
  s.append(a.host);
  if (v6 && a.port >= 0) s.push_back(']');
  if (a.port >= 0) s.append(1, ':').append(std::to_string(a.port));
  return s;
}

bool ListenList::Parse(std::string_view text, std::vector<ListenAddress>& out,
                       std::string& why) const {
  std::vector<ListenAddress> list;
  std::string_view rest = text;
  while (true) {
    // memcached splits -l on ',' and ';'; repeated flags arrive joined by '\n'.
    const size_t sep = rest.find_first_of(",;\n");
    ListenAddress a;
    if (!ParseListenAddress(rest.substr(0, sep), a, why)) return false;
    if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(std::move(a));
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 1);
  }
  out = std::move(list);
  return true;
}

std::string ListenList::Show(const std::vector<ListenAddress>& v) const {
  std::string s;
  for (const ListenAddress& a : v) {
    if (!s.empty()) s += ',';
    s += FormatListenAddress(a);
  }
  return s.empty() ? "127.0.0.1" : s;
}

bool Octal::Parse(std::string_view text, uint32_t& out, std::string& why) const {
  const bool octal =
      !text.empty() && text.size() <= 4 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
  uint32_t v = 0;
  for (char c : text) v = v * 8 + static_cast<uint32_t>(c - '0');
  if (!octal || v > hi) {
    why = "invalid mode '" + std::string(text) + "' (expected octal digits, at most " + Show(hi) +
          ")";
    return false;
  }
  out = v;
  return true;
}

std::string Octal::Show(uint32_t v) const {
  char buf[16];
  snprintf(buf, sizeof(buf), "%o", v);
  return buf;
}

bool SliceOf::Parse(std::string_view text, Slice& out, std::string& why) const {
  const std::string s(text);
  const size_t slash = text.find('/');
  std::optional<uint64_t> i, n;
  if (slash != std::string_view::npos) {
    i = ParseUnsigned(text.substr(0, slash));
    n = ParseUnsigned(text.substr(slash + 1));
  }
  if (!i || !n) {
    why = "invalid value '" + s + "' (expected I/N, e.g. 0/1 or 2/4)";
  } else if (*n < 1 || *n > max_count) {
    why = "invalid value '" + s + "' (N must be from 1 to " + std::to_string(max_count) + ")";
  } else if (*i >= *n) {
    why = "invalid value '" + s + "' (I is 0-based and must be below N)";
  } else {
    out = Slice{static_cast<uint32_t>(*i), static_cast<uint32_t>(*n)};
    return true;
  }
  return false;
}

bool IncreasingSizes::Parse(std::string_view text, std::vector<uint32_t>& out,
                            std::string& why) const {
  const std::string all(text);
  std::vector<uint32_t> sizes;
  std::string_view rest = text;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto v = ParseSize(item);
    if (!v || *v == 0 || *v > hi) {
      why = "invalid size '" + std::string(item) + "' in '" + all +
            "' (expected comma-separated sizes from 1 to " + FormatSize(hi) +
            ", K/M suffix allowed)";
      return false;
    }
    if (!sizes.empty() && RoundUp8(*v) <= RoundUp8(sizes.back())) {
      why = "sizes must be strictly increasing (after rounding up to a multiple of 8), but " +
            std::string(item) + " follows " + std::to_string(sizes.back()) + " in '" + all + "'";
      return false;
    }
    if (sizes.size() == max_count) {
      why = "more than " + std::to_string(max_count) + " sizes in '" + all + "'";
      return false;
    }
    sizes.push_back(static_cast<uint32_t>(*v));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  out = std::move(sizes);
  return true;
}

std::string IncreasingSizes::Show(const std::vector<uint32_t>& v) const {
  if (v.empty()) return "none";
  std::string s;
  for (uint32_t size : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(size);
  }
  return s;
}

}  // namespace ssdcache::util
