#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "server/config.h"
#include "storage/item.h"
#include "storage/slab_class.h"

namespace ssdcache::server {
namespace {

struct Parsed {
  ParseResult result;
  Config config;
  std::string out;
  std::string error;
};

Parsed Parse(std::vector<std::string> args, Config config = {}) {
  args.insert(args.begin(), "ssdcached");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  Parsed p{ParseResult::kError, std::move(config), "", ""};
  p.result = ParseCommandLine(static_cast<int>(args.size()), argv.data(), p.config, p.out, p.error);
  return p;
}

// Parses and requires success, so each test states only what it checks.
Config Ok(std::vector<std::string> args) {
  Parsed p = Parse(args);
  EXPECT_EQ(p.result, ParseResult::kRun) << p.error;
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.out, "");
  return p.config;
}

std::string Listen(const Config& c) { return util::ListenList().Show(c.listen); }

std::string Join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

void ExpectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.listen, b.listen);
  EXPECT_EQ(a.max_connections, b.max_connections);
  EXPECT_EQ(a.idle_timeout_s, b.idle_timeout_s);
  EXPECT_EQ(a.device_path, b.device_path);
  EXPECT_EQ(a.device_size, b.device_size);
  EXPECT_EQ(a.slice.index, b.slice.index);
  EXPECT_EQ(a.slice.count, b.slice.count);
  EXPECT_EQ(a.engine.max_memory, b.engine.max_memory);
  EXPECT_EQ(a.engine.slab_size, b.engine.slab_size);
  EXPECT_EQ(a.engine.factor, b.engine.factor);
  EXPECT_EQ(a.engine.min_item_size, b.engine.min_item_size);
  EXPECT_EQ(a.engine.slab_profile, b.engine.slab_profile);
  EXPECT_EQ(a.engine.max_index_memory, b.engine.max_index_memory);
  EXPECT_EQ(a.hash_power, b.hash_power);
  EXPECT_EQ(a.max_aio, b.max_aio);
  EXPECT_EQ(a.engine.journal_size, b.engine.journal_size);
  EXPECT_EQ(a.engine.journal_sync, b.engine.journal_sync);
  EXPECT_EQ(a.verbosity, b.verbosity);
  EXPECT_EQ(a.log_file, b.log_file);
  EXPECT_EQ(a.daemonize, b.daemonize);
  EXPECT_EQ(a.pid_file, b.pid_file);
}

TEST(ServerConfig, NoArgumentsGiveTheDocumentedDefaults) {
  const Config c = Ok({});
  EXPECT_EQ(c.port, 11211);
  EXPECT_TRUE(c.listen.empty());  // the server listens on 127.0.0.1 then
  EXPECT_EQ(Listen(c), "127.0.0.1");
  EXPECT_EQ(c.max_connections, 1024u);
  EXPECT_EQ(c.idle_timeout_s, 0u);
  EXPECT_EQ(c.device_path, "./data/ssdcache.dat");
  EXPECT_EQ(c.device_size, 1ULL << 30);
  EXPECT_EQ(c.slice.index, 0u);
  EXPECT_EQ(c.slice.count, 1u);
  EXPECT_EQ(c.engine.max_memory, 64ULL << 20);
  EXPECT_EQ(c.engine.slab_size, 1u << 20);
  EXPECT_DOUBLE_EQ(c.engine.factor, 1.25);
  EXPECT_EQ(c.engine.min_item_size, 56u);
  EXPECT_TRUE(c.engine.slab_profile.empty());
  EXPECT_EQ(c.engine.max_index_memory, 64ULL << 20);
  EXPECT_EQ(c.hash_power, 0u);
  EXPECT_EQ(c.max_aio, 1024u);
  EXPECT_EQ(c.engine.journal_size, 4ULL << 20);
  EXPECT_EQ(c.engine.journal_sync, storage::JournalSync::kProcess);
  EXPECT_EQ(c.verbosity, 0);
  EXPECT_EQ(c.log_file, "");
  EXPECT_FALSE(c.daemonize);
  EXPECT_EQ(c.pid_file, "");
}

