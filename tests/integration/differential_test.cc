// Differential test: one generated request stream (fixed seed) is sent to memcached and to the
// target; the replies must be equal byte for byte once the known allowed differences are
// normalised:
//   - cas uniques: only their equality pattern (per key) is compared;
//   - the VERSION line's version string;
//   - the space padding memcached leaves in a number that incr/decr shortened in place;
//   - meta return flags: cas uniques as run-wide ordinals, TTLs rounded to tens;
//   - stats are not in the stream.
// Under SSDCACHE_TEST_TARGET=memcached the stream runs on two memcached instances (which also
// proves the stream and the normalisation are deterministic).
//
// Requests run in lockstep: each is sent followed by a "version" probe, and its reply is
// everything before the probe's VERSION line. That gives one reply per request for the diff, and
// lets a cas request use a cas unique seen earlier on the same server.
#include <unistd.h>

#include <ctime>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

constexpr int kRequests = 3000;
constexpr uint64_t kSeed = 20240601;
constexpr char kCasPlaceholder[] = "{CAS}";

enum class CasSource { kNone, kLast, kOldest, kOtherKey };

struct GenRequest {
  std::string text;  // may contain kCasPlaceholder
  CasSource cas = CasSource::kNone;
  std::string cas_key;
  std::string other_key;
  bool is_version = false;
  bool is_quit = false;
};

class Generator {
 public:
  Generator(uint64_t seed, long now) : rng_(seed), now_(now) {
    for (int i = 0; i < 12; ++i) keys_.push_back("d" + std::to_string(i));
    keys_.push_back("d" + std::string(249, 'L'));  // 250 bytes: the longest valid key
  }

