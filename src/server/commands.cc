// The classic data commands; the meta ones are in commands_meta.cc.
#include "server/commands.h"

#include <algorithm>
#include <charconv>

#include "protocol/numbers.h"
#include "util/hash.h"

namespace ssdcache::server {

namespace {
using protocol::Command;
using protocol::LineReply;
using protocol::Request;
using storage::IndexEntry;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreResult;

constexpr uint32_t kRelativeExptimeMax = 60 * 60 * 24 * 30;  // memcached's REALTIME_MAXDELTA
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
}  // namespace

storage::ItemMarks MarksOf(const ItemView& item, const IndexEntry& where, bool fetch) {
  return storage::ItemMarks{item.stale, where.token_sent, where.fetched || fetch};
}

storage::ItemMarks ArithMarks(const ItemView& item, const IndexEntry& where, size_t new_size) {
  return new_size <= item.value.size() ? MarksOf(item, where, false) : storage::ItemMarks{};
}

bool Commands::Serves(Command cmd) {
  switch (cmd) {
    case Command::kFlushAll:
    case Command::kVersion:
    case Command::kVerbosity:
    case Command::kQuit:
    case Command::kStats:
    case Command::kShutdown:
    case Command::kLruCrawler:
    case Command::kRefreshCerts:
    case Command::kMetaNoop:
      return false;
    default:
      return true;
  }
}

Progress Commands::Execute(const Request& req, ReplySink& sink) {
  switch (req.cmd) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      return Get(req, sink);
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return Store(req, sink);
    case Command::kIncr:
    case Command::kDecr:
      return Arith(req, sink);
    case Command::kDelete:
      return Delete(req, sink);
    case Command::kTouch:
      return Touch(req, sink);
    case Command::kMetaGet:
      return MetaGet(req, sink);
    case Command::kMetaSet:
      return MetaSet(req, sink);
    case Command::kMetaDelete:
      return MetaDelete(req, sink);
    case Command::kMetaArithmetic:
      return MetaArith(req, sink);
    case Command::kMetaDebug:
      return MetaDebug(req, sink);
    default:
      return Progress::kDone;
  }
}

void Commands::DropRefused(std::string_view key) {
  ++stats_.store_too_large;
  engine_.Erase(key, util::HashKey(key));
}

bool Commands::AbsoluteExptime(int64_t exptime, uint32_t& out) const {
  const uint32_t now = engine_.now();
  if (exptime < 0) return false;
  if (exptime == 0) {
    out = 0;
    return true;
  }
  if (exptime <= kRelativeExptimeMax) {
    out = now + static_cast<uint32_t>(exptime);
    return true;
  }
  if (exptime <= now) return false;
  out = static_cast<uint32_t>(std::min<int64_t>(exptime, UINT32_MAX));
  return true;
}

void Commands::ReplyNoreply(const Request& req, ReplySink& sink, std::string_view line) {
  if (!req.noreply) sink.Send(LineReply{line});
}

ClassCounts& Commands::ClassOf(size_t key_size, size_t value_size) {
  const int cls = engine_.classes().ClassFor(storage::ItemSize(key_size, value_size));
  return stats_.classes[cls < 0 ? kClassSlots - 1 : static_cast<size_t>(cls)];
}

void Commands::CountGetHit(const ItemView& item, bool from_device) {
  ++stats_.get_hits;
  ClassCounts& c = ClassOf(item);
  ++c.get_hits;
  ++(from_device ? c.hits_to_cold : c.hits_to_hot);
}

