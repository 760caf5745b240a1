#include "server/connection.h"

#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

#include "protocol/binary.h"
#include "protocol/compose.h"
#include "server/server.h"
#include "util/hash.h"

namespace ssdcache::server {

namespace {
using protocol::Command;
using storage::IndexEntry;
using storage::ItemView;

constexpr size_t kInitialReadBuffer = 16 * 1024;
constexpr size_t kOutputPauseBytes = 4 * 1024 * 1024;  // stop reading requests above this
constexpr size_t kMaxLookupsPerConnection = 256;
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

Connection::Connection(Server& server, util::UniqueFd fd, uint64_t id,
                       std::unique_ptr<Transport> transport)
    : server_(server),
      fd_(std::move(fd)),
      transport_(std::move(transport)),
      id_(id),
      parser_(server.parser_limits()),
      commands_(server.engine(), server.stats(), *this),
      budget_(4, static_cast<int>(server.config().reqs_per_event)) {
  rbuf_.resize(kInitialReadBuffer);
  slots_.resize(4);
  last_active_ = server_.now();
}

size_t Connection::reply_bytes() const {
  size_t bytes = 0;
  for (const Slot& s : slots_) bytes += s.data.capacity();
  return bytes;
}

std::string_view Connection::state_name() const {
  if (closed()) return "conn_closing";
  if (in_request_ && wait_ != Wait::kNone) return "conn_io_queue";  // device or memory
  if (in_request_) return "conn_parse_cmd";                         // the one asking, too
  if (unsent_bytes_ > 0) return "conn_mwrite";
  return "conn_read";  // idle: memcached waits for a request in conn_read
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
  // TLS: a read may wait for room to write a handshake record, a write for bytes to read.
  if ((events & (EPOLLIN | EPOLLOUT)) && transport_->EdgesWakeBoth()) events |= EPOLLIN | EPOLLOUT;
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
    const IoResult r = transport_->Read(rbuf_.data() + rend_, room);
    if (r.status == IoStatus::kOk) {
      rend_ += r.bytes;
      server_.stats().bytes_read += r.bytes;
      got = true;
      // A short read drained the socket: bytes (or the EOF) arriving later raise a new edge, so
      // the recv that would only say EAGAIN is skipped (one syscall less per request). Not so
      // for TLS, whose reads stop at a record's end.
      if (r.bytes < room && !hup_seen_ && transport_->ShortReadDrains()) can_read_ = false;
      continue;
    }
    if (r.status == IoStatus::kEof) peer_closed_ = true;
    if (r.status != IoStatus::kError) {
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
    const IoResult w = transport_->Write(iov, n);
    if (w.status == IoStatus::kAgain) {
      can_write_ = false;
      break;
    }
    if (w.status != IoStatus::kOk) {
      CloseNow();
      return wrote;
    }
    wrote = true;
    server_.stats().bytes_written += w.bytes;
    size_t left = w.bytes;
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
      if (wait_ != Wait::kNone || !Execute()) return;
      if (!FinishRequest()) return;
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
    if (protocol_ == Protocol::kUnknown) protocol_ = PickProtocol();
    const std::string_view input(rbuf_.data() + rstart_, avail);
    protocol::ParseOutcome outcome =
        protocol_ == Protocol::kBinary ? ParseBinary(input) : parser_.Parse(input, req_);
    if (outcome.status == protocol::ParseStatus::kNeedMore) {
      input_exhausted_ = true;
      return;
    }
    if (outcome.status == protocol::ParseStatus::kError) {
      if (!RefuseRequest(outcome)) return;
      continue;
    }
    // memcached 1.6.18's cmd_meta counts `me` only (mg, ms, md, ma count as get, set, ...).
    if (req_.cmd == Command::kMetaDebug) ++server_.stats().cmd_meta;
    if (spdlog::should_log(spdlog::level::trace)) TraceRequest(input);
    in_request_ = true;
    req_start_ns_ = util::NowNs();
    req_consumed_ = outcome.consumed;
    commands_.Begin();
  }
}

bool Connection::FinishRequest() {
  server_.stats().latency[static_cast<size_t>(KindOf(req_.cmd))].Record(util::NowNs() -
                                                                        req_start_ns_);
  in_request_ = false;
  holding_ = false;
  Consume(req_consumed_);
  // --idle-timeout counts from the last command, as memcached's does: a client trickling bytes
  // that never complete a request is idle, not busy.
  last_active_ = server_.now();
  return TakeFromBudget();
}

bool Connection::TakeFromBudget() {
  if (budget_.TakeRequest()) return true;
  ++server_.stats().conn_yields;
  server_.loop().Defer(this);
  return false;
}

Connection::Protocol Connection::PickProtocol() const {
  // As memcached: the first byte decides the connection's protocol, 0x80 opening a binary
  // request, unless -B forces one (then a binary request on an ASCII-only server is a line of
  // text, and text on a binary-only one a bad magic that closes the connection).
  switch (server_.config().protocol) {
    case WireProtocol::kAscii:
      return Protocol::kAscii;
    case WireProtocol::kBinary:
      return Protocol::kBinary;
    case WireProtocol::kAuto:
      break;
  }
  return rbuf_[rstart_] == '\x80' ? Protocol::kBinary : Protocol::kAscii;
}

bool Connection::RefuseRequest(const protocol::ParseOutcome& outcome) {
  ++server_.stats().protocol_errors;
  if (!outcome.reply.empty()) Reply(outcome.reply);
  if (outcome.too_large && req_.cmd == Command::kSet && req_.keys.size() == 1) {
    // A set refused as too large also drops the key's old value, as memcached does, so a client
    // never reads back the value it meant to replace (noreply too: no reply tells).
    commands_.DropRefused(req_.keys[0]);
  }
  Consume(outcome.consumed);
  swallow_ = outcome.swallow;
  if (outcome.close) close_after_flush_ = true;
  // Errors use up the turn's budget too, or a client sending garbage starves the others.
  return TakeFromBudget();
}

protocol::ParseOutcome Connection::ParseBinary(std::string_view input) {
  namespace bin = protocol::binary;
  const protocol::ParserLimits& limits = server_.parser_limits();
  protocol::ParseOutcome out;
  // The largest body a store can take: extras, key and value.
  const auto max_body = static_cast<uint32_t>(limits.max_value + limits.max_key + 20);
  const bin::BinaryOutcome b = bin::ParseBinary(input, max_body, breq_);
  if (b.status == bin::BinaryStatus::kNeedMore) return out;
  out.status = protocol::ParseStatus::kError;
  out.consumed = b.consumed;
  if (b.status == bin::BinaryStatus::kInvalid) {
    // A bad magic or lengths that do not add up: memcached closes without a reply.
    spdlog::debug("connection {}: invalid binary protocol request, closing", id_);
    out.consumed = input.size();
    out.close = true;
    return out;
  }
  if (b.status == bin::BinaryStatus::kTooLarge) {
    // The error is composed as a reply to the request's opcode and opaque.
    req_.Clear();
    req_.meta.binary = true;
    req_.meta.bin_opcode = breq_.header.opcode;
    req_.meta.bin_opaque = breq_.header.opaque;
    Reply("SERVER_ERROR object too large for cache\r\n");  // memcached swallows the body
    out.swallow = breq_.header.body_length;
    return out;
  }
  switch (bin::ToRequest(breq_, limits.max_key, req_)) {
    case bin::kSuccess:
      out.status = protocol::ParseStatus::kOk;
      if (!server_.engine().cas_enabled()) {
        // -C: memcached ignores a binary request's cas (a set with one is a plain set).
        req_.meta.compare_cas = 0;
        req_.meta.present &= ~(uint64_t{1} << protocol::MetaRequest::Bit('C'));
      }
      return out;
    case bin::kUnknownCommand:
      Reply("ERROR\r\n");  // answered and skipped, the connection stays
      return out;
    default:
      // A request of the wrong shape: memcached answers "invalid arguments" and closes.
      Reply("CLIENT_ERROR bad command line format\r\n");
      out.close = true;
      return out;
  }
}

bool Connection::Execute() {
  if (IsDump(req_)) return ExecuteDump();
  if (!Commands::Serves(req_.cmd)) {
    ExecuteAdmin();
    return true;
  }
  switch (commands_.Execute(req_, *this)) {
    case Progress::kDone:
      // An ms refused as too large: its data block is still to come, unparsed.
      if (req_.cmd == Command::kMetaSet && req_.meta.too_large) swallow_ = req_.meta.swallow;
      return true;
    case Progress::kWaitDevice:
      ++lookups_in_flight_;
      wait_ = Wait::kDevice;
      return false;
    case Progress::kWaitMemory:
      // Parked until a memory slab is free; the request's bytes stay in the read buffer.
      wait_ = Wait::kMemory;
      server_.WaitForMemory(this);
      return false;
    case Progress::kPaused:
      return false;  // runs again when output drains or reads complete
  }
  return true;
}

void Connection::OnLookupDone(uint64_t token, const ItemView* item, const IndexEntry& where) {
  --lookups_in_flight_;
  if (token == Commands::kFetchToken) {
    commands_.OnFetched(item, where);
    wait_ = Wait::kNone;
  } else if (Slot* slot = SlotAt(token)) {
    read_bytes_in_flight_ -= slot->read_bytes;
    slot->read_bytes = 0;
    if (const auto reply = commands_.FinishRead(slot->pending, item, where)) {
      AppendTo(*slot, *reply);
    }
    slot->ready = true;
    slot->ready_ns = util::NowNs();
    server_.stats().latency[static_cast<size_t>(LatencyKind::kGetDevice)].Record(slot->ready_ns -
                                                                                 slot->start_ns);
  }
  if (!closed()) server_.loop().Defer(this);
}

void Connection::HoldForCommit(uint64_t ticket) {
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
  server_.engine().AwaitCommit(ticket, this, hold_seq_);
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
        Discard(*slot);
        if (slot->error_on_fail) AppendTo(*slot, protocol::LineReply{kJournalError});
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

void Connection::AppendTo(Slot& slot, const protocol::Response& reply) {
  const size_t before = slot.data.size();
  if (protocol_ == Protocol::kBinary) {
    // A deferred reply carries its request's opcode and opaque (MetaReply::request); the others
    // belong to the request being served.
    protocol::binary::Compose(reply, req_.meta, slot.data);
  } else {
    protocol::Compose(reply, slot.data);
  }
  unsent_bytes_ += slot.data.size() - before;
}

void Connection::Discard(Slot& slot) {
  unsent_bytes_ -= slot.data.size() - slot.sent;
  slot.data.clear();
  slot.sent = 0;
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
  s.read_bytes = 0;
  s.pending.is_meta = false;
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

PendingRead& Connection::Defer(uint32_t read_bytes) {
  Slot& slot = PushSlot();
  slot.ready = false;
  slot.start_ns = req_start_ns_;
  slot.read_bytes = read_bytes;
  read_bytes_in_flight_ += read_bytes;
  ++lookups_in_flight_;
  return slot.pending;
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
  transport_->Shutdown();
  fd_.Reset();
  dump_.reset();  // closes its scan: the engine frees it once its reads completed
  server_.ConnectionClosed(this);
}

}  // namespace ssdcache::server
