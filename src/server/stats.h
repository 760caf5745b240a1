// Protocol-level counters of the server, named as memcached names them in `stats`. Owned by the
// Server and updated by its connections; the engine keeps its own (storage::EngineStats).
//
// `stats` is one table (kStatRows in stats.cc): each row names a stat, where its value comes from
// and whether `stats reset` clears it; the table drives both the output, in its order, and the
// reset of the server's counters. The engine's rows read its counters (storage::EngineStats,
// every one zeroed by Engine::ResetStats) or its gauges (storage::EngineGauges, never reset): a
// test checks that every row the table says clears reads 0 after both resets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/slab_class.h"
#include "util/histogram.h"

namespace ssdcache::net {
class EventLoop;
}
namespace ssdcache::storage {
class Device;
class Engine;
struct ClassStats;
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

// What memcached counts per slab class (`stats slabs`, and hits_to_* in `stats items`), in the
// class of the item a command found (hits) or of the item it stores (cmd_set, cas_*), as
// memcached does. The global counters of the same names count these too.
struct ClassCounts {
  uint64_t get_hits = 0;
  uint64_t cmd_set = 0;
  uint64_t delete_hits = 0;
  uint64_t incr_hits = 0;
  uint64_t decr_hits = 0;
  uint64_t cas_hits = 0;
  uint64_t cas_badval = 0;
  uint64_t touch_hits = 0;
  uint64_t hits_to_hot = 0;   // get hits served from DRAM (a memory slab or its cached copy)
  uint64_t hits_to_cold = 0;  // get hits that read the device
};
// One slot per class, and a last one for stores of items too large for any class.
inline constexpr size_t kClassSlots = storage::SlabClasses::kMaxClasses + 1;

struct ServerStats {
  std::array<util::Histogram, kLatencyKinds> latency;
  std::array<ClassCounts, kClassSlots> classes{};
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
  uint64_t cmd_meta = 0;             // me commands (as memcached 1.6.18 counts)
  uint64_t store_too_large = 0;      // stores refused: the item fits no slab class
  uint64_t store_no_memory = 0;      // stores refused under -M (no slab may be evicted)
  uint64_t listen_disabled_num = 0;  // times accepting paused (out of descriptors)
  uint64_t listen_disabled_us = 0;   // time accepting was paused (pauses that ended)
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t conn_yields = 0;           // a connection used up its per-turn budget and was deferred
  uint64_t idle_kicks = 0;            // connections closed by --idle-timeout
  uint64_t protocol_errors = 0;       // requests answered with ERROR / CLIENT_ERROR
  uint64_t ssl_handshake_errors = 0;  // TLS connections whose handshake failed
  uint64_t lru_crawler_starts = 0;    // lru_crawler metadump listings started
};

// What the connections hold, for memcached's read_buf_* and response_obj_* stats.
struct ConnMemory {
  uint64_t read_buffers = 0;       // one per connection
  uint64_t read_buffer_bytes = 0;  // their sizes
  uint64_t reply_slots = 0;        // reply ring slots (memcached: response objects)
  uint64_t reply_bytes = 0;        // the capacity of their buffers
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
  bool accepting;             // the listener takes new connections
  uint64_t listen_paused_us;  // a pause of accepting still running, so far
  ConnMemory conn_memory;
  bool tls;                 // -Z: memcached's ssl_* stats are shown
  uint32_t cert_refreshed;  // when the TLS files were last loaded
};

// `stats slabs`, `stats items` and `stats sizes` (stats_classes.cc) read the engine's classes and
// the commands' counters of them, and the small-object tier's items per class (in its sets and
// in its log: Engine::SmallClassItems), which count as items of the class their size would take.
struct ClassSources {
  const std::vector<storage::ClassStats>& classes;
  const ServerStats& server;
  uint32_t slab_size;
  uint32_t now;
  const std::vector<uint64_t>& small_sets;  // per class, as `classes`
  const std::vector<uint64_t>& small_log;
};
void AppendSlabRows(const ClassSources& sources, std::string& out);
void AppendItemRows(const ClassSources& sources, std::string& out);
void AppendSizeRows(const ClassSources& sources, std::string& out);

// One connection or listener of `stats conns`, in memcached's terms.
struct ConnRow {
  int fd = -1;
  std::string addr;           // "tcp:127.0.0.1:11211", "tcp6:[::1]:11211", "unix:/path"
  std::string listen_addr;    // empty for a listener
  std::string_view state;     // memcached's name of the state (conn_waiting, ...)
  uint64_t idle_seconds = 0;  // since its last command (a listener: since start)
};
void AppendConnRows(const std::vector<ConnRow>& rows, std::string& out);

// The `stats` lines, "STAT name value\r\n" each, in memcached's order then ssdcache's own.
void AppendStatRows(const StatSources& sources, std::string& out);
// Whether the `stats` row `name` only grows between resets (a Prometheus counter); else a gauge.
bool StatIsTotal(std::string_view name);
// The same for a field of `stats slabs` or `stats items` ("get_hits", "evicted").
bool ClassStatIsTotal(std::string_view field);
// Zeroes every server counter whose row says `stats reset` clears it, and the latencies.
void ResetServerStats(ServerStats& stats);
// The names of the rows `stats reset` clears (server counters and engine counters alike).
std::vector<std::string_view> StatsClearedByReset();

}  // namespace ssdcache::server
