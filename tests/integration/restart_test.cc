// Warm restart and crash safety of ssdcached on its device file: a clean restart brings back every
// acknowledged item, deletes and flush_all stay in force, a device of another geometry is refused
// unless --format, and SIGKILL at random moments of a write load never yields a foreign or corrupt
// value after the restart.
#include <sys/wait.h>
#include <unistd.h>

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

// The meta protocol's stale mark is part of the record; the win token and the access table are
// DRAM only, so after a restart the next reader of a stale item wins again and l counts from the
// item's store time.
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

// SIGKILL in the middle of a write load, several times at random moments; after each restart
// every value read back must be a genuine value of its key (its own key, a version that was sent,
// intact bytes). Misses are allowed.
TEST(CrashSafety, SigkillDuringWritesNeverYieldsForeignOrCorruptValues) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(RestartOptions());
  constexpr int kKeys = 2000;
  std::vector<uint32_t> sent(kKeys, 0);
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(server.Start()) << "round " << round;
    // Check what survived the previous crash.
    {
      Client c;
      ASSERT_TRUE(c.Connect(server.port()));
      for (int base = 0; base < kKeys; base += 100) {
        std::string get = "get";
        for (int k = base; k < base + 100; ++k) get += " r" + std::to_string(k);
        std::string reply = c.Get(get + "\r\n");
        ASSERT_TRUE(c.error().empty()) << c.error();
        std::string_view rest(reply);
        while (rest.rfind("VALUE ", 0) == 0) {
          size_t eol = rest.find("\r\n");
          std::string header(rest.substr(6, eol - 6));
          size_t sp1 = header.find(' '), sp2 = header.find(' ', sp1 + 1);
          std::string key = header.substr(0, sp1);
          uint32_t flags = static_cast<uint32_t>(std::stoul(header.substr(sp1 + 1, sp2 - sp1 - 1)));
          size_t bytes = std::stoul(header.substr(sp2 + 1));
          std::string_view data = rest.substr(eol + 2, bytes);
          rest.remove_prefix(eol + 2 + bytes + 2);
          int k = std::stoi(key.substr(1));
          ASSERT_TRUE(k >= base && k < base + 100) << key;
          ASSERT_GE(flags, 1u) << key;
          ASSERT_LE(flags, sent[k]) << key << " has a version that was never sent";
          ASSERT_EQ(data, VersionedValue(k, flags, SizeFor(k, flags)))
              << key << " version " << flags << " is corrupt";
        }
        ASSERT_EQ(rest, "END\r\n");
      }
    }
    // Write load from a thread; kill the server after a random delay.
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      Client w;
      if (!w.Connect(server.port())) return;
      std::mt19937 wrng(round * 31 + 1);
      while (!stop) {
        std::string batch;
        for (int i = 0; i < 50; ++i) {
          int k = static_cast<int>(wrng() % kKeys);
          batch += SetCommand(k, ++sent[k]);
        }
        if (!w.Send(batch)) return;
        for (int i = 0; i < 50; ++i) {
          if (w.ReadLine() != "STORED\r\n") return;
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 800));
    server.Kill();
    stop = true;
    writer.join();
  }
  ASSERT_TRUE(server.Start());
  EXPECT_TRUE(ExitedWithZero(server.Stop()));
}

}  // namespace
}  // namespace ssdcache::integration
