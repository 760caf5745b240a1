// Deterministic simulation of the storage engine: one thread drives the real storage::Engine with
// a workload drawn from a seeded PRNG (sets of random sizes over the slab classes on a bounded key
// space, overwrites, deletes, touches, flush_all, reads, expiry on a simulated clock, IO errors,
// clean restarts and crashes) on a deliberately small geometry (few memory slabs, a small device,
// a small index), and checks every answer against sim::Model (sim_model.h). It drives completions
// as the server does: Lookup's pending reads answer a LookupWaiter, journal tickets a
// CommitWaiter, a kNoMemory store waits for the memory listener, and each turn ends with
// CommitJournal() and the IO submit.
//
// What is checked strictly when (design.md, "Restarts" and "Crash journal"):
//  - always: no corrupt value, no value of another key, never an expired one, never a version
//    older than the key's newest request taken before the read started (so never a deleted or
//    flushed key back), never a value whose journal commit had failed;
//  - at scans (periodically and around every clean restart): every key a scan found and that
//    nothing changed since is found again, unless the engine counted as many evictions (index,
//    tag collisions, slab evictions, plus entries a rebuild could not index) or read errors as
//    keys went missing; skipped across lives with injected IO errors (a failed write drops its
//    items uncounted);
//  - after a crash, with a journal (device or process mode, same boot): never an older version
//    than the last acknowledged one; a version still waiting for its ticket may or may not be
//    back. Without a journal a crash promises nothing about older versions: only corruption and
//    expiry are checked for keys not written since (only clean restarts are checked strictly,
//    and only those of lives without write errors: the server exits 1 after one, and nothing
//    re-covers a failed write's records that reached the device).
//
// A seed determines the geometry, the journal mode (unless given) and the workload. A failure
// names its seed and the command line that replays it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ssdcache::sim {

enum class JournalMode : uint8_t { kNone, kDevice, kProcess };
const char* JournalModeName(JournalMode mode);
bool ParseJournalMode(std::string_view text, JournalMode& mode);

struct SimOptions {
  uint64_t seed = 1;
  uint64_t ops = 100000;               // requests (get, set, delete, touch, flush_all)
  std::optional<JournalMode> journal;  // nullopt: the seed chooses
  bool faults = true;                  // IO errors in some engine lives
  bool restarts = true;                // clean restarts and crashes
  bool verbose = false;                // a line per restart and scan on stderr
  // The engine's old, defective eviction order (EvictionOrder::kDiskCloseForTests), which could
  // bring an older version back after a restart: the simulator must catch it.
  bool old_eviction_order = false;
  // Reinsertion at eviction (--reinsert-share): 0 off, else the share in percent; nullopt: the
  // seed chooses (off, 20 or 100; drawn apart from the workload's stream). With it on, the run
  // also crashes at each step of a reinsertion in turn: while a victim's read is in flight, just
  // after copies were made (in an open memory slab), just after the last copy was deleted, and
  // a few turns later.
  std::optional<uint32_t> reinsert;
  // Admission (--admit): first writes wait in probation slabs; nullopt: the seed chooses (drawn
  // after the reinsertion share, apart from the workload's stream).
  std::optional<bool> admit;
  // Compaction of memory slabs (--compact): nullopt: the seed chooses (on in 3 of 4 seeds, the
  // default's share; drawn after admission).
  std::optional<bool> compact;
  // The small-object tier (--small-max): 0 off, else the size limit; nullopt: the seed chooses
  // (on in half the seeds, 100-399 bytes; drawn after -n). Only with the process journal mode,
  // the one the tier accepts.
  std::optional<uint32_t> small_max;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // what went wrong, where (empty when ok)
  JournalMode journal = JournalMode::kNone;
  uint64_t ops = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t device_reads = 0;
  uint64_t sets = 0;
  uint64_t deletes = 0;
  uint64_t flushes = 0;
  uint64_t clean_restarts = 0;
  uint64_t snapshot_loads = 0;  // clean restarts that loaded the stop's snapshot
  uint64_t stop_deaths = 0;     // clean stops that died in their last writes (snapshot, superblock)
  uint64_t crashes = 0;
  uint64_t wipes = 0;  // process-mode crashes "across a reboot": the device starts empty
  uint64_t scans = 0;
  uint64_t keys_verified = 0;  // keys a scan required to be present and found
  uint64_t evictions = 0;
  uint64_t journal_waits = 0;
  uint64_t commit_failures = 0;
  uint64_t write_errors = 0;
  uint32_t reinsert_share = 0;    // 0: reinsertion off
  uint64_t reinserted = 0;        // items copied forward at eviction
  uint64_t reinsert_crashes = 0;  // crashes at a step of a reinsertion (also in crashes)
  bool admit = false;
  uint64_t admit_probation = 0;  // first writes placed in probation
  uint64_t admit_dropped = 0;    // of those, dropped unread (in evictions)
  bool compact = false;
  uint64_t compactions = 0;  // open memory slabs compacted
  uint32_t min_item = 0;     // -n the seed drew
  uint32_t small_max = 0;    // --small-max (0: no small-object tier)
  uint64_t small_items = 0;  // items the tier's sets held when the last engine life ended
  // One line: the counters above.
  std::string Summary() const;
};

SimResult RunSimulation(const SimOptions& options);
// The command line that replays `options` (with `binary` as the program).
std::string ReplayCommand(const SimOptions& options, std::string_view binary);

}  // namespace ssdcache::sim
