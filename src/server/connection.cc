#include "server/connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "protocol/numbers.h"
#include "server/server.h"
#include "util/hash.h"

namespace ssdcache::server {

namespace {
using protocol::Command;
using storage::IndexEntry;
using storage::ItemView;
using storage::LookupResult;
using storage::StoreResult;

constexpr size_t kInitialReadBuffer = 16 * 1024;
constexpr size_t kOutputPauseBytes = 4 * 1024 * 1024;  // stop reading requests above this
constexpr size_t kMaxLookupsPerConnection = 256;
constexpr uint64_t kRmwToken = ~0ULL;
constexpr uint32_t kRelativeExptimeMax = 60 * 60 * 24 * 30;  // memcached's REALTIME_MAXDELTA
constexpr int kIovMax = 64;
constexpr std::string_view kJournalError = "SERVER_ERROR journal write failed\r\n";

LatencyKind KindOf(Command cmd) {
  switch (cmd) {
    case Command::kGet:
    case Command::kGets:
      return LatencyKind::kGet;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return LatencyKind::kSet;
    case Command::kDelete:
      return LatencyKind::kDelete;
    case Command::kIncr:
    case Command::kDecr:
      return LatencyKind::kArith;
    case Command::kTouch:
    case Command::kGat:
    case Command::kGats:
      return LatencyKind::kTouch;
    case Command::kMetaGet:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArithmetic:
    case Command::kMetaNoop:
    case Command::kMetaDebug:
      return LatencyKind::kMeta;
    default:
      return LatencyKind::kOther;
  }
}

}  // namespace

storage::ItemMarks MarksOf(const ItemView& item, const IndexEntry& where, bool fetch) {
  return storage::ItemMarks{item.stale, where.token_sent, where.fetched || fetch};
}

storage::ItemMarks ArithMarks(const ItemView& item, const IndexEntry& where, size_t new_size) {
  return new_size <= item.value.size() ? MarksOf(item, where, false) : storage::ItemMarks{};
}

namespace {

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}
}  // namespace

Connection::Connection(Server& server, util::UniqueFd fd, uint64_t id)
    : server_(server), fd_(std::move(fd)), id_(id), parser_(server.parser_limits()) {
  rbuf_.resize(kInitialReadBuffer);
  slots_.resize(4);
  last_active_ = server_.now();
}

Connection::~Connection() {
  if (registered_) server_.loop().Cancel(this);
}

bool Connection::Start() {
  if (!server_.loop().Add(fd_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP, this)) return false;
  registered_ = true;
  return true;
}

void Connection::OnEvent(uint32_t events) {
  if (closed()) return;
  if (events & EPOLLERR) {
    CloseNow();
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) can_read_ = true;
  // The peer's FIN raised no edge of its own once it is reported here: read on to the EOF.
  if (events & (EPOLLHUP | EPOLLRDHUP)) hup_seen_ = true;
  if (events & EPOLLOUT) can_write_ = true;
  Drive();
}

void Connection::Drive() {
  budget_.Begin(server_.loop().turn());
  bool progress = false;
  for (int round = 0; round < 4 && !closed(); ++round) {
    progress = false;
    if (can_read_ && !Paused() && !(in_request_ && wait_ != Wait::kNone)) progress |= ReadSocket();
    if (closed()) return;
    size_t before = rstart_;
    bool was_waiting = wait_ != Wait::kNone;
    Process();
    if (closed()) return;
    // Device reads this batch queued go out now, not at the end of the turn: the device works on
    // them while the loop serves the other connections (with one submit per turn, requests moved
    // in waves and the device idled between them). Completions collected here are answered in
    // this turn, this connection's own ones by the write just below.
    server_.engine().PollIo();
    progress |= rstart_ != before || (was_waiting && wait_ == Wait::kNone);
    if (can_write_) progress |= WriteSocket();
    if (closed()) return;
    if (!progress) break;
  }
  if (!closed() &&
      (progress || (can_read_ && !Paused() && !(in_request_ && wait_ != Wait::kNone)))) {
    // Unread bytes remain, or the rounds ran out while still moving: come back next turn. The
    // last write may have drained the output without EAGAIN (no EPOLLOUT edge will come) and so
    // unpaused a request or input that nothing else would wake.
    server_.loop().Defer(this);
  }
  bool drained = slot_count_ == 0 && unsent_bytes_ == 0;
  // After the peer's EOF, close only once every complete request it sent has been answered: the
  // parser must have asked for more bytes (a yield for fairness leaves requests unparsed).
  if (drained && !in_request_ &&
      (close_after_flush_ || (peer_closed_ && swallow_ == 0 && input_exhausted_))) {
    // Everything the client asked before it closed (or before the fatal error) has been answered.
    CloseNow();
  }
}

