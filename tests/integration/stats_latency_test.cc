// `stats latency`: per-command latency percentiles and device IO latency (ssdcached only).
#include <string>

#include "fixtures.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

TEST(StatsLatency, CountsEveryRequestKindAndDeviceReads) {
  SKIP_UNLESS_SSDCACHED();
  ServerOptions o;
  o.memory_mib = 8;
  o.ssdcached_extra_args = {"-I", "256K"};
  ServerProcess server(o);
  ASSERT_TRUE(server.Start());
  Client c;
  ASSERT_TRUE(c.Connect(server.port()));
  const std::string value(4000, 'v');
  for (int i = 0; i < 3000; ++i) {  // 12 MB through 8 MiB of memory slabs: most go to the device
    ASSERT_EQ(c.Request("set k" + std::to_string(i) + " 0 0 4000\r\n" + value + "\r\n"),
              "STORED\r\n");
  }
  for (int i = 0; i < 100; ++i) c.Get("get k" + std::to_string(i) + "\r\n");
  ASSERT_EQ(c.Request("delete k1\r\n"), "DELETED\r\n");
  auto stats = c.Stats("latency");
  ASSERT_FALSE(stats.empty());
  EXPECT_EQ(stats["set_count"], "3000");
  EXPECT_EQ(stats["delete_count"], "1");
  // 100 gets: those served from DRAM count under get, those read from the device under both.
  EXPECT_EQ(std::stoul(stats["get_count"]), 100u);
  EXPECT_GT(std::stoul(stats["get_device_count"]), 0u);
  // The delete of a device-resident key reads it too (it must know the key exists).
  EXPECT_EQ(std::stoul(stats["device_read_count"]), std::stoul(stats["get_device_count"]) + 1);
  // The stages of a device get: every read was queued and reaped, every reply sent.
  EXPECT_EQ(stats["device_read_queue_count"], stats["device_read_count"]);
  EXPECT_EQ(stats["get_device_send_count"], stats["get_device_count"]);
  EXPECT_GT(std::stoul(stats["slab_write_count"]), 0u);
  for (const char* k : {"get_p50_us", "get_p99_us", "get_p999_us", "get_max_us",
                        "device_read_p99_us", "slab_write_max_us"}) {
    EXPECT_TRUE(stats.count(k)) << k;
  }
  EXPECT_LE(std::stoul(stats["get_device_p50_us"]), std::stoul(stats["get_device_max_us"]));
  ASSERT_EQ(c.Request("stats reset\r\n"), "RESET\r\n");
  EXPECT_EQ(c.Stats("latency")["set_count"], "0");
}

}  // namespace
}  // namespace ssdcache::integration
