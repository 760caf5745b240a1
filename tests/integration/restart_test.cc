// Warm restart and crash safety of ssdcached on its device file: a clean restart brings back every
// acknowledged item, deletes and flush_all stay in force, a device of another geometry is refused
// unless --format, and SIGKILL at random moments of a write load never yields a foreign or corrupt
// value after the restart.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

// A value that names its key and version, so any reply can be checked for being that key's.
std::string VersionedValue(int key, uint32_t version, size_t size) {
  std::string v = "k" + std::to_string(key) + "v" + std::to_string(version) + ":";
  uint64_t x = static_cast<uint64_t>(key) * 2654435761ULL + version;
  while (v.size() < size) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    v.push_back(static_cast<char>('a' + (x >> 59)));
  }
  return v;
}

size_t SizeFor(int key, uint32_t version) { return 50 + (key * 131 + version * 977) % 6000; }

std::string SetCommand(int key, uint32_t version) {
  std::string value = VersionedValue(key, version, SizeFor(key, version));
  return "set r" + std::to_string(key) + " " + std::to_string(version) + " 0 " +
         std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

ServerOptions RestartOptions() {
  ServerOptions o;
  o.device_size = "64M";
  o.memory_mib = 8;
  o.ssdcached_extra_args = {"-I", "256K"};
  return o;
}

TEST(WarmRestart, KeepsAcknowledgedItemsAndDeletes) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(RestartOptions());
  ASSERT_TRUE(server.Start());
  constexpr int kKeys = 3000;
  std::map<int, uint32_t> version;
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    for (int round = 1; round <= 2; ++round) {
      for (int k = 0; k < kKeys; k += round) {  // every key, then every second one again
        version[k] = static_cast<uint32_t>(round);
        ASSERT_EQ(c.Request(SetCommand(k, version[k])), "STORED\r\n");
      }
    }
    for (int k = 0; k < kKeys; k += 7) {
      ASSERT_EQ(c.Request("delete r" + std::to_string(k) + "\r\n"), "DELETED\r\n");
      version.erase(k);
    }
  }
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  for (int k = 0; k < kKeys; ++k) {
    std::string key = "r" + std::to_string(k);
    std::string reply = c.Get("get " + key + "\r\n");
    auto it = version.find(k);
    if (it == version.end()) {
      ASSERT_EQ(reply, "END\r\n") << key << " was deleted before the restart";
    } else {
      ASSERT_EQ(reply,
                ValueBlock(key, it->second, VersionedValue(k, it->second, SizeFor(k, it->second))) +
                    "END\r\n")
          << key;
    }
  }
  auto stats = c.Stats();
  EXPECT_EQ(stats["curr_items"], std::to_string(version.size()));
  // cas uniques keep growing across the restart.
  ASSERT_EQ(c.Request("set fresh 0 0 1\r\nx\r\n"), "STORED\r\n");
  EXPECT_TRUE(ParseCas(c.Get("gets fresh\r\n")).has_value());
}

// The last log line holding `what`, from `what` on ("" when none).
std::string LastLogLine(const ServerProcess& server, std::string_view what) {
  const std::string log = server.LogTail(1 << 22);
  const size_t at = log.rfind(what);
  if (at == std::string::npos) return "";
  return log.substr(at, log.find('\n', at) - at);
}

// Every key is back at its version in `version` (absent: a miss); after a crash (`crashed`) a
// key may also be a miss, but never older.
void ExpectVersions(Client& c, int keys, const std::map<int, uint32_t>& version, bool crashed) {
  for (int k = 0; k < keys; ++k) {
    const std::string key = "r" + std::to_string(k);
    const std::string reply = c.Get("get " + key + "\r\n");
    auto it = version.find(k);
    if (it == version.end() || (crashed && reply == "END\r\n")) {
      ASSERT_EQ(reply, "END\r\n") << key << " was deleted";
      continue;
    }
    ASSERT_EQ(reply,
              ValueBlock(key, it->second, VersionedValue(k, it->second, SizeFor(k, it->second))) +
                  "END\r\n")
        << key;
  }
}