bool Connection::Paused() const { return ReadsPaused() || close_after_flush_; }

bool Connection::ReadSocket() {
  bool got = false;
  // A few reads per turn: a client that keeps its socket full must not keep the loop here (the
  // rest waits for the next turn: Drive() defers the connection while can_read_ stays set).
  while (can_read_ && budget_.CanRecv()) {
    if (rstart_ == rend_) rstart_ = rend_ = 0;
    if (rend_ == rbuf_.size()) {
      if (in_request_) break;  // views into the buffer must not move
      if (rstart_ > 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
        rend_ -= rstart_;
        rstart_ = 0;
      } else {
        // Full of unparsed bytes: parse them first, and grow only for one request larger than the
        // buffer (the parser asked for more with the buffer full), up to one maximal request.
        size_t limit = server_.parser_limits().max_value + server_.parser_limits().max_line + 4096;
        if (!input_exhausted_ || rbuf_.size() >= limit) break;
        rbuf_.resize(std::min(limit, rbuf_.size() * 2));
      }
    }
    const size_t room = rbuf_.size() - rend_;
    budget_.TakeRecv();
    ssize_t n = ::recv(fd_.get(), rbuf_.data() + rend_, room, 0);
    if (n > 0) {
      rend_ += static_cast<size_t>(n);
      server_.stats().bytes_read += static_cast<uint64_t>(n);
      got = true;
      // A short read drained the socket: bytes (or the EOF) arriving later raise a new edge, so
      // the recv that would only say EAGAIN is skipped (one syscall less per request).
      if (static_cast<size_t>(n) < room && !hup_seen_) can_read_ = false;
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      can_read_ = false;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      can_read_ = false;
      break;
    }
    CloseNow();
    return false;
  }
  return got;
}

bool Connection::WriteSocket() {
  bool wrote = false;
  while (unsent_bytes_ > 0 && can_write_) {
    iovec iov[kIovMax];
    int n = 0;
    for (size_t i = 0; i < slot_count_ && n < kIovMax; ++i) {
      Slot& s = slots_[(slot_head_ + i) % slots_.size()];
      if (!s.ready) break;
      if (s.data.size() > s.sent) {
        iov[n].iov_base = s.data.data() + s.sent;
        iov[n].iov_len = s.data.size() - s.sent;
        ++n;
      }
    }
    if (n == 0) break;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        can_write_ = false;
        break;
      }
      CloseNow();
      return wrote;
    }
    wrote = true;
    server_.stats().bytes_written += static_cast<uint64_t>(w);
    size_t left = static_cast<size_t>(w);
    unsent_bytes_ -= left;
    while (left > 0 && slot_count_ > 0) {
      Slot& s = slots_[slot_head_];
      size_t take = std::min(left, s.data.size() - s.sent);
      s.sent += take;
      left -= take;
      if (s.sent == s.data.size() && s.ready) PopSlot();
    }
  }
  // Drop fully-sent ready slots at the head (also empty ones left by misses).
  while (slot_count_ > 0) {
    Slot& s = slots_[slot_head_];
    if (!s.ready || s.sent != s.data.size()) break;
    PopSlot();
  }
  return wrote;
}

