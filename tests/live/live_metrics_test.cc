// The live driver's observability: /metrics is served on loopback while it
// runs (scraped once mid-run), and the final figures are pushed to a
// Pushgateway (a one-request fake here) at the end.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "live/driver.h"
#include "scenario/loader.h"
#include "server/net/asio.h"

namespace cellsim::live {
namespace {

namespace asio = net::asio;
using net::tcp;

// Largest HTTP message read by the test's client and fake gateway.
constexpr size_t kMaxHttpBytes = 1 << 20;

constexpr char kScenario[] = R"pb(
  name: "live-metrics"
  seed: 5
  duration_min: 0.15
  start_unix_s: 1796086800
  rules { heartbeat_interval_ms: 1000 missed_heartbeats: 3 }
  profiles {
    name: "lan"
    base_one_way_ms: 1
    bandwidth_down_kbps: 100000
    bandwidth_up_kbps: 100000
  }
  agendas { name: "a" items { title: "Thảo luận" duration_min: 5 } }
  cell_types {
    name: "c"
    count: 2
    members { official: 5 }
    links { profile: "lan" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.02 } }
    join_earliest_min: 0
    agenda: "a"
    start_window_min: 0.01
    start_offset_min: 0
  }
)pb";

// Reads until the peer closes (or kMaxHttpBytes).
std::string read_all(tcp::socket& s) {
  std::string out;
  char buf[4096];
  net::error_code ec;
  while (out.size() < kMaxHttpBytes) {
    const size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

std::string http_get(uint16_t port, const std::string& path) {
  asio::io_context io;
  tcp::socket s(io);
  net::error_code ec;
  s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
  if (ec) return "";
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(s, asio::buffer(req), ec);
  return read_all(s);
}

TEST(LiveMetrics, ServedWhileRunningAndPushedAtTheEnd) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  ASSERT_TRUE(scenario::parse_scenario(kScenario, "live-metrics", &s, &errors))
      << (errors.empty() ? "" : errors[0].to_string());

  // A fake Pushgateway: answers one request 200 and keeps what it got.
  asio::io_context gw_io;
  tcp::acceptor gw(gw_io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const uint16_t gw_port = gw.local_endpoint().port();
  std::string pushed;
  std::thread gateway([&] {
    tcp::socket c(gw_io);
    net::error_code ec;
    gw.accept(c, ec);
    if (ec) return;
    std::string req;
    char buf[4096];
    // Headers, then Content-Length bytes of body.
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < kMaxHttpBytes) {
      const size_t n = c.read_some(asio::buffer(buf), ec);
      if (ec) return;
      req.append(buf, n);
    }
    size_t want = 0;
    const auto cl = req.find("Content-Length: ");
    if (cl != std::string::npos) want = std::stoul(req.substr(cl + 16));
    const size_t body_at = req.find("\r\n\r\n") + 4;
    while (req.size() - body_at < want && req.size() < kMaxHttpBytes) {
      const size_t n = c.read_some(asio::buffer(buf), ec);
      if (ec) break;
      req.append(buf, n);
    }
    pushed = req;
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    asio::write(c, asio::buffer(ok), ec);
  });

  LoadOptions o;
  o.metrics_port = 0;
  o.pushgateway_url = "http://127.0.0.1:" + std::to_string(gw_port);
  std::string scraped;
  o.on_progress = [&](const Progress& p) {
    if (scraped.empty() && p.elapsed_s > 4 && p.metrics_port != 0) {
      scraped = http_get(p.metrics_port, "/metrics");
    }
    return true;
  };
  const LoadOutcome out = run_load(s, o);
  gateway.join();
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_NE(out.metrics_port, 0);
  EXPECT_TRUE(out.push_error.empty()) << out.push_error;

  EXPECT_NE(scraped.find("cellsim_live_members 10"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("cellsim_live_connections 10"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("cellsim_live_frames_total{direction=\"up\"}"), std::string::npos);
  EXPECT_NE(scraped.find("cellsim_live_latency_seconds_count{metric=\"join_latency\"} 10"),
            std::string::npos)
      << scraped;
  EXPECT_NE(pushed.find("/metrics/job/cellsim_load"), std::string::npos) << pushed;
  EXPECT_NE(pushed.find("cellsim_live_latency_seconds_bucket{metric=\"heartbeat_rtt\""),
            std::string::npos)
      << pushed;
}

}  // namespace
}  // namespace cellsim::live
