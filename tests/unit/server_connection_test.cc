// Tests for Connection without TCP: a real Server (device file under $TMPDIR or /var/tmp, kernel
// picked port never used) adopts one end of a socketpair, and the test drives its event loop by
// hand while it writes requests into the other end and reads the replies back. What is checked is
// the transport: replies in request order across device reads, requests split anywhere, big
// outputs that pause reading, quit and the binary-protocol close.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "../integration/binary_wire.h"
#include "server/server.h"
#include "util/unique_fd.h"

namespace ssdcache::server {
namespace {

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    dir_ = std::string(base && *base ? base : "/var/tmp") + "/ssdcache-conn-XXXXXX";
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
    Config c;
    c.port = 0;
    c.device_path = dir_ + "/dev.dat";
    c.device_size = 64ULL << 20;
    c.engine.max_memory = 4ULL << 20;
    c.engine.max_index_memory = 1ULL << 20;
    c.engine.journal_size = 0;
    std::string err;
    server_ = Server::Create(c, err);
    ASSERT_TRUE(server_) << err;
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    client_.Reset(fds[0]);
    ASSERT_TRUE(server_->Adopt(util::UniqueFd(fds[1])));
  }
  void TearDown() override {
    client_.Reset();
    for (int i = 0; i < 20; ++i) server_->loop().RunOnce(1);
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Writes `bytes` (running the loop while the socket is full), then runs the loop until `want`
  // bytes of reply arrived (or the reply ends with `suffix`), the peer closed, or a few seconds
  // passed.
  std::string Exchange(std::string_view bytes, size_t want, std::string_view suffix = {}) {
    std::string got;
    for (int turns = 0; turns < 5000; ++turns) {
      if (!bytes.empty()) {
        const ssize_t n = ::send(client_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
      }
      server_->loop().RunOnce(1);
      char buf[65536];
      ssize_t n;
      while ((n = ::recv(client_.get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        got.append(buf, static_cast<size_t>(n));
      }
      if (n == 0) {
        closed_ = true;
        break;
      }
      if (bytes.empty() && (suffix.empty() ? got.size() >= want : got.ends_with(suffix))) break;
    }
    return got;
  }
  std::string Ask(std::string_view request, std::string_view expected) {
    return Exchange(request, expected.size());
  }
  // Writes enough other items that everything stored before is read from the device.
  void PushToDevice() {
    const std::string value(4000, 'f');
    std::string batch;
    for (int i = 0; i < 2000; ++i) {
      batch += "set fill" + std::to_string(i) + " 0 0 4000 noreply\r\n" + value + "\r\n";
    }
    Exchange(batch + "mn\r\n", 4);
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
  util::UniqueFd client_;
  bool closed_ = false;
};

TEST_F(ConnectionTest, PipelinedRepliesKeepRequestOrderAcrossDeviceReads) {
  // As large as the fill items, so that its slab is sealed and written as they go by.
  const std::string old(4000, 'o');
  ASSERT_EQ(Ask("set old 1 0 4000\r\n" + old + "\r\n", "STORED\r\n"), "STORED\r\n");
  PushToDevice();
  const uint64_t device_reads = server_->engine().stats().reads_device;
  const std::string want = "STORED\r\nVALUE old 1 4000\r\n" + old +
                           "\r\nEND\r\nVALUE a 0 1\r\nx\r\nEND\r\nDELETED\r\nEND\r\nMN\r\n";
  EXPECT_EQ(Ask("set a 0 0 1\r\nx\r\nget old\r\nget a\r\ndelete a\r\nget a\r\nmn\r\n", want), want);
  EXPECT_EQ(server_->engine().stats().reads_device, device_reads + 1);
}

TEST_F(ConnectionTest, ARequestSplitAtEveryByteIsServedOnce) {
  const std::string request = "set k 0 0 5\r\nhello\r\nget k\r\n";
  const std::string want = "STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n";
  std::string got;
  for (char c : request) got += Exchange(std::string_view(&c, 1), 0);
  got += Exchange("", want.size() - std::min(want.size(), got.size()));
  EXPECT_EQ(got, want);
}

// A multi-get whose reply is far larger than the output bound (4 MiB) pauses and resumes until all
// of it went out, in order.
TEST_F(ConnectionTest, AHugeMultiGetComesOutWhole) {
  const std::string value(100000, 'v');
  std::string sets;
  std::string get = "get";
  std::string want;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "big" + std::to_string(i);
    sets += "set " + key + " 0 0 100000 noreply\r\n" + value + "\r\n";
    get += " " + key;
    want += "VALUE " + key + " 0 100000\r\n" + value + "\r\n";
  }
  want += "END\r\n";
  Exchange(sets, 0);
  const std::string got = Ask(get + "\r\n", want);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
}

TEST_F(ConnectionTest, QuitClosesAfterTheRepliesBeforeIt) {
  EXPECT_EQ(Exchange("mn\r\nquit\r\nmn\r\n", 100), "MN\r\n");
  EXPECT_TRUE(closed_);
}

// A connection whose first byte is 0x80 speaks the binary protocol: a get of an item on the
// device takes the asynchronous read path (a pending reply slot) and still answers in order.
TEST_F(ConnectionTest, BinaryGetsOfDeviceItemsAnswerInOrder) {
  using testing_binary::Be;
  using testing_binary::Req;
  const std::string old(4000, 'o');
  std::string sets = Req(0x11, Be(9, 4) + Be(0, 4), "old", old);  // setq
  const std::string fill(4000, 'f');
  for (int i = 0; i < 2000; ++i) {
    sets += Req(0x11, Be(0, 4) + Be(0, 4), "fill" + std::to_string(i), fill);
  }
  ASSERT_EQ(Exchange(sets + Req(0x0a), 24).size(), 24u);  // only the noop answers
  const uint64_t device_reads = server_->engine().stats().reads_device;
  const std::string got = Exchange(
      Req(0x0c, {}, "old", {}, 1) + Req(0x00, {}, "none", {}, 2) + Req(0x0a, {}, {}, {}, 3),
      24 + 4 + 3 + 4000 + 24 + 9 + 24);
  ASSERT_EQ(got.size(), 24u + 4 + 3 + 4000 + 24 + 9 + 24);
  EXPECT_GT(server_->engine().stats().reads_device, device_reads);
  EXPECT_EQ(got.substr(0, 2), "\x81\x0c");  // getk hit: flags, key, value
  EXPECT_EQ(got.substr(12, 4), Be(1, 4));   // its opaque
  EXPECT_EQ(got.substr(24, 4 + 3 + 4000), Be(9, 4) + "old" + old);
  const std::string miss = got.substr(24 + 4 + 3 + 4000, 24 + 9);
  EXPECT_EQ(miss.substr(6, 2), Be(1, 2));  // key not found
  EXPECT_EQ(miss.substr(24), "Not found");
  EXPECT_EQ(got.substr(got.size() - 24, 2), "\x81\x0a");
  EXPECT_FALSE(closed_);
  // A bad magic closes the connection without a reply.
  EXPECT_EQ(Exchange(std::string(24, 'x'), 100), "");
  EXPECT_TRUE(closed_);
}

TEST_F(ConnectionTest, StatsAndMetaRepliesGoThroughTheSameQueue) {
  const std::string got = Exchange("ms k 1 c\r\nx\r\nstats\r\nmg k v\r\n", 0, "VA 1\r\nx\r\n");
  ASSERT_TRUE(got.starts_with("HD c")) << got;
  EXPECT_NE(got.find("STAT cmd_set 1\r\n"), std::string::npos);
  EXPECT_TRUE(got.ends_with("END\r\nVA 1\r\nx\r\n")) << got;
}

// Reads as TLS does: whatever the socket holds moves into the transport's own buffer at once (as
// OpenSSL takes whole records), and each read hands out a few bytes of it, so the socket is empty
// while requests are still to be read: no edge will announce them.
class RecordLikeTransport final : public Transport {
 public:
  explicit RecordLikeTransport(int fd) : plain_(fd) {}
  IoResult Read(char* buf, size_t len) override {
    char chunk[65536];
    IoResult r;
    while ((r = plain_.Read(chunk, sizeof(chunk))).status == IoStatus::kOk) {
      held_.append(chunk, r.bytes);
    }
    if (held_.empty()) return r;
    const size_t n = std::min({len, size_t{7}, held_.size()});
    held_.copy(buf, n);
    held_.erase(0, n);
    return {IoStatus::kOk, n};
  }
  IoResult Write(const iovec* iov, int count) override { return plain_.Write(iov, count); }
  bool ShortReadDrains() const override { return false; }
  bool EdgesWakeBoth() const override { return true; }

 private:
  PlainTransport plain_;
  std::string held_;
};

TEST_F(ConnectionTest, BytesHeldByTheTransportAreReadWithoutAnEdge) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  client_.Reset(fds[0]);
  ASSERT_TRUE(
      server_->Adopt(util::UniqueFd(fds[1]), std::make_unique<RecordLikeTransport>(fds[1])));
  std::string request, want;
  for (int i = 0; i < 40; ++i) {
    request += "set k" + std::to_string(i) + " 0 0 1\r\nx\r\n";
    want += "STORED\r\n";
  }
  EXPECT_EQ(Ask(request + "mn\r\n", want + "MN\r\n"), want + "MN\r\n");
}

}  // namespace
}  // namespace ssdcache::server
