// What a run measured, and its two renderings: the text summary on stdout and the same numbers as
// JSON for scripts.
#pragma once

#include <cstdint>
#include <string>

#include "config.h"
#include "histogram.h"

namespace ssdcache::bench {

struct ErrorCounts {
  uint64_t connect = 0;       // failed connects and connections lost (closed or reset by the peer)
  uint64_t timeout = 0;       // requests unanswered within --timeout (the connection is reopened)
  uint64_t server_error = 0;  // SERVER_ERROR replies
  uint64_t client_error = 0;  // CLIENT_ERROR replies (the connection is reopened)
  uint64_t error = 0;         // ERROR replies (the connection is reopened)
  uint64_t wrong_value = 0;   // a get returned a value that is not the key's (see --verify)
  uint64_t protocol = 0;      // unparsable replies, or replies that do not fit the request
  // Requests in flight on a connection closed because of one of the errors above: their outcome
  // is unknown, so they are neither successes nor errors of a kind.
  uint64_t aborted = 0;

  uint64_t Total() const {
    return connect + timeout + server_error + client_error + error + wrong_value + protocol;
  }
};

struct PhaseStats {
  uint64_t issued = 0;
  uint64_t gets = 0;  // get replies: hits + misses + wrong values
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t sets = 0;  // set replies: stored + not_stored
  uint64_t stored = 0;
  uint64_t not_stored = 0;  // NOT_STORED, EXISTS or NOT_FOUND to a set
  ErrorCounts errors;
  Histogram get_latency;  // microseconds, every reply to a get (errors included)
  Histogram set_latency;

  uint64_t Succeeded() const { return hits + misses + stored; }
  uint64_t Ops() const { return gets + sets; }
  double HitRatio() const { return gets ? static_cast<double>(hits) / gets : 0.0; }
  Histogram Latency() const {
    Histogram all = get_latency;
    all.Merge(set_latency);
    return all;
  }
};

struct RunResult {
  PhaseStats preload;
  PhaseStats warmup;
  PhaseStats measure;
  double preload_s = 0;
  double measure_s = 0;
  bool preload_done = false;
  uint32_t conns_open_at_end = 0;
  uint64_t wrong_values_all_phases = 0;
  bool stalled = false;
  std::string stop_reason;  // why measuring stopped: duration, num-calls, interrupted, stalled

  // 0 success; 1 on any wrong value, a stall, or no successful measured request.
  int ExitStatus() const;
};

std::string FormatSummary(const Config& config, const RunResult& result);
std::string FormatJson(const Config& config, const RunResult& result);

}  // namespace ssdcache::bench
