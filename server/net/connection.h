// Connection: one client TCP connection on one shard's io_context. It does
// I/O only (as in the Asio HTTP server example): bytes it reads go to its
// owner (the shard, which feeds them to the engine), and frames the owner
// hands it are written in order from a bounded send queue. Parsing and
// meeting logic are the engine's.
//
// TLS, when the connection has a session (server/net/tls.h, handshake done
// by the acceptor): ciphertext read is decrypted before the owner sees it;
// frames are encrypted when their write starts (at most kTlsWriteBatchBytes
// of plaintext per write), together with any TLS output the peer's records
// caused; a closing connection sends close_notify before shutting down its
// write side; a TLS failure is a broken connection. The owner sees the same
// plaintext either way.
//
// Life cycle:
//   kOpen      attached: reads go to the owner; send() queues frames.
//   kDraining  detached (the engine closed it, the peer went away, or the
//              send queue overflowed): reads are discarded, queued frames
//              are still written.
//   kLingering everything written and the write side shut down; waiting for
//              the peer's EOF so that closing does not reset the connection
//              (and lose the last frames) while the peer still sends.
//   kDone      socket closed; the owner has been told on_finished() once.
// Draining plus lingering are bounded by kFlushTimeoutMs; a "quick" close
// (server stopping) skips the lingering.
//
// Invariants: queued_bytes_ is the sum of the sizes of queue_'s frames; the
// first in_flight_ frames of queue_ are being written (with TLS: they are
// encrypted into cipher_out_, which is being written); the owner hears
// on_bytes/on_peer_gone only while attached, and on_finished exactly once.
//
// Thread-safety: none. Every member function runs on the owning shard's
// io_context thread. Kept alive by shared_ptr from the owner's map and from
// pending handlers.
#ifndef CELLSIM_SERVER_NET_CONNECTION_H_
#define CELLSIM_SERVER_NET_CONNECTION_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/frame.h"
#include "server/engine/engine.h"
#include "server/net/asio.h"
#include "server/net/tls.h"

namespace cellsim::net {

// Bytes asked for by one read.
inline constexpr size_t kReadChunkBytes = 16 * 1024;
// Frames gathered into one write.
inline constexpr size_t kMaxWriteBatchFrames = 64;
// Longest a closing connection waits to flush its queue and see the peer's EOF.
inline constexpr uint32_t kFlushTimeoutMs = 2000;
// With TLS: plaintext encrypted for one write, at most (beyond one frame).
inline constexpr size_t kTlsWriteBatchBytes = 256 * 1024;

class Connection;

// What a connection reports to its shard. Called on the shard's thread.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // Bytes read on an attached connection.
  virtual void on_bytes(Connection& conn, std::string_view bytes) = 0;
  // The peer closed or the socket failed while attached.
  virtual void on_peer_gone(Connection& conn) = 0;
  // The socket is closed; the owner drops its reference.
  virtual void on_finished(Connection& conn) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Enqueued {
    kQueued,    // the frame will be written
    kDropped,   // the connection is closing; the frame is discarded
    kOverflow,  // the send queue would exceed its bound; nothing queued
  };

  // `counted`: the connection counts toward the server's connection limit
  // (the owner decrements the count when it finishes). `tls`: the
  // connection's TLS session, handshake done; null for plain TCP.
  Connection(tcp::socket socket, engine::ConnId id, ConnectionOwner* owner,
             size_t max_send_queue_bytes, bool attached, bool counted,
             std::unique_ptr<TlsSession> tls = nullptr);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts reading. Call once, after the owner holds the shared_ptr.
  void start();

  // Queues a frame on an attached connection. A frame always fits an empty
  // queue (so one large push never disconnects by itself); otherwise the
  // queue may hold at most max_send_queue_bytes.
  Enqueued send(wire::SharedFrame frame);

  // Detaches and closes once the frames queued so far are written.
  void close_after_flush(bool quick);
  // Detaches, drops the frames not yet being written, queues `last` and
  // closes after flushing it (the slow consumer's Error, a refusal).
  void close_with(wire::SharedFrame last, bool quick);
  // Closes the socket now.
  void force_close();

  engine::ConnId id() const { return id_; }
  bool attached() const { return attached_; }
  bool counted() const { return counted_; }
  size_t queued_bytes() const { return queued_bytes_; }

 private:
  enum class State { kOpen, kDraining, kLingering, kDone };

  void do_read();
  void on_read(const error_code& ec, size_t n);
  // TLS: decrypts what was read; false if the connection ended.
  bool decrypt(size_t n, std::string_view* plain);
  void do_write_tls();
  bool send_close_notify();
  void on_peer_eof();
  void do_write();
  void on_write(const error_code& ec);
  void detach_after_error();
  void begin_draining(bool quick);
  void maybe_close_after_flush();
  void finish();

  tcp::socket socket_;
  asio::steady_timer flush_timer_;
  const engine::ConnId id_;
  ConnectionOwner* const owner_;
  const size_t max_send_queue_bytes_;
  const bool counted_;
  State state_ = State::kOpen;
  bool attached_;
  bool quick_ = false;
  bool peer_eof_ = false;
  bool writing_ = false;
  std::deque<wire::SharedFrame> queue_;
  size_t in_flight_ = 0;
  size_t queued_bytes_ = 0;
  std::vector<asio::const_buffer> write_buffers_;
  std::array<char, kReadChunkBytes> read_buffer_;
  std::unique_ptr<TlsSession> tls_;  // null: plain TCP
  std::string plain_in_;             // TLS: plaintext of the last read
  std::string cipher_out_;           // TLS: ciphertext being written
  bool close_notify_sent_ = false;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_CONNECTION_H_
