#include "server/net/shard.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <vector>

#include "server/net/config.h"

namespace cellsim::net {

engine::TimeNs wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

wire::SharedFrame error_frame(v1::ErrorCode code, const std::string& reason) {
  v1::Envelope env;
  env.mutable_error()->set_code(code);
  env.mutable_error()->set_reason(reason);
  return wire::make_shared_frame(env);
}

bool ConnectionCount::try_open() {
  size_t open = open_.load(std::memory_order_relaxed);
  do {
    if (open >= max_) return false;
  } while (!open_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
  metrics_->connection_opened();
  return true;
}

void ConnectionCount::close() {
  open_.fetch_sub(1, std::memory_order_relaxed);
  metrics_->connection_closed();
}

Shard::Shard(ShardOptions options, Metrics* metrics, ConnectionCount* count)
    : options_(std::move(options)),
      metrics_(metrics),
      count_(count),
      work_(ctx_.get_executor()),
      observer_(metrics),
      engine_(options_.engine, options_.key),
      timer_(ctx_),
      checkpoint_timer_(ctx_) {
  engine_.set_observer(&observer_);
  arm_checkpoint_timer();
}

Shard::~Shard() { engine_.set_observer(nullptr); }

void Shard::run() {
  for (;;) {
    try {
      ctx_.run();
      return;
    } catch (const std::exception& e) {  // a handler threw: log it and keep serving
      log_line("shard " + std::to_string(options_.index) + ": " + e.what());
    }
  }
}

void Shard::adopt(tcp::socket socket, engine::ConnId id, engine::TimeNs accepted_at_ns,
                  std::string_view first_bytes, std::unique_ptr<TlsSession> tls) {
  if (stopping_) {
    refuse(std::move(socket), id, v1::ERROR_SHUTTING_DOWN, "server shutting down",
           /*counted=*/true, std::move(tls));
    return;
  }
  auto conn =
      std::make_shared<Connection>(std::move(socket), id, this, options_.max_send_queue_bytes,
                                   /*attached=*/true, /*counted=*/true, std::move(tls));
  conns_.emplace(id, conn);
  engine_.handle_connect(accepted_at_ns, id);
  conn->start();
  if (first_bytes.empty()) {
    drain();
  } else {
    on_bytes(*conn, first_bytes);
  }
}

void Shard::refuse(tcp::socket socket, engine::ConnId id, v1::ErrorCode code,
                   const std::string& reason, bool counted, std::unique_ptr<TlsSession> tls) {
  // A counted refusal only happens while stopping: close quickly. An
  // uncounted one (server full) lingers, up to a bound.
  const bool linger = !counted && !stopping_ && lingering_refusals_.size() < kMaxLingeringRefusals;
  auto conn =
      std::make_shared<Connection>(std::move(socket), id, this, options_.max_send_queue_bytes,
                                   /*attached=*/false, counted, std::move(tls));
  conns_.emplace(id, conn);
  if (linger) lingering_refusals_.insert(id);
  metrics_->error(code);
  metrics_->frames_out(v1::Envelope::kError, 1);
  conn->start();
  conn->close_with(error_frame(code, reason), /*quick=*/!linger);
}

void Shard::begin_stop(std::function<void()> drained) {
  stopping_ = true;
  drained_ = std::move(drained);
  engine_.shutdown(wall_clock_ns());
  drain();
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(conns_.size());
  for (const auto& [id, conn] : conns_) all.push_back(conn);
  for (const auto& conn : all) conn->close_after_flush(/*quick=*/true);
  error_code ignored;
  timer_.cancel(ignored);
  checkpoint_timer_.cancel(ignored);
  check_drained();
}

void Shard::refresh_meeting_counts() {
  meetings_open_.store(engine_.open_meetings(), std::memory_order_relaxed);
  meetings_quorate_.store(engine_.quorate_meetings(), std::memory_order_relaxed);
}

MeetingCounts Shard::meeting_counts() const {
  return {meetings_open_.load(std::memory_order_relaxed),
          meetings_quorate_.load(std::memory_order_relaxed)};
}

void Shard::on_bytes(Connection& conn, std::string_view bytes) {
  const auto started = std::chrono::steady_clock::now();
  engine_.handle_bytes(wall_clock_ns(), conn.id(), bytes);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  metrics_->frame_handled(options_.index, took.count());
  drain();
}

void Shard::on_peer_gone(Connection& conn) {
  engine_.handle_disconnect(wall_clock_ns(), conn.id());
  drain();
}

void Shard::on_finished(Connection& conn) {
  if (conn.counted()) count_->close();
  lingering_refusals_.erase(conn.id());
  conns_.erase(conn.id());
  check_drained();
}

void Shard::drain() {
  engine::Output out;
  while (engine_.poll_output(&out)) {
    switch (out.kind) {
      case engine::Output::Kind::kTransmit:
        transmit(out.conn, std::move(out.frame));
        break;
      case engine::Output::Kind::kClose:
        close_connection(out.conn);
        break;
      case engine::Output::Kind::kMinutes:
        keep_minutes(*out.minutes);
        break;
    }
  }
  arm_timer();
}

void Shard::transmit(engine::ConnId id, wire::SharedFrame frame) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  std::shared_ptr<Connection> conn = it->second;
  if (conn->send(std::move(frame)) == Connection::Enqueued::kOverflow) slow_consumer(conn);
}

void Shard::close_connection(engine::ConnId id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  std::shared_ptr<Connection> conn = it->second;
  conn->close_after_flush(/*quick=*/stopping_);
}

void Shard::slow_consumer(const std::shared_ptr<Connection>& conn) {
  // The engine forgets the connection first, so it sends it nothing more;
  // what it produces meanwhile is drained by the caller's loop.
  engine_.handle_disconnect(wall_clock_ns(), conn->id());
  metrics_->error(v1::ERROR_SLOW_CONSUMER);
  metrics_->frames_out(v1::Envelope::kError, 1);
  conn->close_with(error_frame(v1::ERROR_SLOW_CONSUMER,
                               "send queue exceeded " +
                                   std::to_string(options_.max_send_queue_bytes) + " bytes"),
                   /*quick=*/stopping_);
}

void Shard::keep_minutes(const v1::Minutes& minutes) {
  if (options_.minutes_dir.empty()) return;
  std::string path, why;
  if (!write_minutes_file(options_.minutes_dir, minutes, &path, &why)) {
    log_line("minutes of cell " + std::to_string(minutes.cell_id()) + " meeting " +
             std::to_string(minutes.meeting_id()) + " NOT written: " + why);
    return;  // the checkpoint, if any, stays: it is recovered at the next start
  }
  remove_checkpoint_file(options_.minutes_dir, minutes.cell_id(), minutes.meeting_id());
  checkpointed_.erase(minutes.cell_id());
}

void Shard::arm_checkpoint_timer() {
  if (options_.minutes_dir.empty() || stopping_) return;
  checkpoint_timer_.expires_after(std::chrono::milliseconds(options_.checkpoint_interval_ms));
  checkpoint_timer_.async_wait([this](const error_code& ec) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    checkpoint_open_meetings();
    arm_checkpoint_timer();
  });
}