  std::vector<GenRequest> Generate(int n) {
    std::vector<GenRequest> out;
    int too_large_left = 2;
    for (int i = 0; i < n; ++i) {
      GenRequest r;
      int kind = Pick(1000);  // per mille
      if (kind < 280) {
        r.text = Storage(Choice({"set", "set", "set", "add", "replace", "append", "prepend"}));
      } else if (kind < 340) {
        r = Cas();
      } else if (kind < 560) {
        r.text = Retrieval();
      } else if (kind < 690) {
        r.text = Arith();
      } else if (kind < 750) {
        r.text = "delete " + Key() + Choice({"", "", " 0"}) + Noreply() + "\r\n";
      } else if (kind < 800) {
        r.text = "touch " + Key() + " " + Exptime() + Noreply() + "\r\n";
      } else if (kind < 815) {
        r.text = "version\r\n";
        r.is_version = true;
      } else if (kind < 830) {
        r.text = "verbosity " + Choice({"0", "1"}) + Noreply() + "\r\n";
      } else if (kind < 835) {
        r.text = "flush_all" + Choice({"", " 0"}) + Noreply() + "\r\n";
      } else if (kind < 845 && too_large_left > 0) {
        --too_large_left;
        std::string big(2 << 20, 'b');
        r.text = "set " + Key() + " 0 0 " + std::to_string(big.size()) + Noreply() + "\r\n" + big +
                 "\r\n";
      } else {
        r.text = Error();
      }
      out.push_back(std::move(r));
    }
    GenRequest quit;
    quit.text = "quit\r\n";
    quit.is_quit = true;
    out.push_back(quit);
    return out;
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  std::string Choice(std::initializer_list<const char*> options) {
    auto it = options.begin();
    std::advance(it, Pick(static_cast<int>(options.size())));
    return *it;
  }
  std::string Key() {
    return Pick(20) == 0 ? "absent" : keys_[Pick(static_cast<int>(keys_.size()))];
  }
  std::string Noreply() { return Pick(8) == 0 ? " noreply" : ""; }
  std::string Flags() {
    switch (Pick(4)) {
      case 0:
        return "0";
      case 1:
        return "4294967295";
      default:
        return std::to_string(Pick(70000));
    }
  }
  // Never a small positive relative time: the two runs must not depend on the clock.
  std::string Exptime() {
    switch (Pick(16)) {
      case 0:
        return "-1";
      case 1:
        return "1000";
      case 2:
        return std::to_string(now_ + 1000);  // absolute, future
      case 3:
        return std::to_string(now_ - 1000);  // absolute, past
      case 4:
        return "2592000";  // 30 days: still relative
      default:
        return "0";
    }
  }
  std::string Value() {
    switch (Pick(8)) {
      case 0:
        return std::to_string(Pick(1000));
      case 1:
        return Choice({"18446744073709551615", "18446744073709551610", "100", "10", "0", "99"});
      case 2:
        return "";
      case 3:
        return std::string(static_cast<size_t>(500 + Pick(3000)),
                           static_cast<char>('a' + Pick(26)));
      default: {
        std::string v;
        int len = 1 + Pick(30);
        for (int i = 0; i < len; ++i) {
          v += "abcdefghijklmnopqrstuvwxyz0123456789"[Pick(36)];
        }
        return v;
      }
    }
  }
  std::string Storage(const std::string& cmd) {
    std::string v = Value();
    return cmd + " " + Key() + " " + Flags() + " " + Exptime() + " " + std::to_string(v.size()) +
           Noreply() + "\r\n" + v + "\r\n";
  }
  GenRequest Cas() {
    GenRequest r;
    r.cas_key = Key();
    r.other_key = Key();
    int mode = Pick(10);
    r.cas = mode < 6 ? CasSource::kLast : mode < 8 ? CasSource::kOldest : CasSource::kOtherKey;
    std::string v = Value();
    r.text = "cas " + r.cas_key + " " + Flags() + " " + Exptime() + " " + std::to_string(v.size()) +
             " " + kCasPlaceholder + Noreply() + "\r\n" + v + "\r\n";
    return r;
  }
  std::string Retrieval() {
    std::string cmd = Choice({"get", "get", "gets", "gets", "gat", "gats"});
    std::string line = cmd;
    if (cmd == "gat" || cmd == "gats") line += " " + Exptime();
    int n = 1 + Pick(4);
    for (int i = 0; i < n; ++i) line += " " + Key();
    return line + "\r\n";
  }
  std::string Arith() {
    std::string delta;
    switch (Pick(8)) {
      case 0:
        delta = "18446744073709551615";
        break;
      case 1:
        delta = Choice({"abc", "-1", "18446744073709551616", "1x"});
        break;
      case 2:
        delta = "0";
        break;
      default:
        delta = std::to_string(Pick(200));
    }
    return Choice({"incr ", "decr "}) + Key() + " " + delta + Noreply() + "\r\n";
  }
  std::string Error() {
    const std::string long_key(251, 'k');
    switch (Pick(14)) {
      case 0:
        return "bogus " + Key() + "\r\n";
      case 1:
        return "\r\n";
      case 2:
        return "GET " + Key() + "\r\n";
      case 3:
        return "set " + long_key + " 0 0 1" + Noreply() + "\r\nx\r\n";
      case 4:
        return Choice({"get ", "gets ", "delete ", "touch "}) + long_key + Choice({"", "", " 0"}) +
               "\r\n";
      case 5:
        return "incr " + long_key + " 1\r\n";
      case 6:
        return "set " + Key() + " " + Choice({"abc", "-1", "0x1"}) + " 0 1" + Noreply() +
               "\r\nx\r\n";
      case 7:
        return "set " + Key() + " 0 " + Choice({"abc", "1.5"}) + " 1\r\nx\r\n";
      case 8:
        return "set " + Key() + " 0 0 " + Choice({"abc", "-1"}) + "\r\nx\r\n";
      case 9: {
        // Data block longer than declared: <bytes>+2 bytes are consumed, the rest of the line is
        // then a command of its own (always an unknown one here).
        std::string v = Value();
        std::string extra(static_cast<size_t>(2 + Pick(4)), 'z');
        return Choice({"set ", "add ", "append "}) + Key() + " 0 0 " + std::to_string(v.size()) +
               Noreply() + "\r\n" + v + extra + "\r\n";
      }
      case 10:
        return Choice({"set ", "cas "}) + Key() + " 0 0\r\n";
      case 11:
        return "touch " + Key() + " abc" + Noreply() + "\r\n";
      case 12:
        return Choice({"get", "gets", "incr", "delete", "touch", "verbosity"}) + "\r\n";
      default:
        return "flush_all abc\r\n";
    }
  }

  std::mt19937_64 rng_;
  long now_;
  std::vector<std::string> keys_;
};

// One server's replies, one entry per request, normalised.
struct StreamRun {
  std::vector<std::string> replies;
  std::string failure;  // set if the run broke off
};

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
    if (!reconnected) run.replies.push_back(norm.Normalise(reply));
  }
  int status = server.Stop();
  if (!ExitedWithZero(status)) run.failure = "server " + DescribeStatus(status) + " on SIGTERM";
  return run;
}

TEST(Differential, GeneratedStreamMatchesMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  const long now = static_cast<long>(std::time(nullptr));
  const std::vector<GenRequest> stream = Generator(kSeed, now).Generate(kRequests);

  StreamRun reference = RunStream(Target::kMemcached, stream);
  ASSERT_TRUE(reference.failure.empty()) << "memcached: " << reference.failure;
  ASSERT_EQ(reference.replies.size(), stream.size());

  // The stream must exercise every kind of reply, or the comparison proves little.
  std::string all = "\n";
  for (const auto& r : reference.replies) all += r;
  auto count = [&](std::string_view what) {
    size_t n = 0;
    for (size_t pos = all.find(what); pos != std::string::npos; pos = all.find(what, pos + 1)) ++n;
    return n;
  };
  std::string summary;
  for (const char* kind : {"\nSTORED\r\n",
                           "NOT_STORED\r\n",
                           "EXISTS\r\n",
                           "NOT_FOUND\r\n",
                           "DELETED\r\n",
                           "TOUCHED\r\n",
                           "OK\r\n",
                           "VALUE ",
                           " c1\r\n",
                           "END\r\n",
                           "\nERROR\r\n",
                           "CLIENT_ERROR bad data chunk\r\n",
                           "CLIENT_ERROR bad command line format\r\n",
                           "CLIENT_ERROR invalid numeric delta argument\r\n",
                           "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                           "CLIENT_ERROR invalid exptime argument\r\n",
                           "SERVER_ERROR object too large for cache\r\n",
                           "\n18446744073709551615\r\n",
                           "\n0\r\n",
                           "VERSION <v>\r\n"}) {
    size_t n = count(kind);
    std::string name;
    for (const char* c = kind; *c != '\0'; ++c) {
      if (*c != '\r' && *c != '\n') name += *c;
    }
    summary += "\n[ INFO     ]   " + name + ": " + std::to_string(n);
    EXPECT_GE(n, 2u) << "the stream rarely produced " << Printable(kind);
  }
  EXPECT_EQ(count("<closed>"), 1u);
  size_t cas_stored = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    if (stream[i].cas != CasSource::kNone && reference.replies[i] == "STORED\r\n") ++cas_stored;
  }
  summary += "\n[ INFO     ]   cas STORED: " + std::to_string(cas_stored);
  EXPECT_GE(cas_stored, 5u) << "too few successful cas requests";
  std::cout << "[ INFO     ] reference replies:" << summary << "\n";

  StreamRun candidate = RunStream(CurrentTarget(), stream);
  const char* name = TargetName(CurrentTarget());
  int shown = 0;
  size_t differing = 0;
  size_t n = std::min(reference.replies.size(), candidate.replies.size());
  for (size_t i = 0; i < n; ++i) {
    if (reference.replies[i] == candidate.replies[i]) continue;
    ++differing;
    if (shown++ < 5) {
      ADD_FAILURE() << "request #" << i << ":\n"
                    << Printable(stream[i].text, 400) << "\nmemcached replied:\n"
                    << Printable(reference.replies[i], 600) << "\n"
                    << name << " replied:\n"
                    << Printable(candidate.replies[i], 600);
    }
  }
  EXPECT_EQ(differing, 0u) << "requests with differing replies (the first ones shown above; later "
                              "ones may follow from earlier differences)";
  EXPECT_TRUE(candidate.failure.empty()) << name << ": " << candidate.failure;
  EXPECT_EQ(candidate.replies.size(), reference.replies.size());
}

