#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace ssdcache::integration {

namespace {

constexpr char kMemcachedBinary[] = "/usr/bin/memcached";
constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(10);
constexpr int kStartAttempts = 5;

// A port nobody listens on right now: bind to port 0, read the port back, close.
int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  ::close(fd);
  return port;
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool IsTmpfs(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return true;  // unusable: treat like tmpfs (skip it)
  constexpr long kTmpfsMagic = 0x01021994;
  constexpr long kRamfsMagic = 0x858458f6;
  return fs.f_type == kTmpfsMagic || fs.f_type == kRamfsMagic;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork + exec with stdout/stderr to `log_path` (or /dev/null). The child dies with the test
// process (PR_SET_PDEATHSIG), so even a crashed test run leaves no server behind. `env` entries
// ("NAME=VALUE") are added to the inherited environment, replacing variables of the same name.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path,
            const std::vector<std::string>& env = {}) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The environment is built before fork: setenv() is not async-signal-safe.
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view var(*e);
    bool replaced = false;
    for (const auto& add : env) {
      std::string_view name = std::string_view(add).substr(0, add.find('='));
      if (var.size() > name.size() && var.substr(0, name.size()) == name &&
          var[name.size()] == '=') {
        replaced = true;
      }
    }
    if (!replaced) envp.push_back(*e);
  }
  for (const auto& add : env) envp.push_back(const_cast<char*>(add.c_str()));
  envp.push_back(nullptr);
  const char* log = log_path.empty() ? "/dev/null" : log_path.c_str();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;  // parent (or -1)
  // Child: only async-signal-safe calls from here on.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  int out = ::open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || in < 0) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(argv[0], argv.data(), envp.data());
  ::_exit(127);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Target selection

Target CurrentTarget() {
  static const Target target = [] {
    const char* env = std::getenv("SSDCACHE_TEST_TARGET");
    if (env == nullptr || *env == '\0' || std::string_view(env) == "ssdcached") {
      return Target::kSsdcached;
    }
    if (std::string_view(env) == "memcached") return Target::kMemcached;
    std::fprintf(stderr, "SSDCACHE_TEST_TARGET=%s: expected 'ssdcached' or 'memcached'\n", env);
    std::abort();
  }();
  return target;
}

const char* TargetName(Target target) {
  return target == Target::kMemcached ? "memcached" : "ssdcached";
}

std::string SsdcachedBinary() {
  const char* env = std::getenv("SSDCACHED_BIN");
  return env != nullptr ? env : "";
}

std::string MakeTempDir(std::string_view prefix) {
  std::string base = "/var/tmp";
  if (const char* env = std::getenv("TMPDIR"); env != nullptr && *env != '\0' && !IsTmpfs(env)) {
    base = env;
  }
  std::string tmpl = base + "/" + std::string(prefix) + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return std::string(buf.data());
}

