// Every memcached ASCII command, with the exact reply bytes memcached 1.6 sends.
#include <string>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

class Commands : public SharedServerTest {
 protected:
  // set <key> <flags> 0 <len>\r\n<value>\r\n, expecting STORED.
  void Set(const std::string& key, std::string_view value, uint32_t flags = 0) {
    std::string req = "set " + key + " " + std::to_string(flags) + " 0 " +
                      std::to_string(value.size()) + "\r\n" + std::string(value) + "\r\n";
    ASSERT_EQ(client_.Request(req), "STORED\r\n") << "setting " << key;
  }
  uint64_t Cas(const std::string& key) {
    std::string reply = client_.Get("gets " + key + "\r\n");
    auto cas = ParseCas(reply);
    EXPECT_TRUE(cas.has_value()) << "gets " << key << " -> " << Printable(reply);
    return cas.value_or(0);
  }
};

TEST_F(Commands, Version) {
  EXPECT_TRUE(FullyMatches(client_.Request("version\r\n"), kVersionLine));
}

TEST_F(Commands, GetMissThenHit) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("set " + k + " 5 0 3\r\nabc\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 5, "abc") + "END\r\n");
}

TEST_F(Commands, GetManyKeysSkipsMissesKeepsOrderAndDuplicates) {
  const std::string a = Key("a"), b = Key("b"), c = Key("c"), missing = Key("missing");
  Set(a, "1", 1);
  Set(b, "22", 2);
  Set(c, "333", 3);
  EXPECT_EQ(client_.Get("get " + c + " " + missing + " " + a + " " + b + " " + a + "\r\n"),
            ValueBlock(c, 3, "333") + ValueBlock(a, 1, "1") + ValueBlock(b, 2, "22") +
                ValueBlock(a, 1, "1") + "END\r\n");
  EXPECT_EQ(client_.Get("get " + missing + " " + missing + "\r\n"), "END\r\n");
}

TEST_F(Commands, GetsReturnsCasForEveryKey) {
  const std::string a = Key("a"), b = Key("b");
  Set(a, "x");
  Set(b, "y");
  uint64_t ca = Cas(a), cb = Cas(b);
  EXPECT_NE(ca, cb);
  EXPECT_EQ(client_.Get("gets " + a + " " + Key("nope") + " " + b + " " + a + "\r\n"),
            ValueBlock(a, 0, "x", ca) + ValueBlock(b, 0, "y", cb) + ValueBlock(a, 0, "x", ca) +
                "END\r\n");
}

TEST_F(Commands, SetOverwritesValueAndFlags) {
  const std::string k = Key("k");
  Set(k, "first", 1);
  Set(k, "second value", 4294967295u);
  EXPECT_EQ(client_.Get("get " + k + "\r\n"),
            ValueBlock(k, 4294967295u, "second value") + "END\r\n");
  Set(k, "", 0);  // an empty value is a value
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "") + "END\r\n");
}

TEST_F(Commands, ValueMayContainProtocolBytes) {
  const std::string k = Key("k");
  const std::string value = std::string("END\r\nVALUE x 0 1\r\n\0\xff\r\n", 22);
  Set(k, value);
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, value) + "END\r\n");
}

TEST_F(Commands, AddOnlyWhenAbsent) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("add " + k + " 1 0 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("add " + k + " 2 0 1\r\nb\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 1, "a") + "END\r\n");
}

