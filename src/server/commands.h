// The semantics of the data commands (get gets gat gats set add replace append prepend cas incr
// decr delete touch, and the meta commands mg ms md ma me): a parsed request plus the engine
// become responses (protocol/response.h), handed to a ReplySink. No socket, no reply text: the
// connection that runs a command (or a test) owns the sink; protocol/compose writes the bytes.
//
// A command may have to wait, and then returns a Progress other than kDone; the caller runs it
// again, with the same request, once the wait is over:
//  - kWaitDevice: a read-modify-write command (add/replace/append/prepend/cas/incr/decr/delete/
//    touch/gat, and mg with T or N, ms with a compare or a mode, md, ma, me) read its key from
//    the device; OnFetched() receives the copy, and the rerun stores with the location it read as
//    the expected one. If another client changed the key meanwhile, the command starts over (no
//    lost update).
//  - kWaitMemory: every memory slab is busy; run again once the engine frees one.
//  - kPaused: the sink is paused (too much output or too many reads); a multi-get resumes at the
//    key it stopped at.
// A plain get or mg whose key is on the device does not wait: the sink defers a reply slot that
// carries a PendingRead, the next requests go on, and FinishRead() makes that slot's reply.
//
// Hot path: a get hit and a set allocate nothing (responses view the engine's DRAM and the
// request's buffers); only a device read's continuation copies the key (and an mg's flags), and a
// read-modify-write command copies the item it read (see Lookup).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/request.h"
#include "protocol/response.h"
#include "server/stats.h"
#include "storage/engine.h"

namespace ssdcache::server {

// A get or mg whose read is in flight, kept in its reply slot until FinishRead (the request's
// views pointed into the read buffer, which moves on before the read completes). Capacities are
// reused from slot to slot.
struct PendingRead {
  bool with_cas = false;  // gets/gats format
  bool is_meta = false;
  uint64_t hash = 0;
  protocol::MetaRequest meta;  // meta.opaque is re-pointed at `opaque` when used
  std::string key;
  std::string opaque;
};

// Where a command's replies go: the connection's reply ring, or a test's list.
class ReplySink {
 public:
  // Queues a reply behind every reply queued before it.
  virtual void Send(const protocol::Response& reply) = 0;
  // A Store/Erase handed out a journal ticket (non-zero): the rest of this request's reply waits
  // until the ticket's commit completes.
  virtual void HoldForCommit(uint64_t ticket) = 0;
  // The token of the reply slot Defer() would make now (a device read's LookupWaiter token).
  virtual uint64_t NextSlotToken() const = 0;
  // A reply slot waiting for a device read of `read_bytes`; its PendingRead goes to FinishRead.
  virtual PendingRead& Defer(uint32_t read_bytes) = 0;
  // Too much output queued or too many reads in flight: start no new device read.
  virtual bool ReadsPaused() const = 0;

 protected:
  ~ReplySink() = default;
};

enum class Progress : uint8_t { kDone, kWaitDevice, kWaitMemory, kPaused };

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

class Commands {
 public:
  // The LookupWaiter token of a read-modify-write command's read (reply slots use theirs).
  static constexpr uint64_t kFetchToken = ~0ULL;

  // `waiter` receives the engine's read completions (the connection, which passes kFetchToken
  // ones to OnFetched and the others to FinishRead).
  Commands(storage::Engine& engine, ServerStats& stats, storage::LookupWaiter& waiter)
      : engine_(engine), stats_(stats), waiter_(waiter) {}

  // Whether `cmd` is one of the data commands Execute() serves.
  static bool Serves(protocol::Command cmd);
  // A new request: forgets the progress and the fetched copy of the last one.
  void Begin() {
    key_idx_ = 0;
    counted_ = false;
    fetched_.valid = false;
  }
  // Runs (or resumes) `req`; see the header comment. `req` must stay the same until kDone.
  Progress Execute(const protocol::Request& req, ReplySink& sink);
  // A set the parser refused as too large drops the key's old value too, as memcached does, so a
  // client never reads back the value it meant to replace.
  // Erases the version a lookup read at `where` (none: whatever the key has) and holds the reply
  // for its journal entry; false, with the fetched copy dropped, when it was the small-object
  // tier's and changed since: the caller reads again, as after a store's kConflict.
  bool EraseAsRead(std::string_view key, uint64_t hash,
                   const std::optional<storage::IndexEntry>& where, ReplySink& sink);
  void DropRefused(std::string_view key);
  // The read of a command that returned kWaitDevice completed (`item` null: a miss).
  void OnFetched(const storage::ItemView* item, const storage::IndexEntry& where);
  // A deferred read completed: the reply of its slot (nullopt: none, a get's miss). Views into
  // `item` and `p` are valid until the next call.
  std::optional<protocol::Response> FinishRead(PendingRead& p, const storage::ItemView* item,
                                               const storage::IndexEntry& where);

 private:
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
    uint64_t wseq = 0;  // a tier version's marks are kept in its record (MarkTokenSent)
    uint32_t stored_at = 0;
    uint32_t last_access = 0;
    bool stale = false;
  };
  enum class Current : uint8_t { kHit, kMiss, kPending };
  // What a storage command (classic or ms) stores, or why it refuses.
  struct StorePlan {
    std::string_view refusal;  // non-empty: the reply (classic) or code (ms) instead of a store
    std::string_view va;       // the value: va + vb (append/prepend join the old value)
    std::string_view vb;
    uint32_t flags = 0;
    uint32_t exptime = 0;
    bool live = true;  // false: store and expire at once (a negative exptime)
    storage::ItemMarks marks;

