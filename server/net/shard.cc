#include "server/net/shard.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <vector>

#include "proto/assert.h"
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
      timer_(ctx_) {
  engine_.set_observer(&observer_);
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
  flush();  // the interrupted minutes are written, what was held is sent
  if (journal_->is_open()) {
    v1::JournalRecord rec;
    rec.set_stopped(true);
    journal_->append(rec.SerializeAsString());
    std::string why;
    if (!journal_->commit(&why)) log_line("journal: " + why);
  }
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(conns_.size());
  for (const auto& [id, conn] : conns_) all.push_back(conn);
  for (const auto& conn : all) conn->close_after_flush(/*quick=*/true);
  error_code ignored;
  timer_.cancel(ignored);
  check_drained();
}

void Shard::refresh_sample() {
  ShardSample fresh;
  fresh.meetings = {engine_.open_meetings(), engine_.quorate_meetings()};
  fresh.datagrams = engine_.datagram_stats();
  fresh.bound_sessions = engine_.bound_sessions();
  engine_.meeting_media_list(&fresh.media);
  std::lock_guard<std::mutex> lock(sample_mu_);
  sample_ = std::move(fresh);
}

ShardSample Shard::sample() const {
  std::lock_guard<std::mutex> lock(sample_mu_);
  return sample_;
}

void Shard::enable_media(uint16_t media_port, int fd) {
  CELLSIM_ASSERT(media_port != 0 && !sender_);
  engine_.set_media_port(media_port);
  sender_ = std::make_unique<DatagramSender>(ctx_, fd);
}

void Shard::wake_datagrams() {
  asio::post(ctx_, [this] { on_inbox(); });
}

void Shard::on_inbox() {
  inbox_.take(&inbox_batch_);
  for (const DatagramInbox::Entry& e : inbox_batch_.entries) {
    on_datagram(inbox_batch_.at(e), e.from);
  }
  flush_datagrams();
}

void Shard::on_datagram(std::string_view bytes, const udp::endpoint& from) {
  // The engine takes no input after shutdown(); nothing is offered without
  // a sender (the engine would drop it anyway).
  if (stopping_ || !sender_) return;
  const engine::DatagramResult r = engine_.handle_datagram(wall_clock_ns(), bytes);
  if (r.latch) endpoints_.insert_or_assign(r.session_id, from);
  drain_datagrams();
}

void Shard::drain_datagrams() {
  engine::DatagramOutput out;
  while (engine_.poll_datagram(&out)) {
    if (out.kind == engine::DatagramOutput::Kind::kUnbind) {
      endpoints_.erase(out.session_id);
      continue;
    }
    auto it = endpoints_.find(out.session_id);
    // The engine relays only to bound sessions, and every binding latched
    // an endpoint here (the invariant in shard.h).
    CELLSIM_ASSERT(it != endpoints_.end());
    sender_->queue(it->second, std::move(out.bytes));  // a full queue counts its drop
  }
  CELLSIM_ASSERT(endpoints_.size() == engine_.bound_sessions());  // O(1): shard.h's invariant
}

void Shard::flush_datagrams() {
  if (sender_) sender_->flush();
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
    if (!journal_->is_open()) {
      deliver(out);
      continue;
    }
    switch (out.kind) {
      case engine::Output::Kind::kJournal:
        journal_->append(*out.frame);
        break;
      case engine::Output::Kind::kBallotBox:
        journal_->stage_box(*out.box);
        break;
      default:
        if (journal_->pending() || !held_.empty()) {
          // Bound: the outputs of the engine work between two commits.
          CELLSIM_ASSERT(held_.size() < engine::kMaxPendingOutputs);
          held_.push_back(std::move(out));
        } else {
          deliver(out);
        }
    }
  }
  if (journal_->pending()) schedule_flush();
  if (engine_.has_datagram_output()) {  // unbinds, when connections came or went
    drain_datagrams();
    flush_datagrams();
  }
  arm_timer();
}

void Shard::deliver(engine::Output& out) {
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
    case engine::Output::Kind::kJournal:
    case engine::Output::Kind::kBallotBox:
      break;  // no journal: nothing to keep
  }
}

// Group commit: runs after the handlers that were ready when the first
// record of this turn was staged.
void Shard::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(ctx_, [this] { flush(); });
}