TEST_F(Commands, ReplaceOnlyWhenPresent) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("replace " + k + " 1 0 1\r\na\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  Set(k, "old", 7);
  EXPECT_EQ(client_.Request("replace " + k + " 8 0 3\r\nnew\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 8, "new") + "END\r\n");
}

TEST_F(Commands, AppendPrepend) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("append " + k + " 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(client_.Request("prepend " + k + " 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  Set(k, "mid", 42);
  // The flags and exptime of append/prepend are ignored: the item keeps its own.
  EXPECT_EQ(client_.Request("append " + k + " 9 -1 4\r\n-end\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Request("prepend " + k + " 9 -1 6\r\nstart-\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 42, "start-mid-end") + "END\r\n");
  EXPECT_EQ(client_.Request("append " + k + " 0 0 0\r\n\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 42, "start-mid-end") + "END\r\n");
}

TEST_F(Commands, Cas) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("cas " + k + " 0 0 1 1\r\nx\r\n"), "NOT_FOUND\r\n");
  Set(k, "v1");
  uint64_t cas = Cas(k);
  EXPECT_EQ(client_.Request("cas " + k + " 3 0 2 " + std::to_string(cas + 1000) + "\r\nv2\r\n"),
            "EXISTS\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "v1") + "END\r\n");
  EXPECT_EQ(client_.Request("cas " + k + " 3 0 2 " + std::to_string(cas) + "\r\nv2\r\n"),
            "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 3, "v2") + "END\r\n");
  // The cas unique changed with the store: the old one no longer matches.
  uint64_t cas2 = Cas(k);
  EXPECT_NE(cas2, cas);
  EXPECT_EQ(client_.Request("cas " + k + " 0 0 2 " + std::to_string(cas) + "\r\nv3\r\n"),
            "EXISTS\r\n");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "DELETED\r\n");
  EXPECT_EQ(client_.Request("cas " + k + " 0 0 2 " + std::to_string(cas2) + "\r\nv4\r\n"),
            "NOT_FOUND\r\n");
}

TEST_F(Commands, CasUniqueChangesOnEveryModificationButNotOnTouch) {
  const std::string k = Key("k");
  Set(k, "1");
  uint64_t c0 = Cas(k);
  EXPECT_EQ(client_.Request("touch " + k + " 0\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(Cas(k), c0) << "touch must not change the cas unique";
  EXPECT_EQ(client_.Get("gat 0 " + k + "\r\n"), ValueBlock(k, 0, "1") + "END\r\n");
  EXPECT_EQ(Cas(k), c0) << "gat must not change the cas unique";
  EXPECT_EQ(client_.Request("append " + k + " 0 0 1\r\n2\r\n"), "STORED\r\n");
  uint64_t c1 = Cas(k);
  EXPECT_NE(c1, c0);
  EXPECT_EQ(client_.Request("prepend " + k + " 0 0 1\r\n3\r\n"), "STORED\r\n");
  uint64_t c2 = Cas(k);
  EXPECT_NE(c2, c1);
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "313\r\n");
  uint64_t c3 = Cas(k);
  EXPECT_NE(c3, c2);
  EXPECT_EQ(client_.Request("decr " + k + " 1\r\n"), "312\r\n");
  uint64_t c4 = Cas(k);
  EXPECT_NE(c4, c3);
  EXPECT_EQ(client_.Request("replace " + k + " 0 0 1\r\n9\r\n"), "STORED\r\n");
  EXPECT_NE(Cas(k), c4);
}

TEST_F(Commands, IncrDecr) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(client_.Request("decr " + k + " 1\r\n"), "NOT_FOUND\r\n");
  Set(k, "10", 5);
  EXPECT_EQ(client_.Request("incr " + k + " 5\r\n"), "15\r\n");
  EXPECT_EQ(client_.Request("incr " + k + " 0\r\n"), "15\r\n");
  EXPECT_EQ(client_.Request("decr " + k + " 3\r\n"), "12\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 5, "12") + "END\r\n");
  // decr stops at 0
  EXPECT_EQ(client_.Request("decr " + k + " 100\r\n"), "0\r\n");
  EXPECT_EQ(client_.Request("decr " + k + " 1\r\n"), "0\r\n");
  // The largest delta is accepted
  EXPECT_EQ(client_.Request("incr " + k + " 18446744073709551615\r\n"), "18446744073709551615\r\n");
  // incr wraps past 2^64-1
  EXPECT_EQ(client_.Request("incr " + k + " 2\r\n"), "1\r\n");
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "2\r\n");
}

TEST_F(Commands, IncrWrapsFromMax) {
  const std::string k = Key("k");
  Set(k, "18446744073709551615");
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "0\r\n");
  // A shortened number may be space-padded in place (memcached) or stored as is.
  EXPECT_TRUE(EqualsAnyOf(
      client_.Get("get " + k + "\r\n"),
      {ValueBlock(k, 0, "0") + "END\r\n", ValueBlock(k, 0, "0                   ") + "END\r\n"}));
  EXPECT_EQ(client_.Request("incr " + k + " 7\r\n"), "7\r\n");
}

TEST_F(Commands, DecrShorteningNumberMayBeSpacePadded) {
  const std::string k = Key("k");
  Set(k, "100");
  EXPECT_EQ(client_.Request("decr " + k + " 1\r\n"), "99\r\n");
  EXPECT_TRUE(EqualsAnyOf(client_.Get("get " + k + "\r\n"), {ValueBlock(k, 0, "99") + "END\r\n",
                                                             ValueBlock(k, 0, "99 ") + "END\r\n"}));
  // The value stays a number either way
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "100\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "100") + "END\r\n");
  // Growing past the stored length
  Set(k, "99");
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "100\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "100") + "END\r\n");
}

TEST_F(Commands, IncrNumberFormatsAccepted) {
  const std::string k = Key("k");
  Set(k, "007");
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "8\r\n");
  Set(k, "12 ");  // trailing space (as left by a padded decr)
  EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), "13\r\n");
}

TEST_F(Commands, IncrNonNumericValue) {
  const std::string k = Key("k");
  const std::string kErr = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
  for (std::string value :
       {"abc", "", "-1", "1a", "184467440737095516150", "18446744073709551616"}) {
    Set(k, value);
    EXPECT_EQ(client_.Request("incr " + k + " 1\r\n"), kErr) << "value '" << value << "'";
    EXPECT_EQ(client_.Request("decr " + k + " 1\r\n"), kErr) << "value '" << value << "'";
    EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, value) + "END\r\n");
  }
}