bool ExitedWithZero(int status) {
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string DescribeStatus(int status) {
  if (status == -1) return "not running";
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "status " + std::to_string(status);
}

int RunToExit(const std::vector<std::string>& argv, std::string* output,
              std::chrono::milliseconds timeout) {
  std::string dir = MakeTempDir("ssdcache-run");
  std::string log = dir.empty() ? "" : dir + "/out.log";
  pid_t pid = Spawn(argv, log);
  int status = -1;
  if (pid > 0) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) {
        status = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (output != nullptr && !log.empty()) *output = ReadFile(log);
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return status;
}

// ---------------------------------------------------------------------------------------------
// ServerProcess

ServerProcess::ServerProcess(ServerOptions options)
    : options_(std::move(options)), target_(options_.target.value_or(CurrentTarget())) {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
  if (!temp_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
  }
}

std::vector<std::string> ServerProcess::BuildArgs() const {
  std::vector<std::string> args;
  std::string port = std::to_string(port_);
  if (target_ == Target::kMemcached) {
    args = {kMemcachedBinary,
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-p",
            port,
            "-m",
            std::to_string(options_.memory_mib)};
    if (::geteuid() == 0) {  // memcached refuses to run as root without -u
      args.insert(args.end(), {"-u", "root"});
    }
    if (options_.max_connections > 0) {
      args.insert(args.end(), {"-c", std::to_string(options_.max_connections)});
    }
    if (!options_.memcached_item_size.empty()) {
      args.insert(args.end(), {"-I", options_.memcached_item_size});
    }
    args.insert(args.end(), options_.memcached_extra_args.begin(),
                options_.memcached_extra_args.end());
  } else {
    args = {SsdcachedBinary(),
            "-p",
            port,
            "-l",
            "127.0.0.1",
            "-D",
            device_path(),
            "--device-size",
            options_.device_size,
            "-m",
            std::to_string(options_.memory_mib)};
    if (options_.max_connections > 0) {
      args.insert(args.end(), {"-c", std::to_string(options_.max_connections)});
    }
    args.insert(args.end(), options_.ssdcached_extra_args.begin(),
                options_.ssdcached_extra_args.end());
    // SSDCACHED_EXTRA_ARGS (words split at spaces): flags for every ssdcached a test starts, to
    // run the suites against another configuration (e.g. --small-max 4024).
    if (const char* extra = std::getenv("SSDCACHED_EXTRA_ARGS"); extra != nullptr) {
      std::istringstream words(extra);
      for (std::string w; words >> w;) args.push_back(w);
    }
  }
  return args;
}

std::string ServerProcess::CommandLine() const {
  std::string out;
  for (const auto& e : options_.env) {
    if (!out.empty()) out += ' ';
    out += e;
  }
  for (const auto& a : last_args_) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string ServerProcess::LogTail(size_t max_bytes) const {
  if (temp_dir_.empty()) return "";
  std::string log = ReadFile(log_path());
  if (log.size() > max_bytes) log = "..." + log.substr(log.size() - max_bytes);
  return log;
}

::testing::AssertionResult ServerProcess::Start() {
  if (pid_ > 0) return ::testing::AssertionFailure() << "server already running";
  if (target_ == Target::kSsdcached) {
    std::string bin = SsdcachedBinary();
    if (bin.empty()) {
      return ::testing::AssertionFailure()
             << "SSDCACHED_BIN is not set (or set SSDCACHE_TEST_TARGET=memcached)";
    }
    if (::access(bin.c_str(), X_OK) != 0) {
      return ::testing::AssertionFailure() << "SSDCACHED_BIN=" << bin << " is not executable";
    }
  }
  if (temp_dir_.empty()) {
    temp_dir_ = MakeTempDir("ssdcache-integ");
    if (temp_dir_.empty()) {
      return ::testing::AssertionFailure() << "mkdtemp failed: " << std::strerror(errno);
    }
  }
  std::string failures;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    port_ = PickFreePort();
    if (port_ <= 0) return ::testing::AssertionFailure() << "cannot pick a free port";
    last_args_ = BuildArgs();
    {
      std::ofstream log(log_path(), std::ios::app);
      log << "=== start: " << CommandLine() << "\n";
    }
    pid_ = Spawn(last_args_, log_path(), options_.env);
    if (pid_ < 0) {
      return ::testing::AssertionFailure() << "fork failed: " << std::strerror(errno);
    }
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    bool ready = false;
    bool died = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        last_status_ = status;
        pid_ = -1;
        died = true;
        failures += "attempt " + std::to_string(attempt + 1) + " on port " + std::to_string(port_) +
                    ": server " + DescribeStatus(status) + "\n";
        break;
      }
      if (CanConnect(port_)) {
        // Make sure it is our child that accepted, not someone else who grabbed the port.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          last_status_ = status;
          pid_ = -1;
          died = true;
          failures += "attempt " + std::to_string(attempt + 1) + ": server " +
                      DescribeStatus(status) + " right after the port accepted\n";
          break;
        }
        ready = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (ready) return ::testing::AssertionSuccess();
    if (!died) {
      Kill();
      return ::testing::AssertionFailure()
             << "server did not accept connections within " << kStartTimeout.count()
             << " s\ncommand: " << CommandLine() << "\nlog:\n"
             << LogTail();
    }
  }
  return ::testing::AssertionFailure() << "server failed to start:\n"
                                       << failures << "command: " << CommandLine() << "\nlog:\n"
                                       << LogTail();
}

int ServerProcess::WaitForExit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      last_status_ = status;
      return status;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = WaitForExit(kStopTimeout);
  if (pid_ > 0) {
    ADD_FAILURE() << TargetName(target_) << " did not exit within " << kStopTimeout.count()
                  << " s of SIGTERM; sending SIGKILL";
    return Kill();
  }
  return status;
}

