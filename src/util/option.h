// Option tables: a module declares each of its settings once, as one row of an X-macro table (as
// Pelikan's SLAB_OPTION), and everything else is generated from the rows: the struct members with
// their one default, the command-line flags with --help, parsing and range checks, and
// `stats settings`. Adding a setting is adding a row.
//
// A row is X(member, type, default, flags, metavar, kind, stat, help):
//   member, type, default  the struct member and its default (no other default exists)
//   flags                  the command-line names, "-p,--port"; messages name the long one
//   metavar                the value's name in --help ("PORT"); "" for a flag without a value
//   kind                   how text becomes a value and back: one of the kinds below, written
//                          as (Integer{1, 64}): braces, since clang 14 has no parenthesised
//                          aggregate init, inside parentheses, since macro arguments split at
//                          commas outside parentheses
//   stat                   its name in `stats settings`, "" for none
//   help                   one line for --help; the kind's bounds and the default are appended
//
// Every kind has:
//   bool Parse(std::string_view text, T& out, std::string& why) const  (false: `why` explains)
//   std::string Show(const T&) const    as a user types it (the default in --help)
//   std::string Stat(const T&) const    as `stats settings` prints it (raw numbers, bytes)
//   std::string Bounds() const          for --help, "" when the metavar says it all
//   kTakesValue: false for flags counted (Count) or switched on (Flag) by their presence
// and may have:
//   kRepeats = true                     every occurrence counts (-l a -l b), not only the last;
//                                       Parse then gets the values joined by '\n'
//   std::string Note(const T&) const    a one-line warning to log when the flag was given ("" for
//                                       none): options accepted for compatibility say what they
//                                       do not do
//   std::string Refusal() const         non-empty: the flag is refused with this reason
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ssdcache::util {

inline constexpr uint64_t kKiB = 1ULL << 10;
inline constexpr uint64_t kMiB = 1ULL << 20;
inline constexpr uint64_t kGiB = 1ULL << 30;
inline constexpr uint64_t kTiB = 1ULL << 40;

// Digits only: no sign, no blanks, no hex, so that "-1" or " 5" is an error rather than a surprise.
std::optional<uint64_t> ParseUnsigned(std::string_view s);
// A number with an optional binary K/M/G/T suffix (either case). A plain number is multiplied by
// `plain_unit`, which lets -I read "2" as MiB while "512K" stays bytes.
std::optional<uint64_t> ParseSize(std::string_view s, uint64_t plain_unit = 1);
// The shortest exact spelling of a byte count ("4M", "1000"), as users type sizes.
std::string FormatSize(uint64_t bytes);

// The row's text columns, handed to whoever walks a table.
struct OptionInfo {
  const char* flags;
  const char* metavar;
  const char* stat;
  const char* help;
};

// Declares a member of a row (inside the options struct).
#define SSDCACHE_OPTION_MEMBER(member, type, def, ...) type member = def;
// Calls v(value, info, kind) for a row (inside a Visit function with `o` and `v`).
#define SSDCACHE_OPTION_VISIT(member, type, def, flags, metavar, kind, stat, help) \
  v(o.member, ::ssdcache::util::OptionInfo{flags, metavar, stat, help}, kind);

// An integer in [lo, hi].
struct Integer {
  uint64_t lo, hi;
  static constexpr bool kTakesValue = true;
  template <typename T>
  bool Parse(std::string_view text, T& out, std::string& why) const {
    const auto v = ParseUnsigned(text);
    if (!v || *v < lo || *v > hi) {
      why = "invalid value '" + std::string(text) + "' (expected an integer from " +
            std::to_string(lo) + " to " + std::to_string(hi) + ")";
      return false;
    }
    out = static_cast<T>(*v);
    return true;
  }
  template <typename T>
  std::string Show(const T& v) const {
    return std::to_string(v);
  }
  template <typename T>
  std::string Stat(const T& v) const {
    return std::to_string(v);
  }
  std::string Bounds() const { return std::to_string(lo) + ".." + std::to_string(hi); }
};

// A plain number of MiB in [lo, hi], kept in bytes.
struct Mebibytes {
  uint64_t lo, hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint64_t& out, std::string& why) const;
  std::string Show(uint64_t v) const { return std::to_string(v / kMiB); }
  std::string Stat(uint64_t v) const { return std::to_string(v); }
  std::string Bounds() const { return std::to_string(lo) + ".." + std::to_string(hi) + " MiB"; }
};

