// The ssdcached(1) man page, generated from the option tables (server/config.h) that also give
// --help, so the two list the same flags with the same text and defaults. `ssdcached --help-man`
// prints it; the build writes build/.../ssdcached.1 with it and `make install` installs that.
#pragma once

#include <string>
#include <string_view>

#include "server/config.h"

namespace ssdcache::server {

// The whole page in roff (man(7) macros), the defaults shown being those of `defaults`.
std::string ManPage(const Config& defaults);

// `text` as roff running text: backslashes and hyphens escaped, a leading '.' or '\'' guarded.
std::string RoffEscape(std::string_view text);

}  // namespace ssdcache::server
