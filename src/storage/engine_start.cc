// Engine, part six: the start. How the slice is laid out (the superblock, the journal, the
// snapshot region, the small-object tier's sets, then the disk slabs), what --snapshot-size auto
// gives a device, and the warm restart: the parts lent to Recovery and what the engine takes over
// from its result. The checks and construction are Engine::Create, in engine.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/engine.h"
#include "storage/recovery.h"
#include "storage/snapshot.h"
#include "util/hash.h"
#include "util/option.h"

namespace ssdcache::storage {

Superblock Engine::Geometry(const EngineOptions& options, const Device& device,
                            const SlabClasses& classes) {
  Superblock sb{};
  sb.magic = kSuperMagic;
  sb.version = kFormatVersion;
  sb.device_size = device.size();
  sb.slab_size = options.slab_size;
  sb.chunk_block = static_cast<uint16_t>(device.block_size());
  sb.classes = static_cast<uint32_t>(classes.count());
  std::vector<uint32_t> sizes;
  for (size_t c = 0; c < classes.count(); ++c) sizes.push_back(classes.chunk_size(c));
  sb.classes_crc = util::Crc32c(sizes.data(), sizes.size() * sizeof(uint32_t));
  sb.instance = options.instance;
  sb.instances = options.instances;
  sb.boot_id = options.boot_id;
  sb.snapshot_blocks = static_cast<uint32_t>(options.snapshot_size / kJournalBlockSize);
  sb.small_sets = options.small_sets;
  return sb;
}

uint32_t Engine::ReservedSlabs(const EngineOptions& options, const Device& device) {
  return static_cast<uint32_t>((device.block_size() + options.journal_size + options.snapshot_size +
                                options.small_sets * kSetBytes + SmallImageBytes(options) +
                                options.slab_size - 1) /
                               options.slab_size);
}

uint64_t Engine::SnapshotBytes(const EngineOptions& o, const Device& device,
                               const SlabClasses& classes, uint64_t mem_slabs) {
  if (o.snapshot_size != util::BlocksOrAuto::kAuto) {
    return Snapshot::RegionBytes(o.snapshot_size, device.block_size());
  }
  // A formatted device keeps its region: the superblock check refuses any other size.
  if (device.superblock())
    return uint64_t{device.superblock()->snapshot_blocks} * kJournalBlockSize;
  // A new one gets room for the largest snapshot: an entry for every index slot, or for every
  // chunk of the smallest class the slice holds when that is fewer, and a record for every slab
  // the table can place on a disk slab (within the index's slab ids: at most 2^23 on disk).
  const uint64_t slabs = device.size() / o.slab_size;
  const uint64_t chunks =
      ChunkLayout(classes.chunk_size(0), o.slab_size, device.block_size()).count();
  // What the slice can spare: Create asks for 2 disk slabs more than the memory slabs.
  const uint64_t keep = (mem_slabs + 2) * o.slab_size + device.block_size() + o.journal_size;
  const Snapshot::Bounds bounds{
      .slice = device.size(),
      .block = device.block_size(),
      .slabs = std::min<uint64_t>(slabs * SlabTable::kMaxPiecesPerDiskSlab,
                                  (uint64_t{1} << Index::kSlabBits) / 2),
      .entries = std::min<uint64_t>(
          uint64_t{Index::BucketsFor(o.max_index_memory)} * Index::kSlotsPerBucket, slabs * chunks),
      .room = slabs * o.slab_size > keep ? slabs * o.slab_size - keep : 0};
  const uint64_t bytes = Snapshot::AutoBytes(bounds);
  const uint64_t full = Snapshot::BytesFor(bounds.slabs, bounds.entries);
  if (full > bytes) {
    spdlog::info(
        "--snapshot-size auto: {} KiB for this new device, less than a snapshot of the {} entries "
        "the index and the slice can hold ({} KiB): 1/8 of the slice, or what it can spare",
        bytes >> 10, bounds.entries, full >> 10);
  } else {
    spdlog::info("--snapshot-size auto: {} KiB for this new device, room for {} index entries",
                 bytes >> 10, bounds.entries);
  }
  return bytes;
}

bool Engine::Recover(bool format, std::string& error) {
  const RecoveryParts parts{.options = options_,
                            .device = device_,
                            .io = aio_,
                            .classes = classes_,
                            .layouts = layouts_,
                            .slab_size = slab_size_,
                            .disk_base = DiskOffset(0),
                            .now = now_,
                            .index = *index_,
                            .table = table_,
                            .policy = *policy_,
                            .durable = durable_,
                            .journal = journal_.get(),
                            .access = access_,
                            .snapshot_offset = SnapshotOffset(),
                            .snapshot_bytes = options_.snapshot_size,
                            .rebuild_small = RebuildSmallHook()};
  std::optional<RecoveryResult> result = Recovery::Run(parts, format, error);
  if (!result) return false;
  recovery_ = result->stats;
  if (result->formatted) {
    MakeSmallTier();  // blank: whatever its sets hold belongs to another epoch
  } else {
    AdoptRecovered(*result);
  }
  return true;
}

void Engine::AdoptRecovered(RecoveryResult& result) {
  for (const SlabInfo& s : table_) {
    if (s.state == SlabState::kFree) continue;
    gauges_.curr_items += s.live;
    gauges_.bytes += uint64_t{s.live} * classes_.chunk_size(s.cls);
    unindexed_slabs_ += s.unindexed ? 1 : 0;
  }
  stats_.tag_collisions += result.stats.tag_collisions;
  stats_.evictions += result.stats.tag_collisions;  // a collision's loser is evicted
  stats_.index_evictions += result.stats.index_full;
  next_seal_ = result.next_seal;
  for (std::string& key : result.orphans) {
    if (!TryWriteTombstone(key)) pending_tombstones_.push_back({std::move(key), 0});
  }
  // Until a checkpoint wrote those tombstones, every journal slot may still be needed.
  StartCheckpoint();
}

}  // namespace ssdcache::storage
