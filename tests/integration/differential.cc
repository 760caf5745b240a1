// The differential runner: lockstep requests, normalisation (see differential.h).
#include "differential.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace ssdcache::integration {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

class Normaliser {
 public:
  // Rewrites one request's reply: cas -> per-key ordinal, version string dropped, spaces (padding)
  // dropped from values. Records the raw cas values seen per key for later cas requests.
  std::string Normalise(const std::string& reply) {
    std::string out;
    size_t pos = 0;
    while (pos < reply.size()) {
      size_t eol = reply.find('\n', pos);
      if (eol == std::string::npos) eol = reply.size() - 1;
      std::string line = reply.substr(pos, eol + 1 - pos);
      pos = eol + 1;
      if (StartsWith(line, "VERSION ")) {
        out += "VERSION <v>\r\n";
        continue;
      }
      if (StartsWith(line, "HD") || StartsWith(line, "VA ")) {
        out += NormaliseMeta(line);
        continue;
      }
      if (!StartsWith(line, "VALUE ")) {
        out += line;
        continue;
      }
      std::istringstream fields(line.substr(6));
      std::string key, flags, bytes, cas;
      fields >> key >> flags >> bytes >> cas;
      // The data line (values in the stream never contain "\n").
      size_t data_end = reply.find('\n', pos);
      if (data_end == std::string::npos) data_end = reply.size() - 1;
      std::string data = reply.substr(pos, data_end + 1 - pos);
      pos = data_end + 1;
      if (data.size() >= 2) data.resize(data.size() - 2);
      std::string squeezed;
      for (char c : data) {
        if (c != ' ') squeezed += c;
      }
      out += "VALUE " + key + " " + flags + " " + std::to_string(squeezed.size());
      if (!cas.empty()) {
        uint64_t raw = std::strtoull(cas.c_str(), nullptr, 10);
        auto& seen = cas_seen_[key];
        auto& ordinal = cas_ordinal_[key];
        if (!ordinal.count(raw)) {
          ordinal[raw] = ordinal.size();
          seen.push_back(raw);
        }
        last_cas_[key] = raw;
        out += " c" + std::to_string(ordinal[raw]);
      }
      out += "\r\n" + squeezed + "\r\n";
    }
    return out;
  }

  // A meta reply line: return flags c<cas> become run-wide ordinals and t<seconds> (positive) is
  // rounded to tens ("t~10" for 95..104 s), since a second may tick between request and reply on
  // one server and not on the other: scripts use TTLs that are multiples of ten.
  std::string NormaliseMeta(const std::string& line) {
    std::string out;
    size_t pos = 0;
    while (pos < line.size()) {
      size_t end = line.find_first_of(" \r", pos);
      if (end == std::string::npos) end = line.size();
      std::string token = line.substr(pos, end - pos);
      const bool numeric =
          token.size() > 1 && token.find_first_not_of("0123456789", 1) == std::string::npos;
      if (numeric && token[0] == 'c') {
        const uint64_t raw = std::strtoull(token.c_str() + 1, nullptr, 10);
        meta_cas_.emplace(raw, meta_cas_.size());
        token = "c#" + std::to_string(meta_cas_[raw]);
      } else if (numeric && token[0] == 't' && token != "t0") {
        token = "t~" + std::to_string((std::strtoull(token.c_str() + 1, nullptr, 10) + 5) / 10);
      }
      out += token;
      if (end < line.size()) out += line[end];
      pos = end + 1;
    }
    return out;
  }

  // The cas unique a generated cas request uses on this server.
  std::string CasFor(const GenRequest& r) {
    constexpr uint64_t kNeverIssued = 999999999999ULL;
    switch (r.cas) {
      case CasSource::kLast: {
        auto it = last_cas_.find(r.cas_key);
        return std::to_string(it == last_cas_.end() ? kNeverIssued : it->second);
      }
      case CasSource::kOldest: {
        auto it = cas_seen_.find(r.cas_key);
        return std::to_string(it == cas_seen_.end() || it->second.empty() ? kNeverIssued + 1
                                                                          : it->second.front());
      }
      case CasSource::kOtherKey: {
        auto it = last_cas_.find(r.other_key);
        return std::to_string(it == last_cas_.end() ? kNeverIssued + 2 : it->second);
      }
      case CasSource::kNone:
        break;
    }
    return "0";
  }

 private:
  std::map<std::string, std::vector<uint64_t>> cas_seen_;
  std::map<std::string, std::map<uint64_t, size_t>> cas_ordinal_;
  std::map<std::string, uint64_t> last_cas_;
  std::map<uint64_t, size_t> meta_cas_;
};

