#include "server/net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cellsim::net {
namespace {

// OpenSSL's queued errors as one line (and the queue cleared).
std::string openssl_errors() {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    if (!text.empty()) text += "; ";
    text += buf.data();
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

// A file's first problem on opening it, or "" if it opens.
std::string unreadable(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::string(std::strerror(errno));
  std::fclose(f);
  return "";
}

SSL_CTX* new_tls13_ctx(bool server, std::string* why) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    *why = "cannot make a TLS 1.3 context: " + openssl_errors();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (server) SSL_CTX_set_num_tickets(ctx, 0);
  return ctx;
}

bool check_server_ctx(SSL_CTX* ctx, const std::string& key_name, std::string* why) {
  if (SSL_CTX_check_private_key(ctx) != 1) {
    *why = key_name + ": the private key does not match the certificate (" + openssl_errors() + ")";
    return false;
  }
  return true;
}

// Whether `path` holds a PEM private key (of any certificate).
bool is_pem_key_file(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  const bool ok = key != nullptr;
  EVP_PKEY_free(key);
  BIO_free(bio);
  ERR_clear_error();
  return ok;
}

// PEM text as a read-only memory BIO (the caller frees it).
BIO* pem_bio(const std::string& pem) {
  return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
}

void set_client_verify(SSL_CTX* ctx) { SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr); }

}  // namespace

// --- TlsContext -------------------------------------------------------------

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::shared_ptr<TlsContext> TlsContext::server_from_files(const std::string& cert_file,
                                                          const std::string& key_file,
                                                          std::string* why) {
  for (const std::string* f : {&cert_file, &key_file}) {
    const std::string problem = unreadable(*f);
    if (!problem.empty()) {
      *why = "TLS " + std::string(f == &cert_file ? "certificate" : "key") + " file " + *f + ": " +
             problem;
      return nullptr;
    }
  }
  ERR_clear_error();
  SSL_CTX* ctx = new_tls13_ctx(/*server=*/true, why);
  if (!ctx) return nullptr;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    *why = "TLS certificate file " + cert_file + ": not a PEM certificate chain (" +
           openssl_errors() + ")";
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string detail = openssl_errors();
    *why = "TLS key file " + key_file +
           (is_pem_key_file(key_file) ? ": the private key does not match the certificate"
                                      : ": not a PEM private key") +
           " (" + detail + ")";
  } else if (check_server_ctx(ctx, "TLS key file " + key_file, why)) {
    return std::shared_ptr<TlsContext>(new TlsContext(ctx, true));
  }
  SSL_CTX_free(ctx);
  return nullptr;
}

std::shared_ptr<TlsContext> TlsContext::server_from_pem(const std::string& cert_pem,
                                                        const std::string& key_pem,
                                                        std::string* why) {
  ERR_clear_error();
  SSL_CTX* ctx = new_tls13_ctx(/*server=*/true, why);
  if (!ctx) return nullptr;
  BIO* cert_bio = pem_bio(cert_pem);
  BIO* key_bio = pem_bio(key_pem);
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  bool ok = false;
  if (!cert || SSL_CTX_use_certificate(ctx, cert) != 1) {
    *why = "TLS certificate: not a PEM certificate (" + openssl_errors() + ")";
  } else if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    *why = "TLS key: not a PEM private key (" + openssl_errors() + ")";
  } else {
    // The rest of the PEM text: intermediate certificates of the chain.
    while (X509* extra = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr)) {
      SSL_CTX_add_extra_chain_cert(ctx, extra);  // takes ownership
    }
    ERR_clear_error();  // the loop ends on "no start line"
    ok = check_server_ctx(ctx, "TLS key", why);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  if (!ok) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return std::shared_ptr<TlsContext>(new TlsContext(ctx, true));
}

