#include "server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "storage/fault_backend.h"
#include "storage/libaio_backend.h"
#include "util/hash.h"

namespace ssdcache::server {

namespace {
constexpr std::string_view kTooManyConnections = "SERVER_ERROR too many open connections\r\n";
constexpr uint64_t kTickMs = 1000;
constexpr uint64_t kShutdownTickMs = 50;
constexpr int kShutdownGraceTicks = 100;  // 5 s to answer what is in flight

std::string ErrnoText(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// A hash of the kernel's boot id (new at every boot), read once at start: the superblock keeps it
// so that a process-mode journal is not trusted across a reboot (engine.h). SSDCACHE_BOOT_ID
// replaces it, so that tests can play a reboot. 0: unknown (counts as another boot).
uint64_t BootIdHash() {
  std::string id;
  if (const char* env = std::getenv("SSDCACHE_BOOT_ID"); env != nullptr && *env != '\0') {
    id = env;
  } else {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::getline(in, id);
  }
  if (id.empty()) {
    spdlog::warn(
        "cannot read /proc/sys/kernel/random/boot_id: after a crash with --journal-sync process "
        "the device starts empty");
    return 0;
  }
  const uint64_t h = util::HashKey(id);
  return h != 0 ? h : 1;
}
}  // namespace

class Server::Listener final : public net::EventHandler {
 public:
  Listener(Server& s, const ListenSocket& socket) : server_(s), socket_(socket) {}
  void OnEvent(uint32_t) override { server_.Accept(socket_); }

 private:
  Server& server_;
  const ListenSocket& socket_;
};

class Server::SignalHandler final : public net::EventHandler {
 public:
  explicit SignalHandler(Server& s) : server_(s) {}
  void OnEvent(uint32_t) override {
    signalfd_siginfo info;
    while (::read(server_.signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGHUP) {
        server_.ReopenLog();
      } else {
        spdlog::info("signal {}: shutting down", info.ssi_signo);
        server_.BeginShutdown();
      }
    }
  }

 private:
  Server& server_;
};

class Server::AioHandler final : public net::EventHandler {
 public:
  explicit AioHandler(Server& s) : server_(s) {}
  void OnEvent(uint32_t) override { server_.engine_->ReapIo(); }

 private:
  Server& server_;
};

class Server::ShutdownRequest final : public net::EventHandler {
 public:
  explicit ShutdownRequest(Server& s) : server_(s) {}
  void OnEvent(uint32_t) override {
    spdlog::info("shutdown command: shutting down");
    server_.BeginShutdown();
  }