// memcached 1.6.18's safe_strtoull on `text` up to its first NUL: the number, or nullopt.
std::optional<uint64_t> SafeStrtoull(const std::string& text) {
  const char* str = text.c_str();
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(str, &end, 10);
  if (errno == ERANGE || end == str) return std::nullopt;
  if (std::isspace(static_cast<unsigned char>(*end)) == 0 && *end != '\0') return std::nullopt;
  // The check that memcached runs past an item's data (see differential.h).
  if (static_cast<int64_t>(v) < 0 && std::strchr(str, '-') != nullptr) return std::nullopt;
  return v;
}

// The memcached side of an incr/decr (see differential.h, the corrected defect).
class ArithOracle {
 public:
  // False when `text` is no incr/decr of a key a probe can read.
  bool Parse(const std::string& text) {
    std::istringstream line(text.substr(0, text.find('\n')));
    std::vector<std::string> t;
    for (std::string token; line >> token;) t.push_back(token);
    if (t.size() < 3 || t.size() > 4 || (t[0] != "incr" && t[0] != "decr")) return false;
    if (t[1].size() > 250) return false;
    incr_ = t[0] == "incr";
    key_ = t[1];
    delta_ = t[2];
    noreply_ = t.size() == 4 && t[3] == "noreply";
    return true;
  }

  // Before the request: the item's cas (me reads it without bumping or marking the item).
  bool ProbeBefore(Client& client) { return CasOf(client, cas_before_); }

  // After the request's reply: if memcached refused a number only because of what follows the
  // item's data, stores what memcached does when a NUL follows it (a number that fits is rewritten
  // in place, padded with spaces; the cas changes, flags and expiry stay) and returns its reply.
  std::optional<std::string> Correct(Client& client, const std::string& reply) {
    const std::string non_numeric =
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
    if (!cas_before_ || reply != (noreply_ ? "" : non_numeric)) return std::nullopt;
    const std::optional<uint64_t> delta = SafeStrtoull(delta_);
    std::optional<uint64_t> cas_after;
    // Unchanged (a noreply request may have been applied): memcached refused it.
    if (!delta || !CasOf(client, cas_after) || cas_after != cas_before_) return std::nullopt;
    // The value, flags and TTL (mg u neither bumps the item nor marks it fetched; on a stale item
    // it would hand out the win token, which no script does here).
    if (!client.Send("mg " + key_ + " f t v u\r\n")) return std::nullopt;
    std::istringstream head(client.ReadLine());
    std::string va;
    size_t size = 0;
    uint64_t flags = 0;
    int64_t ttl = -1;
    if (!(head >> va >> size) || va != "VA") return std::nullopt;
    for (std::string f; head >> f;) {
      if (f[0] == 'f') flags = std::strtoull(f.c_str() + 1, nullptr, 10);
      if (f[0] == 't') ttl = std::strtoll(f.c_str() + 1, nullptr, 10);
    }
    std::string data = client.ReadExact(size + 2);
    if (data.size() != size + 2) return std::nullopt;
    const std::string old_value = data.substr(0, size);
    const std::optional<uint64_t> value = SafeStrtoull(data.substr(0, data.find('\0')));
    if (!value || *value < (uint64_t{1} << 63)) return std::nullopt;  // memcached was right
    const uint64_t result = incr_ ? *value + *delta : *value < *delta ? 0 : *value - *delta;
    const std::string number = std::to_string(result);
    std::string stored = number;
    if (stored.size() < old_value.size()) stored.resize(old_value.size(), ' ');
    if (ttl < 0) ttl = 0;
    if (ttl > 60 * 60 * 24 * 30) ttl += std::time(nullptr);  // beyond 30 days: absolute
    if (!client.Send("set " + key_ + " " + std::to_string(flags) + " " + std::to_string(ttl) + " " +
                     std::to_string(stored.size()) + "\r\n" + stored + "\r\n") ||
        client.ReadLine() != "STORED\r\n") {
      return std::nullopt;
    }
    return noreply_ ? "" : number + "\r\n";
  }

 private:
  // `cas` nullopt: no such item. False when the reply was not understood.
  bool CasOf(Client& client, std::optional<uint64_t>& cas) {
    cas.reset();
    if (!client.Send("me " + key_ + "\r\n")) return false;
    const std::string line = client.ReadLine();
    if (line == "EN\r\n") return true;
    const size_t at = line.find(" cas=");
    if (!StartsWith(line, "ME ") || at == std::string::npos) return false;
    cas = std::strtoull(line.c_str() + at + 5, nullptr, 10);
    return true;
  }

