// Command-line migration: a memcached 1.6 or fatcache command line runs ssdcached unchanged
// wherever the two agree. Where they give one letter two meanings, MigrateArgs() tells them apart
// by the shape of the argument and rewrites the flag into ssdcached's unambiguous long one before
// the option table (server/config.h) parses it; docs/operations.md has the table:
//
//   -o  NAME[=V],...  (a memcached extended option name, or any '=' or ',')  -> memcached's -o
//       anything else                                                         -> --log-file
//   -s  I/N (digits/digits)          -> --server-id      else -> --unix-socket PATH
//   -D  one punctuation character    -> --stats-delimiter  else -> --device PATH
//   -a  1-4 octal digits             -> --unix-mask      else -> --listen ADDR (fatcache)
//   -e  digits                       -> --hash-power     else -> --memory-file PATH
//   -i  followed by digits           -> --max-index-memory   else -> --license (takes no value)
//   -I  1..16 (MiB) as fatcache; a number >= 1024 or a suffixed size is bytes (memcached), and a
//       size that is no power of two is rounded up to one (noted)
//   -n  below 56: memcached's space for key + value (+ 48 bytes of header)  else the chunk size
//
// memcached's extended options are expanded: idle_timeout, hashpower and the ssl_* settings of
// -Z (ssl_chain_cert=PATH -> --ssl-chain-cert PATH, ...) become their flags;
// modern, no_modern, maxconns_fast and hash_algorithm=xxh3 ask for what ssdcached does anyway and
// are dropped; every other known name goes to --extended, which notes once that it has no
// effect; an unknown name is an error, as in memcached.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ssdcache::server {

struct MigratedArgs {
  std::vector<std::string> args;   // argv[0] first
  std::vector<std::string> notes;  // one-line warnings to log at start-up
  std::string error;               // non-empty: refuse the command line with this line
};

MigratedArgs MigrateArgs(int argc, const char* const* argv);

// Whether `name` is one of memcached 1.6.18's extended (-o) option names.
bool IsMemcachedExtendedOption(std::string_view name);

// memcached extended options that ssdcached accepts without effect (the --extended row): a list
// of NAME[=VALUE] separated by ',' or '\n', each NAME known to memcached.
struct ExtendedOptions {
  static constexpr bool kTakesValue = true;
  static constexpr bool kRepeats = true;
  bool Parse(std::string_view text, std::vector<std::string>& out, std::string& why) const;
  std::string Show(const std::vector<std::string>& v) const;
  std::string Stat(const std::vector<std::string>& v) const { return Show(v); }
  std::string Bounds() const { return "memcached's -o NAME[=VALUE],..."; }
  std::string Note(const std::vector<std::string>& v) const;
};

}  // namespace ssdcache::server
