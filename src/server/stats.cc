#include "server/stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "net/event_loop.h"
#include "storage/device.h"
#include "storage/engine.h"

#ifndef SSDCACHE_VERSION
#define SSDCACHE_VERSION "unknown"
#endif

namespace ssdcache::server {
namespace {

// What `stats reset` does to a row: kClears zeroes it (the server's counters here, the engine's
// counters in Engine::ResetStats), kKeeps leaves it (a gauge, a setting or a count since start).
enum class Reset : uint8_t { kClears, kKeeps };

struct StatRow {
  const char* name;
  Reset reset;
  uint64_t ServerStats::*counter;            // one of the server's counters, or
  std::string (*value)(const StatSources&);  // anything else ("" leaves the line out)
  // It only grows between resets (a Prometheus counter, `_total`); else a gauge.
  bool total;
};

constexpr StatRow Counter(const char* name, uint64_t ServerStats::*counter) {
  return {name, Reset::kClears, counter, nullptr, true};
}
// A value that `stats reset` clears is a count since then; one it keeps is a gauge.
constexpr StatRow Value(const char* name, Reset reset, std::string (*value)(const StatSources&)) {
  return {name, reset, nullptr, value, reset == Reset::kClears};
}
// A count that `stats reset` does not clear (CPU time, IOs since start).
constexpr StatRow Total(const char* name, std::string (*value)(const StatSources&)) {
  return {name, Reset::kKeeps, nullptr, value, true};
}
// The highest value seen since a reset: cleared by it, but no count.
constexpr StatRow Peak(const char* name, std::string (*value)(const StatSources&)) {
  return {name, Reset::kClears, nullptr, value, false};
}
// A memcached stat of a mechanism ssdcached does not have (no LRU, SASL, slab mover, logger
// watchers, ...): always 0, so that tools reading it find it (docs/protocol.md, "Stats").
constexpr StatRow Absent(const char* name) {
  return {name, Reset::kKeeps, nullptr, [](const StatSources&) { return std::string("0"); }, false};
}

// A row's value from an expression over `s`, the StatSources.
#define SSDCACHE_STAT(expr) \
  []([[maybe_unused]] const StatSources& s) -> std::string { return std::to_string(expr); }
#define SSDCACHE_ENGINE_STAT(member) SSDCACHE_STAT(s.engine.stats().member)
#define SSDCACHE_JOURNAL_STAT(expr)                                \
  [](const StatSources& s) -> std::string {                        \
    const storage::Journal* j = s.engine.journal();                \
    return j == nullptr ? std::string() : std::to_string(j->expr); \
  }

// Only with a small-object tier (--small-max; a device formatted with one).
#define SSDCACHE_SMALL_STAT(expr)                                  \
  [](const StatSources& s) -> std::string {                        \
    const storage::SmallTier* t = s.engine.small_tier();           \
    return t == nullptr ? std::string() : std::to_string(t->expr); \
  }

std::string Seconds(const timeval& tv) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(tv.tv_sec),
           static_cast<long>(tv.tv_usec));
  return buf;
}

rusage Usage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru;
}

// Descriptors the server holds besides its connections: listener, epoll, timers, signalfd,
// eventfd, device, journal mapping, log file (memcached's reserved_fds are those it keeps back).
uint64_t ReservedFds(const StatSources& s) {
  uint64_t open = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (const dirent* e = readdir(dir)) open += e->d_name[0] != '.';
    if (open > 0) --open;  // the directory's own descriptor
    closedir(dir);
  }
  return open > s.curr_connections ? open - s.curr_connections : 0;
}

uint64_t HashPowerLevel(const StatSources& s) {
  uint64_t level = 0;
  while ((uint64_t{2} << level) <= s.engine.index().num_buckets()) ++level;
  return level;
}

uint64_t ExpiredUnfetched(const StatSources& s) {
  uint64_t total = 0;
  for (const storage::ClassStats& c : s.engine.class_stats()) total += c.counters.expired_unfetched;
  return total;
}

std::string IndexBytesPerItem(const StatSources& s) {
  const uint64_t items = s.engine.gauges().curr_items;
  char buf[64];
  snprintf(buf, sizeof(buf), "%.2f",
           items ? static_cast<double>(s.engine.index().bytes()) / items : 0.0);
  return buf;
}

