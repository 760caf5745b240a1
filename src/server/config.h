// The server's configuration: every command-line flag, parsed and validated once at start-up.
// Objects are only ever built from a Config that ParseCommandLine() accepted.
//
// Each setting is one row of an option table (util/option.h for the columns): the server's own
// below, the engine's in storage/engine_options.h (Config::engine). The rows drive the members and
// their defaults, the flags and --help, validation and `stats settings`; adding a flag is adding
// a row.
#pragma once

#include <cstdint>
#include <string>

#include "storage/engine_options.h"
#include "util/option.h"

namespace ssdcache::server {

// Bounds of the server's own settings (the engine's are in storage/engine_options.h).
inline constexpr uint64_t kMaxConnections = 1ULL << 20;
inline constexpr uint64_t kMaxIdleTimeout = 30ULL * 24 * 3600;  // memcached's exptime horizon
inline constexpr uint64_t kMinDeviceSize = 8 * util::kMiB;
inline constexpr uint64_t kMaxDeviceSize = 1024 * util::kTiB;
inline constexpr uint64_t kMaxServerCount = 1024;
inline constexpr uint64_t kMaxHashPower = 40;
inline constexpr uint64_t kMaxAio = 4096;

// Network and device: X(member, type, default, flags, metavar, kind, stat, help), in --help order.
// tcpport and device_size are in `stats settings` as the server found them (port 0, block device).
#define SSDCACHE_SERVER_OPTIONS(X)                                                                 \
  X(port, uint16_t, 11211, "-p,--port", "PORT", (util::Integer{0, 65535}), "",                     \
    "TCP port to listen on; 0 lets the kernel pick one")                                           \
  X(listen_addr, std::string, "127.0.0.1", "-a,--addr,-l,--listen", "ADDR", util::Ipv4(),          \
    "interface", "numeric IPv4 address to listen on")                                              \
  X(max_connections, uint32_t, 1024, "-c,--max-connections", "N",                                  \
    (util::Integer{1, kMaxConnections}), "maxconns", "most simultaneous client connections")       \
  X(idle_timeout_s, uint32_t, 0, "--idle-timeout", "SECONDS", (util::Integer{0, kMaxIdleTimeout}), \
    "idle_time", "close connections idle this long, 0 = never")                                    \
  X(device_path, std::string, "./data/ssdcache.dat", "-D,--device", "PATH", (util::Text{"none"}),  \
    "device", "block device or file holding the disk slabs (a file is created if missing)")        \
  X(device_size, uint64_t, 1ULL << 30, "--device-size", "SIZE",                                    \
    (util::Size{kMinDeviceSize, kMaxDeviceSize}), "",                                              \
    "size of a regular file (a block device's own size is used)")                                  \
  X(slice, util::Slice, util::Slice(), "-s,--server-id", "I/N", (util::SliceOf{kMaxServerCount}),  \
    "server_id", "use slice I (0-based) of N equal slices of the device")

// Indexing, IO and the process, after the engine's rows.
#define SSDCACHE_PROCESS_OPTIONS(X)                                                          \
  X(hash_power, uint32_t, 0, "-e,--hash-power", "N", (util::Integer{0, kMaxHashPower}), "",  \
    "accepted for fatcache compatibility; the index is sized by -i")                         \
  X(max_aio, uint32_t, 1024, "--max-aio", "N", (util::Integer{1, kMaxAio}), "max_aio",       \
    "most disk IOs in flight at once")                                                       \
  X(verbosity, int, 0, "-v,--verbose", "", util::Count(), "verbosity",                       \
    "more logging; repeat for more (-vv, -vvv)")                                             \
  X(log_file, std::string, "", "-o,--log-file", "PATH", (util::Text{"stderr"}), "",          \
    "write the log to PATH")                                                                 \
  X(daemonize, bool, false, "-d,--daemonize", "", util::Flag(), "", "run in the background") \
  X(format, bool, false, "--format", "", util::Flag(), "",                                   \
    "wipe the device and start empty, even if it holds another format")                      \
  X(user, std::string, "", "-u,--user", "USER", (util::Text{"none"}), "",                    \
    "drop root privileges to USER once the device and the socket are open")                  \
  X(pid_file, std::string, "", "-P,--pid-file", "PATH", (util::Text{"none"}), "",            \
    "write the process id to PATH")

struct Config {
  SSDCACHE_SERVER_OPTIONS(SSDCACHE_OPTION_MEMBER)
  storage::EngineOptions engine;
  SSDCACHE_PROCESS_OPTIONS(SSDCACHE_OPTION_MEMBER)
};

// Calls v(member, util::OptionInfo, kind) for every row of every table, in --help order; `c` may
// be const.
template <typename C, typename V>
void VisitOptions(C& c, V&& v) {
  {
    auto& o = c;
    SSDCACHE_SERVER_OPTIONS(SSDCACHE_OPTION_VISIT)
  }
  storage::VisitEngineOptions(c.engine, v);
  {
    auto& o = c;
    SSDCACHE_PROCESS_OPTIONS(SSDCACHE_OPTION_VISIT)
  }
}

enum class ParseResult {
  kRun,   // start the server with the parsed config
  kExit,  // --help or --version was printed: exit 0
  kError  // `error` holds a one-line message naming the flag: exit 2
};

// Parses argv into `config` (starting from its defaults) and validates every value and their
// combination. Sizes accept K/M/G suffixes where bytes are meant; MiB flags take a plain number.
// Help and version text go to `out`.
ParseResult ParseCommandLine(int argc, const char* const* argv, Config& config, std::string& out,
                             std::string& error);

// `stats settings` lines ("STAT name value\r\n") of every row that has a stat name.
void AppendSettings(const Config& config, std::string& out);

}  // namespace ssdcache::server
