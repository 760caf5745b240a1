// The stats surface memcached's tools read, against Debian's memcached 1.6.18 as the oracle: the
// key sets of `stats`, `stats slabs`, `stats items`, `stats settings`, `stats sizes` and
// `stats conns`, the per-class counters after the same commands, and the fields the Prometheus
// memcached_exporter v0.11 parses. Each test starts its own servers.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

using StatMap = std::map<std::string, std::string>;

// A stat's name with its class or descriptor number replaced by N ("items:N:number", "N:addr"),
// as tools read them.
std::string Normalized(const std::string& name) {
  static const std::regex kNumbered("^(items:)?[0-9]+:");
  return std::regex_replace(name, kNumbered, "$1N:");
}

std::set<std::string> KeySet(const StatMap& stats) {
  std::set<std::string> keys;
  for (const auto& [name, value] : stats) keys.insert(Normalized(name));
  return keys;
}

// The class (its number as a string) that holds items; "" if none or several.
std::string ClassWithItems(const StatMap& items) {
  std::string found;
  static const std::regex kNumber("items:([0-9]+):number");
  for (const auto& [name, value] : items) {
    std::smatch m;
    if (!std::regex_match(name, m, kNumber) || value == "0") continue;
    if (!found.empty()) return "";
    found = m[1];
  }
  return found;
}

ServerOptions OptionsFor(Target target) {
  ServerOptions options;
  options.target = target;
  // memcached counts sizes only when asked at start; ssdcached's are on from the start.
  options.memcached_extra_args = {"-o", "track_sizes"};
  return options;
}

// Commands with a known effect on the per-class counters: three items of one class (k1, k2, n1;
// k3 is deleted), 4 get hits, 6 stores (4 sets, a cas that matches and one that does not), one
// touch, incr, decr and delete hit each.
void RunKnownCommands(Client& c) {
  const std::string v = "0123456789";
  for (const char* k : {"k1", "k2", "k3"}) {
    ASSERT_EQ(c.Request("set " + std::string(k) + " 0 0 10\r\n" + v + "\r\n"), "STORED\r\n");
  }
  ASSERT_EQ(c.Get("get k1\r\n"), ValueBlock("k1", 0, v) + "END\r\n");
  ASSERT_EQ(c.Get("get k1 k2\r\n"), ValueBlock("k1", 0, v) + ValueBlock("k2", 0, v) + "END\r\n");
  ASSERT_EQ(c.Get("get nope\r\n"), "END\r\n");
  const std::optional<uint64_t> cas = ParseCas(c.Get("gets k1\r\n"));
  ASSERT_TRUE(cas.has_value());
  const std::string cas_cmd = "cas k1 0 0 10 " + std::to_string(*cas) + "\r\n" + v + "\r\n";
  ASSERT_EQ(c.Request(cas_cmd), "STORED\r\n");
  ASSERT_EQ(c.Request(cas_cmd), "EXISTS\r\n");
  ASSERT_EQ(c.Request("touch k2 0\r\n"), "TOUCHED\r\n");
  ASSERT_EQ(c.Request("set n1 0 0 10\r\n1000000000\r\n"), "STORED\r\n");
  ASSERT_EQ(c.Request("incr n1 1\r\n"), "1000000001\r\n");
  ASSERT_EQ(c.Request("decr n1 1\r\n"), "1000000000\r\n");
  ASSERT_EQ(c.Request("delete k3\r\n"), "DELETED\r\n");
}

// Runs `body` on a fresh memcached, then on a fresh ssdcached, each after RunKnownCommands.
void OnBothAfterKnownCommands(const std::function<void(Target, Client&)>& body) {
  for (Target target : {Target::kMemcached, Target::kSsdcached}) {
    SCOPED_TRACE(TargetName(target));
    ServerProcess server(OptionsFor(target));
    ASSERT_TRUE(server.Start());
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_NO_FATAL_FAILURE(RunKnownCommands(c));
    body(target, c);
  }
}

struct Surface {
  std::map<std::string, StatMap> groups;  // by `stats` argument ("" = general)
};

const std::vector<std::string> kGroups = {"", "slabs", "items", "settings", "sizes", "conns"};

void Collect(Target target, Surface& out) {
  ServerProcess server(OptionsFor(target));
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  Client idle;  // so that `stats conns` shows an idle client too
  ASSERT_TRUE(idle.Connect(server.port()));
  ASSERT_EQ(idle.Request("version\r\n").substr(0, 8), "VERSION ");
  ASSERT_NO_FATAL_FAILURE(RunKnownCommands(c));
  for (const std::string& g : kGroups) {
    out.groups[g] = c.Stats(g);
    ASSERT_FALSE(out.groups[g].empty()) << TargetName(target) << ": stats " << g << " is empty";
  }
}