void Connection::Consume(size_t n) {
  rstart_ += n;
  if (rstart_ == rend_) rstart_ = rend_ = 0;
}

void Connection::Process() {
  input_exhausted_ = false;
  if (!budget_.CanServe()) {  // spent earlier in this turn (a deferred call): next turn
    server_.loop().Defer(this);
    return;
  }
  while (!closed()) {
    if (in_request_) {
      if (wait_ != Wait::kNone) return;
      if (!Execute()) return;
      server_.stats().latency[static_cast<size_t>(KindOf(req_.cmd))].Record(util::NowNs() -
                                                                            req_start_ns_);
      in_request_ = false;
      holding_ = false;
      fetched_.valid = false;
      Consume(req_consumed_);
      // --idle-timeout counts from the last command, as memcached's does: a client trickling
      // bytes that never complete a request is idle, not busy.
      last_active_ = server_.now();
      if (!budget_.TakeRequest()) {
        ++server_.stats().conn_yields;
        server_.loop().Defer(this);
        return;
      }
      continue;
    }
    if (Paused()) return;  // includes close_after_flush_: no new requests
    size_t avail = rend_ - rstart_;
    if (swallow_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(swallow_, avail));
      Consume(n);
      swallow_ -= n;
      if (swallow_ > 0) {
        input_exhausted_ = true;
        return;
      }
      continue;
    }
    if (avail == 0) {
      input_exhausted_ = true;
      return;
    }
    if (!first_byte_seen_) {
      first_byte_seen_ = true;
      // memcached's binary protocol opens every request with the magic byte 0x80. Its header
      // holds no newline, so the text parser would wait for one forever and the client would
      // time out: until the binary protocol is implemented, such a connection is closed at once.
      if (rbuf_[rstart_] == '\x80') {
        spdlog::debug("connection {}: binary protocol request (not supported), closing", id_);
        CloseNow();
        return;
      }
    }
    protocol::ParseOutcome outcome =
        parser_.Parse(std::string_view(rbuf_.data() + rstart_, avail), req_);
    if (outcome.status == protocol::ParseStatus::kNeedMore) {
      input_exhausted_ = true;
      return;
    }
    if (outcome.status == protocol::ParseStatus::kError) {
      ++server_.stats().protocol_errors;
      if (!outcome.reply.empty()) Reply(outcome.reply);
      if (outcome.reply.starts_with("SERVER_ERROR object too large") && req_.cmd == Command::kSet &&
          req_.keys.size() == 1) {
        // A set refused as too large also drops the key's old value, as memcached does, so a
        // client never reads back the value it meant to replace.
        server_.engine().Erase(req_.keys[0], util::HashKey(req_.keys[0]));
      }
      Consume(outcome.consumed);
      swallow_ = outcome.swallow;
      if (outcome.close) close_after_flush_ = true;
      // Errors use up the turn's budget too, or a client sending garbage starves the others.
      if (!budget_.TakeRequest()) {
        ++server_.stats().conn_yields;
        server_.loop().Defer(this);
        return;
      }
      continue;
    }
    in_request_ = true;
    req_start_ns_ = util::NowNs();
    req_consumed_ = outcome.consumed;
    key_idx_ = 0;
    counted_ = false;
    fetched_.valid = false;
  }
}

