#include "runner.h"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>

namespace ssdcache::bench {

namespace {

volatile sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kNever = INT64_MAX;
// One buffer for every connection: the parser consumes each read completely.
constexpr size_t kReadBufSize = 256 * 1024;
// Reads per readiness event, so one busy connection cannot starve the others (epoll is
// level-triggered and reports it again).
constexpr int kMaxReadsPerEvent = 8;
// Output buffer per connection, unless one request needs more; it bounds memory with many
// connections while still batching a deep pipeline of small requests into one send.
constexpr size_t kOutBufSize = 16 * 1024;
constexpr int64_t kMinBackoffNs = 10 * kNsPerMs;
constexpr int64_t kMaxBackoffNs = kNsPerSec;
constexpr int kMaxEvents = 256;
// "set " + " 0 0 " + up to 7 length digits + two CRLFs, with room to spare.
constexpr size_t kRequestOverhead = 32;
// Timeouts are checked at this period at most (and at a quarter of --timeout if shorter).
constexpr int64_t kTimeoutCheckNs = 10 * kNsPerMs;

std::string_view PhaseName(int phase) {
  static constexpr std::string_view kNames[] = {"preload", "warmup", "measure", "drain", "done"};
  return kNames[phase];
}

}  // namespace

bool ResolveServers(const Config& config, std::vector<ResolvedServer>* out, std::string* error) {
  out->clear();
  for (const ServerAddr& server : config.servers) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(server.port);
    const int rc = getaddrinfo(server.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      *error = fmt::format("--server: cannot resolve '{}': {}", server.host,
                           rc != 0 ? gai_strerror(rc) : "no address");
      return false;
    }
    ResolvedServer resolved;
    std::memcpy(&resolved.addr, found->ai_addr, found->ai_addrlen);
    resolved.addr_len = found->ai_addrlen;
    resolved.name = server.ToString();
    freeaddrinfo(found);
    out->push_back(std::move(resolved));
  }
  return true;
}

void InstallStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Runner::Runner(const Config& config, std::vector<ResolvedServer> servers)
    : config_(config),
      servers_(std::move(servers)),
      filler_(config.sizes.max, config.seed ^ 0x5eed'f111'e4ULL),
      rng_(config.seed),
      keys_(config.key_space, config.key_dist),
      key_width_(config.KeyWidth()) {
  max_request_bytes_ = kRequestOverhead + config.key_prefix.size() +
                       static_cast<size_t>(key_width_) + config.sizes.max;
  out_cap_ =
      std::max(max_request_bytes_,
               std::min(kOutBufSize, static_cast<size_t>(config.pipeline) * max_request_bytes_));
  timeout_ns_ = static_cast<int64_t>(config.timeout_ms) * kNsPerMs;
  stall_ns_ = std::max<int64_t>(5 * kNsPerSec, 3 * timeout_ns_);
}

