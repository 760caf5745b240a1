#include "server/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "server/config.h"
#include "server/tls_options.h"

namespace ssdcache::server {
namespace {

static_assert(kTlsVerifyFlags[1] == static_cast<uint32_t>(SSL_VERIFY_PEER));
static_assert(kTlsVerifyFlags[2] ==
              static_cast<uint32_t>(SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT));
static_assert(kTlsVerifyFlags[3] ==
              static_cast<uint32_t>(SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
                                    SSL_VERIFY_CLIENT_ONCE));

constexpr int kVersions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
// One TLS record's worth of plaintext: what a write hands OpenSSL at a time (memcached's
// ssl_wbuf_size).
constexpr size_t kRecordBytes = 16 * 1024;

// The oldest OpenSSL error, as memcached appends it to its messages; the queue is emptied.
std::string SslError() {
  char buf[256] = "";
  if (const unsigned long err = ERR_get_error(); err != 0)
    ERR_error_string_n(err, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

class TlsTransport final : public Transport {
 public:
  TlsTransport(SSL* ssl, uint64_t& handshake_errors)
      : ssl_(ssl), handshake_errors_(handshake_errors) {}
  ~TlsTransport() override { SSL_free(ssl_); }
  TlsTransport(const TlsTransport&) = delete;  // owns ssl_
  TlsTransport& operator=(const TlsTransport&) = delete;

  IoResult Read(char* buf, size_t len) override {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(len, INT32_MAX)));
    if (n > 0) return {IoStatus::kOk, static_cast<size_t>(n)};
    return Failed(n);
  }

  IoResult Write(const iovec* iov, int count) override {
    if (pending_ == 0) {
      wbuf_.resize(kRecordBytes);
      for (int i = 0; i < count && pending_ < kRecordBytes; ++i) {
        const size_t take = std::min(iov[i].iov_len, kRecordBytes - pending_);
        std::memcpy(wbuf_.data() + pending_, iov[i].iov_base, take);
        pending_ += take;
      }
    }
    ERR_clear_error();
    const int n = SSL_write(ssl_, wbuf_.data(), static_cast<int>(pending_));
    if (n > 0) {
      pending_ = 0;
      return {IoStatus::kOk, static_cast<size_t>(n)};
    }
    return Failed(n);
  }

  void Shutdown() override {
    // Never after a fatal error: OpenSSL forbids SSL_shutdown then.
    if (!fatal_ && SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // close_notify, if the socket takes it now; no wait for the peer's
      ERR_clear_error();
    }
  }
  bool ShortReadDrains() const override { return false; }
  bool EdgesWakeBoth() const override { return true; }

 private:
  IoResult Failed(int ret) {
    switch (SSL_get_error(ssl_, ret)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return {IoStatus::kAgain};
      case SSL_ERROR_ZERO_RETURN:  // close_notify, or an EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
        return {IoStatus::kEof};
      default:  // SSL_ERROR_SSL (a bad record, a failed handshake), SSL_ERROR_SYSCALL
        fatal_ = true;
        if (!SSL_is_init_finished(ssl_)) {
          ++handshake_errors_;
          spdlog::debug("TLS handshake failed: {}", SslError());
        } else {
          spdlog::debug("TLS error: {}", SslError());
        }
        ERR_clear_error();
        return {IoStatus::kError};
    }
  }

  SSL* ssl_;
  bool fatal_ = false;  // SSL_ERROR_SSL or SSL_ERROR_SYSCALL: the connection is done
  uint64_t& handshake_errors_;
  std::vector<char> wbuf_;  // the bytes of a write being retried (pending_ of them)
  size_t pending_ = 0;
};

}  // namespace

TlsContext::TlsContext(const Config& config) : config_(config) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsContext> TlsContext::Create(const Config& config, std::string& error) {
  auto tls = std::unique_ptr<TlsContext>(new TlsContext(config));
  tls->ctx_ = tls->Build(error);
  if (tls->ctx_ == nullptr) return nullptr;
  return tls;
}

bool TlsContext::Refresh(std::string& error) {
  SSL_CTX* fresh = Build(error);
  if (fresh == nullptr) return false;
  SSL_CTX_free(ctx_);  // connections hold their own references
  ctx_ = fresh;
  return true;
}

// memcached's ssl_init and load_server_certificates, with its messages.
SSL_CTX* TlsContext::Build(std::string& out_error) const {
  std::string error;
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    out_error = "Error creating the TLS context: " + SslError();
    return nullptr;
  }
  const Config& c = config_;
  const std::string& key = c.ssl_key.empty() ? c.ssl_chain_cert : c.ssl_key;
  SSL_CTX_set_min_proto_version(ctx, kVersions[c.ssl_min_version & 3]);
  if (!SSL_CTX_use_certificate_chain_file(ctx, c.ssl_chain_cert.c_str())) {
    error = "Error loading the certificate chain: " + c.ssl_chain_cert + " : " + SslError();
  } else if (!SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), static_cast<int>(c.ssl_keyformat))) {
    error = "Error loading the key: " + key + " : " + SslError();
  } else if (!SSL_CTX_check_private_key(ctx)) {
    error = "Error validating the certificate: " + SslError();
  } else if (!c.ssl_ca_cert.empty() &&
             !SSL_CTX_load_verify_locations(ctx, c.ssl_ca_cert.c_str(), nullptr)) {
    error = "Error loading the CA certificate: " + c.ssl_ca_cert + " : " + SslError();
  } else if (!c.ssl_ciphers.empty() && !SSL_CTX_set_cipher_list(ctx, c.ssl_ciphers.c_str())) {
    error = "Error setting the provided cipher(s): " + c.ssl_ciphers;
  }
  if (!error.empty()) {
    ERR_clear_error();
    SSL_CTX_free(ctx);
    out_error = std::move(error);
    return nullptr;
  }
  if (!c.ssl_ca_cert.empty()) {
    SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(c.ssl_ca_cert.c_str()));
  }
  SSL_CTX_set_verify(ctx, static_cast<int>(kTlsVerifyFlags[c.ssl_verify_mode & 3]), nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // No renegotiation (as memcached); a peer that closes without close_notify is an EOF.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

std::unique_ptr<Transport> TlsContext::NewTransport(int fd, uint64_t& handshake_errors) {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    spdlog::warn("TLS: cannot set up a connection: {}", SslError());
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return std::make_unique<TlsTransport>(ssl, handshake_errors);
}

}  // namespace ssdcache::server
