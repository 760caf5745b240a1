// Tests for the memcached ASCII protocol parser. Expected replies, `consumed` and `swallow` values
// were checked against Debian's memcached 1.6.18 (`memcached -U 0 -l 127.0.0.1 -p PORT`) by
// sending the same bytes; cases where the product deliberately differs from memcached say so.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "alloc_counter.h"
#include "protocol/numbers.h"
#include "protocol/parser.h"

namespace ssdcache::protocol {

// Readable names in failure messages.
void PrintTo(Command cmd, std::ostream* os) { *os << "Command(" << static_cast<int>(cmd) << ")"; }
void PrintTo(ParseStatus s, std::ostream* os) {
  *os << (s == ParseStatus::kOk ? "kOk" : s == ParseStatus::kNeedMore ? "kNeedMore" : "kError");
}

namespace {

using namespace std::string_literals;

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk\r\n";
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument\r\n";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument\r\n";
constexpr std::string_view kDeleteUsage =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
constexpr std::string_view kError = "ERROR\r\n";

// An outcome and its request, copied out of the parser's views so results of different feeds can
// be compared.
struct Event {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;
  std::string reply;
  uint64_t swallow = 0;
  bool close = false;
  Command cmd = Command::kGet;
  std::vector<std::string> keys;
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint32_t bytes = 0;
  uint64_t cas_unique = 0;
  uint64_t delta = 0;
  int64_t delay = 0;
  bool has_delay = false;
  uint32_t verbosity = 0;
  bool noreply = false;
  std::string data;
  std::string stats_arg;
  bool more_keys = false;

  bool operator==(const Event&) const = default;
};

void PrintTo(const Event& e, std::ostream* os) {
  *os << "{status=";
  PrintTo(e.status, os);
  *os << " consumed=" << e.consumed << " reply=" << ::testing::PrintToString(e.reply)
      << " swallow=" << e.swallow << " close=" << e.close << " cmd=" << static_cast<int>(e.cmd)
      << " keys=" << e.keys.size();
  if (!e.keys.empty()) *os << ::testing::PrintToString(e.keys.front().substr(0, 40));
  *os << " flags=" << e.flags << " exptime=" << e.exptime << " bytes=" << e.bytes
      << " cas=" << e.cas_unique << " delta=" << e.delta << " delay=" << e.delay
      << " has_delay=" << e.has_delay << " verbosity=" << e.verbosity << " noreply=" << e.noreply
      << " data.size=" << e.data.size() << " stats_arg=" << ::testing::PrintToString(e.stats_arg)
      << " more_keys=" << e.more_keys << "}";
}

Event Capture(const ParseOutcome& out, const Request& req) {
  Event e;
  e.status = out.status;
  e.consumed = out.consumed;
  e.reply = std::string(out.reply);
  e.swallow = out.swallow;
  e.close = out.close;
  e.cmd = req.cmd;
  for (std::string_view k : req.keys) e.keys.emplace_back(k);
  e.flags = req.flags;
  e.exptime = req.exptime;
  e.bytes = req.bytes;
  e.cas_unique = req.cas_unique;
  e.delta = req.delta;
  e.delay = req.delay;
  e.has_delay = req.has_delay;
  e.verbosity = req.verbosity;
  e.noreply = req.noreply;
  e.data = std::string(req.data);
  e.stats_arg = std::string(req.stats_arg);
  e.more_keys = req.more_keys;
  return e;
}

Event ParseOne(std::string_view input, ParserLimits limits = {}) {
  Parser parser(limits);
  Request req;
  return Capture(parser.Parse(input, req), req);
}

bool Within(std::string_view view, std::string_view buf) {
  if (view.empty()) return true;
  return view.data() >= buf.data() && view.data() + view.size() <= buf.data() + buf.size();
}

// Plays the connection: keeps the unconsumed bytes, appends each piece as it arrives, parses until
// the parser wants more, drops `consumed`, swallows what an error asks for (also from bytes that
// arrive later), and stops at a close. Checks the parser's invariants on every call.
struct Connection {
  explicit Connection(ParserLimits limits = {}) : parser(limits) {}

  void Receive(std::string_view piece) {
    if (closed) return;
    const size_t skip = static_cast<size_t>(std::min<uint64_t>(swallow, piece.size()));
    piece.remove_prefix(skip);
    swallow -= skip;
    buf.append(piece);
    Drain();
  }

  void Drain() {
    for (;;) {
      const ParseOutcome out = parser.Parse(buf, req);
      ASSERT_LE(out.consumed, buf.size());
      if (out.status == ParseStatus::kNeedMore) {
        ASSERT_EQ(out.consumed, 0u);
        return;
      }
      // Every answer makes progress, or a connection would spin.
      ASSERT_GT(out.consumed, 0u);
      for (std::string_view k : req.keys) ASSERT_TRUE(Within(k, buf));
      ASSERT_TRUE(Within(req.data, buf));
      ASSERT_TRUE(Within(req.stats_arg, buf));
      events.push_back(Capture(out, req));
      buf.erase(0, out.consumed);
      if (out.close) {
        closed = true;
        return;
      }
      swallow = out.swallow;
      const size_t skip = static_cast<size_t>(std::min<uint64_t>(swallow, buf.size()));
      buf.erase(0, skip);
      swallow -= skip;
    }
  }

