// A parsed memcached ASCII request. Views point into the connection's read buffer and stay valid
// only until the connection consumes the bytes the parser reported; nothing here owns memory except
// the key vector and the decoded meta key, whose capacities are reused from request to request (no
// allocation once warm).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ssdcache::protocol {

enum class Command : uint8_t {
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kIncr,
  kDecr,
  kDelete,
  kTouch,
  kFlushAll,
  kVersion,
  kVerbosity,
  kQuit,
  kStats,
  kShutdown,      // stats_arg holds its mode ("", "graceful", ...)
  kLruCrawler,    // stats_arg holds its subcommand and arguments
  kRefreshCerts,  // stats_arg holds the rest of the line ("noreply")
  // memcached 1.6 meta commands: mg ms md ma mn me.
  kMetaGet,
  kMetaSet,
  kMetaDelete,
  kMetaArithmetic,
  kMetaNoop,
  kMetaDebug,
};

// The flags of a meta command (mg ms md ma me). Flags are single letters, some followed by a token;
// replies echo the return flags in request order and T/N take effect at their position (a 't'
// before a 'T' reports the old TTL, as memcached does), so the letters are kept in order.
struct MetaRequest {
  // memcached refuses a meta line of more than 19 tokens (command and key included).
  static constexpr size_t kMaxFlags = 17;

  char order[kMaxFlags] = {};  // flag letters as sent (each appears at most once)
  uint8_t count = 0;
  uint64_t present = 0;  // bit per letter, see Has()

  bool base64 = false;        // b: the key was sent base64-encoded; keys[0] is the decoded key
  bool quiet = false;         // q
  bool value = false;         // v
  bool invalidate = false;    // I
  char mode = 0;              // M<mode> (ms: E A P R S; ma: I + D -), 0 when absent
  int64_t ttl = 0;            // T<ttl>, exptime as memcached reads it (32-bit, may be negative)
  int64_t vivify_ttl = 0;     // N<ttl>
  int64_t recache_ttl = 0;    // R<ttl>
  uint32_t client_flags = 0;  // F<flags> (ms)
  uint64_t compare_cas = 0;   // C<cas>
  uint64_t delta = 1;         // D<delta> (ma)
  uint64_t initial = 0;       // J<initial> (ma)
  std::string_view opaque;    // O<opaque>: the whole token, 'O' included (echoed as is)
  // ms whose data block is larger than the server takes: the line was consumed, the block is not;
  // the connection answers, drops the key's old value (as memcached does) and swallows the block.
  bool too_large = false;
  uint64_t swallow = 0;
  // A binary-protocol request (protocol/binary.h): its opcode and opaque, for its replies.
  bool binary = false;
  uint8_t bin_opcode = 0;
  uint32_t bin_opaque = 0;
  // Decoded binary key (b); keys[0] points here. Its capacity is reused from request to request.
  std::string key_buf;

  static constexpr int Bit(char c) {
    return c >= 'a' && c <= 'z' ? c - 'a' : (c >= 'A' && c <= 'Z' ? 26 + c - 'A' : -1);
  }
  bool Has(char c) const {
    const int bit = Bit(c);
    return bit >= 0 && ((present >> bit) & 1) != 0;
  }

  void Clear() {
    count = 0;
    present = 0;
    base64 = quiet = value = invalidate = false;
    mode = 0;
    ttl = vivify_ttl = recache_ttl = 0;
    client_flags = 0;
    compare_cas = 0;
    delta = 1;
    initial = 0;
    opaque = {};
    too_large = false;
    swallow = 0;
    binary = false;
    bin_opcode = 0;
    bin_opaque = 0;
    key_buf.clear();
  }
};

struct Request {
  Command cmd = Command::kGet;
  // get/gets/gat/gats: every key of this chunk of the line. Other keyed commands: exactly one key.
  std::vector<std::string_view> keys;
  uint32_t flags = 0;       // storage commands: client flags (32-bit)
  int64_t exptime = 0;      // storage, touch, gat/gats: exptime, cut to signed 32 bits (memcached)
  uint32_t bytes = 0;       // storage commands: declared data length
  uint64_t cas_unique = 0;  // cas
  uint64_t delta = 0;       // incr/decr
  int64_t delay = 0;        // flush_all: delay in seconds when has_delay (signed 32 bits)
  bool has_delay = false;   // flush_all
  uint32_t verbosity = 0;   // verbosity: the level
  bool noreply = false;     // the trailing "noreply" token was present
  std::string_view data;    // storage commands: the data block without its trailing "\r\n"
  std::string_view stats_arg;  // stats, shutdown, lru_crawler: the rest of the line ("" for none)
  // get family only: true when this chunk ends before the line does (a multi-get longer than the
  // line limit is served as its keys arrive); the final chunk of the line has more_keys == false.
  bool more_keys = false;
  // Meta commands only.
  MetaRequest meta;

  void Clear() {
    keys.clear();
    flags = 0;
    exptime = 0;
    bytes = 0;
    cas_unique = 0;
    delta = 0;
    delay = 0;
    has_delay = false;
    verbosity = 0;
    noreply = false;
    data = {};
    stats_arg = {};
    more_keys = false;
    meta.Clear();
  }
};

}  // namespace ssdcache::protocol
