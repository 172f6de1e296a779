#include "tests/net/net_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <sstream>

namespace cellsim::net::testing {
namespace {

v1::CellRoster roster(uint64_t cell_id, const std::string& name,
                      std::initializer_list<std::pair<uint64_t, v1::Standing>> members) {
  v1::CellRoster r;
  r.set_cell_id(cell_id);
  r.set_name(name);
  for (const auto& [id, standing] : members) {
    auto* m = r.add_members();
    m->set_member_id(id);
    m->set_name("member " + std::to_string(id));
    m->set_standing(standing);
    m->set_role(id == kChair ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
  }
  return r;
}

}  // namespace

const std::string& test_key() {
  static const std::string key(32, '\x5a');
  return key;
}

v1::Deployment test_deployment() {
  v1::Deployment d;
  *d.add_cells() = roster(kCellA, "Cell A",
                          {{1, v1::STANDING_OFFICIAL},
                           {2, v1::STANDING_OFFICIAL},
                           {3, v1::STANDING_OFFICIAL},
                           {kProbationary, v1::STANDING_PROBATIONARY},
                           {5, v1::STANDING_OFFICIAL}});
  *d.add_cells() =
      roster(kCellB, "Cell B",
             {{1, v1::STANDING_OFFICIAL}, {2, v1::STANDING_OFFICIAL}, {3, v1::STANDING_OFFICIAL}});
  return d;
}

ServerOptions test_options() {
  ServerOptions o;
  o.listen_address = "127.0.0.1";
  o.metrics_address = "127.0.0.1";
  o.threads = 2;
  o.key = test_key();
  o.deployment = test_deployment();
  return o;
}

std::string member_token(uint64_t cell_id, uint64_t member_id, int64_t ttl_ms) {
  const v1::Deployment deployment = test_deployment();
  for (const auto& c : deployment.cells()) {
    if (c.cell_id() != cell_id) continue;
    for (const auto& m : c.members()) {
      if (m.member_id() == member_id) {
        return make_token(test_key(), cell_id, member_id, m.standing(), m.role(), ttl_ms);
      }
    }
  }
  ADD_FAILURE() << "no member " << member_id << " in cell " << cell_id;
  return "";
}

bool login(TestClient* c, uint16_t port, uint64_t cell_id, uint64_t member_id) {
  v1::Envelope env;
  return c->connect(port) &&
         c->send(hello_envelope(cell_id, member_id, member_token(cell_id, member_id))) &&
         c->read_until(v1::Envelope::kWelcome, &env);
}

bool join(TestClient* c) {
  v1::Envelope env;
  env.mutable_join_meeting();
  return c->send(env) && c->read_until(v1::Envelope::kMeetingState, &env);
}

bool heartbeat_ok(TestClient* c, uint64_t seq) {
  v1::Envelope env;
  return c->send(heartbeat_envelope(seq)) && c->read_until(v1::Envelope::kHeartbeatAck, &env) &&
         env.heartbeat_ack().seq() == seq;
}

std::string http_get(uint16_t port, const std::string& path) {
  constexpr int kTimeoutMs = 5000;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[16384];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return samples;
}

std::unique_ptr<Server> start_or_fail(ServerOptions options) {
  auto server = std::make_unique<Server>(std::move(options));
  std::string why;
  EXPECT_TRUE(server->start(&why)) << why;
  return server;
}

}  // namespace cellsim::net::testing
