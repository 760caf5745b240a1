#include "server/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <deque>
#include <exception>
#include <utility>

#include "server/manpage.h"

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
  std::string text;  // a repeating kind's values joined by '\n'
  bool on = false;   // a switch (util::Flag and its kin)
  int count = 0;     // util::Count
};

template <typename Kind>
constexpr bool kRepeats = requires {
  requires Kind::kRepeats;
};
template <typename Kind>
constexpr bool kRefuses = requires(const Kind& k) {
  k.Refusal();
};

// One CLI11 option per row, in table order; the help line ends with the bounds and the default
// (the caller's value, so a wrapper's own defaults show).
void DefineOptions(CLI::App& app, const Config& defaults, std::deque<RawOption>& raw) {
  VisitOptions(defaults, [&](const auto& value, const util::OptionInfo& info, const auto& kind) {
    RawOption& r = raw.emplace_back();
    const std::string help = OptionHelp(info, kind, value);
    using Kind = std::decay_t<decltype(kind)>;
    if constexpr (std::is_same_v<Kind, util::Count>) {
      r.option = app.add_flag(info.flags, r.count, help);
    } else if constexpr (!Kind::kTakesValue) {
      r.option = app.add_flag(info.flags, r.on, help);
    } else if constexpr (kRepeats<Kind>) {
      // Every occurrence counts (memcached's -l), joined for the kind to split.
      r.option = app.add_option(info.flags, r.text, help)
                     ->type_name(info.metavar)
                     ->multi_option_policy(CLI::MultiOptionPolicy::Join);
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
std::string Validate(const std::deque<RawOption>& raw, Config& c, std::vector<std::string>& notes) {
  std::string error;
  size_t i = 0;
  VisitOptions(c, [&](auto& value, const util::OptionInfo&, const auto& kind) {
    const RawOption& r = raw[i++];
    if (!error.empty() || r.option->count() == 0) return;
    using Kind = std::decay_t<decltype(kind)>;
    if constexpr (kRefuses<Kind>) {
      error = r.option->get_name() + ": " + kind.Refusal();
      return;
    } else if constexpr (std::is_same_v<Kind, util::Count>) {
      value = r.count;
    } else if constexpr (!Kind::kTakesValue) {
      value = r.on;
    } else {
      std::string why;
      if (!kind.Parse(r.text, value, why)) {
        error = r.option->get_name() + ": " + why;
        return;
      }
    }
    if constexpr (requires { kind.Note(value); }) {
      if (std::string note = kind.Note(value); !note.empty()) notes.push_back(std::move(note));
    }
  });
  if (!error.empty()) return error;
  // Refused before anything is opened (the device would be formatted first otherwise).
  if (util::ListenAddress metrics; c.metrics_port != 0) {
    if (std::string why; !util::ParseListenAddress(c.metrics_addr, metrics, why)) {
      return "--metrics-addr: " + why;
    }
  }
  if (c.tls && c.ssl_chain_cert.empty()) {
    return "-Z/--enable-ssl: needs a certificate chain (--ssl-chain-cert PATH or -o "
           "ssl_chain_cert=PATH)";
  }
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
                             std::string& error, std::vector<std::string>* notes) {
  out.clear();
  error.clear();
  if (notes != nullptr) notes->clear();
  // Any exception, CLI11's or bad_alloc, becomes an error line: the caller only ever sees a result.
  try {
    CLI::App app(kHelpDescription, "ssdcached");
    app.get_formatter()->column_width(36);
    app.footer(kHelpFooter);
    app.set_version_flag("-V,--version", std::string("ssdcached ") + SSDCACHE_VERSION,
                         "print the version and exit");

    std::deque<RawOption> raw;  // a deque: CLI11 keeps pointers to the fields
    DefineOptions(app, config, raw);

    // memcached's and fatcache's letters that clash become ssdcached's long flags first.
    MigratedArgs migrated = MigrateArgs(argc, argv);
    if (!migrated.error.empty()) {
      error = migrated.error;
      return ParseResult::kError;
    }
    std::vector<const char*> args;
    for (const std::string& a : migrated.args) args.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(args.size()), args.data());
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
    std::vector<std::string> found = std::move(migrated.notes);
    error = Validate(raw, parsed, found);
    if (!error.empty()) return ParseResult::kError;
    if (parsed.help_man) {
      out = ManPage(config);
      return ParseResult::kExit;
    }
    if (parsed.license) {
      out = std::string("ssdcached ") + SSDCACHE_VERSION +
            ": the licenses of ssdcached and of the libraries it uses are listed in "
            "docs/dependencies.md\n";
      return ParseResult::kExit;
    }
    config = std::move(parsed);
    if (notes != nullptr) *notes = std::move(found);
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
