// `cellsim load --link packet` leaves nothing behind (issue 11): its two
// network namespaces (and with them the TUN devices, addresses and routes
// inside) are gone after a normal run, after Ctrl-C (SIGINT: the run stops,
// exits 130 and the bridge's destructor removes them), and after `kill -9`
// once the next run has started (its sweep removes the dead run's
// namespaces, and it says so on stderr). Each run is the real binary on a
// scenario the test writes (one cell of four members on a 20 ms link, who
// connect at once, so the emulator carries traffic when the run is stopped
// or killed) for a few seconds; every wait is bounded.
// Skipped unless this process may create namespaces and TUN devices.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netem/netns.h"

namespace cellsim {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Longest a run may take to start its emulator, and to end once asked to.
constexpr auto kStartTimeout = 30s;
constexpr auto kExitTimeout = 60s;
constexpr auto kPollEvery = 50ms;

#define SKIP_WITHOUT_PACKET_MODE()                                \
  do {                                                            \
    std::string why;                                              \
    if (!netem::packet_mode_available(&why)) GTEST_SKIP() << why; \
  } while (0)

constexpr char kScenario[] = R"pb(
  name: "packet-cleanup"
  question: "Does packet mode clean up? (test)"
  seed: 3
  duration_min: 2
  start_unix_s: 1796086800
  quorum_deadline_min: 1
  server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 1000 }
  rules { quorum_fraction: 0.5 heartbeat_interval_ms: 1000 missed_heartbeats: 3 }
  reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 1 wait_for_quorum_min: 0.5 }
  media { bitrate_kbps: 0 frame_ms: 20 }
  profiles {
    name: "twenty-ms"
    base_one_way_ms: 20
    bandwidth_down_kbps: 10000
    bandwidth_up_kbps: 5000
    rto_min_ms: 200
  }
  agendas { name: "one" items { title: "Khai mạc" duration_min: 1 } }
  cell_types {
    name: "one"
    count: 1
    members { official: 4 }
    links { profile: "twenty-ms" share: 1 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.01 } }
    join_earliest_min: 0
    agenda: "one"
    start_window_min: 0.01
    start_offset_min: 0.01
  }
)pb";

fs::path scratch_dir(const std::string& what) {
  const fs::path d = fs::temp_directory_path() /
                     ("cellsim-packet-cleanup-" + std::to_string(getpid()) + "-" + what);
  fs::remove_all(d);
  fs::create_directories(d);
  std::ofstream(d / "scenario.textproto") << kScenario;
  return d;
}

// Starts `cellsim load --link packet` on kScenario for `duration_s`,
// its stderr in dir/stderr. Returns the child's pid.
pid_t start_load(const fs::path& dir, int duration_s) {
  const std::string binary = CELLSIM_BINARY;
  const std::string scenario = (dir / "scenario.textproto").string();
  const std::string out = (dir / "out").string(), err = (dir / "stderr").string();
  const std::string duration = std::to_string(duration_s);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_WRONLY);
    if (fd >= 0) dup2(fd, 2);
    if (null >= 0) dup2(null, 1);
    execl(binary.c_str(), binary.c_str(), "load", scenario.c_str(), "--link", "packet",
          "--duration", duration.c_str(), "--out", out.c_str(), "--quiet",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

std::vector<std::string> namespaces_of(pid_t pid) {
  std::vector<std::string> mine;
  for (const std::string& n : netem::our_namespaces()) {
    pid_t p = 0;
    if (netem::parse_namespace_pid(n, &p) && p == pid) mine.push_back(n);
  }
  return mine;
}

// Waits (bounded) until the run has made both namespaces; false if it did not.
bool wait_for_namespaces(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (namespaces_of(pid).size() == 2) return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;  // it ended first
    std::this_thread::sleep_for(kPollEvery);
  }
  return false;
}

// The child's exit code (128 + signal if killed); -1 after kExitTimeout (it
// is then killed).
int wait_exit(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Exit 0 or 4 (an SLO may fail in a few seconds): ran to the end.
void expect_ran(int rc, const fs::path& dir) {
  EXPECT_TRUE(rc == 0 || rc == 4) << "exit " << rc << ": " << read_file(dir / "stderr");
  EXPECT_TRUE(fs::exists(dir / "out" / "results.json"));
}

TEST(PacketCleanup, NormalRunLeavesNothing) {
  SKIP_WITHOUT_PACKET_MODE();
  const fs::path dir = scratch_dir("normal");
  const pid_t pid = start_load(dir, 3);
  ASSERT_TRUE(wait_for_namespaces(pid)) << read_file(dir / "stderr");
  expect_ran(wait_exit(pid), dir);
  EXPECT_TRUE(namespaces_of(pid).empty());
  fs::remove_all(dir);
}

TEST(PacketCleanup, CtrlCLeavesNothing) {
  SKIP_WITHOUT_PACKET_MODE();
  const fs::path dir = scratch_dir("sigint");
  const pid_t pid = start_load(dir, 120);
  ASSERT_TRUE(wait_for_namespaces(pid)) << read_file(dir / "stderr");
  std::this_thread::sleep_for(2s);  // members connected through the emulator
  ASSERT_EQ(kill(pid, SIGINT), 0);
  EXPECT_EQ(wait_exit(pid), 130) << read_file(dir / "stderr");
  EXPECT_TRUE(fs::exists(dir / "out" / "results.json"));  // partial results written
  EXPECT_TRUE(namespaces_of(pid).empty());
  fs::remove_all(dir);
}

TEST(PacketCleanup, KillNineIsSweptByTheNextRun) {
  SKIP_WITHOUT_PACKET_MODE();
  const fs::path dir = scratch_dir("kill9");
  const pid_t dead = start_load(dir, 120);
  ASSERT_TRUE(wait_for_namespaces(dead)) << read_file(dir / "stderr");
  std::this_thread::sleep_for(2s);  // members connected through the emulator
  ASSERT_EQ(kill(dead, SIGKILL), 0);
  EXPECT_EQ(wait_exit(dead), 128 + SIGKILL);
  ASSERT_EQ(namespaces_of(dead).size(), 2u);  // left behind: nobody ran its destructors

  const fs::path next_dir = scratch_dir("kill9-next");
  const pid_t next = start_load(next_dir, 3);
  ASSERT_TRUE(wait_for_namespaces(next)) << read_file(next_dir / "stderr");
  EXPECT_TRUE(namespaces_of(dead).empty());  // swept before it made its own
  expect_ran(wait_exit(next), next_dir);
  EXPECT_TRUE(namespaces_of(next).empty());
  EXPECT_NE(read_file(next_dir / "stderr").find("removed"), std::string::npos)
      << read_file(next_dir / "stderr");
  fs::remove_all(dir);
  fs::remove_all(next_dir);
}

}  // namespace
}  // namespace cellsim