Runner::~Runner() {
  for (Conn& conn : conns_) {
    if (conn.fd >= 0) close(conn.fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

int64_t Runner::Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

PhaseStats& Runner::StatsFor(Phase phase) {
  switch (phase) {
    case Phase::kPreload:
      return result_.preload;
    case Phase::kWarmup:
      return result_.warmup;
    default:
      return result_.measure;
  }
}

void Runner::LogLimited(uint64_t* budget, std::string_view text) const {
  if (*budget == 0) return;
  if (--*budget == 0) {
    fmt::print(stderr, "ssdcache-bench: {} (further messages of this kind suppressed)\n", text);
  } else {
    fmt::print(stderr, "ssdcache-bench: {}\n", text);
  }
}

bool Runner::Run(RunResult* result) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    fmt::print(stderr, "ssdcache-bench: epoll_create1: {}\n", std::strerror(errno));
    return false;
  }
  // One descriptor per connection; raise the soft limit rather than fail half-way.
  rlimit limit{};
  const rlim_t needed = static_cast<rlim_t>(config_.num_conns) + 64;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < needed) {
    limit.rlim_cur = std::min(needed, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < needed) {
      fmt::print(stderr, "ssdcache-bench: open-file limit {} is below {} connections\n",
                 limit.rlim_cur, config_.num_conns);
    }
  }

  read_buf_ = std::make_unique<char[]>(kReadBufSize);
  conns_.resize(config_.num_conns);
  to_flush_.reserve(config_.num_conns);
  for (uint32_t i = 0; i < config_.num_conns; ++i) {
    Conn& conn = conns_[i];
    conn.index = i;
    conn.server = i % static_cast<uint32_t>(servers_.size());
    conn.slots = std::make_unique<Slot[]>(config_.pipeline);
    conn.out = std::make_unique<char[]>(out_cap_);
    conn.parser = std::make_unique<ReplyParser>(config_.verify);
  }

  int64_t now = Now();
  run_start_ns_ = now;
  last_progress_ns_ = now;
  last_report_ns_ = now;
  next_report_ns_ = now + kNsPerSec;
  next_retry_ns_ = kNever;
  next_timeout_check_ns_ = now;
  phase_start_ns_ = now;
  EnterPhase(config_.preload        ? Phase::kPreload
             : config_.warmup_s > 0 ? Phase::kWarmup
                                    : Phase::kMeasure,
             now);

  epoll_event events[kMaxEvents];
  // Each pass either handles events or sleeps until the next deadline; the phases end by
  // themselves (duration, num-calls, drain deadline, stall detection), so the loop does too.
  while (phase_ != Phase::kDone) {
    now = Now();
    if (g_stop && phase_ < Phase::kDrain) {
      result_.stop_reason = "interrupted";
      EnterPhase(Phase::kDrain, now);
    }
    // The report first, so a second's line is labelled with the phase it mostly covered.
    if (now >= next_report_ns_) Report(now);
    RampAndRetry(now);
    AdvancePhase(now);
    if (phase_ == Phase::kDone) break;
    if (OpenLoopActive()) DispatchOpenLoop(now);
    if (now >= next_timeout_check_ns_) CheckTimeouts(now);
    const int64_t wait_ns = NextWaitNs(Now());
    const timespec wait{static_cast<time_t>(wait_ns / kNsPerSec),
                        static_cast<long>(wait_ns % kNsPerSec)};
    const int ready = epoll_pwait2(epoll_fd_, events, kMaxEvents, &wait, nullptr);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fmt::print(stderr, "ssdcache-bench: epoll_pwait2: {}\n", std::strerror(errno));
      result_.stalled = true;
      result_.stop_reason = "epoll_pwait2 failed";
      break;
    }
    for (int i = 0; i < ready; ++i) HandleEvent(conns_[events[i].data.u32], events[i].events);
  }

  now = Now();
  result_.conns_open_at_end = conns_open_;
  for (Conn& conn : conns_) {
    if (conn.state != Conn::State::kIdle) CloseConn(conn, now, CloseCause::kStop);
  }
  if (measure_start_ns_ != 0) {
    const int64_t end = std::max(measure_stop_ns_, last_measured_reply_ns_);
    result_.measure_s = static_cast<double>(end - measure_start_ns_) / kNsPerSec;
  }
  *result = std::move(result_);
  return true;
}

void Runner::EnterPhase(Phase phase, int64_t now) {
  if (phase_ == Phase::kPreload && phase != Phase::kPreload) {
    result_.preload_s = static_cast<double>(now - phase_start_ns_) / kNsPerSec;
  }
  if (phase_ == Phase::kMeasure && phase > Phase::kMeasure) measure_stop_ns_ = now;
  phase_ = phase;
  phase_start_ns_ = now;
  last_progress_ns_ = now;
  sched_start_ns_ = now;
  sched_issued_ = 0;
  switch (phase) {
    case Phase::kPreload:
      break;
    case Phase::kWarmup:
      warmup_end_ns_ = now + static_cast<int64_t>(config_.warmup_s * kNsPerSec);
      FillAll(now);
      break;
    case Phase::kMeasure:
      measure_start_ns_ = now;
      last_measured_reply_ns_ = now;
      measure_end_ns_ = config_.duration_s > 0
                            ? now + static_cast<int64_t>(config_.duration_s * kNsPerSec)
                            : kNever;
      FillAll(now);
      break;
    case Phase::kDrain:
      drain_deadline_ns_ = now + timeout_ns_ + 100 * kNsPerMs;
      break;
    case Phase::kDone:
      break;
  }
}

