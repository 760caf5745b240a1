#include "storage/small_tier.h"

#include <algorithm>

#include "storage/item.h"
#include "util/hash.h"

namespace ssdcache::storage {

namespace {

// IoOp::user: the index of the move or read, and which of the two it is.
constexpr uint64_t kMoveTag = 1;
constexpr uint32_t kMoveReadTries = 3;  // a move's read of its set, before the set is lost

}  // namespace

bool SmallTierOptions::Validate(std::string& error) const {
  if (sets == 0 || sets >= (uint64_t{1} << 32)) {
    error = "small tier: sets must be 1 to 2^32-1";
  } else if (base % kSetBytes != 0) {
    error = "small tier: base must be 4 KiB aligned";
  } else if (filter_bits < 8 || filter_hashes < 1 || filter_hashes > 8) {
    error = "small tier: filter_bits must be at least 8 and filter_hashes 1-8";
  } else if (hit_bits > 128) {
    error = "small tier: hit_bits must be at most 128";
  } else if (log_bytes < (64u << 10) || log_bytes >= (uint64_t{1} << 32)) {
    error = "small tier: log_bytes must be 64 KiB to 4 GiB";
  } else if (admit_threshold < 1 || max_moves < 1 || max_moves > 64 || tomb_reserve_div < 2) {
    error = "small tier: admit_threshold >= 1, max_moves 1-64, tomb_reserve_div >= 2";
  } else {
    return true;
  }
  return false;
}

SmallTier::SmallTier(IoBackend& aio, const SmallTierOptions& options)
    : aio_(aio),
      options_(options),
      filters_(options.sets, options.filter_bits, options.filter_hashes),
      hits_((options.sets * options.hit_bits + 63) / 64, 0),
      void_((options.sets + 63) / 64, 0),
      log_(options.log_bytes),
      gens_(std::max<uint64_t>(1, options.sets / 16), 0) {
  for (uint32_t i = 0; i < options_.max_moves; ++i) {
    moves_.push_back(std::make_unique<Move>());
    moves_.back()->io.handler = this;
    moves_.back()->io.user = (uint64_t{i} << 1) | kMoveTag;
  }
}

SmallTier::~SmallTier() = default;

bool SmallTier::Fits(size_t nkey, size_t nvalue) {
  return nkey >= 1 && nkey <= 255 && nkey + nvalue <= kSetMaxPayload;
}

void SmallTier::SetBit(std::vector<uint64_t>& v, uint64_t i, bool on) {
  if (on) {
    v[i / 64] |= uint64_t{1} << (i % 64);
  } else {
    v[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
}

void SmallTier::ClearHits(uint64_t set) {
  for (uint32_t i = 0; i < options_.hit_bits; ++i)
    SetBit(hits_, set * options_.hit_bits + i, false);
}

bool SmallTier::MayBeOnDevice(uint64_t set, uint64_t hash) const {
  if (Bit(void_, set) || filters_.MayContain(set, hash)) return true;
  // A version a move of the set carries reaches the device when its write completes, even once a
  // newer version replaced it in the log (unlinked, but pinned: its read may have merged it).
  for (const auto& m : moves_) {
    if (!m->busy || m->set != set) continue;
    for (const uint32_t at : m->refs) {
      if (log_.header(at).hash == hash) return true;
    }
  }
  return false;
}

bool SmallTier::FromLog(std::string_view key, uint64_t hash, uint64_t set, SetRecord& out,
                        bool& hit, SmallTierVersion& version) const {
  const uint32_t at = log_.Find(key, hash, static_cast<uint32_t>(set));
  if (at == kLogNil) return false;
  version = LogVersion(at, set);
  hit = version.present;
  if (hit) out = log_.View(at);
  return true;
}

SmallTierWrite SmallTier::Insert(const SetRecord& r, uint64_t hash) {
  if (r.key.empty() || r.key.size() > 255) return {SmallTierStatus::kBadKey, false};
  if (!Fits(r.key.size(), r.value.size()) || r.value.size() > 65535) {
    return {SmallTierStatus::kTooLarge, false};
  }
  if (r.wseq < flushed_below_) return {SmallTierStatus::kOk, false};  // flushed as it arrives
  const uint32_t set = static_cast<uint32_t>(SetOf(hash));
  const uint32_t bytes = SmallLog::RecordBytes(r.key.size(), r.value.size());
  const size_t keep = log_.capacity() / options_.tomb_reserve_div;
  // Records move out before the key's log version is looked up: a pump may drop it (admission),
  // and its bytes may then hold the record appended below.
  if (!log_.HasRoom(bytes, keep)) Pump();
  const uint32_t old = log_.Find(r.key, hash, set);
  // A version newer than this one is in the log already: this one is superseded as it arrives.
  if (old != kLogNil && log_.header(old).wseq > r.wseq) return {SmallTierStatus::kOk, false};
  const bool journal = MayBeOnDevice(set, hash);
  if (log_.Append(r, hash, set, false, keep) == kLogNil) {
    ++stats_.no_room;
    // The new version is not kept. When nothing older can be on the device, dropping the log
    // version leaves no version of the key here, so a store elsewhere (or none: a failed store
    // drops the old item, as memcached does) cannot be undercut by it.
    if (old != kLogNil && !journal) log_.Kill(old);
    return {SmallTierStatus::kNoRoom, false};
  }
  newest_wseq_ = std::max(newest_wseq_, r.wseq);
  if (old != kLogNil) log_.Kill(old);
  Pump();
  return {SmallTierStatus::kOk, journal};
}

SmallTierWrite SmallTier::Erase(std::string_view key, uint64_t hash, uint64_t wseq) {
  if (key.empty() || key.size() > 255) return {SmallTierStatus::kBadKey, false};
  // Below the flush floor: whatever it would hide is older still, so flushed already.
  if (wseq < flushed_below_) return {SmallTierStatus::kOk, false};
  const uint32_t set = static_cast<uint32_t>(SetOf(hash));
  // As in Insert(): records move out before the key's log version is looked up.
  if (!log_.HasRoom(SmallLog::RecordBytes(key.size(), 0), 0)) Pump();
  const uint32_t old = log_.Find(key, hash, set);
  if (old != kLogNil && log_.header(old).wseq > wseq) return {SmallTierStatus::kOk, false};
  if (!MayBeOnDevice(set, hash)) {
    // Neither the set nor a write in flight can hold the key: forgetting the log version is all.
    if (old != kLogNil) log_.Kill(old);
    return {SmallTierStatus::kOk, false};
  }
  SetRecord tomb;
  tomb.key = key;
  tomb.wseq = wseq;
  if (log_.Append(tomb, hash, set, true, 0) == kLogNil) {
    ++stats_.no_room;
    return {SmallTierStatus::kNoRoom, false};
  }
  newest_wseq_ = std::max(newest_wseq_, wseq);
  if (old != kLogNil) log_.Kill(old);
  Pump();
  return {SmallTierStatus::kOk, true};
}

SmallTierLookupResult SmallTier::Lookup(std::string_view key, uint64_t hash,
                                        SmallTierWaiter* waiter, uint64_t token, bool bump) {
  SmallTierLookupResult out;
  const uint64_t set = SetOf(hash);
  bool hit = false;
  if (FromLog(key, hash, set, out.item, hit, out.version)) {
    if (hit) ++stats_.log_hits;
    out.kind = hit ? SmallTierLookup::kHit : SmallTierLookup::kMiss;
    return out;
  }
  if (key.empty() || key.size() > 255 || Bit(void_, set) || !filters_.MayContain(set, hash)) {
    ++stats_.filter_misses;
    out.version = Stamp(set);
    return out;
  }
  if (free_reads_.empty()) {
    reads_.push_back(std::make_unique<Read>());
    Read& r = *reads_.back();
    r.io.handler = this;
    r.io.user = (reads_.size() - 1) << 1;
    free_reads_.push_back(&r);
  }
  Read& r = *free_reads_.back();
  free_reads_.pop_back();
  active_reads_.push_back(&r);
  r.waiter = waiter;
  r.token = token;
  r.hash = hash;
  r.set = set;
  r.stale = false;
  r.bump = bump;
  r.nkey = static_cast<uint8_t>(key.size());
  std::copy(key.begin(), key.end(), r.key);
  StartRead(r);
  out.kind = SmallTierLookup::kReading;
  return out;
}

void SmallTier::StartRead(Read& r) {
  ++stats_.set_reads;
  r.io.buf = r.page.data();
  r.io.len = kSetBytes;
  r.io.offset = options_.base + r.set * kSetBytes;
  aio_.Read(r.io);
}

void SmallTier::OnIoComplete(IoOp& op, int64_t result) {
  const uint64_t index = op.user >> 1;
  if ((op.user & kMoveTag) != 0) {
    Move& m = *moves_[index];
    if (m.io.write) {
      OnMoveWritten(m, result);
    } else {
      OnMoveRead(m, result);
    }
  } else {
    OnLookupRead(*reads_[index], result);
  }
}

void SmallTier::OnLookupRead(Read& r, int64_t result) {
  SetRecord item;
  bool hit = false;
  bool hit_bit = false;  // a set answer whose slot has a hit bit
  SmallTierVersion version;
  bool answered = FromLog(r.Key(), r.hash, r.set, item, hit, version);
  if (!answered && r.stale) {
    // The set was rewritten while it was read: what the read found may be older than the set.
    r.stale = false;
    if (!Bit(void_, r.set) && filters_.MayContain(r.set, r.hash)) {
      StartRead(r);
      return;
    }
    answered = true;
  }
  std::vector<SetRecord>& recs = lookup_recs_;  // reused: no allocation per read
  recs.clear();
  if (!answered) {
    SetCheck check = SetCheck::kCorrupt;
    if (result != kSetBytes) {
      ++stats_.read_errors;
    } else {
      uint64_t set_wseq = 0;
      check = ReadSetPage(r.page.data(), r.set, options_.epoch, recs, &set_wseq);
      if (check == SetCheck::kCorrupt) ++stats_.corrupt_sets;
      DropOldTokens(recs, 0, set_wseq);
    }
    size_t slot = recs.size();
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].key != r.Key() || recs[i].wseq < flushed_below_) continue;  // flush_all
      if (slot == recs.size() || recs[i].wseq > recs[slot].wseq) slot = i;
    }
    hit = slot < recs.size() && !Expired(recs[slot].exptime);
    if (hit) {
      item = recs[slot];
      ++stats_.set_hits;
      if (slot < options_.hit_bits) {
        // The hit bit is the item's fetched mark since its set's last write (a rewrite folds it
        // into the record): reported as it was before this read, set by a fetch.
        hit_bit = true;
        const uint64_t bit = r.set * options_.hit_bits + slot;
        if (Bit(hits_, bit)) item.marks |= kMarkFetched;
        if (r.bump) SetBit(hits_, bit, true);
      }
    } else if (check == SetCheck::kOk && slot == recs.size()) {
      ++stats_.false_positive_reads;
    }
  }
  if (!version.in_log) {
    // As of now: a rewrite of the set since the read started made it read again (stale).
    version = Stamp(r.set);
    version.present = hit;
    version.wseq = hit ? item.wseq : 0;
    version.hit_bit = hit_bit;
  }
  // The waiter copies the value out of the page before the read goes back to the pool.
  answer_version_ = version;
  r.waiter->OnSmallLookupDone(r.token, hit ? &item : nullptr);
  auto at = std::find(active_reads_.begin(), active_reads_.end(), &r);
  *at = active_reads_.back();
  active_reads_.pop_back();
  free_reads_.push_back(&r);
}

