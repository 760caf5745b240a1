// Tests for the meta command parser (mg ms md ma mn me). Expected replies, `consumed` and `swallow`
// values were checked against Debian's memcached 1.6.18 (`memcached -U 0 -l 127.0.0.1 -p PORT`) by
// sending the same bytes; cases where the product deliberately differs say so.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <ostream>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "protocol/parser.h"

namespace ssdcache::protocol {
namespace {

using namespace std::string_literals;

constexpr std::string_view kError = "ERROR\r\n";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk\r\n";
constexpr std::string_view kInvalidFlag = "CLIENT_ERROR invalid flag\r\n";
constexpr std::string_view kDuplicateFlag = "CLIENT_ERROR duplicate flag\r\n";
constexpr std::string_view kInvalidOrDuplicate = "CLIENT_ERROR invalid or duplicate flag\r\n";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format\r\n";
constexpr std::string_view kBadKey64 = "CLIENT_ERROR error decoding key\r\n";
constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long\r\n";
constexpr std::string_view kTooManyGet = "CLIENT_ERROR options flags are too long\r\n";
constexpr std::string_view kTooMany = "CLIENT_ERROR options flags too long\r\n";
constexpr std::string_view kModeLength = "CLIENT_ERROR incorrect length for M token\r\n";
constexpr std::string_view kSetMode = "CLIENT_ERROR invalid mode for ms M token\r\n";
constexpr std::string_view kArithMode = "CLIENT_ERROR invalid mode for ma M token\r\n";
constexpr std::string_view kBadInitial = "CLIENT_ERROR invalid numeric initial value\r\n";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta value\r\n";

// An outcome and its request, copied out of the parser's views.
struct Event {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;
  std::string reply;
  uint64_t swallow = 0;
  Command cmd = Command::kGet;
  std::vector<std::string> keys;
  std::string data;
  uint32_t bytes = 0;
  std::string order;  // meta flag letters in request order
  bool base64 = false;
  bool quiet = false;
  bool value = false;
  bool invalidate = false;
  char mode = 0;
  int64_t ttl = 0;
  int64_t vivify_ttl = 0;
  int64_t recache_ttl = 0;
  uint32_t client_flags = 0;
  uint64_t compare_cas = 0;
  uint64_t delta = 1;
  uint64_t initial = 0;
  std::string opaque;
  bool too_large = false;
  uint64_t meta_swallow = 0;