TEST_F(Commands, IncrInvalidDelta) {
  const std::string k = Key("k");
  const std::string kErr = "CLIENT_ERROR invalid numeric delta argument\r\n";
  Set(k, "5");
  for (std::string delta : {"abc", "-1", "18446744073709551616", "1x", "0x10"}) {
    EXPECT_EQ(client_.Request("incr " + k + " " + delta + "\r\n"), kErr) << "delta " << delta;
    EXPECT_EQ(client_.Request("decr " + k + " " + delta + "\r\n"), kErr) << "delta " << delta;
  }
  // Even on a missing key the delta is checked first
  EXPECT_EQ(client_.Request("incr " + Key("missing") + " abc\r\n"), kErr);
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "5") + "END\r\n");
}

TEST_F(Commands, Delete) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "NOT_FOUND\r\n");
  Set(k, "x");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "DELETED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "NOT_FOUND\r\n");
  // The legacy "delete <key> 0" form is accepted; any other time is an error
  Set(k, "x");
  EXPECT_EQ(client_.Request("delete " + k + " 0\r\n"), "DELETED\r\n");
  EXPECT_EQ(client_.Request("delete " + k + " 0\r\n"), "NOT_FOUND\r\n");
  Set(k, "x");
  EXPECT_EQ(client_.Request("delete " + k + " 5\r\n"),
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "x") + "END\r\n");
}

TEST_F(Commands, Touch) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("touch " + k + " 100\r\n"), "NOT_FOUND\r\n");
  Set(k, "x", 3);
  EXPECT_EQ(client_.Request("touch " + k + " 100\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 3, "x") + "END\r\n");
  EXPECT_EQ(client_.Request("touch " + k + " abc\r\n"),
            "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(client_.Request("touch " + k + "\r\n"), "ERROR\r\n");
  // A negative exptime expires the item at once
  EXPECT_EQ(client_.Request("touch " + k + " -1\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), "END\r\n");
}

TEST_F(Commands, GatGats) {
  const std::string a = Key("a"), b = Key("b"), missing = Key("missing");
  EXPECT_EQ(client_.Get("gat 100 " + missing + "\r\n"), "END\r\n");
  Set(a, "aa", 1);
  Set(b, "bbb", 2);
  uint64_t ca = Cas(a), cb = Cas(b);
  EXPECT_EQ(client_.Get("gat 100 " + a + " " + missing + " " + b + "\r\n"),
            ValueBlock(a, 1, "aa") + ValueBlock(b, 2, "bbb") + "END\r\n");
  EXPECT_EQ(client_.Get("gats 100 " + b + " " + a + "\r\n"),
            ValueBlock(b, 2, "bbb", cb) + ValueBlock(a, 1, "aa", ca) + "END\r\n");
  EXPECT_EQ(client_.Get("gat abc " + a + "\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(client_.Request("gat " + a + "\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(client_.Request("gat\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("gats\r\n"), "ERROR\r\n");
  // No key after the exptime: an empty reply (memcached 1.6)
  EXPECT_EQ(client_.Request("gat 100\r\n"), "END\r\n");
  // gat with a negative exptime returns the item, which is then expired
  EXPECT_EQ(client_.Get("gat -1 " + a + "\r\n"), ValueBlock(a, 1, "aa") + "END\r\n");
  EXPECT_EQ(client_.Get("get " + a + "\r\n"), "END\r\n");
  EXPECT_EQ(client_.Get("get " + b + "\r\n"), ValueBlock(b, 2, "bbb") + "END\r\n");
}

TEST_F(Commands, GetWithoutKeyIsError) {
  EXPECT_EQ(client_.Request("get\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("gets\r\n"), "ERROR\r\n");
  EXPECT_EQ(client_.Request("get \r\n"), "ERROR\r\n");
}

TEST_F(Commands, Verbosity) {
  EXPECT_EQ(client_.Request("verbosity 1\r\n"), "OK\r\n");
  EXPECT_EQ(client_.Request("verbosity 0\r\n"), "OK\r\n");
  EXPECT_EQ(client_.Request("verbosity\r\n"), "ERROR\r\n");
}

TEST_F(Commands, QuitClosesConnection) {
  // Bytes after quit are never answered.
  ASSERT_TRUE(client_.Send("quit\r\nversion\r\n"));
  EXPECT_EQ(client_.ReadUntilClosed(), "");
  EXPECT_TRUE(client_.peer_closed()) << client_.error();
  // The server is fine
  Client other = Connect();
  EXPECT_TRUE(FullyMatches(other.Request("version\r\n"), kVersionLine));
}

TEST_F(Commands, LinesMayEndWithBareNewline) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("set " + k + " 0 0 1\nx\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\n"), ValueBlock(k, 0, "x") + "END\r\n");
}

TEST_F(Commands, ExtraSpacesBetweenTokens) {
  const std::string k = Key("k");
  EXPECT_EQ(client_.Request("set  " + k + "  0  0  1 \r\nx\r\n"), "STORED\r\n");
  EXPECT_EQ(client_.Get("get  " + k + " \r\n"), ValueBlock(k, 0, "x") + "END\r\n");
}

TEST_F(Commands, MaximalKeyLength) {
  const std::string k = Key("k") + std::string(250 - Key("k").size(), 'x');
  ASSERT_EQ(k.size(), 250u);
  Set(k, "v");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "v") + "END\r\n");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "DELETED\r\n");
}

}  // namespace
}  // namespace ssdcache::integration
