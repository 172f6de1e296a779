#include "server/net/server.h"

#include <prometheus/exposer.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "server/engine/token.h"
#include "server/net/acceptor.h"
#include "server/net/asio.h"
#include "server/net/config.h"
#include "server/net/connection.h"
#include "server/net/exposer_stop.h"
#include "server/net/journal.h"
#include "server/net/media_socket.h"
#include "server/net/metrics.h"
#include "server/net/router.h"
#include "server/net/shard.h"
#include "server/net/tls.h"

namespace cellsim::net {
namespace {

// Longest stop() waits for the acceptor to refuse its handshakes.
constexpr uint32_t kStopAcceptorTimeoutMs = 2000;
// Longest stop() waits for the shards' connections to flush and close; each
// connection bounds its own flush by kFlushTimeoutMs.
constexpr uint32_t kStopDrainTimeoutMs = kFlushTimeoutMs + 1000;
// Longest a scrape waits for the shards' meeting counts.
constexpr uint32_t kScrapeWaitMs = 1000;
// Threads the Prometheus exposer serves scrapes with.
constexpr size_t kExposerThreads = 2;
// Smallest max_frame_bytes accepted (a Hello with its token must fit).
constexpr uint32_t kMinMaxFrameBytes = 512;
// Longest liveness window (heartbeat interval × missed heartbeats) accepted.
constexpr uint64_t kMaxLivenessMs = 7ull * 24 * 3600 * 1000;

// Counts down to zero; waiters wake then. Thread-safe.
class Latch {
 public:
  explicit Latch(size_t count) : count_(count) {}
  void count_down() {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_ > 0 && --count_ == 0) cv_.notify_all();
  }
  // False on timeout.
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t count_;
};

// A file descriptor closed on destruction unless released. Move-only.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string host_port(const std::string& address, uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

bool validate_settings(const engine::EngineSettings& s, std::string* why) {
  const auto& r = s.rules;
  if (r.quorum.den == 0 || r.quorum.num > r.quorum.den) {
    *why = "engine: the quorum fraction must be num/den with 0 < den and num <= den";
    return false;
  }
  if (r.heartbeat_interval_ms == 0 || r.missed_heartbeats == 0 || r.hello_timeout_ms == 0) {
    *why = "engine: heartbeat interval, missed heartbeats and hello timeout must be > 0";
    return false;
  }
  if (uint64_t{r.heartbeat_interval_ms} * r.missed_heartbeats > kMaxLivenessMs) {
    *why = "engine: the liveness window (heartbeat interval x missed heartbeats) exceeds " +
           std::to_string(kMaxLivenessMs) + " ms";
    return false;
  }
  for (size_t kind = 1; kind < r.votes.size(); ++kind) {
    if (r.votes[kind].fraction.den == 0) {
      *why = "engine: vote rule " + std::to_string(kind) + " has a zero denominator";
      return false;
    }
  }
  if (s.max_frame_bytes < kMinMaxFrameBytes) {
    *why = "engine: max_frame_bytes must be at least " + std::to_string(kMinMaxFrameBytes);
    return false;
  }
  // Every frame the engine builds must fit: a relayed media frame, a push
  // carrying one text of the maximum length.
  if (uint64_t{s.max_media_payload_bytes} + engine::kMediaRelayOverheadBytes > s.max_frame_bytes ||
      uint64_t{s.max_text_bytes} + engine::kTextPushOverheadBytes > s.max_frame_bytes) {
    *why = "engine: max_media_payload_bytes + " + std::to_string(engine::kMediaRelayOverheadBytes) +
           " and max_text_bytes + " + std::to_string(engine::kTextPushOverheadBytes) +
           " must fit in max_frame_bytes";
    return false;
  }
  if (s.media_rate_bytes_per_s == 0 ||
      s.media_burst_bytes < s.max_media_payload_bytes + engine::kMediaFrameOverheadBytes) {
    *why = "engine: the media rate must be > 0 and the burst must hold one maximal frame";
    return false;
  }
  return true;
}

// The server's TLS context from its options: null without TLS. False with
// a reason naming the file on a bad certificate or key.
bool make_server_tls(const ServerTlsOptions& o, std::shared_ptr<const TlsContext>* ctx,
                     std::string* why) {
  const bool files = !o.cert_file.empty() || !o.key_file.empty();
  const bool pem = !o.cert_pem.empty() || !o.key_pem.empty();
  if (!files && !pem) return true;
  if (files && (o.cert_file.empty() || o.key_file.empty())) {
    *why = "TLS needs both a certificate file and a key file";
    return false;
  }
  if (!files && (o.cert_pem.empty() || o.key_pem.empty())) {
    *why = "TLS needs both a certificate and a key";
    return false;
  }
  *ctx = files ? TlsContext::server_from_files(o.cert_file, o.key_file, why)
               : TlsContext::server_from_pem(o.cert_pem, o.key_pem, why);
  return *ctx != nullptr;
}

bool validate_minutes_dir(const std::string& dir, std::string* why) {
  if (dir.empty()) return true;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *why = "minutes directory " + dir + " does not exist or is not a directory";
    return false;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    *why = "minutes directory " + dir + " is not writable";
    return false;
  }
  return true;
}

}  // namespace