TEST(ServerConfig, ZeroArgcIsTreatedAsNoArguments) {
  Config c;
  std::string out, error;
  EXPECT_EQ(ParseCommandLine(0, nullptr, c, out, error), ParseResult::kRun) << error;
  ExpectSameConfig(c, Config{});
}

TEST(ServerConfig, FlagsNotGivenKeepTheCallersValues) {
  Config start;
  start.port = 9999;
  start.pid_file = "/run/x.pid";
  Parsed p = Parse({"-c", "7"}, start);
  ASSERT_EQ(p.result, ParseResult::kRun) << p.error;
  EXPECT_EQ(p.config.port, 9999);
  EXPECT_EQ(p.config.pid_file, "/run/x.pid");
  EXPECT_EQ(p.config.max_connections, 7u);
}

// Every flag, in its short and long spellings (and --long=value), lands in its field.
TEST(ServerConfig, EveryFlagShortAndLong) {
  struct Case {
    std::vector<std::string> short_form, long_form;
    bool (*check)(const Config&);
  };
  const std::vector<Case> cases = {
      {{"-p", "1234"}, {"--port", "1234"}, [](const Config& c) { return c.port == 1234; }},
      {{"-a", "0.0.0.0"},
       {"--addr", "0.0.0.0"},
       [](const Config& c) { return Listen(c) == "0.0.0.0"; }},
      {{"-c", "5"},
       {"--max-connections", "5"},
       [](const Config& c) { return c.max_connections == 5; }},
      {{"--idle-timeout", "30"},
       {"--idle-timeout=30"},
       [](const Config& c) { return c.idle_timeout_s == 30; }},
      {{"-D", "/tmp/x.dat"},
       {"--device", "/tmp/x.dat"},
       [](const Config& c) { return c.device_path == "/tmp/x.dat"; }},
      {{"--device-size", "2G"},
       {"--device-size=2G"},
       [](const Config& c) { return c.device_size == 2ULL << 30; }},
      {{"-s", "2/4"},
       {"--server-id", "2/4"},
       [](const Config& c) { return c.slice.index == 2 && c.slice.count == 4; }},
      {{"-m", "128"},
       {"--max-memory", "128"},
       [](const Config& c) { return c.engine.max_memory == 128ULL << 20; }},
      {{"-I", "2"},
       {"--slab-size", "2"},
       [](const Config& c) { return c.engine.slab_size == 2u << 20; }},
      {{"-f", "1.5"}, {"--factor", "1.5"}, [](const Config& c) { return c.engine.factor == 1.5; }},
      {{"-n", "64"},
       {"--min-item-size", "64"},
       [](const Config& c) { return c.engine.min_item_size == 64; }},
      {{"-z", "64,128,1K"},
       {"--slab-profile", "64,128,1K"},
       [](const Config& c) {
         return c.engine.slab_profile == std::vector<uint32_t>{64, 128, 1024};
       }},
      {{"-i", "32"},
       {"--max-index-memory", "32"},
       [](const Config& c) { return c.engine.max_index_memory == 32ULL << 20; }},
      {{"-e", "20"}, {"--hash-power", "20"}, [](const Config& c) { return c.hash_power == 20; }},
      {{"--max-aio", "256"}, {"--max-aio=256"}, [](const Config& c) { return c.max_aio == 256; }},
      {{"--journal-size", "64K"},
       {"--journal-size=64K"},
       [](const Config& c) { return c.engine.journal_size == 64ULL << 10; }},
      {{"--journal-sync", "device"},
       {"--journal-sync=device"},
       [](const Config& c) { return c.engine.journal_sync == storage::JournalSync::kDevice; }},
      {{"-v"}, {"--verbose"}, [](const Config& c) { return c.verbosity == 1; }},
      {{"-o", "/tmp/l.log"},
       {"--log-file", "/tmp/l.log"},
       [](const Config& c) { return c.log_file == "/tmp/l.log"; }},
      {{"-d"}, {"--daemonize"}, [](const Config& c) { return c.daemonize; }},
      {{"-P", "/tmp/p.pid"},
       {"--pid-file", "/tmp/p.pid"},
       [](const Config& c) { return c.pid_file == "/tmp/p.pid"; }},
  };
  for (const auto& c : cases) {
    for (const auto& args : {c.short_form, c.long_form}) {
      Parsed p = Parse(args);
      ASSERT_EQ(p.result, ParseResult::kRun) << Join(args) << ": " << p.error;
      EXPECT_TRUE(c.check(p.config)) << Join(args);
    }
  }
}

