// The fixed seed set of the engine simulator that `make test` runs (simulator.h): each seed draws
// its journal mode (none, device, process) and geometry, with IO errors, clean restarts and
// crashes. SSDCACHE_SIM_OPS (a CMake define: smaller under the sanitizers) sets the requests per
// seed; the SSDCACHE_SIM_OPS environment variable overrides it. A failure prints the seed and the
// command line that replays it.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "simulator.h"

namespace ssdcache::sim {
namespace {

// Seeds that found engine defects, now fixed (issue "Never an old value, never a hang"), run
// beside the fixed set so that the defects stay fixed. Each had IO errors in an earlier engine
// life. 17: a slab piece written behind a failed one in the same disk slab was lost to the
// restart scan, and an older version came back. 22, 23, 1007, 1045: failed writes retired every
// disk slab, and the slabs then dropped unwritten left older versions to return. 1025, 1052: a
// change whose journal commit failed was undone in DRAM only; its record, already on the device,
// came back at a restart. 29: a flush_all lost in a crash was acknowledged by the model later
// (a simulator defect). 97 (found with reinsertion on): an index eviction dropped the entry of a
// version whose journal commit then failed, so the undo found nothing, and the version, already
// being written, came back at a restart.
const std::vector<uint64_t> kRegressions = {17, 22, 23, 29, 97, 1007, 1025, 1045, 1052};

uint64_t OpsPerSeed() {
  if (const char* env = std::getenv("SSDCACHE_SIM_OPS"); env != nullptr && *env != '\0') {
    return std::strtoull(env, nullptr, 10);
  }
  return SSDCACHE_SIM_OPS;
}

std::vector<uint64_t> FixedSeeds() {
  std::vector<uint64_t> seeds;
  for (uint64_t s = 1; s <= SSDCACHE_SIM_SEEDS; ++s) seeds.push_back(s);
  return seeds;
}

void RunSeed(uint64_t seed) {
  spdlog::set_level(spdlog::level::off);  // injected write errors log a line each
  SimOptions o;
  o.seed = seed;
  o.ops = OpsPerSeed();
  const SimResult r = RunSimulation(o);
  EXPECT_TRUE(r.ok) << r.failure << "\nreplay: " << ReplayCommand(o, SSDCACHE_SIM_BIN);
  std::printf("seed %llu: %s\n", static_cast<unsigned long long>(seed), r.Summary().c_str());
}

class SimSeeds : public ::testing::TestWithParam<uint64_t> {};
TEST_P(SimSeeds, EveryAnswerMatchesTheModel) { RunSeed(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Fixed, SimSeeds, ::testing::ValuesIn(FixedSeeds()));

// The resurrection defect of the issue "Never an old value, never a hang" (design.md, "Slab
// lifecycle"): with the old eviction order a later full slab could be evicted before a packed slab
// still open, and a restart brought an older version back. Some seed of the fixed set must catch
// it (the first that does is named), with no IO faults so that the defect alone is to blame.
// At least kResurrectionOps requests per seed, under the sanitizers too (whose other seeds run
// fewer): the defect needs a packed slab to outlive many later slabs; since half the seeds draw
// -n 128 (5ae5dfa) the first seed to show it (seed 2) does so after ~170k requests (seeds 3 and
// 12 at ~213k and ~228k).
constexpr uint64_t kResurrectionOps = 240000;
TEST(SimOldEvictionOrder, SomeFixedSeedCatchesTheResurrection) {
  spdlog::set_level(spdlog::level::off);
  for (uint64_t seed : FixedSeeds()) {
    SimOptions o;
    o.seed = seed;
    o.ops = std::max(OpsPerSeed(), kResurrectionOps);
    o.faults = false;
    o.old_eviction_order = true;
    const SimResult r = RunSimulation(o);
    if (!r.ok) {
      std::printf("caught: %s\nreplay: %s\n", r.failure.c_str(),
                  ReplayCommand(o, SSDCACHE_SIM_BIN).c_str());
      return;
    }
  }
  ADD_FAILURE() << "no seed of the fixed set caught the old eviction order";
}

INSTANTIATE_TEST_SUITE_P(Regressions, SimSeeds, ::testing::ValuesIn(kRegressions));

}  // namespace
}  // namespace ssdcache::sim