Commands::Current Commands::Lookup(std::string_view key, uint64_t hash, ItemView& item,
                                   std::optional<IndexEntry>& where, bool bump) {
  from_device_ = false;
  if (fetched_.valid && fetched_.hash == hash && fetched_.key == key) {
    std::optional<IndexEntry> cur = engine_.Locate(hash);
    if (cur && cur->At(fetched_.where.slab, fetched_.where.chunk)) {
      where = cur;
      where->fetched = fetched_.where.fetched;  // as it was before this request's own read
      // A version in the small-object tier: the engine compares the tier's version as read.
      if (fetched_.where.small) where = fetched_.where;
      if (!fetched_.hit) return Current::kMiss;
      from_device_ = true;
      item.key = fetched_.key;
      item.value = fetched_.value;
      item.flags = fetched_.flags;
      item.exptime = fetched_.exptime;
      item.cas = fetched_.cas;
      item.wseq = fetched_.wseq;
      item.stored_at = fetched_.stored_at;
      item.last_access = fetched_.last_access;
      item.stale = fetched_.stale;
      return Current::kHit;
    }
    fetched_.valid = false;  // changed meanwhile: read again
  }
  IndexEntry found;
  switch (engine_.Lookup(key, hash, item, &waiter_, kFetchToken, &found, bump).kind) {
    case LookupResult::kHit:
      // The item views the engine's DRAM only until the next call into the engine, and the
      // command stores or erases next: that store may open its slab in the very buffer that
      // still caches this item's slab, and write over the value it is copying (a prepend) or
      // is about to reply with (gat, mg T). So the command works on a copy.
      held_.key.assign(item.key);
      held_.value.assign(item.value);
      item.key = held_.key;
      item.value = held_.value;
      where = found;
      return Current::kHit;
    case LookupResult::kMiss:
      // The small-object tier's "absent" carries the version an add or ms compares later.
      where = found.small ? std::optional<IndexEntry>(found) : engine_.Locate(hash);
      return Current::kMiss;
    case LookupResult::kPending:
      fetched_.valid = false;
      fetched_.hash = hash;
      fetched_.key.assign(key);
      return Current::kPending;
  }
  return Current::kMiss;
}

void Commands::OnFetched(const ItemView* item, const IndexEntry& where) {
  fetched_.valid = true;
  fetched_.hit = item != nullptr;
  fetched_.where = where;
  if (item != nullptr) {
    fetched_.value.assign(item->value);
    fetched_.flags = item->flags;
    fetched_.exptime = item->exptime;
    fetched_.cas = item->cas;
    fetched_.wseq = item->wseq;
    fetched_.stored_at = item->stored_at;
    fetched_.last_access = item->last_access;
    fetched_.stale = item->stale;
  }
}

std::optional<Progress> Commands::AfterStore(const storage::StoreOutcome& r, const Request& req,
                                             ReplySink& sink, Exec again) {
  switch (r.result) {
    case StoreResult::kStored:
    case StoreResult::kTooLarge:
      // A store that superseded a version on the device: its reply waits for the journal.
      sink.HoldForCommit(r.ticket);
      return std::nullopt;
    case StoreResult::kNoMemory:
      // Wait for a memory slab; the request's bytes stay in the read buffer.
      return Progress::kWaitMemory;
    case StoreResult::kOutOfMemory:
      // -M: memcached's reply when it may not evict (the binary protocol maps it to its status).
      ++stats_.store_no_memory;
      ReplyNoreply(req, sink, "SERVER_ERROR out of memory storing object\r\n");
      return Progress::kDone;
    case StoreResult::kConflict:
      // Another connection changed the key after we read it: read it again and start over, so
      // no update is lost.
      fetched_.valid = false;
      return (this->*again)(req, sink);
  }
  return std::nullopt;
}

Progress Commands::Get(const Request& req, ReplySink& sink) {
  const bool with_cas = req.cmd == Command::kGets || req.cmd == Command::kGats;
  const bool touch = req.cmd == Command::kGat || req.cmd == Command::kGats;
  for (; key_idx_ < req.keys.size(); ++key_idx_) {
    if (sink.ReadsPaused()) return Progress::kPaused;  // resumes from key_idx_
    const std::string_view key = req.keys[key_idx_];
    if (touch) {
      Progress progress = Progress::kDone;
      if (!TouchOneKey(req, sink, key, progress)) return progress;
      continue;
    }
    const uint64_t hash = util::HashKey(key);
    ItemView item;
    ++stats_.cmd_get;
    const uint64_t token = sink.NextSlotToken();
    const storage::LookupOutcome found = engine_.Lookup(key, hash, item, &waiter_, token);
    switch (found.kind) {
      case LookupResult::kHit:
        CountGetHit(item, false);
        sink.Send(protocol::ValueReply{item.key, item.flags, item.value, item.cas, with_cas});
        break;
      case LookupResult::kMiss:
        ++stats_.get_misses;
        break;
      case LookupResult::kPending: {
        // The token passed above is the sequence number this slot gets.
        PendingRead& p = sink.Defer(found.read_bytes);
        p.with_cas = with_cas;
        p.is_meta = false;
        break;
      }
    }
  }
  if (!req.more_keys) sink.Send(LineReply{"END\r\n"});
  return Progress::kDone;
}