    storage::StoreRequest Request(std::string_view key, uint64_t hash) const {
      storage::StoreRequest put(key, hash, va);
      put.value_b = vb;
      put.flags = flags;
      put.exptime = exptime;
      put.marks = marks;
      return put;
    }
  };
  using Exec = Progress (Commands::*)(const protocol::Request&, ReplySink&);

  Progress Get(const protocol::Request& req, ReplySink& sink);
  // gat/gats of one key: false when the command must wait (`progress` says how).
  bool TouchOneKey(const protocol::Request& req, ReplySink& sink, std::string_view key,
                   Progress& progress);
  Progress Store(const protocol::Request& req, ReplySink& sink);
  void PlanStore(const protocol::Request& req, bool exists, const storage::ItemView& cur,
                 StorePlan& plan);
  Progress Arith(const protocol::Request& req, ReplySink& sink);
  Progress Delete(const protocol::Request& req, ReplySink& sink);
  Progress Touch(const protocol::Request& req, ReplySink& sink);
  // Meta commands (commands_meta.cc).
  Progress MetaGet(const protocol::Request& req, ReplySink& sink);
  Progress MetaGetRead(const protocol::Request& req, ReplySink& sink);
  Progress MetaSet(const protocol::Request& req, ReplySink& sink);
  void PlanMetaSet(const protocol::Request& req, char mode, bool compare, bool exists,
                   const storage::ItemView& cur, const std::optional<storage::IndexEntry>& where,
                   StorePlan& plan);
  Progress MetaDelete(const protocol::Request& req, ReplySink& sink);
  Progress MetaArith(const protocol::Request& req, ReplySink& sink);
  Progress MetaDebug(const protocol::Request& req, ReplySink& sink);
  std::optional<protocol::Response> FinishMetaRead(PendingRead& p, const storage::ItemView* item,
                                                   const storage::IndexEntry& where);
  protocol::MetaReply MetaHitReply(const protocol::MetaRequest& m, std::string_view key,
                                   const storage::ItemView& item, const MetaHit& hit) const;
  void ApplyMetaTtl(char letter, const protocol::MetaRequest& m, bool created, MetaExpiry& e) const;
  // Walks the flags: the expiry they leave (`final`) and whether this request wins the token.
  bool MetaGetWins(const protocol::MetaRequest& m, const storage::ItemView& item,
                   const MetaHit& hit, MetaExpiry& final) const;
  // Hands out the win token: the engine's test-and-set (Engine::MarkTokenSent). When another
  // reader took it first, or the tier could not record it, this request gets Z, not W.
  void TakeToken(MetaHit& hit, uint64_t hash, storage::IndexEntry& where,
                 const storage::ItemView& item);
  // The TTL a meta 't' reports, as left by the T/N before it.
  int64_t TtlAt(const protocol::MetaRequest& m, bool created, MetaExpiry e) const;

  // After Engine::Store: nullopt when the store is done (kStored, kTooLarge: the caller replies),
  // else what the command returns: kNoMemory waits for a memory slab, kConflict drops the fetched
  // copy and runs `again` (the command itself).
  std::optional<Progress> AfterStore(const storage::StoreOutcome& r, const protocol::Request& req,
                                     ReplySink& sink, Exec again);
  // The read of a read-modify-write command. A hit's key and value view a copy the command owns
  // (fetched_ or held_), valid while the command stores, erases and replies. `bump`: the read
  // counts as an access and marks the item fetched (see Engine::Lookup).
  Current Lookup(std::string_view key, uint64_t hash, storage::ItemView& item,
                 std::optional<storage::IndexEntry>& where, bool bump = true);
  // Converts a protocol exptime to absolute seconds; false if it means "already expired".
  bool AbsoluteExptime(int64_t exptime, uint32_t& out) const;
  static void ReplyNoreply(const protocol::Request& req, ReplySink& sink, std::string_view line);
  // The per-class counters of the class an item of these sizes lives in (ServerStats::classes).
  ClassCounts& ClassOf(size_t key_size, size_t value_size);
  ClassCounts& ClassOf(const storage::ItemView& item) {
    return ClassOf(item.key.size(), item.value.size());
  }
  // A hit of a get-family command (get gets gat gats mg): globally and in the item's class, where
  // hits_to_hot/hits_to_cold tell DRAM from the device.
  void CountGetHit(const storage::ItemView& item, bool from_device);
  // cmd_set, globally and in the class of an item of these sizes, once per request (a store that
  // waits for memory runs again).
  void CountSetOnce(size_t key_size, size_t value_size) {
    if (counted_) return;
    ++stats_.cmd_set;
    ++ClassOf(key_size, value_size).cmd_set;
    counted_ = true;
  }

  storage::Engine& engine_;
  ServerStats& stats_;
  storage::LookupWaiter& waiter_;
  size_t key_idx_ = 0;        // get family: the next key to serve
  bool counted_ = false;      // the request's command counter was bumped (it may run again)
  bool from_device_ = false;  // the last Lookup() hit was read from the device (fetched_)
  Fetched fetched_;
  // A hit in DRAM, copied (capacities reused): see Lookup.
  struct Held {
    std::string key;
    std::string value;
  };
  Held held_;
};

}  // namespace ssdcache::server
