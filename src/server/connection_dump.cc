// The key listings on a connection: `lru_crawler ...` and `stats cachedump ...` (server/key_dump.h
// parses and formats, storage/key_scan.h scans). A listing is one request that runs over many
// calls of Execute: each call pumps a bounded step of lines into the reply ring and returns
// false, so the connection writes them and comes back (next round, next turn, when the output
// drained, or when a device read of the scan completed). Requests behind it wait, as behind any
// request; closing the connection drops the listing (Connection::CloseNow).
#include "server/connection.h"
#include "server/server.h"

namespace ssdcache::server {

namespace {
using protocol::Command;
// Lines composed per pump (each pump's lines go into a slot of their own, freed once sent: a
// string under 64 KiB keeps its capacity, see PopSlot), and the unsent output above which the
// listing waits for the socket.
constexpr size_t kDumpStepBytes = 48 * 1024;
constexpr size_t kDumpPauseBytes = 256 * 1024;
constexpr int kPumpsPerCall = 4;
constexpr std::string_view kBusy = "BUSY currently processing crawler request\r\n";
}  // namespace

bool Connection::IsDump(const protocol::Request& req) {
  if (req.meta.binary) return false;  // memcached's binary protocol has no key listing
  return req.cmd == Command::kLruCrawler ||
         (req.cmd == Command::kStats && IsCachedump(req.stats_arg));
}

bool Connection::ExecuteDump() {
  if (!dump_) {
    const bool allowed = !server_.config().disable_dumping;
    const size_t classes = server_.engine().classes().count();
    const DumpRequest request =
        req_.cmd == Command::kLruCrawler
            ? ParseLruCrawler(req_.stats_arg, server_.crawler(), allowed, classes)
            : ParseCachedump(req_.stats_arg, allowed, classes);
    if (!request.reply.empty()) {
      Reply(request.reply);
      return true;
    }
    dump_ = KeyDump::Open(server_.engine(), request, this);
    if (!dump_) {
      Reply(kBusy);  // as memcached answers while its crawler runs
      return true;
    }
    if (request.format == DumpFormat::kMetadump) ++server_.stats().lru_crawler_starts;
  }
  for (int pump = 0; pump < kPumpsPerCall && unsent_bytes_ < kDumpPauseBytes; ++pump) {
    stats_text_.clear();
    const KeyDump::Step step = dump_->Pump(stats_text_, kDumpStepBytes);
    // A slot per step: appended to a partly sent slot, the listing would pile up in its string.
    if (!stats_text_.empty()) AppendTo(PushSlot(), protocol::LineReply{stats_text_});
    switch (step) {
      case KeyDump::Step::kDone:
        dump_.reset();
        return true;
      case KeyDump::Step::kWaiting:
        wait_ = Wait::kDevice;  // OnScanReady ends the wait
        return false;
      case KeyDump::Step::kMore:
        break;
    }
  }
  // Output above the bound: the write that drains it brings the connection back (Drive's
  // rounds, or EPOLLOUT). Otherwise nothing would: come back next turn.
  if (unsent_bytes_ < kDumpPauseBytes) server_.loop().Defer(this);
  return false;
}

void Connection::OnScanReady() {
  if (dump_ && wait_ == Wait::kDevice) wait_ = Wait::kNone;
  if (!closed()) server_.loop().Defer(this);
}

}  // namespace ssdcache::server
