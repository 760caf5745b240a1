// The `stats` command's groups: what the server gathers for the tables of stats.cc (general),
// stats_classes.cc (slabs, items, sizes, conns) and config.h (settings).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <string>

#include "server/metrics_page.h"
#include "server/server.h"

namespace ssdcache::server {
namespace {

template <typename T>
void Stat(std::string& out, std::string_view name, const T& value) {
  out.append("STAT ");
  out.append(name);
  out.push_back(' ');
  if constexpr (std::is_convertible_v<T, std::string_view>) {
    out.append(value);
  } else {
    out.append(std::to_string(value));
  }
  out.append("\r\n");
}

// memcached's name of a socket address: "tcp:1.2.3.4:11211", "tcp6:[::1]:11211", "unix:/path".
std::string AddressText(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
    return std::string("tcp:") + host + ":" + std::to_string(ntohs(in.sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
    return std::string("tcp6:[") + host + "]:" + std::to_string(ntohs(in6.sin6_port));
  }
  if (a.ss_family == AF_UNIX) {
    return std::string("unix:") + reinterpret_cast<const sockaddr_un&>(a).sun_path;
  }
  return "unknown";
}

std::string SocketAddress(int fd, bool peer) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return rc == 0 ? AddressText(a) : "unknown";
}

// memcached settings that no option row names (config.h), with the value that says what
// ssdcached does: the mechanism is absent (no UDP, LRU maintainer, crawler, slab mover, SASL,
// TLS, logger watchers) or fixed. docs/protocol.md, "Stats".
struct FixedSetting {
  const char* name;
  const char* value;
};
constexpr FixedSetting kFixedSettings[] = {
    {"udpport", "0"},
    {"oldest", "0"},
    {"domain_socket", "NULL"},
    {"umask", "700"},
    {"shutdown_command", "no"},
    {"num_threads_per_udp", "1"},
    {"stat_key_prefix", ":"},
    {"detail_enabled", "no"},
    {"binding_protocol", "auto-negotiate"},  // the first byte picks ASCII or binary
    {"auth_enabled_sasl", "no"},
    {"auth_enabled_ascii", "no"},
    {"tcp_backlog", "1024"},
    {"maxconns_fast", "yes"},  // over -c, a client gets SERVER_ERROR and is closed at once
    {"slab_reassign", "no"},
    {"slab_automove", "0"},
    {"slab_automove_ratio", "0.00"},
    {"slab_automove_window", "0"},
    {"tail_repair_time", "0"},
    {"flush_enabled", "yes"},
    {"lru_maintainer_thread", "no"},
    {"lru_segmented", "no"},
    {"hot_lru_pct", "0"},
    {"warm_lru_pct", "0"},
    {"hot_max_factor", "0.00"},
    {"warm_max_factor", "0.00"},
    {"temp_lru", "no"},
    {"temporary_ttl", "0"},
    {"watcher_logbuf_size", "0"},
    {"worker_logbuf_size", "0"},
    {"read_buf_mem_limit", "0"},
    {"inline_ascii_response", "no"},
    {"ext_item_size", "0"},  // every item goes to the device,
    {"ext_item_age", "0"},   // as soon as its slab is full
    {"ext_low_ttl", "0"},
    {"ext_recache_rate", "0"},
    {"ext_compact_under", "0"},
    {"ext_drop_under", "0"},
    {"ext_max_sleep", "0"},
    {"ext_max_frag", "0.00"},
    {"slab_automove_freeratio", "0.000"},
    {"ext_drop_unread", "no"},
    {"ssl_wbuf_size", "16384"},
    {"ssl_session_cache", "no"},
    {"ssl_kernel_tls", "no"},
    {"num_napi_ids", "(null)"},
    {"memory_file", "(null)"},
};

// Appends the row unless an option row already printed a stat of that name.
template <typename T>
void StatOnce(std::string& out, std::string_view name, const T& value) {
  const std::string line = "STAT " + std::string(name) + " ";
  if (out.starts_with(line) || out.find("\n" + line) != std::string::npos) return;
  Stat(out, name, value);
}

}  // namespace

void Server::AppendStats(std::string_view arg, std::string& out) {
  if (arg.empty()) return AppendGeneralStats(out);
  if (arg == "settings") return AppendSettingsStats(out);
  if (arg == "latency") return AppendLatencyStats(out);
  if (arg == "slabs" || arg == "items" || arg == "sizes") {
    if (arg == "sizes" && !sizes_enabled_) {
      out.append("STAT sizes_status disabled\r\nEND\r\n");
      return;
    }
    const std::vector<storage::ClassStats> classes = engine_->class_stats();
    std::vector<uint64_t> small_sets, small_log;
    engine_->SmallClassItems(small_sets, small_log);
    const ClassSources sources{.classes = classes,
                               .server = stats_,
                               .slab_size = config_.engine.slab_size,
                               .now = now_,
                               .small_sets = small_sets,
                               .small_log = small_log};
    if (arg == "slabs") AppendSlabRows(sources, out);
    if (arg == "items") AppendItemRows(sources, out);
    if (arg == "sizes") AppendSizeRows(sources, out);
    return;
  }
  if (arg == "sizes_enable" || arg == "sizes_disable") {
    // memcached answers these with the status line alone, no END.
    sizes_enabled_ = arg == "sizes_enable";
    out.append(sizes_enabled_ ? "STAT sizes_status enabled\r\n" : "STAT sizes_status disabled\r\n");
    return;
  }
  if (arg == "conns") return AppendConnRows(ConnRows(), out);
  out.append("ERROR\r\n");
}

void Server::AppendGeneralStats(std::string& out) const {
  ConnMemory memory;
  for (const auto& [ptr, conn] : connections_) {
    ++memory.read_buffers;
    memory.read_buffer_bytes += conn->read_buffer_bytes();
    memory.reply_slots += conn->reply_slots();
    memory.reply_bytes += conn->reply_bytes();
  }
  const uint64_t paused_us =
      accept_blocked_ ? (util::NowNs() - accept_blocked_since_ns_) / 1000 : 0;
  AppendStatRows(
      StatSources{stats_, *engine_, *device_, *loop_, config_.max_connections, open_connections_,
                  connections_.size(), now_, started_, !accept_blocked_ && !shutting_down_,
                  paused_us, memory, tls_ != nullptr, cert_refreshed_},
      out);
  out.append("END\r\n");
}

void Server::AppendSettingsStats(std::string& out) const {
  // The option tables' rows (server/config.h), then what the server found or fixed.
  AppendSettings(config_, out);
  Stat(out, "tcpport", uint64_t{port_});
  Stat(out, "device_size", device_->size());
  Stat(out, "item_size_max", uint64_t{engine_->max_item_size()});
  Stat(out, "num_threads", uint64_t{1});
  Stat(out, "hash_algorithm", "xxh3");
  Stat(out, "track_sizes", sizes_enabled_ ? "yes" : "no");
  // No crawler thread: enabled means lru_crawler metadump and crawl are served.
  Stat(out, "lru_crawler", crawler_.enabled ? "yes" : "no");
  Stat(out, "lru_crawler_sleep", uint64_t{crawler_.sleep_us});
  Stat(out, "lru_crawler_tocrawl", uint64_t{crawler_.tocrawl});
  // memcached's names of settings this server has under other names, or none.
  StatOnce(out, "reqs_per_event", uint64_t{Connection::kRequestsPerTurn});
  StatOnce(out, "hashpower_init", uint64_t{config_.hash_power});
  StatOnce(out, "slab_chunk_max", uint64_t{engine_->max_item_size()});
  StatOnce(out, "ext_wbuf_size", uint64_t{config_.engine.slab_size});  // a memory slab
  for (const FixedSetting& f : kFixedSettings) StatOnce(out, f.name, f.value);
  out.append("END\r\n");
}

void Server::AppendLatencyStats(std::string& out) const {
  // Microseconds; percentiles are bucket upper bounds (within 12.5%).
  auto emit = [&](std::string_view name, const util::Histogram& h) {
    std::string n(name);
    Stat(out, n + "_count", h.count());
    Stat(out, n + "_p50_us", h.Percentile(0.5) / 1000);
    Stat(out, n + "_p90_us", h.Percentile(0.9) / 1000);
    Stat(out, n + "_p99_us", h.Percentile(0.99) / 1000);
    Stat(out, n + "_p999_us", h.Percentile(0.999) / 1000);
    Stat(out, n + "_max_us", h.max() / 1000);
  };
  for (size_t k = 0; k < kLatencyKinds; ++k) emit(kLatencyNames[k], stats_.latency[k]);
  emit("device_read_queue", engine_->read_queue_latency());
  emit("device_read", engine_->read_latency());
  emit("slab_write", engine_->write_latency());
  out.append("END\r\n");
}

void Server::AppendMetricsPage(std::string& out) {
  std::string general, settings, slabs, items;
  AppendStats("", general);
  AppendStats("settings", settings);
  AppendStats("slabs", slabs);
  AppendStats("items", items);
  std::vector<NamedHistogram> latency;
  for (size_t k = 0; k < kLatencyKinds; ++k) {
    latency.push_back(
        {"ssdcached_request_latency_seconds", "request", kLatencyNames[k], &stats_.latency[k]});
  }
  constexpr std::string_view kDevice = "ssdcached_device_latency_seconds";
  latency.push_back({kDevice, "op", "read_queue", &engine_->read_queue_latency()});
  latency.push_back({kDevice, "op", "read", &engine_->read_latency()});
  latency.push_back({kDevice, "op", "slab_write", &engine_->write_latency()});
  ComposeMetricsPage(MetricsInput{general, settings, slabs, items, latency}, out);
}

std::vector<ConnRow> Server::ConnRows() const {
  std::vector<ConnRow> rows;
  for (const ListenSocket& socket : sockets_) {
    rows.push_back({socket.fd.get(), SocketAddress(socket.fd.get(), false), "", "conn_listening",
                    now_ - started_});
  }
  for (const auto& [ptr, conn] : connections_) {
    if (conn->closed()) continue;
    // The local end is the address the connection was accepted on: the listener's, unless it
    // listens on a wildcard address (memcached then shows the wildcard).
    rows.push_back({conn->fd(), SocketAddress(conn->fd(), true), SocketAddress(conn->fd(), false),
                    conn->state_name(), now_ - std::min<uint64_t>(now_, conn->last_active())});
  }
  std::sort(rows.begin(), rows.end(),
            [](const ConnRow& a, const ConnRow& b) { return a.fd < b.fd; });
  return rows;
}

}  // namespace ssdcache::server