// memcached keys ssdcached leaves out on purpose, with the reason.
const std::map<std::string, std::set<std::string>> kIntentionallyMissing = {
    // ssdcached does not use libevent; a made-up version would mislead.
    {"", {"libevent"}},
};

TEST(StatsSurface, KeySetsIncludeMemcachedsAndCountersMatch) {
  Surface memcached, ssdcached;
  ASSERT_NO_FATAL_FAILURE(Collect(Target::kMemcached, memcached));
  ASSERT_NO_FATAL_FAILURE(Collect(Target::kSsdcached, ssdcached));

  for (const std::string& g : kGroups) {
    if (g == "sizes") continue;  // keys are sizes: compared below
    const std::set<std::string> theirs = KeySet(memcached.groups[g]);
    const std::set<std::string> ours = KeySet(ssdcached.groups[g]);
    const auto allowed =
        kIntentionallyMissing.count(g) ? kIntentionallyMissing.at(g) : std::set<std::string>{};
    for (const std::string& key : theirs) {
      EXPECT_TRUE(ours.count(key) || allowed.count(key))
          << "stats " << g << ": memcached has " << key << ", ssdcached does not";
    }
  }

  // stats sizes: "STAT <size> <count>" rows whose counts add up to the items.
  for (Surface* s : {&memcached, &ssdcached}) {
    int64_t items = 0;
    for (const auto& [size, count] : s->groups["sizes"]) {
      EXPECT_TRUE(std::regex_match(size, std::regex("[0-9]+"))) << size;
      items += std::stoll(count);
    }
    EXPECT_EQ(items, StatNum(s->groups[""], "curr_items"));
  }

  // The class of the three items has the same counters on both.
  const std::string theirs = ClassWithItems(memcached.groups["items"]);
  const std::string ours = ClassWithItems(ssdcached.groups["items"]);
  ASSERT_FALSE(theirs.empty());
  ASSERT_FALSE(ours.empty());
  // (memcached's used_chunks also counts chunks it has not freed yet: 4 here.)
  for (const char* field : {"get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits",
                            "cas_hits", "cas_badval", "touch_hits"}) {
    EXPECT_EQ(StatNum(ssdcached.groups["slabs"], ours + ":" + field),
              StatNum(memcached.groups["slabs"], theirs + ":" + field))
        << "stats slabs " << field;
  }
  EXPECT_EQ(StatNum(ssdcached.groups["items"], "items:" + ours + ":number"), 3);
  EXPECT_EQ(StatNum(memcached.groups["items"], "items:" + theirs + ":number"), 3);
  EXPECT_EQ(StatNum(ssdcached.groups["slabs"], ours + ":used_chunks"), 3);
  EXPECT_EQ(StatNum(ssdcached.groups["slabs"], ours + ":get_hits"), 4);
  EXPECT_EQ(StatNum(ssdcached.groups["slabs"], ours + ":cmd_set"), 6);
  // Every item is still in its memory slab: hot, and every hit served from DRAM.
  const StatMap& items = ssdcached.groups["items"];
  EXPECT_EQ(StatNum(items, "items:" + ours + ":number_hot"), 3);
  EXPECT_EQ(StatNum(items, "items:" + ours + ":hits_to_hot"), 4);
  EXPECT_EQ(StatNum(items, "items:" + ours + ":hits_to_cold"), 0);
  EXPECT_LE(StatNum(items, "items:" + ours + ":age"), StatNum(ssdcached.groups[""], "uptime"));
}

TEST(StatsSurface, ResetClearsClassCountersAndSizesToggleAsMemcached) {
  OnBothAfterKnownCommands([](Target, Client& c) {
    ASSERT_EQ(c.Request("stats reset\r\n"), "RESET\r\n");
    const std::string cls = ClassWithItems(c.Stats("items"));
    ASSERT_FALSE(cls.empty());
    const StatMap slabs = c.Stats("slabs");
    EXPECT_EQ(StatNum(slabs, cls + ":get_hits"), 0);
    EXPECT_EQ(StatNum(slabs, cls + ":cmd_set"), 0);
    // A gauge (memcached's may still count a chunk it frees later).
    EXPECT_GE(StatNum(slabs, cls + ":used_chunks"), 3);
    // sizes_enable/sizes_disable answer one line and no END, as memcached does.
    EXPECT_EQ(c.Request("stats sizes_disable\r\n"), "STAT sizes_status disabled\r\n");
    EXPECT_EQ(c.Request("stats sizes\r\n", "END\r\n"), "STAT sizes_status disabled\r\nEND\r\n");
    EXPECT_EQ(c.Request("stats sizes_enable\r\n"), "STAT sizes_status enabled\r\n");
  });
}

