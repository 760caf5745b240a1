// The server: the Context that everything else is handed. Owns the event loop, the device (and
// through it the IO backend, which only the engine drives), the engine, the listening socket, the
// signalfd, the timers and every connection. Listening sockets: server/listeners.h.
//
// Invariants:
//  - Single thread: the loop, the engine and all connections run on the thread that called Run().
//  - Connections are freed only at the end of a loop turn and only once no lookup of theirs is in
//    flight (the engine would otherwise call back into freed memory).
//  - SIGTERM/SIGINT: stop accepting, finish in-flight requests, seal and write every memory slab,
//    wait for the device, exit 0.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/event_loop.h"
#include "server/config.h"
#include "server/connection.h"
#include "server/listeners.h"
#include "server/metrics_http.h"
#include "server/stats.h"
#include "server/tls.h"
#include "storage/device.h"
#include "storage/engine.h"
#include "storage/fault.h"
#include "util/unique_fd.h"

namespace ssdcache::server {

class Server {
 public:
  static std::unique_ptr<Server> Create(const Config& config, std::string& error);
  ~Server();

  // Serves until SIGTERM/SIGINT; returns the process exit status.
  int Run();
  uint16_t port() const { return port_; }

  // For connections.
  const Config& config() const { return config_; }
  net::EventLoop& loop() { return *loop_; }
  storage::Engine& engine() { return *engine_; }
  ServerStats& stats() { return stats_; }
  uint32_t now() const { return now_; }
  void ConnectionClosed(Connection* conn);
  // Serves a connected, non-blocking socket (what Accept does with each one; tests hand it one end
  // of a socketpair). False: it could not be added to the event loop.
  bool Adopt(util::UniqueFd fd, bool tls = false);
  // The same with a transport of the caller's (tests: one that behaves as TLS does).
  bool Adopt(util::UniqueFd fd, std::unique_ptr<Transport> transport);
  // refresh_certs: reloads the TLS files; memcached's reply line ("OK\r\n" or the error).
  std::string RefreshCerts();
  void WaitForMemory(Connection* conn);
  // The shutdown command (-A): stops as SIGTERM does, once the current loop turn is over.
  void RequestShutdown();
  void ScheduleFlush(int64_t delay_seconds);
  // The reply to `stats ARG` (server_stats.cc).
  void AppendStats(std::string_view arg, std::string& out);
  // The metrics endpoint's page: every group above in the Prometheus format (server_stats.cc).
  void AppendMetricsPage(std::string& out);
  void ResetStats();
  void SetVerbosity(uint32_t level);
  // How SIGHUP reopens the log file (set by main, which owns the logger): "" when it did, else
  // why not (the previous file is still in use).
  void set_log_reopen(std::function<std::string()> fn) { log_reopen_ = std::move(fn); }
  void ReopenLog();
  const protocol::ParserLimits& parser_limits() const { return parser_limits_; }
  // What lru_crawler enable/disable/sleep/tocrawl set (server/key_dump.h).
  CrawlerSettings& crawler() { return crawler_; }

 private:
  class Listener;
  class SignalHandler;
  class AioHandler;
  class ShutdownRequest;

  explicit Server(const Config& config);
  bool Init(std::string& error);
  // Makes the device's backend: libaio, wrapped in fault injection when SSDCACHE_FAULTS says so
  // (the spec goes to faults_; its injector is installed once the warm restart is done).
  storage::IoFactory MakeIoFactory();
  void RaiseFdLimit();
  bool OpenStorage(std::string& error);
  bool StartEvents(std::string& error);
  bool OpenListeners(std::string& error);
  bool OpenMetrics(std::string& error);
  void Accept(const ListenSocket& socket);
  void Tick();
  void ReapConnections();
  void BeginShutdown();
  void UpdateClock();
  // `stats` groups (server_stats.cc).
  void AppendGeneralStats(std::string& out) const;
  void AppendSettingsStats(std::string& out) const;
  void AppendLatencyStats(std::string& out) const;
  std::vector<ConnRow> ConnRows() const;

  Config config_;
  protocol::ParserLimits parser_limits_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<storage::Device> device_;
  std::unique_ptr<storage::Engine> engine_;
  std::optional<storage::FaultSpec> faults_;  // SSDCACHE_FAULTS, when it injects something
  std::vector<ListenSocket> sockets_;
  std::vector<std::unique_ptr<Listener>> listeners_;  // one per socket, same order
  std::unique_ptr<TlsContext> tls_;                   // -Z, or none
  uint32_t cert_refreshed_ = 0;                       // when tls_ last loaded its files
  std::unique_ptr<MetricsHttp> metrics_;              // --metrics-port, or none
  std::string metrics_where_;                         // its addresses, for the start-up line
  util::UniqueFd signal_fd_;
  std::unique_ptr<SignalHandler> signal_handler_;
  std::unique_ptr<AioHandler> aio_handler_;
  std::unique_ptr<ShutdownRequest> shutdown_request_;
  std::unique_ptr<net::Timer> tick_timer_;
  std::unique_ptr<net::Timer> flush_timer_;

  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> closed_;  // closed, freed once no lookup of theirs is in flight
  std::vector<Connection*> memory_waiters_;
  std::function<std::string()> log_reopen_;
  int shutdown_ticks_ = 0;
  uint64_t next_conn_id_ = 1;
  size_t open_connections_ = 0;
  bool accept_blocked_ = false;
  uint64_t accept_blocked_since_ns_ = 0;
  bool sizes_enabled_ = true;  // `stats sizes_enable` / `sizes_disable`
  bool shutting_down_ = false;
  uint16_t port_ = 0;
  uint32_t now_ = 0;
  uint32_t started_ = 0;
  ServerStats stats_;
  CrawlerSettings crawler_;
};

}  // namespace ssdcache::server
