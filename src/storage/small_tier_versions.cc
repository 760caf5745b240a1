// SmallTier's versions for an optimistic read-modify-write (InsertIf, EraseIf, Peek) and its
// flush_all (FlushBelow). Why the conflict rule holds is in small_tier.h's header comment,
// "Versions".
#include <algorithm>

#include "storage/item.h"
#include "storage/small_tier.h"

namespace ssdcache::storage {

SmallTierVersion SmallTier::Stamp(uint64_t set) const {
  SmallTierVersion v;
  v.gen = gens_[set % gens_.size()];
  v.flushes = flushes_;
  return v;
}

SmallTierVersion SmallTier::LogVersion(uint32_t at, uint64_t set) const {
  const LogRecordHeader& h = log_.header(at);
  SmallTierVersion v = Stamp(set);
  v.wseq = h.wseq;
  v.in_log = true;
  v.present = (h.state & kLogTomb) == 0 && !Expired(h.exptime);
  return v;
}

bool SmallTier::Changed(std::string_view key, uint64_t hash, const SmallTierVersion& seen) const {
  if (seen.flushes != flushes_) return true;
  const uint64_t set = SetOf(hash);
  const uint32_t at = log_.Find(key, hash, static_cast<uint32_t>(set));
  // Every change of the key enters the log: a version there is the key's newest.
  if (at != kLogNil) return !seen.in_log || log_.header(at).wseq != seen.wseq;
  // The seen log version left the log (moved to its set, dropped, or killed by a delete).
  if (seen.in_log) return true;
  // The key is where it was, in its set (or absent): only a completed rewrite can change that.
  return seen.gen != gens_[set % gens_.size()];
}

SmallTierWrite SmallTier::InsertIf(const SetRecord& r, uint64_t hash,
                                   const SmallTierVersion& seen) {
  if (Fits(r.key.size(), r.value.size()) && Changed(r.key, hash, seen)) {
    return {SmallTierStatus::kConflict, false};
  }
  return Insert(r, hash);
}

SmallTierWrite SmallTier::EraseIf(std::string_view key, uint64_t hash, uint64_t wseq,
                                  const SmallTierVersion& seen) {
  if (!key.empty() && key.size() <= 255 && Changed(key, hash, seen)) {
    return {SmallTierStatus::kConflict, false};
  }
  return Erase(key, hash, wseq);
}

SmallTierWrite SmallTier::Remark(const SetRecord& r, uint64_t hash, uint8_t marks,
                                 SmallTierVersion& version) {
  if (!Fits(r.key.size(), r.value.size()) || r.value.size() > 65535) {
    return {SmallTierStatus::kTooLarge, false};
  }
  if (!version.present || version.wseq != r.wseq || Changed(r.key, hash, version)) {
    return {SmallTierStatus::kConflict, false};
  }
  const uint32_t set = static_cast<uint32_t>(SetOf(hash));
  const uint32_t at = log_.Find(r.key, hash, set);
  SetRecord copy = at != kLogNil ? log_.View(at) : r;
  if ((copy.marks | marks) == copy.marks) return {SmallTierStatus::kOk, false, true};
  copy.marks |= marks;
  // A record a move carries may be in the page being written already: the marks go in a copy.
  if (at != kLogNil && (log_.header(at).state & kLogMoving) == 0) {
    log_.SetMarks(at, copy.marks);
    return {};
  }
  // A copy of the set's version is settled (its set holds this version: nothing older is on the
  // device), and so is a copy of a settled copy a move carries.
  const bool settled = at == kLogNil || (log_.header(at).state & kLogSettled) != 0;
  const uint32_t added =
      log_.Append(copy, hash, set, false, log_.capacity() / options_.tomb_reserve_div);
  if (added == kLogNil) return {SmallTierStatus::kNoRoom, false};
  ++stats_.mark_writes;
  // The move in flight leaves the original out if it has not merged yet (it is not live).
  if (at != kLogNil) log_.Kill(at);
  if (settled) log_.SetSettled(added);
  version = LogVersion(added, set);
  Pump();
  return {};
}

void SmallTier::DropOldTokens(std::vector<SetRecord>& recs, size_t first, uint64_t set_wseq) const {
  if (set_wseq >= marks_floor_) return;
  for (size_t i = first; i < recs.size(); ++i) {
    recs[i].marks = static_cast<uint8_t>(recs[i].marks & ~kMarkTokenSent);
  }
}

std::optional<SmallTierVersion> SmallTier::Peek(std::string_view key, uint64_t hash) const {
  const uint64_t set = SetOf(hash);
  const uint32_t at = log_.Find(key, hash, static_cast<uint32_t>(set));
  if (at != kLogNil) return LogVersion(at, set);
  if (key.empty() || key.size() > 255 || Bit(void_, set) || !filters_.MayContain(set, hash)) {
    return Stamp(set);  // certainly absent, as Lookup() answers with no IO
  }
  return std::nullopt;
}

void SmallTier::FlushBelow(uint64_t wseq) {
  if (wseq <= flushed_below_) return;
  flushed_below_ = wseq;
  ++flushes_;  // every version taken before is stale
  // The log's records below go now (moving ones stay pinned until their move completes; its
  // merge leaves them out). Everything older than a killed tombstone is below the floor too.
  stats_.flush_drops += log_.KillBelow(wseq);
  // What a failed write dropped below the floor can no longer come back: its journal entries
  // are not needed (the caller keeps the floor durable).
  for (VoidSet& v : void_list_) v.floor = std::max(v.floor, wseq);
  // When every record on the device is below (all of them came from the log or Rebuild()), the
  // filters say "no" at once: lookups read nothing. A move in flight may add its keys back when
  // its write completes: a needless read, which skips them.
  if (wseq > newest_wseq_) filters_.ClearAll();
}

}  // namespace ssdcache::storage
