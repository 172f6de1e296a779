// Shared set-up for cellmeetd's network tests: a small deployment built in
// code, tokens minted with its key, a Server on ephemeral loopback ports,
// logging members in, and scraping /metrics over a plain socket.
#ifndef CELLSIM_TESTS_NET_NET_FIXTURE_H_
#define CELLSIM_TESTS_NET_NET_FIXTURE_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "server/net/server.h"
#include "tests/net/test_client.h"

namespace cellsim::net::testing {

// The test deployment: cell 1 (chair 1; official 2, 3, 5; probationary 4)
// and cell 2 (chair 1; official 2, 3). With two shards they live on
// different shards (1 % 2 = 1, 2 % 2 = 0).
inline constexpr uint64_t kCellA = 1;
inline constexpr uint64_t kCellB = 2;
inline constexpr uint64_t kChair = 1;
inline constexpr uint64_t kProbationary = 4;

const std::string& test_key();
v1::Deployment test_deployment();
// Options for a server on 127.0.0.1 ephemeral ports, two shards.
ServerOptions test_options();

// A token for a roster member of the test deployment, with its real
// standing and role.
std::string member_token(uint64_t cell_id, uint64_t member_id, int64_t ttl_ms = 3'600'000);

// Connects, says Hello and waits for Welcome.
bool login(TestClient* c, uint16_t port, uint64_t cell_id, uint64_t member_id);
// Sends JoinMeeting and waits for the MeetingState.
bool join(TestClient* c);
// Sends a Heartbeat and waits for its HeartbeatAck (skipping pushes).
bool heartbeat_ok(TestClient* c, uint64_t seq);

// HTTP/1.0 GET of http://127.0.0.1:port/path (metrics/scrape.h); the body of
// a 200, or "" on failure.
std::string http_get(uint16_t port, const std::string& path);
// Metric samples from Prometheus text format (metrics/prometheus_text.h):
// the series as written, "name{label=\"value\"}", → value.
std::map<std::string, double> parse_metrics(const std::string& text);

// Starts a server or fails the test.
std::unique_ptr<Server> start_or_fail(ServerOptions options);

}  // namespace cellsim::net::testing

#endif  // CELLSIM_TESTS_NET_NET_FIXTURE_H_
