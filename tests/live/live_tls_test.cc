// The live driver over TLS: against the embedded cellmeetd with a
// certificate made at run time (LoadOptions::tls_generate), members hold
// their meetings and votes as over TCP; against a TLS target whose
// certificate chains to another CA than the one the agents trust, every
// handshake fails, is counted, and the run still ends cleanly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "live/driver.h"
#include "scenario/loader.h"
#include "server/net/server.h"
#include "server/net/tls_certgen.h"

namespace cellsim::live {
namespace {

// Six cells of six members on a 4G-like link (TLS), a vote of 6 s, 18 s.
constexpr char kScenario[] = R"pb(
  name: "live-tls"
  question: "Do meetings work over TLS live? (test)"
  seed: 5
  duration_min: 0.3
  start_unix_s: 1796086800
  quorum_deadline_min: 0.15
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
        open_s: 6
        yes_probability: 0.9
        no_probability: 0.05
      }
    }
  }
  cell_types {
    name: "border"
    count: 6
    members { official: 6 }
    links { profile: "border-4g" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.05 } }
    join_earliest_min: 0
    agenda: "one-vote"
    start_window_min: 0.01
    start_offset_min: 0.01
  }
)pb";

v1::Scenario load() {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  EXPECT_TRUE(scenario::parse_scenario(kScenario, "live-tls", &s, &errors))
      << (errors.empty() ? "" : errors[0].to_string());
  return s;
}

const v1::Group* overall(const v1::Results& r) {
  for (const auto& g : r.groups()) {
    if (g.kind() == "overall") return &g;
  }
  return nullptr;
}

TEST(LiveTls, MeetingsOverTlsAgainstTheEmbeddedServer) {
  const v1::Scenario s = load();
  LoadOptions o;
  o.scenario_file = "live-tls (in the test)";
  o.server_threads = 2;
  o.tls_generate = true;
  const LoadOutcome out = run_load(s, o);
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.tls_failures, 0u) << out.tls_error;
  EXPECT_EQ(out.violation_count, 0u);
  for (const auto& v : out.violations) ADD_FAILURE() << v;
  const v1::Group* g = overall(out.results);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->quorum().meetings(), 6u);
  EXPECT_EQ(g->quorum().meetings_quorate_by_deadline(), 6u);
  EXPECT_GT(g->quorum().ballots_counted(), 0u);
  EXPECT_LE(g->quorum().ballots_acked(), g->quorum().ballots_counted());
}

TEST(LiveTls, AgentsTrustingAnotherCaAreRefused) {
  v1::Scenario s = load();
  net::PemCertKey ca, cert, other;
  std::string why;
  ASSERT_TRUE(net::make_tls_ca("server CA", &ca, &why)) << why;
  ASSERT_TRUE(net::make_tls_server_cert(ca, {"127.0.0.1"}, &cert, &why)) << why;
  ASSERT_TRUE(net::make_tls_ca("another CA", &other, &why)) << why;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cellsim-live-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string ca_file = (dir / "other-ca.pem").string();
  ASSERT_TRUE(net::write_pem_file(ca_file, other.cert_pem, 0644, &why)) << why;

  net::ServerOptions so;
  so.metrics_enabled = false;
  so.threads = 1;
  so.key = "live-tls-test-key-of-32-bytes!!!";
  so.deployment = plan_deployment(s);
  so.tls.cert_pem = cert.cert_pem;
  so.tls.key_pem = cert.key_pem;
  net::Server server(std::move(so));
  ASSERT_TRUE(server.start(&why)) << why;

  LoadOptions o;
  o.target_host = "127.0.0.1";
  o.target_port = server.port();
  o.key = "live-tls-test-key-of-32-bytes!!!";
  o.duration_s = 3;
  o.tls_ca_file = ca_file;
  const LoadOutcome out = run_load(s, o);
  server.stop();
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_GT(out.tls_failures, 0u);
  EXPECT_NE(out.tls_error.find("certificate verify failed"), std::string::npos) << out.tls_error;
  const v1::Group* g = overall(out.results);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->quorum().ballots_counted(), 0u);
}

}  // namespace
}  // namespace cellsim::live