// SIGTERM writes the index snapshot and the next start loads it instead of scanning: every item is
// back. A SIGKILL after that start and more writes leaves the snapshot stale: the start after it
// scans, and no deleted key or older value comes back.
TEST(WarmRestart, ASnapshotRestartThenASigkillNeverBringsAnOldValueBack) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(RestartOptions());
  ASSERT_TRUE(server.Start());
  constexpr int kKeys = 3000;
  std::map<int, uint32_t> version;
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    for (int k = 0; k < kKeys; ++k) {
      version[k] = 1;
      ASSERT_EQ(c.Request(SetCommand(k, 1)), "STORED\r\n");
    }
    for (int k = 0; k < kKeys; k += 7) {
      ASSERT_EQ(c.Request("delete r" + std::to_string(k) + "\r\n"), "DELETED\r\n");
      version.erase(k);
    }
  }
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  EXPECT_NE(LastLogLine(server, "clean stop: snapshot of"), "") << server.LogTail();
  ASSERT_TRUE(server.Start());
  EXPECT_NE(LastLogLine(server, "warm restart: ").find("snapshot loaded"), std::string::npos)
      << server.LogTail();
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_NO_FATAL_FAILURE(ExpectVersions(c, kKeys, version, false));
    EXPECT_EQ(c.Stats()["curr_items"], std::to_string(version.size()));
    for (int k = 0; k < kKeys; k += 2) {
      version[k] = 2;
      ASSERT_EQ(c.Request(SetCommand(k, 2)), "STORED\r\n");
    }
    for (int k = 1; k < kKeys; k += 5) {
      if (!version.erase(k)) continue;
      ASSERT_EQ(c.Request("delete r" + std::to_string(k) + "\r\n"), "DELETED\r\n");
    }
  }
  server.Kill();
  ASSERT_TRUE(server.Start());
  EXPECT_NE(LastLogLine(server, "warm restart: ").find("no snapshot: the last run did not stop"),
            std::string::npos)
      << server.LogTail();
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  ASSERT_NO_FATAL_FAILURE(ExpectVersions(c, kKeys, version, true));
}

// The meta protocol's stale mark is part of the record; the win token is DRAM only, so after a
// restart the next reader of a stale item wins again, and l of an item not read since its store
// counts from the store time (the access table, kept by a snapshot restart, does not hold it).
TEST(WarmRestart, StaleMarkAndStoreTimeSurvive) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(RestartOptions());
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_EQ(c.Request("set stale 0 0 2\r\nhi\r\n"), "STORED\r\n");
    ASSERT_EQ(c.Request("set fresh 0 0 2\r\nho\r\n"), "STORED\r\n");
    ASSERT_EQ(c.Request("md stale I\r\n"), "HD\r\n");
    ASSERT_EQ(c.Request("mg stale v\r\n"), "VA 2 X W\r\n");
    ASSERT_EQ(c.ReadExact(4), "hi\r\n");
  }
  ::usleep(1'100'000);
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_EQ(c.Request("mg stale s\r\n"), "HD s2 X W\r\n");
  EXPECT_EQ(c.Request("mg stale s\r\n"), "HD s2 Z X\r\n");
  // At least the second slept before the restart has passed since the store.
  const std::string l = c.Request("mg fresh s l\r\n");
  EXPECT_TRUE(FullyMatches(l, "HD s2 l[1-9][0-9]*\r\n")) << Printable(l);
}

