#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "reply_parser.h"
#include "util/hash.h"
#include "value.h"

namespace ssdcache::bench {
namespace {

struct Seen {
  explicit Seen(ReplyKind k, std::string key_ = "", uint32_t flags_ = 0, uint64_t length_ = 0,
                VerifyResult verdict_ = VerifyResult::kTooShort, std::string message_ = "")
      : kind(k),
        key(std::move(key_)),
        flags(flags_),
        length(length_),
        verdict(verdict_),
        message(std::move(message_)) {}

  ReplyKind kind;
  std::string key;
  uint32_t flags;
  uint64_t length;
  VerifyResult verdict;
  std::string message;

  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << ReplyKindName(s.kind) << " key=" << s.key << " flags=" << s.flags
            << " len=" << s.length << " verdict=" << VerifyResultName(s.verdict)
            << " msg=" << s.message;
}

// Feeds `chunks` in order, collecting replies the way a connection does.
std::vector<Seen> Parse(const std::vector<std::string>& chunks, uint64_t key_id) {
  ReplyParser parser(/*checksum=*/true);
  std::vector<Seen> seen;
  for (const std::string& chunk : chunks) {
    size_t offset = 0;
    while (offset < chunk.size()) {
      Reply reply;
      const size_t used = parser.Feed(chunk.data() + offset, chunk.size() - offset, &reply);
      offset += used;
      if (reply.kind == ReplyKind::kNone) {
        EXPECT_EQ(offset, chunk.size());
        break;
      }
      Seen s(reply.kind, std::string(reply.key), reply.flags, reply.length);
      if (reply.kind == ReplyKind::kHit) {
        s.verdict = CheckValue(reply.head, reply.head_len, reply.length, reply.tail_crc, key_id);
      }
      s.message = std::string(reply.message);
      seen.push_back(s);
      if (reply.kind == ReplyKind::kProtocolError) return seen;
    }
  }
  return seen;
}

class BenchReplyParser : public ::testing::Test {
 protected:
  void SetUp() override {
    Filler filler(512, 1);
    value_.resize(300);
    EncodeValue(value_.data(), value_.size(), kKeyId, 4, filler);
    // Protocol text inside a value must be taken as data; re-checksum after planting it.
    std::memcpy(value_.data() + 100, "\r\nEND\r\nSTORED\r\n", 15);
    FixChecksum();

    stream_ =
        "STORED\r\n"
        "END\r\n"
        "VALUE bench:0042 17 300\r\n" +
        value_ +
        "\r\nEND\r\n"
        "NOT_STORED\r\n"
        "VALUE k 0 0 99\r\n\r\nEND\r\n"
        "SERVER_ERROR out of memory storing object\r\n"
        "EXISTS\r\n"
        "NOT_FOUND\r\n"
        "CLIENT_ERROR bad data chunk\r\n"
        "ERROR\r\n"
        "STORED\r\n";
    expected_ = {
        Seen(ReplyKind::kStored),
        Seen(ReplyKind::kMiss),
        Seen(ReplyKind::kHit, "bench:0042", 17, 300, VerifyResult::kOk),
        Seen(ReplyKind::kNotStored),
        Seen(ReplyKind::kHit, "k", 0, 0, VerifyResult::kTooShort),
        Seen(ReplyKind::kServerError, "", 0, 0, VerifyResult::kTooShort,
             "out of memory storing object"),
        Seen(ReplyKind::kExists),
        Seen(ReplyKind::kNotFound),
        Seen(ReplyKind::kClientError, "", 0, 0, VerifyResult::kTooShort, "bad data chunk"),
        Seen(ReplyKind::kError),
        Seen(ReplyKind::kStored),
    };
  }

  void FixChecksum() {
    const uint32_t crc =
        util::Crc32c(value_.data() + kValueCrcStart, value_.size() - kValueCrcStart);
    std::memcpy(value_.data() + 4, &crc, sizeof(crc));
  }

