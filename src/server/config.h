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
#include <vector>

#include "server/migration.h"
#include "server/tls_options.h"
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

// How a connection's protocol is chosen (-B): by its first byte (0x80: binary), or forced.
enum class WireProtocol : uint8_t { kAuto, kAscii, kBinary };

// Network and device: X(member, type, default, flags, metavar, kind, stat, help), in --help order.
// tcpport and device_size are in `stats settings` as the server found them (port 0, block device).
// Letters that memcached and fatcache use differently (-a -s -D -o -e -i -I -n) reach these rows
// through server/migration.h, which tells the two apart by the argument's shape.
#define SSDCACHE_SERVER_OPTIONS(X)                                                                 \
  X(port, uint16_t, 11211, "-p,--port", "PORT", (util::Integer{0, 65535}), "",                     \
    "TCP port to listen on; 0 lets the kernel pick one")                                           \
  X(listen, std::vector<util::ListenAddress>, std::vector<util::ListenAddress>(),                  \
    "-l,--listen,--addr", "ADDR", util::ListenList(), "inter",                                     \
    "addresses to listen on, one socket each: IPv4, IPv6 ([::1]), host names (every address "      \
    "they resolve to), ADDR:PORT; a list or several -l add up (fatcache's -a ADDR too); none "     \
    "given: 127.0.0.1, or only the unix socket if there is one")                                   \
  X(unix_socket, std::string, "", "--unix-socket", "PATH", (util::Text{"none"}), "domain_socket",  \
    "listen on a unix socket (memcached's -s PATH); TCP too only if -l is given")                  \
  X(unix_mask, uint32_t, 0700, "--unix-mask", "MODE", (util::Octal{0777}), "umask",                \
    "access mode of the unix socket (memcached's -a MODE)")                                        \
  X(listen_backlog, uint32_t, 1024, "-b,--listen-backlog", "N", (util::Integer{1, 1U << 20}),      \
    "tcp_backlog", "listen backlog of each socket (the kernel caps it at somaxconn)")              \
  X(protocol, WireProtocol, WireProtocol::kAuto, "-B,--protocol", "auto|ascii|binary",             \
    (util::Choice<WireProtocol>{{"auto-negotiate", WireProtocol::kAuto},                           \
                                {"auto", WireProtocol::kAuto},                                     \
                                {"ascii", WireProtocol::kAscii},                                   \
                                {"binary", WireProtocol::kBinary}}),                               \
    "binding_protocol", "protocol: auto = by each connection's first byte, or forced")             \
  X(max_connections, uint32_t, 1024, "-c,--max-connections,--conn-limit", "N",                     \
    (util::Integer{1, kMaxConnections}), "maxconns", "most simultaneous client connections")       \
  X(idle_timeout_s, uint32_t, 0, "--idle-timeout", "SECONDS", (util::Integer{0, kMaxIdleTimeout}), \
    "idle_timeout", "close connections idle this long, 0 = never (memcached's -o idle_timeout)")   \
  X(reqs_per_event, uint32_t, 64, "-R,--max-reqs-per-event", "N", (util::Integer{1, 1U << 20}),    \
    "reqs_per_event", "most requests of one connection served per loop turn")                      \
  X(disable_flush_all, bool, false, "-F,--disable-flush-all", "", (util::Flag{"yes", "no"}),       \
    "flush_enabled", "refuse flush_all (CLIENT_ERROR flush_all not allowed)")                      \
  X(disable_dumping, bool, false, "-X,--disable-dumping", "", (util::Flag{"yes", "no"}),           \
    "dump_enabled", "refuse the key dump commands (stats cachedump, lru_crawler metadump)")        \
  X(enable_shutdown, bool, false, "-A,--enable-shutdown", "", util::Flag(), "shutdown_command",    \
    "allow the shutdown command (a clean stop, as SIGTERM)")                                       \
  X(metrics_port, uint32_t, 0, "--metrics-port", "PORT", (util::Integer{0, 65535}),                \
    "metrics_port",                                                                                \
    "serve every stat in the Prometheus text format at http://ADDR:PORT/metrics; 0 = off")         \
  X(metrics_addr, std::string, "127.0.0.1", "--metrics-addr", "ADDR", (util::Text{"127.0.0.1"}),   \
    "metrics_addr", "address of the metrics endpoint (a host name: every address it has)")         \
  X(device_path, std::string, "./data/ssdcache.dat", "-D,--device", "PATH", (util::Text{"none"}),  \
    "device", "block device or file holding the disk slabs (a file is created if missing)")        \
  X(device_size, uint64_t, 1ULL << 30, "--device-size", "SIZE",                                    \
    (util::Size{kMinDeviceSize, kMaxDeviceSize}), "",                                              \
    "size of a regular file (a block device's own size is used)")                                  \
  X(slice, util::Slice, util::Slice(), "-s,--server-id", "I/N", (util::SliceOf{kMaxServerCount}),  \
    "server_id", "use slice I (0-based) of N equal slices of the device")