// A size in bytes with an optional K/M/G/T suffix, in [lo, hi].
struct Size {
  uint64_t lo, hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint64_t& out, std::string& why) const;
  std::string Show(uint64_t v) const { return FormatSize(v); }
  std::string Stat(uint64_t v) const { return std::to_string(v); }
  std::string Bounds() const { return FormatSize(lo) + ".." + FormatSize(hi); }
};

// A power of two of bytes in [lo, hi]; a plain number counts MiB, a suffixed one (512K) bytes.
struct PowerOfTwo {
  uint64_t lo, hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint32_t& out, std::string& why) const;
  std::string Show(uint32_t v) const { return FormatSize(v); }
  std::string Stat(uint32_t v) const { return std::to_string(v); }
  std::string Bounds() const {
    return "a power of two from " + FormatSize(lo) + " to " + FormatSize(hi) +
           ", in MiB or with a K/M suffix (512K)";
  }
};

// 0 (off), or a multiple of `block` bytes in [lo, hi] with an optional K/M/G suffix.
struct BlocksOrOff {
  uint64_t block, lo, hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint64_t& out, std::string& why) const;
  std::string Show(uint64_t v) const { return FormatSize(v); }
  std::string Stat(uint64_t v) const { return std::to_string(v); }
  std::string Bounds() const {
    return "0 or a multiple of " + FormatSize(block) + " from " + FormatSize(lo) + " to " +
           FormatSize(hi);
  }
};

// "auto" (kAuto: the consumer derives the size), 0 (off), or a multiple of `block` bytes in
// [lo, hi] with an optional K/M/G suffix.
struct BlocksOrAuto {
  static constexpr uint64_t kAuto = ~uint64_t{0};
  uint64_t block, lo, hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint64_t& out, std::string& why) const;
  std::string Show(uint64_t v) const { return v == kAuto ? "auto" : FormatSize(v); }
  std::string Stat(uint64_t v) const { return v == kAuto ? "auto" : std::to_string(v); }
  std::string Bounds() const { return "auto, " + BlocksOrOff{block, lo, hi}.Bounds(); }
};

// A ratio > 1 and <= hi.
struct Factor {
  double hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, double& out, std::string& why) const;
  std::string Show(double v) const;
  std::string Stat(double v) const;  // two decimals, as memcached's growth_factor
  std::string Bounds() const { return "> 1 and <= " + Show(hi); }
};

// A non-empty string; empty (the default only) shows as `unset`.
struct Text {
  const char* unset;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, std::string& out, std::string& why) const;
  std::string Show(const std::string& v) const { return v.empty() ? unset : v; }
  std::string Stat(const std::string& v) const { return Show(v); }
  std::string Bounds() const { return ""; }
};

// Where to listen: a host (numeric IPv4, IPv6 bare or in brackets, or a name resolved at start)
// and an optional port of its own, as memcached's -l takes them: "127.0.0.1", "::1", "[::1]:11311",
// "localhost:11311", and memcached's "notls:" prefix for a plain listener under -Z.
struct ListenAddress {
  std::string host;
  int port = -1;       // -1: the -p port
  bool notls = false;  // "notls:ADDR": plain even under -Z (memcached's prefix)
  bool operator==(const ListenAddress&) const = default;
};
// Parses one entry; false (with `why`) for an empty host, a bad port or a stray bracket.
bool ParseListenAddress(std::string_view text, ListenAddress& out, std::string& why);
std::string FormatListenAddress(const ListenAddress& a);

// Comma-separated listen addresses; every occurrence of the flag adds its own (memcached's -l),
// duplicates once.
struct ListenList {
  static constexpr bool kTakesValue = true;
  static constexpr bool kRepeats = true;
  bool Parse(std::string_view text, std::vector<ListenAddress>& out, std::string& why) const;
  std::string Show(const std::vector<ListenAddress>& v) const;
  // NULL as memcached when none was given: the server then listens on 127.0.0.1, or only on a
  // unix socket (it fills its copy in).
  std::string Stat(const std::vector<ListenAddress>& v) const {
    return v.empty() ? "NULL" : Show(v);
  }
  std::string Bounds() const { return "comma-separated, repeatable"; }
};

// A file mode in octal, at most `hi` (0777).
struct Octal {
  uint32_t hi;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, uint32_t& out, std::string& why) const;
  std::string Show(uint32_t v) const;
  std::string Stat(uint32_t v) const { return Show(v); }
  std::string Bounds() const { return "octal"; }
};

