// The meta commands of memcached 1.6 (mg ms md ma mn me) on the connection: replies as memcached
// 1.6.18 sends them (HD / VA / EN / NF / NS / EX / MN / ME, return flags in request order), built
// on the same primitives as the classic commands: Lookup() reads the key (waiting for the device
// when it lives there), stores pass the location they read as `expected` and start over on
// kConflict, and a store that finds no free memory slab parks the connection until one is free.
//
// Stale items and win tokens (memcached's ITEM_STALE / ITEM_TOKEN_SENT): md I and ms I (with an
// older C) write a new version marked stale in its record, so the mark survives a restart; the
// "token sent" bit lives in the index entry and is volatile (after a restart the next reader of a
// stale item wins again). mg answers X for a stale item, W to the one client that wins the right to
// recache it (stale, N-created, or R with the TTL below its token) and Z to the others.
// Last access (l, me la) comes from the engine's access table, falling back to the store time.
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/numbers.h"
#include "server/connection.h"
#include "server/server.h"
#include "util/hash.h"

namespace ssdcache::server {

namespace {
using protocol::MetaRequest;
using storage::IndexEntry;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreResult;

constexpr std::string_view kNonNumeric =
    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";

template <typename T>
void AppendNumber(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void AppendBase64(std::string& out, std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t g = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    const char quad[4] = {kAlphabet[g >> 18], kAlphabet[(g >> 12) & 63], kAlphabet[(g >> 6) & 63],
                          kAlphabet[g & 63]};
    out.append(quad, 4);
  }
  if (i < in.size()) {
    const bool two = in.size() - i == 2;
    const uint32_t g =
        static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
        (two ? static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 : 0);
    const char quad[4] = {kAlphabet[g >> 18], kAlphabet[(g >> 12) & 63],
                          two ? kAlphabet[(g >> 6) & 63] : '=', '='};
    out.append(quad, 4);
  }
}

// " k<key>", or " k<base64> b" when the key was sent in base64 (memcached re-encodes the bytes).
void AppendKeyFlag(std::string& out, const MetaRequest& m, std::string_view key) {
  out.append(" k");
  if (m.base64) {
    AppendBase64(out, key);
    out.append(" b");
  } else {
    out.append(key);
  }
}

// The flags every reply echoes, failures included: O (opaque, as sent) and k, in request order.
void AppendEchoFlags(std::string& out, const MetaRequest& m, std::string_view key) {
  for (uint8_t i = 0; i < m.count; ++i) {
    if (m.order[i] == 'O') {
      out.push_back(' ');
      out.append(m.opaque);
    } else if (m.order[i] == 'k') {
      AppendKeyFlag(out, m, key);
    }
  }
}

using Expiry = MetaExpiry;

// " t<seconds left>", -1 for no expiry. An item set to expire already reports 0 (memcached prints
// an unsigned wrap of the negative difference).
void AppendTtl(std::string& out, const Expiry& e, uint32_t now) {
  out.append(" t");
  if (e.expired) {
    out.push_back('0');
  } else if (e.exptime == 0) {
    out.append("-1");
  } else {
    AppendNumber(out, e.exptime > now ? e.exptime - now : 0);
  }
}

// Seconds from `then` to `now`; 0 when `then` is unknown (0) or ahead (a clock step back).
uint32_t SecondsSince(uint32_t then, uint32_t now) {
  return then != 0 && now > then ? now - then : 0;
}

// "EN" with the echoed flags, unless q hides it.
void AppendMetaMiss(std::string& out, const MetaRequest& m, std::string_view key) {
  if (m.quiet) return;
  out.append("EN");
  AppendEchoFlags(out, m, key);
  out.append("\r\n");
}

}  // namespace

void Connection::ApplyMetaTtl(char letter, const MetaRequest& m, bool created,
                              MetaExpiry& e) const {
  if (letter == 'T' || (letter == 'N' && created)) {
    e.expired = !AbsoluteExptime(letter == 'T' ? m.ttl : m.vivify_ttl, e.exptime);
  }
}

// The win token, as memcached decides it: N that created the item wins; R wins when no token was
// sent yet and the TTL at R's position is below its token; a stale item's first reader wins.
bool Connection::MetaGetWins(const MetaRequest& m, const ItemView& item, const MetaHit& hit,
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

void Connection::AppendMetaHit(std::string& out, const MetaRequest& m, std::string_view key,
                               const ItemView& item, const MetaHit& hit) const {
  if (m.value) {
    out.append("VA ");
    AppendNumber(out, item.value.size());
  } else {
    out.append("HD");
  }
  Expiry e = hit.start;
  for (uint8_t i = 0; i < m.count; ++i) {
    const char letter = m.order[i];
    switch (letter) {
      case 'T':
      case 'N':
        ApplyMetaTtl(letter, m, hit.created, e);
        break;
      case 's':
        out.append(" s");
        AppendNumber(out, item.value.size());
        break;
      case 't':
        AppendTtl(out, e, server_.now());
        break;
      case 'c':
        out.append(" c");
        AppendNumber(out, hit.cas);
        break;
      case 'f':
        out.append(" f");
        AppendNumber(out, item.flags);
        break;
      case 'l':  // seconds since the access before this one (see AccessTable)
        out.append(" l");
        AppendNumber(out, SecondsSince(item.last_access, server_.now()));
        break;
      case 'h':  // whether the item had been read before this request (the index's fetched bit)
        out.append(hit.fetched ? " h1" : " h0");
        break;
      case 'O':
        out.push_back(' ');
        out.append(m.opaque);
        break;
      case 'k':
        AppendKeyFlag(out, m, key);
        break;
      default:
        break;
    }
  }
  // As memcached orders them: Z (someone else won) before X (stale), and never W with Z.
  if (hit.token_sent) out.append(" Z");
  if (item.stale) out.append(" X");
  if (hit.won) out.append(" W");
  out.append("\r\n");
  if (m.value) {
    out.append(item.value);
    out.append("\r\n");
  }
}

bool Connection::ExecMetaGet() {
  const MetaRequest& m = req_.meta;
  // Only T and N write: any other mg is a pure read, served like get.
  if (!m.Has('T') && !m.Has('N')) return ExecMetaGetRead();
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  const std::string_view key = req_.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView item;
  std::optional<IndexEntry> where;
  // u (no update): neither the read nor T's rewrite counts as an access or marks the item fetched.
  const bool bump = !m.Has('u');
  const Current c = Lookup(key, hash, item, where, bump);
  if (c == Current::kPending) return false;
  const bool touch = m.Has('T');

  if (c == Current::kMiss && !m.Has('N')) {
    ++(touch ? st.cmd_touch : st.cmd_get);
    ++(touch ? st.touch_misses : st.get_misses);
    std::string& out = TailSlot().data;
    const size_t before = out.size();
    AppendMetaMiss(out, m, key);
    unsent_bytes_ += out.size() - before;
    return true;
  }

  // N on a miss creates an empty item (the client that gets W fills it). Its expiry starts as
  // "never" and N (or T) set it at their position in the line.
  MetaHit hit;
  hit.created = c == Current::kMiss;
  if (hit.created) {
    item = ItemView{};
    item.key = key;
    item.last_access = server_.now();
  } else {
    hit.start.exptime = item.exptime;
    hit.fetched = where && where->fetched;
    hit.token_sent = where && where->token_sent;
  }
  Expiry final_expiry;
  hit.won = MetaGetWins(m, item, hit, final_expiry);

  hit.cas = item.cas;
  if (!hit.created && !touch) {
    if (hit.won) engine.MarkTokenSent(hash, *where);  // N on a hit: nothing to write
  } else if (final_expiry.expired) {
    if (!hit.created) HoldForCommit(engine.Erase(key, hash, &*where).ticket);
  } else {
    // A touch keeps the cas unique, as memcached's does, and the stale mark; the new version
    // carries the token-sent bit, this request's win included. memcached bumps the item after
    // the request (a created one too), unless u: then the fetched bit and last access stay.
    const storage::ItemMarks marks{item.stale, hit.token_sent || hit.won, bump || hit.fetched,
                                   bump || hit.created ? 0 : item.last_access};
    storage::StoreRequest put(key, hash, item.value);
    put.flags = item.flags;
    put.exptime = final_expiry.exptime;
    put.keep_cas = hit.created ? 0 : item.cas;
    put.marks = marks;
    put.Expect(where);
    const storage::StoreOutcome r = engine.Store(put);
    if (const auto next = AfterStore(r, &Connection::ExecMetaGet)) return *next;
    hit.cas = r.cas;
  }
  ++(touch ? st.cmd_touch : st.cmd_get);
  ++(touch ? st.touch_hits : st.get_hits);
  std::string& out = TailSlot().data;
  const size_t before = out.size();
  AppendMetaHit(out, m, key, item, hit);
  unsent_bytes_ += out.size() - before;
  return true;
}

bool Connection::ExecMetaGetRead() {
  if (ReadsPaused()) return false;  // runs again when output drains or reads complete
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  const MetaRequest& m = req_.meta;
  const std::string_view key = req_.keys[0];
  const uint64_t hash = util::HashKey(key);
  ++st.cmd_get;
  ItemView item;
  IndexEntry where;
  const storage::LookupOutcome found =
      engine.Lookup(key, hash, item, this, head_seq_ + slot_count_, &where, !m.Has('u'));
  switch (found.kind) {
    case LookupResult::kHit: {
      ++st.get_hits;
      MetaHit hit;
      hit.start.exptime = item.exptime;
      hit.cas = item.cas;
      hit.fetched = where.fetched;
      hit.token_sent = where.token_sent;
      Expiry final_expiry;
      hit.won = MetaGetWins(m, item, hit, final_expiry);
      if (hit.won) engine.MarkTokenSent(hash, where);
      std::string& out = TailSlot().data;
      const size_t before = out.size();
      AppendMetaHit(out, m, key, item, hit);
      unsent_bytes_ += out.size() - before;
      return true;
    }
    case LookupResult::kMiss: {
      ++st.get_misses;
      std::string& out = TailSlot().data;
      const size_t before = out.size();
      AppendMetaMiss(out, m, key);
      unsent_bytes_ += out.size() - before;
      return true;
    }
    case LookupResult::kPending:
      break;
  }
  // The token passed above is the sequence number this slot gets.
  Slot& slot = PushPendingSlot(found.read_bytes);
  slot.is_meta = true;
  slot.hash = hash;
  slot.meta = m;
  slot.meta.opaque = {};
  slot.meta_key.assign(key);
  slot.meta_opaque.assign(m.opaque);
  return true;
}

void Connection::FinishMetaGet(Slot& slot, const ItemView* item, const IndexEntry& where) {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  MetaRequest& m = slot.meta;
  m.opaque = slot.meta_opaque;  // the slot does not move while its reply is written
  std::string& out = slot.data;
  const size_t before = out.size();
  if (item == nullptr) {
    ++st.get_misses;
    AppendMetaMiss(out, m, slot.meta_key);
  } else {
    ++st.get_hits;
    MetaHit hit;
    hit.start.exptime = item->exptime;
    hit.cas = item->cas;
    hit.fetched = where.fetched;  // as it was when the read started, before this read marked it
    // The token bit as it is now (another reader may have won meanwhile), unless the key has a new
    // version since: then the version read keeps the bit it had.
    const std::optional<IndexEntry> cur = engine.Locate(slot.hash);
    hit.token_sent = cur && cur->slab == where.slab && cur->chunk == where.chunk ? cur->token_sent
                                                                                 : where.token_sent;
    Expiry final_expiry;
    hit.won = MetaGetWins(m, *item, hit, final_expiry);
    if (hit.won) engine.MarkTokenSent(slot.hash, where);
    AppendMetaHit(out, m, slot.meta_key, *item, hit);
  }
  m.opaque = {};
  unsent_bytes_ += out.size() - before;
}

bool Connection::ExecMetaSet() {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  const MetaRequest& m = req_.meta;
  const std::string_view key = req_.keys[0];
  const uint64_t hash = util::HashKey(key);
  if (!counted_) ++st.cmd_set;
  counted_ = true;
  if (m.too_large ||
      storage::kItemHeaderSize + key.size() + req_.data.size() > engine.max_item_size()) {
    // As memcached: the error is sent even in quiet mode and the key's old value goes too, so a
    // client never reads back the value it meant to replace.
    HoldForCommit(engine.Erase(key, hash).ticket);
    Reply(kTooLarge);
    swallow_ = m.swallow;  // the data block the parser left unread
    return true;
  }
  const char mode = m.mode == 0 ? 'S' : m.mode;
  // memcached turns set and replace with C into a compare-and-swap; add ignores C, and
  // append/prepend compare only a non-zero C.
  const bool compare = m.Has('C') && (mode == 'S' || mode == 'R');
  const bool lookup = mode != 'S' || compare;

  uint32_t exptime = 0;
  bool live = AbsoluteExptime(m.ttl, exptime);
  uint32_t flags = m.client_flags;
  std::optional<IndexEntry> where;
  ItemView cur;
  bool exists = false;
  if (lookup) {
    const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
    if (c == Current::kPending) return false;
    exists = c == Current::kHit;
  }

  std::string_view code;
  std::string_view va = req_.data;
  std::string_view vb;
  storage::ItemMarks marks;
  if (compare) {
    if (!exists) {
      ++st.cas_misses;
      code = "NF";
    } else if (m.invalidate && m.compare_cas < cur.cas) {
      // ms I with an older cas: memcached stores the value anyway, marked stale, keeping the
      // item's expiry and whether a win token was sent (the client recached from an old read).
      ++st.cas_hits;
      exptime = cur.exptime;
      live = true;
      marks = storage::ItemMarks{true, where->token_sent};
    } else if (cur.cas != m.compare_cas) {
      ++st.cas_badval;
      code = "EX";
    } else {
      ++st.cas_hits;
    }
  } else if (mode == 'E') {
    if (exists) code = "NS";
  } else if (mode == 'R') {
    if (!exists) code = "NS";
  } else if (mode == 'A' || mode == 'P') {
    if (!exists) {
      code = "NS";
    } else if (m.compare_cas != 0 && cur.cas != m.compare_cas) {
      code = "EX";
    } else {
      // Appending keeps the item's flags and expiry.
      flags = cur.flags;
      exptime = cur.exptime;
      live = true;
      if (mode == 'A') {
        va = cur.value;
        vb = req_.data;
      } else {
        vb = cur.value;
      }
    }
  }

  uint64_t cas = 0;
  if (code.empty()) {
    if (!live) {
      // Stored and at once expired, as memcached does with a negative TTL.
      HoldForCommit(engine.Erase(key, hash, lookup && where ? &*where : nullptr).ticket);
    } else {
      storage::StoreRequest put(key, hash, va);
      put.value_b = vb;
      put.flags = flags;
      put.exptime = exptime;
      put.marks = marks;
      if (lookup) put.Expect(where);
      const storage::StoreOutcome r = engine.Store(put);
      if (const auto next = AfterStore(r, &Connection::ExecMetaSet)) return *next;
      if (r.result == StoreResult::kTooLarge) {
        Reply(kTooLarge);
        return true;
      }
      cas = r.cas;
    }
    if (m.quiet) return true;  // q hides only the nominal reply
    code = "HD";
  }
  Slot& slot = TailSlot();
  std::string& out = slot.data;
  const size_t before = out.size();
  out.append(code);
  for (uint8_t i = 0; i < m.count; ++i) {
    if (m.order[i] == 'O') {
      out.push_back(' ');
      out.append(m.opaque);
    } else if (m.order[i] == 'k') {
      AppendKeyFlag(out, m, key);
    } else if (m.order[i] == 'c') {
      out.append(" c");
      AppendNumber(out, cas);  // 0 when nothing was stored, as memcached
    }
  }
  out.append("\r\n");
  unsent_bytes_ += out.size() - before;
  return true;
}

bool Connection::ExecMetaDelete() {
  ServerStats& st = server_.stats();
  const MetaRequest& m = req_.meta;
  const std::string_view key = req_.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return false;
  std::string_view code = "HD";
  if (c == Current::kMiss) {
    ++st.delete_misses;
    code = "NF";
  } else if (m.Has('C') && cur.cas != m.compare_cas) {
    ++st.delete_misses;  // memcached counts a refused delete as a miss
    code = "EX";
  } else if (m.invalidate) {
    // md I keeps the item, marked stale with a new cas (and T's TTL if given), and clears the
    // token-sent bit so that the next reader wins the recache (memcached counts no delete hit).
    uint32_t exptime = cur.exptime;
    if (m.Has('T') && !AbsoluteExptime(m.ttl, exptime)) {
      HoldForCommit(server_.engine().Erase(key, hash, &*where).ticket);
    } else {
      storage::StoreRequest put(key, hash, cur.value);
      put.flags = cur.flags;
      put.exptime = exptime;
      put.marks = storage::ItemMarks{true, false, where->fetched};
      put.Expect(where);
      const storage::StoreOutcome r = server_.engine().Store(put);
      if (const auto next = AfterStore(r, &Connection::ExecMetaDelete)) return *next;
    }
    if (m.quiet) return true;
  } else {
    HoldForCommit(server_.engine().Erase(key, hash, &*where).ticket);
    ++st.delete_hits;
    if (m.quiet) return true;
  }
  Slot& slot = TailSlot();
  const size_t before = slot.data.size();
  slot.data.append(code);
  AppendEchoFlags(slot.data, m, key);
  slot.data.append("\r\n");
  unsent_bytes_ += slot.data.size() - before;
  return true;
}

bool Connection::ExecMetaArith() {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  const MetaRequest& m = req_.meta;
  const bool incr = m.mode != 'D' && m.mode != '-';
  const std::string_view key = req_.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return false;

  std::string_view failure;
  if (c == Current::kMiss && !m.Has('N')) {
    ++(incr ? st.incr_misses : st.decr_misses);
    failure = "NF";
  } else if (c == Current::kHit && m.compare_cas != 0 && cur.cas != m.compare_cas) {
    failure = "EX";  // memcached's arithmetic compares only a non-zero C
  }
  if (!failure.empty()) {
    Slot& slot = TailSlot();
    const size_t before = slot.data.size();
    slot.data.append(failure);
    AppendEchoFlags(slot.data, m, key);
    slot.data.append("\r\n");
    unsent_bytes_ += slot.data.size() - before;
    return true;
  }

  // N on a miss creates the item with the J value (no delta applied) and no expiry until N or T.
  const bool created = c == Current::kMiss;
  uint64_t value = m.initial;
  Expiry start;
  uint32_t flags = 0;
  if (!created) {
    // As the classic incr: the value read as memcached's safe_strtoull reads it.
    const std::optional<uint64_t> number = protocol::MemcachedStoredNumber(cur.value);
    if (!number) {
      Reply(kNonNumeric);  // sent even in quiet mode
      return true;
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
  Expiry final_expiry = start;
  for (uint8_t i = 0; i < m.count; ++i) ApplyMetaTtl(m.order[i], m, created, final_expiry);

  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value);
  const std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  uint64_t cas = 0;
  if (final_expiry.expired) {
    if (!created) HoldForCommit(engine.Erase(key, hash, &*where).ticket);
  } else {
    storage::StoreRequest put(key, hash, text);
    put.flags = flags;
    put.exptime = final_expiry.exptime;
    put.marks = created ? storage::ItemMarks{} : ArithMarks(cur, *where, text.size());
    const storage::StoreOutcome r = engine.Store(put.Expect(where));
    if (const auto next = AfterStore(r, &Connection::ExecMetaArith)) return *next;
    cas = r.cas;
  }
  if (!created) ++(incr ? st.incr_hits : st.decr_hits);
  // q hides the nominal reply, but memcached still answers the one that created the item.
  if (m.quiet && !created) return true;

  Slot& slot = TailSlot();
  std::string& out = slot.data;
  const size_t before = out.size();
  if (m.value) {
    out.append("VA ");
    AppendNumber(out, text.size());
  } else {
    out.append("HD");
  }
  Expiry e = start;
  for (uint8_t i = 0; i < m.count; ++i) {
    const char letter = m.order[i];
    switch (letter) {
      case 'T':
      case 'N':
        ApplyMetaTtl(letter, m, created, e);
        break;
      case 'c':
        out.append(" c");
        AppendNumber(out, cas);
        break;
      case 't':
        AppendTtl(out, e, server_.now());
        break;
      case 'O':
        out.push_back(' ');
        out.append(m.opaque);
        break;
      case 'k':
        AppendKeyFlag(out, m, key);
        break;
      default:
        break;
    }
  }
  out.append("\r\n");
  if (m.value) {
    out.append(text);
    out.append("\r\n");
  }
  unsent_bytes_ += out.size() - before;
  return true;
}

bool Connection::ExecMetaDebug() {
  storage::Engine& engine = server_.engine();
  const MetaRequest& m = req_.meta;
  const std::string_view key = req_.keys[0];
  const uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  const Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return false;
  if (c == Current::kMiss) {
    Reply("EN\r\n");
    return true;
  }
  Slot& slot = TailSlot();
  std::string& out = slot.data;
  const size_t before = out.size();
  out.append("ME ");
  if (m.base64) {
    AppendBase64(out, key);
  } else {
    out.append(key);
  }
  // memcached prints exp as now - exptime (negative while the item lives) and -1 for none; la is
  // the seconds since the last access (the access table, else the store time) and fetch the
  // index's fetched bit, both as they were before this request; cls counts from 1 like
  // memcached's; size is the record's size.
  const uint32_t size = storage::ItemSize(key.size(), cur.value.size());
  out.append(" exp=");
  if (cur.exptime == 0) {
    out.append("-1");
  } else {
    AppendNumber(out, static_cast<int64_t>(server_.now()) - static_cast<int64_t>(cur.exptime));
  }
  out.append(" la=");
  AppendNumber(out, SecondsSince(cur.last_access, server_.now()));
  out.append(" cas=");
  AppendNumber(out, cur.cas);
  out.append(where->fetched ? " fetch=yes cls=" : " fetch=no cls=");
  AppendNumber(out, engine.classes().ClassFor(size) + 1);
  out.append(" size=");
  AppendNumber(out, size);
  out.append("\r\n");
  unsent_bytes_ += out.size() - before;
  return true;
}

}  // namespace ssdcache::server
