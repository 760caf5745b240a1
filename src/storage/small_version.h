// A key's version in the small-object tier (small_tier.h), as a lookup answered it: what an
// optimistic read-modify-write hands back to SmallTier::InsertIf()/EraseIf()/Changed(), and what
// the engine keeps in a tier location (IndexEntry::small_version). Plain data, so that index.h
// can hold one without the tier.
#pragma once

#include <cstdint>

namespace ssdcache::storage {

// InsertIf()/EraseIf() store only if the key cannot have changed since (small_tier_versions.cc;
// the rule is in small_tier.h's header comment, "Versions").
struct SmallTierVersion {
  uint64_t wseq = 0;     // the record the answer came from (a tombstone too); 0: none
  uint32_t flushes = 0;  // FlushBelow() calls that raised the floor, as of the answer
  uint16_t gen = 0;      // the rewrite generation of the key's set group, as of the answer
  bool in_log = false;   // the log answered (wseq is its record's)
  bool present = false;  // a live record: the answer was a hit
  // A set's answer from a slot with a hit bit: the bit keeps its fetched mark (no marks copy).
  bool hit_bit = false;
  bool operator==(const SmallTierVersion&) const = default;
};

}  // namespace ssdcache::storage
