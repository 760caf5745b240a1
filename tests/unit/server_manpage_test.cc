// The man page (server/manpage.h) comes from the option tables that give --help: every flag
// --help lists is on the page, with the same text and default.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/manpage.h"

namespace ssdcache::server {
namespace {

std::string Output(std::vector<std::string> args) {
  args.insert(args.begin(), "ssdcached");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  Config config;
  std::string out, error;
  EXPECT_EQ(ParseCommandLine(static_cast<int>(args.size()), argv.data(), config, out, error),
            ParseResult::kExit)
      << error;
  return out;
}

// The flags of --help's option lines ("  -p,--port PORT   TCP port ...": -p and --port).
std::vector<std::string> HelpFlags(const std::string& help) {
  std::vector<std::string> flags;
  const std::regex line(R"(^\s+(-[^\s]+))");
  std::istringstream in(help);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (!std::regex_search(l, m, line)) continue;
    std::stringstream names(m[1].str());
    for (std::string name; std::getline(names, name, ',');) flags.push_back(name);
  }
  return flags;
}

TEST(ServerManPage, HasEveryFlagOfHelp) {
  const std::string man = Output({"--help-man"});
  ASSERT_EQ(man.rfind(".TH SSDCACHED 1 ", 0), 0u) << man.substr(0, 200);
  const std::vector<std::string> flags = HelpFlags(Output({"--help"}));
  ASSERT_GT(flags.size(), 60u);
  for (const std::string& flag : flags) {
    EXPECT_NE(man.find("\\fB" + RoffEscape(flag) + "\\fR"), std::string::npos) << flag;
  }
  for (const char* section :
       {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "EXIT STATUS"}) {
    EXPECT_NE(man.find(std::string(".SH ") + section + "\n"), std::string::npos) << section;
  }
}

TEST(ServerManPage, SaysWhatHelpSaysOfEachRow) {
  const std::string man = Output({"--help-man"});
  const Config defaults;
  VisitOptions(defaults, [&](const auto& value, const util::OptionInfo& info, const auto& kind) {
    EXPECT_NE(man.find(RoffEscape(OptionHelp(info, kind, value))), std::string::npos) << info.flags;
  });
}

TEST(ServerManPage, EscapesRoff) {
  EXPECT_EQ(RoffEscape("--port"), "\\-\\-port");
  EXPECT_EQ(RoffEscape("a\\b"), "a\\eb");
  EXPECT_EQ(RoffEscape(".starts with a dot"), "\\&.starts with a dot");
  EXPECT_EQ(RoffEscape("'quote"), "\\&'quote");
}

}  // namespace
}  // namespace ssdcache::server