  bool operator==(const Event&) const = default;
};

void PrintTo(const Event& e, std::ostream* os) {
  *os << "{status=" << static_cast<int>(e.status) << " consumed=" << e.consumed
      << " reply=" << ::testing::PrintToString(e.reply) << " swallow=" << e.swallow
      << " cmd=" << static_cast<int>(e.cmd) << " keys=" << ::testing::PrintToString(e.keys)
      << " data=" << ::testing::PrintToString(e.data) << " bytes=" << e.bytes
      << " order=" << e.order << " b=" << e.base64 << " q=" << e.quiet << " v=" << e.value
      << " I=" << e.invalidate << " M=" << static_cast<int>(e.mode) << " T=" << e.ttl
      << " N=" << e.vivify_ttl << " R=" << e.recache_ttl << " F=" << e.client_flags
      << " C=" << e.compare_cas << " D=" << e.delta << " J=" << e.initial << " O=" << e.opaque
      << " too_large=" << e.too_large << " meta_swallow=" << e.meta_swallow << "}";
}

Event Capture(const ParseOutcome& out, const Request& req) {
  Event e;
  e.status = out.status;
  e.consumed = out.consumed;
  e.reply = std::string(out.reply);
  e.swallow = out.swallow;
  if (out.status != ParseStatus::kOk) return e;  // the request is meaningless then
  e.cmd = req.cmd;
  for (std::string_view k : req.keys) e.keys.emplace_back(k);
  e.data = std::string(req.data);
  e.bytes = req.bytes;
  const MetaRequest& m = req.meta;
  e.order.assign(m.order, m.count);
  e.base64 = m.base64;
  e.quiet = m.quiet;
  e.value = m.value;
  e.invalidate = m.invalidate;
  e.mode = m.mode;
  e.ttl = m.ttl;
  e.vivify_ttl = m.vivify_ttl;
  e.recache_ttl = m.recache_ttl;
  e.client_flags = m.client_flags;
  e.compare_cas = m.compare_cas;
  e.delta = m.delta;
  e.initial = m.initial;
  e.opaque = std::string(m.opaque);
  e.too_large = m.too_large;
  e.meta_swallow = m.swallow;
  return e;
}

Event ParseOne(std::string_view input, ParserLimits limits = {}) {
  Parser parser(limits);
  Request req;
  return Capture(parser.Parse(input, req), req);
}

Event Ok(Command cmd, size_t consumed, std::string key = {}) {
  Event e;
  e.status = ParseStatus::kOk;
  e.consumed = consumed;
  e.cmd = cmd;
  if (!key.empty()) e.keys.push_back(std::move(key));
  return e;
}

Event Err(std::string_view reply, size_t consumed, uint64_t swallow = 0) {
  Event e;
  e.status = ParseStatus::kError;
  e.consumed = consumed;
  e.reply = std::string(reply);
  e.swallow = swallow;
  return e;
}

bool Within(std::string_view view, std::string_view buf) {
  if (view.empty()) return true;
  return view.data() >= buf.data() && view.data() + view.size() <= buf.data() + buf.size();
}

// Plays the connection: keeps the unconsumed bytes, parses until the parser wants more, drops
// `consumed`, swallows what an error (or a too-large ms) asks for, also from later bytes.
struct Conn {
  void Receive(std::string_view piece) {
    const size_t skip = static_cast<size_t>(std::min<uint64_t>(swallow, piece.size()));
    piece.remove_prefix(skip);
    swallow -= skip;
    buf.append(piece);
    for (;;) {
      const ParseOutcome out = parser.Parse(buf, req);
      ASSERT_LE(out.consumed, buf.size());
      if (out.status == ParseStatus::kNeedMore) {
        ASSERT_EQ(out.consumed, 0u);
        return;
      }
      ASSERT_GT(out.consumed, 0u);
      for (std::string_view k : req.keys) {
        ASSERT_TRUE(Within(k, buf) || Within(k, req.meta.key_buf));
      }
      ASSERT_TRUE(Within(req.data, buf));
      ASSERT_TRUE(Within(req.meta.opaque, buf));
      events.push_back(Capture(out, req));
      buf.erase(0, out.consumed);
      swallow = out.status == ParseStatus::kOk ? req.meta.swallow : out.swallow;
      const size_t drop = static_cast<size_t>(std::min<uint64_t>(swallow, buf.size()));
      buf.erase(0, drop);
      swallow -= drop;
    }
  }

