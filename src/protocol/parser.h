// Incremental parser for the memcached ASCII protocol (memcached's doc/protocol.txt). Pure: it
// touches no socket and no storage; it looks at the unconsumed bytes of a connection and reports
// one request, "need more bytes", or an error with the exact reply memcached sends.
//
// Invariants:
//  - Parse() never reads outside `input` and never trusts a length from the wire: a declared data
//    length is checked against the limits before the parser waits for that many bytes.
//  - `consumed` bytes may be dropped by the caller; views in Request point into `input`.
//  - A storage command is only reported kOk when its whole data block (+ "\r\n") is in `input`.
//  - Lines are terminated by "\n" (a preceding "\r" is stripped), as memcached accepts. As in
//    memcached, which handles a line as a C string, a NUL byte ends the line's content.
//  - The only state kept between calls is the continuation of a get-family line longer than
//    max_line (see more_keys), including dropping the rest of such a line once it has been
//    answered (an error, or a NUL): feeding the same bytes split at any boundary yields the same
//    requests and replies, except that such a long line is delivered in chunks that depend on the
//    split (same keys, same order) and that a bad key in it only fails the chunks not yet served.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/request.h"

namespace ssdcache::protocol {

struct ParserLimits {
  // Longest command line without its "\n" (get family excepted): memcached parses any line that
  // fits its 16 KiB read buffer, newline included, and closes when that much has no newline.
  size_t max_line = 16 * 1024 - 1;
  uint32_t max_value = 1024 * 1024;  // largest data block a storage command may declare
  size_t max_key = 250;              // memcached's KEY_MAX_LENGTH
};

enum class ParseStatus : uint8_t {
  kOk,        // `req` holds one request; drop `consumed` bytes
  kNeedMore,  // nothing consumed; call again when more bytes have arrived
  kError,     // send `reply` (unless empty), drop `consumed`, then swallow `swallow` more bytes
              // from the stream as they arrive; close the connection after the reply if `close`
};

struct ParseOutcome {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;
  std::string_view reply;  // complete reply line including "\r\n", e.g. "ERROR\r\n"
  uint64_t swallow = 0;
  bool close = false;
  // kError of a storage command whose value is too large for any item (`reply` says so unless
  // noreply): memcached's set also drops the key's old value then.
  bool too_large = false;
};

// Meta commands (memcached 1.6: mg ms md ma mn me), implemented in meta_parser.cc. Parser::Parse
// hands over a complete line whose command token is a meta command name: `text` is the line without
// its terminator and occupies the first `line_bytes` bytes of `input` (an ms data block follows).
bool IsMetaCommand(std::string_view name);
ParseOutcome ParseMeta(std::string_view input, std::string_view text, size_t line_bytes,
                       const ParserLimits& limits, Request& req);

class Parser {
 public:
  explicit Parser(ParserLimits limits = {}) : limits_(limits) {}

  // Parses at most one request from the front of `input` (the unconsumed bytes of a connection).
  ParseOutcome Parse(std::string_view input, Request& req);

  const ParserLimits& limits() const { return limits_; }

 private:
  ParserLimits limits_;
  // Continuation of a multi-get longer than max_line: the command and gat's exptime.
  bool in_multiget_ = false;
  Command multiget_cmd_ = Command::kGet;
  int64_t multiget_exptime_ = 0;
  // The rest of a long multi-get line is dropped up to its newline (reported as kError with an
  // empty reply) after the line was answered before its newline arrived.
  bool skip_line_ = false;
};

}  // namespace ssdcache::protocol
