// cellsim::net::Server: cellmeetd's TCP host for the meeting engine.
//
// Cells are sharded across N engines (N = threads; shard = cell_id % N),
// each driven by one io_context run by one thread, so a meeting is only ever
// touched by one thread. One acceptor (on shard 0's thread) reads a new
// connection's first frame, routes it by its Hello's cell (anything else to
// shard 0, whose engine answers it), and moves the socket to that shard. With
// TLS the acceptor does the handshake and decrypts the first frame, and the
// connection's TLS session moves to the shard with the socket. A
// Prometheus endpoint serves /metrics (server/net/metrics.h).
//
// Voice datagrams, for operators (the `datagram` media transport: DESIGN.md,
// "Two media transports"; the format in proto/datagram.h; the sockets in
// server/net/media_socket.h):
//   - Beside the TCP listener the server binds one UDP socket, the media
//     port, on the same listen address: ServerOptions::media_port, `serve
//     --media-port N`. 0 (the default) takes an ephemeral port; the port
//     actually bound is given to every member in its Welcome (with its
//     session's media key), printed in the "listening" line ("voice on udp
//     PORT") and returned by media_port(). Behind a firewall or NAT, fix it
//     (e.g. the TCP port's number) and open it for UDP. On a host with
//     several addresses, listen on one (not 0.0.0.0 or ::): replies leave
//     from the address the kernel routes by, and a member's connected UDP
//     socket takes only replies from the address it sent to.
//   - Off switch: ServerOptions::media_enabled = false, `serve --no-media`:
//     no UDP socket, Welcome offers no key and no port, and members carry
//     voice in band (MediaFrame on their TCP session) as before.
//   - Members send sealed datagrams from wherever they are; the first fresh,
//     authentic one of a session (a bind, or voice) latches its source
//     address and port, and a later one from elsewhere (a NAT rebinding)
//     moves it. The floor holder's voice goes back out from the media port,
//     re-sealed for each listener, to the listeners' latched endpoints.
//     Nothing is retransmitted; forged, replayed, other-session and
//     out-of-rules datagrams are dropped (never answered) and counted.
//     Datagrams are authenticated (a truncated HMAC-SHA256 under the
//     session's key), not encrypted: with TLS on, the sessions are private
//     but the voice on the media port is not.
//   - Shards: a datagram's session id names the engine that handed it out
//     (server/net/router.h, shard_for_session), so shard 0's thread, which
//     reads the socket, passes each datagram to its shard; each shard
//     latches its own sessions' endpoints and sends through its own
//     descriptor of the same socket.
//   - Bounds: a shard's inbox holds kMaxInboxDatagrams, its send queue
//     kMaxDatagramSendQueue; beyond them datagrams are dropped and counted.
//   - Metrics (server/net/metrics.h): cellmeet_datagrams_received_total,
//     cellmeet_datagrams_accepted_total{verdict}, cellmeet_datagrams_dropped_
//     total{reason}, cellmeet_datagram_route_drops_total,
//     cellmeet_datagrams_relayed_total, cellmeet_datagrams_sent_total,
//     cellmeet_datagram_sent_bytes_total, cellmeet_datagram_send_queue_drops_
//     total, cellmeet_datagram_send_errors_total,
//     cellmeet_datagram_sessions_bound, and per meeting
//     cellmeet_meeting_media_frames_total{cell,meeting,transport},
//     cellmeet_meeting_media_bytes_total{cell,meeting,transport},
//     cellmeet_meeting_media_omitted.
//
// Thread-safety: start(), port(), metrics_port(), media_port(), stop() and
// wait() may be
// called from any thread except the server's own threads (and the
// exposer's, for stop()); start() once.
#ifndef CELLSIM_SERVER_NET_SERVER_H_
#define CELLSIM_SERVER_NET_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cellsim/v1/wire.pb.h"
#include "server/engine/settings.h"

namespace cellsim::net {

namespace v1 = ::cellsim::v1;

// TLS settings: a certificate chain and its private key, PEM, as files or
// as text (the *_pem fields, used when both file fields are empty). Both of
// a pair or neither; none at all means plain TCP.
struct ServerTlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string cert_pem;
  std::string key_pem;
  bool enabled() const {
    return !cert_file.empty() || !key_file.empty() || !cert_pem.empty() || !key_pem.empty();
  }
};

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0: ephemeral
  bool metrics_enabled = true;
  std::string metrics_address = "127.0.0.1";
  uint16_t metrics_port = 0;  // 0: ephemeral
  // Voice datagrams (see above): a UDP socket on listen_address:media_port
  // (0: ephemeral), or none when media_enabled is false. The engine's
  // settings' media_port is set from the bound port.
  bool media_enabled = true;
  uint16_t media_port = 0;
  unsigned threads = 0;  // 0: std::thread::hardware_concurrency()
  size_t max_connections = 100000;
  // Per connection; overflow => disconnect (ERROR_SLOW_CONSUMER best effort).
  size_t max_send_queue_bytes = 1 << 20;
  // Non-empty: each MeetingClosed's minutes written there as JSON, one file
  // per meeting, atomically (tmp + rename), and the journal kept in
  // minutes_dir/journal: every event acknowledged or announced is durable
  // before the answer leaves, and a server started after a crash replays it
  // (open meetings and votes come back; recovered minutes are written).
  std::string minutes_dir;
  // A shard's journal file is rewritten with only the open meetings' records
  // once it grows past this many bytes (server/net/journal.h, rotation).
  uint64_t journal_rotate_bytes = 64ull << 20;
  // With a certificate and key, every connection is TLS 1.3 (the acceptor
  // does the handshake, server/net/acceptor.h); start() fails on a bad one.
  ServerTlsOptions tls;
  engine::EngineSettings engine;
  std::string key;            // HMAC key bytes
  v1::Deployment deployment;  // cell rosters
};

// Most shards (threads) a server runs.
inline constexpr unsigned kMaxThreads = 1024;

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // calls stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Validates the options, builds the shards (false on a bad roster), binds
  // the listener and the metrics endpoint, starts the threads. False with a
  // clear reason in *why; the server is then as if never started.
  bool start(std::string* why);
  // The bound port, valid after start().
  uint16_t port() const;
  // The bound metrics port, 0 if metrics are disabled.
  uint16_t metrics_port() const;
  // The bound media (UDP) port, 0 if voice datagrams are off.
  uint16_t media_port() const;
  // Graceful: every connection gets Error ERROR_SHUTTING_DOWN, queued frames
  // are flushed (bounded wait), sockets closed, threads joined. Idempotent.
  // REQUIRES: not called on one of the server's own threads.
  void stop();
  // CPU time of the server's threads so far (per-thread process accounting),
  // ns; 0 unless running.
  uint64_t cpu_ns() const;
  // Blocks until stop() has completed.
  void wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_SERVER_H_
