// The meta commands of memcached 1.6 (mg ms md ma me; mn is the connection's): answered as
// memcached 1.6.18 answers them (HD / VA / EN / NF / NS / EX / ME, return flags in request order),
// on the same primitives as the classic commands: Lookup() reads the key (waiting for the device
// when it lives there), stores pass the location they read as `expected` and start over on
// kConflict, and a store that finds no free memory slab waits for one.
//
// Stale items and win tokens (memcached's ITEM_STALE / ITEM_TOKEN_SENT): md I and ms I (with an
// older C) write a new version marked stale in its record, so the mark survives a restart; the
// "token sent" bit lives in the index entry and is volatile (after a restart the next reader of a
// stale item wins again). mg answers X for a stale item, W to the one client that wins the right to
// recache it (stale, N-created, or R with the TTL below its token) and Z to the others.
// Last access (l, me la) comes from the engine's access table, falling back to the store time.
#include <charconv>
#include <optional>
#include <string_view>

#include "protocol/numbers.h"
#include "server/commands.h"
#include "util/hash.h"

namespace ssdcache::server {

namespace {
using protocol::LineReply;
using protocol::MetaReply;
using protocol::MetaRequest;
using protocol::Request;
using storage::IndexEntry;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreResult;

constexpr std::string_view kNonNumeric =
    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
constexpr uint64_t kGetReturns = MetaReply::Letters("stcflh");

// Seconds from `then` to `now`; 0 when `then` is unknown (0) or ahead (a clock step back).
uint32_t SecondsSince(uint32_t then, uint32_t now) {
  return then != 0 && now > then ? now - then : 0;
}

// A reply that echoes only O and k (and reports the `returns` letters).
MetaReply Echo(std::string_view code, const MetaRequest& m, std::string_view key,
               uint64_t returns = 0) {
  MetaReply r;
  r.code = code;
  r.request = &m;
  r.key = key;
  r.returns = returns;
  return r;
}

// "EN" with the echoed flags, unless q hides it.
void SendMetaMiss(ReplySink& sink, const MetaRequest& m, std::string_view key) {
  if (!m.quiet) sink.Send(Echo("EN", m, key));
}

}  // namespace

void Commands::ApplyMetaTtl(char letter, const MetaRequest& m, bool created, MetaExpiry& e) const {
  if (letter == 'T' || (letter == 'N' && created)) {
    e.expired = !AbsoluteExptime(letter == 'T' ? m.ttl : m.vivify_ttl, e.exptime);
  }
}

// " t<seconds left>", -1 for no expiry. An item set to expire already reports 0 (memcached prints
// an unsigned wrap of the negative difference).
int64_t Commands::TtlAt(const MetaRequest& m, bool created, MetaExpiry e) const {
  for (uint8_t i = 0; i < m.count && m.order[i] != 't'; ++i)
    ApplyMetaTtl(m.order[i], m, created, e);
  if (e.expired) return 0;
  if (e.exptime == 0) return -1;
  const uint32_t now = engine_.now();
  return e.exptime > now ? e.exptime - now : 0;
}

// The win token, as memcached decides it: N that created the item wins; R wins when no token was
// sent yet and the TTL at R's position is below its token; a stale item's first reader wins.
bool Commands::MetaGetWins(const MetaRequest& m, const ItemView& item, const MetaHit& hit,
                           MetaExpiry& final) const {
  uint32_t recache_before = 0;
  if (m.recache_ttl > 0 && !AbsoluteExptime(m.recache_ttl, recache_before)) recache_before = 0;
  bool won = false;
  final = hit.start;
  for (uint8_t i = 0; i < m.count; ++i) {
    ApplyMetaTtl(m.order[i], m, hit.created, final);
    if (m.order[i] == 'N' && hit.created) won = true;
    if (m.order[i] == 'R' && !hit.token_sent && !hit.created && !final.expired &&
        final.exptime != 0 && final.exptime < recache_before) {
      won = true;
    }
  }
  return won || (item.stale && !hit.token_sent);
}

void Commands::TakeToken(MetaHit& hit, uint64_t hash, IndexEntry& where, const ItemView& item) {
  if (engine_.MarkTokenSent(hash, where, item)) return;
  hit.won = false;
  hit.token_sent = true;
}

MetaReply Commands::MetaHitReply(const MetaRequest& m, std::string_view key, const ItemView& item,
                                 const MetaHit& hit) const {
  MetaReply r = Echo("HD", m, key, kGetReturns);
  r.value = item.value;
  r.send_value = m.value;
  r.cas = hit.cas;
  r.client_flags = item.flags;
  if (m.Has('t')) r.ttl = TtlAt(m, hit.created, hit.start);
  // l: seconds since the access before this one (see AccessTable); h: whether the item had been
  // read before this request (the index's fetched bit).
  r.last_access_age = SecondsSince(item.last_access, engine_.now());
  r.fetched = hit.fetched;
  r.token_sent = hit.token_sent;
  r.stale = item.stale;
  r.won = hit.won;
  return r;
}

Progress Commands::MetaGet(const Request& req, ReplySink& sink) {
  const MetaRequest& m = req.meta;
  // Only T and N write: any other mg is a pure read, served like get.
  if (!m.Has('T') && !m.Has('N')) return MetaGetRead(req, sink);
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView item;
  std::optional<IndexEntry> where;
  // u (no update): neither the read nor T's rewrite counts as an access or marks the item fetched.
  const bool bump = !m.Has('u');
  const Current c = Lookup(key, hash, item, where, bump);
  if (c == Current::kPending) return Progress::kWaitDevice;
  const bool touch = m.Has('T');

  if (c == Current::kMiss && !m.Has('N')) {
    ++(touch ? stats_.cmd_touch : stats_.cmd_get);
    ++(touch ? stats_.touch_misses : stats_.get_misses);
    SendMetaMiss(sink, m, key);
    return Progress::kDone;
  }

  // N on a miss creates an empty item (the client that gets W fills it). Its expiry starts as
  // "never" and N (or T) set it at their position in the line.
  MetaHit hit;
  hit.created = c == Current::kMiss;
  if (hit.created) {
    item = ItemView{};
    item.key = key;
    item.last_access = engine_.now();
  } else {
    hit.start.exptime = item.exptime;
    hit.fetched = where && where->fetched;
    hit.token_sent = where && where->token_sent;
  }
  MetaExpiry final_expiry;
  hit.won = MetaGetWins(m, item, hit, final_expiry);

  hit.cas = item.cas;
  if (!hit.created && !touch) {
    if (hit.won) TakeToken(hit, hash, *where, item);  // N on a hit: nothing to write
  } else if (final_expiry.expired) {
    if (!hit.created && !EraseAsRead(key, hash, where, sink)) return MetaGet(req, sink);
  } else {
    // A touch keeps the cas unique, as memcached's does, and the stale mark; the new version
    // carries the token-sent bit, this request's win included. memcached bumps the item after
    // the request (a created one too), unless u: then the fetched bit and last access stay.
    storage::StoreRequest put(key, hash, item.value);
    put.flags = item.flags;
    put.exptime = final_expiry.exptime;
    put.keep_cas = hit.created ? 0 : item.cas;
    put.marks = storage::ItemMarks{item.stale, hit.token_sent || hit.won, bump || hit.fetched,
                                   bump || hit.created ? 0 : item.last_access};
    const storage::StoreOutcome r = engine_.Store(put.Expect(where));
    if (const auto next = AfterStore(r, req, sink, &Commands::MetaGet)) return *next;
    hit.cas = r.cas;
  }
  if (touch) {
    ++stats_.cmd_touch;
    ++stats_.touch_hits;
    ++ClassOf(item).touch_hits;
  } else {
    ++stats_.cmd_get;
    CountGetHit(item, from_device_);
  }
  sink.Send(MetaHitReply(m, key, item, hit));
  return Progress::kDone;
}

Progress Commands::MetaGetRead(const Request& req, ReplySink& sink) {
  if (sink.ReadsPaused())
    return Progress::kPaused;  // runs again when output drains or reads complete
  const MetaRequest& m = req.meta;
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ++stats_.cmd_get;
  ItemView item;
  IndexEntry where;
  const storage::LookupOutcome found =
      engine_.Lookup(key, hash, item, &waiter_, sink.NextSlotToken(), &where, !m.Has('u'));
  switch (found.kind) {
    case LookupResult::kHit: {
      CountGetHit(item, false);
      MetaHit hit;
      hit.start.exptime = item.exptime;
      hit.cas = item.cas;
      hit.fetched = where.fetched;
      hit.token_sent = where.token_sent;
      MetaExpiry final_expiry;
      hit.won = MetaGetWins(m, item, hit, final_expiry);
      if (hit.won) TakeToken(hit, hash, where, item);
      sink.Send(MetaHitReply(m, key, item, hit));
      return Progress::kDone;
    }
    case LookupResult::kMiss:
      ++stats_.get_misses;
      SendMetaMiss(sink, m, key);
      return Progress::kDone;
    case LookupResult::kPending:
      break;
  }
  // The token passed above is the sequence number this slot gets.
  PendingRead& p = sink.Defer(found.read_bytes);
  p.is_meta = true;
  p.hash = hash;
  p.meta = m;
  p.meta.opaque = {};
  p.key.assign(key);
  p.opaque.assign(m.opaque);
  return Progress::kDone;
}

std::optional<protocol::Response> Commands::FinishMetaRead(PendingRead& p, const ItemView* item,
                                                           const IndexEntry& where) {
  MetaRequest& m = p.meta;
  m.opaque = p.opaque;  // the slot does not move until its reply is composed
  if (item == nullptr) {
    ++stats_.get_misses;
    if (m.quiet) return std::nullopt;
    return Echo("EN", m, p.key);
  }
  CountGetHit(*item, true);
  MetaHit hit;
  hit.start.exptime = item->exptime;
  hit.cas = item->cas;
  hit.fetched = where.fetched;  // as it was when the read started, before this read marked it
  // The token bit as it is now (another reader may have won meanwhile), unless the key has a new
  // version since: then the version read keeps the bit it had.
  const std::optional<IndexEntry> cur = engine_.Locate(p.hash);
  hit.token_sent =
      cur && !where.small && cur->At(where.slab, where.chunk) ? cur->token_sent : where.token_sent;
  MetaExpiry final_expiry;
  hit.won = MetaGetWins(m, *item, hit, final_expiry);
  if (hit.won) {
    IndexEntry at = where;
    TakeToken(hit, p.hash, at, *item);
  }
  return MetaHitReply(m, p.key, *item, hit);
}

// What ms does with the item it found (`compare`: C makes it a compare-and-swap): refuses with
// NF/EX/NS, or stores `plan`.
void Commands::PlanMetaSet(const Request& req, char mode, bool compare, bool exists,
                           const ItemView& cur, const std::optional<IndexEntry>& where,
                           StorePlan& plan) {
  const MetaRequest& m = req.meta;
  if (compare) {
    if (!exists) {
      ++stats_.cas_misses;
      plan.refusal = "NF";
    } else if (m.invalidate && m.compare_cas < cur.cas) {
      // ms I with an older cas: memcached stores the value anyway, marked stale, keeping the
      // item's expiry and whether a win token was sent (the client recached from an old read).
      ++stats_.cas_hits;
      ++ClassOf(req.keys[0].size(), req.data.size()).cas_hits;
      plan.exptime = cur.exptime;
      plan.live = true;
      plan.marks = storage::ItemMarks{true, where->token_sent};
    } else if (cur.cas != m.compare_cas || !engine_.cas_enabled()) {
      ++stats_.cas_badval;  // -C: memcached refuses every compare of an existing item
      ++ClassOf(req.keys[0].size(), req.data.size()).cas_badval;
      plan.refusal = "EX";
    } else {
      ++stats_.cas_hits;
      ++ClassOf(req.keys[0].size(), req.data.size()).cas_hits;
    }
  } else if (mode == 'E') {
    if (exists) plan.refusal = "NS";
  } else if (mode == 'R') {
    if (!exists) plan.refusal = "NS";
  } else if (mode == 'A' || mode == 'P') {
    if (!exists) {
      plan.refusal = "NS";
    } else if (m.compare_cas != 0 && cur.cas != m.compare_cas) {
      plan.refusal = "EX";
    } else {
      // Appending keeps the item's flags and expiry.
      plan.flags = cur.flags;
      plan.exptime = cur.exptime;
      plan.live = true;
      if (mode == 'A') {
        plan.va = cur.value;
        plan.vb = req.data;
      } else {
        plan.vb = cur.value;
      }
    }
  }
}

Progress Commands::MetaSet(const Request& req, ReplySink& sink) {
  const MetaRequest& m = req.meta;
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  CountSetOnce(key.size(), req.data.size());
  if (m.too_large ||
      storage::kItemHeaderSize + key.size() + req.data.size() > engine_.max_item_size()) {
    ++stats_.store_too_large;
    // As memcached: the error is sent even in quiet mode and the key's old value goes too, so a
    // client never reads back the value it meant to replace. (The connection swallows the data
    // block the parser left unread.)
    sink.HoldForCommit(engine_.Erase(key, hash).ticket);
    sink.Send(LineReply{kTooLarge});
    return Progress::kDone;
  }
  const char mode = m.mode == 0 ? 'S' : m.mode;
  // memcached turns set and replace with C into a compare-and-swap; add ignores C, and
  // append/prepend compare only a non-zero C.
  const bool compare = m.Has('C') && (mode == 'S' || mode == 'R');
  const bool lookup = mode != 'S' || compare;

  StorePlan plan;
  plan.va = req.data;
  plan.flags = m.client_flags;
  plan.live = AbsoluteExptime(m.ttl, plan.exptime);
  std::optional<IndexEntry> where;
  ItemView cur;
  bool exists = false;
  if (lookup) {
    const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
    if (c == Current::kPending) return Progress::kWaitDevice;
    exists = c == Current::kHit;
  }
  PlanMetaSet(req, mode, compare, exists, cur, where, plan);

  uint64_t cas = 0;
  std::string_view code = plan.refusal;
  if (code.empty()) {
    if (!plan.live) {
      // Stored and at once expired, as memcached does with a negative TTL.
      if (!EraseAsRead(key, hash, lookup ? where : std::nullopt, sink)) return MetaSet(req, sink);
    } else {
      storage::StoreRequest put = plan.Request(key, hash);
      if (lookup) put.Expect(where);
      const storage::StoreOutcome r = engine_.Store(put);
      if (const auto next = AfterStore(r, req, sink, &Commands::MetaSet)) return *next;
      if (r.result == StoreResult::kTooLarge) {
        ++stats_.store_too_large;
        sink.Send(LineReply{kTooLarge});
        return Progress::kDone;
      }
      cas = r.cas;
    }
    if (m.quiet) return Progress::kDone;  // q hides only the nominal reply
    code = "HD";
  }
  MetaReply r = Echo(code, m, key, MetaReply::Letters("c"));
  r.cas = cas;  // 0 when nothing was stored, as memcached
  sink.Send(r);
  return Progress::kDone;
}

Progress Commands::MetaDelete(const Request& req, ReplySink& sink) {
  const MetaRequest& m = req.meta;
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return Progress::kWaitDevice;
  std::string_view code = "HD";
  if (c == Current::kMiss) {
    ++stats_.delete_misses;
    code = "NF";
  } else if (m.Has('C') && (cur.cas != m.compare_cas || !engine_.cas_enabled())) {
    ++stats_.delete_misses;  // memcached counts a refused delete as a miss
    code = "EX";
  } else if (m.invalidate) {
    // md I keeps the item, marked stale with a new cas (and T's TTL if given), and clears the
    // token-sent bit so that the next reader wins the recache (memcached counts no delete hit).
    uint32_t exptime = cur.exptime;
    if (m.Has('T') && !AbsoluteExptime(m.ttl, exptime)) {
      if (!EraseAsRead(key, hash, where, sink)) return MetaDelete(req, sink);
    } else {
      storage::StoreRequest put(key, hash, cur.value);
      put.flags = cur.flags;
      put.exptime = exptime;
      put.marks = storage::ItemMarks{true, false, where->fetched};
      const storage::StoreOutcome r = engine_.Store(put.Expect(where));
      if (const auto next = AfterStore(r, req, sink, &Commands::MetaDelete)) return *next;
    }
    if (m.quiet) return Progress::kDone;
  } else {
    if (!EraseAsRead(key, hash, where, sink)) return MetaDelete(req, sink);
    ++stats_.delete_hits;
    ++ClassOf(cur).delete_hits;
    if (m.quiet) return Progress::kDone;
  }
  sink.Send(Echo(code, m, key));
  return Progress::kDone;
}

Progress Commands::MetaArith(const Request& req, ReplySink& sink) {
  const MetaRequest& m = req.meta;
  const bool incr = m.mode != 'D' && m.mode != '-';
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return Progress::kWaitDevice;

  if (c == Current::kMiss && !m.Has('N')) {
    ++(incr ? stats_.incr_misses : stats_.decr_misses);
    sink.Send(Echo("NF", m, key));
    return Progress::kDone;
  }
  if (c == Current::kHit && m.compare_cas != 0 && cur.cas != m.compare_cas) {
    sink.Send(Echo("EX", m, key));  // memcached's arithmetic compares only a non-zero C
    return Progress::kDone;
  }

  // N on a miss creates the item with the J value (no delta applied) and no expiry until N or T.
  const bool created = c == Current::kMiss;
  uint64_t value = m.initial;
  MetaExpiry start;
  uint32_t flags = 0;
  if (!created) {
    // As the classic incr: the value read as memcached's safe_strtoull reads it.
    const std::optional<uint64_t> number = protocol::MemcachedStoredNumber(cur.value);
    if (!number) {
      sink.Send(LineReply{kNonNumeric});  // sent even in quiet mode
      return Progress::kDone;
    }
    value = *number;
    if (incr) {
      value += m.delta;  // wraps at 2^64 as memcached does
    } else {
      value = value < m.delta ? 0 : value - m.delta;
    }
    start.exptime = cur.exptime;
    flags = cur.flags;
  }
  MetaExpiry final_expiry = start;
  for (uint8_t i = 0; i < m.count; ++i) ApplyMetaTtl(m.order[i], m, created, final_expiry);

  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value);
  const std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  uint64_t cas = 0;
  if (final_expiry.expired) {
    if (!created && !EraseAsRead(key, hash, where, sink)) return MetaArith(req, sink);
  } else {
    storage::StoreRequest put(key, hash, text);
    put.flags = flags;
    put.exptime = final_expiry.exptime;
    put.marks = created ? storage::ItemMarks{} : ArithMarks(cur, *where, text.size());
    const storage::StoreOutcome r = engine_.Store(put.Expect(where));
    if (const auto next = AfterStore(r, req, sink, &Commands::MetaArith)) return *next;
    cas = r.cas;
  }
  if (!created) {
    ++(incr ? stats_.incr_hits : stats_.decr_hits);
    ++(incr ? ClassOf(cur).incr_hits : ClassOf(cur).decr_hits);
  }
  // q hides the nominal reply, but memcached still answers the one that created the item.
  if (m.quiet && !created) return Progress::kDone;
  MetaReply r = Echo("HD", m, key, MetaReply::Letters("ct"));
  r.value = text;
  r.send_value = m.value;
  r.cas = cas;
  if (m.Has('t')) r.ttl = TtlAt(m, created, start);
  sink.Send(r);
  return Progress::kDone;
}

Progress Commands::MetaDebug(const Request& req, ReplySink& sink) {
  const MetaRequest& m = req.meta;
  const std::string_view key = req.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return Progress::kWaitDevice;
  if (c == Current::kMiss) {
    sink.Send(LineReply{"EN\r\n"});
    return Progress::kDone;
  }
  // memcached prints exp as now - exptime (negative while the item lives) and -1 for none; la is
  // the seconds since the last access (the access table, else the store time) and fetch the
  // index's fetched bit, both as they were before this request; cls counts from 1 like
  // memcached's; size is the record's size.
  const uint32_t now = engine_.now();
  const uint32_t size = storage::ItemSize(key.size(), cur.value.size());
  protocol::MetaDebugReply r;
  r.key = key;
  r.base64 = m.base64;
  r.exp = cur.exptime == 0 ? -1 : static_cast<int64_t>(now) - static_cast<int64_t>(cur.exptime);
  r.last_access_age = SecondsSince(cur.last_access, now);
  r.cas = cur.cas;
  r.fetched = where->fetched;
  r.slab_class = static_cast<uint32_t>(engine_.classes().ClassFor(size) + 1);
  r.size = size;
  sink.Send(r);
  return Progress::kDone;
}

}  // namespace ssdcache::server