  Parser parser;
  Request req;
  std::string buf;
  uint64_t swallow = 0;
  bool closed = false;
  std::vector<Event> events;
};

std::vector<Event> FeedPieces(std::string_view stream, const std::vector<size_t>& cuts,
                              ParserLimits limits = {}) {
  Connection conn(limits);
  size_t at = 0;
  for (size_t cut : cuts) {
    conn.Receive(stream.substr(at, cut - at));
    at = cut;
  }
  conn.Receive(stream.substr(at));
  return conn.events;
}

std::vector<Event> FeedInChunks(std::string_view stream, size_t chunk, ParserLimits limits = {}) {
  Connection conn(limits);
  for (size_t at = 0; at < stream.size(); at += chunk) conn.Receive(stream.substr(at, chunk));
  return conn.events;
}

Event Ok(Command cmd, size_t consumed) {
  Event e;
  e.status = ParseStatus::kOk;
  e.cmd = cmd;
  e.consumed = consumed;
  return e;
}

// ------------------------------------------------------------------------------------------------
// Commands and their fields

TEST(ParserGet, SingleKey) {
  Event want = Ok(Command::kGet, 9);
  want.keys = {"foo"};
  EXPECT_EQ(ParseOne("get foo\r\n"), want);
}

TEST(ParserGet, ManyKeysRunsOfSpacesAndBareNewline) {
  // memcached splits on ' ' only and ignores runs of spaces, leading and trailing ones included.
  const std::string line = "  gets   a  bb ccc   \n";
  Event want = Ok(Command::kGets, line.size());
  want.keys = {"a", "bb", "ccc"};
  EXPECT_EQ(ParseOne(line), want);
}

TEST(ParserGet, KeyOfExactly250Bytes) {
  const std::string key(250, 'k');
  const std::string line = "get " + key + "\r\n";
  Event want = Ok(Command::kGet, line.size());
  want.keys = {key};
  EXPECT_EQ(ParseOne(line), want);
}

TEST(ParserGet, GatAndGatsCarryExptime) {
  Event want = Ok(Command::kGat, 13);
  want.exptime = 100;
  want.keys = {"a", "b"};
  EXPECT_EQ(ParseOne("gat 100 a b\r\nxx"), want);

  want = Ok(Command::kGats, 11);
  want.exptime = -1;
  want.keys = {"k"};
  EXPECT_EQ(ParseOne("gats -1 k\r\n"), want);

  want = Ok(Command::kGat, 28);
  want.exptime = 0;  // -2^63 cut to 32 bits, as memcached keeps it
  want.keys = {"k"};
  EXPECT_EQ(ParseOne("gat -9223372036854775808 k\r\n"), want);
}

TEST(ParserGet, GatWithoutKeysIsAnEmptyRequest) {
  // memcached answers "gat 10" and "gats 10" with a bare END.
  Event want = Ok(Command::kGat, 8);
  want.exptime = 10;
  EXPECT_EQ(ParseOne("gat 10\r\n"), want);
  want = Ok(Command::kGats, 10);
  want.exptime = 10;
  EXPECT_EQ(ParseOne("gats 10 \r\n"), want);
}

TEST(ParserGet, NulEndsTheLineLikeMemcached) {
  // memcached treats the line as a C string: "get a\0zz" returns a's value.
  const std::string line = "get a\0zz\r\n"s;
  Event want = Ok(Command::kGet, line.size());
  want.keys = {"a"};
  EXPECT_EQ(ParseOne(line), want);
}

TEST(ParserStorage, EveryStorageCommand) {
  const struct {
    const char* name;
    Command cmd;
  } kCmds[] = {{"set", Command::kSet},
               {"add", Command::kAdd},
               {"replace", Command::kReplace},
               {"append", Command::kAppend},
               {"prepend", Command::kPrepend}};
  for (const auto& c : kCmds) {
    SCOPED_TRACE(c.name);
    const std::string line = std::string(c.name) + " key 4294967295 -30 5\r\n";
    const std::string input = line + "hello\r\nget x\r\n";
    Event want = Ok(c.cmd, line.size() + 7);
    want.keys = {"key"};
    want.flags = 4294967295u;
    want.exptime = -30;
    want.bytes = 5;
    want.data = "hello";
    EXPECT_EQ(ParseOne(input), want);
  }
}

TEST(ParserStorage, NoreplyAndIgnoredExtraToken) {
  Event want = Ok(Command::kSet, 26);
  want.keys = {"k"};
  want.flags = 1;
  want.exptime = 2;
  want.bytes = 3;
  want.noreply = true;
  want.data = "abc";
  EXPECT_EQ(ParseOne("set k 1 2 3 noreply\r\nabc\r\n"), want);
  // memcached ignores a sixth token that is not "noreply" (it answers STORED).
  want.noreply = false;
  want.consumed = 23;
  EXPECT_EQ(ParseOne("set k 1 2 3 junk\r\nabc\r\n"), want);
}

TEST(ParserStorage, EmptyValueAndCrlfInsideData) {
  Event want = Ok(Command::kSet, 15);
  want.keys = {"k"};
  EXPECT_EQ(ParseOne("set k 0 0 0\r\n\r\n"), want);

  want = Ok(Command::kSet, 13 + 8);
  want.keys = {"k"};
  want.bytes = 6;
  want.data = "a\r\nb\nc";
  EXPECT_EQ(ParseOne("set k 0 0 6\r\na\r\nb\nc\r\n"), want);
}

TEST(ParserStorage, LeadingZerosAndBareNewlineLine) {
  // "05" is a plain decimal; memcached also accepts a line ending in a bare "\n".
  Event want = Ok(Command::kSet, 13 + 7);
  want.keys = {"k"};
  want.bytes = 5;
  want.data = "hello";
  EXPECT_EQ(ParseOne("set k 0 0 05\nhello\r\n"), want);
}

TEST(ParserStorage, NulEndsTheCommandLine) {
  // memcached stores "hello" for this: the line stops at the NUL, the data starts after "\n".
  const std::string line = "set k 0 0 5\0junk\r\n"s;
  Event want = Ok(Command::kSet, line.size() + 7);
  want.keys = {"k"};
  want.bytes = 5;
  want.data = "hello";
  EXPECT_EQ(ParseOne(line + "hello\r\n"), want);
}

TEST(ParserStorage, WaitsForTheWholeBlock) {
  const std::string full = "set k 0 0 5\r\nhello\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    const Event got = ParseOne(full.substr(0, n));
    EXPECT_EQ(got.status, ParseStatus::kNeedMore);
    EXPECT_EQ(got.consumed, 0u);
  }
  EXPECT_EQ(ParseOne(full).status, ParseStatus::kOk);
}

TEST(ParserStorage, Cas) {
  Event want = Ok(Command::kCas, 34 + 3);
  want.keys = {"k"};
  want.flags = 7;
  want.exptime = 0;
  want.bytes = 1;
  want.cas_unique = 18446744073709551615u;
  want.data = "A";
  EXPECT_EQ(ParseOne("cas k 7 0 1 18446744073709551615\r\nA\r\n"), want);

  want.consumed = 24 + 3;
  want.cas_unique = 99;
  want.noreply = true;
  EXPECT_EQ(ParseOne("cas k 7 0 1 99 noreply\r\nA\r\n"), want);
  want.consumed = 21 + 3;
  want.noreply = false;
  EXPECT_EQ(ParseOne("cas k 7 0 1 99 junk\r\nA\r\n"), want);  // memcached: EXISTS/NOT_FOUND
}

TEST(ParserStorage, OneMebibyteValue) {
  const std::string value(1 << 20, 'v');
  const std::string line = "set big 0 0 1048576\r\n";
  const std::string input = line + value + "\r\n";
  Event want = Ok(Command::kSet, input.size());
  want.keys = {"big"};
  want.bytes = 1 << 20;
  want.data = value;
  EXPECT_EQ(ParseOne(input), want);

  // Arriving in 64 KiB reads it is reported once, when complete.
  const std::vector<Event> events = FeedInChunks(input, 64 * 1024);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], want);
}

TEST(ParserArithmetic, IncrDecr) {
  Event want = Ok(Command::kIncr, 29);
  want.keys = {"n"};
  want.delta = 18446744073709551615u;
  EXPECT_EQ(ParseOne("incr n 18446744073709551615\r\n"), want);

  want = Ok(Command::kDecr, 18);
  want.keys = {"n"};
  want.delta = 5;
  want.noreply = true;
  EXPECT_EQ(ParseOne("decr n 5 noreply\r\n"), want);

  want = Ok(Command::kIncr, 15);
  want.keys = {"n"};
  want.delta = 1;
  EXPECT_EQ(ParseOne("incr n 1 junk\r\n"), want);  // memcached ignores the junk and answers
}

TEST(ParserDelete, Forms) {
  Event want = Ok(Command::kDelete, 10);
  want.keys = {"k"};
  EXPECT_EQ(ParseOne("delete k\r\n"), want);

  want.consumed = 12;  // legacy hold time of 0
  EXPECT_EQ(ParseOne("delete k 0\r\n"), want);

  want.consumed = 18;
  want.noreply = true;
  EXPECT_EQ(ParseOne("delete k noreply\r\n"), want);

  want.consumed = 20;
  EXPECT_EQ(ParseOne("delete k 0 noreply\r\n"), want);

  // A key named "noreply" is a key.
  want = Ok(Command::kDelete, 16);
  want.keys = {"noreply"};
  EXPECT_EQ(ParseOne("delete noreply\r\n"), want);
}

TEST(ParserTouch, Forms) {
  Event want = Ok(Command::kTouch, 12);
  want.keys = {"k"};
  want.exptime = -1;
  EXPECT_EQ(ParseOne("touch k -1\r\n"), want);

  want = Ok(Command::kTouch, 20);
  want.keys = {"k"};
  want.exptime = 10;
  want.noreply = true;
  EXPECT_EQ(ParseOne("touch k 10 noreply\r\n"), want);

  want = Ok(Command::kTouch, 17);
  want.keys = {"k"};
  want.exptime = 10;
  EXPECT_EQ(ParseOne("touch k 10 junk\r\n"), want);  // memcached: NOT_FOUND/TOUCHED
}

// memcached keeps an exptime (and flush_all's delay) in an int32_t: any value that fits 64 bits is
// taken and cut to its low 32 bits, signed (set x 0 4294967295 stores an item already expired).
TEST(ParserExptime, CutToSigned32BitsAsMemcached) {
  const std::pair<std::string, int64_t> cases[] = {
      {"4294967295", -1},
      {"-4294967295", 1},
      {"4294967296", 0},
      {"4294967396", 100},
      {"2147483648", -2147483648LL},
      {"-2147483649", 2147483647},
      {"9223372036854775807", -1},
      {"-9223372036854775808", 0},
      {"00000000000000000000000000000000000004294967297", 1},
  };
  for (const auto& [text, exptime] : cases) {
    Event set = ParseOne("set k 0 " + text + " 1\r\nx\r\n");
    EXPECT_EQ(set.status, ParseStatus::kOk) << text;
    EXPECT_EQ(set.exptime, exptime) << "set " << text;
    Event touch = ParseOne("touch k " + text + "\r\n");
    EXPECT_EQ(touch.status, ParseStatus::kOk) << text;
    EXPECT_EQ(touch.exptime, exptime) << "touch " << text;
    Event gat = ParseOne("gats " + text + " k\r\n");
    EXPECT_EQ(gat.status, ParseStatus::kOk) << text;
    EXPECT_EQ(gat.exptime, exptime) << "gats " << text;
    Event flush = ParseOne("flush_all " + text + "\r\n");
    EXPECT_EQ(flush.status, ParseStatus::kOk) << text;
    EXPECT_EQ(flush.delay, exptime) << "flush_all " << text;
  }
}

TEST(ParserFlushAll, Forms) {
  EXPECT_EQ(ParseOne("flush_all\r\n"), Ok(Command::kFlushAll, 11));

  Event want = Ok(Command::kFlushAll, 13);
  want.delay = 10;
  want.has_delay = true;
  EXPECT_EQ(ParseOne("flush_all 10\n\n"), want);

  want = Ok(Command::kFlushAll, 19);
  want.noreply = true;
  EXPECT_EQ(ParseOne("flush_all noreply\r\n"), want);

  want = Ok(Command::kFlushAll, 22);
  want.noreply = true;
  want.delay = -5;
  want.has_delay = true;
  EXPECT_EQ(ParseOne("flush_all -5 noreply\r\n"), want);

  want = Ok(Command::kFlushAll, 19);
  want.delay = 10;
  want.has_delay = true;
  EXPECT_EQ(ParseOne("flush_all 10 junk\r\n"), want);  // memcached: OK
}

