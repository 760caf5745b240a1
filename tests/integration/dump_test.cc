// Key listings on the real server: `lru_crawler metadump` and `stats cachedump` list the keys held
// on the device and in DRAM, never an overwritten version, a deleted or an expired key; cachedump
// honours its class and limit; -X refuses both as memcached does; a listing keeps working while
// other connections write, several run at once, a client that closes mid-listing leaves nothing
// behind; and the replies and line format are checked against Debian's memcached.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "differential.h"
#include "fixtures.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

// key -> the rest of its metadump line, from "lru_crawler metadump ..." up to END.
struct Dump {
  std::map<std::string, std::map<std::string, std::string>> keys;
  std::set<std::string> twice;  // keys listed more than once (the last line counts)
  int lines = 0;
  bool ended = false;
};

std::string UriDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Dump Metadump(Client& c, std::string_view command = "lru_crawler metadump all\r\n") {
  Dump d;
  const std::string reply = c.Request(command, "END\r\n");
  d.ended = reply.ends_with("END\r\n");
  static const std::regex line(
      "key=([^ ]+) exp=(-1|[0-9]+) la=([0-9]+) cas=([0-9]+) fetch=(yes|no) cls=([0-9]+) "
      "size=([0-9]+)");
  size_t at = 0;
  while (at < reply.size()) {
    const size_t nl = reply.find('\n', at);
    if (nl == std::string::npos) break;
    const std::string text = reply.substr(at, nl - at);
    at = nl + 1;
    if (text == "END\r") break;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(text, m, line)) << Printable(text);
    if (m.empty()) continue;
    ++d.lines;
    const std::string key = UriDecode(m[1].str());
    auto& fields = d.keys[key];
    if (!fields.empty()) d.twice.insert(key);
    fields = {{"exp", m[2]},   {"la", m[3]},  {"cas", m[4]},
              {"fetch", m[5]}, {"cls", m[6]}, {"size", m[7]}};
  }
  return d;
}

std::string Sets(const std::string& prefix, int from, int to, size_t value_size) {
  std::string req;
  for (int i = from; i < to; ++i) {
    req += "set " + prefix + std::to_string(i) + " 0 0 " + std::to_string(value_size) + "\r\n" +
           std::string(value_size, 'v') + "\r\n";
  }
  return req;
}

void Load(Client& c, const std::string& prefix, int n, size_t value_size) {
  const std::string stored(static_cast<size_t>(n) * 8, ' ');
  const std::string reply = c.Transact(Sets(prefix, 0, n, value_size), stored.size());
  ASSERT_EQ(reply.size(), stored.size());
  ASSERT_EQ(reply.find("STORED\r\n"), 0u);
}

// Runs `body` on a fresh memcached, then on a fresh ssdcached, both started with `flags`.
void OnBoth(const std::vector<std::string>& flags,
            const std::function<void(Target, Client&)>& body) {
  for (Target target : {Target::kMemcached, Target::kSsdcached}) {
    SCOPED_TRACE(TargetName(target));
    ServerOptions o;
    o.target = target;
    o.ssdcached_extra_args = flags;
    o.memcached_extra_args = flags;
    ServerProcess server(o);
    ASSERT_TRUE(server.Start());
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    body(target, c);
  }
}

class DumpTest : public OwnServerTest {
 protected:
  ServerOptions Options() override {
    ServerOptions o;
    o.memory_mib = 4;  // 4 memory slabs: most of what Load() writes is on the device only
    return o;
  }
};

