// Protocol errors: exact error lines, what happens to the bytes that follow, and that the
// connection stays usable (or is closed, where memcached closes it).
#include <string>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

constexpr char kBadFormat[] = "CLIENT_ERROR bad command line format\r\n";
constexpr char kBadChunk[] = "CLIENT_ERROR bad data chunk\r\n";
constexpr char kTooLarge[] = "SERVER_ERROR object too large for cache\r\n";

class Errors : public SharedServerTest {
 protected:
  void ExpectUsable(Client& c) {
    EXPECT_TRUE(FullyMatches(c.Request("version\r\n"), kVersionLine)) << c.error();
  }
  static std::string LongKey() { return std::string(251, 'k'); }
};

TEST_F(Errors, UnknownCommand) {
  EXPECT_EQ(client_.Request("foo\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("foo bar baz\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("GET x\r\n"), "ERROR\r\n");  // commands are case-sensitive
  EXPECT_EQ(client_.Request("\r\n"), "ERROR\r\n");       // an empty line
  EXPECT_EQ(client_.Request(std::string(1500, 'a') + "\r\n"), "ERROR\r\n");
  ExpectUsable(client_);
}

TEST_F(Errors, KeyTooLong) {
  const std::string k = LongKey();
  // The data line that follows is then read as a command of its own.
  EXPECT_EQ(client_.Request("set " + k + " 0 0 1\r\nx\r\n" + "version\r\n", "VERSION "),
            std::string(kBadFormat) + "ERROR\r\nVERSION ");
  client_.ReadLine();
  EXPECT_EQ(client_.Request("get " + k + "\r\n"), kBadFormat);
  EXPECT_EQ(client_.Request("gets " + k + "\r\n"), kBadFormat);
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), kBadFormat);
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), kBadFormat);
  EXPECT_EQ(client_.Request("decr " + k + " 1\r\n"), kBadFormat);
  EXPECT_EQ(client_.Request("touch " + k + " 0\r\n"), kBadFormat);
  EXPECT_EQ(client_.Request("gat 0 " + k + "\r\n"), kBadFormat);
  ExpectUsable(client_);
}

// memcached 1.6 answers a multi-get with a too-long key with the error line alone (values of the
// keys before it are dropped); a server that streams the values as it goes cannot take them back,
// so the values-then-error form is accepted too.
TEST_F(Errors, KeyTooLongInMultiGet) {
  const std::string a = Key("a");
  ASSERT_EQ(client_.Request("set " + a + " 0 0 1\r\nx\r\n"), "STORED\r\n");
  std::string reply = client_.Request("get " + a + " " + LongKey() + " " + a + "\r\n",
                                      "bad command line format\r\n");
  EXPECT_TRUE(EqualsAnyOf(reply, {kBadFormat, ValueBlock(a, 0, "x") + kBadFormat}));
  ExpectUsable(client_);
}

TEST_F(Errors, KeyTooLongWithNoreplyIsSilent) {
  // The error is suppressed; the data line is still read as a command.
  EXPECT_EQ(client_.Request("add " + LongKey() + " 0 0 1 noreply\r\nx\r\n"), "ERROR\r\n");
  ExpectUsable(client_);
}

TEST_F(Errors, BadNumbersInStorageCommands) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 3\r\nold\r\n"), "STORED\r\n");
  for (std::string line : {
           "set " + k + " abc 0 1",                   // flags
           "set " + k + " -1 0 1",                    // negative flags
           "set " + k + " 0x1 0 1",                   // hex flags
           "set " + k + " 18446744073709551616 0 1",  // flags beyond 64 bits
           "set " + k + " 0 abc 1",                   // exptime
           "set " + k + " 0 1.5 1",                   // exptime
           "set " + k + " 0 0 abc",                   // length
           "set " + k + " 0 0 -1",                    // negative length
           "cas " + k + " 0 0 1 abc",                 // cas unique
           "cas " + k + " 0 0 1 -1",                  // cas unique
       }) {
    // The error comes first; the data line is then read as a command (and is unknown).
    EXPECT_EQ(client_.Request(line + "\r\nx\r\nversion\r\n", "VERSION "),
              std::string(kBadFormat) + "ERROR\r\nVERSION ")
        << line;
    client_.ReadLine();
  }
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "old") + "END\r\n");
}

TEST_F(Errors, WrongTokenCounts) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("set " + k + " 0 0\r\nversion\r\n", "VERSION "), "ERROR\r\nVERSION ");
  client_.ReadLine();
  EXPECT_EQ(client_.Request("set " + k + " 0 0 1 noreply extra\r\nx\r\nversion\r\n", "VERSION "),
            "ERROR\r\nERROR\r\nVERSION ");
  client_.ReadLine();
  EXPECT_EQ(client_.Request("cas " + k + " 0 0 1\r\nx\r\nversion\r\n", "VERSION "),
            "ERROR\r\nERROR\r\nVERSION ");
  client_.ReadLine();
  EXPECT_EQ(client_.Request("incr " + k + "\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("incr\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("delete\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("touch " + k + "\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
}

TEST_F(Errors, DataBlockLongerThanDeclared) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 3\r\nold\r\n"), "STORED\r\n");
  // memcached consumes exactly <bytes>+2 bytes ("abcde"), rejects the block because it does not
  // end in "\r\n", and parses what follows as commands: "\r\n" is an empty line -> ERROR.
  EXPECT_EQ(client_.Request("set " + k + " 0 0 3\r\nabcde\r\nversion\r\n", "VERSION "),
            std::string(kBadChunk) + "ERROR\r\nVERSION ");
  client_.ReadLine();
  // The old value is kept
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "old") + "END\r\n");
  // <bytes>+2 = "abcXY" consumed, then "version" is a command of its own
  EXPECT_EQ(client_.Request("set " + k + " 0 0 3\r\nabcXYversion\r\n", "VERSION "),
            std::string(kBadChunk) + "VERSION ");
  client_.ReadLine();
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "old") + "END\r\n");
}