void SmallTier::Flush(bool force) {
  flush_below_ = newest_wseq_ + 1;
  force_ = force;
  forced_ = forced_ || force;
  RetryVoidSets();
}

void SmallTier::RetryVoidSets() {
  // Void sets are rewritten here and at a bounded rate while running, not after each failed
  // write: a device that keeps failing must not turn into a loop of writes. Pump() starts their
  // moves as slots allow.
  void_retry_.clear();
  for (VoidSet& v : void_list_) {
    v.fails = 0;
    void_retry_.push_back(v.set);
  }
  Pump();
}

bool SmallTier::idle() const {
  if (!active_reads_.empty() || !void_retry_.empty()) return false;
  return std::none_of(moves_.begin(), moves_.end(), [](const auto& m) { return m->busy; });
}

bool SmallTier::SetBusy(uint64_t set) const {
  return std::any_of(moves_.begin(), moves_.end(),
                     [set](const auto& m) { return m->busy && m->set == set; });
}

bool SmallTier::Pressure() const {
  // Moving the oldest records out lets the tail pass them (and the dead records behind them,
  // overwritten versions) once their moves complete.
  return log_.used_bytes() >= log_.capacity() / 4 * 3;
}

void SmallTier::Pump() {
  // The void sets Flush() asked to rewrite first (a move in flight of one rewrites it too).
  while (!void_retry_.empty()) {
    const uint32_t set = void_retry_.back();
    void_retry_.pop_back();
    if (Bit(void_, set) && !SetBusy(set) && !StartMove(set)) {
      void_retry_.push_back(set);  // no slot: a completing move pumps again
      return;
    }
  }
  RetryOneVoidSet();
  while (true) {
    const uint32_t at = log_.OldestUnmoved();
    if (at == kLogNil || (flush_below_ != 0 && log_.header(at).wseq >= flush_below_)) {
      flush_below_ = 0;  // what Flush() asked for is moved (or moving)
      force_ = false;
    }
    if (at == kLogNil || (flush_below_ == 0 && !Pressure())) break;
    const uint32_t set = log_.header(at).set;
    // The oldest record waits for its set's move in flight (which restarts the pump).
    if (SetBusy(set) || !StartMove(set)) break;
  }
  // The forced flush is over once what it asked for (rewrites of failed sets too) completed.
  if (forced_ && flush_below_ == 0 && void_retry_.empty() &&
      std::none_of(moves_.begin(), moves_.end(), [](const auto& m) { return m->busy; })) {
    forced_ = false;
  }
}

