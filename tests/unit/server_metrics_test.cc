// The metrics page (server/metrics_page.h) and the endpoint's request judgement
// (server/metrics_http.h), without sockets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/metrics_http.h"
#include "server/metrics_page.h"

namespace ssdcache::server {
namespace {

bool Has(const std::string& page, const std::string& text) {
  return page.find(text) != std::string::npos;
}

TEST(MetricsPage, StatsBecomeCountersGaugesAndInfo) {
  std::string page;
  ComposeMetricsPage(MetricsInput{"STAT cmd_get 5\r\nSTAT version 1.6.18-x\r\nSTAT curr_items "
                                  "3\r\nSTAT rusage_user 0.250000\r\nEND\r\n",
                                  "",
                                  "",
                                  "",
                                  {}},
                     page);
  EXPECT_TRUE(Has(page, "# TYPE ssdcached_cmd_get_total counter\nssdcached_cmd_get_total 5\n"));
  EXPECT_TRUE(Has(page, "# TYPE ssdcached_curr_items gauge\nssdcached_curr_items 3\n"));
  EXPECT_TRUE(Has(page, "ssdcached_version_info{version=\"1.6.18-x\"} 1\n"));
  EXPECT_TRUE(Has(page, "ssdcached_rusage_user_total 0.250000\n"));
}

TEST(MetricsPage, ClassFieldsAreGroupedByField) {
  std::string page;
  ComposeMetricsPage(MetricsInput{"",
                                  "",
                                  "STAT 1:chunk_size 96\r\nSTAT 1:get_hits 4\r\nSTAT 2:chunk_size "
                                  "120\r\nSTAT 2:get_hits 0\r\nSTAT active_slabs 2\r\nEND\r\n",
                                  "STAT items:2:number 7\r\nEND\r\n",
                                  {}},
                     page);
  EXPECT_TRUE(Has(page,
                  "# TYPE ssdcached_slab_chunk_size gauge\nssdcached_slab_chunk_size{slab=\"1\"} "
                  "96\nssdcached_slab_chunk_size{slab=\"2\"} 120\n"));
  EXPECT_TRUE(Has(page, "ssdcached_slab_get_hits_total{slab=\"1\"} 4\n"));
  EXPECT_TRUE(Has(page, "ssdcached_active_slabs 2\n"));
  EXPECT_TRUE(Has(page, "ssdcached_items_number{slab=\"2\"} 7\n"));
}

TEST(MetricsPage, SettingsNumbersAndEscapedText) {
  std::string page;
  ComposeMetricsPage(
      MetricsInput{"",
                   "STAT maxconns 1024\r\nSTAT device /a \"b\"\\c\r\nSTAT cas_enabled yes\r\n",
                   "",
                   "",
                   {}},
      page);
  EXPECT_TRUE(Has(page, "ssdcached_setting_maxconns 1024\n"));
  EXPECT_TRUE(
      Has(page, "ssdcached_settings_info{device=\"/a \\\"b\\\"\\\\c\",cas_enabled=\"yes\"} 1\n"));
}

TEST(MetricsPage, HistogramBucketsAreCumulative) {
  util::Histogram h;
  h.Record(1500);     // below 2^11 ns
  h.Record(3000000);  // 3 ms
  const std::vector<NamedHistogram> series = {{"ssdcached_x_seconds", "request", "get", &h}};
  std::string page;
  ComposeMetricsPage(MetricsInput{"", "", "", "", series}, page);
  EXPECT_TRUE(Has(page, "# TYPE ssdcached_x_seconds histogram\n"));
  EXPECT_TRUE(Has(page, "ssdcached_x_seconds_bucket{request=\"get\",le=\"1.024e-06\"} 0\n"));
  EXPECT_TRUE(Has(page, "ssdcached_x_seconds_bucket{request=\"get\",le=\"2.048e-06\"} 1\n"));
  EXPECT_TRUE(Has(page, "ssdcached_x_seconds_bucket{request=\"get\",le=\"0.004194304\"} 2\n"));
  EXPECT_TRUE(Has(page, "ssdcached_x_seconds_bucket{request=\"get\",le=\"+Inf\"} 2\n"));
  EXPECT_TRUE(Has(page, "ssdcached_x_seconds_sum{request=\"get\"} 0.0030015\n"));
  EXPECT_TRUE(Has(page, "ssdcached_x_seconds_count{request=\"get\"} 2\n"));
}

TEST(MetricsHttp, JudgesRequests) {
  EXPECT_EQ(JudgeRequest("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  EXPECT_TRUE(JudgeRequest("GET /metrics HTTP/1.1\r\n\r\n").send_body);
  EXPECT_EQ(JudgeRequest("GET /metrics?name[]=x HTTP/1.0\n\n").status, 200);
  const HttpVerdict head = JudgeRequest("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.status, 200);
  EXPECT_FALSE(head.send_body);
  EXPECT_EQ(JudgeRequest("GET / HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(JudgeRequest("POST /metrics HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(JudgeRequest("GET /metrics\r\n\r\n").status, 400);
  EXPECT_EQ(JudgeRequest("GET /metrics HTTP/1.1 x\r\n\r\n").status, 400);
  EXPECT_EQ(JudgeRequest("GET metrics HTTP/1.1\r\n\r\n").status, 400);
  EXPECT_EQ(JudgeRequest("\x16\x03\x01 garbage\r\n\r\n").status, 400);
  EXPECT_EQ(JudgeRequest("").status, 400);
}

}  // namespace
}  // namespace ssdcache::server
