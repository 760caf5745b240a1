// TLS as memcached does it (-Z and its ssl_* settings): one OpenSSL server context built from the
// configured files, and a Transport per accepted TCP connection that runs OpenSSL over the
// connection's non-blocking socket.
//
// Invariants:
//  - The handshake is not a separate step: the first reads and writes of a connection drive it
//    (SSL_set_accept_state), so accepting never blocks and a client that sends garbage instead of
//    a ClientHello only fails its own connection (counted in ssl_handshake_errors).
//  - Edge-triggered: SSL_ERROR_WANT_READ/WANT_WRITE are kAgain, either direction may be waited on
//    from either call (EdgesWakeBoth), and reads go on until kAgain because a record may be left
//    in OpenSSL's buffer (SSL_pending) with no edge to announce it (transport.h).
//  - A write that returned kAgain is retried with the same bytes: they are copied into the
//    transport's own buffer (at most one 16 KiB record), which OpenSSL requires of a retry.
//  - refresh_certs builds a whole new context and swaps it in only if every file loads and
//    checks, so a failed refresh leaves the certificates in use untouched (memcached overwrites
//    the live context in place); connections keep the context they started with.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/transport.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace ssdcache::server {

struct Config;

class TlsContext {
 public:
  // Loads the chain, the key (the chain file when no key is given), the CA list, the ciphers, the
  // verify mode and the minimum version of `config`. nullptr with memcached's message in `error`.
  static std::unique_ptr<TlsContext> Create(const Config& config, std::string& error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;  // owns ctx_
  TlsContext& operator=(const TlsContext&) = delete;

  // Loads everything again (refresh_certs); false with the reason, the old context kept.
  bool Refresh(std::string& error);
  // A transport for an accepted socket; nullptr if OpenSSL could not make one.
  std::unique_ptr<Transport> NewTransport(int fd, uint64_t& handshake_errors);

 private:
  explicit TlsContext(const Config& config);
  SSL_CTX* Build(std::string& out_error) const;

  const Config& config_;
  SSL_CTX* ctx_ = nullptr;
};

}  // namespace ssdcache::server
