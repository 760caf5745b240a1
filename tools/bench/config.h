// The command line of ssdcache-bench: every flag, its default and its validation. Parsing is pure
// (no sockets, no name resolution) so it can be tested; errors are one line naming the flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "key_dist.h"
#include "sizes.h"

namespace ssdcache::bench {

struct ServerAddr {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};

enum class Method { kGet, kSet, kMixed };

struct Config {
  std::vector<ServerAddr> servers;
  uint32_t num_conns = 1;
  double conn_rate = 0;    // new connections per second; 0 = all at once
  uint64_t num_calls = 0;  // measured requests; 0 = bounded by duration only
  double duration_s = 0;   // measured seconds; 0 = bounded by num_calls only
  double call_rate = 0;    // requests per second overall; 0 = closed loop
  uint32_t pipeline = 1;
  Method method = Method::kMixed;
  double set_ratio = 0.1;
  SizeSpec sizes;
  uint64_t key_space = 10000;
  KeyDistSpec key_dist;
  std::string key_prefix = "bench:";
  double warmup_s = 0;
  bool preload = false;
  bool verify = false;
  std::string json_path;
  uint32_t timeout_ms = 1000;
  bool quiet = false;
  uint64_t seed = 1;

  // Zero-padded digits of the largest key id, so every key has the same length.
  int KeyWidth() const;
  std::string MethodString() const;
};

inline constexpr uint64_t kMaxKeySpace = 1'000'000'000'000ULL;
inline constexpr uint32_t kMaxConns = 65536;
inline constexpr uint32_t kMaxPipeline = 4096;
// Without --num-calls or --duration a run lasts this long.
inline constexpr double kDefaultDurationS = 10;

enum class ParseOutcome { kRun, kHelp, kError };

// argv[0] is skipped. On kError, *error is one line naming the offending flag.
ParseOutcome ParseArgs(int argc, const char* const* argv, Config* config, std::string* error);

std::string HelpText();

}  // namespace ssdcache::bench