  Parser parser;
  Request req;
  std::string buf;
  uint64_t swallow = 0;
  std::vector<Event> events;
};

std::vector<Event> FeedWhole(std::string_view stream) {
  Conn c;
  c.Receive(stream);
  return c.events;
}

std::vector<Event> FeedSplit(std::string_view stream, size_t cut) {
  Conn c;
  c.Receive(stream.substr(0, cut));
  c.Receive(stream.substr(cut));
  return c.events;
}

std::vector<Event> FeedBytes(std::string_view stream) {
  Conn c;
  for (char ch : stream) c.Receive(std::string_view(&ch, 1));
  return c.events;
}

// --- Commands ------------------------------------------------------------------------------------

TEST(MetaParserTest, NoopIgnoresArguments) {
  EXPECT_EQ(ParseOne("mn\r\n"), Ok(Command::kMetaNoop, 4));
  EXPECT_EQ(ParseOne("mn x y\r\n"), Ok(Command::kMetaNoop, 8));
  EXPECT_EQ(ParseOne("mn\n"), Ok(Command::kMetaNoop, 3));
  EXPECT_EQ(ParseOne("  mn  \r\n"), Ok(Command::kMetaNoop, 8));
}

TEST(MetaParserTest, GetWithoutFlags) {
  EXPECT_EQ(ParseOne("mg foo\r\n"), Ok(Command::kMetaGet, 8, "foo"));
  EXPECT_EQ(ParseOne(" mg   foo   \n"), Ok(Command::kMetaGet, 13, "foo"));
}

TEST(MetaParserTest, GetEveryFlag) {
  const std::string line = "mg foo v f c k s t h l O123 q u E"s;
  // E is not a flag in memcached 1.6.18.
  EXPECT_EQ(ParseOne(line + "5\r\n"), Err(kInvalidFlag, line.size() + 3));

  Event want = Ok(Command::kMetaGet, 0, "foo");
  const std::string ok = "mg foo v f c k s t h l O123 q u T30 N-5 R7 P L\r\n";
  want.consumed = ok.size();
  want.order = "vfcksthlOquTNRPL";
  want.value = true;
  want.quiet = true;
  want.ttl = 30;
  want.vivify_ttl = -5;
  want.recache_ttl = 7;
  want.opaque = "O123";
  EXPECT_EQ(ParseOne(ok), want);
}

TEST(MetaParserTest, DeleteInvalidateWithTtl) {
  // md I T: mark stale with a new TTL (T means nothing to md without I, but is parsed alike).
  Event want = Ok(Command::kMetaDelete, 0, "foo");
  const std::string line = "md foo I T30 q C5\r\n";
  want.consumed = line.size();
  want.order = "ITqC";
  want.invalidate = true;
  want.quiet = true;
  want.ttl = 30;
  want.compare_cas = 5;
  EXPECT_EQ(ParseOne(line), want);
  // R and N take memcached's 32-bit signed reading, like T.
  Event get = Ok(Command::kMetaGet, 0, "foo");
  const std::string mg = "mg foo R4294967326 N-1\r\n";
  get.consumed = mg.size();
  get.order = "RN";
  get.recache_ttl = 30;
  get.vivify_ttl = -1;
  EXPECT_EQ(ParseOne(mg), get);
}

TEST(MetaParserTest, FlagTokensKeepOnlyTheirLetter) {
  // memcached looks at the first byte of each flag token; the rest of a return flag is ignored.
  Event want = Ok(Command::kMetaGet, 17, "foo");
  want.order = "vk";
  want.value = true;
  EXPECT_EQ(ParseOne("mg foo vxx kfoo\r\n"), want);
}

TEST(MetaParserTest, SetWithData) {
  Event want = Ok(Command::kMetaSet, 0, "foo");
  const std::string s = "ms foo 5 T100 F7 c k O1 q I MR C99\r\nhello\r\n";
  want.consumed = s.size();
  want.data = "hello";
  want.bytes = 5;
  want.order = "TFckOqIMC";
  want.ttl = 100;
  want.client_flags = 7;
  want.opaque = "O1";
  want.quiet = true;
  want.invalidate = true;
  want.mode = 'R';
  want.compare_cas = 99;
  EXPECT_EQ(ParseOne(s), want);
}

TEST(MetaParserTest, SetModes) {
  for (char mode : {'E', 'A', 'P', 'R', 'S'}) {
    const std::string s = "ms k 1 M"s + mode + "\r\nX\r\n";
    Event want = Ok(Command::kMetaSet, s.size(), "k");
    want.data = "X";
    want.bytes = 1;
    want.order = "M";
    want.mode = mode;
    EXPECT_EQ(ParseOne(s), want) << mode;
  }
  EXPECT_EQ(ParseOne("ms k 1 Mz\r\nX\r\n"), Err(kSetMode, 11, 3));
  // ma's modes are not ms modes.
  EXPECT_EQ(ParseOne("ms k 1 MI\r\nX\r\n"), Err(kSetMode, 11, 3));
  EXPECT_EQ(ParseOne("ms k 1 MEE\r\nX\r\n"), Err(kModeLength, 12, 3));
  EXPECT_EQ(ParseOne("ms k 1 M\r\nX\r\n"), Err(kModeLength, 10, 3));
}

TEST(MetaParserTest, SetEmptyValueAndBinaryData) {
  EXPECT_EQ(ParseOne("ms k 0\r\n\r\nmn\r\n").consumed, 10u);
  const std::string data = "a\r\nb\0c"s;
  const std::string s = "ms k 6\r\n" + data + "\r\n";
  Event want = Ok(Command::kMetaSet, s.size(), "k");
  want.data = data;
  want.bytes = 6;
  EXPECT_EQ(ParseOne(s), want);
  // memcached reads the length with strtol: "+2" is 2.
  EXPECT_EQ(ParseOne("ms k +2\r\nab\r\n").status, ParseStatus::kOk);
}

TEST(MetaParserTest, SetWaitsForTheWholeBlock) {
  EXPECT_EQ(ParseOne("ms k 5\r\nhel").status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseOne("ms k 5\r\nhello\r").status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseOne("ms k 5").status, ParseStatus::kNeedMore);
}

TEST(MetaParserTest, SetBadChunkConsumesTheBlock) {
  // memcached reads datalen + 2 bytes and then checks the last two: "abc\r" goes, "\n" is left.
  EXPECT_EQ(ParseOne("ms k 2\r\nabc\r\n"), Err(kBadChunk, 12));
  Conn c;
  c.Receive("ms k 2 q\r\nabc\r\nmn\r\n");
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].reply, kBadChunk);  // errors are sent in quiet mode too
  EXPECT_EQ(c.events[1], Err(kError, 1));   // the lone "\n"
  EXPECT_EQ(c.events[2].cmd, Command::kMetaNoop);
}