bool Connection::AbsoluteExptime(int64_t exptime, uint32_t& out) const {
  uint32_t now = server_.now();
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

bool Connection::Execute() {
  switch (req_.cmd) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      return ExecGet();
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return ExecStore();
    case Command::kIncr:
    case Command::kDecr:
      return ExecArith();
    case Command::kDelete:
      return ExecDelete();
    case Command::kTouch:
      return ExecTouch();
    case Command::kFlushAll:
      ExecFlushAll();
      return true;
    case Command::kMetaGet:
      return ExecMetaGet();
    case Command::kMetaSet:
      return ExecMetaSet();
    case Command::kMetaDelete:
      return ExecMetaDelete();
    case Command::kMetaArithmetic:
      return ExecMetaArith();
    case Command::kMetaDebug:
      return ExecMetaDebug();
    case Command::kMetaNoop:
      Reply("MN\r\n");
      return true;
    case Command::kVersion:
      Reply("VERSION " SSDCACHE_VERSION "\r\n");
      return true;
    case Command::kVerbosity:
      server_.SetVerbosity(req_.verbosity);
      ReplyNoreply("OK\r\n");
      return true;
    case Command::kQuit:
      close_after_flush_ = true;
      return true;
    case Command::kStats: {
      if (req_.stats_arg == "reset") {
        server_.ResetStats();
        Reply("RESET\r\n");
        return true;
      }
      std::string& out = TailSlot().data;
      size_t before = out.size();
      server_.AppendStats(req_.stats_arg, out);
      unsent_bytes_ += out.size() - before;
      return true;
    }
  }
  return true;
}

Connection::Current Connection::Lookup(std::string_view key, uint64_t hash, ItemView& item,
                                       std::optional<IndexEntry>& where, bool bump) {
  storage::Engine& engine = server_.engine();
  if (fetched_.valid && fetched_.hash == hash && fetched_.key == key) {
    std::optional<IndexEntry> cur = engine.Locate(hash);
    if (cur && cur->slab == fetched_.where.slab && cur->chunk == fetched_.where.chunk) {
      where = cur;
      where->fetched = fetched_.where.fetched;  // as it was before this request's own read
      if (!fetched_.hit) return Current::kMiss;
      item.key = fetched_.key;
      item.value = fetched_.value;
      item.flags = fetched_.flags;
      item.exptime = fetched_.exptime;
      item.cas = fetched_.cas;
      item.last_access = fetched_.last_access;
      item.stale = fetched_.stale;
      return Current::kHit;
    }
    fetched_.valid = false;  // changed meanwhile: read again
  }
  IndexEntry found;
  switch (engine.Lookup(key, hash, item, this, kRmwToken, &found, bump)) {
    case LookupResult::kHit:
      where = found;
      return Current::kHit;
    case LookupResult::kMiss:
      where = engine.Locate(hash);
      return Current::kMiss;
    case LookupResult::kPending:
      ++lookups_in_flight_;
      fetched_.valid = false;
      fetched_.hash = hash;
      fetched_.key.assign(key);
      wait_ = Wait::kDevice;
      return Current::kPending;
  }
  return Current::kMiss;
}

void Connection::OnLookupDone(uint64_t token, const ItemView* item, const IndexEntry& where) {
  --lookups_in_flight_;
  if (token == kRmwToken) {
    fetched_.valid = true;
    fetched_.hit = item != nullptr;
    fetched_.where = where;
    if (item != nullptr) {
      fetched_.value.assign(item->value);
      fetched_.flags = item->flags;
      fetched_.exptime = item->exptime;
      fetched_.cas = item->cas;
      fetched_.last_access = item->last_access;
      fetched_.stale = item->stale;
    }
    wait_ = Wait::kNone;
  } else if (Slot* slot = SlotAt(token)) {
    ServerStats& st = server_.stats();
    read_bytes_in_flight_ -= slot->read_bytes;
    slot->read_bytes = 0;
    if (slot->is_meta) {
      FinishMetaGet(*slot, item, where);
    } else if (item != nullptr) {
      ++st.get_hits;
      size_t before = slot->data.size();
      AppendValue(*slot, *item, slot->with_cas);
      unsent_bytes_ += slot->data.size() - before;
    } else {
      ++st.get_misses;
    }
    slot->ready = true;
    slot->ready_ns = util::NowNs();
    st.latency[static_cast<size_t>(LatencyKind::kGetDevice)].Record(slot->ready_ns -
                                                                    slot->start_ns);
  }
  if (!closed()) server_.loop().Defer(this);
}