TEST(ServerConfig, AttachedShortValuesAndLongEquals) {
  EXPECT_EQ(Ok({"-p4321"}).port, 4321);
  EXPECT_EQ(Ok({"--port=4321"}).port, 4321);
  EXPECT_EQ(Ok({"--max-connections=9"}).max_connections, 9u);
}

TEST(ServerConfig, ListenAliases) {
  EXPECT_EQ(Listen(Ok({"-l", "10.0.0.1"})), "10.0.0.1");
  EXPECT_EQ(Listen(Ok({"--listen", "10.0.0.2"})), "10.0.0.2");
  EXPECT_EQ(Listen(Ok({"--addr", "0.0.0.0"})), "0.0.0.0");
}

TEST(ServerConfig, LastOccurrenceWins) {
  EXPECT_EQ(Ok({"-p", "1", "--port", "2", "-p", "3"}).port, 3);
  // Except -l, which adds up as in memcached (one listener each).
  EXPECT_EQ(Listen(Ok({"-l", "10.0.0.1", "-a", "10.0.0.9"})), "10.0.0.1,10.0.0.9");
}

TEST(ServerConfig, PortZeroMeansKernelPicks) { EXPECT_EQ(Ok({"-p", "0"}).port, 0); }

TEST(ServerConfig, VerboseCounts) {
  EXPECT_EQ(Ok({"-v"}).verbosity, 1);
  EXPECT_EQ(Ok({"-vv"}).verbosity, 2);
  EXPECT_EQ(Ok({"-vvv"}).verbosity, 3);
  EXPECT_EQ(Ok({"-v", "-v"}).verbosity, 2);
  EXPECT_EQ(Ok({"--verbose", "--verbose", "-v"}).verbosity, 3);
  EXPECT_EQ(Ok({"-dv"}).verbosity, 1);
}

TEST(ServerConfig, DeviceSizeSuffixes) {
  EXPECT_EQ(Ok({"--device-size", "8388608"}).device_size, 8ULL << 20);
  EXPECT_EQ(Ok({"--device-size", "8192K"}).device_size, 8ULL << 20);
  EXPECT_EQ(Ok({"--device-size", "8192k"}).device_size, 8ULL << 20);
  EXPECT_EQ(Ok({"--device-size", "512M"}).device_size, 512ULL << 20);
  EXPECT_EQ(Ok({"--device-size", "512m"}).device_size, 512ULL << 20);
  EXPECT_EQ(Ok({"--device-size", "3G"}).device_size, 3ULL << 30);
  EXPECT_EQ(Ok({"--device-size", "2T"}).device_size, 2ULL << 40);
  EXPECT_EQ(Ok({"--device-size", "1024T"}).device_size, 1024ULL << 40);
}

TEST(ServerConfig, SlabSizePlainIsMibSuffixedIsBytes) {
  EXPECT_EQ(Ok({"-I", "1"}).engine.slab_size, 1u << 20);
  EXPECT_EQ(Ok({"-I", "16"}).engine.slab_size, 16u << 20);
  EXPECT_EQ(Ok({"-I", "64K"}).engine.slab_size, 64u << 10);
  EXPECT_EQ(Ok({"-I", "512k"}).engine.slab_size, 512u << 10);
  EXPECT_EQ(Ok({"-I", "4M"}).engine.slab_size, 4u << 20);
  EXPECT_EQ(Ok({"-I", "4m"}).engine.slab_size, 4u << 20);
}