TEST(MetaParserTest, SetTooLargeIsLeftToTheConnection) {
  ParserLimits limits;
  limits.max_value = 100;
  Event want = Ok(Command::kMetaSet, 13, "k");
  want.bytes = 101;
  want.order = "T";
  want.ttl = 5;
  want.too_large = true;
  want.meta_swallow = 103;
  EXPECT_EQ(ParseOne("ms k 101 T5\r\n", limits), want);
  EXPECT_EQ(ParseOne("ms k 100\r\n", limits).status, ParseStatus::kNeedMore);
}

TEST(MetaParserTest, DeleteFlags) {
  Event want = Ok(Command::kMetaDelete, 0, "foo");
  const std::string s = "md foo q k O5 C12 I T30\r\n";
  want.consumed = s.size();
  want.order = "qkOCIT";
  want.quiet = true;
  want.opaque = "O5";
  want.compare_cas = 12;
  want.invalidate = true;
  want.ttl = 30;
  EXPECT_EQ(ParseOne(s), want);
  // Flags that do not apply are accepted and ignored, as memcached does.
  EXPECT_EQ(ParseOne("md foo v s\r\n").status, ParseStatus::kOk);
}

TEST(MetaParserTest, ArithmeticFlags) {
  Event want = Ok(Command::kMetaArithmetic, 0, "n");
  const std::string s = "ma n N0 J5 D18446744073709551615 MD v t c k O1 q T9 C3\r\n";
  want.consumed = s.size();
  want.order = "NJDMvtckOqTC";
  want.vivify_ttl = 0;
  want.initial = 5;
  want.delta = UINT64_MAX;
  want.mode = 'D';
  want.value = true;
  want.opaque = "O1";
  want.quiet = true;
  want.ttl = 9;
  want.compare_cas = 3;
  EXPECT_EQ(ParseOne(s), want);
  // The defaults: delta 1, initial 0, incr.
  want = Ok(Command::kMetaArithmetic, 6, "n");
  EXPECT_EQ(ParseOne("ma n\r\n"), want);
  for (const char* mode : {"MI", "M+", "MD", "M-"}) {
    EXPECT_EQ(ParseOne("ma n "s + mode + "\r\n").mode, mode[1]);
  }
}

TEST(MetaParserTest, Debug) {
  EXPECT_EQ(ParseOne("me foo\r\n"), Ok(Command::kMetaDebug, 8, "foo"));
  // Only a "b" right after the key means base64; anything else is ignored.
  Event want = Ok(Command::kMetaDebug, 12, "foo");
  EXPECT_EQ(ParseOne("me foo x b\r\n"), want);
  want = Ok(Command::kMetaDebug, 11, "foo");
  want.base64 = true;
  EXPECT_EQ(ParseOne("me Zm9v b\r\n"), want);
  EXPECT_EQ(ParseOne("me foo b\r\n"), Err(kBadFormat, 10));
  EXPECT_EQ(ParseOne("me\r\n"), Err(kBadFormat, 4));
  EXPECT_EQ(ParseOne("me " + std::string(251, 'k') + "\r\n"), Err(kBadFormat, 256));
}

// --- Numbers -------------------------------------------------------------------------------------

