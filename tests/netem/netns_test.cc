// netem namespaces and TUN devices: create → exists → destroy → gone; the
// stale sweep removes a namespace whose pid is dead and keeps live ones; a
// TUN device lives inside its namespace only; nothing is left behind.
// Skipped unless the process may create namespaces (root) and /dev/net/tun
// exists.
#include "netem/netns.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

namespace cellsim::netem {
namespace {

#define SKIP_WITHOUT_PACKET_MODE()                         \
  do {                                                     \
    std::string why;                                       \
    if (!packet_mode_available(&why)) GTEST_SKIP() << why; \
  } while (0)

// Our pid's namespaces: none may outlive a test.
std::vector<std::string> mine() {
  std::vector<std::string> out;
  for (const std::string& n : our_namespaces()) {
    pid_t pid;
    if (parse_namespace_pid(n, &pid) && pid == getpid()) out.push_back(n);
  }
  return out;
}

// A pid that existed and no longer does.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status;
  waitpid(pid, &status, 0);
  return pid;
}

TEST(NetnsNames, RoundTripAndRefuseOthers) {
  pid_t pid = 0;
  EXPECT_EQ(namespace_name(1234, "agents"), "cellsim-1234-agents");
  EXPECT_TRUE(parse_namespace_pid("cellsim-1234-agents", &pid));
  EXPECT_EQ(pid, 1234);
  for (const char* other : {"cellsim-", "cellsim-x-a", "cellsim-12", "cellsim-12-", "foo-12-a",
                            "cellsim-12-A", "cellsim--a"}) {
    EXPECT_FALSE(parse_namespace_pid(other, &pid)) << other;
  }
}

TEST(Netns, CreateExistsDestroyGone) {
  SKIP_WITHOUT_PACKET_MODE();
  std::string name;
  {
    std::string error;
    auto ns = NetworkNamespace::create("t1", &error);
    ASSERT_NE(ns, nullptr) << error;
    name = ns->name();
    EXPECT_EQ(name, namespace_name(getpid(), "t1"));
    EXPECT_TRUE(namespace_exists(name));
    EXPECT_TRUE(ns->ip({"link", "show", "lo"}, &error)) << error;
  }
  EXPECT_FALSE(namespace_exists(name));
  EXPECT_TRUE(mine().empty());
}

TEST(Netns, SweepRemovesStaleAndKeepsLive) {
  SKIP_WITHOUT_PACKET_MODE();
  const std::string stale = namespace_name(dead_pid(), "stale");
  std::string error;
  ASSERT_TRUE(run_ip({"netns", "add", stale}, &error)) << error;
  ASSERT_TRUE(namespace_exists(stale));
  auto live = NetworkNamespace::create("live", &error);
  ASSERT_NE(live, nullptr) << error;

  std::vector<std::string> errors;
  const std::vector<std::string> removed = sweep_stale_namespaces(&errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_NE(std::find(removed.begin(), removed.end(), stale), removed.end());
  EXPECT_FALSE(namespace_exists(stale));
  EXPECT_TRUE(namespace_exists(live->name()));  // ours: this pid is alive
  live.reset();
  EXPECT_TRUE(mine().empty());
}

TEST(Netns, SweepRemovesWhatAKilledProcessLeft) {
  SKIP_WITHOUT_PACKET_MODE();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    // The "crashed run": makes a namespace with a TUN device in it, says so, waits.
    close(ready[0]);
    std::string error;
    auto ns = NetworkNamespace::create("crash", &error);
    auto tun = ns ? TunDevice::create(*ns, "cscrash0", &error) : nullptr;
    const char ok = tun ? '1' : '0';
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    pause();  // until SIGKILL: no destructor runs
    _exit(0);
  }
  close(ready[1]);
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  close(ready[0]);
  const std::string name = namespace_name(child, "crash");
  EXPECT_EQ(ok, '1');
  EXPECT_TRUE(namespace_exists(name));
  kill(child, SIGKILL);
  int status;
  waitpid(child, &status, 0);
  EXPECT_TRUE(namespace_exists(name));  // kill -9 leaves it behind
  const std::vector<std::string> removed = sweep_stale_namespaces();
  EXPECT_NE(std::find(removed.begin(), removed.end(), name), removed.end());
  EXPECT_FALSE(namespace_exists(name));
}

TEST(Netns, TunDeviceLivesInsideItsNamespace) {
  SKIP_WITHOUT_PACKET_MODE();
  std::string error;
  auto ns = NetworkNamespace::create("tun", &error);
  ASSERT_NE(ns, nullptr) << error;
  {
    auto tun = TunDevice::create(*ns, "cstest0", &error);
    ASSERT_NE(tun, nullptr) << error;
    EXPECT_GE(tun->fd(), 0);
    EXPECT_EQ(tun->name(), "cstest0");
    EXPECT_TRUE(ns->ip({"link", "show", "cstest0"}, &error)) << error;
    EXPECT_EQ(if_nametoindex("cstest0"), 0u);  // not in this thread's namespace
    {
      ScopedNamespaceEntry inside(*ns);
      ASSERT_TRUE(inside.ok()) << inside.error();
      EXPECT_NE(if_nametoindex("cstest0"), 0u);
    }
    EXPECT_EQ(if_nametoindex("cstest0"), 0u);  // back in our own
  }
  // Not persistent: closing the fd removes the device.
  EXPECT_FALSE(ns->ip({"link", "show", "cstest0"}, &error));
  ns.reset();
  EXPECT_TRUE(mine().empty());
}

}  // namespace
}  // namespace cellsim::netem