// Runs a fixed script on memcached and on the target and compares the replies request by request
// (normalised as the generated stream's are). A request the server answers by closing the
// connection gets the reply "<closed>" and the script goes on on a new connection.
void ExpectScriptMatchesMemcached(const std::vector<std::string>& script) {
  std::vector<GenRequest> stream;
  for (const std::string& text : script) {
    GenRequest r;
    r.text = text;
    stream.push_back(r);
  }
  StreamRun reference = RunStream(Target::kMemcached, stream);
  ASSERT_TRUE(reference.failure.empty()) << "memcached: " << reference.failure;
  StreamRun candidate = RunStream(CurrentTarget(), stream);
  ASSERT_TRUE(candidate.failure.empty())
      << TargetName(CurrentTarget()) << ": " << candidate.failure;
  ASSERT_EQ(candidate.replies.size(), reference.replies.size());
  for (size_t i = 0; i < stream.size(); ++i) {
    EXPECT_EQ(Printable(candidate.replies[i]), Printable(reference.replies[i]))
        << "request #" << i << ": " << Printable(stream[i].text);
  }
}

// The meta protocol's stale items and win tokens (md I, ms I, mg X/W/Z, R, N), a fixed script run
// on memcached and on the target. Every reply is deterministic: cas uniques and TTLs are
// normalised (see NormaliseMeta), C1 is older than any item's cas and C999999 newer.
TEST(Differential, MetaStaleAndWinTokensMatchMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      "ms a 2 T100 c\r\nhi\r\n",
      "mg a v c t\r\n",
      "md a I T30\r\n",
      "mg a v c t\r\n",
      "mg a v c h\r\n",
      "mg a c k\r\n",
      "get a\r\n",
      "ms a 2 C1 I c\r\nab\r\n",
      "mg a v c t\r\n",
      "ms a 2 C999999 I\r\ncd\r\n",
      "ms nokey 2 C1 I\r\ncd\r\n",
      "md a I q\r\n",
      "mg a v q\r\n",
      "mg a v q\r\n",
      "md nokey I\r\n",
      "md a I C999999\r\n",
      "ms b 1 I\r\nz\r\n",
      "mg b c\r\n",
      "md b I\r\n",
      "mg b t c O5\r\n",
      "md b I q\r\n",
      "mg b t c s\r\n",
      "mg c N30 c t v\r\n",
      "mg c N30 c t v\r\n",
      "mg c c t v k\r\n",
      "ms c 1 T0\r\nz\r\n",
      "mg c v c\r\n",
      "ms d 1 T10\r\nz\r\n",
      "mg d R30 c\r\n",
      "mg d R30 c\r\n",
      "mg d c\r\n",
      "ms e 1 T100\r\nz\r\n",
      "mg e R30 c\r\n",
      "mg e T50 R60 c\r\n",
      "mg e c\r\n",
      "ms f 1\r\nz\r\n",
      "mg f R30 s\r\n",
      "md f I\r\n",
      "mg f T100 t\r\n",
      "mg f h\r\n",
      "ms f 1 C1 I\r\ny\r\n",
      "mg f v\r\n",
      "ma f\r\n",
  });
}