TEST(ParserMisc, VersionQuitVerbosity) {
  EXPECT_EQ(ParseOne("version\r\n"), Ok(Command::kVersion, 9));
  EXPECT_EQ(ParseOne("version junk\r\n"), Ok(Command::kVersion, 14));  // memcached: VERSION
  EXPECT_EQ(ParseOne("quit\r\nversion\r\n"), Ok(Command::kQuit, 6));
  EXPECT_EQ(ParseOne("quit now\r\n"), Ok(Command::kQuit, 10));  // memcached closes too

  Event want = Ok(Command::kVerbosity, 13);
  want.verbosity = 1;
  EXPECT_EQ(ParseOne("verbosity 1\r\n"), want);
  want.consumed = 21;
  want.noreply = true;
  EXPECT_EQ(ParseOne("verbosity 1 noreply\r\n"), want);
  want.consumed = 18;
  want.noreply = false;
  EXPECT_EQ(ParseOne("verbosity 1 junk\r\n"), want);
  // memcached answers OK to any level below 2^64 and clamps it; the parser saturates.
  want = Ok(Command::kVerbosity, 23);
  want.verbosity = std::numeric_limits<uint32_t>::max();
  EXPECT_EQ(ParseOne("verbosity 99999999999\r\n"), want);
}

TEST(ParserMisc, Stats) {
  EXPECT_EQ(ParseOne("stats\r\n"), Ok(Command::kStats, 7));
  Event want = Ok(Command::kStats, 13);
  want.stats_arg = "items";
  EXPECT_EQ(ParseOne("stats items\r\n"), want);
  want = Ok(Command::kStats, 25);
  want.stats_arg = "cachedump  1 2";
  EXPECT_EQ(ParseOne("stats   cachedump  1 2  \n"), want);
}

// ------------------------------------------------------------------------------------------------
// Errors: reply, consumed and swallow for each, as memcached 1.6.18 treats the same bytes.

struct ErrorCase {
  std::string name;
  std::string input;
  std::string_view reply;
  size_t consumed;
  uint64_t swallow = 0;
  bool close = false;
};

