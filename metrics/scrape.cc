#include "metrics/scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proto/assert.h"

namespace cellsim::metrics {
namespace {

// A connected TCP socket to 127.0.0.1:port with send and receive timeouts,
// or -1 with *why.
int connect_local(uint16_t port, int timeout_ms, std::string* why) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why = "socket: " + std::string(std::strerror(errno));
    return -1;
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *why = "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the peer sends until it closes, times out or passes the cap.
std::string receive_all(int fd) {
  std::string response;
  char buf[16384];
  for (;;) {
    const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    response.append(buf, static_cast<size_t>(got));
    if (response.size() > kMaxHttpResponseBytes) break;
  }
  return response;
}

}  // namespace

bool http_get_local(uint16_t port, const std::string& path, std::string* body, std::string* why,
                    int timeout_ms) {
  CELLSIM_ASSERT(!path.empty() && path[0] == '/');
  CELLSIM_ASSERT(timeout_ms > 0);
  const int fd = connect_local(port, timeout_ms, why);
  if (fd < 0) return false;
  const std::string req =
      "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    *why = "send to 127.0.0.1:" + std::to_string(port) + " failed";
    ::close(fd);
    return false;
  }
  const std::string resp = receive_all(fd);
  ::close(fd);
  const size_t head = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || head == std::string::npos ||
      resp.find(" 200 ") > resp.find("\r\n")) {
    *why = "GET http://127.0.0.1:" + std::to_string(port) + path + ": no 200 response";
    return false;
  }
  *body = resp.substr(head + 4);
  return true;
}

bool scrape_local(uint16_t port, PrometheusText* out, std::string* why, int timeout_ms) {
  std::string body;
  if (!http_get_local(port, "/metrics", &body, why, timeout_ms)) return false;
  *out = parse_prometheus_text(body);
  return true;
}

}  // namespace cellsim::metrics
