// Differential testing against Debian's memcached 1.6.18: a request stream is sent to memcached and
// to the target, and the replies must be equal byte for byte once the known allowed differences
// are normalised:
//   - cas uniques: only their equality pattern (per key) is compared;
//   - the VERSION line's version string;
//   - the space padding memcached leaves in a number that incr/decr shortened in place;
//   - meta return flags: cas uniques as run-wide ordinals, TTLs rounded to tens;
//   - stats are not in the stream.
// One defect of memcached 1.6.18 is corrected on the memcached side (see ArithOracle in
// differential.cc): incr/decr of a stored number >= 2^63 checks for a '-' with strchr() from the
// start of the item's data, which is not NUL-terminated, so the scan runs on into the rest of the
// slab chunk and the next item's header; a '-' byte there (leftover data, a pointer or a time)
// makes it answer "non-numeric" and leave the value unchanged, depending on memory layout (upstream
// fix ea92c6c01, memcached 1.6.22). The runner reads the item's cas before each incr/decr (me:
// no bump) and, when memcached refused the request and left the item as it was, reads the value
// (mg u); if memcached accepts that number when a NUL follows its data, the runner answers and
// stores (a set: flags and TTL kept, a new cas) what that memcached does. ma is not corrected.
// ssdcached reads only the value (protocol/numbers.h).
// Under SSDCACHE_TEST_TARGET=memcached the stream runs on two memcached instances (which also
// proves the stream and the normalisation are deterministic).
//
// Requests run in lockstep: each is sent followed by a "version" probe, and its reply is
// everything before the probe's VERSION line. That gives one reply per request for the diff, and
// lets a cas request use a cas unique seen earlier on the same server. A request the server
// answers by closing the connection gets the reply "<closed>", and the stream goes on on a new
// connection.
#pragma once

#include <string>
#include <vector>

#include "harness.h"

namespace ssdcache::integration {

// In a request's text, replaced by a cas unique the same server handed out earlier.
inline constexpr char kCasPlaceholder[] = "{CAS}";

enum class CasSource { kNone, kLast, kOldest, kOtherKey };

struct GenRequest {
  std::string text;  // may contain kCasPlaceholder
  CasSource cas = CasSource::kNone;
  std::string cas_key;
  std::string other_key;
  bool is_version = false;
  bool is_quit = false;
};

// One server's replies, one entry per request, normalised.
struct StreamRun {
  std::vector<std::string> replies;
  std::string failure;  // set if the run broke off
  // memcached only: incr/decr replies corrected for the defect described above.
  size_t oracle_fixes = 0;
};

// Starts `target` and runs `stream` on it.
StreamRun RunStream(Target target, const std::vector<GenRequest>& stream);

// Runs a fixed script (one request per entry, each sent in one write) on memcached and on the
// target and expects the same replies, request by request (call from a test body; skip the test
// first when /usr/bin/memcached is missing). With `last_closes`, the last request must make the
// server close the connection: its reply is whatever came before the close.
void ExpectScriptMatchesMemcached(const std::vector<std::string>& script, bool last_closes = false);

}  // namespace ssdcache::integration