TEST(WarmRestart, FlushAllStaysInForce) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(RestartOptions());
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    for (int k = 0; k < 500; ++k) ASSERT_EQ(c.Request(SetCommand(k, 1)), "STORED\r\n");
    ASSERT_EQ(c.Request("flush_all\r\n"), "OK\r\n");
    ASSERT_EQ(c.Request("set survivor 5 0 2\r\nok\r\n"), "STORED\r\n");
  }
  ASSERT_TRUE(ExitedWithZero(server.Stop()));
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  for (int k = 0; k < 500; k += 13) {
    EXPECT_EQ(c.Get("get r" + std::to_string(k) + "\r\n"), "END\r\n");
  }
  EXPECT_EQ(c.Get("get survivor\r\n"), ValueBlock("survivor", 5, "ok") + "END\r\n");
  EXPECT_EQ(c.Stats()["curr_items"], "1");
}

TEST(WarmRestart, OtherGeometryIsRefusedUnlessFormat) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(RestartOptions());
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_EQ(c.Request("set k 0 0 1\r\nx\r\n"), "STORED\r\n");
  }
  ASSERT_TRUE(ExitedWithZero(server.Stop()));
  std::string out;
  std::vector<std::string> args = {SsdcachedBinary(),
                                   "-p",
                                   "0",
                                   "-D",
                                   server.device_path(),
                                   "--device-size",
                                   "64M",
                                   "-m",
                                   "8",
                                   "-I",
                                   "512K"};
  int status = RunToExit(args, &out);
  ASSERT_TRUE(WIFEXITED(status)) << DescribeStatus(status);
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;
  EXPECT_NE(out.find("--format"), std::string::npos) << out;
  EXPECT_NE(out.find("slab-size"), std::string::npos) << out;
  // With the original flags it still starts and serves the item.
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    EXPECT_EQ(c.Get("get k\r\n"), ValueBlock("k", 0, "x") + "END\r\n");
  }
  ASSERT_TRUE(ExitedWithZero(server.Stop()));
  // --format with the new flags wipes it (a later -D overrides the harness's own device).
  ServerOptions wiped = RestartOptions();
  wiped.ssdcached_extra_args = {"-I", "512K", "--format", "-D", server.device_path()};
  ServerProcess again(wiped);
  ASSERT_TRUE(again.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(again.port()));
    EXPECT_EQ(c.Get("get k\r\n"), "END\r\n");
    EXPECT_EQ(c.Stats()["curr_items"], "0");
  }
  EXPECT_TRUE(ExitedWithZero(again.Stop()));
}

// What the client knows of one key during the crash test: the version its last acknowledged
// request left (0: none, after a delete), and the versions sent since without a reply read.
struct KeyState {
  uint32_t acked = 0;
  std::vector<uint32_t> in_flight;  // in send order; 0 stands for a delete
};

// Parses a multi-get reply of VersionedValue()s; calls check(key number, version, data).
template <typename Check>
::testing::AssertionResult ForEachValue(std::string_view reply, Check check) {
  ParsedValue v;
  while (PopValue(reply, v)) {
    ::testing::AssertionResult r = check(std::stoi(v.key.substr(1)), v.flags, v.data);
    if (!r) return r << " (" << v.key << ")";
  }
  if (reply != "END\r\n") return ::testing::AssertionFailure() << "bad reply tail: " << reply;
  return ::testing::AssertionSuccess();
}

