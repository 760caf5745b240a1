// The meta commands (mg ms md ma mn me), with the reply bytes memcached 1.6.18 sends. Run against
// both targets; where the product answers differently from memcached (its cas numbering after a
// touch, memcached's lazy access-time bump), the test checks only what both answer and says so.
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t g = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(g >> s) & 63]);
  }
  if (i < in.size()) {
    const bool two = in.size() - i == 2;
    const uint32_t g =
        static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
        (two ? static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 : 0);
    out.push_back(kAlphabet[g >> 18]);
    out.push_back(kAlphabet[(g >> 12) & 63]);
    out.push_back(two ? kAlphabet[(g >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Reads one meta reply: a line, and for "VA <size> ..." the data block after it.
std::string ReadMeta(Client& c) {
  std::string line = c.ReadLine();
  if (line.rfind("VA ", 0) != 0) return line;
  const size_t size = std::stoul(line.substr(3));
  return line + c.ReadExact(size + 2);
}

std::string Meta(Client& c, std::string_view request) {
  if (!c.Send(request)) return "(send failed)";
  return ReadMeta(c);
}

class MetaCommands : public SharedServerTest {
 protected:
  std::string M(std::string_view request) { return Meta(client_, request); }
  uint64_t Cas(const std::string& key) {
    auto cas = ParseCas(client_.Get("gets " + key + "\r\n"));
    EXPECT_TRUE(cas.has_value()) << key;
    return cas.value_or(0);
  }
};

TEST_F(MetaCommands, NoopAnswersMn) {
  EXPECT_EQ(M("mn\r\n"), "MN\r\n");
  EXPECT_EQ(M("mn ignored tokens\r\n"), "MN\r\n");
}

TEST_F(MetaCommands, GetMissAndHit) {
  const std::string k = Key("k");
  EXPECT_EQ(M("mg " + k + "\r\n"), "EN\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "EN\r\n");
  // A miss echoes only the key and the opaque.
  EXPECT_EQ(M("mg " + k + " v s f t c k O77\r\n"), "EN k" + k + " O77\r\n");
  EXPECT_EQ(M("ms " + k + " 3\r\nabc\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + "\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 3\r\nabc\r\n");
}

TEST_F(MetaCommands, GetReturnFlagsInRequestOrder) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 5 F42\r\nhello\r\n"), "HD\r\n");
  // h and l: a fresh item never fetched, stored just now.
  const std::string first = M("mg " + k + " s v f t c k O123 h l\r\n");
  EXPECT_TRUE(FullyMatches(first, "VA 5 s5 f42 t-1 c[0-9]+ k" + k + " O123 h0 l[01]\r\nhello\r\n"))
      << Printable(first);
  const size_t c = first.find(" c");
  ASSERT_NE(c, std::string::npos);
  EXPECT_EQ(std::stoull(first.substr(c + 2)), Cas(k));
  EXPECT_EQ(M("mg " + k + " k f s\r\n"), "HD k" + k + " f42 s5\r\n");
  EXPECT_EQ(M("mg " + k + " O1 v\r\n"), "VA 5 O1\r\nhello\r\n");
  // u (no LRU bump) changes nothing in the reply; an empty opaque is echoed as "O".
  EXPECT_EQ(M("mg " + k + " u O\r\n"), "HD O\r\n");
}

TEST_F(MetaCommands, HitBeforeFlagFollowsFetches) {
  const std::string k = Key("h");
  ASSERT_EQ(M("ms " + k + " 2\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " h\r\n"), "HD h0\r\n");  // this fetch marks it
  EXPECT_EQ(M("mg " + k + " h\r\n"), "HD h1\r\n");
  // A new version has not been fetched yet; a classic get counts as a fetch too.
  ASSERT_EQ(M("ms " + k + " 2\r\nho\r\n"), "HD\r\n");
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "ho") + "END\r\n");
  EXPECT_EQ(M("mg " + k + " h v\r\n"), "VA 2 h1\r\nho\r\n");
}

TEST_F(MetaCommands, QuietGetPipelineEndsWithNoop) {
  const std::string a = Key("a"), b = Key("b"), hit = Key("hit");
  ASSERT_EQ(M("ms " + hit + " 2\r\nhi\r\n"), "HD\r\n");
  // q hides EN; hits still answer (HD included), and mn marks the end of the batch.
  ASSERT_TRUE(client_.Send("mg " + a + " v q\r\nmg " + b + " q k O9\r\nmg " + hit +
                           " v q O2\r\nmg " + hit + " q\r\nmg " + a + " q\r\nmn\r\n"));
  EXPECT_EQ(ReadMeta(client_), "VA 2 O2\r\nhi\r\n");
  EXPECT_EQ(ReadMeta(client_), "HD\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
}

TEST_F(MetaCommands, QuietModePerCommand) {
  const std::string k = Key("k"), n = Key("n"), missing = Key("missing");
  // ms: q hides HD only; md: HD only (NF shows); ma: the nominal reply only (NF, EX show).
  ASSERT_TRUE(client_.Send("ms " + k +
                           " 1 q\r\nX\r\n"
                           "ms " +
                           k +
                           " 1 ME q\r\nY\r\n"
                           "ms " +
                           missing +
                           " 1 C5 q\r\nY\r\n"
                           "md " +
                           missing +
                           " q\r\n"
                           "ms " +
                           n +
                           " 1 q\r\n5\r\n"
                           "ma " +
                           n +
                           " q\r\n"
                           "ma " +
                           n +
                           " q v\r\n"
                           "ma " +
                           n +
                           " q C1\r\n"
                           "ma " +
                           missing +
                           " q\r\n"
                           "md " +
                           k +
                           " q\r\n"
                           "mn\r\n"));
  EXPECT_EQ(ReadMeta(client_), "NS\r\n");
  EXPECT_EQ(ReadMeta(client_), "NF\r\n");
  EXPECT_EQ(ReadMeta(client_), "NF\r\n");
  EXPECT_EQ(ReadMeta(client_), "EX\r\n");
  EXPECT_EQ(ReadMeta(client_), "NF\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
  EXPECT_EQ(M("mg " + n + " v\r\n"), "VA 1\r\n7\r\n");
  EXPECT_EQ(M("mg " + k + "\r\n"), "EN\r\n");
}

TEST_F(MetaCommands, ErrorsAreSentInQuietMode) {
  const std::string k = Key("k");
  EXPECT_EQ(M("mg " + k + " q x\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(M("ms " + k + " 2 q\r\nabc\r\nmn\r\n"), "CLIENT_ERROR bad data chunk\r\n");
  EXPECT_EQ(ReadMeta(client_), "ERROR\r\n");  // the "\n" left after the block
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
  ASSERT_EQ(M("ms " + k + " 3\r\nabc\r\n"), "HD\r\n");
  EXPECT_EQ(M("ma " + k + " q\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
}

TEST_F(MetaCommands, OpaqueEchoedByEveryCommand) {
  const std::string k = Key("k");
  EXPECT_EQ(M("mg " + k + " Oa1\r\n"), "EN Oa1\r\n");
  EXPECT_EQ(M("ms " + k + " 1 Oa2 k\r\n1\r\n"), "HD Oa2 k" + k + "\r\n");
  EXPECT_EQ(M("mg " + k + " k Oa3\r\n"), "HD k" + k + " Oa3\r\n");
  EXPECT_EQ(M("ma " + k + " Oa4\r\n"), "HD Oa4\r\n");
  EXPECT_EQ(M("md " + k + " Oa5 k\r\n"), "HD Oa5 k" + k + "\r\n");
  EXPECT_EQ(M("md " + k + " Oa6\r\n"), "NF Oa6\r\n");
  EXPECT_EQ(M("ma " + k + " Oa7\r\n"), "NF Oa7\r\n");
  EXPECT_EQ(M("mg " + k + " O" + std::string(31, 'x') + "\r\n"),
            "EN O" + std::string(31, 'x') + "\r\n");
  EXPECT_EQ(M("mg " + k + " O" + std::string(32, 'x') + "\r\n"),
            "CLIENT_ERROR opaque token too long\r\n");
}

TEST_F(MetaCommands, SetModes) {
  const std::string k = Key("k");
  // E: add. R: replace. A/P: append/prepend (keep flags and TTL). S: set.
  EXPECT_EQ(M("ms " + k + " 1 MR\r\nr\r\n"), "NS\r\n");
  EXPECT_EQ(M("ms " + k + " 1 MA\r\na\r\n"), "NS\r\n");
  EXPECT_EQ(M("ms " + k + " 1 MP\r\np\r\n"), "NS\r\n");
  EXPECT_EQ(M("ms " + k + " 3 ME F7 T0\r\nmid\r\n"), "HD\r\n");
  EXPECT_EQ(M("ms " + k + " 3 ME\r\nxxx\r\n"), "NS\r\n");
  EXPECT_EQ(M("ms " + k + " 1 MA F1 T100\r\n>\r\n"), "HD\r\n");
  EXPECT_EQ(M("ms " + k + " 1 MP F2\r\n<\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v f t\r\n"), "VA 5 f7 t-1\r\n<mid>\r\n");
  EXPECT_EQ(M("ms " + k + " 2 MR F3\r\nrr\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v f\r\n"), "VA 2 f3\r\nrr\r\n");
  EXPECT_EQ(M("ms " + k + " 2 MS F4\r\nss\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v f\r\n"), "VA 2 f4\r\nss\r\n");
  // A bad mode swallows the data block.
  EXPECT_EQ(M("ms " + k + " 2 Mz\r\nab\r\nmn\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
  // Classic commands see what ms stored.
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 4, "ss") + "END\r\n");
}

TEST_F(MetaCommands, SetReturnsCasAndEmptyValues) {
  const std::string k = Key("k");
  const std::string reply = M("ms " + k + " 0 c\r\n\r\n");
  ASSERT_TRUE(FullyMatches(reply, "HD c[0-9]+\r\n")) << Printable(reply);
  const uint64_t cas = std::stoull(reply.substr(4));
  EXPECT_EQ(Cas(k), cas);
  EXPECT_EQ(M("mg " + k + " v s c\r\n"), "VA 0 s0 c" + std::to_string(cas) + "\r\n\r\n");
  // A failed store reports c0.
  EXPECT_EQ(M("ms " + k + " 1 ME c\r\nX\r\n"), "NS c0\r\n");
  // A negative TTL stores and at once expires.
  EXPECT_EQ(M("ms " + k + " 1 T-1\r\nX\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + "\r\n"), "EN\r\n");
}

TEST_F(MetaCommands, CompareAndSwap) {
  const std::string k = Key("k"), missing = Key("missing");
  ASSERT_EQ(M("ms " + k + " 1\r\nA\r\n"), "HD\r\n");
  const uint64_t cas = Cas(k);
  const std::string c = std::to_string(cas);
  EXPECT_EQ(M("ms " + missing + " 1 C1\r\nB\r\n"), "NF\r\n");
  EXPECT_EQ(M("ms " + k + " 1 C" + std::to_string(cas + 1000) + "\r\nB\r\n"), "EX\r\n");
  EXPECT_EQ(M("ms " + k + " 1 C0\r\nB\r\n"), "EX\r\n");
  EXPECT_EQ(M("ms " + k + " 1 MR C" + std::to_string(cas + 1000) + "\r\nB\r\n"), "EX\r\n");
  EXPECT_EQ(M("ms " + k + " 1 MA C" + std::to_string(cas + 1000) + "\r\nB\r\n"), "EX\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 1\r\nA\r\n");
  EXPECT_EQ(M("ms " + k + " 1 C" + c + "\r\nB\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 1\r\nB\r\n");
  const uint64_t cas2 = Cas(k);
  EXPECT_NE(cas2, cas);
  EXPECT_EQ(M("ms " + k + " 1 MA C" + std::to_string(cas2) + "\r\nC\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 2\r\nBC\r\n");
  // md with C.
  const uint64_t cas3 = Cas(k);
  EXPECT_EQ(M("md " + k + " C" + std::to_string(cas3 + 1) + "\r\n"), "EX\r\n");
  EXPECT_EQ(M("md " + k + " C0\r\n"), "EX\r\n");
  EXPECT_EQ(M("md " + k + " C" + std::to_string(cas3) + "\r\n"), "HD\r\n");
  EXPECT_EQ(M("md " + k + " C" + std::to_string(cas3) + "\r\n"), "NF\r\n");
  // ma with C (C0 does not compare).
  ASSERT_EQ(M("ms " + k + " 1\r\n5\r\n"), "HD\r\n");
  const uint64_t cas4 = Cas(k);
  EXPECT_EQ(M("ma " + k + " C" + std::to_string(cas4 + 1) + " v\r\n"), "EX\r\n");
  EXPECT_EQ(M("ma " + k + " C0 v\r\n"), "VA 1\r\n6\r\n");
  const uint64_t cas5 = Cas(k);
  const std::string reply = M("ma " + k + " C" + std::to_string(cas5) + " v c\r\n");
  EXPECT_TRUE(FullyMatches(reply, "VA 1 c[0-9]+\r\n7\r\n")) << Printable(reply);
  EXPECT_NE(reply, "VA 1 c" + std::to_string(cas5) + "\r\n7\r\n");
}

TEST_F(MetaCommands, ArithmeticIncrDecr) {
  const std::string n = Key("n"), missing = Key("missing");
  ASSERT_EQ(M("ms " + n + " 2 F5\r\n10\r\n"), "HD\r\n");
  EXPECT_EQ(M("ma " + n + "\r\n"), "HD\r\n");
  EXPECT_EQ(M("ma " + n + " v\r\n"), "VA 2\r\n12\r\n");
  EXPECT_EQ(M("ma " + n + " v D10 MI\r\n"), "VA 2\r\n22\r\n");
  EXPECT_EQ(M("ma " + n + " v D2 M+\r\n"), "VA 2\r\n24\r\n");
  EXPECT_EQ(M("ma " + n + " v D4 MD\r\n"), "VA 2\r\n20\r\n");
  EXPECT_EQ(M("ma " + n + " v D1 M-\r\n"), "VA 2\r\n19\r\n");
  EXPECT_EQ(M("ma " + n + " v D100 MD\r\n"), "VA 1\r\n0\r\n");  // decr stops at 0
  EXPECT_EQ(M("ma " + n + " v D18446744073709551615\r\n"), "VA 20\r\n18446744073709551615\r\n");
  EXPECT_EQ(M("ma " + n + " v D2\r\n"), "VA 1\r\n1\r\n");  // incr wraps at 2^64
  EXPECT_EQ(M("ma " + n + " v t k O3\r\n"), "VA 1 t-1 k" + n + " O3\r\n2\r\n");
  EXPECT_EQ(M("mg " + n + " f\r\n"), "HD f5\r\n");  // flags kept
  EXPECT_EQ(M("ma " + missing + "\r\n"), "NF\r\n");
  EXPECT_EQ(M("ma " + missing + " MD v\r\n"), "NF\r\n");
  EXPECT_EQ(M("ma " + n + " Mx\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
  EXPECT_EQ(M("ma " + n + " Dx\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
}

TEST_F(MetaCommands, ArithmeticAutovivify) {
  const std::string a = Key("a"), b = Key("b"), c = Key("c"), d = Key("d");
  // N creates the item with J (default 0) and applies no delta; q does not hide that reply.
  EXPECT_EQ(M("ma " + a + " N0 v\r\n"), "VA 1\r\n0\r\n");
  EXPECT_EQ(M("ma " + a + " N0 v\r\n"), "VA 1\r\n1\r\n");
  EXPECT_EQ(M("ma " + b + " N0 J41 D5 v\r\n"), "VA 2\r\n41\r\n");
  EXPECT_EQ(M("ma " + b + " N0 J41 D5 v\r\n"), "VA 2\r\n46\r\n");
  EXPECT_EQ(M("ma " + c + " N0 J7 MD q\r\nmn\r\n"), "HD\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
  EXPECT_EQ(M("mg " + c + " v\r\n"), "VA 1\r\n7\r\n");
  // N sets the TTL where it stands: a t before it reports no TTL yet.
  EXPECT_EQ(M("ma " + d + " N50 t v\r\n"), "VA 1 t50\r\n0\r\n");
  EXPECT_EQ(M("ma " + Key("e") + " t N50 v\r\n"), "VA 1 t-1\r\n0\r\n");
  EXPECT_EQ(M("ma " + d + " T100 t v\r\n"), "VA 1 t100\r\n1\r\n");
  EXPECT_TRUE(FullyMatches(M("mg " + d + " t\r\n"), "HD t(99|100)\r\n"));
}

TEST_F(MetaCommands, GetVivifyOnMiss) {
  const std::string k = Key("k");
  // The client that creates the item wins (W) and gets an empty value with N's TTL; other readers
  // get Z (someone else is recaching) until the item is set.
  EXPECT_EQ(M("mg " + k + " N30 v t s\r\n"), "VA 0 t30 s0 W\r\n\r\n");
  EXPECT_EQ(M("mg " + Key("k2") + " t N30\r\n"), "HD t-1 W\r\n");
  EXPECT_EQ(M("mg " + k + " N30 s\r\n"), "HD s0 Z\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 0 Z\r\n\r\n");
  ASSERT_EQ(M("ms " + k + " 3\r\nnew\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " N30 v\r\n"), "VA 3\r\nnew\r\n");
}

TEST_F(MetaCommands, InvalidateMarksStaleAndOneReaderWins) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 2 T100\r\nhi\r\n"), "HD\r\n");
  const uint64_t cas1 = Cas(k);
  // md I keeps the item with a new cas and T's TTL; the first reader gets X W, later ones Z X.
  EXPECT_EQ(M("md " + k + " I T30 k\r\n"), "HD k" + k + "\r\n");
  const uint64_t cas2 = Cas(k);
  EXPECT_GT(cas2, cas1);
  EXPECT_EQ(M("mg " + k + " v t\r\n"), "VA 2 t30 X W\r\nhi\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 2 Z X\r\nhi\r\n");
  EXPECT_EQ(M("mg " + k + " s\r\n"), "HD s2 Z X\r\n");
  // A classic get sees the value as it is.
  EXPECT_EQ(client_.Get("get " + k + "\r\n"), ValueBlock(k, 0, "hi") + "END\r\n");
  // ms I with an older cas stores the value but it stays stale (token still sent); a newer cas
  // that does not match is refused.
  EXPECT_EQ(M("ms " + k + " 2 I C" + std::to_string(cas1) + "\r\nab\r\n"), "HD\r\n");
  const uint64_t cas3 = Cas(k);
  EXPECT_GT(cas3, cas2);
  EXPECT_TRUE(FullyMatches(M("mg " + k + " v t\r\n"), "VA 2 t(29|30) Z X\r\nab\r\n"));
  EXPECT_EQ(M("ms " + k + " 2 I C" + std::to_string(cas3 + 1000) + "\r\ncd\r\n"), "EX\r\n");
  // md I again hands the token out again.
  EXPECT_EQ(M("md " + k + " I q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 2 X W\r\nab\r\n");
  // The matching cas (with or without I) replaces the stale item by a fresh one.
  const uint64_t cas4 = Cas(k);
  EXPECT_EQ(M("ms " + k + " 2 I C" + std::to_string(cas4) + "\r\nef\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v t\r\n"), "VA 2 t-1\r\nef\r\n");
  // Without C, I changes nothing; md I of a missing key is NF.
  EXPECT_EQ(M("ms " + k + " 1 I\r\nz\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " v\r\n"), "VA 1\r\nz\r\n");
  EXPECT_EQ(M("md " + Key("missing") + " I\r\n"), "NF\r\n");
}

TEST_F(MetaCommands, StaleMarkSurvivesATouch) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 1\r\nz\r\n"), "HD\r\n");
  ASSERT_EQ(M("md " + k + " I\r\n"), "HD\r\n");
  EXPECT_EQ(client_.Request("touch " + k + " 100\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(M("mg " + k + " T200 t\r\n"), "HD t200 X W\r\n");
  EXPECT_EQ(client_.Request("touch " + k + " 100\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(M("mg " + k + "\r\n"), "HD Z X\r\n");
}

TEST_F(MetaCommands, RecacheFlagWinsBelowItsToken) {
  const std::string k = Key("k"), far = Key("far"), never = Key("never");
  ASSERT_EQ(M("ms " + k + " 1 T10\r\nz\r\n"), "HD\r\n");
  ASSERT_EQ(M("ms " + far + " 1 T1000\r\nz\r\n"), "HD\r\n");
  ASSERT_EQ(M("ms " + never + " 1\r\nz\r\n"), "HD\r\n");
  // R<token>: the first reader seeing a TTL below the token wins, the others get Z.
  EXPECT_EQ(M("mg " + k + " R30 s\r\n"), "HD s1 W\r\n");
  EXPECT_EQ(M("mg " + k + " R30 s\r\n"), "HD s1 Z\r\n");
  EXPECT_EQ(M("mg " + k + " s\r\n"), "HD s1 Z\r\n");
  EXPECT_EQ(M("mg " + far + " R30 s\r\n"), "HD s1\r\n");
  EXPECT_EQ(M("mg " + never + " R30 s\r\n"), "HD s1\r\n");  // no TTL: never wins
  // R looks at the TTL where it stands in the line: after T50 the item expires within 60.
  EXPECT_EQ(M("mg " + far + " T50 R60 s\r\n"), "HD s1 W\r\n");
  EXPECT_EQ(M("mg " + far + " s\r\n"), "HD s1 Z\r\n");
  // A new version starts without a token.
  ASSERT_EQ(M("ms " + k + " 1 T10\r\ny\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " R30 v\r\n"), "VA 1 W\r\ny\r\n");
}

TEST_F(MetaCommands, LastAccessAndHitBefore) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 1\r\nz\r\n"), "HD\r\n");
  EXPECT_EQ(M("mg " + k + " l h\r\n"), "HD l0 h0\r\n");
  ::usleep(2'100'000);
  // Both servers count from the store (memcached does not move an item's access time on its
  // first fetch), so about two seconds have passed; a loaded machine may add a second.
  const std::string later = M("mg " + k + " l h\r\n");
  EXPECT_TRUE(FullyMatches(later, "HD l[23] h1\r\n")) << Printable(later);
  EXPECT_TRUE(FullyMatches(M("me " + k + "\r\n"), "ME " + k +
                                                      " exp=-1 la=[0-9]+ cas=[0-9]+ "
                                                      "fetch=yes cls=[0-9]+ size=[0-9]+\r\n"));
  if (!TargetIsMemcached()) {
    // The product's l is the time since the access before this one (memcached bumps its access
    // time lazily, so it may still answer 2 here).
    EXPECT_EQ(M("mg " + k + " l\r\n"), "HD l0\r\n");
  }
}

// me, like memcached's, reads the item without bumping it: not a fetch, not an access.
TEST_F(MetaCommands, DebugDoesNotMarkFetched) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 1\r\nz\r\n"), "HD\r\n");
  EXPECT_TRUE(FullyMatches(M("me " + k + "\r\n"), "ME " + k +
                                                      " exp=-1 la=[0-9]+ cas=[0-9]+ "
                                                      "fetch=no cls=[0-9]+ size=[0-9]+\r\n"));
  EXPECT_TRUE(FullyMatches(M("me " + k + "\r\n"), "ME " + k + " .* fetch=no .*\r\n"));
  EXPECT_EQ(M("mg " + k + " h\r\n"), "HD h0\r\n");
  EXPECT_TRUE(FullyMatches(M("me " + k + "\r\n"), "ME " + k + " .* fetch=yes .*\r\n"));
}

TEST_F(MetaCommands, TouchWithT) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 1 T0\r\nX\r\n"), "HD\r\n");
  const uint64_t cas = Cas(k);
  EXPECT_EQ(M("mg " + k + " t\r\n"), "HD t-1\r\n");
  EXPECT_EQ(M("mg " + k + " T30 t\r\n"), "HD t30\r\n");
  EXPECT_TRUE(FullyMatches(M("mg " + k + " t T60 v\r\n"), "VA 1 t(29|30)\r\nX\r\n"));
  EXPECT_TRUE(FullyMatches(M("mg " + k + " t\r\n"), "HD t(59|60)\r\n"));
  EXPECT_EQ(Cas(k), cas);  // a touch keeps the cas unique
  EXPECT_EQ(M("mg " + k + " T0 t c\r\n"), "HD t-1 c" + std::to_string(cas) + "\r\n");
  EXPECT_EQ(M("mg " + Key("missing") + " T30\r\n"), "EN\r\n");
}

TEST_F(MetaCommands, DeleteAndDebug) {
  const std::string k = Key("k");
  EXPECT_EQ(M("md " + k + "\r\n"), "NF\r\n");
  EXPECT_EQ(M("me " + k + "\r\n"), "EN\r\n");
  ASSERT_EQ(M("ms " + k + " 3 T100\r\nabc\r\n"), "HD\r\n");
  const uint64_t cas = Cas(k);
  // Fetched by the gets above; cls and size are the product's own.
  EXPECT_TRUE(FullyMatches(M("me " + k + "\r\n"),
                           "ME " + k + " exp=-(99|100) la=[0-9]+ cas=" + std::to_string(cas) +
                               " fetch=yes cls=[0-9]+ size=[0-9]+\r\n"));
  // (me with b of a key stored as text: memcached prints the text, the product the base64.)
  // T without I is ignored by md.
  EXPECT_EQ(M("md " + k + " T30 k\r\n"), "HD k" + k + "\r\n");
  EXPECT_EQ(M("mg " + k + "\r\n"), "EN\r\n");
  EXPECT_EQ(client_.Request("delete " + k + "\r\n"), "NOT_FOUND\r\n");
}

TEST_F(MetaCommands, Base64Keys) {
  // A binary key with a space, a CR LF and a NUL, which no text command could name.
  const std::string bin = Key("") + " \r\n" + std::string(1, '\0') + "\xff";
  const std::string enc = Base64(bin);
  const std::string stored = M("ms " + enc + " 3 b k c\r\nbin\r\n");
  EXPECT_EQ(stored.rfind("HD k" + enc + " b c", 0), 0u) << Printable(stored);
  const std::string debug = M("me " + enc + " b\r\n");
  EXPECT_EQ(debug.rfind("ME " + enc + " exp=-1 ", 0), 0u) << Printable(debug);
  EXPECT_EQ(M("mg " + enc + " b v k\r\n"), "VA 3 k" + enc + " b\r\nbin\r\n");
  EXPECT_EQ(M("mg " + enc + " v\r\n"), "EN\r\n");  // the encoded text is another key
  EXPECT_EQ(M("ma " + enc + " b\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(M("md " + enc + " b k\r\n"), "HD k" + enc + " b\r\n");
  EXPECT_EQ(M("mg " + enc + " b k q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(M("mg " + enc + " b k\r\n"), "EN k" + enc + " b\r\n");
  // Keys are one space whatever their encoding: a base64 key names the same item as its text.
  const std::string text = Key("text");
  ASSERT_EQ(client_.Request("set " + text + " 9 0 2\r\nhi\r\n"), "STORED\r\n");
  EXPECT_EQ(M("mg " + Base64(text) + " b v f\r\n"), "VA 2 f9\r\nhi\r\n");
  EXPECT_EQ(M("ma " + Base64(Key("ctr")) + " b N0 J3 v k\r\n"),
            "VA 1 k" + Base64(Key("ctr")) + " b\r\n3\r\n");
  EXPECT_EQ(client_.Get("get " + Key("ctr") + "\r\n"), ValueBlock(Key("ctr"), 0, "3") + "END\r\n");
  // Keys that do not decode.
  EXPECT_EQ(M("mg " + text + "x b\r\n"), "CLIENT_ERROR error decoding key\r\n");
  EXPECT_EQ(M("mg ==== b\r\n"), "CLIENT_ERROR error decoding key\r\n");
  EXPECT_EQ(M("ms abc 1 b\r\nX\r\nmn\r\n"), "CLIENT_ERROR error decoding key\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
  EXPECT_EQ(M("md abc b\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
}

TEST_F(MetaCommands, CommandLineErrors) {
  const std::string k = Key("k");
  EXPECT_EQ(M("mg\r\n"), "ERROR\r\n");
  EXPECT_EQ(M("ms\r\n"), "ERROR\r\n");
  EXPECT_EQ(M("md\r\n"), "ERROR\r\n");
  EXPECT_EQ(M("ma\r\n"), "ERROR\r\n");
  EXPECT_EQ(M("me\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(M("mz " + k + "\r\n"), "ERROR\r\n");
  EXPECT_EQ(M("mg " + std::string(251, 'k') + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(M("mg " + k + " v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_EQ(M("mg " + k + " E1\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(M("mg " + k + " Tx\r\n"), "CLIENT_ERROR bad token in command line format\r\n");
  std::string flags;
  for (int i = 0; i < 18; ++i) flags += " v";
  EXPECT_EQ(M("mg " + k + flags + "\r\n"), "CLIENT_ERROR options flags are too long\r\n");
  EXPECT_EQ(M("md " + k + flags + "\r\n"), "CLIENT_ERROR options flags too long\r\n");
  EXPECT_EQ(M("ms " + k + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  // Errors before the datalen leave the block to be read as a command; later ones swallow it.
  EXPECT_EQ(M("ms " + k + " x\r\nversion\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(client_.ReadLine().rfind("VERSION ", 0), 0u);
  EXPECT_EQ(M("ms " + k + " 7 z\r\nversion\r\nmn\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
  EXPECT_EQ(M("ms " + k + " 7 T\r\nversion\r\nmn\r\n"),
            "CLIENT_ERROR bad token in command line format\r\n");
  EXPECT_EQ(ReadMeta(client_), "MN\r\n");
}

TEST_F(MetaCommands, TooLargeSetSwallowsTheBlockAndDropsTheOldValue) {
  const std::string k = Key("k");
  ASSERT_EQ(M("ms " + k + " 3\r\nold\r\n"), "HD\r\n");
  const std::string big(2 * 1024 * 1024, 'x');
  const std::string request =
      "ms " + k + " " + std::to_string(big.size()) + " q\r\n" + big + "\r\nmn\r\n";
  const std::string want = "SERVER_ERROR object too large for cache\r\nMN\r\n";
  EXPECT_EQ(client_.Transact(request, want.size()), want);
  EXPECT_EQ(M("mg " + k + "\r\n"), "EN\r\n");
}

// --- Stats ---------------------------------------------------------------------------------------

class MetaStats : public OwnServerTest {};

TEST_F(MetaStats, CountedLikeTheClassicCommands) {
  auto before = client_.Stats();
  ASSERT_EQ(Meta(client_, "ms a 1\r\n1\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "mg a v\r\n"), "VA 1\r\n1\r\n");
  ASSERT_EQ(Meta(client_, "mg b v\r\n"), "EN\r\n");
  ASSERT_EQ(Meta(client_, "mg a T10\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "ma a\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "ma a MD\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "ma b\r\n"), "NF\r\n");
  ASSERT_EQ(Meta(client_, "md a\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "md a\r\n"), "NF\r\n");
  auto after = client_.Stats();
  auto delta = [&](const std::string& name) {
    return StatNum(after, name) - StatNum(before, name);
  };
  EXPECT_EQ(delta("cmd_set"), 1u);
  EXPECT_EQ(delta("cmd_get"), 2u);
  EXPECT_EQ(delta("get_hits"), 1u);
  EXPECT_EQ(delta("get_misses"), 1u);
  EXPECT_EQ(delta("cmd_touch"), 1u);
  EXPECT_EQ(delta("touch_hits"), 1u);
  EXPECT_EQ(delta("incr_hits"), 1u);
  EXPECT_EQ(delta("decr_hits"), 1u);
  EXPECT_EQ(delta("incr_misses"), 1u);
  EXPECT_EQ(delta("delete_hits"), 1u);
  EXPECT_EQ(delta("delete_misses"), 1u);
}

// --- Items on the device ---------------------------------------------------------------------

// ssdcached: -m 8 and 24 MiB written push the first items onto the device. memcached (the oracle)
// gets enough memory to keep them all.
class MetaOnDevice : public OwnServerTest {
 protected:
  static constexpr int kKeys = 3000;
  static constexpr size_t kValueSize = 8000;

  ServerOptions Options() override {
    ServerOptions o;
    o.memory_mib = TargetIsMemcached() ? 64 : 8;
    return o;
  }

  static std::string KeyOf(int i) { return "dev:" + std::to_string(i); }
  static std::string ValueOf(int i) {
    std::string v(kValueSize, static_cast<char>('a' + i % 26));
    v.replace(0, std::to_string(i).size(), std::to_string(i));
    return v;
  }

  void Fill() {
    std::string batch;
    std::string want;
    for (int i = 0; i < kKeys; ++i) {
      batch += "ms " + KeyOf(i) + " " + std::to_string(kValueSize) + " q F" + std::to_string(i) +
               "\r\n" + ValueOf(i) + "\r\n";
      if (i % 200 == 199 || i == kKeys - 1) {
        batch += "mn\r\n";
        ASSERT_EQ(client_.Transact(batch, 4), "MN\r\n");
        batch.clear();
      }
    }
  }
};

TEST_F(MetaOnDevice, GetSetDeleteArithmeticOnDeviceItems) {
  ASSERT_EQ(Meta(client_, "ms dev:n 3\r\n100\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "ms dev:t 1\r\nT\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "ms dev:a 4\r\nhead\r\n"), "HD\r\n");
  ASSERT_EQ(Meta(client_, "ms dev:d 1\r\nD\r\n"), "HD\r\n");
  ASSERT_NO_FATAL_FAILURE(Fill());
  // memcached has no reads_device.
  const int64_t reads_before = TargetIsMemcached() ? 0 : StatNum(client_.Stats(), "reads_device");

  // A pipeline of mg on device items (and quiet misses) answers in request order.
  std::string request;
  std::string want;
  for (int i = 0; i < 40; ++i) {
    request += "mg " + KeyOf(i) + " v f k O" + std::to_string(i) + "\r\n";
    want += "VA " + std::to_string(kValueSize) + " f" + std::to_string(i) + " k" + KeyOf(i) + " O" +
            std::to_string(i) + "\r\n" + ValueOf(i) + "\r\n";
    request += "mg dev:missing" + std::to_string(i) + " v q\r\n";
  }
  request += "mn\r\n";
  want += "MN\r\n";
  EXPECT_EQ(client_.Transact(request, want.size()), want);

  EXPECT_EQ(Meta(client_, "ma dev:n v D5\r\n"), "VA 3\r\n105\r\n");
  EXPECT_EQ(Meta(client_, "mg dev:t T100 t v\r\n"), "VA 1 t100\r\nT\r\n");
  EXPECT_EQ(Meta(client_, "ms dev:a 4 MA\r\ntail\r\n"), "HD\r\n");
  EXPECT_EQ(Meta(client_, "mg dev:a v\r\n"), "VA 8\r\nheadtail\r\n");
  EXPECT_EQ(Meta(client_, "md dev:d q\r\nmg dev:d\r\n"), "EN\r\n");
  EXPECT_EQ(Meta(client_, "ms " + KeyOf(41) + " 1 ME\r\nX\r\n"), "NS\r\n");
  const uint64_t cas = ParseCas(client_.Get("gets " + KeyOf(42) + "\r\n")).value_or(0);
  EXPECT_EQ(Meta(client_, "ms " + KeyOf(42) + " 1 C" + std::to_string(cas) + "\r\nX\r\n"),
            "HD\r\n");
  EXPECT_EQ(Meta(client_, "mg " + KeyOf(42) + " v\r\n"), "VA 1\r\nX\r\n");
  EXPECT_EQ(Meta(client_, "md " + KeyOf(43) + " k\r\n"), "HD k" + KeyOf(43) + "\r\n");
  EXPECT_EQ(Meta(client_, "me " + KeyOf(43) + "\r\n"), "EN\r\n");
  EXPECT_TRUE(FullyMatches(Meta(client_, "me " + KeyOf(44) + "\r\n"),
                           "ME " + KeyOf(44) + " exp=-1 la=[0-9]+ cas=[0-9]+ .*\r\n"));
  // The last items are still in memory.
  EXPECT_EQ(Meta(client_, "mg " + KeyOf(kKeys - 1) + " s\r\n"),
            "HD s" + std::to_string(kValueSize) + "\r\n");

  if (!TargetIsMemcached()) {
    // The early items really were read from the device.
    EXPECT_GE(StatNum(client_.Stats(), "reads_device") - reads_before, 40);
  }
}

TEST_F(MetaOnDevice, PipelinedGetsOfDeviceItemsOverlapTheirReads) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  ASSERT_EQ(client_.Request("stats reset\r\n"), "RESET\r\n");
  // One send: plain mg, mg with return flags, quiet hits and quiet misses, ending with mn. Each
  // device read must come back in request order with its own flags.
  std::string request;
  std::string want;
  for (int i = 0; i < 300; ++i) {
    const std::string key = KeyOf(i * 7);
    const std::string size = std::to_string(kValueSize);
    switch (i % 3) {
      case 0:
        request += "mg " + key + " v\r\n";
        want += "VA " + size + "\r\n" + ValueOf(i * 7) + "\r\n";
        break;
      case 1:
        request += "mg " + key + " s f k O" + std::to_string(i) + " q\r\n";
        want += "HD s" + size + " f" + std::to_string(i * 7) + " k" + key + " O" +
                std::to_string(i) + "\r\n";
        break;
      default:
        request += "mg dev:none" + std::to_string(i) + " v q\r\nmg " + key + " v q\r\n";
        want += "VA " + size + "\r\n" + ValueOf(i * 7) + "\r\n";
        break;
    }
  }
  request += "mn\r\n";
  want += "MN\r\n";
  EXPECT_EQ(client_.Transact(request, want.size()), want);
  if (!TargetIsMemcached()) {
    const auto stats = client_.Stats();
    EXPECT_GE(StatNum(stats, "reads_device"), 200u);
    // The reads were issued together, as classic get issues them, not one after another.
    EXPECT_GE(StatNum(stats, "reads_in_flight_max"), 2u);
    EXPECT_EQ(StatNum(stats, "get_hits"), 300u);
    EXPECT_EQ(StatNum(stats, "get_misses"), 100u);
  }
}

}  // namespace
}  // namespace ssdcache::integration
