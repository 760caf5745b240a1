// Values the simulator stores: each names its key and version, carries the exptime it was stored
// with, and a checksum over all of it, so any value the engine returns is identified exactly (which
// store made it) or recognized as corrupt.
//
//   | magic u32 | key u32 | version u64 | exptime u32 | size u32 | crc32c u32 | filler ... |
//
// The filler is a function of (key, version), and the CRC covers the header (crc field 0) and the
// filler, so a torn, stale or foreign value never decodes as a valid one of another version.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ssdcache::sim {

inline constexpr uint32_t kValueMagic = 0x53494D56;  // "SIMV"
inline constexpr size_t kValueHeaderSize = 28;

struct ValueId {
  uint32_t key = 0;
  uint64_t version = 0;
  uint32_t exptime = 0;
};

// Writes a value of `size` bytes (at least kValueHeaderSize) into `out`, reusing its capacity.
void EncodeValue(const ValueId& id, size_t size, std::string& out);
// Decodes and verifies a value; false (with a one-line `why`) when it is not one EncodeValue made.
bool DecodeValue(std::string_view value, ValueId& id, std::string& why);
// The flags a version is stored with (checked on every hit, as a second witness of identity).
uint32_t FlagsFor(const ValueId& id);

}  // namespace ssdcache::sim