  static constexpr uint64_t kKeyId = 42;
  std::string value_;
  std::string stream_;
  std::vector<Seen> expected_;
};

TEST_F(BenchReplyParser, WholeStream) { EXPECT_EQ(Parse({stream_}, kKeyId), expected_); }

TEST_F(BenchReplyParser, SplitAtEveryByte) {
  for (size_t i = 0; i <= stream_.size(); ++i) {
    ASSERT_EQ(Parse({stream_.substr(0, i), stream_.substr(i)}, kKeyId), expected_) << "split " << i;
  }
}

TEST_F(BenchReplyParser, SplitTwiceAroundTheValue) {
  const size_t value_at = stream_.find("VALUE bench");
  for (size_t i = value_at; i < value_at + 340; i += 3) {
    for (size_t j = i; j < value_at + 345; j += 5) {
      ASSERT_EQ(Parse({stream_.substr(0, i), stream_.substr(i, j - i), stream_.substr(j)}, kKeyId),
                expected_)
          << i << "," << j;
    }
  }
}

TEST_F(BenchReplyParser, OneByteAtATime) {
  std::vector<std::string> bytes;
  for (char c : stream_) bytes.emplace_back(1, c);
  EXPECT_EQ(Parse(bytes, kKeyId), expected_);
}

TEST_F(BenchReplyParser, CorruptValueByteIsCaughtAtEverySplit) {
  const size_t value_at = stream_.find("VALUE bench");
  const size_t data_at = stream_.find("\r\n", value_at) + 2;
  std::string bad = stream_;
  bad[data_at + 200] ^= 0x20;
  for (size_t i = value_at; i < data_at + 310; ++i) {
    const auto seen = Parse({bad.substr(0, i), bad.substr(i)}, kKeyId);
    ASSERT_GE(seen.size(), 3u);
    ASSERT_EQ(seen[2].kind, ReplyKind::kHit);
    ASSERT_EQ(seen[2].verdict, VerifyResult::kBadChecksum) << "split " << i;
  }
}

TEST(BenchReplyParserErrors, ProtocolErrors) {
  for (const char* bad : {
           "HELLO\r\n",                                // unknown line
           "STORED\n",                                 // no CR
           "VALUE k 0\r\n",                            // too few fields
           "VALUE k x 5\r\nhello\r\nEND\r\n",          // bad flags
           "VALUE k 0 5 1 2\r\n",                      // too many fields
           "VALUE k 0 3\r\nhello\r\nEND\r\n",          // length shorter than the data
           "VALUE k 0 5\r\nhello\r\nSTORED\r\n",       // no END
           "VALUE k 0 5\r\nhello\r\nVALUE k 0 5\r\n",  // multi-get
           "VALUE k 0 999999999999\r\n",               // absurd length
       }) {
    const auto seen = Parse({bad}, 0);
    ASSERT_FALSE(seen.empty()) << bad;
    EXPECT_EQ(seen.back().kind, ReplyKind::kProtocolError) << bad;
    EXPECT_FALSE(seen.back().message.empty());
  }
  std::string long_line(ReplyParser::kMaxLine + 10, 'x');
  EXPECT_EQ(Parse({long_line}, 0).back().kind, ReplyKind::kProtocolError);
  // The error also surfaces when the line arrives in pieces with no newline yet.
  EXPECT_EQ(Parse({long_line.substr(0, 600), long_line.substr(600)}, 0).back().kind,
            ReplyKind::kProtocolError);
}

TEST(BenchReplyParserErrors, StaysBrokenUntilReset) {
  ReplyParser parser(true);
  Reply reply;
  const std::string bad = "NOPE\r\n";
  parser.Feed(bad.data(), bad.size(), &reply);
  EXPECT_EQ(reply.kind, ReplyKind::kProtocolError);
  EXPECT_TRUE(parser.broken());
  const std::string good = "STORED\r\n";
  parser.Feed(good.data(), good.size(), &reply);
  EXPECT_EQ(reply.kind, ReplyKind::kProtocolError);
  parser.Reset();
  EXPECT_TRUE(parser.idle());
  EXPECT_EQ(parser.Feed(good.data(), good.size(), &reply), good.size());
  EXPECT_EQ(reply.kind, ReplyKind::kStored);
}

TEST(BenchReplyParserErrors, CasFieldAccepted) {
  const auto seen = Parse({"VALUE key 5 3 12345\r\nabc\r\nEND\r\n"}, 0);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, ReplyKind::kHit);
  EXPECT_EQ(seen[0].key, "key");
  EXPECT_EQ(seen[0].flags, 5u);
  EXPECT_EQ(seen[0].length, 3u);
  EXPECT_EQ(seen[0].verdict, VerifyResult::kTooShort);
}

}  // namespace
}  // namespace ssdcache::bench
