#include "server/key_dump.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "protocol/numbers.h"

namespace ssdcache::server {
namespace {

// memcached's MAX_NUMBER_OF_SLAB_CLASSES: class ids at or above it are refused (ssdcached may
// have more classes: then up to its own count).
constexpr size_t kMemcachedClassIds = 64;
constexpr std::string_view kDisabled = "CLIENT_ERROR lru crawler disabled\r\n";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kBadClass = "BADCLASS invalid class id\r\n";

// The command's words after its name, split on spaces as memcached's tokenizer does.
std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const size_t b = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

// memcached's safe_strtoul: safe_strtoull's reading, kept in 32 bits.
std::optional<uint32_t> MemcachedU32(std::string_view s) {
  const std::optional<uint64_t> v = protocol::MemcachedUnsigned(s);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

size_t ClassIdLimit(size_t classes) { return std::max(kMemcachedClassIds, classes + 1); }

// "all", "hash" (metadump only) or comma-separated class ids (1-based), as lru_crawler_crawl
// reads them. Empty string: the classes are in `req`.
std::string_view ParseClasses(std::string_view arg, bool hash_ok, size_t classes,
                              DumpRequest& req) {
  if (arg == "all") return {};
  // memcached accepts "hash" for crawl too, then fails to start: "an unknown error".
  if (arg == "hash") return hash_ok ? std::string_view{} : "ERROR an unknown error happened\r\n";
  req.classes.assign(classes, false);
  bool any = false;
  size_t i = 0;
  while (i <= arg.size()) {
    size_t end = std::min(arg.find(',', i), arg.size());
    const std::string_view part = arg.substr(i, end - i);
    i = end + 1;
    if (part.empty()) continue;  // strtok_r skips empty fields
    const std::optional<uint32_t> id = MemcachedU32(part);
    if (!id || *id < 1 || *id >= ClassIdLimit(classes)) return kBadClass;
    if (*id <= classes) req.classes[*id - 1] = true;
    any = true;
  }
  return any ? std::string_view{} : "NOTSTARTED no items to crawl\r\n";
}

}  // namespace

DumpRequest ParseLruCrawler(std::string_view args, CrawlerSettings& settings, bool dump_enabled,
                            size_t classes) {
  const std::vector<std::string_view> w = Words(args);
  DumpRequest req;
  if (w.size() == 2 && (w[0] == "crawl" || w[0] == "metadump")) {
    const bool metadump = w[0] == "metadump";
    if (!settings.enabled) {
      req.reply = kDisabled;
    } else if (metadump && !dump_enabled) {
      req.reply = "ERROR metadump not allowed\r\n";
    } else if (req.reply = ParseClasses(w[1], metadump, classes, req); req.reply.empty()) {
      // crawl: expired records need no crawler here (see docs/protocol.md): nothing to start.
      if (!metadump) req.reply = "OK\r\n";
    }
    return req;
  }
  if (w.size() == 2 && (w[0] == "tocrawl" || w[0] == "sleep")) {
    const std::optional<uint32_t> v = MemcachedU32(w[1]);
    if (!v) {
      req.reply = kBadFormat;
    } else if (w[0] == "sleep" && *v > 1000000) {
      req.reply = "CLIENT_ERROR sleep must be one second or less\r\n";
    } else {
      (w[0] == "sleep" ? settings.sleep_us : settings.tocrawl) = *v;
      req.reply = "OK\r\n";
    }
    return req;
  }
  if (w.size() == 1 && w[0] == "enable") {
    // memcached refuses to start its crawler thread twice.
    req.reply = settings.enabled ? "ERROR failed to start lru crawler thread\r\n" : "OK\r\n";
    settings.enabled = true;
    return req;
  }
  if (w.size() == 1 && w[0] == "disable") {
    settings.enabled = false;
    req.reply = "OK\r\n";
    return req;
  }
  req.reply = "ERROR\r\n";
  return req;
}

bool IsCachedump(std::string_view stats_arg) {
  const std::vector<std::string_view> w = Words(stats_arg);
  return !w.empty() && w[0] == "cachedump";
}

DumpRequest ParseCachedump(std::string_view args, bool dump_enabled, size_t classes) {
  DumpRequest req;
  req.format = DumpFormat::kCachedump;
  const std::vector<std::string_view> w = Words(args);  // "cachedump" <class> <limit> ...
  if (!dump_enabled) {
    req.reply = "CLIENT_ERROR stats cachedump not allowed\r\n";
    return req;
  }
  if (w.size() < 3) {
    req.reply = "CLIENT_ERROR bad command line\r\n";
    return req;
  }
  const std::optional<uint32_t> id = MemcachedU32(w[1]);
  const std::optional<uint32_t> limit = MemcachedU32(w[2]);
  if (!id || !limit) {
    req.reply = kBadFormat;
    return req;
  }
  if (*id >= ClassIdLimit(classes)) {
    req.reply = "CLIENT_ERROR Illegal slab id\r\n";
    return req;
  }
  // Class 0, or one this server does not have, is empty: END alone, as memcached's.
  req.classes.assign(classes, false);
  if (*id >= 1 && *id <= classes) req.classes[*id - 1] = true;
  req.limit = *limit;
  return req;
}

void AppendUriEncoded(std::string_view key, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

void AppendDumpLine(DumpFormat format, const storage::ScanRecord& r, std::string& out) {
  char tail[160];
  if (format == DumpFormat::kCachedump) {
    // "ITEM <key> [<value bytes> b; <exptime> s]", exptime 0 when it never expires.
    out.append("ITEM ").append(r.key);
    std::snprintf(tail, sizeof(tail), " [%u b; %u s]\r\n", r.nvalue, r.exptime);
    out.append(tail);
    return;
  }
  // crawler_metadump_eval's line, which ends in a bare "\n"; classes are numbered from 1.
  out.append("key=");
  AppendUriEncoded(r.key, out);
  std::snprintf(tail, sizeof(tail), " exp=%lld la=%u cas=%llu fetch=%s cls=%u size=%u\n",
                r.exptime == 0 ? -1LL : static_cast<long long>(r.exptime), r.last_access,
                static_cast<unsigned long long>(r.cas), r.fetched ? "yes" : "no", r.cls + 1U,
                r.size);
  out.append(tail);
}

std::unique_ptr<KeyDump> KeyDump::Open(storage::Engine& engine, const DumpRequest& request,
                                       storage::ScanListener* listener) {
  storage::KeyScan* scan = engine.OpenScan(request.classes, listener);
  if (scan == nullptr) return nullptr;
  return std::unique_ptr<KeyDump>(new KeyDump(engine, scan, request.format, request.limit));
}

KeyDump::~KeyDump() { engine_.CloseScan(scan_); }

KeyDump::Step KeyDump::Pump(std::string& out, size_t max_bytes) {
  out_ = &out;
  max_bytes_ = max_bytes;
  storage::KeyScan::Step step = storage::KeyScan::Step::kMore;
  if (limit_ == 0 || listed_ < limit_) step = scan_->Pump(*this);
  out_ = nullptr;
  if (limit_ != 0 && listed_ >= limit_) step = storage::KeyScan::Step::kDone;
  switch (step) {
    case storage::KeyScan::Step::kMore:
      return Step::kMore;
    case storage::KeyScan::Step::kWaiting:
      return Step::kWaiting;
    case storage::KeyScan::Step::kDone:
      break;
  }
  out.append("END\r\n");
  return Step::kDone;
}

bool KeyDump::Take(const storage::ScanRecord& r) {
  if (out_->size() >= max_bytes_ || (limit_ != 0 && listed_ >= limit_)) return false;
  if (format_ == DumpFormat::kCachedump) {
    // memcached leaves out keys it cannot print (binary keys); here keys the ASCII protocol could
    // not have sent (a meta command's base64 key may hold any byte).
    const bool printable = std::all_of(r.key.begin(), r.key.end(), [](char ch) {
      const auto c = static_cast<unsigned char>(ch);
      return c > 0x20 && c != 0x7f;
    });
    if (!printable) return true;
  }
  AppendDumpLine(format_, r, *out_);
  ++listed_;
  return true;
}

}  // namespace ssdcache::server
