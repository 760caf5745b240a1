// The read path: device reads of records (a lookup's, or a replace check's), each with a pooled
// ReadOp and an aligned read buffer by power-of-two size class, and the verification of what a
// read found. The engine decides what a read means for the index and the stats; this part owns
// the IO, the buffers and the latency of lookups' reads.
//
// Invariants:
//  - A ReadOp and its buffer belong to one read from Start() until Put(): item views into the
//    buffer (Verify) stay valid until then, so a waiter can copy the value out.
//  - Buffers are block aligned (O_DIRECT) and at least the read's length; a read longer than two
//    slabs gets none. Ops and buffers are recycled (free lists by size class): in steady state a
//    read allocates nothing, and the pool grows only to the most reads in flight at once.
//  - A record is a hit only if the read was complete and the record verifies (magic, slab
//    sequence, CRC32C) and holds the full key that was looked up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "storage/device.h"
#include "storage/index.h"
#include "storage/io_backend.h"
#include "storage/item.h"
#include "util/histogram.h"

namespace ssdcache::storage {

class LookupWaiter;
class KeyScan;

// A device read in flight; owns its aligned buffer until it completes.
struct ReadOp {
  IoOp io;
  char* buf = nullptr;
  size_t buf_class = 0;
  uint32_t skip = 0;  // offset of the record inside the aligned read
  uint32_t seq32 = 0;
  IndexEntry where;
  uint64_t hash = 0;
  LookupWaiter* waiter = nullptr;
  uint64_t token = 0;  // the waiter's; kUndo: the wseq reserved for the tombstone
  uint8_t nkey = 0;
  // Why the engine reads: a lookup, a replace check (Engine::CheckReplaced), the key of an
  // undone change (Engine::UndoChange), for its tombstone, a window of a key listing (`scan`), or
  // the slab to be evicted next, for reinsertion (token: its seq).
  enum class Kind : uint8_t { kLookup, kCheck, kUndo, kScan, kReinsert } kind = Kind::kLookup;
  KeyScan* scan = nullptr;  // kScan: the scan it belongs to
  uint8_t attempts = 0;     // kUndo: reads of it that failed
  bool bump = true;  // the hit records an access and sets the fetched bit (see Engine::Lookup)
  uint64_t start_ns = 0;
  char key[256];
};

class ReadPath {
 public:
  // Completions go to `handler` (the engine), with op.user pointing at the ReadOp.
  ReadPath(Device& device, IoBackend& aio, IoHandler& handler, uint32_t slab_size);
  ~ReadPath();
  ReadPath(const ReadPath&) = delete;
  ReadPath& operator=(const ReadPath&) = delete;

  // Queues the read of device bytes [start, end), which hold the record of `key` at index
  // location `where` `skip` bytes in, in the slab whose sequence ends in `seq32`. nullptr when no
  // buffer can be had.
  ReadOp* Start(uint64_t start, uint64_t end, uint32_t skip, uint32_t seq32,
                const IndexEntry& where, std::string_view key, uint64_t hash);

  enum class Outcome : uint8_t { kHit, kIoError, kCorrupt, kOtherKey };
  // What the completed read found (`result`: its byte count or -errno). kHit fills `v`, whose
  // views point into the op's buffer; kOtherKey fills it too (a tag collision).
  static Outcome Verify(const ReadOp& r, int64_t result, ItemView& v);
  // A lookup's read completed: records its time queued (until io_submit took it) and its time
  // from submission to reaping.
  void RecordLatency(const ReadOp& r);
  // The read is over: its op and buffer go back to the pool.
  void Put(ReadOp* r);

  const util::Histogram& queue_latency() const { return queue_latency_; }
  const util::Histogram& latency() const { return latency_; }
  void ResetLatency() {
    queue_latency_.Reset();
    latency_.Reset();
  }

 private:
  ReadOp* Get(size_t len);

  Device& device_;
  IoBackend& aio_;
  IoHandler& handler_;
  std::vector<std::vector<char*>> read_buffers_;  // free lists by power-of-two size class
  std::vector<ReadOp*> free_reads_;
  std::vector<std::unique_ptr<ReadOp>> all_reads_;
  util::Histogram queue_latency_;
  util::Histogram latency_;
};

}  // namespace ssdcache::storage
