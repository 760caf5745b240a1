#include "sim_model.h"

#include <algorithm>

#include "sim_value.h"

namespace ssdcache::sim {

void Model::Add(uint32_t key, const Op& op) {
  Key& k = keys_[key];
  k.ops.push_back(op);
  k.live = op.version;
  if (op.state == State::kAcked) Ack(k, op.version);
}

void Model::Ack(Key& k, uint64_t version) {
  // Journal blocks complete in any order: the floor is the newest acknowledged version.
  if (version <= k.floor) return;
  k.floor = version;
  k.lax = false;
}

const Model::Op* Model::Find(const Key& k, uint64_t version) const {
  auto it = std::lower_bound(k.ops.begin(), k.ops.end(), version,
                             [](const Op& o, uint64_t v) { return o.version < v; });
  return it != k.ops.end() && it->version == version ? &*it : nullptr;
}

void Model::Stored(uint32_t key, uint64_t version, uint32_t exptime, uint64_t cas, bool acked) {
  Add(key, {version, cas, exptime, Kind::kSet, acked ? State::kAcked : State::kPending, 0});
}

void Model::Erased(uint32_t key, uint64_t version, bool acked) {
  Add(key, {version, 0, 0, Kind::kDelete, acked ? State::kAcked : State::kPending, 0});
}

void Model::Committed(uint32_t key, uint64_t version, bool ok) {
  Key& k = keys_[key];
  auto it = std::lower_bound(k.ops.begin(), k.ops.end(), version,
                             [](const Op& o, uint64_t v) { return o.version < v; });
  if (it == k.ops.end() || it->version != version) return;  // below the floor already
  if (ok) {
    it->state = State::kAcked;
    Ack(k, version);
  } else {
    it->state = State::kFailed;
    it->failed_tick = tick_;
  }
}

void Model::FlushAll(uint64_t version) {
  for (uint32_t key = 0; key < keys_.size(); ++key) {
    Add(key, {version, 0, 0, Kind::kDelete, State::kPending, 0});
  }
  pending_flushes_.push_back(version);
}

void Model::AckFlushes() {
  for (uint64_t v : pending_flushes_) {
    for (uint32_t key = 0; key < keys_.size(); ++key) Committed(key, v, true);
  }
  pending_flushes_.clear();
}

void Model::Crash(bool ordered) {
  // A flush_all whose superblock write was not known to be done may or may not have survived:
  // its deletes stay pending (either answer passes), and a later life must not acknowledge it.
  pending_flushes_.clear();
  for (Key& k : keys_) {
    // A change whose journal commit failed is undone by a tombstone and a journal entry that are
    // written asynchronously themselves: a crash before they are on the device may bring it back
    // (its client was told SERVER_ERROR, an unknown outcome). It stays possible, like a pending
    // one; a clean restart still must not serve it.
    for (Op& op : k.ops) {
      if (op.state == State::kFailed) op.state = State::kPending;
    }
    k.live = k.floor;
    if (!ordered) k.lax = true;
  }
}

void Model::Wiped(uint64_t version) {
  pending_flushes_.clear();
  for (uint32_t key = 0; key < keys_.size(); ++key) {
    Key& k = keys_[key];
    k.ops.clear();
    k.floor = 0;
    k.lax = false;
    Add(key, {version, 0, 0, Kind::kDelete, State::kAcked, 0});
  }
}

bool Model::CheckHit(const Read& r, const storage::ItemView& item, uint32_t now,
                     std::string& why) const {
  ValueId id;
  if (!DecodeValue(item.value, id, why)) return false;
  if (id.key != r.key) {
    why = "returned the value of key " + std::to_string(id.key);
    return false;
  }
  if (item.flags != FlagsFor(id) || item.exptime != id.exptime) {
    why = "flags or exptime differ from what version " + std::to_string(id.version) +
          " was stored with";
    return false;
  }
  if (id.exptime != 0 && id.exptime <= now) {
    why = "version " + std::to_string(id.version) + " expired at " + std::to_string(id.exptime) +
          ", now is " + std::to_string(now);
    return false;
  }
  const Key& k = keys_[r.key];
  const Op* op = Find(k, id.version);
  if (op != nullptr && op->state == State::kFailed && op->failed_tick < r.tick) {
    why = "version " + std::to_string(id.version) + " is back after its journal commit failed";
    return false;
  }
  if (r.lax && id.version < r.live) return true;  // a crash without a journal promises nothing
  if (id.version < r.live) {
    why = "version " + std::to_string(id.version) + " is older than version " +
          std::to_string(r.live) +
          (Find(k, r.live) && Find(k, r.live)->kind == Kind::kDelete ? " (a delete or flush_all)"
                                                                     : "") +
          " taken before the read started";
    return false;
  }
  if (op == nullptr || op->kind != Kind::kSet) {
    why = "version " + std::to_string(id.version) + " was never stored for this key";
    return false;
  }
  if (item.cas != op->cas) {
    why =
        "cas " + std::to_string(item.cas) + " differs from the store's " + std::to_string(op->cas);
    return false;
  }
  return true;
}

uint64_t Model::Expected(uint32_t key, uint32_t now) const {
  const Key& k = keys_[key];
  if (k.lax || k.live != k.floor) return 0;
  const Op* op = Find(k, k.live);
  if (op == nullptr || op->kind != Kind::kSet) return 0;
  if (op->exptime != 0 && op->exptime <= now) return 0;
  return op->version;
}

std::string Model::Describe(uint32_t key) const {
  const Key& k = keys_[key];
  std::string out = "floor " + std::to_string(k.floor) + ", live " + std::to_string(k.live) +
                    (k.lax ? ", lax" : "") + "; operations:";
  for (const Op& op : k.ops) {
    out += " " + std::to_string(op.version) + (op.kind == Kind::kSet ? " set" : " delete") +
           (op.state == State::kAcked     ? " acked"
            : op.state == State::kPending ? " pending"
                                          : " failed") +
           ",";
  }
  if (!k.ops.empty()) out.pop_back();
  return out;
}

void Model::Prune() {
  for (Key& k : keys_) {
    auto keep = std::lower_bound(k.ops.begin(), k.ops.end(), k.floor,
                                 [](const Op& o, uint64_t v) { return o.version < v; });
    k.ops.erase(k.ops.begin(), keep);
  }
}

}  // namespace ssdcache::sim