TEST_F(Errors, DataBlockShorterThanDeclared) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 3\r\nold\r\n"), "STORED\r\n");
  // "ab\r\nv" are taken as the 3+2 data bytes; "ersion\r\n" is then an unknown command.
  EXPECT_EQ(client_.Request("set " + k + " 0 0 3\r\nab\r\nversion\r\n"), std::string(kBadChunk));
  EXPECT_EQ(client_.ReadLine(), "ERROR\r\n");
  // "ab\r\n\r" taken, then "\n" is an empty line
  EXPECT_EQ(client_.Request("set " + k + " 0 0 3\r\nab\r\n\r\n"), kBadChunk);
  EXPECT_EQ(client_.ReadLine(), "ERROR\r\n");
  // A bare "\n" after the data is not a terminator: "x\ng" taken, "et <key>" is unknown
  EXPECT_EQ(client_.Request("set " + k + " 0 0 1\r\nx\nget " + k + "\r\n"), kBadChunk);
  EXPECT_EQ(client_.ReadLine(), "ERROR\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "old") + "END\r\n");
  ExpectUsable(client_);
}

TEST_F(Errors, BadDataChunkWithNoreplyIsSilent) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("set " + k + " 0 0 3 noreply\r\nabcde\r\nversion\r\n", "VERSION "),
            "ERROR\r\nVERSION ");
  client_.ReadLine();
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
}

TEST_F(Errors, ValueTooLarge) {
  const std::string k = Key("k");
  const std::string big(2 << 20, 'v');
  // The value is swallowed, and the connection stays in sync.
  std::string req = "set " + k + " 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  EXPECT_EQ(client_.Transact(req + "version\r\n", sizeof(kTooLarge) - 1), kTooLarge);
  EXPECT_TRUE(FullyMatches(client_.ReadLine(), kVersionLine));
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  // With noreply: silent, swallowed
  req = "set " + k + " 0 0 " + std::to_string(big.size()) + " noreply\r\n" + big + "\r\n";
  std::string probe = client_.Transact(req + "get " + k + "\r\n", 5);
  EXPECT_EQ(probe, "END\r\n");
  ExpectUsable(client_);
}

// memcached unlinks the old item when a set fails for being too large ("avoid stale data").
TEST_F(Errors, ValueTooLargeRemovesOldValue) {
  const std::string k = Key("k");
  ASSERT_EQ(client_.Request("set " + k + " 0 0 3\r\nold\r\n"), "STORED\r\n");
  const std::string big(2 << 20, 'v');
  std::string req = "set " + k + " 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  EXPECT_EQ(client_.Transact(req, sizeof(kTooLarge) - 1), kTooLarge);
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
}

TEST_F(Errors, HugeDeclaredLengthIsRejected) {
  // A length that cannot be an item at all: rejected at the command line, nothing swallowed.
  EXPECT_EQ(client_.Request("set " + Key("k") + " 0 0 2147483648\r\nversion\r\n", "VERSION "),
            std::string(kBadFormat) + "VERSION ");
  client_.ReadLine();
}

// No newline within 16 KiB, memcached's read buffer: closed without a reply.
TEST_F(Errors, LongLineWithoutNewlineClosesConnection) {
  ASSERT_TRUE(client_.Send(std::string(20'000, 'x')));
  std::string reply = client_.ReadUntilClosed();
  EXPECT_TRUE(client_.peer_closed()) << "connection not closed: " << client_.error();
  EXPECT_EQ(reply, "");
  Client other = Connect();
  ExpectUsable(other);
}

TEST_F(Errors, MultiGetOfTenThousandKeys) {
  constexpr int kKeys = 10000;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%05d", i);
    keys.push_back(Key(buf));
  }
  // Every third key is present
  std::string sets;
  std::string expected;
  size_t stored = 0;
  for (int i = 0; i < kKeys; i += 3) {
    std::string value = "v" + std::to_string(i);
    sets += "set " + keys[i] + " " + std::to_string(i) + " 0 " + std::to_string(value.size()) +
            "\r\n" + value + "\r\n";
    expected += ValueBlock(keys[i], i, value);
    ++stored;
  }
  std::string stored_replies;
  for (size_t i = 0; i < stored; ++i) stored_replies += "STORED\r\n";
  ASSERT_EQ(client_.Transact(sets, stored_replies.size()), stored_replies);
  expected += "END\r\n";
  std::string get = "get";
  for (const auto& k : keys) get += " " + k;
  get += "\r\n";
  ASSERT_GT(get.size(), 200000u);
  std::string reply = client_.Transact(get, expected.size());
  EXPECT_TRUE(reply == expected) << "reply of " << reply.size() << " bytes differs from the "
                                 << expected.size() << " expected; " << client_.error()
                                 << "\nfirst 300 bytes: " << Printable(reply.substr(0, 300));
  ExpectUsable(client_);
}

}  // namespace
}  // namespace ssdcache::integration
