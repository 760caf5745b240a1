// Incremental parser for memcached ASCII replies to single-key get and set: it takes the byte
// stream in chunks of any size, keeps only one line and the first bytes of a value, and
// checksums values as they stream by, so a connection needs no buffer the size of its replies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "value.h"

namespace ssdcache::bench {

enum class ReplyKind : uint8_t {
  kNone,  // no complete reply yet
  kHit,   // VALUE ... END
  kMiss,  // END alone
  kStored,
  kNotStored,
  kExists,
  kNotFound,
  kError,          // ERROR
  kClientError,    // CLIENT_ERROR <message>
  kServerError,    // SERVER_ERROR <message>
  kProtocolError,  // bytes that are not a reply we understand; the stream is lost
};

std::string_view ReplyKindName(ReplyKind kind);

struct Reply {
  ReplyKind kind = ReplyKind::kNone;
  // The views below point into the parser and stay valid until the next Feed or Reset.
  std::string_view key;                 // kHit
  uint32_t flags = 0;                   // kHit
  uint64_t length = 0;                  // kHit: value bytes
  const unsigned char* head = nullptr;  // kHit: the first head_len bytes of the value
  size_t head_len = 0;
  uint32_t tail_crc = 0;     // kHit, checksumming parsers: CRC32C of value[kValueCrcStart..)
  std::string_view message;  // errors: the server's text (truncated); kProtocolError: why
};

class ReplyParser {
 public:
  // Longest line accepted; memcached's VALUE line with a 250-byte key is under 300 bytes.
  static constexpr size_t kMaxLine = 1024;
  static constexpr size_t kMaxKey = 250;
  // A VALUE longer than this is garbage rather than a value, and would stall the stream.
  static constexpr uint64_t kMaxValueLength = 128ULL << 20;

  explicit ReplyParser(bool checksum) : checksum_(checksum) {}

  // Consumes bytes up to the end of at most one reply and returns how many. When a reply
  // completes *out describes it; otherwise out->kind is kNone and all of [data, data + len) was
  // consumed. After kProtocolError the parser stays broken until Reset.
  size_t Feed(const char* data, size_t len, Reply* out);
  void Reset();
  bool broken() const { return state_ == State::kBroken; }
  // True between replies: no partial reply is buffered.
  bool idle() const { return state_ == State::kLine && line_len_ == 0; }

 private:
  enum class State : uint8_t { kLine, kData, kDataEnd, kEndLine, kBroken };

  // Handles one complete line (without CRLF); returns true if it completed a reply.
  bool OnLine(std::string_view line, Reply* out);
  bool ParseValueLine(std::string_view line);
  bool Fail(std::string_view why, Reply* out);
  void TakeData(const char* data, size_t n);

  bool checksum_;
  State state_ = State::kLine;
  char line_[kMaxLine];
  size_t line_len_ = 0;
  char key_[kMaxKey];
  size_t key_len_ = 0;
  uint32_t flags_ = 0;
  uint64_t length_ = 0;
  uint64_t received_ = 0;  // value bytes consumed so far
  unsigned char head_[kValueHeaderSize];
  uint32_t crc_ = 0;
  size_t crlf_seen_ = 0;  // bytes of the CRLF after a value
  char message_[128];
  size_t message_len_ = 0;
};

}  // namespace ssdcache::bench