TEST(MetaParserTest, NumbersAsMemcachedReadsThem) {
  EXPECT_EQ(ParseOne("mg k T+5\r\n").ttl, 5);
  EXPECT_EQ(ParseOne("mg k T-1\r\n").ttl, -1);
  // safe_strtol keeps 32 bits of a long.
  EXPECT_EQ(ParseOne("mg k T2147483648\r\n").ttl, INT32_MIN);
  EXPECT_EQ(ParseOne("mg k T4294967301\r\n").ttl, 5);
  EXPECT_EQ(ParseOne("mg k T9223372036854775808\r\n").reply, kBadToken);
  EXPECT_EQ(ParseOne("mg k T5x\r\n").reply, kBadToken);
  EXPECT_EQ(ParseOne("mg k T\r\n").reply, kBadToken);
  EXPECT_EQ(ParseOne("mg k N\r\n").reply, kBadToken);
  EXPECT_EQ(ParseOne("mg k Rx\r\n").reply, kBadToken);
  EXPECT_EQ(ParseOne("mg k C18446744073709551615\r\n").compare_cas, UINT64_MAX);
  EXPECT_EQ(ParseOne("mg k C18446744073709551616\r\n").reply, kBadToken);
  EXPECT_EQ(ParseOne("mg k C-1\r\n").reply, kBadToken);
  // safe_strtoul keeps 32 bits; a bad flags value gets the generic message.
  EXPECT_EQ(ParseOne("ms k 1 F4294967297\r\nX\r\n").client_flags, 1u);
  EXPECT_EQ(ParseOne("ms k 1 F-1\r\nX\r\n"), Err(kBadFormat, 12, 3));
  EXPECT_EQ(ParseOne("ms k 1 Fx\r\nX\r\n"), Err(kBadFormat, 11, 3));
  EXPECT_EQ(ParseOne("ma k Jx\r\n").reply, kInvalidOrDuplicate);
  EXPECT_EQ(ParseOne("ma k D-1\r\n").reply, kInvalidOrDuplicate);
  // mg reports J and D with their own messages (the flags are accepted and ignored there).
  EXPECT_EQ(ParseOne("mg k Jx\r\n").reply, kBadInitial);
  EXPECT_EQ(ParseOne("mg k Dx\r\n").reply, kBadDelta);
}

// --- Errors --------------------------------------------------------------------------------------

// Every case is one line: the error consumes it, and an ms error found after its datalen swallows
// the block (`swallow` bytes).
struct ErrorCase {
  const char* name;
  std::string input;
  std::string_view reply;
  uint64_t swallow = 0;
};

