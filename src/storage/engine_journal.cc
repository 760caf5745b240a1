// Engine, part three: the crash journal's side of the request paths. Journaling the records a
// failed slab write lost, the tickets replies wait on, undoing a change whose journal block
// failed (reading its key back from the device when only the record holds it), and the
// checkpoints that free journal slots. The request paths are in engine.cc, the slab lifecycle in
// engine_slabs.cc.
#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

void Engine::JournalLost(uint64_t hash, uint64_t wseq) {
  if (journal_ == nullptr) return;
  // Nobody waits for it (the failed write answered no request); until it is committed the key
  // counts as uncommitted, so a new version of it is journaled and held too.
  if (const uint64_t ticket = journal_->Append(hash, wseq); ticket != 0) {
    durable_.Hold(ticket, hash, std::nullopt);
  }
}

void Engine::TombstoneIfUndoable(const SlabInfo& s, uint32_t chunk) {
  // A change still waiting for its journal commit is undone through its index entry, which is
  // gone now: if the commit fails, its record (being written, or on the device) would come back
  // at a restart. A journaled tombstone keeps it out either way (the key was evicted: a miss).
  if (journal_ == nullptr || !InDram(s)) return;
  ItemView v;
  if (!DecodeItemTrusted(ChunkInMemory(s, chunk), v) || v.tombstone) return;
  const uint64_t hash = util::HashKey(v.key);
  if (!journal_->Uncommitted(hash)) return;
  const uint64_t wseq = TakeWseq();
  pending_tombstones_.push_back({std::string(v.key), wseq});
  JournalLost(hash, wseq);
}

void Engine::AwaitCommit(uint64_t ticket, CommitWaiter* waiter, uint64_t token) {
  ++stats_.journal_waits;
  durable_.AwaitCommit(ticket, waiter, token);
}

void Engine::OnJournalCommitted(uint64_t first_ticket, uint64_t last_ticket, bool ok) {
  durable_.Committed(first_ticket, last_ticket, ok,
                     [this](uint64_t hash, const IndexEntry& where) { UndoChange(hash, where); });
}

void Engine::UndoChange(uint64_t hash, const IndexEntry& where) {
  // Not acknowledged, so never to be served: the key becomes a miss, with a tombstone so that the
  // version before (acknowledged, maybe on the device) does not return at a restart either. A
  // client told SERVER_ERROR may see either the older value or a miss later. When a later version
  // was stored meanwhile (its own entry, in a later block, covers the older records too), the
  // index no longer points here and nothing is undone.
  std::optional<IndexEntry> cur = index_->FindAt(hash, where.slab, where.chunk);
  if (!cur) return;
  ++stats_.journal_undone;
  SlabInfo& s = table_[cur->slab];
  ItemView v;
  if (InDram(s) && DecodeItemTrusted(ChunkInMemory(s, cur->chunk), v)) {
    std::string key(v.key);
    Erase(key, hash, &*cur);  // nobody waits for the tombstone's own entry
    return;
  }
  // Written to the device already, and its buffer reused: the record would come back at a
  // restart. Its tombstone needs the key, which only the record holds: read it. The tombstone's
  // wseq is reserved now (a version stored meanwhile stays newer), and a journal entry covers the
  // record until the tombstone is on the device (no checkpoint starts while such a read is out).
  DropEntry(*cur);
  index_->EraseIf(hash, cur->slab, cur->chunk);
  const uint64_t wseq = TakeWseq();
  JournalLost(hash, wseq);
  StartUndoRead(*cur, hash, wseq, 0);
}

void Engine::StartUndoRead(const IndexEntry& at, uint64_t hash, uint64_t wseq, uint8_t attempts) {
  ReadOp* r = StartRead(at, {}, hash);
  if (r == nullptr) {
    spdlog::error("no read buffer to find the key of an undone change; its record may return");
    return;
  }
  r->kind = ReadOp::Kind::kUndo;
  r->token = wseq;
  r->attempts = attempts;
  ++undo_reads_;
}

void Engine::FinishUndoRead(ReadOp* r, int64_t result) {
  --undo_reads_;
  const IndexEntry at = r->where;
  const uint64_t hash = r->hash;
  const uint64_t wseq = r->token;
  const uint8_t attempts = r->attempts;
  const SlabInfo& s = table_[at.slab];
  const bool live = s.state == SlabState::kDisk && static_cast<uint32_t>(s.seq) == r->seq32;
  ItemView v;
  const ReadPath::Outcome outcome = ReadPath::Verify(*r, result, v);
  const bool found = outcome == ReadPath::Outcome::kOtherKey && util::HashKey(v.key) == hash;
  if (found) pending_tombstones_.push_back({std::string(v.key), wseq});
  reads_.Put(r);
  if (outcome == ReadPath::Outcome::kIoError && live) {
    // Read again: a restart may well read it. (A corrupt record fails there too; a slab evicted
    // meanwhile is void behind the frontier.)
    if (attempts + 1 < kUndoReadAttempts) {
      StartUndoRead(at, hash, wseq, static_cast<uint8_t>(attempts + 1));
    } else {
      spdlog::error("cannot read the record of an undone change; it may return after a restart");
    }
  }
  // Only when this read added one: those failed writes gave back wait for housekeeping (Store).
  if (found) DrainTombstones();
}

void Engine::CommitJournal() {
  if (journal_ == nullptr) return;
  if (!durable_.checkpoint_active() && journal_->used_blocks() * 2 >= journal_->blocks()) {
    StartCheckpoint();
  }
  journal_->Commit();
}

void Engine::StartCheckpoint() {
  if (journal_ == nullptr || durable_.checkpoint_active()) return;
  // A pending tombstone has no slab yet: it could not be counted below. Try again next turn. So
  // for one whose key is still being read.
  DrainTombstones();
  if (!pending_tombstones_.empty() || undo_reads_ > 0) return;
  const uint64_t slab_seq = table_.next_seq();
  // Closes the open in-place block (process mode): an entry appended from now on, which may
  // supersede a record written after the checkpoint started, must not land in a block it frees.
  const uint64_t block = journal_->CutBlock();
  for (int64_t id : open_) {
    if (id >= 0 && table_[id].used > 0) Seal(static_cast<uint32_t>(id));
  }
  // Every slab being written now is older than slab_seq, and no memory slab holds a record older
  // than it: once these writes are done, every record older than the checkpoint is on the device
  // (or gone with its slab), so no entry of a block before `block` is needed.
  // The tier's records below the cut must reach their sets (or be dropped with nothing older
  // left on the device) too: one more "write" until its floor passes the cut (AfterSmallIo).
  size_t writes = flushing_;
  if (small_ != nullptr) {
    small_checkpoint_wseq_ = durable_.next_wseq();
    small_->Flush();
    if (!SmallSettledBelow(small_checkpoint_wseq_)) {
      ++writes;
    } else {
      small_checkpoint_wseq_ = 0;
    }
  }
  if (durable_.BeginCheckpoint(slab_seq, block, writes)) ++stats_.journal_checkpoints;
}

void Engine::CheckpointWriteDone(uint64_t slab_seq) {
  if (durable_.CheckpointWriteDone(slab_seq)) ++stats_.journal_checkpoints;
}

}  // namespace ssdcache::storage
