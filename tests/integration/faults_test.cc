// ssdcached under injected IO faults (SSDCACHE_FAULTS, see src/storage/fault.h): failed or short
// device reads are misses counted in read_errors; failed slab writes lose their items (misses,
// write_errors) but never let an older version come back; stalled IO delays only the clients
// waiting for it. In every case each value returned is exactly the last one written for its key,
// and the server keeps answering. No test depends on how fast the machine is: the only clock is
// the client's receive timeout, far above anything the server needs.
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

// A value that names its key and version, so any reply can be checked for being that key's.
std::string VersionedValue(int key, uint32_t version, size_t size) {
  std::string v = "f" + std::to_string(key) + "v" + std::to_string(version) + ":";
  uint64_t x = static_cast<uint64_t>(key) * 2654435761ULL + version;
  while (v.size() < size) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    v.push_back(static_cast<char>('a' + (x >> 59)));
  }
  return v;
}

size_t SizeFor(int key, uint32_t version) { return 50 + (key * 131 + version * 977) % 6000; }

std::string Key(int key) { return "f" + std::to_string(key); }

std::string SetCommand(int key, uint32_t version) {
  std::string value = VersionedValue(key, version, SizeFor(key, version));
  return "set " + Key(key) + " " + std::to_string(version) + " 0 " + std::to_string(value.size()) +
         "\r\n" + value + "\r\n";
}

// 64 MiB device in 255 disk slabs of 256 KiB; -m 8 holds 32 memory slabs, so ~24 MiB of values
// puts most of them on the device without any eviction.
ServerOptions FaultOptions(const std::string& faults) {
  ServerOptions o;
  o.device_size = "64M";
  o.memory_mib = 8;
  o.ssdcached_extra_args = {"-I", "256K"};
  if (!faults.empty()) o.env = {"SSDCACHE_FAULTS=" + faults};
  return o;
}

constexpr int kKeys = 8000;  // ~24 MiB of values

// Sets keys [0, n) to `version`, pipelined in batches.
::testing::AssertionResult WriteAll(Client& c, int n, uint32_t version) {
  for (int base = 0; base < n; base += 50) {
    std::string batch;
    int end = std::min(n, base + 50);
    for (int k = base; k < end; ++k) batch += SetCommand(k, version);
    if (!c.Send(batch)) return ::testing::AssertionFailure() << "send: " << c.error();
    for (int k = base; k < end; ++k) {
      std::string line = c.ReadLine();
      if (line != "STORED\r\n") {
        return ::testing::AssertionFailure()
               << "set " << Key(k) << ": " << Printable(line) << " " << c.error();
      }
    }
  }
  return ::testing::AssertionSuccess();
}

struct ReadBack {
  int hits = 0;
  int misses = 0;
};

// Gets keys [first, last) in multi-gets of 100 and checks every VALUE: the key asked for, in
// order, with exactly the bytes of version `version[k]`. Misses are allowed.
::testing::AssertionResult ReadAll(Client& c, int first, int last,
                                   const std::vector<uint32_t>& version, ReadBack& out) {
  for (int base = first; base < last; base += 100) {
    int end = std::min(last, base + 100);
    std::string get = "get";
    for (int k = base; k < end; ++k) get += " " + Key(k);
    std::string reply = c.Get(get + "\r\n");
    if (!c.error().empty()) return ::testing::AssertionFailure() << "get: " << c.error();
    std::string_view rest(reply);
    int next = base;
    ParsedValue v;
    while (PopValue(rest, v)) {
      const std::string& key = v.key;
      const uint32_t flags = v.flags;
      const std::string_view data = v.data;
      int k = std::stoi(key.substr(1));
      if (k < next || k >= end) {
        return ::testing::AssertionFailure() << "unexpected or out-of-order key " << key;
      }
      out.misses += k - next;
      next = k + 1;
      if (flags != version[k]) {
        return ::testing::AssertionFailure()
               << key << " came back as version " << flags << ", last written " << version[k];
      }
      if (data != VersionedValue(k, flags, SizeFor(k, flags))) {
        return ::testing::AssertionFailure()
               << key << " version " << flags << " has wrong bytes: " << Printable(data, 80);
      }
      ++out.hits;
    }
    out.misses += end - next;
    if (rest != "END\r\n") {
      return ::testing::AssertionFailure() << "reply does not end in END: " << Printable(rest);
    }
  }
  return ::testing::AssertionSuccess();
}

