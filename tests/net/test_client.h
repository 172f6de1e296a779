// A small blocking TCP client for cellmeetd's network tests: connect to
// 127.0.0.1:port, send envelopes or raw bytes, read the next frame with a
// timeout, detect EOF. Every call is bounded in time. Optionally over TLS
// (connect_tls: the server's certificate verified against a CA), with the
// same calls: then send_raw's bytes are the plaintext.
//
// Thread-safety: none; one thread per client.
#ifndef CELLSIM_TESTS_NET_TEST_CLIENT_H_
#define CELLSIM_TESTS_NET_TEST_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cellsim/v1/wire.pb.h"
#include "proto/frame.h"
#include "server/net/tls.h"

namespace cellsim::net::testing {

namespace v1 = ::cellsim::v1;

// Default bound of one wait, milliseconds.
inline constexpr int kDefaultTimeoutMs = 5000;
// Largest frame the client accepts (server pushes may exceed the request limit).
inline constexpr uint32_t kClientMaxFrameBytes = 16u << 20;

class TestClient {
 public:
  enum class Read { kFrame, kEof, kTimeout, kError, kMalformed };

  TestClient() = default;
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Connects to 127.0.0.1:port. `receive_buffer_bytes` > 0 sets SO_RCVBUF
  // before connecting (a small window for slow-consumer tests).
  bool connect(uint16_t port, int receive_buffer_bytes = 0);
  // Connects to 127.0.0.1:port and completes a TLS handshake with `tls` (a
  // client context: the CAs it trusts), checking that the certificate names
  // `host`. False if either fails; tls_error() then says why.
  bool connect_tls(uint16_t port, std::shared_ptr<const TlsContext> tls,
                   const std::string& host = "127.0.0.1", int timeout_ms = kDefaultTimeoutMs);
  const std::string& tls_error() const { return tls_error_; }
  void close();
  bool connected() const { return fd_ >= 0; }

  // Sends one envelope as a frame / raw bytes. False if the send failed or
  // did not complete within kDefaultTimeoutMs.
  bool send(const v1::Envelope& env);
  bool send_raw(std::string_view bytes);

  // Reads the next frame.
  Read read(v1::Envelope* env, int timeout_ms = kDefaultTimeoutMs);
  // Reads until a frame with `body` (pushes before it are skipped); false on
  // EOF, error or timeout. An Error frame is returned only if asked for.
  bool read_until(v1::Envelope::BodyCase body, v1::Envelope* env,
                  int timeout_ms = kDefaultTimeoutMs);
  // Reads until the next Error frame and returns its code (or
  // ERROR_CODE_UNSPECIFIED on EOF/timeout).
  v1::ErrorCode read_error(int timeout_ms = kDefaultTimeoutMs);
  // Reads and discards frames until EOF; false on timeout or a reset.
  bool wait_eof(int timeout_ms = kDefaultTimeoutMs);

 private:
  bool wait_readable(int64_t deadline_ms);
  bool send_wire(std::string_view bytes);
  bool flush_tls();
  // Reads once from the socket into the decoder (decrypting with TLS);
  // false on an error (eof_ set on the end of the stream).
  bool receive();

  int fd_ = -1;
  std::unique_ptr<TlsSession> tls_;  // null: plain TCP
  std::string tls_error_;
  bool eof_ = false;
  wire::FrameDecoder decoder_{kClientMaxFrameBytes};
};

// A UDP socket on 127.0.0.1 (an ephemeral port) for voice datagram tests:
// sends to 127.0.0.1:port, receives with a timeout. Every call is bounded.
//
// Thread-safety: none; one thread per socket.
class TestDatagramSocket {
 public:
  // Receive buffer asked for, so a reader that falls behind a burst for a
  // moment loses nothing on loopback.
  static constexpr int kReceiveBufferBytes = 1 << 20;
  // Largest datagram received (more is cut to this and still returned).
  static constexpr size_t kMaxReceiveBytes = 64 * 1024;

  TestDatagramSocket() = default;
  ~TestDatagramSocket();
  TestDatagramSocket(const TestDatagramSocket&) = delete;
  TestDatagramSocket& operator=(const TestDatagramSocket&) = delete;

  // Binds to 127.0.0.1:0.
  bool open();
  uint16_t port() const { return port_; }
  bool send_to(uint16_t port, std::string_view bytes);
  // The next datagram within timeout_ms into *bytes; false on timeout.
  bool receive(std::string* bytes, int timeout_ms);

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Envelope builders.
v1::Envelope hello_envelope(uint64_t cell_id, uint64_t member_id, const std::string& token,
                            uint64_t request_id = 1);
v1::Envelope heartbeat_envelope(uint64_t seq);
// A token for (cell, member, standing, role) expiring `ttl_ms` from now
// (negative: already expired).
std::string make_token(const std::string& key, uint64_t cell_id, uint64_t member_id,
                       v1::Standing standing, v1::Role role, int64_t ttl_ms = 3'600'000);
// The 4-byte frame header for `payload_bytes`.
std::string frame_header(uint32_t payload_bytes);

}  // namespace cellsim::net::testing

#endif  // CELLSIM_TESTS_NET_TEST_CLIENT_H_
