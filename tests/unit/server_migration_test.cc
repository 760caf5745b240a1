// Command-line migration (server/migration.h): memcached's and fatcache's command lines parse
// unchanged, each clashing letter resolved by its argument's shape, flags without effect noted.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/config.h"
#include "storage/item.h"

namespace ssdcache::server {
namespace {

struct Parsed {
  ParseResult result = ParseResult::kError;
  Config config;
  std::string out;
  std::string error;
  std::vector<std::string> notes;
};

Parsed Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ssdcached");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  Parsed p;
  p.result = ParseCommandLine(static_cast<int>(args.size()), argv.data(), p.config, p.out, p.error,
                              &p.notes);
  return p;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

Parsed Ok(std::vector<std::string> args) {
  Parsed p = Parse(args);
  EXPECT_EQ(p.result, ParseResult::kRun) << Join(args) << ": " << p.error;
  return p;
}

std::string Listen(const Config& c) { return util::ListenList().Show(c.listen); }

TEST(Migration, DashOIsALogFileUnlessItLooksLikeMemcachedsExtendedOptions) {
  // The defect: `-o modern` wrote a log file named ./modern.
  Parsed p = Ok({"-o", "modern"});
  EXPECT_EQ(p.config.log_file, "");
  EXPECT_TRUE(p.config.extended.empty());
  EXPECT_TRUE(p.notes.empty());  // memcached's modern changes nothing either
  EXPECT_EQ(Ok({"-o", "idle_timeout=7"}).config.idle_timeout_s, 7u);
  EXPECT_EQ(Ok({"-o", "modern,hashpower=20"}).config.hash_power, 20u);
  EXPECT_EQ(Ok({"-omodern,idle_timeout=3"}).config.idle_timeout_s, 3u);
  p = Ok({"-o", "lru_crawler,ext_path=/mnt/x:1G", "-o", "track_sizes"});
  EXPECT_EQ(p.config.extended,
            (std::vector<std::string>{"lru_crawler", "ext_path=/mnt/x:1G", "track_sizes"}));
  ASSERT_EQ(p.notes.size(), 1u);  // one line for them all
  EXPECT_NE(p.notes[0].find("track_sizes"), std::string::npos);
  EXPECT_EQ(Ok({"-o", "/var/log/ssd.log"}).config.log_file, "/var/log/ssd.log");
  EXPECT_EQ(Ok({"-o", "ssd.log"}).config.log_file, "ssd.log");
  EXPECT_EQ(Ok({"-o", "modernlog"}).config.log_file, "modernlog");
  EXPECT_EQ(Ok({"--log-file", "modern"}).config.log_file, "modern");
  // An unknown name in memcached's shape is an error, as in memcached, not a file.
  p = Parse({"-o", "no_such_thing=1"});
  EXPECT_EQ(p.result, ParseResult::kError);
  EXPECT_NE(p.error.find("-o"), std::string::npos) << p.error;
  EXPECT_EQ(Parse({"-o", "idle_timeout=x"}).result, ParseResult::kError);
}

TEST(Migration, DashSIsAServerIdOrAUnixSocket) {
  Parsed p = Ok({"-s", "2/4"});
  EXPECT_EQ(p.config.slice.index, 2u);
  EXPECT_EQ(p.config.slice.count, 4u);
  EXPECT_EQ(p.config.unix_socket, "");
  for (const std::string path : {"/var/run/memcached.sock", "mc.sock", "3/x", "./0/1"}) {
    p = Ok({"-s", path});
    EXPECT_EQ(p.config.unix_socket, path);
    EXPECT_EQ(p.config.slice.count, 1u) << path;
  }
  EXPECT_EQ(Ok({"-s/tmp/a.sock"}).config.unix_socket, "/tmp/a.sock");
  EXPECT_EQ(Ok({"--unix-socket", "/tmp/b.sock"}).config.unix_socket, "/tmp/b.sock");
  EXPECT_EQ(Parse({"-s", "4/4"}).result, ParseResult::kError);  // a server id, out of range
}

TEST(Migration, DashDIsADeviceUnlessOnePunctuationCharacter) {
  // The defect: `-D :` created a device file named ':'.
  Parsed p = Ok({"-D", ":"});
  EXPECT_EQ(p.config.device_path, "./data/ssdcache.dat");
  EXPECT_EQ(p.config.stats_delimiter, ":");
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_EQ(Ok({"-D", "#"}).config.stats_delimiter, "#");
  EXPECT_EQ(Ok({"-D", "/dev/nvme0n1"}).config.device_path, "/dev/nvme0n1");
  EXPECT_EQ(Ok({"-D", "x"}).config.device_path, "x");
  EXPECT_EQ(Ok({"-D", "::"}).config.device_path, "::");
}

TEST(Migration, DashAIsAnAddressOrAnOctalMask) {
  EXPECT_EQ(Ok({"-a", "0770"}).config.unix_mask, 0770u);
  EXPECT_EQ(Ok({"-a", "755"}).config.unix_mask, 0755u);
  EXPECT_EQ(Ok({"--unix-mask", "600"}).config.unix_mask, 0600u);
  EXPECT_EQ(Listen(Ok({"-a", "0.0.0.0"}).config), "0.0.0.0");
  EXPECT_EQ(Listen(Ok({"-a", "localhost"}).config), "localhost");
  EXPECT_EQ(Parse({"-a", "0.0.0.0"}).config.unix_mask, 0700u);
}

TEST(Migration, DashEIsAHashPowerOrAMemoryFile) {
  EXPECT_EQ(Ok({"-e", "20"}).config.hash_power, 20u);
  Parsed p = Ok({"-e", "/dev/shm/memcached"});
  EXPECT_EQ(p.config.memory_file, "/dev/shm/memcached");
  EXPECT_EQ(p.config.hash_power, 0u);
  EXPECT_EQ(p.notes.size(), 1u);
}

TEST(Migration, DashIIsAnIndexSizeOnlyWithDigits) {
  EXPECT_EQ(Ok({"-i", "32"}).config.engine.max_index_memory, 32ULL << 20);
  EXPECT_EQ(Ok({"-i32"}).config.engine.max_index_memory, 32ULL << 20);
  for (const auto& args : {std::vector<std::string>{"-i"}, {"-i", "-p", "1"}, {"-p", "1", "-i"}}) {
    Parsed p = Parse(args);
    EXPECT_EQ(p.result, ParseResult::kExit) << Join(args);  // memcached's -i: the license
    EXPECT_NE(p.out.find("licenses"), std::string::npos) << p.out;
  }
}

TEST(Migration, CapitalIIsMibForFatcacheAndBytesForMemcached) {
  struct Case {
    std::vector<std::string> args;
    uint32_t slab;
    bool noted;
  };
  const std::vector<Case> cases = {
      {{"-I", "2"}, 2u << 20, false},        // fatcache: MiB
      {{"-I", "16"}, 16u << 20, false},      //
      {{"-I", "2m"}, 2u << 20, false},       // memcached: bytes
      {{"-I", "1048576"}, 1u << 20, false},  //
      {{"-I", "512k"}, 512u << 10, false},   //
      {{"-I", "5m"}, 8u << 20, true},        // rounded up to a power of two
      {{"-I", "100K"}, 128u << 10, true},    //
      {{"-I", "1500000"}, 2u << 20, true},   //
      {{"--max-item-size", "3m"}, 4u << 20, true},
      {{"--max-item-size=1m"}, 1u << 20, false},
      {{"--slab-size", "4"}, 4u << 20, false},
  };
  for (const Case& c : cases) {
    Parsed p = Ok(c.args);
    EXPECT_EQ(p.config.engine.slab_size, c.slab) << Join(c.args);
    EXPECT_EQ(p.notes.size(), c.noted ? 1u : 0u) << Join(c.args);
  }
  EXPECT_EQ(Parse({"-I", "3"}).result, ParseResult::kError);    // 3 MiB: fatcache's, no rounding
  EXPECT_EQ(Parse({"-I", "32m"}).result, ParseResult::kError);  // beyond the largest slab
}

TEST(Migration, SmallDashNIsMemcachedsSpaceWithoutTheHeader) {
  const uint32_t header = storage::kItemHeaderSize;
  EXPECT_EQ(Ok({"-n", "48"}).config.engine.min_item_size, 48 + header);
  EXPECT_EQ(Ok({"-n", "8"}).config.engine.min_item_size, 8 + header);
  EXPECT_EQ(Ok({"--slab-min-size", "64"}).config.engine.min_item_size, 64 + header);
  EXPECT_EQ(Ok({"-n", "56"}).config.engine.min_item_size, 56u);
  EXPECT_EQ(Ok({"-n", "100"}).config.engine.min_item_size, 100u);
  EXPECT_EQ(Ok({"--min-item-size", "100"}).config.engine.min_item_size, 100u);
}

TEST(Migration, ListenTakesListsIpv6NamesAndPortsAndAddsUp) {
  EXPECT_EQ(Listen(Ok({"-l", "127.0.0.1,localhost"}).config), "127.0.0.1,localhost");
  EXPECT_EQ(Listen(Ok({"-l", "::1"}).config), "::1");
  EXPECT_EQ(Listen(Ok({"-l", "[::1]"}).config), "::1");
  EXPECT_EQ(Listen(Ok({"-l", "[::1]:11311"}).config), "[::1]:11311");
  EXPECT_EQ(Listen(Ok({"-l", "localhost:11311;10.0.0.1"}).config), "localhost:11311,10.0.0.1");
  EXPECT_EQ(Listen(Ok({"-l", "a", "-l", "b,a", "--listen", "c"}).config), "a,b,c");
  const Config c = Ok({"-l", "[fe80::1%eth0]:5"}).config;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].host, "fe80::1%eth0");
  EXPECT_EQ(c.listen[0].port, 5);
}

