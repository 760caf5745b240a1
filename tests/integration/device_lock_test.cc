// Two writers on one device: a second ssdcached on a slice that is in use is refused (exit 2, one
// line) and the first keeps serving, without growing the file; disjoint slices (-s 0/2 and -s 1/2)
// run side by side; a slice of another geometry than the one slice 0 was formatted with is
// refused, naming it; and a start refused for what the device holds leaves the file as it was.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

class DeviceLock : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_UNLESS_SSDCACHED();
    ASSERT_FALSE(SsdcachedBinary().empty()) << "SSDCACHED_BIN is not set";
  }

  // Runs ssdcached on `device` with `args` until it exits (a start that should be refused).
  static int RunOn(const std::string& device, std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {
        SsdcachedBinary(), "-p", "0", "-l", "127.0.0.1", "-D", device, "-m", "8"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunToExit(argv, out);
  }

  static bool ExitedWithTwo(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 2; }

  // The error line the refused start printed ("ssdcached: ..."), or "" if there is none.
  static std::string ErrorLine(const std::string& out) {
    size_t at = out.rfind("ssdcached: ");
    if (at == std::string::npos) return "";
    size_t end = out.find('\n', at);
    // The message is the last thing printed: nothing but the newline may follow it.
    if (end != std::string::npos && end + 1 != out.size()) return "";
    return out.substr(at, end == std::string::npos ? std::string::npos : end - at);
  }

  static uint64_t FileSize(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    EXPECT_FALSE(ec) << path << ": " << ec.message();
    return ec ? 0 : static_cast<uint64_t>(size);
  }

  static void StoreAndRead(int port, const std::string& key) {
    Client c;
    ASSERT_TRUE(c.Connect(port));
    ASSERT_EQ(c.Request("set " + key + " 0 0 2\r\nok\r\n"), "STORED\r\n");
    EXPECT_EQ(c.Get("get " + key + "\r\n"), ValueBlock(key, 0, "ok") + "END\r\n");
  }
};

TEST_F(DeviceLock, SecondServerOnTheSameSliceIsRefusedAndTheFirstKeepsServing) {
  ServerProcess first;
  ASSERT_TRUE(first.Start());
  StoreAndRead(first.port(), "before");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--device-size", "64M"},
           {"--device-size", "64M", "--format"},   // the lock comes before the wipe
           {"--device-size", "128M"},              // and before the file grows
           {"--device-size", "64M", "-s", "1/2"},  // overlaps the whole-device slice 0/1
       }) {
    std::string out;
    int status = RunOn(first.device_path(), args, &out);
    EXPECT_TRUE(ExitedWithTwo(status)) << args.back() << ": " << DescribeStatus(status) << "\n"
                                       << out;
    std::string line = ErrorLine(out);
    EXPECT_NE(line.find(first.device_path()), std::string::npos) << out;
    EXPECT_NE(line.find("in use"), std::string::npos) << out;
  }
  EXPECT_EQ(FileSize(first.device_path()), 64u << 20);
  ASSERT_TRUE(first.running()) << first.LogTail();
  StoreAndRead(first.port(), "after");
  Client c;
  ASSERT_TRUE(c.Connect(first.port()));
  EXPECT_EQ(c.Get("get before\r\n"), ValueBlock("before", 0, "ok") + "END\r\n");
  EXPECT_TRUE(ExitedWithZero(first.Stop())) << first.LogTail();
}

TEST_F(DeviceLock, DisjointSlicesRunTogether) {
  ServerOptions zero;
  zero.ssdcached_extra_args = {"-s", "0/2"};
  ServerProcess slice0(zero);
  ASSERT_TRUE(slice0.Start());
  ServerOptions one;
  one.ssdcached_extra_args = {"-s", "1/2", "-D", slice0.device_path()};
  ServerProcess slice1(one);
  ASSERT_TRUE(slice1.Start()) << slice1.LogTail();
  StoreAndRead(slice0.port(), "zero");
  StoreAndRead(slice1.port(), "one");
  // A second opener of either slice is still refused.
  std::string out;
  int status = RunOn(slice0.device_path(), {"--device-size", "64M", "-s", "1/2"}, &out);
  EXPECT_TRUE(ExitedWithTwo(status)) << DescribeStatus(status) << "\n" << out;
  EXPECT_NE(ErrorLine(out).find("in use"), std::string::npos) << out;
  EXPECT_TRUE(ExitedWithZero(slice1.Stop())) << slice1.LogTail();
  EXPECT_TRUE(ExitedWithZero(slice0.Stop())) << slice0.LogTail();
}

