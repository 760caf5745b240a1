// The simulator's driver (internal to tests/sim; simulator.h is the interface): the workload and
// the checks in simulator.cc, engine lives, scans, restarts and crashes in sim_lives.cc.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim_io.h"
#include "sim_model.h"
#include "sim_random.h"
#include "simulator.h"
#include "storage/engine.h"

namespace ssdcache::sim {

using storage::IndexEntry;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreResult;

constexpr uint32_t kSlab = 64 * 1024;
// The snapshot region (--snapshot-size): a header and six pages, room for the largest index.
constexpr uint64_t kSnapshotBytes = 4096 + 6 * 64 * 1024;
// Synchronous writes of a clean stop's end: the snapshot's pages, its header, the superblock.
constexpr uint64_t kStopWrites = 3;
constexpr uint32_t kStartTime = 1000000;
// Per turn (1 to 12 requests): how often a clean restart, a crash, a scan happen.
constexpr uint64_t kRestartOneIn = 1500;
constexpr uint64_t kCrashOneIn = 1500;
constexpr uint64_t kScanEvery = 1000;
// Turns a parked store may wait for a memory slab before the run counts as hung.
constexpr uint64_t kHangTurns = 2000;

// What a seed draws before the workload: the geometry and the journal mode.
struct Geometry {
  JournalMode journal = JournalMode::kNone;
  uint32_t mem_slabs = 0;
  uint32_t disk_slabs = 0;
  uint32_t journal_blocks = 0;
  uint64_t index_bytes = 0;
  double factor = 1.25;
  uint32_t keys = 0;
  uint32_t class_span = 100;  // percent of the slab classes the sizes spread over
  uint64_t boot_id = 0;
  uint32_t reinsert_share = 0;  // 0: off
  bool admit = false;           // admission (probation and ghost)
  bool compact = false;         // compaction of open memory slabs
  // -n: at 128 the smallest class holds tombstones and the smallest values alike, so that
  // overwrites void records beside tombstones and compaction moves tombstones (at 56 a class
  // of tombstones alone is never compacted).
  uint32_t min_item = 56;
  uint32_t small_max = 0;  // --small-max: 0 no small-object tier
};
// --small-share of the simulated devices, and the slabs the tier's region adds to them.
constexpr uint32_t kSimSmallShare = 10;
// Turns between a reinsertion's copies and the crash of its third step.
constexpr uint64_t kReinsertCrashDelay = 3;
// At a reinsertion step that is the one targeted, a crash with probability 1 in this.
constexpr uint64_t kReinsertCrashOneIn = 4;

// Draws the geometry and journal mode of a seed (the first numbers of its stream).
Geometry Draw(Random& rng, const SimOptions& o);

class Simulator final : public storage::LookupWaiter, public storage::CommitWaiter {
 public:
  explicit Simulator(const SimOptions& o);

  SimResult Run();

  void OnLookupDone(uint64_t token, const ItemView* item, const IndexEntry& where) override;
  void OnCommitDone(uint64_t token, uint64_t ticket, bool ok) override;

 private:
  enum class Purpose : uint8_t { kGet, kTouch, kScan };
  struct PendingRead {
    Model::Read read;
    Purpose purpose;
  };
  struct PendingCommit {
    uint32_t key;
    uint64_t version;
  };
  struct StoreReq {
    uint32_t key = 0;
    uint32_t size = 0;
    uint32_t exptime = 0;
    bool touch = false;  // a read-modify-write: only if the key is still at `where`
    IndexEntry where{};
    uint64_t keep_cas = 0;
  };

  bool ok() const { return result_.failure.empty(); }
  void Fail(const std::string& what);
  bool StartEngine();
  void Retire();
  uint64_t Allowance() const;

  void Turn();
  void Step();
  void StepOn(uint32_t key);
  uint32_t PickKey();
  uint32_t ValueSize(uint32_t key);
  uint32_t Exptime() {
    return rng_.OneIn(8) ? now_ + static_cast<uint32_t>(rng_.Between(1, 30)) : 0;
  }
  // Returns false on kNoMemory (the caller parks a plain store; a touch is dropped).
  bool Store(const StoreReq& q);
  void Await(uint32_t key, uint64_t version, uint64_t ticket);
  void RetryParked();
  void Get(uint32_t key, bool bump, Purpose purpose);
  void Answer(const PendingRead& p, const ItemView* item, const IndexEntry& where, bool sync);
  void Delete(uint32_t key);
  void FlushAll();

  void Events();
  void Settle();
  void Scan();
  void CleanRestart();
  // After the start that followed a clean stop: a snapshot loaded only when the stop lived, and
  // always then, when that life had no IO errors.
  void CheckSnapshotUse(bool died, bool faulty);
  void Crash();
  // With reinsertion: crashes at the targeted step of a reinsertion (true when it crashed).
  bool CrashInReinsertion();

  SimOptions opts_;
  Random rng_;
  Geometry geo_;
  Model model_;
  std::vector<std::string> names_;
  std::vector<uint64_t> hashes_;
  std::unordered_map<uint64_t, uint32_t> key_of_;  // hash -> key id
  std::unique_ptr<SimIo> io_;
  std::unique_ptr<storage::Engine> engine_;
  uint32_t now_ = kStartTime;
  uint64_t turn_ = 0;
  uint64_t lives_ = 0;
  bool faults_on_ = false;
  size_t top_class_ = 0;
  std::string value_;

  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, PendingRead> reads_;
  std::unordered_map<uint64_t, PendingCommit> commits_;
  std::deque<StoreReq> parked_;
  uint64_t parked_turns_ = 0;
  std::vector<StoreReq> touches_;  // touches whose read completed, stored at the next turn

  // Presence checks between scans: the version each key was found at by the last scan.
  std::unordered_map<uint32_t, uint64_t> seen_;
  std::unordered_map<uint32_t, uint64_t> found_;  // this scan's hits
  uint64_t SmallLosses() const;
  uint64_t base_allowance_ = 0;  // losses counted by engines gone (and by rebuilds)
  uint64_t scan_allowance_ = 0;  // Allowance() at the end of the last scan
  bool faulty_since_scan_ = false;
  // Reinsertion steps: the engine's reinserted count at the last turn, the turn of the last
  // copies, the step the next reinsertion crash aims at (1 read in flight, 2 copies just made,
  // 3 a copy just made deleted, 4 kReinsertCrashDelay turns after them).
  uint64_t reinserted_seen_ = 0;
  uint64_t copied_turn_ = 0;
  int crash_step_ = 1;

  SimResult result_;
  // SSDCACHE_SIM_TRACE=<key id>: every request and answer of that key on stderr.
  int64_t trace_key_ = -1;
  void Trace(uint32_t key, const std::string& what) const;
  // Traces where the traced key's entry went since the last call.
  void Watch(const char* phase);
  std::optional<IndexEntry> watched_;
};

}  // namespace ssdcache::sim
