// The simulator's names and reports: journal mode names, the one-line summary of a run and the
// command line that replays a seed.
#include <cstdio>
#include <string>

#include "simulator.h"

namespace ssdcache::sim {

const char* JournalModeName(JournalMode mode) {
  switch (mode) {
    case JournalMode::kNone:
      return "none";
    case JournalMode::kDevice:
      return "device";
    case JournalMode::kProcess:
      return "process";
  }
  return "?";
}

bool ParseJournalMode(std::string_view text, JournalMode& mode) {
  for (JournalMode m : {JournalMode::kNone, JournalMode::kDevice, JournalMode::kProcess}) {
    if (text == JournalModeName(m)) {
      mode = m;
      return true;
    }
  }
  return false;
}

std::string SimResult::Summary() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "journal %s: %llu ops (%llu hits, %llu misses, %llu device reads, %llu sets, "
      "%llu deletes, %llu flushes), %llu clean restarts (%llu from a snapshot, %llu died "
      "stopping), %llu crashes (%llu wiped), "
      "%llu scans verified %llu keys, %llu evictions, %llu journal waits, %llu failed "
      "commits, %llu write errors, reinsert %u%%: %llu copied, %llu crashes in a reinsertion, "
      "admit %s: %llu in probation, %llu dropped, compact %s: %llu compactions, -n %u, "
      "--small-max %u (%llu items in sets at the end)",
      JournalModeName(journal), static_cast<unsigned long long>(ops),
      static_cast<unsigned long long>(hits), static_cast<unsigned long long>(misses),
      static_cast<unsigned long long>(device_reads), static_cast<unsigned long long>(sets),
      static_cast<unsigned long long>(deletes), static_cast<unsigned long long>(flushes),
      static_cast<unsigned long long>(clean_restarts),
      static_cast<unsigned long long>(snapshot_loads), static_cast<unsigned long long>(stop_deaths),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(wipes),
      static_cast<unsigned long long>(scans), static_cast<unsigned long long>(keys_verified),
      static_cast<unsigned long long>(evictions), static_cast<unsigned long long>(journal_waits),
      static_cast<unsigned long long>(commit_failures),
      static_cast<unsigned long long>(write_errors), reinsert_share,
      static_cast<unsigned long long>(reinserted),
      static_cast<unsigned long long>(reinsert_crashes), admit ? "on" : "off",
      static_cast<unsigned long long>(admit_probation),
      static_cast<unsigned long long>(admit_dropped), compact ? "on" : "off",
      static_cast<unsigned long long>(compactions), min_item, small_max,
      static_cast<unsigned long long>(small_items));
  return buf;
}

std::string ReplayCommand(const SimOptions& o, std::string_view binary) {
  std::string cmd(binary);
  cmd += " --seed " + std::to_string(o.seed) + " --ops " + std::to_string(o.ops);
  if (o.journal) cmd += std::string(" --journal ") + JournalModeName(*o.journal);
  if (!o.faults) cmd += " --no-faults";
  if (!o.restarts) cmd += " --no-restarts";
  if (o.old_eviction_order) cmd += " --old-eviction-order";
  if (o.reinsert) cmd += " --reinsert " + std::to_string(*o.reinsert);
  if (o.admit) cmd += std::string(" --admit ") + (*o.admit ? "on" : "off");
  if (o.compact) cmd += std::string(" --compact ") + (*o.compact ? "on" : "off");
  if (o.small_max) cmd += " --small-max " + std::to_string(*o.small_max);
  return cmd;
}

}  // namespace ssdcache::sim