// mg's u flag (no update): the read does not bump the item, so it is not marked fetched (h) and
// its last access (l) stays, also when T rewrites its TTL or N creates it; mg without u bumps it,
// a created item too.
TEST(Differential, MetaGetNoUpdateDoesNotBumpLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      "ms k 3 T100\r\nabc\r\n",
      "mg k s t u h\r\n",
      "mg k s t h\r\n",
      "mg k s t h\r\n",
      "ms v 3\r\nabc\r\n",
      "mg v v u h l\r\n",
      "mg v u q k\r\n",
      "mg v v h l\r\n",
      "mg v v h l\r\n",
      "ms t 3\r\nabc\r\n",
      "mg t T30 u h t\r\n",
      "mg t h t\r\n",
      "mg t h\r\n",
      "mg n N30 u h t\r\n",
      "mg n h u\r\n",
      "mg n h\r\n",
      "mg n h\r\n",
      "mg c N30 h\r\n",
      "mg c h\r\n",
      "ms r 1 T100\r\nz\r\n",
      "mg r R30 h u\r\n",
      "mg r h\r\n",
      "ms s 1\r\nz\r\n",
      "md s I\r\n",
      "mg s h u c\r\n",
      "mg s h c\r\n",
      "mg s h c\r\n",
  });
}

// Which commands mark an item fetched (h): memcached bumps it on get, gat, touch and mg (without
// u); the read of a read-modify-write command does not (add, cas, incr, ms, md, ma that fail
// leave it unfetched), and incr/decr/ma rewrite a number that still fits in place, keeping the
// item's marks (fetched, stale), while a longer number is a new item.
TEST(Differential, FetchedMarkFollowsMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  std::vector<std::string> script;
  for (const char* step : {
           "add a1 0 0 1\r\n6\r\n",
           "replace a1 0 0 1\r\n6\r\n",
           "append a1 0 0 1\r\n6\r\n",
           "cas a1 0 0 1 999999\r\n6\r\n",
           "incr a1 1\r\n",
           "decr a1 1\r\n",
           "ms a1 1 C999999\r\n6\r\n",
           "ms a1 1 ME\r\n6\r\n",
           "md a1 C999999\r\n",
           "ma a1 C999999\r\n",
           "ma a1 q\r\n",
           "touch a1 100\r\n",
           "gat 100 a1\r\n",
           "get a1\r\n",
           "mg a1\r\n",
       }) {
    script.push_back("set a1 0 0 1\r\n5\r\n");
    script.emplace_back(step);
    script.push_back("mg a1 h\r\n");
    script.push_back("mg a1 h\r\n");
  }
  // One command per request: memcached rewrites in place only while no reply still holds the item
  // (its refcount), so a pipelined mg or get before the incr would make it a new item.
  for (const std::vector<std::string>& steps : std::vector<std::vector<std::string>>{
           {"get b1\r\n", "incr b1 1\r\n"},
           {"get b1\r\n", "incr b1 100\r\n"},
           {"get b1\r\n", "decr b1 10\r\n"},
           {"get b1\r\n", "ma b1 D100\r\n"},
           {"md b1 I\r\n", "incr b1 1\r\n"},
           {"md b1 I\r\n", "incr b1 100\r\n"},
           {"md b1 I\r\n", "mg b1 c\r\n", "ma b1\r\n"},
       }) {
    script.push_back("set b1 0 0 2\r\n19\r\n");
    script.insert(script.end(), steps.begin(), steps.end());
    script.push_back("mg b1 h c\r\n");
  }
  ExpectScriptMatchesMemcached(script);
}