TEST(StatsSurface, ConnsDescribeEachConnection) {
  ServerProcess server(OptionsFor(Target::kSsdcached));
  ASSERT_TRUE(server.Start());
  Client asking, idle;
  ASSERT_TRUE(asking.Connect(server.port()));
  ASSERT_TRUE(idle.Connect(server.port()));
  ASSERT_EQ(idle.Request("version\r\n").substr(0, 8), "VERSION ");
  const StatMap conns = asking.Stats("conns");
  const std::string listener = "tcp:127.0.0.1:" + std::to_string(server.port());
  std::map<std::string, int> states;
  int clients = 0;
  for (const auto& [name, value] : conns) {
    const std::string field = name.substr(name.find(':') + 1);
    const std::string fd = name.substr(0, name.find(':'));
    if (field == "state") ++states[value];
    if (field == "listen_addr") {
      ++clients;
      EXPECT_EQ(value, listener);
      EXPECT_TRUE(
          std::regex_match(conns.at(fd + ":addr"), std::regex("tcp:127\\.0\\.0\\.1:[0-9]+")));
    }
    if (field == "addr" && !conns.count(fd + ":listen_addr")) {
      EXPECT_EQ(value, listener);
    }
    if (field == "secs_since_last_cmd") {
      EXPECT_GE(std::stoll(value), 0);
    }
  }
  EXPECT_EQ(clients, 2);
  EXPECT_EQ(states["conn_listening"], 1);
  EXPECT_EQ(states["conn_parse_cmd"], 1);  // the one asking
  EXPECT_EQ(states["conn_read"], 1);       // the idle one
}

