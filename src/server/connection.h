// One client connection: its socket, read buffer, protocol parser and ordered reply queue.
//
// Invariants:
//  - Replies leave in request order. A reply that waits on the device occupies a pending slot in
//    the reply ring; later replies queue behind it and the writer stops at the first pending slot.
//  - Edge-triggered: when the socket is readable we read until EAGAIN (or a short read, after
//    which new bytes raise a new edge; not once the peer's FIN was reported) unless it is
//    paused (too much unsent output, too many reads in flight, a command waiting on the device or
//    on memory); then `can_read_` remembers that unread bytes may remain.
//  - A turn (Drive) does a bounded amount of work. If it ends while still making progress, the
//    connection defers itself to the next turn: the work left (a multi-get whose output bound was
//    freed by a write that drained without EAGAIN, unparsed input) has no event to wake it.
//  - While a request is in progress (blocked), the read buffer is not moved, so the views the
//    parser put into the Request stay valid.
//  - What a request means is server/commands' business (Commands, behind the ReplySink this class
//    implements); this class moves bytes: the read buffer, the parser, the reply ring, pausing,
//    and the waits a command asks for (a device read, a free memory slab, a journal commit).
//    Every reply is composed into the ring by AppendTo, the one place that adds to unsent_bytes_
//    (WriteSocket takes off what was sent, Discard what a failed journal write voided).
//  - The object outlives its socket until every lookup it started has completed (Server frees it).
//  - The connection's first byte decides its protocol for good, as in memcached: 0x80 (a binary
//    request's magic) selects the binary protocol (protocol/binary.h), anything else ASCII.
//  - Bytes cross the socket only through transport_ (plain or TLS): with TLS, reads go on until
//    the transport says kAgain and any edge re-arms both directions (server/transport.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/event_loop.h"
#include "net/turn_budget.h"
#include "protocol/binary.h"
#include "protocol/parser.h"
#include "protocol/response.h"
#include "server/commands.h"
#include "server/key_dump.h"
#include "server/transport.h"
#include "storage/engine.h"
#include "util/unique_fd.h"

