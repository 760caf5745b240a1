#include "stats.h"

#include <fmt/format.h>

#include <iterator>

namespace ssdcache::bench {

namespace {

double PerSecond(uint64_t count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void AppendLatencyJson(std::string& out, const Histogram& h) {
  fmt::format_to(std::back_inserter(out),
                 "{{\"count\": {}, \"min\": {}, \"mean\": {:.1f}, \"p50\": {}, \"p90\": {}, "
                 "\"p99\": {}, \"p999\": {}, \"max\": {}}}",
                 h.count(), h.min(), h.mean(), h.Percentile(50), h.Percentile(90), h.Percentile(99),
                 h.Percentile(99.9), h.max());
}

std::string LatencyLine(const Histogram& h) {
  return fmt::format("min {} p50 {} p90 {} p99 {} p99.9 {} max {} mean {:.1f}", h.min(),
                     h.Percentile(50), h.Percentile(90), h.Percentile(99), h.Percentile(99.9),
                     h.max(), h.mean());
}

std::string ServerList(const Config& config) {
  std::string out;
  for (const ServerAddr& server : config.servers) {
    if (!out.empty()) out += ',';
    out += server.ToString();
  }
  return out;
}

}  // namespace

int RunResult::ExitStatus() const {
  if (wrong_values_all_phases > 0 || stalled || measure.Succeeded() == 0) return 1;
  return 0;
}

std::string FormatSummary(const Config& config, const RunResult& r) {
  const PhaseStats& m = r.measure;
  const ErrorCounts& e = m.errors;
  std::string out;
  auto line = [&out](std::string_view label, std::string text) {
    fmt::format_to(std::back_inserter(out), "{:<13} {}\n", label, text);
  };
  line("servers", ServerList(config));
  line("load",
       fmt::format("{} conns, pipeline {}, {}, sizes {}, {} keys {}, {}", config.num_conns,
                   config.pipeline, config.MethodString(), config.sizes.ToString(),
                   config.key_space, config.key_dist.ToString(),
                   config.call_rate > 0 ? fmt::format("open loop {} req/s", config.call_rate)
                                        : std::string("closed loop")));
  if (config.preload) {
    line("preload", fmt::format("{}{} of {} keys stored in {:.3f} s ({:.0f} sets/s), {} errors",
                                r.preload_done ? "" : "INCOMPLETE: ", r.preload.stored,
                                config.key_space, r.preload_s,
                                PerSecond(r.preload.sets, r.preload_s), r.preload.errors.Total()));
  }
  if (r.warmup.errors.Total() > 0) {
    line("warmup", fmt::format("{} errors (not counted below), {} wrong values",
                               r.warmup.errors.Total(), r.warmup.errors.wrong_value));
  }
  line("stopped by", r.stop_reason);
  line("total ops", fmt::format("{}", m.Ops()));
  line("duration", fmt::format("{:.3f} s", r.measure_s));
  line("throughput", fmt::format("{:.1f} ops/s", PerSecond(m.Ops(), r.measure_s)));
  line("gets", fmt::format("{} (hits {}, misses {}, hit ratio {:.4f})", m.gets, m.hits, m.misses,
                           m.HitRatio()));
  line("sets", fmt::format("{} (stored {}, not stored {})", m.sets, m.stored, m.not_stored));
  line("errors",
       fmt::format("{} (connect {}, timeout {}, server_error {}, client_error {}, error {}, "
                   "wrong_value {}, protocol {}); aborted in flight {}",
                   e.Total(), e.connect, e.timeout, e.server_error, e.client_error, e.error,
                   e.wrong_value, e.protocol, e.aborted));
  if (r.wrong_values_all_phases > m.errors.wrong_value) {
    line("wrong values", fmt::format("{} in all phases", r.wrong_values_all_phases));
  }
  line("latency us", LatencyLine(m.Latency()));
  if (m.get_latency.count() > 0) line("  get us", LatencyLine(m.get_latency));
  if (m.set_latency.count() > 0) line("  set us", LatencyLine(m.set_latency));
  return out;
}

std::string FormatJson(const Config& config, const RunResult& r) {
  const PhaseStats& m = r.measure;
  const ErrorCounts& e = m.errors;
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{{\n  \"servers\": {},\n", JsonString(ServerList(config)));
  fmt::format_to(it,
                 "  \"config\": {{\"num_conns\": {}, \"pipeline\": {}, \"method\": {}, "
                 "\"set_ratio\": {}, \"sizes\": {}, \"key_space\": {}, \"key_dist\": {}, "
                 "\"call_rate\": {}, \"verify\": {}, \"preload\": {}, \"warmup_s\": {}}},\n",
                 config.num_conns, config.pipeline,
                 JsonString(config.method == Method::kGet   ? "get"
                            : config.method == Method::kSet ? "set"
                                                            : "mixed"),
                 config.set_ratio, JsonString(config.sizes.ToString()), config.key_space,
                 JsonString(config.key_dist.ToString()), config.call_rate, config.verify,
                 config.preload, config.warmup_s);
  if (config.preload) {
    fmt::format_to(it,
                   "  \"preload\": {{\"complete\": {}, \"stored\": {}, \"seconds\": {:.6f}, "
                   "\"errors\": {}}},\n",
                   r.preload_done, r.preload.stored, r.preload_s, r.preload.errors.Total());
  }
  fmt::format_to(it, "  \"stop_reason\": {},\n", JsonString(r.stop_reason));
  fmt::format_to(it, "  \"total_ops\": {},\n  \"duration_s\": {:.6f},\n  \"ops_per_s\": {:.1f},\n",
                 m.Ops(), r.measure_s, PerSecond(m.Ops(), r.measure_s));
  fmt::format_to(it,
                 "  \"gets\": {},\n  \"hits\": {},\n  \"misses\": {},\n  \"hit_ratio\": {:.6f},\n"
                 "  \"sets\": {},\n  \"stored\": {},\n  \"not_stored\": {},\n",
                 m.gets, m.hits, m.misses, m.HitRatio(), m.sets, m.stored, m.not_stored);
  fmt::format_to(it,
                 "  \"errors\": {{\"total\": {}, \"connect\": {}, \"timeout\": {}, "
                 "\"server_error\": {}, \"client_error\": {}, \"error\": {}, \"wrong_value\": {}, "
                 "\"protocol\": {}, \"aborted\": {}}},\n",
                 e.Total(), e.connect, e.timeout, e.server_error, e.client_error, e.error,
                 e.wrong_value, e.protocol, e.aborted);
  fmt::format_to(it, "  \"wrong_values_all_phases\": {},\n  \"conns_open_at_end\": {},\n",
                 r.wrong_values_all_phases, r.conns_open_at_end);
  out += "  \"latency_us\": ";
  AppendLatencyJson(out, m.Latency());
  out += ",\n  \"get_latency_us\": ";
  AppendLatencyJson(out, m.get_latency);
  out += ",\n  \"set_latency_us\": ";
  AppendLatencyJson(out, m.set_latency);
  fmt::format_to(it, ",\n  \"exit_status\": {}\n}}\n", r.ExitStatus());
  return out;
}

}  // namespace ssdcache::bench
