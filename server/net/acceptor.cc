#include "server/net/acceptor.h"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "server/net/connection.h"
#include "server/net/router.h"

namespace cellsim::net {

// One connection before it is routed: reads until its first whole frame,
// bounded by a deadline; with TLS, runs the TLS handshake first and reads
// the first frame's plaintext. Runs on the acceptor's thread.
//
// Invariants: finish() hands the socket over only when no write is pending
// (a pending outcome waits for the write's handler); the deadline, until
// then, cancels both the read and the write.
class Handshake : public std::enable_shared_from_this<Handshake> {
 public:
  Handshake(tcp::socket socket, engine::ConnId id, engine::TimeNs accepted_at_ns,
            uint32_t max_frame_bytes, std::unique_ptr<TlsSession> tls, Acceptor* acceptor)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        id_(id),
        accepted_at_ns_(accepted_at_ns),
        router_(max_frame_bytes),
        tls_(std::move(tls)),
        acceptor_(acceptor) {}

  engine::ConnId id() const { return id_; }
  engine::TimeNs accepted_at_ns() const { return accepted_at_ns_; }

  void start(uint32_t timeout_ms) {
    deadline_.expires_after(std::chrono::milliseconds(timeout_ms));
    deadline_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->done_) return;
      self->timed_out_ = true;
      error_code ignored;
      self->socket_.cancel(ignored);  // the read handler routes it
    });
    do_read();
  }

  // The server is stopping: the read handler hands the socket back.
  void abort() {
    aborted_ = true;
    error_code ignored;
    socket_.cancel(ignored);
  }

 private:
  void do_read() {
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const error_code& ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(const error_code& ec, size_t n) {
    if (!ec) {
      const std::string_view bytes(buffer_.data(), n);
      if (tls_) {
        if (!decrypt(bytes)) return lose();
      } else {
        router_.feed(bytes);
      }
    }
    if (aborted_) return finish(Acceptor::Outcome::kAborted);
    if (router_.decided()) return finish(Acceptor::Outcome::kRouted);
    if (timed_out_) {  // a TLS connection without a session cannot be answered
      return tls_ && !tls_->established() ? lose() : finish(Acceptor::Outcome::kRouted);
    }
    if (ec) return lose();  // the client left (or failed) before its first frame
    do_read();
  }

  // TLS: feeds what was read, routes the plaintext, starts writing the
  // handshake's answer. False if the connection is to be dropped.
  bool decrypt(std::string_view cipher) {
    plain_.clear();
    const TlsSession::Status status = tls_->feed(cipher, &plain_);
    if (!plain_.empty()) router_.feed(plain_);
    if (status == TlsSession::Status::kFailed) {
      send_alert();
      return false;
    }
    if (status == TlsSession::Status::kClosed) return false;
    start_write();
    return true;
  }

  void start_write() {
    if (writing_ || !tls_->has_output()) return;
    out_.clear();
    tls_->take_output(&out_);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const error_code& ec, size_t /*bytes*/) {
                        self->on_write(ec);
                      });
  }

  void on_write(const error_code& ec) {
    writing_ = false;
    if (pending_) return finish(*pending_);
    if (!ec) start_write();  // else the read side sees the broken connection
  }

  // A failed TLS handshake: OpenSSL's alert, if the socket takes it now.
  void send_alert() {
    if (writing_ || !tls_->has_output()) return;
    out_.clear();
    tls_->take_output(&out_);
    error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.write_some(asio::buffer(out_), ignored);
  }

  void lose() {
    error_code ignored;
    socket_.close(ignored);
    finish(Acceptor::Outcome::kLost);
  }

  void finish(Acceptor::Outcome outcome) {
    if (writing_) {  // the closed or cancelled write's handler comes back here
      pending_ = outcome;
      return;
    }
    done_ = true;
    deadline_.cancel();
    acceptor_->handshake_done(this, outcome, std::move(socket_), router_.cell_id(),
                              router_.take_buffered(), std::move(tls_));
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  const engine::ConnId id_;
  const engine::TimeNs accepted_at_ns_;
  FirstFrameRouter router_;
  std::unique_ptr<TlsSession> tls_;  // null: plain TCP
  Acceptor* const acceptor_;
  bool aborted_ = false;
  bool timed_out_ = false;
  bool done_ = false;
  bool writing_ = false;
  std::optional<Acceptor::Outcome> pending_;
  std::string plain_;  // TLS: the plaintext of the last read
  std::string out_;    // TLS: the handshake's answer being written
  std::array<char, kReadChunkBytes> buffer_;
};

