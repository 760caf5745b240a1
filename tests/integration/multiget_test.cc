// Multi-gets whose reply is far larger than what a connection may hold unsent (60 MB against the
// 4 MiB output bound): the whole reply arrives, at the pace the client reads it, whether the
// values are in DRAM or on the device and whether the line is short or longer than the read
// buffer (then its keys are served as they arrive). Runs against both targets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"
#include "util/unique_fd.h"

namespace ssdcache::integration {
namespace {

constexpr size_t kValueBytes = 60'000;
constexpr int kManyKeys = 1000;
// Nothing in these tests measures time; this only turns a hang into a failure.
constexpr std::chrono::seconds kHangTimeout{60};

std::string ValueFor(std::string_view key) {
  return std::string(kValueBytes, static_cast<char>('a' + key.size() % 26 + key.back() % 7));
}

// The reply to `line` (for `keys`, all stored with ValueFor and flags 0), block by block.
std::string ExpectedReply(const std::vector<std::string>& keys) {
  std::string out;
  out.reserve(keys.size() * (kValueBytes + 64));
  for (const std::string& key : keys) out += ValueBlock(key, 0, ValueFor(key));
  return out + "END\r\n";
}

std::string GetLine(const std::vector<std::string>& keys) {
  std::string line = "get";
  for (const std::string& key : keys) line += " " + key;
  return line + "\r\n";
}

// Stores each distinct key of `keys` (pipelined, noreply), then checks with a round trip.
void StoreAll(Client& c, const std::vector<std::string>& keys) {
  std::string batch;
  std::map<std::string, bool> seen;
  for (const std::string& key : keys) {
    if (seen[key]) continue;
    seen[key] = true;
    batch += "set " + key + " 0 0 " + std::to_string(kValueBytes) + " noreply\r\n" + ValueFor(key) +
             "\r\n";
    if (batch.size() > (4u << 20)) {
      ASSERT_TRUE(c.Send(batch)) << c.error();
      batch.clear();
    }
  }
  ASSERT_TRUE(c.Send(batch + "mn\r\n")) << c.error();
  ASSERT_EQ(c.ReadLine(), "MN\r\n") << c.error();
}

// How the client's receive buffer is set up before it connects.
enum class Window {
  kDefault,  // autotuned: once the client reads fast, the server can send megabytes per write
  kSmall,    // 4 KiB, so the TCP window is small from the start (shrinking it after the connect
             // makes the kernel drop loopback's 64 KB segments)
};

util::UniqueFd Connect(int port, Window window) {
  util::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int small = 4096;
  timeval tv{};
  tv.tv_sec = kHangTimeout.count();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (!fd.valid() ||
      (window == Window::kSmall &&
       ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) != 0) ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
      ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
    fd.Reset();
  }
  return fd;
}

// Sends `line` in one write on a new connection, reads the first megabyte slowly (small reads
// with pauses: the server finds the socket full and pauses), then the rest as fast as it comes,
// and compares everything with `expected` as it arrives.
void ExpectWholeReply(int port, const std::string& line, const std::string& expected,
                      Window window) {
  const util::UniqueFd fd = Connect(port, window);
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(line.size()));
  std::vector<char> buf(256 * 1024);
  size_t got = 0;
  while (got < expected.size()) {
    const bool slow = got < (1u << 20);
    if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const size_t want = std::min(slow ? size_t{4096} : buf.size(), expected.size() - got);
    const ssize_t n = ::recv(fd.get(), buf.data(), want, 0);
    ASSERT_GT(n, 0) << "the reply stopped after " << got << " of " << expected.size()
                    << " bytes (errno " << errno << ")";
    const std::string_view part(buf.data(), static_cast<size_t>(n));
    ASSERT_TRUE(part == std::string_view(expected).substr(got, part.size()))
        << "reply differs from byte " << got << ": " << Printable(part.substr(0, 200));
    got += part.size();
  }
  // Nothing follows END, and the connection still works.
  ASSERT_EQ(::send(fd.get(), "mn\r\n", 4, MSG_NOSIGNAL), 4);
  const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
  EXPECT_EQ(std::string_view(buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))), "MN\r\n");
}

class LongMultiGet : public ::testing::Test {
 protected:
  // ssdcached with `dram_mib` of memory slabs (small: the values go to the device); memcached
  // with room for every value.
  void StartServer(int dram_mib) {
    ServerOptions options;
    options.device_size = "256M";
    options.memory_mib = TargetIsMemcached() ? 128 : dram_mib;
    server_ = std::make_unique<ServerProcess>(options);
    ASSERT_TRUE(server_->Start());
    ASSERT_TRUE(client_.Connect(server_->port()));
  }

  uint64_t DeviceReads() {
    const auto stats = client_.Stats();
    const auto it = stats.find("reads_device");
    return it == stats.end() ? 0 : std::stoull(it->second);
  }

  std::unique_ptr<ServerProcess> server_;
  Client client_;
};

// One key repeated 1000 times on a line of about 4 KB; the value stays in DRAM.
TEST_F(LongMultiGet, SameDramKeyRepeated) {
  StartServer(8);
  const std::vector<std::string> keys(kManyKeys, "mg.k");
  ASSERT_NO_FATAL_FAILURE(StoreAll(client_, keys));
  const std::string expected = ExpectedReply(keys);
  ExpectWholeReply(server_->port(), GetLine(keys), expected, Window::kDefault);
  ExpectWholeReply(server_->port(), GetLine(keys), expected, Window::kSmall);
}

// 1000 distinct keys (a line of about 12 KB), most of their values on the device.
TEST_F(LongMultiGet, DistinctKeysOnTheDevice) {
  StartServer(4);
  std::vector<std::string> keys;
  for (int i = 0; i < kManyKeys; ++i) keys.push_back("mg.dev." + std::to_string(1000 + i));
  ASSERT_NO_FATAL_FAILURE(StoreAll(client_, keys));
  const uint64_t reads_before = DeviceReads();
  const std::string expected = ExpectedReply(keys);
  ExpectWholeReply(server_->port(), GetLine(keys), expected, Window::kDefault);
  ExpectWholeReply(server_->port(), GetLine(keys), expected, Window::kSmall);
  if (!TargetIsMemcached()) {
    EXPECT_GT(DeviceReads(), reads_before) << "no value was on the device";
  }
}

// A line of about 40 KB, longer than the read buffer: its keys are served as they arrive. The
// value was pushed to the device by later sets, so every key is a device read.
TEST_F(LongMultiGet, LineLongerThanTheReadBuffer) {
  StartServer(4);
  const std::vector<std::string> keys(kManyKeys, "mg.long." + std::string(30, 'k'));
  ASSERT_NO_FATAL_FAILURE(StoreAll(client_, keys));
  if (!TargetIsMemcached()) {
    std::vector<std::string> fillers;
    for (int i = 0; i < 200; ++i) fillers.push_back("mg.fill." + std::to_string(i));
    ASSERT_NO_FATAL_FAILURE(StoreAll(client_, fillers));
  }
  const uint64_t reads_before = DeviceReads();
  ExpectWholeReply(server_->port(), GetLine(keys), ExpectedReply(keys), Window::kDefault);
  if (!TargetIsMemcached()) {
    EXPECT_GT(DeviceReads(), reads_before) << "no value was on the device";
  }
}

}  // namespace
}  // namespace ssdcache::integration
