// stats (and its counters), stats settings / slabs / reset, flush_all. Each test has its own
// server: these observe or change global state.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <sstream>
#include <string>
#include <thread>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

// Every line "STAT <name> <value>", then "END".
::testing::AssertionResult WellFormedStats(const std::string& reply) {
  return FullyMatches(reply, "(STAT [^ \r\n]+ [^\r\n]*\r\n)*END\r\n");
}

class Stats : public OwnServerTest {};

TEST_F(Stats, HasTheStandardFields) {
  std::string raw = client_.Request("stats\r\n", "END\r\n");
  ASSERT_TRUE(WellFormedStats(raw));
  auto stats = client_.Stats();
  for (const char* name :
       {"pid", "uptime", "time", "version", "curr_connections", "total_connections", "cmd_get",
        "cmd_set", "get_hits", "get_misses", "curr_items", "evictions"}) {
    EXPECT_TRUE(stats.count(name)) << "missing STAT " << name;
  }
  EXPECT_EQ(StatNum(stats, "pid"), server_->pid());
  EXPECT_GE(StatNum(stats, "uptime"), 0);
  EXPECT_NEAR(static_cast<double>(StatNum(stats, "time")), static_cast<double>(std::time(nullptr)),
              5.0);
  std::string version = client_.Request("version\r\n");
  EXPECT_EQ("VERSION " + stats["version"] + "\r\n", version);
  EXPECT_GE(StatNum(stats, "curr_connections"), 1);
  EXPECT_GE(StatNum(stats, "total_connections"), StatNum(stats, "curr_connections"));
  EXPECT_EQ(StatNum(stats, "curr_items"), 0);
  EXPECT_EQ(StatNum(stats, "evictions"), 0);
}

