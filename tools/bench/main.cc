// ssdcache-bench: an mcperf-style load generator for memcached ASCII servers.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "config.h"
#include "runner.h"
#include "stats.h"

using namespace ssdcache::bench;

int main(int argc, char** argv) {
  Config config;
  std::string error;
  switch (ParseArgs(argc, argv, &config, &error)) {
    case ParseOutcome::kHelp:
      fmt::print("{}", HelpText());
      return 0;
    case ParseOutcome::kError:
      fmt::print(stderr, "ssdcache-bench: {}\n", error);
      return 2;
    case ParseOutcome::kRun:
      break;
  }
  std::vector<ResolvedServer> servers;
  if (!ResolveServers(config, &servers, &error)) {
    fmt::print(stderr, "ssdcache-bench: {}\n", error);
    return 2;
  }
  InstallStopSignals();

  RunResult result;
  {
    Runner runner(config, std::move(servers));
    if (!runner.Run(&result)) return 1;
  }
  fmt::print("{}", FormatSummary(config, result));
  std::fflush(stdout);
  if (!config.json_path.empty()) {
    const std::string json = FormatJson(config, result);
    std::FILE* file = std::fopen(config.json_path.c_str(), "w");
    const bool ok =
        file != nullptr && std::fwrite(json.data(), 1, json.size(), file) == json.size();
    if (file != nullptr && std::fclose(file) != 0) file = nullptr;
    if (!ok || file == nullptr) {
      fmt::print(stderr, "ssdcache-bench: --json: cannot write '{}'\n", config.json_path);
      return 1;
    }
  }
  return result.ExitStatus();
}
