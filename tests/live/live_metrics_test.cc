// The live driver's observability: /metrics is served on loopback while it
// runs (scraped once mid-run and read back with metrics/prometheus_text.h),
// and the final figures are pushed to a Pushgateway (a one-request fake
// here) at the end.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "live/driver.h"
#include "metrics/prometheus_text.h"
#include "metrics/scrape.h"
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
  std::string scraped, scrape_error;
  o.on_progress = [&](const Progress& p) {
    if (scraped.empty() && p.elapsed_s > 4 && p.metrics_port != 0) {
      metrics::http_get_local(p.metrics_port, "/metrics", &scraped, &scrape_error);
    }
    return true;
  };
  const LoadOutcome out = run_load(s, o);
  gateway.join();
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_NE(out.metrics_port, 0);
  EXPECT_TRUE(out.push_error.empty()) << out.push_error;

  ASSERT_FALSE(scraped.empty()) << scrape_error;
  const metrics::PrometheusText t = metrics::parse_prometheus_text(scraped);
  EXPECT_TRUE(t.errors.empty()) << t.errors[0].reason << ": " << t.errors[0].text;
  const auto series = metrics::values_by_series(t);
  auto value = [&](const std::string& key) {
    const auto it = series.find(key);
    return it == series.end() ? -1 : it->second;
  };
  EXPECT_EQ(value("cellsim_live_members"), 10) << scraped;
  EXPECT_EQ(value("cellsim_live_connections"), 10) << scraped;
  EXPECT_GE(value("cellsim_live_frames_total{direction=\"up\"}"), 0) << scraped;
  EXPECT_EQ(value("cellsim_live_latency_seconds_count{metric=\"join_latency\"}"), 10) << scraped;
  EXPECT_EQ(t.types.at("cellsim_live_latency_seconds"), "histogram");
  EXPECT_NE(pushed.find("/metrics/job/cellsim_load"), std::string::npos) << pushed;
  // The pushed body is the same text format.
  const auto body_at = pushed.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos) << pushed;
  const metrics::PrometheusText p = metrics::parse_prometheus_text(pushed.substr(body_at + 4));
  EXPECT_TRUE(p.errors.empty()) << p.errors[0].reason << ": " << p.errors[0].text;
  EXPECT_FALSE(
      metrics::histogram_buckets(p, "cellsim_live_latency_seconds", "metric", "heartbeat_rtt")
          .empty())
      << pushed;
}

}  // namespace
}  // namespace cellsim::live