void Runner::AdvancePhase(int64_t now) {
  // Only replies count as progress: a server that accepts connections and never answers must
  // stop the run too. An open loop with nothing due and every connection up is idle, not stalled.
  const bool expecting_replies = phase_ == Phase::kPreload || config_.call_rate == 0 ||
                                 outstanding_ > 0 || conns_open_ < conns_started_;
  if (phase_ < Phase::kDrain && expecting_replies && now - last_progress_ns_ > stall_ns_) {
    result_.stalled = true;
    result_.stop_reason =
        fmt::format("stalled in {}: no reply for {:.1f} s", PhaseName(static_cast<int>(phase_)),
                    static_cast<double>(now - last_progress_ns_) / kNsPerSec);
    fmt::print(stderr, "ssdcache-bench: {}\n", result_.stop_reason);
    EnterPhase(Phase::kDrain, now);
  }
  switch (phase_) {
    case Phase::kPreload:
      if (preload_next_ >= config_.key_space && preload_outstanding_ == 0) {
        result_.preload_done = true;
        EnterPhase(config_.warmup_s > 0 ? Phase::kWarmup : Phase::kMeasure, now);
      }
      break;
    case Phase::kWarmup:
      if (now >= warmup_end_ns_) EnterPhase(Phase::kMeasure, now);
      break;
    case Phase::kMeasure:
      if (now >= measure_end_ns_) {
        result_.stop_reason = "duration";
        EnterPhase(Phase::kDrain, now);
      } else if (config_.num_calls > 0 && measured_issued_ >= config_.num_calls) {
        result_.stop_reason = "num-calls";
        EnterPhase(Phase::kDrain, now);
      }
      break;
    case Phase::kDrain:
      if (outstanding_ == 0 || now >= drain_deadline_ns_) phase_ = Phase::kDone;
      break;
    case Phase::kDone:
      break;
  }
}

void Runner::RampAndRetry(int64_t now) {
  if (phase_ >= Phase::kDrain) return;
  while (conns_started_ < conns_.size()) {
    const int64_t due =
        config_.conn_rate > 0
            ? run_start_ns_ + static_cast<int64_t>(conns_started_ * (kNsPerSec / config_.conn_rate))
            : run_start_ns_;
    if (due > now) break;
    Conn& conn = conns_[conns_started_++];
    conn.started = true;
    StartConnect(conn, now);
  }
  if (next_retry_ns_ > now) return;
  next_retry_ns_ = kNever;
  for (uint32_t i = 0; i < conns_started_; ++i) {
    Conn& conn = conns_[i];
    if (conn.state != Conn::State::kIdle) continue;
    if (conn.retry_at_ns <= now) {
      StartConnect(conn, now);  // on failure it schedules itself again through CloseConn
    } else {
      next_retry_ns_ = std::min(next_retry_ns_, conn.retry_at_ns);
    }
  }
}

