// A minimal blocking client for the cellmeet protocol over TCP, for scripted
// demos and tests: connect, send envelopes, receive frames with a timeout.
// With use_tls(), connect() also completes a TLS 1.3 handshake verifying the
// server's certificate (server/net/tls.h), and frames travel encrypted.
// It is not an agent (agents are sans-IO, agents/); it is a test driver.
//
// Thread-safety: none; one thread per client.
#ifndef CELLSIM_TOOLS_DEMO_BLOCKING_CLIENT_H_
#define CELLSIM_TOOLS_DEMO_BLOCKING_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cellsim/v1/wire.pb.h"
#include "proto/frame.h"
#include "server/net/tls.h"

namespace cellsim::demo {

namespace v1 = ::cellsim::v1;

class BlockingClient {
 public:
  enum class Recv { kFrame, kTimeout, kClosed, kBadFrame };

  BlockingClient() = default;
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  // Before connect(): TLS with `ctx` (a client context), the certificate
  // checked for `server_name` (empty: the host connected to).
  void use_tls(std::shared_ptr<const net::TlsContext> ctx, std::string server_name);
  // Connects to host:port (numeric IPv4 or IPv6), with the TLS handshake if
  // use_tls() was called. False with *why on failure.
  bool connect(const std::string& host, uint16_t port, std::string* why);
  bool connected() const { return fd_ >= 0; }
  void close();

  // Sends one envelope as a frame; false if the connection is gone.
  bool send(const v1::Envelope& env);
  // Sends raw bytes (for garbage-input tests; with TLS, encrypted).
  bool send_raw(std::string_view bytes);

  // Receives the next frame within timeout_ms.
  Recv recv(v1::Envelope* env, int timeout_ms);

  // Receives frames until one with `body` arrives (returned in *env) or the
  // timeout passes; frames skipped on the way are appended to skipped().
  // An Error frame stops the wait early and is returned (check body_case()).
  bool expect(v1::Envelope::BodyCase body, v1::Envelope* env, int timeout_ms);

  std::vector<v1::Envelope>& skipped() { return skipped_; }

 private:
  bool send_wire(std::string_view bytes);
  bool flush_tls();
  bool handshake(const std::string& host, std::string* why);
  // One recv() into the decoder (decrypted with TLS); false: closed.
  bool receive();

  int fd_ = -1;
  std::shared_ptr<const net::TlsContext> tls_ctx_;
  std::string tls_name_;
  std::unique_ptr<net::TlsSession> tls_;
  wire::FrameDecoder decoder_;
  std::vector<v1::Envelope> skipped_;
};

}  // namespace cellsim::demo

#endif  // CELLSIM_TOOLS_DEMO_BLOCKING_CLIENT_H_
