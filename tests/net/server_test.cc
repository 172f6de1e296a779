// cellmeetd's Server over TCP: the Prometheus scrape, a slow consumer, the
// connection limit, graceful stop, handshake and liveness timeouts, start
// failures, minutes files, and clients on every shard at once.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/net/net_fixture.h"

namespace cellsim::net::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Scrapes until `pred` holds for the samples, or 5 s pass; the last samples.
template <typename Pred>
std::map<std::string, double> scrape_until(uint16_t port, Pred pred) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::map<std::string, double> m;
  do {
    m = parse_metrics(http_get(port, "/metrics"));
    if (pred(m)) return m;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (Clock::now() < deadline);
  return m;
}

double sample(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? -1 : it->second;
}

TEST(ServerMetricsTest, ScrapeReflectsTheTraffic) {
  auto server = start_or_fail(test_options());
  ASSERT_NE(server->metrics_port(), 0);
  TestClient a, b;
  ASSERT_TRUE(login(&a, server->port(), kCellA, kChair));
  ASSERT_TRUE(login(&b, server->port(), kCellB, 2));
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(heartbeat_ok(&a, i));
  for (uint64_t i = 1; i <= 2; ++i) ASSERT_TRUE(heartbeat_ok(&b, i));
  ASSERT_TRUE(join(&b));
  v1::Envelope refused;
  refused.mutable_advance_agenda();
  ASSERT_TRUE(b.send(refused));
  ASSERT_EQ(b.read_error(), v1::ERROR_NOT_CHAIR);

  const auto m = parse_metrics(http_get(server->metrics_port(), "/metrics"));
  EXPECT_EQ(sample(m, "cellmeet_connections_open"), 2);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_in_total{type="hello"})"), 2);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_in_total{type="heartbeat"})"), 5);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_in_total{type="join_meeting"})"), 1);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_in_total{type="advance_agenda"})"), 1);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_in_total{type="cast_ballot"})"), 0);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_out_total{type="welcome"})"), 2);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_out_total{type="heartbeat_ack"})"), 5);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_out_total{type="meeting_state"})"), 1);
  EXPECT_EQ(sample(m, R"(cellmeet_frames_out_total{type="error"})"), 1);
  EXPECT_EQ(sample(m, R"(cellmeet_errors_total{code="ERROR_NOT_CHAIR"})"), 1);
  EXPECT_EQ(sample(m, R"(cellmeet_errors_total{code="ERROR_TOKEN_INVALID"})"), 0);
  EXPECT_EQ(sample(m, "cellmeet_meetings_open"), 1);
  EXPECT_EQ(sample(m, "cellmeet_meetings_quorate"), 0);  // 1 of D = 3 present
  const double handled = sample(m, R"(cellmeet_frame_handling_seconds_count{shard="0"})") +
                         sample(m, R"(cellmeet_frame_handling_seconds_count{shard="1"})");
  EXPECT_GE(handled, 4);  // at least one handle_bytes call per frame batch read

  // Quorum of cell B: 2 of D = 3 present makes it quorate.
  TestClient c;
  ASSERT_TRUE(login(&c, server->port(), kCellB, 3));
  ASSERT_TRUE(join(&c));
  const auto m2 = parse_metrics(http_get(server->metrics_port(), "/metrics"));
  EXPECT_EQ(sample(m2, "cellmeet_meetings_quorate"), 1);
  EXPECT_EQ(sample(m2, "cellmeet_connections_open"), 3);

  // A closed connection leaves the gauge once the server has seen the EOF.
  c.close();
  const auto m3 = scrape_until(server->metrics_port(), [](const auto& s) {
    return sample(s, "cellmeet_connections_open") == 2;
  });
  EXPECT_EQ(sample(m3, "cellmeet_connections_open"), 2);
}

TEST(ServerMetricsTest, NoMetricsEndpointWhenDisabled) {
  ServerOptions o = test_options();
  o.metrics_enabled = false;
  auto server = start_or_fail(std::move(o));
  EXPECT_EQ(server->metrics_port(), 0);
  TestClient a;
  EXPECT_TRUE(login(&a, server->port(), kCellA, 2));
}

