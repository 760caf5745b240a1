// noreply on every command that takes it, and item expiry.
#include <chrono>
#include <ctime>
#include <string>
#include <thread>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

class Noreply : public SharedServerTest {
 protected:
  // Sends `request` (which must produce no reply) followed by "version": the only reply must be
  // the VERSION line, proving nothing was sent back and the stream is in sync.
  void ExpectSilent(const std::string& request) {
    std::string reply = client_.Request(request + "version\r\n");
    EXPECT_TRUE(FullyMatches(reply, kVersionLine)) << "after " << Printable(request);
  }
};

TEST_F(Noreply, StorageCommands) {
  const std::string k = Key("k");
  ExpectSilent("set " + k + " 1 0 1 noreply\r\na\r\n");
  ExpectSilent("add " + k + " 2 0 1 noreply\r\nb\r\n");  // NOT_STORED, silently
  ExpectSilent("replace " + k + " 3 0 1 noreply\r\nc\r\n");
  ExpectSilent("append " + k + " 0 0 1 noreply\r\nd\r\n");
  ExpectSilent("prepend " + k + " 0 0 1 noreply\r\ne\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 3, "ecd") + "END\r\n");
  ExpectSilent("add " + Key("new") + " 4 0 2 noreply\r\nnn\r\n");
  EXPECT_EQ(client_.Get("get " + Key("new") + "\r\n"), ValueBlock(Key("new"), 4, "nn") + "END\r\n");
  ExpectSilent("replace " + Key("absent") + " 0 0 1 noreply\r\nx\r\n");
  ExpectSilent("append " + Key("absent") + " 0 0 1 noreply\r\nx\r\n");
  EXPECT_EQ(client_.Get("get " + Key("absent") + "\r\n"), "END\r\n");
}

TEST_F(Noreply, Cas) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 1\r\na\r\n"), "STORED\r\n");
  auto cas = ParseCas(client_.Get("gets " + k + "\r\n"));
  ASSERT_TRUE(cas.has_value());
  ExpectSilent("cas " + k + " 0 0 1 " + std::to_string(*cas + 1) + " noreply\r\nx\r\n");  // EXISTS
  ExpectSilent("cas " + Key("absent") + " 0 0 1 1 noreply\r\nx\r\n");                 // NOT_FOUND
  ExpectSilent("cas " + k + " 0 0 1 " + std::to_string(*cas) + " noreply\r\nb\r\n");  // STORED
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "b") + "END\r\n");
}

TEST_F(Noreply, IncrDecrDeleteTouch) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 2\r\n10\r\n"), "STORED\r\n");
  ExpectSilent("incr " + k + " 5 noreply\r\n");
  ExpectSilent("decr " + k + " 2 noreply\r\n");
  ExpectSilent("incr " + Key("absent") + " 1 noreply\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "13") + "END\r\n");
  ExpectSilent("touch " + k + " 1000 noreply\r\n");
  ExpectSilent("touch " + Key("absent") + " 1000 noreply\r\n");
  ExpectSilent("delete " + k + " noreply\r\n");
  ExpectSilent("delete " + k + " noreply\r\n");  // NOT_FOUND, silently
  ExpectSilent("delete " + k + " 0 noreply\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
}

TEST_F(Noreply, Verbosity) {
  ExpectSilent("verbosity 1 noreply\r\n");
  ExpectSilent("verbosity 0 noreply\r\n");
}

TEST_F(Noreply, ErrorsOfCommandsWithNoreplyAreSilent) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 3\r\nabc\r\n"), "STORED\r\n");
  ExpectSilent("incr " + k + " 1 noreply\r\n");     // non-numeric value
  ExpectSilent("incr " + k + " abc noreply\r\n");   // invalid delta
  ExpectSilent("touch " + k + " abc noreply\r\n");  // invalid exptime
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "abc") + "END\r\n");
}

TEST_F(Noreply, ManyInOneWrite) {
  std::string batch;
  for (int i = 0; i < 200; ++i) {
    batch += "set " + Key(std::to_string(i)) + " " + std::to_string(i) + " 0 " +
             std::to_string(std::to_string(i).size()) + " noreply\r\n" + std::to_string(i) + "\r\n";
  }
  std::string reply = client_.Request(batch + "version\r\n");
  EXPECT_TRUE(FullyMatches(reply, kVersionLine));
  std::string expected;
  std::string get = "get";
  for (int i = 0; i < 200; ++i) {
    get += " " + Key(std::to_string(i));
    expected += ValueBlock(Key(std::to_string(i)), i, std::to_string(i));
  }
  EXPECT_EQ(client_.Get(get + "\r\n"), expected + "END\r\n");
}

// flush_all noreply needs a server of its own.
class NoreplyFlush : public OwnServerTest {};

