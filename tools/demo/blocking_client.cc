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
  return true;
}

bool BlockingClient::send_raw(std::string_view bytes) {
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
    char buf[kReadChunkBytes];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close();
      continue;  // deliver what is buffered, then kClosed
    }
    decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
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