constexpr Reset kKeeps = Reset::kKeeps;
constexpr Reset kClears = Reset::kClears;

// memcached's names first, where they apply, then ssdcache's own (docs/protocol.md, "Stats").
constexpr StatRow kStatRows[] = {
    Value("pid", kKeeps, SSDCACHE_STAT(getpid())),
    Value("uptime", kKeeps, SSDCACHE_STAT(s.now - s.started)),
    Value("time", kKeeps, SSDCACHE_STAT(s.now)),
    Value("version", kKeeps, [](const StatSources&) { return std::string(SSDCACHE_VERSION); }),
    Value("pointer_size", kKeeps, SSDCACHE_STAT(sizeof(void*) * 8)),
    Total("rusage_user", [](const StatSources&) { return Seconds(Usage().ru_utime); }),
    Total("rusage_system", [](const StatSources&) { return Seconds(Usage().ru_stime); }),
    Value("max_connections", kKeeps, SSDCACHE_STAT(s.max_connections)),
    Value("curr_connections", kKeeps, SSDCACHE_STAT(s.curr_connections)),
    Counter("total_connections", &ServerStats::total_connections),
    Counter("rejected_connections", &ServerStats::rejected_connections),
    Value("connection_structures", kKeeps, SSDCACHE_STAT(s.connection_structures)),
    Absent("response_obj_oom"),
    Value("response_obj_count", kKeeps, SSDCACHE_STAT(s.conn_memory.reply_slots)),
    Value("response_obj_bytes", kKeeps, SSDCACHE_STAT(s.conn_memory.reply_bytes)),
    Value("read_buf_count", kKeeps, SSDCACHE_STAT(s.conn_memory.read_buffers)),
    Value("read_buf_bytes", kKeeps, SSDCACHE_STAT(s.conn_memory.read_buffer_bytes)),
    Absent("read_buf_bytes_free"),
    Absent("read_buf_oom"),
    Value("reserved_fds", kKeeps, SSDCACHE_STAT(ReservedFds(s))),
    Counter("cmd_get", &ServerStats::cmd_get),
    Counter("cmd_set", &ServerStats::cmd_set),
    Counter("cmd_flush", &ServerStats::cmd_flush),
    Counter("cmd_touch", &ServerStats::cmd_touch),
    Counter("cmd_meta", &ServerStats::cmd_meta),
    Counter("get_hits", &ServerStats::get_hits),
    Counter("get_misses", &ServerStats::get_misses),
    Value("get_expired", kClears, SSDCACHE_ENGINE_STAT(expired_unfetched)),
    Absent("get_flushed"),
    Counter("delete_misses", &ServerStats::delete_misses),
    Counter("delete_hits", &ServerStats::delete_hits),
    Counter("incr_misses", &ServerStats::incr_misses),
    Counter("incr_hits", &ServerStats::incr_hits),
    Counter("decr_misses", &ServerStats::decr_misses),
    Counter("decr_hits", &ServerStats::decr_hits),
    Counter("cas_misses", &ServerStats::cas_misses),
    Counter("cas_hits", &ServerStats::cas_hits),
    Counter("cas_badval", &ServerStats::cas_badval),
    Counter("touch_hits", &ServerStats::touch_hits),
    Counter("touch_misses", &ServerStats::touch_misses),
    Counter("store_too_large", &ServerStats::store_too_large),
    Counter("store_no_memory", &ServerStats::store_no_memory),
    Absent("auth_cmds"),
    Absent("auth_errors"),
    Counter("bytes_read", &ServerStats::bytes_read),
    Counter("bytes_written", &ServerStats::bytes_written),
    Value("limit_maxbytes", kKeeps, SSDCACHE_STAT(s.device.size())),
    Value("accepting_conns", kKeeps, SSDCACHE_STAT(s.accepting ? 1 : 0)),
    Counter("listen_disabled_num", &ServerStats::listen_disabled_num),
    Value("time_in_listen_disabled_us", kClears,
          SSDCACHE_STAT(s.server.listen_disabled_us + s.listen_paused_us)),
    Value("threads", kKeeps, SSDCACHE_STAT(1)),
    Counter("conn_yields", &ServerStats::conn_yields),
    Value("hash_power_level", kKeeps, SSDCACHE_STAT(HashPowerLevel(s))),
    Value("hash_bytes", kKeeps, SSDCACHE_STAT(s.engine.index().bytes())),
    Absent("hash_is_expanding"),
    Absent("slab_reassign_rescues"),
    Absent("slab_reassign_chunk_rescues"),
    Absent("slab_reassign_evictions_nomem"),
    Absent("slab_reassign_inline_reclaim"),
    Absent("slab_reassign_busy_items"),
    Absent("slab_reassign_busy_deletes"),
    Absent("slab_reassign_running"),
    Absent("slabs_moved"),
    // A key listing (lru_crawler metadump or stats cachedump) is running.
    Value("lru_crawler_running", kKeeps, SSDCACHE_STAT(s.engine.scans_open() > 0 ? 1 : 0)),
    Counter("lru_crawler_starts", &ServerStats::lru_crawler_starts),
    Absent("lru_maintainer_juggles"),
    Absent("malloc_fails"),
    Absent("log_worker_dropped"),
    Absent("log_worker_written"),
    Absent("log_watcher_skipped"),
    Absent("log_watcher_sent"),
    Absent("log_watchers"),
    // Only with -Z, as memcached.
    Value("ssl_handshake_errors", kClears,
          [](const StatSources& s) {
            return s.tls ? std::to_string(s.server.ssl_handshake_errors) : std::string();
          }),
    Value("time_since_server_cert_refresh", kKeeps,
          [](const StatSources& s) {
            return s.tls ? std::to_string(s.now - s.cert_refreshed) : std::string();
          }),
    Absent("unexpected_napi_ids"),
    Absent("round_robin_fallback"),
    Counter("idle_kicks", &ServerStats::idle_kicks),
    Counter("protocol_errors", &ServerStats::protocol_errors),
    Total("event_loop_turns", SSDCACHE_STAT(s.loop.turn())),
    Value("bytes", kKeeps, SSDCACHE_STAT(s.engine.gauges().bytes)),
    // The slab tier's live items, and the small-object tier's in its sets and its log.
    Value("curr_items", kKeeps, SSDCACHE_STAT(s.engine.curr_items())),
    Value("total_items", kClears, SSDCACHE_ENGINE_STAT(total_items)),
    Value("slab_global_page_pool", kKeeps, SSDCACHE_STAT(s.engine.disk_slabs_free())),
    Value("expired_unfetched", kClears, SSDCACHE_STAT(ExpiredUnfetched(s))),
    Absent("evicted_unfetched"),
    Absent("evicted_active"),
    Value("evictions", kClears, SSDCACHE_STAT(s.engine.evictions())),
    Absent("reclaimed"),
    Absent("crawler_reclaimed"),
    Absent("crawler_items_checked"),
    Absent("lrutail_reflocked"),
    Absent("moves_to_cold"),
    Absent("moves_to_warm"),
    Absent("moves_within_lru"),
    Absent("direct_reclaims"),
    Absent("lru_bumps_dropped"),
    // ssdcache's own.
    Value("device_bytes", kKeeps, SSDCACHE_STAT(s.device.size())),
    Value("disk_slabs_total", kKeeps, SSDCACHE_STAT(s.engine.disk_slabs_total())),
    Value("disk_slabs_used", kKeeps, SSDCACHE_STAT(s.engine.disk_slabs_used())),
    Value("disk_slabs_free", kKeeps, SSDCACHE_STAT(s.engine.disk_slabs_free())),
    Value("memory_slabs_total", kKeeps, SSDCACHE_STAT(s.engine.memory_slabs_total())),
    Value("memory_slabs_free", kKeeps, SSDCACHE_STAT(s.engine.memory_slabs_free())),
    Value("memory_slabs_flushing", kKeeps, SSDCACHE_STAT(s.engine.memory_slabs_flushing())),
    Value("memory_slabs_cached", kKeeps, SSDCACHE_STAT(s.engine.memory_slabs_cached())),
    Value("index_entries", kKeeps, SSDCACHE_STAT(s.engine.index().size())),
    Value("index_capacity", kKeeps, SSDCACHE_STAT(s.engine.index().capacity())),
    Value("index_bytes", kKeeps, SSDCACHE_STAT(s.engine.index().bytes())),
    Value("index_bytes_per_item", kKeeps, IndexBytesPerItem),
    Value("slab_evictions", kClears, SSDCACHE_ENGINE_STAT(slab_evictions)),
    Value("index_evictions", kClears, SSDCACHE_ENGINE_STAT(index_evictions)),
    Value("reads_memory", kClears, SSDCACHE_ENGINE_STAT(reads_memory)),
    Value("reads_device", kClears, SSDCACHE_ENGINE_STAT(reads_device)),
    Peak("reads_in_flight_max", SSDCACHE_ENGINE_STAT(reads_in_flight_max)),
    Value("read_errors", kClears, SSDCACHE_STAT(s.engine.read_errors())),
    Value("checksum_errors", kClears, SSDCACHE_ENGINE_STAT(checksum_errors)),
    Value("key_mismatches", kClears, SSDCACHE_ENGINE_STAT(key_mismatches)),
    Value("tag_collisions", kClears, SSDCACHE_ENGINE_STAT(tag_collisions)),
    Value("replace_checks", kClears, SSDCACHE_ENGINE_STAT(replace_checks)),
    Value("slab_writes", kClears, SSDCACHE_ENGINE_STAT(slab_writes)),
    Value("write_errors", kClears, SSDCACHE_ENGINE_STAT(write_errors)),
    Value("memory_waits", kClears, SSDCACHE_ENGINE_STAT(memory_waits)),
    // Only with a journal (--journal-size > 0).
    Value("journal_writes", kClears, SSDCACHE_JOURNAL_STAT(stats().writes)),
    Value("journal_entries", kClears, SSDCACHE_JOURNAL_STAT(stats().entries)),
    Value("journal_errors", kClears, SSDCACHE_JOURNAL_STAT(stats().errors)),
    Value("journal_full_waits", kClears, SSDCACHE_JOURNAL_STAT(stats().full_waits)),
    Value("journal_blocks_used", kKeeps, SSDCACHE_JOURNAL_STAT(used_blocks())),
    Peak("journal_in_flight_max", SSDCACHE_JOURNAL_STAT(stats().in_flight_max)),
    Value("journal_waits", kClears, SSDCACHE_ENGINE_STAT(journal_waits)),
    Value("journal_undone", kClears, SSDCACHE_ENGINE_STAT(journal_undone)),
    Value("journal_checkpoints", kClears, SSDCACHE_ENGINE_STAT(journal_checkpoints)),
    Value("records_voided", kClears, SSDCACHE_ENGINE_STAT(records_voided)),
    Value("slab_compactions", kClears, SSDCACHE_ENGINE_STAT(compactions)),
    Value("slab_compacted_bytes", kClears, SSDCACHE_ENGINE_STAT(compacted_bytes)),
    Value("reinserted_items", kClears, SSDCACHE_ENGINE_STAT(reinserted_items)),
    Value("reinserted_bytes", kClears, SSDCACHE_ENGINE_STAT(reinserted_bytes)),
    Value("reinsert_reads", kClears, SSDCACHE_ENGINE_STAT(reinsert_reads)),
    Value("reinsert_skipped_budget", kClears, SSDCACHE_ENGINE_STAT(reinsert_skipped_budget)),
    Value("reinsert_skipped_memory", kClears, SSDCACHE_ENGINE_STAT(reinsert_skipped_memory)),
    Value("reinsert_late", kClears, SSDCACHE_ENGINE_STAT(reinsert_late)),
    // Admission (--admit on; all 0 when off).
    Value("probation_slabs", kKeeps, SSDCACHE_STAT(s.engine.probation_slabs())),
    Value("ghost_bytes", kKeeps, SSDCACHE_STAT(s.engine.ghost_bytes())),
    Value("admit_probation", kClears, SSDCACHE_ENGINE_STAT(admit_probation)),
    Value("admit_promoted", kClears, SSDCACHE_ENGINE_STAT(admit_promoted)),
    Value("admit_dropped", kClears, SSDCACHE_ENGINE_STAT(admit_dropped)),
    Value("admit_ghost_hits", kClears, SSDCACHE_ENGINE_STAT(admit_ghost_hits)),
    // The small-object tier (only with one): its items in sets (expired ones until their set's
    // next write), the log, lookups by where they were answered, set writes and what they cost.
    // Counted since start (stats reset leaves them).
    Value("small_items", kKeeps, SSDCACHE_SMALL_STAT(stats().items)),
    Value("small_sets", kKeeps, SSDCACHE_SMALL_STAT(stats().sets)),
    Value("small_dram_bytes", kKeeps, SSDCACHE_SMALL_STAT(Dram().total())),
    Value("small_filter_bytes", kKeeps, SSDCACHE_SMALL_STAT(stats().filter_bytes)),
    Value("small_log_bytes", kKeeps, SSDCACHE_SMALL_STAT(stats().log_bytes)),
    Value("small_log_items", kKeeps, SSDCACHE_SMALL_STAT(stats().log_items)),
    Total("small_log_hits", SSDCACHE_SMALL_STAT(stats().log_hits)),
    Total("small_set_hits", SSDCACHE_SMALL_STAT(stats().set_hits)),
    Total("small_filter_misses", SSDCACHE_SMALL_STAT(stats().filter_misses)),
    Total("small_set_reads", SSDCACHE_SMALL_STAT(stats().set_reads)),
    Total("small_false_positive_reads", SSDCACHE_SMALL_STAT(stats().false_positive_reads)),
    Total("small_read_errors", SSDCACHE_SMALL_STAT(stats().read_errors)),
    Total("small_corrupt_sets", SSDCACHE_SMALL_STAT(stats().corrupt_sets)),
    Total("small_set_losses", SSDCACHE_SMALL_STAT(stats().set_losses)),
    Total("small_set_writes", SSDCACHE_SMALL_STAT(stats().set_writes)),
    Total("small_set_write_bytes", SSDCACHE_SMALL_STAT(stats().set_write_bytes)),
    Total("small_stored_bytes", SSDCACHE_SMALL_STAT(stats().stored_bytes)),
    Total("small_admission_drops", SSDCACHE_SMALL_STAT(stats().admission_drops)),
    Total("small_evictions", SSDCACHE_SMALL_STAT(stats().evictions)),
    Total("small_write_errors", SSDCACHE_SMALL_STAT(stats().write_errors)),
    Total("small_write_drops", SSDCACHE_SMALL_STAT(stats().write_drops)),
    Total("small_no_room", SSDCACHE_SMALL_STAT(stats().no_room)),
    Total("small_mark_writes", SSDCACHE_SMALL_STAT(stats().mark_writes)),
    Value("aio_in_flight", kKeeps, SSDCACHE_STAT(s.engine.io_in_flight())),
    Value("aio_queued", kKeeps, SSDCACHE_STAT(s.engine.io_queued())),
    Total("aio_reads", SSDCACHE_STAT(s.engine.io_stats().reads)),
    Total("aio_writes", SSDCACHE_STAT(s.engine.io_stats().writes)),
    Total("aio_read_bytes", SSDCACHE_STAT(s.engine.io_stats().read_bytes)),
    Total("aio_write_bytes", SSDCACHE_STAT(s.engine.io_stats().write_bytes)),
    Total("aio_errors", SSDCACHE_STAT(s.engine.io_stats().errors)),
};