// memcached keeps an exptime in an int32_t: any value that fits 64 bits is cut to its low 32 bits,
// signed. In set, touch, gat/gats and the meta T and N flags, that decides hit or miss afterwards
// and the TTL. TTLs of absolute times are left out: the two runs happen seconds apart.
TEST(Differential, ExptimesBeyond32BitsAreCutLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      // set: 2^32-1 is -1 (expired at once), -2^32+101 is 101 s, 2^32+100 is 100 s, -2^63 is 0
      // (never), 2^63-1 is -1, 2^31 is -2^31 (expired), -2^31-1 is 2^31-1 (year 2038).
      "set e1 0 4294967295 1\r\nx\r\n",
      "get e1\r\n",
      "set e2 0 -4294967195 1\r\nx\r\n",
      "mg e2 t v\r\n",
      "set e3 0 4294967396 1\r\nx\r\n",
      "mg e3 t\r\n",
      "set e4 0 -9223372036854775808 1\r\nx\r\n",
      "mg e4 t\r\n",
      "set e5 0 9223372036854775807 1\r\nx\r\n",
      "get e5\r\n",
      "set e6 0 2147483648 1\r\nx\r\n",
      "get e6\r\n",
      "set e7 0 -2147483649 1\r\nx\r\n",
      "get e7\r\n",
      "add e1 0 4294967396 1\r\ny\r\n",
      "mg e1 t v\r\n",
      "set e8 0 00000000000000000000004294967396 1\r\nx\r\n",
      "mg e8 t\r\n",
      // Beyond 64 bits: memcached's error lines (the data line is then read as a command).
      "set e9 0 9223372036854775808 1\r\nx\r\n",
      "set e9 0 -9223372036854775809 1\r\nx\r\n",
      "set e9 0 99999999999999999999999 1\r\nx\r\n",
      // touch.
      "set t1 0 0 1\r\nx\r\n",
      "touch t1 4294967295\r\n",
      "get t1\r\n",
      "set t2 0 0 1\r\nx\r\n",
      "touch t2 -4294967195\r\n",
      "mg t2 t\r\n",
      "touch t2 4294967396\r\n",
      "mg t2 t\r\n",
      "touch t2 18446744073709551616\r\n",
      "touch t2 -9223372036854775809\r\n",
      "mg t2 t\r\n",
      // gat and gats.
      "set g1 0 0 1\r\nx\r\n",
      "gat 4294967295 g1\r\n",
      "get g1\r\n",
      "set g2 0 0 1\r\nx\r\n",
      "gats 4294967396 g2\r\n",
      "mg g2 t\r\n",
      "gat -4294967195 g2\r\n",
      "mg g2 t\r\n",
      "gat 9223372036854775808 g2\r\n",
      // The meta T and N flags (memcached read them this way already).
      "ms m1 1 T4294967396\r\nx\r\n",
      "mg m1 t v\r\n",
      "ms m2 1 T4294967295\r\nx\r\n",
      "mg m2 v\r\n",
      "ms m3 1\r\nx\r\n",
      "mg m3 T-4294967195 t\r\n",
      "mg m3 t\r\n",
      "mg m3 T4294967295 v\r\n",
      "mg m3 v\r\n",
      "mg m4 N4294967396 t v\r\n",
      "mg m4 t\r\n",
  });
}

// flush_all's delay is cut to 32 bits like an exptime, and memcached lets a flush take effect a
// second before its delay ends: 4294967295 (-1), 4294967296 (0) and -4294967295 (1) flush at once,
// 4294967396 (100 s) not yet. A delay of 1 s also flushes what is stored later in that second in
// memcached, so the script ends with it.
TEST(Differential, FlushAllDelayIsCutLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      "set f 0 0 1\r\nx\r\n",
      "flush_all 4294967396\r\n",
      "get f\r\n",
      "flush_all 9223372036854775808\r\n",
      "flush_all -9223372036854775809 noreply\r\n",
      "get f\r\n",
      "flush_all 4294967295\r\n",
      "get f\r\n",
      "set f 0 0 1\r\nx\r\n",
      "get f\r\n",
      "flush_all 4294967296 noreply\r\n",
      "get f\r\n",
      "set f 0 0 1\r\nx\r\n",
      "flush_all -4294967295\r\n",
      "get f\r\n",
  });
}