void Connection::HoldForCommit() {
  storage::Engine& engine = server_.engine();
  const uint64_t ticket = engine.TakeTicket();
  if (ticket == 0) return;
  // The request superseded a version on the device: its reply goes into a pending slot that
  // opens only once the journal entry is on the device (later replies queue behind it).
  Slot* hold = holding_ ? SlotAt(hold_seq_) : nullptr;
  if (hold == nullptr || hold->ready) {
    hold_seq_ = head_seq_ + slot_count_;
    hold = &PushSlot();
    hold->ready = false;
    hold->error_on_fail = !req_.noreply;
    holding_ = true;
  }
  ++hold->commits_pending;
  ++commits_in_flight_;
  engine.AwaitCommit(ticket, this, hold_seq_);
}

void Connection::OnCommitDone(uint64_t token, uint64_t /*ticket*/, bool ok) {
  --commits_in_flight_;
  Slot* slot = SlotAt(token);
  if (slot != nullptr && !slot->ready) {
    if (!ok) slot->commit_failed = true;
    // Journal blocks complete in any order: the reply opens when the last of its tickets does.
    if (slot->commits_pending > 0) --slot->commits_pending;
    if (slot->commits_pending == 0) {
      if (slot->commit_failed) {
        // Never acknowledged: the engine made the key a miss again.
        unsent_bytes_ -= slot->data.size();
        slot->data.clear();
        if (slot->error_on_fail) slot->data.append(kJournalError);
        unsent_bytes_ += slot->data.size();
      }
      slot->ready = true;
    }
  }
  if (!closed()) server_.loop().Defer(this);
}

void Connection::OnMemoryAvailable() {
  if (wait_ != Wait::kMemory) return;
  wait_ = Wait::kNone;
  if (!closed()) server_.loop().Defer(this);
}

bool Connection::ExecGet() {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  const bool with_cas = req_.cmd == Command::kGets || req_.cmd == Command::kGats;
  const bool touch = req_.cmd == Command::kGat || req_.cmd == Command::kGats;
  uint32_t exptime = 0;
  bool expire_now = touch && !AbsoluteExptime(req_.exptime, exptime);
  for (; key_idx_ < req_.keys.size(); ++key_idx_) {
    if (ReadsPaused()) return false;  // resumes from key_idx_ when output drains or reads complete
    std::string_view key = req_.keys[key_idx_];
    uint64_t hash = util::HashKey(key);
    ItemView item;
    if (touch) {
      // gat/gats rewrite the item with the new exptime: a read-modify-write per key.
      std::optional<IndexEntry> where;
      Current c = Lookup(key, hash, item, where);
      if (c == Current::kPending) return false;
      ++st.cmd_get;
      ++st.cmd_touch;
      if (c == Current::kMiss) {
        ++st.get_misses;
        ++st.touch_misses;
        fetched_.valid = false;
        continue;
      }
      uint64_t cas = item.cas;
      if (expire_now) {
        engine.Erase(key, hash, &*where);
      } else {
        // A touch keeps the cas unique and the meta protocol's stale mark and win token.
        const StoreResult r = engine.Store(key, hash, item.value, {}, item.flags, exptime, &cas,
                                           &where, item.cas, MarksOf(item, *where, true));
        if (const auto next = AfterStore(r, &Connection::ExecGet)) return *next;
      }
      HoldForCommit();
      ++st.get_hits;
      ++st.touch_hits;
      item.cas = cas;
      Slot& slot = TailSlot();
      size_t before = slot.data.size();
      AppendValue(slot, item, with_cas);
      unsent_bytes_ += slot.data.size() - before;
      fetched_.valid = false;
      continue;
    }
    ++st.cmd_get;
    switch (engine.Lookup(key, hash, item, this, head_seq_ + slot_count_)) {
      case LookupResult::kHit: {
        ++st.get_hits;
        Slot& slot = TailSlot();
        size_t before = slot.data.size();
        AppendValue(slot, item, with_cas);
        unsent_bytes_ += slot.data.size() - before;
        break;
      }
      case LookupResult::kMiss:
        ++st.get_misses;
        break;
      case LookupResult::kPending:
        // The token passed above is the sequence number this slot gets.
        PushPendingSlot(engine.last_read_bytes()).with_cas = with_cas;
        break;
    }
  }
  if (!req_.more_keys) Reply("END\r\n");
  return true;
}

