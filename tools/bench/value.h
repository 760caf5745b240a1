// Self-checking values for --verify: every value stored by the tool starts with a header naming
// its key id, a version and its length, and a CRC32C over everything after the checksum, so a get
// reply can be checked against the key it was asked for without keeping any per-key state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace ssdcache::bench {

// Layout, host byte order (the same tool writes and reads):
//   [0,4) magic  [4,8) crc32c of [8, length)  [8,16) key id  [16,20) version  [20,24) length
inline constexpr size_t kValueHeaderSize = 24;
inline constexpr size_t kValueCrcStart = 8;
inline constexpr uint32_t kValueMagic = 0x31424353;  // "SCB1"

enum class VerifyResult {
  kOk,
  kTooShort,     // shorter than the header
  kBadMagic,     // not written by this tool (or its first bytes were damaged)
  kWrongKey,     // a well-formed value of another key
  kBadLength,    // the header's length differs from the length the server returned
  kBadChecksum,  // damaged somewhere after the magic
};

std::string_view VerifyResultName(VerifyResult result);

// Payload bytes come from one preallocated random buffer, read at an offset that depends on key
// id and version, so values differ between keys and versions without generating bytes per set.
class Filler {
 public:
  static constexpr size_t kSlack = 256;
  explicit Filler(size_t max_size, uint64_t seed);
  const char* data() const { return bytes_.get(); }
  // max_size + kSlack bytes, so any offset below kSlack leaves max_size readable bytes.
  size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> bytes_;
  size_t size_;
};

// Writes a verifiable value of `len` >= kValueHeaderSize bytes into out.
void EncodeValue(char* out, size_t len, uint64_t key_id, uint32_t version, const Filler& filler);

// Checks a value from its first bytes (`head`, up to kValueHeaderSize of them; fewer only when the
// value itself is shorter), its total length and the CRC32C of bytes [kValueCrcStart, len), which
// the reply parser computes while the value streams by.
VerifyResult CheckValue(const unsigned char* head, size_t head_len, size_t len, uint32_t tail_crc,
                        uint64_t expected_key_id);

// Whole-buffer convenience over CheckValue.
VerifyResult VerifyValue(const char* value, size_t len, uint64_t expected_key_id);

// Version carried by a value that passed CheckValue (for diagnostics).
uint32_t ValueVersion(const unsigned char* head);

}  // namespace ssdcache::bench
