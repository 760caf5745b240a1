// ssdcached: parse and validate the flags, set up logging, daemonize if asked, then hand over to
// the Server. Exit status: 0 clean shutdown, 1 runtime failure, 2 bad flags or set-up.
#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "server/config.h"
#include "server/server.h"

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

void SetLevel(int verbosity) {
  spdlog::set_level(verbosity >= 3   ? spdlog::level::trace
                    : verbosity == 2 ? spdlog::level::debug
                                     : spdlog::level::info);
}

}  // namespace

int main(int argc, char** argv) {
  ssdcache::server::Config config;
  std::string out, error;
  switch (ssdcache::server::ParseCommandLine(argc, argv, config, out, error)) {
    case ssdcache::server::ParseResult::kExit:
      std::fputs(out.c_str(), stdout);
      return 0;
    case ssdcache::server::ParseResult::kError:
      std::fprintf(stderr, "ssdcached: %s\n", error.c_str());
      return 2;
    case ssdcache::server::ParseResult::kRun:
      break;
  }

  auto logger = MakeLogger(config, error);
  if (!logger) {
    std::fprintf(stderr, "ssdcached: %s\n", error.c_str());
    return 2;
  }
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
  SetLevel(config.verbosity);

  std::unique_ptr<ssdcache::server::Server> server =
      ssdcache::server::Server::Create(config, error);
  if (!server) {
    std::fprintf(stderr, "ssdcached: %s\n", error.c_str());
    return 2;
  }
  if (!config.log_file.empty()) {
    // SIGHUP (log rotation): drop the old file sink and open the path again.
    server->set_log_reopen([config] {
      spdlog::drop("ssdcached");
      try {
        auto fresh = spdlog::basic_logger_mt("ssdcached", config.log_file);
        spdlog::set_default_logger(fresh);
      } catch (const spdlog::spdlog_ex&) {
        spdlog::set_default_logger(spdlog::stderr_color_mt("ssdcached"));
      }
      SetLevel(config.verbosity);
    });
  }
  if (config.daemonize) {
    // After the device and socket are open, so that start-up errors reach the terminal.
    if (daemon(/*nochdir=*/1, /*noclose=*/config.log_file.empty() ? 1 : 0) != 0) {
      std::perror("ssdcached: daemon");
      return 1;
    }
  }
  if (!config.pid_file.empty()) {
    std::ofstream pid(config.pid_file);
    pid << getpid() << "\n";
    if (!pid) {
      spdlog::error("-P/--pid-file: cannot write {}", config.pid_file);
      return 2;
    }
  }
  int status = server->Run();
  if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
  return status;
}