TEST(ServerConfig, ServerIdAccepted) {
  for (const auto& [text, i, n] : std::vector<std::tuple<std::string, uint32_t, uint32_t>>{
           {"0/1", 0, 1}, {"2/4", 2, 4}, {"3/4", 3, 4}, {"1023/1024", 1023, 1024}}) {
    const Config c = Ok({"-s", text});
    EXPECT_EQ(c.slice.index, i) << text;
    EXPECT_EQ(c.slice.count, n) << text;
  }
}

TEST(ServerConfig, ServerIdRejected) {
  for (const std::string text : {"4/4", "5/4", "x", "1/0", "0/0", "1", "1/", "/2", "-1/2", "1/2/3",
                                 "1 /2", "a/b", "", "0/1025", "+1/2"}) {
    Parsed p = Parse({"--server-id=" + text});
    EXPECT_EQ(p.result, ParseResult::kError) << text;
    EXPECT_NE(p.error.find("--server-id"), std::string::npos) << text << ": " << p.error;
  }
}

TEST(ServerConfig, SlabProfileWithFactorAndMinItem) {
  const Config c = Ok({"-n", "56", "-z", "56,80,160,512K"});
  EXPECT_EQ(c.engine.slab_profile, (std::vector<uint32_t>{56, 80, 160, 512u << 10}));
  EXPECT_EQ(c.engine.min_item_size, 56u);
  EXPECT_EQ(Ok({"-f", "4"}).engine.factor, 4.0);
  EXPECT_EQ(Ok({"-f", "1.1"}).engine.factor, 1.1);
}

TEST(ServerConfig, CombinationsAtTheirLimitsAreAccepted) {
  // 4 slabs of 16 MiB fill the default 64 MiB exactly.
  EXPECT_EQ(Ok({"-I", "16"}).engine.slab_size, 16u << 20);
  EXPECT_EQ(Ok({"-m", "2", "-I", "512K"}).engine.max_memory, 2ULL << 20);
  EXPECT_EQ(Ok({"-I", "64K", "-n", "32768"}).engine.min_item_size, 32768u);
}

