#include "server/config.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "storage/index.h"
#include "storage/item.h"
#include "storage/slab_class.h"

#ifndef SSDCACHE_VERSION
#define SSDCACHE_VERSION "unknown"
#endif

namespace ssdcache::server {
namespace {

constexpr uint64_t kKiB = 1ULL << 10;
constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kGiB = 1ULL << 30;
constexpr uint64_t kTiB = 1ULL << 40;

// Bounds. Each one is either a hard limit of the data structures or a guard against a typo (an
// extra zero) turning into an absurd allocation; the storage layer re-checks what it depends on.
constexpr uint64_t kMaxConnections = 1ULL << 20;
constexpr uint64_t kMaxIdleTimeout = 30ULL * 24 * 3600;  // memcached's "relative exptime" horizon
constexpr uint64_t kMinDeviceSize = 8 * kMiB;
constexpr uint64_t kMaxDeviceSize = 1024 * kTiB;
constexpr uint64_t kMaxServerCount = 1024;
constexpr uint64_t kMinMaxMemoryMiB = 2;
constexpr uint64_t kMaxMemoryMiB = 1ULL << 20;  // 1 TiB
constexpr uint64_t kMinSlabSize = 64 * kKiB;
constexpr uint64_t kMaxSlabSize = 16 * kMiB;
constexpr uint64_t kMinSlabsInMemory = 4;
constexpr double kMaxFactor = 4.0;
constexpr uint64_t kMinItemSize = 56;  // an item header (48 B), a 1-byte key and a few value bytes
constexpr uint64_t kMinIndexMemoryMiB = 1;
constexpr uint64_t kMaxIndexMemoryMiB = 1ULL << 20;  // 1 TiB
constexpr uint64_t kMaxHashPower = 40;
constexpr uint64_t kMaxAio = 4096;
constexpr uint64_t kMinJournalSize = 64 * kKiB;  // 16 blocks: room for a checkpoint's wait
constexpr uint64_t kMaxJournalSize = 1 * kGiB;
constexpr uint64_t kChunksPerSlabLimit = 1ULL << storage::Index::kChunkBits;
// -z lists the classes below the largest chunk; the storage layer appends that one itself.
constexpr size_t kMaxProfileSizes = storage::SlabClasses::kMaxClasses - 1;

constexpr uint64_t RoundUp8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

static_assert(kMinItemSize >= storage::kItemHeaderSize + 2);

// The largest chunk of a slab, as the engine computes it: what the slab header leaves, in 8s.
constexpr uint64_t LargestChunk(uint64_t slab_size) {
  return (slab_size - storage::kSlabHeaderSize) & ~uint64_t{7};
}

// The index addresses a chunk with kChunkBits bits, so no slab may hold more chunks than that; the
// -I and -n bounds alone guarantee it, which is why no run-time check is needed.
static_assert(kMaxSlabSize / RoundUp8(kMinItemSize) < kChunksPerSlabLimit);

// Digits only: no sign, no blanks, no hex, so that "-1" or " 5" is an error rather than a surprise.
std::optional<uint64_t> ParseUnsigned(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// A number with an optional binary K/M/G/T suffix (either case). A plain number is multiplied by
// `plain_unit`, which lets -I read "2" as MiB while "512K" stays bytes.
std::optional<uint64_t> ParseSize(std::string_view s, uint64_t plain_unit = 1) {
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

// The shortest exact spelling of a byte count, so messages echo sizes the way users type them.
std::string FormatSize(uint64_t bytes) {
  static constexpr std::pair<uint64_t, char> kUnits[] = {
      {kTiB, 'T'}, {kGiB, 'G'}, {kMiB, 'M'}, {kKiB, 'K'}};
  for (const auto& [unit, suffix] : kUnits) {
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

std::string FormatFactor(double f) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), f);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("?");
}

// Collects the first error; later checks are skipped once one failed, so the user sees the flag
// they got wrong first rather than a cascade of consequences.
class Checker {
 public:
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  void Fail(std::string_view flag, const std::string& message) {
    if (ok()) error_ = std::string(flag) + ": " + message;
  }

  // An integer flag in [lo, hi].
  template <typename T>
  void Integer(const CLI::Option* opt, const std::string& text, uint64_t lo, uint64_t hi, T& out) {
    if (!ok() || opt->count() == 0) return;
    auto v = ParseUnsigned(text);
    if (!v || *v < lo || *v > hi) {
      return Fail(opt->get_name(), "invalid value '" + text + "' (expected an integer from " +
                                       std::to_string(lo) + " to " + std::to_string(hi) + ")");
    }
    out = static_cast<T>(*v);
  }

  // A flag that takes a plain number of MiB and is stored in bytes.
  void Mebibytes(const CLI::Option* opt, const std::string& text, uint64_t lo, uint64_t hi,
                 uint64_t& out) {
    if (!ok() || opt->count() == 0) return;
    auto v = ParseUnsigned(text);
    if (!v || *v < lo || *v > hi) {
      return Fail(opt->get_name(), "invalid value '" + text +
                                       "' (expected a whole number of MiB from " +
                                       std::to_string(lo) + " to " + std::to_string(hi) + ")");
    }
    out = *v * kMiB;
  }

  void NonEmpty(const CLI::Option* opt, const std::string& text, std::string& out) {
    if (!ok() || opt->count() == 0) return;
    if (text.empty()) return Fail(opt->get_name(), "must not be empty");
    out = text;
  }

 private:
  std::string error_;
};

// The number of classes SlabClasses::Geometric() builds (same steps, same truncation), so that a
// factor too close to 1 is reported against -f here rather than as a storage error at start-up.
size_t GeometricClassCount(uint64_t min_item, double factor, uint64_t last) {
  size_t below_last = 0;
  uint64_t size = RoundUp8(min_item);
  while (size < last) {
    if (below_last + 1 >= storage::SlabClasses::kMaxClasses) {
      return storage::SlabClasses::kMaxClasses + 1;
    }
    ++below_last;
    const double grown = static_cast<double>(size) * factor;
    if (grown >= static_cast<double>(last)) break;
    size = std::max(RoundUp8(static_cast<uint64_t>(grown)), size + 8);
  }
  return below_last + 1;  // the largest chunk's class is always present
}

// The listener binds an IPv4 socket and never resolves names, so anything else is refused here,
// before the device is opened, rather than by bind() after start-up work.
bool IsIpv4Address(const std::string& addr) {
  struct in_addr buf;
  return inet_pton(AF_INET, addr.c_str(), &buf) == 1;
}

std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

// Raw option text, converted and range-checked by Validate() so that every message follows one
// format and names the flag.
struct RawArgs {
  std::string port, addr, max_connections, idle_timeout;
  std::string device, device_size, server_id;
  std::string max_memory, slab_size, factor, min_item_size, slab_profile, max_index_memory;
  std::string hash_power, max_aio, journal_size, journal_sync;
  int verbosity = 0;
  std::string log_file, pid_file, user;
  bool daemonize = false;
  bool format = false;

  CLI::Option *o_port, *o_addr, *o_max_connections, *o_idle_timeout;
  CLI::Option *o_device, *o_device_size, *o_server_id;
  CLI::Option *o_max_memory, *o_slab_size, *o_factor, *o_min_item_size, *o_slab_profile,
      *o_max_index_memory;
  CLI::Option *o_hash_power, *o_max_aio, *o_journal_size, *o_journal_sync;
  CLI::Option *o_verbose, *o_log_file, *o_daemonize, *o_pid_file, *o_format, *o_user;
};

std::string JoinSizes(const std::vector<uint32_t>& sizes) {
  std::string s;
  for (uint32_t size : sizes) s += (s.empty() ? "" : ",") + std::to_string(size);
  return s;
}

std::string Default(const std::string& v) { return " (default: " + v + ")"; }
std::string Default(const char* v) { return Default(std::string(v)); }
std::string Default(uint64_t v) { return Default(std::to_string(v)); }

void DefineOptions(CLI::App& app, RawArgs& a, const Config& d) {
  const auto opt = [&app](const char* names, std::string& var, const char* type,
                          const std::string& help) {
    // Last one wins, as in memcached, so a wrapper script's defaults can be overridden.
    return app.add_option(names, var, help)
        ->type_name(type)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  };

  a.o_port = opt("-p,--port", a.port, "PORT",
                 "TCP port to listen on; 0 lets the kernel pick one" + Default(d.port));
  a.o_addr = opt("-a,--addr,-l,--listen", a.addr, "ADDR",
                 "numeric IPv4 address to listen on" + Default(d.listen_addr));
  a.o_max_connections = opt("-c,--max-connections", a.max_connections, "N",
                            "most simultaneous client connections, 1.." +
                                std::to_string(kMaxConnections) + Default(d.max_connections));
  a.o_idle_timeout = opt("--idle-timeout", a.idle_timeout, "SECONDS",
                         "close connections idle this long, 0 = never, at most " +
                             std::to_string(kMaxIdleTimeout) + Default(d.idle_timeout_s));

  a.o_device = opt("-D,--device", a.device, "PATH",
                   "block device or file holding the disk slabs (a file is created if missing)" +
                       Default(d.device_path));
  a.o_device_size = opt("--device-size", a.device_size, "SIZE",
                        "size of a regular file (a block device's own size is used), " +
                            FormatSize(kMinDeviceSize) + ".." + FormatSize(kMaxDeviceSize) +
                            Default(FormatSize(d.device_size)));
  a.o_server_id =
      opt("-s,--server-id", a.server_id, "I/N",
          "use slice I (0-based) of N equal slices of the device, N <= " +
              std::to_string(kMaxServerCount) +
              Default(std::to_string(d.server_id) + "/" + std::to_string(d.server_count)));

  a.o_max_memory =
      opt("-m,--max-memory", a.max_memory, "MiB",
          "DRAM for memory slabs in MiB, " + std::to_string(kMinMaxMemoryMiB) + ".." +
              std::to_string(kMaxMemoryMiB) + " and at least " + std::to_string(kMinSlabsInMemory) +
              " slabs" + Default(d.max_memory / kMiB));
  a.o_slab_size = opt("-I,--slab-size", a.slab_size, "MiB|SIZE",
                      "a plain number is MiB, a suffixed one (512K) bytes; a power of two, " +
                          FormatSize(kMinSlabSize) + ".." + FormatSize(kMaxSlabSize) +
                          Default(FormatSize(d.slab_size)));
  a.o_factor =
      opt("-f,--factor", a.factor, "F",
          "growth factor between slab class chunk sizes, > 1 and <= " + FormatFactor(kMaxFactor) +
              Default(FormatFactor(d.factor)));
  a.o_min_item_size =
      opt("-n,--min-item-size", a.min_item_size, "BYTES",
          "smallest chunk (item header + key + value), " + std::to_string(kMinItemSize) +
              "..half the slab size" + Default(d.min_item_size));
  a.o_slab_profile =
      opt("-z,--slab-profile", a.slab_profile, "S1,S2,...",
          "explicit chunk sizes, strictly increasing (K/M allowed); replaces -f" +
              Default(d.slab_profile.empty() ? std::string("none") : JoinSizes(d.slab_profile)));
  a.o_max_index_memory =
      opt("-i,--max-index-memory", a.max_index_memory, "MiB",
          "DRAM for the item index in MiB, " + std::to_string(kMinIndexMemoryMiB) + ".." +
              std::to_string(kMaxIndexMemoryMiB) + Default(d.max_index_memory / kMiB));
  a.o_hash_power = opt("-e,--hash-power", a.hash_power, "N",
                       "accepted for fatcache compatibility, 0.." + std::to_string(kMaxHashPower) +
                           "; the index is sized by -i" + Default(d.hash_power));
  a.o_max_aio =
      opt("--max-aio", a.max_aio, "N",
          "most disk IOs in flight at once, 1.." + std::to_string(kMaxAio) + Default(d.max_aio));

  a.o_journal_size = opt("--journal-size", a.journal_size, "SIZE",
                         "crash journal on the device (K/M/G suffix), 0 or a multiple of 4K from " +
                             FormatSize(kMinJournalSize) + " to " + FormatSize(kMaxJournalSize) +
                             "; 0 = none: after a crash a key may come back with an older value" +
                             Default(FormatSize(d.journal_size)));
  a.o_journal_sync =
      opt("--journal-sync", a.journal_sync, "process|device",
          "when a journal entry counts as committed: process = stored in the page cache (survives "
          "SIGKILL, no reply waits), device = written to the device first (survives power loss, "
          "an overwrite of an on-device key waits for a 4K write)" +
              Default(JournalSyncName(d.journal_sync)));

  a.o_verbose = app.add_flag(
      "-v,--verbose", a.verbosity,
      "more logging; repeat for more (-vv, -vvv)" + Default(std::to_string(d.verbosity)));
  a.o_log_file = opt(
      "-o,--log-file", a.log_file, "PATH",
      "write the log to PATH" + Default(d.log_file.empty() ? std::string("stderr") : d.log_file));
  a.o_daemonize = app.add_flag(
      "-d,--daemonize", a.daemonize,
      "run in the background" + Default(d.daemonize ? std::string("on") : std::string("off")));
  a.o_format = app.add_flag("--format", a.format,
                            "wipe the device and start empty, even if it holds another format" +
                                Default(std::string("off")));
  a.o_user = opt("-u,--user", a.user, "USER",
                 "drop root privileges to USER once the device and the socket are open" +
                     Default(d.user.empty() ? std::string("none") : d.user));
  a.o_pid_file = opt("-P,--pid-file", a.pid_file, "PATH",
                     "write the process id to PATH" +
                         Default(d.pid_file.empty() ? std::string("none") : d.pid_file));
}

// Converts and checks every given flag into `c`, then the combinations. Returns "" when valid.
std::string Validate(const RawArgs& a, Config& c) {
  Checker k;

  k.Integer(a.o_port, a.port, 0, 65535, c.port);
  if (k.ok() && a.o_addr->count() > 0) {
    if (!IsIpv4Address(a.addr)) {
      k.Fail(a.o_addr->get_name(),
             "invalid address '" + a.addr + "' (expected a numeric IPv4 address)");
    } else {
      c.listen_addr = a.addr;
    }
  }
  k.Integer(a.o_max_connections, a.max_connections, 1, kMaxConnections, c.max_connections);
  k.Integer(a.o_idle_timeout, a.idle_timeout, 0, kMaxIdleTimeout, c.idle_timeout_s);

  k.NonEmpty(a.o_device, a.device, c.device_path);
  if (k.ok() && a.o_device_size->count() > 0) {
    const std::string flag = a.o_device_size->get_name();
    auto v = ParseSize(a.device_size);
    if (!v) {
      k.Fail(flag, "invalid size '" + a.device_size +
                       "' (expected a number with an optional K, M, G or T suffix)");
    } else if (*v < kMinDeviceSize || *v > kMaxDeviceSize) {
      k.Fail(flag, "size '" + a.device_size + "' is out of range (expected " +
                       FormatSize(kMinDeviceSize) + " to " + FormatSize(kMaxDeviceSize) + ")");
    } else {
      c.device_size = *v;
    }
  }
  if (k.ok() && a.o_server_id->count() > 0) {
    const std::string flag = a.o_server_id->get_name();
    const std::string& s = a.server_id;
    const size_t slash = s.find('/');
    std::optional<uint64_t> i, n;
    if (slash != std::string::npos) {
      i = ParseUnsigned(std::string_view(s).substr(0, slash));
      n = ParseUnsigned(std::string_view(s).substr(slash + 1));
    }
    if (!i || !n) {
      k.Fail(flag, "invalid value '" + s + "' (expected I/N, e.g. 0/1 or 2/4)");
    } else if (*n < 1 || *n > kMaxServerCount) {
      k.Fail(flag, "invalid value '" + s + "' (N must be from 1 to " +
                       std::to_string(kMaxServerCount) + ")");
    } else if (*i >= *n) {
      k.Fail(flag, "invalid value '" + s + "' (I is 0-based and must be below N)");
    } else {
      c.server_id = static_cast<uint32_t>(*i);
      c.server_count = static_cast<uint32_t>(*n);
    }
  }

  k.Mebibytes(a.o_max_memory, a.max_memory, kMinMaxMemoryMiB, kMaxMemoryMiB, c.max_memory);
  if (k.ok() && a.o_slab_size->count() > 0) {
    const std::string flag = a.o_slab_size->get_name();
    auto v = ParseSize(a.slab_size, kMiB);
    if (!v) {
      k.Fail(flag, "invalid size '" + a.slab_size +
                       "' (expected MiB as a plain number, or a size with a K or M suffix)");
    } else if (*v < kMinSlabSize || *v > kMaxSlabSize || !std::has_single_bit(*v)) {
      k.Fail(flag, "'" + a.slab_size + "' (" + FormatSize(*v) + ") is not a power of two from " +
                       FormatSize(kMinSlabSize) + " to " + FormatSize(kMaxSlabSize));
    } else {
      c.slab_size = static_cast<uint32_t>(*v);
    }
  }
  if (k.ok() && a.o_factor->count() > 0) {
    double f = 0;
    const std::string& s = a.factor;
    // from_chars is locale-independent; a leading sign or blank is refused like for integers.
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), f);
    const bool parsed =
        !s.empty() && s[0] != '-' && ec == std::errc() && ptr == s.data() + s.size();
    if (!parsed || !std::isfinite(f) || f <= 1.0 || f > kMaxFactor) {
      k.Fail(a.o_factor->get_name(), "invalid value '" + s + "' (expected a number > 1 and <= " +
                                         FormatFactor(kMaxFactor) + ")");
    } else {
      c.factor = f;
    }
  }
  k.Integer(a.o_min_item_size, a.min_item_size, kMinItemSize, kMaxSlabSize / 2, c.min_item_size);
  if (k.ok() && a.o_slab_profile->count() > 0) {
    const std::string flag = a.o_slab_profile->get_name();
    std::vector<uint32_t> sizes;
    std::string_view rest = a.slab_profile;
    while (k.ok()) {
      const size_t comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      auto v = ParseSize(item);
      if (!v || *v == 0 || *v > kMaxSlabSize) {
        k.Fail(flag, "invalid size '" + std::string(item) + "' in '" + a.slab_profile +
                         "' (expected comma-separated sizes from 1 to " + FormatSize(kMaxSlabSize) +
                         ", K/M suffix allowed)");
      } else if (!sizes.empty() && RoundUp8(*v) <= RoundUp8(sizes.back())) {
        k.Fail(flag,
               "sizes must be strictly increasing (after rounding up to a multiple of 8), "
               "but " +
                   std::string(item) + " follows " + std::to_string(sizes.back()) + " in '" +
                   a.slab_profile + "'");
      } else if (sizes.size() == kMaxProfileSizes) {
        k.Fail(flag, "more than " + std::to_string(kMaxProfileSizes) + " sizes in '" +
                         a.slab_profile + "'");
      } else {
        sizes.push_back(static_cast<uint32_t>(*v));
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (k.ok()) c.slab_profile = std::move(sizes);
  }
  k.Mebibytes(a.o_max_index_memory, a.max_index_memory, kMinIndexMemoryMiB, kMaxIndexMemoryMiB,
              c.max_index_memory);
  k.Integer(a.o_hash_power, a.hash_power, 0, kMaxHashPower, c.hash_power);
  k.Integer(a.o_max_aio, a.max_aio, 1, kMaxAio, c.max_aio);
  if (k.ok() && a.o_journal_size->count() > 0) {
    auto v = ParseSize(a.journal_size);
    if (!v || (*v != 0 && (*v < kMinJournalSize || *v > kMaxJournalSize || *v % (4 * kKiB) != 0))) {
      k.Fail(a.o_journal_size->get_name(),
             "invalid size '" + a.journal_size + "' (expected 0 or a multiple of 4K from " +
                 FormatSize(kMinJournalSize) + " to " + FormatSize(kMaxJournalSize) + ")");
    } else {
      c.journal_size = *v;
    }
  }
  if (k.ok() && a.o_journal_sync->count() > 0) {
    if (a.journal_sync == "process") {
      c.journal_sync = storage::JournalSync::kProcess;
    } else if (a.journal_sync == "device") {
      c.journal_sync = storage::JournalSync::kDevice;
    } else {
      k.Fail(a.o_journal_sync->get_name(),
             "invalid value '" + a.journal_sync + "' (expected process or device)");
    }
  }

  if (k.ok() && a.o_verbose->count() > 0) c.verbosity = a.verbosity;
  k.NonEmpty(a.o_log_file, a.log_file, c.log_file);
  if (k.ok() && a.o_daemonize->count() > 0) c.daemonize = a.daemonize;
  if (k.ok() && a.o_format->count() > 0) c.format = a.format;
  k.NonEmpty(a.o_pid_file, a.pid_file, c.pid_file);
  k.NonEmpty(a.o_user, a.user, c.user);
  if (!k.ok()) return k.error();

  // Combinations. Each names the flag most likely to be adjusted.
  if (c.max_memory < kMinSlabsInMemory * c.slab_size) {
    k.Fail(a.o_max_memory->get_name(),
           std::to_string(c.max_memory / kMiB) + " MiB holds fewer than " +
               std::to_string(kMinSlabsInMemory) + " slabs of " + FormatSize(c.slab_size) +
               " (-I); use at least " +
               std::to_string((kMinSlabsInMemory * c.slab_size + kMiB - 1) / kMiB) + " MiB");
  }
  if (c.min_item_size > c.slab_size / 2) {
    k.Fail(a.o_min_item_size->get_name(), std::to_string(c.min_item_size) +
                                              " is more than half the slab size " +
                                              FormatSize(c.slab_size) + " (-I)");
  }
  if (!c.slab_profile.empty()) {
    if (c.slab_profile.front() < c.min_item_size) {
      k.Fail(a.o_slab_profile->get_name(), "first size " + std::to_string(c.slab_profile.front()) +
                                               " is below the minimum item size " +
                                               std::to_string(c.min_item_size) + " (-n)");
    }
    if (RoundUp8(c.slab_profile.back()) > LargestChunk(c.slab_size)) {
      k.Fail(a.o_slab_profile->get_name(),
             "size " + std::to_string(c.slab_profile.back()) + " does not fit in a slab of " +
                 FormatSize(c.slab_size) + " (-I), whose largest chunk is " +
                 std::to_string(LargestChunk(c.slab_size)) + " bytes");
    }
  } else if (GeometricClassCount(c.min_item_size, c.factor, LargestChunk(c.slab_size)) >
             storage::SlabClasses::kMaxClasses) {
    k.Fail(a.o_factor->get_name(), FormatFactor(c.factor) + " gives more than " +
                                       std::to_string(storage::SlabClasses::kMaxClasses) +
                                       " slab classes from " + std::to_string(c.min_item_size) +
                                       " bytes (-n) to " + FormatSize(c.slab_size) +
                                       " (-I); use a larger factor or -n");
  }
  return k.error();
}

}  // namespace

const char* JournalSyncName(storage::JournalSync sync) {
  return sync == storage::JournalSync::kDevice ? "device" : "process";
}

ParseResult ParseCommandLine(int argc, const char* const* argv, Config& config, std::string& out,
                             std::string& error) {
  out.clear();
  error.clear();
  // Any exception, CLI11's or bad_alloc, becomes an error line: the caller only ever sees a result.
  try {
    CLI::App app("ssdcached: a memcached-compatible cache server that keeps items on SSD.",
                 "ssdcached");
    app.get_formatter()->column_width(36);
    app.footer(
        "SIZE is bytes with an optional K, M, G or T suffix in binary units (1K = 1024). MiB "
        "flags take a plain number of MiB.");
    app.set_version_flag("-V,--version", std::string("ssdcached ") + SSDCACHE_VERSION,
                         "print the version and exit");

    RawArgs raw;
    DefineOptions(app, raw, config);

    static const char* const kNoArgs[] = {"ssdcached", nullptr};
    try {
      if (argc < 1 || argv == nullptr) {
        app.parse(1, kNoArgs);
      } else {
        app.parse(argc, argv);
      }
    } catch (const CLI::CallForHelp&) {
      out = app.help();
      return ParseResult::kExit;
    } catch (const CLI::CallForAllHelp&) {
      out = app.help("", CLI::AppFormatMode::All);
      return ParseResult::kExit;
    } catch (const CLI::CallForVersion& e) {
      out = std::string(e.what()) + "\n";
      return ParseResult::kExit;
    } catch (const CLI::ParseError& e) {
      error = OneLine(e.what());
      if (error.empty()) error = "invalid command line";
      return ParseResult::kError;
    }

    Config parsed = config;
    error = Validate(raw, parsed);
    if (!error.empty()) return ParseResult::kError;
    config = std::move(parsed);
    return ParseResult::kRun;
  } catch (const std::exception& e) {
    error = OneLine(std::string("command line: ") + e.what());
  } catch (...) {
    error = "command line: unexpected error";
  }
  out.clear();
  return ParseResult::kError;
}

}  // namespace ssdcache::server
