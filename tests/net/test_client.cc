#include "tests/net/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "server/engine/token.h"

namespace cellsim::net::testing {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TestDatagramSocket::~TestDatagramSocket() {
  if (fd_ >= 0) ::close(fd_);
}

bool TestDatagramSocket::open() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  const int rcvbuf = kReceiveBufferBytes;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return false;
  }
  port_ = ntohs(addr.sin_port);
  return true;
}

bool TestDatagramSocket::send_to(uint16_t port, std::string_view bytes) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&addr),
                  sizeof addr) == static_cast<ssize_t>(bytes.size());
}

bool TestDatagramSocket::receive(std::string* bytes, int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  bytes->resize(kMaxReceiveBytes);
  const ssize_t n = ::recv(fd_, bytes->data(), bytes->size(), MSG_DONTWAIT);
  if (n < 0) return false;
  bytes->resize(static_cast<size_t>(n));
  return true;
}

TestClient::~TestClient() { close(); }

bool TestClient::connect(uint16_t port, int receive_buffer_bytes) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  if (receive_buffer_bytes > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval send_timeout{kDefaultTimeoutMs / 1000, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    close();
    return false;
  }
  eof_ = false;
  decoder_ = wire::FrameDecoder(kClientMaxFrameBytes);
  return true;
}

bool TestClient::connect_tls(uint16_t port, std::shared_ptr<const TlsContext> tls,
                             const std::string& host, int timeout_ms) {
  tls_error_.clear();
  if (!connect(port)) {
    tls_error_ = "TCP connect failed";
    return false;
  }
  tls_ = TlsSession::client(*tls, host);
  const int64_t deadline = now_ms() + timeout_ms;
  while (!tls_->failed() && !tls_->established()) {
    if (!flush_tls() || !wait_readable(deadline) || !receive() || eof_) break;
  }
  if (tls_->established() && flush_tls()) return true;
  tls_error_ = tls_->failed() ? tls_->error()
               : eof_         ? "the server closed the connection during the handshake"
                              : "the handshake did not complete";
  close();
  return false;
}

void TestClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  tls_.reset();
}

bool TestClient::send(const v1::Envelope& env) { return send_raw(wire::encode_frame(env)); }

bool TestClient::send_raw(std::string_view bytes) {
  if (!tls_) return send_wire(bytes);
  return fd_ >= 0 && tls_->write(bytes) == TlsSession::Status::kOk && flush_tls();
}

bool TestClient::flush_tls() {
  std::string cipher;
  tls_->take_output(&cipher);
  return send_wire(cipher);
}

bool TestClient::send_wire(std::string_view bytes) {
  while (fd_ >= 0 && !bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // includes the SO_SNDTIMEO timeout
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return fd_ >= 0;
}

bool TestClient::wait_readable(int64_t deadline_ms) {
  for (;;) {
    const int64_t left = deadline_ms - now_ms();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

TestClient::Read TestClient::read(v1::Envelope* env, int timeout_ms) {
  if (fd_ < 0) return Read::kError;
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    std::string_view payload;
    switch (decoder_.next(&payload)) {
      case wire::FrameDecoder::Status::kFrame:
        return env->ParseFromArray(payload.data(), static_cast<int>(payload.size()))
                   ? Read::kFrame
                   : Read::kMalformed;
      case wire::FrameDecoder::Status::kTooLarge:
        return Read::kMalformed;
      case wire::FrameDecoder::Status::kNeedMore:
        break;
    }
    if (eof_) return Read::kEof;
    if (!wait_readable(deadline)) return Read::kTimeout;
    if (!receive()) return Read::kError;
  }
}

bool TestClient::receive() {
  char buf[64 * 1024];
  ssize_t n;
  do {
    n = ::recv(fd_, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return false;
  if (n == 0) {
    eof_ = true;
    return true;
  }
  const std::string_view bytes(buf, static_cast<size_t>(n));
  if (!tls_) {
    decoder_.feed(bytes);
    return true;
  }
  std::string plain;
  const TlsSession::Status status = tls_->feed(bytes, &plain);
  decoder_.feed(plain);
  if (status == TlsSession::Status::kClosed) eof_ = true;
  return status != TlsSession::Status::kFailed && flush_tls();
}

bool TestClient::read_until(v1::Envelope::BodyCase body, v1::Envelope* env, int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    const int64_t left = deadline - now_ms();
    if (left <= 0 || read(env, static_cast<int>(left)) != Read::kFrame) return false;
    if (env->body_case() == body) return true;
    if (env->body_case() == v1::Envelope::kError) return false;
  }
}

v1::ErrorCode TestClient::read_error(int timeout_ms) {
  v1::Envelope env;
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    const int64_t left = deadline - now_ms();
    if (left <= 0 || read(&env, static_cast<int>(left)) != Read::kFrame) {
      return v1::ERROR_CODE_UNSPECIFIED;
    }
    if (env.body_case() == v1::Envelope::kError) return env.error().code();
  }
}

bool TestClient::wait_eof(int timeout_ms) {
  v1::Envelope env;
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    const int64_t left = deadline - now_ms();
    if (left <= 0) return false;
    switch (read(&env, static_cast<int>(left))) {
      case Read::kEof:
        return true;
      case Read::kFrame:
        continue;
      default:
        return false;
    }
  }
}

v1::Envelope hello_envelope(uint64_t cell_id, uint64_t member_id, const std::string& token,
                            uint64_t request_id) {
  v1::Envelope env;
  env.set_request_id(request_id);
  auto* h = env.mutable_hello();
  h->set_version_major(wire::kProtocolVersionMajor);
  h->set_version_minor(wire::kProtocolVersionMinor);
  h->set_cell_id(cell_id);
  h->set_member_id(member_id);
  h->set_token(token);
  return env;
}

v1::Envelope heartbeat_envelope(uint64_t seq) {
  v1::Envelope env;
  env.set_request_id(seq);
  env.mutable_heartbeat()->set_seq(seq);
  return env;
}

std::string make_token(const std::string& key, uint64_t cell_id, uint64_t member_id,
                       v1::Standing standing, v1::Role role, int64_t ttl_ms) {
  v1::TokenClaims claims;
  claims.set_cell_id(cell_id);
  claims.set_member_id(member_id);
  claims.set_standing(standing);
  claims.set_role(role);
  claims.set_expires_at_ms(wall_ms() + ttl_ms);
  return engine::mint_token(key, claims);
}

std::string frame_header(uint32_t payload_bytes) {
  char h[wire::kFrameHeaderBytes];
  wire::put_header(payload_bytes, h);
  return std::string(h, sizeof h);
}

}  // namespace cellsim::net::testing