// The parser refuses exactly the -f/-n/-I combinations the storage layer would refuse at start-up,
// so that error is reported against the flag instead.
TEST(ServerConfig, FactorCheckAgreesWithSlabClasses) {
  const std::vector<std::pair<std::string, uint32_t>> slabs = {
      {"64K", 64u << 10}, {"1M", 1u << 20}, {"16M", 16u << 20}};
  int accepted = 0, refused = 0;
  for (const auto& [slab, slab_bytes] : slabs) {
    const uint32_t max_chunk = (slab_bytes - storage::kSlabHeaderSize) / 8 * 8;
    for (const uint32_t min_item : {56u, 64u, 100u}) {
      for (int step = 0; step < 80; ++step) {
        const std::string factor = std::to_string(1.01 + step * 0.0025);
        Parsed p = Parse({"-I", slab, "-n", std::to_string(min_item), "-f", factor});
        std::string storage_error;
        const bool storage_ok = storage::SlabClasses::Geometric(min_item, p.config.engine.factor,
                                                                max_chunk, storage_error)
                                    .has_value();
        const std::string what = "-I " + slab + " -n " + std::to_string(min_item) + " -f " + factor;
        if (p.result == ParseResult::kRun) {
          ++accepted;
          EXPECT_TRUE(storage_ok) << what << ": " << storage_error;
        } else {
          ++refused;
          EXPECT_NE(p.error.find("--factor"), std::string::npos) << what << ": " << p.error;
          EXPECT_FALSE(
              storage::SlabClasses::Geometric(min_item, std::stod(factor), max_chunk, storage_error)
                  .has_value())
              << what;
        }
      }
    }
  }
  // Both sides of the boundary were exercised.
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

TEST(ServerConfig, ProfileFitsTheLargestChunk) {
  const uint32_t largest = ((64u << 10) - storage::kSlabHeaderSize) / 8 * 8;
  EXPECT_EQ(Ok({"-I", "64K", "-z", "64," + std::to_string(largest)}).engine.slab_profile.back(),
            largest);
  Parsed p = Parse({"-I", "64K", "-z", "64," + std::to_string(largest + 1)});
  EXPECT_EQ(p.result, ParseResult::kError);
  EXPECT_NE(p.error.find("--slab-profile"), std::string::npos) << p.error;
}

// Each bad value is refused with one line that names the flag (its long name), and the caller's
// config is left as it was.
TEST(ServerConfig, ValidationErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"-p", "65536"}, "--port"},
      {{"-p", "-1"}, "--port"},
      {{"-p", "abc"}, "--port"},
      {{"-p", "80x"}, "--port"},
      {{"-p", ""}, "--port"},
      {{"-p"}, "--port"},
      {{"-l", "1.2.3/4"}, "--listen"},
      {{"--listen", ""}, "--listen"},
      {{"-l", "[::1"}, "--listen"},
      {{"-l", "[::1]x"}, "--listen"},
      {{"-l", "host:70000"}, "--listen"},
      {{"-l", "a,,b"}, "--listen"},
      {{"--unix-mask", "800"}, "--unix-mask"},
      {{"-b", "0"}, "--listen-backlog"},
      {{"-B", "text"}, "--protocol"},
      {{"-R", "0"}, "--max-reqs-per-event"},
      {{"-t", "0"}, "--threads"},
      {{"-S"}, "--enable-sasl"},
      {{"-Z"}, "--enable-ssl"},
      {{"--ssl-verify-mode", "4"}, "--ssl-verify-mode"},
      {{"--ssl-min-version", "tlsv2"}, "--ssl-min-version"},
      {{"--ssl-keyformat", "3"}, "--ssl-keyformat"},
      {{"-Y", "/etc/auth"}, "--auth-file"},
      {{"--extended", "bogus"}, "--extended"},
      {{"-c", "0"}, "--max-connections"},
      {{"-c", "1048577"}, "--max-connections"},
      {{"--idle-timeout", "-5"}, "--idle-timeout"},
      {{"--idle-timeout", "2592001"}, "--idle-timeout"},
      {{"-D", ""}, "--device"},
      {{"--device-size", "abc"}, "--device-size"},
      {{"--device-size", "1X"}, "--device-size"},
      {{"--device-size", "G"}, "--device-size"},
      {{"--device-size", "1.5G"}, "--device-size"},
      {{"--device-size", "8388607"}, "--device-size"},
      {{"--device-size", "4M"}, "--device-size"},
      {{"--device-size", "1025T"}, "--device-size"},
      {{"--device-size", "99999999999999999999"}, "--device-size"},
      {{"--device-size", "16777216T"}, "--device-size"},
      {{"-m", "1"}, "--max-memory"},
      {{"-m", "64M"}, "--max-memory"},
      {{"-m", "1048577"}, "--max-memory"},
      {{"-I", "0"}, "--slab-size"},
      {{"-I", "3"}, "--slab-size"},  // fatcache's MiB, which must be a power of two
      {{"-I", "32"}, "--slab-size"},
      {{"-I", "32K"}, "--slab-size"},
      {{"-I", "1G"}, "--slab-size"},
      {{"-I", "big"}, "--slab-size"},
      {{"-f", "1"}, "--factor"},
      {{"-f", "1.0"}, "--factor"},
      {{"-f", "0.5"}, "--factor"},
      {{"-f", "4.01"}, "--factor"},
      {{"-f", "-2"}, "--factor"},
      {{"-f", "abc"}, "--factor"},
      {{"-f", "1.5x"}, "--factor"},
      {{"-f", "nan"}, "--factor"},
      {{"-f", "inf"}, "--factor"},
      {{"-n", "x"}, "--min-item-size"},
      {{"--min-item-size", "55"}, "--min-item-size"},
      {{"-z", ""}, "--slab-profile"},
      {{"-z", "64,64"}, "--slab-profile"},
      {{"-z", "128,64"}, "--slab-profile"},
      {{"-z", "49,52"}, "--slab-profile"},  // both round up to 56
      {{"-z", "64,,128"}, "--slab-profile"},
      {{"-z", "64,128,"}, "--slab-profile"},
      {{"-z", "64, 128"}, "--slab-profile"},
      {{"-z", "0,64"}, "--slab-profile"},
      {{"-z", "64,abc"}, "--slab-profile"},
      {{"-z", "64,32M"}, "--slab-profile"},
      {{"-i", "0"}, "--max-index-memory"},
      {{"-i", "1048577"}, "--max-index-memory"},
      {{"-e", "41"}, "--hash-power"},
      {{"--max-aio", "0"}, "--max-aio"},
      {{"--max-aio", "4097"}, "--max-aio"},
      {{"--journal-size", "60K"}, "--journal-size"},
      {{"--journal-size", "65537"}, "--journal-size"},
      {{"--journal-size", "2G"}, "--journal-size"},
      {{"--journal-size", "lots"}, "--journal-size"},
      {{"--journal-sync", "disk"}, "--journal-sync"},
      {{"--journal-sync", ""}, "--journal-sync"},
      {{"--journal-sync", "Process"}, "--journal-sync"},
      {{"-o", ""}, "--log-file"},
      {{"-P", ""}, "--pid-file"},
      // Combinations.
      {{"-I", "16", "-m", "63"}, "--max-memory"},
      {{"-I", "2", "-m", "7"}, "--max-memory"},
      {{"-I", "64K", "-n", "32769"}, "--min-item-size"},
      {{"-z", "32,64"}, "--slab-profile"},  // below the default -n 56
      {{"-n", "100", "-z", "64,128"}, "--slab-profile"},
      {{"-I", "64K", "-z", "64,65536"}, "--slab-profile"},  // no room left for the slab header
      {{"-f", "1.01"}, "--factor"},                         // more than 200 classes
  };
  Config start;
  start.port = 4242;  // a non-default value that must survive a failed parse
  for (const auto& c : cases) {
    Parsed p = Parse(c.args, start);
    EXPECT_EQ(p.result, ParseResult::kError) << Join(c.args);
    EXPECT_NE(p.error.find(c.flag), std::string::npos)
        << Join(c.args) << ": '" << p.error << "' does not name " << c.flag;
    EXPECT_EQ(p.error.find('\n'), std::string::npos) << Join(c.args) << ": " << p.error;
    EXPECT_EQ(p.out, "") << Join(c.args);
    ExpectSameConfig(p.config, start);
  }
}

