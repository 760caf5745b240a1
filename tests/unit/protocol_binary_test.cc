#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "../integration/binary_wire.h"
#include "protocol/binary.h"

namespace ssdcache::protocol::binary {
namespace {

using testing_binary::Be;

std::string Req(uint8_t op, std::string_view extras, std::string_view key, std::string_view value,
                uint32_t opaque = 0x01020304, uint64_t cas = 0) {
  return testing_binary::Req(op, extras, key, value, opaque, cas);
}

TEST(BinaryParser, SplitAtEveryByte) {
  const std::string set = Req(kSet, Be(7, 4) + Be(100, 4), "key", "value", 9, 42);
  const std::string stream = set + Req(kNoop, "", "", "");
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    BinaryRequest req;
    const BinaryOutcome first = ParseBinary(std::string_view(stream).substr(0, cut), 1 << 20, req);
    if (cut < set.size()) {
      EXPECT_EQ(first.status, BinaryStatus::kNeedMore) << cut;
      EXPECT_EQ(first.consumed, 0u);
      continue;
    }
    ASSERT_EQ(first.status, BinaryStatus::kOk) << cut;
    EXPECT_EQ(first.consumed, set.size());
    EXPECT_EQ(req.header.opcode, kSet);
    EXPECT_EQ(req.header.cas, 42u);
    EXPECT_EQ(req.extras, Be(7, 4) + Be(100, 4));
    EXPECT_EQ(req.key, "key");
    EXPECT_EQ(req.value, "value");
    const BinaryOutcome second =
        ParseBinary(std::string_view(stream).substr(set.size(), cut - set.size()), 1 << 20, req);
    EXPECT_EQ(second.status, cut == stream.size() ? BinaryStatus::kOk : BinaryStatus::kNeedMore);
  }
}

TEST(BinaryParser, BadMagicAndLengthsAreInvalid) {
  BinaryRequest req;
  // As memcached, the magic is checked once a whole header is there: text on a binary-only (-B
  // binary) connection waits for 24 bytes, then is refused.
  EXPECT_EQ(ParseBinary("\x81", 1 << 20, req).status, BinaryStatus::kNeedMore);
  EXPECT_EQ(ParseBinary("get k\r\n", 1 << 20, req).status, BinaryStatus::kNeedMore);
  EXPECT_EQ(ParseBinary("get k\r\nget k\r\nget k\r\nget k\r\n", 1 << 20, req).status,
            BinaryStatus::kInvalid);
  std::string magic = Req(kGet, "", "key", "");
  magic[0] = '\x81';
  EXPECT_EQ(ParseBinary(magic, 1 << 20, req).status, BinaryStatus::kInvalid);
  std::string bad = Req(kGet, "", "key", "");
  bad[11] = 2;  // body shorter than the key
  EXPECT_EQ(ParseBinary(bad, 1 << 20, req).status, BinaryStatus::kInvalid);
  std::string huge = Req(kSet, Be(0, 8), "k", "");
  huge.replace(8, 4, Be(kMaxBody + 1, 4));
  EXPECT_EQ(ParseBinary(huge, 1 << 20, req).status, BinaryStatus::kInvalid);
}

TEST(BinaryParser, BodyOverTheLimitIsTooLarge) {
  BinaryRequest req;
  const std::string set = Req(kSet, Be(0, 8), "k", std::string(100, 'v'));
  const BinaryOutcome o = ParseBinary(std::string_view(set).substr(0, 24), 50, req);
  EXPECT_EQ(o.status, BinaryStatus::kTooLarge);
  EXPECT_EQ(o.consumed, kHeaderSize);
  EXPECT_EQ(req.header.body_length, 109u);
}

// The request's views point into its bytes, which must outlive it: each test's bytes are kept.
Status Translate(std::string bytes, Request& out) {
  static std::deque<std::string> kept;
  kept.push_back(std::move(bytes));
  BinaryRequest in;
  EXPECT_EQ(ParseBinary(kept.back(), 1 << 20, in).status, BinaryStatus::kOk);
  return ToRequest(in, 250, out);
}

TEST(BinaryRequestMapping, CommandsBecomeMetaRequests) {
  Request r;
  ASSERT_EQ(Translate(Req(kGetK, "", "key", ""), r), kSuccess);
  EXPECT_EQ(r.cmd, Command::kMetaGet);
  EXPECT_TRUE(r.meta.Has('v') && r.meta.Has('f') && r.meta.Has('c') && !r.meta.Has('T'));
  EXPECT_TRUE(r.meta.binary);
  EXPECT_EQ(r.meta.bin_opcode, kGetK);

  ASSERT_EQ(Translate(Req(kGatQ, Be(30, 4), "key", ""), r), kSuccess);
  EXPECT_TRUE(r.meta.Has('T'));
  EXPECT_EQ(r.meta.ttl, 30);

  ASSERT_EQ(Translate(Req(kAddQ, Be(5, 4) + Be(60, 4), "key", "v", 1, 77), r), kSuccess);
  EXPECT_EQ(r.cmd, Command::kMetaSet);
  EXPECT_EQ(r.meta.mode, 'E');
  EXPECT_EQ(r.meta.client_flags, 5u);
  EXPECT_EQ(r.meta.ttl, 60);
  EXPECT_EQ(r.meta.compare_cas, 77u);
  EXPECT_EQ(r.data, "v");

  ASSERT_EQ(Translate(Req(kIncrement, Be(3, 8) + Be(10, 8) + Be(0xffffffff, 4), "n", ""), r),
            kSuccess);
  EXPECT_EQ(r.cmd, Command::kMetaArithmetic);
  EXPECT_EQ(r.meta.delta, 3u);
  EXPECT_EQ(r.meta.initial, 10u);
  EXPECT_FALSE(r.meta.Has('N'));  // all ones: do not create
  ASSERT_EQ(Translate(Req(kDecrement, Be(3, 8) + Be(10, 8) + Be(0, 4), "n", ""), r), kSuccess);
  EXPECT_TRUE(r.meta.Has('N'));
  EXPECT_EQ(r.meta.mode, 'D');

  ASSERT_EQ(Translate(Req(kFlush, Be(9, 4), "", ""), r), kSuccess);
  EXPECT_EQ(r.cmd, Command::kFlushAll);
  EXPECT_EQ(r.delay, 9);
  ASSERT_EQ(Translate(Req(kStat, "", "slabs", ""), r), kSuccess);
  EXPECT_EQ(r.stats_arg, "slabs");
}

TEST(BinaryRequestMapping, WrongShapesAndUnknownOpcodes) {
  Request r;
  EXPECT_EQ(Translate(Req(kGet, "", "", ""), r), kInvalidArguments);          // no key
  EXPECT_EQ(Translate(Req(kSet, Be(0, 4), "k", "v"), r), kInvalidArguments);  // short extras
  EXPECT_EQ(Translate(Req(kAppend, Be(0, 8), "k", "v"), r), kInvalidArguments);
  EXPECT_EQ(Translate(Req(kNoop, "", "k", ""), r), kInvalidArguments);
  EXPECT_EQ(Translate(Req(kGet, "", std::string(251, 'k'), ""), r), kInvalidArguments);
  EXPECT_EQ(Translate(Req(0x40, "", "", ""), r), kUnknownCommand);
  EXPECT_EQ(Translate(Req(0x20, "", "PLAIN", ""), r), kUnknownCommand);  // SASL: not supported
}

std::string Composed(const Response& reply, uint8_t op) {
  MetaRequest ctx;
  ctx.binary = true;
  ctx.bin_opcode = op;
  ctx.bin_opaque = 0x04030201;
  std::string out;
  Compose(reply, ctx, out);
  return out;
}

std::string Resp(uint8_t op, uint16_t status, uint64_t cas, std::string_view extras,
                 std::string_view key, std::string_view value) {
  std::string s = Req(op, extras, key, value, 0x04030201, cas);
  s[0] = static_cast<char>(0x81);
  s.replace(6, 2, Be(status, 2));
  s.replace(12, 4, "\x01\x02\x03\x04");  // the opaque is echoed in wire order
  return s;
}

TEST(BinaryCompose, GetHitMissAndQuiet) {
  MetaRequest m;
  MetaReply hit;
  hit.code = "VA";
  hit.send_value = true;
  hit.request = nullptr;
  hit.key = "key";
  hit.value = "data";
  hit.client_flags = 0x0a0b0c0d;
  hit.cas = 99;
  EXPECT_EQ(Composed(hit, kGet), Resp(kGet, kSuccess, 99, "\x0a\x0b\x0c\x0d", "", "data"));
  EXPECT_EQ(Composed(hit, kGetKQ), Resp(kGetKQ, kSuccess, 99, "\x0a\x0b\x0c\x0d", "key", "data"));
  MetaReply miss;
  miss.code = "EN";
  miss.key = "key";
  EXPECT_EQ(Composed(miss, kGet), Resp(kGet, kKeyNotFound, 0, "", "", "Not found"));
  EXPECT_EQ(Composed(miss, kGetK), Resp(kGetK, kKeyNotFound, 0, "", "key", ""));
  EXPECT_EQ(Composed(miss, kGetQ), "");
  EXPECT_EQ(Composed(miss, kGatKQ), "");
}

TEST(BinaryCompose, StoreStatusesDependOnTheOpcode) {
  MetaReply r;
  r.code = "NS";
  EXPECT_EQ(Composed(r, kAdd), Resp(kAdd, kKeyExists, 0, "", "", "Data exists for key."));
  EXPECT_EQ(Composed(r, kReplaceQ), Resp(kReplaceQ, kKeyNotFound, 0, "", "", "Not found"));
  EXPECT_EQ(Composed(r, kAppend), Resp(kAppend, kNotStored, 0, "", "", "Not stored."));
  r.code = "HD";
  r.cas = 5;
  EXPECT_EQ(Composed(r, kSet), Resp(kSet, kSuccess, 5, "", "", ""));
  EXPECT_EQ(Composed(r, kSetQ), "");
  r.value = "258";
  EXPECT_EQ(Composed(r, kIncrement), Resp(kIncrement, kSuccess, 5, "", "", Be(258, 8)));
  EXPECT_EQ(
      Composed(LineReply{"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
               kDecrementQ),
      Resp(kDecrementQ, kNonNumeric, 0, "", "", "Non-numeric server-side value for incr or decr"));
}

TEST(BinaryCompose, AdminReplies) {
  EXPECT_EQ(Composed(LineReply{"VERSION 1.2.3\r\n"}, kVersion),
            Resp(kVersion, kSuccess, 0, "", "", "1.2.3"));
  EXPECT_EQ(Composed(LineReply{"MN\r\n"}, kNoop), Resp(kNoop, kSuccess, 0, "", "", ""));
  EXPECT_EQ(Composed(LineReply{"OK\r\n"}, kFlushQ), "");
  EXPECT_EQ(Composed(LineReply{"STAT pid 12\r\nSTAT uptime 3\r\nEND\r\n"}, kStat),
            Resp(kStat, kSuccess, 0, "", "pid", "12") +
                Resp(kStat, kSuccess, 0, "", "uptime", "3") + Resp(kStat, kSuccess, 0, "", "", ""));
}

}  // namespace
}  // namespace ssdcache::protocol::binary
