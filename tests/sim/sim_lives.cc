#include <cstdio>

#include "sim_driver.h"
#include "sim_value.h"

namespace ssdcache::sim {

void Simulator::Watch(const char* phase) {
  if (trace_key_ < 0 || !engine_) return;
  const uint32_t t = static_cast<uint32_t>(trace_key_);
  const std::optional<IndexEntry> now = engine_->Locate(hashes_[t]);
  if (now.has_value() != watched_.has_value() ||
      (now && (now->slab != watched_->slab || now->chunk != watched_->chunk))) {
    Trace(t, std::string("entry changed in ") + phase);
  }
  watched_ = now;
}

void Simulator::Trace(uint32_t key, const std::string& what) const {
  if (static_cast<int64_t>(key) != trace_key_) return;
  std::string where = "none";
  if (engine_) {
    if (std::optional<IndexEntry> e = engine_->Locate(hashes_[key])) {
      where = std::to_string(e->slab) + "/" + std::to_string(e->chunk);
    }
  }
  std::fprintf(stderr, "trace turn %llu op %llu %s: %s (index %s)\n",
               static_cast<unsigned long long>(turn_), static_cast<unsigned long long>(result_.ops),
               names_[key].c_str(), what.c_str(), where.c_str());
}
void Simulator::Fail(const std::string& what) {
  if (!ok()) return;
  result_.ok = false;
  result_.failure = "seed " + std::to_string(opts_.seed) + " (journal " +
                    JournalModeName(geo_.journal) + "), op " + std::to_string(result_.ops) +
                    ", turn " + std::to_string(turn_) + ", engine life " + std::to_string(lives_) +
                    (faults_on_ ? " with IO faults" : "") + ": " + what;
}

uint64_t Simulator::SmallLosses() const {
  // What the small-object tier counts losing: evictions within its sets (admission drops among
  // them), failed set reads, records dropped with a failed set write.
  const storage::SmallTier* t = engine_ ? engine_->small_tier() : nullptr;
  if (t == nullptr) return 0;
  const storage::SmallTierStats s = t->stats();
  return s.evictions + s.read_errors + s.write_drops;
}

uint64_t Simulator::Allowance() const {
  uint64_t a = base_allowance_;
  if (engine_) {
    const storage::EngineStats& s = engine_->stats();
    a += s.evictions + s.read_errors + s.checksum_errors + SmallLosses();
  }
  return a;
}

bool Simulator::StartEngine() {
  faults_on_ = opts_.faults && rng_.OneIn(3);
  storage::FaultSpec spec;
  if (faults_on_) {
    spec.read_eio = 0.002;
    spec.read_short = 0.001;
    spec.write_eio = 0.002;
    spec.write_short = 0.001;
    spec.write_torn = 0.001;
    spec.journal_eio = geo_.journal == JournalMode::kDevice ? 0.005 : 0;
    spec.seed = rng_.Next();
    faulty_since_scan_ = true;
  }
  storage::EngineOptions e;
  e.slab_size = kSlab;
  e.min_item_size = geo_.min_item;
  e.max_memory = uint64_t{geo_.mem_slabs} * kSlab;
  e.max_index_memory = geo_.index_bytes;
  e.factor = geo_.factor;
  e.journal_size = uint64_t{geo_.journal_blocks} * storage::kJournalBlockSize;
  e.journal_sync = geo_.journal == JournalMode::kProcess ? storage::JournalSync::kProcess
                                                         : storage::JournalSync::kDevice;
  e.boot_id = geo_.boot_id;
  e.snapshot_size = kSnapshotBytes;
  if (opts_.old_eviction_order) e.eviction_order = storage::EvictionOrder::kDiskCloseForTests;
  e.reinsert = geo_.reinsert_share > 0;
  if (e.reinsert) e.reinsert_share = geo_.reinsert_share;
  // The ghost's -m/16 comes on top, so that the memory slabs stay what the geometry drew.
  e.admission = geo_.admit;
  e.compact = geo_.compact;
  e.small_max = geo_.small_max;
  e.small_share = kSimSmallShare;
  if (e.admission) e.max_memory += kSlab;
  std::string error;
  engine_ = io_->CreateEngine(e, rng_.Next(), faults_on_ ? &spec : nullptr, error);
  if (!engine_) {
    Fail("Engine::Create: " + error);
    return false;
  }
  engine_->set_now(now_);
  if (!engine_->Recover(false, error)) {
    Fail("Recover: " + error);
    return false;
  }
  // A record a rebuild found no index room for is a loss counted as an index eviction only.
  base_allowance_ += engine_->stats().index_evictions;
  engine_->set_memory_listener([this] { parked_turns_ = 0; });
  const size_t classes = engine_->classes().count();
  top_class_ = std::max<size_t>(1, classes * geo_.class_span / 100) - 1;
  ++lives_;
  reinserted_seen_ = 0;
  copied_turn_ = 0;
  return true;
}

void Simulator::Retire() {
  const storage::EngineStats& s = engine_->stats();
  base_allowance_ += s.evictions + s.read_errors + s.checksum_errors + SmallLosses();
  if (const storage::SmallTier* t = engine_->small_tier()) result_.small_items = t->stats().items;
  result_.evictions += s.evictions;
  result_.journal_waits += s.journal_waits;
  result_.write_errors += s.write_errors;
  result_.reinserted += s.reinserted_items;
  result_.admit_probation += s.admit_probation;
  result_.admit_dropped += s.admit_dropped;
  result_.compactions += s.compactions;
}

bool Simulator::CrashInReinsertion() {
  if (geo_.reinsert_share == 0) return false;
  const uint64_t copied = engine_->stats().reinserted_items;
  int step = 0;
  if (engine_->reinsert_victim()) {
    step = 1;  // the victim's read in flight
  } else if (copied > reinserted_seen_) {
    // Copies just made, in an open memory slab: crash as they are (2), or after a delete of
    // the last one (3), which must stay deleted although its original is still on the device.
    step = crash_step_ == 3 ? 3 : 2;
    copied_turn_ = turn_;
  } else if (copied_turn_ != 0 && turn_ == copied_turn_ + kReinsertCrashDelay) {
    step = 4;
  }
  reinserted_seen_ = copied;
  if (step == 0 || step != crash_step_ || !rng_.OneIn(kReinsertCrashOneIn)) return false;
  if (step == 3) {
    const auto it = key_of_.find(engine_->last_reinserted_hash());
    if (it != key_of_.end()) Delete(it->second);
  }
  crash_step_ = crash_step_ % 4 + 1;
  ++result_.reinsert_crashes;
  Crash();
  return true;
}

void Simulator::Events() {
  if (!opts_.restarts) {
    if (turn_ % kScanEvery == 0) Scan();
    return;
  }
  if (CrashInReinsertion()) return;
  if (rng_.OneIn(kRestartOneIn)) {
    CleanRestart();
  } else if (rng_.OneIn(kCrashOneIn)) {
    Crash();
  } else if (turn_ % kScanEvery == 0) {
    Scan();
  }
}

void Simulator::Settle() {
  engine_->CommitJournal();
  engine_->SubmitIo();
  engine_->DrainIo();
}

void Simulator::Scan() {
  // Every key the model requires (an acknowledged, unexpired store) is read; those the last scan
  // found at the same version must all be found again, but for the losses the engine counted.
  Settle();
  found_.clear();
  for (uint32_t key = 0; key < geo_.keys && ok(); ++key) {
    if (model_.Expected(key, now_) == 0) continue;
    Get(key, /*bump=*/false, Purpose::kScan);
    if (reads_.size() >= 16) Settle();
  }
  Settle();
  if (!ok()) return;
  uint64_t missing = 0;
  std::string first;
  for (const auto& [key, version] : seen_) {
    if (model_.Expected(key, now_) != version) continue;  // changed, deleted or expired since
    auto it = found_.find(key);
    if (it != found_.end() && it->second == version) {
      ++result_.keys_verified;
      continue;
    }
    if (missing++ == 0) first = names_[key] + " version " + std::to_string(version);
  }
  const uint64_t allowance = Allowance() - scan_allowance_;
  if (!faulty_since_scan_ && missing > allowance) {
    Fail(std::to_string(missing) + " acknowledged keys went missing (first " + first +
         ") but the engine counted " + std::to_string(allowance) +
         " evictions and read errors since the last scan");
    return;
  }
  seen_.clear();
  for (const auto& [key, version] : found_) {
    if (model_.Expected(key, now_) == version) seen_.emplace(key, version);
  }
  scan_allowance_ = Allowance();
  faulty_since_scan_ = faults_on_;
  ++result_.scans;
  if (opts_.verbose) {
    std::fprintf(stderr, "sim: turn %llu scan: %zu present, %llu missing, allowance %llu\n",
                 static_cast<unsigned long long>(turn_), seen_.size(),
                 static_cast<unsigned long long>(missing),
                 static_cast<unsigned long long>(allowance));
  }
}

void Simulator::CleanRestart() {
  Scan();
  if (!ok()) return;
  // SIGTERM: every memory slab written, the journal drained, the superblock marked clean.
  bool flushed = false;
  for (int round = 0; round < 100 && !flushed; ++round) {
    const bool more = engine_->ShutdownFlush();
    Settle();
    // A slab write that failed while settling put its tombstones back: one more round.
    flushed = !more && commits_.empty() && engine_->ShutdownWritten();
  }
  // A third of the stops die at one of their last writes (the snapshot's pages, its header, the
  // clean superblock), whole or torn: the next start must scan, and find what a clean one would.
  if (rng_.OneIn(3)) io_->DieDuringStop(rng_.Below(kStopWrites), rng_.OneIn(2));
  std::string error;
  if (!flushed) error = "memory slabs or journal commits left after 100 shutdown rounds";
  if (flushed && !engine_->FinishShutdown(error)) flushed = false;
  const bool died = io_->died();
  io_->StayAlive();
  if (!flushed) {
    // A write that kept failing may leave a slab unwritten; without faults it is a defect.
    if (!faults_on_) {
      Fail("clean shutdown: " + error);
      return;
    }
    Crash();
    return;
  }
  model_.AckFlushes();  // the superblock, written synchronously, holds the flush sequence
  // Without a journal nothing re-covers the records of a slab write that failed but reached the
  // device: a stop after write errors is not clean (the server exits 1), so it counts as a crash.
  if (geo_.journal == JournalMode::kNone && engine_->stats().write_errors > 0) {
    model_.Crash(/*ordered=*/false);
  }
  parked_.clear();
  touches_.clear();
  Retire();
  const bool faulty = faults_on_;
  if (died) {
    io_->Crash(engine_, rng_.Next(), /*reboot=*/false);
    ++result_.stop_deaths;
  } else {
    io_->Stop(engine_);
  }
  ++result_.clean_restarts;
  if (opts_.verbose || trace_key_ >= 0) {
    std::fprintf(stderr, "sim: turn %llu clean restart%s\n", static_cast<unsigned long long>(turn_),
                 died ? " (died in the stop's last writes)" : "");
  }
  if (!StartEngine()) return;
  CheckSnapshotUse(died, faulty);
  Scan();
}

void Simulator::CheckSnapshotUse(bool died, bool faulty) {
  if (engine_->recovery().snapshot) {
    ++result_.snapshot_loads;
    if (died) Fail("a snapshot was loaded after a stop that died before it was marked clean");
  } else if (!died && !faulty) {
    Fail("a clean stop without IO errors left no snapshot for the restart");
  }
}

void Simulator::Crash() {
  // A process-mode journal of a crash on another boot may have lost entries with the page cache:
  // the engine must start empty.
  const bool reboot = geo_.journal == JournalMode::kProcess && rng_.OneIn(4);
  Retire();
  io_->Crash(engine_, rng_.Next(), reboot);
  reads_.clear();
  commits_.clear();
  parked_.clear();
  touches_.clear();
  seen_.clear();
  // Device and process mode (same boot) promise that no older version comes back.
  model_.Crash(geo_.journal != JournalMode::kNone);
  ++result_.crashes;
  if (reboot) geo_.boot_id += 2;
  if (opts_.verbose || trace_key_ >= 0) {
    std::fprintf(stderr, "sim: turn %llu crash%s\n", static_cast<unsigned long long>(turn_),
                 reboot ? " across a reboot" : "");
  }
  if (!StartEngine()) return;
  if (reboot) {
    model_.Wiped(model_.NewVersion());
    ++result_.wipes;
  }
  scan_allowance_ = Allowance();
}

SimResult Simulator::Run() {
  const uint64_t reserved = (4096 + uint64_t{geo_.journal_blocks} * storage::kJournalBlockSize +
                             kSnapshotBytes + kSlab - 1) /
                            kSlab;
  // With the small-object tier, kSimSmallShare of the slice more (and a slab for its image), so
  // that the disk slabs stay what the geometry drew.
  const uint64_t slabs = reserved + geo_.disk_slabs;
  const uint64_t tier =
      geo_.small_max == 0
          ? 0
          : (slabs * kSimSmallShare + 100 - kSimSmallShare - 1) / (100 - kSimSmallShare) + 2;
  std::string error;
  io_ = SimIo::Create((slabs + tier) * kSlab, error);
  if (!io_) {
    Fail("device: " + error);
    return result_;
  }
  if (!StartEngine()) return result_;
  while (result_.ops < opts_.ops && ok()) {
    Turn();
    if (ok()) Events();
  }
  if (ok()) {
    if (opts_.restarts) {
      CleanRestart();
    } else {
      Scan();
    }
  }
  if (engine_) Retire();
  engine_.reset();
  return result_;
}

}  // namespace ssdcache::sim
