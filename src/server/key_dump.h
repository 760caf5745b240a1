// The key listings, in memcached 1.6.18's formats: `lru_crawler metadump <classes|all|hash>`
// (memcached's crawler.c, crawler_metadump_eval) and `stats cachedump <class> <limit>` (items.c,
// item_cachedump), and the replies of the other `lru_crawler` subcommands (proto_text.c,
// process_lru_crawler_command). The records come from the engine's KeyScan (storage/key_scan.h);
// this module parses the requests and writes the lines. Pure apart from the scan: no socket.
//
// Invariants:
//  - A KeyDump owns one open scan from Open() to its destruction, which closes it (the engine
//    frees it once its reads completed), so dropping a KeyDump at any point frees everything.
//  - Pump() adds at most one line past `max_bytes` to its output (a line is never split), and
//    the listing ends with memcached's END line exactly once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/engine.h"
#include "storage/key_scan.h"

namespace ssdcache::server {

// The lru_crawler settings memcached lets a client change (and shows in `stats settings`). There
// is no crawler thread here: `enable`/`disable` decide whether metadump and crawl are served
// (memcached's "lru crawler disabled"), sleep and tocrawl are kept and shown only.
struct CrawlerSettings {
  bool enabled = true;
  uint32_t sleep_us = 100;  // memcached's defaults
  uint32_t tocrawl = 0;
};

enum class DumpFormat : uint8_t { kMetadump, kCachedump };

// What a dump command asks for: a reply line to answer at once (with its "\r\n"), or a listing.
struct DumpRequest {
  std::string_view reply;
  DumpFormat format = DumpFormat::kMetadump;
  std::vector<bool> classes;  // 0-based; empty: all
  uint32_t limit = 0;         // cachedump: most lines, 0: no limit
};

// `lru_crawler ARGS` (ARGS: the rest of the line). `dump_enabled`: not -X. `classes`: how many
// slab classes the engine has.
DumpRequest ParseLruCrawler(std::string_view args, CrawlerSettings& settings, bool dump_enabled,
                            size_t classes);
// `stats cachedump ARGS`.
DumpRequest ParseCachedump(std::string_view args, bool dump_enabled, size_t classes);
// Whether `stats ARG` is a cachedump (its first word).
bool IsCachedump(std::string_view stats_arg);

// Appends `key` URI-encoded as memcached does (every byte but alphanumerics and "-._~" as %XX).
void AppendUriEncoded(std::string_view key, std::string& out);
// One listing line of `r` in `format`.
void AppendDumpLine(DumpFormat format, const storage::ScanRecord& r, std::string& out);

class KeyDump final : private storage::ScanSink {
 public:
  // nullptr when the engine has as many scans open as it takes (answer BUSY).
  static std::unique_ptr<KeyDump> Open(storage::Engine& engine, const DumpRequest& request,
                                       storage::ScanListener* listener);
  ~KeyDump();
  KeyDump(const KeyDump&) = delete;
  KeyDump& operator=(const KeyDump&) = delete;

  enum class Step : uint8_t {
    kMore,     // more to list: call again (once `out` was sent, if it is full)
    kWaiting,  // device reads in flight: the listener is told when one completes
    kDone,     // the listing and its END line are in `out`
  };
  // Appends lines to `out` until it holds `max_bytes` or the scan has to wait.
  Step Pump(std::string& out, size_t max_bytes);
  uint64_t listed() const { return listed_; }

 private:
  KeyDump(storage::Engine& engine, storage::KeyScan* scan, DumpFormat format, uint32_t limit)
      : engine_(engine), scan_(scan), format_(format), limit_(limit) {}
  bool Take(const storage::ScanRecord& r) override;

  storage::Engine& engine_;
  storage::KeyScan* scan_;
  DumpFormat format_;
  uint32_t limit_;
  uint64_t listed_ = 0;
  std::string* out_ = nullptr;
  size_t max_bytes_ = 0;
};

}  // namespace ssdcache::server