namespace ssdcache::server {

class Server;

class Connection final : public net::EventHandler,
                         public storage::LookupWaiter,
                         public storage::CommitWaiter,
                         public storage::ScanListener,
                         private ReplySink {
 public:
  // A connection's budget per loop turn (memcached's reqs_per_event is the requests').
  static constexpr int kRecvsPerTurn = 4;
  static constexpr int kRequestsPerTurn = 64;

  // `transport` moves the bytes of `fd` (plain or TLS, server/transport.h).
  Connection(Server& server, util::UniqueFd fd, uint64_t id, std::unique_ptr<Transport> transport);
  ~Connection();

  bool Start();
  void OnEvent(uint32_t events) override;
  void OnLookupDone(uint64_t token, const storage::ItemView* item,
                    const storage::IndexEntry& where) override;
  void OnCommitDone(uint64_t token, uint64_t ticket, bool ok) override;
  // A memory slab became free: a store that waited for one may go on.
  void OnMemoryAvailable();
  // A device read of this connection's key listing completed.
  void OnScanReady() override;
  // Closes the socket now.
  void Close();
  // Server shutdown: read no new request, answer those already read, then close.
  void FinishAndClose();

  bool closed() const { return !fd_.valid(); }
  bool releasable() const { return closed() && lookups_in_flight_ == 0 && commits_in_flight_ == 0; }
  bool waiting_for_memory() const { return wait_ == Wait::kMemory; }
  uint64_t id() const { return id_; }
  int fd() const { return fd_.get(); }
  // For `stats`: its read buffer, its reply ring, and its state in memcached's terms.
  size_t read_buffer_bytes() const { return rbuf_.size(); }
  size_t reply_slots() const { return slots_.size(); }
  size_t reply_bytes() const;
  std::string_view state_name() const;
  uint64_t last_active() const { return last_active_; }
  bool idle() const {
    return !in_request_ && slot_count_ == 0 && lookups_in_flight_ == 0 && commits_in_flight_ == 0;
  }

 private:
  enum class Wait : uint8_t { kNone, kDevice, kMemory };
  enum class Protocol : uint8_t { kUnknown, kAscii, kBinary };
  struct Slot {
    std::string data;
    size_t sent = 0;
    bool ready = true;
    uint64_t start_ns = 0;  // pending get slot: when its request was parsed
    uint64_t ready_ns = 0;  // pending get slot: when its read completed and the reply was queued
    size_t read_bytes = 0;  // pending get slot: size of its device read
    PendingRead pending;    // pending get slot: what its reply needs (see Commands::FinishRead)
    uint32_t commits_pending = 0;  // held slot: journal tickets its reply still waits for
    bool commit_failed = false;    // held slot: a journal write it waited for failed
    bool error_on_fail = false;    // held slot: answer SERVER_ERROR then (not noreply)
  };

  void Drive();
  bool ReadSocket();
  bool WriteSocket();
  void Process();
  // The request in hand completed: records its latency, consumes it, and takes it from the
  // turn's budget (false: the budget is spent, the connection was deferred to the next turn).
  bool FinishRequest();
  // Takes one request from the turn's budget; false: spent, the connection is deferred.
  bool TakeFromBudget();
  // The protocol of a new connection: -B, or memcached's rule of the first byte.
  Protocol PickProtocol() const;
  // A request the parser refused: its reply, memcached's side effects, the bytes to skip; false as
  // TakeFromBudget.
  bool RefuseRequest(const protocol::ParseOutcome& outcome);
  bool Paused() const;
  bool Execute();
  // Parses one binary request into req_ (errors are answered here, in the binary protocol).
  protocol::ParseOutcome ParseBinary(std::string_view input);
  // The commands the connection answers itself (they act on the server, not on items).
  void ExecuteAdmin();
  // lru_crawler and stats cachedump (connection_dump.cc): starts or goes on with a key listing,
  // streamed in bounded steps; false while it goes on (it waits for the device, for its output
  // to drain, or for the next loop turn).
  static bool IsDump(const protocol::Request& req);
  bool ExecuteDump();
  // -vv (trace level): logs the request at the start of `input`, as memcached's -vv does.
  void TraceRequest(std::string_view input) const;

  // ReplySink (see server/commands.h).
  void Send(const protocol::Response& reply) override { AppendTo(TailSlot(), reply); }
  void HoldForCommit(uint64_t ticket) override;
  uint64_t NextSlotToken() const override { return head_seq_ + slot_count_; }
  PendingRead& Defer(uint32_t read_bytes) override;
  // Too much output queued or too many device reads in flight: read and start no more requests.
  // Reads count against the output bound too: each holds a buffer the size of its item until its
  // reply is queued.
  bool ReadsPaused() const override;

  // Composes `reply` at the end of `slot`: the one place where output is added (and counted).
  void AppendTo(Slot& slot, const protocol::Response& reply);
  // Drops what `slot` holds unsent (a reply whose journal write failed).
  void Discard(Slot& slot);
  void Reply(std::string_view line) { Send(protocol::LineReply{line}); }
  void ReplyNoreply(std::string_view line) {
    if (!req_.noreply) Reply(line);
  }
  Slot& TailSlot();
  Slot& PushSlot();
  Slot* SlotAt(uint64_t seq);
  void PopSlot();
  void Consume(size_t n);
  void CloseNow();

  Server& server_;
  util::UniqueFd fd_;
  std::unique_ptr<Transport> transport_;
  uint64_t id_;
  protocol::Parser parser_;
  protocol::binary::BinaryRequest breq_;
  protocol::Request req_;
  Commands commands_;
  std::string stats_text_;         // `stats` output, composed before it is queued (capacity reused)
  std::unique_ptr<KeyDump> dump_;  // the key listing in progress (one at a time)

  std::vector<char> rbuf_;
  size_t rstart_ = 0;
  size_t rend_ = 0;
  uint64_t swallow_ = 0;

  std::vector<Slot> slots_;  // ring
  size_t slot_head_ = 0;
  size_t slot_count_ = 0;
  uint64_t head_seq_ = 0;  // sequence number of the slot at slot_head_
  size_t unsent_bytes_ = 0;

  bool in_request_ = false;
  size_t req_consumed_ = 0;
  uint64_t req_start_ns_ = 0;
  Wait wait_ = Wait::kNone;
  size_t lookups_in_flight_ = 0;
  size_t read_bytes_in_flight_ = 0;  // device read buffers held for this connection's gets
  size_t commits_in_flight_ = 0;     // journal commits replies of this connection wait for
  bool holding_ = false;             // the current request's reply goes into a held slot
  uint64_t hold_seq_ = 0;            // that slot's sequence number

  bool can_read_ = false;
  bool can_write_ = true;
  bool peer_closed_ = false;
  bool hup_seen_ = false;         // EPOLLRDHUP/EPOLLHUP reported: read until recv says EOF
  bool input_exhausted_ = false;  // the last Process() stopped for want of bytes
  Protocol protocol_ = Protocol::kUnknown;  // decided by the first byte
  bool close_after_flush_ = false;
  bool registered_ = false;
  uint64_t last_active_ = 0;
  // One budget per loop turn, however often the turn calls Drive(): docs/design.md, "Connections".
  net::TurnBudget budget_;  // -R requests per turn
};

}  // namespace ssdcache::server