void Runner::StartConnect(Conn& conn, int64_t now) {
  const ResolvedServer& server = servers_[conn.server];
  conn.connect_start_ns = now;
  conn.fd = socket(server.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn.fd < 0) {
    LogLimited(&error_log_budget_, fmt::format("socket: {}", std::strerror(errno)));
    CloseConn(conn, now, CloseCause::kConnect);
    return;
  }
  const int one = 1;
  setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u32 = conn.index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn.fd, &ev) != 0) {
    LogLimited(&error_log_budget_, fmt::format("epoll_ctl: {}", std::strerror(errno)));
    CloseConn(conn, now, CloseCause::kConnect);
    return;
  }
  conn.want_write = true;
  conn.state = Conn::State::kConnecting;
  if (connect(conn.fd, reinterpret_cast<const sockaddr*>(&server.addr), server.addr_len) == 0) {
    OnConnected(conn, now);
  } else if (errno != EINPROGRESS) {
    LogLimited(&error_log_budget_,
               fmt::format("connect to {}: {}", server.name, std::strerror(errno)));
    CloseConn(conn, now, CloseCause::kConnect);
  }
}

void Runner::OnConnected(Conn& conn, int64_t now) {
  conn.state = Conn::State::kOpen;
  conn.backoff_ns = 0;
  ++conns_open_;
  SetWantWrite(conn, false);
  Fill(conn, now);
}

void Runner::CloseConn(Conn& conn, int64_t now, CloseCause cause) {
  if (conn.state == Conn::State::kOpen) --conns_open_;
  if (cause == CloseCause::kConnect) ++Current().errors.connect;
  while (conn.outstanding > 0) {
    ++StatsFor(conn.slots[conn.head].phase).errors.aborted;
    PopSlot(conn);
  }
  if (conn.fd >= 0) close(conn.fd);  // closing also removes it from the epoll set
  conn.fd = -1;
  conn.state = Conn::State::kIdle;
  conn.want_write = false;
  conn.out_begin = conn.out_end = 0;
  conn.parser->Reset();
  if (phase_ < Phase::kDrain && cause != CloseCause::kStop) {
    conn.backoff_ns = cause == CloseCause::kConnect
                          ? std::clamp(2 * conn.backoff_ns, kMinBackoffNs, kMaxBackoffNs)
                          : kMinBackoffNs;
    conn.retry_at_ns = now + conn.backoff_ns;
    next_retry_ns_ = std::min(next_retry_ns_, conn.retry_at_ns);
  } else {
    conn.retry_at_ns = kNever;
  }
}

void Runner::SetWantWrite(Conn& conn, bool want) {
  if (conn.want_write == want || conn.fd < 0) return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u32 = conn.index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &ev);
  conn.want_write = want;
}

void Runner::HandleEvent(Conn& conn, uint32_t events) {
  if (conn.state == Conn::State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    const int64_t now = Now();
    if (err != 0) {
      LogLimited(&error_log_budget_,
                 fmt::format("connect to {}: {}", servers_[conn.server].name, std::strerror(err)));
      CloseConn(conn, now, CloseCause::kConnect);
    } else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      OnConnected(conn, now);
    }
    return;
  }
  if (conn.state != Conn::State::kOpen) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    HandleReadable(conn);
    if (conn.state != Conn::State::kOpen) return;
  }
  if (events & EPOLLOUT) {
    if (!Flush(conn)) return;
    Fill(conn, Now());
  }
}

void Runner::HandleReadable(Conn& conn) {
  char* buf = read_buf_.get();
  for (int reads = 0; reads < kMaxReadsPerEvent; ++reads) {
    const ssize_t n = recv(conn.fd, buf, kReadBufSize, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      LogLimited(&error_log_budget_,
                 fmt::format("read from {}: {}", servers_[conn.server].name, std::strerror(errno)));
      CloseConn(conn, Now(), CloseCause::kConnect);
      return;
    }
    const int64_t now = Now();
    if (n == 0) {
      LogLimited(&error_log_budget_,
                 fmt::format("{} closed a connection", servers_[conn.server].name));
      CloseConn(conn, now, CloseCause::kConnect);
      return;
    }
    size_t offset = 0;
    const size_t size = static_cast<size_t>(n);
    while (offset < size) {
      Reply reply;
      const size_t used = conn.parser->Feed(buf + offset, size - offset, &reply);
      offset += used;
      if (reply.kind == ReplyKind::kNone || used == 0) break;
      if (!OnReply(conn, reply, now)) return;
    }
    if (size < kReadBufSize) break;
  }
  Fill(conn, Now());
}

