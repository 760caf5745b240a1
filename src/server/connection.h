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
//  - A read-modify-write command (add/replace/append/prepend/cas/incr/decr/delete/touch/gat) on a
//    key on the device reads it, then stores with the location it read as the expected one; if
//    another connection changed the key meanwhile, the command starts over (no lost update).
//  - The object outlives its socket until every lookup it started has completed (Server frees it).
//  - A connection whose first byte is 0x80 (a binary-protocol request, which the text parser
//    would wait on forever) is closed at once, without a reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/event_loop.h"
#include "net/turn_budget.h"
#include "protocol/parser.h"
#include "storage/engine.h"
#include "util/unique_fd.h"

namespace ssdcache::server {

class Server;

// An item's expiry as a meta command sees it while walking its flags: T (and N on an item just
// created) replace it at their position, so a 't' reports the value it had there.
struct MetaExpiry {
  uint32_t exptime = 0;  // absolute, 0 = never
  bool expired = false;  // set to a time already past: the item goes away
};

// What a touch (touch, gat, mg T, md I) carries over to the item's new version: the stale mark,
// whether a win token was handed out and whether it was fetched (`fetch`: this request is one).
storage::ItemMarks MarksOf(const storage::ItemView& item, const storage::IndexEntry& where,
                           bool fetch);
// What incr/decr/ma carry over: memcached rewrites a number that still fits the old value in place
// (the item keeps its marks, as a touch), a longer one goes into a new item (no marks).
storage::ItemMarks ArithMarks(const storage::ItemView& item, const storage::IndexEntry& where,
                              size_t new_size);

class Connection final : public net::EventHandler,
                         public storage::LookupWaiter,
                         public storage::CommitWaiter {
 public:
  Connection(Server& server, util::UniqueFd fd, uint64_t id);
  ~Connection();

  bool Start();
  void OnEvent(uint32_t events) override;
  void OnLookupDone(uint64_t token, const storage::ItemView* item,
                    const storage::IndexEntry& where) override;
  void OnCommitDone(uint64_t token, uint64_t ticket, bool ok) override;
  // A memory slab became free: a store that waited for one may go on.
  void OnMemoryAvailable();
  // Closes the socket now.
  void Close();
  // Server shutdown: read no new request, answer those already read, then close.
  void FinishAndClose();

  bool closed() const { return !fd_.valid(); }
  bool releasable() const { return closed() && lookups_in_flight_ == 0 && commits_in_flight_ == 0; }
  bool waiting_for_memory() const { return wait_ == Wait::kMemory; }
  uint64_t id() const { return id_; }
  uint64_t last_active() const { return last_active_; }
  bool idle() const {
    return !in_request_ && slot_count_ == 0 && lookups_in_flight_ == 0 && commits_in_flight_ == 0;
  }

 private:
  enum class Wait : uint8_t { kNone, kDevice, kMemory };
  struct Slot {
    std::string data;
    size_t sent = 0;
    bool ready = true;
    bool with_cas = false;  // pending get slot: gets/gats format
    uint64_t start_ns = 0;  // pending get slot: when its request was parsed
    uint64_t ready_ns = 0;  // pending get slot: when its read completed and the reply was queued
    size_t read_bytes = 0;  // pending get slot: size of its device read
    bool is_gat = false;
    // Pending mg slot: a copy of the request (its views pointed into the read buffer, which moves
    // on before the read completes); capacities are reused from slot to slot.
    bool is_meta = false;
    uint64_t hash = 0;
    protocol::MetaRequest meta;  // meta.opaque is re-pointed at meta_opaque when used
    std::string meta_key;
    std::string meta_opaque;
    uint32_t commits_pending = 0;  // held slot: journal tickets its reply still waits for
    bool commit_failed = false;    // held slot: a journal write it waited for failed
    bool error_on_fail = false;    // held slot: answer SERVER_ERROR then (not noreply)
  };
  // How an mg hit is answered, decided before anything is stored or written.
  struct MetaHit {
    MetaExpiry start;  // the item's expiry before this request's T/N
    uint64_t cas = 0;
    bool created = false;     // N made the item just now
    bool fetched = false;     // h: read before this request
    bool token_sent = false;  // someone else won: Z
    bool won = false;         // this request wins: W
  };
  // What a read-modify-write command read from the device, kept across the wait.
  struct Fetched {
    bool valid = false;
    bool hit = false;
    uint64_t hash = 0;
    storage::IndexEntry where;
    std::string key;
    std::string value;
    uint32_t flags = 0;
    uint32_t exptime = 0;
    uint64_t cas = 0;
    uint32_t last_access = 0;
    bool stale = false;
  };
  enum class Current : uint8_t { kHit, kMiss, kPending };

  void Drive();
  bool ReadSocket();
  bool WriteSocket();
  void Process();
  bool Paused() const;
  bool Execute();
  bool ExecGet();
  bool ExecStore();
  bool ExecArith();
  bool ExecDelete();
  bool ExecTouch();
  void ExecFlushAll();
  // Meta commands (connection_meta.cc). md, ma, me and mg with T or N read a key on the device
  // like the read-modify-write commands: the connection waits for that read (no pending slot).
  bool ExecMetaGet();
  bool ExecMetaSet();
  bool ExecMetaDelete();
  bool ExecMetaArith();
  bool ExecMetaDebug();
  // mg without T or N only reads: like get, a device read gets a pending slot and the next
  // requests go on (FinishMetaGet answers when it completes).
  bool ExecMetaGetRead();
  void FinishMetaGet(Slot& slot, const storage::ItemView* item, const storage::IndexEntry& where);
  void ApplyMetaTtl(char letter, const protocol::MetaRequest& m, bool created, MetaExpiry& e) const;
  // Walks the flags: the expiry they leave (`final`) and whether this request wins the token.
  bool MetaGetWins(const protocol::MetaRequest& m, const storage::ItemView& item,
                   const MetaHit& hit, MetaExpiry& final) const;
  void AppendMetaHit(std::string& out, const protocol::MetaRequest& m, std::string_view key,
                     const storage::ItemView& item, const MetaHit& hit) const;
  // After Engine::Store in a command: nullopt when the store is done (kStored, kTooLarge: the
  // caller replies), else what the command returns: kNoMemory parks the connection until a memory
  // slab is free (false), kConflict drops the fetched copy and runs `again` (the command itself).
  std::optional<bool> AfterStore(storage::StoreResult r, bool (Connection::*again)());
  // `bump`: the read counts as an access and marks the item fetched (see Engine::Lookup).
  Current Lookup(std::string_view key, uint64_t hash, storage::ItemView& item,
                 std::optional<storage::IndexEntry>& where, bool bump = true);
  // Converts a protocol exptime to absolute seconds; false if it means "already expired".
  bool AbsoluteExptime(int64_t exptime, uint32_t& out) const;

  // After a Store/Erase: if the engine handed out a journal ticket, the rest of this request's
  // reply goes into a held slot released by OnCommitDone.
  void HoldForCommit();
  void Reply(std::string_view line);
  void ReplyNoreply(std::string_view line);
  void AppendValue(Slot& slot, const storage::ItemView& item, bool with_cas);
  Slot& TailSlot();
  Slot& PushSlot();
  // A slot whose reply waits for a device read of read_bytes (get, mg).
  Slot& PushPendingSlot(size_t read_bytes);
  // Too much output queued or too many device reads in flight: read and start no more requests.
  // Reads count against the output bound too: each holds a buffer the size of its item until its
  // reply is queued.
  bool ReadsPaused() const;
  Slot* SlotAt(uint64_t seq);
  void PopSlot();
  size_t unsent_bytes() const { return unsent_bytes_; }
  void Consume(size_t n);
  void CloseNow();

  Server& server_;
  util::UniqueFd fd_;
  uint64_t id_;
  protocol::Parser parser_;
  protocol::Request req_;

  std::vector<char> rbuf_;
  size_t rstart_ = 0;
  size_t rend_ = 0;
  uint64_t swallow_ = 0;

  std::vector<Slot> slots_;  // ring
  size_t slot_head_ = 0;
  size_t slot_count_ = 0;
  uint64_t head_seq_ = 0;  // sequence number of the slot at slot_head_
  size_t unsent_bytes_ = 0;
  std::vector<std::string> spare_strings_;

  bool in_request_ = false;
  size_t req_consumed_ = 0;
  size_t key_idx_ = 0;
  bool counted_ = false;
  uint64_t req_start_ns_ = 0;  // the request's command counter was bumped (it may run again)
  Wait wait_ = Wait::kNone;
  Fetched fetched_;
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
  bool first_byte_seen_ = false;  // the protocol check of the connection's first byte is done
  bool close_after_flush_ = false;
  bool registered_ = false;
  uint64_t last_active_ = 0;
  // One budget per loop turn, however often the turn calls Drive(): docs/design.md, "Connections".
  net::TurnBudget budget_{4, 64};
};

}  // namespace ssdcache::server
