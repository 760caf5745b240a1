// `stats slabs`, `stats items`, `stats sizes` and `stats conns`: memcached's per-class and
// per-connection groups. Each class group is one table (kSlabRows, kItemRows) over a ClassView:
// the engine's view of the class (storage::ClassStats) and the commands' counters of it
// (ClassCounts). What each field means here, where it differs from memcached: docs/protocol.md,
// "Stats".
#include <algorithm>
#include <cstdio>
#include <string>

#include "server/stats.h"
#include "storage/engine.h"

namespace ssdcache::server {
namespace {

struct ClassView {
  const storage::ClassStats& c;
  const ClassCounts& n;
  uint32_t now;
  uint64_t small_sets = 0;  // the small-object tier's items of the class, in its sets
  uint64_t small_log = 0;   // ... and in its log (DRAM: "hot")
};

struct ClassRow {
  const char* name;
  uint64_t (*value)(const ClassView&);
  bool total = false;  // only grows between resets (a Prometheus counter); else a gauge
};

// A row's value from an expression over `v`, the ClassView.
#define SSDCACHE_CLASS_STAT(expr) \
  []([[maybe_unused]] const ClassView& v) -> uint64_t { return (expr); }

// A page is a slab (in a memory buffer or on the device).
uint64_t Pages(const ClassView& v) { return v.c.memory_slabs + v.c.disk_slabs; }
uint64_t Chunks(const ClassView& v) { return Pages(v) * v.c.chunks_per_slab; }
uint64_t Since(uint32_t now, uint32_t t) { return t == 0 || t > now ? 0 : now - t; }
// Items of the class in both tiers (a tier item takes no chunk, but counts as a used one).
uint64_t Items(const ClassView& v) { return v.c.items + v.small_sets + v.small_log; }
uint64_t HotItems(const ClassView& v) { return v.c.memory_items + v.small_log; }

// memcached's order, then ssdcached's own (memory_pages, disk_pages).
constexpr ClassRow kSlabRows[] = {
    {"chunk_size", SSDCACHE_CLASS_STAT(v.c.chunk_size)},
    {"chunks_per_page", SSDCACHE_CLASS_STAT(v.c.chunks_per_slab)},
    {"total_pages", SSDCACHE_CLASS_STAT(Pages(v))},
    {"total_chunks", SSDCACHE_CLASS_STAT(Chunks(v))},
    {"used_chunks", SSDCACHE_CLASS_STAT(Items(v))},
    // Chunks of dead records (superseded, deleted) count as free, though they come back only
    // when their slab is evicted; free_chunks_end is what a store can take now.
    {"free_chunks", SSDCACHE_CLASS_STAT(Chunks(v) - std::min(Chunks(v), v.c.items))},
    {"free_chunks_end", SSDCACHE_CLASS_STAT(v.c.open_chunks_free)},
    {"get_hits", SSDCACHE_CLASS_STAT(v.n.get_hits), true},
    {"cmd_set", SSDCACHE_CLASS_STAT(v.n.cmd_set), true},
    {"delete_hits", SSDCACHE_CLASS_STAT(v.n.delete_hits), true},
    {"incr_hits", SSDCACHE_CLASS_STAT(v.n.incr_hits), true},
    {"decr_hits", SSDCACHE_CLASS_STAT(v.n.decr_hits), true},
    {"cas_hits", SSDCACHE_CLASS_STAT(v.n.cas_hits), true},
    {"cas_badval", SSDCACHE_CLASS_STAT(v.n.cas_badval), true},
    {"touch_hits", SSDCACHE_CLASS_STAT(v.n.touch_hits), true},
    {"mem_requested", SSDCACHE_CLASS_STAT(Items(v) * v.c.chunk_size)},
    {"memory_pages", SSDCACHE_CLASS_STAT(v.c.memory_slabs)},
    {"disk_pages", SSDCACHE_CLASS_STAT(v.c.disk_slabs)},
};

// memcached's segmented LRU mapped onto the slab lifecycle: "hot" items are in memory slabs not
// yet written, "cold" ones on the device; there is no warm or temporary segment and no LRU to
// move, crawl or repair (those fields are 0).
constexpr ClassRow kItemRows[] = {
    {"number", SSDCACHE_CLASS_STAT(Items(v))},
    {"number_hot", SSDCACHE_CLASS_STAT(HotItems(v))},
    {"number_warm", SSDCACHE_CLASS_STAT(0)},
    {"number_cold", SSDCACHE_CLASS_STAT(Items(v) - HotItems(v))},
    {"age_hot", SSDCACHE_CLASS_STAT(Since(v.now, v.c.oldest_memory_opened))},
    {"age_warm", SSDCACHE_CLASS_STAT(0)},
    {"age", SSDCACHE_CLASS_STAT(Since(v.now, v.c.oldest_opened))},
    {"mem_requested", SSDCACHE_CLASS_STAT(Items(v) * v.c.chunk_size)},
    {"evicted", SSDCACHE_CLASS_STAT(v.c.counters.evicted), true},
    {"evicted_nonzero", SSDCACHE_CLASS_STAT(0), true},
    {"evicted_time", SSDCACHE_CLASS_STAT(v.c.counters.evicted_time)},
    {"outofmemory", SSDCACHE_CLASS_STAT(0), true},
    {"tailrepairs", SSDCACHE_CLASS_STAT(0), true},
    {"reclaimed", SSDCACHE_CLASS_STAT(0), true},
    {"expired_unfetched", SSDCACHE_CLASS_STAT(v.c.counters.expired_unfetched), true},
    {"evicted_unfetched", SSDCACHE_CLASS_STAT(0), true},
    {"evicted_active", SSDCACHE_CLASS_STAT(0), true},
    {"crawler_reclaimed", SSDCACHE_CLASS_STAT(0), true},
    {"crawler_items_checked", SSDCACHE_CLASS_STAT(0), true},
    {"lrutail_reflocked", SSDCACHE_CLASS_STAT(0), true},
    {"moves_to_cold", SSDCACHE_CLASS_STAT(0), true},
    {"moves_to_warm", SSDCACHE_CLASS_STAT(0), true},
    {"moves_within_lru", SSDCACHE_CLASS_STAT(0), true},
    {"direct_reclaims", SSDCACHE_CLASS_STAT(0), true},
    {"hits_to_hot", SSDCACHE_CLASS_STAT(v.n.hits_to_hot), true},
    {"hits_to_warm", SSDCACHE_CLASS_STAT(0), true},
    {"hits_to_cold", SSDCACHE_CLASS_STAT(v.n.hits_to_cold), true},
    {"hits_to_temp", SSDCACHE_CLASS_STAT(0), true},
};

#undef SSDCACHE_CLASS_STAT

void Line(std::string& out, std::string_view prefix, size_t cls, std::string_view name,
          uint64_t value) {
  out.append("STAT ").append(prefix).append(std::to_string(cls)).append(":").append(name);
  out.append(" ").append(std::to_string(value)).append("\r\n");
}

ClassView ViewOf(const ClassSources& s, size_t i) {
  ClassView v{s.classes[i], s.server.classes[i], s.now};
  if (i < s.small_sets.size()) v.small_sets = s.small_sets[i];
  if (i < s.small_log.size()) v.small_log = s.small_log[i];
  return v;
}

template <size_t N>
void AppendClasses(const ClassSources& s, const ClassRow (&rows)[N], std::string_view prefix,
                   bool (*shown)(const ClassView&), std::string& out) {
  for (size_t i = 0; i < s.classes.size(); ++i) {
    const ClassView v = ViewOf(s, i);
    if (!shown(v)) continue;
    // memcached numbers its classes from 1.
    for (const ClassRow& row : rows) Line(out, prefix, i + 1, row.name, row.value(v));
  }
}

// As memcached's: a class that holds pages (here also one holding tier items, which take none).
bool HoldsPagesOrItems(const ClassView& v) { return Pages(v) > 0 || Items(v) > 0; }

}  // namespace

bool ClassStatIsTotal(std::string_view field) {
  for (const ClassRow& row : kSlabRows) {
    if (field == row.name) return row.total;
  }
  for (const ClassRow& row : kItemRows) {
    if (field == row.name) return row.total;
  }
  return false;
}

void AppendSlabRows(const ClassSources& s, std::string& out) {
  AppendClasses(s, kSlabRows, "", HoldsPagesOrItems, out);
  uint64_t active = 0;
  uint64_t pages = 0;
  for (size_t i = 0; i < s.classes.size(); ++i) {
    const ClassView v = ViewOf(s, i);
    active += HoldsPagesOrItems(v);
    pages += Pages(v);
  }
  out.append("STAT active_slabs ").append(std::to_string(active)).append("\r\n");
  // The bytes of those pages, in DRAM and on the device alike.
  out.append("STAT total_malloced ").append(std::to_string(pages * s.slab_size)).append("\r\n");
  out.append("END\r\n");
}

void AppendItemRows(const ClassSources& s, std::string& out) {
  // As memcached: the classes that hold items.
  AppendClasses(
      s, kItemRows, "items:", [](const ClassView& v) { return Items(v) > 0; }, out);
  out.append("END\r\n");
}

void AppendSizeRows(const ClassSources& s, std::string& out) {
  // memcached counts items by their size rounded up to 32 bytes; here an item's chunk is what it
  // takes, so each class holding items is one row: its chunk size and its item count.
  for (size_t i = 0; i < s.classes.size(); ++i) {
    const ClassView v = ViewOf(s, i);
    if (Items(v) == 0) continue;
    out.append("STAT ").append(std::to_string(v.c.chunk_size)).append(" ");
    out.append(std::to_string(Items(v))).append("\r\n");
  }
  out.append("END\r\n");
}

void AppendConnRows(const std::vector<ConnRow>& rows, std::string& out) {
  for (const ConnRow& r : rows) {
    const std::string p = "STAT " + std::to_string(r.fd) + ":";
    out.append(p).append("addr ").append(r.addr).append("\r\n");
    if (!r.listen_addr.empty()) out.append(p).append("listen_addr ").append(r.listen_addr);
    if (!r.listen_addr.empty()) out.append("\r\n");
    out.append(p).append("state ").append(r.state).append("\r\n");
    out.append(p).append("secs_since_last_cmd ").append(std::to_string(r.idle_seconds));
    out.append("\r\n");
  }
  out.append("END\r\n");
}

}  // namespace ssdcache::server