// Indexing, IO and the process, after the engine's rows.
#define SSDCACHE_PROCESS_OPTIONS(X)                                                         \
  X(hash_power, uint32_t, 0, "-e,--hash-power", "N", (util::Integer{0, kMaxHashPower}), "", \
    "accepted for fatcache compatibility; the index is sized by -i")                        \
  X(max_aio, uint32_t, 1024, "--max-aio", "N", (util::Integer{1, kMaxAio}), "max_aio",      \
    "most disk IOs in flight at once")                                                      \
  X(verbosity, int, 0, "-v,--verbose", "", util::Count(), "verbosity",                      \
    "more logging: -v debug (connections), -vv and more trace (every request)")             \
  X(log_file, std::string, "", "-o,--log-file", "PATH", (util::Text{"stderr"}), "",         \
    "write the log to PATH (-o with memcached's NAME[=VALUE] shape is memcached's -o)")     \
  X(daemonize, bool, false, "-d,--daemonize,--daemon", "", util::Flag(), "",                \
    "run in the background")                                                                \
  X(format, bool, false, "--format", "", util::Flag(), "",                                  \
    "wipe the device and start empty, even if it holds another format")                     \
  X(user, std::string, "", "-u,--user", "USER", (util::Text{"none"}), "",                   \
    "drop root privileges to USER once the device and the socket are open")                 \
  X(pid_file, std::string, "", "-P,--pid-file,--pidfile", "PATH", (util::Text{"none"}), "", \
    "write the process id to PATH")                                                         \
  X(core_dumps, bool, false, "-r,--enable-coredumps", "", util::Flag(), "",                 \
    "raise the core file size limit to its maximum")                                        \
  X(lock_memory, bool, false, "-k,--lock-memory", "", util::Flag(), "",                     \
    "lock all memory (mlockall); a warning if not permitted")

// memcached's flags that have no effect here, accepted so that its command lines run; each one
// given logs one line saying so (except a value that asks for what ssdcached does). -S and -Y are
// refused: running without the authentication they ask for would mislead. Last, the flags that
// print something and exit (--license, --help-man).
#define SSDCACHE_COMPAT_OPTIONS(X)                                                                 \
  X(threads, uint32_t, 1, "-t,--threads", "N",                                                     \
    (util::Noted<util::Integer>{{1, 1024}, "-t: one event loop serves every connection", 1}), "",  \
    "accepted for memcached compatibility: one loop serves all")                                   \
  X(udp_port, uint32_t, 0, "-U,--udp-port", "PORT",                                                \
    (util::Noted<util::Integer>{{0, 65535}, "-U: UDP is not served", 0}), "udpport",               \
    "accepted for memcached compatibility: no UDP")                                                \
  X(large_pages, bool, false, "-L,--enable-largepages", "",                                        \
    (util::Noted<util::Flag>{{}, "-L: large pages are not requested"}), "",                        \
    "accepted for memcached compatibility")                                                        \
  X(disable_watch, bool, false, "-W,--disable-watch", "", util::Flag(), "",                        \
    "accepted for memcached compatibility: there is no watch command")                             \
  X(napi_ids, uint32_t, 0, "-N,--napi_ids", "N",                                                   \
    (util::Noted<util::Integer>{{0, 1024}, "-N: NAPI ids are not used"}), "",                      \
    "accepted for memcached compatibility")                                                        \
  X(memory_file, std::string, "", "--memory-file", "PATH",                                         \
    (util::Noted<util::Text>{{"none"},                                                             \
                             "--memory-file (memcached's -e): not used; ssdcached restarts warm "  \
                             "from its device"}),                                                  \
    "", "accepted for memcached compatibility (memcached's -e PATH)")                              \
  X(stats_delimiter, std::string, "", "--stats-delimiter", "C",                                    \
    (util::Noted<util::Text>{{"none"},                                                             \
                             "-D C (memcached's stats prefix delimiter): per-prefix "              \
                             "stats are not kept"}),                                               \
    "", "accepted for memcached compatibility (memcached's -D C)")                                 \
  X(extended, std::vector<std::string>, std::vector<std::string>(), "--extended", "NAME[=V],...",  \
    ExtendedOptions(), "", "memcached's other -o options, accepted without effect")                \
  X(sasl, bool, false, "-S,--enable-sasl", "",                                                     \
    (util::Refused{"SASL authentication is not supported"}), "", "refused: SASL is not supported") \
  X(auth_file, std::string, "", "-Y,--auth-file", "FILE",                                          \
    (util::RefusedValue{"ASCII authentication is not supported"}), "",                             \
    "refused: authentication is not supported")                                                    \
  X(license, bool, false, "--license", "", util::Flag(), "",                                       \
    "print where the licenses are and exit (memcached's -i)")                                      \
  X(help_man, bool, false, "--help-man", "", util::Flag(), "",                                     \
    "print this help as the ssdcached(1) man page (roff) and exit")

