// metrics/prometheus_text.h: the text exposition format read back, against
// examples of the format (counters, gauges, labels with escaped quotes,
// histograms, comments, timestamps) and malformed lines, each refused with
// its line number and a reason while the rest of the text is still read; and
// metrics/scrape.h's GET against a one-request server on loopback.
#include "metrics/prometheus_text.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <thread>

#include "metrics/scrape.h"

namespace cellsim::metrics {
namespace {

// What prometheus-cpp serves for a counter family, a gauge and a histogram.
constexpr char kExposition[] =
    "# HELP cellmeet_frames_in_total Frames received, by type\n"
    "# TYPE cellmeet_frames_in_total counter\n"
    "cellmeet_frames_in_total{type=\"hello\"} 12\n"
    "cellmeet_frames_in_total{type=\"heartbeat\"} 3.5e+02\n"
    "# HELP cellmeet_connections_open Connections open now\n"
    "# TYPE cellmeet_connections_open gauge\n"
    "cellmeet_connections_open 7\n"
    "# HELP cellsim_live_latency_seconds Latencies\n"
    "# TYPE cellsim_live_latency_seconds histogram\n"
    "cellsim_live_latency_seconds_count{metric=\"heartbeat_rtt\"} 10\n"
    "cellsim_live_latency_seconds_sum{metric=\"heartbeat_rtt\"} 0.031\n"
    "cellsim_live_latency_seconds_bucket{metric=\"heartbeat_rtt\",le=\"0.001\"} 2\n"
    "cellsim_live_latency_seconds_bucket{metric=\"heartbeat_rtt\",le=\"0.0025\"} 6\n"
    "cellsim_live_latency_seconds_bucket{metric=\"heartbeat_rtt\",le=\"+Inf\"} 10\n"
    "cellsim_live_latency_seconds_bucket{metric=\"join_latency\",le=\"+Inf\"} 4\n";

TEST(PrometheusText, ReadsCountersGaugesAndHistograms) {
  const PrometheusText t = parse_prometheus_text(kExposition);
  EXPECT_TRUE(t.errors.empty());
  ASSERT_EQ(t.samples.size(), 9u);
  EXPECT_EQ(t.samples[0].name, "cellmeet_frames_in_total");
  ASSERT_NE(t.samples[0].label("type"), nullptr);
  EXPECT_EQ(*t.samples[0].label("type"), "hello");
  EXPECT_EQ(t.samples[0].label("code"), nullptr);
  EXPECT_DOUBLE_EQ(t.samples[1].value, 350);
  EXPECT_FALSE(t.samples[1].has_timestamp);
  EXPECT_EQ(t.types.at("cellmeet_frames_in_total"), "counter");
  EXPECT_EQ(t.types.at("cellmeet_connections_open"), "gauge");
  EXPECT_EQ(t.types.at("cellsim_live_latency_seconds"), "histogram");
  EXPECT_EQ(t.help.at("cellmeet_connections_open"), "Connections open now");

  double open = 0;
  ASSERT_TRUE(unlabelled_value(t, "cellmeet_connections_open", &open));
  EXPECT_EQ(open, 7);
  EXPECT_FALSE(unlabelled_value(t, "cellmeet_frames_in_total", &open));  // labelled only
  const auto in = sum_by_label(t, "cellmeet_frames_in_total", "type");
  ASSERT_EQ(in.size(), 2u);
  EXPECT_EQ(in.at("hello"), 12);
  const auto series = values_by_series(t);
  EXPECT_EQ(series.at("cellmeet_connections_open"), 7);
  EXPECT_EQ(series.at("cellmeet_frames_in_total{type=\"heartbeat\"}"), 350);
  EXPECT_EQ(series.at("cellsim_live_latency_seconds_bucket{metric=\"heartbeat_rtt\",le=\"+Inf\"}"),
            10);
}

TEST(PrometheusText, HistogramBucketsAreSortedByBoundWithInfLast) {
  const PrometheusText t = parse_prometheus_text(kExposition);
  const auto b = histogram_buckets(t, "cellsim_live_latency_seconds", "metric", "heartbeat_rtt");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].le, 0.001);
  EXPECT_EQ(b[0].count, 2);
  EXPECT_EQ(b[1].le, 0.0025);
  EXPECT_EQ(b[2].le, HUGE_VAL);
  EXPECT_EQ(b[2].count, 10);
  EXPECT_EQ(histogram_buckets(t, "cellsim_live_latency_seconds", "metric", "none").size(), 0u);
  // Out of order in the text, in order out.
  const PrometheusText shuffled = parse_prometheus_text(
      "h_bucket{le=\"+Inf\",k=\"v\"} 5\nh_bucket{k=\"v\",le=\"1\"} 3\nh_bucket{k=\"v\",le=\"0.5\"} "
      "1\n"
      "h_bucket{k=\"v\"} 9\n");  // no le: left out
  const auto s = histogram_buckets(shuffled, "h", "k", "v");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].le, 0.5);
  EXPECT_EQ(s[1].le, 1);
  EXPECT_EQ(s[2].count, 5);
}

