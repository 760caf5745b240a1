#include "server/metrics_http.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/histogram.h"

namespace ssdcache::server {
namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Bad Request";
  }
}

// Where the request head ends (after its blank line), or npos while incomplete.
size_t HeadEnd(std::string_view in) {
  const size_t crlf = in.find("\r\n\r\n");
  const size_t lf = in.find("\n\n");
  if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
    return crlf + 4;
  }
  return lf == std::string_view::npos ? lf : lf + 2;
}

}  // namespace

HttpVerdict JudgeRequest(std::string_view head) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return {400, false};
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || target.empty() || target[0] != '/' || !version.starts_with("HTTP/1.")) {
    return {400, false};
  }
  if (method != "GET" && method != "HEAD") return {405, false};
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return {404, false};
  return {200, method == "GET"};
}

class MetricsHttp::Listener final : public net::EventHandler {
 public:
  Listener(MetricsHttp& owner, util::UniqueFd fd) : owner_(owner), fd_(std::move(fd)) {}
  ~Listener() { Stop(); }
  bool Start() { return registered_ = owner_.loop_.Add(fd_.get(), EPOLLIN, this); }
  void Stop() {
    if (!registered_) return;
    owner_.loop_.Remove(fd_.get());
    owner_.loop_.Cancel(this);
    registered_ = false;
    fd_.Reset();
  }
  void OnEvent(uint32_t) override { owner_.Accept(fd_.get()); }

 private:
  MetricsHttp& owner_;
  util::UniqueFd fd_;
  bool registered_ = false;
};

class MetricsHttp::Client final : public net::EventHandler {
 public:
  Client(MetricsHttp& owner, util::UniqueFd fd)
      : owner_(owner), fd_(std::move(fd)), started_ns_(util::NowNs()) {}
  ~Client() { Close(); }
  bool Start() {
    return registered_ = owner_.loop_.Add(fd_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
  }
  uint64_t started_ns() const { return started_ns_; }

  void OnEvent(uint32_t events) override {
    if (!fd_.valid()) return;
    if (events & EPOLLERR) return Close();
    if (!responded_) Read();
    if (fd_.valid() && responded_) Write();
  }

  void Close() {
    if (!fd_.valid()) return;
    if (registered_) {
      owner_.loop_.Remove(fd_.get());
      owner_.loop_.Cancel(this);
      registered_ = false;
    }
    fd_.Reset();
    owner_.Closed(this);
  }

 private:
  // Reads until EAGAIN; once the head is complete (or too long) the reply is composed. Bytes
  // after the head are read and dropped (at most 16 reads, so that a client that never stops
  // sending cannot hold the loop here), so that closing seldom resets the connection.
  void Read() {
    char buf[4096];
    int dropped = 0;
    while (fd_.valid() && dropped < 16) {
      const ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
      if (n > 0) {
        if (responded_) ++dropped;
        if (!responded_) in_.append(buf, static_cast<size_t>(n));
        if (!responded_ && (HeadEnd(in_) != std::string::npos || in_.size() > kMaxRequest)) {
          Respond();
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (!responded_) Close();  // EOF or an error before a whole request: nothing to answer
      return;
    }
  }

  void Respond() {
    responded_ = true;
    const size_t end = HeadEnd(in_);
    const HttpVerdict v = end == std::string::npos
                              ? HttpVerdict{400, false}
                              : JudgeRequest(std::string_view(in_).substr(0, end));
    std::string body;
    if (v.status == 200) {
      owner_.handler_(body);
    } else {
      body = std::string(Reason(v.status)) + "\n";
    }
    out_ = "HTTP/1.1 " + std::to_string(v.status) + " " + std::string(Reason(v.status)) + "\r\n";
    out_ += v.status == 200 ? "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                            : "Content-Type: text/plain; charset=utf-8\r\n";
    if (v.status == 405) out_ += "Allow: GET, HEAD\r\n";
    out_ += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (v.send_body || v.status != 200) out_ += body;
    in_.clear();
  }

  // Writes until EAGAIN (an EPOLLOUT edge resumes it); closes once everything is sent.
  void Write() {
    while (sent_ < out_.size()) {
      const ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      if (n > 0) {
        sent_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return Close();
    }
    ::shutdown(fd_.get(), SHUT_WR);
    Close();
  }

  MetricsHttp& owner_;
  util::UniqueFd fd_;
  uint64_t started_ns_;
  bool registered_ = false;
  bool responded_ = false;
  std::string in_;
  std::string out_;
  size_t sent_ = 0;
};

MetricsHttp::MetricsHttp(net::EventLoop& loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

std::unique_ptr<MetricsHttp> MetricsHttp::Create(net::EventLoop& loop,
                                                 std::vector<util::UniqueFd> listeners,
                                                 Handler handler, std::string& error) {
  auto http = std::unique_ptr<MetricsHttp>(new MetricsHttp(loop, std::move(handler)));
  for (util::UniqueFd& fd : listeners) {
    http->listeners_.push_back(std::make_unique<Listener>(*http, std::move(fd)));
    if (!http->listeners_.back()->Start()) {
      error = std::string("epoll_ctl(metrics listener): ") + std::strerror(errno);
      return nullptr;
    }
  }
  return http;
}

MetricsHttp::~MetricsHttp() {
  // Clients call back into clients_/closed_ as they close: detach them first.
  std::vector<std::unique_ptr<Client>> clients;
  clients.swap(clients_);
  for (auto& c : clients) c->Close();
  clients.clear();
  closed_.clear();
  listeners_.clear();
}

void MetricsHttp::Accept(int listen_fd) {
  closed_.clear();  // never the caller: this runs for a listener's event
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of descriptors: the next connection's edge retries
    }
    util::UniqueFd conn(fd);
    if (clients_.size() >= kMaxClients) continue;  // closed at once: scrapes are rare
    auto client = std::make_unique<Client>(*this, std::move(conn));
    if (!client->Start()) continue;
    clients_.push_back(std::move(client));
  }
}

void MetricsHttp::Closed(Client* client) {
  auto it = std::find_if(clients_.begin(), clients_.end(),
                         [client](const std::unique_ptr<Client>& c) { return c.get() == client; });
  if (it == clients_.end()) return;
  // Not freed here: the client may be inside its own OnEvent.
  closed_.push_back(std::move(*it));
  clients_.erase(it);
}

void MetricsHttp::Sweep(uint64_t now_ns) {
  closed_.clear();
  std::vector<Client*> old;
  for (const auto& c : clients_) {
    if (now_ns - c->started_ns() >= kTimeoutNs) old.push_back(c.get());
  }
  for (Client* c : old) c->Close();
  closed_.clear();
}

void MetricsHttp::StopAccepting() {
  for (auto& l : listeners_) l->Stop();
}

}  // namespace ssdcache::server