TEST(ServerSlowConsumerTest, AReaderThatNeverReadsIsDisconnectedAndOthersAreServed) {
  ServerOptions o = test_options();
  o.max_send_queue_bytes = 64 * 1024;
  // A fast floor holder: large payloads and no pacing to speak of, so the
  // relay outruns the reader.
  o.engine.max_media_payload_bytes = 16 * 1024;
  o.engine.media_rate_bytes_per_s = 1u << 30;
  o.engine.media_burst_bytes = 1u << 30;
  auto server = start_or_fail(std::move(o));
  const uint16_t port = server->port();

  TestClient slow;  // member 2: joins, then never reads
  ASSERT_TRUE(slow.connect(port, /*receive_buffer_bytes=*/4096));
  ASSERT_TRUE(slow.send(hello_envelope(kCellA, 2, member_token(kCellA, 2))));
  v1::Envelope env;
  ASSERT_TRUE(slow.read_until(v1::Envelope::kWelcome, &env));
  ASSERT_TRUE(join(&slow));
  TestClient chair;  // relays media to the slow member until it is dropped
  ASSERT_TRUE(login(&chair, port, kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  env.Clear();
  env.mutable_open_meeting()->set_reason("floor for the chair");
  ASSERT_TRUE(chair.send(env));
  env.Clear();
  env.mutable_grant_floor()->set_member_id(kChair);
  ASSERT_TRUE(chair.send(env));
  ASSERT_TRUE(chair.read_until(v1::Envelope::kFloorGranted, &env));

  constexpr int kMaxMediaFrames = 4000;  // 64 MiB: far over any socket buffering
  constexpr int kBatch = 50;
  v1::Envelope media;
  media.mutable_media_frame()->set_payload(std::string(16 * 1024, 'a'));
  bool dropped = false;
  for (int sent = 0; sent < kMaxMediaFrames && !dropped; sent += kBatch) {
    for (int i = 0; i < kBatch; ++i) {
      media.mutable_media_frame()->set_seq(sent + i);
      ASSERT_TRUE(chair.send(media));
    }
    while (!dropped && chair.read(&env, 1) == TestClient::Read::kFrame) {
      dropped = env.has_attendance_changed() && env.attendance_changed().member_id() == 2 &&
                !env.attendance_changed().present();
    }
  }
  ASSERT_TRUE(dropped) << "the slow consumer was never disconnected";
  // What was already being written arrives, then (best effort, as the
  // client reads again within the flush timeout) the Error, then EOF.
  EXPECT_EQ(slow.read_error(10'000), v1::ERROR_SLOW_CONSUMER);
  EXPECT_TRUE(slow.wait_eof()) << "the slow consumer's connection was not closed";
  slow.close();

  EXPECT_TRUE(heartbeat_ok(&chair, 1));
  TestClient other;
  EXPECT_TRUE(login(&other, port, kCellA, 3));
  EXPECT_TRUE(join(&other));
  const auto m = scrape_until(server->metrics_port(), [](const auto& s) {
    return sample(s, "cellmeet_connections_open") == 2;
  });
  EXPECT_EQ(sample(m, R"(cellmeet_errors_total{code="ERROR_SLOW_CONSUMER"})"), 1);
  EXPECT_EQ(sample(m, "cellmeet_connections_open"), 2);
}

TEST(ServerLimitTest, OverTheConnectionLimitANewConnectionGetsServerFull) {
  ServerOptions o = test_options();
  o.max_connections = 2;
  auto server = start_or_fail(std::move(o));
  TestClient a, b, c;
  ASSERT_TRUE(login(&a, server->port(), kCellA, 2));
  ASSERT_TRUE(login(&b, server->port(), kCellB, 2));
  ASSERT_TRUE(c.connect(server->port()));
  EXPECT_EQ(c.read_error(), v1::ERROR_SERVER_FULL);
  EXPECT_TRUE(c.wait_eof());
  EXPECT_TRUE(heartbeat_ok(&a, 1));

  // Once a connection closes, a new one is accepted again.
  a.close();
  bool accepted = false;
  for (int attempt = 0; attempt < 100 && !accepted; ++attempt) {
    TestClient d;
    accepted = login(&d, server->port(), kCellA, 3);
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(accepted);
}

TEST(ServerStopTest, StopSendsShuttingDownToEveryConnectionThenClosesIt) {
  auto server = start_or_fail(test_options());
  const uint16_t port = server->port();
  TestClient a, b, c, handshaking;
  ASSERT_TRUE(login(&a, port, kCellA, kChair));
  ASSERT_TRUE(join(&a));
  ASSERT_TRUE(login(&b, port, kCellA, 2));
  ASSERT_TRUE(join(&b));
  ASSERT_TRUE(login(&c, port, kCellB, 2));
  ASSERT_TRUE(handshaking.connect(port));  // no Hello yet: still being routed
  scrape_until(server->metrics_port(),
               [](const auto& s) { return sample(s, "cellmeet_connections_open") == 4; });

  const auto started = Clock::now();
  server->stop();
  const auto took = Clock::now() - started;
  EXPECT_LT(took, std::chrono::milliseconds(1500)) << "stop() is not prompt";

  for (TestClient* client : {&a, &b, &c, &handshaking}) {
    EXPECT_EQ(client->read_error(), v1::ERROR_SHUTTING_DOWN);
    EXPECT_TRUE(client->wait_eof());
  }
  server->stop();  // idempotent
  server->wait();  // returns at once: stop() completed
  TestClient late;
  EXPECT_FALSE(late.connect(port)) << "still accepting after stop()";
}

TEST(ServerStopTest, StopFromAnotherThreadWakesWait) {
  auto server = start_or_fail(test_options());
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server->stop();
  });
  server->wait();
  stopper.join();
}

TEST(ServerTimeoutTest, AConnectionWithoutHelloIsClosedAfterTheHelloTimeout) {
  ServerOptions o = test_options();
  o.engine.rules.hello_timeout_ms = 200;
  auto server = start_or_fail(std::move(o));
  TestClient silent, partial;
  ASSERT_TRUE(silent.connect(server->port()));
  ASSERT_TRUE(partial.connect(server->port()));
  ASSERT_TRUE(partial.send_raw(frame_header(100) + "abc"));  // never completes
  EXPECT_EQ(silent.read_error(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_TRUE(silent.wait_eof());
  EXPECT_EQ(partial.read_error(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_TRUE(partial.wait_eof());
}

TEST(ServerTimeoutTest, AMemberWhoStopsHeartbeatingIsTimedOut) {
  ServerOptions o = test_options();
  o.engine.rules.heartbeat_interval_ms = 100;
  o.engine.rules.missed_heartbeats = 3;
  auto server = start_or_fail(std::move(o));
  TestClient a, b;
  ASSERT_TRUE(login(&a, server->port(), kCellA, 2));
  ASSERT_TRUE(login(&b, server->port(), kCellB, 2));
  // b keeps heartbeating (every 50 ms) while a says nothing.
  const auto deadline = Clock::now() + std::chrono::milliseconds(600);
  for (uint64_t seq = 1; Clock::now() < deadline; ++seq) ASSERT_TRUE(heartbeat_ok(&b, seq));
  EXPECT_EQ(a.read_error(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_TRUE(a.wait_eof());
}

TEST(ServerStartTest, StartFailsWithAClearReason) {
  std::string why;
  {
    ServerOptions o = test_options();
    o.deployment.mutable_cells(0)->mutable_members(0)->set_role(v1::ROLE_MEMBER);
    Server s(std::move(o));
    EXPECT_FALSE(s.start(&why));
    EXPECT_NE(why.find("no chair"), std::string::npos) << why;
  }
  {
    ServerOptions o = test_options();
    o.key = "short";
    Server s(std::move(o));
    EXPECT_FALSE(s.start(&why));
    EXPECT_NE(why.find("key"), std::string::npos) << why;
  }
  {
    ServerOptions o = test_options();
    o.listen_address = "not-an-address";
    Server s(std::move(o));
    EXPECT_FALSE(s.start(&why));
    EXPECT_NE(why.find("not-an-address"), std::string::npos) << why;
  }
  auto first = start_or_fail(test_options());
  {
    ServerOptions o = test_options();
    o.port = first->port();
    Server s(std::move(o));
    EXPECT_FALSE(s.start(&why));
    EXPECT_NE(why.find("cannot listen on 127.0.0.1:" + std::to_string(first->port())),
              std::string::npos)
        << why;
  }
  {
    ServerOptions o = test_options();
    o.metrics_port = first->metrics_port();
    Server s(std::move(o));
    EXPECT_FALSE(s.start(&why));
    EXPECT_NE(why.find("metrics"), std::string::npos) << why;
  }
  {
    ServerOptions o = test_options();
    o.minutes_dir = "/nonexistent/minutes";
    Server s(std::move(o));
    EXPECT_FALSE(s.start(&why));
    EXPECT_NE(why.find("/nonexistent/minutes"), std::string::npos) << why;
  }
  // A failed start leaves nothing behind; the first server still serves.
  TestClient a;
  EXPECT_TRUE(login(&a, first->port(), kCellA, 2));
}

TEST(ServerMinutesTest, AClosedMeetingsMinutesAreWrittenAsJson) {
  const std::string dir = ::testing::TempDir() + "cellmeetd_minutes_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ServerOptions o = test_options();
  o.minutes_dir = dir;
  auto server = start_or_fail(std::move(o));
  TestClient chair;
  ASSERT_TRUE(login(&chair, server->port(), kCellB, kChair));
  ASSERT_TRUE(join(&chair));
  v1::Envelope env;
  env.mutable_open_meeting()->set_reason("monthly meeting");
  ASSERT_TRUE(chair.send(env));
  env.Clear();
  env.mutable_close_meeting();
  ASSERT_TRUE(chair.send(env));
  ASSERT_TRUE(chair.read_until(v1::Envelope::kMeetingClosed, &env));

  std::filesystem::path file;
  for (int i = 0; i < 100 && file.empty(); ++i) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".json") file = e.path();
    }
    if (file.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(file.empty()) << "no minutes file in " << dir;
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  v1::Minutes minutes;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &minutes).ok());
  EXPECT_EQ(minutes.cell_id(), kCellB);
  EXPECT_EQ(minutes.reason(), "monthly meeting");
  EXPECT_EQ(minutes.SerializeAsString(), env.meeting_closed().minutes().SerializeAsString());
  std::filesystem::remove_all(dir);
}


TEST(ServerConcurrencyTest, ClientsOnEveryShardAreServedAtOnce) {
  ServerOptions o = test_options();
  o.threads = 4;  // cells 1 and 2 on shards 1 and 2; shards 0 and 3 idle
  auto server = start_or_fail(std::move(o));
  const std::vector<std::pair<uint64_t, uint64_t>> members = {
      {kCellA, 2}, {kCellA, 3}, {kCellA, 5}, {kCellB, 2}, {kCellB, 3}};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (const auto& [cell, member] : members) {
    threads.emplace_back([&, cell = cell, member = member] {
      TestClient c;
      if (!login(&c, server->port(), cell, member) || !join(&c)) {
        ++failures;
        return;
      }
      for (uint64_t seq = 1; seq <= 200; ++seq) {
        if (!heartbeat_ok(&c, seq)) {
          ++failures;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const auto m = parse_metrics(http_get(server->metrics_port(), "/metrics"));
  EXPECT_EQ(sample(m, R"(cellmeet_frames_in_total{type="heartbeat"})"), 1000);
  EXPECT_EQ(sample(m, "cellmeet_meetings_open"), 2);
}

}  // namespace
}  // namespace cellsim::net::testing