// Items of one class written well past the memory slabs (so most are on the device) and then past
// the device (so slabs are evicted): hot + cold = number, device reads count as hits_to_cold, and
// the class's evictions add up to the global count.
TEST(StatsSurface, DeviceItemsAndEvictionsPerClass) {
  ServerOptions options = OptionsFor(Target::kSsdcached);
  options.device_size = "16M";
  options.memory_mib = 4;
  ServerProcess server(options);
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  const std::string value(3000, 'v');
  int written = 0;
  for (int round = 0; round < 40; ++round) {
    std::string batch;
    for (int i = 0; i < 500; ++i, ++written) {
      batch += "set key" + std::to_string(written) + " 0 0 3000 noreply\r\n" + value + "\r\n";
    }
    ASSERT_TRUE(c.Send(batch));
    ASSERT_EQ(c.Request("version\r\n").substr(0, 8), "VERSION ");
    if (StatNum(c.Stats(), "evictions") > 0) break;
  }
  ASSERT_GT(StatNum(c.Stats(), "evictions"), 0) << "nothing evicted after " << written << " sets";
  // A key from the middle: on the device (memory holds the last 4 slabs; the first are evicted).
  const std::string key = "key" + std::to_string(written / 2);
  ASSERT_EQ(c.Get("get " + key + "\r\n"), ValueBlock(key, 0, value) + "END\r\n");

  // Slab writes still completing may evict more: read the groups once evictions stand still.
  StatMap stats, items, slabs;
  for (int i = 0; i < 200; ++i) {
    stats = c.Stats();
    items = c.Stats("items");
    slabs = c.Stats("slabs");
    if (StatNum(c.Stats(), "evictions") == StatNum(stats, "evictions")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(StatNum(stats, "reads_device"), 1) << "the get was not served by the device";
  const std::string cls = ClassWithItems(items);
  ASSERT_FALSE(cls.empty());
  const std::string p = "items:" + cls + ":";
  EXPECT_EQ(StatNum(items, p + "number_hot") + StatNum(items, p + "number_cold"),
            StatNum(items, p + "number"));
  EXPECT_GT(StatNum(items, p + "number_cold"), 0);
  EXPECT_EQ(StatNum(items, p + "hits_to_cold"), 1);
  EXPECT_EQ(StatNum(items, p + "evicted"), StatNum(stats, "evictions"));
  EXPECT_GE(StatNum(items, p + "age"), StatNum(items, p + "age_hot"));
  EXPECT_LE(StatNum(items, p + "evicted_time"), StatNum(stats, "uptime"));
  EXPECT_EQ(StatNum(slabs, cls + ":used_chunks"), StatNum(items, p + "number"));
  EXPECT_EQ(StatNum(slabs, cls + ":total_chunks"),
            StatNum(slabs, cls + ":total_pages") * StatNum(slabs, cls + ":chunks_per_page"));
  EXPECT_EQ(StatNum(slabs, cls + ":get_hits"), 1);
}

// What the Prometheus memcached_exporter v0.11 reads (pkg/exporter/exporter.go, parseStats and
// parseStatsSettings, at tag v0.11.3; its client github.com/grobie/gomemcache parses the lines).
// A missing cmd_set, cas_* (in `stats` and per class in `stats slabs`) fails the scrape
// ("Failed to parse set: key not found", memcached_up 0); the others are exported when present,
// and every one present must parse as a number (rusage_* as seconds.microseconds).
const std::vector<std::string> kExporterStats = {
    "version", "get_hits", "get_misses", "delete_hits", "delete_misses", "incr_hits", "incr_misses",
    "decr_hits", "decr_misses", "cas_hits", "cas_misses", "touch_hits", "touch_misses", "uptime",
    "time", "cas_badval", "cmd_flush", "cmd_set", "rusage_user", "rusage_system", "bytes",
    "limit_maxbytes", "curr_items", "total_items", "bytes_read", "bytes_written",
    "curr_connections", "total_connections", "rejected_connections", "conn_yields",
    "listen_disabled_num", "evictions", "reclaimed", "lru_crawler_starts", "crawler_items_checked",
    "crawler_reclaimed", "moves_to_cold", "moves_to_warm", "moves_within_lru", "accepting_conns",
    // From `stats slabs`, read into the same map by the client.
    "total_malloced"};
const std::vector<std::string> kExporterItems = {
    "number",          "age",           "hits_to_hot",       "hits_to_warm",
    "hits_to_cold",    "hits_to_temp",  "crawler_reclaimed", "evicted",
    "evicted_nonzero", "evicted_time",  "evicted_unfetched", "expired_unfetched",
    "outofmemory",     "reclaimed",     "tailrepairs",       "mem_requested",
    "moves_to_cold",   "moves_to_warm", "moves_within_lru",  "number_hot",
    "number_warm",     "number_cold",   "age_hot",           "age_warm"};
const std::vector<std::string> kExporterSlabs = {
    "get_hits",    "delete_hits",     "incr_hits",       "decr_hits",
    "cas_hits",    "touch_hits",      "cas_badval",      "cmd_set",
    "chunk_size",  "chunks_per_page", "total_pages",     "total_chunks",
    "used_chunks", "free_chunks",     "free_chunks_end", "mem_requested"};
// maxconns always; the others (and the booleans lru_crawler, lru_maintainer_thread) when
// lru_crawler is "yes", as on both here: a missing one fails the scrape.
const std::vector<std::string> kExporterSettings = {
    "maxconns",     "lru_crawler_sleep", "lru_crawler_tocrawl", "hot_lru_pct",
    "warm_lru_pct", "hot_max_factor",    "warm_max_factor"};

TEST(StatsSurface, HasWhatTheMemcachedExporterParses) {
  OnBothAfterKnownCommands([](Target target, Client& c) {
    StatMap general = c.Stats();
    general.merge(c.Stats("slabs"));
    const StatMap items = c.Stats("items");
    const StatMap slabs = c.Stats("slabs");
    const StatMap settings = c.Stats("settings");
    const std::string cls = ClassWithItems(items);
    ASSERT_FALSE(cls.empty());
    const std::regex number("-?[0-9]+(\\.[0-9]+)?");
    auto check = [&](const StatMap& m, const std::string& name) {
      auto it = m.find(name);
      ASSERT_NE(it, m.end()) << "no STAT " << name;
      if (name != "version") {
        EXPECT_TRUE(std::regex_match(it->second, number)) << name;
      }
    };
    for (const std::string& n : kExporterStats) check(general, n);
    for (const std::string& n : kExporterItems) check(items, "items:" + cls + ":" + n);
    for (const std::string& n : kExporterSlabs) {
      // memcached 1.6 moved mem_requested to `stats items`; the exporter takes it from either.
      if (n == "mem_requested" && target == Target::kMemcached) continue;
      check(slabs, cls + ":" + n);
    }
    for (const std::string& n : kExporterSettings) check(settings, n);
    EXPECT_EQ(settings.at("lru_crawler"), "yes");
    EXPECT_TRUE(settings.at("lru_maintainer_thread") == "yes" ||
                settings.at("lru_maintainer_thread") == "no");
    for (const char* n : {"rusage_user", "rusage_system"}) {
      EXPECT_TRUE(std::regex_match(general[n], std::regex("[0-9]+\\.[0-9]+"))) << n;
    }
    // The client splits every `stats settings` line in three at its first two spaces.
    const std::string raw = c.Request("stats settings\r\n", "END\r\n");
    EXPECT_TRUE(FullyMatches(raw, "(STAT [^ \r\n]+ [^\r\n]+\r\n)*END\r\n"));
  });
}

}  // namespace
}  // namespace ssdcache::integration