Acceptor::Acceptor(asio::io_context& ctx, AcceptorOwner* owner, ConnectionCount* count,
                   uint32_t max_frame_bytes, uint32_t hello_timeout_ms,
                   std::shared_ptr<const TlsContext> tls)
    : ctx_(ctx),
      owner_(owner),
      count_(count),
      max_frame_bytes_(max_frame_bytes),
      hello_timeout_ms_(hello_timeout_ms),
      tls_(std::move(tls)),
      acceptor_(ctx),
      retry_timer_(ctx) {}

Acceptor::~Acceptor() = default;

bool Acceptor::listen(const std::string& address, uint16_t port, std::string* why) {
  error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    *why = "listen address \"" + address + "\": " + ec.message();
    return false;
  }
  const tcp::endpoint endpoint(ip, port);
  const std::string where = address + ":" + std::to_string(port);
  if (acceptor_.open(endpoint.protocol(), ec) ||
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec) ||
      acceptor_.bind(endpoint, ec) || acceptor_.listen(kListenBacklog, ec)) {
    *why = "cannot listen on " + where + ": " + ec.message();
    acceptor_.close(ec);
    return false;
  }
  port_ = acceptor_.local_endpoint(ec).port();
  return !ec;
}

void Acceptor::start() { do_accept(); }

void Acceptor::do_accept() {
  if (stopping_) return;
  acceptor_.async_accept(
      ctx_, [this](const error_code& ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void Acceptor::on_accept(const error_code& ec, tcp::socket socket) {
  if (stopping_ || ec == asio::error::operation_aborted) return;
  if (ec == asio::error::connection_aborted) {  // the client gave up first
    do_accept();
    return;
  }
  if (ec) {  // out of descriptors or memory: back off instead of spinning
    retry_timer_.expires_after(std::chrono::milliseconds(kAcceptRetryDelayMs));
    retry_timer_.async_wait([this](const error_code& wait_ec) {
      if (!wait_ec) do_accept();
    });
    return;
  }
  const engine::ConnId id = owner_->next_connection_id();
  if (!count_->try_open()) {
    if (tls_) {
      error_code ignored;
      socket.close(ignored);
    } else {
      owner_->refuse(std::move(socket), id, v1::ERROR_SERVER_FULL,
                     "connection limit " + std::to_string(count_->max()) + " reached",
                     /*counted=*/false, nullptr);
    }
  } else {
    auto h = std::make_shared<Handshake>(std::move(socket), id, wall_clock_ns(), max_frame_bytes_,
                                         tls_ ? TlsSession::server(*tls_) : nullptr, this);
    handshakes_.emplace(h.get(), h);
    h->start(hello_timeout_ms_);
  }
  do_accept();
}

void Acceptor::handshake_done(Handshake* h, Outcome outcome, tcp::socket socket, uint64_t cell_id,
                              std::string bytes, std::unique_ptr<TlsSession> tls) {
  if (outcome == Outcome::kAborted && tls && !tls->established()) {  // no way to answer
    error_code ignored;
    socket.close(ignored);
    outcome = Outcome::kLost;
  }
  switch (outcome) {
    case Outcome::kRouted:
      owner_->route(std::move(socket), h->id(), h->accepted_at_ns(), cell_id, std::move(bytes),
                    std::move(tls));
      break;
    case Outcome::kAborted:
      owner_->refuse(std::move(socket), h->id(), v1::ERROR_SHUTTING_DOWN, "server shutting down",
                     /*counted=*/true, std::move(tls));
      break;
    case Outcome::kLost:
      count_->close();
      break;
  }
  handshakes_.erase(h);
  if (stopping_ && handshakes_.empty() && stopped_) {
    auto done = std::move(stopped_);
    stopped_ = nullptr;
    done();
  }
}

void Acceptor::stop(std::function<void()> done) {
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel(ignored);
  if (handshakes_.empty()) {
    done();
    return;
  }
  stopped_ = std::move(done);
  std::vector<std::shared_ptr<Handshake>> all;
  for (const auto& [ptr, h] : handshakes_) all.push_back(h);
  for (const auto& h : all) h->abort();
}

}  // namespace cellsim::net