void Runner::PopSlot(Conn& conn) {
  const Slot& slot = conn.slots[conn.head];
  if (slot.phase == Phase::kPreload) --preload_outstanding_;
  conn.head = conn.head + 1 == config_.pipeline ? 0 : conn.head + 1;
  --conn.outstanding;
  --outstanding_;
}

void Runner::RecordWrong(const Conn& conn, const Slot& slot, std::string_view why) {
  ++StatsFor(slot.phase).errors.wrong_value;
  ++result_.wrong_values_all_phases;
  LogLimited(&wrong_log_budget_,
             fmt::format("wrong_value from {}: {}", servers_[conn.server].name, why));
}

bool Runner::OnReply(Conn& conn, const Reply& reply, int64_t now) {
  const auto server_name = [&] { return std::string_view(servers_[conn.server].name); };
  if (conn.outstanding == 0) {
    ++Current().errors.protocol;
    LogLimited(&error_log_budget_, fmt::format("protocol error from {}: {} without a request",
                                               server_name(), ReplyKindName(reply.kind)));
    CloseConn(conn, now, CloseCause::kProtocol);
    return false;
  }
  const Slot slot = conn.slots[conn.head];
  PhaseStats& stats = StatsFor(slot.phase);

  bool mismatch = false;
  bool hit = false;
  CloseCause close_cause = CloseCause::kStop;  // kStop here means "keep the connection"
  switch (reply.kind) {
    case ReplyKind::kHit: {
      if (slot.is_set) {
        mismatch = true;
        break;
      }
      ++stats.gets;
      char key_buf[ReplyParser::kMaxKey + 32];
      const std::string_view expected(key_buf, FormatKey(key_buf, slot.key_id) - key_buf);
      if (reply.key != expected) {
        RecordWrong(conn, slot, fmt::format("asked for {} but got VALUE {}", expected, reply.key));
      } else if (config_.verify) {
        const VerifyResult verdict =
            CheckValue(reply.head, reply.head_len, reply.length, reply.tail_crc, slot.key_id);
        if (verdict == VerifyResult::kOk) {
          hit = true;
        } else {
          RecordWrong(conn, slot,
                      fmt::format("key {}: {} (length {})", expected, VerifyResultName(verdict),
                                  reply.length));
        }
      } else {
        hit = true;
      }
      if (hit) ++stats.hits;
      break;
    }
    case ReplyKind::kMiss:
      if (slot.is_set) {
        mismatch = true;
      } else {
        ++stats.gets;
        ++stats.misses;
      }
      break;
    case ReplyKind::kStored:
    case ReplyKind::kNotStored:
    case ReplyKind::kExists:
    case ReplyKind::kNotFound:
      if (!slot.is_set) {
        mismatch = true;
      } else {
        ++stats.sets;
        ++(reply.kind == ReplyKind::kStored ? stats.stored : stats.not_stored);
      }
      break;
    case ReplyKind::kServerError:
      ++stats.errors.server_error;
      LogLimited(&error_log_budget_,
                 fmt::format("SERVER_ERROR from {}: {}", server_name(), reply.message));
      break;
    case ReplyKind::kClientError:
      // The server may now read the rest of our stream as commands: start a fresh connection.
      ++stats.errors.client_error;
      LogLimited(&error_log_budget_,
                 fmt::format("CLIENT_ERROR from {}: {}", server_name(), reply.message));
      close_cause = CloseCause::kClientError;
      break;
    case ReplyKind::kError:
      ++stats.errors.error;
      LogLimited(&error_log_budget_, fmt::format("ERROR from {}", server_name()));
      close_cause = CloseCause::kError;
      break;
    case ReplyKind::kProtocolError:
      ++stats.errors.protocol;
      LogLimited(&error_log_budget_,
                 fmt::format("protocol error from {}: {}", server_name(), reply.message));
      close_cause = CloseCause::kProtocol;
      break;
    case ReplyKind::kNone:
      return true;
  }
  if (mismatch) {
    ++stats.errors.protocol;
    LogLimited(&error_log_budget_,
               fmt::format("protocol error from {}: {} in reply to a {}", server_name(),
                           ReplyKindName(reply.kind), slot.is_set ? "set" : "get"));
    close_cause = CloseCause::kProtocol;
  } else if (close_cause != CloseCause::kProtocol) {
    const uint64_t latency_us =
        now > slot.start_ns ? static_cast<uint64_t>(now - slot.start_ns + 500) / 1000 : 0;
    (slot.is_set ? stats.set_latency : stats.get_latency).Record(latency_us);
    interval_latency_.Record(latency_us);
    ++interval_ops_;
    if (!slot.is_set && (reply.kind == ReplyKind::kHit || reply.kind == ReplyKind::kMiss)) {
      ++interval_gets_;
      if (hit) ++interval_hits_;
    }
    if (slot.phase == Phase::kMeasure) last_measured_reply_ns_ = now;
  }
  PopSlot(conn);
  if (close_cause != CloseCause::kStop) {
    CloseConn(conn, now, close_cause);
    return false;
  }
  // Only replies that keep the stream usable are progress; a server answering garbage or ERROR to
  // everything must still end up as a stall rather than an endless cycle of reconnects.
  last_progress_ns_ = now;
  return true;
}