std::string Key(size_t n) { return std::string(n, 'x'); }

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::vector<ErrorCase> ErrorCases() {
  const std::string k251 = Key(251);
  return {
      // Unknown commands and wrong token counts: "ERROR", the line only.
      {"EmptyCrlfLine", "\r\n", kError, 2},
      {"EmptyLfLine", "\nget a\r\n", kError, 1},
      {"SpacesOnly", "   \r\n", kError, 5},
      {"UnknownCommand", "bogus a b\r\n", kError, 11},
      {"CommandIsCaseSensitive", "GET a\r\n", kError, 7},
      {"TabIsNotASeparator", "get\ta\r\n", kError, 7},
      {"OneLetter", "g\r\n", kError, 3},
      {"UnknownMetaCommand", "mz\r\n", kError, 4},  // mg ms md ma mn me: protocol_meta_test
      {"GetWithoutKey", "get\r\n", kError, 5},
      {"GetWithOnlySpaces", "get   \r\n", kError, 8},
      {"GetsWithoutKey", "gets\r\n", kError, 6},
      {"GatWithoutExptime", "gat\r\n", kError, 5},
      {"GatsWithoutExptime", "gats \r\n", kError, 7},
      {"SetTooFewTokens", "set k 0 0\r\nhello\r\n", kError, 11},
      {"SetTooManyTokens", "set k 0 0 5 noreply extra\r\nhello\r\n", kError, 27},
      {"CasTooFewTokens", "cas k 0 0 1\r\nA\r\n", kError, 13},
      {"CasTooManyTokens", "cas k 0 0 1 1 noreply x\r\nA\r\n", kError, 25},
      {"IncrTooFewTokens", "incr n\r\n", kError, 8},
      {"IncrTooManyTokens", "incr n 1 noreply x\r\n", kError, 20},
      {"DeleteWithoutKey", "delete\r\n", kError, 8},
      {"DeleteTooManyTokens", "delete n 0 noreply x\r\n", kError, 22},
      {"TouchTooFewTokens", "touch n\r\n", kError, 9},
      {"TouchTooManyTokens", "touch n 1 noreply x\r\n", kError, 21},
      {"FlushAllTooManyTokens", "flush_all 1 2 3\r\n", kError, 17},
      {"VerbosityWithoutLevel", "verbosity\r\n", kError, 11},
      {"VerbosityTooManyTokens", "verbosity 1 2 3\r\n", kError, 17},

      // get family.
      {"GetKeyTooLong", "get a " + k251 + " b\r\n", kBadFormat, 6 + 251 + 4},
      {"GetKeyWithTab", "get a\tb\r\n", kBadFormat, 9},  // memcached accepts; product rule
      {"GetKeyWithCr", "get a\r\r\n", kBadFormat, 8},    // memcached accepts; product rule
      {"GetKeyWithDel", "get a\x7f\r\n", kBadFormat, 8},
      {"GetHighBitKeyFineCtrlKeyNot", "get \xc3\xa9 \x01\r\n", kBadFormat, 10},
      {"GatBadExptime", "gat abc a\r\n", kBadExptime, 11},
      {"GatExptimeOverflow", "gat 9223372036854775808 a\r\n", kBadExptime, 27},
      {"GatExptimePlusSign", "gat +1 a\r\n", kBadExptime, 10},  // memcached accepts "+1"
      {"GatExptimeBeforeKeyCheck", "gats x " + k251 + "\r\n", kBadExptime, 7 + 251 + 2},

      // Storage commands: errors memcached reports on the line leave the data to be read as
      // commands (no swallow).
      {"SetNegativeLength", "set k 0 0 -1\r\nhello\r\n", kBadFormat, 14},
      {"SetNegativeLengthNoreply", "set k 0 0 -1 noreply\r\nhello\r\n", "", 22},
      {"SetKeyTooLong", "set " + k251 + " 0 0 5\r\nhello\r\n", kBadFormat, 4 + 251 + 8},
      {"SetKeyTooLongNoreply", "set " + k251 + " 0 0 5 noreply\r\n", "", 4 + 251 + 16},
      {"SetBadFlags", "set k abc 0 5\r\nhello\r\n", kBadFormat, 15},
      {"SetNegativeFlags", "set k -1 0 5\r\nhello\r\n", kBadFormat, 14},
      {"SetFlagsPast64Bits", "set k 18446744073709551616 0 5\r\n", kBadFormat, 32},
      {"SetBadExptime", "set k 0 abc 5\r\nhello\r\n", kBadFormat, 15},
      {"SetExptimePast64Bits", "set k 0 -9223372036854775809 5\r\n", kBadFormat, 32},
      {"SetLengthJunk", "set k 0 0 5x\r\nhello\r\n", kBadFormat, 14},
      {"SetLengthNoreplyInItsPlace", "set k 0 0 noreply\r\nhello\r\n", "", 19},
      {"SetLength2Pow31", "set k 0 0 2147483648\r\n", kBadFormat, 22},
      {"SetLengthIntMax", "set k 0 0 2147483647\r\n", kBadFormat, 22},
      {"SetLengthIntMaxMinus1", "set k 0 0 2147483646\r\n", kBadFormat, 22},
      {"CasBadUnique", "cas k 0 0 1 abc\r\nA\r\n", kBadFormat, 17},
      {"CasBadUniqueNoreply", "cas k 0 0 1 abc noreply\r\nA\r\n", "", 25},
      {"CasUniquePast64Bits", "cas k 0 0 1 18446744073709551616\r\nA\r\n", kBadFormat, 34},
      {"CasNegativeUnique", "cas k 0 0 1 -1\r\nA\r\n", kBadFormat, 16},

      // Too large: memcached answers on the line and swallows length + 2 bytes.
      {"SetTooLarge", "set k 0 0 1048577\r\n", kTooLarge, 19, 1048579},
      {"SetTooLargeNoreply", "set k 0 0 1048577 noreply\r\n", "", 27, 1048579},
      {"SetLargestMemcachedLength", "set k 0 0 2147483645\r\n", kTooLarge, 22, 2147483647},
      {"CasTooLarge", "cas k 0 0 1048577 99\r\n", kTooLarge, 22, 1048579},

      // Lines memcached accepts (and so reads the data block of) but the product refuses: the
      // block is swallowed so the stream stays framed as memcached frames it.
      {"SetKeyWithTab", "set k\tx 0 0 5\r\nhello\r\n", kBadFormat, 15, 7},
      {"SetKeyWithCtrl", "set k\x01 0 0 5 noreply\r\nhello\r\n", "", 22, 7},
      {"SetLengthPlusSign", "set k 0 0 +5\r\nhello\r\n", kBadFormat, 14, 7},
      {"SetFlagsPlusSign", "set k +1 +2 5\r\nhello\r\n", kBadFormat, 15, 7},
      {"SetFlagsPast32Bits", "set k 4294967296 0 5\r\nhello\r\n", kBadFormat, 22, 7},
      {"SetFlagsMinusZero", "set k -0 0 5\r\nhello\r\n", kBadFormat, 14, 7},
      {"SetLengthTrailingTab", "set k 0 0 5\t\r\nhello\r\n", kBadFormat, 14, 7},
      {"SetLengthTabJunk", "set k 0 0 5\tjunk\r\nhello\r\n", kBadFormat, 18, 7},
      {"SetLengthLeadingTab", "set k 0 0 \t5\r\nhello\r\n", kBadFormat, 14, 7},
      {"SetLengthCutTo32Bits", "set k 0 0 4294967301\r\nhello\r\n", kBadFormat, 22, 7},
      {"CasUniquePlusSign", "cas k 0 0 1 +3\r\nA\r\n", kBadFormat, 16, 3},

      // Bad data chunk: memcached reads length + 2 bytes, then checks the last two.
      {"BadDataChunk", "set k 0 0 5\r\nhelloXXget k\r\n", kBadChunk, 20},
      {"BadDataChunkBareLf", "set k 0 0 5\r\nhello\nget k\r\n", kBadChunk, 20},
      {"BadDataChunkCrCr", "set k 0 0 5\r\nhello\r\r\n", kBadChunk, 20},
      {"BadDataChunkNoreply", "set k 0 0 5 noreply\r\nhelloXX", "", 28},
      {"BadDataChunkCas", "cas k 0 0 1 5\r\nABC\r\n", kBadChunk, 18},

      // incr/decr.
      {"IncrBadDelta", "incr n abc\r\n", kBadDelta, 12},
      {"IncrBadDeltaNoreply", "incr n abc noreply\r\n", "", 20},
      {"IncrNegativeDelta", "incr n -1\r\n", kBadDelta, 11},
      {"IncrPlusDelta", "incr n +1\r\n", kBadDelta, 11},  // memcached accepts "+1"
      {"IncrDeltaPast64Bits", "incr n 18446744073709551616\r\n", kBadDelta, 29},
      {"DecrBadDelta", "decr n 1x\r\n", kBadDelta, 11},
      {"IncrKeyTooLong", "incr " + k251 + " 1\r\n", kBadFormat, 5 + 251 + 4},
      {"IncrKeyTooLongBeforeDelta", "incr " + k251 + " abc\r\n", kBadFormat, 5 + 251 + 6},
      {"IncrKeyWithCtrl", "incr a\x02 1\r\n", kBadFormat, 11},

      // delete.
      {"DeleteNonZeroHold", "delete n 1\r\n", kDeleteUsage, 12},
      {"DeleteHold00", "delete n 00\r\n", kDeleteUsage, 13},
      {"DeleteZeroZero", "delete n 0 0\r\n", kDeleteUsage, 14},
      {"DeleteNoreplyThenZero", "delete n noreply 0\r\n", kDeleteUsage, 20},
      {"DeleteNonZeroHoldNoreply", "delete n 1 noreply\r\n", "", 20},
      {"DeleteKeyTooLong", "delete " + k251 + "\r\n", kBadFormat, 7 + 251 + 2},
      {"DeleteKeyTooLongNoreply", "delete " + k251 + " noreply\r\n", "", 7 + 251 + 10},
      {"DeleteKeyTooLongBadHold", "delete " + k251 + " 1\r\n", kDeleteUsage, 7 + 251 + 4},
      {"DeleteKeyWithCtrl", "delete a\x1f\r\n", kBadFormat, 11},

      // touch.
      {"TouchBadExptime", "touch n abc\r\n", kBadExptime, 13},
      {"TouchBadExptimeNoreply", "touch n abc noreply\r\n", "", 21},
      {"TouchExptimeOverflow", "touch n 9223372036854775808\r\n", kBadExptime, 29},
      {"TouchKeyTooLong", "touch " + k251 + " 10\r\n", kBadFormat, 6 + 251 + 5},

      // flush_all: memcached calls a bad delay an invalid exptime.
      {"FlushAllBadDelay", "flush_all abc\r\n", kBadExptime, 15},
      {"FlushAllBadDelayNoreply", "flush_all abc noreply\r\n", "", 23},
      {"FlushAllNoreplyFirst", "flush_all noreply 5\r\n", kBadExptime, 21},
      {"FlushAllDelayOverflow", "flush_all 9223372036854775808\r\n", kBadExptime, 31},

      // verbosity.
      {"VerbosityBadLevel", "verbosity foo\r\n", kBadFormat, 15},
      {"VerbosityNoreplyAlone", "verbosity noreply\r\n", "", 19},
      {"VerbosityBadLevelNoreply", "verbosity foo noreply\r\n", "", 23},
      {"VerbosityNegative", "verbosity -1\r\n", kBadFormat, 14},
      {"VerbosityPast64Bits", "verbosity 18446744073709551616\r\n", kBadFormat, 32},
      {"VerbosityPlusSign", "verbosity +1\r\n", kBadFormat, 14},  // memcached: OK

      // An unknown command whose last token (of the first 23) begins with "HTTP/": memcached
      // closes without a reply, unless an earlier branch of its dispatch answers ERROR.
      {"HttpGet", "GET / HTTP/1.0\r\n", "", 16, 0, true},
      {"HttpPostLf", "POST /x HTTP/1.1\n", "", 17, 0, true},
      {"HttpVersionAlone", "HTTP/1.1\r\n", "", 10, 0, true},
      {"HttpPrefixOnly", "ZZ HTTP/\r\n", "", 10, 0, true},
      {"HttpTrailingSpace", "PUT / HTTP/1.1 \r\n", "", 17, 0, true},
      {"HttpTabInToken", "GET\t/ HTTP/1.0\tx\r\n", "", 18, 0, true},
      {"HttpNulEndsLine", "GET / HTTP/1.0\0junk\r\n"s, "", 21, 0, true},
      {"HttpLongNameLikeReplace", "replace2 / HTTP/1.0\r\n", "", 21, 0, true},
      {"Http23rdToken", "Get" + Repeat(" a", 21) + " HTTP/1.0 b\r\n", "", 58, 0, true},
      {"HttpNotLastToken", "POST / HTTP/1.1 x\r\n", kError, 19},
      {"Http24thToken", "Get" + Repeat(" a", 22) + " HTTP/1.0\r\n", kError, 58},
      {"HttpLowerCase", "GET / http/1.0\r\n", kError, 16},
      {"HttpWithoutSlash", "GET / HTTP\r\n", kError, 12},
      {"HttpOneLetterName", "X HTTP/1.0\r\n", kError, 12},
      {"HttpNameOfGetBranch", "gx / HTTP/1.0\r\n", kError, 15},
      {"HttpNameOfTouchBranch", "trace / HTTP/1.0\r\n", kError, 18},
      {"HttpTwoLetterMetaName", "mx / HTTP/1.0\r\n", kError, 15},
      {"HttpMemcachedOnlyCommand", "watch HTTP/1.0\r\n", kError, 16},

      // No newline in the first 16 KiB (memcached's read buffer): closed without a reply.
      {"LongSetLineNoNewline", "set " + Key(16400), "", 16404, 0, true},
      {"LongSetLineWithNewline", "set " + Key(16400) + " 0 0 1\r\nA\r\n", "", 16415, 0, true},
      {"LongStatsLine", "stats " + Key(16400), "", 16406, 0, true},
      {"LongLeadingSpaces", std::string(16384, ' '), "", 16384, 0, true},
      {"LongLineOneByteOver", Key(16384), "", 16384, 0, true},
      {"LongLineCrIsPartOfIt", "version " + Key(16375) + "\r\n", "", 16385, 0, true},
      {"LongMetaLine", "mg k" + std::string(16400, ' ') + "v\r\n", "", 16407, 0, true},
      // memcached serves a get line past 16 KiB only when at most 100 spaces precede "get ".
      {"LongGetAfter101Spaces", std::string(101, ' ') + "get " + Key(16300), "", 16405, 0, true},
  };
}

class ParserErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParserErrorTest, ReplyConsumedSwallow) {
  const ErrorCase& c = GetParam();
  const Event got = ParseOne(c.input);
  EXPECT_EQ(got.status, ParseStatus::kError);
  EXPECT_EQ(got.reply, c.reply);
  EXPECT_EQ(got.consumed, c.consumed);
  EXPECT_EQ(got.swallow, c.swallow);
  EXPECT_EQ(got.close, c.close);
}

INSTANTIATE_TEST_SUITE_P(Memcached1618, ParserErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) {
                           return info.param.name;
                         });

TEST(ParserErrors, TooLargeStillNamesTheKey) {
  // memcached unlinks the old item when a set is too large; the server needs the key for that.
  Parser parser;
  Request req;
  const ParseOutcome out = parser.Parse("set kk 0 0 2000000\r\n", req);
  EXPECT_EQ(out.status, ParseStatus::kError);
  EXPECT_EQ(out.reply, kTooLarge);
  EXPECT_EQ(req.cmd, Command::kSet);
  ASSERT_EQ(req.keys.size(), 1u);
  EXPECT_EQ(req.keys[0], "kk");
}