// The server answers a plain command on a fresh connection.
void ExpectServing(ServerProcess& server) {
  ASSERT_TRUE(server.running()) << server.LogTail();
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  EXPECT_EQ(c.Request("version\r\n").rfind("VERSION ", 0), 0u);
  EXPECT_EQ(c.Request("set probe 0 0 2\r\nok\r\n"), "STORED\r\n");
  EXPECT_EQ(c.Get("get probe\r\n"), ValueBlock("probe", 0, "ok") + "END\r\n");
}

TEST(FaultInjection, InvalidSpecIsAStartUpErrorWithOneLine) {
  SKIP_UNLESS_SSDCACHED();
  std::string dir = MakeTempDir("ssdcache-faults");
  ASSERT_FALSE(dir.empty());
  // RunToExit passes the test's own environment on.
  ASSERT_EQ(::setenv("SSDCACHE_FAULTS", "read_eio=2", 1), 0);
  std::string output;
  int status = RunToExit({SsdcachedBinary(), "-p", "0", "-l", "127.0.0.1", "-D", dir + "/dev.dat",
                          "--device-size", "64M", "-m", "8"},
                         &output);
  ::unsetenv("SSDCACHE_FAULTS");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  ASSERT_TRUE(WIFEXITED(status)) << DescribeStatus(status) << "\n" << output;
  EXPECT_EQ(WEXITSTATUS(status), 2) << output;
  EXPECT_NE(output.find("SSDCACHE_FAULTS"), std::string::npos) << output;
  EXPECT_NE(output.find("read_eio"), std::string::npos) << output;
  // One line: the error itself (start-up logs before it are allowed, but not after).
  ASSERT_FALSE(output.empty());
  std::string last = output.substr(0, output.size() - 1);
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  EXPECT_NE(last.find("SSDCACHE_FAULTS"), std::string::npos) << output;
}

TEST(FaultInjection, ActiveFaultsAreLoggedAsAWarning) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(FaultOptions("read_eio=0.5,seed=9"));
  ASSERT_TRUE(server.Start());
  ExpectServing(server);
  EXPECT_NE(server.LogTail(100000).find("injecting IO faults (read_eio=0.5"), std::string::npos)
      << server.LogTail();
}

TEST(FaultInjection, ReadErrorsAreCountedMissesAndNeverWrongValues) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(FaultOptions("read_eio=0.3,read_short=0.1,seed=1"));
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  std::vector<uint32_t> version(kKeys, 1);
  ASSERT_TRUE(WriteAll(c, kKeys, 1));
  auto before = c.Stats();
  ASSERT_EQ(StatNum(before, "evictions"), 0u) << "the test needs every item to stay";
  ASSERT_EQ(StatNum(before, "write_errors"), 0u);
  ReadBack rb;
  ASSERT_TRUE(ReadAll(c, 0, kKeys, version, rb));
  auto after = c.Stats();
  EXPECT_GT(rb.hits, 0);
  EXPECT_GT(rb.misses, 0);
  // Nothing was evicted, so each miss is one failed device read, and each was counted.
  EXPECT_EQ(StatNum(after, "read_errors") - StatNum(before, "read_errors"),
            static_cast<uint64_t>(rb.misses));
  EXPECT_EQ(StatNum(after, "checksum_errors"), 0u);
  EXPECT_EQ(StatNum(after, "get_misses") - StatNum(before, "get_misses"),
            static_cast<uint64_t>(rb.misses));
  EXPECT_GT(StatNum(after, "aio_errors"), 0u);
  // A failed read does not drop the item.
  EXPECT_EQ(StatNum(after, "curr_items"), static_cast<uint64_t>(kKeys));
  // A second pass meets other faults and is just as exact.
  ReadBack again;
  ASSERT_TRUE(ReadAll(c, 0, kKeys, version, again));
  EXPECT_GT(again.hits, 0);
  ExpectServing(server);
  int status = server.Stop();
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
}

