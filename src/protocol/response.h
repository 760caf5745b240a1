// A reply to one request (or, for a multi-get, to one of its keys), as data: what the server
// answers, before protocol/compose turns it into memcached's ASCII text. Views point into memory
// the caller owns (engine value views, the request's read buffer, static strings): a Response is
// composed at once, never kept, so building one copies and allocates nothing.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "protocol/request.h"

namespace ssdcache::protocol {

// A whole line, "\r\n" included: STORED, END, NOT_FOUND, errors, MN, VERSION ...
struct LineReply {
  std::string_view text;
};

// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" (get, gets, gat, gats).
struct ValueReply {
  std::string_view key;
  uint32_t flags = 0;
  std::string_view value;
  uint64_t cas = 0;
  bool with_cas = false;  // gets, gats
};

// "<digits>\r\n": the new value of incr/decr.
struct NumberReply {
  std::string_view digits;
};

// A meta reply (mg ms md ma): "<code>[ <flags>]\r\n", or "VA <size>[ <flags>]\r\n<data>\r\n".
// Flags follow the request's order: O (opaque) and k (key) are echoed by every reply, the other
// return flags only when `returns` holds their letter (MetaRequest::Bit) and the request asked.
struct MetaReply {
  std::string_view code;  // HD EN NF NS EX (unused when send_value)
  const MetaRequest* request = nullptr;
  std::string_view key;    // as decoded: re-encoded when the request's key was base64
  std::string_view value;  // s reports its size; sent when send_value
  bool send_value = false;
  uint64_t returns = 0;  // letters this reply may report, besides O and k
  uint64_t cas = 0;
  uint32_t client_flags = 0;
  int64_t ttl = -1;              // t: seconds left, -1: never expires
  uint32_t last_access_age = 0;  // l: seconds since the access before this one
  bool fetched = false;          // h
  bool token_sent = false;       // Z: another client won the recache
  bool stale = false;            // X
  bool won = false;              // W: this client won it

  static constexpr uint64_t Letters(std::string_view letters) {
    uint64_t bits = 0;
    for (char c : letters) bits |= uint64_t{1} << MetaRequest::Bit(c);
    return bits;
  }
};

// "ME <key> exp=<e> la=<s> cas=<c> fetch=<yes|no> cls=<n> size=<bytes>\r\n" (me).
struct MetaDebugReply {
  std::string_view key;
  bool base64 = false;
  int64_t exp = -1;  // now - exptime (negative while the item lives), -1: never expires
  uint32_t last_access_age = 0;
  uint64_t cas = 0;
  bool fetched = false;
  uint32_t slab_class = 0;  // counted from 1, as memcached's
  uint32_t size = 0;
};

using Response = std::variant<LineReply, ValueReply, NumberReply, MetaReply, MetaDebugReply>;

}  // namespace ssdcache::protocol
