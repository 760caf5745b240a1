// Tests for protocol/compose: replies as memcached 1.6.18 sends them (the byte strings below were
// checked against it by the integration and differential tests that drove the same requests), and
// compose -> parse round trips where the reply carries something a request can carry back (a
// base64 key, a cas unique, a value).
#include <gtest/gtest.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/compose.h"
#include "protocol/parser.h"

namespace ssdcache::protocol {
namespace {

std::string Text(const Response& r) {
  std::string out;
  Compose(r, out);
  return out;
}

MetaReply Meta(std::string_view code, const Request& req, std::string_view key) {
  MetaReply r;
  r.code = code;
  r.request = &req.meta;
  r.key = key;
  return r;
}

// Parses a meta request line (the reply flags are driven by it).
Request ParseMeta(Parser& parser, std::string_view line) {
  Request req;
  const ParseOutcome o = parser.Parse(line, req);
  EXPECT_EQ(o.status, ParseStatus::kOk) << line << o.reply;
  return req;
}

TEST(ComposeTest, LineAndNumber) {
  EXPECT_EQ(Text(LineReply{"STORED\r\n"}), "STORED\r\n");
  EXPECT_EQ(Text(NumberReply{"18446744073709551615"}), "18446744073709551615\r\n");
}

TEST(ComposeTest, ValueWithAndWithoutCas) {
  EXPECT_EQ(Text(ValueReply{"k", 7, "hello", 42, false}), "VALUE k 7 5\r\nhello\r\n");
  EXPECT_EQ(Text(ValueReply{"k", 0, "", 42, true}), "VALUE k 0 0 42\r\n\r\n");
}

TEST(ComposeTest, AppendsToWhatIsThere) {
  std::string out = "VALUE a 0 1\r\nx\r\n";
  Compose(LineReply{"END\r\n"}, out);
  EXPECT_EQ(out, "VALUE a 0 1\r\nx\r\nEND\r\n");
}

// A value reply read back as a storage request: what gets returned can be set again unchanged.
TEST(ComposeTest, ValueRoundTripsThroughASet) {
  const std::string value("a\r\nb\0c", 6);
  const std::string reply = Text(ValueReply{"key", 123, value, 9, true});
  // "VALUE key 123 6 9\r\n" -> "set key 123 0 6\r\n"
  const size_t eol = reply.find("\r\n");
  ASSERT_NE(eol, std::string::npos);
  std::string header = reply.substr(6, eol - 6);  // "key 123 6 9"
  header = header.substr(0, header.rfind(' '));   // drop the cas
  const size_t bytes_at = header.rfind(' ');
  const std::string set = "set " + header.substr(0, bytes_at) + " 0" + header.substr(bytes_at) +
                          "\r\n" + reply.substr(eol + 2);
  Parser parser;
  Request req;
  ASSERT_EQ(parser.Parse(set, req).status, ParseStatus::kOk) << set;
  EXPECT_EQ(req.keys.at(0), "key");
  EXPECT_EQ(req.flags, 123u);
  EXPECT_EQ(req.data, value);
}

TEST(ComposeTest, Base64MatchesTheStandard) {
  std::string out;
  AppendBase64(out, "");
  EXPECT_EQ(out, "");
  AppendBase64(out, "foobar");
  EXPECT_EQ(out, "Zm9vYmFy");
  out.clear();
  AppendBase64(out, "fooba");
  EXPECT_EQ(out, "Zm9vYmE=");
  out.clear();
  AppendBase64(out, "foob");
  EXPECT_EQ(out, "Zm9vYg==");
  out.clear();
  AppendBase64(out, std::string("\xff\x00\x80", 3));
  EXPECT_EQ(out, "/wCA");
}

// A binary key goes out in base64 and comes back, through the parser, as the same bytes.
TEST(ComposeTest, Base64KeyRoundTripsThroughTheParser) {
  Parser parser;
  for (size_t len = 1; len <= 40; ++len) {
    std::string key;
    for (size_t i = 0; i < len; ++i) key.push_back(static_cast<char>((i * 37 + len) & 0xff));
    std::string line = "mg ";
    AppendBase64(line, key);
    line += " b k v\r\n";
    const Request req = ParseMeta(parser, line);
    ASSERT_EQ(req.keys.at(0), key) << line;
    MetaReply r = Meta("HD", req, req.keys[0]);
    r.value = "v";
    r.send_value = true;
    std::string encoded;
    AppendBase64(encoded, key);
    EXPECT_EQ(Text(r), "VA 1 k" + encoded + " b\r\nv\r\n");
  }
}

TEST(ComposeTest, MetaFlagsFollowTheRequestOrder) {
  Parser parser;
  const Request req = ParseMeta(parser, "mg key Oab t s c f l h k v\r\n");
  MetaReply r;
  r.request = &req.meta;
  r.key = "key";
  r.value = "hello";
  r.send_value = true;
  r.returns = MetaReply::Letters("stcflh");
  r.cas = 5;
  r.client_flags = 3;
  r.ttl = -1;
  r.last_access_age = 9;
  r.fetched = true;
  EXPECT_EQ(Text(r), "VA 5 Oab t-1 s5 c5 f3 l9 h1 kkey\r\nhello\r\n");
  // A miss echoes only O and k.
  EXPECT_EQ(Text(Meta("EN", req, "key")), "EN Oab kkey\r\n");
}

TEST(ComposeTest, MetaTokenFlagsComeLastInMemcachedsOrder) {
  Parser parser;
  const Request req = ParseMeta(parser, "mg key c\r\n");
  MetaReply r = Meta("HD", req, "key");
  r.returns = MetaReply::Letters("c");
  r.cas = 77;
  r.token_sent = true;
  r.stale = true;
  EXPECT_EQ(Text(r), "HD c77 Z X\r\n");
  r.token_sent = false;
  r.won = true;
  EXPECT_EQ(Text(r), "HD c77 X W\r\n");
}

// The cas a meta reply reports is one a later request can compare against.
TEST(ComposeTest, MetaCasRoundTripsThroughCompare) {
  Parser parser;
  const Request req = ParseMeta(parser, "ms key 1 c\r\nx\r\n");
  MetaReply r = Meta("HD", req, "key");
  r.returns = MetaReply::Letters("c");
  r.cas = 123456789012345ULL;
  const std::string reply = Text(r);
  ASSERT_TRUE(reply.starts_with("HD c"));
  const std::string cas = reply.substr(4, reply.size() - 6);
  const Request back = ParseMeta(parser, "md key C" + cas + "\r\n");
  EXPECT_EQ(back.meta.compare_cas, r.cas);
}

TEST(ComposeTest, MetaDebug) {
  MetaDebugReply r{"key", false, -1, 3, 12, true, 2, 70};
  EXPECT_EQ(Text(r), "ME key exp=-1 la=3 cas=12 fetch=yes cls=2 size=70\r\n");
  r.key = std::string_view("\x01\x02", 2);
  r.base64 = true;
  r.exp = -100;
  r.fetched = false;
  EXPECT_EQ(Text(r), "ME AQI= exp=-100 la=3 cas=12 fetch=no cls=2 size=70\r\n");
}

}  // namespace
}  // namespace ssdcache::protocol