class Server::Impl : public AcceptorOwner {
 public:
  explicit Impl(ServerOptions options) : options_(std::move(options)) {}
  ~Impl() override = default;

  bool start(std::string* why);
  void stop();
  void wait();
  uint16_t port() const { return port_; }
  uint16_t metrics_port() const { return metrics_port_; }
  uint16_t media_port() const { return media_port_; }

  // AcceptorOwner, on shard 0's thread.
  engine::ConnId next_connection_id() override { return next_id_.fetch_add(1); }
  void route(tcp::socket socket, engine::ConnId id, engine::TimeNs accepted_at_ns, uint64_t cell_id,
             std::string first_bytes, std::unique_ptr<TlsSession> tls) override;
  void refuse(tcp::socket socket, engine::ConnId id, v1::ErrorCode code, const std::string& reason,
              bool counted, std::unique_ptr<TlsSession> tls) override {
    shards_[0]->refuse(std::move(socket), id, code, reason, counted, std::move(tls));
  }

 private:
  enum class State { kNew, kRunning, kStopping, kStopped };

  bool validate(std::string* why);
  bool build_shards(std::string* why);
  bool recover_journal(uint64_t run_id, std::string* why);
  void log_recovery(size_t shard, const engine::RecoveryStats& stats, const JournalContents& jc);
  bool start_metrics(std::string* why);
  bool open_media(std::string* why);
  void teardown();
  void shutdown();
  void stop_exposer();
  bool on_own_thread() const;
  ScrapeSample sample();

 public:
  uint64_t cpu_ns() {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kRunning) return 0;
    uint64_t sum = 0;
    for (std::thread& t : threads_) {
      clockid_t clock{};
      timespec ts{};
      if (pthread_getcpuclockid(t.native_handle(), &clock) == 0 && clock_gettime(clock, &ts) == 0) {
        sum +=
            static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
      }
    }
    return sum;
  }

 private:
  ServerOptions options_;
  unsigned shard_count_ = 1;
  uint64_t run_id_ = 0;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  uint16_t media_port_ = 0;
  std::atomic<engine::ConnId> next_id_{1};

  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kNew;

  // Declared so that destruction goes exposer, acceptor, media socket,
  // shards, metrics.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<ConnectionCount> count_;
  std::unique_ptr<JournalCatalog> catalog_;  // outlives the shards
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<DatagramReceiver> media_;  // on shard 0's io_context; null when off
  std::unique_ptr<Acceptor> acceptor_;
  std::shared_ptr<ScrapeCollectable> meetings_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<std::thread> threads_;
};

// Replays the journal into the shards' engines (writing the minutes that
// recovery produces), then starts this run's compacted journal
// (server/net/journal.h). A crash at any point leaves the old or the new
// journal whole.
bool Server::Impl::recover_journal(uint64_t run_id, std::string* why) {
  if (options_.minutes_dir.empty()) return true;
  JournalContents jc;
  if (!read_journal(options_.minutes_dir, options_.key, &jc, why)) {
    *why = "--minutes-dir: reading the journal: " + *why;
    return false;
  }
  std::vector<std::vector<v1::JournalRecord>> per_shard(shards_.size());
  for (v1::JournalRecord& rec : jc.records) {
    if (rec.event_case() == v1::JournalRecord::kStopped) continue;
    per_shard[shard_for_cell(rec.cell_id(), shards_.size())].push_back(std::move(rec));
  }
  const engine::BoxLookup boxes = [&jc](uint64_t c, uint64_t m,
                                        uint64_t v) -> const v1::BallotBox* {
    auto it = jc.boxes.find({c, m, v});
    return it == jc.boxes.end() ? nullptr : &it->second;
  };
  std::vector<std::string> files, keep_boxes;
  for (size_t i = 0; i < shards_.size(); ++i) {
    std::vector<v1::JournalRecord>& records = per_shard[i];
    if (jc.clean_stop) records.emplace_back().set_stopped(true);
    engine::RecoveryStats stats;
    shards_[i]->recover(records, boxes, &stats);
    log_recovery(i, stats, jc);
    const std::string initial = shards_[i]->compacted_journal(records, jc.boxes, &keep_boxes);
    const std::string name = "s" + std::to_string(i) + "-" + std::to_string(run_id) + ".log";
    if (!shards_[i]->open_journal(name, initial, why)) {
      *why = "--minutes-dir: starting the journal: " + *why;
      return false;
    }
    files.push_back(name);
  }
  if (!install_journal(options_.minutes_dir, files, keep_boxes, why)) {
    *why = "--minutes-dir: installing the journal: " + *why;
    return false;
  }
  catalog_ = std::make_unique<JournalCatalog>(options_.minutes_dir, files);
  for (auto& shard : shards_) shard->set_journal_catalog(catalog_.get());
  return true;
}