std::vector<ErrorCase> ErrorCases() {
  const std::string k251(251, 'k');
  std::string flags17, flags18;
  for (int i = 0; i < 17; ++i) flags17 += " c";
  flags18 = flags17 + " c";
  return {
      {"BareGet", "mg\r\n", kError},
      {"BareGetSpace", "mg \r\n", kError},
      {"BareSet", "ms\r\n", kError},
      {"BareDelete", "md\r\n", kError},
      {"BareArithmetic", "ma\r\n", kError},
      {"OtherMCommand", "mz foo\r\n", kError},
      {"LongerName", "mgg foo\r\n", kError},
      {"UpperCase", "MG foo\r\n", kError},
      {"TabAfterName", "mg\tfoo\r\n", kError},
      {"GetKeyTooLong", "mg " + k251 + " v\r\n", kBadFormat},
      {"GetKeyWithTab", "mg foo\tv\r\n", kBadFormat},  // memcached: a miss; product rule
      {"GetInvalidFlag", "mg foo x\r\n", kInvalidFlag},
      {"GetDigitFlag", "mg foo 1\r\n", kInvalidFlag},
      {"GetDuplicateFlag", "mg foo v v\r\n", kDuplicateFlag},
      {"GetDuplicateLetterDifferentToken", "mg foo T1 T2\r\n", kDuplicateFlag},
      {"GetHighByteFlag", "mg foo \xc3\r\n", kDuplicateFlag},
      {"GetInvalidAfterBadToken", "mg foo Tx z\r\n", kInvalidFlag},
      {"GetBadTokenAfterBadFlags", "mg foo Fx Tx\r\n", kBadToken},
      {"GetFlagsKeepsEarlierMessage", "mg foo Tx Fx\r\n", kBadToken},
      {"GetBadFlagsOnly", "mg foo Fx\r\n", kBadFormat},
      {"GetBadModeLength", "mg foo MEE\r\n", kModeLength},
      {"GetTooManyFlags", "mg foo" + flags18 + "\r\n", kTooManyGet},
      {"GetSeventeenFlagsParsedAsDuplicates", "mg foo" + flags17 + "\r\n", kDuplicateFlag},
      {"GetKeyTooLongBeforeTooMany", "mg " + k251 + flags18 + "\r\n", kBadFormat},
      {"GetOpaqueTooLong", "mg foo O" + std::string(32, 'o') + "\r\n", kOpaqueTooLong},
      {"SetNoLength", "ms foo\r\n", kBadFormat},
      {"SetKeyTooLong", "ms " + k251 + " 2\r\nab\r\n", kBadFormat},
      {"SetBadLength", "ms foo x\r\nab\r\n", kBadFormat},
      {"SetNegativeLength", "ms foo -1\r\nab\r\n", kBadFormat},
      {"SetLengthTooLarge", "ms foo 2147483646 z\r\n", kBadFormat},
      {"SetTooManyFlags", "ms foo 2" + flags17 + "\r\nab\r\n", kTooMany},
      {"SetInvalidFlag", "ms foo 2 z\r\nab\r\n", kInvalidFlag, 4},
      {"SetDuplicateFlag", "ms foo 2 c c\r\nab\r\n", kDuplicateFlag, 4},
      {"SetBadTtl", "ms foo 2 T\r\nab\r\n", kBadToken, 4},
      {"SetBadKeyEncoding", "ms foo 2 b\r\nab\r\n", kBadKey64, 4},
      {"SetOpaqueTooLong", "ms foo 2 O" + std::string(32, 'o') + "\r\nab\r\n", kOpaqueTooLong, 4},
      {"SetModeBeforeOpaque", "ms foo 2 O" + std::string(32, 'o') + " Mx\r\nab\r\n", kSetMode, 4},
      {"SetKeyWithControl", "ms fo\x01o 2\r\nab\r\n", kBadFormat, 4},  // product rule
      {"DeleteInvalidFlag", "md foo z\r\n", kInvalidOrDuplicate},
      {"DeleteDuplicate", "md foo C1 C2\r\n", kInvalidOrDuplicate},
      {"DeleteBadCas", "md foo Cx\r\n", kInvalidOrDuplicate},
      {"DeleteBadKeyEncoding", "md foo b\r\n", kInvalidOrDuplicate},
      {"DeleteTooManyFlags", "md foo" + flags18 + "\r\n", kTooMany},
      {"DeleteOpaqueTooLong", "md foo O" + std::string(32, 'o') + "\r\n", kOpaqueTooLong},
      {"ArithmeticBadMode", "ma foo Mx\r\n", kArithMode},
      {"ArithmeticModeLength", "ma foo MII\r\n", kInvalidOrDuplicate},
      {"ArithmeticBadDelta", "ma foo Dx\r\n", kInvalidOrDuplicate},
      {"ArithmeticE", "ma foo E5\r\n", kInvalidOrDuplicate},
      {"ArithmeticTooManyFlags", "ma foo" + flags18 + "\r\n", kTooMany},
  };
}

class MetaErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(MetaErrorTest, RepliesAsMemcached) {
  const ErrorCase& c = GetParam();
  EXPECT_EQ(ParseOne(c.input), Err(c.reply, c.input.find('\n') + 1, c.swallow)) << c.input;
}

INSTANTIATE_TEST_SUITE_P(All, MetaErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MetaParserTest, LimitsAtTheEdge) {
  const std::string k250(250, 'k');
  EXPECT_EQ(ParseOne("mg " + k250 + " v\r\n").keys, std::vector<std::string>{k250});
  std::string flags = " v f c k s t h l O1 q u T1 N1 R1 P L I";  // 17 distinct flags
  EXPECT_EQ(ParseOne("mg foo" + flags + "\r\n").order.size(), 17u);
  EXPECT_EQ(ParseOne("mg foo O" + std::string(31, 'o') + "\r\n").opaque.size(), 32u);
  // ms has one token fewer for flags: 17 are too many (before "b" fails to decode "foo").
  EXPECT_EQ(ParseOne("ms foo 1 c k O1 q T1 F1 C1 I MS b P L s t f v h\r\nX\r\n").reply, kTooMany);
  EXPECT_EQ(ParseOne("ms foo 1 c k O1 q T1 F1 C1 I MS P L s t f v h\r\nX\r\n").status,
            ParseStatus::kOk);
}

// --- Base64 keys ---------------------------------------------------------------------------------