bool Runner::Flush(Conn& conn) {
  // Each pass sends something or returns.
  while (conn.out_begin < conn.out_end) {
    const ssize_t n =
        send(conn.fd, conn.out.get() + conn.out_begin, conn.out_end - conn.out_begin, MSG_NOSIGNAL);
    if (n > 0) {
      conn.out_begin += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetWantWrite(conn, true);
      return true;
    }
    LogLimited(&error_log_budget_, fmt::format("write to {}: {}", servers_[conn.server].name,
                                               n < 0 ? std::strerror(errno) : "no progress"));
    CloseConn(conn, Now(), CloseCause::kConnect);
    return false;
  }
  conn.out_begin = conn.out_end = 0;
  SetWantWrite(conn, false);
  return true;
}

bool Runner::HasRoom(Conn& conn) {
  if (out_cap_ - conn.out_end >= max_request_bytes_) return true;
  if (conn.out_begin > 0) {
    std::memmove(conn.out.get(), conn.out.get() + conn.out_begin, conn.out_end - conn.out_begin);
    conn.out_end -= conn.out_begin;
    conn.out_begin = 0;
  }
  return out_cap_ - conn.out_end >= max_request_bytes_;
}

char* Runner::FormatKey(char* p, uint64_t key_id) const {
  std::memcpy(p, config_.key_prefix.data(), config_.key_prefix.size());
  p += config_.key_prefix.size();
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), key_id);
  const int len = static_cast<int>(end - digits);
  for (int pad = key_width_ - len; pad > 0; --pad) *p++ = '0';
  std::memcpy(p, digits, static_cast<size_t>(len));
  return p + len;
}

