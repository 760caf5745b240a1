// A parsed memcached ASCII request. Views point into the connection's read buffer and stay valid
// only until the connection consumes the bytes the parser reported; nothing here owns memory except
// the key vector, whose capacity is reused from request to request (no allocation once warm).
#pragma once

#include <cstdint>
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
};

struct Request {
  Command cmd = Command::kGet;
  // get/gets/gat/gats: every key of this chunk of the line. Other keyed commands: exactly one key.
  std::vector<std::string_view> keys;
  uint32_t flags = 0;        // storage commands: client flags (32-bit)
  int64_t exptime = 0;       // storage, touch, gat/gats: exptime exactly as sent (may be negative)
  uint32_t bytes = 0;        // storage commands: declared data length
  uint64_t cas_unique = 0;   // cas
  uint64_t delta = 0;        // incr/decr
  int64_t delay = 0;         // flush_all: delay in seconds when has_delay
  bool has_delay = false;    // flush_all
  uint32_t verbosity = 0;    // verbosity: the level
  bool noreply = false;      // the trailing "noreply" token was present
  std::string_view data;     // storage commands: the data block without its trailing "\r\n"
  std::string_view stats_arg;  // stats: the rest of the line after "stats " ("" for plain stats)
  // get family only: true when this chunk ends before the line does (a multi-get longer than the
  // line limit is served as its keys arrive); the final chunk of the line has more_keys == false.
  bool more_keys = false;

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
  }
};

}  // namespace ssdcache::protocol
