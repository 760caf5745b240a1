// Command-line migration and listening (server/migration.h, server/listeners.h) on the real
// server: IPv6, host names and lists for -l, the unix socket, and memcached's protective flags
// (-F -C -A -B), whose replies are compared byte for byte with Debian's memcached 1.6.18 started
// with the same flag; -M (ssdcached's own definition) on a small device.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "binary_wire.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

using testing_binary::Be;
using testing_binary::Req;

// A blocking stream socket with a receive timeout, for the addresses Client does not dial.
class RawSocket {
 public:
  RawSocket(const sockaddr* addr, socklen_t len) {
    fd_ = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd_ >= 0 && ::connect(fd_, addr, len) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Sends `request` and reads until the reply ends with `terminator` (or 10 s pass).
  std::string Exchange(std::string_view request, std::string_view terminator) {
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return "<send failed>";
    }
    std::string got;
    char buf[4096];
    while (!got.ends_with(terminator)) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  int fd_ = -1;
};

RawSocket DialIpv6Loopback(int port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  a.sin6_addr = in6addr_loopback;
  return RawSocket(reinterpret_cast<sockaddr*>(&a), sizeof(a));
}

// Whether this machine has an IPv6 loopback to listen on.
bool HasIpv6Loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// Whether `localhost` resolves to ::1 here (/etc/hosts decides).
bool LocalhostHasIpv6() {
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo("localhost", nullptr, &hints, &res) != 0) return false;
  freeaddrinfo(res);
  return true;
}

TEST(Cli, ListensOnIpv6Loopback) {
  SKIP_UNLESS_SSDCACHED();
  if (!HasIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  ServerOptions o;
  o.ssdcached_extra_args = {"-l", "[::1]"};  // added to the harness's -l 127.0.0.1
  ServerProcess server(o);
  ASSERT_TRUE(server.Start());
  RawSocket v6 = DialIpv6Loopback(server.port());
  ASSERT_TRUE(v6.ok()) << server.LogTail();
  EXPECT_EQ(v6.Exchange("set six 0 0 1\r\n6\r\n", "\r\n"), "STORED\r\n");
  Client v4;
  ASSERT_TRUE(v4.Connect(server.port()));
  EXPECT_EQ(v4.Get("get six\r\n"), "VALUE six 0 1\r\n6\r\nEND\r\n");
  EXPECT_EQ(v4.Stats("settings")["inter"], "127.0.0.1,::1");
}

TEST(Cli, ListensOnAListWithAHostName) {
  SKIP_UNLESS_SSDCACHED();
  ServerOptions o;
  // localhost resolves to 127.0.0.1 (already listed: one socket) and, with IPv6, to ::1.
  o.ssdcached_extra_args = {"-l", "127.0.0.1,localhost"};
  ServerProcess server(o);
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_EQ(c.Request("set k 0 0 1\r\nv\r\n"), "STORED\r\n");
  if (HasIpv6Loopback() && LocalhostHasIpv6()) {
    RawSocket v6 = DialIpv6Loopback(server.port());
    ASSERT_TRUE(v6.ok()) << server.LogTail();
    EXPECT_EQ(v6.Exchange("get k\r\n", "END\r\n"), "VALUE k 0 1\r\nv\r\nEND\r\n");
  }
}

TEST(Cli, ServesAUnixSocketWithItsMask) {
  SKIP_UNLESS_SSDCACHED();
  const std::string dir = MakeTempDir("ssdcache-sock");
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/ssdcached.sock";
  {
    ServerOptions o;
    o.ssdcached_extra_args = {"-s", path, "-a", "0770"};  // memcached's spelling
    ServerProcess server(o);
    ASSERT_TRUE(server.Start());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << server.LogTail();
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0770u);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size());
    RawSocket u(reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ASSERT_TRUE(u.ok()) << server.LogTail();
    EXPECT_EQ(u.Exchange("set u 0 0 2\r\nux\r\nget u\r\n", "END\r\n"),
              "STORED\r\nVALUE u 0 2\r\nux\r\nEND\r\n");
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    const auto settings = c.Stats("settings");
    EXPECT_EQ(settings.at("domain_socket"), path);
    EXPECT_EQ(settings.at("umask"), "770");
    // A restart replaces the socket file the last run left.
    ASSERT_TRUE(ExitedWithZero(server.Stop()));
    ASSERT_TRUE(server.Start()) << server.LogTail();
  }
  std::filesystem::remove_all(dir);
}