  bool incr_ = true;
  bool noreply_ = false;
  std::string key_;
  std::string delta_;
  std::optional<uint64_t> cas_before_;
};

}  // namespace

StreamRun RunStream(Target target, const std::vector<GenRequest>& stream) {
  StreamRun run;
  ServerOptions options;
  options.target = target;
  ServerProcess server(options);
  auto started = server.Start();
  if (!started) {
    run.failure = std::string("cannot start ") + TargetName(target) + ": " + started.message();
    return run;
  }
  Client client;
  auto connected = client.Connect(server.port());
  if (!connected) {
    run.failure = connected.message();
    return run;
  }
  Normaliser norm;
  for (size_t i = 0; i < stream.size(); ++i) {
    const GenRequest& r = stream[i];
    std::string text = r.text;
    if (r.cas != CasSource::kNone) {
      text.replace(text.find(kCasPlaceholder), sizeof(kCasPlaceholder) - 1, norm.CasFor(r));
    }
    if (r.is_quit) {
      client.Send(text);
      std::string rest = client.ReadUntilClosed();
      run.replies.push_back(rest + (client.peer_closed() ? "<closed>" : "<not closed>"));
      break;
    }
    // memcached's arithmetic is checked for its defect (see differential.h).
    ArithOracle arith;
    const bool check_arith =
        target == Target::kMemcached && arith.Parse(text) && arith.ProbeBefore(client);
    if (!client.Send(text + "version\r\n")) {
      run.failure = "request " + std::to_string(i) + ": " + client.error();
      return run;
    }
    // Read up to the probe's VERSION line.
    int versions_left = r.is_version ? 2 : 1;
    std::string reply;
    bool reconnected = false;
    while (true) {
      std::string line = client.ReadLine();
      if (client.peer_closed()) {
        // The server closed the connection (an HTTP request line): that is the reply, and the
        // stream goes on on a new connection.
        run.replies.push_back(norm.Normalise(reply + line) + "<closed>");
        client = Client();
        connected = client.Connect(server.port());
        if (!connected) {
          run.failure = "reconnect after request " + std::to_string(i) + ": " + connected.message();
          return run;
        }
        reconnected = true;
        break;
      }
      if (!client.error().empty()) {
        run.replies.push_back(norm.Normalise(reply + line));
        run.failure = "request " + std::to_string(i) + " (" + Printable(text, 300) +
                      "): " + client.error() + " after " + Printable(reply + line, 500);
        return run;
      }
      if (StartsWith(line, "VERSION ") && --versions_left == 0) break;
      reply += line;
    }
    if (reconnected) continue;
    if (check_arith) {
      if (std::optional<std::string> fixed = arith.Correct(client, reply)) {
        reply = *fixed;
        ++run.oracle_fixes;
      }
    }
    run.replies.push_back(norm.Normalise(reply));
  }
  int status = server.Stop();
  if (!ExitedWithZero(status)) run.failure = "server " + DescribeStatus(status) + " on SIGTERM";
  return run;
}

void ExpectScriptMatchesMemcached(const std::vector<std::string>& script, bool last_closes) {
  std::vector<GenRequest> stream;
  for (const std::string& text : script) {
    GenRequest r;
    r.text = text;
    r.is_version = text.starts_with("version");
    stream.push_back(r);
  }
  stream.back().is_quit = last_closes;
  StreamRun reference = RunStream(Target::kMemcached, stream);
  ASSERT_TRUE(reference.failure.empty()) << "memcached: " << reference.failure;
  if (reference.oracle_fixes > 0) {
    std::cout << "[ INFO     ] memcached's incr/decr defect corrected " << reference.oracle_fixes
              << " time(s) (differential.h)\n";
  }
  StreamRun candidate = RunStream(CurrentTarget(), stream);
  ASSERT_TRUE(candidate.failure.empty())
      << TargetName(CurrentTarget()) << ": " << candidate.failure;
  ASSERT_EQ(candidate.replies.size(), reference.replies.size());
  for (size_t i = 0; i < stream.size(); ++i) {
    EXPECT_EQ(Printable(candidate.replies[i]), Printable(reference.replies[i]))
        << "request #" << i << ": " << Printable(stream[i].text);
  }
  if (last_closes) {
    EXPECT_TRUE(candidate.replies.back().ends_with("<closed>"));
  }
}

}  // namespace ssdcache::integration