TEST_F(DeviceLock, SliceOfAnotherGeometryIsRefusedNamingIt) {
  ServerProcess whole;  // formats the device as -s 0/1
  ASSERT_TRUE(whole.Start());
  StoreAndRead(whole.port(), "k");
  ASSERT_TRUE(ExitedWithZero(whole.Stop())) << whole.LogTail();
  const std::string dev = whole.device_path();
  auto expect_refused = [&](std::vector<std::string> args) {
    std::string out;
    int status = RunOn(dev, args, &out);
    EXPECT_TRUE(ExitedWithTwo(status)) << DescribeStatus(status) << "\n" << out;
    std::string line = ErrorLine(out);
    EXPECT_NE(line.find("-s 0/1"), std::string::npos) << out;
    EXPECT_NE(line.find("--format"), std::string::npos) << out;
  };
  // Slice 1's region is still blank: it used to be formatted silently over slice 0/1's slabs.
  expect_refused({"--device-size", "64M", "-s", "1/2"});
  // --format of slice 1 alone would still mix two geometries on the device.
  expect_refused({"--device-size", "64M", "-s", "1/2", "--format"});
  // Once slice 1's region holds slab data of the 0/1 run, the refusal must still name the
  // geometry (it used to say "holds no valid ssdcache superblock").
  {
    int fd = ::open(dev.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::string slab(4096, 'x');
    ASSERT_EQ(::pwrite(fd, slab.data(), slab.size(), 32 << 20), 4096);
    ::close(fd);
  }
  expect_refused({"--device-size", "64M", "-s", "1/2"});
  // The device still restarts warm with the geometry it was formatted with.
  ASSERT_TRUE(whole.Start());
  Client c;
  ASSERT_TRUE(c.Connect(whole.port()));
  EXPECT_EQ(c.Get("get k\r\n"), ValueBlock("k", 0, "ok") + "END\r\n");
  ASSERT_TRUE(ExitedWithZero(whole.Stop())) << whole.LogTail();
  // Changing N: slice 0 first, with --format; then slice 1 (whose region holds old data) too.
  ServerOptions zero;
  zero.ssdcached_extra_args = {"-s", "0/2", "--format", "-D", dev};
  ServerProcess slice0(zero);
  ASSERT_TRUE(slice0.Start()) << slice0.LogTail();
  ServerOptions one;
  one.ssdcached_extra_args = {"-s", "1/2", "--format", "-D", dev};
  ServerProcess slice1(one);
  ASSERT_TRUE(slice1.Start()) << slice1.LogTail();
  StoreAndRead(slice1.port(), "one");
}

TEST_F(DeviceLock, RefusedStartLeavesTheFileSizeUnchanged) {
  ServerProcess first;  // 64M
  ASSERT_TRUE(first.Start());
  const std::string dev = first.device_path();
  ASSERT_EQ(FileSize(dev), 64u << 20);
  ASSERT_TRUE(ExitedWithZero(first.Stop())) << first.LogTail();
  // Refused for the size the device was formatted with.
  std::string out;
  int status = RunOn(dev, {"--device-size", "128M"}, &out);
  EXPECT_TRUE(ExitedWithTwo(status)) << DescribeStatus(status) << "\n" << out;
  EXPECT_NE(ErrorLine(out).find("--format"), std::string::npos) << out;
  EXPECT_EQ(FileSize(dev), 64u << 20) << out;
  // Refused because the file holds something else: it is not grown either.
  const std::string foreign = first.temp_dir() + "/foreign.dat";
  {
    int fd = ::open(foreign.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::string text = "not a cache device\n";
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  status = RunOn(foreign, {"--device-size", "64M"}, &out);
  EXPECT_TRUE(ExitedWithTwo(status)) << DescribeStatus(status) << "\n" << out;
  EXPECT_EQ(FileSize(foreign), 19u) << out;
}

}  // namespace
}  // namespace ssdcache::integration
