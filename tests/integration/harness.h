// Integration-test harness: starts the real server binary (ssdcached, or Debian's memcached as the
// behavioural oracle) on a private loopback port and talks to it over blocking TCP sockets.
//
// Target selection: SSDCACHE_TEST_TARGET unset or "ssdcached" runs $SSDCACHED_BIN; "memcached" runs
// /usr/bin/memcached with equivalent settings (device flags are ignored).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ssdcache::integration {

enum class Target { kSsdcached, kMemcached };

// The target chosen by SSDCACHE_TEST_TARGET (read once).
Target CurrentTarget();
inline bool TargetIsMemcached() { return CurrentTarget() == Target::kMemcached; }
const char* TargetName(Target target);

// Skips the current test (call from the test body) when the target is memcached.
#define SKIP_UNLESS_SSDCACHED()                                               \
  do {                                                                        \
    if (::ssdcache::integration::TargetIsMemcached()) {                       \
      GTEST_SKIP() << "ssdcached-only test (SSDCACHE_TEST_TARGET=memcached)"; \
    }                                                                         \
  } while (0)

struct ServerOptions {
  // ssdcached only: --device-size (the device file lives in the server's own temp dir).
  std::string device_size = "64M";
  // -m: MiB of DRAM (ssdcached: memory slabs; memcached: the whole cache).
  int memory_mib = 8;
  // -c when > 0.
  int max_connections = 0;
  // memcached only: -I (item size limit), e.g. "2m"; empty = memcached's default (1m).
  std::string memcached_item_size;
  // Appended to the command line of ssdcached / of memcached respectively.
  std::vector<std::string> ssdcached_extra_args;
  std::vector<std::string> memcached_extra_args;
  // "NAME=VALUE" entries added to the server's environment (replacing a variable of that name
  // inherited from the test process), e.g. "SSDCACHE_FAULTS=read_eio=0.1".
  std::vector<std::string> env;
  // Which binary to run; defaults to CurrentTarget().
  std::optional<Target> target;
};

// One server process. The destructor always stops it (SIGTERM, then SIGKILL after 10 s) and
// removes its temp dir, so a failing test never leaks a server.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server on a fresh free port and waits (up to 10 s) until it accepts connections.
  // Retries a few times with another port if the server dies early (e.g. the port was taken).
  // Calling Start() after Stop() restarts it with the same temp dir (and so the same device file).
  ::testing::AssertionResult Start();

  // SIGTERM, wait up to 10 s, then SIGKILL. Returns the raw wait status (see ExitedWithZero()),
  // or -1 if the server was not running.
  int Stop();
  // SIGKILL and reap. Returns the raw wait status, or -1 if not running.
  int Kill();

  // Replaces ServerOptions::env for the next Start() (e.g. another SSDCACHE_BOOT_ID: a reboot).
  void set_env(std::vector<std::string> env) { options_.env = std::move(env); }

  bool running();  // reaps the child if it has exited
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  Target target() const { return target_; }
  const std::string& temp_dir() const { return temp_dir_; }
  std::string device_path() const { return temp_dir_ + "/dev.dat"; }
  std::string log_path() const { return temp_dir_ + "/server.log"; }
  // The last `max_bytes` of the server's stdout+stderr (for failure messages).
  std::string LogTail(size_t max_bytes = 4000) const;
  // The command line of the last start, for messages.
  std::string CommandLine() const;

 private:
  std::vector<std::string> BuildArgs() const;
  int WaitForExit(std::chrono::milliseconds timeout);  // -1 if still running

  ServerOptions options_;
  Target target_;
  std::string temp_dir_;
  std::vector<std::string> last_args_;
  pid_t pid_ = -1;
  int port_ = 0;
  int last_status_ = -1;
};

// True when a raw wait status means "exited normally with code 0".
bool ExitedWithZero(int status);
std::string DescribeStatus(int status);