void Server::Impl::log_recovery(size_t shard, const engine::RecoveryStats& stats,
                                const JournalContents& jc) {
  if (stats.records_applied == 0 && stats.records_skipped == 0) return;
  log_line("shard " + std::to_string(shard) + ": journal replayed (" +
           std::to_string(stats.records_applied) + " records, " +
           std::to_string(stats.records_skipped) + " skipped, " + std::to_string(jc.torn_records) +
           " torn file tails): " + std::to_string(stats.meetings_restored) +
           " meetings still open, " + std::to_string(stats.ballots_restored) +
           " ballots of their votes restored" +
           (stats.clean_stop ? " (after a graceful stop)" : " (after a crash)"));
  for (const std::string& w : stats.warnings) log_line("journal: " + w);
  if (shard == 0 && jc.bad_boxes > 0) {
    log_line("journal: " + std::to_string(jc.bad_boxes) +
             " ballot boxes did not open with this deployment's key and were left out");
  }
}

bool Server::Impl::start(std::string* why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kNew) {
    *why = state_ == State::kStopped ? "the server was stopped" : "the server is already started";
    return false;
  }
  // The media port before the journal's replay: Engine::set_media_port
  // comes before any session.
  if (!validate(why) || !build_shards(why) || !open_media(why) || !recover_journal(run_id_, why)) {
    teardown();
    return false;
  }
  std::shared_ptr<const TlsContext> tls;
  if (!make_server_tls(options_.tls, &tls, why)) {
    teardown();
    return false;
  }
  acceptor_ = std::make_unique<Acceptor>(shards_[0]->context(), this, count_.get(),
                                         options_.engine.max_frame_bytes,
                                         options_.engine.rules.hello_timeout_ms, std::move(tls));
  if (!acceptor_->listen(options_.listen_address, options_.port, why) || !start_metrics(why)) {
    teardown();
    return false;
  }
  port_ = acceptor_->port();
  acceptor_->start();
  if (media_) media_->start();
  for (auto& shard : shards_) threads_.emplace_back([s = shard.get()] { s->run(); });
  state_ = State::kRunning;
  return true;
}

bool Server::Impl::validate(std::string* why) {
  shard_count_ =
      options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  if (shard_count_ > kMaxThreads) {
    *why =
        "threads: " + std::to_string(shard_count_) + " is more than " + std::to_string(kMaxThreads);
    return false;
  }
  if (options_.key.size() < engine::kMinKeyBytes) {
    *why = "key: " + std::to_string(options_.key.size()) + " bytes; at least " +
           std::to_string(engine::kMinKeyBytes) + " are needed";
    return false;
  }
  if (options_.max_connections == 0 || options_.max_send_queue_bytes == 0) {
    *why = "max_connections and max_send_queue_bytes must be > 0";
    return false;
  }
  return validate_settings(options_.engine, why) && validate_minutes_dir(options_.minutes_dir, why);
}

bool Server::Impl::build_shards(std::string* why) {
  metrics_ = std::make_unique<Metrics>(shard_count_);
  count_ = std::make_unique<ConnectionCount>(options_.max_connections, metrics_.get());
  // This run's id: the start time, so resume tokens of an earlier run do not
  // match this run's sessions (and the journal files of runs differ).
  run_id_ = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch() /
                                  std::chrono::nanoseconds(1));
  const uint64_t run_id = run_id_;
  for (unsigned i = 0; i < shard_count_; ++i) {
    ShardOptions so;
    so.index = i;
    so.engine = options_.engine;
    so.engine.session_id_base = i + 1;  // session ids unique across shards ...
    so.engine.session_id_stride = shard_count_;
    so.engine.run_id = run_id;  // ... and resume tokens bound to this run
    so.key = options_.key;
    so.max_send_queue_bytes = options_.max_send_queue_bytes;
    so.minutes_dir = options_.minutes_dir;
    so.journal_rotate_bytes = options_.journal_rotate_bytes;
    so.run_id = run_id;
    shards_.push_back(std::make_unique<Shard>(std::move(so), metrics_.get(), count_.get()));
  }
  for (const v1::CellRoster& cell : options_.deployment.cells()) {
    std::string reason;
    if (!shards_[shard_for_cell(cell.cell_id(), shards_.size())]->add_cell(cell, &reason)) {
      *why = "deployment: " + reason;
      return false;
    }
  }
  return true;
}

