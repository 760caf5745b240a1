#include "server/listeners.h"

#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace ssdcache::server {
namespace {

std::string AddressName(const sockaddr* sa) {
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  const socklen_t len = sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return sa->sa_family == AF_INET6 ? "[" + std::string(host) + "]:" + serv
                                   : std::string(host) + ":" + serv;
}

// Binds and listens on one resolved address. Returns the socket, or an invalid one with `error`
// (errno kept for the caller).
util::UniqueFd BindTcp(const addrinfo* ai, uint32_t backlog, std::string& error) {
  util::UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = std::strerror(errno);
    return fd;
  }
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ai->ai_family == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
      ::listen(fd.get(), static_cast<int>(backlog)) != 0) {
    const int err = errno;
    error = std::strerror(err);
    fd.Reset();
    errno = err;
  }
  return fd;
}

// Every address of one -l entry (a name may resolve to several: localhost to 127.0.0.1 and ::1).
bool OpenEntry(const util::ListenAddress& entry, std::string_view flag, uint32_t backlog,
               uint16_t& shared_port, std::vector<ListenSocket>& out, std::string& error) {
  const int port = entry.port >= 0 ? entry.port : shared_port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(entry.host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    error = std::string(flag) + ": cannot resolve '" + entry.host + "': " + gai_strerror(rc);
    return false;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(res, &freeaddrinfo);
  size_t bound = 0;
  std::string why;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    // Listed twice (-l 127.0.0.1,localhost): one socket.
    const std::string name = AddressName(ai->ai_addr);
    const bool listed =
        std::any_of(out.begin(), out.end(), [&](const ListenSocket& s) { return s.name == name; });
    if (listed) {
      ++bound;
      continue;
    }
    util::UniqueFd fd = BindTcp(ai, backlog, why);
    if (!fd.valid()) {
      // A name's other family may be missing on this machine (no IPv6): skip it, as memcached.
      if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) {
        spdlog::warn("{} {}: cannot listen on {}: {}", flag, entry.host, AddressName(ai->ai_addr),
                     why);
        continue;
      }
      error = std::string(flag) + ": cannot listen on " + AddressName(ai->ai_addr) + ": " + why;
      return false;
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&addr);
    if (shared_port == 0 && entry.port < 0) {
      shared_port =
          ntohs(sa->sa_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
    }
    out.push_back(ListenSocket{std::move(fd), AddressName(sa), true, !entry.notls});
    ++bound;
  }
  if (bound == 0) {
    error = std::string(flag) + ": no address of '" + entry.host + "' could be listened on: " + why;
    return false;
  }
  return true;
}

bool OpenUnix(const Config& config, std::vector<ListenSocket>& out, std::string& error) {
  const std::string& path = config.unix_socket;
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    error = "--unix-socket: path longer than " + std::to_string(sizeof(addr.sun_path) - 1) +
            " bytes: " + path;
    return false;
  }
  // A socket file left by an earlier run is replaced, as memcached does; anything else is not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = "--unix-socket: " + path + " exists and is not a socket";
      return false;
    }
    ::unlink(path.c_str());
  }
  util::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = std::string("--unix-socket: socket: ") + std::strerror(errno);
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  // The mask applies from the socket's creation on (memcached's -a): no window with wider access.
  const mode_t old = ::umask(~config.unix_mask & 0777);
  const int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::umask(old);
  if (rc != 0 || ::listen(fd.get(), static_cast<int>(config.listen_backlog)) != 0) {
    error = "--unix-socket: cannot listen on " + path + ": " + std::strerror(rc != 0 ? err : errno);
    return false;
  }
  out.push_back(ListenSocket{std::move(fd), "unix:" + path, false, false});
  return true;
}

}  // namespace

bool OpenListenSockets(const Config& config, std::vector<ListenSocket>& out, uint16_t& tcp_port,
                       std::string& error) {
  out.clear();
  uint16_t shared = config.port;
  for (const util::ListenAddress& entry : config.listen) {
    if (!OpenEntry(entry, "-l/--listen", config.listen_backlog, shared, out, error)) return false;
  }
  tcp_port = 0;
  if (!out.empty()) {  // the first TCP socket's port (stats tcpport, the start-up line)
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    getsockname(out.front().fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    tcp_port =
        ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port
                                         : reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  }
  if (!config.unix_socket.empty() && !OpenUnix(config, out, error)) return false;
  return true;
}

bool OpenMetricsSockets(const Config& config, std::vector<ListenSocket>& out, std::string& error) {
  out.clear();
  util::ListenAddress entry;
  std::string why;
  if (!util::ParseListenAddress(config.metrics_addr, entry, why)) {
    error = "--metrics-addr: " + why;
    return false;
  }
  if (entry.port < 0 && config.metrics_port == 0) return true;  // off
  uint16_t port = static_cast<uint16_t>(config.metrics_port);
  return OpenEntry(entry, "--metrics-addr", 64, port, out, error);
}

}  // namespace ssdcache::server
