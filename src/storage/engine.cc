#include "storage/engine.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <random>

#include "util/hash.h"

namespace ssdcache::storage {

namespace {
constexpr uint64_t kWriteTag = 1ULL << 63;
// Write sequences reserved by one superblock write (see TakeWseq): at a million writes a second
// the ceiling moves about every 36 minutes, and 2^32 restarts fit in the 64-bit sequence.
constexpr uint64_t kWseqWindow = uint64_t{1} << 32;
constexpr uint32_t kSuperRetriesAtOnce = 8;
constexpr size_t kMinReadBuffer = 4096;
// Partly filled slabs packed into one disk slab at most; bounds the slab table (and so the
// logical id space) to this many entries per disk slab. Large devices get fewer (see PiecesFor).
constexpr size_t kMaxPiecesPerDiskSlab = 16;

// The slab table is twice the logical slabs that can be alive at once and must fit the index's
// slab id bits; very large devices pack fewer partial slabs per disk slab to stay within them.
size_t PiecesFor(uint64_t disk_slabs, uint64_t mem_slabs) {
  for (size_t k = kMaxPiecesPerDiskSlab; k >= 1; k /= 2) {
    if (std::bit_ceil(2 * (disk_slabs * k + mem_slabs)) <= (1ULL << Index::kSlabBits)) return k;
  }
  return 0;
}

size_t ReadBufferClass(size_t len) {
  size_t cls = 0;
  for (size_t size = kMinReadBuffer; size < len; size <<= 1) ++cls;
  return cls;
}
}  // namespace

// A device read in flight for a lookup; owns its aligned buffer until it completes.
struct Engine::ReadOp {
  IoOp io;
  char* buf = nullptr;
  size_t buf_class = 0;
  uint32_t skip = 0;  // offset of the record inside the aligned read
  uint32_t seq32 = 0;
  IndexEntry where;
  uint64_t hash = 0;
  LookupWaiter* waiter = nullptr;
  uint64_t token = 0;
  uint8_t nkey = 0;
  bool check = false;  // a replace check (CheckReplaced), not a lookup
  bool bump = true;    // the hit records an access and sets the fetched bit (see Lookup)
  uint64_t start_ns = 0;
  char key[256];
};

std::unique_ptr<Engine> Engine::Create(const EngineOptions& options, Device& device, IoBackend& aio,
                                       std::string& error) {
  if (options.slab_size < 64 * 1024 || options.slab_size % device.block_size() != 0) {
    error = "-I/--slab-size must be a multiple of the device block size and at least 64 KiB";
    return nullptr;
  }
  uint32_t max_chunk = (options.slab_size - kSlabHeaderSize) / 8 * 8;
  uint32_t min_item = std::max<uint32_t>(options.min_item_size, kItemHeaderSize + 1 + 1);
  std::optional<SlabClasses> classes =
      options.slab_profile.empty()
          ? SlabClasses::Geometric(min_item, options.factor, max_chunk, error)
          : SlabClasses::FromProfile(options.slab_profile, max_chunk, error);
  if (!classes) return nullptr;
  if (options.slab_size / classes->chunk_size(0) >= (1U << Index::kChunkBits)) {
    error = "-n/--min-item-size is too small for -I/--slab-size: at most 2^20 chunks per slab";
    return nullptr;
  }
  uint64_t mem_slabs = options.max_memory / options.slab_size;
  if (mem_slabs < 2) {
    error = "-m/--max-memory must hold at least 2 slabs of -I/--slab-size";
    return nullptr;
  }
  if (options.journal_size % kJournalBlockSize != 0 ||
      (options.journal_size > 0 && options.journal_size < 16 * kJournalBlockSize)) {
    error = "--journal-size must be 0 or a multiple of 4 KiB of at least 64 KiB";
    return nullptr;
  }
  if (options.journal_size > 0 && device.block_size() != kJournalBlockSize) {
    error = "--journal-size needs a device with 4 KiB blocks (this one has " +
            std::to_string(device.block_size()) + "); use --journal-size 0";
    return nullptr;
  }
  // The first slab-sized regions of the slice hold the superblock and the journal.
  uint64_t reserved =
      (device.block_size() + options.journal_size + options.slab_size - 1) / options.slab_size;
  uint64_t disk_slabs = device.size() / options.slab_size;
  disk_slabs = disk_slabs > reserved ? disk_slabs - reserved : 0;
  if (disk_slabs < mem_slabs + 2) {
    error = "the device (" + std::to_string(device.size() >> 20) +
            " MiB) must hold at least 2 more disk slabs (" + std::to_string(disk_slabs) +
            ") than -m/--max-memory holds memory slabs (" + std::to_string(mem_slabs) +
            "): enlarge --device-size or lower -m" +
            (options.journal_size > 0 ? " or --journal-size" : "");
    return nullptr;
  }
  if (PiecesFor(disk_slabs, mem_slabs) == 0) {
    error = "the device holds too many slabs for the index: raise -I/--slab-size";
    return nullptr;
  }
  if (options.max_index_memory < 64) {
    error = "-i/--max-index-memory is too small";
    return nullptr;
  }
  auto engine = std::unique_ptr<Engine>(new Engine(options, device, aio, std::move(*classes)));
  if (engine->memory_.empty()) {
    error = "cannot allocate " + std::to_string(options.max_memory >> 20) +
            " MiB for memory slabs (-m/--max-memory)";
    return nullptr;
  }
  if (options.journal_size > 0) {
    engine->journal_ =
        Journal::Create(device, aio, device.offset() + device.block_size(),
                        static_cast<uint32_t>(options.journal_size / kJournalBlockSize),
                        options.journal_sync, engine.get(), error);
    if (!engine->journal_) return nullptr;
  }
  return engine;
}

Engine::Engine(const EngineOptions& options, Device& device, IoBackend& aio, SlabClasses classes)
    : options_(options),
      device_(device),
      aio_(aio),
      classes_(std::move(classes)),
      slab_size_(options.slab_size) {
  for (size_t c = 0; c < classes_.count(); ++c) {
    chunks_per_slab_.push_back((slab_size_ - kSlabHeaderSize) / classes_.chunk_size(c));
  }
  open_.assign(classes_.count(), -1);
  mem_count_ = options.max_memory / slab_size_;
  // Huge-page aligned, hence block aligned, as O_DIRECT needs.
  memory_ = util::HugeBuffer(mem_count_ * slab_size_);
  write_ops_.resize(mem_count_);
  write_start_ns_.resize(mem_count_);
  for (size_t i = mem_count_; i-- > 0;) free_mem_.push_back(static_cast<uint32_t>(i));
  reserved_slabs_ = static_cast<uint32_t>(
      (device_.block_size() + options.journal_size + slab_size_ - 1) / slab_size_);
  disk_count_ = device_.size() / slab_size_ - reserved_slabs_;
  disks_.resize(disk_count_);
  for (size_t i = disk_count_; i-- > 0;) free_disk_.push_back(static_cast<uint32_t>(i));
  // Twice the slabs that can be alive at once, so that an id is reused only every ~half lap and
  // the sweeper has that many allocations to pass over the whole index.
  max_pieces_ = PiecesFor(disk_count_, mem_count_);
  size_t table_size = std::bit_ceil(2 * (disk_count_ * max_pieces_ + mem_count_));
  table_.resize(table_size);
  table_mask_ = static_cast<uint32_t>(table_size - 1);
  index_ = std::make_unique<Index>(options.max_index_memory, this);
  sweep_per_alloc_ = std::max<size_t>(1, index_->num_buckets() * 4 / table_size + 1);
  read_buffers_.resize(ReadBufferClass(2 * size_t{slab_size_}) + 1);
  super_buf_ = util::AlignedBuffer(device_.block_size(), device_.block_size());
}

Engine::~Engine() {
  for (auto& list : read_buffers_) {
    for (char* b : list) std::free(b);
  }
  for (auto& r : all_reads_) {
    if (r->buf != nullptr) std::free(r->buf);
  }
}

bool Engine::IsSlabLive(uint32_t slab) const {
  return slab < table_.size() && table_[slab].state != SlabState::kFree;
}

char* Engine::ChunkInMemory(const SlabInfo& s, uint32_t chunk) {
  return MemSlab(s.mem) + kSlabHeaderSize + uint64_t{chunk} * classes_.chunk_size(s.cls);
}

uint64_t Engine::DiskOffset(uint32_t disk) const {
  return device_.offset() + (uint64_t{disk} + reserved_slabs_) * slab_size_;
}

std::optional<IndexEntry> Engine::Locate(uint64_t hash) const { return index_->Find(hash); }

void Engine::DropEntry(const IndexEntry& e) {
  SlabInfo& s = table_[e.slab];
  if (s.state == SlabState::kFree) return;
  if (s.live > 0) --s.live;
  if (stats_.curr_items > 0) --stats_.curr_items;
  uint32_t cs = classes_.chunk_size(s.cls);
  stats_.bytes = stats_.bytes >= cs ? stats_.bytes - cs : 0;
}

LookupOutcome Engine::Lookup(std::string_view key, uint64_t hash, ItemView& out,
                             LookupWaiter* waiter, uint64_t token, IndexEntry* where, bool bump) {
  std::optional<IndexEntry> e = index_->Find(hash);
  if (!e) return {LookupResult::kMiss};
  if (where != nullptr) *where = *e;
  if (Index::DefinitelyExpired(e->expiry, now_)) {
    ++stats_.expired_unfetched;
    DropEntry(*e);
    index_->EraseIf(hash, e->slab, e->chunk);
    return {LookupResult::kMiss};
  }
  SlabInfo& s = table_[e->slab];
  if (InDram(s)) {
    ++stats_.reads_memory;
    ItemView v;
    if (!DecodeItemTrusted(ChunkInMemory(s, e->chunk), v) || v.key != key) {
      ++stats_.key_mismatches;
      return {LookupResult::kMiss};
    }
    if (v.exptime != 0 && v.exptime <= now_) {
      DropEntry(*e);
      index_->EraseIf(hash, e->slab, e->chunk);
      return {LookupResult::kMiss};
    }
    NoteHit(hash, *e, v, bump);
    out = v;
    return {LookupResult::kHit};
  }
  ReadOp* r = StartRead(*e, key, hash);
  if (r == nullptr) {
    ++stats_.read_errors;
    return {LookupResult::kMiss};
  }
  r->waiter = waiter;
  r->token = token;
  r->bump = bump;
  ++reads_in_flight_;
  stats_.reads_in_flight_max = std::max<uint64_t>(stats_.reads_in_flight_max, reads_in_flight_);
  ++stats_.reads_device;
  return {LookupResult::kPending, static_cast<uint32_t>(r->io.len)};
}

Engine::ReadOp* Engine::StartRead(const IndexEntry& e, std::string_view key, uint64_t hash) {
  // Only the aligned blocks that cover the chunk.
  const SlabInfo& s = table_[e.slab];
  const uint32_t bs = device_.block_size();
  const uint64_t piece = DiskOffset(s.disk) + s.disk_off;
  uint64_t off = piece + kSlabHeaderSize + uint64_t{e.chunk} * classes_.chunk_size(s.cls);
  uint64_t start = off / bs * bs;
  uint64_t end = (off + classes_.chunk_size(s.cls) + bs - 1) / bs * bs;
  end = std::min(end, piece + s.disk_len);
  ReadOp* r = GetReadOp(end - start);
  if (r == nullptr) return nullptr;
  r->skip = static_cast<uint32_t>(off - start);
  r->seq32 = static_cast<uint32_t>(s.seq);
  r->where = e;
  r->hash = hash;
  r->waiter = nullptr;
  r->token = 0;
  r->check = false;
  r->bump = true;
  r->nkey = static_cast<uint8_t>(key.size());
  std::memcpy(r->key, key.data(), key.size());
  r->io.handler = this;
  r->io.buf = r->buf;
  r->io.len = end - start;
  r->io.offset = start;
  r->io.write = false;
  r->io.user = reinterpret_cast<uint64_t>(r);
  r->io.submitted_ns = 0;
  r->start_ns = util::NowNs();
  aio_.Read(r->io);
  return r;
}

bool Engine::HoldsOtherKey(const IndexEntry& e, std::string_view key) {
  const SlabInfo& s = table_[e.slab];
  if (!InDram(s)) return false;  // unknown without a read: see CheckReplaced
  ItemView v;
  return DecodeItemTrusted(ChunkInMemory(s, e.chunk), v) && v.key != key;
}

void Engine::CheckReplaced(const IndexEntry& old, std::string_view key, uint64_t hash) {
  ReadOp* r = StartRead(old, key, hash);
  if (r == nullptr) {  // no read buffer: whose record it was stays unknown, so assume the worst
    MarkUnindexed(old);
    return;
  }
  r->check = true;
  ++stats_.replace_checks;
  ++suspects_[SuspectSlot(hash)];
}

void Engine::FinishCheck(ReadOp* r, int64_t result) {
  --suspects_[SuspectSlot(r->hash)];
  const SlabInfo& s = table_[r->where.slab];
  const bool live = s.state != SlabState::kFree && static_cast<uint32_t>(s.seq) == r->seq32;
  ItemView v;
  if (result < 0 || static_cast<uint64_t>(result) != r->io.len ||
      !VerifyItem(r->buf + r->skip, r->io.len - r->skip, r->seq32, v)) {
    // Unreadable: whose record it was stays unknown. If its slab still lives, it may be another
    // key's record, now without an entry: treat it as one (not counted: maybe it was not).
    if (live) MarkUnindexed(r->where);
    return;
  }
  if (v.key == std::string_view(r->key, r->nkey)) return;  // the key's own older version
  // Another key that shares the tag and the bucket pair: its entry was lost when this key took
  // it. Counted, and its record, now unindexed, must not return over a newer version of it.
  ++stats_.tag_collisions;
  ++stats_.evictions;
  if (live) MarkUnindexed(r->where);
}

Engine::ReadOp* Engine::GetReadOp(size_t len) {
  size_t cls = ReadBufferClass(len);
  if (cls >= read_buffers_.size()) return nullptr;
  ReadOp* r;
  if (free_reads_.empty()) {
    all_reads_.push_back(std::make_unique<ReadOp>());
    r = all_reads_.back().get();
  } else {
    r = free_reads_.back();
    free_reads_.pop_back();
  }
  auto& list = read_buffers_[cls];
  if (!list.empty()) {
    r->buf = list.back();
    list.pop_back();
  } else {
    r->buf = static_cast<char*>(std::aligned_alloc(device_.block_size(), kMinReadBuffer << cls));
    if (r->buf == nullptr) {
      free_reads_.push_back(r);
      return nullptr;
    }
  }
  r->buf_class = cls;
  return r;
}

void Engine::PutReadOp(ReadOp* r) {
  read_buffers_[r->buf_class].push_back(r->buf);
  r->buf = nullptr;
  free_reads_.push_back(r);
}

void Engine::CompleteRead(ReadOp* r, int64_t result) {
  if (r->check) {
    FinishCheck(r, result);
    PutReadOp(r);
    return;
  }
  --reads_in_flight_;
  // Two stages: queued until io_submit took it (a read queued while 16 were in flight waits for
  // the end of the loop turn), then the device plus the wake-up that reaped it.
  const uint64_t submitted = r->io.submitted_ns != 0 ? r->io.submitted_ns : r->start_ns;
  read_queue_latency_.Record(submitted - r->start_ns);
  read_latency_.Record(util::NowNs() - submitted);
  ItemView v;
  const ItemView* found = nullptr;
  if (result < 0 || static_cast<uint64_t>(result) != r->io.len) {
    ++stats_.read_errors;
  } else if (!VerifyItem(r->buf + r->skip, r->io.len - r->skip, r->seq32, v)) {
    ++stats_.checksum_errors;
  } else if (v.key != std::string_view(r->key, r->nkey)) {
    ++stats_.key_mismatches;
  } else if (v.exptime != 0 && v.exptime <= now_) {
    std::optional<IndexEntry> cur = index_->Find(r->hash);
    if (cur && cur->slab == r->where.slab && cur->chunk == r->where.chunk) {
      DropEntry(*cur);
      index_->EraseIf(r->hash, cur->slab, cur->chunk);
    }
  } else {
    found = &v;
    NoteHit(r->hash, r->where, v, r->bump);
  }
  // Hand the buffer back only after the waiter copied the value out of it.
  LookupWaiter* waiter = r->waiter;
  uint64_t token = r->token;
  IndexEntry where = r->where;
  if (waiter != nullptr) waiter->OnLookupDone(token, found, where);
  PutReadOp(r);
}

int64_t Engine::OpenSlabFor(uint8_t cls) {
  if (open_[cls] >= 0) {
    SlabInfo& s = table_[open_[cls]];
    if (s.used < chunks_per_slab_[cls]) return open_[cls];
    Seal(static_cast<uint32_t>(open_[cls]));
  }
  if (!HasBuffer()) {
    if (flushing_ == 0) {
      // Every buffer is an open, partly filled slab of some class: write out the fullest one so
      // that its buffer comes back.
      int64_t best = -1;
      for (int64_t id : open_) {
        if (id >= 0 && (best < 0 || table_[id].used > table_[best].used)) best = id;
      }
      if (best >= 0) Seal(static_cast<uint32_t>(best));
    }
    // Seal() frees the buffer at once when it has no disk slab to write to (all retired): use
    // it, since no write completion would ever come to wake a store that waits.
    if (!HasBuffer()) {
      ++stats_.memory_waits;
      return -1;
    }
  }
  uint32_t id;
  if (!AllocateSlabId(id)) return -1;
  uint32_t mem = TakeBuffer();
  SlabInfo& s = table_[id];
  s.state = SlabState::kMemory;
  s.cls = cls;
  s.mem = mem;
  s.used = 0;
  s.live = 0;
  open_[cls] = id;
  return id;
}

uint32_t Engine::TakeBuffer() {
  if (!free_mem_.empty()) {
    uint32_t mem = free_mem_.back();
    free_mem_.pop_back();
    return mem;
  }
  auto [mem, seq] = clean_mem_.front();
  clean_mem_.pop_front();
  SlabInfo& s = table_[seq & table_mask_];
  if (s.seq == seq && s.cached) {  // its slab is read from the device from now on
    s.cached = false;
    --cached_;
  }
  return mem;
}

bool Engine::AllocateSlabId(uint32_t& id) {
  SweepSome(sweep_per_alloc_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    for (size_t i = 0; i < table_.size(); ++i, ++next_seq_) {
      uint32_t candidate = static_cast<uint32_t>(next_seq_ & table_mask_);
      SlabInfo& s = table_[candidate];
      if (s.state == SlabState::kFree && (s.seq == 0 || SweepPasses() >= s.freed_pass + 2)) {
        id = candidate;
        s.seq = next_seq_++;
        return true;
      }
    }
    // Every free id died too recently: finish sweeping so their stale entries are gone.
    SweepSome(index_->num_buckets());
  }
  spdlog::error("no free logical slab id (slab table of {} entries)", table_.size());
  return false;
}

void Engine::SweepSome(size_t buckets) {
  index_->Sweep(buckets);
  swept_buckets_ += buckets;
}

void Engine::EvictUntilADiskSlabFrees() {
  while (free_disk_.empty() && freeing_disk_.empty() && EvictOldest()) {
  }
}

bool Engine::TakeDiskSlab(uint32_t& disk) {
  // A freed disk slab may still have to wait for the frontier: then there is none yet.
  EvictUntilADiskSlabFrees();
  if (free_disk_.empty()) return false;
  disk = free_disk_.back();
  free_disk_.pop_back();
  DiskSlab& d = disks_[disk];
  d.pieces.clear();
  d.fill = 0;
  d.pending = 0;
  d.live_pieces = 0;
  d.closed = false;
  d.bad = false;
  ++disks_in_use_;
  // Keep the next disk slab freed ahead of need, so that the superblock write that makes it
  // reusable is done before a slab waits for it.
  EvictUntilADiskSlabFrees();
  return true;
}

bool Engine::EvictOldest() {
  while (!seal_fifo_.empty()) {
    const auto [id, seq] = seal_fifo_.front();
    SlabInfo& s = table_[id];
    if (s.seq != seq || s.state == SlabState::kFree) {  // died otherwise (a failed write)
      seal_fifo_.pop_front();
      continue;
    }
    // Strictly in seal order: a younger slab is never evicted while an older one stays, even if
    // the older one is still being written.
    if (s.state != SlabState::kDisk) return false;
    seal_fifo_.pop_front();
    evicted_below_ = s.seal + 1;
    WriteSuperblock();  // the frontier, so that new versions of its keys need no journal entry
    const uint32_t disk = s.disk;
    KillSlab(s, /*evicted=*/true);
    DiskSlab& d = disks_[disk];
    if (d.live_pieces > 0) --d.live_pieces;
    if (d.closed && d.pending == 0) FinishDiskSlab(disk);
    return true;
  }
  return false;
}

bool Engine::PlaceOnDisk(uint32_t id, uint32_t len, uint32_t& disk, uint32_t& off) {
  if (len < slab_size_ && packing_ >= 0 && disks_[packing_].fill + len <= slab_size_ &&
      disks_[packing_].pieces.size() < max_pieces_) {
    disk = static_cast<uint32_t>(packing_);
  } else {
    if (!TakeDiskSlab(disk)) return false;
    disks_[disk].fill_id = table_[id].seq;
    if (len < slab_size_) {
      // A partly filled slab: later partial slabs are packed behind it in the same disk slab.
      if (packing_ >= 0) CloseDiskSlab(static_cast<uint32_t>(packing_));
      packing_ = disk;
    }
  }
  DiskSlab& d = disks_[disk];
  off = d.fill;
  d.fill += len;
  d.pieces.push_back(id);
  ++d.pending;
  ++d.live_pieces;
  if (d.fill == slab_size_ || d.pieces.size() == max_pieces_) {
    if (packing_ == static_cast<int64_t>(disk)) packing_ = -1;
    d.closed = true;
  }
  return true;
}

void Engine::CloseDiskSlab(uint32_t disk) {
  DiskSlab& d = disks_[disk];
  d.closed = true;
  if (packing_ == static_cast<int64_t>(disk)) packing_ = -1;
  if (d.pending == 0) FinishDiskSlab(disk);
}

void Engine::FinishDiskSlab(uint32_t disk) {
  DiskSlab& d = disks_[disk];
  if (d.bad) {
    // A write into it failed: what else it holds is dropped too, and it is never used again.
    for (uint32_t id : d.pieces) {
      SlabInfo& s = table_[id];
      if (s.state == SlabState::kDisk && s.disk == disk) KillSlab(s, false);
    }
    d.pieces.clear();
    ++disks_retired_;
    --disks_in_use_;
    return;
  }
  if (d.live_pieces > 0) return;
  // Every slab in it was evicted. Its old records may be the only newer versions of records
  // that linger in other disk slabs, so it is rewritten only once the superblock says that
  // everything sealed before its slabs is void.
  d.pieces.clear();
  d.free_after = evicted_below_;
  ++stats_.slab_evictions;
  --disks_in_use_;
  freeing_disk_.push_back(disk);
  ReleaseDisks();
}

void Engine::ReleaseDisks() {
  while (!freeing_disk_.empty() &&
         disks_[freeing_disk_.front()].free_after <= durable_evicted_below_) {
    free_disk_.push_back(freeing_disk_.front());
    freeing_disk_.pop_front();
  }
  if (!freeing_disk_.empty()) WriteSuperblock();
}

bool Engine::NoDiskCanComeBack() const {
  return free_disk_.empty() && freeing_disk_.empty() && disks_in_use_ == 0;
}

void Engine::KillSlab(SlabInfo& s, bool evicted) {
  if (s.cached) {  // its buffer stays in clean_mem_, now as a plain free buffer
    s.cached = false;
    --cached_;
  }
  if (evicted) stats_.evictions += s.live;
  stats_.curr_items -= std::min<uint64_t>(stats_.curr_items, s.live);
  uint64_t held = uint64_t{s.live} * classes_.chunk_size(s.cls);
  stats_.bytes -= std::min(stats_.bytes, held);
  s.live = 0;
  if (s.unindexed) {
    s.unindexed = false;
    --unindexed_slabs_;
  }
  s.state = SlabState::kFree;
  s.freed_pass = SweepPasses();
}

void Engine::Seal(uint32_t id) {
  SlabInfo& s = table_[id];
  if (open_[s.cls] == static_cast<int64_t>(id)) open_[s.cls] = -1;
  s.state = SlabState::kFlushing;
  s.placed = false;
  s.seal = next_seal_++;
  ++flushing_;
  seal_fifo_.emplace_back(id, s.seq);
  // Slabs are placed in seal order, so the oldest sealed slab is always placed first and the
  // eviction that frees a disk slab can never wait on a slab that waits for one.
  if (awaiting_disk_.empty() && StartWrite(id)) return;
  awaiting_disk_.push_back(id);
  PlaceAwaiting();
}

void Engine::PlaceAwaiting() {
  bool dropped = false;
  while (!awaiting_disk_.empty()) {
    const uint32_t id = awaiting_disk_.front();
    SlabInfo& s = table_[id];
    if (s.state == SlabState::kFlushing && !s.placed) {
      if (StartWrite(id)) {
        awaiting_disk_.pop_front();
        continue;
      }
      if (!NoDiskCanComeBack()) return;
      // Disk slabs outnumber memory slabs (checked in Create), so only once failed writes have
      // retired all of them.
      spdlog::error("no disk slab to write slab {} to; dropping its items", s.seq);
      free_mem_.push_back(s.mem);
      --flushing_;
      KillSlab(s, true);
      CheckpointWriteDone(s.seq);
      dropped = true;
    }
    awaiting_disk_.pop_front();
  }
  if (dropped && memory_listener_) memory_listener_();  // its buffer is free: wake the stores
}

bool Engine::StartWrite(uint32_t id) {
  SlabInfo& s = table_[id];
  const uint32_t bs = device_.block_size();
  uint32_t len =
      s.used == chunks_per_slab_[s.cls]
          ? slab_size_
          : static_cast<uint32_t>(
                (kSlabHeaderSize + uint64_t{s.used} * classes_.chunk_size(s.cls) + bs - 1) / bs *
                bs);
  len = std::min(len, slab_size_);
  uint32_t disk, off;
  if (!PlaceOnDisk(id, len, disk, off)) return false;
  s.placed = true;
  s.disk = disk;
  s.disk_off = off;
  s.disk_len = len;
  SlabHeader h{};
  h.magic = kSlabMagic;
  h.version = kFormatVersion;
  h.slab_class = s.cls;
  h.seq = s.seq;
  h.chunk_size = classes_.chunk_size(s.cls);
  h.chunks_used = s.used;
  h.device_epoch = epoch_;
  h.fill_id = disks_[disk].fill_id;
  h.seal = s.seal;
  h.crc = util::Crc32c(&h, sizeof(h));
  std::memcpy(MemSlab(s.mem), &h, sizeof(h));
  IoOp& op = write_ops_[s.mem];
  op = IoOp{};
  op.handler = this;
  op.buf = MemSlab(s.mem);
  op.len = len;
  op.offset = DiskOffset(disk) + off;
  op.write = true;
  op.user = kWriteTag | id;
  write_start_ns_[s.mem] = util::NowNs();
  aio_.Write(op);
  return true;
}

void Engine::OnIoComplete(IoOp& op, int64_t result) {
  if (&op == &super_op_) {
    super_in_flight_ = false;
    if (result != static_cast<int64_t>(op.len)) {
      ++stats_.write_errors;
      // Written again at once, but after a few failures in a row only from Housekeeping(), once a
      // second: no tight loop of failing writes on a dead device.
      if (++super_failures_ < kSuperRetriesAtOnce) {
        spdlog::error("superblock write failed ({}); writing it again", result);
        WriteSuperblock();
      } else {
        spdlog::error("superblock write failed ({}); trying again in a second", result);
        super_retry_ = true;
      }
      return;
    }
    super_failures_ = 0;
    durable_evicted_below_ = std::max(durable_evicted_below_, super_evicted_below_);
    durable_wseq_ceiling_ = std::max(durable_wseq_ceiling_, super_wseq_ceiling_);
    if (super_dirty_) WriteSuperblock();
    ReleaseDisks();
    PlaceAwaiting();
    return;
  }
  if ((op.user & kWriteTag) == 0) {
    CompleteRead(reinterpret_cast<ReadOp*>(op.user), result);
    return;
  }
  uint32_t id = static_cast<uint32_t>(op.user & ~kWriteTag);
  SlabInfo& s = table_[id];
  --flushing_;
  const uint64_t written_seq = s.seq;
  write_latency_.Record(util::NowNs() - write_start_ns_[s.mem]);
  DiskSlab& d = disks_[s.disk];
  --d.pending;
  if (result == static_cast<int64_t>(op.len)) {
    ++stats_.slab_writes;
    s.state = SlabState::kDisk;
    s.cached = true;
    ++cached_;
    clean_mem_.emplace_back(s.mem, s.seq);
  } else {
    free_mem_.push_back(s.mem);
    // The disk slab is suspect: retire it, and the items it was meant to hold are gone.
    ++stats_.write_errors;
    spdlog::error(
        "write of slab {} to disk slab {} failed ({}); {} items dropped, disk slab retired", s.seq,
        s.disk, result, s.live);
    // The write may still have reached the device in part, and a warm restart would then find
    // records older than the tombstones lost with it: write those tombstones again, with their
    // own wseq. (The buffer is on the free list but untouched until DrainTombstones() below.)
    for (uint32_t c = 0; c < s.used; ++c) {
      ItemView v;
      if (!DecodeItemTrusted(ChunkInMemory(s, c), v)) continue;  // voided records fail too
      const uint64_t hash = util::HashKey(v.key);
      if (v.tombstone) {
        pending_tombstones_.push_back({std::string(v.key), v.wseq});
        JournalLost(hash, v.wseq);
        continue;
      }
      if (journal_ == nullptr) continue;
      std::optional<IndexEntry> cur = index_->Find(hash);
      if (!cur || cur->slab != id || cur->chunk != c) continue;
      // A live item lost with the slab: its key becomes a miss, but older versions of it may be
      // on the device, and the entry that superseded them may be in a block the running
      // checkpoint frees (it counts this write as done). A tombstone newer than the lost record
      // (its wseq reserved now, so a later set stays newer) and an entry in a fresh block keep
      // them superseded until that tombstone is on the device.
      const uint64_t wseq = TakeWseq();
      pending_tombstones_.push_back({std::string(v.key), wseq});
      JournalLost(hash, wseq);
    }
    KillSlab(s, false);
    if (d.live_pieces > 0) --d.live_pieces;
    d.bad = true;
    // Closed here without CloseDiskSlab(), which would finish it too when this was its last
    // write: the line below finishes it exactly once.
    d.closed = true;
    if (packing_ == static_cast<int64_t>(s.disk)) packing_ = -1;
  }
  if (d.closed && d.pending == 0) FinishDiskSlab(s.disk);
  CheckpointWriteDone(written_seq);
  // The oldest slab may have become evictable, or a disk slab free.
  PlaceAwaiting();
  DrainTombstones();
  if (memory_listener_) memory_listener_();
}

StoreOutcome Engine::Store(const StoreRequest& req) {
  const std::string_view key = req.key;
  const uint64_t hash = req.hash;
  uint64_t item_size =
      uint64_t{kItemHeaderSize} + key.size() + req.value_a.size() + req.value_b.size();
  if (item_size > classes_.max_item()) return {StoreResult::kTooLarge};
  if (req.check_expected) {
    std::optional<IndexEntry> cur = index_->Find(hash);
    const std::optional<IndexEntry>& expected = req.expected;
    bool same = cur.has_value() == expected.has_value() &&
                (!cur || (cur->slab == expected->slab && cur->chunk == expected->chunk));
    if (!same) return {StoreResult::kConflict};
  }
  int cls = classes_.ClassFor(static_cast<uint32_t>(item_size));
  int64_t id = OpenSlabFor(static_cast<uint8_t>(cls));
  if (id < 0) return {StoreResult::kNoMemory};
  SlabInfo& s = table_[id];
  uint32_t chunk = s.used++;
  uint64_t wseq = TakeWseq();
  uint64_t cas = req.keep_cas != 0 ? req.keep_cas : wseq;
  // A write is an access, as memcached's l counts it, unless the caller keeps the last one: the
  // record's store time is the access fallback (see AccessTable), so it carries that time too.
  const ItemMarks& marks = req.marks;
  const uint32_t accessed = marks.last_access != 0 ? marks.last_access : now_;
  WriteItem(ChunkInMemory(s, chunk), key, req.value_a, req.value_b, req.flags, req.exptime, cas,
            static_cast<uint32_t>(s.seq), wseq, kKindItem, accessed, marks.stale ? kMarkStale : 0);
  access_.Touch(hash, accessed);
  IndexEntry e{static_cast<uint32_t>(id), chunk, Index::CoarseExpiry(req.exptime, now_)};
  e.token_sent = marks.token_sent;
  e.fetched = marks.fetched;
  uint64_t ticket = 0;
  Index::InsertOutcome outcome = index_->Upsert(hash, e);
  // The index keeps one entry per (tag, bucket pair): a replaced entry is this key's previous
  // version, or another key's that shares both (a collision). In DRAM the key tells at once; on
  // the device a read tells later (CheckReplaced), and until then the entry is taken as ours.
  const bool collided =
      outcome.result == Index::InsertResult::kReplaced && HoldsOtherKey(outcome.old, key);
  if (outcome.result == Index::InsertResult::kReplaced && !collided) {
    ticket = Supersede(hash, &outcome.old, wseq, e);
    if (!InDram(table_[outcome.old.slab])) CheckReplaced(outcome.old, key, hash);
    DropEntry(outcome.old);
  } else if (journal_ != nullptr && (journal_->Uncommitted(hash) || unindexed_slabs_ > 0 ||
                                     Suspect(hash) || evicted_below_ > durable_evicted_below_)) {
    // A delete (or an undone change) of this key is not on the device yet, or the key may have
    // an older record the index dropped (for lack of room or to a colliding key; its hash is
    // unknown, only its tag was kept), or one in an evicted slab that a crash would still find
    // (the frontier is not on the device yet): this acknowledgement must not overtake them.
    ticket = Supersede(hash, nullptr, wseq, e, /*force=*/true);
  }
  if (outcome.result == Index::InsertResult::kEvicted || collided) {
    MarkUnindexed(outcome.old);
    DropEntry(outcome.old);
    ++(collided ? stats_.tag_collisions : stats_.index_evictions);
    ++stats_.evictions;
  }
  ++s.live;
  ++stats_.curr_items;
  ++stats_.total_items;
  stats_.bytes += classes_.chunk_size(s.cls);
  if (s.used == chunks_per_slab_[s.cls]) Seal(static_cast<uint32_t>(id));
  if (!pending_tombstones_.empty()) DrainTombstones();  // a loser's (MarkUnindexed)
  return {StoreResult::kStored, cas, ticket};
}

EraseOutcome Engine::Erase(std::string_view key, uint64_t hash, const IndexEntry* where) {
  std::optional<IndexEntry> cur = index_->Find(hash);
  if (!cur) return {};
  if (where != nullptr && (cur->slab != where->slab || cur->chunk != where->chunk)) return {};
  // Without a checked location the entry may be another key's that shares the tag: in DRAM the
  // key tells (then this key has no entry); on the device a read tells later.
  if (where == nullptr && HoldsOtherKey(*cur, key)) return {};
  if (where == nullptr && !InDram(table_[cur->slab])) CheckReplaced(*cur, key, hash);
  // The tombstone's wseq, reserved now so the journal entry can name it even when the tombstone
  // has to wait for a memory slab (it then gets a larger one).
  uint64_t wseq = TakeWseq();
  const uint64_t ticket = Supersede(hash, &*cur, wseq, std::nullopt);
  DropEntry(*cur);
  index_->EraseIf(hash, cur->slab, cur->chunk);
  // The record stays on the device until its slab is evicted; a tombstone written after it makes
  // the rebuild at restart drop it again.
  if (!TryWriteTombstone(key, wseq)) pending_tombstones_.push_back({std::string(key), wseq});
  return {true, ticket};
}

void Engine::MarkUnindexed(const IndexEntry& dropped) {
  SlabInfo& o = table_[dropped.slab];
  if (o.state == SlabState::kMemory) {
    // Not written yet: void it, so it never reaches the device without an index entry (a record
    // sealed after a newer version of its key would break the seal order). It may have been the
    // only newer version of older records on the device (its journal entry, if any, is freed by
    // a later checkpoint): a tombstone, newer than them, keeps them superseded. It is written
    // when the caller is done (DrainTombstones), and a checkpoint waits for it.
    ItemView v;
    if (DecodeItemTrusted(ChunkInMemory(o, dropped.chunk), v) && !v.tombstone) {
      pending_tombstones_.push_back({std::string(v.key), TakeWseq()});
    }
    VoidRecord(o, dropped.chunk);
  } else if (!o.unindexed) {
    o.unindexed = true;
    ++unindexed_slabs_;
  }
}

uint64_t Engine::Supersede(uint64_t hash, const IndexEntry* old, uint64_t wseq,
                           const std::optional<IndexEntry>& now_at, bool force) {
  bool on_device = false;
  if (old != nullptr) {
    const SlabInfo& o = table_[old->slab];
    on_device = o.state == SlabState::kFlushing || o.state == SlabState::kDisk;
    // Not written yet: drop the old version from the buffer, so a crash can never find it on the
    // device after the slab's write while the newer version was still only in DRAM.
    if (o.state == SlabState::kMemory) VoidRecord(o, old->chunk);
  }
  if (journal_ == nullptr || (!on_device && !force && !journal_->Uncommitted(hash))) return 0;
  // Ticket 0: committed already (process mode), the reply need not wait.
  const uint64_t ticket = journal_->Append(hash, wseq);
  if (ticket != 0) held_.push_back({ticket, hash, now_at, nullptr, 0, false, false});
  return ticket;
}

void Engine::JournalLost(uint64_t hash, uint64_t wseq) {
  if (journal_ == nullptr) return;
  // Nobody waits for it (the failed write answered no request); until it is committed the key
  // counts as uncommitted, so a new version of it is journaled and held too.
  if (const uint64_t ticket = journal_->Append(hash, wseq); ticket != 0) {
    held_.push_back({ticket, hash, std::nullopt, nullptr, 0, false, false});
  }
}

void Engine::NoteHit(uint64_t hash, const IndexEntry& at, ItemView& v, bool bump) {
  if (!bump) {
    if (const uint32_t t = access_.Get(hash); t != 0) v.last_access = t;
    return;
  }
  if (const uint32_t t = access_.Exchange(hash, now_); t != 0) v.last_access = t;
  if (!at.fetched) index_->MarkFetched(hash, at.slab, at.chunk);
}

void Engine::VoidRecord(const SlabInfo& s, uint32_t chunk) {
  // A zero magic fails every decode; the key and value bytes stay, since a caller may still hold
  // views into them (append/prepend pass the old value to the Store that supersedes it).
  const uint16_t zero = 0;
  std::memcpy(ChunkInMemory(s, chunk) + offsetof(ItemHeader, magic), &zero, sizeof(zero));
  ++stats_.records_voided;
}

void Engine::AwaitCommit(uint64_t ticket, CommitWaiter* waiter, uint64_t token) {
  ++stats_.journal_waits;
  auto it = std::lower_bound(held_.begin(), held_.end(), ticket,
                             [](const Held& h, uint64_t t) { return h.ticket < t; });
  if (it != held_.end() && it->ticket == ticket && !it->done) {
    it->waiter = waiter;
    it->token = token;
    return;
  }
  // Already completed and dropped from held_. Device-mode blocks complete at a later turn than
  // the one that took the ticket, but a process-mode entry that waited for ring room is committed
  // synchronously from Commit(), and always successfully, so "not held" means ok there.
  waiter->OnCommitDone(token, ticket, it == held_.end() || it->ticket != ticket || it->ok);
}

void Engine::OnJournalCommitted(uint64_t first_ticket, uint64_t last_ticket, bool ok) {
  // Blocks complete in any order, so this block's tickets may sit behind earlier ones still in
  // flight: they are marked done where they are, and the done prefix is dropped at the end.
  auto from = std::lower_bound(held_.begin(), held_.end(), first_ticket,
                               [](const Held& h, uint64_t t) { return h.ticket < t; });
  // By index: undoing a change appends (a tombstone's entry), which may grow held_.
  for (size_t i = static_cast<size_t>(from - held_.begin());
       i < held_.size() && held_[i].ticket <= last_ticket; ++i) {
    held_[i].done = true;
    held_[i].ok = ok;
    Held h = held_[i];
    if (!ok && h.where) {
      // Not acknowledged, so never to be served: the key becomes a miss, with a tombstone so
      // that the version before (acknowledged, maybe on the device) does not return at a restart
      // either. A client told SERVER_ERROR may see either the older value or a miss later. When
      // a later version was stored meanwhile (its own entry, in a later block, covers the older
      // records too), the index no longer points here and nothing is undone.
      std::optional<IndexEntry> cur = index_->Find(h.hash);
      if (cur && cur->slab == h.where->slab && cur->chunk == h.where->chunk) {
        ++stats_.journal_undone;
        SlabInfo& s = table_[cur->slab];
        ItemView v;
        if (InDram(s) && DecodeItemTrusted(ChunkInMemory(s, cur->chunk), v)) {
          std::string key(v.key);
          Erase(key, h.hash, &*cur);  // nobody waits for the tombstone's own entry
        } else {
          DropEntry(*cur);
          index_->EraseIf(h.hash, cur->slab, cur->chunk);
        }
      }
    }
    if (h.waiter != nullptr) h.waiter->OnCommitDone(h.token, h.ticket, ok);
  }
  while (!held_.empty() && held_.front().done) held_.pop_front();
}

void Engine::CommitJournal() {
  if (journal_ == nullptr) return;
  if (!cp_active_ && journal_->used_blocks() * 2 >= journal_->blocks()) StartCheckpoint();
  journal_->Commit();
}

void Engine::StartCheckpoint() {
  if (journal_ == nullptr || cp_active_) return;
  // A pending tombstone has no slab yet: it could not be counted below. Try again next turn.
  DrainTombstones();
  if (!pending_tombstones_.empty()) return;
  cp_slab_seq_ = next_seq_;
  // Closes the open in-place block (process mode): an entry appended from now on, which may
  // supersede a record written after the checkpoint started, must not land in a block it frees.
  cp_block_ = journal_->CutBlock();
  for (int64_t id : open_) {
    if (id >= 0 && table_[id].used > 0) Seal(static_cast<uint32_t>(id));
  }
  // Every slab being written now is older than cp_slab_seq_, and no memory slab holds a record
  // older than it: once these writes are done, every record older than the checkpoint is on the
  // device (or gone with its slab), so no entry of a block before cp_block_ is needed.
  cp_writes_ = flushing_;
  cp_active_ = true;
  if (cp_writes_ == 0) CheckpointWriteDone(0);
}

void Engine::CheckpointWriteDone(uint64_t slab_seq) {
  if (!cp_active_ || slab_seq >= cp_slab_seq_) return;
  if (cp_writes_ > 0) --cp_writes_;
  if (cp_writes_ > 0) return;
  cp_active_ = false;
  ++stats_.journal_checkpoints;
  journal_->Reclaim(cp_block_);
}

bool Engine::TryWriteTombstone(std::string_view key, uint64_t wseq) {
  int cls = classes_.ClassFor(ItemSize(key.size(), 0));
  int64_t id = OpenSlabFor(static_cast<uint8_t>(cls));
  if (id < 0) return false;
  SlabInfo& s = table_[id];
  uint32_t chunk = s.used++;
  WriteItem(ChunkInMemory(s, chunk), key, {}, {}, 0, 0, 0, static_cast<uint32_t>(s.seq),
            wseq != 0 ? wseq : TakeWseq(), kKindTombstone);
  if (s.used == chunks_per_slab_[s.cls]) Seal(static_cast<uint32_t>(id));
  return true;
}

void Engine::DrainTombstones() {
  size_t done = 0;
  while (done < pending_tombstones_.size() &&
         TryWriteTombstone(pending_tombstones_[done].key, pending_tombstones_[done].wseq)) {
    ++done;
  }
  pending_tombstones_.erase(pending_tombstones_.begin(),
                            pending_tombstones_.begin() + static_cast<std::ptrdiff_t>(done));
}

void Engine::FlushAll() {
  index_->Clear();
  for (SlabInfo& s : table_) s.live = 0;
  stats_.curr_items = 0;
  stats_.bytes = 0;
  pending_tombstones_.clear();
  // Open memory slabs hold only flushed records now: recycle them unwritten, so that every record
  // written from here on lands in a slab whose seq is >= flush_seq_.
  for (int64_t& id : open_) {
    if (id < 0) continue;
    SlabInfo& s = table_[id];
    free_mem_.push_back(s.mem);
    KillSlab(s, false);
    id = -1;
  }
  flush_seq_ = next_seq_;
  WriteSuperblock();
  if (memory_listener_) memory_listener_();
}

uint64_t Engine::TakeWseq() {
  if (next_cas_ + kWseqWindow / 2 >= wseq_ceiling_) {
    wseq_ceiling_ = next_cas_ + kWseqWindow;
    WriteSuperblock();
  }
  if (next_cas_ >= durable_wseq_ceiling_) {
    // The raise has not completed in half a window (2^31 writes): a failing device. Waiting
    // for it in the loop is the only sound choice, and it is the last resort.
    std::string error;
    if (!WriteSuperblockNow(error)) spdlog::error("raising the write sequence ceiling: {}", error);
  }
  return next_cas_++;
}

void Engine::FillSuperblock(Superblock& sb) const {
  sb = Superblock{};
  sb.magic = kSuperMagic;
  sb.version = kFormatVersion;
  sb.device_size = device_.size();
  sb.slab_size = slab_size_;
  sb.classes = static_cast<uint32_t>(classes_.count());
  std::vector<uint32_t> sizes;
  for (size_t c = 0; c < classes_.count(); ++c) sizes.push_back(classes_.chunk_size(c));
  sb.classes_crc = util::Crc32c(sizes.data(), sizes.size() * sizeof(uint32_t));
  sb.instance = options_.instance;
  sb.instances = options_.instances;
  sb.journal_blocks = journal_ ? journal_->blocks() : 0;
  sb.epoch = epoch_;
  sb.flush_seq = flush_seq_;
  sb.boot_id = options_.boot_id;
  sb.journal_sync = static_cast<uint32_t>(journal_ ? journal_->sync() : JournalSync::kDevice);
  sb.clean = clean_ ? 1 : 0;
  sb.evicted_below = evicted_below_;
  sb.wseq_ceiling = wseq_ceiling_;
  sb.crc = util::Crc32c(&sb, sizeof(sb));
}

void Engine::WriteSuperblock() {
  if (super_in_flight_ || super_retry_) {
    super_dirty_ = true;  // rewritten when the write in flight completes
    return;
  }
  super_dirty_ = false;
  std::memset(super_buf_.data(), 0, super_buf_.size());
  Superblock sb;
  FillSuperblock(sb);
  std::memcpy(super_buf_.data(), &sb, sizeof(sb));
  super_op_ = IoOp{};
  super_op_.handler = this;
  super_op_.buf = super_buf_.data();
  super_op_.len = device_.block_size();
  super_op_.offset = device_.offset();
  super_op_.write = true;
  super_in_flight_ = true;
  super_evicted_below_ = sb.evicted_below;
  super_wseq_ceiling_ = sb.wseq_ceiling;
  aio_.Write(super_op_);
}

bool Engine::WriteSuperblockNow(std::string& error) {
  const uint32_t bs = device_.block_size();
  Superblock sb;
  FillSuperblock(sb);
  // Its own buffer: an asynchronous write may still be reading super_buf_. That write, older,
  // may land after this one: it is then written again with the newest state.
  util::AlignedBuffer buf(bs, bs);
  std::memset(buf.data(), 0, bs);
  std::memcpy(buf.data(), &sb, sizeof(sb));
  if (super_in_flight_) super_dirty_ = true;
  // Flushed to stable storage: "this run is not clean" must be durable before any entry that only
  // the page cache holds is relied on, and "clean" only after the journal mapping was synced.
  int64_t n = aio_.WriteSync(buf.data(), bs, device_.offset());
  int err = n < 0 ? static_cast<int>(-n) : n != static_cast<int64_t>(bs) ? EIO : aio_.Flush();
  if (err != 0) {
    error = "device " + device_.path() + ": cannot write the superblock: " + std::strerror(err);
    return false;
  }
  // An asynchronous write in flight holds older values and may land after this one: what is
  // durable is known only once its rewrite (super_dirty_) completes.
  if (!super_in_flight_) {
    durable_evicted_below_ = std::max(durable_evicted_below_, sb.evicted_below);
    durable_wseq_ceiling_ = std::max(durable_wseq_ceiling_, sb.wseq_ceiling);
  }
  return true;
}

bool Engine::Format(const char* why, std::string& error) {
  // A new epoch: records of any earlier format on this device are never taken for ours.
  std::random_device rd;
  epoch_ = (uint64_t{rd()} << 32 | rd()) | 1;
  flush_seq_ = 0;
  wseq_ceiling_ = next_cas_ + kWseqWindow;
  if (!WriteSuperblockNow(error)) return false;
  if (journal_) journal_->Reset(epoch_);
  spdlog::info("device {}: {} (epoch {:016x})", device_.path(), why, epoch_);
  return true;
}

bool Engine::FinishShutdown(std::string& error) {
  if (super_in_flight_) {
    error = "superblock write still in flight";
    return false;
  }
  if (journal_) {
    if (int err = journal_->Sync(); err != 0) {
      error = "device " + device_.path() + ": msync of the journal failed: " + std::strerror(err);
      return false;
    }
  }
  clean_ = true;
  return WriteSuperblockNow(error);
}

void Engine::RetrySuperblock() {
  if (!super_retry_) return;
  super_retry_ = false;
  WriteSuperblock();
}

void Engine::Housekeeping() {
  RetrySuperblock();
  // A full pass over the index about once a minute at one call per second.
  SweepSome(index_->num_buckets() / 60 + 1);
}

bool Engine::ShutdownFlush() {
  RetrySuperblock();  // each shutdown round tries a failed superblock write again
  DrainTombstones();
  for (int64_t id : open_) {
    if (id >= 0 && table_[id].used > 0) Seal(static_cast<uint32_t>(id));
  }
  return !pending_tombstones_.empty() || super_dirty_ || !awaiting_disk_.empty();
}

uint32_t Engine::disk_slabs_used() const { return static_cast<uint32_t>(disks_in_use_); }

void Engine::ResetStats() {
  if (journal_) journal_->ResetStats();
  read_queue_latency_.Reset();
  read_latency_.Reset();
  write_latency_.Reset();
  EngineStats fresh;
  fresh.curr_items = stats_.curr_items;
  fresh.bytes = stats_.bytes;
  stats_ = fresh;
}

std::vector<ClassStats> Engine::class_stats() const {
  std::vector<ClassStats> out(classes_.count());
  for (size_t c = 0; c < out.size(); ++c) {
    out[c].chunk_size = classes_.chunk_size(c);
    out[c].chunks_per_slab = chunks_per_slab_[c];
  }
  for (const SlabInfo& s : table_) {
    if (s.state == SlabState::kFree) continue;
    ClassStats& cs = out[s.cls];
    if (s.state == SlabState::kDisk)
      ++cs.disk_slabs;
    else
      ++cs.memory_slabs;
    cs.items += s.live;
  }
  return out;
}

bool Engine::ReadBlock(uint64_t offset, char* buf, size_t len, std::string& error) {
  int64_t n = aio_.ReadSync(buf, len, offset);
  if (n != static_cast<int64_t>(len)) {
    error = "device " + device_.path() + ": read at " +
            std::to_string(offset + std::max<int64_t>(n, 0)) +
            " failed: " + (n < 0 ? std::strerror(static_cast<int>(-n)) : "end of device");
    return false;
  }
  return true;
}

bool Engine::Recover(bool format, std::string& error) {
  const auto start = std::chrono::steady_clock::now();
  const uint32_t bs = device_.block_size();
  if (!ReadBlock(device_.offset(), super_buf_.data(), bs, error)) return false;
  Superblock found;
  std::memcpy(&found, super_buf_.data(), sizeof(found));
  bool blank =
      std::all_of(super_buf_.data(), super_buf_.data() + bs, [](char c) { return c == 0; });
  if (format || blank) return Format(blank ? "blank, formatted" : "formatted (--format)", error);
  Superblock expect;
  FillSuperblock(expect);
  uint32_t crc = found.crc;
  found.crc = 0;
  bool valid = found.magic == kSuperMagic && util::Crc32c(&found, sizeof(found)) == crc;
  found.crc = crc;
  if (!valid) {
    error = "device " + device_.path() +
            " holds no valid ssdcache superblock (another format, or corrupt); start with "
            "--format to wipe it";
    return false;
  }
  std::string mismatch;
  if (found.version != kFormatVersion)
    mismatch = "format version " + std::to_string(found.version);
  else if (found.slab_size != expect.slab_size)
    mismatch = "-I/--slab-size " + std::to_string(found.slab_size) + " bytes";
  else if (found.device_size != expect.device_size)
    mismatch = "a slice of " + std::to_string(found.device_size) + " bytes (--device-size, -s)";
  else if (found.classes != expect.classes || found.classes_crc != expect.classes_crc)
    mismatch = "another slab class table (-n, -f, -z)";
  else if (found.instance != expect.instance || found.instances != expect.instances)
    mismatch = "-s " + std::to_string(found.instance) + "/" + std::to_string(found.instances);
  else if (found.journal_blocks != expect.journal_blocks)
    mismatch = "--journal-size " + std::to_string(uint64_t{found.journal_blocks} * 4) + "K";
  if (!mismatch.empty()) {
    error = "device " + device_.path() + " was formatted with " + mismatch +
            ", which does not match the flags; start with the same flags, or with --format to "
            "wipe it";
    return false;
  }
  // A process-mode journal lives in the page cache until written back: if the machine went down
  // (another boot) before the last run shut down cleanly, entries may be missing and old values
  // could come back. Misses are allowed, stale values are not: start empty. An unknown boot id
  // (either side 0) counts as another boot.
  if (static_cast<JournalSync>(found.journal_sync) == JournalSync::kProcess && found.clean == 0 &&
      (found.boot_id == 0 || options_.boot_id == 0 || found.boot_id != options_.boot_id)) {
    spdlog::warn(
        "device {}: unclean shutdown across a reboot with --journal-sync process: journal entries "
        "may be lost; starting empty",
        device_.path());
    return Format("formatted (unclean shutdown across a reboot)", error);
  }
  epoch_ = found.epoch;
  flush_seq_ = found.flush_seq;
  evicted_below_ = durable_evicted_below_ = std::max<uint64_t>(found.evicted_below, 1);
  // No earlier run handed out a wseq at or above its ceiling: this run starts there (whatever
  // the journal says: an entry above it is corrupt) and reserves the next window before serving.
  next_cas_ = std::max<uint64_t>(found.wseq_ceiling, 1);
  wseq_ceiling_ = next_cas_ + kWseqWindow;
  // Before serving: a crash from here on is judged by this run's boot and journal mode.
  if (!WriteSuperblockNow(error)) return false;

  // The journal: for each key hash the largest wseq of a version that superseded older records.
  std::vector<JournalEntry> journal;
  if (journal_ && !journal_->Load(epoch_, journal, error)) return false;
  std::erase_if(journal, [&](const JournalEntry& e) {
    const bool corrupt = e.wseq >= next_cas_;
    recovery_.journal_rejected += corrupt ? 1 : 0;
    return corrupt;
  });
  if (recovery_.journal_rejected > 0) {
    spdlog::warn("device {}: {} journal entries above the write sequence ceiling ignored (corrupt)",
                 device_.path(), recovery_.journal_rejected);
  }
  recovery_.journal_entries = journal.size();
  recovery_.bytes_scanned += uint64_t{journal_ ? journal_->blocks() : 0} * kJournalBlockSize;
  std::sort(journal.begin(), journal.end(), [](const JournalEntry& a, const JournalEntry& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.wseq > b.wseq;
  });
  journal.erase(
      std::unique(journal.begin(), journal.end(),
                  [](const JournalEntry& a, const JournalEntry& b) { return a.hash == b.hash; }),
      journal.end());
  auto superseded_below = [&journal](uint64_t hash) -> uint64_t {
    auto it = std::lower_bound(journal.begin(), journal.end(), hash,
                               [](const JournalEntry& e, uint64_t h) { return e.hash < h; });
    return it != journal.end() && it->hash == hash ? it->wseq : 0;
  };
  // Keys whose records were all superseded by versions lost with DRAM: they get a tombstone, so
  // the journal entries can be dropped later without those records coming back.
  std::vector<std::pair<uint64_t, std::string>> orphans;

  // Pass 1: walk the slab headers of every disk slab.
  struct Piece {
    uint64_t seq, seal;
    uint32_t disk, off, len, used;
    uint8_t cls;
  };
  std::vector<Piece> pieces;
  util::AlignedBuffer buf(slab_size_, bs);
  auto last_log = std::chrono::steady_clock::now();
  for (uint32_t disk = 0; disk < disk_count_; ++disk) {
    uint32_t off = 0;
    uint64_t fill_id = 0;
    size_t count = 0;
    while (off + bs <= slab_size_ && count < max_pieces_) {
      if (!ReadBlock(DiskOffset(disk) + off, buf.data(), bs, error)) return false;
      recovery_.bytes_scanned += bs;
      SlabHeader h;
      std::memcpy(&h, buf.data(), sizeof(h));
      uint32_t hcrc = h.crc;
      h.crc = 0;
      if (h.magic != kSlabMagic || util::Crc32c(&h, sizeof(h)) != hcrc ||
          h.version != kFormatVersion || h.device_epoch != epoch_ ||
          h.slab_class >= classes_.count() || h.chunk_size != classes_.chunk_size(h.slab_class) ||
          h.chunks_used > chunks_per_slab_[h.slab_class] || h.seq == 0) {
        break;
      }
      if (off == 0) fill_id = h.fill_id;
      if (h.fill_id != fill_id) break;  // left over from an earlier use of this disk slab
      uint32_t len =
          h.chunks_used == chunks_per_slab_[h.slab_class]
              ? slab_size_
              : static_cast<uint32_t>(std::min<uint64_t>(
                    slab_size_,
                    (kSlabHeaderSize + uint64_t{h.chunks_used} * h.chunk_size + bs - 1) / bs * bs));
      if (off + len > slab_size_) break;
      pieces.push_back({h.seq, h.seal, disk, off, len, h.chunks_used, h.slab_class});
      off += len;
      ++count;
    }
  }
  // In seal order, the order they are evicted in.
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece& a, const Piece& b) { return a.seal < b.seal; });

  // Pass 2: index every record. Slabs of different classes fill at the same time, so slab order
  // says nothing about which record of a key is newer: the record's wseq decides. Tombstones and
  // expired records take part (they supersede older records) and are dropped at the end.
  // Per indexed record: its wseq and key hash (the index keeps only a tag of the hash).
  struct Seen {
    uint64_t wseq, hash;
  };
  std::vector<std::vector<Seen>> seen(table_.size());
  struct Dead {
    uint64_t hash;
    uint32_t slab, chunk;
  };
  std::vector<Dead> dead;
  uint64_t max_seq = flush_seq_;
  uint64_t max_seal = evicted_below_ - 1;
  uint64_t max_wseq = 0;
  size_t done = 0;
  for (const Piece& p : pieces) {
    max_seq = std::max(max_seq, p.seq);
    max_seal = std::max(max_seal, p.seal);
    ++done;
    if (p.seq < flush_seq_) continue;  // flush_all came after it
    // Evicted, though its disk slab still holds it: a newer version of one of its keys may have
    // been evicted and overwritten after it.
    if (p.seal < evicted_below_) continue;
    uint32_t id = static_cast<uint32_t>(p.seq & table_mask_);
    if (table_[id].state != SlabState::kFree) {
      spdlog::warn("slab seq {} collides with seq {} in the slab table; skipped", p.seq,
                   table_[id].seq);
      continue;
    }
    if (!ReadBlock(DiskOffset(p.disk) + p.off, buf.data(), p.len, error)) return false;
    recovery_.bytes_scanned += p.len;
    ++recovery_.slabs;
    SlabInfo& s = table_[id];
    s.seq = p.seq;
    s.state = SlabState::kDisk;
    s.cls = p.cls;
    s.disk = p.disk;
    s.disk_off = p.off;
    s.disk_len = p.len;
    s.used = p.used;
    s.live = 0;
    s.seal = p.seal;
    s.placed = true;
    seal_fifo_.emplace_back(id, p.seq);
    DiskSlab& d = disks_[p.disk];
    if (d.pieces.empty()) d.fill_id = p.seq;
    d.pieces.push_back(id);
    ++d.live_pieces;
    d.fill = std::max(d.fill, p.off + p.len);
    d.closed = true;
    std::vector<Seen>& ws = seen[id];
    ws.assign(p.used, Seen{0, 0});
    const uint32_t cs = classes_.chunk_size(p.cls);
    for (uint32_t c = 0; c < p.used; ++c) {
      ItemView v;
      const char* rec = buf.data() + kSlabHeaderSize + uint64_t{c} * cs;
      if (!VerifyItem(rec, cs, static_cast<uint32_t>(p.seq), v)) {
        ++recovery_.skipped;  // torn or never written
        continue;
      }
      max_wseq = std::max(max_wseq, std::max(v.wseq, v.cas));
      uint64_t hash = util::HashKey(v.key);
      ws[c] = Seen{v.wseq, hash};
      if (!journal.empty() && v.wseq < superseded_below(hash)) {
        ++recovery_.superseded;
        if (orphans.empty() || orphans.back().first != hash) orphans.emplace_back(hash, v.key);
        continue;
      }
      // Never evict while rebuilding: the dropped entry could be this scan's newest record of its
      // key, and an older record of that key met later would then be indexed in its place. A
      // record that finds no room, or whose tag and bucket pair another key holds, stays
      // unindexed instead (a miss, counted; its slab is marked so that a new version of its key
      // is journaled).
      const IndexEntry here{id, c, Index::CoarseExpiry(v.exptime, now_)};
      std::optional<IndexEntry> cur = index_->Find(hash);
      if (cur && seen[cur->slab][cur->chunk].wseq > v.wseq) {
        if (seen[cur->slab][cur->chunk].hash == hash) continue;  // a newer one was seen
        MarkUnindexed(here);  // the newer of two colliding keys keeps the entry, as when running
        ++stats_.tag_collisions;
        ++stats_.evictions;
        continue;
      }
      if (cur && seen[cur->slab][cur->chunk].hash != hash) {
        MarkUnindexed(*cur);  // replaced below
        ++stats_.tag_collisions;
        ++stats_.evictions;
      }
      Index::InsertOutcome out = index_->Upsert(hash, here, /*may_evict=*/false);
      if (out.result == Index::InsertResult::kFull) {
        MarkUnindexed(here);
        ++stats_.index_evictions;
        continue;
      }
      if (out.result != Index::InsertResult::kInserted) DropEntry(out.old);
      ++s.live;
      ++stats_.curr_items;
      stats_.bytes += cs;
      if (v.tombstone) {
        ++recovery_.tombstones;
        dead.push_back({hash, id, c});
      } else if (v.exptime != 0 && v.exptime <= now_) {
        ++recovery_.skipped;
        dead.push_back({hash, id, c});
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_log > std::chrono::seconds(1)) {
      last_log = now;
      double secs = std::chrono::duration<double>(now - start).count();
      spdlog::info("warm restart: {}% of {} slabs, {} items, {:.0f} MiB/s",
                   done * 100 / pieces.size(), pieces.size(), stats_.curr_items,
                   static_cast<double>(recovery_.bytes_scanned) / (1 << 20) / secs);
    }
  }
  // Orphans: superseded keys without any newer record on the device. Decided before the dead
  // entries go, so that a key whose newest record is a tombstone (or expired) is not one: it needs
  // no second tombstone at every restart while its journal entry stays readable in the ring.
  std::sort(orphans.begin(), orphans.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  orphans.erase(std::unique(orphans.begin(), orphans.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                orphans.end());
  std::erase_if(orphans, [this](const auto& o) { return index_->Find(o.first).has_value(); });
  for (const Dead& d : dead) {
    std::optional<IndexEntry> cur = index_->Find(d.hash);
    if (cur && cur->slab == d.slab && cur->chunk == d.chunk) {
      DropEntry(*cur);
      index_->EraseIf(d.hash, d.slab, d.chunk);
    }
  }
  recovery_.items = stats_.curr_items;

  // Disk slabs holding a live slab are in use (their slabs are in seal_fifo_); the others are
  // free: the durable frontier already voids whatever evicted slabs they still hold.
  free_disk_.clear();
  disks_in_use_ = 0;
  for (uint32_t d = disk_count_; d-- > 0;) {
    if (disks_[d].pieces.empty())
      free_disk_.push_back(d);
    else
      ++disks_in_use_;
  }
  next_seq_ = max_seq + 1;
  next_seal_ = max_seal + 1;
  if (max_wseq >= next_cas_) {
    // A record (CRC-checked) above the ceiling: not written by a run that kept the ceiling, but
    // ours to stay above.
    next_cas_ = max_wseq + 1;
    wseq_ceiling_ = next_cas_ + kWseqWindow;
    if (!WriteSuperblockNow(error)) return false;
  }
  for (const auto& [hash, key] : orphans) {
    ++recovery_.journal_tombstones;
    if (!TryWriteTombstone(key)) pending_tombstones_.push_back({key, 0});
  }
  // Until a checkpoint wrote those tombstones, every journal slot may still be needed.
  StartCheckpoint();
  recovery_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info(
      "warm restart: {} items ({} tombstones, {} records skipped, {} superseded by {} journal "
      "entries) from {} slabs; scanned {} MiB in {:.2f} s ({:.2f} GiB/s)",
      recovery_.items, recovery_.tombstones, recovery_.skipped, recovery_.superseded,
      recovery_.journal_entries, recovery_.slabs, recovery_.bytes_scanned >> 20, recovery_.seconds,
      recovery_.seconds > 0
          ? static_cast<double>(recovery_.bytes_scanned) / (1 << 30) / recovery_.seconds
          : 0.0);
  return true;
}

}  // namespace ssdcache::storage