bool Server::Impl::start_metrics(std::string* why) {
  metrics_port_ = 0;
  if (!options_.metrics_enabled) return true;
  error_code ec;
  asio::ip::make_address(options_.metrics_address, ec);
  if (ec) {
    *why = "metrics address \"" + options_.metrics_address + "\": " + ec.message();
    return false;
  }
  const std::string where = host_port(options_.metrics_address, options_.metrics_port);
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(where, kExposerThreads);
  } catch (const std::exception& e) {
    *why = "cannot serve metrics on " + where + ": " + e.what();
    return false;
  }
  const std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty()) {
    *why = "cannot serve metrics on " + where + ": no listening port";
    return false;
  }
  metrics_port_ = static_cast<uint16_t>(ports.front());
  meetings_ = std::make_shared<ScrapeCollectable>([this] { return sample(); });
  exposer_->RegisterCollectable(metrics_->registry());
  exposer_->RegisterCollectable(meetings_);
  return true;
}

void Server::Impl::teardown() {
  stop_exposer();
  meetings_.reset();
  acceptor_.reset();
  media_.reset();
  shards_.clear();
  count_.reset();
  metrics_.reset();
  port_ = 0;
  metrics_port_ = 0;
  media_port_ = 0;
}

// The media socket on the listen address, routes to every shard, and each
// shard's engine told the port and given its own descriptor to send with.
bool Server::Impl::open_media(std::string* why) {
  media_port_ = 0;
  if (!options_.media_enabled) return true;
  DatagramReceiver::Routes routes;
  Shard* const local = shards_[0].get();  // its thread reads the socket
  routes.local = 0;
  routes.deliver = [local](std::string_view bytes, const udp::endpoint& from) {
    local->on_datagram(bytes, from);
  };
  routes.after_local_batch = [local] { local->flush_datagrams(); };
  for (auto& shard : shards_) {
    routes.inboxes.push_back(&shard->datagram_inbox());
    routes.wake.push_back([s = shard.get()] { s->wake_datagrams(); });
  }
  media_ = std::make_unique<DatagramReceiver>(local->context(), std::move(routes));
  if (!media_->open(options_.listen_address, options_.media_port, why)) return false;
  media_port_ = media_->port();
  for (auto& shard : shards_) {
    const int fd = media_->dup_descriptor(why);
    if (fd < 0) return false;
    shard->enable_media(media_port_, fd);
  }
  return true;
}

ScrapeSample Server::Impl::sample() {
  auto latch = std::make_shared<Latch>(shards_.size());
  for (auto& shard : shards_) {
    asio::post(shard->context(), [s = shard.get(), latch] {
      s->refresh_sample();
      latch->count_down();
    });
  }
  latch->wait_for(std::chrono::milliseconds(kScrapeWaitMs));  // else: last known figures
  ScrapeSample sum;
  for (const auto& shard : shards_) {
    ShardSample c = shard->sample();
    sum.meetings.open += c.meetings.open;
    sum.meetings.quorate += c.meetings.quorate;
    sum.datagrams.received += c.datagrams.received;
    for (size_t v = 0; v < engine::kDatagramVerdicts; ++v) {
      sum.datagrams.by_verdict[v] += c.datagrams.by_verdict[v];
    }
    sum.datagrams.sent += c.datagrams.sent;
    sum.datagrams.sent_bytes += c.datagrams.sent_bytes;
    sum.bound_sessions += c.bound_sessions;
    sum.media.insert(sum.media.end(), c.media.begin(), c.media.end());
    sum.route_drops += shard->datagram_inbox().drops();
    if (const DatagramSendStats* st = shard->datagram_send_stats()) {
      sum.sent += st->sent.load(std::memory_order_relaxed);
      sum.sent_bytes += st->sent_bytes.load(std::memory_order_relaxed);
      sum.send_queue_drops += st->queue_drops.load(std::memory_order_relaxed);
      sum.send_errors += st->errors.load(std::memory_order_relaxed);
    }
  }
  if (media_) sum.datagrams_received = media_->received();
  return sum;
}

