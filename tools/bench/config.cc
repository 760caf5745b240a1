#include "config.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <string_view>

#include "value.h"

namespace ssdcache::bench {

namespace {

struct FlagSpec {
  std::string_view name;
  std::string_view arg;  // empty for boolean flags
  std::string_view help;
};

// The one list --help prints and the parser accepts, so they cannot drift apart.
constexpr FlagSpec kFlags[] = {
    {"--server", "HOST:PORT",
     "server to load (repeatable; connections are spread round-robin). Required"},
    {"--num-conns", "N", "connections, default 1"},
    {"--conn-rate", "R", "new connections per second while ramping up; 0 = all at once (default)"},
    {"--num-calls", "N", "measured requests, then stop (with --duration: whichever comes first)"},
    {"--duration", "SECONDS", "measured seconds, default 10 when --num-calls is not given"},
    {"--call-rate", "R",
     "requests per second overall, open loop on a fixed schedule (latency counts from the "
     "scheduled time); 0 = closed loop as fast as possible (default)"},
    {"--pipeline", "D", "requests outstanding per connection, default 1"},
    {"--method", "get|set|mixed", "request mix, default mixed"},
    {"--set-ratio", "R", "fraction of sets for --method mixed, default 0.1"},
    {"--sizes", "d<N>|u<MIN>,<MAX>",
     "value sizes: fixed or uniform, 1..1048576 bytes, default d100"},
    {"--key-space", "N", "keys are ids 0..N-1, default 10000"},
    {"--key-dist", "uniform|zipf:A", "key id distribution, default uniform"},
    {"--key-prefix", "P", "key prefix, default bench:"},
    {"--warmup", "SECONDS", "seconds of load before measuring, not counted; default 0"},
    {"--preload", "", "set every key of the key space once before measuring (pipelined)"},
    {"--verify", "",
     "self-checking values: a get reply with another key's value, a bad length or a bad checksum "
     "counts as wrong_value (exit status 1); values must be at least 24 bytes"},
    {"--json", "FILE", "also write the summary as JSON to FILE"},
    {"--timeout", "MS", "per-request timeout in milliseconds, default 1000"},
    {"--quiet", "", "no per-second progress on stderr"},
    {"--seed", "N", "random seed, default 1"},
    {"--help", "", "this text"},
};

std::string Bad(std::string_view flag, std::string_view why) {
  return fmt::format("{}: {}", flag, why);
}

bool ParseU64(std::string_view text, uint64_t min, uint64_t max, uint64_t* out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max)
    return false;
  *out = value;
  return true;
}

bool ParseDouble(std::string_view text, double min, double max, double* out) {
  if (text.empty() || text[0] == '+' || text[0] == ' ') return false;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value) ||
      value < min || value > max)
    return false;
  *out = value;
  return true;
}

bool ParseServer(std::string_view text, ServerAddr* out) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {  // [IPv6]:PORT
    const size_t close = text.find("]:");
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;
  }
  uint64_t port_value = 0;
  if (host.empty() || !ParseU64(port, 1, 65535, &port_value)) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '_';
    if (!ok) return false;
  }
  out->host = std::string(host);
  out->port = static_cast<uint16_t>(port_value);
  return true;
}

}  // namespace

std::string ServerAddr::ToString() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

int Config::KeyWidth() const {
  int width = 1;
  for (uint64_t v = key_space > 0 ? key_space - 1 : 0; v >= 10; v /= 10) ++width;
  return width;
}

std::string Config::MethodString() const {
  switch (method) {
    case Method::kGet:
      return "get";
    case Method::kSet:
      return "set";
    case Method::kMixed:
      return fmt::format("mixed (set ratio {})", set_ratio);
  }
  return "?";
}

std::string HelpText() {
  std::string text =
      "ssdcache-bench: load generator for memcached ASCII servers (single thread, epoll).\n"
      "Usage: ssdcache-bench --server HOST:PORT [flags]\n\n";
  // Descriptions wrap at 100 columns, aligned after the flag column.
  constexpr size_t kIndent = 37;
  constexpr size_t kWidth = 100;
  for (const FlagSpec& flag : kFlags) {
    const std::string left =
        flag.arg.empty() ? std::string(flag.name) : fmt::format("{} {}", flag.name, flag.arg);
    std::string line = fmt::format("  {:<34} ", left);
    std::string_view rest = flag.help;
    while (!rest.empty()) {
      const size_t space = rest.find(' ');
      const std::string_view word = rest.substr(0, space);
      rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
      if (line.size() > kIndent && line.size() + 1 + word.size() > kWidth) {
        text += line + "\n";
        line = std::string(kIndent, ' ');
      } else if (line.size() > kIndent) {
        line += ' ';
      }
      line += word;
    }
    text += line + "\n";
  }
  text +=
      "\nA one-line progress report goes to stderr every second; the summary goes to stdout.\n"
      "Exit status: 0 success; 1 if any wrong_value was seen, nothing succeeded or the run\n"
      "stalled; 2 on bad flags.\n";
  return text;
}

