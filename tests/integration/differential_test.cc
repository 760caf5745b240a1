// Differential test: one generated request stream (fixed seed) and a fixed script of the meta
// protocol's stale items and win tokens, run on memcached and on the target (see differential.h
// for what is normalised and how requests run).
#include "differential.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

constexpr int kRequests = 3000;
constexpr uint64_t kSeed = 20240601;

// The stream's seed: kSeed, or SSDCACHE_DIFF_SEED to try others (a failure names the seed; the
// stream depends on nothing else but the clock, through its absolute exptimes).
uint64_t StreamSeed() {
  const char* env = std::getenv("SSDCACHE_DIFF_SEED");
  return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 10) : kSeed;
}

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

// The keys a request names (the tokens after the command on its first line that look like keys).
std::vector<std::string> KeysOf(const std::string& text) {
  std::istringstream line(text.substr(0, text.find('\n')));
  std::vector<std::string> tokens;
  for (std::string t; line >> t;) tokens.push_back(t);
  if (tokens.size() < 2) return {};
  const std::string& cmd = tokens[0];
  if (cmd == "get" || cmd == "gets") return {tokens.begin() + 1, tokens.end()};
  if ((cmd == "gat" || cmd == "gats") && tokens.size() > 2)
    return {tokens.begin() + 2, tokens.end()};
  return {tokens[1]};
}

// For a failure message: both replies from a little before the first byte in which they differ
// (long replies are cut above before they get there).
std::string FromFirstDifference(const std::string& ref, const std::string& cand, const char* name) {
  size_t at = 0;
  while (at < ref.size() && at < cand.size() && ref[at] == cand[at]) ++at;
  if (at < 200) return "";
  at -= 60;
  return "from byte " + std::to_string(at) + " on:\nmemcached: " + Printable(ref.substr(at), 300) +
         "\n" + name + ": " + Printable(cand.substr(at), 300) + "\n";
}

// For a failure message: the earlier requests that named the keys of request `at`, with both
// servers' replies (the last 15), so a differing reply can be traced to the request that caused it.
std::string KeyHistory(const std::vector<GenRequest>& stream, const std::vector<std::string>& ref,
                       const std::vector<std::string>& cand, size_t at, const char* name) {
  const std::vector<std::string> keys = KeysOf(stream[at].text);
  std::vector<size_t> hits;
  for (size_t j = 0; j < at; ++j) {
    const std::vector<std::string> k = KeysOf(stream[j].text);
    if (std::find_first_of(k.begin(), k.end(), keys.begin(), keys.end()) != k.end()) {
      hits.push_back(j);
    }
    if (stream[j].text.starts_with("flush_all")) hits.push_back(j);
  }
  if (hits.size() > 15) hits.erase(hits.begin(), hits.end() - 15);
  std::string out = "earlier requests on its keys (and flush_all):";
  for (size_t j : hits) {
    out += "\n  #" + std::to_string(j) + " " + Printable(stream[j].text, 120) +
           "\n      memcached: " + Printable(ref[j], 120) + "\n      " + name + ": " +
           Printable(cand[j], 120);
  }
  return out;
}

TEST(Differential, GeneratedStreamMatchesMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  const long now = static_cast<long>(std::time(nullptr));
  const uint64_t seed = StreamSeed();
  const std::vector<GenRequest> stream = Generator(seed, now).Generate(kRequests);
  SCOPED_TRACE("stream seed " + std::to_string(seed) + " (SSDCACHE_DIFF_SEED replays it)");

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
  summary += "\n[ INFO     ]   incr/decr corrected (differential.h): " +
             std::to_string(reference.oracle_fixes);
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
                    << Printable(candidate.replies[i], 600) << "\n"
                    << FromFirstDifference(reference.replies[i], candidate.replies[i], name)
                    << KeyHistory(stream, reference.replies, candidate.replies, i, name);
    }
  }
  EXPECT_EQ(differing, 0u) << "requests with differing replies (the first ones shown above; later "
                              "ones may follow from earlier differences)";
  EXPECT_TRUE(candidate.failure.empty()) << name << ": " << candidate.failure;
  EXPECT_EQ(candidate.replies.size(), reference.replies.size());
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

std::string Repeat(std::string_view token, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += token;
  return out;
}

// Lines longer than the 2 KiB that many servers allow, each sent in one write: memcached parses
// any line that fits its 16 KiB read buffer as an ordinary command (lots of spaces between tokens
// included), and closes without a reply when 16 KiB arrive without a newline (not for get lines:
// see LongLineWithoutNewlineClosesSilently and tests/integration/multiget_test.cc).
TEST(Differential, LongLinesMatchMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  const std::string spaces(3000, ' ');
  const std::string long_key(300, 'L');
  const std::vector<std::string> script = {
      "set k 0 0 1" + spaces + "\r\na\r\n",
      "get k" + spaces + "\r\n",
      spaces + "gets k" + spaces + "k\r\n",
      std::string(16000, 'a') + "\r\n",
      std::string(16382, 'a') + "\r\n",  // 16 KiB with its "\r\n"
      "set " + long_key + " 0 0 1" + spaces + "\r\na\r\n",
      "get " + long_key + spaces + " k\r\n",
      "get k" + spaces + long_key + "\r\n",
      "touch k" + spaces + "1000" + spaces + "\r\n",
      "set n 0 0 1\r\n5\r\n",
      "incr n" + spaces + "3\r\n",
      "set k 0 0 1" + Repeat(" z", 40) + "\r\na\r\n",
      "delete k" + Repeat(" z", 40) + "\r\n",
      "verbosity 1" + std::string(12000, ' ') + "\r\n",
      "mg k" + spaces + "v" + spaces + "k" + spaces + "\r\n",
      "ms m 2" + std::string(5000, ' ') + "T0\r\nhi\r\n",
      "mg m s v" + std::string(10000, ' ') + "\r\n",
      "mg " + long_key + spaces + "v\r\n",
      "mn" + std::string(10000, ' ') + "\r\n",
      "get" + Repeat(" nokey", 4000) + "\r\n",  // 24 KB: a multi-get past 16 KiB
      "gets k" + Repeat(" k", 10000) + "\r\n",
      "delete k" + spaces + "\r\n",
  };
  ExpectScriptMatchesMemcached(script);
}

// No newline within 16 KiB: the connection is closed without a reply, whatever the command
// (the version probe RunStream sends with it is never read).
TEST(Differential, LongLineWithoutNewlineClosesSilently) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  for (const std::string& line :
       {std::string(20000, 'a'), "set k 0 0 1" + std::string(20000, ' ') + "\r\na\r\n",
        "mg k" + std::string(20000, ' ') + "v\r\n", std::string(16384, ' ') + "get k\r\n",
        std::string(101, ' ') + "get" + Repeat(" nokey", 4000) + "\r\n"}) {
    SCOPED_TRACE(Printable(line, 40));
    ExpectScriptMatchesMemcached({"set k 0 0 1\r\nx\r\n", line}, /*last_closes=*/true);
  }
}

}  // namespace
}  // namespace ssdcache::integration