// The same bytes to ssdcached and memcached, each started with `flags`; the replies read up to
// `terminator` (empty: until the server closes the connection).
std::string RunWith(Target target, const std::vector<std::string>& flags, std::string_view request,
                    std::string_view terminator) {
  ServerOptions o;
  o.target = target;
  o.ssdcached_extra_args = flags;
  o.memcached_extra_args = flags;
  ServerProcess server(o);
  if (!server.Start()) return "<no start>";
  Client c;
  if (!c.Connect(server.port())) return "<no connect>";
  if (terminator.empty()) {
    c.Send(request);
    // Closed with unread bytes, the peer may reset rather than end the stream: closed either way.
    std::string got = c.ReadUntilClosed();
    const bool closed = c.peer_closed() || c.error() == "connection reset by peer";
    return got + (closed ? "<closed>" : "<open>");
  }
  return c.Request(request, terminator);
}

void ExpectSameAsMemcached(const std::vector<std::string>& flags, std::string_view request,
                           std::string_view terminator, std::string_view expected) {
  const std::string ours = RunWith(Target::kSsdcached, flags, request, terminator);
  const std::string theirs = RunWith(Target::kMemcached, flags, request, terminator);
  EXPECT_EQ(Printable(ours), Printable(theirs)) << "flags " << flags[0];
  EXPECT_EQ(Printable(ours), Printable(expected)) << "flags " << flags[0];
}

TEST(CliDifferential, DisableFlushAll) {
  SKIP_UNLESS_SSDCACHED();
  ExpectSameAsMemcached({"-F"}, "flush_all\r\nflush_all 10\r\nflush_all noreply\r\nmn\r\n",
                        "MN\r\n",
                        "CLIENT_ERROR flush_all not allowed\r\n"
                        "CLIENT_ERROR flush_all not allowed\r\nMN\r\n");
  // Binary: status 0x20, "Auth failure.", as memcached -F answers a flush.
  const std::string flush = Req(0x08, {}, {}, {}, 0x01020304);
  const std::string noop = Req(0x0a, {}, {}, {}, 0x05060708);
  const std::string ours =
      RunWith(Target::kSsdcached, {"-F"}, flush + noop, Be(0x05060708, 4) + std::string(8, '\0'));
  const std::string theirs =
      RunWith(Target::kMemcached, {"-F"}, flush + noop, Be(0x05060708, 4) + std::string(8, '\0'));
  EXPECT_EQ(Printable(ours), Printable(theirs));
  ASSERT_GE(ours.size(), 24u);
  EXPECT_EQ(static_cast<uint8_t>(ours[7]), 0x20);
}

TEST(CliDifferential, DisableCas) {
  SKIP_UNLESS_SSDCACHED();
  ExpectSameAsMemcached(
      {"-C"},
      "set a 0 0 1\r\nx\r\ngets a\r\ncas a 0 0 1 0\r\nz\r\ncas a 0 0 1 5\r\nz\r\n"
      "cas b 0 0 1 0\r\nz\r\nms a 1 C0\r\nq\r\nms b 1 C0\r\nq\r\nmg a c v\r\nmn\r\n",
      "MN\r\n",
      "STORED\r\nVALUE a 0 1 0\r\nx\r\nEND\r\nEXISTS\r\nEXISTS\r\nNOT_FOUND\r\n"
      "EX\r\nNF\r\nVA 1 c0\r\nx\r\nMN\r\n");
  // Binary: a set with a cas is a plain set, and every cas in a reply is 0.
  const std::string extras = Be(0, 4) + Be(0, 4);
  const std::string script = Req(0x01, extras, "b", "v", 1) + Req(0x01, extras, "b", "w", 2, 7) +
                             Req(0x00, {}, "b", {}, 3) + Req(0x0a, {}, {}, {}, 4);
  const std::string end = Be(4, 4) + std::string(8, '\0');
  const std::string ours = RunWith(Target::kSsdcached, {"-C"}, script, end);
  EXPECT_EQ(Printable(ours), Printable(RunWith(Target::kMemcached, {"-C"}, script, end)));
  EXPECT_NE(ours.find("w"), std::string::npos);
}

TEST(CliDifferential, ShutdownNeedsEnableShutdown) {
  SKIP_UNLESS_SSDCACHED();
  ExpectSameAsMemcached({"-U", "0"}, "shutdown\r\nshutdown graceful\r\nmn\r\n", "MN\r\n",
                        "ERROR: shutdown not enabled\r\nERROR: shutdown not enabled\r\nMN\r\n");
  ExpectSameAsMemcached({"-A"}, "shutdown now\r\nshutdown graceful x\r\nmn\r\n", "MN\r\n",
                        "CLIENT_ERROR invalid shutdown mode\r\n"
                        "CLIENT_ERROR invalid shutdown mode\r\nMN\r\n");
}

