// TLS for cellmeetd and its clients, sans-IO: OpenSSL 3 over memory BIOs.
//
// TlsContext is one side's configuration (SSL_CTX): a server's certificate
// chain and key, or a client's trusted CA certificates. Both are TLS 1.3
// only, without session tickets (no resumption: a reconnect is a full
// handshake, which is what calibration prices).
//
// TlsSession is one connection's TLS state. It owns no socket: the caller
// feeds it the ciphertext it read and sends the ciphertext it takes out, so
// a session can start on one thread (cellmeetd's acceptor does the handshake
// and decrypts the first frame) and move, with the socket's descriptor, to
// another (the cell's shard). A client session verifies the server's
// certificate against its context's CAs and checks the host name or IP
// address it was made for against the certificate's subject alternative names.
//
// Bounds: ciphertext waiting to be taken out is at most
// kMaxTlsPendingOutputBytes and plaintext written before the handshake
// completes at most kMaxTlsEarlyPlainBytes; past either the session fails.
// Ciphertext fed in is decrypted at once, so at most one partial record
// stays buffered inside.
//
// Invariants: once failed() it stays failed and yields no more plaintext
// (its output is then at most the alert OpenSSL queued, which the caller may
// send before closing); plaintext comes out in the order it went in at the
// other end.
//
// Thread-safety: a TlsContext is immutable after construction and may be
// shared by sessions on any threads. A TlsSession is used by one thread at a
// time; moving it to another thread needs a happens-before edge (a post).
#ifndef CELLSIM_SERVER_NET_TLS_H_
#define CELLSIM_SERVER_NET_TLS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace cellsim::net {

// Ciphertext a session holds for the caller to send, at most.
inline constexpr size_t kMaxTlsPendingOutputBytes = 8u << 20;
// Plaintext queued before the handshake completes, at most.
inline constexpr size_t kMaxTlsEarlyPlainBytes = 1u << 20;
// Plaintext bytes decrypted per SSL_read call.
inline constexpr size_t kTlsReadChunkBytes = 16 * 1024;

class TlsContext {
 public:
  // A server context from a PEM certificate chain file and a PEM private
  // key file. Null with a reason naming the file on failure.
  static std::shared_ptr<TlsContext> server_from_files(const std::string& cert_file,
                                                       const std::string& key_file,
                                                       std::string* why);
  // The same from PEM text in memory (generated certificates).
  static std::shared_ptr<TlsContext> server_from_pem(const std::string& cert_pem,
                                                     const std::string& key_pem, std::string* why);
  // A client context trusting the CA certificates of a PEM file.
  static std::shared_ptr<TlsContext> client_from_file(const std::string& ca_file, std::string* why);
  static std::shared_ptr<TlsContext> client_from_pem(const std::string& ca_pem, std::string* why);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool is_server() const { return server_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsContext(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  SSL_CTX* const ctx_;
  const bool server_;
};

class TlsSession {
 public:
  enum class Status {
    kOk,      // go on (check established(), take output)
    kClosed,  // the peer sent close_notify: no more plaintext will come
    kFailed,  // handshake or record failure: error() says why; close the socket
  };

  // REQUIRES: ctx.is_server().
  static std::unique_ptr<TlsSession> server(const TlsContext& ctx);
  // REQUIRES: !ctx.is_server(). `host`: the DNS name or IP address the
  // server's certificate must name. The ClientHello is output at once.
  static std::unique_ptr<TlsSession> client(const TlsContext& ctx, const std::string& host);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Ciphertext from the peer; plaintext it completes is appended to *plain.
  Status feed(std::string_view cipher, std::string* plain);
  // Plaintext to send: encrypted at once once established, else queued until
  // the handshake completes.
  Status write(std::string_view plain);
  // Queues close_notify (once).
  void close();

  bool established() const { return established_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }

  // Ciphertext waiting to be sent.
  bool has_output() const;
  // Appends the waiting ciphertext to *out and forgets it.
  void take_output(std::string* out);

 private:
  TlsSession(SSL* ssl, BIO* in, BIO* out, bool server);
  Status advance(std::string* plain);
  Status drive_handshake();
  Status read_records(std::string* plain);
  Status encrypt(std::string_view plain);
  Status check_output_bound();
  Status fail(const std::string& what, int ssl_error);

  SSL* const ssl_;
  BIO* const in_;   // ciphertext from the peer (owned by ssl_)
  BIO* const out_;  // ciphertext to the peer (owned by ssl_)
  const bool server_;
  bool established_ = false;
  bool failed_ = false;
  bool peer_closed_ = false;
  bool close_sent_ = false;
  std::string early_plain_;  // written before the handshake completed
  std::string error_;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_TLS_H_
