// The engine's settings, declared once in SSDCACHE_ENGINE_OPTIONS (see util/option.h for the
// columns): the rows give EngineOptions its members and defaults, and the server its flags,
// --help, parsing and `stats settings`. The server's Config embeds an EngineOptions, so the engine
// and the server cannot disagree on a default. CheckEngineOptions() checks what no single row can:
// the slab geometry the settings make together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/eviction_policy.h"
#include "storage/item.h"
#include "storage/slab_class.h"
#include "util/option.h"

namespace ssdcache::storage {

// Bounds. Each one is either a hard limit of the data structures or a guard against a typo (an
// extra zero) turning into an absurd allocation; Engine::Create re-checks what it depends on.
inline constexpr uint64_t kMinMaxMemoryMiB = 2;
inline constexpr uint64_t kMaxMaxMemoryMiB = 1ULL << 20;  // 1 TiB
inline constexpr uint64_t kMinSlabsInMemory = 4;
inline constexpr uint64_t kMinSlabSize = 64 * util::kKiB;
inline constexpr uint64_t kMaxSlabSize = 16 * util::kMiB;
inline constexpr double kMaxFactor = 4.0;
// An item header (48 B), a 1-byte key and a few value bytes.
inline constexpr uint64_t kMinItemSize = 56;
inline constexpr uint64_t kMinIndexMemoryMiB = 1;
inline constexpr uint64_t kMaxIndexMemoryMiB = 1ULL << 20;    // 1 TiB
inline constexpr uint64_t kMinJournalSize = 64 * util::kKiB;  // 16 blocks: room for a checkpoint
inline constexpr uint64_t kMaxJournalSize = 1 * util::kGiB;
inline constexpr uint64_t kJournalBlock = 4 * util::kKiB;
// A header block and a few 64 KiB pages (snapshot.h).
inline constexpr uint64_t kMinSnapshotSize = 260 * util::kKiB;
inline constexpr uint64_t kMaxSnapshotSize = 64 * util::kGiB;
// The largest --small-max: key + value of one record alone in a 4 KiB set (set_page.h's
// kSetMaxPayload, checked there).
inline constexpr uint64_t kMaxSmallPayload = 4024;
// --small-share: percent of the slice; the slabs keep at least a tenth.
inline constexpr uint64_t kMinSmallShare = 1;
inline constexpr uint64_t kMaxSmallShare = 90;
// -z lists the classes below the largest chunk; SlabClasses::FromProfile appends that one.
inline constexpr size_t kMaxProfileSizes = SlabClasses::kMaxClasses - 1;

// X(member, type, default, flags, metavar, kind, stat, help), in --help order.
#define SSDCACHE_ENGINE_OPTIONS(X)                                                              \
  X(disable_evictions, bool, false, "-M,--disable-evictions", "", (util::Flag{"on", "off"}),    \
    "evictions",                                                                                \
    "never evict a slab holding live items: refuse stores (SERVER_ERROR out of memory) that "   \
    "could need it")                                                                            \
  X(disable_cas, bool, false, "-C,--disable-cas", "", (util::Flag{"yes", "no"}), "cas_enabled", \
    "no cas uniques: every item's is 0 and cas/ms C never match")                               \
  X(max_memory, uint64_t, 64 * util::kMiB, "-m,--max-memory,--memory-limit", "MiB",             \
    (util::Mebibytes{kMinMaxMemoryMiB, kMaxMaxMemoryMiB}), "maxbytes",                          \
    "DRAM for memory slabs, at least 4 slabs")                                                  \
  X(slab_size, uint32_t, 1U << 20, "-I,--slab-size", "MiB|SIZE",                                \
    (util::PowerOfTwo{kMinSlabSize, kMaxSlabSize}), "slab_page_size",                           \
    "slab size, the unit of memory and of device space")                                        \
  X(factor, double, 1.25, "-f,--factor,--slab-growth-factor", "F", (util::Factor{kMaxFactor}),  \
    "growth_factor", "growth factor between slab class chunk sizes")                            \
  X(min_item_size, uint32_t, 56, "-n,--min-item-size", "BYTES",                                 \
    (util::Integer{kMinItemSize, kMaxSlabSize / 2}), "chunk_size",                              \
    "smallest chunk (item header + key + value), at most half the slab size")                   \
  X(slab_profile, std::vector<uint32_t>, std::vector<uint32_t>(), "-z,--slab-profile",          \
    "S1,S2,...", (util::IncreasingSizes{kMaxSlabSize, kMaxProfileSizes}), "",                   \
    "explicit chunk sizes instead of -f")                                                       \
  X(max_index_memory, uint64_t, 64 * util::kMiB, "-i,--max-index-memory", "MiB",                \
    (util::Mebibytes{kMinIndexMemoryMiB, kMaxIndexMemoryMiB}), "index_max_bytes",               \
    "DRAM for the item index")                                                                  \
  X(journal_size, uint64_t, 4 * util::kMiB, "--journal-size", "SIZE",                           \
    (util::BlocksOrOff{kJournalBlock, kMinJournalSize, kMaxJournalSize}), "journal_size",       \
    "crash journal on the device (K/M/G suffix); 0 = none: after a crash a key may come back "  \
    "with an older value")                                                                      \
  X(snapshot_size, uint64_t, util::BlocksOrAuto::kAuto, "--snapshot-size", "auto|SIZE",         \
    (util::BlocksOrAuto{kJournalBlock, kMinSnapshotSize, kMaxSnapshotSize}), "snapshot_size",   \
    "device region for the index snapshot a clean stop writes and a clean restart loads "       \
    "instead of scanning (auto = room for a full index, at most 1/8 of the slice, or what a "   \
    "formatted device holds; 0 = none: every restart scans)")                                   \
  X(journal_sync, JournalSync, JournalSync::kProcess, "--journal-sync", "process|device",       \
    (util::Choice<JournalSync>{{"process", JournalSync::kProcess},                              \
                               {"device", JournalSync::kDevice}}),                              \
    "journal_sync",                                                                             \
    "when a journal entry counts as committed: process = stored in the page cache (survives "   \
    "SIGKILL, no reply waits), device = written to the device first (survives power loss, an "  \
    "overwrite of an on-device key waits for a 4K write)")                                      \
  X(reinsert, bool, true, "--reinsert", "on|off",                                               \
    (util::Choice<bool>{{"on", true}, {"off", false}}), "reinsert",                             \
    "reinsertion at eviction: items read since written are copied forward instead of dropped "  \
    "when their slab is evicted, within --reinsert-share")                                      \
  X(reinsert_share, uint32_t, 20, "--reinsert-share", "PERCENT", (util::Integer{1, 100}),       \
    "reinsert_share",                                                                           \
    "reinsertion's budget: bytes copied forward at most this percentage of the bytes stored")   \
  X(compact, bool, true, "--compact", "on|off",                                                 \
    (util::Choice<bool>{{"on", true}, {"off", false}}), "compact",                              \
    "compaction of memory slabs: records superseded before their slab is written give their "   \
    "room to new ones instead of being written to the device dead")                             \
  X(admission, bool, false, "--admit", "on|off",                                                \
    (util::Choice<bool>{{"on", true}, {"off", false}}), "admit",                                \
    "admission: a key's first write waits in a DRAM probation slab (a quarter of -m) and "      \
    "reaches the device only when read or written again; -m/16 keeps the keys it dropped")      \
  X(small_max, uint32_t, 0, "--small-max", "BYTES", (util::Integer{0, kMaxSmallPayload}),       \
    "small_max",                                                                                \
    "experimental: items whose key + value take at most BYTES go to the small-object "          \
    "tier (4 KiB sets, ~1 byte of DRAM per item, no index entry); 0 = off; not finished "       \
    "(README, docs/design.md)")                                                                 \
  X(small_share, uint32_t, 25, "--small-share", "PERCENT",                                      \
    (util::Integer{kMinSmallShare, kMaxSmallShare}), "small_share",                             \
    "the share of a new device's slice the small-object tier's sets take (with "                \
    "--small-max; a formatted device keeps what it has)")

struct EngineOptions {
  SSDCACHE_ENGINE_OPTIONS(SSDCACHE_OPTION_MEMBER)
  // Set by the server, not options of their own: the device slice (-s I/N) recorded in the
  // superblock, and a hash of the kernel's boot id (0: unknown, counts as another boot): an
  // unclean process-mode run of another boot may have lost journal entries with the page cache.
  uint32_t instance = 0;
  uint32_t instances = 1;
  uint64_t boot_id = 0;
  // The small-object tier's sets, set by Engine::Create from --small-max and --small-share (or
  // what a formatted device records); 0: no tier.
  uint64_t small_sets = 0;
  // Which sealed slab is evicted next (eviction_policy.h). Only tests choose another order than
  // the seal order: the old one, to show that a test catches the defect it had.
  EvictionOrder eviction_order = EvictionOrder::kSeal;
};

// Calls v(member, util::OptionInfo, kind) for every row; `o` may be const.
template <typename Options, typename V>
void VisitEngineOptions(Options& o, V&& v){SSDCACHE_ENGINE_OPTIONS(SSDCACHE_OPTION_VISIT)}

// The combinations: enough memory slabs, -n within a slab, a profile that fits -n and the largest
// chunk, at most SlabClasses::kMaxClasses geometric classes (SlabClasses::Geometric decides).
// Returns "" or one line naming the flag most likely to be adjusted ("--factor: ...").
std::string CheckEngineOptions(const EngineOptions& o);

}  // namespace ssdcache::storage
