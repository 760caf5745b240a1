// Process lifecycle: SIGTERM, restart on the same device, command-line flags.
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

TEST(Lifecycle, SigtermExitsZero) {
  ServerProcess server;
  ASSERT_TRUE(server.Start());
  Client busy;
  ASSERT_TRUE(busy.Connect(server.port()));
  ASSERT_EQ(busy.Request("set k 0 0 5\r\nhello\r\n"), "STORED\r\n");
  // An idle connection and a half-sent request must not keep the server from exiting.
  Client idle;
  ASSERT_TRUE(idle.Connect(server.port()));
  Client partial;
  ASSERT_TRUE(partial.Connect(server.port()));
  ASSERT_TRUE(partial.Send("set half 0 0 10\r\nabc"));
  ASSERT_TRUE(FullyMatches(busy.Request("version\r\n"), kVersionLine));
  int status = server.Stop();
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\nlog:\n" << server.LogTail();
  // The connections were closed by the exit.
  EXPECT_EQ(idle.ReadUntilClosed(), "");
  EXPECT_TRUE(idle.peer_closed());
}

TEST(Lifecycle, SigtermRightAfterStart) {
  ServerProcess server;
  ASSERT_TRUE(server.Start());
  int status = server.Stop();
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\nlog:\n" << server.LogTail();
}

TEST(Lifecycle, RestartOnSameDevice) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server;
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    for (int i = 0; i < 100; ++i) {
      std::string k = "restart" + std::to_string(i);
      ASSERT_EQ(c.Request("set " + k + " " + std::to_string(i) + " 0 " + std::to_string(k.size()) +
                          "\r\n" + k + "\r\n"),
                "STORED\r\n");
    }
  }
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\nlog:\n" << server.LogTail();
  // Same temp dir, same device file.
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_TRUE(FullyMatches(c.Request("version\r\n"), kVersionLine));
  // A clean shutdown wrote the memory slabs: every acknowledged item is back (warm restart).
  for (int i = 0; i < 100; ++i) {
    std::string k = "restart" + std::to_string(i);
    EXPECT_EQ(c.Get("get " + k + "\r\n"), ValueBlock(k, i, k) + "END\r\n");
  }
  ASSERT_EQ(c.Request("set after 0 0 1\r\nx\r\n"), "STORED\r\n");
  EXPECT_EQ(c.Get("get after\r\n"), ValueBlock("after", 0, "x") + "END\r\n");
  status = server.Stop();
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\nlog:\n" << server.LogTail();
}

TEST(Lifecycle, KilledServerCanRestartOnSameDevice) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server;
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_EQ(c.Request("set k 0 0 1\r\nx\r\n"), "STORED\r\n");
  }
  server.Kill();
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_TRUE(EqualsAnyOf(c.Get("get k\r\n"), {"END\r\n", ValueBlock("k", 0, "x") + "END\r\n"}));
}

// ssdcached's command line (see src/server/config.h): bad values exit 2, --help/--version exit 0.
class Flags : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_UNLESS_SSDCACHED();
    ASSERT_FALSE(SsdcachedBinary().empty()) << "SSDCACHED_BIN is not set";
  }
  int Run(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), SsdcachedBinary());
    return RunToExit(args, out);
  }
};

TEST_F(Flags, HelpAndVersionExitZero) {
  std::string out;
  int status = Run({"--help"}, &out);
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << out;
  EXPECT_NE(out.find("--device-size"), std::string::npos) << out;
  status = Run({"--version"}, &out);
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << out;
  EXPECT_FALSE(out.empty());
}

TEST_F(Flags, BadValuesExitTwo) {
  std::string dir = MakeTempDir("ssdcache-flags");
  ASSERT_FALSE(dir.empty());
  const std::string dev = dir + "/dev.dat";
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"-p", "0", "-D", dev, "--device-size", "lots"},
           {"-p", "0", "-D", dev, "--device-size", "64M", "-m", "-5"},
           {"-p", "99999", "-D", dev, "--device-size", "64M"},
           {"-p", "0", "-D", dev, "--device-size", "64M", "--no-such-flag"},
       }) {
    std::string out;
    int status = Run(args, &out);
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2)
        << "ssdcached" << cmd << ": " << DescribeStatus(status) << "\n"
        << out;
    EXPECT_FALSE(out.empty()) << "ssdcached" << cmd << " printed no error";
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_F(Flags, DeviceSizeIsHonoured) {
  ServerOptions options;
  options.device_size = "32M";
  ServerProcess server(options);
  ASSERT_TRUE(server.Start());
  std::error_code ec;
  auto size = std::filesystem::file_size(server.device_path(), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(size, 32u << 20);
}

}  // namespace
}  // namespace ssdcache::integration
