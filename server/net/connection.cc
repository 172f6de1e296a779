#include "server/net/connection.h"

#include "proto/assert.h"

#include <algorithm>
#include <chrono>

namespace cellsim::net {

Connection::Connection(tcp::socket socket, engine::ConnId id, ConnectionOwner* owner,
                       size_t max_send_queue_bytes, bool attached, bool counted,
                       std::unique_ptr<TlsSession> tls)
    : socket_(std::move(socket)),
      flush_timer_(socket_.get_executor()),
      id_(id),
      owner_(owner),
      max_send_queue_bytes_(max_send_queue_bytes),
      counted_(counted),
      attached_(attached),
      tls_(std::move(tls)) {
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
}

void Connection::start() { do_read(); }

void Connection::do_read() {
  if (state_ == State::kDone || peer_eof_) return;
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](const error_code& ec, size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const error_code& ec, size_t n) {
  if (state_ == State::kDone) return;
  if (ec == asio::error::eof) {
    on_peer_eof();
    return;
  }
  if (ec) {
    detach_after_error();
    return;
  }
  std::string_view bytes(read_buffer_.data(), n);
  if (tls_ && !decrypt(n, &bytes)) return;
  if (attached_ && !bytes.empty()) owner_->on_bytes(*this, bytes);
  do_read();  // a closing connection keeps reading (and discarding) until EOF
}

bool Connection::decrypt(size_t n, std::string_view* plain) {
  plain_in_.clear();
  const TlsSession::Status status =
      tls_->feed(std::string_view(read_buffer_.data(), n), &plain_in_);
  if (status == TlsSession::Status::kFailed) {
    detach_after_error();
    return false;
  }
  if (tls_->has_output() && !writing_) {  // e.g. the answer to a key update
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->do_write(); });
  }
  *plain = plain_in_;
  if (status == TlsSession::Status::kClosed) {  // close_notify: the peer's EOF
    if (attached_ && !plain_in_.empty()) owner_->on_bytes(*this, plain_in_);
    if (state_ != State::kDone) on_peer_eof();
    return false;
  }
  return true;
}

void Connection::on_peer_eof() {
  peer_eof_ = true;
  if (attached_) {
    attached_ = false;
    owner_->on_peer_gone(*this);
  }
  switch (state_) {
    case State::kOpen:
      begin_draining(/*quick=*/false);
      break;
    case State::kDraining:
      maybe_close_after_flush();
      break;
    case State::kLingering:
      finish();
      break;
    case State::kDone:
      break;
  }
}

Connection::Enqueued Connection::send(wire::SharedFrame frame) {
  if (!attached_ || state_ != State::kOpen) return Enqueued::kDropped;
  if (!queue_.empty() && queued_bytes_ + frame->size() > max_send_queue_bytes_) {
    return Enqueued::kOverflow;
  }
  queued_bytes_ += frame->size();
  queue_.push_back(std::move(frame));
  if (!writing_) {
    // Deferred, so that the frames one batch of engine work produces for
    // this connection go out in one write.
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->do_write(); });
  }
  return Enqueued::kQueued;
}

void Connection::do_write() {
  if (state_ == State::kDone) return;
  if (tls_) {
    do_write_tls();
    return;
  }
  if (queue_.empty()) {
    writing_ = false;
    maybe_close_after_flush();
    return;
  }
  writing_ = true;
  in_flight_ = std::min(queue_.size(), kMaxWriteBatchFrames);
  write_buffers_.clear();
  for (size_t i = 0; i < in_flight_; ++i) write_buffers_.push_back(asio::buffer(*queue_[i]));
  asio::async_write(
      socket_, write_buffers_,
      [self = shared_from_this()](const error_code& ec, size_t /*bytes*/) { self->on_write(ec); });
}