// SIGKILL in the middle of a write load of several versions per key and deletes, several times
// at random moments. The client tracks the last acknowledged version of every key; after each
// restart on the same device every key must be a miss, exactly that version, or a version whose
// request was still unanswered at the kill. Without the crash journal (--journal-size 0) a key
// overwritten (or deleted) while its previous version was on the device comes back with that
// older version, which this test catches. Run with each --journal-sync mode: process (entries in
// the page cache, which a killed process leaves behind) and device (entries written first).
class CrashSafety : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(JournalSync, CrashSafety, ::testing::Values("process", "device"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST_P(CrashSafety, SigkillDuringWritesNeverYieldsForeignOrCorruptValues) {
  SKIP_UNLESS_SSDCACHED();
  ServerOptions options = RestartOptions();
  options.ssdcached_extra_args.insert(options.ssdcached_extra_args.end(),
                                      {"--journal-sync", GetParam()});
  ServerProcess server(options);
  constexpr int kKeys = 2000;
  std::vector<KeyState> keys(kKeys);
  std::vector<uint32_t> sent(kKeys, 0);
  std::mt19937 rng(7);
  int older_versions_possible = 0;  // overwrites and deletes acknowledged over an earlier version
  for (int round = 0; round < 6; ++round) {
    ASSERT_TRUE(server.Start()) << "round " << round;
    // Check what survived the previous crash, and take it as the new baseline.
    {
      Client c;
      ASSERT_TRUE(c.Connect(server.port()));
      for (int base = 0; base < kKeys; base += 100) {
        std::string get = "get";
        for (int k = base; k < base + 100; ++k) get += " r" + std::to_string(k);
        std::string reply = c.Get(get + "\r\n");
        ASSERT_TRUE(c.error().empty()) << c.error();
        std::vector<uint32_t> seen(100, 0);
        auto acknowledged_or_in_flight = [&](int k, uint32_t version,
                                             std::string_view data) -> ::testing::AssertionResult {
          if (k < base || k >= base + 100) return ::testing::AssertionFailure() << "foreign key";
          if (version < 1 || version > sent[k])
            return ::testing::AssertionFailure() << "version " << version << " never sent";
          if (data != VersionedValue(k, version, SizeFor(k, version)))
            return ::testing::AssertionFailure() << "version " << version << " is corrupt";
          const KeyState& st = keys[k];
          bool in_flight = version != 0 && std::find(st.in_flight.begin(), st.in_flight.end(),
                                                     version) != st.in_flight.end();
          if (version != st.acked && !in_flight) {
            return ::testing::AssertionFailure()
                   << "round " << round << ": version " << version
                   << " is back, but the last acknowledged request left "
                   << (st.acked == 0 ? std::string("no value")
                                     : "version " + std::to_string(st.acked));
          }
          seen[k - base] = version;
          return ::testing::AssertionSuccess();
        };
        ASSERT_TRUE(ForEachValue(reply, acknowledged_or_in_flight));
        for (int k = base; k < base + 100; ++k) {
          keys[k].acked = seen[k - base];
          keys[k].in_flight.clear();
        }
      }
    }
    // Write load from a thread: pipelined batches of sets (new versions) and deletes; kill the
    // server after a random delay.
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      Client w;
      if (!w.Connect(server.port())) return;
      std::mt19937 wrng(round * 31 + 1);
      while (!stop) {
        std::string batch;
        std::vector<std::pair<int, uint32_t>> ops;  // key, version (0: delete)
        for (int i = 0; i < 50; ++i) {
          int k = static_cast<int>(wrng() % kKeys);
          if (wrng() % 8 == 0) {
            batch += "delete r" + std::to_string(k) + "\r\n";
            ops.emplace_back(k, 0);
            keys[k].in_flight.push_back(0);
          } else {
            batch += SetCommand(k, ++sent[k]);
            ops.emplace_back(k, sent[k]);
            keys[k].in_flight.push_back(sent[k]);
          }
        }
        if (!w.Send(batch)) return;
        for (auto [k, version] : ops) {
          std::string line = w.ReadLine();
          bool ok = version != 0 ? line == "STORED\r\n"
                                 : line == "DELETED\r\n" || line == "NOT_FOUND\r\n";
          if (!ok) return;  // killed: this op and the rest of the batch stay in flight
          if (keys[k].acked != 0) ++older_versions_possible;
          keys[k].acked = version;
          // Replies come in order, so this op is the oldest of the key's in flight.
          keys[k].in_flight.erase(keys[k].in_flight.begin());
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 900));
    server.Kill();
    stop = true;
    writer.join();
  }
  EXPECT_GT(older_versions_possible, 1000) << "the load must overwrite keys it wrote before";
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    EXPECT_EQ(c.Stats()["journal_errors"], "0");
    EXPECT_EQ(c.Stats("settings")["journal_sync"], GetParam());
  }
  EXPECT_TRUE(ExitedWithZero(server.Stop()));
}

// --journal-sync process keeps entries in the page cache: enough after SIGKILL, not after a
// power loss or kernel crash. The superblock records the boot (SSDCACHE_BOOT_ID plays one) and a
// clean shutdown: a device left by a crashed process-mode run is trusted on the same boot only.
class BootId : public ::testing::Test {
 protected:
  static constexpr int kKeys = 2000;  // ~6 MiB of values with -m 8: most on the device
  ServerOptions Options(const std::string& boot) {
    ServerOptions o = RestartOptions();
    o.env = {"SSDCACHE_BOOT_ID=" + boot};
    return o;
  }
  // Sets every key to version 1, then overwrites every second one with version 2, so that the
  // device holds superseded versions and the journal the entries that supersede them.
  static ::testing::AssertionResult Load(Client& c) {
    for (int version = 1; version <= 2; ++version) {
      for (int k = 0; k < kKeys; k += version) {
        std::string reply = c.Request(SetCommand(k, static_cast<uint32_t>(version)));
        if (reply != "STORED\r\n")
          return ::testing::AssertionFailure() << "r" << k << ": " << reply;
      }
    }
    return ::testing::AssertionSuccess();
  }
  static void StartAndLoad(ServerProcess& server) {
    ASSERT_TRUE(server.Start());
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_TRUE(Load(c));
  }
  // Every key is a miss or its last version; returns how many hit.
  static int CountLastVersions(Client& c) {
    int hits = 0;
    for (int k = 0; k < kKeys; ++k) {
      const uint32_t last = k % 2 == 0 ? 2 : 1;
      std::string key = "r" + std::to_string(k);
      std::string reply = c.Get("get " + key + "\r\n");
      if (reply == "END\r\n") continue;
      EXPECT_EQ(reply,
                ValueBlock(key, last, VersionedValue(k, last, SizeFor(k, last))) + "END\r\n");
      ++hits;
    }
    return hits;
  }
};

TEST_F(BootId, ACrashOnTheSameBootRestartsWarm) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(Options("boot-a"));
  ASSERT_NO_FATAL_FAILURE(StartAndLoad(server));
  server.Kill();
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_GT(CountLastVersions(c), kKeys / 4) << "what was on the device is back";
  EXPECT_EQ(server.LogTail(100000).find("unclean shutdown"), std::string::npos);
}