#undef SSDCACHE_SMALL_STAT
#undef SSDCACHE_JOURNAL_STAT
#undef SSDCACHE_ENGINE_STAT
#undef SSDCACHE_STAT

}  // namespace

void AppendStatRows(const StatSources& sources, std::string& out) {
  for (const StatRow& row : kStatRows) {
    const std::string value =
        row.counter != nullptr ? std::to_string(sources.server.*row.counter) : row.value(sources);
    if (value.empty()) continue;
    out.append("STAT ").append(row.name).append(" ").append(value).append("\r\n");
  }
}

bool StatIsTotal(std::string_view name) {
  for (const StatRow& row : kStatRows) {
    if (name == row.name) return row.total;
  }
  return false;
}

std::vector<std::string_view> StatsClearedByReset() {
  std::vector<std::string_view> names;
  for (const StatRow& row : kStatRows) {
    if (row.reset == Reset::kClears) names.emplace_back(row.name);
  }
  return names;
}

void ResetServerStats(ServerStats& stats) {
  for (const StatRow& row : kStatRows) {
    if (row.counter != nullptr && row.reset == Reset::kClears) stats.*row.counter = 0;
  }
  for (util::Histogram& h : stats.latency) h.Reset();
  stats.classes.fill(ClassCounts{});
  stats.ssl_handshake_errors = 0;  // a Value row (shown only with -Z)
  stats.listen_disabled_us =
      0;  // time_in_listen_disabled_us (a Value row: it adds a running pause)
}

}  // namespace ssdcache::server
