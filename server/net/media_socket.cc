#include "server/net/media_socket.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proto/assert.h"
#include "server/net/router.h"

namespace cellsim::net {
namespace {

// Socket buffers asked of the kernel for the media socket (it caps them at
// net.core.rmem_max / wmem_max); a voice burst waits there, not on the floor.
constexpr int kMediaSocketBufferBytes = 4 << 20;

}  // namespace

// ---------------------------------------------------------------------------
// DatagramInbox

DatagramInbox::Pushed DatagramInbox::push(std::string_view bytes, const udp::endpoint& from) {
  CELLSIM_ASSERT(bytes.size() <= kDatagramReceiveBytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (waiting_.entries.size() >= kMaxInboxDatagrams) {
    drops_.fetch_add(1, std::memory_order_relaxed);
    return Pushed::kDropped;
  }
  const bool first = waiting_.entries.empty();
  waiting_.entries.push_back({waiting_.bytes.size(), bytes.size(), from});
  waiting_.bytes.append(bytes.data(), bytes.size());
  return first ? Pushed::kFirst : Pushed::kQueued;
}

void DatagramInbox::take(Batch* batch) {
  batch->clear();
  std::lock_guard<std::mutex> lock(mu_);
  std::swap(*batch, waiting_);
}

// ---------------------------------------------------------------------------
// DatagramSender

DatagramSender::DatagramSender(asio::io_context& ctx, int fd)
    : fd_(fd), retry_(ctx), ring_(kMaxDatagramSendQueue) {
  CELLSIM_ASSERT(fd >= 0);
}

DatagramSender::~DatagramSender() { ::close(fd_); }

bool DatagramSender::queue(const udp::endpoint& to, wire::SharedFrame bytes) {
  if (size_ == kMaxDatagramSendQueue) {
    stats_.queue_drops.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Pending& p = ring_[(head_ + size_) % kMaxDatagramSendQueue];
  p.to = to;
  p.bytes = std::move(bytes);
  ++size_;
  return true;
}

void DatagramSender::pop(size_t n) {
  CELLSIM_ASSERT(n <= size_);
  for (size_t i = 0; i < n; ++i) {
    ring_[head_].bytes.reset();  // the sealed copy goes now, not at reuse
    head_ = (head_ + 1) % kMaxDatagramSendQueue;
  }
  size_ -= n;
}

void DatagramSender::flush() {
  // Bound: every pass sends or drops at least one datagram, or returns.
  while (size_ > 0) {
    const size_t n = std::min(size_, kMaxSendBatch);
    for (size_t i = 0; i < n; ++i) {
      Pending& p = ring_[(head_ + i) % kMaxDatagramSendQueue];
      iovs_[i].iov_base = const_cast<char*>(p.bytes->data());
      iovs_[i].iov_len = p.bytes->size();
      msghdr& h = msgs_[i].msg_hdr;
      h = msghdr{};
      h.msg_name = p.to.data();
      h.msg_namelen = static_cast<socklen_t>(p.to.size());
      h.msg_iov = &iovs_[i];
      h.msg_iovlen = 1;
      msgs_[i].msg_len = 0;
    }
    const int sent = ::sendmmsg(fd_, msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT);
    if (sent > 0) {
      uint64_t bytes = 0;
      for (int i = 0; i < sent; ++i) bytes += msgs_[i].msg_len;
      stats_.sent.fetch_add(static_cast<uint64_t>(sent), std::memory_order_relaxed);
      stats_.sent_bytes.fetch_add(bytes, std::memory_order_relaxed);
      pop(static_cast<size_t>(sent));
      continue;
    }
    const int err = sent < 0 ? errno : EAGAIN;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      arm_retry();
      return;
    }
    // The first one was refused (no route, too large, not permitted): it is
    // dropped, and the rest go on.
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    pop(1);
  }
}

void DatagramSender::arm_retry() {
  if (retry_armed_) return;
  retry_armed_ = true;
  retry_.expires_after(std::chrono::milliseconds(kDatagramSendRetryMs));
  retry_.async_wait([this](const error_code& ec) {
    retry_armed_ = false;
    if (ec != asio::error::operation_aborted) flush();
  });
}

// ---------------------------------------------------------------------------
// DatagramReceiver

DatagramReceiver::DatagramReceiver(asio::io_context& ctx, Routes routes)
    : routes_(std::move(routes)), socket_(ctx) {
  CELLSIM_ASSERT(routes_.local < routes_.inboxes.size() &&
                 routes_.inboxes.size() == routes_.wake.size());
}

DatagramReceiver::~DatagramReceiver() {
  error_code ignored;
  socket_.close(ignored);
}

bool DatagramReceiver::open(const std::string& address, uint16_t port, std::string* why) {
  error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    *why = "media address \"" + address + "\": " + ec.message();
    return false;
  }
  const udp::endpoint endpoint(ip, port);
  const std::string where = address + ":" + std::to_string(port) + " (UDP)";
  if (socket_.open(endpoint.protocol(), ec) || socket_.bind(endpoint, ec) ||
      socket_.non_blocking(true, ec)) {
    *why = "cannot bind the media socket on " + where + ": " + ec.message();
    socket_.close(ec);
    return false;
  }
  error_code ignored;  // best effort: the kernel's caps apply
  socket_.set_option(asio::socket_base::receive_buffer_size(kMediaSocketBufferBytes), ignored);
  socket_.set_option(asio::socket_base::send_buffer_size(kMediaSocketBufferBytes), ignored);
  port_ = socket_.local_endpoint(ec).port();
  if (ec) {
    *why = "media socket on " + where + ": " + ec.message();
    return false;
  }
  return true;
}

int DatagramReceiver::dup_descriptor(std::string* why) {
  const int fd = ::fcntl(socket_.native_handle(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) *why = std::string("cannot duplicate the media socket: ") + std::strerror(errno);
  return fd;
}

void DatagramReceiver::start() { do_receive(); }

void DatagramReceiver::stop() {
  stopping_ = true;
  error_code ignored;
  socket_.close(ignored);
}

void DatagramReceiver::do_receive() {
  if (stopping_) return;
  socket_.async_receive_from(asio::buffer(buffer_), from_,
                             [this](const error_code& ec, size_t bytes) { on_receive(ec, bytes); });
}

void DatagramReceiver::on_receive(const error_code& ec, size_t bytes) {
  if (stopping_ || ec == asio::error::operation_aborted) return;
  bool local = false;
  if (ec) {
    receive_errors_.fetch_add(1, std::memory_order_relaxed);
  } else {
    route(bytes, &local);
    // What else is waiting, up to the bound, without another trip through
    // the reactor.
    for (size_t i = 1; i < kMaxDatagramsPerWake; ++i) {
      error_code read_ec;
      const size_t n = socket_.receive_from(asio::buffer(buffer_), from_, 0, read_ec);
      if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) break;
      if (read_ec) {
        receive_errors_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      route(n, &local);
    }
  }
  if (local && routes_.after_local_batch) routes_.after_local_batch();
  do_receive();
}

void DatagramReceiver::route(size_t bytes, bool* local) {
  received_.fetch_add(1, std::memory_order_relaxed);
  const std::string_view view(buffer_.data(), bytes);
  const size_t target = shard_for_datagram(view, routes_.inboxes.size());
  if (target == routes_.local) {
    routes_.deliver(view, from_);
    *local = true;
    return;
  }
  if (routes_.inboxes[target]->push(view, from_) == DatagramInbox::Pushed::kFirst) {
    routes_.wake[target]();
  }
}

}  // namespace cellsim::net