bool Connection::ExecStore() {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  std::string_view key = req_.keys[0];
  uint64_t hash = util::HashKey(key);
  if (!counted_) ++st.cmd_set;
  counted_ = true;
  if (storage::kItemHeaderSize + key.size() + req_.data.size() > engine.max_item_size()) {
    // Like memcached, a too-large set also drops the key's current value.
    if (req_.cmd == Command::kSet) engine.Erase(key, hash);
    HoldForCommit();
    ReplyNoreply("SERVER_ERROR object too large for cache\r\n");
    return true;
  }
  uint32_t exptime = 0;
  bool live = AbsoluteExptime(req_.exptime, exptime);
  std::optional<IndexEntry> where;
  ItemView cur;
  bool exists = false;
  if (req_.cmd != Command::kSet) {
    Current c = Lookup(key, hash, cur, where, /*bump=*/false);
    if (c == Current::kPending) return false;
    exists = c == Current::kHit;
  }
  std::string_view va = req_.data, vb;
  uint32_t flags = req_.flags;
  switch (req_.cmd) {
    case Command::kSet:
      break;
    case Command::kAdd:
      if (exists) {
        ReplyNoreply("NOT_STORED\r\n");
        return true;
      }
      break;
    case Command::kReplace:
      if (!exists) {
        ReplyNoreply("NOT_STORED\r\n");
        return true;
      }
      break;
    case Command::kAppend:
    case Command::kPrepend:
      if (!exists) {
        ReplyNoreply("NOT_STORED\r\n");
        return true;
      }
      flags = cur.flags;
      exptime = cur.exptime;
      live = true;
      if (req_.cmd == Command::kAppend) {
        va = cur.value;
        vb = req_.data;
      } else {
        vb = cur.value;
      }
      break;
    case Command::kCas:
      if (!exists) {
        ++st.cas_misses;
        ReplyNoreply("NOT_FOUND\r\n");
        return true;
      }
      if (cur.cas != req_.cas_unique) {
        ++st.cas_badval;
        ReplyNoreply("EXISTS\r\n");
        return true;
      }
      ++st.cas_hits;
      break;
    default:
      break;
  }
  if (!live) {
    // Stored and at once expired, as memcached does with a negative exptime.
    if (req_.cmd == Command::kSet)
      engine.Erase(key, hash);
    else
      engine.Erase(key, hash, where ? &*where : nullptr);
    HoldForCommit();
    ReplyNoreply("STORED\r\n");
    return true;
  }
  const StoreResult r = engine.Store(key, hash, va, vb, flags, exptime, nullptr,
                                     req_.cmd == Command::kSet ? nullptr : &where);
  if (const auto next = AfterStore(r, &Connection::ExecStore)) return *next;
  ReplyNoreply(r == StoreResult::kTooLarge ? "SERVER_ERROR object too large for cache\r\n"
                                           : "STORED\r\n");
  return true;
}