// Encrypts the frames of one batch (with any TLS output already waiting)
// and writes the ciphertext.
void Connection::do_write_tls() {
  in_flight_ = 0;
  size_t plain_bytes = 0;
  while (in_flight_ < queue_.size() && in_flight_ < kMaxWriteBatchFrames &&
         plain_bytes < kTlsWriteBatchBytes) {
    const wire::SharedFrame& frame = queue_[in_flight_];
    if (tls_->write(*frame) == TlsSession::Status::kFailed) {
      in_flight_ = 0;
      writing_ = false;
      detach_after_error();
      return;
    }
    plain_bytes += frame->size();
    ++in_flight_;
  }
  cipher_out_.clear();
  tls_->take_output(&cipher_out_);
  if (cipher_out_.empty()) {
    writing_ = false;
    maybe_close_after_flush();
    return;
  }
  writing_ = true;
  asio::async_write(
      socket_, asio::buffer(cipher_out_),
      [self = shared_from_this()](const error_code& ec, size_t /*bytes*/) { self->on_write(ec); });
}

void Connection::on_write(const error_code& ec) {
  writing_ = false;
  if (state_ == State::kDone) return;
  if (ec) {
    detach_after_error();
    return;
  }
  CELLSIM_ASSERT(in_flight_ <= queue_.size());
  for (; in_flight_ > 0; --in_flight_) {
    CELLSIM_ASSERT(queued_bytes_ >= queue_.front()->size());
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
  }
  // Invariant: the byte count is the queue's (every frame has a header).
  CELLSIM_ASSERT(queue_.empty() == (queued_bytes_ == 0));
  do_write();
}

void Connection::detach_after_error() {
  auto self = shared_from_this();
  if (attached_) {
    attached_ = false;
    owner_->on_peer_gone(*this);
  }
  finish();
}

void Connection::close_after_flush(bool quick) {
  auto self = shared_from_this();
  attached_ = false;
  switch (state_) {
    case State::kOpen:
      begin_draining(quick);
      break;
    case State::kDraining:
      quick_ |= quick;
      maybe_close_after_flush();
      break;
    case State::kLingering:
      if (quick) finish();
      break;
    case State::kDone:
      break;
  }
}

void Connection::close_with(wire::SharedFrame last, bool quick) {
  auto self = shared_from_this();
  if (state_ == State::kOpen || state_ == State::kDraining) {
    while (queue_.size() > in_flight_) {
      CELLSIM_ASSERT(queued_bytes_ >= queue_.back()->size());
      queued_bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
    queued_bytes_ += last->size();
    queue_.push_back(std::move(last));
    if (!writing_) do_write();
  }
  close_after_flush(quick);
}

void Connection::force_close() {
  auto self = shared_from_this();
  attached_ = false;
  finish();
}

void Connection::begin_draining(bool quick) {
  state_ = State::kDraining;
  quick_ |= quick;
  flush_timer_.expires_after(std::chrono::milliseconds(kFlushTimeoutMs));
  flush_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->finish();
  });
  maybe_close_after_flush();
}

void Connection::maybe_close_after_flush() {
  if (state_ != State::kDraining || writing_ || !queue_.empty()) return;
  if (tls_ && !send_close_notify()) return;  // its write comes back here
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  if (quick_ || peer_eof_) {
    finish();
    return;
  }
  state_ = State::kLingering;  // the pending read sees the peer's EOF
}

// TLS: queues close_notify once and writes it. True if nothing is left to
// write (it was sent, or there is none to send).
bool Connection::send_close_notify() {
  if (close_notify_sent_) return true;
  close_notify_sent_ = true;
  tls_->close();
  if (!tls_->has_output()) return true;
  do_write();
  return false;
}

void Connection::finish() {
  if (state_ == State::kDone) return;
  auto self = shared_from_this();
  state_ = State::kDone;
  attached_ = false;
  error_code ignored;
  socket_.close(ignored);
  flush_timer_.cancel();
  // queue_ keeps its frames: a cancelled write may still name their buffers
  // until its handler has run; they go with this object.
  owner_->on_finished(*this);
}

}  // namespace cellsim::net