TEST(Cli, ShutdownCommandStopsCleanly) {
  SKIP_UNLESS_SSDCACHED();
  for (const std::string command : {"shutdown\r\n", "shutdown graceful\r\n"}) {
    for (const Target target : {Target::kSsdcached, Target::kMemcached}) {
      ServerOptions o;
      o.target = target;
      o.ssdcached_extra_args = o.memcached_extra_args = {"-A"};
      ServerProcess server(o);
      ASSERT_TRUE(server.Start());
      Client c;
      ASSERT_TRUE(c.Connect(server.port()));
      ASSERT_EQ(c.Request("set k 0 0 1\r\nv\r\n"), "STORED\r\n");
      ASSERT_TRUE(c.Send(command));
      EXPECT_EQ(c.ReadUntilClosed(), "") << TargetName(target);  // no reply, as memcached
      EXPECT_TRUE(c.peer_closed()) << TargetName(target);
      for (int i = 0; i < 200 && server.running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      EXPECT_FALSE(server.running()) << TargetName(target) << " still runs after " << command;
      if (target == Target::kSsdcached) {
        // A clean stop: the item is back after a restart.
        ASSERT_TRUE(server.Start());
        Client again;
        ASSERT_TRUE(again.Connect(server.port()));
        EXPECT_EQ(again.Get("get k\r\n"), "VALUE k 0 1\r\nv\r\nEND\r\n");
      }
    }
  }
}

TEST(CliDifferential, ForcedProtocols) {
  SKIP_UNLESS_SSDCACHED();
  // -B ascii: a binary request is a line of text; its newline brings ERROR.
  const std::string get = Req(0x00, {}, "k", {}, 9);
  ExpectSameAsMemcached({"-B", "ascii"}, get + "\r\nmn\r\n", "MN\r\n", "ERROR\r\nMN\r\n");
  // -B binary: text is a bad magic; the connection is closed without a reply.
  ExpectSameAsMemcached({"-B", "binary"}, "get k\r\nget k\r\nget k\r\nget k\r\n", "", "<closed>");
  // -B auto still detects each connection's protocol.
  ExpectSameAsMemcached({"-B", "auto"}, "mn\r\n", "MN\r\n", "MN\r\n");
}

// -M: when the device is full of live items, stores are refused instead of evicting them; every
// item acknowledged stays readable.
TEST(Cli, DisableEvictionsRefusesInsteadOfEvicting) {
  SKIP_UNLESS_SSDCACHED();
  for (const bool disable : {true, false}) {
    ServerOptions o;
    o.device_size = "16M";
    o.memory_mib = 2;
    o.ssdcached_extra_args = {"-I", "256K", "--journal-size", "64K"};
    if (disable) o.ssdcached_extra_args.push_back("-M");
    ServerProcess server(o);
    ASSERT_TRUE(server.Start());
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    const std::string value(1000, 'v');
    int stored = 0;
    bool refused = false;
    // 16 MiB hold about 15,000 such items: 40,000 fill the device twice over.
    for (int batch = 0; batch < 400 && !refused; ++batch) {
      std::string req;
      for (int i = 0; i < 100; ++i) {
        req += "set key" + std::to_string(batch * 100 + i) + " 0 0 1000\r\n" + value + "\r\n";
      }
      ASSERT_TRUE(c.Send(req));
      for (int i = 0; i < 100; ++i) {
        const std::string line = c.ReadLine();
        if (line == "STORED\r\n" && !refused) {
          ++stored;
        } else if (line == "SERVER_ERROR out of memory storing object\r\n") {
          refused = true;
        } else if (line != "STORED\r\n") {
          FAIL() << "unexpected reply " << Printable(line);
        }
      }
    }
    const auto stats = c.Stats();
    if (!disable) {
      EXPECT_FALSE(refused);  // without -M the oldest slabs are evicted
      EXPECT_NE(stats.at("evictions"), "0");
      EXPECT_EQ(stats.at("store_no_memory"), "0");
      continue;
    }
    ASSERT_TRUE(refused) << "stored " << stored << " without a refusal";
    EXPECT_EQ(stats.at("evictions"), "0");
    EXPECT_NE(stats.at("store_no_memory"), "0");  // memcached counts its refusals there too
    EXPECT_EQ(c.Stats("settings").at("evictions"), "off");
    // Every acknowledged item is still there.
    for (int first = 0; first < stored; first += 100) {
      std::string req = "get";
      for (int k = first; k < std::min(first + 100, stored); ++k) req += " key" + std::to_string(k);
      const std::string reply = c.Get(req + "\r\n");
      EXPECT_EQ(std::count(reply.begin(), reply.end(), '\n'),
                2 * (std::min(first + 100, stored) - first) + 1)
          << "items " << first << "..: " << Printable(reply, 200);
    }
    // A delete frees nothing at once (the slab still holds live items) but the server stays up.
    EXPECT_EQ(c.Request("delete key0\r\n"), "DELETED\r\n");
  }
}

}  // namespace
}  // namespace ssdcache::integration
