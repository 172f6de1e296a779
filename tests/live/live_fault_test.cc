// The live driver while its cellmeetd is stopped and restarted: members see
// their connections break, reconnect with backoff once the server is back,
// the driver counts the disconnections and failed joins, and finishes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "live/driver.h"
#include "scenario/loader.h"
#include "server/net/server.h"

namespace cellsim::live {
namespace {

// Ten cells of eight members on a 4G-like link, heartbeats every 2 s, a 25 s
// run: the server goes away at 8 s and comes back at 13 s.
constexpr char kScenario[] = R"pb(
  name: "live-fault"
  question: "Does the live driver survive a server restart? (test)"
  seed: 11
  duration_min: 0.4
  start_unix_s: 1796086800
  quorum_deadline_min: 0.2
  server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 1000 }
  rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 2000 missed_heartbeats: 3 }
  reconnect { initial_backoff_ms: 300 max_backoff_ms: 2000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 0.1 wait_for_quorum_min: 0.05 }
  media { bitrate_kbps: 0 frame_ms: 20 }
  profiles {
    name: "border-4g"
    base_one_way_ms: 30
    jitter_ms { lognormal { median: 12 sigma: 0.7 } }
    bandwidth_down_kbps: 10000
    bandwidth_up_kbps: 5000
    loss { p_good_to_bad: 0.004 p_bad_to_good: 0.25 loss_good: 0.003 loss_bad: 0.5 }
    rto_min_ms: 200
    tls: true
  }
  agendas {
    name: "one-vote"
    items {
      title: "Nghị quyết"
      duration_min: 0.05
      votes {
        vote_id: 1
        kind: VOTE_KIND_RESOLUTION
        subject: "Nghị quyết"
        open_s: 25
        yes_probability: 0.9
        no_probability: 0.05
      }
    }
  }
  cell_types {
    name: "border"
    count: 10
    members { official: 8 }
    links { profile: "border-4g" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.2 } }
    join_earliest_min: 0
    agenda: "one-vote"
    start_window_min: 0.01
    start_offset_min: 0.01
  }
)pb";

net::ServerOptions server_options(const v1::Scenario& s, uint16_t port, uint64_t run_id) {
  net::ServerOptions so;
  so.port = port;
  so.metrics_enabled = false;
  so.threads = 1;
  so.key = "live-fault-test-key";
  const auto q = scenario::engine_quorum(s.rules().quorum_fraction());
  so.engine.rules.quorum = {q.num, q.den};
  so.engine.rules.heartbeat_interval_ms = s.rules().heartbeat_interval_ms();
  so.engine.rules.missed_heartbeats = s.rules().missed_heartbeats();
  so.engine.run_id = run_id;
  so.deployment = plan_deployment(s);
  return so;
}

TEST(LiveFault, ServerStopAndRestartDuringRun) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  ASSERT_TRUE(scenario::parse_scenario(kScenario, "live-fault", &s, &errors))
      << (errors.empty() ? "" : errors[0].to_string());

  auto server = std::make_unique<net::Server>(server_options(s, 0, 1));
  std::string why;
  ASSERT_TRUE(server->start(&why)) << why;
  const uint16_t port = server->port();

  LoadOptions o;
  o.target_host = "127.0.0.1";
  o.target_port = port;
  o.key = "live-fault-test-key";
  o.scenario_file = "live-fault (in the test)";
  LoadOutcome out;
  std::thread driver([&] { out = run_load(s, o); });

  std::this_thread::sleep_for(std::chrono::seconds(8));
  server->stop();
  server.reset();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  server = std::make_unique<net::Server>(server_options(s, port, 2));
  ASSERT_TRUE(server->start(&why)) << why;  // same port: the acceptor reuses the address
  driver.join();
  server->stop();

  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.partial);
  const v1::Group* g = nullptr;
  for (const auto& grp : out.results.groups()) {
    if (grp.kind() == "overall") g = &grp;
  }
  ASSERT_NE(g, nullptr);
  const auto& t = g->traffic();
  std::printf("members %llu, connects %llu, disconnects %llu, reconnects %llu, failed joins %llu,"
              " meetings closed %llu of %llu, violations %llu\n",
              static_cast<unsigned long long>(out.members),
              static_cast<unsigned long long>(t.connects()),
              static_cast<unsigned long long>(t.disconnects()),
              static_cast<unsigned long long>(t.reconnects()),
              static_cast<unsigned long long>(t.failed_joins()),
              static_cast<unsigned long long>(g->quorum().meetings_closed()),
              static_cast<unsigned long long>(g->quorum().meetings()),
              static_cast<unsigned long long>(out.violation_count));
  for (const auto& v : out.violations) std::printf("  %s\n", v.c_str());
  // Every member that had joined lost its connection when the server went.
  EXPECT_GE(t.disconnects(), 40u);
  EXPECT_GE(t.reconnects(), 40u);
  EXPECT_GT(t.connects(), out.members);
}

}  // namespace
}  // namespace cellsim::live
