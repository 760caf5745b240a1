// The process as an operator runs it: -d (daemon) with relative paths, log rotation by SIGHUP when
// the log file cannot be opened again, and what -v and -vv log.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

using namespace std::chrono_literals;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls up to 10 s until `path` contains `text`.
bool WaitForText(const std::string& path, const std::string& text) {
  for (int i = 0; i < 1000; ++i) {
    if (Slurp(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// A process that is gone or a zombie (a daemon's parent is init, which reaps it when it will).
bool Gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  const std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || stat.compare(paren, 3, ") Z") == 0;
}

// Kills the daemon if the test stops half-way.
struct DaemonGuard {
  pid_t pid = -1;
  ~DaemonGuard() {
    if (pid > 0 && !Gone(pid)) ::kill(pid, SIGKILL);
  }
};

TEST(Daemon, ChangesToRootAfterMakingPathsAbsolute) {
  SKIP_UNLESS_SSDCACHED();
  const std::string dir = MakeTempDir("ssdcache-daemon");
  ASSERT_FALSE(dir.empty());
  // Started from `dir` with every path relative to it.
  const std::string command = "cd '" + dir + "' && exec '" + SsdcachedBinary() +
                              "' -d -p 0 -l 127.0.0.1 -D dev.dat --device-size 64M -m 8 -i 8 "
                              "-o ssd.log -P ssd.pid";
  std::string out;
  const int status = RunToExit({"/bin/sh", "-c", command}, &out, 20s);
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << out;
  DaemonGuard daemon;
  daemon.pid = std::atoi(Slurp(dir + "/ssd.pid").c_str());
  ASSERT_GT(daemon.pid, 0) << "no pid file in " << dir;
  ASSERT_TRUE(WaitForText(dir + "/ssd.log", "listening on")) << Slurp(dir + "/ssd.log");
  std::smatch port;
  const std::string log = Slurp(dir + "/ssd.log");
  ASSERT_TRUE(std::regex_search(log, port, std::regex(R"(listening on 127\.0\.0\.1:(\d+))")));

  std::error_code ec;
  const auto cwd =
      std::filesystem::read_symlink("/proc/" + std::to_string(daemon.pid) + "/cwd", ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(cwd, "/");
  Client c;
  ASSERT_TRUE(c.Connect(std::stoi(port[1].str())));
  EXPECT_EQ(c.Request("set k 0 0 1\r\nv\r\n"), "STORED\r\n");
  EXPECT_EQ(c.Get("get k\r\n"), "VALUE k 0 1\r\nv\r\nEND\r\n");
  EXPECT_EQ(c.Stats("settings")["device"], dir + "/dev.dat");

  ASSERT_EQ(::kill(daemon.pid, SIGTERM), 0);
  for (int i = 0; i < 1000 && !Gone(daemon.pid); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(Gone(daemon.pid)) << "the daemon did not stop on SIGTERM";
  EXPECT_NE(Slurp(dir + "/ssd.log").find("shutdown complete"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/ssd.pid")) << "the pid file was not removed";
  EXPECT_TRUE(std::filesystem::exists(dir + "/dev.dat"));
  std::filesystem::remove_all(dir, ec);
}

TEST(LogFile, SighupWhoseReopenFailsSaysSoAndKeepsServing) {
  SKIP_UNLESS_SSDCACHED();
  const std::string dir = MakeTempDir("ssdcache-hup");
  ASSERT_FALSE(dir.empty());
  const std::string log = dir + "/ssd.log";
  ServerOptions o;
  o.ssdcached_extra_args = {"-o", log};
  ServerProcess server(o);
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(WaitForText(log, "listening on"));
  // A rotation moved the file away, and a directory now stands at its path: the open fails (also
  // for root).
  ASSERT_EQ(std::rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_EQ(::mkdir(log.c_str(), 0755), 0);
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  const std::string failed = "SIGHUP: cannot reopen the log file";
  EXPECT_TRUE(WaitForText(log + ".1", failed)) << Slurp(log + ".1");        // the previous file
  EXPECT_TRUE(WaitForText(server.log_path(), failed)) << server.LogTail();  // stderr
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_EQ(c.Request("set k 0 0 1\r\nv\r\n"), "STORED\r\n");
  // Once the path is free again, the next SIGHUP opens it.
  ASSERT_EQ(::rmdir(log.c_str()), 0);
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitForText(log, "SIGHUP: log reopened")) << Slurp(log);
  EXPECT_EQ(c.Get("get k\r\n"), "VALUE k 0 1\r\nv\r\nEND\r\n");
  EXPECT_TRUE(ExitedWithZero(server.Stop())) << server.LogTail();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// -v logs connections (debug), -vv every request too (trace), as docs/operations.md says.
TEST(LogFile, VerbosityLevels) {
  SKIP_UNLESS_SSDCACHED();
  const std::string dir = MakeTempDir("ssdcache-verbose");
  ASSERT_FALSE(dir.empty());
  for (const char* level : {"-v", "-vv"}) {
    const std::string log = dir + "/ssd" + level + ".log";
    ServerOptions o;
    o.ssdcached_extra_args = {level, "-o", log};
    ServerProcess server(o);
    ASSERT_TRUE(server.Start());
    {
      Client c;
      ASSERT_TRUE(c.Connect(server.port()));
      EXPECT_EQ(c.Get("get traced_key\r\n"), "END\r\n");
    }
    EXPECT_TRUE(ExitedWithZero(server.Stop())) << server.LogTail();
    const std::string text = Slurp(log);
    EXPECT_NE(text.find(" closed, "), std::string::npos) << level << ":\n" << text;
    const bool traced = text.find(": get traced_key\n") != std::string::npos;
    EXPECT_EQ(traced, std::string(level) == "-vv") << level << ":\n" << text;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ssdcache::integration
