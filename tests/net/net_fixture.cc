#include "tests/net/net_fixture.h"

#include "metrics/prometheus_text.h"
#include "metrics/scrape.h"

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
  std::string body, why;
  return metrics::http_get_local(port, path, &body, &why) ? body : "";
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  return metrics::values_by_series(metrics::parse_prometheus_text(text));
}

std::unique_ptr<Server> start_or_fail(ServerOptions options) {
  auto server = std::make_unique<Server>(std::move(options));
  std::string why;
  EXPECT_TRUE(server->start(&why)) << why;
  return server;
}

}  // namespace cellsim::net::testing