// Runs the target binary with the given arguments to completion (no port, no readiness wait),
// capturing stdout+stderr. Kills it after `timeout`. Returns the raw wait status.
int RunToExit(const std::vector<std::string>& argv, std::string* output,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The ssdcached binary ($SSDCACHED_BIN).
std::string SsdcachedBinary();

// A blocking TCP client with receive/send timeouts, so a server bug fails a test instead of
// hanging it. Reads are buffered; every Read* returns what it got, and on timeout or close the
// partial result is returned and error() says why.
class Client {
 public:
  Client() = default;
  ~Client();
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ::testing::AssertionResult Connect(int port, std::chrono::seconds timeout = kDefaultTimeout);
  void Close();
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void SetNoDelay(bool on);

  // Writes all bytes (false on error/timeout).
  bool Send(std::string_view bytes);
  // Writes `bytes` in writes of at most `chunk` bytes each.
  bool SendChunked(std::string_view bytes, size_t chunk);

  // One line including its "\r\n" (or up to the first "\n").
  std::string ReadLine();
  std::string ReadExact(size_t n);
  // Everything up to and including the first occurrence of `terminator`.
  std::string ReadUntil(std::string_view terminator);
  // Everything until the peer closes the connection (or the timeout hits).
  std::string ReadUntilClosed();
  // Reads one retrieval reply (VALUE blocks parsed by their byte counts) up to "END\r\n", or a
  // single error line. Safe for values that contain "END\r\n".
  std::string ReadRetrievalReply();

  // Send(request) then ReadUntil(terminator).
  std::string Request(std::string_view request, std::string_view terminator = "\r\n");
  // Request(...) for a retrieval command (get/gets/gat/gats).
  std::string Get(std::string_view request);

  // Sends `request` from a helper thread while reading `expected_bytes` bytes of reply on this
  // thread, so a large pipelined request cannot deadlock against a server that stops reading
  // while its replies are not consumed.
  std::string Transact(std::string_view request, size_t expected_bytes);
  // Same, but reads until the peer closes (the request should end with "quit\r\n").
  std::string TransactUntilClosed(std::string_view request);

  // Returns whatever arrives within `wait` (does not fail on timeout). For "nothing came back".
  std::string Drain(std::chrono::milliseconds wait);

  // Why the last read came back short ("" if it did not).
  const std::string& error() const { return error_; }
  bool peer_closed() const { return peer_closed_; }

  // "stats" (or "stats <arg>") parsed into name -> value; empty on a malformed reply.
  std::map<std::string, std::string> Stats(std::string_view arg = "");

  static constexpr std::chrono::seconds kDefaultTimeout{10};

 private:
  // Reads more bytes into buf_; false on timeout/close/error (error_ set).
  bool Fill();
  std::string Take(size_t n);

  int fd_ = -1;
  std::string buf_;
  std::string error_;
  bool peer_closed_ = false;
};

// What a "version" reply looks like, from ssdcached or memcached.
inline constexpr char kVersionLine[] = "VERSION [^ \r\n]+\r\n";

// The stat `name` of a "stats" reply as a number; a failure (and -1) when it is missing or not a
// number.
int64_t StatNum(const std::map<std::string, std::string>& stats, const std::string& name);

// Raises RLIMIT_NOFILE's soft limit to at least `wanted` (within the hard limit). Returns the new
// soft limit.
uint64_t RaiseFileLimit(uint64_t wanted);

// "VALUE <key> <flags> <bytes>\r\n<data>\r\n" (with " <cas>" when cas is given).
std::string ValueBlock(std::string_view key, uint32_t flags, std::string_view data,
                       std::optional<uint64_t> cas = std::nullopt);

// Escapes control characters for readable failure messages; long strings are shortened.
std::string Printable(std::string_view bytes, size_t max_len = 2000);

// Parses the cas unique of a "gets" reply with a single VALUE line; nullopt if none.
std::optional<uint64_t> ParseCas(std::string_view gets_reply);

// One "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" block of a retrieval reply.
struct ParsedValue {
  std::string key;
  uint32_t flags = 0;
  std::string_view data;  // into the reply
};
// Takes the VALUE block at the front of `reply` off it; false (reply untouched) if there is none
// or it is malformed or cut short.
bool PopValue(std::string_view& reply, ParsedValue& out);

// Passes when `actual` equals one of `options`.
::testing::AssertionResult EqualsAnyOf(const std::string& actual,
                                       std::initializer_list<std::string> options);
// Passes when `actual` matches the ECMAScript regex `pattern` as a whole.
::testing::AssertionResult FullyMatches(const std::string& actual, const std::string& pattern);

// A temp directory under $TMPDIR or /var/tmp (never /dev/shm: the server uses O_DIRECT).
std::string MakeTempDir(std::string_view prefix);

}  // namespace ssdcache::integration