bool Connection::ExecArith() {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  const bool incr = req_.cmd == Command::kIncr;
  std::string_view key = req_.keys[0];
  uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return false;
  if (c == Current::kMiss) {
    ++(incr ? st.incr_misses : st.decr_misses);
    ReplyNoreply("NOT_FOUND\r\n");
    return true;
  }
  const std::optional<uint64_t> number = protocol::MemcachedStoredNumber(cur.value);
  if (!number) {
    ReplyNoreply("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    return true;
  }
  uint64_t value = *number;
  ++(incr ? st.incr_hits : st.decr_hits);
  if (incr)
    value += req_.delta;  // wraps at 2^64 as memcached does
  else
    value = value < req_.delta ? 0 : value - req_.delta;
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  const StoreResult r = engine.Store(key, hash, text, {}, cur.flags, cur.exptime, nullptr, &where,
                                     0, ArithMarks(cur, *where, text.size()));
  if (const auto next = AfterStore(r, &Connection::ExecArith)) return *next;
  if (!req_.noreply) {
    Slot& slot = TailSlot();
    slot.data.append(text);
    slot.data.append("\r\n");
    unsent_bytes_ += text.size() + 2;
  }
  return true;
}

bool Connection::ExecDelete() {
  ServerStats& st = server_.stats();
  std::string_view key = req_.keys[0];
  uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  Current c = Lookup(key, hash, cur, where, /*bump=*/false);
  if (c == Current::kPending) return false;
  if (c == Current::kMiss) {
    ++st.delete_misses;
    ReplyNoreply("NOT_FOUND\r\n");
    return true;
  }
  server_.engine().Erase(key, hash, &*where);
  HoldForCommit();
  ++st.delete_hits;
  ReplyNoreply("DELETED\r\n");
  return true;
}

bool Connection::ExecTouch() {
  storage::Engine& engine = server_.engine();
  ServerStats& st = server_.stats();
  std::string_view key = req_.keys[0];
  uint64_t hash = util::HashKey(key);
  ItemView cur;
  std::optional<IndexEntry> where;
  Current c = Lookup(key, hash, cur, where);
  if (c == Current::kPending) return false;
  ++st.cmd_touch;
  if (c == Current::kMiss) {
    ++st.touch_misses;
    ReplyNoreply("NOT_FOUND\r\n");
    return true;
  }
  uint32_t exptime = 0;
  if (!AbsoluteExptime(req_.exptime, exptime)) {
    engine.Erase(key, hash, &*where);
  } else {
    const StoreResult r = engine.Store(key, hash, cur.value, {}, cur.flags, exptime, nullptr,
                                       &where, cur.cas, MarksOf(cur, *where, true));
    if (const auto next = AfterStore(r, &Connection::ExecTouch)) return *next;
  }
  HoldForCommit();
  ++st.touch_hits;
  ReplyNoreply("TOUCHED\r\n");
  return true;
}

std::optional<bool> Connection::AfterStore(StoreResult r, bool (Connection::*again)()) {
  switch (r) {
    case StoreResult::kStored:
    case StoreResult::kTooLarge:
      // A store that superseded a version on the device: its reply waits for the journal.
      HoldForCommit();
      return std::nullopt;
    case StoreResult::kNoMemory:
      // Park until a memory slab is free; the request's bytes stay in the read buffer.
      wait_ = Wait::kMemory;
      server_.WaitForMemory(this);
      return false;
    case StoreResult::kConflict:
      // Another connection changed the key after we read it: read it again and start over, so
      // no update is lost.
      fetched_.valid = false;
      return (this->*again)();
  }
  return std::nullopt;
}

void Connection::ExecFlushAll() {
  ++server_.stats().cmd_flush;
  if (req_.has_delay && req_.delay > 0) {
    server_.ScheduleFlush(req_.delay);
  } else {
    server_.ScheduleFlush(0);
  }
  ReplyNoreply("OK\r\n");
}

void Connection::AppendValue(Slot& slot, const ItemView& item, bool with_cas) {
  std::string& out = slot.data;
  out.append("VALUE ");
  out.append(item.key);
  out.push_back(' ');
  AppendUint(out, item.flags);
  out.push_back(' ');
  AppendUint(out, item.value.size());
  if (with_cas) {
    out.push_back(' ');
    AppendUint(out, item.cas);
  }
  out.append("\r\n");
  out.append(item.value);
  out.append("\r\n");
}

void Connection::Reply(std::string_view line) {
  TailSlot().data.append(line);
  unsent_bytes_ += line.size();
}

void Connection::ReplyNoreply(std::string_view line) {
  if (!req_.noreply) Reply(line);
}

Connection::Slot& Connection::TailSlot() {
  // The request's reply waits for a journal commit: it goes into the held slot.
  if (holding_ && slot_count_ > 0 && hold_seq_ == head_seq_ + slot_count_ - 1) {
    return slots_[(slot_head_ + slot_count_ - 1) % slots_.size()];
  }
  if (slot_count_ > 0) {
    Slot& tail = slots_[(slot_head_ + slot_count_ - 1) % slots_.size()];
    if (tail.ready) return tail;
  }
  return PushSlot();
}

Connection::Slot& Connection::PushSlot() {
  if (slot_count_ == slots_.size()) {
    // Grow the ring, keeping sequence order from index 0.
    std::vector<Slot> bigger(slots_.size() * 2);
    for (size_t i = 0; i < slot_count_; ++i) {
      bigger[i] = std::move(slots_[(slot_head_ + i) % slots_.size()]);
    }
    slots_.swap(bigger);
    slot_head_ = 0;
  }
  Slot& s = slots_[(slot_head_ + slot_count_) % slots_.size()];
  ++slot_count_;
  s.data.clear();
  s.sent = 0;
  s.ready = true;
  s.with_cas = false;
  s.read_bytes = 0;
  s.is_meta = false;
  s.commits_pending = 0;
  s.commit_failed = false;
  s.error_on_fail = false;
  s.ready_ns = 0;
  return s;
}

bool Connection::ReadsPaused() const {
  return unsent_bytes_ + read_bytes_in_flight_ >= kOutputPauseBytes ||
         lookups_in_flight_ + commits_in_flight_ >= kMaxLookupsPerConnection;
}

Connection::Slot& Connection::PushPendingSlot(size_t read_bytes) {
  Slot& slot = PushSlot();
  slot.ready = false;
  slot.start_ns = req_start_ns_;
  slot.read_bytes = read_bytes;
  read_bytes_in_flight_ += read_bytes;
  ++lookups_in_flight_;
  return slot;
}

Connection::Slot* Connection::SlotAt(uint64_t seq) {
  if (seq < head_seq_ || seq >= head_seq_ + slot_count_) return nullptr;
  return &slots_[(slot_head_ + (seq - head_seq_)) % slots_.size()];
}

void Connection::PopSlot() {
  Slot& s = slots_[slot_head_];
  if (s.ready_ns != 0) {  // a device get's reply: its last stage, queued to sent
    server_.stats().latency[static_cast<size_t>(LatencyKind::kGetDeviceSend)].Record(util::NowNs() -
                                                                                     s.ready_ns);
    s.ready_ns = 0;
  }
  // Keep the capacity of ordinary replies; give back the memory of very large values.
  if (s.data.capacity() > 64 * 1024) std::string().swap(s.data);
  s.data.clear();
  s.sent = 0;
  slot_head_ = (slot_head_ + 1) % slots_.size();
  --slot_count_;
  ++head_seq_;
}

void Connection::Close() {
  if (!closed()) CloseNow();
}

void Connection::FinishAndClose() {
  if (closed()) return;
  close_after_flush_ = true;
  Drive();
}

void Connection::CloseNow() {
  if (closed()) return;
  if (registered_) {
    server_.loop().Remove(fd_.get());
    server_.loop().Cancel(this);
  }
  fd_.Reset();
  server_.ConnectionClosed(this);
}

}  // namespace ssdcache::server