TEST(ParserErrors, WhatFollowsAnErrorIsReadAsMemcachedReadsIt) {
  // Observed replies: set -1 -> CLIENT_ERROR then ERROR (data read as a command); too large ->
  // SERVER_ERROR then END (the block is swallowed); bad chunk "hello\n" -> CLIENT_ERROR then
  // ERROR for "et k".
  const std::string stream =
      "set k 0 0 -1\r\nhello\r\n"
      "set k 0 0 1048577\r\n" +
      std::string(1048577, 'z') +
      "\r\nget a\r\n"
      "set k 0 0 5\r\nhello\nget k\r\n";
  const std::vector<Event> events = FeedInChunks(stream, 4096);
  std::vector<std::string> replies;
  std::vector<ParseStatus> statuses;
  for (const Event& e : events) {
    replies.push_back(e.reply);
    statuses.push_back(e.status);
  }
  EXPECT_EQ(replies, (std::vector<std::string>{std::string(kBadFormat), std::string(kError),
                                               std::string(kTooLarge), "", std::string(kBadChunk),
                                               std::string(kError)}));
  EXPECT_EQ(statuses[3], ParseStatus::kOk);
  EXPECT_EQ(events[3].keys, std::vector<std::string>{"a"});
}

TEST(ParserErrors, LineOfExactlyMaxLineIsParsed) {
  // 16383 bytes without "\n" may still be a valid line (16 KiB with it); one more byte is not.
  const std::string line = "stats " + Key(16377);
  ASSERT_EQ(line.size(), 16383u);
  EXPECT_EQ(ParseOne(line).status, ParseStatus::kNeedMore);
  Event want = Ok(Command::kStats, 16384);
  want.stats_arg = Key(16377);
  EXPECT_EQ(ParseOne(line + "\n"), want);
  const Event over = ParseOne(line + "\r\n");
  EXPECT_EQ(over.status, ParseStatus::kError);
  EXPECT_EQ(over.reply, "");
  EXPECT_TRUE(over.close);
}

// ------------------------------------------------------------------------------------------------
// A pipelined stream of every kind of request and error, fed at once and split every which way.

const ParserLimits kSmallValues{2048, 100, 250};  // keeps "too large" swallows short

std::string MixedStream() {
  std::string s;
  s += "get a\r\n";
  s += "gets a bb ccc\r\n";
  s += "gat 10 a\r\n";
  s += "gats -3 x y\n";
  s += "set k 1 2 5\r\nhello\r\n";
  s += "add k 0 0 0 noreply\r\n\r\n";
  s += "replace k 3 0 3\r\na\nb\r\n";
  s += "append k 0 0 2\r\n\r\n\r\n";
  s += "prepend k 0 0 1 junk\r\nX\r\n";
  s += "cas k 0 0 2 77\r\nhi\r\n";
  s += "cas k 0 0 2 78 noreply\r\nho\r\n";
  s += "incr n 5\r\n";
  s += "decr n 18446744073709551615 noreply\r\n";
  s += "delete k\r\n";
  s += "delete k 0\r\n";
  s += "delete k noreply\r\n";
  s += "touch k 100\r\n";
  s += "touch k -1 noreply\r\n";
  s += "flush_all\r\n";
  s += "flush_all 30 noreply\r\n";
  s += "version\r\n";
  s += "verbosity 1\r\n";
  s += "stats\r\n";
  s += "stats slabs\r\n";
  s += "\r\n";                                   // ERROR
  s += "bogus\r\n";                              // ERROR
  s += "get " + Key(251) + "\r\n";               // bad format
  s += "set k 0 0 -1\r\n";                       // bad format, no swallow
  s += "set k 0 0 101\r\n" + Key(101) + "\r\n";  // too large, swallowed
  s += "set k 0 0 101 noreply\r\n" + Key(101) + "\r\n";
  s += "set k\t 0 0 3\r\nabc\r\n";  // refused, swallowed
  s += "set k 0 0 3\r\nabcXY";      // bad chunk
  s += "set k 0 0 3\r\nabc\n";      // bad chunk, takes "\n" + "g"...
  s += "get a\r\n";                 // ... leaving "et a" -> ERROR
  s += "incr n x\r\n";
  s += "delete n 5\r\n";
  s += "touch n x\r\n";
  s += "flush_all x\r\n";
  s += "verbosity x\r\n";
  s += "gat x a\r\n";
  s += "get a\0junk\r\n"s;
  s += "set v 0 0 100\r\n" + Key(100) + "\r\n";  // the largest value allowed here
  s += "quit\r\n";
  return s;
}

TEST(ParserStream, AtOnceGivesTheExpectedSequence) {
  const std::string stream = MixedStream();
  const std::vector<Event> events = FeedPieces(stream, {}, kSmallValues);
  struct Want {
    ParseStatus status;
    Command cmd;
    std::string_view reply;
  };
  const ParseStatus ok = ParseStatus::kOk;
  const ParseStatus err = ParseStatus::kError;
  const std::vector<Want> want = {
      {ok, Command::kGet, ""},
      {ok, Command::kGets, ""},
      {ok, Command::kGat, ""},
      {ok, Command::kGats, ""},
      {ok, Command::kSet, ""},
      {ok, Command::kAdd, ""},
      {ok, Command::kReplace, ""},
      {ok, Command::kAppend, ""},
      {ok, Command::kPrepend, ""},
      {ok, Command::kCas, ""},
      {ok, Command::kCas, ""},
      {ok, Command::kIncr, ""},
      {ok, Command::kDecr, ""},
      {ok, Command::kDelete, ""},
      {ok, Command::kDelete, ""},
      {ok, Command::kDelete, ""},
      {ok, Command::kTouch, ""},
      {ok, Command::kTouch, ""},
      {ok, Command::kFlushAll, ""},
      {ok, Command::kFlushAll, ""},
      {ok, Command::kVersion, ""},
      {ok, Command::kVerbosity, ""},
      {ok, Command::kStats, ""},
      {ok, Command::kStats, ""},
      {err, Command::kGet, kError},
      {err, Command::kGet, kError},
      {err, Command::kGet, kBadFormat},
      {err, Command::kSet, kBadFormat},
      {err, Command::kSet, kTooLarge},
      {err, Command::kSet, ""},
      {err, Command::kSet, kBadFormat},
      {err, Command::kSet, kBadChunk},
      {err, Command::kSet, kBadChunk},
      {err, Command::kGet, kError},
      {err, Command::kIncr, kBadDelta},
      {err, Command::kDelete, kDeleteUsage},
      {err, Command::kTouch, kBadExptime},
      {err, Command::kFlushAll, kBadExptime},
      {err, Command::kVerbosity, kBadFormat},
      {err, Command::kGat, kBadExptime},
      {ok, Command::kGet, ""},
      {ok, Command::kSet, ""},
      {ok, Command::kQuit, ""},
  };
  ASSERT_EQ(events.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].status, want[i].status);
    EXPECT_EQ(events[i].reply, want[i].reply);
    EXPECT_EQ(events[i].cmd, want[i].cmd);  // kGet (Parse's reset) for unknown commands
  }
  // A few fields in detail.
  EXPECT_EQ(events[1].keys, (std::vector<std::string>{"a", "bb", "ccc"}));
  EXPECT_EQ(events[3].exptime, -3);
  EXPECT_EQ(events[6].data, "a\nb");
  EXPECT_EQ(events[7].data, "\r\n");
  EXPECT_FALSE(events[8].noreply);
  EXPECT_EQ(events[10].cas_unique, 78u);
  EXPECT_TRUE(events[10].noreply);
  EXPECT_EQ(events[12].delta, 18446744073709551615u);
  EXPECT_EQ(events[19].delay, 30);
  EXPECT_EQ(events[23].stats_arg, "slabs");
  EXPECT_EQ(events[28].swallow, 103u);
  EXPECT_EQ(events[29].swallow, 103u);
  EXPECT_EQ(events[30].swallow, 5u);
  EXPECT_EQ(events[40].keys, std::vector<std::string>{"a"});
  EXPECT_EQ(events[41].data, Key(100));
}

TEST(ParserStream, SplitAtEveryByteMatchesAtOnce) {
  const std::string stream = MixedStream();
  const std::vector<Event> whole = FeedPieces(stream, {}, kSmallValues);
  ASSERT_FALSE(whole.empty());
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    ASSERT_EQ(FeedPieces(stream, {cut}, kSmallValues), whole);
  }
}

TEST(ParserStream, ByteByByteAndSmallChunksMatchAtOnce) {
  const std::string stream = MixedStream();
  const std::vector<Event> whole = FeedPieces(stream, {}, kSmallValues);
  for (size_t chunk : {1, 2, 3, 7, 64, 500}) {
    SCOPED_TRACE(chunk);
    EXPECT_EQ(FeedInChunks(stream, chunk, kSmallValues), whole);
  }
}

// ------------------------------------------------------------------------------------------------
// Multi-gets longer than max_line. These use a 2 KiB line limit: the same code as the default
// 16 KiB, at sizes that stay cheap to split at every byte (ParserLongLines checks the default).

const ParserLimits kShortLines{2048, 1024 * 1024, 250};

std::string ManyKeys(size_t n) {
  std::string keys;
  for (size_t i = 0; i < n; ++i) {
    keys += "key" + std::to_string(i);
    keys += i % 7 == 0 ? "  " : " ";  // runs of spaces too
  }
  return keys;
}

std::vector<std::string> ExpectedKeys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back("key" + std::to_string(i));
  return keys;
}

