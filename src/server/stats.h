// Protocol-level counters of the server, named as memcached names them in `stats`. Owned by the
// Server and updated by its connections; the engine keeps its own (storage::EngineStats).
//
// `stats` is one table (kStatRows in stats.cc): each row names a stat, where its value comes from
// and whether `stats reset` clears it; the table drives both the output, in its order, and the
// reset of the server's counters (the engine resets its own, Engine::ResetStats).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/histogram.h"

namespace ssdcache::net {
class EventLoop;
}
namespace ssdcache::storage {
class Device;
class Engine;
}  // namespace ssdcache::storage

namespace ssdcache::server {

// Request kinds whose latency `stats latency` reports: from the moment a request was parsed to the
// moment its reply was queued (for a get of an item on the device: until that key's reply), and
// kGetDeviceSend, the last stage of such a get: from its reply queued to its last byte handed to
// the socket (replies leave in order, so it includes waiting behind earlier ones).
enum class LatencyKind : uint8_t {
  kGet,
  kGetDevice,
  kSet,
  kDelete,
  kArith,
  kTouch,
  kMeta,
  kOther,
  kGetDeviceSend
};
inline constexpr size_t kLatencyKinds = 9;
inline constexpr std::array<std::string_view, kLatencyKinds> kLatencyNames = {
    "get", "get_device", "set", "delete", "arith", "touch", "meta", "other", "get_device_send"};

struct ServerStats {
  std::array<util::Histogram, kLatencyKinds> latency;
  uint64_t total_connections = 0;
  uint64_t rejected_connections = 0;
  uint64_t cmd_get = 0;  // keys looked up by get/gets/gat/gats
  uint64_t cmd_set = 0;  // storage commands
  uint64_t cmd_flush = 0;
  uint64_t cmd_touch = 0;
  uint64_t get_hits = 0;
  uint64_t get_misses = 0;
  uint64_t delete_hits = 0;
  uint64_t delete_misses = 0;
  uint64_t incr_hits = 0;
  uint64_t incr_misses = 0;
  uint64_t decr_hits = 0;
  uint64_t decr_misses = 0;
  uint64_t cas_hits = 0;
  uint64_t cas_misses = 0;
  uint64_t cas_badval = 0;
  uint64_t touch_hits = 0;
  uint64_t touch_misses = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t conn_yields = 0;      // a connection used up its per-turn budget and was deferred
  uint64_t idle_kicks = 0;       // connections closed by --idle-timeout
  uint64_t protocol_errors = 0;  // requests answered with ERROR / CLIENT_ERROR
};

// What `stats` reads.
struct StatSources {
  const ServerStats& server;
  const storage::Engine& engine;
  const storage::Device& device;
  const net::EventLoop& loop;
  uint32_t max_connections;
  uint64_t curr_connections;
  uint64_t connection_structures;
  uint32_t now;
  uint32_t started;
};

// The `stats` lines, "STAT name value\r\n" each, in memcached's order then ssdcache's own.
void AppendStatRows(const StatSources& sources, std::string& out);
// Zeroes every server counter whose row says `stats reset` clears it, and the latencies.
void ResetServerStats(ServerStats& stats);

}  // namespace ssdcache::server
