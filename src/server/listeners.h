// The listening sockets: one per address that -l gives (a host name gives one per address it
// resolves to, as memcached binds every one), plus the unix socket of --unix-socket (memcached's
// -s). Each is non-blocking, with SO_REUSEADDR, the -b backlog, and IPV6_V6ONLY on IPv6 sockets so
// that "0.0.0.0" and "::" can both be listed.
//
// Ports: an address without its own (":PORT") takes -p; with -p 0 the first TCP socket's port,
// picked by the kernel, is reused for the others, so that every listener has the same one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/config.h"
#include "util/unique_fd.h"

namespace ssdcache::server {

struct ListenSocket {
  util::UniqueFd fd;
  std::string name;  // "127.0.0.1:11211", "[::1]:11211", "unix:/path"
  bool tcp = true;
  bool tls = true;  // under -Z: false for a unix socket or a notls: address
};

// Opens every socket `config` asks for; `config.listen` must be non-empty or a unix socket set.
// False: `error` names the flag and the address that failed.
bool OpenListenSockets(const Config& config, std::vector<ListenSocket>& out, uint16_t& tcp_port,
                       std::string& error);

// The metrics endpoint's sockets: one per address --metrics-addr resolves to, on --metrics-port
// (an ADDR:PORT of its own wins); none (and true) when neither gives a port.
bool OpenMetricsSockets(const Config& config, std::vector<ListenSocket>& out, std::string& error);

}  // namespace ssdcache::server
