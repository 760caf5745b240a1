// The eviction policy: which sealed logical slab is evicted next, and the eviction frontier that
// order implies. It sees slab events only (a seal, a disk slab closing, an eviction), never a
// request: one call per slab event, none per get or set.
//
// The engine asks for Candidate() when it needs a disk slab, and checks it: a candidate that died
// otherwise (a failed write) is Skip()ped, one still being written makes the engine wait (no
// later slab is evicted meanwhile), one on the device is evicted and reported with Evicted(),
// which returns the new frontier: every slab sealed below it was evicted or died. Skip() too
// returns it. The superblock
// records the frontier, and a restart ignores slabs below it.
//
// The engine's invariant ("a record is never evicted before an older record of its key", see
// docs/design.md "Slab lifecycle") holds only for an order that evicts in seal order: the seal of
// a record's slab is below that of every record that superseded it once sealed. SealOrderPolicy is
// that order. DiskCloseOrderPolicy is the engine's old order, kept for tests only: it evicts the
// slabs of a disk slab when the disk slab closes, so a full slab written after a packed slab whose
// disk slab is still open is evicted first, and a restart brings the packed slab's older records
// back (the resurrection defect). A simulator must be able to catch it.
//
// Reinsertion (reinsertion.h) is not a slab rank: an item read since it was placed is copied
// forward when its slab is evicted, decided per item from the index (its hit bit) when the
// victim's read lands, so the policy keeps hearing slab events only and costs nothing per
// request.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>

namespace ssdcache::storage {

// A sealed logical slab: its table id, its sequence (which tells a reused id apart) and its seal.
struct SlabRef {
  uint32_t id = 0;
  uint64_t seq = 0;
  uint64_t seal = 0;
};

enum class EvictionOrder : uint8_t {
  kSeal,              // SealOrderPolicy: the engine's order
  kDiskCloseForTests  // DiskCloseOrderPolicy: the old, defective order (tests only)
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  // A slab was sealed (or found at a restart, in seal order): it will be evicted some day.
  virtual void Track(const SlabRef& slab) = 0;
  // A disk slab takes no more pieces: `ids` are the slabs written into it.
  virtual void DiskClosed(std::span<const uint32_t> ids) = 0;
  // The slab to evict next (nullopt: none can be now), left in place until Evicted() or Skip().
  virtual std::optional<SlabRef> Candidate() const = 0;
  // The candidate was evicted: returns the new eviction frontier.
  virtual uint64_t Evicted() = 0;
  // The candidate died otherwise (a failed write): forgotten; returns the new frontier (a dead
  // slab lost its items already, so the frontier passes it as it passes an evicted one).
  virtual uint64_t Skip() = 0;
  // Forgets every slab; the frontier the device records is `frontier` (a restart, a format).
  virtual void Reset(uint64_t frontier) = 0;

  static std::unique_ptr<EvictionPolicy> Create(EvictionOrder order);
};

// FIFO in seal order, one logical slab at a time.
class SealOrderPolicy final : public EvictionPolicy {
 public:
  void Track(const SlabRef& slab) override { fifo_.push_back(slab); }
  void DiskClosed(std::span<const uint32_t>) override {}
  std::optional<SlabRef> Candidate() const override;
  uint64_t Evicted() override;
  uint64_t Skip() override { return Evicted(); }
  void Reset(uint64_t) override { fifo_.clear(); }

 private:
  std::deque<SlabRef> fifo_;  // sealed slabs in seal order
};

// Tests only: the slabs of each disk slab in the order the disk slabs closed. Its frontier is
// exact (the lowest seal still tracked), so that a restart keeps the older records this order
// leaves behind, as the engine that used it did.
class DiskCloseOrderPolicy final : public EvictionPolicy {
 public:
  void Track(const SlabRef& slab) override;
  void DiskClosed(std::span<const uint32_t> ids) override;
  std::optional<SlabRef> Candidate() const override;
  uint64_t Evicted() override;
  uint64_t Skip() override;
  void Reset(uint64_t frontier) override;

 private:
  void Forget(const SlabRef& slab);

  std::unordered_map<uint32_t, SlabRef> sealed_;  // tracked, their disk slab still open
  std::deque<SlabRef> closed_;                    // in the order their disk slabs closed
  std::set<uint64_t> seals_;                      // seals tracked and not evicted
  uint64_t max_seal_ = 0;                         // the largest seal tracked
  uint64_t frontier_ = 1;
};

}  // namespace ssdcache::storage