TEST(PrometheusText, UnescapesLabelValuesAndWritesThemBackEscaped) {
  const PrometheusText t =
      parse_prometheus_text(R"(errors_total{msg="say \"hi\"",path="C:\\dir",text="two\nlines",} 1)"
                            "\n");
  ASSERT_TRUE(t.errors.empty()) << t.errors[0].reason;
  ASSERT_EQ(t.samples.size(), 1u);
  const PrometheusSample& s = t.samples[0];
  EXPECT_EQ(*s.label("msg"), "say \"hi\"");
  EXPECT_EQ(*s.label("path"), "C:\\dir");
  EXPECT_EQ(*s.label("text"), "two\nlines");
  EXPECT_EQ(s.series(), R"(errors_total{msg="say \"hi\"",path="C:\\dir",text="two\nlines"})");
  // A '}', ',' or '=' inside a value is text, not syntax.
  const PrometheusText u = parse_prometheus_text("m{a=\"x},y=1\"} 2\n");
  ASSERT_EQ(u.samples.size(), 1u);
  EXPECT_EQ(*u.samples[0].label("a"), "x},y=1");
}

TEST(PrometheusText, ReadsTimestampsSpecialValuesCommentsAndBlankLines) {
  const PrometheusText t = parse_prometheus_text(
      "# a comment that is neither HELP nor TYPE\n"
      "#HELP not a help line either\n"
      "\n"
      "   \t\n"
      "up 1 1700000000123\n"
      "temperature{room=\"a\"}\t-Inf\n"
      "ratio NaN\n"
      "big +Inf\n"
      "tiny 1.5e-05\n"
      "colons:total:sum 4\n"
      "# HELP escaped A backslash \\\\ and a\\nnewline\n"
      "# TYPE colons:total:sum untyped");  // no final newline
  ASSERT_TRUE(t.errors.empty()) << t.errors[0].reason << ": " << t.errors[0].text;
  ASSERT_EQ(t.samples.size(), 6u);
  EXPECT_TRUE(t.samples[0].has_timestamp);
  EXPECT_EQ(t.samples[0].timestamp_ms, 1700000000123);
  EXPECT_EQ(t.samples[1].value, -HUGE_VAL);
  EXPECT_TRUE(std::isnan(t.samples[2].value));
  EXPECT_EQ(t.samples[3].value, HUGE_VAL);
  EXPECT_DOUBLE_EQ(t.samples[4].value, 1.5e-05);
  EXPECT_EQ(t.samples[5].name, "colons:total:sum");
  EXPECT_EQ(t.help.at("escaped"), "A backslash \\ and a\nnewline");
  EXPECT_EQ(t.types.at("colons:total:sum"), "untyped");
}