// gat/gats rewrite the item with the new exptime: a read-modify-write per key.
bool Commands::TouchOneKey(const Request& req, ReplySink& sink, std::string_view key,
                           Progress& progress) {
  const bool with_cas = req.cmd == Command::kGats;
  uint32_t exptime = 0;
  const bool expire_now = !AbsoluteExptime(req.exptime, exptime);
  const uint64_t hash = util::HashKey(key);
  ItemView item;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, item, where);
  if (c == Current::kPending) {
    progress = Progress::kWaitDevice;
    return false;
  }
  ++stats_.cmd_get;
  ++stats_.cmd_touch;
  if (c == Current::kMiss) {
    ++stats_.get_misses;
    ++stats_.touch_misses;
    fetched_.valid = false;
    return true;
  }
  uint64_t cas = item.cas;
  if (expire_now) {
    if (!EraseAsRead(key, hash, where, sink)) return TouchOneKey(req, sink, key, progress);
  } else {
    // A touch keeps the cas unique and the meta protocol's stale mark and win token.
    storage::StoreRequest put(key, hash, item.value);
    put.flags = item.flags;
    put.exptime = exptime;
    put.keep_cas = item.cas;
    put.marks = MarksOf(item, *where, true);
    const storage::StoreOutcome r = engine_.Store(put.Expect(where));
    if (const auto next = AfterStore(r, req, sink, &Commands::Get)) {
      progress = *next;
      return false;
    }
    cas = r.cas;
  }
  CountGetHit(item, from_device_);
  ++stats_.touch_hits;
  ++ClassOf(item).touch_hits;
  sink.Send(protocol::ValueReply{item.key, item.flags, item.value, cas, with_cas});
  fetched_.valid = false;
  return true;
}

// What a classic storage command does with the item it found: refuses (add of an existing key,
// replace/append/prepend of a missing one, a cas that does not match) or stores `plan`.
void Commands::PlanStore(const Request& req, bool exists, const ItemView& cur, StorePlan& plan) {
  switch (req.cmd) {
    case Command::kAdd:
      if (exists) plan.refusal = "NOT_STORED\r\n";
      break;
    case Command::kReplace:
      if (!exists) plan.refusal = "NOT_STORED\r\n";
      break;
    case Command::kAppend:
    case Command::kPrepend:
      if (!exists) {
        plan.refusal = "NOT_STORED\r\n";
        break;
      }
      // Appending keeps the item's flags and expiry.
      plan.flags = cur.flags;
      plan.exptime = cur.exptime;
      plan.live = true;
      if (req.cmd == Command::kAppend) {
        plan.va = cur.value;
        plan.vb = req.data;
      } else {
        plan.vb = cur.value;
      }
      break;
    case Command::kCas:
      if (!exists) {
        ++stats_.cas_misses;
        plan.refusal = "NOT_FOUND\r\n";
      } else if (cur.cas != req.cas_unique || !engine_.cas_enabled()) {
        // -C: memcached answers EXISTS to every cas of an existing item.
        ++stats_.cas_badval;
        ++ClassOf(req.keys[0].size(), req.data.size()).cas_badval;
        plan.refusal = "EXISTS\r\n";
      } else {
        ++stats_.cas_hits;
        ++ClassOf(req.keys[0].size(), req.data.size()).cas_hits;
      }
      break;
    default:
      break;
  }
}

Progress Commands::Store(const Request& req, ReplySink& sink) {
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  CountSetOnce(key.size(), req.data.size());
  if (storage::kItemHeaderSize + key.size() + req.data.size() > engine_.max_item_size()) {
    ++stats_.store_too_large;
    // Like memcached, a too-large set also drops the key's current value.
    if (req.cmd == Command::kSet) sink.HoldForCommit(engine_.Erase(key, hash).ticket);
    ReplyNoreply(req, sink, kTooLarge);
    return Progress::kDone;
  }
  StorePlan plan;
  plan.va = req.data;
  plan.flags = req.flags;
  plan.live = AbsoluteExptime(req.exptime, plan.exptime);
  std::optional<IndexEntry> where;
  ItemView cur;
  bool exists = false;
  if (req.cmd != Command::kSet) {
    const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
    if (c == Current::kPending) return Progress::kWaitDevice;
    exists = c == Current::kHit;
  }
  PlanStore(req, exists, cur, plan);
  if (!plan.refusal.empty()) {
    ReplyNoreply(req, sink, plan.refusal);
    return Progress::kDone;
  }
  if (!plan.live) {
    // Stored and at once expired, as memcached does with a negative exptime.
    if (!EraseAsRead(key, hash, req.cmd != Command::kSet ? where : std::nullopt, sink)) {
      return Store(req, sink);
    }
    ReplyNoreply(req, sink, "STORED\r\n");
    return Progress::kDone;
  }
  storage::StoreRequest put = plan.Request(key, hash);
  if (req.cmd != Command::kSet) put.Expect(where);
  const storage::StoreOutcome r = engine_.Store(put);
  if (const auto next = AfterStore(r, req, sink, &Commands::Store)) return *next;
  if (r.result == StoreResult::kTooLarge) ++stats_.store_too_large;
  ReplyNoreply(req, sink, r.result == StoreResult::kTooLarge ? kTooLarge : "STORED\r\n");
  return Progress::kDone;
}