TEST(Migration, MemcachedFlagsAreAcceptedAndNotedWhenWithoutEffect) {
  struct Case {
    std::vector<std::string> args;
    size_t notes;
    bool (*check)(const Config&);
  };
  const std::vector<Case> cases = {
      {{"-t", "4"}, 1, [](const Config& c) { return c.threads == 4; }},
      {{"-t", "1"}, 0, [](const Config& c) { return c.threads == 1; }},
      {{"-U", "0"}, 0, [](const Config& c) { return c.udp_port == 0; }},
      {{"-U", "11211"}, 1, [](const Config& c) { return c.udp_port == 11211; }},
      {{"-L"}, 1, [](const Config& c) { return c.large_pages; }},
      {{"-N", "2"}, 1, [](const Config& c) { return c.napi_ids == 2; }},
      {{"-W"}, 0, [](const Config& c) { return c.disable_watch; }},
      {{"-k"}, 0, [](const Config& c) { return c.lock_memory; }},
      {{"-r"}, 0, [](const Config& c) { return c.core_dumps; }},
      {{"-B", "ascii"}, 0, [](const Config& c) { return c.protocol == WireProtocol::kAscii; }},
      {{"-B", "binary"}, 0, [](const Config& c) { return c.protocol == WireProtocol::kBinary; }},
      {{"-B", "auto"}, 0, [](const Config& c) { return c.protocol == WireProtocol::kAuto; }},
      {{"-F"}, 0, [](const Config& c) { return c.disable_flush_all; }},
      {{"-X"}, 0, [](const Config& c) { return c.disable_dumping; }},
      {{"-A"}, 0, [](const Config& c) { return c.enable_shutdown; }},
      {{"-C"}, 0, [](const Config& c) { return c.engine.disable_cas; }},
      {{"-M"}, 0, [](const Config& c) { return c.engine.disable_evictions; }},
      {{"-R", "20"}, 0, [](const Config& c) { return c.reqs_per_event == 20; }},
      {{"-b", "512"}, 0, [](const Config& c) { return c.listen_backlog == 512; }},
      {{"--conn-limit", "9"}, 0, [](const Config& c) { return c.max_connections == 9; }},
      {{"--memory-limit", "128"},
       0,
       [](const Config& c) { return c.engine.max_memory == 128ULL << 20; }},
      {{"--daemon"}, 0, [](const Config& c) { return c.daemonize; }},
      {{"--pidfile", "/tmp/p"}, 0, [](const Config& c) { return c.pid_file == "/tmp/p"; }},
      {{"-vvv"}, 0, [](const Config& c) { return c.verbosity == 3; }},
  };
  for (const Case& c : cases) {
    Parsed p = Ok(c.args);
    EXPECT_TRUE(c.check(p.config)) << Join(c.args);
    EXPECT_EQ(p.notes.size(), c.notes) << Join(c.args);
  }
}

