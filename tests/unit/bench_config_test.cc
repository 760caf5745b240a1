#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config.h"

namespace ssdcache::bench {
namespace {

ParseOutcome ParseList(std::vector<std::string> args, Config* config, std::string* error) {
  args.insert(args.begin(), "ssdcache-bench");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return ParseArgs(static_cast<int>(argv.size()), argv.data(), config, error);
}

TEST(BenchConfig, DefaultsNeedOnlyAServer) {
  Config config;
  std::string error;
  ASSERT_EQ(ParseList({"--server", "127.0.0.1:11211"}, &config, &error), ParseOutcome::kRun)
      << error;
  ASSERT_EQ(config.servers.size(), 1u);
  EXPECT_EQ(config.servers[0].host, "127.0.0.1");
  EXPECT_EQ(config.servers[0].port, 11211);
  EXPECT_EQ(config.num_conns, 1u);
  EXPECT_EQ(config.pipeline, 1u);
  EXPECT_DOUBLE_EQ(config.duration_s, kDefaultDurationS);
  EXPECT_EQ(config.method, Method::kMixed);
  EXPECT_EQ(config.sizes.ToString(), "d100");
}

TEST(BenchConfig, EveryFlag) {
  Config config;
  std::string error;
  ASSERT_EQ(ParseList({"--server",
                       "127.0.0.1:1",
                       "--server=[::1]:2",
                       "--num-conns",
                       "20",
                       "--conn-rate",
                       "100",
                       "--num-calls",
                       "5000",
                       "--duration",
                       "2.5",
                       "--call-rate=1000",
                       "--pipeline",
                       "4",
                       "--method",
                       "mixed",
                       "--set-ratio",
                       "0.25",
                       "--sizes",
                       "u100,4000",
                       "--key-space",
                       "1000000",
                       "--key-dist",
                       "zipf:0.99",
                       "--key-prefix",
                       "p:",
                       "--warmup",
                       "1",
                       "--preload",
                       "--verify",
                       "--json",
                       "/tmp/x.json",
                       "--timeout",
                       "250",
                       "--quiet",
                       "--seed",
                       "9"},
                      &config, &error),
            ParseOutcome::kRun)
      << error;
  ASSERT_EQ(config.servers.size(), 2u);
  EXPECT_EQ(config.servers[1].host, "::1");
  EXPECT_EQ(config.servers[1].ToString(), "[::1]:2");
  EXPECT_EQ(config.num_conns, 20u);
  EXPECT_DOUBLE_EQ(config.conn_rate, 100);
  EXPECT_EQ(config.num_calls, 5000u);
  EXPECT_DOUBLE_EQ(config.duration_s, 2.5);
  EXPECT_DOUBLE_EQ(config.call_rate, 1000);
  EXPECT_EQ(config.pipeline, 4u);
  EXPECT_DOUBLE_EQ(config.set_ratio, 0.25);
  EXPECT_EQ(config.sizes.max, 4000u);
  EXPECT_EQ(config.key_space, 1000000u);
  EXPECT_EQ(config.key_dist.kind, KeyDistSpec::Kind::kZipf);
  EXPECT_EQ(config.key_prefix, "p:");
  EXPECT_DOUBLE_EQ(config.warmup_s, 1);
  EXPECT_TRUE(config.preload);
  EXPECT_TRUE(config.verify);
  EXPECT_EQ(config.json_path, "/tmp/x.json");
  EXPECT_EQ(config.timeout_ms, 250u);
  EXPECT_TRUE(config.quiet);
  EXPECT_EQ(config.seed, 9u);
  EXPECT_EQ(config.KeyWidth(), 6);
}

TEST(BenchConfig, NumCallsAloneHasNoDuration) {
  Config config;
  std::string error;
  ASSERT_EQ(ParseList({"--server", "h:1", "--num-calls", "10"}, &config, &error),
            ParseOutcome::kRun);
  EXPECT_DOUBLE_EQ(config.duration_s, 0);
}

TEST(BenchConfig, Help) {
  Config config;
  std::string error;
  EXPECT_EQ(ParseList({"--help"}, &config, &error), ParseOutcome::kHelp);
  EXPECT_EQ(ParseList({"-h"}, &config, &error), ParseOutcome::kHelp);
  const std::string help = HelpText();
  for (const char* flag :
       {"--server",     "--num-conns", "--conn-rate", "--num-calls", "--duration",  "--call-rate",
        "--pipeline",   "--method",    "--set-ratio", "--sizes",     "--key-space", "--key-dist",
        "--key-prefix", "--warmup",    "--preload",   "--verify",    "--json",      "--timeout",
        "--quiet",      "--seed",      "--help"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

TEST(BenchConfig, ErrorsNameTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "--server"},
      {{"--server", "nohost"}, "--server"},
      {{"--server", "h:0"}, "--server"},
      {{"--server", "h:70000"}, "--server"},
      {{"--server", "h:1", "--num-conns", "0"}, "--num-conns"},
      {{"--server", "h:1", "--num-conns", "x"}, "--num-conns"},
      {{"--server", "h:1", "--num-conns"}, "--num-conns"},
      {{"--server", "h:1", "--conn-rate", "-1"}, "--conn-rate"},
      {{"--server", "h:1", "--num-calls", "0"}, "--num-calls"},
      {{"--server", "h:1", "--duration", "0"}, "--duration"},
      {{"--server", "h:1", "--duration", "1s"}, "--duration"},
      {{"--server", "h:1", "--call-rate", "fast"}, "--call-rate"},
      {{"--server", "h:1", "--pipeline", "0"}, "--pipeline"},
      {{"--server", "h:1", "--method", "delete"}, "--method"},
      {{"--server", "h:1", "--set-ratio", "1.5"}, "--set-ratio"},
      {{"--server", "h:1", "--method", "get", "--set-ratio", "0.5"}, "--set-ratio"},
      {{"--server", "h:1", "--sizes", "d0"}, "--sizes"},
      {{"--server", "h:1", "--sizes", "d10", "--verify"}, "--sizes"},
      {{"--server", "h:1", "--key-space", "0"}, "--key-space"},
      {{"--server", "h:1", "--key-dist", "zipf:0"}, "--key-dist"},
      {{"--server", "h:1", "--key-prefix", "a b"}, "--key-prefix"},
      {{"--server", "h:1", "--key-prefix", std::string(249, 'a')}, "--key-prefix"},
      {{"--server", "h:1", "--warmup", "-2"}, "--warmup"},
      {{"--server", "h:1", "--timeout", "0"}, "--timeout"},
      {{"--server", "h:1", "--verify=yes"}, "--verify"},
      {{"--server", "h:1", "--bogus"}, "--bogus"},
      {{"--server", "h:1", "stray"}, "stray"},
  };
  for (const auto& [args, flag] : cases) {
    Config config;
    std::string error;
    ASSERT_EQ(ParseList(args, &config, &error), ParseOutcome::kError) << flag;
    EXPECT_EQ(error.rfind(flag, 0), 0u) << "error '" << error << "' should start with " << flag;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace ssdcache::bench
