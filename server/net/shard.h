// Shard: one engine::Engine, the cells it holds (cell_id % shards == index),
// and the connections of those cells' members, all driven by one io_context
// run by one thread. A meeting is therefore only ever touched by one thread.
//
// The shard feeds the engine (bytes, disconnects, timer expiry) and drains
// its outputs after each input: kTransmit goes to the connection's bounded
// send queue (overflow: the engine is told the connection is gone and the
// connection closes with ERROR_SLOW_CONSUMER), kClose closes the connection
// once what was queued before it is written, kMinutes writes the minutes file.
// One steady timer is kept armed at engine.poll_timeout().
//
// Voice datagrams (server/net/media_socket.h), once enable_media() gave the
// shard its descriptor of the media socket: the receiver hands the shard
// every datagram whose session id names it (on_datagram(), at once on
// shard 0, through the DatagramInbox on the others); the shard feeds it to
// the engine and, when the engine says so (DatagramResult::latch), latches
// the sender's endpoint as the session's. Relayed copies from
// poll_datagram() go to the latched endpoint of their session through the
// shard's DatagramSender; a kUnbind forgets the endpoint. Datagrams are never
// journaled and never wait for a journal commit. Invariant: endpoints_ holds
// exactly the engine's bound sessions (so at most the shard's roster
// members).
//
// With a minutes folder the shard keeps a journal (server/net/journal.h):
// kJournal and kBallotBox outputs are staged in the JournalWriter, and every
// output after the first staged one is held back; a flush posted to the end
// of the io_context's ready queue (so it runs after the handlers already
// ready: one turn of the loop) commits them with one fsync and then
// delivers what was held, in order. Nothing the engine acknowledges or
// announces leaves before it is durable.
//
// Thread-safety: construction, add_cell() and enable_media() before run();
// context(), stop_context(), sample(), datagram_inbox(), wake_datagrams() and
// datagram_send_stats() from any thread; everything else only on the
// shard's thread (post to context()).
#ifndef CELLSIM_SERVER_NET_SHARD_H_
#define CELLSIM_SERVER_NET_SHARD_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/engine/engine.h"
#include "server/engine/settings.h"
#include "server/net/asio.h"
#include "server/net/connection.h"
#include "server/net/journal.h"
#include "server/net/media_socket.h"
#include "server/net/metrics.h"

namespace cellsim::net {

// Connections refused with a lingering close at one time; beyond this a
// refusal closes right after its Error frame is written.
inline constexpr size_t kMaxLingeringRefusals = 256;

// Nanoseconds since the Unix epoch (std::chrono::system_clock): engine time.
engine::TimeNs wall_clock_ns();

// An Error frame with `code` and `reason`, encoded once.
wire::SharedFrame error_frame(v1::ErrorCode code, const std::string& reason);

// Connections counted against the server's limit, across shards, mirrored in
// cellmeet_connections_open. Thread-safe.
class ConnectionCount {
 public:
  ConnectionCount(size_t max_connections, Metrics* metrics)
      : max_(max_connections), metrics_(metrics) {}
  // Counts a new connection; false (nothing counted) at the limit.
  bool try_open();
  void close();
  size_t open() const { return open_.load(std::memory_order_relaxed); }
  size_t max() const { return max_; }

 private:
  const size_t max_;
  Metrics* const metrics_;
  std::atomic<size_t> open_{0};
};

struct ShardOptions {
  size_t index = 0;
  engine::EngineSettings engine;
  std::string key;
  size_t max_send_queue_bytes = 1 << 20;
  std::string minutes_dir;  // empty: no minutes files and no journal
  // The journal file is rotated (compacted to the open meetings) past this.
  uint64_t journal_rotate_bytes = kDefaultJournalRotateBytes;
  uint64_t run_id = 0;  // names this run's journal files
};

class Shard : public ConnectionOwner {
 public:
  // REQUIRES: options.key.size() >= engine::kMinKeyBytes; metrics and count
  // outlive the shard.
  Shard(ShardOptions options, Metrics* metrics, ConnectionCount* count);
  ~Shard() override;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Before run(): adds a cell this shard holds.
  bool add_cell(const v1::CellRoster& roster, std::string* why) {
    return engine_.add_cell(roster, why);
  }
  // Before run(): replays this shard's journal records (Engine::recover) and
  // writes the minutes that recovery produced.
  void recover(const std::vector<v1::JournalRecord>& records, const engine::BoxLookup& boxes,
               engine::RecoveryStats* stats);
  // Before run(): the compacted journal of this shard after recover(): a
  // next-meeting-id record per cell, then `records` of meetings still open
  // (framed); the box files those meetings need are appended to *boxes.
  std::string compacted_journal(const std::vector<v1::JournalRecord>& records,
                                const std::map<BoxKey, v1::BallotBox>& all_boxes,
                                std::vector<std::string>* boxes) const;
  // Before run(): starts this shard's journal file with `initial`.
  bool open_journal(const std::string& file_name, std::string_view initial, std::string* why);
  // Before run(): where rotation records the shard's new file.
  void set_journal_catalog(JournalCatalog* catalog) { catalog_ = catalog; }
  // Journal figures (shard thread only).
  const JournalWriter& journal() const { return *journal_; }
  uint64_t journal_rotations() const { return rotations_; }
  size_t index() const { return options_.index; }
  asio::io_context& context() { return ctx_; }

