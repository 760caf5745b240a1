// ssdcached with its small-object tier (--small-max): items on both sides of the size limit, keys
// that cross it when overwritten, deletes, a clean restart (every item back) and SIGKILL (a key
// may be lost, never come back older).
#include <map>
#include <string>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

constexpr int kKeys = 1500;

// A value naming its key and version, small (key + value <= 300) or large by version.
std::string TierValue(int key, int version) {
  const size_t size = (key + version) % 3 == 0 ? 700 + key % 500 : 20 + (key * 7 + version) % 250;
  std::string v = "k" + std::to_string(key) + "v" + std::to_string(version) + ":";
  while (v.size() < size) v.push_back(static_cast<char>('a' + (v.size() * 13 + version) % 26));
  return v;
}

std::string Key(int key) { return "t" + std::to_string(key); }

ServerOptions TierOptions() {
  ServerOptions o;
  o.device_size = "64M";
  o.memory_mib = 8;
  o.ssdcached_extra_args = {"-I", "256K", "--small-max", "300"};
  return o;
}

// Every key in `model` answers its value; every other key of [0, kKeys) misses. `lossy`: a key
// may miss (it died with DRAM in a crash) and is then dropped from the model.
void Check(Client& c, std::map<int, int>& model, bool lossy) {
  for (int k = 0; k < kKeys; ++k) {
    const std::string reply = c.Get("get " + Key(k) + "\r\n");
    const auto it = model.find(k);
    if (it == model.end()) {
      ASSERT_EQ(reply, "END\r\n") << Key(k) << " was deleted";
      continue;
    }
    const std::string value = TierValue(k, it->second);
    const std::string hit = "VALUE " + Key(k) + " " + std::to_string(it->second) + " " +
                            std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
    if (lossy && reply == "END\r\n") {
      model.erase(it);
      continue;
    }
    ASSERT_EQ(reply, hit) << Key(k) << " at version " << it->second;
  }
}

void SetVersion(Client& c, std::map<int, int>& model, int k, int version) {
  const std::string value = TierValue(k, version);
  ASSERT_EQ(c.Request("set " + Key(k) + " " + std::to_string(version) + " 0 " +
                      std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  model[k] = version;
}

TEST(SmallTier, BothTiersAcrossOverwritesDeletesRestartsAndKills) {
  SKIP_UNLESS_SSDCACHED();
  ServerProcess server(TierOptions());
  ASSERT_TRUE(server.Start());
  std::map<int, int> model;
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    ASSERT_NE(c.Request("stats settings\r\n", "END\r\n").find("STAT small_max 300\r\n"),
              std::string::npos);
    for (int version = 1; version <= 3; ++version) {
      for (int k = 0; k < kKeys; k += version) SetVersion(c, model, k, version);
    }
    for (int k = 0; k < kKeys; k += 11) {
      ASSERT_EQ(c.Request("delete " + Key(k) + "\r\n"), "DELETED\r\n");
      model.erase(k);
    }
    Check(c, model, false);
    const auto stats = c.Stats();
    EXPECT_GT(StatNum(stats, "small_sets"), 0);
    EXPECT_GT(StatNum(stats, "small_log_hits") + StatNum(stats, "small_set_hits"), 0);
  }
  int status = server.Stop();
  ASSERT_TRUE(ExitedWithZero(status)) << DescribeStatus(status) << "\n" << server.LogTail();
  ASSERT_TRUE(server.Start());
  {
    Client c;
    ASSERT_TRUE(c.Connect(server.port()));
    Check(c, model, false);
    // Overwrites that cross the limit both ways, and deletes, then SIGKILL.
    for (int k = 1; k < kKeys; k += 5) SetVersion(c, model, k, 4 + k % 2);
    for (int k = 3; k < kKeys; k += 13) {
      c.Request("delete " + Key(k) + "\r\n");
      model.erase(k);
    }
  }
  server.Kill();
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  Check(c, model, true);
  const auto stats = c.Stats();
  EXPECT_GT(StatNum(stats, "small_items"), 0) << "the tier's sets came back";
  EXPECT_GE(StatNum(stats, "curr_items"), StatNum(stats, "small_items"));
  EXPECT_GT(model.size(), size_t{kKeys / 2}) << "what reached the device survives";
}

// A set holds what fits in 4 KiB: 40,000 items of 200 bytes over the 4,096 sets of a 64 MiB
// device (17 fit in a set, 9.8 on average) overflow a few sets. Every item missing afterwards was
// an eviction `evictions` counts (memcached's stat, both tiers), none lost uncounted.
TEST(SmallTier, EveryItemAFullSetDropsIsACountedEviction) {
  SKIP_UNLESS_SSDCACHED();
  ServerOptions o = TierOptions();
  o.ssdcached_extra_args = {"--small-max", "300"};
  ServerProcess server(o);
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  constexpr int kItems = 40000;
  const std::string value(200, 'v');
  std::string sets;
  for (int i = 0; i < kItems; ++i)
    sets += "set e" + std::to_string(i) + " 0 0 200\r\n" + value + "\r\n";
  ASSERT_EQ(c.Transact(sets, kItems * 8).size(), size_t{kItems} * 8);
  int missing = 0;
  for (int first = 0; first < kItems; first += 100) {  // 100 keys per get
    std::string get = "get";
    for (int i = first; i < first + 100; ++i) get += " e" + std::to_string(i);
    const std::string reply = c.Get(get + "\r\n");
    int found = 0;
    for (size_t at = reply.find("VALUE "); at != std::string::npos;
         at = reply.find("VALUE ", at + 1))
      ++found;
    missing += 100 - found;
  }
  const auto stats = c.Stats();
  EXPECT_GT(StatNum(stats, "small_evictions"), 0) << "some set overflowed";
  EXPECT_EQ(StatNum(stats, "evictions"),
            StatNum(stats, "small_evictions") + StatNum(stats, "index_evictions"));
  EXPECT_EQ(missing, StatNum(stats, "evictions")) << "every missing item a counted eviction";
}

}  // namespace
}  // namespace ssdcache::integration