// Rewrites the checkpoint of every open meeting whose record moved since.
void Shard::checkpoint_open_meetings() {
  std::vector<std::pair<uint64_t, const engine::Meeting*>> open;
  engine_.open_meeting_list(&open);
  const int64_t now_ms = wall_clock_ns() / engine::kNsPerMs;
  for (const auto& [cell_id, meeting] : open) {
    const std::pair<uint64_t, uint64_t> mark{meeting->id(), meeting->revision()};
    auto it = checkpointed_.find(cell_id);
    if (it != checkpointed_.end() && it->second == mark) continue;
    std::string why;
    if (!write_checkpoint_file(options_.minutes_dir, meeting->interrupted_minutes(now_ms), &why)) {
      log_line("checkpoint of cell " + std::to_string(cell_id) + " NOT written: " + why);
      continue;
    }
    checkpointed_[cell_id] = mark;
  }
}

void Shard::arm_timer() {
  if (stopping_) return;
  const std::optional<engine::TimeNs> next = engine_.poll_timeout();
  if (!next) return;  // an armed timer may fire for nothing: harmless
  if (timer_armed_ && *next >= timer_at_ns_) return;
  timer_armed_ = true;
  timer_at_ns_ = *next;
  const engine::TimeNs delay_ns = std::max<engine::TimeNs>(0, *next - wall_clock_ns());
  timer_.expires_after(std::chrono::nanoseconds(delay_ns));
  timer_.async_wait([this](const error_code& ec) { on_timer(ec); });
}

void Shard::on_timer(const error_code& ec) {
  if (ec == asio::error::operation_aborted || stopping_) return;
  timer_armed_ = false;
  engine_.handle_timeout(wall_clock_ns());
  drain();
}

void Shard::check_drained() {
  if (!stopping_ || !conns_.empty() || !drained_) return;
  auto drained = std::move(drained_);
  drained_ = nullptr;
  drained();
}

}  // namespace cellsim::net