// Checks the chunks of one long get-family line and returns its keys in order.
std::vector<std::string> CollectLongGet(const std::vector<Event>& events, size_t first, size_t last,
                                        Command cmd, int64_t exptime) {
  std::vector<std::string> keys;
  for (size_t i = first; i <= last; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].status, ParseStatus::kOk);
    EXPECT_EQ(events[i].cmd, cmd);
    EXPECT_EQ(events[i].exptime, exptime);
    EXPECT_EQ(events[i].more_keys, i != last);
    keys.insert(keys.end(), events[i].keys.begin(), events[i].keys.end());
  }
  return keys;
}

TEST(ParserLongGet, TenThousandKeysAtOnce) {
  const std::string line = "get " + ManyKeys(10000) + "\r\n";
  ASSERT_GT(line.size(), 80000u);
  const Event got = ParseOne(line + "version\r\n", kShortLines);
  EXPECT_EQ(got.status, ParseStatus::kOk);
  EXPECT_EQ(got.consumed, line.size());
  EXPECT_FALSE(got.more_keys);
  EXPECT_EQ(got.keys, ExpectedKeys(10000));
}

TEST(ParserLongGet, TenThousandKeysInReads) {
  const std::string stream = "get " + ManyKeys(10000) + "\r\nversion\r\n";
  for (size_t chunk : {7, 1000, 2049, 4096, 16384}) {
    SCOPED_TRACE(chunk);
    const std::vector<Event> events = FeedInChunks(stream, chunk, kShortLines);
    ASSERT_GE(events.size(), 3u);
    EXPECT_GT(events.size(), 3u);  // really delivered in chunks
    EXPECT_EQ(CollectLongGet(events, 0, events.size() - 2, Command::kGet, 0), ExpectedKeys(10000));
    EXPECT_EQ(events.back().cmd, Command::kVersion);
  }
}

TEST(ParserLongGet, GatsKeepsItsExptimeAcrossChunks) {
  const std::string stream = "gats -42 " + ManyKeys(3000) + "\nstats\r\n";
  const std::vector<Event> events = FeedInChunks(stream, 3000, kShortLines);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(CollectLongGet(events, 0, events.size() - 2, Command::kGats, -42), ExpectedKeys(3000));
  EXPECT_EQ(events.back().cmd, Command::kStats);
}

TEST(ParserLongGet, FirstChunkConsumesThroughTheLastSeparator) {
  // 2100 bytes of "get k k k ... k" plus a partial key: the partial key stays in the buffer.
  std::string input = "get ";
  while (input.size() < 2100) input += "k ";
  const size_t complete = input.size();
  input += "partial";
  Parser parser(kShortLines);
  Request req;
  ParseOutcome out = parser.Parse(input, req);
  EXPECT_EQ(out.status, ParseStatus::kOk);
  EXPECT_EQ(out.consumed, complete);
  EXPECT_TRUE(req.more_keys);
  EXPECT_EQ(req.keys.size(), (complete - 4) / 2);

  // The rest arrives: only "partial" and the keys after it.
  const std::string rest = input.substr(complete) + " key2  \r\nversion\r\n";
  out = parser.Parse(rest, req);
  EXPECT_EQ(out.status, ParseStatus::kOk);
  EXPECT_EQ(out.consumed, rest.size() - 9);
  EXPECT_FALSE(req.more_keys);
  EXPECT_EQ(req.cmd, Command::kGet);
  ASSERT_EQ(req.keys.size(), 2u);
  EXPECT_EQ(req.keys[0], "partial");
  EXPECT_EQ(req.keys[1], "key2");
  out = parser.Parse(std::string_view(rest).substr(rest.size() - 9), req);
  EXPECT_EQ(out.status, ParseStatus::kOk);
  EXPECT_EQ(req.cmd, Command::kVersion);
}

TEST(ParserLongGet, ContinuationWaitsUntilLineLimitOrNewline) {
  std::string first = "get ";
  while (first.size() < 2100) first += "ab ";
  Parser parser(kShortLines);
  Request req;
  ASSERT_EQ(parser.Parse(first, req).consumed, first.size());
  // A short tail without newline is not worth a chunk yet.
  EXPECT_EQ(parser.Parse("cd ef gh", req).status, ParseStatus::kNeedMore);
  const ParseOutcome out = parser.Parse("cd ef gh\r\n", req);
  EXPECT_EQ(out.status, ParseStatus::kOk);
  EXPECT_EQ(out.consumed, 10u);
  EXPECT_EQ(req.cmd, Command::kGet);
  EXPECT_FALSE(req.more_keys);
  EXPECT_EQ(req.keys.size(), 3u);
}

TEST(ParserLongGet, SplitAtEveryByteDeliversEachKeyOnce) {
  const std::string stream = "gets " + ManyKeys(500) + "\r\nversion\r\n";
  ASSERT_GT(stream.size(), 3000u);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    const std::vector<Event> events = FeedPieces(stream, {cut}, kShortLines);
    ASSERT_GE(events.size(), 2u);
    ASSERT_LE(events.size(), 3u);
    ASSERT_EQ(CollectLongGet(events, 0, events.size() - 2, Command::kGets, 0), ExpectedKeys(500));
    ASSERT_EQ(events.back().cmd, Command::kVersion);
  }
}

TEST(ParserLongGet, KeyTooLongMidLineFailsTheRestAndSkipsIt) {
  const std::string head = "get " + ManyKeys(600);  // about twice max_line
  const std::string stream = head + Key(251) + " more keys\r\nversion\r\n";
  // At once: memcached answers the whole line with one CLIENT_ERROR and no value.
  std::vector<Event> events = FeedPieces(stream, {}, kShortLines);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].status, ParseStatus::kError);
  EXPECT_EQ(events[0].reply, kBadFormat);
  EXPECT_EQ(events[0].consumed, stream.size() - 9);
  EXPECT_TRUE(events[0].keys.empty());
  EXPECT_EQ(events[1].cmd, Command::kVersion);

  // Arriving in reads: the chunks before the bad key are served; the error is sent when the bad
  // key shows, and the rest of the line is dropped silently up to its newline.
  for (size_t chunk : {2200, 2500, 3000}) {
    SCOPED_TRACE(chunk);
    events = FeedInChunks(stream, chunk, kShortLines);
    size_t i = 0;
    std::vector<std::string> served;
    for (; i < events.size() && events[i].status == ParseStatus::kOk; ++i) {
      EXPECT_TRUE(events[i].more_keys);
      served.insert(served.end(), events[i].keys.begin(), events[i].keys.end());
    }
    ASSERT_LT(i + 1, events.size());
    EXPECT_EQ(events[i].status, ParseStatus::kError);
    EXPECT_EQ(events[i].reply, kBadFormat);
    EXPECT_TRUE(events[i].keys.empty());
    for (++i; i + 1 < events.size(); ++i) {
      EXPECT_EQ(events[i].status, ParseStatus::kError);
      EXPECT_EQ(events[i].reply, "");
    }
    EXPECT_EQ(events.back().cmd, Command::kVersion);
    EXPECT_EQ(events.back().status, ParseStatus::kOk);
    const std::vector<std::string> all = ExpectedKeys(600);
    ASSERT_GT(served.size(), 0u);
    ASSERT_LE(served.size(), all.size());
    EXPECT_EQ(served, std::vector<std::string>(all.begin(), all.begin() + served.size()));
  }
}

TEST(ParserLongGet, PartialKeyOverTheLimitFailsAtOnce) {
  Parser parser(kShortLines);
  Request req;
  const std::string input = "get a " + Key(2100);
  const ParseOutcome out = parser.Parse(input, req);
  // "a" is complete but memcached would refuse the whole line: no key is served.
  EXPECT_EQ(out.status, ParseStatus::kError);
  EXPECT_EQ(out.reply, kBadFormat);
  EXPECT_EQ(out.consumed, input.size());
  EXPECT_TRUE(req.keys.empty());
  const ParseOutcome skip = parser.Parse("xxx\r\nversion\r\n", req);
  EXPECT_EQ(skip.status, ParseStatus::kError);
  EXPECT_EQ(skip.reply, "");
  EXPECT_EQ(skip.consumed, 5u);
  EXPECT_EQ(parser.Parse("version\r\n", req).status, ParseStatus::kOk);
  EXPECT_EQ(req.cmd, Command::kVersion);
}

TEST(ParserLongGet, DroppedTailMayTakeSeveralReads) {
  Parser parser(kShortLines);
  Request req;
  ASSERT_EQ(parser.Parse("get a " + Key(2100), req).reply, kBadFormat);
  // Still the same line, however many reads it takes to reach its newline.
  for (std::string_view tail : {"xxxx", " more keys ", "version"}) {
    const ParseOutcome out = parser.Parse(tail, req);
    EXPECT_EQ(out.status, ParseStatus::kError);
    EXPECT_EQ(out.reply, "");
    EXPECT_EQ(out.consumed, tail.size());
  }
  ParseOutcome out = parser.Parse("\r\nversion\r\n", req);
  EXPECT_EQ(out.status, ParseStatus::kError);
  EXPECT_EQ(out.consumed, 2u);
  out = parser.Parse("version\r\n", req);
  EXPECT_EQ(out.status, ParseStatus::kOk);
  EXPECT_EQ(req.cmd, Command::kVersion);
}

