#include "server/migration.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <optional>

#include "storage/engine_options.h"
#include "storage/item.h"
#include "util/option.h"

namespace ssdcache::server {
namespace {

// memcached 1.6.18's extended option names (memcached.c, the -o suboptions), `ext_` and `ssl_`
// ones by prefix.
constexpr std::string_view kExtendedNames[] = {
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_maintainer",
    "no_lru_maintainer",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "read_buf_mem_limit",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "idle_timeout",
    "slab_chunk_max",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "track_sizes",
    "no_hashexpand",
    "modern",
    "no_modern",
    "sock_cookie_id",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "no_slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_automove_freeratio",
    "inline_ascii_resp",
    "no_inline_ascii_resp",
    "resp_obj_mem_limit",
    "drop_privileges",
    "no_drop_privileges",
    "meta_response_old",
    "lru_segmented",
    "no_lru_segmented",
    "proxy_config",
    "proxy_uring",
    "napi_ids",
    "relaxed_privileges",
};

// What memcached's extended option `name` = `value` becomes: flags to add, nothing (it asks for
// what ssdcached does), or --extended (no effect, noted).
std::vector<std::string> ExpandExtended(std::string_view name, std::string_view value,
                                        std::string_view item) {
  if (name == "idle_timeout") return {"--idle-timeout", std::string(value)};
  if (name == "hashpower") return {"--hash-power", std::string(value)};
  if (name == "modern" || name == "no_modern" || name == "maxconns_fast") return {};
  if (name == "hash_algorithm" && value == "xxh3") return {};
  // -o ssl_chain_cert=PATH -> --ssl-chain-cert PATH, for the settings ssdcached implements.
  for (std::string_view tls : {"ssl_chain_cert", "ssl_key", "ssl_keyformat", "ssl_verify_mode",
                               "ssl_ca_cert", "ssl_ciphers", "ssl_min_version"}) {
    if (name != tls) continue;
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return {flag, std::string(value)};
  }
  return {"--extended", std::string(item)};
}

bool AllOf(std::string_view s, int (*pred)(int)) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [pred](char c) { return pred(static_cast<unsigned char>(c)); });
}
int IsOctal(int c) { return c >= '0' && c <= '7'; }
int IsDigit(int c) { return c >= '0' && c <= '9'; }

bool LooksExtended(std::string_view v) {
  if (v.find_first_of("=,") != std::string_view::npos) return true;
  return IsMemcachedExtendedOption(v);
}

bool LooksServerId(std::string_view v) {
  const size_t slash = v.find('/');
  return slash != std::string_view::npos && AllOf(v.substr(0, slash), IsDigit) &&
         AllOf(v.substr(slash + 1), IsDigit);
}

class Migrator {
 public:
  Migrator(int argc, const char* const* argv) : argc_(argc), argv_(argv) {}

  MigratedArgs Run() {
    out_.args.emplace_back(argc_ > 0 && argv_ != nullptr ? argv_[0] : "ssdcached");
    for (int i = 1; i < argc_ && out_.error.empty(); ++i) {
      const std::string_view a = argv_[i];
      if (a == "--") {
        for (; i < argc_; ++i) out_.args.emplace_back(argv_[i]);
        break;
      }
      if (a == "--max-item-size" || a.starts_with("--max-item-size=")) {
        std::optional<std::string_view> v = LongValue(a, "--max-item-size", i);
        if (v) ItemSize(a, *v, /*bytes=*/true);
        continue;
      }
      if (a == "--extended" || a.starts_with("--extended=")) {  // memcached's long -o
        std::optional<std::string_view> v = LongValue(a, "--extended", i);
        if (v) Extended(*v, "--extended");
        continue;
      }
      if (a == "--slab-min-size" || a.starts_with("--slab-min-size=")) {
        std::optional<std::string_view> v = LongValue(a, "--slab-min-size", i);
        if (v) MinSize(*v, /*memcached=*/true);
        continue;
      }
      if (a.size() < 2 || a[0] != '-' || a[1] == '-' ||
          std::string_view("osDaeiIn").find(a[1]) == std::string_view::npos) {
        out_.args.emplace_back(a);
        continue;
      }
      Short(a, i);
    }
    return std::move(out_);
  }

 private:
  // The value of a long flag, "--name=V" or "--name V"; nullopt (passed through for the parser
  // to refuse) when missing.
  std::optional<std::string_view> LongValue(std::string_view a, std::string_view name, int& i) {
    if (a.size() > name.size()) return a.substr(name.size() + 1);
    if (i + 1 < argc_) return std::string_view(argv_[++i]);
    out_.args.emplace_back(a);
    return std::nullopt;
  }

  void Emit(std::string_view flag, std::string_view value) {
    out_.args.emplace_back(flag);
    out_.args.emplace_back(value);
  }

