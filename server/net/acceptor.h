// Acceptor: the server's one listening socket, and the handshake stage of a
// new connection: it reads until the connection's first whole frame, asks a
// FirstFrameRouter which cell (hence shard) it belongs to, and hands the
// socket and the bytes read so far to its owner for routing. Over the
// connection limit, a new connection is refused with ERROR_SERVER_FULL.
//
// A handshake that sends no whole frame within the engine's hello timeout is
// routed anyway (to shard 0, or its Hello's shard), with what it sent; the
// engine, which saw it connect at accept time, then refuses it at once.
//
// With TLS (a server TlsContext), the handshake stage is also the TLS
// handshake: the acceptor runs it (server/net/tls.h, over the raw socket),
// decrypts the first frame, and hands the TLS session over with the socket,
// so it moves to the owning shard with the descriptor. The TLS handshake
// counts against the same hello timeout; a connection whose TLS handshake
// fails, is not done by the timeout, or sends anything that is not TLS is
// closed (best effort: with OpenSSL's alert) and the engine never sees it.
// Over the connection limit a TLS connection is closed without an Error
// (answering would first cost the handshake the limit is there to save).
//
// Thread-safety: none. Runs on one io_context (shard 0's); listen() before
// that context runs, everything else on its thread.
#ifndef CELLSIM_SERVER_NET_ACCEPTOR_H_
#define CELLSIM_SERVER_NET_ACCEPTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "server/engine/engine.h"
#include "server/net/asio.h"
#include "server/net/shard.h"
#include "server/net/tls.h"

namespace cellsim::net {

// Pending connections the kernel queues for accept().
inline constexpr int kListenBacklog = 4096;
// Pause before accepting again after accept() failed (e.g. out of fds).
inline constexpr uint32_t kAcceptRetryDelayMs = 100;

// Where the acceptor sends connections. Called on the acceptor's thread.
class AcceptorOwner {
 public:
  virtual ~AcceptorOwner() = default;
  virtual engine::ConnId next_connection_id() = 0;
  // The connection's first frame named `cell_id` (0: not a good Hello).
  // The connection is counted (ConnectionCount) and stays counted. `tls`:
  // its session (handshake done; first_bytes is plaintext), null for TCP.
  virtual void route(tcp::socket socket, engine::ConnId id, engine::TimeNs accepted_at_ns,
                     uint64_t cell_id, std::string first_bytes,
                     std::unique_ptr<TlsSession> tls) = 0;
  // Answers with an Error and closes; `counted` as for Shard::refuse.
  // `tls`: null, or a session whose handshake is done.
  virtual void refuse(tcp::socket socket, engine::ConnId id, v1::ErrorCode code,
                      const std::string& reason, bool counted,
                      std::unique_ptr<TlsSession> tls) = 0;
};

class Handshake;

class Acceptor {
 public:
  // `tls`: a server context, or null for plain TCP.
  Acceptor(asio::io_context& ctx, AcceptorOwner* owner, ConnectionCount* count,
           uint32_t max_frame_bytes, uint32_t hello_timeout_ms,
           std::shared_ptr<const TlsContext> tls = nullptr);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Binds and listens. False with a reason naming the address.
  bool listen(const std::string& address, uint16_t port, std::string* why);
  uint16_t port() const { return port_; }
  // Starts accepting.
  void start();
  // Stops accepting; handshakes in progress are refused with
  // ERROR_SHUTTING_DOWN. `done` runs once none is left.
  void stop(std::function<void()> done);

  // For Handshake: how a handshake ended.
  enum class Outcome { kRouted, kAborted, kLost };
  void handshake_done(Handshake* h, Outcome outcome, tcp::socket socket, uint64_t cell_id,
                      std::string bytes, std::unique_ptr<TlsSession> tls);

 private:
  void do_accept();
  void on_accept(const error_code& ec, tcp::socket socket);

  asio::io_context& ctx_;
  AcceptorOwner* const owner_;
  ConnectionCount* const count_;
  const uint32_t max_frame_bytes_;
  const uint32_t hello_timeout_ms_;
  const std::shared_ptr<const TlsContext> tls_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  uint16_t port_ = 0;
  bool stopping_ = false;
  std::function<void()> stopped_;
  std::unordered_map<Handshake*, std::shared_ptr<Handshake>> handshakes_;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_ACCEPTOR_H_