TEST_F(NoreplyFlush, FlushAll) {
  ASSERT_EQ(client_.Request("set k 0 0 1\r\nx\r\n"), "STORED\r\n");
  std::string reply = client_.Request("flush_all noreply\r\nversion\r\n");
  EXPECT_TRUE(FullyMatches(reply, kVersionLine));
  EXPECT_EQ(client_.Get("get k\r\n"), "END\r\n");
  ASSERT_EQ(client_.Request("set k 0 0 1\r\nx\r\n"), "STORED\r\n");
  reply = client_.Request("flush_all 0 noreply\r\nversion\r\n");
  EXPECT_TRUE(FullyMatches(reply, kVersionLine));
  EXPECT_EQ(client_.Get("get k\r\n"), "END\r\n");
}

// ---------------------------------------------------------------------------------------------
// Expiry

class Expiry : public SharedServerTest {};

TEST_F(Expiry, NegativeExptimeIsImmediatelyExpired) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("set " + k + " 0 -1 1\r\nx\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  // An expired item counts as absent for add / replace
  EXPECT_EQ(client_.Request("replace " + k + " 0 0 1\r\ny\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(client_.Request("add " + k + " 0 0 1\r\nz\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "z") + "END\r\n");
  // Overwriting a live item with a negative exptime removes it
  EXPECT_EQ(client_.Request("set " + k + " 0 -100 1\r\nw\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(client_.Request("touch " + k + " 0\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "NOT_FOUND\r\n");
}

TEST_F(Expiry, ShortExptimeExpires) {
  const std::string one = Key("one"), two = Key("two"), touched = Key("touched"),
                    forever = Key("forever"), later = Key("later");
  EXPECT_EQ(client_.Request("set " + one + " 0 1 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("set " + two + " 0 2 1\r\nb\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("set " + touched + " 0 0 1\r\nc\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("touch " + touched + " 1\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(client_.Request("set " + forever + " 0 0 1\r\nd\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("set " + later + " 0 100 1\r\ne\r\n"), "STORED\r\n");
  // A 2 s item cannot have expired yet (at most one clock tick happened).
  EXPECT_EQ(client_.Get("get " + two + "\r\n"), ValueBlock(two, 0, "b") + "END\r\n");

  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  // Poll (bounded) for servers whose clock ticks late.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::string reply;
  const std::string get = "get " + one + " " + two + " " + touched + " " + forever + " " + later;
  const std::string expected = ValueBlock(forever, 0, "d") + ValueBlock(later, 0, "e") + "END\r\n";
  do {
    reply = client_.Get(get + "\r\n");
    if (reply == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(reply, expected);
}

TEST_F(Expiry, AbsoluteUnixTime) {
  const std::string past = Key("past"), future = Key("future"), thirty_days = Key("30d"),
                    just_over = Key("30d+1");
  const long now = static_cast<long>(std::time(nullptr));
  EXPECT_EQ(client_.Request("set " + past + " 0 " + std::to_string(now - 100) + " 1\r\nx\r\n"),
            "STORED\r\n");
  EXPECT_EQ(client_.Request("set " + future + " 0 " + std::to_string(now + 1000) + " 1\r\ny\r\n"),
            "STORED\r\n");
  // Up to 30 days (2592000 s) exptime is relative; above, it is a unix time (1970: the past).
  EXPECT_EQ(client_.Request("set " + thirty_days + " 0 2592000 1\r\nz\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("set " + just_over + " 0 2592001 1\r\nw\r\n"), "STORED\r\n");
  EXPECT_EQ(
      client_.Get("get " + past + " " + future + " " + thirty_days + " " + just_over + "\r\n"),
      ValueBlock(future, 0, "y") + ValueBlock(thirty_days, 0, "z") + "END\r\n");
  // touch / gat with an absolute time in the past expire the item
  EXPECT_EQ(client_.Request("touch " + future + " " + std::to_string(now - 100) + "\r\n"),
            "TOUCHED\r\n");
  EXPECT_EQ(client_.Get("get " + future + "\r\n"), "END\r\n");
  EXPECT_EQ(client_.Get("gat " + std::to_string(now - 100) + " " + thirty_days + "\r\n"),
            ValueBlock(thirty_days, 0, "z") + "END\r\n");
  EXPECT_EQ(client_.Get("get " + thirty_days + "\r\n"), "END\r\n");
}

TEST_F(Expiry, TouchExtendsLife) {
  const std::string k = Key("k");
  // exptime 2, not 1: a clock tick between set and touch must not expire it first.
  EXPECT_EQ(client_.Request("set " + k + " 0 2 1\r\nx\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("touch " + k + " 100\r\n"), "TOUCHED\r\n");
  const std::string g = Key("g");
  EXPECT_EQ(client_.Request("set " + g + " 0 2 1\r\ny\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("gat 0 " + g + "\r\n"), ValueBlock(g, 0, "y") + "END\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  EXPECT_EQ(client_.Get("get " + k + " " + g + "\r\n"),
            ValueBlock(k, 0, "x") + ValueBlock(g, 0, "y") + "END\r\n");
}

}  // namespace
}  // namespace ssdcache::integration