TEST_F(Stats, CountersMove) {
  auto before = client_.Stats();
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Request("set b 0 0 1\r\n2\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Get("get a\r\n"), ValueBlock("a", 0, "1") + "END\r\n");
  ASSERT_EQ(client_.Get("get missing\r\n"), "END\r\n");
  // A multi-get counts every key
  ASSERT_EQ(client_.Get("get a b missing\r\n"),
            ValueBlock("a", 0, "1") + ValueBlock("b", 0, "2") + "END\r\n");
  auto after = client_.Stats();
  EXPECT_EQ(StatNum(after, "cmd_set") - StatNum(before, "cmd_set"), 2);
  EXPECT_EQ(StatNum(after, "cmd_get") - StatNum(before, "cmd_get"), 5);
  EXPECT_EQ(StatNum(after, "get_hits") - StatNum(before, "get_hits"), 3);
  EXPECT_EQ(StatNum(after, "get_misses") - StatNum(before, "get_misses"), 2);
  EXPECT_EQ(StatNum(after, "curr_items") - StatNum(before, "curr_items"), 2);
  ASSERT_EQ(client_.Request("delete a\r\n"), "DELETED\r\n");
  EXPECT_EQ(StatNum(client_.Stats(), "curr_items"), StatNum(before, "curr_items") + 1);

  // Connections
  auto conns_before = client_.Stats();
  {
    Client second = Connect();
    ASSERT_TRUE(FullyMatches(second.Request("version\r\n"), kVersionLine));
    auto during = client_.Stats();
    EXPECT_EQ(StatNum(during, "curr_connections"), StatNum(conns_before, "curr_connections") + 1);
    EXPECT_EQ(StatNum(during, "total_connections"), StatNum(conns_before, "total_connections") + 1);
  }
  // The close is seen by the server asynchronously: poll briefly.
  int64_t curr = -1;
  for (int i = 0; i < 100; ++i) {
    curr = StatNum(client_.Stats(), "curr_connections");
    if (curr == StatNum(conns_before, "curr_connections")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(curr, StatNum(conns_before, "curr_connections"));
}

TEST_F(Stats, UptimeAdvances) {
  int64_t t0 = StatNum(client_.Stats(), "uptime");
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  int64_t t1 = StatNum(client_.Stats(), "uptime");
  EXPECT_GE(t1 - t0, 1);
  EXPECT_LE(t1 - t0, 4);
}

TEST_F(Stats, Settings) {
  std::string raw = client_.Request("stats settings\r\n", "END\r\n");
  ASSERT_TRUE(WellFormedStats(raw));
  auto settings = client_.Stats("settings");
  EXPECT_EQ(StatNum(settings, "tcpport"), server_->port());
  EXPECT_EQ(StatNum(settings, "maxconns"), 1024);
  if (TargetIsMemcached()) return;
  // The crash journal's size (default 4 MiB; 0 means none): a multiple of its 4 KiB blocks.
  ASSERT_EQ(settings.count("journal_size"), 1u);
  EXPECT_EQ(StatNum(settings, "journal_size") % 4096, 0);
  // How its entries are committed: the default keeps them in the page cache (survives SIGKILL).
  EXPECT_EQ(settings["journal_sync"], "process");
}

TEST_F(Stats, Slabs) {
  ASSERT_EQ(client_.Request("set a 0 0 100\r\n" + std::string(100, 'a') + "\r\n"), "STORED\r\n");
  std::string raw = client_.Request("stats slabs\r\n", "END\r\n");
  ASSERT_TRUE(WellFormedStats(raw));
  auto slabs = client_.Stats("slabs");
  EXPECT_GE(StatNum(slabs, "active_slabs"), 1);
}

TEST_F(Stats, Reset) {
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Get("get a\r\n"), ValueBlock("a", 0, "1") + "END\r\n");
  ASSERT_GE(StatNum(client_.Stats(), "cmd_get"), 1);
  EXPECT_EQ(client_.Request("stats reset\r\n"), "RESET\r\n");
  auto stats = client_.Stats();
  EXPECT_EQ(StatNum(stats, "cmd_get"), 0);
  EXPECT_EQ(StatNum(stats, "cmd_set"), 0);
  EXPECT_EQ(StatNum(stats, "get_hits"), 0);
  // Items are not counters: they stay
  EXPECT_EQ(StatNum(stats, "curr_items"), 1);
  ASSERT_EQ(client_.Get("get a\r\n"), ValueBlock("a", 0, "1") + "END\r\n");
  EXPECT_EQ(StatNum(client_.Stats(), "cmd_get"), 1);
}

TEST_F(Stats, UnknownSubcommand) {
  EXPECT_EQ(client_.Request("stats nosuchthing\r\n"), "ERROR\r\n");
  EXPECT_TRUE(FullyMatches(client_.Request("version\r\n"), kVersionLine));
}

// ---------------------------------------------------------------------------------------------

class FlushAll : public OwnServerTest {};

TEST_F(FlushAll, Immediate) {
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  ASSERT_EQ(client_.Request("set b 0 0 1\r\n2\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("flush_all\r\n"), "OK\r\n");
  EXPECT_EQ(client_.Get("get a b\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("add a 0 0 1\r\n3\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("replace b 0 0 1\r\n4\r\n"), "NOT_STORED\r\n");
  // Items stored right after the flush (same second) survive
  EXPECT_EQ(client_.Request("set b 0 0 1\r\n5\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get a b\r\n"),
            ValueBlock("a", 0, "3") + ValueBlock("b", 0, "5") + "END\r\n");
  EXPECT_EQ(client_.Request("flush_all 0\r\n"), "OK\r\n");
  EXPECT_EQ(client_.Get("get a b\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("incr a 1\r\n"), "NOT_FOUND\r\n");
}

TEST_F(FlushAll, WithDelay) {
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("flush_all 2\r\n"), "OK\r\n");
  // Not yet
  EXPECT_EQ(client_.Get("get a\r\n"), ValueBlock("a", 0, "1") + "END\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::string reply;
  do {
    reply = client_.Get("get a\r\n");
    if (reply == "END\r\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(reply, "END\r\n");
  // Stored after the deadline: kept
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n2\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get a\r\n"), ValueBlock("a", 0, "2") + "END\r\n");
}

TEST_F(FlushAll, BadArgument) {
  ASSERT_EQ(client_.Request("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("flush_all abc\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(client_.Get("get a\r\n"), ValueBlock("a", 0, "1") + "END\r\n");
}

}  // namespace
}  // namespace ssdcache::integration
