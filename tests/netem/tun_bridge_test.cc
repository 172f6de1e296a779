// The TUN bridge end to end: TCP between a socket in the agents' namespace
// and one in the server's, through TUN → user space → Impairment → TUN.
// 50 ms one way gives a round trip >= 100 ms (and another member's 5 ms
// link does not); 5% independent loss still delivers every byte in order
// (the kernel's TCP retransmits); a 2 Mbit/s link behind a 4-packet queue
// bounds the throughput and drops; nothing is left behind. All traffic stays
// inside the two namespaces the bridge creates. Skipped unless root and
// /dev/net/tun.
#include "netem/tun_bridge.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace cellsim::netem {
namespace {

constexpr uint16_t kPort = 7400;
// Every blocking socket call gives up after this long (a hung test fails).
constexpr int kSocketTimeoutS = 30;

#define SKIP_WITHOUT_PACKET_MODE()                         \
  do {                                                     \
    std::string why;                                       \
    if (!packet_mode_available(&why)) GTEST_SKIP() << why; \
  } while (0)

sockaddr_in address_of(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

void set_timeouts(int fd) {
  timeval tv{kSocketTimeoutS, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A listening socket in the server's namespace, on server_address():kPort.
int listen_in(const NetworkNamespace& ns) {
  ScopedNamespaceEntry inside(ns);
  EXPECT_TRUE(inside.ok()) << inside.error();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in a = address_of(server_address(), kPort);
  EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  EXPECT_EQ(listen(fd, 16), 0);
  set_timeouts(fd);
  return fd;
}

// A socket in the agents' namespace bound to member's address.
int socket_of(const NetworkNamespace& ns, uint64_t member) {
  ScopedNamespaceEntry inside(ns);
  EXPECT_TRUE(inside.ok()) << inside.error();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in a = address_of(member_address(member), 0);
  EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_timeouts(fd);
  return fd;
}

// Echoes each of the next `connections` connections accepted on
// `listen_fd`, each on its own thread, until they have all ended.
std::thread echo_server(int listen_fd, int connections) {
  return std::thread([listen_fd, connections] {
    std::vector<std::thread> echoes;  // bounded by `connections`
    for (int c = 0; c < connections; ++c) {
      const int fd = accept(listen_fd, nullptr, nullptr);
      if (fd < 0) break;
      set_timeouts(fd);
      echoes.emplace_back([fd] {
        char buf[16384];
        for (;;) {  // until EOF or an error
          const ssize_t n = read(fd, buf, sizeof buf);
          if (n <= 0) break;
          for (ssize_t off = 0; off < n;) {
            const ssize_t w = write(fd, buf + off, n - off);
            if (w <= 0) break;
            off += w;
          }
        }
        close(fd);
      });
    }
    for (std::thread& t : echoes) t.join();
  });
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Connects and does one 1-byte echo; returns {connect ms, echo ms}.
std::pair<double, double> connect_and_ping(int fd) {
  const sockaddr_in server = address_of(server_address(), kPort);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server), 0)
      << strerror(errno);
  const double connect_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  char c = 'x';
  EXPECT_EQ(write(fd, &c, 1), 1);
  EXPECT_EQ(read(fd, &c, 1), 1);
  return {connect_ms, ms_since(t0)};
}

bool none_of_ours_left() {
  for (const std::string& n : our_namespaces()) {
    pid_t pid;
    if (parse_namespace_pid(n, &pid) && pid == getpid()) return false;
  }
  return true;
}

TEST(TunBridge, RoundTripIsTwiceTheOneWayDelayPerMember) {
  SKIP_WITHOUT_PACKET_MODE();
  v1::NetworkProfile slow, fast;
  slow.set_base_one_way_ms(50);
  fast.set_base_one_way_ms(5);
  BridgeConfig config;
  config.profiles = {&slow, &fast};
  config.tag = "rtt";
  std::string error;
  auto bridge = TunBridge::create(config, &error);
  ASSERT_NE(bridge, nullptr) << error;

  const int listen_fd = listen_in(bridge->server_namespace());
  std::thread server = echo_server(listen_fd, 2);
  const int slow_fd = socket_of(bridge->agents_namespace(), 0);
  const int fast_fd = socket_of(bridge->agents_namespace(), 1);
  const auto [slow_connect_ms, slow_echo_ms] = connect_and_ping(slow_fd);
  close(slow_fd);
  const auto [fast_connect_ms, fast_echo_ms] = connect_and_ping(fast_fd);
  close(fast_fd);
  server.join();
  close(listen_fd);

  std::printf("member 0: connect %.1f ms, echo %.1f ms; member 1: connect %.1f ms, echo %.1f ms\n",
              slow_connect_ms, slow_echo_ms, fast_connect_ms, fast_echo_ms);
  EXPECT_GE(slow_connect_ms, 100.0);
  EXPECT_GE(slow_echo_ms, 100.0);
  EXPECT_LT(slow_echo_ms, 300.0);
  EXPECT_GE(fast_echo_ms, 10.0);
  EXPECT_LT(fast_echo_ms, 50.0);  // member 1 has its own, faster link
  const BridgeStats s = bridge->stats();
  EXPECT_GT(s.delivered, 0u);
  EXPECT_EQ(s.dropped_loss + s.dropped_queue + s.dropped_outage + s.overflow, 0u);
  bridge.reset();
  EXPECT_TRUE(none_of_ours_left());
}

// Sends `bytes` of a pattern from member 0 to the echo server and reads the
// echo back, concurrently (one connection).
void echo_bytes(const TunBridge& bridge, size_t bytes, std::vector<uint8_t>* sent,
                std::vector<uint8_t>* received) {
  const int listen_fd = listen_in(bridge.server_namespace());
  std::thread server = echo_server(listen_fd, 1);
  const int fd = socket_of(bridge.agents_namespace(), 0);
  const sockaddr_in a = address_of(server_address(), kPort);
  EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  sent->resize(bytes);
  for (size_t i = 0; i < bytes; ++i) (*sent)[i] = static_cast<uint8_t>((i * 7919) >> 3);
  std::thread writer([&] {
    for (size_t off = 0; off < bytes;) {
      const ssize_t w = write(fd, sent->data() + off, std::min<size_t>(8192, bytes - off));
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    shutdown(fd, SHUT_WR);
  });
  received->clear();
  received->reserve(bytes);
  char buf[16384];
  while (received->size() < bytes) {  // bounded by kSocketTimeoutS per read
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    received->insert(received->end(), buf, buf + n);
  }
  writer.join();
  close(fd);
  server.join();
  close(listen_fd);
}

TEST(TunBridge, TcpDeliversEveryByteInOrderUnderFivePercentLoss) {
  SKIP_WITHOUT_PACKET_MODE();
  v1::NetworkProfile lossy;
  lossy.set_base_one_way_ms(5);
  lossy.mutable_loss()->set_loss_good(0.05);  // independent: never leaves the good state
  BridgeConfig config;
  config.profiles = {&lossy};
  config.seed = 42;
  config.tag = "loss";
  std::string error;
  auto bridge = TunBridge::create(config, &error);
  ASSERT_NE(bridge, nullptr) << error;

  std::vector<uint8_t> sent, received;
  echo_bytes(*bridge, 256 * 1024, &sent, &received);
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  const BridgeStats s = bridge->stats();
  const uint64_t impaired = s.delivered - s.unmatched + s.dropped_loss;
  std::printf("lost %llu of %llu impaired packets\n",
              static_cast<unsigned long long>(s.dropped_loss),
              static_cast<unsigned long long>(impaired));
  EXPECT_GT(s.dropped_loss, 0u);
  EXPECT_NEAR(static_cast<double>(s.dropped_loss) / impaired, 0.05, 0.03)
      << s.dropped_loss << " of " << impaired;
  bridge.reset();
  EXPECT_TRUE(none_of_ours_left());
}

TEST(TunBridge, BandwidthLimitsTcpThroughputBehindTheQueue) {
  SKIP_WITHOUT_PACKET_MODE();
  v1::NetworkProfile narrow;  // 2 Mbit/s each way: 128 KiB take >= 0.52 s of payload alone
  narrow.set_base_one_way_ms(10);
  narrow.set_bandwidth_up_kbps(2000);
  narrow.set_bandwidth_down_kbps(2000);
  BridgeConfig config;
  config.profiles = {&narrow};
  // Shorter than TCP's initial window of 10: its first flight overflows it.
  config.queue_limit_packets = 4;
  config.tag = "bw";
  std::string error;
  auto bridge = TunBridge::create(config, &error);
  ASSERT_NE(bridge, nullptr) << error;
  constexpr size_t kBytes = 128 * 1024;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint8_t> sent, received;
  echo_bytes(*bridge, kBytes, &sent, &received);
  const double elapsed_ms = ms_since(t0);
  std::printf("128 KiB echoed at 2 Mbit/s in %.0f ms, %llu queue drops\n", elapsed_ms,
              static_cast<unsigned long long>(bridge->stats().dropped_queue));
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  EXPECT_GE(elapsed_ms, kBytes * 8.0 / 2000.0);  // bits / (kbit/s) = ms
  EXPECT_LT(elapsed_ms, 20'000.0);
  EXPECT_GT(bridge->stats().dropped_queue, 0u);
  bridge.reset();
  EXPECT_TRUE(none_of_ours_left());
}

// A member's drop-tail bounds are its profile's; a 0 there means the
// config's (netem's defaults unless the config says otherwise). No
// privileges needed.
TEST(TunBridge, QueueBoundsComeFromEachMembersProfile) {
  v1::NetworkProfile own, unset;
  own.set_queue_limit_packets(7);
  own.set_queue_limit_bytes(9000);
  BridgeConfig config;
  config.profiles = {&own, &unset};
  EXPECT_EQ(queue_limit_packets(config, 0), 7u);
  EXPECT_EQ(queue_limit_bytes(config, 0), 9000u);
  EXPECT_EQ(queue_limit_packets(config, 1), kDefaultQueueLimitPackets);
  EXPECT_EQ(queue_limit_bytes(config, 1), kDefaultQueueLimitBytes);
  config.queue_limit_packets = 4;
  EXPECT_EQ(queue_limit_packets(config, 1), 4u);
  EXPECT_EQ(queue_limit_packets(config, 0), 7u);
}

}  // namespace
}  // namespace cellsim::netem