void Server::Impl::route(tcp::socket socket, engine::ConnId id, engine::TimeNs accepted_at_ns,
                         uint64_t cell_id, std::string first_bytes,
                         std::unique_ptr<TlsSession> tls) {
  Shard* target = shards_[shard_for_cell(cell_id, shards_.size())].get();
  if (target->index() == 0) {  // this thread's shard
    target->adopt(std::move(socket), id, accepted_at_ns, first_bytes, std::move(tls));
    return;
  }
  // Move the descriptor (and the TLS session) to the target shard's io_context.
  error_code ec;
  const tcp protocol = socket.local_endpoint(ec).protocol();
  OwnedFd fd(ec ? -1 : socket.release(ec));
  if (ec || fd.get() < 0) {
    socket.close(ec);
    count_->close();
    return;
  }
  ConnectionCount* count = count_.get();
  asio::post(target->context(), [target, count, protocol, fd = std::move(fd), id, accepted_at_ns,
                                 bytes = std::move(first_bytes), tls = std::move(tls)]() mutable {
    tcp::socket moved(target->context());
    error_code assign_ec;
    moved.assign(protocol, fd.get(), assign_ec);
    if (assign_ec) {
      count->close();
      return;  // fd closes with OwnedFd
    }
    fd.release();
    target->adopt(std::move(moved), id, accepted_at_ns, bytes, std::move(tls));
  });
}

bool Server::Impl::on_own_thread() const {
  const auto me = std::this_thread::get_id();
  return std::any_of(threads_.begin(), threads_.end(),
                     [me](const std::thread& t) { return t.get_id() == me; });
}

void Server::Impl::stop() {
  std::unique_lock<std::mutex> lock(mu_);
  switch (state_) {
    case State::kNew:
      state_ = State::kStopped;
      cv_.notify_all();
      return;
    case State::kStopping:
      cv_.wait(lock, [this] { return state_ == State::kStopped; });
      return;
    case State::kStopped:
      return;
    case State::kRunning:
      break;
  }
  if (on_own_thread()) {
    assert(false && "Server::stop() called on one of the server's threads");
    std::fputs("cellmeetd: Server::stop() called on a server thread; ignored\n", stderr);
    return;
  }
  state_ = State::kStopping;
  lock.unlock();
  shutdown();
  lock.lock();
  state_ = State::kStopped;
  cv_.notify_all();
}

// civetweb's mg_stop() waits until its listener thread leaves poll(), which
// has a 2 s timeout; a connection to the metrics port wakes it at once.
void Server::Impl::stop_exposer() {
  if (!exposer_) return;
  error_code ec;
  auto address = asio::ip::make_address(options_.metrics_address, ec);
  if (!ec && address.is_unspecified()) {
    address = address.is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                              : asio::ip::address(asio::ip::address_v4::loopback());
  }
  reset_exposer_waking(&exposer_, tcp::endpoint(address, metrics_port_));
}

void Server::Impl::shutdown() {
  stop_exposer();  // no scrape runs from here on
  auto acceptor_stopped = std::make_shared<Latch>(1);
  asio::post(shards_[0]->context(), [this, acceptor_stopped] {
    if (media_) media_->stop();  // no datagram reaches a stopping engine
    acceptor_->stop([acceptor_stopped] { acceptor_stopped->count_down(); });
  });
  acceptor_stopped->wait_for(std::chrono::milliseconds(kStopAcceptorTimeoutMs));
  // Every routed connection was posted to its shard before this point, so
  // each shard adopts it before it begins to stop.
  auto drained = std::make_shared<Latch>(shards_.size());
  for (auto& shard : shards_) {
    asio::post(shard->context(),
               [s = shard.get(), drained] { s->begin_stop([drained] { drained->count_down(); }); });
  }
  drained->wait_for(std::chrono::milliseconds(kStopDrainTimeoutMs));
  for (auto& shard : shards_) shard->stop_context();
  for (auto& t : threads_) t.join();
  threads_.clear();
  acceptor_.reset();
  media_.reset();
}

void Server::Impl::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return state_ == State::kStopped; });
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() { stop(); }
bool Server::start(std::string* why) { return impl_->start(why); }
uint16_t Server::port() const { return impl_->port(); }
uint16_t Server::metrics_port() const { return impl_->metrics_port(); }
uint16_t Server::media_port() const { return impl_->media_port(); }
void Server::stop() { impl_->stop(); }
void Server::wait() { impl_->wait(); }
uint64_t Server::cpu_ns() const { return impl_->cpu_ns(); }

}  // namespace cellsim::net
