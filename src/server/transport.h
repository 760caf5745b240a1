// How a connection's bytes cross its socket: in the clear (PlainTransport: recv, sendmsg) or
// through TLS (server/tls.h: OpenSSL on the same non-blocking socket). Connection reads and writes
// only through this seam, so it knows nothing of TLS.
//
// Edge-triggered contract:
//  - kAgain means the socket has nothing (more) to give or no room: wait for an edge.
//  - A read shorter than asked drains the socket only if ShortReadDrains(): TLS returns at most
//    one record per read while more may wait in OpenSSL's buffer or in the socket (no edge will
//    come for those), so a TLS reader goes on until kAgain.
//  - With EdgesWakeBoth(), any edge must re-arm reading and writing: TLS may need to write while
//    reading (a handshake reply) or to read while writing, so either edge may unblock either.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace ssdcache::server {

enum class IoStatus : uint8_t { kOk, kAgain, kEof, kError };

struct IoResult {
  IoStatus status = IoStatus::kError;
  size_t bytes = 0;  // kOk: bytes read or written (> 0)
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual IoResult Read(char* buf, size_t len) = 0;
  // Writes a prefix of the buffers (count > 0, each non-empty).
  virtual IoResult Write(const iovec* iov, int count) = 0;
  // Before the socket closes: TLS says goodbye (close_notify), best effort.
  virtual void Shutdown() {}
  virtual bool ShortReadDrains() const = 0;
  virtual bool EdgesWakeBoth() const = 0;
};

// recv and sendmsg on a socket the connection owns.
class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}
  IoResult Read(char* buf, size_t len) override;
  IoResult Write(const iovec* iov, int count) override;
  bool ShortReadDrains() const override { return true; }
  bool EdgesWakeBoth() const override { return false; }

 private:
  int fd_;
};

}  // namespace ssdcache::server
