// ssdcache-sim: runs the engine simulator (simulator.h) over a range of seeds, or replays one.
//   ssdcache-sim --seeds 100            seeds 1..100 (--first-seed F: F..F+99)
//   ssdcache-sim --seed 42 --ops 200000 one seed, e.g. the replay line a failure printed
// Exit status 0 when every seed passed, 1 at the first failure (its seed and replay line on
// stderr), 2 on bad arguments.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "simulator.h"

namespace {
// An on|off|seed flag: `out` stays nullopt for seed (the seed chooses). False on anything else.
bool ParseOnOffSeed(const char* flag, const std::string& value, std::optional<bool>& out) {
  if (value == "seed") return true;
  if (value != "on" && value != "off") {
    std::fprintf(stderr, "%s: on, off or seed, not %s\n", flag, value.c_str());
    return false;
  }
  out = value == "on";
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  using ssdcache::sim::JournalMode;
  CLI::App app{"Deterministic simulation of the ssdcache storage engine"};
  uint64_t seeds = 1;
  uint64_t first = 1;
  uint64_t seed = 0;
  std::string journal = "seed";
  bool no_faults = false;
  bool no_restarts = false;
  ssdcache::sim::SimOptions o;
  app.add_option("--seeds", seeds, "how many seeds to run, from --first-seed");
  app.add_option("--first-seed", first, "the first of --seeds");
  app.add_option("--seed", seed, "run (replay) this one seed");
  app.add_option("--ops", o.ops, "requests per seed");
  app.add_option("--journal", journal, "none, device, process, or seed (the seed chooses)");
  app.add_flag("--no-faults", no_faults, "no injected IO errors");
  app.add_flag("--no-restarts", no_restarts, "no clean restarts and no crashes");
  app.add_flag("--old-eviction-order", o.old_eviction_order,
               "the engine's old, defective eviction order (tests only)");
  std::string reinsert = "seed";
  app.add_option("--reinsert", reinsert,
                 "reinsertion share in percent (0 off, 1-100), or seed (the seed chooses)");
  std::string admit = "seed";
  app.add_option("--admit", admit, "admission: on, off, or seed (the seed chooses)");
  std::string compact = "seed";
  app.add_option("--compact", compact,
                 "compaction of memory slabs: on, off, or seed (the seed chooses)");
  std::string small = "seed";
  app.add_option("--small-max", small,
                 "small-object tier: its --small-max (0 off), or seed (the seed chooses)");
  app.add_flag("-v,--verbose", o.verbose, "a line per scan, restart and crash");
  CLI11_PARSE(app, argc, argv);
  // The engine logs what it meets (injected write errors, warm restarts): only with -v, since a
  // failure names its seed and replays with -v to show them.
  spdlog::set_level(o.verbose ? spdlog::level::info : spdlog::level::off);
  if (journal != "seed") {
    JournalMode mode;
    if (!ssdcache::sim::ParseJournalMode(journal, mode)) {
      std::fprintf(stderr, "--journal: none, device, process or seed, not %s\n", journal.c_str());
      return 2;
    }
    o.journal = mode;
  }
  if (reinsert != "seed") {
    char* end = nullptr;
    const unsigned long share = std::strtoul(reinsert.c_str(), &end, 10);
    if (reinsert.empty() || *end != '\0' || share > 100) {
      std::fprintf(stderr, "--reinsert: 0 to 100 or seed, not %s\n", reinsert.c_str());
      return 2;
    }
    o.reinsert = static_cast<uint32_t>(share);
  }
  if (!ParseOnOffSeed("--admit", admit, o.admit) ||
      !ParseOnOffSeed("--compact", compact, o.compact)) {
    return 2;
  }
  if (small != "seed") {
    char* end = nullptr;
    const unsigned long max = std::strtoul(small.c_str(), &end, 10);
    if (small.empty() || *end != '\0' || max > 4024) {
      std::fprintf(stderr, "--small-max: 0 to 4024 or seed, not %s\n", small.c_str());
      return 2;
    }
    o.small_max = static_cast<uint32_t>(max);
  }
  o.faults = !no_faults;
  o.restarts = !no_restarts;
  if (seed != 0) {
    first = seed;
    seeds = 1;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t ops = 0;
  for (uint64_t s = first; s < first + seeds; ++s) {
    o.seed = s;
    const ssdcache::sim::SimResult r = ssdcache::sim::RunSimulation(o);
    ops += r.ops;
    if (!r.ok) {
      std::fprintf(stderr, "FAILED: %s\nreplay: %s\n", r.failure.c_str(),
                   ssdcache::sim::ReplayCommand(o, argv[0]).c_str());
      return 1;
    }
    if (seeds == 1 || o.verbose)
      std::printf("seed %llu: %s\n", static_cast<unsigned long long>(s), r.Summary().c_str());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu seeds passed, %llu ops in %.1f s\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(ops), secs);
  return 0;
}