TEST(ServerConfig, JournalSizeZeroTurnsTheJournalOff) {
  EXPECT_EQ(Ok({"--journal-size", "0"}).engine.journal_size, 0u);
  EXPECT_EQ(Ok({"--journal-size", "1G"}).engine.journal_size, 1ULL << 30);
}

TEST(ServerConfig, JournalSyncTakesProcessOrDeviceAndTheLastOneWins) {
  EXPECT_EQ(Ok({"--journal-sync", "device", "--journal-sync", "process"}).engine.journal_sync,
            storage::JournalSync::kProcess);
  Parsed p = Parse({"--journal-sync", "fsync"});
  EXPECT_EQ(p.result, ParseResult::kError);
  EXPECT_EQ(p.error, "--journal-sync: invalid value 'fsync' (expected process or device)");
}

TEST(ServerConfig, DeviceSizeMessageExplainsTheFormat) {
  Parsed p = Parse({"--device-size", "abc"});
  EXPECT_EQ(p.error,
            "--device-size: invalid size 'abc' (expected a number with an optional K, M, G or T "
            "suffix)");
}

TEST(ServerConfig, UnknownFlagsAndPositionalsAreErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--no-such-flag"}, {"-x"}, {"extra"}, {"-p", "1", "2"}, {"--daemonize=maybe"}}) {
    Parsed p = Parse(args);
    EXPECT_EQ(p.result, ParseResult::kError) << Join(args);
    EXPECT_FALSE(p.error.empty()) << Join(args);
    EXPECT_EQ(p.error.find('\n'), std::string::npos) << p.error;
  }
  EXPECT_NE(Parse({"--no-such-flag"}).error.find("--no-such-flag"), std::string::npos);
}

