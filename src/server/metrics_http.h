// The metrics endpoint (--metrics-port): a minimal HTTP/1.1 server on the server's event loop that
// answers `GET /metrics` with the page its Handler composes (metrics_page.h) and closes.
//
// Invariants:
//  - Non-blocking and edge-triggered like every other fd of the loop: a client's socket is read
//    and written until EAGAIN, never waited on; a slow client only holds its own buffers.
//  - Bounded: at most kMaxClients at once (more are closed at accept), a request head of at most
//    kMaxRequest bytes (else 400), and a client older than kTimeoutNs is closed by Sweep(), so
//    neither a slow nor a silent client holds a descriptor for long.
//  - One request per connection: the reply says `Connection: close`. GET (or HEAD) of /metrics
//    gets 200, another path 404, another method 405, anything unparsable 400.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/event_loop.h"
#include "util/unique_fd.h"

namespace ssdcache::server {

class MetricsHttp {
 public:
  static constexpr size_t kMaxClients = 32;
  static constexpr size_t kMaxRequest = 8192;
  static constexpr uint64_t kTimeoutNs = 10'000'000'000;
  // Composes the body of /metrics.
  using Handler = std::function<void(std::string& body)>;

  // Serves on `listeners` (listening, non-blocking sockets); false with `error` if the loop
  // refused one.
  static std::unique_ptr<MetricsHttp> Create(net::EventLoop& loop,
                                             std::vector<util::UniqueFd> listeners, Handler handler,
                                             std::string& error);
  ~MetricsHttp();

  // Closes clients older than kTimeoutNs (called from the server's 1 s tick).
  void Sweep(uint64_t now_ns);
  // Stops accepting (shutdown); the clients already served finish or time out.
  void StopAccepting();
  size_t clients() const { return clients_.size(); }

 private:
  class Client;
  class Listener;
  MetricsHttp(net::EventLoop& loop, Handler handler);
  void Accept(int listen_fd);
  void Closed(Client* client);

  net::EventLoop& loop_;
  Handler handler_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Client>> closed_;  // freed at the next accept or sweep
};

// The status line and headers of a reply to a request head ("GET /metrics HTTP/1.1\r\n..."),
// and whether the body goes with it (not for HEAD or an error). Exposed for tests.
struct HttpVerdict {
  int status = 400;
  bool send_body = false;
};
HttpVerdict JudgeRequest(std::string_view head);

}  // namespace ssdcache::server