  void Short(std::string_view a, int& i) {
    const char letter = a[1];
    std::string_view v = a.substr(2);
    if (letter == 'i') {
      // memcached's -i (license) takes no value: only digits make it fatcache's index size.
      if (v.empty() && i + 1 < argc_ && AllOf(argv_[i + 1], IsDigit)) v = argv_[++i];
      if (AllOf(v, IsDigit)) {
        Emit("--max-index-memory", v);
      } else if (v.empty()) {
        out_.args.emplace_back("--license");
      } else {
        out_.args.emplace_back(a);  // -iX: the parser names the error
      }
      return;
    }
    if (v.empty()) {
      if (i + 1 >= argc_) {
        out_.args.emplace_back(a);  // no value: the parser says so
        return;
      }
      v = argv_[++i];
    }
    switch (letter) {
      case 'o':
        if (LooksExtended(v)) {
          Extended(v);
        } else {
          Emit("--log-file", v);
        }
        return;
      case 's':
        Emit(LooksServerId(v) ? "--server-id" : "--unix-socket", v);
        return;
      case 'D':
        Emit(v.size() == 1 && std::ispunct(static_cast<unsigned char>(v[0])) ? "--stats-delimiter"
                                                                             : "--device",
             v);
        return;
      case 'a':
        Emit(AllOf(v, IsOctal) && v.size() <= 4 ? "--unix-mask" : "--listen", v);
        return;
      case 'e':
        Emit(AllOf(v, IsDigit) ? "--hash-power" : "--memory-file", v);
        return;
      case 'I':
        ItemSize("-I", v, /*bytes=*/false);
        return;
      case 'n':
        MinSize(v, /*memcached=*/false);
        return;
      default:
        out_.args.emplace_back(a);
    }
  }

  void Extended(std::string_view v, std::string_view flag = "-o") {
    std::string_view rest = v;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      const size_t eq = item.find('=');
      const std::string_view name = item.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
      if (!IsMemcachedExtendedOption(name)) {
        out_.error = std::string(flag) + ": unknown extended option '" + std::string(name) +
                     "' (memcached's -o NAME[=VALUE],...; a log file named so: --log-file)";
        return;
      }
      for (std::string& s : ExpandExtended(name, value, item)) out_.args.push_back(std::move(s));
      if (comma == std::string_view::npos) return;
      rest.remove_prefix(comma + 1);
    }
  }

  // -I / --max-item-size: fatcache's slab size in MiB (1..16) or memcached's largest item in
  // bytes (a number >= 1024, or a suffixed size). A slab holds the largest item, so a byte size
  // becomes the next power of two.
  void ItemSize(std::string_view flag, std::string_view v, bool bytes) {
    const bool plain = AllOf(v, IsDigit);
    const std::optional<uint64_t> size = util::ParseSize(v);
    if (!size || (plain && !bytes && *size < 1024) || *size == 0 || *size > storage::kMaxSlabSize) {
      // fatcache's MiB (1..16, a power of two), or out of range: the row checks it.
      Emit("--slab-size", v);  // out of range or malformed: the row's message
      return;
    }
    const uint64_t slab = std::bit_ceil(*size);
    if (slab != *size) {
      out_.notes.push_back(std::string(flag) + " " + std::string(v) +
                           ": memcached's largest item size; slabs are powers of two, so the "
                           "slab size is " +
                           util::FormatSize(slab));
    }
    Emit("--slab-size", util::FormatSize(slab));
  }

  // -n / --slab-min-size: memcached counts the space for key, value and flags (default 48), the
  // item header apart; ssdcached's and fatcache's -n is the whole chunk.
  void MinSize(std::string_view v, bool memcached) {
    const std::optional<uint64_t> n = util::ParseUnsigned(v);
    if (n && (memcached || *n < storage::kMinItemSize)) {
      Emit("--min-item-size", std::to_string(*n + storage::kItemHeaderSize));
      return;
    }
    Emit("--min-item-size", v);
  }

  int argc_;
  const char* const* argv_;
  MigratedArgs out_;
};

}  // namespace

bool IsMemcachedExtendedOption(std::string_view name) {
  if (name.starts_with("ext_") || name.starts_with("ssl_")) return name.size() > 4;
  return std::find(std::begin(kExtendedNames), std::end(kExtendedNames), name) !=
         std::end(kExtendedNames);
}

MigratedArgs MigrateArgs(int argc, const char* const* argv) { return Migrator(argc, argv).Run(); }

bool ExtendedOptions::Parse(std::string_view text, std::vector<std::string>& out,
                            std::string& why) const {
  std::vector<std::string> list;
  std::string_view rest = text;
  while (true) {
    const size_t sep = rest.find_first_of(",\n");
    const std::string_view item = rest.substr(0, sep);
    const std::string_view name = item.substr(0, item.find('='));
    if (!IsMemcachedExtendedOption(name)) {
      why = "unknown memcached extended option '" + std::string(name) + "'";
      return false;
    }
    list.emplace_back(item);
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 1);
  }
  out = std::move(list);
  return true;
}

std::string ExtendedOptions::Show(const std::vector<std::string>& v) const {
  std::string s;
  for (const std::string& item : v) s += (s.empty() ? "" : ",") + item;
  return s.empty() ? "none" : s;
}

std::string ExtendedOptions::Note(const std::vector<std::string>& v) const {
  return "memcached extended option(s) " + Show(v) +
         " accepted without effect (docs/operations.md, command-line migration)";
}

}  // namespace ssdcache::server