void SmallTier::RetryOneVoidSet() {
  // A void set keeps journal entries from being reclaimed: it is rewritten while running too, at
  // most once per kVoidRetryMoves moves of log records, so that retries of a failing device
  // cost at most that share of the set writes.
  if (void_credit_ < kVoidRetryMoves) return;
  for (size_t i = 0; i < void_list_.size(); ++i) {
    const uint32_t set = void_list_[i].set;
    if (SetBusy(set)) continue;  // its move in flight rewrites it
    if (!StartMove(set)) return;
    void_credit_ = 0;
    // The next retry takes another set first.
    std::rotate(void_list_.begin() + static_cast<std::ptrdiff_t>(i),
                void_list_.begin() + static_cast<std::ptrdiff_t>(i) + 1, void_list_.end());
    return;
  }
}

bool SmallTier::StartMove(uint32_t set) {
  auto slot = std::find_if(moves_.begin(), moves_.end(), [](const auto& m) { return !m->busy; });
  if (slot == moves_.end()) return false;
  Move& m = **slot;
  m.refs.clear();
  log_.ForSet(set, [&](uint32_t at) { m.refs.push_back(at); });
  std::reverse(m.refs.begin(), m.refs.end());
  const bool is_void = Bit(void_, set);
  bool must = force_ || is_void || m.refs.size() >= options_.admit_threshold;
  for (size_t i = 0; i < m.refs.size() && !must; ++i) {
    // A settled copy (Remark) is the set's own version: dropping it loses only its marks.
    const LogRecordHeader& h = log_.header(m.refs[i]);
    must = (h.state & kLogSettled) == 0 && filters_.MayContain(set, h.hash);
  }
  if (!must) {
    // Threshold admission: too few records to rewrite the set for, and none of them can have an
    // older version in it, so dropping them uncovers nothing. They are evictions of the cache.
    for (const uint32_t at : m.refs) {
      if ((log_.header(at).state & (kLogTomb | kLogSettled)) == 0) {
        ++stats_.admission_drops;
        ++stats_.evictions;
      }
      log_.Kill(at);
    }
    return true;
  }
  m.busy = true;
  m.set = set;
  m.retry = m.refs.empty();
  m.read_tries = 0;
  m.min_wseq = UINT64_MAX;
  for (const uint32_t at : m.refs) {
    log_.SetMoving(at);
    m.min_wseq = std::min(m.min_wseq, log_.header(at).wseq);
  }
  if (is_void) {
    // Its content is unknown (a failed write): the set is written anew, not read.
    m.old.clear();
    WriteMerged(m);
    return true;
  }
  m.io.buf = m.page.data();
  m.io.len = kSetBytes;
  m.io.offset = options_.base + uint64_t{set} * kSetBytes;
  aio_.Read(m.io);
  return true;
}

