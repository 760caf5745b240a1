// ssdcached: parse and validate the flags, set up logging, daemonize if asked, then hand over to
// the Server. Exit status: 0 clean shutdown, 1 runtime failure, 2 bad flags or set-up.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/server.h"
#include "util/unique_fd.h"

namespace {

std::shared_ptr<spdlog::logger> MakeLogger(const ssdcache::server::Config& config,
                                           std::string& error) {
  try {
    if (config.log_file.empty()) return spdlog::stderr_color_mt("ssdcached");
    return spdlog::basic_logger_mt("ssdcached", config.log_file);
  } catch (const spdlog::spdlog_ex& e) {
    error = std::string("-o/--log-file: ") + e.what();
    return nullptr;
  }
}

// Drops root privileges for good (group list, gid, uid), after the device and the listening
// socket are open. Returns "" or a one-line reason.
std::string DropPrivileges(const std::string& user) {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) return "-u/--user: no such user '" + user + "'";
  if (getuid() != 0 && geteuid() != 0) {
    return pw->pw_uid == geteuid() ? "" : "-u/--user: only root can switch to another user";
  }
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    return "-u/--user: cannot switch to '" + user + "': " + std::strerror(errno);
  }
  if (setuid(0) == 0) return "-u/--user: root privileges could be regained; refusing to run";
  return "";
}

// -d changes to / as memcached does (the daemon holds no directory busy); the paths given relative
// to the directory it was started in are made absolute first: the device (the default one too),
// the log and pid files, the unix socket. Returns "" or why not.
std::string MakePathsAbsolute(ssdcache::server::Config& config) {
  for (std::string* path :
       {&config.device_path, &config.log_file, &config.pid_file, &config.unix_socket,
        &config.ssl_chain_cert, &config.ssl_key, &config.ssl_ca_cert}) {
    if (path->empty() || path->front() == '/') continue;
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(*path, ec);
    if (ec) return "-d: cannot make the path '" + *path + "' absolute: " + ec.message();
    *path = absolute.lexically_normal().string();
  }
  return "";
}

// SIGHUP: opens the log file again (after a rotation moved it). On failure the previous file stays
// in use, and the reason goes to stderr too, since the log may be a file nobody reads any more.
// Returns "" or the reason.
std::string ReopenLog(const std::string& path) {
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
  } catch (const spdlog::spdlog_ex& e) {
    std::fprintf(stderr, "ssdcached: SIGHUP: cannot reopen the log file: %s\n", e.what());
    return e.what();
  }
  auto fresh = std::make_shared<spdlog::logger>("ssdcached", std::move(sink));
  fresh->set_level(spdlog::default_logger()->level());  // as `verbosity` last set it
  fresh->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(fresh));
  return "";
}

void SetLevel(int verbosity) {
  spdlog::set_level(verbosity >= 2   ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::info);
}

// -r (as memcached: the core file size limit raised to its maximum) and -k (mlockall; as
// memcached, a warning when not permitted).
void ApplyProcessLimits(const ssdcache::server::Config& config) {
  if (config.core_dumps) {
    rlimit core{};
    if (getrlimit(RLIMIT_CORE, &core) == 0) {
      core.rlim_cur = core.rlim_max;
      if (setrlimit(RLIMIT_CORE, &core) != 0) {
        spdlog::warn("-r: cannot raise the core file limit: {}", std::strerror(errno));
      }
    }
  }
  if (config.lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    spdlog::warn("-k: cannot lock memory: {} (needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK)",
                 std::strerror(errno));
  }
}

// -d: forks before the epoll, aio and signal fds exist (an aio context does not survive a fork);
// the parent waits on a pipe until the child is serving, so start-up errors still reach the
// terminal and the exit status. Returns the status the process exits with (the parent, or an
// error), or -1 in the child, which goes on with `ready` (the pipe's write end) in a new session
// with / as its directory.
int Daemonize(ssdcache::util::UniqueFd& ready) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("ssdcached: pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("ssdcached: fork");
    return 1;
  }
  if (pid > 0) {
    close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
    if (msg == "OK") return 0;
    std::fprintf(stderr, "ssdcached: %s\n",
                 msg.empty() ? "the daemon exited during start-up" : msg.c_str());
    return 2;
  }
  close(fds[0]);
  ready.Reset(fds[1]);
  setsid();
  if (chdir("/") != 0) {
    const std::string why = std::string("-d: chdir /: ") + std::strerror(errno);
    (void)!write(ready.get(), why.data(), why.size());
    return 2;
  }
  return -1;
}

// The daemon serves: releases the parent and leaves the terminal (the log goes to -o, or nowhere;
// stderr stays when there is no log file, for a last word at exit).
void Detach(ssdcache::util::UniqueFd& ready, bool has_log_file) {
  (void)!write(ready.get(), "OK", 2);
  ready.Reset();
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    if (has_log_file) dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) close(null);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ssdcache::server::Config config;
  std::string out, error;
  std::vector<std::string> notes;
  switch (ssdcache::server::ParseCommandLine(argc, argv, config, out, error, &notes)) {
    case ssdcache::server::ParseResult::kExit:
      std::fputs(out.c_str(), stdout);
      return 0;
    case ssdcache::server::ParseResult::kError:
      std::fprintf(stderr, "ssdcached: %s\n", error.c_str());
      return 2;
    case ssdcache::server::ParseResult::kRun:
      break;
  }

  if (config.daemonize) {
    if (std::string why = MakePathsAbsolute(config); !why.empty()) {
      std::fprintf(stderr, "ssdcached: %s\n", why.c_str());
      return 2;
    }
  }
  auto logger = MakeLogger(config, error);
  if (!logger) {
    std::fprintf(stderr, "ssdcached: %s\n", error.c_str());
    return 2;
  }
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
  SetLevel(config.verbosity);
  for (const std::string& note : notes) spdlog::warn("{}", note);
  ApplyProcessLimits(config);

  if (!config.user.empty() && getpwnam(config.user.c_str()) == nullptr) {
    std::fprintf(stderr, "ssdcached: -u/--user: no such user '%s'\n", config.user.c_str());
    return 2;
  }
  ssdcache::util::UniqueFd ready;
  if (config.daemonize) {
    if (const int status = Daemonize(ready); status >= 0) return status;
  }
  auto fail = [&](const std::string& why) {
    if (ready.valid())
      (void)!write(ready.get(), why.data(), why.size());
    else
      std::fprintf(stderr, "ssdcached: %s\n", why.c_str());
    return 2;
  };
  std::unique_ptr<ssdcache::server::Server> server =
      ssdcache::server::Server::Create(config, error);
  if (!server) return fail(error);
  if (!config.user.empty()) {
    std::string why = DropPrivileges(config.user);
    if (!why.empty()) return fail(why);
    spdlog::info("running as user {}", config.user);
  }
  if (!config.log_file.empty()) {
    // SIGHUP (log rotation): open the path again; if that fails, keep the file already open.
    server->set_log_reopen([path = config.log_file] { return ReopenLog(path); });
  }
  if (!config.pid_file.empty()) {
    std::ofstream pid(config.pid_file);
    pid << getpid() << "\n";
    if (!pid) return fail("-P/--pid-file: cannot write " + config.pid_file);
  }
  if (ready.valid()) Detach(ready, !config.log_file.empty());
  int status = server->Run();
  if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
  return status;
}