TEST(ParserLongGet, GatBadExptimeInLongLine) {
  Parser parser(kShortLines);
  Request req;
  const std::string input = "gat soon " + ManyKeys(400);
  ParseOutcome out = parser.Parse(input, req);
  EXPECT_EQ(out.status, ParseStatus::kError);
  EXPECT_EQ(out.reply, kBadExptime);
  EXPECT_EQ(out.consumed, input.size());
  out = parser.Parse("a b\r\nversion\r\n", req);
  EXPECT_EQ(out.reply, "");
  EXPECT_EQ(out.consumed, 5u);
}

TEST(ParserLongGet, NulEndsALongLineEarly) {
  // memcached stops at the NUL; the keys after it are not asked for.
  const std::string head = "get " + ManyKeys(400);
  ASSERT_GT(head.size(), 2100u);
  const std::string stream = head + "last\0ignored keys\r\nversion\r\n"s;
  const size_t nul = head.size() + 4;
  std::vector<std::string> want = ExpectedKeys(400);
  want.push_back("last");
  for (size_t cut : {size_t{2100}, nul, nul + 1, nul + 5, stream.size() - 3}) {
    SCOPED_TRACE(cut);
    const std::vector<Event> events = FeedPieces(stream, {cut}, kShortLines);
    std::vector<std::string> keys;
    size_t i = 0;
    for (; i < events.size() && events[i].status == ParseStatus::kOk &&
           events[i].cmd == Command::kGet;
         ++i) {
      keys.insert(keys.end(), events[i].keys.begin(), events[i].keys.end());
    }
    EXPECT_EQ(keys, want);
    ASSERT_GT(i, 0u);
    EXPECT_FALSE(events[i - 1].more_keys);
    // The tail after the NUL goes with the line, silently when it arrives later.
    for (; i + 1 < events.size(); ++i) EXPECT_EQ(events[i].reply, "");
    EXPECT_EQ(events.back().cmd, Command::kVersion);
  }
}

TEST(ParserLongGet, GetFollowedOnlyBySpacesStillReadsLaterKeys) {
  const std::string stream = "get" + std::string(3000, ' ') + "k1 k2\r\n";
  const std::vector<Event> events = FeedInChunks(stream, 2500, kShortLines);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].keys.empty());
  EXPECT_TRUE(events[0].more_keys);
  EXPECT_EQ(events[1].keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_FALSE(events[1].more_keys);
}

// ------------------------------------------------------------------------------------------------
// Long lines at the default limit. memcached parses any line that fits its 16 KiB read buffer as
// an ordinary command, however many spaces it holds, and closes the connection without a reply
// when 16 KiB arrive without a newline (get lines excepted: served as their keys arrive).

// Lines of 2-4 KB (longer than the 2 KiB limit of old), each checked against memcached 1.6.18.
std::string LongLinesStream() {
  const std::string spaces(2048, ' ');
  std::string s;
  s += "set k 0 0 1" + spaces + "\r\na\r\n";                    // 0: set, data "a"
  s += "get " + Key(300) + spaces + " x\r\n";                   // 1: bad format (key > 250)
  s += "set " + Key(300) + " 0 0 1" + spaces + "\r\na\r\n";     // 2: bad format, 3: "a" ERROR
  s += "mg mk" + spaces + "v" + spaces.substr(1024) + "k\r\n";  // 4: mg mk v k
  s += "mg " + Key(300) + spaces + "v\r\n";                     // 5: bad format
  s += spaces + "get k" + spaces + "\r\n";                      // 6: get k
  s += "incr n" + spaces + "3\r\n";                             // 7: incr n 3
  s += "version";
  for (int i = 0; i < 1024; ++i) s += " x";
  s += "\r\n";  // 8: version
  s += "set k 0 0 1";
  for (int i = 0; i < 1024; ++i) s += " z";
  s += "\r\na\r\n";  // 9: too many tokens: ERROR, 10: "a" ERROR
  return s;
}

TEST(ParserLongLines, LinesThatFitTheReadBufferAreOrdinary) {
  const std::string stream = LongLinesStream();
  const std::vector<Event> whole = FeedPieces(stream, {});
  ASSERT_EQ(whole.size(), 11u);
  EXPECT_EQ(whole[0].cmd, Command::kSet);
  EXPECT_EQ(whole[0].keys, std::vector<std::string>{"k"});
  EXPECT_EQ(whole[0].data, "a");
  for (size_t i : {1, 2, 5}) EXPECT_EQ(whole[i].reply, kBadFormat) << i;
  for (size_t i : {3, 9, 10}) EXPECT_EQ(whole[i].reply, kError) << i;
  EXPECT_EQ(whole[4].cmd, Command::kMetaGet);
  EXPECT_EQ(whole[4].keys, std::vector<std::string>{"mk"});
  EXPECT_EQ(whole[6].cmd, Command::kGet);
  EXPECT_EQ(whole[6].keys, std::vector<std::string>{"k"});
  EXPECT_FALSE(whole[6].more_keys);
  EXPECT_EQ(whole[7].cmd, Command::kIncr);
  EXPECT_EQ(whole[7].delta, 3u);
  EXPECT_EQ(whole[8].cmd, Command::kVersion);
  for (const Event& e : whole) EXPECT_FALSE(e.close);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    ASSERT_EQ(FeedPieces(stream, {cut}), whole);
  }
}

TEST(ParserLongLines, MetaFlagsAfterManySpaces) {
  Parser parser;
  Request req;
  const std::string line =
      "mg mk" + std::string(5000, ' ') + "v" + std::string(5000, ' ') + "k\r\n";
  const ParseOutcome out = parser.Parse(line, req);
  ASSERT_EQ(out.status, ParseStatus::kOk);
  EXPECT_EQ(out.consumed, line.size());
  EXPECT_TRUE(req.meta.value);
  EXPECT_TRUE(req.meta.Has('k'));
}

TEST(ParserLongLines, SixteenKiBWithTheNewlineIsTheLimit) {
  // 16 KiB including the newline is a line (16000 'a': ERROR, an unknown command); one byte more
  // without a newline closes the connection, whatever follows.
  const std::string fits[] = {std::string(16000, 'a') + "\r\n", std::string(16382, 'a') + "\r\n",
                              std::string(16383, 'a') + "\n"};
  for (const std::string& line : fits) {
    SCOPED_TRACE(line.size());
    for (size_t chunk : {size_t{1000}, size_t{4096}, line.size()}) {
      const std::vector<Event> events = FeedInChunks(line + "version\r\n", chunk);
      ASSERT_EQ(events.size(), 2u);
      EXPECT_EQ(events[0].reply, kError);
      EXPECT_EQ(events[0].consumed, line.size());
      EXPECT_EQ(events[1].cmd, Command::kVersion);
    }
  }
  const std::string over = std::string(16383, 'a') + "\r\nversion\r\n";
  for (size_t chunk : {size_t{1000}, size_t{4096}, over.size()}) {
    const std::vector<Event> events = FeedInChunks(over, chunk);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].reply, "");
    EXPECT_TRUE(events[0].close);
  }
}