TEST(ServerConfig, HelpListsEveryFlagWithItsDefault) {
  for (const std::string flag : {"-h", "--help"}) {
    Parsed p = Parse({flag});
    ASSERT_EQ(p.result, ParseResult::kExit) << flag;
    EXPECT_EQ(p.error, "");
    ExpectSameConfig(p.config, Config{});
    const std::vector<std::pair<std::string, std::string>> flags = {
        {"-p,--port", "11211"},
        {"-l,--listen,--addr", "127.0.0.1"},
        {"-c,--max-connections,--conn-limit", "1024"},
        {"--idle-timeout", "0"},
        {"-D,--device", "./data/ssdcache.dat"},
        {"--device-size", "1G"},
        {"-s,--server-id", "0/1"},
        {"-m,--max-memory,--memory-limit", "64"},
        {"-I,--slab-size", "1M"},
        {"-f,--factor,--slab-growth-factor", "1.25"},
        {"-n,--min-item-size", "56"},
        {"-z,--slab-profile", "none"},
        {"-i,--max-index-memory", "64"},
        {"-e,--hash-power", "0"},
        {"--max-aio", "1024"},
        {"--journal-size", "4M"},
        {"--journal-sync", "process"},
        {"-v,--verbose", "0"},
        {"-o,--log-file", "stderr"},
        {"-d,--daemonize,--daemon", "off"},
        {"-P,--pid-file,--pidfile", "none"},
    };
    for (const auto& [names, def] : flags) {
      const size_t at = p.out.find("  " + names + " ");
      ASSERT_NE(at, std::string::npos) << names << " missing from:\n" << p.out;
      // A long flag list puts the help on the next line: up to the next flag.
      const std::string line = p.out.substr(at, p.out.find("\n  -", at + 1) - at);
      EXPECT_NE(line.find("(default: " + def + ")"), std::string::npos) << line;
    }
    EXPECT_NE(p.out.find("-V,--version"), std::string::npos);
    EXPECT_NE(p.out.find("fatcache"), std::string::npos);  // -e says why it is accepted
  }
}

// Every row of every option table is a flag in --help, with its default, and parses its own
// default back (what --help shows is what the flag accepts).
TEST(ServerConfig, EveryTableRowIsAFlagWhoseDefaultParses) {
  const Parsed help = Parse({"--help"});
  ASSERT_EQ(help.result, ParseResult::kExit);
  int rows = 0;
  Config defaults;
  VisitOptions(defaults, [&](auto& value, const util::OptionInfo& info, const auto& kind) {
    ++rows;
    std::string names = info.flags;
    const std::string first = names.substr(0, names.find(','));
    EXPECT_NE(help.out.find(first), std::string::npos) << first;
    EXPECT_NE(help.out.find("(default: " + kind.Show(value) + ")"), std::string::npos) << first;
    EXPECT_NE(std::string(info.help), "") << first;
    if constexpr (std::decay_t<decltype(kind)>::kTakesValue) {
      if (std::string(kind.Show(value)) == "none" || kind.Show(value) == "stderr") return;
      auto copy = value;
      std::string why;
      EXPECT_TRUE(kind.Parse(kind.Show(value), copy, why)) << first << ": " << why;
      EXPECT_EQ(kind.Show(copy), kind.Show(value)) << first;
    }
  });
  EXPECT_EQ(rows, 64);
}