TEST_F(BootId, ACrashOnAnotherBootStartsEmptyAndServes) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(Options("boot-a"));
  ASSERT_NO_FATAL_FAILURE(StartAndLoad(server));
  server.Kill();
  server.set_env({"SSDCACHE_BOOT_ID=boot-b"});
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_EQ(CountLastVersions(c), 0) << "the journal may have lost entries: nothing is trusted";
  EXPECT_EQ(c.Stats()["curr_items"], "0");
  EXPECT_NE(server.LogTail(100000).find("unclean shutdown across a reboot with --journal-sync "
                                        "process: journal entries may be lost; starting empty"),
            std::string::npos)
      << server.LogTail();
  ASSERT_EQ(c.Request("set fresh 0 0 1\r\nx\r\n"), "STORED\r\n");
  EXPECT_EQ(c.Get("get fresh\r\n"), ValueBlock("fresh", 0, "x") + "END\r\n");
}

TEST_F(BootId, ACleanShutdownIsTrustedOnAnotherBoot) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(Options("boot-a"));
  ASSERT_NO_FATAL_FAILURE(StartAndLoad(server));
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  server.set_env({"SSDCACHE_BOOT_ID=boot-b"});
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_EQ(CountLastVersions(c), kKeys) << "every acknowledged item is back";
}

}  // namespace
}  // namespace ssdcache::integration