// incr/decr and ma read the stored value with memcached's safe_strtoull: C whitespace and a sign
// may lead, whitespace and anything after it may follow, a NUL ends the number; overflow, no digits
// and a negative-looking value are not numeric. The number left behind (memcached pads a shorter
// one with spaces) is read back with get, whose spaces the normaliser drops.
TEST(Differential, IncrReadsStoredValuesLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  using namespace std::string_literals;
  const std::vector<std::string> numbers = {" 5"s,
                                            "  5"s,
                                            "\t5"s,
                                            "\n5"s,
                                            "\v5"s,
                                            "\f5"s,
                                            "\r5"s,
                                            "+5"s,
                                            "5 "s,
                                            "5\t"s,
                                            "5\r"s,
                                            "5 abc"s,
                                            "5\tx"s,
                                            " +5 "s,
                                            "-0"s,
                                            "5\0zz"s,
                                            std::string(100, '0') + "5",
                                            std::string(1000, ' ') + "7",
                                            "-18446744073709551615"s,
                                            "-9223372036854775809"s};
  const std::vector<std::string> not_numbers = {"-5"s,
                                                "-1 "s,
                                                "+ 5"s,
                                                "- 5"s,
                                                "5x"s,
                                                "0x10"s,
                                                "1e3"s,
                                                "\0"s,
                                                "-9223372036854775808"s,
                                                "-18446744073709551616"s,
                                                "18446744073709551616"s,
                                                "18446744073709551615 -"s};
  std::vector<std::string> script;
  int n = 0;
  for (const std::string& value : numbers) {
    for (const char* op : {"incr", "decr"}) {
      const std::string key = "n" + std::to_string(n++);
      script.push_back("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                       "\r\n");
      script.push_back(std::string(op) + " " + key + " 1\r\n");
      script.push_back("get " + key + "\r\n");
    }
    const std::string key = "n" + std::to_string(n++);
    script.push_back("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                     "\r\n");
    script.push_back("ma " + key + " v D3\r\n");
  }
  for (const std::string& value : not_numbers) {
    const std::string key = "n" + std::to_string(n++);
    script.push_back("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                     "\r\n");
    script.push_back("incr " + key + " 1\r\n");
    script.push_back("decr " + key + " 1\r\n");
    script.push_back("ma " + key + " v\r\n");
  }
  ExpectScriptMatchesMemcached(script);
}

// memcached closes, without a reply, a connection that sends an unknown command whose last token
// begins with "HTTP/" (browsers, HTTP probes), but answers ERROR where its dispatch has an earlier
// branch for the command's name, and only looks at the first 23 tokens.
TEST(Differential, HttpRequestLinesCloseLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  std::string many_tokens = "Get";
  for (int i = 0; i < 21; ++i) many_tokens += " a";
  ExpectScriptMatchesMemcached({
      "set h 0 0 1\r\nx\r\n",
      "GET / HTTP/1.0\r\n",
      "get h\r\n",  // on a new connection: the item is still there
      "POST /form HTTP/1.1\n",
      "HTTP/1.1\r\n",
      "OPTIONS * HTTP/\r\n",
      "HEAD / HTTP/1.1 \r\n",
      "GET\t/ HTTP/1.0\tjunk\r\n",
      std::string("GET / HTTP/1.0\0junk\r\n", 21),
      "prepend2 / HTTP/1.0\r\n",
      many_tokens + " HTTP/1.0 b\r\n",
      many_tokens + " a HTTP/1.0\r\n",
      "POST / HTTP/1.1 extra\r\n",
      "GET / http/1.0\r\n",
      "GET / HTTP\r\n",
      "X HTTP/1.0\r\n",
      "gx / HTTP/1.0\r\n",
      "trace / HTTP/1.0\r\n",
      "mx / HTTP/1.0\r\n",
      "get / HTTP/1.0\r\n",
      "delete h HTTP/1.0\r\n",
      "get h\r\n",
  });
}

}  // namespace
}  // namespace ssdcache::integration