 private:
  Server& server_;
};

Server::Server(const Config& config)
    : config_(config), shutdown_request_(std::make_unique<ShutdownRequest>(*this)) {}

Server::~Server() {
  if (loop_) loop_->Cancel(shutdown_request_.get());
  for (auto& [ptr, conn] : connections_) conn->Close();
  connections_.clear();
}

std::unique_ptr<Server> Server::Create(const Config& config, std::string& error) {
  auto server = std::unique_ptr<Server>(new Server(config));
  if (!server->Init(error)) return nullptr;
  return server;
}

void Server::UpdateClock() { now_ = static_cast<uint32_t>(::time(nullptr)); }

storage::IoFactory Server::MakeIoFactory() {
  return [this, max_aio = config_.max_aio](
             int fd, std::string& error) -> std::unique_ptr<storage::IoBackend> {
    std::unique_ptr<storage::IoBackend> io = storage::LibaioBackend::Create(fd, max_aio, error);
    if (!io) return nullptr;
    // IO fault injection, for tests only: SSDCACHE_FAULTS holds a spec (storage/fault.h), e.g.
    // "read_eio=0.05,stall=0.01,stall_ms=50,seed=42". Unset or empty: no faults, no decorator.
    const char* faults = std::getenv("SSDCACHE_FAULTS");
    if (faults == nullptr || *faults == '\0') return io;
    std::optional<storage::FaultSpec> spec = storage::FaultSpec::Parse(faults, error);
    if (!spec) {
      error = "SSDCACHE_FAULTS: " + error;
      return nullptr;
    }
    if (!spec->active()) return io;
    spdlog::warn("SSDCACHE_FAULTS: injecting IO faults ({}); never use this in production",
                 spec->ToString());
    // The warm restart reads the device as it is: faults start with serving (OpenStorage).
    faults_ = *spec;
    return std::make_unique<storage::FaultBackend>(std::move(io));
  };
}

bool Server::Init(std::string& error) {
  UpdateClock();
  RaiseFdLimit();
  started_ = now_;
  loop_ = net::EventLoop::Create(error);
  if (!loop_ || !OpenStorage(error)) return false;
  if (config_.tls) {
    tls_ = TlsContext::Create(config_, error);
    if (!tls_) return false;
    cert_refreshed_ = now_;
  }
  if (!OpenListeners(error) || !OpenMetrics(error)) return false;
  return StartEvents(error);
}

// Every connection is a descriptor: raises the soft limit to what -c needs (plus the device, the
// aio eventfd, epoll, timers and the listener), within the hard limit.
void Server::RaiseFdLimit() {
  rlimit nofile{};
  const rlim_t wanted = rlim_t{config_.max_connections} + 64;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < wanted) {
    nofile.rlim_cur = std::min(wanted, nofile.rlim_max);
    setrlimit(RLIMIT_NOFILE, &nofile);
    if (nofile.rlim_cur < wanted) {
      spdlog::warn(
          "-c/--max-connections {} exceeds the open-file limit {}; accepts beyond it wait "
          "until a connection closes",
          config_.max_connections, nofile.rlim_max);
    }
  }
}

// The device and the engine on it (warm restart included), and the parser's value limit.
bool Server::OpenStorage(std::string& error) {
  // Device: create the parent folder of a device file (the default lives under ./data).
  std::filesystem::path dev(config_.device_path);
  if (!dev.parent_path().empty() && !std::filesystem::exists(config_.device_path)) {
    std::error_code ec;
    std::filesystem::create_directories(dev.parent_path(), ec);
  }
  storage::DeviceOptions dopts;
  dopts.path = config_.device_path;
  dopts.file_size = config_.device_size;
  dopts.instance = config_.slice.index;
  dopts.instances = config_.slice.count;
  dopts.min_size = uint64_t{config_.engine.slab_size} * 4;
  dopts.format = config_.format;
  device_ = storage::Device::Open(dopts, MakeIoFactory(), error);
  if (!device_) return false;
  struct statfs fs {};
  if (::statfs(config_.device_path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    // Kernels since 6.6 accept O_DIRECT on tmpfs: it works, but the "SSD" is RAM.
    spdlog::warn("device {} is on tmpfs: items are kept in RAM, not on an SSD",
                 config_.device_path);
  }

  storage::EngineOptions eopts = config_.engine;
  eopts.instance = config_.slice.index;
  eopts.instances = config_.slice.count;
  eopts.boot_id = BootIdHash();
  engine_ = storage::Engine::Create(eopts, *device_, device_->io(), error);
  if (!engine_) return false;
  engine_->set_now(now_);
  if (!engine_->Recover(config_.format, error)) return false;
  if (faults_) {
    static_cast<storage::FaultBackend&>(device_->io())
        .set_injector(std::make_unique<storage::FaultInjector>(*faults_));
  }
  if (config_.engine.journal_size == 0) {
    spdlog::warn(
        "--journal-size 0: no crash journal; after a crash (SIGKILL, power loss) a key may come "
        "back with an older value or a deleted key may come back (a clean shutdown loses nothing)");
  }
  if (engine_->memory_slabs_total() < engine_->classes().count() + 8) {
    // Each class fills its own memory slab: with fewer slabs than busy classes they are written
    // out nearly empty and the device holds far fewer items (docs/operations.md, sizing).
    spdlog::warn(
        "-m/--max-memory holds {} memory slabs for {} slab classes; with item sizes "
        "spread over many classes, use -m >= {} or a smaller -I/--slab-size",
        engine_->memory_slabs_total(), engine_->classes().count(),
        ((uint64_t{engine_->classes().count()} + 8) * config_.engine.slab_size + (1 << 20) - 1) >>
            20);
  }
  engine_->set_memory_listener([this] {
    std::vector<Connection*> waiters;
    waiters.swap(memory_waiters_);
    for (Connection* c : waiters) c->OnMemoryAvailable();
  });
  // The largest value a client may declare: an item holds a 32-byte header and the key too.
  parser_limits_.max_value = engine_->max_item_size() - storage::kItemHeaderSize - 1;

  return true;
}

// Signals, the aio eventfd, the timers and the loop's per-turn hooks.
bool Server::StartEvents(std::string& error) {
  // Signals arrive through a signalfd, handled in the loop like any other event.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    error = ErrnoText("signalfd");
    return false;
  }
  signal_fd_.Reset(sfd);
  signal_handler_ = std::make_unique<SignalHandler>(*this);
  aio_handler_ = std::make_unique<AioHandler>(*this);
  if (!loop_->Add(sfd, EPOLLIN, signal_handler_.get()) ||
      !loop_->Add(engine_->io_event_fd(), EPOLLIN, aio_handler_.get())) {
    error = ErrnoText("epoll_ctl");
    return false;
  }

  tick_timer_ = net::Timer::Create(
      *loop_, [this] { Tick(); }, error);
  if (!tick_timer_) return false;
  tick_timer_->Arm(kTickMs, kTickMs);
  flush_timer_ = net::Timer::Create(
      *loop_,
      [this] {
        spdlog::info("delayed flush_all: invalidating every item");
        engine_->FlushAll();
      },
      error);
  if (!flush_timer_) return false;

  loop_->AddAfterWake([this] {
    UpdateClock();
    engine_->set_now(now_);
  });
  loop_->AddBeforeSleep([this] {
    ReapConnections();
    // Between turns no command holds a view into a memory slab: compaction may move records.
    engine_->CompactOpenSlabs();
    // One journal block per turn carries every entry the turn's requests appended.
    engine_->CommitJournal();
    // Submits everything still queued (Poll() alone leaves it queued while the device is busy)
    // and answers reads that completed during the turn (their connections are deferred, so the
    // loop does not sleep before replying).
    engine_->SubmitIo();
    engine_->PollIo();
  });
  return true;
}

bool Server::OpenListeners(std::string& error) {
  // No -l: 127.0.0.1, unless a unix socket is asked for (then only it, as memcached's -s).
  if (config_.listen.empty() && config_.unix_socket.empty()) {
    config_.listen.push_back(util::ListenAddress{"127.0.0.1", -1});
  }
  if (!OpenListenSockets(config_, sockets_, port_, error)) return false;
  for (const ListenSocket& socket : sockets_) {
    listeners_.push_back(std::make_unique<Listener>(*this, socket));
    if (!loop_->Add(socket.fd.get(), EPOLLIN, listeners_.back().get())) {
      error = ErrnoText("epoll_ctl(listener)");
      return false;
    }
  }
  return true;
}

bool Server::OpenMetrics(std::string& error) {
  std::vector<ListenSocket> sockets;
  if (!OpenMetricsSockets(config_, sockets, error)) return false;
  if (sockets.empty()) return true;  // no --metrics-port
  std::vector<util::UniqueFd> fds;
  for (ListenSocket& socket : sockets) {
    metrics_where_ += (metrics_where_.empty() ? "http://" : ", http://") + socket.name + "/metrics";
    fds.push_back(std::move(socket.fd));
  }
  metrics_ = MetricsHttp::Create(
      *loop_, std::move(fds), [this](std::string& body) { AppendMetricsPage(body); }, error);
  return metrics_ != nullptr;
}

void Server::RequestShutdown() {
  // Not at once: the connection asking is in the middle of its turn.
  if (!shutting_down_) loop_->Defer(shutdown_request_.get());
}

void Server::Accept(const ListenSocket& socket) {
  while (!shutting_down_) {
    int fd = ::accept4(socket.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: retry when a connection closes (edge-triggered, so remember).
        if (!accept_blocked_) {
          spdlog::warn("accept: {}; pausing accepts", std::strerror(errno));
          ++stats_.listen_disabled_num;
          accept_blocked_since_ns_ = util::NowNs();
        }
        accept_blocked_ = true;
      }
      return;
    }
    util::UniqueFd conn_fd(fd);
    ++stats_.total_connections;
    if (open_connections_ >= config_.max_connections) {
      ++stats_.rejected_connections;
      (void)!::send(fd, kTooManyConnections.data(), kTooManyConnections.size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;  // conn_fd closes
    }
    int one = 1;
    if (socket.tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // -Z: TLS on TCP listeners but notls: ones, as memcached (the unix socket stays plain).
    if (!Adopt(std::move(conn_fd), socket.tls && tls_ != nullptr)) {
      spdlog::warn("connection not served: {}", std::strerror(errno));
    }
  }
}

bool Server::Adopt(util::UniqueFd fd, bool tls) {
  std::unique_ptr<Transport> transport =
      tls ? tls_->NewTransport(fd.get(), stats_.ssl_handshake_errors)
          : std::make_unique<PlainTransport>(fd.get());
  return transport != nullptr && Adopt(std::move(fd), std::move(transport));
}

bool Server::Adopt(util::UniqueFd fd, std::unique_ptr<Transport> transport) {
  const int raw_fd = fd.get();
  auto conn =
      std::make_unique<Connection>(*this, std::move(fd), next_conn_id_++, std::move(transport));
  Connection* raw = conn.get();
  if (!raw->Start()) return false;
  connections_.emplace(raw, std::move(conn));
  ++open_connections_;
  spdlog::debug("connection {} accepted (fd {}), {} open", raw->id(), raw_fd, open_connections_);
  return true;
}

void Server::ConnectionClosed(Connection* conn) {
  if (open_connections_ > 0) --open_connections_;
  spdlog::debug("connection {} closed, {} open", conn->id(), open_connections_);
  closed_.push_back(conn);
  if (accept_blocked_) {
    accept_blocked_ = false;
    stats_.listen_disabled_us += (util::NowNs() - accept_blocked_since_ns_) / 1000;
    for (const auto& listener : listeners_) loop_->Defer(listener.get());
  }
}

void Server::ReapConnections() {
  if (closed_.empty()) return;
  std::vector<Connection*> keep;
  for (Connection* c : closed_) {
    if (!c->releasable()) {
      keep.push_back(c);
      continue;
    }
    std::erase(memory_waiters_, c);
    connections_.erase(c);
  }
  closed_.swap(keep);
}

void Server::WaitForMemory(Connection* conn) {
  if (std::find(memory_waiters_.begin(), memory_waiters_.end(), conn) == memory_waiters_.end()) {
    memory_waiters_.push_back(conn);
  }
}

void Server::ScheduleFlush(int64_t delay) {
  if (delay <= 0) {
    flush_timer_->Arm(0, 0);
    engine_->FlushAll();
    return;
  }
  // Like exptime: up to 30 days is relative, beyond is an absolute unix time. memcached (with cas,
  // its default) lets the flush take effect a second before the delay ends (it sets oldest_live to
  // the end time - 1), so a delay of 1 s flushes at once.
  int64_t rel = delay <= 60 * 60 * 24 * 30 ? delay : delay - static_cast<int64_t>(now_);
  rel -= 1;
  if (rel <= 0) {
    flush_timer_->Arm(0, 0);
    engine_->FlushAll();
    return;
  }
  flush_timer_->Arm(static_cast<uint64_t>(rel) * 1000, 0);
}

std::string Server::RefreshCerts() {
  if (!tls_) return "Error TLS not enabled\r\n";  // memcached built with TLS, run without -Z
  std::string error;
  if (!tls_->Refresh(error)) {
    spdlog::warn("refresh_certs: {}", error);
    return error + "\r\n";
  }
  cert_refreshed_ = now_;
  spdlog::info("refresh_certs: TLS certificates reloaded");
  return "OK\r\n";
}

void Server::SetVerbosity(uint32_t level) {
  spdlog::set_level(level >= 2   ? spdlog::level::trace
                    : level == 1 ? spdlog::level::debug
                                 : spdlog::level::info);
}

void Server::ReopenLog() {
  const std::string why = log_reopen_ ? log_reopen_() : "";
  if (why.empty()) {
    spdlog::info("SIGHUP: log reopened");
  } else {
    spdlog::error("SIGHUP: cannot reopen the log file: {}; still logging to the previous one", why);
  }
}

void Server::Tick() {
  engine_->Housekeeping();
  if (metrics_) metrics_->Sweep(util::NowNs());
  if (shutting_down_) {
    if (open_connections_ == 0 || ++shutdown_ticks_ >= kShutdownGraceTicks) {
      for (auto& [ptr, conn] : connections_) conn->Close();
      loop_->Stop();
    }
    return;
  }
  if (config_.idle_timeout_s > 0) {
    std::vector<Connection*> idle;
    for (auto& [ptr, conn] : connections_) {
      if (!conn->closed() && conn->idle() && now_ - conn->last_active() >= config_.idle_timeout_s) {
        idle.push_back(ptr);
      }
    }
    for (Connection* c : idle) {
      ++stats_.idle_kicks;
      c->Close();
    }
  }
}

void Server::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  if (metrics_) metrics_->StopAccepting();
  for (size_t i = 0; i < sockets_.size(); ++i) {
    loop_->Remove(sockets_[i].fd.get());
    loop_->Cancel(listeners_[i].get());
    sockets_[i].fd.Reset();
  }
  std::vector<Connection*> all;
  for (auto& [ptr, conn] : connections_) all.push_back(ptr);
  for (Connection* c : all) c->FinishAndClose();
  tick_timer_->Arm(kShutdownTickMs, kShutdownTickMs);
}

int Server::Run() {
  std::string where;
  for (const ListenSocket& socket : sockets_) where += (where.empty() ? "" : ", ") + socket.name;
  spdlog::info(
      "ssdcached {} listening on {}, device {} ({} MiB, {} disk slabs of {} KiB), "
      "{} memory slabs, index {} MiB ({} entries)",
      SSDCACHE_VERSION, where, device_->path(), device_->size() >> 20, engine_->disk_slabs_total(),
      config_.engine.slab_size >> 10, engine_->memory_slabs_total(), engine_->index().bytes() >> 20,
      engine_->index().capacity());
  if (metrics_) spdlog::info("metrics on {}", metrics_where_);
  loop_->Run();
  // Every acknowledged item that is only in DRAM goes to the device before we exit.
  // A round whose writes all failed makes no progress (a failed slab's tombstones are written
  // again next round): a device that keeps failing is given up on after a few.
  bool flushed = false;
  int failing = 0;
  for (int round = 0; round < 100 && !flushed && failing < 3; ++round) {
    const storage::EngineStats before = engine_->stats();
    flushed = !engine_->ShutdownFlush();
    engine_->CommitJournal();
    engine_->DrainIo();
    // A slab write that failed during the drain put its tombstones back: one more round.
    flushed = flushed && engine_->ShutdownWritten();
    const storage::EngineStats& after = engine_->stats();
    const bool failed = after.write_errors > before.write_errors;
    failing = failed && after.slab_writes == before.slab_writes ? failing + 1 : 0;
  }
  // Only then the superblock may say "clean": a process-mode journal is trusted across a reboot.
  std::string error;
  bool clean = flushed && engine_->FinishShutdown(error);
  if (!flushed) {
    spdlog::error("shutdown: memory slabs still unwritten ({}); not marked clean",
                  failing >= 3 ? "every write failed, 3 rounds in a row" : "after 100 rounds");
  } else if (!clean) {
    spdlog::error("shutdown: {}; not marked clean", error);
  }
  spdlog::info("shutdown complete: {} items, {} slab writes, {} write errors",
               engine_->curr_items(), engine_->stats().slab_writes, engine_->stats().write_errors);
  return engine_->stats().write_errors == 0 && clean ? 0 : 1;
}

void Server::ResetStats() {
  ResetServerStats(stats_);
  engine_->ResetStats();
}

}  // namespace ssdcache::server