TEST_F(DumpTest, MetadumpListsKeysOnTheDeviceAndInDramButNoOldDeletedOrExpiredOnes) {
  SKIP_UNLESS_SSDCACHED();
  ASSERT_NO_FATAL_FAILURE(Load(client_, "key:", 20000, 400));  // 9 MB: mostly on the device
  ASSERT_EQ(client_.Request("set key:1 0 0 3\r\nnew\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Request("delete key:2\r\n"), "DELETED\r\n");
  ASSERT_EQ(client_.Request("set ttl 0 1 1\r\nx\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Request("set a/b%20c 0 100 1\r\nx\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Get("get key:3\r\n"),
            ValueBlock("key:3", 0, std::string(400, 'v')) + "END\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));   // ttl expires
  ASSERT_GT(std::stoull(client_.Stats().at("slab_writes")), 4u);  // on the device only
  const Dump d = Metadump(client_);
  ASSERT_TRUE(d.ended);
  EXPECT_TRUE(d.twice.empty());
  EXPECT_EQ(d.keys.size(), 20000u);  // key:0..19999 less key:2, plus a/b%20c
  EXPECT_FALSE(d.keys.contains("key:2"));
  EXPECT_FALSE(d.keys.contains("ttl"));
  EXPECT_TRUE(d.keys.contains("key:19999"));
  EXPECT_EQ(d.keys.at("key:1").at("size"), std::to_string(48 + 5 + 3));  // the new version
  EXPECT_EQ(d.keys.at("key:0").at("exp"), "-1");
  EXPECT_EQ(d.keys.at("key:3").at("fetch"), "yes");
  EXPECT_EQ(d.keys.at("key:0").at("fetch"), "no");
  const long long now = ::time(nullptr);
  EXPECT_NEAR(std::stoll(d.keys.at("a/b%20c").at("exp")), now + 98, 3);
  EXPECT_NEAR(std::stoll(d.keys.at("key:0").at("la")), now, 5);
  EXPECT_EQ(client_.Stats().at("lru_crawler_starts"), "1");
  // "hash" and a class list list the same keys here.
  EXPECT_EQ(Metadump(client_, "lru_crawler metadump hash\r\n").keys.size(), 20000u);
  const std::string cls = d.keys.at("key:0").at("cls");
  // key:1 (3 bytes now) and a/b%20c are in the smallest class.
  EXPECT_EQ(Metadump(client_, "lru_crawler metadump " + cls + "\r\n").keys.size(), 19998u);
}

// php-memcached's getAllKeys() and the like: stats items for the classes, then cachedump each.
TEST_F(DumpTest, CachedumpListsOneClassUpToItsLimit) {
  SKIP_UNLESS_SSDCACHED();
  ASSERT_NO_FATAL_FAILURE(Load(client_, "small", 3000, 10));
  ASSERT_NO_FATAL_FAILURE(Load(client_, "large", 2000, 2000));
  ASSERT_EQ(client_.Request("set timed 0 1000 2000\r\n" + std::string(2000, 'v') + "\r\n"),
            "STORED\r\n");
  std::set<std::string> classes;
  for (const auto& [name, value] : client_.Stats("items")) {
    if (name.ends_with(":number")) classes.insert(name.substr(6, name.find(':', 6) - 6));
  }
  ASSERT_EQ(classes.size(), 2u);
  std::map<std::string, std::string> all;  // key -> "[size b; exp s]"
  for (const std::string& cls : classes) {
    const std::string reply = client_.Request("stats cachedump " + cls + " 0\r\n", "END\r\n");
    static const std::regex item("ITEM ([^ ]+) (\\[[0-9]+ b; [0-9]+ s\\])\r");
    size_t at = 0;
    for (size_t nl; (nl = reply.find('\n', at)) != std::string::npos; at = nl + 1) {
      const std::string text = reply.substr(at, nl - at);
      if (text == "END\r") break;
      std::smatch m;
      ASSERT_TRUE(std::regex_match(text, m, item)) << Printable(text);
      EXPECT_TRUE(all.emplace(m[1], m[2]).second) << m[1];
    }
  }
  EXPECT_EQ(all.size(), 5001u);
  EXPECT_EQ(all.at("small7"), "[10 b; 0 s]");
  EXPECT_EQ(all.at("large7"), "[2000 b; 0 s]");
  const std::string timed = all.at("timed");
  EXPECT_NEAR(std::stoll(timed.substr(timed.find("; ") + 2)), ::time(nullptr) + 1000, 3);
  // A limit, class 0 and a class without items.
  const std::string first = *classes.begin();
  const std::string ten = client_.Request("stats cachedump " + first + " 10\r\n", "END\r\n");
  EXPECT_EQ(std::count(ten.begin(), ten.end(), '\n'), 11) << Printable(ten);
  EXPECT_EQ(client_.Request("stats cachedump 0 0\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("stats cachedump 63 0\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("stats cachedump 64 0\r\n"), "CLIENT_ERROR Illegal slab id\r\n");
}

TEST(Dump, RefusedUnderXAsMemcachedDoes) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  OnBoth({"-X"}, [](Target, Client& c) {
    EXPECT_EQ(c.Request("lru_crawler metadump all\r\n"), "ERROR metadump not allowed\r\n");
    EXPECT_EQ(c.Request("stats cachedump 1 0\r\n"), "CLIENT_ERROR stats cachedump not allowed\r\n");
    EXPECT_EQ(c.Stats("settings").at("dump_enabled"), "no");
  });
}

TEST_F(DumpTest, PipelinedRequestsAroundAListingKeepTheirOrder) {
  SKIP_UNLESS_SSDCACHED();
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Stats("settings").at("dump_enabled"), "yes");
  const std::string reply = client_.Request(
      "get a\r\nlru_crawler metadump all\r\nget a\r\nstats cachedump 1 0\r\nversion\r\n",
      "VERSION");
  EXPECT_TRUE(FullyMatches(reply,
                           "VALUE a 0 1\r\n1\r\nEND\r\nkey=a exp=-1 la=[0-9]+ cas=[0-9]+ fetch=yes "
                           "cls=1 size=50\nEND\r\nVALUE a 0 1\r\n1\r\nEND\r\nITEM a \\[1 b; 0 s\\]"
                           "\r\nEND\r\nVERSION"))
      << Printable(reply);
}

TEST_F(DumpTest, ListingsRunWhileOtherConnectionsWrite) {
  SKIP_UNLESS_SSDCACHED();
  ASSERT_NO_FATAL_FAILURE(Load(client_, "s", 30000, 200));
  std::string deletes;
  for (int i = 0; i < 30000; i += 10) deletes += "delete s" + std::to_string(i) + "\r\n";
  ASSERT_EQ(client_.Transact(deletes, 3000 * 9).size(), 3000u * 9);
  // A writer overwrites s1, s11, ... and adds new keys while two listings run.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    Client w;
    if (!w.Connect(server_->port())) return;
    for (int round = 0; !stop && round < 2000; ++round) {
      std::string req;
      for (int j = 0; j < 20; ++j) {
        req += "set s" + std::to_string((round * 20 + j) * 10 % 30000 + 1) + " 0 0 5\r\nvalue\r\n";
        req += "set w" + std::to_string(round) + "." + std::to_string(j) + " 0 0 300\r\n" +
               std::string(300, 'w') + "\r\n";
      }
      if (w.Transact(req, 40 * 8).size() != 40 * 8) return;
    }
  });
  Client other = Connect();
  ASSERT_TRUE(other.Send("lru_crawler metadump all\r\n"));
  const Dump d = Metadump(client_);
  const std::string second = other.ReadUntil("END\r\n");
  stop = true;
  writer.join();
  ASSERT_TRUE(d.ended);
  EXPECT_TRUE(second.ends_with("END\r\n"));
  // Only a key changed during the listing may be listed twice (its old and its new record).
  for (const std::string& key : d.twice) {
    EXPECT_TRUE(key.starts_with("s") && key.ends_with("1")) << key << " listed twice";
  }
  // A key never changed is listed unless it was evicted (with a small-object tier,
  // SSDCACHED_EXTRA_ARGS: a full set evicts), and every such eviction is counted.
  int64_t unlisted = 0;
  std::string first;
  for (int i = 0; i < 30000; ++i) {
    const std::string key = "s" + std::to_string(i);
    if (i % 10 == 0) {
      EXPECT_FALSE(d.keys.contains(key)) << key << " was deleted";
    } else if (i % 10 != 1 && !d.keys.contains(key)) {
      ++unlisted;
      if (first.empty()) first = key;
    }
  }
  EXPECT_LE(unlisted, StatNum(client_.Stats(), "evictions")) << first << " was never changed";
}

TEST_F(DumpTest, AClientClosingMidListingLeavesNothingBehind) {
  SKIP_UNLESS_SSDCACHED();
  ASSERT_NO_FATAL_FAILURE(Load(client_, "c", 40000, 100));
  // More listings than run at once: each one left open would make the later ones BUSY.
  for (int i = 0; i < 10; ++i) {
    Client c = Connect();
    ASSERT_TRUE(c.Send("lru_crawler metadump all\r\n"));
    ASSERT_FALSE(c.ReadLine().empty());
    c.Close();
  }
  std::map<std::string, std::string> stats;
  for (int i = 0; i < 100; ++i) {
    stats = client_.Stats();
    if (stats.at("lru_crawler_running") == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(stats.at("lru_crawler_running"), "0");
  EXPECT_EQ(stats.at("lru_crawler_starts"), "10");
  EXPECT_EQ(Metadump(client_).keys.size(), 40000u);
}

// The replies to every lru_crawler subcommand and cachedump's argument errors, byte for byte. A
// metadump that runs is not in the script: memcached hands the connection to its crawler thread
// and, when the listing is over, does not read a request that arrived meanwhile (the runner's
// probe) until more bytes come; MetadumpLinesLikeMemcached compares listings.
TEST(Differential, KeyListingRepliesLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      "lru_crawler metadump 0\r\n",
      "lru_crawler metadump 64\r\n",
      "lru_crawler metadump x\r\n",
      "lru_crawler metadump\r\n",
      "lru_crawler metadump all extra\r\n",
      "lru_crawler\r\n",
      "lru_crawler bogus\r\n",
      "lru_crawler tocrawl 10\r\n",
      "lru_crawler tocrawl x\r\n",
      "lru_crawler sleep 2000000\r\n",
      "lru_crawler sleep 50\r\n",
      "lru_crawler enable\r\n",
      "stats cachedump\r\n",
      "stats cachedump 1\r\n",
      "stats cachedump x 1\r\n",
      "stats cachedump 64 1\r\n",
      "stats cachedump 0 0\r\n",
      "stats cachedump 1 0\r\n",
      "lru_crawler crawl hash\r\n",
      "lru_crawler crawl 0\r\n",
      "lru_crawler crawl all\r\n",
  });
}

// The metadump line of the same items on both: the same keys and fields, la and exp as unix
// times, fetch as memcached sets it.
TEST(Differential, MetadumpLinesLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  std::map<Target, Dump> dumps;
  OnBoth({}, [&](Target target, Client& c) {
    ASSERT_EQ(c.Request("set plain 0 0 1\r\nx\r\n"), "STORED\r\n");
    ASSERT_EQ(c.Request("set ttl 0 1000 1\r\nx\r\n"), "STORED\r\n");
    ASSERT_EQ(c.Request("set a/b:c~d.e-f_g 0 0 1\r\nx\r\n"), "STORED\r\n");
    ASSERT_EQ(c.Request("set gone 0 0 1\r\nx\r\n"), "STORED\r\n");
    ASSERT_EQ(c.Request("delete gone\r\n"), "DELETED\r\n");
    ASSERT_EQ(c.Get("get plain\r\n"), "VALUE plain 0 1\r\nx\r\nEND\r\n");
    dumps[target] = Metadump(c);
    ASSERT_TRUE(dumps[target].ended);
  });
  const Dump& want = dumps[Target::kMemcached];
  const Dump& got = dumps[Target::kSsdcached];
  ASSERT_EQ(got.keys.size(), want.keys.size());
  const long long now = ::time(nullptr);
  for (const auto& [key, fields] : want.keys) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(got.keys.contains(key));
    const auto& ours = got.keys.at(key);
    EXPECT_EQ(ours.at("fetch"), fields.at("fetch"));
    EXPECT_EQ(ours.at("exp") == "-1", fields.at("exp") == "-1");
    EXPECT_NEAR(std::stoll(ours.at("exp")), std::stoll(fields.at("exp")), 15);
    EXPECT_NEAR(std::stoll(ours.at("la")), now, 15);
    EXPECT_NEAR(std::stoll(fields.at("la")), now, 15);
  }
}

}  // namespace
}  // namespace ssdcache::integration