int ServerProcess::Kill() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  last_status_ = status;
  return status;
}

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    last_status_ = status;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Client

Client::~Client() { Close(); }

Client::Client(Client&& other) noexcept
    : fd_(other.fd_),
      buf_(std::move(other.buf_)),
      error_(std::move(other.error_)),
      peer_closed_(other.peer_closed_) {
  other.fd_ = -1;
}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    buf_ = std::move(other.buf_);
    error_ = std::move(other.error_);
    peer_closed_ = other.peer_closed_;
    other.fd_ = -1;
  }
  return *this;
}

::testing::AssertionResult Client::Connect(int port, std::chrono::seconds timeout) {
  Close();
  buf_.clear();
  error_.clear();
  peer_closed_ = false;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return ::testing::AssertionFailure() << "socket: " << std::strerror(errno);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count());
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    Close();
    return ::testing::AssertionFailure()
           << "connect to 127.0.0.1:" << port << ": " << std::strerror(err);
  }
  return ::testing::AssertionSuccess();
}

void Client::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Client::SetNoDelay(bool on) {
  int v = on ? 1 : 0;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
}

bool Client::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool Client::SendChunked(std::string_view bytes, size_t chunk) {
  while (!bytes.empty()) {
    size_t n = std::min(chunk, bytes.size());
    if (!Send(bytes.substr(0, n))) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

bool Client::Fill() {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  char tmp[65536];
  while (true) {
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      peer_closed_ = true;
      error_ = "connection closed by peer";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      error_ = "timed out waiting for the server";
    } else if (errno == ECONNRESET) {
      peer_closed_ = true;
      error_ = "connection reset by peer";
    } else {
      error_ = std::string("recv: ") + std::strerror(errno);
    }
    return false;
  }
}

std::string Client::Take(size_t n) {
  n = std::min(n, buf_.size());
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

std::string Client::ReadLine() { return ReadUntil("\n"); }

std::string Client::ReadExact(size_t n) {
  error_.clear();
  while (buf_.size() < n) {
    if (!Fill()) return Take(buf_.size());
  }
  return Take(n);
}

std::string Client::ReadUntil(std::string_view terminator) {
  error_.clear();
  size_t searched = 0;
  while (true) {
    size_t pos = buf_.find(terminator, searched);
    if (pos != std::string::npos) return Take(pos + terminator.size());
    if (buf_.size() >= terminator.size()) searched = buf_.size() - terminator.size() + 1;
    if (!Fill()) return Take(buf_.size());
  }
}

std::string Client::ReadUntilClosed() {
  error_.clear();
  while (Fill()) {
  }
  if (peer_closed_) error_.clear();
  return Take(buf_.size());
}

std::string Client::ReadRetrievalReply() {
  std::string out;
  while (true) {
    std::string line = ReadLine();
    out += line;
    if (!error_.empty()) return out;
    if (line == "END\r\n") return out;
    if (line.rfind("VALUE ", 0) != 0) return out;  // an error line ends the reply
    // VALUE <key> <flags> <bytes> [<cas>]\r\n
    std::istringstream fields(line.substr(6));
    std::string key;
    uint64_t flags = 0;
    uint64_t bytes = 0;
    if (!(fields >> key >> flags >> bytes)) return out;
    out += ReadExact(bytes + 2);
    if (!error_.empty()) return out;
  }
}

std::string Client::Request(std::string_view request, std::string_view terminator) {
  if (!Send(request)) return "<send failed: " + error_ + ">";
  return ReadUntil(terminator);
}

std::string Client::Get(std::string_view request) {
  if (!Send(request)) return "<send failed: " + error_ + ">";
  return ReadRetrievalReply();
}

std::string Client::Transact(std::string_view request, size_t expected_bytes) {
  bool sent = true;
  std::thread sender([&] { sent = Send(request); });
  std::string reply = ReadExact(expected_bytes);
  if (!error_.empty()) ::shutdown(fd_, SHUT_WR);  // unblock a sender stuck on a full buffer
  sender.join();
  if (!sent && error_.empty()) error_ = "send failed";
  return reply;
}

std::string Client::TransactUntilClosed(std::string_view request) {
  bool sent = true;
  std::thread sender([&] { sent = Send(request); });
  std::string reply = ReadUntilClosed();
  if (!peer_closed_) ::shutdown(fd_, SHUT_WR);
  sender.join();
  return reply;
}

std::string Client::Drain(std::chrono::milliseconds wait) {
  if (wait < std::chrono::milliseconds(1)) wait = std::chrono::milliseconds(1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(wait.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((wait.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline && Fill()) {
  }
  timeval normal{};
  normal.tv_sec = kDefaultTimeout.count();
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &normal, sizeof(normal));
  error_.clear();
  return Take(buf_.size());
}

std::map<std::string, std::string> Client::Stats(std::string_view arg) {
  std::string request = arg.empty() ? "stats\r\n" : "stats " + std::string(arg) + "\r\n";
  std::string reply = Request(request, "END\r\n");
  std::map<std::string, std::string> out;
  if (!error_.empty()) return {};
  std::istringstream lines(reply);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "END") return out;
    if (line.rfind("STAT ", 0) != 0) return {};
    size_t space = line.find(' ', 5);
    if (space == std::string::npos) return {};
    out[line.substr(5, space - 5)] = line.substr(space + 1);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Helpers

int64_t StatNum(const std::map<std::string, std::string>& stats, const std::string& name) {
  auto it = stats.find(name);
  if (it == stats.end()) {
    ADD_FAILURE() << "stats has no '" << name << "'";
    return -1;
  }
  char* end = nullptr;
  const long long value = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0') {
    ADD_FAILURE() << "stat " << name << " is not a number: " << it->second;
    return -1;
  }
  return value;
}

uint64_t RaiseFileLimit(uint64_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < wanted) {
    lim.rlim_cur = std::min<rlim_t>(wanted, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

std::string ValueBlock(std::string_view key, uint32_t flags, std::string_view data,
                       std::optional<uint64_t> cas) {
  std::string out = "VALUE ";
  out += key;
  out += ' ';
  out += std::to_string(flags);
  out += ' ';
  out += std::to_string(data.size());
  if (cas) {
    out += ' ';
    out += std::to_string(*cas);
  }
  out += "\r\n";
  out += data;
  out += "\r\n";
  return out;
}

std::string Printable(std::string_view bytes, size_t max_len) {
  std::string out;
  bool cut = bytes.size() > max_len;
  if (cut) bytes = bytes.substr(0, max_len);
  for (unsigned char c : bytes) {
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n\n";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\x%02x", c);
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  if (cut) out += "...<cut>";
  return out;
}

std::optional<uint64_t> ParseCas(std::string_view gets_reply) {
  if (gets_reply.rfind("VALUE ", 0) != 0) return std::nullopt;
  size_t eol = gets_reply.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  std::istringstream fields(std::string(gets_reply.substr(6, eol - 6)));
  std::string key;
  uint64_t flags = 0;
  uint64_t bytes = 0;
  uint64_t cas = 0;
  if (!(fields >> key >> flags >> bytes >> cas)) return std::nullopt;
  return cas;
}

bool PopValue(std::string_view& reply, ParsedValue& out) {
  if (reply.rfind("VALUE ", 0) != 0) return false;
  size_t eol = reply.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::istringstream fields(std::string(reply.substr(6, eol - 6)));
  uint64_t flags = 0;
  size_t bytes = 0;
  if (!(fields >> out.key >> flags >> bytes)) return false;
  if (reply.size() < eol + 2 + bytes + 2) return false;
  out.flags = static_cast<uint32_t>(flags);
  out.data = reply.substr(eol + 2, bytes);
  reply.remove_prefix(eol + 2 + bytes + 2);
  return true;
}

::testing::AssertionResult EqualsAnyOf(const std::string& actual,
                                       std::initializer_list<std::string> options) {
  for (const auto& o : options) {
    if (actual == o) return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure();
  failure << "got:\n  \"" << Printable(actual) << "\"\nexpected one of:";
  for (const auto& o : options) failure << "\n  \"" << Printable(o) << "\"";
  return failure;
}

::testing::AssertionResult FullyMatches(const std::string& actual, const std::string& pattern) {
  if (std::regex_match(actual, std::regex(pattern))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << Printable(actual) << "\" does not match /" << Printable(pattern) << "/";
}

}  // namespace ssdcache::integration