void Shard::flush() {
  flush_posted_ = false;
  if (journal_->pending()) {
    const auto started = std::chrono::steady_clock::now();
    std::string why;
    if (!journal_->commit(&why)) {
      // Availability over a stop: the answers still go, and the log says
      // loudly that they are not durable.
      log_line("journal of shard " + std::to_string(options_.index) + " NOT written: " + why);
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    metrics_->journal_commit(took.count());
    maybe_rotate();  // nothing is staged now: the whole log is on disk
  }
  // Invariant: an acknowledgement leaves only after its record is committed.
  CELLSIM_ASSERT(!journal_->pending());
  size_t bound = held_.size();  // what deliver() adds goes to the next flush
  while (bound-- > 0 && !held_.empty()) {
    engine::Output out = std::move(held_.front());
    held_.pop_front();
    deliver(out);
  }
  drain();  // what delivering caused (a slow consumer's attendance change)
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
    return;  // the journal keeps the meeting: recovered at the next start
  }
  if (minutes.interrupted() || !journal_->is_open()) return;  // the meeting goes on after a restart
  v1::JournalRecord rec;
  rec.set_cell_id(minutes.cell_id());
  rec.set_meeting_id(minutes.meeting_id());
  rec.set_minutes_kept(true);
  journal_->append(rec.SerializeAsString());
  remove_box_files(options_.minutes_dir, minutes.cell_id(), minutes.meeting_id());
  schedule_flush();
}

void Shard::recover(const std::vector<v1::JournalRecord>& records, const engine::BoxLookup& boxes,
                    engine::RecoveryStats* stats) {
  engine_.recover(wall_clock_ns(), records, boxes, stats);
  drain();  // no journal yet: the recovered and final minutes are written now
}

std::string Shard::compacted_journal(const std::vector<v1::JournalRecord>& records,
                                     const std::map<BoxKey, v1::BallotBox>& all_boxes,
                                     std::vector<std::string>* boxes) const {
  std::string out;
  const auto live = [&](uint64_t cell_id, uint64_t meeting_id) {
    const engine::Meeting* m = engine_.meeting(cell_id);
    return m != nullptr && !m->closed() && m->id() == meeting_id;
  };
  for (uint64_t cell_id : engine_.cell_ids()) {
    const uint64_t next = engine_.next_meeting_id(cell_id);
    if (next <= 1) continue;
    v1::JournalRecord header;
    header.set_cell_id(cell_id);
    header.set_next_meeting_id(next);
    append_journal_record(header.SerializeAsString(), &out);
  }
  for (const v1::JournalRecord& rec : records) {
    switch (rec.event_case()) {
      case v1::JournalRecord::kStopped:
      case v1::JournalRecord::kMinutesKept:
      case v1::JournalRecord::kNextMeetingId:
        continue;
      default:
        break;
    }
    if (live(rec.cell_id(), rec.meeting_id())) append_journal_record(rec.SerializeAsString(), &out);
  }
  for (const auto& [key, box] : all_boxes) {
    const auto& [cell_id, meeting_id, vote_id] = key;
    if (engine_.holds_cell(cell_id) && live(cell_id, meeting_id)) {
      boxes->push_back(box_file_name(cell_id, meeting_id, vote_id));
    }
  }
  return out;
}

// Past its bound, the log is rewritten with the records of the meetings
// still open (and each cell's next meeting id), CURRENT names the new file,
// and the old one goes. A failure leaves the old file current.
void Shard::maybe_rotate() {
  // Twice what the last rotation kept, at least: open meetings whose own
  // records pass the bound do not make every commit rotate.
  const uint64_t bound = std::max(options_.journal_rotate_bytes, 2 * rotated_to_bytes_);
  if (catalog_ == nullptr || journal_->file_bytes() < bound) return;
  std::vector<v1::JournalRecord> records;
  std::string why;
  std::vector<std::string> unused;
  const std::string name = "s" + std::to_string(options_.index) + "-" +
                           std::to_string(options_.run_id) + "-r" + std::to_string(rotations_ + 1) +
                           ".log";
  auto fresh = std::make_unique<JournalWriter>();
  if (!read_journal_file(options_.minutes_dir, journal_->file_name(), &records, &why) ||
      !fresh->open(options_.minutes_dir, options_.key, name,
                   compacted_journal(records, {}, &unused), &why) ||
      !catalog_->replace(options_.index, name, &why)) {
    log_line("journal of shard " + std::to_string(options_.index) + " not rotated: " + why);
    return;
  }
  journal_ = std::move(fresh);
  rotated_to_bytes_ = journal_->file_bytes();
  ++rotations_;
}

bool Shard::open_journal(const std::string& file_name, std::string_view initial, std::string* why) {
  return journal_->open(options_.minutes_dir, options_.key, file_name, initial, why);
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