ParseOutcome ParseArgs(int argc, const char* const* argv, Config* config, std::string* error) {
  Config c;
  bool set_ratio_given = false;
  bool sizes_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name == "-h") name = "--help";
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& flag : kFlags) {
      if (flag.name == name) spec = &flag;
    }
    if (spec == nullptr) {
      *error = arg.starts_with("-") ? fmt::format("{}: unknown flag (see --help)", name)
                                    : fmt::format("{}: unexpected argument (see --help)", arg);
      return ParseOutcome::kError;
    }
    if (spec->arg.empty()) {
      if (has_value) {
        *error = Bad(name, "takes no value");
        return ParseOutcome::kError;
      }
    } else if (!has_value) {
      if (i + 1 >= argc) {
        *error = Bad(name, fmt::format("missing value {}", spec->arg));
        return ParseOutcome::kError;
      }
      value = argv[++i];
    }

    uint64_t u = 0;
    std::string why;
    const auto fail = [&](std::string_view expected) {
      *error = Bad(name, fmt::format("expected {}, got '{}'", expected, value));
      return ParseOutcome::kError;
    };
    if (name == "--help") {
      return ParseOutcome::kHelp;
    } else if (name == "--server") {
      ServerAddr server;
      if (!ParseServer(value, &server)) return fail("HOST:PORT with a port in 1..65535");
      c.servers.push_back(server);
    } else if (name == "--num-conns") {
      if (!ParseU64(value, 1, kMaxConns, &u))
        return fail(fmt::format("an integer in 1..{}", kMaxConns));
      c.num_conns = static_cast<uint32_t>(u);
    } else if (name == "--conn-rate") {
      if (!ParseDouble(value, 0, 1e6, &c.conn_rate)) return fail("a rate in 0..1000000");
    } else if (name == "--num-calls") {
      if (!ParseU64(value, 1, uint64_t{1} << 50, &c.num_calls)) return fail("a positive integer");
    } else if (name == "--duration") {
      if (!ParseDouble(value, 0.001, 1e6, &c.duration_s) || c.duration_s <= 0)
        return fail("seconds in (0, 1000000]");
    } else if (name == "--call-rate") {
      if (!ParseDouble(value, 0, 1e9, &c.call_rate)) return fail("a rate in 0..1e9");
    } else if (name == "--pipeline") {
      if (!ParseU64(value, 1, kMaxPipeline, &u))
        return fail(fmt::format("an integer in 1..{}", kMaxPipeline));
      c.pipeline = static_cast<uint32_t>(u);
    } else if (name == "--method") {
      if (value == "get") {
        c.method = Method::kGet;
      } else if (value == "set") {
        c.method = Method::kSet;
      } else if (value == "mixed") {
        c.method = Method::kMixed;
      } else {
        return fail("get, set or mixed");
      }
    } else if (name == "--set-ratio") {
      if (!ParseDouble(value, 0, 1, &c.set_ratio)) return fail("a fraction in [0, 1]");
      set_ratio_given = true;
    } else if (name == "--sizes") {
      if (!ParseSizes(value, &c.sizes, &why)) {
        *error = Bad(name, why);
        return ParseOutcome::kError;
      }
      sizes_given = true;
    } else if (name == "--key-space") {
      if (!ParseU64(value, 1, kMaxKeySpace, &c.key_space))
        return fail(fmt::format("an integer in 1..{}", kMaxKeySpace));
    } else if (name == "--key-dist") {
      if (!ParseKeyDist(value, &c.key_dist, &why)) {
        *error = Bad(name, why);
        return ParseOutcome::kError;
      }
    } else if (name == "--key-prefix") {
      c.key_prefix = std::string(value);
      for (char ch : c.key_prefix) {
        if (ch <= ' ' || ch > '~') return fail("printable characters without spaces");
      }
    } else if (name == "--warmup") {
      if (!ParseDouble(value, 0, 1e6, &c.warmup_s)) return fail("seconds in [0, 1000000]");
    } else if (name == "--preload") {
      c.preload = true;
    } else if (name == "--verify") {
      c.verify = true;
    } else if (name == "--json") {
      if (value.empty()) return fail("a file name");
      c.json_path = std::string(value);
    } else if (name == "--timeout") {
      if (!ParseU64(value, 1, 600000, &u)) return fail("milliseconds in 1..600000");
      c.timeout_ms = static_cast<uint32_t>(u);
    } else if (name == "--quiet") {
      c.quiet = true;
    } else if (name == "--seed") {
      if (!ParseU64(value, 0, UINT64_MAX, &c.seed)) return fail("an unsigned integer");
    }
  }

  if (c.servers.empty()) {
    *error = "--server: at least one HOST:PORT is required";
    return ParseOutcome::kError;
  }
  if (set_ratio_given && c.method != Method::kMixed) {
    *error = "--set-ratio: only applies to --method mixed";
    return ParseOutcome::kError;
  }
  if (c.verify && c.sizes.min < kValueHeaderSize) {
    *error = fmt::format("--sizes: --verify needs values of at least {} bytes, got {}{}",
                         kValueHeaderSize, c.sizes.ToString(), sizes_given ? "" : " (the default)");
    return ParseOutcome::kError;
  }
  if (c.key_prefix.size() + static_cast<size_t>(c.KeyWidth()) > 250) {
    *error = fmt::format("--key-prefix: prefix plus {} key digits exceeds memcached's 250 bytes",
                         c.KeyWidth());
    return ParseOutcome::kError;
  }
  if (c.num_calls == 0 && c.duration_s == 0) c.duration_s = kDefaultDurationS;
  *config = std::move(c);
  return ParseOutcome::kRun;
}

}  // namespace ssdcache::bench
