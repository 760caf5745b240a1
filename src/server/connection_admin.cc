// The commands a connection answers itself, because they act on the server rather than on items
// (flush_all, version, verbosity, quit, shutdown, refresh_certs, stats, mn), with memcached's
// replies, including those of its protective flags (-F, -A, -X); and the trace of every request
// (-vv).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/connection.h"
#include "server/server.h"

namespace ssdcache::server {

namespace {
using protocol::Command;
constexpr std::string_view kFlushNotAllowed = "CLIENT_ERROR flush_all not allowed\r\n";
}  // namespace

void Connection::ExecuteAdmin() {
  switch (req_.cmd) {
    case Command::kFlushAll:
      if (server_.config().disable_flush_all) {
        // -F, as memcached; the binary protocol answers "Auth failure." (compose maps it).
        ReplyNoreply(kFlushNotAllowed);
        return;
      }
      ++server_.stats().cmd_flush;
      server_.ScheduleFlush(req_.has_delay && req_.delay > 0 ? req_.delay : 0);
      ReplyNoreply("OK\r\n");
      return;
    case Command::kMetaNoop:
      Reply("MN\r\n");
      return;
    case Command::kVersion:
      Reply("VERSION " SSDCACHE_VERSION "\r\n");
      return;
    case Command::kVerbosity:
      server_.SetVerbosity(req_.verbosity);
      ReplyNoreply("OK\r\n");
      return;
    case Command::kQuit:
      if (req_.meta.binary) Reply("OK\r\n");  // binary quit answers first (quitq does not)
      close_after_flush_ = true;
      return;
    case Command::kShutdown:
      // memcached's replies: refused without -A; with it, "shutdown" and "shutdown graceful" stop
      // the server as SIGTERM does (ssdcached's stop is always graceful), without a reply.
      if (!server_.config().enable_shutdown) {
        Reply("ERROR: shutdown not enabled\r\n");
      } else if (req_.stats_arg.empty() || req_.stats_arg == "graceful") {
        spdlog::info("connection {}: shutdown command: shutting down", id_);
        close_after_flush_ = true;
        server_.RequestShutdown();
      } else {
        Reply("CLIENT_ERROR invalid shutdown mode\r\n");
      }
      return;
    case Command::kRefreshCerts:
      // memcached's: OK, or the error line (also "Error TLS not enabled" without -Z).
      if (const std::string reply = server_.RefreshCerts(); req_.stats_arg != "noreply") {
        Reply(reply);
      }
      return;
    case Command::kStats:
      if (server_.config().disable_dumping && IsCachedump(req_.stats_arg)) {
        Reply("CLIENT_ERROR stats cachedump not allowed\r\n");  // -X, binary stat too
        return;
      }
      if (req_.stats_arg == "reset") {
        server_.ResetStats();
        Reply("RESET\r\n");
        return;
      }
      stats_text_.clear();
      server_.AppendStats(req_.stats_arg, stats_text_);
      Send(protocol::LineReply{stats_text_});
      return;
    default:
      return;
  }
}

void Connection::TraceRequest(std::string_view input) const {
  // The command line without its data block (ASCII) or the opcode (binary); at most 200 bytes,
  // control characters shown as '.', so a log line is one line whatever the client sent.
  if (protocol_ == Protocol::kBinary) {
    const unsigned opcode = input.size() > 1 ? static_cast<unsigned char>(input[1]) : 0;
    spdlog::trace("connection {}: binary opcode 0x{:02x}", id_, opcode);
    return;
  }
  std::string line(input.substr(0, std::min<size_t>(input.find('\n'), 200)));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::replace_if(
      line.begin(), line.end(),
      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, '.');
  spdlog::trace("connection {}: {}", id_, line);
}

}  // namespace ssdcache::server