Progress Commands::Arith(const Request& req, ReplySink& sink) {
  const bool incr = req.cmd == Command::kIncr;
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return Progress::kWaitDevice;
  if (c == Current::kMiss) {
    ++(incr ? stats_.incr_misses : stats_.decr_misses);
    ReplyNoreply(req, sink, "NOT_FOUND\r\n");
    return Progress::kDone;
  }
  const std::optional<uint64_t> number = protocol::MemcachedStoredNumber(cur.value);
  if (!number) {
    ReplyNoreply(req, sink, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    return Progress::kDone;
  }
  uint64_t value = *number;
  ++(incr ? stats_.incr_hits : stats_.decr_hits);
  ++(incr ? ClassOf(cur).incr_hits : ClassOf(cur).decr_hits);
  if (incr) {
    value += req.delta;  // wraps at 2^64 as memcached does
  } else {
    value = value < req.delta ? 0 : value - req.delta;
  }
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value);
  const std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  storage::StoreRequest put(key, hash, text);
  put.flags = cur.flags;
  put.exptime = cur.exptime;
  put.marks = ArithMarks(cur, *where, text.size());
  const storage::StoreOutcome r = engine_.Store(put.Expect(where));
  if (const auto next = AfterStore(r, req, sink, &Commands::Arith)) return *next;
  if (!req.noreply) sink.Send(protocol::NumberReply{text});
  return Progress::kDone;
}

bool Commands::EraseAsRead(std::string_view key, uint64_t hash,
                           const std::optional<IndexEntry>& where, ReplySink& sink) {
  const storage::EraseOutcome out = engine_.Erase(key, hash, where ? &*where : nullptr);
  if (!out.erased && where && where->small) {
    // The small-object tier's version may have changed since it was read (a rewrite of its set
    // group conflicts too): the caller reads it again, or the erase would be answered and lost.
    fetched_.valid = false;
    return false;
  }
  sink.HoldForCommit(out.ticket);
  return true;
}

Progress Commands::Delete(const Request& req, ReplySink& sink) {
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return Progress::kWaitDevice;
  if (c == Current::kMiss) {
    ++stats_.delete_misses;
    ReplyNoreply(req, sink, "NOT_FOUND\r\n");
    return Progress::kDone;
  }
  if (!EraseAsRead(key, hash, where, sink)) return Delete(req, sink);
  ++stats_.delete_hits;
  ++ClassOf(cur).delete_hits;
  ReplyNoreply(req, sink, "DELETED\r\n");
  return Progress::kDone;
}

Progress Commands::Touch(const Request& req, ReplySink& sink) {
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where);
  if (c == Current::kPending) return Progress::kWaitDevice;
  ++stats_.cmd_touch;
  if (c == Current::kMiss) {
    ++stats_.touch_misses;
    ReplyNoreply(req, sink, "NOT_FOUND\r\n");
    return Progress::kDone;
  }
  uint32_t exptime = 0;
  if (!AbsoluteExptime(req.exptime, exptime)) {
    if (!EraseAsRead(key, hash, where, sink)) return Touch(req, sink);
  } else {
    storage::StoreRequest put(key, hash, cur.value);
    put.flags = cur.flags;
    put.exptime = exptime;
    put.keep_cas = cur.cas;
    put.marks = MarksOf(cur, *where, true);
    const storage::StoreOutcome r = engine_.Store(put.Expect(where));
    if (const auto next = AfterStore(r, req, sink, &Commands::Touch)) return *next;
  }
  ++stats_.touch_hits;
  ++ClassOf(cur).touch_hits;
  ReplyNoreply(req, sink, "TOUCHED\r\n");
  return Progress::kDone;
}

std::optional<protocol::Response> Commands::FinishRead(PendingRead& p, const ItemView* item,
                                                       const IndexEntry& where) {
  if (p.is_meta) return FinishMetaRead(p, item, where);
  if (item == nullptr) {
    ++stats_.get_misses;
    return std::nullopt;
  }
  CountGetHit(*item, true);
  return protocol::ValueReply{item->key, item->flags, item->value, item->cas, p.with_cas};
}

}  // namespace ssdcache::server
