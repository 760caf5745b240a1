// The load generator's event loop: one thread, one epoll set, non-blocking sockets. It owns the
// connections, the phases of a run (preload, warmup, measure, drain), the request schedule and
// the per-second progress line, and fills a RunResult.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "histogram.h"
#include "key_dist.h"
#include "reply_parser.h"
#include "rng.h"
#include "stats.h"
#include "value.h"

namespace ssdcache::bench {

struct ResolvedServer {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string name;  // as given on the command line
};

// Resolves --server values once, before the loop; false with a one-line reason in *error.
bool ResolveServers(const Config& config, std::vector<ResolvedServer>* out, std::string* error);

// Makes SIGINT and SIGTERM end the measurement early (the summary is still printed); a second
// signal kills the process.
void InstallStopSignals();

class Runner {
 public:
  Runner(const Config& config, std::vector<ResolvedServer> servers);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runs to the end; false only if the loop could not be set up (reason on stderr).
  bool Run(RunResult* result);

 private:
  enum class Phase : uint8_t { kPreload, kWarmup, kMeasure, kDrain, kDone };

  struct Slot {
    uint64_t key_id;
    int64_t start_ns;  // latency origin: the scheduled time in open loop, else the send time
    int64_t sent_ns;   // timeouts count from here
    bool is_set;
    Phase phase;
  };

  struct Conn {
    int fd = -1;
    enum class State : uint8_t { kIdle, kConnecting, kOpen } state = State::kIdle;
    uint32_t index = 0;
    uint32_t server = 0;
    bool started = false;     // ramp-up reached it
    bool want_write = false;  // EPOLLOUT registered
    int64_t retry_at_ns = 0;  // kIdle after a failure: when to reconnect
    int64_t connect_start_ns = 0;
    int64_t backoff_ns = 0;
    std::unique_ptr<Slot[]> slots;  // ring of config.pipeline
    uint32_t head = 0;
    uint32_t outstanding = 0;
    std::unique_ptr<char[]> out;
    size_t out_begin = 0;
    size_t out_end = 0;
    std::unique_ptr<ReplyParser> parser;
    bool flush_queued = false;  // in to_flush_: DispatchOpenLoop sends once per connection
  };

  enum class CloseCause { kConnect, kTimeout, kProtocol, kClientError, kError, kStop };

  static int64_t Now();
  PhaseStats& StatsFor(Phase phase);
  PhaseStats& Current() { return StatsFor(phase_); }

  void StartConnect(Conn& conn, int64_t now);
  void OnConnected(Conn& conn, int64_t now);
  void CloseConn(Conn& conn, int64_t now, CloseCause cause);
  void HandleEvent(Conn& conn, uint32_t events);
  void HandleReadable(Conn& conn);
  bool OnReply(Conn& conn, const Reply& reply, int64_t now);  // false if conn was closed
  void PopSlot(Conn& conn);
  bool Flush(Conn& conn);  // false if conn was closed
  void SetWantWrite(Conn& conn, bool want);

  bool HasRoom(Conn& conn);
  void Issue(Conn& conn, int64_t now, int64_t start_ns);
  char* FormatKey(char* p, uint64_t key_id) const;
  bool ClosedLoopMayIssue(int64_t now) const;
  void Fill(Conn& conn, int64_t now);
  void FillAll(int64_t now);
  void DispatchOpenLoop(int64_t now);
  bool OpenLoopActive() const;

  void RampAndRetry(int64_t now);
  void CheckTimeouts(int64_t now);
  void AdvancePhase(int64_t now);
  void EnterPhase(Phase phase, int64_t now);
  void Report(int64_t now);
  // How long the loop may sleep, in nanoseconds (at most a second). Nanoseconds, not epoll_wait's
  // milliseconds: an open-loop request due in 10 µs would otherwise be sent up to 1 ms late, and
  // latency counts from the scheduled time.
  int64_t NextWaitNs(int64_t now) const;
  void RecordWrong(const Conn& conn, const Slot& slot, std::string_view why);
  void LogLimited(uint64_t* budget, std::string_view text) const;

  const Config& config_;
  std::vector<ResolvedServer> servers_;
  int epoll_fd_ = -1;
  std::vector<Conn> conns_;
  std::unique_ptr<char[]> read_buf_;
  Filler filler_;
  Rng rng_;
  KeyChooser keys_;
  size_t max_request_bytes_ = 0;
  size_t out_cap_ = 0;
  int key_width_ = 0;

  Phase phase_ = Phase::kPreload;
  int64_t run_start_ns_ = 0;
  int64_t phase_start_ns_ = 0;
  int64_t warmup_end_ns_ = 0;
  int64_t measure_start_ns_ = 0;
  int64_t measure_end_ns_ = 0;   // --duration deadline
  int64_t measure_stop_ns_ = 0;  // when issuing stopped
  int64_t last_measured_reply_ns_ = 0;
  int64_t drain_deadline_ns_ = 0;
  int64_t next_report_ns_ = 0;
  int64_t last_report_ns_ = 0;
  int64_t next_timeout_check_ns_ = 0;
  int64_t next_retry_ns_ = 0;  // earliest retry_at among idle started conns; INT64_MAX if none
  int64_t last_progress_ns_ = 0;
  int64_t timeout_ns_ = 0;
  int64_t stall_ns_ = 0;

  uint32_t conns_started_ = 0;
  uint32_t conns_open_ = 0;
  uint64_t outstanding_ = 0;
  uint64_t preload_next_ = 0;
  uint64_t preload_outstanding_ = 0;
  uint64_t measured_issued_ = 0;
  uint64_t sched_issued_ = 0;  // open loop: requests sent in this phase's schedule
  int64_t sched_start_ns_ = 0;
  bool dispatch_blocked_ = false;
  std::vector<uint32_t> to_flush_;  // connections DispatchOpenLoop queued requests on
  uint32_t rr_cursor_ = 0;
  uint32_t version_ = 0;

  // The per-second progress line.
  uint64_t interval_ops_ = 0;
  uint64_t interval_gets_ = 0;
  uint64_t interval_hits_ = 0;
  Histogram interval_latency_;

  mutable uint64_t wrong_log_budget_ = 10;
  mutable uint64_t error_log_budget_ = 10;

  RunResult result_;
};

}  // namespace ssdcache::bench
