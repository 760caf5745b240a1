#include "server/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <deque>
#include <exception>
#include <utility>

#ifndef SSDCACHE_VERSION
#define SSDCACHE_VERSION "unknown"
#endif

namespace ssdcache::server {
namespace {

std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

// What CLI11 collected for one row: the raw text, converted and range-checked by the row's kind
// in Validate() so that every message follows one format and names the flag.
struct RawOption {
  CLI::Option* option = nullptr;
  std::string text;
  bool on = false;  // util::Flag
  int count = 0;    // util::Count
};

// One CLI11 option per row, in table order; the help line ends with the bounds and the default
// (the caller's value, so a wrapper's own defaults show).
void DefineOptions(CLI::App& app, const Config& defaults, std::deque<RawOption>& raw) {
  VisitOptions(defaults, [&](const auto& value, const util::OptionInfo& info, const auto& kind) {
    RawOption& r = raw.emplace_back();
    std::string help = info.help;
    if (const std::string bounds = kind.Bounds(); !bounds.empty()) help += ", " + bounds;
    help += " (default: " + kind.Show(value) + ")";
    using Kind = std::decay_t<decltype(kind)>;
    if constexpr (std::is_same_v<Kind, util::Flag>) {
      r.option = app.add_flag(info.flags, r.on, help);
    } else if constexpr (std::is_same_v<Kind, util::Count>) {
      r.option = app.add_flag(info.flags, r.count, help);
    } else {
      // Last one wins, as in memcached, so a wrapper script's defaults can be overridden.
      r.option = app.add_option(info.flags, r.text, help)
                     ->type_name(info.metavar)
                     ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  });
}

// Converts every given flag into `c` in table order, then checks the combinations. Returns "" or
// the first error: later checks are skipped once one failed, so the user sees the flag they got
// wrong first rather than a cascade of consequences.
std::string Validate(const std::deque<RawOption>& raw, Config& c) {
  std::string error;
  size_t i = 0;
  VisitOptions(c, [&](auto& value, const util::OptionInfo&, const auto& kind) {
    const RawOption& r = raw[i++];
    if (!error.empty() || r.option->count() == 0) return;
    using Kind = std::decay_t<decltype(kind)>;
    if constexpr (std::is_same_v<Kind, util::Flag>) {
      value = r.on;
    } else if constexpr (std::is_same_v<Kind, util::Count>) {
      value = r.count;
    } else {
      std::string why;
      if (!kind.Parse(r.text, value, why)) error = r.option->get_name() + ": " + why;
    }
  });
  if (!error.empty()) return error;
  return storage::CheckEngineOptions(c.engine);
}

}  // namespace

void AppendSettings(const Config& config, std::string& out) {
  VisitOptions(config, [&](const auto& value, const util::OptionInfo& info, const auto& kind) {
    if (*info.stat == '\0') return;
    out.append("STAT ").append(info.stat).append(" ").append(kind.Stat(value)).append("\r\n");
  });
}

ParseResult ParseCommandLine(int argc, const char* const* argv, Config& config, std::string& out,
                             std::string& error) {
  out.clear();
  error.clear();
  // Any exception, CLI11's or bad_alloc, becomes an error line: the caller only ever sees a result.
  try {
    CLI::App app("ssdcached: a memcached-compatible cache server that keeps items on SSD.",
                 "ssdcached");
    app.get_formatter()->column_width(36);
    app.footer(
        "SIZE is bytes with an optional K, M, G or T suffix in binary units (1K = 1024). MiB "
        "flags take a plain number of MiB.");
    app.set_version_flag("-V,--version", std::string("ssdcached ") + SSDCACHE_VERSION,
                         "print the version and exit");

    std::deque<RawOption> raw;  // a deque: CLI11 keeps pointers to the fields
    DefineOptions(app, config, raw);

    static const char* const kNoArgs[] = {"ssdcached", nullptr};
    try {
      if (argc < 1 || argv == nullptr) {
        app.parse(1, kNoArgs);
      } else {
        app.parse(argc, argv);
      }
    } catch (const CLI::CallForHelp&) {
      out = app.help();
      return ParseResult::kExit;
    } catch (const CLI::CallForAllHelp&) {
      out = app.help("", CLI::AppFormatMode::All);
      return ParseResult::kExit;
    } catch (const CLI::CallForVersion& e) {
      out = std::string(e.what()) + "\n";
      return ParseResult::kExit;
    } catch (const CLI::ParseError& e) {
      error = OneLine(e.what());
      if (error.empty()) error = "invalid command line";
      return ParseResult::kError;
    }

    Config parsed = config;
    error = Validate(raw, parsed);
    if (!error.empty()) return ParseResult::kError;
    config = std::move(parsed);
    return ParseResult::kRun;
  } catch (const std::exception& e) {
    error = OneLine(std::string("command line: ") + e.what());
  } catch (...) {
    error = "command line: unexpected error";
  }
  out.clear();
  return ParseResult::kError;
}

}  // namespace ssdcache::server
