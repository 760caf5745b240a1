// The simulator's model of what the engine acknowledged, key by key, and the checks every answer
// must pass. Versions are numbered globally in the order the engine took the requests (a store,
// a delete that found the key, a flush_all), so "older" is a comparison of numbers.
//
// Per key it keeps the operations from the durable floor on:
//  - live: the newest operation this engine instance took (failed or not). A read started after
//    it returns that version or a newer one, or a miss; never anything older, never a deleted or
//    flushed value, never a value whose journal commit had failed when the read started.
//  - floor: the newest acknowledged operation (a reply would have been sent: at once, or when its
//    journal ticket committed; a flush_all once its superblock write completed). After a crash
//    the engine restarts with live = floor: operations acknowledged stay, the pending ones
//    (ticket not committed) may or may not have survived, so both answers pass.
//  - lax: a crash without a journal (or one whose mode promises nothing) makes no promise about
//    older versions (design.md, "After a crash"); such a key accepts any well-formed value of its
//    own until its next acknowledged operation. Only clean restarts are checked strictly there.
// Every hit must also decode (checksum), name this key, carry the flags and exptime it was stored
// with and not be expired; a hit of a known version carries the cas the store returned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/item.h"

namespace ssdcache::sim {

class Model {
 public:
  explicit Model(uint32_t keys) : keys_(keys) {}

  uint32_t keys() const { return static_cast<uint32_t>(keys_.size()); }
  // Logical time: one tick per request, so "failed before the read started" is decidable.
  uint64_t tick() const { return tick_; }
  void Tick() { ++tick_; }
  uint64_t NewVersion() { return ++version_; }

  // A store the engine took: acknowledged at once, or pending on a journal ticket.
  void Stored(uint32_t key, uint64_t version, uint32_t exptime, uint64_t cas, bool acked);
  // A delete that found the key (a miss changes nothing).
  void Erased(uint32_t key, uint64_t version, bool acked);
  // The journal ticket of `version` committed (ok) or failed (the engine undid the change).
  void Committed(uint32_t key, uint64_t version, bool ok);
  // flush_all: effective at once, acknowledged (durable) by AckFlushes() once its superblock
  // write is known to have completed.
  void FlushAll(uint64_t version);
  void AckFlushes();
  bool flush_pending() const { return !pending_flushes_.empty(); }
  // The engine restarted after a crash: `ordered` when the journal mode promises that no older
  // version comes back, else every key turns lax. Pending operations (flush_all included) stay
  // possible answers, and are never acknowledged later.
  void Crash(bool ordered);
  // The device starts empty (a process-mode journal across a reboot is never trusted).
  void Wiped(uint64_t version);

  struct Read {
    uint32_t key = 0;
    uint64_t live = 0;  // the key's live version when the read started
    uint64_t tick = 0;
    bool lax = false;  // the key was lax when the read started
  };
  Read BeginRead(uint32_t key) const { return {key, keys_[key].live, tick_, keys_[key].lax}; }
  // False (with a one-line `why`) when `item` is not an answer the read may return.
  bool CheckHit(const Read& r, const storage::ItemView& item, uint32_t now, std::string& why) const;

  // The version a read must find after a clean stop (0: none): the live operation is an
  // acknowledged store that has not expired at `now`.
  uint64_t Expected(uint32_t key, uint32_t now) const;
  // The key's floor, live version and operations, for a failure report.
  std::string Describe(uint32_t key) const;
  // Forgets operations below each key's floor (call only while no read is in flight).
  void Prune();

 private:
  enum class Kind : uint8_t { kSet, kDelete };
  enum class State : uint8_t { kPending, kAcked, kFailed };
  struct Op {
    uint64_t version;
    uint64_t cas;
    uint32_t exptime;
    Kind kind;
    State state;
    uint64_t failed_tick;
  };
  struct Key {
    std::vector<Op> ops;  // ascending versions, from the floor's on
    uint64_t live = 0;
    uint64_t floor = 0;
    bool lax = false;
  };
  void Add(uint32_t key, const Op& op);
  void Ack(Key& k, uint64_t version);
  const Op* Find(const Key& k, uint64_t version) const;

  std::vector<Key> keys_;
  std::vector<uint64_t> pending_flushes_;
  uint64_t tick_ = 0;
  uint64_t version_ = 0;
};

}  // namespace ssdcache::sim