// Slice I (0-based) of N equal slices, written I/N.
struct Slice {
  uint32_t index = 0;
  uint32_t count = 1;
};
struct SliceOf {
  uint64_t max_count;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, Slice& out, std::string& why) const;
  std::string Show(const Slice& v) const {
    return std::to_string(v.index) + "/" + std::to_string(v.count);
  }
  std::string Stat(const Slice& v) const { return Show(v); }
  std::string Bounds() const { return "N <= " + std::to_string(max_count); }
};

// Comma-separated byte sizes (K/M suffix allowed), strictly increasing after rounding up to 8,
// each from 1 to hi, at most max_count of them.
struct IncreasingSizes {
  uint64_t hi;
  size_t max_count;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, std::vector<uint32_t>& out, std::string& why) const;
  std::string Show(const std::vector<uint32_t>& v) const;
  std::string Stat(const std::vector<uint32_t>& v) const { return Show(v); }
  std::string Bounds() const { return "strictly increasing, K/M allowed"; }
};

// One of a few names, each standing for a value of E.
template <typename E>
struct Choice {
  std::vector<std::pair<const char*, E>> names;
  Choice(std::initializer_list<std::pair<const char*, E>> n) : names(n) {}
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view text, E& out, std::string& why) const {
    std::string expected;
    for (size_t i = 0; i < names.size(); ++i) {
      if (text == names[i].first) {
        out = names[i].second;
        return true;
      }
      expected += (i == 0                  ? ""
                   : i + 1 == names.size() ? " or "
                                           : ", ") +
                  std::string(names[i].first);
    }
    why = "invalid value '" + std::string(text) + "' (expected " + expected + ")";
    return false;
  }
  std::string Show(E v) const {
    for (const auto& [name, value] : names) {
      if (value == v) return name;
    }
    return "?";
  }
  std::string Stat(E v) const { return Show(v); }
  std::string Bounds() const { return ""; }
};

// A switch: present means on. `stat_off`/`stat_on` are its `stats settings` values, so that a
// flag that disables something can show as memcached names it (-F: flush_enabled no).
struct Flag {
  const char* stat_off = "no";
  const char* stat_on = "yes";
  static constexpr bool kTakesValue = false;
  std::string Show(bool v) const { return v ? "on" : "off"; }
  std::string Stat(bool v) const { return v ? stat_on : stat_off; }
  std::string Bounds() const { return ""; }
};

// A flag accepted for compatibility whose effect ssdcached does not provide: `K` parses it, and
// giving it logs `note` once at start-up, unless its value is `quiet` (a value that asks for what
// ssdcached does anyway, as -t 1 or -U 0).
template <typename K>
struct Noted {
  K kind;
  const char* note;
  std::optional<uint64_t> quiet = std::nullopt;
  static constexpr bool kTakesValue = K::kTakesValue;
  template <typename T>
  bool Parse(std::string_view text, T& out, std::string& why) const {
    return kind.Parse(text, out, why);
  }
  template <typename T>
  std::string Show(const T& v) const {
    return kind.Show(v);
  }
  template <typename T>
  std::string Stat(const T& v) const {
    return kind.Stat(v);
  }
  std::string Bounds() const { return kind.Bounds(); }
  template <typename T>
  std::string Note(const T& v) const {
    if constexpr (std::is_integral_v<T>) {
      if (quiet && static_cast<uint64_t>(v) == *quiet) return "";
    }
    return note;
  }
};

// A flag that ssdcached refuses (exit 2) because running without its effect would mislead the
// operator (memcached's -S: authentication, -Z: TLS).
struct Refused {
  const char* why;
  static constexpr bool kTakesValue = false;
  std::string Show(bool v) const { return v ? "on" : "off"; }
  std::string Stat(bool v) const { return v ? "yes" : "no"; }
  std::string Bounds() const { return ""; }
  std::string Refusal() const { return why; }
};
// The same for a flag that takes a value (memcached's -Y FILE).
struct RefusedValue {
  const char* why;
  static constexpr bool kTakesValue = true;
  bool Parse(std::string_view, std::string&, std::string& reason) const {
    reason = why;
    return false;
  }
  std::string Show(const std::string& v) const { return v.empty() ? "none" : v; }
  std::string Stat(const std::string& v) const { return v; }
  std::string Bounds() const { return ""; }
  std::string Refusal() const { return why; }
};

// A flag counted by repetition (-vv).
struct Count {
  static constexpr bool kTakesValue = false;
  std::string Show(int v) const { return std::to_string(v); }
  std::string Stat(int v) const { return std::to_string(v); }
  std::string Bounds() const { return ""; }
};

}  // namespace ssdcache::util