// Every long flag of memcached 1.6.18's -h parses (the refused ones aside).
TEST(Migration, EveryMemcachedLongFlagIsKnown) {
  const std::vector<std::vector<std::string>> flags = {
      {"--port=11211"},
      {"--udp-port=0"},
      {"--unix-socket=/tmp/m.sock"},
      {"--unix-mask=700"},
      {"--enable-shutdown"},
      {"--listen=127.0.0.1"},
      {"--daemon"},
      {"--enable-coredumps"},
      {"--user=nobody"},
      {"--memory-limit=64"},
      {"--disable-evictions"},
      {"--conn-limit=1024"},
      {"--lock-memory"},
      {"--verbose"},
      {"--pidfile=/tmp/p"},
      {"--slab-growth-factor=1.25"},
      {"--slab-min-size=48"},
      {"--enable-largepages"},
      {"--threads=4"},
      {"--max-reqs-per-event=20"},
      {"--disable-cas"},
      {"--listen-backlog=1024"},
      {"--protocol=auto"},
      {"--max-item-size=1m"},
      {"--disable-flush-all"},
      {"--disable-dumping"},
      {"--disable-watch"},
      {"--memory-file=/dev/shm/x"},
      {"--extended=modern"},
      {"--napi_ids=1"},
  };
  for (const auto& args : flags) Ok(args);
  EXPECT_EQ(Parse({"--license"}).result, ParseResult::kExit);
}

