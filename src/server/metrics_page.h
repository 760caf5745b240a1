// The Prometheus page (text exposition format 0.0.4) of the metrics endpoint: every `stats` group
// the memcached tools read, translated line by line, and the latency histograms. A pure function
// of its inputs: no socket, no server (server_stats.cc gathers them, metrics_http.h serves them).
//
// Names (docs/operations.md, "Metrics"): `ssdcached_<stat>` for `stats`, `ssdcached_slab_<field>`
// and `ssdcached_items_<field>` with a `slab` label for the per-class groups, `ssdcached_setting_
// <name>` for numeric settings and one `ssdcached_settings_info` whose labels hold the others.
// A stat that only grows between resets (StatIsTotal, ClassStatIsTotal: the stats tables say so)
// is a counter named `..._total`; any other is a gauge. A value that is no number (`version`)
// becomes `ssdcached_<stat>_info{<stat>="..."} 1`.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "util/histogram.h"

namespace ssdcache::server {

// One series of a latency histogram family: family{label_name="label"}, in nanoseconds.
struct NamedHistogram {
  std::string_view family;      // "ssdcached_request_latency_seconds"
  std::string_view label_name;  // "request"
  std::string_view label;       // "get"
  const util::Histogram* histogram;
};

// What the page shows: the `stats` replies ("STAT name value\r\n" lines, END or not).
struct MetricsInput {
  std::string_view general;                    // `stats`
  std::string_view settings;                   // `stats settings`
  std::string_view slabs;                      // `stats slabs`
  std::string_view items;                      // `stats items`
  std::span<const NamedHistogram> histograms;  // a family's series next to each other
};

void ComposeMetricsPage(const MetricsInput& input, std::string& out);

}  // namespace ssdcache::server