// Each malformed line is refused with its number and why; the good lines
// around it are still read.
TEST(PrometheusText, RefusesMalformedLinesWithAReason) {
  struct Case {
    const char* line;
    const char* reason;  // a part of the reason
  };
  const Case cases[] = {
      {"9lives 1", "no metric name"},
      {"{type=\"x\"} 1", "no metric name"},
      {"m", "no value"},
      {"m{type=\"x\"}", "no value"},
      {"m{type=\"x\"}1", "no space before the value"},
      {"m one", "not a number"},
      {"m 1 2 3", "text after the timestamp"},
      {"m 1 1.5", "timestamp is not an integer"},
      {"m{type=\"x\" 1", "not separated by ,"},
      {"m{type=\"x\",", "not closed by }"},
      {"m{type=x} 1", "not quoted"},
      {"m{type\"x\"} 1", "has no ="},
      {"m{type=\"x} 1", "not closed by \""},
      {"m{type=\"a\\tb\"} 1", "unknown escape \\t"},
      {"m{type=\"a\",type=\"b\"} 1", "given twice"},
      {"m{1st=\"a\"} 1", "bad label name"},
      {"# TYPE m countr", "unknown type \"countr\""},
      {"# TYPE m counter extra", "text after the type"},
      {"# TYPE", "without a metric name"},
      {"# HELP 9x help", "bad metric name"},
  };
  for (const Case& c : cases) {
    const std::string text = std::string("good_before 1\n") + c.line + "\ngood_after 2\n";
    const PrometheusText t = parse_prometheus_text(text);
    ASSERT_EQ(t.errors.size(), 1u) << c.line;
    EXPECT_EQ(t.errors[0].line, 2u) << c.line;
    EXPECT_EQ(t.errors[0].text, c.line);
    EXPECT_NE(t.errors[0].reason.find(c.reason), std::string::npos)
        << c.line << ": " << t.errors[0].reason;
    ASSERT_EQ(t.samples.size(), 2u) << c.line;
    EXPECT_EQ(t.samples[0].name, "good_before");
    EXPECT_EQ(t.samples[1].name, "good_after");
  }
}

TEST(PrometheusText, AnHttpHeaderIsNotASample) {
  const PrometheusText t = parse_prometheus_text("HTTP/1.1 200 OK\r\nup 1\n");
  EXPECT_EQ(t.errors.size(), 1u);
  EXPECT_EQ(t.samples.size(), 1u);
}

// A server on an ephemeral loopback port that answers one request with
// `response` and records the request.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, response = std::move(response)] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request_.append(buf, static_cast<size_t>(n));
      }
      ::send(c, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(c);
    });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  // Waits for the one exchange to end; the request it read.
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(PrometheusScrape, GetsAndParsesTheBodyOfA200) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nup 1\nm{a=\"b\"} 2\n");
  PrometheusText t;
  std::string why;
  ASSERT_TRUE(scrape_local(server.port(), &t, &why)) << why;
  EXPECT_TRUE(t.errors.empty());
  ASSERT_EQ(t.samples.size(), 2u);
  EXPECT_EQ(t.samples[1].series(), "m{a=\"b\"}");
  EXPECT_EQ(server.request().rfind("GET /metrics HTTP/1.0\r\n", 0), 0u) << server.request();
}

TEST(PrometheusScrape, ANon200OrNoServerIsAFailureWithTheReason) {
  {
    OneShotServer server("HTTP/1.1 404 Not Found\r\n\r\nnope\n");
    std::string body, why;
    EXPECT_FALSE(http_get_local(server.port(), "/metrics", &body, &why));
    EXPECT_NE(why.find("no 200 response"), std::string::npos) << why;
  }
  uint16_t closed_port = 0;
  {
    OneShotServer server("HTTP/1.1 200 OK\r\n\r\n");
    closed_port = server.port();
    std::string body, why;
    EXPECT_TRUE(http_get_local(closed_port, "/", &body, &why, 1000)) << why;
    EXPECT_EQ(body, "");
  }
  PrometheusText t;
  std::string why;
  EXPECT_FALSE(scrape_local(closed_port, &t, &why));
  EXPECT_NE(why.find("connect to 127.0.0.1:"), std::string::npos) << why;
}

}  // namespace
}  // namespace cellsim::metrics