TEST(Migration, AuthenticationIsRefusedNotIgnored) {
  for (const auto& args : {std::vector<std::string>{"-S"}, {"-Y", "/etc/auth"}}) {
    Parsed p = Parse(args);
    EXPECT_EQ(p.result, ParseResult::kError) << Join(args);
    EXPECT_NE(p.error.find("not supported"), std::string::npos) << p.error;
  }
}

TEST(Migration, TlsTakesMemcachedsSslOptions) {
  // -Z without a certificate is refused at once, not at the first connection.
  Parsed p = Parse({"-Z"});
  EXPECT_EQ(p.result, ParseResult::kError);
  EXPECT_NE(p.error.find("certificate chain"), std::string::npos) << p.error;
  p = Ok({"-Z", "-o",
          "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=2,ssl_min_version=3,ssl_ca_cert=/"
          "ca.pem,ssl_ciphers=HIGH:!aNULL,ssl_keyformat=1,ssl_session_cache"});
  EXPECT_TRUE(p.config.tls);
  EXPECT_EQ(p.config.ssl_chain_cert, "/c.pem");
  EXPECT_EQ(p.config.ssl_key, "/k.pem");
  EXPECT_EQ(p.config.ssl_verify_mode, 2u);
  EXPECT_EQ(p.config.ssl_min_version, 3u);
  EXPECT_EQ(p.config.ssl_ca_cert, "/ca.pem");
  EXPECT_EQ(p.config.ssl_ciphers, "HIGH:!aNULL");
  // What ssdcached does not do is accepted and noted, as the other extended options.
  EXPECT_EQ(p.config.extended, std::vector<std::string>{"ssl_session_cache"});
  // `stats settings` shows them as memcached does.
  std::string settings;
  AppendSettings(p.config, settings);
  EXPECT_NE(settings.find("STAT ssl_enabled yes\r\n"), std::string::npos) << settings;
  EXPECT_NE(settings.find("STAT ssl_verify_mode 3\r\n"), std::string::npos) << settings;
  EXPECT_NE(settings.find("STAT ssl_min_version tlsv1.3\r\n"), std::string::npos) << settings;
  EXPECT_NE(settings.find("STAT ssl_chain_cert /c.pem\r\n"), std::string::npos) << settings;
  EXPECT_EQ(Parse({"-o", "ssl_verify_mode=4"}).result, ParseResult::kError);
  // memcached's notls: prefix keeps a listener plain.
  p = Ok({"-Z", "-o", "ssl_chain_cert=/c.pem", "-l", "127.0.0.1,notls:[::1]:11212"});
  ASSERT_EQ(p.config.listen.size(), 2u);
  EXPECT_FALSE(p.config.listen[0].notls);
  EXPECT_TRUE(p.config.listen[1].notls);
  EXPECT_EQ(p.config.listen[1].host, "::1");
  EXPECT_EQ(p.config.listen[1].port, 11212);
  // memcached's long name for -o works the same.
  p = Ok({"--enable-ssl", "--extended=ssl_chain_cert=/c.pem,idle_timeout=5"});
  EXPECT_EQ(p.config.ssl_chain_cert, "/c.pem");
  EXPECT_EQ(p.config.idle_timeout_s, 5u);
}