void SmallTier::OnMoveRead(Move& m, int64_t result) {
  std::vector<SetRecord>& old = m.old;
  old.clear();
  if (result != kSetBytes) {
    ++stats_.read_errors;
    if (++m.read_tries < kMoveReadTries) {
      aio_.Read(m.io);  // the same page, offset and length: a transient error passes
      return;
    }
    // The set's content is unknown: it is written with the log's records only, which also
    // overwrites any older version; what it held is lost.
    LoseSet(m.set);
  } else if (uint64_t set_wseq = 0; ReadSetPage(m.page.data(), m.set, options_.epoch, old,
                                                &set_wseq) == SetCheck::kCorrupt) {
    ++stats_.corrupt_sets;
    LoseSet(m.set);
  } else {
    DropOldTokens(old, 0, set_wseq);  // the write below is sealed at marks_floor_ or above
  }
  WriteMerged(m);
}

void SmallTier::LoseSet(uint64_t set) {
  // Its item count is not kept: the filter's estimate leaves the tier's count.
  ++stats_.set_losses;
  const uint64_t before = items_;
  items_ -= std::min<uint64_t>(items_, filters_.EstimateKeys(set));
  // Nor are its sizes: every step shrinks in proportion.
  for (uint64_t& n : set_by_step_) n = before == 0 ? 0 : n * items_ / before;
  BumpGen(set);
}

void SmallTier::WriteMerged(Move& m) {
  m.old_count = m.old.size();
  Merge(m);
  const std::vector<SetRecord>& recs = m.recs;
  SetPageWriter w(m.out.data(), m.set, options_.epoch);
  // Sealed at this run's floor or above, so that its token bits count (DropOldTokens).
  uint64_t wseq = std::max<uint64_t>(1, marks_floor_);
  for (const SetRecord& r : recs) {
    w.Add(r);
    wseq = std::max(wseq, r.wseq);
  }
  w.Seal(wseq);
  m.new_count = recs.size();
  m.io.buf = m.out.data();
  m.io.len = kSetBytes;
  m.io.offset = options_.base + uint64_t{m.set} * kSetBytes;
  aio_.Write(m.io);
}

}  // namespace ssdcache::storage