TEST(MetaParserTest, Base64Keys) {
  struct Case {
    std::string encoded;
    std::string decoded;  // empty: decoding fails
  } cases[] = {
      {"Zm9v", "foo"},      {"Zm8=", "fo"},
      {"Zg==", "f"},        {"Zh==", "f"},  // non-zero trailing bits are dropped
      {"Zm=v", "f`"},                       // '=' reads as zero and ends the key after its group
      {"Zm9vYg==", "foob"}, {"Zg==Zm9v", "f"},  // decoding stops after the padded group
      {"Zm9*v", "foo"},                         // bytes outside the alphabet are skipped
      {"AAAA", "\0\0\0"s},  {"+/+/", "\xfb\xff\xbf"},
      {"Zm9", ""},          {"Zm9vZ", ""},
      {"Zm9vZg", ""},       {"Zm9vZg=", ""},
      {"====", ""},         {"Z===", ""},
      {"***", ""},
  };
  for (const Case& c : cases) {
    const Event e = ParseOne("mg " + c.encoded + " b k\r\n");
    if (c.decoded.empty()) {
      EXPECT_EQ(e.reply, kBadKey64) << c.encoded;
    } else {
      ASSERT_EQ(e.status, ParseStatus::kOk) << c.encoded;
      EXPECT_EQ(e.keys, std::vector<std::string>{c.decoded}) << c.encoded;
      EXPECT_TRUE(e.base64);
    }
  }
  // A binary key may hold any byte, spaces and line ends included.
  const Event e = ParseOne("ms IA0K 1 b\r\nX\r\n");
  EXPECT_EQ(e.keys, std::vector<std::string>{" \r\n"});
  // The length limit applies to the key as sent.
  const std::string k252(252, 'A');
  EXPECT_EQ(ParseOne("mg " + k252 + " b\r\n").reply, kBadFormat);
  EXPECT_EQ(ParseOne("mg " + std::string(248, 'A') + " b\r\n").keys[0].size(), 186u);
}

// --- Streams -------------------------------------------------------------------------------------

// Every command and flag, errors with and without swallowed blocks, classic commands between.
std::string Stream() {
  return "mg foo v f c k s t h l O123 q u\r\n"
         "ms foo 5 T100 F7 c k O1 q I MR C99\r\nhello\r\n"
         "mn\r\n"
         "get foo\r\n"
         "ms Zm9v 3 b MA\r\nabc\r\n"
         "md foo q k O5 C12 I T30\r\n"
         "ma n N0 J5 D7 MD v t c k O1 q T9\r\n"
         "me Zm9v b\r\n"
         "mg foo x\r\n"
         "ms foo 2 z\r\nab\r\n"
         "ms foo x\r\n"
         "ms k 2\r\nabc\r\n"
         "ms k 0\r\n\r\n"
         "mg Zm9vYg== b k v\r\n"
         "md foo Cx\r\n"
         "set a 0 0 1\r\nX\r\n"
         "mn\n";
}

TEST(MetaParserTest, SplitAtEveryByteBoundary) {
  const std::string stream = Stream();
  const std::vector<Event> whole = FeedWhole(stream);
  ASSERT_EQ(whole.size(), 18u);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    ASSERT_EQ(FeedSplit(stream, cut), whole) << "cut at " << cut;
  }
  EXPECT_EQ(FeedBytes(stream), whole);
}

TEST(MetaParserTest, TooLargeSetSwallowsAcrossReads) {
  ParserLimits limits;
  limits.max_value = 4;
  const std::string stream = "ms k 10 q\r\n0123456789\r\nmn\r\n";
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    Conn c;
    c.parser = Parser(limits);
    c.Receive(stream.substr(0, cut));
    c.Receive(stream.substr(cut));
    ASSERT_EQ(c.events.size(), 2u) << cut;
    EXPECT_TRUE(c.events[0].too_large);
    EXPECT_EQ(c.events[1].cmd, Command::kMetaNoop);
  }
}

TEST(MetaParserTest, WarmParserDoesNotAllocate) {
  Parser parser;
  Request req;
  const std::string stream = Stream() + "mg " + std::string(200, 'A') + " b k\r\n";
  auto run = [&] {
    std::string_view in = stream;
    while (!in.empty()) {
      const ParseOutcome out = parser.Parse(in, req);
      ASSERT_NE(out.status, ParseStatus::kNeedMore);
      in.remove_prefix(std::min<size_t>(in.size(), out.consumed + out.swallow));
    }
  };
  run();
  const uint64_t before = g_allocations.load();
  run();
  EXPECT_EQ(g_allocations.load(), before);
}

}  // namespace
}  // namespace ssdcache::protocol