// TLS as memcached's -Z and its -o ssl_* options (server/migration.h turns those into these
// flags); stats names and values as memcached prints them. server/tls.h uses them.
#define SSDCACHE_TLS_OPTIONS(X)                                                                 \
  X(tls, bool, false, "-Z,--enable-ssl", "", util::Flag(), "ssl_enabled",                       \
    "serve TLS on every TCP listener (not the unix socket); needs --ssl-chain-cert")            \
  X(ssl_chain_cert, std::string, "", "--ssl-chain-cert", "PATH", (util::Text{"(null)"}),        \
    "ssl_chain_cert", "certificate chain, PEM (memcached's -o ssl_chain_cert=)")                \
  X(ssl_key, std::string, "", "--ssl-key", "PATH", (util::Text{"(null)"}), "ssl_key",           \
    "private key; none: the one in the chain file (-o ssl_key=)")                               \
  X(ssl_keyformat, uint32_t, 1, "--ssl-keyformat", "N", (util::Integer{1, 2}), "ssl_keyformat", \
    "format of the key file: 1 PEM, 2 DER (-o ssl_keyformat=)")                                 \
  X(ssl_verify_mode, uint32_t, 0, "--ssl-verify-mode", "N", TlsVerifyMode(), "ssl_verify_mode", \
    "client certificates: 0 not asked, 1 asked, 2 required, 3 required once (-o "               \
    "ssl_verify_mode=)")                                                                        \
  X(ssl_ca_cert, std::string, "", "--ssl-ca-cert", "PATH", (util::Text{"NULL"}), "ssl_ca_cert", \
    "CA certificates (PEM) that client certificates must chain to (-o ssl_ca_cert=)")           \
  X(ssl_ciphers, std::string, "", "--ssl-ciphers", "LIST", (util::Text{"NULL"}), "ssl_ciphers", \
    "OpenSSL cipher list for TLS 1.2 and older (-o ssl_ciphers=)")                              \
  X(ssl_min_version, uint32_t, 2, "--ssl-min-version", "N", TlsMinVersion(), "ssl_min_version", \
    "oldest TLS version accepted (-o ssl_min_version=)")

struct Config {
  SSDCACHE_SERVER_OPTIONS(SSDCACHE_OPTION_MEMBER)
  storage::EngineOptions engine;
  SSDCACHE_PROCESS_OPTIONS(SSDCACHE_OPTION_MEMBER)
  SSDCACHE_TLS_OPTIONS(SSDCACHE_OPTION_MEMBER)
  SSDCACHE_COMPAT_OPTIONS(SSDCACHE_OPTION_MEMBER)
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
    SSDCACHE_TLS_OPTIONS(SSDCACHE_OPTION_VISIT)
    SSDCACHE_COMPAT_OPTIONS(SSDCACHE_OPTION_VISIT)
  }
}

// The text around the flags, in --help and in the man page (server/manpage.h).
inline constexpr char kHelpDescription[] =
    "ssdcached: a memcached-compatible cache server that keeps items on SSD.";
inline constexpr char kHelpFooter[] =
    "SIZE is bytes with an optional K, M, G or T suffix in binary units (1K = 1024). MiB flags "
    "take a plain number of MiB.";

// One flag's --help text: the row's help line, the kind's bounds and the default (`value`).
template <typename Kind, typename T>
std::string OptionHelp(const util::OptionInfo& info, const Kind& kind, const T& value) {
  std::string help = info.help;
  if (const std::string bounds = kind.Bounds(); !bounds.empty()) help += ", " + bounds;
  return help + " (default: " + kind.Show(value) + ")";
}

enum class ParseResult {
  kRun,   // start the server with the parsed config
  kExit,  // --help, --help-man or --version was printed: exit 0
  kError  // `error` holds a one-line message naming the flag: exit 2
};

// Parses argv into `config` (starting from its defaults) and validates every value and their
// combination. Sizes accept K/M/G suffixes where bytes are meant; MiB flags take a plain number.
// Help and version text go to `out`; `notes` (when given) receives one-line warnings to log once
// the logger is up: compatibility flags without effect, shapes resolved with a change.
ParseResult ParseCommandLine(int argc, const char* const* argv, Config& config, std::string& out,
                             std::string& error, std::vector<std::string>* notes = nullptr);

// `stats settings` lines ("STAT name value\r\n") of every row that has a stat name.
void AppendSettings(const Config& config, std::string& out);

}  // namespace ssdcache::server
