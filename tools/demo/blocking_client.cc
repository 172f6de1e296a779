#include "tools/demo/blocking_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace cellsim::demo {
namespace {

// Bytes read from the socket per recv() call.
constexpr size_t kReadChunkBytes = 64 * 1024;
// Longest a TLS handshake may take.
constexpr int kTlsHandshakeTimeoutMs = 5000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

BlockingClient::~BlockingClient() { close(); }

void BlockingClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  tls_.reset();
}

void BlockingClient::use_tls(std::shared_ptr<const net::TlsContext> ctx, std::string server_name) {
  tls_ctx_ = std::move(ctx);
  tls_name_ = std::move(server_name);
}

bool BlockingClient::handshake(const std::string& host, std::string* why) {
  tls_ = net::TlsSession::client(*tls_ctx_, tls_name_.empty() ? host : tls_name_);
  const int64_t deadline_ms = now_ms() + kTlsHandshakeTimeoutMs;
  while (fd_ >= 0 && !tls_->failed() && !tls_->established() && flush_tls()) {
    const int64_t left_ms = deadline_ms - now_ms();
    pollfd p{fd_, POLLIN, 0};
    if (left_ms <= 0 || ::poll(&p, 1, static_cast<int>(left_ms)) <= 0 || !receive()) break;
  }
  if (tls_ && tls_->established() && flush_tls()) return true;
  *why = "TLS handshake with " + host + ": " +
         (tls_ && tls_->failed() ? tls_->error() : std::string("no answer or closed"));
  close();
  return false;
}

bool BlockingClient::connect(const std::string& host, uint16_t port, std::string* why) {
  close();
  decoder_ = wire::FrameDecoder();
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    len = sizeof(*a4);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    len = sizeof(*a6);
  } else {
    *why = "not a numeric address: " + host;
    return false;
  }
  fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    *why = "connect to " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    close();
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return !tls_ctx_ || handshake(host, why);
}

bool BlockingClient::send_raw(std::string_view bytes) {
  if (!tls_) return send_wire(bytes);
  return tls_->write(bytes) == net::TlsSession::Status::kOk && flush_tls();
}

bool BlockingClient::flush_tls() {
  std::string cipher;
  tls_->take_output(&cipher);
  return send_wire(cipher);
}

bool BlockingClient::send_wire(std::string_view bytes) {
  while (!bytes.empty() && fd_ >= 0) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return bytes.empty();
}

bool BlockingClient::send(const v1::Envelope& env) { return send_raw(wire::encode_frame(env)); }

BlockingClient::Recv BlockingClient::recv(v1::Envelope* env, int timeout_ms) {
  const int64_t deadline_ms = now_ms() + timeout_ms;
  for (;;) {
    std::string_view payload;
    const auto st = decoder_.next(&payload);
    if (st == wire::FrameDecoder::Status::kTooLarge) return Recv::kBadFrame;
    if (st == wire::FrameDecoder::Status::kFrame) {
      return env->ParseFromArray(payload.data(), static_cast<int>(payload.size()))
                 ? Recv::kFrame
                 : Recv::kBadFrame;
    }
    if (fd_ < 0) return Recv::kClosed;
    const int64_t left_ms = deadline_ms - now_ms();
    if (left_ms <= 0) return Recv::kTimeout;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left_ms));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return Recv::kTimeout;
    receive();  // on false the socket is closed: what is buffered, then kClosed
  }
}

bool BlockingClient::receive() {
  char buf[kReadChunkBytes];
  ssize_t n;
  do {
    n = ::recv(fd_, buf, sizeof(buf), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    close();
    return false;
  }
  const std::string_view bytes(buf, static_cast<size_t>(n));
  if (!tls_) {
    decoder_.feed(bytes);
    return true;
  }
  std::string plain;
  const auto status = tls_->feed(bytes, &plain);
  decoder_.feed(plain);
  if (status != net::TlsSession::Status::kOk || !flush_tls()) {
    close();
    return false;
  }
  return true;
}

bool BlockingClient::expect(v1::Envelope::BodyCase body, v1::Envelope* env, int timeout_ms) {
  const int64_t deadline_ms = now_ms() + timeout_ms;
  for (;;) {
    const int64_t left_ms = deadline_ms - now_ms();
    if (left_ms <= 0) return false;
    if (recv(env, static_cast<int>(left_ms)) != Recv::kFrame) return false;
    if (env->body_case() == body) return true;
    if (env->body_case() == v1::Envelope::kError) return false;
    skipped_.push_back(*env);
  }
}

}  // namespace cellsim::demo
