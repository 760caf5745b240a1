#include "server/transport.h"

#include <sys/socket.h>

#include <cerrno>

namespace ssdcache::server {

IoResult PlainTransport::Read(char* buf, size_t len) {
  while (true) {
    const ssize_t n = ::recv(fd_, buf, len, 0);
    if (n > 0) return {IoStatus::kOk, static_cast<size_t>(n)};
    if (n == 0) return {IoStatus::kEof};
    if (errno == EINTR) continue;
    return {errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kAgain : IoStatus::kError};
  }
}

IoResult PlainTransport::Write(const iovec* iov, int count) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count);
  while (true) {
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n >= 0) return {IoStatus::kOk, static_cast<size_t>(n)};
    if (errno == EINTR) continue;
    return {errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kAgain : IoStatus::kError};
  }
}

}  // namespace ssdcache::server