TEST(FaultInjection, FailedSlabWritesLoseItemsButNeverReturnAnOlderVersion) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(FaultOptions("write_eio=0.05,write_short=0.03,seed=2"));
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  // Version 1 of every key, then version 2: a lost version 2 must be a miss, never version 1.
  std::vector<uint32_t> version(kKeys, 1);
  ASSERT_TRUE(WriteAll(c, kKeys, 1));
  version.assign(kKeys, 2);
  ASSERT_TRUE(WriteAll(c, kKeys, 2));
  ReadBack rb;
  ASSERT_TRUE(ReadAll(c, 0, kKeys, version, rb));
  auto stats = c.Stats();
  EXPECT_GT(StatNum(stats, "write_errors"), 0u);
  EXPECT_GT(StatNum(stats, "slab_writes"), 0u);
  EXPECT_EQ(StatNum(stats, "checksum_errors"), 0u);
  EXPECT_EQ(StatNum(stats, "read_errors"), 0u);
  EXPECT_GT(rb.hits, 0);
  EXPECT_GT(rb.misses, 0);
  // curr_items counts what is really there: every live item is a hit (reads do not fail here).
  EXPECT_EQ(StatNum(stats, "curr_items"), static_cast<uint64_t>(rb.hits));
  ExpectServing(server);
  // Version 3 of the keys lost: still only exact values.
  for (int k = 0; k < kKeys; k += 3) {
    version[k] = 3;
    ASSERT_EQ(c.Request(SetCommand(k, 3)), "STORED\r\n");
  }
  ReadBack rb3;
  ASSERT_TRUE(ReadAll(c, 0, kKeys, version, rb3));
  EXPECT_GT(rb3.hits, 0);
  ExpectServing(server);
  // Shutdown reports the failed writes in its exit status.
  int status = server.Stop();
  ASSERT_TRUE(WIFEXITED(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  EXPECT_EQ(WEXITSTATUS(status), 1) << server.LogTail();
}

// Journal writes failing (journal_eio): an overwrite of a key whose value is on the device waits
// for its journal entry; when that write fails the client gets SERVER_ERROR (never STORED), the key
// becomes a miss rather than serving the value that was not acknowledged, the failure is counted,
// and the server keeps serving, also across a restart. Device mode: only there are journal
// entries written with aio (in process mode they are stored into a mapping, no IO to fail).
TEST(FaultInjection, FailedJournalWritesAnswerServerErrorAndNeverAStaleValue) {
  SKIP_UNLESS_SSDCACHED();
  ServerOptions options = FaultOptions("journal_eio=0.3,seed=5");
  options.ssdcached_extra_args.insert(options.ssdcached_extra_args.end(),
                                      {"--journal-sync", "device"});
  ServerProcess server(options);
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  constexpr int kJournalKeys = 4000;  // ~12 MiB: most of version 1 is on the device
  std::vector<uint32_t> version(kJournalKeys, 1);
  ASSERT_TRUE(WriteAll(c, kJournalKeys, 1));
  int stored = 0, errors = 0;
  for (int base = 0; base < kJournalKeys; base += 50) {
    std::string batch;
    for (int k = base; k < base + 50; ++k) batch += SetCommand(k, 2);
    ASSERT_TRUE(c.Send(batch)) << c.error();
    for (int k = base; k < base + 50; ++k) {
      std::string line = c.ReadLine();
      if (line == "STORED\r\n") {
        ++stored;
        version[k] = 2;
      } else {
        ASSERT_EQ(line, "SERVER_ERROR journal write failed\r\n") << Key(k) << " " << c.error();
        ++errors;
        version[k] = 0;  // must be a miss: any VALUE fails ReadAll
      }
    }
  }
  EXPECT_GT(stored, 0);
  EXPECT_GT(errors, 0);
  ReadBack rb;
  ASSERT_TRUE(ReadAll(c, 0, kJournalKeys, version, rb));
  EXPECT_GE(rb.misses, errors);
  auto stats = c.Stats();
  EXPECT_GT(StatNum(stats, "journal_errors"), 0u);
  EXPECT_EQ(StatNum(stats, "journal_undone"), static_cast<uint64_t>(errors));
  EXPECT_GT(StatNum(stats, "journal_writes"), 0u);
  EXPECT_EQ(StatNum(stats, "write_errors"), 0u);
  ExpectServing(server);
  // A clean restart keeps it so: the failed versions are misses, the others version 2.
  c.Close();
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  ASSERT_TRUE(server.Start());
  Client again;
  ASSERT_TRUE(again.Connect(server.port()));
  ReadBack rb2;
  ASSERT_TRUE(ReadAll(again, 0, kJournalKeys, version, rb2));
  EXPECT_EQ(rb2.hits, stored);
  EXPECT_TRUE(ExitedWithZero(server.Stop()));
}

TEST(FaultInjection, EveryWriteFailingLeavesAServingMemoryOnlyCache) {
  SKIP_UNLESS_SSDCACHED();
  // Every slab write fails: each memory slab's items are lost as it is written, and its disk slab
  // comes back for the next one (none is ever retired). -m 2 holds 8 memory slabs for the ~20
  // classes the values use, so stores often find every buffer open in another class: they must
  // still never hang (the failed write that frees a buffer wakes them), and reads never return a
  // wrong value.
  ServerOptions o = FaultOptions("write_eio=1");
  o.memory_mib = 2;
  ServerProcess server(o);
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  std::vector<uint32_t> version(kKeys, 0);
  uint32_t round = 0;
  // Rounds until the failed writes outnumber the disk slabs: with retirement none would be left.
  for (uint64_t disks = 1, errors = 0; errors <= disks && round < 20;) {
    ++round;
    version.assign(kKeys, round);
    ASSERT_TRUE(WriteAll(c, kKeys, round)) << "round " << round;
    auto stats = c.Stats();
    disks = StatNum(stats, "disk_slabs_free") + StatNum(stats, "disk_slabs_used");
    errors = StatNum(stats, "write_errors");
  }
  auto stats = c.Stats();
  EXPECT_GT(StatNum(stats, "write_errors"), StatNum(stats, "disk_slabs_free"));
  EXPECT_GT(StatNum(stats, "disk_slabs_free"), 0u) << "failed writes used up the disk slabs";
  EXPECT_EQ(StatNum(stats, "slab_writes"), 0u);
  EXPECT_GT(StatNum(stats, "evictions"), 0u) << "the items lost with the writes are counted";
  ReadBack rb;
  ASSERT_TRUE(ReadAll(c, 0, kKeys, version, rb));
  EXPECT_GT(rb.misses, 0);
  EXPECT_EQ(StatNum(c.Stats(), "curr_items"), static_cast<uint64_t>(rb.hits));
  ExpectServing(server);
  int status = server.Stop();
  ASSERT_TRUE(WIFEXITED(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

TEST(FaultInjection, ConcurrentClientsUnderMixedFaultsOnlySeeTheirLastWrites) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(FaultOptions(
      "read_eio=0.1,read_short=0.05,write_eio=0.03,write_short=0.02,stall=0.05,stall_ms=20,"
      "seed=5"));
  ASSERT_TRUE(server.Start());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;  // 4 x 2500 keys, each written ~3 times: ~60 MiB
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c;
      if (!c.Connect(server.port())) {
        failures[t] = "connect failed";
        return;
      }
      // Each thread owns keys [t * kPerThread, (t + 1) * kPerThread).
      const int first = t * kPerThread;
      std::vector<uint32_t> version(kThreads * kPerThread, 0);
      std::mt19937 rng(t + 1);
      for (int op = 0; op < 3 * kPerThread; ++op) {
        int k = first + static_cast<int>(rng() % kPerThread);
        if (rng() % 4 == 0 && version[k] > 0) {
          ReadBack rb;
          auto ok = ReadAll(c, k, k + 1, version, rb);
          if (!ok) {
            failures[t] = ok.message();
            return;
          }
        } else {
          ++version[k];
          std::string reply = c.Request(SetCommand(k, version[k]));
          if (reply != "STORED\r\n") {
            failures[t] = "set " + Key(k) + ": " + Printable(reply) + " " + c.error();
            return;
          }
        }
      }
      ReadBack rb;
      auto ok = ReadAll(c, first, first + kPerThread, version, rb);
      if (!ok) failures[t] = ok.message();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  auto stats = c.Stats();
  EXPECT_GT(StatNum(stats, "read_errors"), 0u);
  EXPECT_GT(StatNum(stats, "write_errors"), 0u);
  EXPECT_EQ(StatNum(stats, "checksum_errors"), 0u);
  ExpectServing(server);
}

// Writes every key with faults off, then restarts the server on the same device with `faults`:
// the warm restart reads the device directly, so every item is on the device and every get of
// one goes through the (stalled) aio path.
class FaultStallTest : public ::testing::Test {
 protected:
  void StartWithFaults(const std::string& faults) {
    writer_ = std::make_unique<ServerProcess>(FaultOptions(""));
    ASSERT_TRUE(writer_->Start());
    {
      Client c;
      ASSERT_TRUE(c.Connect(writer_->port()));
      ASSERT_TRUE(WriteAll(c, kKeys, 1));
    }
    int status = writer_->Stop();
    ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << writer_->LogTail();
    ServerOptions o = FaultOptions(faults);
    o.ssdcached_extra_args.insert(o.ssdcached_extra_args.end(), {"-D", writer_->device_path()});
    server_ = std::make_unique<ServerProcess>(o);
    ASSERT_TRUE(server_->Start());
    Client c;
    ASSERT_TRUE(c.Connect(server_->port()));
    auto stats = c.Stats();
    ASSERT_EQ(StatNum(stats, "curr_items"), static_cast<uint64_t>(kKeys)) << server_->LogTail();
  }

  std::unique_ptr<ServerProcess> writer_;  // owns the device file
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(FaultStallTest, OtherClientsAreServedWhileReadsAreStalled) {
  SKIP_UNLESS_SSDCACHED();
  // Every IO is held for a minute: far longer than the whole test may take.
  ASSERT_NO_FATAL_FAILURE(StartWithFaults("stall=1,stall_ms=60000"));
  Client a;
  ASSERT_TRUE(a.Connect(server_->port()));
  ASSERT_TRUE(a.Send("get f1 f2 f3\r\n"));
  Client b;
  ASSERT_TRUE(b.Connect(server_->port()));
  // Wait (bounded by attempts, not by time) until the server has started A's three device reads.
  uint64_t started = 0;
  for (int i = 0; i < 2000 && started < 3; ++i) {
    auto stats = b.Stats();
    started = StatNum(stats, "reads_device");
    if (started < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(started, 3u);
  // B is answered (within its receive timeout) although A's device reads cannot complete yet.
  EXPECT_EQ(b.Request("version\r\n").rfind("VERSION ", 0), 0u) << b.error();
  EXPECT_EQ(b.Request("set fresh 0 0 5\r\nhello\r\n"), "STORED\r\n");
  EXPECT_EQ(b.Get("get fresh\r\n"), ValueBlock("fresh", 0, "hello") + "END\r\n");
  auto stats = b.Stats();
  EXPECT_GE(StatNum(stats, "aio_in_flight"), 1u);
  EXPECT_EQ(StatNum(stats, "reads_device"), 3u);
  // A got nothing: its reply waits for the stalled reads (the next minute).
  EXPECT_EQ(a.Drain(std::chrono::milliseconds(100)), "");
  a.Close();
  // Shutdown does not wait the stalls out: the server exits within Stop()'s 10 s.
  int status = server_->Stop();
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server_->LogTail();
}

TEST_F(FaultStallTest, StalledReadsAreDeliveredOnceWithTheRightValues) {
  SKIP_UNLESS_SSDCACHED();
  ASSERT_NO_FATAL_FAILURE(StartWithFaults("stall=0.5,stall_ms=200,read_eio=0.05,seed=3"));
  std::vector<uint32_t> version(kKeys, 1);
  // Two clients read halves of the keys at the same time, plus one that only pings.
  std::string fail_a, fail_b;
  ReadBack rb_a, rb_b;
  std::thread ta([&] {
    Client c;
    if (!c.Connect(server_->port())) return void(fail_a = "connect");
    auto ok = ReadAll(c, 0, kKeys / 2, version, rb_a);
    if (!ok) fail_a = ok.message();
  });
  std::thread tb([&] {
    Client c;
    if (!c.Connect(server_->port())) return void(fail_b = "connect");
    auto ok = ReadAll(c, kKeys / 2, kKeys, version, rb_b);
    if (!ok) fail_b = ok.message();
  });
  Client p;
  ASSERT_TRUE(p.Connect(server_->port()));
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(p.Request("version\r\n").rfind("VERSION ", 0), 0u) << p.error();
  }
  ta.join();
  tb.join();
  EXPECT_EQ(fail_a, "");
  EXPECT_EQ(fail_b, "");
  EXPECT_GT(rb_a.hits + rb_b.hits, 0);
  auto stats = p.Stats();
  EXPECT_EQ(StatNum(stats, "read_errors"), static_cast<uint64_t>(rb_a.misses + rb_b.misses));
  EXPECT_EQ(StatNum(stats, "reads_device"), static_cast<uint64_t>(kKeys));
  EXPECT_EQ(StatNum(stats, "aio_in_flight"), 0u);
  ExpectServing(*server_);
  int status = server_->Stop();
  EXPECT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server_->LogTail();
}

}  // namespace
}  // namespace ssdcache::integration