TEST(ParserLongLines, GetFamilyLinesPastSixteenKiBAreServedInChunks) {
  // memcached 1.6.18 grows its buffer for "get " and "gets " after at most 100 spaces, and closes
  // the connection for a gat/gats line this long; ssdcached serves all four as the keys arrive.
  for (const std::string& head :
       {"get "s, std::string(100, ' ') + "gets ", "gat 0 "s, "gats 0 "s}) {
    SCOPED_TRACE(head);
    const std::string stream = head + ManyKeys(3000) + "\r\nversion\r\n";
    ASSERT_GT(stream.size(), 20000u);
    for (size_t chunk : {4096, 16384}) {
      const std::vector<Event> events = FeedInChunks(stream, chunk);
      ASSERT_GT(events.size(), 2u);
      std::vector<std::string> keys;
      for (size_t i = 0; i + 1 < events.size(); ++i) {
        ASSERT_EQ(events[i].status, ParseStatus::kOk);
        EXPECT_EQ(events[i].more_keys, i + 2 < events.size());
        keys.insert(keys.end(), events[i].keys.begin(), events[i].keys.end());
      }
      EXPECT_EQ(keys, ExpectedKeys(3000));
      EXPECT_EQ(events.back().cmd, Command::kVersion);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Compose -> parse round trips

struct Spec {
  Command cmd = Command::kGet;
  std::vector<std::string> keys;
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint64_t cas_unique = 0;
  uint64_t delta = 0;
  int64_t delay = 0;
  bool has_delay = false;
  uint32_t verbosity = 0;
  bool noreply = false;
  std::string data;
  std::string stats_arg;
};

const char* Name(Command c) {
  switch (c) {
    case Command::kGet:
      return "get";
    case Command::kGets:
      return "gets";
    case Command::kGat:
      return "gat";
    case Command::kGats:
      return "gats";
    case Command::kSet:
      return "set";
    case Command::kAdd:
      return "add";
    case Command::kReplace:
      return "replace";
    case Command::kAppend:
      return "append";
    case Command::kPrepend:
      return "prepend";
    case Command::kCas:
      return "cas";
    case Command::kIncr:
      return "incr";
    case Command::kDecr:
      return "decr";
    case Command::kDelete:
      return "delete";
    case Command::kTouch:
      return "touch";
    case Command::kFlushAll:
      return "flush_all";
    case Command::kVersion:
      return "version";
    case Command::kVerbosity:
      return "verbosity";
    case Command::kQuit:
      return "quit";
    case Command::kStats:
      return "stats";
    default:  // meta commands: protocol_meta_test.cc
      break;
  }
  return "?";
}

// Writes a request as a client would, with `sep` between tokens and `eol` ending the line.
std::string Compose(const Spec& s, const std::string& sep, const std::string& eol) {
  std::string line = Name(s.cmd);
  auto add = [&](const std::string& token) { line += sep + token; };
  switch (s.cmd) {
    case Command::kGat:
    case Command::kGats:
      add(std::to_string(s.exptime));
      [[fallthrough]];
    case Command::kGet:
    case Command::kGets:
      for (const std::string& k : s.keys) add(k);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      add(s.keys[0]);
      add(std::to_string(s.flags));
      add(std::to_string(s.exptime));
      add(std::to_string(s.data.size()));
      if (s.cmd == Command::kCas) add(std::to_string(s.cas_unique));
      break;
    case Command::kIncr:
    case Command::kDecr:
      add(s.keys[0]);
      add(std::to_string(s.delta));
      break;
    case Command::kDelete:
      add(s.keys[0]);
      break;
    case Command::kTouch:
      add(s.keys[0]);
      add(std::to_string(s.exptime));
      break;
    case Command::kFlushAll:
      if (s.has_delay) add(std::to_string(s.delay));
      break;
    case Command::kVerbosity:
      add(std::to_string(s.verbosity));
      break;
    case Command::kStats:
      if (!s.stats_arg.empty()) add(s.stats_arg);
      break;
    case Command::kVersion:
    case Command::kQuit:
    default:  // meta commands are generated by protocol_meta_test.cc
      break;
  }
  if (s.noreply) add("noreply");
  line += eol;
  if (s.cmd >= Command::kSet && s.cmd <= Command::kCas) line += s.data + "\r\n";
  return line;
}

Event Expected(const Spec& s, size_t consumed) {
  Event e = Ok(s.cmd, consumed);
  e.keys = s.keys;
  e.noreply = s.noreply;
  switch (s.cmd) {
    case Command::kGat:
    case Command::kGats:
    case Command::kTouch:
      e.exptime = CutToInt32(s.exptime);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      e.flags = s.flags;
      e.exptime = CutToInt32(s.exptime);
      e.bytes = static_cast<uint32_t>(s.data.size());
      e.data = s.data;
      e.cas_unique = s.cas_unique;
      break;
    case Command::kIncr:
    case Command::kDecr:
      e.delta = s.delta;
      break;
    case Command::kFlushAll:
      e.delay = CutToInt32(s.delay);
      e.has_delay = s.has_delay;
      break;
    case Command::kVerbosity:
      e.verbosity = s.verbosity;
      break;
    case Command::kStats:
      e.stats_arg = s.stats_arg;
      break;
    default:
      break;
  }
  return e;
}

Spec RandomSpec(std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return rng() % n; };
  auto key = [&] {
    std::string k(1 + pick(pick(10) == 0 ? 250 : 20), 'a');
    for (char& c : k) c = static_cast<char>(0x21 + pick(0x7f - 0x21));  // printable, no space
    return k;
  };
  auto any_int64 = [&] {
    switch (pick(3)) {
      case 0:
        return static_cast<int64_t>(rng());
      case 1:
        return static_cast<int64_t>(pick(100000)) - 50000;
      default:
        return pick(2) ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
    }
  };
  Spec s;
  s.cmd = static_cast<Command>(pick(static_cast<uint64_t>(Command::kStats) + 1));
  switch (s.cmd) {
    case Command::kGat:
    case Command::kGats:
      s.exptime = any_int64();
      [[fallthrough]];
    case Command::kGet:
    case Command::kGets:
      for (uint64_t n = 1 + pick(8); n > 0; --n) s.keys.push_back(key());
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      s.keys.push_back(key());
      s.flags = static_cast<uint32_t>(rng());
      s.exptime = any_int64();
      s.data.resize(pick(300));
      for (char& c : s.data) c = static_cast<char>(rng());  // any bytes, "\r\n" included
      if (s.cmd == Command::kCas) s.cas_unique = rng();
      s.noreply = pick(2);
      break;
    case Command::kIncr:
    case Command::kDecr:
      s.keys.push_back(key());
      s.delta = pick(2) ? rng() : pick(10);
      s.noreply = pick(2);
      break;
    case Command::kDelete:
      s.keys.push_back(key());
      s.noreply = pick(2);
      break;
    case Command::kTouch:
      s.keys.push_back(key());
      s.exptime = any_int64();
      s.noreply = pick(2);
      break;
    case Command::kFlushAll:
      s.has_delay = pick(2);
      if (s.has_delay) s.delay = any_int64();
      s.noreply = pick(2);
      break;
    case Command::kVerbosity:
      s.verbosity = static_cast<uint32_t>(pick(4));
      s.noreply = pick(2);
      break;
    case Command::kStats:
      if (pick(2)) s.stats_arg = pick(2) ? "items" : "cachedump 1 10";
      break;
    case Command::kVersion:
    case Command::kQuit:
    default:  // meta commands are generated by protocol_meta_test.cc
      break;
  }
  return s;
}

TEST(ParserRoundTrip, RandomRequestsParseBackExactly) {
  std::mt19937_64 rng(20240611);
  std::string stream;
  std::vector<Event> want;
  for (int i = 0; i < 3000; ++i) {
    const Spec spec = RandomSpec(rng);
    const std::string sep(1 + rng() % 3, ' ');
    const std::string eol = rng() % 2 ? "\r\n" : "\n";
    const std::string bytes = Compose(spec, sep, eol);
    const Event expected = Expected(spec, bytes.size());
    const Event got = ParseOne(bytes);
    ASSERT_EQ(got, expected) << ::testing::PrintToString(bytes.substr(0, 200));
    stream += bytes;
    want.push_back(expected);
  }
  // The same requests pipelined, delivered in random reads.
  Connection conn;
  for (size_t at = 0; at < stream.size();) {
    const size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % 3000);
    conn.Receive(std::string_view(stream).substr(at, n));
    at += n;
  }
  EXPECT_EQ(conn.events, want);
}

// ------------------------------------------------------------------------------------------------
// Robustness

TEST(ParserRobustness, RandomBytesNeverBreakTheParser) {
  // Fragments of real commands mixed with random bytes, cut into random reads. The Connection
  // checks that every answer stays inside the buffer and makes progress; ASan/UBSan builds check
  // that nothing reads outside it.
  const std::vector<std::string> fragments = {
      "get ",
      "gets ",
      "gat ",
      "gats ",
      "set ",
      "add ",
      "cas ",
      "incr ",
      "decr ",
      "delete ",
      "touch ",
      "flush_all",
      "version",
      "verbosity ",
      "stats",
      "quit",
      "noreply",
      " ",
      "  ",
      "\r\n",
      "\n",
      "\r",
      "0",
      "1",
      "-1",
      "5",
      "100",
      "4294967296",
      "18446744073709551616",
      "+",
      "\t",
      "\0"s,
      "k",
      "key",
      "\x7f",
      "99999999999999999999999",
  };
  std::mt19937_64 rng(7);
  const ParserLimits limits{64, 200, 250};  // small limits reach the long-line paths quickly
  for (int round = 0; round < 400; ++round) {
    std::string stream;
    while (stream.size() < 4000) {
      if (rng() % 3 == 0) {
        stream += static_cast<char>(rng());
      } else {
        stream += fragments[rng() % fragments.size()];
      }
    }
    for (const ParserLimits& l : {limits, ParserLimits{}}) {
      Connection conn(l);
      for (size_t at = 0; at < stream.size() && !conn.closed;) {
        const size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % 300);
        conn.Receive(std::string_view(stream).substr(at, n));
        ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "round " << round;
        at += n;
      }
    }
  }
}

TEST(ParserRobustness, NoAllocationOnceWarm) {
  const std::string stream = MixedStream();
  Parser parser(kSmallValues);
  Request req;
  req.keys.reserve(16);
  auto run = [&] {
    std::string_view rest = stream;
    size_t answers = 0;
    while (!rest.empty()) {
      const ParseOutcome out = parser.Parse(rest, req);
      if (out.status == ParseStatus::kNeedMore || out.close) break;
      rest.remove_prefix(out.consumed);
      rest.remove_prefix(std::min<uint64_t>(out.swallow, rest.size()));
      ++answers;
    }
    return answers;
  };
  const size_t warm = run();
  const uint64_t before = g_allocations.load();
  const size_t again = run();
  const uint64_t after = g_allocations.load();
  EXPECT_EQ(warm, again);
  EXPECT_EQ(warm, 43u);
  EXPECT_EQ(after - before, 0u);
}

}  // namespace
}  // namespace ssdcache::protocol
