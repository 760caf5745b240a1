#include "server/manpage.h"

#ifndef SSDCACHE_VERSION
#define SSDCACHE_VERSION "unknown"
#endif

namespace ssdcache::server {
namespace {

// "-p,--port" and "PORT" as "\fB\-p\fR, \fB\-\-port\fR \fIPORT\fR".
std::string FlagLine(std::string_view flags, std::string_view metavar) {
  std::string line;
  while (!flags.empty()) {
    const size_t comma = flags.find(',');
    line += (line.empty() ? "\\fB" : ", \\fB") + RoffEscape(flags.substr(0, comma)) + "\\fR";
    flags = comma == std::string_view::npos ? std::string_view() : flags.substr(comma + 1);
  }
  if (!metavar.empty()) line += " \\fI" + RoffEscape(metavar) + "\\fR";
  return line;
}

void Section(std::string& out, const char* name, std::string_view body) {
  out.append(".SH ").append(name).append("\n").append(body);
}

constexpr std::string_view kDescription =
    "ssdcached serves the memcached protocols (ASCII, meta and binary commands) and keeps its "
    "items in large slabs on a block device or a regular file, with only a compact index in "
    "memory, so one machine can cache far more than its RAM. A clean stop (SIGTERM) writes the "
    "memory slabs, and the next start rebuilds the index from the device (a warm restart); after "
    "a crash no key comes back older than its last acknowledged value.\n"
    ".PP\n"
    "A memcached or fatcache command line runs unchanged: the letters the two use differently "
    "are told apart by their argument's shape, memcached's long names are aliases, and its "
    "flags without effect here are accepted with one warning line.\n";

constexpr std::string_view kSignals =
    ".TP\n.B SIGTERM\\fR, \\fBSIGINT\n"
    "Stop cleanly: finish the requests already received, write the memory slabs to the device, "
    "mark it clean, exit 0.\n"
    ".TP\n.B SIGHUP\nReopen the log file (log rotation); if that fails, say so and keep the "
    "previous one.\n";

constexpr std::string_view kExitStatus =
    ".TP\n.B 0\nclean stop (or \\-\\-help, \\-\\-version)\n"
    ".TP\n.B 1\nruntime failure (a slab write failed)\n"
    ".TP\n.B 2\nbad flags or an unusable device, refused at start-up with one line on stderr\n";

constexpr std::string_view kEnvironment =
    ".TP\n.B SSDCACHE_FAULTS\nIO fault injection, for tests only.\n"
    ".TP\n.B SSDCACHE_BOOT_ID\nreplaces the kernel's boot id, for tests that play a reboot.\n";

constexpr std::string_view kSeeAlso =
    "memcached(1); README.md, design.md, protocol.md and operations.md, installed under "
    "share/doc/ssdcache.\n";

}  // namespace

std::string RoffEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

std::string ManPage(const Config& defaults) {
  std::string out = ".TH SSDCACHED 1 \"\" \"ssdcached " SSDCACHE_VERSION "\" \"User Commands\"\n";
  constexpr std::string_view kName = "ssdcached: ";  // kHelpDescription's first words
  Section(out, "NAME",
          "ssdcached \\- " + RoffEscape(std::string_view(kHelpDescription).substr(kName.size())) +
              "\n");
  Section(out, "SYNOPSIS", ".B ssdcached\n[\\fIOPTION\\fR]...\n");
  Section(out, "DESCRIPTION", RoffEscape(kDescription));
  Section(out, "OPTIONS", "");
  VisitOptions(defaults, [&](const auto& value, const util::OptionInfo& info, const auto& kind) {
    out.append(".TP\n")
        .append(FlagLine(info.flags, info.metavar))
        .append("\n")
        .append(RoffEscape(OptionHelp(info, kind, value)))
        .append("\n");
  });
  out.append(".TP\n").append(FlagLine("-h,--help", "")).append("\nprint the flags and exit\n");
  out.append(".TP\n")
      .append(FlagLine("-V,--version", ""))
      .append("\nprint the version and exit\n.PP\n")
      .append(RoffEscape(kHelpFooter))
      .append("\n");
  Section(out, "SIGNALS", kSignals);
  Section(out, "EXIT STATUS", kExitStatus);
  Section(out, "ENVIRONMENT", kEnvironment);
  Section(out, "SEE ALSO", kSeeAlso);
  return out;
}

}  // namespace ssdcache::server