TEST(Migration, WholeMemcachedAndFatcacheCommandLines) {
  // Debian's /etc/memcached.conf, as its init script passes it.
  Parsed p = Ok({"-m", "64", "-p", "11211", "-u", "memcache", "-l", "127.0.0.1", "-P",
                 "/var/run/memcached/memcached.pid"});
  EXPECT_EQ(p.config.user, "memcache");
  p = Ok({"-m", "1024", "-c", "4096", "-t", "4", "-U", "0", "-o", "modern,idle_timeout=600", "-I",
          "2m", "-v", "-s", "/var/run/mc.sock", "-a", "0766", "-B", "ascii"});
  EXPECT_EQ(p.config.unix_socket, "/var/run/mc.sock");
  EXPECT_EQ(p.config.unix_mask, 0766u);
  EXPECT_EQ(p.config.idle_timeout_s, 600u);
  EXPECT_EQ(p.config.engine.slab_size, 2u << 20);
  // fatcache's README example.
  p = Ok({"-D", "/dev/sdb", "-p", "11211", "-m", "64", "-s", "0/8", "-e",
          "20", "-i",       "32", "-n",    "88", "-I", "1",  "-o",  "/var/log/fc.log",
          "-a", "0.0.0.0"});
  EXPECT_EQ(p.config.device_path, "/dev/sdb");
  EXPECT_EQ(p.config.slice.count, 8u);
  EXPECT_EQ(p.config.engine.min_item_size, 88u);
  EXPECT_EQ(p.config.log_file, "/var/log/fc.log");
  EXPECT_EQ(Listen(p.config), "0.0.0.0");
}

TEST(Migration, SettingsShowTheProtectionsAsMemcachedNamesThem) {
  std::string out;
  AppendSettings(Ok({"-F", "-X", "-C", "-M", "-A", "-B", "binary", "-R", "20", "-b", "64"}).config,
                 out);
  for (const char* line :
       {"flush_enabled no", "dump_enabled no", "cas_enabled no", "evictions off",
        "shutdown_command yes", "binding_protocol binary", "reqs_per_event 20", "tcp_backlog 64"}) {
    EXPECT_NE(out.find(std::string("STAT ") + line + "\r\n"), std::string::npos) << line << out;
  }
  out.clear();
  AppendSettings(Config{}, out);
  for (const char* line :
       {"flush_enabled yes", "dump_enabled yes", "cas_enabled yes", "evictions on",
        "shutdown_command no", "binding_protocol auto-negotiate"}) {
    EXPECT_NE(out.find(std::string("STAT ") + line + "\r\n"), std::string::npos) << line << out;
  }
}

}  // namespace
}  // namespace ssdcache::server