void Runner::Issue(Conn& conn, int64_t now, int64_t start_ns) {
  Slot& slot = conn.slots[(conn.head + conn.outstanding) % config_.pipeline];
  bool is_set;
  uint64_t key_id;
  if (phase_ == Phase::kPreload) {
    is_set = true;
    key_id = preload_next_++;
    ++preload_outstanding_;
  } else {
    is_set = config_.method == Method::kSet ||
             (config_.method == Method::kMixed && rng_.NextDouble() < config_.set_ratio);
    key_id = keys_.Next(rng_);
    if (phase_ == Phase::kMeasure) ++measured_issued_;
  }
  char* p = conn.out.get() + conn.out_end;
  if (is_set) {
    const uint32_t size = config_.sizes.Sample(rng_);
    std::memcpy(p, "set ", 4);
    p = FormatKey(p + 4, key_id);
    std::memcpy(p, " 0 0 ", 5);
    p = std::to_chars(p + 5, p + 16, size).ptr;
    *p++ = '\r';
    *p++ = '\n';
    if (config_.verify) {
      EncodeValue(p, size, key_id, version_++, filler_);
    } else {
      std::memcpy(p, filler_.data(), size);
    }
    p += size;
  } else {
    std::memcpy(p, "get ", 4);
    p = FormatKey(p + 4, key_id);
  }
  *p++ = '\r';
  *p++ = '\n';
  conn.out_end = static_cast<size_t>(p - conn.out.get());
  slot = Slot{key_id, start_ns, now, is_set, phase_};
  ++conn.outstanding;
  ++outstanding_;
  ++Current().issued;
}

bool Runner::ClosedLoopMayIssue(int64_t now) const {
  switch (phase_) {
    case Phase::kPreload:
      return preload_next_ < config_.key_space;
    case Phase::kWarmup:
      return config_.call_rate == 0;
    case Phase::kMeasure:
      return config_.call_rate == 0 &&
             (config_.num_calls == 0 || measured_issued_ < config_.num_calls) &&
             now < measure_end_ns_;
    default:
      return false;
  }
}

void Runner::Fill(Conn& conn, int64_t now) {
  if (conn.state != Conn::State::kOpen) return;
  while (conn.outstanding < config_.pipeline && ClosedLoopMayIssue(now)) {
    if (!HasRoom(conn)) {
      if (!Flush(conn)) return;
      if (!HasRoom(conn)) break;  // the socket is full; EPOLLOUT resumes us
    }
    Issue(conn, now, now);
  }
  Flush(conn);
}

void Runner::FillAll(int64_t now) {
  for (uint32_t i = 0; i < conns_started_; ++i) Fill(conns_[i], now);
}

bool Runner::OpenLoopActive() const {
  return config_.call_rate > 0 && (phase_ == Phase::kWarmup || phase_ == Phase::kMeasure);
}

void Runner::DispatchOpenLoop(int64_t now) {
  dispatch_blocked_ = false;
  if (phase_ == Phase::kMeasure && now >= measure_end_ns_) return;
  // Request i of the schedule is due at sched_start + i / rate.
  const double elapsed_s = static_cast<double>(now - sched_start_ns_) / kNsPerSec;
  uint64_t due = static_cast<uint64_t>(std::floor(elapsed_s * config_.call_rate)) + 1;
  if (phase_ == Phase::kMeasure && config_.num_calls > 0) due = std::min(due, config_.num_calls);
  const uint32_t n = static_cast<uint32_t>(conns_.size());
  // The requests due now are queued first and each connection's are sent with one send(): at a
  // high rate many fall due per wake-up, and a send per request capped the schedule at ~185k/s.
  to_flush_.clear();
  while (sched_issued_ < due) {
    Conn* target = nullptr;
    for (uint32_t probe = 0; probe < n && target == nullptr; ++probe) {
      Conn& conn = conns_[rr_cursor_];
      rr_cursor_ = rr_cursor_ + 1 == n ? 0 : rr_cursor_ + 1;
      if (conn.state == Conn::State::kOpen && conn.outstanding < config_.pipeline && HasRoom(conn))
        target = &conn;
    }
    if (target == nullptr) {
      dispatch_blocked_ = true;  // replies or writability will wake the loop
      break;
    }
    const int64_t intended =
        sched_start_ns_ +
        static_cast<int64_t>(static_cast<double>(sched_issued_) * kNsPerSec / config_.call_rate);
    Issue(*target, now, intended);
    ++sched_issued_;
    if (!target->flush_queued) {
      target->flush_queued = true;
      to_flush_.push_back(target->index);
    }
  }
  for (const uint32_t i : to_flush_) {
    conns_[i].flush_queued = false;
    if (conns_[i].state == Conn::State::kOpen) Flush(conns_[i]);
  }
}