// `stats settings` comes from the same rows, with raw values (bytes, not MiB), each name once.
TEST(ServerConfig, SettingsPrintEveryRowWithAStatName) {
  std::string out;
  AppendSettings(Config{}, out);
  for (const std::string line : {"maxbytes 67108864",    "maxconns 1024",
                                 "inter NULL",           "growth_factor 1.25",
                                 "chunk_size 56",        "slab_page_size 1048576",
                                 "idle_timeout 0",       "device ./data/ssdcache.dat",
                                 "server_id 0/1",        "index_max_bytes 67108864",
                                 "max_aio 1024",         "journal_size 4194304",
                                 "journal_sync process", "snapshot_size auto",
                                 "verbosity 0",          "reinsert on",
                                 "reinsert_share 20",    "admit off",
                                 "compact on",           "small_max 0",
                                 "small_share 25"}) {
    const std::string stat = "STAT " + line + "\r\n";
    const size_t at = out.find(stat);
    EXPECT_NE(at, std::string::npos) << stat << " missing from:\n" << out;
    const std::string name = "STAT " + line.substr(0, line.find(' ')) + " ";
    EXPECT_EQ(out.find(name, out.find(name) + 1), std::string::npos) << name << "twice";
  }
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 42);
  Config c = Ok({"-f", "1.5", "--journal-sync", "device", "-s", "1/3"});
  out.clear();
  AppendSettings(c, out);
  EXPECT_NE(out.find("STAT growth_factor 1.50\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("STAT journal_sync device\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("STAT server_id 1/3\r\n"), std::string::npos) << out;
}

// The engine's own defaults are the server's: one default per setting.
TEST(ServerConfig, EngineOptionsDefaultsAreTheServers) {
  const storage::EngineOptions e;
  const Config c = Ok({});
  EXPECT_EQ(e.journal_sync, storage::JournalSync::kProcess);
  EXPECT_EQ(e.journal_size, c.engine.journal_size);
  EXPECT_EQ(e.slab_size, c.engine.slab_size);
  EXPECT_EQ(e.max_memory, c.engine.max_memory);
  EXPECT_EQ(e.max_index_memory, c.engine.max_index_memory);
}

TEST(ServerConfig, HelpShowsTheCallersValuesAsDefaults) {
  Config start;
  start.port = 7777;
  Parsed p = Parse({"--help"}, start);
  ASSERT_EQ(p.result, ParseResult::kExit);
  EXPECT_NE(p.out.find("(default: 7777)"), std::string::npos) << p.out;
}

TEST(ServerConfig, HelpWinsOverOtherFlags) {
  EXPECT_EQ(Parse({"-p", "1", "--help"}).result, ParseResult::kExit);
}

TEST(ServerConfig, Version) {
  for (const std::string flag : {"-V", "--version"}) {
    Parsed p = Parse({flag});
    ASSERT_EQ(p.result, ParseResult::kExit) << flag;
    EXPECT_EQ(p.out, std::string("ssdcached ") + SSDCACHE_VERSION + "\n");
    EXPECT_EQ(p.error, "");
  }
}

// A metrics address that cannot be parsed is refused with the options, before the server opens
// (and would format) its device; without --metrics-port it is not used and not judged.
TEST(ServerConfig, ABadMetricsAddressIsRefusedWithTheOptions) {
  Parsed p = Parse({"--metrics-port", "9150", "--metrics-addr", "[::1"});
  EXPECT_EQ(p.result, ParseResult::kError);
  EXPECT_NE(p.error.find("--metrics-addr"), std::string::npos) << p.error;
  Ok({"--metrics-port", "9150", "--metrics-addr", "[::1]"});
  Ok({"--metrics-addr", "[::1"});
}

}  // namespace
}  // namespace ssdcache::server
