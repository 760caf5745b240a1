#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "sim_driver.h"
#include "sim_value.h"
#include "util/hash.h"

namespace ssdcache::sim {

Geometry Draw(Random& rng, const SimOptions& o) {
  Geometry g;
  g.journal = o.journal ? *o.journal : static_cast<JournalMode>(rng.Below(3));
  g.mem_slabs = static_cast<uint32_t>(rng.Between(2, 8));
  g.disk_slabs = g.mem_slabs + 2 + static_cast<uint32_t>(rng.Below(25));
  g.journal_blocks =
      g.journal == JournalMode::kNone ? 0 : static_cast<uint32_t>(rng.Between(16, 64));
  g.index_bytes = uint64_t{64} << rng.Between(2, 8);  // 4 to 256 buckets of 6 entries
  g.factor = rng.OneIn(2) ? 1.25 : 2.0;
  g.keys = 1U << rng.Between(6, 12);
  g.class_span = static_cast<uint32_t>(rng.Between(10, 100));
  g.boot_id = rng.Next() | 1;
  // Apart from `rng`, so that every seed's workload stays what it was before reinsertion.
  Random side(o.seed * 0x9E3779B97F4A7C15ULL + 0x5EED);
  // Every draw is made whatever the options say, so that overriding one (--compact off to narrow
  // a failure down) leaves the others as the seed drew them.
  const uint32_t shares[] = {0, 20, 100};
  const uint32_t share = shares[side.Below(3)];
  const bool admit = side.OneIn(2);
  const bool compact = !side.OneIn(4);
  g.reinsert_share = o.reinsert ? *o.reinsert : share;
  g.admit = o.admit ? *o.admit : admit;
  g.compact = o.compact ? *o.compact : compact;
  g.min_item = side.OneIn(2) ? 128 : 56;
  const bool small_on = side.OneIn(2);
  const uint32_t small_max = 100 + static_cast<uint32_t>(side.Below(300));
  g.small_max = o.small_max ? *o.small_max : small_on ? small_max : 0;
  if (g.journal != JournalMode::kProcess) g.small_max = 0;  // the tier needs that mode
  return g;
}

Simulator::Simulator(const SimOptions& o)
    : opts_(o), rng_(o.seed), geo_(Draw(rng_, o)), model_(geo_.keys) {
  for (uint32_t k = 0; k < geo_.keys; ++k) {
    names_.push_back("sim:" + std::to_string(k));
    hashes_.push_back(util::HashKey(names_.back()));
    key_of_.emplace(hashes_.back(), k);
  }
  result_.journal = geo_.journal;
  result_.reinsert_share = geo_.reinsert_share;
  result_.admit = geo_.admit;
  result_.compact = geo_.compact;
  result_.min_item = geo_.min_item;
  result_.small_max = geo_.small_max;
  if (const char* t = std::getenv("SSDCACHE_SIM_TRACE"); t != nullptr && *t != '\0') {
    trace_key_ = std::strtoll(t, nullptr, 10);
  }
}

uint32_t Simulator::PickKey() {
  // Half the requests go to an eighth of the keys, so that overwrites are common.
  const uint64_t span = rng_.OneIn(2) ? geo_.keys / 8 + 1 : geo_.keys;
  return static_cast<uint32_t>(rng_.Below(span));
}

uint32_t Simulator::ValueSize(uint32_t key) {
  // Small classes more often (min of two draws), every class up to top_class_ sometimes.
  const storage::SlabClasses& c = engine_->classes();
  const size_t cls = std::min(rng_.Below(top_class_ + 1), rng_.Below(top_class_ + 1));
  const uint32_t hi = c.chunk_size(cls);
  const uint32_t lo = cls == 0 ? 0 : c.chunk_size(cls - 1) + 1;
  const uint32_t item = lo + static_cast<uint32_t>(rng_.Below(hi - lo + 1));
  const uint32_t overhead = storage::kItemHeaderSize + static_cast<uint32_t>(names_[key].size());
  uint32_t size = item > overhead ? item - overhead : 0;
  size = std::max<uint32_t>(size, kValueHeaderSize);
  return std::min(size, c.max_item() - overhead);
}

void Simulator::Turn() {
  ++turn_;
  if (rng_.OneIn(10)) ++now_;
  if (rng_.OneIn(500)) now_ += 30;
  engine_->set_now(now_);
  Watch("the previous turn");
  RetryParked();
  Watch("parked stores");
  std::vector<StoreReq> touches;
  touches.swap(touches_);
  for (const StoreReq& q : touches) Store(q);
  Watch("touches");
  const uint64_t n = rng_.Between(1, 12);
  for (uint64_t i = 0; i < n && result_.ops < opts_.ops && ok(); ++i) {
    Step();
    Watch("a request");
  }
  engine_->CompactOpenSlabs();
  Watch("compaction");
  if (const std::string bad = engine_->AuditOpenSlabs(); !bad.empty()) Fail(bad);
  engine_->CommitJournal();
  engine_->SubmitIo();
  if (rng_.OneIn(4)) {
    engine_->PollIo();  // leave IO in flight into the next turn
  } else {
    engine_->DrainIo();
    // The superblock write of every flush_all is done; with IO errors it may have failed.
    if (!faults_on_) model_.AckFlushes();
  }
  Watch("IO completions");
  if (turn_ % 8 == 0) engine_->Housekeeping();
  Watch("housekeeping");
  if (turn_ % 64 == 0 && reads_.empty()) model_.Prune();
}

void Simulator::Step() {
  ++result_.ops;
  model_.Tick();
  const uint32_t key = PickKey();
  if (trace_key_ >= 0 && static_cast<int64_t>(key) != trace_key_) {
    // Which request of another key moved the traced key's index entry.
    const uint32_t t = static_cast<uint32_t>(trace_key_);
    const std::optional<IndexEntry> before = engine_->Locate(hashes_[t]);
    const storage::EngineStats s0 = engine_->stats();
    StepOn(key);
    const std::optional<IndexEntry> after = engine_->Locate(hashes_[t]);
    if (before.has_value() != after.has_value() ||
        (before && (before->slab != after->slab || before->chunk != after->chunk))) {
      const storage::EngineStats& s1 = engine_->stats();
      Trace(t, "entry moved by a request of " + names_[key] + " (index evictions +" +
                   std::to_string(s1.index_evictions - s0.index_evictions) + ", collisions +" +
                   std::to_string(s1.tag_collisions - s0.tag_collisions) + ", evictions +" +
                   std::to_string(s1.evictions - s0.evictions) + ")");
    }
    return;
  }
  StepOn(key);
}

void Simulator::StepOn(uint32_t key) {
  const uint64_t r = rng_.Below(4000);
  if (r < 1600) {
    Get(key, !rng_.OneIn(4), Purpose::kGet);
  } else if (r < 3040) {
    StoreReq q{key, ValueSize(key), Exptime()};
    if (!Store(q)) parked_.push_back(q);
  } else if (r < 3400) {
    Delete(key);
  } else if (r < 3680) {
    Get(key, true, Purpose::kTouch);
  } else if (r == 3680) {
    FlushAll();
  } else {
    Get(key, true, Purpose::kGet);
  }
}

bool Simulator::Store(const StoreReq& q) {
  const uint64_t version = model_.NewVersion();
  const ValueId id{q.key, version, q.exptime};
  EncodeValue(id, q.size, value_);
  storage::StoreRequest req(names_[q.key], hashes_[q.key], value_);
  req.flags = FlagsFor(id);
  req.exptime = q.exptime;
  req.keep_cas = q.keep_cas;
  if (q.touch) req.Expect(q.where);
  const storage::StoreOutcome out = engine_->Store(req);
  const StoreResult r = out.result;
  const uint64_t cas = out.cas;
  const uint64_t ticket = out.ticket;
  Trace(q.key, "store version " + std::to_string(version) + " result " +
                   std::to_string(static_cast<int>(r)) + " ticket " + std::to_string(ticket) +
                   (q.touch ? " (touch)" : ""));
  switch (r) {
    case StoreResult::kStored:
      ++result_.sets;
      model_.Stored(q.key, version, q.exptime, cas, ticket == 0);
      if (ticket != 0) Await(q.key, version, ticket);
      return true;
    case StoreResult::kNoMemory:
      // Its wake-up is a slab write completing: without one the client would hang.
      if (engine_->memory_slabs_flushing() == 0) Fail("kNoMemory with no slab write in flight");
      return false;
    case StoreResult::kConflict:
      if (!q.touch) Fail("kConflict for a store without an expected location");
      return true;
    case StoreResult::kTooLarge:
      Fail("kTooLarge for an item of " + std::to_string(q.size) + " value bytes");
      return true;
    case StoreResult::kOutOfMemory:
      Fail("kOutOfMemory without -M (disable_evictions)");
      return true;
  }
  return true;
}

void Simulator::Await(uint32_t key, uint64_t version, uint64_t ticket) {
  const uint64_t token = next_token_++;
  commits_.emplace(token, PendingCommit{key, version});
  engine_->AwaitCommit(ticket, this, token);  // may answer at once
}

void Simulator::OnCommitDone(uint64_t token, uint64_t /*ticket*/, bool ok) {
  auto it = commits_.find(token);
  if (it == commits_.end()) {
    Fail("a commit answered twice or for an unknown token");
    return;
  }
  Trace(it->second.key,
        "commit of version " + std::to_string(it->second.version) + (ok ? " ok" : " failed"));
  model_.Committed(it->second.key, it->second.version, ok);
  if (!ok) ++result_.commit_failures;
  commits_.erase(it);
}

void Simulator::RetryParked() {
  while (!parked_.empty() && ok()) {
    if (!Store(parked_.front())) {
      if (++parked_turns_ > kHangTurns) {
        Fail("a store waited " + std::to_string(kHangTurns) + " turns for a memory slab");
      }
      return;
    }
    parked_.pop_front();
  }
  parked_turns_ = 0;
}

void Simulator::Get(uint32_t key, bool bump, Purpose purpose) {
  const PendingRead p{model_.BeginRead(key), purpose};
  ItemView v;
  IndexEntry where{};
  const uint64_t token = next_token_++;
  switch (engine_->Lookup(names_[key], hashes_[key], v, this, token, &where, bump).kind) {
    case LookupResult::kHit:
      Answer(p, &v, where, /*sync=*/true);
      break;
    case LookupResult::kMiss:
      Answer(p, nullptr, where, /*sync=*/true);
      break;
    case LookupResult::kPending:
      ++result_.device_reads;
      reads_.emplace(token, p);
      break;
  }
}

void Simulator::OnLookupDone(uint64_t token, const ItemView* item, const IndexEntry& where) {
  auto it = reads_.find(token);
  if (it == reads_.end()) {
    Fail("a lookup answered twice or for an unknown token");
    return;
  }
  const PendingRead p = it->second;
  reads_.erase(it);
  Answer(p, item, where, /*sync=*/false);
}

void Simulator::Answer(const PendingRead& p, const ItemView* item, const IndexEntry& where,
                       bool sync) {
  const uint32_t key = p.read.key;
  if (static_cast<int64_t>(key) == trace_key_) {
    ValueId id;
    std::string why;
    Trace(key, std::string(sync ? "read " : "device read ") +
                   (item == nullptr                     ? "miss"
                    : DecodeValue(item->value, id, why) ? "version " + std::to_string(id.version)
                                                        : "corrupt"));
  }
  if (item == nullptr) {
    ++result_.misses;
    return;
  }
  ++result_.hits;
  std::string why;
  if (!model_.CheckHit(p.read, *item, now_, why)) {
    Fail("get " + names_[key] + ": " + why + " (" + model_.Describe(key) + ")");
    return;
  }
  if (p.purpose == Purpose::kScan) {
    ValueId id;
    DecodeValue(item->value, id, why);
    found_[key] = id.version;
  } else if (p.purpose == Purpose::kTouch) {
    // A touch rewrites the item with a new exptime and the same cas, if the key is unchanged; a
    // new version number keeps every stored value identifiable.
    StoreReq q{key, static_cast<uint32_t>(item->value.size()), Exptime(), true, where, item->cas};
    if (sync) {
      Store(q);
    } else {
      touches_.push_back(q);
    }
  }
}

void Simulator::Delete(uint32_t key) {
  const uint64_t version = model_.NewVersion();
  const storage::EraseOutcome out = engine_->Erase(names_[key], hashes_[key]);
  const bool found = out.erased;
  const uint64_t ticket = out.ticket;
  Trace(key, "delete version " + std::to_string(version) + (found ? " found" : " not found") +
                 " ticket " + std::to_string(ticket));
  if (!found) return;  // NOT_FOUND changes nothing
  ++result_.deletes;
  model_.Erased(key, version, ticket == 0);
  if (ticket != 0) Await(key, version, ticket);
}

void Simulator::FlushAll() {
  ++result_.flushes;
  engine_->FlushAll();
  model_.FlushAll(model_.NewVersion());
  seen_.clear();
}

SimResult RunSimulation(const SimOptions& options) { return Simulator(options).Run(); }

}  // namespace ssdcache::sim