void Runner::CheckTimeouts(int64_t now) {
  next_timeout_check_ns_ = now + std::clamp<int64_t>(timeout_ns_ / 4, kNsPerMs, kTimeoutCheckNs);
  for (uint32_t i = 0; i < conns_started_; ++i) {
    Conn& conn = conns_[i];
    if (conn.state == Conn::State::kOpen && conn.outstanding > 0) {
      const Slot& head = conn.slots[conn.head];
      if (now - head.sent_ns < timeout_ns_) continue;
      ++StatsFor(head.phase).errors.timeout;
      LogLimited(&error_log_budget_, fmt::format("request to {} timed out after {} ms",
                                                 servers_[conn.server].name, config_.timeout_ms));
      PopSlot(conn);
      // The late reply would be matched to the next request: only a new connection is in sync.
      CloseConn(conn, now, CloseCause::kTimeout);
    } else if (conn.state == Conn::State::kConnecting &&
               now - conn.connect_start_ns >= timeout_ns_) {
      LogLimited(&error_log_budget_,
                 fmt::format("connect to {} timed out", servers_[conn.server].name));
      CloseConn(conn, now, CloseCause::kConnect);
    }
  }
}

void Runner::Report(int64_t now) {
  next_report_ns_ += kNsPerSec;
  if (next_report_ns_ <= now) next_report_ns_ = now + kNsPerSec;
  if (!config_.quiet) {
    const double seconds = static_cast<double>(now - last_report_ns_) / kNsPerSec;
    const double elapsed = static_cast<double>(now - run_start_ns_) / kNsPerSec;
    const PhaseStats& stats = Current();
    const std::string detail =
        phase_ == Phase::kPreload
            ? fmt::format("keys {}/{}", result_.preload.stored, config_.key_space)
            : fmt::format("hit {:.3f}", interval_gets_ ? static_cast<double>(interval_hits_) /
                                                             static_cast<double>(interval_gets_)
                                                       : 0.0);
    fmt::print(stderr, "[{:7.1f}s] {:<7} ops/s {:>9.0f}  {}  p99 {}us  errors {}  conns {}/{}\n",
               elapsed, PhaseName(static_cast<int>(phase_)),
               seconds > 0 ? static_cast<double>(interval_ops_) / seconds : 0.0, detail,
               interval_latency_.Percentile(99), stats.errors.Total(), conns_open_,
               config_.num_conns);
  }
  last_report_ns_ = now;
  interval_ops_ = interval_gets_ = interval_hits_ = 0;
  interval_latency_.Reset();
}

int64_t Runner::NextWaitNs(int64_t now) const {
  if (g_stop) return 0;
  int64_t next = next_report_ns_;
  switch (phase_) {
    case Phase::kWarmup:
      next = std::min(next, warmup_end_ns_);
      break;
    case Phase::kMeasure:
      next = std::min(next, measure_end_ns_);
      break;
    case Phase::kDrain:
      next = std::min(next, drain_deadline_ns_);
      break;
    default:
      break;
  }
  if (phase_ < Phase::kDrain) {
    if (conns_started_ < conns_.size()) {
      next = std::min(
          next, config_.conn_rate > 0
                    ? run_start_ns_ +
                          static_cast<int64_t>(conns_started_ * (kNsPerSec / config_.conn_rate))
                    : now);
    }
    next = std::min(next, next_retry_ns_);
  }
  if (OpenLoopActive() && !dispatch_blocked_) {
    next =
        std::min(next, sched_start_ns_ + static_cast<int64_t>(static_cast<double>(sched_issued_) *
                                                              kNsPerSec / config_.call_rate));
  }
  if (outstanding_ > 0 || conns_open_ < conns_started_)
    next = std::min(next, next_timeout_check_ns_);
  if (next <= now) return 0;
  return std::min<int64_t>(next - now, kNsPerSec);
}

}  // namespace ssdcache::bench