std::shared_ptr<TlsContext> TlsContext::client_from_file(const std::string& ca_file,
                                                         std::string* why) {
  const std::string problem = unreadable(ca_file);
  if (!problem.empty()) {
    *why = "TLS CA file " + ca_file + ": " + problem;
    return nullptr;
  }
  ERR_clear_error();
  SSL_CTX* ctx = new_tls13_ctx(/*server=*/false, why);
  if (!ctx) return nullptr;
  if (SSL_CTX_load_verify_file(ctx, ca_file.c_str()) != 1) {
    *why = "TLS CA file " + ca_file + ": no PEM CA certificate (" + openssl_errors() + ")";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  set_client_verify(ctx);
  return std::shared_ptr<TlsContext>(new TlsContext(ctx, false));
}

std::shared_ptr<TlsContext> TlsContext::client_from_pem(const std::string& ca_pem,
                                                        std::string* why) {
  ERR_clear_error();
  SSL_CTX* ctx = new_tls13_ctx(/*server=*/false, why);
  if (!ctx) return nullptr;
  BIO* bio = pem_bio(ca_pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, ca) == 1) ++added;
    X509_free(ca);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (added == 0) {
    *why = "TLS CA: no PEM CA certificate";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  set_client_verify(ctx);
  return std::shared_ptr<TlsContext>(new TlsContext(ctx, false));
}

// --- TlsSession -------------------------------------------------------------

TlsSession::TlsSession(SSL* ssl, BIO* in, BIO* out, bool server)
    : ssl_(ssl), in_(in), out_(out), server_(server) {}

TlsSession::~TlsSession() { SSL_free(ssl_); }  // frees the BIOs too

std::unique_ptr<TlsSession> TlsSession::server(const TlsContext& ctx) {
  SSL* ssl = SSL_new(ctx.native());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsSession>(new TlsSession(ssl, in, out, /*server=*/true));
}

std::unique_ptr<TlsSession> TlsSession::client(const TlsContext& ctx, const std::string& host) {
  SSL* ssl = SSL_new(ctx.native());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  std::unique_ptr<TlsSession> s(new TlsSession(ssl, in, out, /*server=*/false));
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool is_ip = X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  if (!is_ip) {
    ERR_clear_error();
    if (SSL_set1_host(ssl, host.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
      s->fail("cannot verify host \"" + host + "\"", SSL_ERROR_SSL);
      return s;
    }
  }
  s->drive_handshake();  // the ClientHello
  return s;
}

TlsSession::Status TlsSession::feed(std::string_view cipher, std::string* plain) {
  if (failed_) return Status::kFailed;
  while (!cipher.empty()) {
    const int n = BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
    if (n <= 0) return fail("cannot buffer ciphertext", SSL_ERROR_SSL);
    cipher.remove_prefix(static_cast<size_t>(n));
  }
  return advance(plain);
}

TlsSession::Status TlsSession::advance(std::string* plain) {
  if (!established_) {
    const Status s = drive_handshake();
    if (s != Status::kOk || !established_) return s;
  }
  const Status s = read_records(plain);
  if (s == Status::kFailed) return s;
  const Status bound = check_output_bound();
  return bound == Status::kOk ? s : bound;
}

TlsSession::Status TlsSession::drive_handshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    if (!early_plain_.empty()) {
      std::string queued = std::move(early_plain_);
      early_plain_.clear();
      if (encrypt(queued) == Status::kFailed) return Status::kFailed;
    }
    return check_output_bound();
  }
  const int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return check_output_bound();
  return fail("TLS handshake failed", e);
}

TlsSession::Status TlsSession::read_records(std::string* plain) {
  if (peer_closed_) return Status::kClosed;
  std::array<char, kTlsReadChunkBytes> buf;
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(ssl_, buf.data(), buf.size(), &n) == 1) {
      plain->append(buf.data(), n);
      continue;
    }
    const int e = SSL_get_error(ssl_, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::kOk;
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return Status::kClosed;
    }
    return fail("TLS record failure", e);
  }
}

TlsSession::Status TlsSession::write(std::string_view plain) {
  if (failed_) return Status::kFailed;
  if (!established_) {
    if (early_plain_.size() + plain.size() > kMaxTlsEarlyPlainBytes) {
      return fail("more than " + std::to_string(kMaxTlsEarlyPlainBytes) +
                      " bytes written before the TLS handshake completed",
                  SSL_ERROR_NONE);
    }
    early_plain_.append(plain);
    return Status::kOk;
  }
  if (encrypt(plain) == Status::kFailed) return Status::kFailed;
  return check_output_bound();
}

TlsSession::Status TlsSession::encrypt(std::string_view plain) {
  while (!plain.empty()) {
    ERR_clear_error();
    size_t n = 0;
    if (SSL_write_ex(ssl_, plain.data(), plain.size(), &n) != 1) {
      return fail("TLS write failed", SSL_get_error(ssl_, 0));
    }
    plain.remove_prefix(n);
  }
  return Status::kOk;
}

void TlsSession::close() {
  if (failed_ || close_sent_ || !established_) return;
  close_sent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; the peer's answer is not awaited
  ERR_clear_error();
}

bool TlsSession::has_output() const { return BIO_ctrl_pending(out_) > 0; }

void TlsSession::take_output(std::string* out) {
  const size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return;
  const size_t at = out->size();
  out->resize(at + pending);
  const int n = BIO_read(out_, out->data() + at, static_cast<int>(pending));
  out->resize(at + static_cast<size_t>(n > 0 ? n : 0));
}

TlsSession::Status TlsSession::check_output_bound() {
  if (BIO_ctrl_pending(out_) <= kMaxTlsPendingOutputBytes) return Status::kOk;
  return fail("more than " + std::to_string(kMaxTlsPendingOutputBytes) +
                  " bytes of TLS output waiting to be sent",
              SSL_ERROR_NONE);
}

TlsSession::Status TlsSession::fail(const std::string& what, int ssl_error) {
  if (!failed_) {
    failed_ = true;
    std::string detail;
    if (ssl_error == SSL_ERROR_SSL) {
      detail = openssl_errors();
      const long verify = SSL_get_verify_result(ssl_);
      if (!server_ && verify != X509_V_OK) {
        detail = std::string("certificate verify failed: ") +
                 X509_verify_cert_error_string(verify) + " (" + detail + ")";
      }
    } else if (ssl_error == SSL_ERROR_SYSCALL) {
      detail = "unexpected end of the TLS stream";
    } else if (ssl_error != SSL_ERROR_NONE) {
      detail = "SSL error " + std::to_string(ssl_error) + " (" + openssl_errors() + ")";
    }
    error_ = detail.empty() ? what : what + ": " + detail;
  }
  return Status::kFailed;
}

}  // namespace cellsim::net