  // The shard thread's body: runs the io_context until stop_context().
  void run();
  void stop_context() { ctx_.stop(); }

  // Takes over a routed connection: the engine sees it connect at
  // `accepted_at_ns` and receive `first_bytes`. Counted (see ConnectionCount).
  // `tls`: its TLS session (handshake done, first_bytes decrypted), or null.
  void adopt(tcp::socket socket, engine::ConnId id, engine::TimeNs accepted_at_ns,
             std::string_view first_bytes, std::unique_ptr<TlsSession> tls = nullptr);
  // Answers a connection the engine never sees with an Error and closes it.
  void refuse(tcp::socket socket, engine::ConnId id, v1::ErrorCode code, const std::string& reason,
              bool counted, std::unique_ptr<TlsSession> tls = nullptr);
  // Graceful stop: every connection gets ERROR_SHUTTING_DOWN and is closed
  // after a flush; `drained` runs (on this thread) once none is left.
  void begin_stop(std::function<void()> drained);
  // Before run() and before any connection: offers voice datagrams on
  // `media_port` (Engine::set_media_port) and sends through `fd`, the
  // shard's own descriptor of the media socket (owned from here on).
  void enable_media(uint16_t media_port, int fd);
  // The receiver's way in: datagrams for this shard wait here, and
  // wake_datagrams() (after a push found the inbox empty) posts their
  // handling to this shard's thread.
  DatagramInbox& datagram_inbox() { return inbox_; }
  void wake_datagrams();
  // One received datagram, on this shard's thread: what it causes is
  // queued on the shard's sender, and flush_datagrams() writes it (the
  // inbox's handler flushes after each batch; on shard 0 the receiver
  // flushes after each wake-up).
  void on_datagram(std::string_view bytes, const udp::endpoint& from);
  void flush_datagrams();
  // Samples the engine (meeting counts, datagram verdicts, media per
  // meeting) for sample().
  void refresh_sample();
  ShardSample sample() const;
  // Null until enable_media().
  const DatagramSendStats* datagram_send_stats() const {
    return sender_ ? &sender_->stats() : nullptr;
  }

  // ConnectionOwner.
  void on_bytes(Connection& conn, std::string_view bytes) override;
  void on_peer_gone(Connection& conn) override;
  void on_finished(Connection& conn) override;

 private:
  void drain();
  void transmit(engine::ConnId id, wire::SharedFrame frame);
  void close_connection(engine::ConnId id);
  void slow_consumer(const std::shared_ptr<Connection>& conn);
  void deliver(engine::Output& out);
  void schedule_flush();
  void flush();
  void maybe_rotate();
  void keep_minutes(const v1::Minutes& minutes);
  void arm_timer();
  void on_timer(const error_code& ec);
  void check_drained();
  void on_inbox();
  void drain_datagrams();

  const ShardOptions options_;
  Metrics* const metrics_;
  ConnectionCount* const count_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  MetricsObserver observer_;
  engine::Engine engine_;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  engine::TimeNs timer_at_ns_ = 0;
  std::unique_ptr<JournalWriter> journal_ = std::make_unique<JournalWriter>();
  JournalCatalog* catalog_ = nullptr;
  uint64_t rotations_ = 0;
  uint64_t rotated_to_bytes_ = 0;  // size of the log the last rotation wrote
  // Outputs held until the staged journal records are durable (bounded by
  // what one turn of the loop produces; flushed at the end of the turn).
  std::deque<engine::Output> held_;
  bool flush_posted_ = false;
  // Every live connection of this shard, attached or closing.
  std::unordered_map<engine::ConnId, std::shared_ptr<Connection>> conns_;
  // Refused connections closing with a lingering close (bounded).
  std::unordered_set<engine::ConnId> lingering_refusals_;
  bool stopping_ = false;
  std::function<void()> drained_;
  // Voice datagrams (null sender_: not offered).
  std::unique_ptr<DatagramSender> sender_;
  DatagramInbox inbox_;
  DatagramInbox::Batch inbox_batch_;  // the batch being handled (buffers reused)
  // Session id → the endpoint latched for it. Bound: the engine's bound
  // sessions (see the invariant above).
  std::unordered_map<uint64_t, udp::endpoint> endpoints_;
  mutable std::mutex sample_mu_;
  ShardSample sample_;  // guarded by sample_mu_
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_SHARD_H_
